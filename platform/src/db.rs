//! Database handles. Domain code never holds a bare connection: it gets a [`TenantTx`], a
//! transaction bound to one firm, from a [`TenantDb`]. On PostgreSQL the transaction also sets
//! `app.tenant_id` so row-level security filters every statement; on SQLite the scoped finders
//! in [`crate::scoped`] are the guarantee. The only ways around the tenant are named loudly:
//! [`Database::unscoped_registry`] for the tenant registry and bootstrap lookups, and
//! [`Database::system_job`] for named background jobs that work across firms.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};

use crate::config::DatabaseSettings;
use crate::epoch_reads::SharedEpochReads;
use crate::epochs::{self, SeenEpoch, WriteEpochs};
use crate::ids::TenantId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The connection pool and the backend it speaks to.
#[derive(Clone, Debug)]
pub struct Database {
    conn: DatabaseConnection,
    backend: Backend,
    epochs: Arc<WriteEpochs>,
    /// PostgreSQL: reads of the shared epochs, joined per firm.
    epoch_reads: Arc<SharedEpochReads>,
}

/// Background jobs allowed to read across firms. Each has its own row-level-security clause
/// (`current_setting('app.system_job') = '<name>'`) on exactly the tables it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemJob {
    MailOutbox,
    /// The nightly digest and batched client notices.
    Notifications,
}

impl SystemJob {
    pub fn name(self) -> &'static str {
        match self {
            SystemJob::MailOutbox => "mail_outbox",
            SystemJob::Notifications => "notifications",
        }
    }
}

impl Database {
    /// Connects with the pool settings Portico relies on. SQLite connections all get WAL,
    /// `synchronous=FULL`, foreign keys, a busy timeout and the configured page-cache size
    /// through the connect options, so every
    /// pooled connection has them (a one-off PRAGMA would only reach one connection).
    pub async fn connect(url: &SecretString, settings: &DatabaseSettings) -> Result<Self, DbErr> {
        let url = url.expose_secret();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        if backend == Backend::Sqlite {
            ensure_sqlite_parent_dir(url);
        }
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(settings.max_connections)
            .min_connections(0)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            // A pooled connection is pinged before use only once it has been idle for a while
            // (the ones a server, proxy or firewall may have dropped); pinging on every
            // checkout cost a round trip per transaction, three per request (bench/).
            .test_before_acquire_if_idle_for(Duration::from_secs(30))
            .sqlx_logging(false);
        let busy = Duration::from_millis(settings.busy_timeout_ms);
        // A negative `cache_size` is a size in KiB rather than a number of pages.
        let cache_size = format!("-{}", settings.sqlite_cache_kib);
        options.map_sqlx_sqlite_opts(move |opts: SqliteConnectOptions| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(busy)
                .pragma("cache_size", cache_size.clone())
        });
        let conn = sea_orm::Database::connect(options).await?;
        Ok(Self {
            conn,
            backend,
            epochs: Arc::new(WriteEpochs::default()),
            epoch_reads: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A handle for one firm. Only the request's resolved tenant (or a named system job acting
    /// for a firm) should ever produce one.
    pub fn tenant(&self, tenant: TenantId) -> TenantDb {
        TenantDb {
            db: self.clone(),
            tenant,
            seen: Arc::default(),
        }
    }

    /// The bare connection, for the tenant registry (which is not tenant-owned), bootstrap
    /// lookups, migrations and health checks. Never use it for a tenant-owned table: on
    /// PostgreSQL such a query sees no rows at all, and clippy bans the unscoped finders.
    pub fn unscoped_registry(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// A transaction for a named cross-firm background job.
    pub async fn system_job(&self, job: SystemJob) -> Result<SystemJobTx, DbErr> {
        let tx = begin(&self.conn, self.backend, AccessMode::ReadWrite).await?;
        if self.backend == Backend::Postgres {
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('app.system_job', $1, true)",
                [job.name().into()],
            ))
            .await?;
        }
        Ok(SystemJobTx {
            tx,
            backend: self.backend,
        })
    }

    /// Opens a transaction that starts unscoped (for a registry write) and is then bound to a
    /// firm with [`RegistryTx::bind_tenant`] — how onboarding creates the registry row and the
    /// firm's first rows atomically.
    pub async fn registry_write(&self) -> Result<RegistryTx, DbErr> {
        let tx = begin(&self.conn, self.backend, AccessMode::ReadWrite).await?;
        Ok(RegistryTx {
            tx,
            backend: self.backend,
            epochs: self.epochs.clone(),
        })
    }

    /// Removes a deleted firm's shared write epoch (PostgreSQL; see [`crate::epochs`]). The
    /// deletion is a write of the firm, so its own commit has just moved it.
    pub async fn forget_write_epoch(&self, tenant: TenantId) -> Result<(), DbErr> {
        if self.backend == Backend::Postgres {
            epochs::delete_shared(&self.conn, tenant).await?;
        }
        Ok(())
    }

    /// PostgreSQL: how many requests read their firm's shared epoch from the database, and how
    /// many took a read another request started after they arrived (see
    /// [`crate::epoch_reads`]), since the process started.
    pub fn shared_epoch_reads(&self) -> (u64, u64) {
        self.epoch_reads.counts().get()
    }

    /// `SELECT 1`, for readiness.
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.conn.ping().await
    }

