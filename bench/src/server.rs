//! The processes measured: `portico serve` configured through `PORTICO_…` variables exactly as
//! `tests/e2e/support/process.rs` does (a fresh SQLite file migrated at start-up, or a fresh
//! PostgreSQL database migrated by `portico migrate` as the owner and served as the non-owner
//! application role `portico_app`), and the bare baseline server.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use rand::Rng;
use sea_orm::{ConnectionTrait, Database};
use tokio::process::{Child, Command};

use crate::load::{self, Target};

pub const APP_ROLE: &str = "portico_app";
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        match name.trim() {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" | "pg" => Ok(Self::Postgres),
            other => bail!("unknown backend {other:?} (sqlite, postgres)"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

pub fn random_suffix(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(len)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect()
}

/// A port that was free a moment ago: every start of one environment binds the same port, so
/// start-up can be timed from spawn to the first `/readyz` 200 without reading logs.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Everything a sequence of `portico serve` processes shares: data directory, database,
/// master key, operator token, port.
pub struct Env {
    pub backend: Backend,
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub operator_token: String,
    pub port: u16,
    pg: Option<(String, String)>,
    settings: BTreeMap<String, String>,
    starts: usize,
}

impl Env {
    pub async fn new(
        backend: Backend,
        bin: &Path,
        pg_server: &str,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "portico-bench-{}-{}",
            chrono::Utc::now().format("%Y%m%d%H%M%S"),
            random_suffix(6)
        ));
        std::fs::create_dir_all(dir.join("mail"))?;
        std::fs::create_dir_all(dir.join("documents"))?;
        let operator_token = format!("op-{}", random_suffix(32));
        let port = free_port()?;
        let mut key = [0u8; 32];
        rand::thread_rng().fill(&mut key);
        let mut env = Self {
            backend,
            bin: bin.to_owned(),
            dir,
            operator_token: operator_token.clone(),
            port,
            pg: None,
            settings: BTreeMap::new(),
            starts: 0,
        };
        let mail_dir = env.dir.join("mail").display().to_string();
        let storage_dir = env.dir.join("documents").display().to_string();
        for (k, v) in [
            ("server.bind", format!("127.0.0.1:{port}")),
            ("server.public_port", port.to_string()),
            ("server.base_domain", "localhost".to_owned()),
            ("platform.operator_token", operator_token),
            ("mail.transport", "file".to_owned()),
            ("mail.file_dir", mail_dir),
            // The one tuning knob that is not a default: the outbox is polled every 100 ms
            // (default 1 s, 50 emails a pass) so the 10,000 onboarding emails are written
            // within seconds instead of minutes and do not run under the later measurements.
            ("mail.poll_interval_ms", "100".to_owned()),
            ("storage.dir", storage_dir),
            (
                "storage.master_key",
                base64::engine::general_purpose::STANDARD.encode(key),
            ),
            ("log.format", "json".to_owned()),
        ] {
            env.set(k, v);
        }
        for setting in extra {
            let Some((key, value)) = setting.split_once('=') else {
                bail!("--set {setting}: expected key=value");
            };
            env.set(key.trim(), value.trim());
        }
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}?mode=rwc", env.dir.join("portico.db").display());
                env.set("database.url", url);
                env.set("database.migrate_on_start", "true");
            }
            Backend::Postgres => {
                let name = format!(
                    "portico_bench_{}_{}",
                    chrono::Utc::now().timestamp(),
                    random_suffix(6)
                );
                create_pg_database(pg_server, &name).await?;
                env.pg = Some((pg_server.to_owned(), name));
                env.set("database.url", env.db_url());
                env.set("database.migration_url", env.owner_url());
                env.set("database.app_role", APP_ROLE);
                env.set("database.migrate_on_start", "false");
                env.migrate().await?;
            }
        }
        Ok(env)
    }

    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.settings.insert(key.to_owned(), value.into());
    }

    /// What the server connects with (on PostgreSQL the application role).
    pub fn db_url(&self) -> String {
        match &self.pg {
            Some((server, db)) => format!("postgres://{APP_ROLE}@{server}/{db}"),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.dir.join("portico.db").display()
            ),
        }
    }

    fn owner_url(&self) -> String {
        match &self.pg {
            Some((server, db)) => format!("postgres://postgres@{server}/{db}"),
            None => self.db_url(),
        }
    }

    /// The pool size Portico runs with (`database.max_connections`, default 10): the bare
    /// server gets the same.
    pub fn pool_size(&self) -> u32 {
        self.settings
            .get("database.max_connections")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10)
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.dir.join("mail")
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn command(&self, args: &[&str], log: &Path) -> anyhow::Result<Command> {
        let mut command = Command::new(&self.bin);
        command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        let out = std::fs::File::create(log)?;
        command
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out));
        for (name, _) in std::env::vars() {
            if name.starts_with("PORTICO_") || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        for (key, value) in &self.settings {
            let name = format!("PORTICO_{}", key.to_uppercase().replace('.', "__"));
            command.env(name, value);
        }
        Ok(command)
    }

    /// `portico migrate` as the owner (PostgreSQL).
    async fn migrate(&self) -> anyhow::Result<()> {
        let log = self.dir.join("migrate.log");
        let status = self.command(&["migrate"], &log)?.status().await?;
        if !status.success() {
            bail!(
                "portico migrate failed ({status}):\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Spawns `portico serve` and waits for `/readyz` to answer 200; the server knows how long
    /// that took from spawn.
    pub async fn start(&mut self) -> anyhow::Result<Server> {
        self.starts += 1;
        let log = self.dir.join(format!("serve-{}.log", self.starts));
        let mut command = self.command(&["serve"], &log)?;
        command.kill_on_drop(true);
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.bin.display()))?;
        let mut server = Server {
            child,
            addr: self.addr(),
            log,
            ready_after: Duration::ZERO,
        };
        server.ready_after = server.wait_ready(spawned).await?;
        Ok(server)
    }

    /// Removes the data directory and drops the PostgreSQL database.
    pub async fn cleanup(self, keep: bool) {
        if let Some((server, db)) = &self.pg
            && !keep
            && let Ok(admin) = Database::connect(format!("postgres://postgres@{server}/test")).await
        {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await;
            let _ = admin.close().await;
        }
        if keep {
            println!("kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

async fn create_pg_database(server: &str, name: &str) -> anyhow::Result<()> {
    let admin = Database::connect(format!("postgres://postgres@{server}/test"))
        .await
        .with_context(|| format!("PostgreSQL at {server} (trust authentication for postgres)"))?;
    // The role is cluster-wide and shared with the test suite: created if missing, like there.
    let _ = admin
        .execute_unprepared(&format!(
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN \
             CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; END IF; END $$"
        ))
        .await;
    // Databases of earlier, interrupted runs (more than an hour old).
    let now = chrono::Utc::now().timestamp();
    let stale = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'portico_bench_%'",
        ))
        .await?;
    for row in stale {
        let Ok(db) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let created = db
            .split('_')
            .nth(2)
            .and_then(|ts| ts.parse::<i64>().ok())
            .unwrap_or(now);
        if now - created > 3600 {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await;
        }
    }
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .context("create the benchmark database")?;
    admin.close().await?;
    Ok(())
}

/// A running process: `portico serve` or the bare server. Killed if dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    /// Spawn to the first `/readyz` 200 (`portico serve`) or to `listening on` (bare).
    pub ready_after: Duration,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    async fn wait_ready(&mut self, spawned: Instant) -> anyhow::Result<Duration> {
        let probe = Target::get("localhost", "/readyz");
        loop {
            if let Ok((200, _)) = load::once(self.addr, &probe).await {
                return Ok(spawned.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the server exited before it was ready ({status}):\n{}",
                    self.log_tail()
                );
            }
            if spawned.elapsed() > STARTUP_TIMEOUT {
                bail!(
                    "the server was not ready within {STARTUP_TIMEOUT:?}:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> Option<u64> {
        proc_status_kib(self.pid(), field)
    }

    /// Waits until the server has stopped working on its own (CPU time growing by less than a
    /// tenth of a core over half a second), at most `limit`; returns how long that took. A
    /// scenario that leaves work running inside the server (sign-ins whose clients have gone may
    /// still be hashing) would otherwise slow the next one down.
    pub async fn wait_until_idle(&self, limit: Duration) -> Duration {
        let started = Instant::now();
        let window = Duration::from_millis(500);
        let mut before = proc_cpu_ticks(self.pid());
        while started.elapsed() < limit {
            tokio::time::sleep(window).await;
            let now = proc_cpu_ticks(self.pid());
            match (before, now) {
                // A tenth of a core over the half-second window.
                (Some(b), Some(n)) if n.saturating_sub(b) <= TICKS_PER_SECOND / 20 => break,
                (None, _) | (_, None) => break,
                _ => before = now,
            }
        }
        started.elapsed()
    }

    /// The process's user + system CPU time so far, in seconds (`None` once it has gone).
    pub fn cpu_seconds(&self) -> Option<f64> {
        proc_cpu_ticks(self.pid()).map(|ticks| ticks as f64 / TICKS_PER_SECOND as f64)
    }

    /// Resets `VmHWM` to the current RSS (`/proc/<pid>/clear_refs`, Linux ≥ 4.0).
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").is_ok()
    }

    /// SIGTERM, then a clean exit within 30 s (else SIGKILL).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.pid().to_string();
        let _ = Command::new("kill")
            .args(["-s", "TERM", &pid])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                let _ = self.child.kill().await;
            }
        }
        Ok(())
    }
}

pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|line| line.starts_with(field) && line[field.len()..].starts_with(':'))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
}

/// `/proc`'s clock ticks per second: USER_HZ, which Linux fixes at 100 for user space.
const TICKS_PER_SECOND: u64 = 100;

/// User + system CPU time of a process in clock ticks (`/proc/<pid>/stat`, fields 14 and 15,
/// counted after the parenthesised command name, which may hold spaces).
fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Starts the bare baseline server (this binary's `bare` command) on `db_url`.
pub async fn start_bare(db_url: &str, pool: u32, dir: &Path) -> anyhow::Result<Server> {
    let exe = std::env::current_exe()?;
    let log = dir.join("bare.log");
    let out = std::fs::File::create(&log)?;
    let spawned = Instant::now();
    let mut child = Command::new(exe)
        .args(["bare", "--db", db_url, "--pool", &pool.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone()?))
        .stderr(Stdio::from(out))
        .kill_on_drop(true)
        .spawn()?;
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("listening on ").nth(1) {
            let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            return Ok(Server {
                child,
                addr: addr.parse()?,
                log,
                ready_after: spawned.elapsed(),
            });
        }
        if let Some(status) = child.try_wait()? {
            bail!("the bare server exited ({status}):\n{text}");
        }
        if spawned.elapsed() > STARTUP_TIMEOUT {
            bail!("the bare server did not start:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
