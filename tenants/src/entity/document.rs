//! `document`: a document on a file. The content is an encrypted blob in the blob store
//! (`blob_name`), sealed with a per-document key kept here wrapped by the firm's key.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "document")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub matter_id: Uuid,
    pub title: String,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub blob_name: String,
    pub wrapped_key: Vec<u8>,
    pub shared: bool,
    /// `member` or `client`.
    pub created_by_kind: String,
    /// The member's id, or the client's contact id.
    pub created_by_id: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
