//! The built `portico` binary as a child process, for tests that need what only a real process
//! has: being killed with SIGKILL, receiving SIGTERM, an exit status, and a restart on the same
//! database, document storage and mail directory.
//!
//! [`ServerEnv`] owns everything that outlives one process (temp directory, SQLite file or
//! PostgreSQL database, master key, operator token, settings); [`ServerEnv::start`] spawns
//! `portico serve` with those settings as `PORTICO_…` variables and waits for `listening on`.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use uuid::Uuid;

use super::firm::STRONG_PASSWORD;
use super::portal::CLIENT_PASSWORD;
use super::{
    Backend, link_token, new_client, postgres, random_suffix, test_master_key, unique_slug,
};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test: `PORTICO_BIN`, else the debug build
/// (`cargo build -p portico-web --bin portico`).
pub fn binary() -> PathBuf {
    if let Ok(bin) = std::env::var("PORTICO_BIN") {
        return PathBuf::from(bin);
    }
    // Without PORTICO_BIN, the debug build that `cargo build` makes: a release binary left
    // over from an earlier build could be older than the code under test. `tests/run` builds
    // the release binary and points PORTICO_BIN at it.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    let debug = target.join("debug/portico");
    assert!(
        debug.exists(),
        "portico binary not found at {}: run `cargo build -p portico-web --bin portico` or set PORTICO_BIN",
        debug.display()
    );
    debug
}

/// Everything a sequence of server processes shares.
pub struct ServerEnv {
    pub backend: Backend,
    pub dir: TempDir,
    pub operator_token: String,
    /// The PostgreSQL database (`None` on SQLite).
    pub pg_database: Option<String>,
    /// Settings as dotted keys (`mail.transport`), passed as `PORTICO_MAIL__TRANSPORT`.
    settings: BTreeMap<String, String>,
}

