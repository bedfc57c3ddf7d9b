//! `Application`: builds the state and routes, binds the listener (port 0 allowed), and runs
//! until a shutdown signal: readiness turns 503, in-flight requests finish within the grace
//! period, then the outbox worker stops after its batch.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use poem::middleware::{CatchPanic, CookieJarManager};
use poem::{Endpoint, EndpointExt, Response, Route, get, post};
use portico_platform::cache::TenantCache;
use portico_platform::invalidation::{Invalidation, InvalidationBus};
use portico_platform::mail::{MailTransport, OutboxWorker, WorkerConfig};
use portico_platform::password::PasswordHasher;
use portico_platform::storage::BlobStore;
use portico_platform::{Database, Settings};
use portico_tenants::{Registry, TenantResolver};

use crate::metrics::Metrics;
use crate::middleware::{error_response, host_gate, security_headers, telemetry};
use crate::pages::{client, firm, infra, operator, portal};
use crate::state::{AppState, Inner};
use crate::templates::Templates;

/// How the application is started.
#[derive(Clone, Copy, Debug, Default)]
pub struct BuildOptions {
    /// `portico demo`: enables the demo-only pages.
    pub demo: bool,
    /// Run the mail outbox worker in this process (tests may drive it themselves).
    pub run_mail_worker: bool,
}

pub struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    state: AppState,
    worker: Option<OutboxWorker>,
}

impl Application {
    /// Connects to the database, binds the listener and assembles the routes. When
    /// `server.public_port` is 0, Portal URLs use the port actually bound.
    pub async fn build(mut settings: Settings, options: BuildOptions) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind(settings.server.bind)
            .await
            .with_context(|| format!("cannot bind {}", settings.server.bind))?;
        let addr = listener.local_addr()?;
        settings.server.bind = addr;

        let db = Database::connect(&settings.database.url, &settings.database)
            .await
            .context("cannot connect to the database (database.url)")?;
        let blobs = BlobStore::from_settings(&settings)?;
        let invalidations = InvalidationBus::new(db.clone());
        let resolver = TenantResolver::new(
            db.clone(),
            Duration::from_secs(settings.tenants.host_cache_ttl_secs),
            invalidations.clone(),
        );
        let registry = Registry::new(
            db.clone(),
            resolver,
            blobs.clone(),
            portal_url_fn(&settings),
            chrono::Duration::hours(i64::from(settings.tenants.setup_token_valid_hours)),
        );
        let worker = if options.run_mail_worker {
            let transport = MailTransport::from_settings(&settings.mail)?;
            let config = WorkerConfig::from_settings(&settings.mail, &settings.server.base_domain)
                .map_err(anyhow::Error::msg)?;
            Some(OutboxWorker::new(db.clone(), transport, config))
        } else {
            None
        };
        let state = AppState::new(Inner {
            templates: Templates::load().context("templates")?,
            metrics: Metrics::new().context("metrics")?,
            passwords: PasswordHasher::new(),
            options_cache: TenantCache::new(Duration::from_secs(60), 100_000),
            member_sessions: crate::auth::memory_cache(),
            client_sessions: crate::auth::memory_cache(),
            client_reads: crate::client_reads::ClientReads::default(),
            activity_feeds: crate::activity_feed::ActivityFeeds::default(),
            operator_throttle: crate::operator_throttle::OperatorThrottle::default(),
            payments: portico_payments::Providers::new(db.clone(), &settings.payments),
            invalidations,
            settings,
            db,
            registry,
            blobs,
            accepting: AtomicBool::new(true),
            demo: options.demo,
        });
        Ok(Self {
            listener,
            addr,
            state,
            worker,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains gracefully.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let Application {
            listener,
            addr,
            state,
            worker,
        } = self;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let jobs_task = worker
            .is_some()
            .then(|| tokio::spawn(crate::notify::run_jobs(state.clone(), stop_rx.clone())));
        let listener_task = {
            let state = state.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                let url = state.settings.database.url.clone();
                state
                    .invalidations
                    .listen(url, stop, |change| apply_invalidation(&state, change))
                    .await
            })
        };
        let worker_task = worker.map(|worker| tokio::spawn(worker.run(stop_rx)));
        let grace = Duration::from_secs(state.settings.server.shutdown_grace_secs);
        let drain = Duration::from_millis(state.settings.server.shutdown_drain_ms);
        tracing::info!("listening on {addr}");
        let signal_state = state.clone();
        let signal = async move {
            shutdown.await;
            signal_state.stop_accepting();
            tracing::info!("shutdown requested: readiness is 503, draining");
            tokio::time::sleep(drain).await;
        };
        let result =
            crate::http_server::serve(listener, routes(state.clone()), signal, Some(grace)).await;
        let _ = stop_tx.send(true);
        for task in [worker_task, jobs_task].into_iter().flatten() {
            let _ = task.await;
        }
        let _ = listener_task.await;
        tracing::info!("stopped");
        result
    }
}