    pub async fn close(self) -> Result<(), DbErr> {
        self.conn.close().await
    }
}

async fn begin(
    conn: &DatabaseConnection,
    backend: Backend,
    mode: AccessMode,
) -> Result<DatabaseTransaction, DbErr> {
    let options = match (backend, mode) {
        // SQLite upgrades a deferred read lock to a write lock only if nobody else wrote in
        // between, and fails at once (SQLITE_BUSY, no busy-wait) when someone did. Write
        // transactions therefore take the write lock up front and queue on the busy timeout.
        (Backend::Sqlite, AccessMode::ReadWrite) => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        },
        (Backend::Sqlite, AccessMode::ReadOnly) => TransactionOptions::default(),
        // PostgreSQL transactions are read-write by default; a read-only one says so in the
        // same round trip as its tenant binding ([`TenantTx::bind`]) rather than in a
        // `SET TRANSACTION` of its own.
        (Backend::Postgres, _) => TransactionOptions::default(),
    };
    conn.begin_with_options(options).await
}

fn ensure_sqlite_parent_dir(url: &str) {
    // `sqlite://data/portico.db?mode=rwc` creates the file but not its directory.
    if let Ok(opts) = SqliteConnectOptions::from_str(url)
        && let Some(parent) = opts.get_filename().parent()
        && !parent.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(parent);
    }
}

/// One firm's view of the database, for one request (or one job step): it remembers the
/// firm's write epoch once read (see [`TenantDb::epoch`]).
#[derive(Clone, Debug)]
pub struct TenantDb {
    db: Database,
    tenant: TenantId,
    /// PostgreSQL: the shared epoch as this request read it, until this process writes the firm.
    seen: Arc<SeenEpoch>,
}

impl TenantDb {
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    pub fn backend(&self) -> Backend {
        self.db.backend
    }

    /// A read-write transaction bound to this firm; its end moves the firm's write epoch.
    pub async fn write(&self) -> Result<TenantTx, DbErr> {
        self.begin_bound(AccessMode::ReadWrite, true).await
    }

    /// A read-write transaction that does not move the firm's write epoch, for sign-in
    /// bookkeeping only: rows no value kept with an epoch is read from — a session being created,
    /// touched or expired, throttling counters, audit and activity entries, last-login times
    /// (which the account's *other* sessions then show within the memory TTL). Sign-in storms
    /// would otherwise retire every cached answer of the firm with each sign-in. Anything a
    /// signed-in request shows, and ending a session, goes through [`write`](Self::write).
    pub async fn write_bookkeeping(&self) -> Result<TenantTx, DbErr> {
        self.begin_bound(AccessMode::ReadWrite, false).await
    }

    /// A read-only transaction bound to this firm.
    pub async fn read(&self) -> Result<TenantTx, DbErr> {
        self.begin_bound(AccessMode::ReadOnly, false).await
    }

    async fn begin_bound(&self, mode: AccessMode, moves_epoch: bool) -> Result<TenantTx, DbErr> {
        let tx = begin(&self.db.conn, self.db.backend, mode).await?;
        let bump = moves_epoch.then(|| self.db.epochs.clone());
        TenantTx::bind(tx, self.db.backend, self.tenant, mode, bump).await
    }

    /// This firm's write epoch (see [`crate::epochs`]); read it *before* reading anything to be
    /// kept with it. SQLite: this process's counter, now. PostgreSQL: the shared counter, read
    /// from the database on the first call and then remembered by this handle (and its clones)
    /// until this process writes the firm — at most one round trip per request (shared by the
    /// firm's requests that queue behind one under way, see [`crate::epoch_reads`]), and never
    /// an answer kept from before the request's own write.
    pub async fn epoch(&self) -> Result<u64, DbErr> {
        self.epoch_via(|| {
            self.db.epoch_reads.read(self.tenant, || {
                epochs::read_shared(&self.db.conn, self.tenant)
            })
        })
        .await
    }

