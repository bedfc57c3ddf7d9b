//! The shared write epochs (`portico_platform::epochs`): one counter per firm, moved by every
//! write transaction of the firm on PostgreSQL, so that answers kept in any node's memory are
//! retired by a write through any node. Created on SQLite as well, where the server keeps its
//! epochs in memory and never reads this table, so both backends have one schema.
//!
//! No foreign key to `tenant`: a firm's deletion is itself a write of the firm, whose commit
//! moves the epoch after the registry row is gone; the deletion removes the row afterwards.

use sea_orm_migration::prelude::*;

use crate::sql::run;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_write_epochs"
    }
}

const UP: &str = r#"
CREATE TABLE tenant_write_epoch (
    tenant_id {uuid} NOT NULL PRIMARY KEY,
    epoch bigint NOT NULL
)
"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, "DROP TABLE tenant_write_epoch").await
    }
}
