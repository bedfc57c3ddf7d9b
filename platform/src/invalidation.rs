//! Cache invalidation across nodes. Every node keeps small in-memory caches (host → firm, a
//! firm's options); when their source changes, every node must drop the stale entry, not only
//! the one that made the change.
//!
//! On PostgreSQL a change is announced with `pg_notify('portico_invalidate', …)` and every node
//! runs a listener (`LISTEN portico_invalidate`) that forwards it to the node's subscribers. On
//! SQLite (one node by construction) the same `publish` reaches the in-process subscribers only.
//! The caches' TTLs remain as a safety net; and when a listener loses its connection it cannot
//! know what it missed, so after reconnecting it tells subscribers to drop everything.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{broadcast, watch};

use crate::db::{Backend, Database};
use crate::ids::TenantId;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "portico_invalidate";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// The registry row of a firm changed (suspended, reactivated, deleted): host caches.
    Tenant { slug: String },
    /// A firm's options changed: options caches.
    FirmOptions { tenant: TenantId },
    /// Anything may have changed (a listener reconnected): drop every cached entry.
    Everything,
}

impl Invalidation {
    fn encode(&self) -> String {
        match self {
            Invalidation::Tenant { slug } => format!("tenant:{slug}"),
            Invalidation::FirmOptions { tenant } => format!("options:{tenant}"),
            Invalidation::Everything => "everything".to_owned(),
        }
    }

    fn decode(payload: &str) -> Option<Self> {
        match payload.split_once(':') {
            Some(("tenant", slug)) if !slug.is_empty() => Some(Invalidation::Tenant {
                slug: slug.to_owned(),
            }),
            Some(("options", id)) => id
                .parse()
                .ok()
                .map(|tenant| Invalidation::FirmOptions { tenant }),
            None if payload == "everything" => Some(Invalidation::Everything),
            _ => None,
        }
    }
}

/// Announces a change to every node's caches (the calling process has no bus of its own, e.g.
/// the `portico tenant …` commands). A no-op on SQLite, where the caches live in the one server
/// process and expire by TTL for changes made by another process.
pub async fn announce(db: &Database, change: &Invalidation) -> Result<(), DbErr> {
    if db.backend() != Backend::Postgres {
        return Ok(());
    }
    db.unscoped_registry()
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), change.encode().into()],
        ))
        .await
        .map(|_| ())
}

/// One node's end of the bus.
#[derive(Clone)]
pub struct InvalidationBus {
    db: Database,
    local: broadcast::Sender<Invalidation>,
}

impl InvalidationBus {
    pub fn new(db: Database) -> Self {
        let (local, _) = broadcast::channel(1024);
        Self { db, local }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Invalidation> {
        self.local.subscribe()
    }

    /// Invalidates on this node at once and, on PostgreSQL, on every other node. A failed
    /// announcement is logged, not returned: the change itself has committed, and other nodes'
    /// TTLs bound how long they may serve the old value.
    pub async fn publish(&self, change: Invalidation) {
        let _ = self.local.send(change.clone());
        if let Err(err) = announce(&self.db, &change).await {
            tracing::warn!(error = %err, "could not announce a cache invalidation to other nodes");
        }
    }

    /// Forwards PostgreSQL notifications to this node's subscribers until `stop` is set.
    /// Reconnects with back-off; after every reconnect subscribers are told to drop everything.
    /// Returns at once on SQLite.
    pub async fn listen(&self, url: SecretString, mut stop: watch::Receiver<bool>) {
        if self.db.backend() != Backend::Postgres {
            return;
        }
        let mut delay = Duration::from_millis(200);
        let mut first = true;
        loop {
            if *stop.borrow() {
                return;
            }
            let listener = async {
                let mut listener =
                    sea_orm::sqlx::postgres::PgListener::connect(url.expose_secret()).await?;
                listener.listen(CHANNEL).await?;
                Ok::<_, sea_orm::sqlx::Error>(listener)
            }
            .await;
            let mut listener = match listener {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error = %err, "cache invalidation listener cannot connect; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = stop.changed() => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if !first {
                // Notifications sent while we were away are lost: forget everything cached.
                let _ = self.local.send(Invalidation::Everything);
            }
            first = false;
            delay = Duration::from_millis(200);
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    received = listener.recv() => match received {
                        Ok(notification) => {
                            if let Some(change) = Invalidation::decode(notification.payload()) {
                                let _ = self.local.send(change);
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "cache invalidation listener lost its connection");
                            break;
                        }
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_ignored() {
        let tenant = TenantId::new();
        for change in [
            Invalidation::Tenant {
                slug: "smith-law".into(),
            },
            Invalidation::FirmOptions { tenant },
            Invalidation::Everything,
        ] {
            assert_eq!(Invalidation::decode(&change.encode()), Some(change));
        }
        assert_eq!(Invalidation::decode("options:not-a-uuid"), None);
        assert_eq!(Invalidation::decode("tenant:"), None);
        assert_eq!(Invalidation::decode("whatever"), None);
    }
}
