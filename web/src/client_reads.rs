//! What a signed-in client reads — their shared files (behind nearly every Portal request), a
//! file's shared notes, their bills — is a function of the firm's rows and of the client
//! alone. Such a read is kept with the firm's write epoch seen before it was made and answered
//! from memory while that epoch holds (see [`portico_platform::epochs`]): sharing, unsharing, a
//! new note, a payment, removing the client from a file, changing the firm's options are all
//! writes of the firm, so the next request reads the database again — on PostgreSQL, the next
//! request on any node, since the epoch is the database's. Failures are never kept. The JSON
//! API keeps its answers here as serialized bytes ([`crate::api::kept_json`]).

use std::any::Any;
use std::future::Future;
use std::sync::Arc;

use portico_platform::TenantTx;
use portico_platform::cache::EpochCache;
use portico_platform::ids::{ContactId, FileId};
use portico_tenants::portal_access::{self, SharedFile};
use sea_orm::DbErr;

use crate::auth::memory_cache;
use crate::client_auth::ClientCtx;
use crate::state::AppState;

/// (client, what was read, its parameters, e.g. the file id).
type ReadKey = (ContactId, &'static str, String);

pub struct ClientReads(EpochCache<ReadKey, Arc<dyn Any + Send + Sync>>);

impl Default for ClientReads {
    fn default() -> Self {
        Self(memory_cache())
    }
}

impl ClientReads {
    /// `load`'s answer for (`what`, `params`), from memory when the firm has not been written
    /// since it was kept. Each `what` always holds the same type `T`.
    pub async fn remembered<T, E>(
        &self,
        ctx: &ClientCtx,
        what: &'static str,
        params: String,
        load: impl Future<Output = Result<T, E>>,
    ) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
        E: From<DbErr>,
    {
        let epoch = ctx.db.epoch().await?;
        if let Some(value) = self.kept_at(ctx, what, params.clone(), epoch) {
            return Ok(value);
        }
        let key = (ctx.client.contact_id, what, params);
        let value = Arc::new(load.await?);
        let kept: Arc<dyn Any + Send + Sync> = value.clone();
        self.0.insert(ctx.tenant.id, key, epoch, kept);
        Ok(value)
    }

    fn kept_at<T: Send + Sync + 'static>(
        &self,
        ctx: &ClientCtx,
        what: &'static str,
        params: String,
        epoch: u64,
    ) -> Option<Arc<T>> {
        let key = (ctx.client.contact_id, what, params);
        self.0.get(ctx.tenant.id, key, epoch)?.downcast::<T>().ok()
    }
}

const SHARED_FILES: &str = "shared files";

/// The client's shared files, newest share first. Call it outside any transaction: it may
/// read with a connection of its own.
pub async fn shared_files(
    state: &AppState,
    ctx: &ClientCtx,
) -> Result<Arc<Vec<SharedFile>>, DbErr> {
    let load = async {
        let tx = ctx.db.read().await?;
        let files = portal_access::files_for_client(&tx, &ctx.client).await?;
        tx.commit().await?;
        Ok(files)
    };
    state
        .client_reads
        .remembered(ctx, SHARED_FILES, String::new(), load)
        .await
}

/// [`shared_files`] for a caller already holding a transaction: from memory when kept, else
/// read in `tx` — and then not kept, since `tx` may have started before the epoch was read.
pub async fn shared_files_in(
    state: &AppState,
    ctx: &ClientCtx,
    tx: &TenantTx,
) -> Result<Arc<Vec<SharedFile>>, DbErr> {
    let kept =
        state
            .client_reads
            .kept_at(ctx, SHARED_FILES, String::new(), ctx.db.epoch_in(tx).await?);
    match kept {
        Some(files) => Ok(files),
        None => Ok(Arc::new(
            portal_access::files_for_client(tx, &ctx.client).await?,
        )),
    }
}

/// One of them, or `None` — the same for "not shared", "not yours" and "missing".
pub async fn shared_file(
    state: &AppState,
    ctx: &ClientCtx,
    file: FileId,
) -> Result<Option<SharedFile>, DbErr> {
    Ok(shared_files(state, ctx)
        .await?
        .iter()
        .find(|f| f.id == file)
        .cloned())
}