impl ServerEnv {
    /// A fresh SQLite file (migrated by `serve` at start-up) or a fresh, migrated PostgreSQL
    /// database that the server reaches as the application role; temp mail and document
    /// directories; a random master key and operator token; a fast outbox worker.
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("mail")).expect("mail dir");
        std::fs::create_dir_all(dir.path().join("documents")).expect("documents dir");
        let operator_token = format!("op-{}", random_suffix(32));
        let mut env = Self {
            backend,
            operator_token: operator_token.clone(),
            pg_database: None,
            settings: BTreeMap::new(),
            dir,
        };
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", env.sqlite_path().display());
                env.set("database.url", url);
                env.set("database.migrate_on_start", "true");
            }
            Backend::Postgres => {
                // The harness migrates as the owner; the server only ever connects as the app
                // role, like a production deployment after `portico migrate`.
                let db = postgres::fresh_database().await;
                env.set("database.url", postgres::app_url(&db));
                env.set("database.migration_url", postgres::owner_url(&db));
                env.set("database.migrate_on_start", "false");
                env.pg_database = Some(db);
            }
        }
        let mail_dir = env.mail_dir().display().to_string();
        let storage_dir = env.storage_dir().display().to_string();
        for (key, value) in [
            ("server.bind", "127.0.0.1:0".to_owned()),
            ("server.public_port", "0".to_owned()),
            ("server.base_domain", "localhost".to_owned()),
            ("database.max_connections", "5".to_owned()),
            ("platform.operator_token", operator_token),
            ("mail.transport", "file".to_owned()),
            ("mail.file_dir", mail_dir),
            ("mail.poll_interval_ms", "50".to_owned()),
            ("mail.retry_base_secs", "1".to_owned()),
            ("mail.retry_max_secs", "2".to_owned()),
            ("storage.dir", storage_dir),
            ("storage.master_key", test_master_key()),
            ("log.format", "json".to_owned()),
            // `listening on` is an info line.
            ("log.filter", "info,sqlx=warn,sea_orm=warn".to_owned()),
        ] {
            env.set(key, value);
        }
        env
    }

    /// Sets `key` (dotted, e.g. `server.shutdown_grace_secs`) for the next processes started.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.settings.insert(key.to_owned(), value.into());
        self
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("portico.db")
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    pub fn storage_dir(&self) -> PathBuf {
        self.dir.path().join("documents")
    }

    /// Spawns `portico serve` and waits for it to log `listening on <addr>`.
    pub async fn start(&self) -> ServerProcess {
        self.start_with(&[]).await
    }

    /// Like [`ServerEnv::start`], with `overrides` (dotted keys) over this environment's
    /// settings for this process only: one node of several on the same database and storage
    /// that differs from the others (e.g. its mail transport).
    pub async fn start_with(&self, overrides: &[(&str, String)]) -> ServerProcess {
        let mut settings = self.settings.clone();
        for (key, value) in overrides {
            settings.insert((*key).to_owned(), value.clone());
        }
        let bin = binary();
        let mut command = Command::new(&bin);
        command
            .arg("serve")
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Only this environment's settings: a stray PORTICO_… or RUST_LOG of the test run must
        // not reconfigure the server.
        for (name, _) in std::env::vars() {
            if name.starts_with("PORTICO_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        for (key, value) in &settings {
            let name = format!("PORTICO_{}", key.to_uppercase().replace('.', "__"));
            command.env(name, value);
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", bin.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let (addr_tx, mut addr_rx) = tokio::sync::mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let readers = vec![
            tokio::spawn(collect(stdout, output.clone(), addr_tx.clone())),
            tokio::spawn(collect(stderr, output.clone(), addr_tx)),
        ];

        let addr = tokio::select! {
            addr = addr_rx.recv() => addr,
            status = child.wait() => {
                // Let the readers take in the last lines.
                tokio::time::sleep(Duration::from_millis(100)).await;
                panic!(
                    "portico exited before listening ({status:?}):\n{}",
                    output.lock().expect("output").as_str()
                );
            }
            () = tokio::time::sleep(STARTUP_TIMEOUT) => None,
        };
        let Some(addr) = addr else {
            panic!(
                "portico did not log `listening on` within {STARTUP_TIMEOUT:?}:\n{}",
                output.lock().expect("output").as_str()
            );
        };
        ServerProcess {
            child,
            addr,
            output,
            readers,
            operator_token: self.operator_token.clone(),
        }
    }

    /// A connection that sees every row: the owner on PostgreSQL, the file on SQLite.
    pub async fn owner_db(&self) -> DatabaseConnection {
        let url = match &self.pg_database {
            Some(db) => postgres::owner_url(db),
            None => format!("sqlite://{}?mode=rw", self.sqlite_path().display()),
        };
        sea_orm::Database::connect(url)
            .await
            .expect("owner connection")
    }

    /// Runs `sql` (placeholders `$1, $2…`, rewritten for SQLite) and returns every row.
    pub async fn query(&self, sql: &str, values: Vec<sea_orm::Value>) -> Vec<sea_orm::QueryResult> {
        let db = self.owner_db().await;
        let sql = match self.backend {
            Backend::Postgres => sql.to_owned(),
            Backend::Sqlite => (1..10)
                .rev()
                .fold(sql.to_owned(), |s, i| s.replace(&format!("${i}"), "?")),
        };
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                sql,
                values,
            ))
            .await
            .expect("query");
        db.close().await.ok();
        rows
    }

    /// Runs a `SELECT COUNT(*) AS n …`.
    pub async fn count(&self, sql: &str, values: Vec<sea_orm::Value>) -> i64 {
        let rows = self.query(sql, values).await;
        rows.first()
            .expect("a row")
            .try_get("", "n")
            .expect("column n")
    }

    /// `PRAGMA integrity_check` on the SQLite file, opened read-only (the server is stopped).
    pub async fn sqlite_integrity(&self) -> String {
        let url = format!("sqlite://{}?mode=ro", self.sqlite_path().display());
        let db = sea_orm::Database::connect(url)
            .await
            .expect("read-only SQLite connection");
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "PRAGMA integrity_check",
            ))
            .await
            .expect("integrity_check");
        db.close().await.ok();
        rows.iter()
            .map(|r| {
                r.try_get::<String>("", "integrity_check")
                    .expect("integrity_check column")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Every `.eml` the file transport wrote, decoded.
    pub fn mail_files(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.mail_dir()) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read(e.path()).ok())
            .map(|raw| super::decode_mail(&raw))
            .collect()
    }

    /// Waits (up to 15 s) for an email to `to` containing `needle` and returns it.
    pub async fn wait_for_mail(&self, to: &str, needle: &str) -> String {
        for _ in 0..300 {
            if let Some(mail) = self
                .mail_files()
                .into_iter()
                .find(|m| m.contains(&format!("To: {to}")) && m.contains(needle))
            {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no email to {to} containing {needle} within 15 s");
    }
}

/// Reads a pipe line by line into `output`, reporting the `listening on` address.
async fn collect(
    pipe: impl AsyncRead + Unpin,
    output: Arc<Mutex<String>>,
    addr_tx: tokio::sync::mpsc::UnboundedSender<SocketAddr>,
) {
    let mut lines = BufReader::new(pipe).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(addr) = listening_addr(&line) {
            let _ = addr_tx.send(addr);
        }
        let mut output = output.lock().expect("output");
        output.push_str(&line);
        output.push('\n');
    }
}

fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    addr.parse().ok()
}

/// One running `portico serve`. Killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    pub operator_token: String,
    output: Arc<Mutex<String>>,
    /// The tasks reading stdout and stderr into `output`; they end at the pipes' end.
    readers: Vec<tokio::task::JoinHandle<()>>,
}

impl ServerProcess {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// `http://localhost:<port><path>`: the operator host (and `/readyz`).
    pub fn operator_url(&self, path: &str) -> String {
        format!("http://localhost:{}{}", self.port(), path)
    }

    /// `http://<slug>.localhost:<port><path>`: a firm's host.
    pub fn firm_url(&self, slug: &str, path: &str) -> String {
        format!("http://{slug}.localhost:{}{}", self.port(), path)
    }

    /// Everything the server has logged so far.
    pub fn output(&self) -> String {
        self.output.lock().expect("output").clone()
    }

    /// Sends `signal` (`TERM`, `KILL`…) with kill(1).
    pub async fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .await
            .expect("kill(1) runs");
        assert!(status.success(), "kill -s {signal} failed: {status}");
    }

    /// SIGKILL: no shutdown code runs. Returns once the process is gone.
    pub async fn kill(&mut self) -> ExitStatus {
        self.signal("KILL").await;
        self.child.wait().await.expect("wait for the killed server")
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(limit, self.child.wait())
            .await
            .ok()
            .map(|status| status.expect("wait for the server"))
    }

    /// SIGTERM, then waits for a clean exit (status 0 within 30 s). Returns everything the
    /// server wrote, up to its last line.
    pub async fn stop(mut self) -> String {
        self.signal("TERM").await;
        let status = self.wait(Duration::from_secs(30)).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "server did not stop cleanly on SIGTERM ({status:?}):\n{}",
            self.output()
        );
        for reader in std::mem::take(&mut self.readers) {
            let read_to_end = tokio::time::timeout(Duration::from_secs(10), reader).await;
            assert!(
                read_to_end.is_ok(),
                "the server's output did not end after it exited"
            );
        }
        self.output()
    }
}

/// A firm onboarded through one node, its administrator set up from the emailed link and signed
/// in on that node.
pub struct OnboardedFirm {
    pub slug: String,
    pub tenant_id: Uuid,
    pub admin_email: String,
    /// The administrator's sign-in answer (`token`, `member`, …).
    pub session: Value,
}

impl ServerProcess {
    /// Onboards a firm with a fresh slug through this node's operator API, without waiting for
    /// anything else. `on` ends the assertion messages (`" on A"`), naming the node.
    pub async fn create_tenant(&self, http: &reqwest::Client, on: &str) -> (String, Uuid) {
        let slug = unique_slug();
        let tenant = expect_json(
            http.post(self.operator_url("/api/v1/platform/tenants"))
                .bearer_auth(&self.operator_token)
                .json(&json!({"slug": slug, "name": format!("Firm {slug}"),
                              "admin_email": format!("admin@{slug}.example"),
                              "admin_name": "Ada Admin"})),
            201,
            &format!("onboarding{on}"),
        )
        .await;
        let id = Uuid::parse_str(tenant["id"].as_str().expect("tenant id")).expect("a UUID");
        (slug, id)
    }

