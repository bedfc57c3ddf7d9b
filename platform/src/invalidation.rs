//! Cache invalidation across nodes. Every node keeps small in-memory caches (host → firm, a
//! firm's options); when their source changes, every node must drop the stale entry, not only
//! the one that made the change.
//!
//! The node that makes a change drops its own stale entry at once, then publishes the change.
//! On PostgreSQL it is announced with `pg_notify('portico_invalidate', …)` and every node runs a
//! listener (`LISTEN portico_invalidate`) that applies it to the node's caches. On SQLite (one
//! node by construction) there is nobody else to tell. The caches' TTLs remain as a safety net;
//! and when a listener loses its connection it cannot know what it missed, so after
//! reconnecting it drops everything.

use std::future::Future;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;

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

/// One node's end of the bus.
#[derive(Clone)]
pub struct InvalidationBus {
    db: Database,
}

impl InvalidationBus {
    pub fn new(db: Database) -> Self {
        Self { db }
    }

    /// Announces a change to every node's listener, once the caller has dropped the stale entry
    /// from its own caches. A no-op on SQLite, where the caches live in the one server process
    /// and expire by TTL for changes made by another process (the `portico tenant …`
    /// commands). A failed announcement is logged, not returned: the change itself has
    /// committed, and other nodes' TTLs bound how long they may serve the old value.
    pub async fn publish(&self, change: Invalidation) {
        if self.db.backend() != Backend::Postgres {
            return;
        }
        let announced = self
            .db
            .unscoped_registry()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), change.encode().into()],
            ))
            .await;
        if let Err(err) = announced {
            tracing::warn!(error = %err, "could not announce a cache invalidation to other nodes");
        }
    }

    /// Hands every change announced by any node (this one included) to `apply` until `stop` is
    /// set. Reconnects with back-off; after every reconnect `apply` is told to drop everything.
    /// Returns at once on SQLite.
    pub async fn listen<F, Fut>(&self, url: SecretString, mut stop: watch::Receiver<bool>, apply: F)
    where
        F: Fn(Invalidation) -> Fut,
        Fut: Future<Output = ()>,
    {
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
                apply(Invalidation::Everything).await;
            }
            first = false;
            delay = Duration::from_millis(200);
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    received = listener.recv() => match received {
                        Ok(notification) => {
                            if let Some(change) = Invalidation::decode(notification.payload()) {
                                apply(change).await;
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
