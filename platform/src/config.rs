//! Configuration: `config/default.toml` (compiled in) → optional file → `PORTICO_` environment,
//! validated once at start-up so a bad value stops the process with one line naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The defaults file is the configuration reference; compiling it in means the binary always
/// starts from the documented values, whatever the working directory.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub platform: PlatformSettings,
    pub tenants: TenantSettings,
    pub auth: AuthSettings,
    pub notifications: NotificationSettings,
    pub mail: MailSettings,
    pub storage: StorageSettings,
    /// `storage.backend` and `storage.s3.*`. Read from the same `[storage]` table as
    /// [`StorageSettings`] by [`Settings::from_figment`], and kept in a struct of its own so that
    /// code building a `StorageSettings` by hand (the master-key handling) need not know about
    /// backends.
    #[serde(skip)]
    pub storage_backend: StorageBackendSettings,
    pub log: LogSettings,
    pub payments: PaymentSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub bind: SocketAddr,
    pub base_domain: String,
    pub public_scheme: PublicScheme,
    pub public_port: u16,
    pub shutdown_grace_secs: u64,
    pub shutdown_drain_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicScheme {
    Http,
    Https,
}

impl PublicScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            PublicScheme::Http => "http",
            PublicScheme::Https => "https",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub migration_url: SecretString,
    pub app_role: String,
    pub max_connections: u32,
    pub busy_timeout_ms: u64,
    pub sqlite_cache_kib: u32,
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    /// The URL `migrate` uses: the owner's, or the server's when none is configured.
    pub fn migration_url(&self) -> &SecretString {
        if self.migration_url.expose_secret().trim().is_empty() {
            &self.url
        } else {
            &self.migration_url
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PlatformSettings {
    pub operator_token: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TenantSettings {
    pub setup_token_valid_hours: u32,
    pub host_cache_ttl_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub session_idle_secs: u64,
    pub session_absolute_secs: u64,
    pub password_reset_valid_secs: u64,
    pub account_max_failures: u32,
    pub account_window_secs: u64,
    pub lockout_base_secs: u64,
    pub lockout_max_secs: u64,
    pub ip_max_failures: u32,
    pub ip_window_secs: u64,
    pub trusted_proxy_hops: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NotificationSettings {
    pub poll_interval_secs: u64,
    pub client_batch_minutes: i64,
    pub digest_hour_utc: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MailSettings {
    pub transport: MailTransportKind,
    pub from: String,
    pub file_dir: PathBuf,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: SmtpTls,
    pub smtp_username: String,
    pub smtp_password: SecretString,
    pub poll_interval_ms: u64,
    pub batch_size: u32,
    pub lease_secs: u64,
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    pub max_attempts: u32,
    pub timeout_secs: u64,
}

impl MailSettings {
    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransportKind {
    Smtp,
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StorageSettings {
    pub dir: PathBuf,
    /// Base64 of 32 bytes; wraps every firm's document key (see [`crate::crypto`]).
    pub master_key: SecretString,
}

/// Where document blobs are kept (see [`crate::storage`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StorageBackendSettings {
    #[serde(rename = "backend")]
    pub kind: StorageBackend,
    pub s3: S3Settings,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// One directory per firm under `storage.dir`.
    #[default]
    Local,
    /// An S3-compatible bucket, through the `object_store` crate.
    S3,
}

/// `storage.s3.*`: used when `storage.backend` is `s3`.
#[derive(Debug, Clone, Deserialize)]
pub struct S3Settings {
    pub bucket: String,
    /// Empty for AWS S3 itself; otherwise the base URL of an S3-compatible service.
    pub endpoint: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Permits an `http://` endpoint (a local S3-compatible server).
    pub allow_http: bool,
    /// Key prefix (`a/b`), without leading or trailing `/`; empty puts firms at the bucket root.
    pub prefix: String,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            bucket: String::new(),
            endpoint: String::new(),
            region: "us-east-1".to_owned(),
            access_key_id: String::new(),
            secret_access_key: SecretString::from(String::new()),
            allow_http: false,
            prefix: String::new(),
        }
    }
}

impl S3Settings {
    /// The prefix as path segments (validated at start-up; empty segments are dropped).
    pub fn prefix_segments(&self) -> impl Iterator<Item = &str> {
        self.prefix.split('/').filter(|s| !s.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentSettings {
    pub stripe: StripeSettings,
    pub mock: MockPaymentSettings,
}

/// The mock provider (development, demos, tests). Its webhooks are signed with this secret.
#[derive(Debug, Clone, Deserialize)]
pub struct MockPaymentSettings {
    pub webhook_secret: SecretString,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StripeSettings {
    pub api_base: String,
    pub secret_key: SecretString,
    pub webhook_secret: SecretString,
    /// Stripe.js publishable key (`pk_…`): not a secret, sent to browsers.
    pub publishable_key: String,
}

/// A configuration problem, printed as one line: `configuration: <key>: <what is wrong>`.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {key}: {problem}")]
pub struct ConfigError {
    pub key: String,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(key: &str, problem: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            problem: problem.into(),
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given, then the `PORTICO_` environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        if let Some(file) = file
            && let Err(err) = std::fs::metadata(file)
        {
            return Err(ConfigError::new(
                "--config",
                format!("cannot read {}: {err}", file.display()),
            ));
        }
        Self::from_figment(Self::figment(file))
    }

    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment.merge(Env::prefixed("PORTICO_").split("__"))
    }

    pub fn from_figment(figment: Figment) -> Result<Settings, ConfigError> {
        let mut settings: Settings = figment.extract().map_err(|err| extract_error(err, &[]))?;
        settings.storage_backend = figment
            .focus("storage")
            .extract()
            .map_err(|err| extract_error(err, &["storage"]))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        validate_database_url("database.url", self.database.url.expose_secret())?;
        if !self
            .database
            .migration_url
            .expose_secret()
            .trim()
            .is_empty()
        {
            validate_database_url(
                "database.migration_url",
                self.database.migration_url.expose_secret(),
            )?;
        }
        if !is_sql_identifier(&self.database.app_role) {
            return Err(ConfigError::new(
                "database.app_role",
                "must be a plain role name (letters, digits, underscore)",
            ));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError::new(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if !(64..=1_048_576).contains(&self.database.sqlite_cache_kib) {
            return Err(ConfigError::new(
                "database.sqlite_cache_kib",
                "must be between 64 and 1048576 (KiB)",
            ));
        }
        validate_base_domain(&self.server.base_domain)?;
        if !self.server.bind.ip().is_loopback()
            && self
                .platform
                .operator_token
                .expose_secret()
                .trim()
                .is_empty()
        {
            return Err(ConfigError::new(
                "platform.operator_token",
                format!(
                    "required when server.bind ({}) is not a loopback address",
                    self.server.bind
                ),
            ));
        }
        let token = self.platform.operator_token.expose_secret();
        if !token.is_empty() && token.len() < 24 {
            return Err(ConfigError::new(
                "platform.operator_token",
                "must be at least 24 characters (use a random value)",
            ));
        }
        crate::crypto::validate_master_key_setting(&self.storage)?;
        if self.storage_backend.kind == StorageBackend::S3 {
            validate_s3(&self.storage_backend.s3)?;
        }
        if lettre_mailbox_is_invalid(&self.mail.from) {
            return Err(ConfigError::new(
                "mail.from",
                "must be an email address like `Name <a@b.c>`",
            ));
        }
        if self.auth.session_idle_secs == 0 || self.auth.session_absolute_secs == 0 {
            return Err(ConfigError::new(
                "auth.session_idle_secs",
                "session timeouts must be at least 1 second",
            ));
        }
        if self.auth.account_max_failures == 0 || self.auth.account_max_failures > 10 {
            return Err(ConfigError::new(
                "auth.account_max_failures",
                "must be between 1 and 10 (ASVS 2.2.1)",
            ));
        }
        if self.notifications.digest_hour_utc > 23 {
            return Err(ConfigError::new(
                "notifications.digest_hour_utc",
                "must be an hour from 0 to 23",
            ));
        }
        if self.notifications.poll_interval_secs == 0 {
            return Err(ConfigError::new(
                "notifications.poll_interval_secs",
                "must be at least 1",
            ));
        }
        if self.mail.batch_size == 0 {
            return Err(ConfigError::new("mail.batch_size", "must be at least 1"));
        }
        if self.mail.max_attempts == 0 {
            return Err(ConfigError::new("mail.max_attempts", "must be at least 1"));
        }
        if self.mail.transport == MailTransportKind::Smtp && self.mail.smtp_host.trim().is_empty() {
            return Err(ConfigError::new(
                "mail.smtp_host",
                "required when mail.transport is smtp",
            ));
        }
        if !self.payments.stripe.api_base.ends_with('/') {
            return Err(ConfigError::new(
                "payments.stripe.api_base",
                "must end with `/`",
            ));
        }
        if self
            .log
            .filter
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(ConfigError::new(
                "log.filter",
                "is not a valid tracing filter",
            ));
        }
        Ok(())
    }

    /// `https://<slug>.<base_domain>[:port]` — the only source of absolute links to a firm.
    pub fn portal_url(&self, slug: &str) -> String {
        format!(
            "{}://{}.{}",
            self.server.public_scheme.as_str(),
            slug,
            self.host_suffix()
        )
    }

    /// The operator console's URL on the bare base domain.
    pub fn operator_url(&self) -> String {
        format!(
            "{}://{}",
            self.server.public_scheme.as_str(),
            self.host_suffix()
        )
    }

    fn host_suffix(&self) -> String {
        let default_port = match self.server.public_scheme {
            PublicScheme::Http => 80,
            PublicScheme::Https => 443,
        };
        let port = match self.server.public_port {
            0 => self.server.bind.port(),
            port => port,
        };
        if port == default_port {
            self.server.base_domain.clone()
        } else {
            format!("{}:{}", self.server.base_domain, port)
        }
    }

    pub fn is_https(&self) -> bool {
        self.server.public_scheme == PublicScheme::Https
    }
}

/// One line naming the key. `within` is the table that was extracted, when not the root.
fn extract_error(err: figment::Error, within: &[&str]) -> ConfigError {
    let path: Vec<&str> = within
        .iter()
        .copied()
        .chain(err.path.iter().map(String::as_str))
        .collect();
    let key = if path.is_empty() {
        "(file)".to_owned()
    } else {
        path.join(".")
    };
    // figment's Display repeats the key and provider; the kind alone reads best after it.
    ConfigError::new(&key, err.kind.to_string())
}

/// `storage.s3.*` must describe a usable bucket when `storage.backend` is `s3`. Messages never
/// echo the credentials.
fn validate_s3(s3: &S3Settings) -> Result<(), ConfigError> {
    const REQUIRED: &str = "required when storage.backend is s3";
    if s3.bucket.trim().is_empty() {
        return Err(ConfigError::new("storage.s3.bucket", REQUIRED));
    }
    let bucket_ok = (3..=63).contains(&s3.bucket.len())
        && s3
            .bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && s3.bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s3.bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !bucket_ok {
        return Err(ConfigError::new(
            "storage.s3.bucket",
            "must be a bucket name: 3-63 lower-case letters, digits, `-` or `.`",
        ));
    }
    if s3.region.trim().is_empty() {
        return Err(ConfigError::new("storage.s3.region", REQUIRED));
    }
    if !s3.endpoint.trim().is_empty() {
        let url = url::Url::parse(s3.endpoint.trim()).map_err(|err| {
            ConfigError::new("storage.s3.endpoint", format!("is not a valid URL ({err})"))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if s3.allow_http => {}
            "http" => {
                return Err(ConfigError::new(
                    "storage.s3.endpoint",
                    "is plain http: set storage.s3.allow_http = true to permit it \
                     (local S3-compatible servers only)",
                ));
            }
            other => {
                return Err(ConfigError::new(
                    "storage.s3.endpoint",
                    format!("unsupported scheme `{other}` (use https:// or http://)"),
                ));
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::new(
                "storage.s3.endpoint",
                "must not hold credentials (use storage.s3.access_key_id and secret_access_key)",
            ));
        }
    }
    if s3.access_key_id.trim().is_empty() {
        return Err(ConfigError::new("storage.s3.access_key_id", REQUIRED));
    }
    if s3.secret_access_key.expose_secret().trim().is_empty() {
        return Err(ConfigError::new("storage.s3.secret_access_key", REQUIRED));
    }
    let prefix_ok = s3.prefix_segments().all(|segment| {
        segment != "."
            && segment != ".."
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    });
    if !prefix_ok {
        return Err(ConfigError::new(
            "storage.s3.prefix",
            "must be `/`-separated segments of letters, digits, `-`, `_` or `.`",
        ));
    }
    Ok(())
}

fn validate_database_url(key: &str, url: &str) -> Result<(), ConfigError> {
    // The value may hold a password, so the message describes the problem without echoing it.
    let parsed = url::Url::parse(url)
        .map_err(|err| ConfigError::new(key, format!("is not a valid URL ({err})")))?;
    match parsed.scheme() {
        "sqlite" | "postgres" | "postgresql" => Ok(()),
        other => Err(ConfigError::new(
            key,
            format!("unsupported scheme `{other}` (use sqlite:// or postgres://)"),
        )),
    }
}

fn validate_base_domain(domain: &str) -> Result<(), ConfigError> {
    let ok = !domain.is_empty()
        && domain == domain.to_ascii_lowercase()
        && !domain.ends_with('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            "server.base_domain",
            "must be a lower-case DNS name without port or trailing dot",
        ))
    }
}

fn is_sql_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

fn lettre_mailbox_is_invalid(from: &str) -> bool {
    from.parse::<lettre::message::Mailbox>().is_err()
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_load() {
        Jail::expect_with(|_jail| {
            let settings = Settings::load(None).expect("defaults are valid");
            assert_eq!(settings.server.base_domain, "localhost");
            assert_eq!(settings.portal_url("acme"), "http://acme.localhost:8080");
            Ok(())
        });
    }

    #[test]
    fn env_overrides_with_double_underscore_nesting() {
        Jail::expect_with(|jail| {
            jail.set_env("PORTICO_SERVER__BASE_DOMAIN", "portico.example");
            jail.set_env("PORTICO_SERVER__PUBLIC_SCHEME", "https");
            jail.set_env("PORTICO_SERVER__PUBLIC_PORT", "443");
            let settings = Settings::load(None).expect("valid");
            assert_eq!(settings.portal_url("acme"), "https://acme.portico.example");
            Ok(())
        });
    }

    #[test]
    fn file_layer_sits_between_defaults_and_env() {
        Jail::expect_with(|jail| {
            jail.create_file("extra.toml", "[server]\nbase_domain = \"file.example\"\n")?;
            let settings = Settings::load(Some(Path::new("extra.toml"))).expect("valid");
            assert_eq!(settings.server.base_domain, "file.example");
            jail.set_env("PORTICO_SERVER__BASE_DOMAIN", "env.example");
            let settings = Settings::load(Some(Path::new("extra.toml"))).expect("valid");
            assert_eq!(settings.server.base_domain, "env.example");
            Ok(())
        });
    }

    fn error_for(vars: &[(&str, &str)]) -> String {
        let mut message = String::new();
        Jail::expect_with(|jail| {
            for (key, value) in vars {
                jail.set_env(key, value);
            }
            message = Settings::load(None)
                .expect_err("must be rejected")
                .to_string();
            Ok(())
        });
        message
    }

    #[test]
    fn invalid_values_name_their_key() {
        let msg = error_for(&[("PORTICO_MAIL__TRANSPORT", "pigeon")]);
        assert!(msg.starts_with("configuration: mail.transport:"), "{msg}");
        let msg = error_for(&[("PORTICO_DATABASE__URL", "mysql://x@y/z")]);
        assert!(
            msg.contains("database.url") && msg.contains("mysql"),
            "{msg}"
        );
        let msg = error_for(&[("PORTICO_DATABASE__URL", "not a url")]);
        assert!(msg.contains("database.url"), "{msg}");
        let msg = error_for(&[("PORTICO_SERVER__BIND", "0.0.0.0:8080")]);
        assert!(msg.contains("platform.operator_token"), "{msg}");
        let msg = error_for(&[("PORTICO_SERVER__BIND", "nonsense")]);
        assert!(msg.contains("server.bind"), "{msg}");
        let msg = error_for(&[("PORTICO_SERVER__BASE_DOMAIN", "Example.COM")]);
        assert!(msg.contains("server.base_domain"), "{msg}");
        let msg = error_for(&[("PORTICO_DATABASE__SQLITE_CACHE_KIB", "8")]);
        assert!(
            msg.starts_with("configuration: database.sqlite_cache_kib:"),
            "{msg}"
        );
    }

    const S3_OK: &[(&str, &str)] = &[
        ("PORTICO_STORAGE__BACKEND", "s3"),
        ("PORTICO_STORAGE__S3__BUCKET", "portico-docs"),
        ("PORTICO_STORAGE__S3__ENDPOINT", "http://127.0.0.1:9000"),
        ("PORTICO_STORAGE__S3__ALLOW_HTTP", "true"),
        ("PORTICO_STORAGE__S3__ACCESS_KEY_ID", "AKIDEXAMPLE"),
        (
            "PORTICO_STORAGE__S3__SECRET_ACCESS_KEY",
            "s3cr3t-hunter2-value",
        ),
        ("PORTICO_STORAGE__S3__PREFIX", "prod/portico"),
    ];

    /// `S3_OK` with `changes` applied (an empty value removes the variable).
    fn s3_vars<'a>(changes: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut vars: Vec<(&str, &str)> = S3_OK
            .iter()
            .copied()
            .filter(|(key, _)| !changes.iter().any(|(changed, _)| changed == key))
            .collect();
        vars.extend(
            changes
                .iter()
                .copied()
                .filter(|(_, value)| !value.is_empty()),
        );
        vars
    }

    #[test]
    fn storage_is_local_unless_s3_is_chosen() {
        Jail::expect_with(|jail| {
            let settings = Settings::load(None).expect("defaults");
            assert_eq!(settings.storage_backend.kind, StorageBackend::Local);
            for (key, value) in S3_OK {
                jail.set_env(key, value);
            }
            let settings = Settings::load(None).expect("valid S3 settings");
            let s3 = &settings.storage_backend.s3;
            assert_eq!(settings.storage_backend.kind, StorageBackend::S3);
            assert_eq!(s3.bucket, "portico-docs");
            assert_eq!(s3.region, "us-east-1");
            assert_eq!(
                s3.prefix_segments().collect::<Vec<_>>(),
                ["prod", "portico"]
            );
            assert!(!format!("{settings:?}").contains("hunter2"));
            Ok(())
        });
    }

    #[test]
    fn s3_settings_are_checked_at_start_up() {
        for (changes, key) in [
            (
                &[("PORTICO_STORAGE__BACKEND", "ftp")][..],
                "storage.backend",
            ),
            (
                &[("PORTICO_STORAGE__S3__BUCKET", "")][..],
                "storage.s3.bucket",
            ),
            (
                &[("PORTICO_STORAGE__S3__BUCKET", "Bad_Bucket")][..],
                "storage.s3.bucket",
            ),
            (
                &[("PORTICO_STORAGE__S3__ALLOW_HTTP", "")][..],
                "storage.s3.endpoint",
            ),
            (
                &[("PORTICO_STORAGE__S3__ALLOW_HTTP", "maybe")][..],
                "storage.s3.allow_http",
            ),
            (
                &[("PORTICO_STORAGE__S3__ENDPOINT", "ftp://h")][..],
                "storage.s3.endpoint",
            ),
            (
                &[("PORTICO_STORAGE__S3__ENDPOINT", "http://k:hunter2@h")][..],
                "storage.s3.endpoint",
            ),
            (
                &[("PORTICO_STORAGE__S3__REGION", " ")][..],
                "storage.s3.region",
            ),
            (
                &[("PORTICO_STORAGE__S3__ACCESS_KEY_ID", "")][..],
                "storage.s3.access_key_id",
            ),
            (
                &[("PORTICO_STORAGE__S3__SECRET_ACCESS_KEY", "")][..],
                "storage.s3.secret_access_key",
            ),
            (
                &[("PORTICO_STORAGE__S3__PREFIX", "a/../b")][..],
                "storage.s3.prefix",
            ),
            (
                &[("PORTICO_STORAGE__S3__PREFIX", "a b")][..],
                "storage.s3.prefix",
            ),
        ] {
            let msg = error_for(&s3_vars(changes));
            assert!(
                msg.starts_with(&format!("configuration: {key}:")),
                "{changes:?}: {msg}"
            );
            assert_eq!(msg.lines().count(), 1, "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
        // Without `storage.backend = "s3"` the S3 keys are not required.
        Jail::expect_with(|jail| {
            jail.set_env("PORTICO_STORAGE__S3__BUCKET", "Not_Checked");
            assert!(Settings::load(None).is_ok());
            Ok(())
        });
    }

    #[test]
    fn database_url_errors_do_not_echo_passwords() {
        let msg = error_for(&[("PORTICO_DATABASE__URL", "mysql://u:hunter2secret@db/x")]);
        assert!(!msg.contains("hunter2secret"), "{msg}");
    }
}