    /// Onboards a firm through this node, sets the administrator's password from the emailed
    /// link (sent by whichever node's worker claimed it; links carry this node's port) and signs
    /// in on this node.
    pub async fn onboard(
        &self,
        env: &ServerEnv,
        http: &reqwest::Client,
        on: &str,
    ) -> OnboardedFirm {
        let (slug, tenant_id) = self.create_tenant(http, on).await;
        let admin_email = format!("admin@{slug}.example");
        let mail = env.wait_for_mail(&admin_email, "/firm/setup/").await;
        let token = link_token(&mail, &self.firm_url(&slug, "/firm/setup/"));
        expect_json(
            http.post(self.firm_url(&slug, &format!("/api/v1/firm/setup/{token}")))
                .json(&json!({"password": STRONG_PASSWORD})),
            200,
            &format!("administrator setup{on}"),
        )
        .await;
        let session = expect_json(
            new_client()
                .post(self.firm_url(&slug, "/api/v1/firm/session"))
                .json(&json!({"email": admin_email, "password": STRONG_PASSWORD})),
            200,
            &format!("administrator sign-in{on}"),
        )
        .await;
        OnboardedFirm {
            slug,
            tenant_id,
            admin_email,
            session,
        }
    }

    /// The value of one counter of this node's `/metrics` (see [`super::counter_value`]).
    pub async fn counter(&self, http: &reqwest::Client, series: &str) -> u64 {
        let metrics = http
            .get(self.operator_url("/metrics"))
            .send()
            .await
            .expect("/metrics")
            .text()
            .await
            .expect("/metrics text");
        super::counter_value(&metrics, series)
    }

    /// Accepts the Portal invitation `token` on this node and signs its client in there;
    /// returns the client's bearer token. `on` as for [`ServerProcess::create_tenant`].
    pub async fn accept_invitation(
        &self,
        http: &reqwest::Client,
        slug: &str,
        token: &str,
        email: &str,
        on: &str,
    ) -> String {
        expect_json(
            http.post(self.firm_url(slug, &format!("/api/v1/portal/invitations/{token}/accept")))
                .json(&json!({"accept_terms": true, "password": CLIENT_PASSWORD})),
            200,
            &format!("invitation accepted{on}"),
        )
        .await;
        let session = expect_json(
            new_client()
                .post(self.firm_url(slug, "/api/v1/portal/session"))
                .json(&json!({"email": email, "password": CLIENT_PASSWORD})),
            200,
            &format!("client sign-in{on}"),
        )
        .await;
        session["token"].as_str().expect("client token").to_owned()
    }
}

/// Sends `request` and returns its JSON body (`Null` if it has none), asserting the status.
pub async fn expect_json(request: reqwest::RequestBuilder, status: u16, what: &str) -> Value {
    let response = request.send().await.expect("request");
    let got = response.status();
    let body = response.text().await.expect("response body");
    assert_eq!(got, status, "{what}: {body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// Deterministic document content for `name`: a PDF header, `len` bytes of noise, a trailer.
pub fn document_bytes(name: &str, len: usize) -> Vec<u8> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    let mut state = hasher.finish() | 1;
    let mut bytes = format!("%PDF-1.7\n% {name}\n").into_bytes();
    bytes.extend((0..len).map(|_| {
        // xorshift64: cheap noise, so a misplaced or mis-decrypted chunk cannot match.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state.to_le_bytes()[0]
    }));
    bytes.extend_from_slice(b"\ntrailer << >>\n%%EOF\n");
    bytes
}

/// Message-ID (the outbox id) → how many of `mails` carry it.
pub fn message_ids(mails: &[String]) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for mail in mails {
        let id = mail
            .lines()
            .find_map(|l| {
                l.strip_prefix("Message-ID: <")
                    .or_else(|| l.strip_prefix("Message-Id: <"))
            })
            .and_then(|rest| rest.split('@').next())
            .unwrap_or_else(|| panic!("an email without Message-ID:\n{mail}"))
            .to_owned();
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

/// An SMTP server that accepts connections and never says a word: a worker sending through it
/// claims a batch and hangs on its first email. Aborting `task` closes the held connections.
pub struct SilentSmtp {
    pub port: u16,
    connections: Arc<AtomicUsize>,
    pub task: tokio::task::JoinHandle<()>,
}

impl SilentSmtp {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("silent SMTP binds");
        let port = listener.local_addr().expect("silent SMTP address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::Relaxed);
                held.push(socket);
            }
        });
        Self {
            port,
            connections,
            task,
        }
    }

    /// Connections the outbox workers opened (each one a send in progress).
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}
