//! Application state shared by every request: configuration, database, registry, templates.

use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use portico_platform::cache::TenantCache;
use portico_platform::password::PasswordHasher;
use portico_platform::storage::BlobStore;
use portico_platform::{Database, Settings};
use portico_tenants::Registry;
use portico_tenants::options::FirmOptions;

use crate::auth::SessionCache;
use crate::metrics::Metrics;
use crate::templates::Templates;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub db: Database,
    pub registry: Registry,
    pub blobs: BlobStore,
    /// Cache invalidations, across nodes on PostgreSQL.
    pub invalidations: portico_platform::invalidation::InvalidationBus,
    /// The payment providers (mock, Stripe) by kind.
    pub payments: portico_payments::Providers,
    pub templates: Templates,
    pub metrics: Metrics,
    pub passwords: PasswordHasher,
    /// Options > Client Portal per firm (read on every client page).
    pub options_cache: TenantCache<Arc<FirmOptions>>,
    /// Signed-in members and clients by session, on SQLite (see [`crate::auth::authenticate`]).
    pub member_sessions: SessionCache<portico_tenants::members::Member>,
    pub client_sessions: SessionCache<portico_tenants::portal_access::Client>,
    /// Signed-in clients' reads, on SQLite (see [`crate::client_reads`]).
    pub client_reads: crate::client_reads::ClientReads,
    /// Members' activity feeds (see [`crate::activity_feed`]).
    pub activity_feeds: crate::activity_feed::ActivityFeeds,
    /// Failed operator sign-ins per address (see [`crate::operator_throttle`]).
    pub operator_throttle: crate::operator_throttle::OperatorThrottle,
    /// False once shutdown has begun: `/readyz` answers 503 so load balancers drain the node.
    pub accepting: AtomicBool,
    /// `portico demo`: enables the demo-only mail viewer.
    pub demo: bool,
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn is_accepting(&self) -> bool {
        self.0.accepting.load(Ordering::SeqCst)
    }

    pub fn stop_accepting(&self) {
        self.0.accepting.store(false, Ordering::SeqCst);
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