    /// [`epoch`](Self::epoch) for a caller holding `tx`, a transaction of this firm: an epoch
    /// that must be read again is read in `tx`, never through a second pooled connection while
    /// one is held (with the pool exhausted, a request would wait for itself).
    pub async fn epoch_in(&self, tx: &TenantTx) -> Result<u64, DbErr> {
        debug_assert_eq!(tx.tenant_id(), self.tenant);
        self.epoch_via(|| epochs::read_shared(tx.conn(), self.tenant))
            .await
    }

    /// The epoch, with `read_shared` reading the shared one when this handle has none to use.
    async fn epoch_via<F, Fut>(&self, read_shared: F) -> Result<u64, DbErr>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, DbErr>>,
    {
        let local = self.db.epochs.current(self.tenant);
        match self.db.backend {
            Backend::Sqlite => Ok(local),
            Backend::Postgres => {
                if let Some(shared) = self.seen.get(local) {
                    return Ok(shared);
                }
                let shared = read_shared().await?;
                self.seen.remember(local, shared);
                Ok(shared)
            }
        }
    }
}

/// A transaction bound to one firm. Every tenant-owned query goes through one of these.
pub struct TenantTx {
    tx: DatabaseTransaction,
    tenant: TenantId,
    backend: Backend,
    /// For a write: this process's epochs, to move when it ends (on PostgreSQL as well: they
    /// retire what a request remembers of the shared epoch).
    wrote: Option<Arc<WriteEpochs>>,
}

impl TenantTx {
    async fn bind(
        tx: DatabaseTransaction,
        backend: Backend,
        tenant: TenantId,
        mode: AccessMode,
        bump: Option<Arc<WriteEpochs>>,
    ) -> Result<Self, DbErr> {
        if backend == Backend::Postgres {
            // Transaction-local (`true`), so a pooled connection never carries it to the next
            // user. The access mode and the binding go in one simple-protocol message (one round
            // trip instead of two); the id is a typed UUID, formatted as hex digits and dashes,
            // so it is safe to write into the statement.
            let read_only = match mode {
                AccessMode::ReadOnly => "SET TRANSACTION READ ONLY; ",
                _ => "",
            };
            let tenant = tenant.as_uuid();
            tx.execute_unprepared(&format!(
                "{read_only}SELECT set_config('app.tenant_id', '{tenant}', true)"
            ))
            .await?;
        }
        Ok(Self {
            tx,
            tenant,
            backend,
            wrote: bump,
        })
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection to run *scoped* statements on (see [`crate::scoped::TenantScoped`]).
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        let Some(local) = self.wrote else {
            return self.tx.commit().await;
        };
        // PostgreSQL: the shared epoch moves in the transaction, atomically with its writes.
        // If that fails, the transaction is dropped (rolled back) with nothing written.
        let result = match self.backend {
            Backend::Postgres => match epochs::bump_shared(&self.tx, self.tenant).await {
                Ok(()) => self.tx.commit().await,
                Err(err) => Err(err),
            },
            Backend::Sqlite => self.tx.commit().await,
        };
        // A commit whose answer was lost may still have happened, so any ended write moves
        // the local epoch; it moves after the end, so a value read before it cannot outlive it.
        local.bump(self.tenant);
        result
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.tx.rollback().await
    }
}

/// A transaction that writes the tenant registry and then the new firm's own rows.
pub struct RegistryTx {
    tx: DatabaseTransaction,
    backend: Backend,
    epochs: Arc<WriteEpochs>,
}

impl RegistryTx {
    /// The registry table is not tenant-owned; use this only for it.
    pub fn registry_conn(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// Continues the same transaction as the given firm.
    pub async fn bind_tenant(self, tenant: TenantId) -> Result<TenantTx, DbErr> {
        TenantTx::bind(
            self.tx,
            self.backend,
            tenant,
            AccessMode::ReadWrite,
            Some(self.epochs),
        )
        .await
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }
}

/// A transaction for a named cross-firm background job (see [`SystemJob`]).
/// Its commit does not move any write epoch: the jobs write only their own bookkeeping (outbox
/// claims and deliveries, client notices, digest runs), which no value kept with an epoch reads.
pub struct SystemJobTx {
    tx: DatabaseTransaction,
    backend: Backend,
}

impl SystemJobTx {
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn commit(self) -> Result<(), DbErr> {
        self.tx.commit().await
    }
}