/// Applies an invalidation announced by this node or another to this node's caches.
async fn apply_invalidation(state: &AppState, change: Invalidation) {
    match change {
        Invalidation::Tenant { slug } => state.registry.resolver().forget(&slug).await,
        Invalidation::FirmOptions { tenant } => state.options_cache.invalidate(tenant).await,
        Invalidation::Everything => {
            state.registry.resolver().forget_all();
            state.options_cache.invalidate_all();
        }
    }
}

fn portal_url_fn(settings: &Settings) -> portico_tenants::registry::PortalUrlFn {
    let settings = settings.clone();
    std::sync::Arc::new(move |slug: &str| settings.portal_url(slug))
}

/// Every route, wrapped in the middleware stack.
pub fn routes(state: AppState) -> impl Endpoint<Output = Response> {
    let version = env!("CARGO_PKG_VERSION");
    let api = crate::api::service(version);
    let html_state = state.clone();
    let firm_pages = [
        firm::members::routes,
        firm::options::routes,
        firm::directory::routes,
        firm::portal::routes,
        firm::audit::routes,
        firm::documents::routes,
        firm::custom_fields::routes,
        firm::activity::routes,
        firm::items::routes,
        firm::billing::routes,
    ];
    let route = firm_pages
        .iter()
        .fold(Route::new(), |route, add| add(route));
    let route = crate::pages::billing::routes(route);
    route
        .at("/healthz", get(infra::healthz))
        .at("/webhooks/stripe", post(crate::webhooks::stripe))
        .at("/webhooks/mock", post(crate::webhooks::mock_events))
        .at("/mock-psp/tokens", post(crate::webhooks::mock_tokens))
        .at("/readyz", get(infra::readyz))
        .at("/metrics", get(infra::metrics))
        .at("/static/app.css", get(infra::stylesheet))
        .at("/static/app.js", get(infra::script))
        .at("/static/favicon.svg", get(infra::favicon))
        .at("/api/openapi.json", api.spec_endpoint())
        .nest("/api/docs", api.swagger_ui())
        .nest("/api/v1", crate::api::endpoint(version))
        .at("/", get(crate::pages::home))
        .at("/login", post(crate::pages::login))
        .at("/logout", post(crate::pages::logout))
        .at("/help", get(client::help_form).post(client::help))
        .at("/reset/:token", get(client::reset_form).post(client::reset))
        .at(
            "/invitations/:token",
            get(client::invitation_form).post(client::accept_invitation),
        )
        .at(
            "/verify-email/:token",
            get(client::verify_email_form).post(client::verify_email),
        )
        .at("/files/:id", get(client::file))
        .at("/files/:id/notes", post(client::add_note))
        .at("/tenants", post(operator::create_tenant))
        .at("/tenants/:slug/suspend", post(operator::suspend_tenant))
        .at(
            "/tenants/:slug/reactivate",
            post(operator::reactivate_tenant),
        )
        .at("/tenants/:slug/delete", post(operator::delete_tenant))
        .at("/branding.css", get(portal::branding_css))
        .at("/branding/logo", get(portal::logo))
        .at("/dev/mail", get(portal::dev_mail))
        .at("/firm", get(firm::dashboard))
        .at(
            "/firm/login",
            get(firm::auth::login_form).post(firm::auth::login),
        )
        .at("/firm/logout", post(firm::auth::logout))
        .at(
            "/firm/help",
            get(firm::auth::help_form).post(firm::auth::help),
        )
        .at(
            "/firm/setup/:token",
            get(firm::auth::setup_form).post(firm::auth::setup),
        )
        .at(
            "/firm/reset/:token",
            get(firm::auth::reset_form).post(firm::auth::reset),
        )
        .catch_all_error(move |err: poem::Error| {
            let state = html_state.clone();
            async move { html_error(&state, err) }
        })
        .with(CookieJarManager::new())
        .around(host_gate)
        .around(security_headers)
        .with(CatchPanic::new())
        .around(telemetry)
        .data(state)
}

fn html_error(state: &AppState, err: poem::Error) -> Response {
    if err.is::<crate::error::ApiError>() {
        return err.into_response();
    }
    let status = err.status();
    let message = match status.as_u16() {
        404 => "There is nothing at this address.".to_owned(),
        405 => "That action is not available here.".to_owned(),
        s if s >= 500 => {
            tracing::error!(error = %err, "unhandled error");
            "Something went wrong on our side.".to_owned()
        }
        _ => err.to_string(),
    };
    error_response(state, "/", status, &message)
}
