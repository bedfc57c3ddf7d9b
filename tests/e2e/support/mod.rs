//! Test harness: `TestApp::spawn(backend)` runs the real application on port 0 against a fresh
//! SQLite file or the run's PostgreSQL database (the server connecting as the non-owner app
//! role), with an HTTP client that resolves every host name to loopback.

pub mod clients;
pub mod db_snapshot;
pub mod fake_stripe;
pub mod firm;
pub mod portal;
pub mod postgres;
pub mod process;
pub mod s3;
pub mod smtp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use portico_platform::Settings;
use portico_platform::config::DEFAULT_CONFIG;
use portico_web::state::AppState;
use portico_web::{Application, BuildOptions};
use rand::Rng;
use rand::distributions::Alphanumeric;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tempfile::TempDir;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed `async fn(TestApp)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::TestApp::spawn($crate::support::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::TestApp::spawn($crate::support::Backend::Postgres).await).await
            }
        }
    )*};
}

/// Like `on_both_backends!`, for tests that build their own `TestApp` (with extra services
/// or configuration): each listed `async fn(Backend)` runs once per backend.
#[macro_export]
macro_rules! on_both_backends_with {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::support::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::support::Backend::Postgres).await
            }
        }
    )*};
}

pub struct TestApp {
    pub backend: Backend,
    pub addr: SocketAddr,
    pub state: AppState,
    pub operator_token: String,
    /// Client with a cookie store; `new_client()` gives independent ones.
    pub http: reqwest::Client,
    pub dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Settings for a test: the compiled-in defaults plus `overrides`, never the environment.
pub fn test_settings(overrides: Value) -> Settings {
    let figment =
        Figment::from(Toml::string(DEFAULT_CONFIG)).merge(Serialized::defaults(overrides));
    Settings::from_figment(figment).expect("test settings are valid")
}

pub fn random_suffix(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect()
}

/// A fresh slug per test: every test is also an isolation test.
pub fn unique_slug() -> String {
    format!("t{}", random_suffix(12))
}

/// Overrides every test needs: the backend's database, port 0, temp directories, fast worker.
pub async fn base_overrides(backend: Backend, dir: &TempDir) -> Value {
    let (url, migration_url) = match backend {
        Backend::Sqlite => (
            format!("sqlite://{}/portico.db?mode=rwc", dir.path().display()),
            String::new(),
        ),
        Backend::Postgres => {
            let db = postgres::fresh_database().await;
            (postgres::app_url(&db), postgres::owner_url(&db))
        }
    };
    json!({
        "server": { "bind": "127.0.0.1:0", "public_port": 0, "base_domain": "localhost",
                    "shutdown_grace_secs": 10 },
        "database": { "url": url, "migration_url": migration_url,
                      "max_connections": test_pool_size() },
        "platform": { "operator_token": format!("op-{}", random_suffix(32)) },
        "mail": { "transport": "file", "file_dir": dir.path().join("mail").display().to_string(),
                  "poll_interval_ms": 50, "retry_base_secs": 1, "retry_max_secs": 2 },
        "storage": { "dir": dir.path().join("documents").display().to_string(),
                     "master_key": test_master_key() },
        "log": { "filter": "warn" },
    })
}

/// The pool size of every test application: 5, or `PORTICO_TEST_POOL_SIZE`. A run with 1
/// (`PORTICO_TEST_POOL_SIZE=1 tests/run`) shows any request that takes a second pooled
/// connection while holding one — with a full pool such a request waits for itself.
fn test_pool_size() -> u32 {
    std::env::var("PORTICO_TEST_POOL_SIZE")
        .ok()
        .and_then(|size| size.parse().ok())
        .unwrap_or(5)
}

/// A fresh random master key (base64) for each test application.
pub fn test_master_key() -> String {
    use secrecy::ExposeSecret;
    portico_platform::crypto::MasterKey::generate()
        .to_base64()
        .expose_secret()
        .to_owned()
}

pub fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(base), Value::Object(extra)) => {
            for (key, value) in extra {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (slot, value) => *slot = value,
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, json!({})).await
    }

    /// Spawns with extra configuration merged over the test defaults.
    pub async fn spawn_with(backend: Backend, extra: Value) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut overrides = base_overrides(backend, &dir).await;
        merge(&mut overrides, extra);
        let settings = test_settings(overrides);
        if backend == Backend::Sqlite {
            portico_web::cli::migrate(&settings)
                .await
                .expect("migrations apply");
        }
        Self::start(backend, settings, dir).await
    }

    pub async fn start(backend: Backend, settings: Settings, dir: TempDir) -> Self {
        use secrecy::ExposeSecret;
        let operator_token = settings.platform.operator_token.expose_secret().to_owned();
        let app = Application::build(
            settings,
            BuildOptions {
                demo: false,
                run_mail_worker: true,
            },
        )
        .await
        .expect("application builds");
        let addr = app.local_addr();
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        Self {
            backend,
            addr,
            state,
            operator_token,
            http: new_client(),
            dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// The PostgreSQL database this app runs on (`None` on SQLite).
    pub fn pg_database(&self) -> Option<String> {
        use secrecy::ExposeSecret;
        let url = self.state.settings.database.url.expose_secret();
        (self.backend == Backend::Postgres)
            .then(|| url.rsplit('/').next().unwrap_or_default().to_owned())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://localhost:<port><path>`: the operator host.
    pub fn operator_url(&self, path: &str) -> String {
        format!("http://localhost:{}{}", self.port(), path)
    }

    /// `http://<slug>.localhost:<port><path>`: a firm's host.
    pub fn firm_url(&self, slug: &str, path: &str) -> String {
        format!("http://{slug}.localhost:{}{}", self.port(), path)
    }

    pub fn portal_url(&self, slug: &str) -> String {
        format!("http://{slug}.localhost:{}", self.port())
    }

    pub fn operator_api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(
                method,
                self.operator_url(&format!("/api/v1/platform{path}")),
            )
            .bearer_auth(&self.operator_token)
    }

    /// Onboards a firm with a fresh slug through the operator API; returns its JSON view.
    pub async fn create_tenant(&self) -> Value {
        let slug = unique_slug();
        let response = self
            .operator_api(reqwest::Method::POST, "/tenants")
            .json(&json!({
                "slug": slug, "name": format!("Firm {slug}"),
                "admin_email": format!("admin@{slug}.example"), "admin_name": "Ada Admin",
            }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "onboarding {slug}");
        response.json().await.expect("json")
    }

    /// A connection with the owner's rights (sees every row) for assertions about storage.
    pub async fn owner_db(&self) -> DatabaseConnection {
        use secrecy::ExposeSecret;
        let url = self
            .state
            .settings
            .database
            .migration_url()
            .expose_secret()
            .to_owned();
        sea_orm::Database::connect(url)
            .await
            .expect("owner connection")
    }

    /// Runs a `SELECT COUNT(*) AS n …` with the owner's rights.
    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.operator_url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The value of one counter of `/metrics`, e.g.
    /// `portico_session_lookups_total{source="cache"}` (0 when it was never counted).
    pub async fn counter(&self, series: &str) -> u64 {
        counter_value(&self.metrics().await, series)
    }

    pub async fn count(&self, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
        let db = self.owner_db().await;
        let sql = self.sql(sql);
        let row = db
            .query_one_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                sql,
                values,
            ))
            .await
            .expect("count query")
            .expect("a row");
        let n: i64 = row.try_get("", "n").expect("n");
        db.close().await.ok();
        n
    }

    /// Writes `$1, $2` placeholders as `?` on SQLite.
    pub fn sql(&self, sql: &str) -> String {
        match self.backend {
            Backend::Postgres => sql.to_owned(),
            Backend::Sqlite => {
                let mut out = sql.to_owned();
                for i in (1..10).rev() {
                    out = out.replace(&format!("${i}"), "?");
                }
                out
            }
        }
    }

    /// Emails the file transport wrote, as raw text.
    pub fn sent_files(&self) -> Vec<String> {
        let dir = &self.state.settings.mail.file_dir;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .map(|raw| decode_mail(&raw))
            .collect()
    }

    /// Waits (up to 10 s) for an email to `to` in the file transport and returns it.
    pub async fn wait_for_file_mail(&self, to: &str) -> String {
        let to_line = format!("To: {to}");
        self.wait_for_sent_file(&format!("to {to}"), |m| m.contains(&to_line))
            .await
    }

    /// Waits (up to 10 s) for an email in the file transport that `wanted` accepts; `what`
    /// describes it for the failure message ("no email {what} within 10 s").
    pub async fn wait_for_sent_file(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        for _ in 0..200 {
            if let Some(mail) = self.sent_files().into_iter().find(|m| wanted(m)) {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no email {what} within 10 s");
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    pub fn take_server(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        self.server.take().expect("server running")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Every host name resolves to 127.0.0.1, so firm hosts work like in a browser.
struct LoopbackResolver;

impl reqwest::dns::Resolve for LoopbackResolver {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async {
            let addrs: reqwest::dns::Addrs =
                Box::new(std::iter::once(SocketAddr::from(([127, 0, 0, 1], 0))));
            Ok(addrs)
        })
    }
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(LoopbackResolver))
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Sends `request` and reads its body as JSON, whatever the status.
pub async fn fetch_json(request: reqwest::RequestBuilder) -> Value {
    request
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("a JSON body")
}

/// Asserts a response is a problem document with `status`, returning its `detail`.
pub async fn expect_problem(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["type"].is_string());
    body["detail"].as_str().expect("detail").to_owned()
}

/// A raw message with its quoted-printable soft breaks and escapes undone, so that links can
/// be found in it.
pub fn decode_mail(raw: &[u8]) -> String {
    let decoded = quoted_printable::decode(raw, quoted_printable::ParseMode::Robust)
        .unwrap_or_else(|_| raw.to_vec());
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Extracts the token at the end of the first `<prefix>…` link in `text`.
pub fn link_token(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no link {prefix} in:\n{text}"));
    text[start + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// The value of one counter `series` in the Prometheus text `metrics` (0 when it was never
/// counted).
pub fn counter_value(metrics: &str, series: &str) -> u64 {
    let line = format!("{series} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .map(|n| n.trim().parse().expect("a counter's value"))
        .unwrap_or(0)
}
