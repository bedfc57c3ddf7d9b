//! A real S3-compatible server for tests: moto's `moto_server` (PyPI `moto[server]`) on a free
//! loopback port, one per test, and a plain HTTP client for looking into its buckets from the
//! outside. moto checks no signatures unless told to: the application signs its requests
//! (object_store), the test's own requests carry a placeholder `Authorization` that only names
//! the account.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::smtp::free_port;

pub const ACCESS_KEY_ID: &str = "portico-test-key";
pub const SECRET_ACCESS_KEY: &str = "portico-test-secret-not-a-real-one";
pub const REGION: &str = "us-east-1";

const INSTALL: &str = "moto_server (an S3-compatible server) is required for the object storage \
                       tests: python3 -m pip install 'moto[server]' (.ci/run installs it)";

pub struct S3Server {
    pub port: u16,
    http: reqwest::Client,
    _child: Child,
}

/// How to run moto's server: `moto_server`, or `python3 -m moto.server` (`PORTICO_TEST_PYTHON`
/// picks the interpreter).
fn moto_command() -> Command {
    let works = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works("moto_server", &["--help"]) {
        return Command::new("moto_server");
    }
    let python = std::env::var("PORTICO_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if works(&python, &["-c", "import moto.server"]) {
        let mut command = Command::new(python);
        command.args(["-m", "moto.server"]);
        return command;
    }
    panic!("{INSTALL}");
}

impl S3Server {
    /// Starts a server and waits until it answers S3 requests.
    pub async fn start() -> Self {
        let port = free_port();
        let child = moto_command()
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start moto_server ({err}); {INSTALL}"));
        let server = Self {
            port,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            _child: child,
        };
        for _ in 0..300 {
            if server
                .request(reqwest::Method::GET, "/")
                .send()
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not answer on port {port} within 30 s");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The `storage` overrides that put the application's documents in `bucket`.
    pub fn storage_settings(&self, bucket: &str, prefix: &str) -> Value {
        json!({"storage": {
            "backend": "s3",
            "s3": {
                "bucket": bucket, "endpoint": self.endpoint(), "region": REGION,
                "access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY,
                "allow_http": true, "prefix": prefix,
            },
        }})
    }

    fn request(&self, method: reqwest::Method, path_and_query: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path_and_query}", self.endpoint()))
            .header(
                "authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/s3/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
    }

    pub async fn create_bucket(&self, bucket: &str) {
        let response = self
            .request(reqwest::Method::PUT, &format!("/{bucket}"))
            .send()
            .await
            .expect("create bucket");
        assert!(response.status().is_success(), "create bucket {bucket}");
    }

    /// Every key under `prefix` (all of them for ""), sorted.
    pub async fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut query = vec![("list-type", "2".to_owned()), ("prefix", prefix.to_owned())];
            if let Some(token) = &token {
                query.push(("continuation-token", token.clone()));
            }
            let response = self
                .request(reqwest::Method::GET, &format!("/{bucket}"))
                .query(&query)
                .send()
                .await
                .expect("list objects");
            assert_eq!(response.status(), 200, "list objects in {bucket}");
            let xml = response.text().await.expect("listing");
            keys.extend(elements(&xml, "Key"));
            token = elements(&xml, "NextContinuationToken").into_iter().next();
            if token.is_none() {
                break;
            }
        }
        keys.sort();
        keys
    }

    /// An object's bytes (`None` when there is none under `key`).
    pub async fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let response = self
            .request(reqwest::Method::GET, &format!("/{bucket}/{key}"))
            .send()
            .await
            .expect("get object");
        match response.status().as_u16() {
            200 => Some(response.bytes().await.expect("object").to_vec()),
            404 => None,
            other => panic!("get {key}: status {other}"),
        }
    }

    pub async fn put(&self, bucket: &str, key: &str, bytes: Vec<u8>) {
        let response = self
            .request(reqwest::Method::PUT, &format!("/{bucket}/{key}"))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .expect("put object");
        assert!(response.status().is_success(), "put {key}");
    }

    /// Keys of the multipart uploads started and neither completed nor aborted.
    pub async fn multipart_uploads(&self, bucket: &str) -> Vec<String> {
        let response = self
            .request(reqwest::Method::GET, &format!("/{bucket}?uploads"))
            .send()
            .await
            .expect("list multipart uploads");
        assert_eq!(response.status(), 200, "list multipart uploads");
        let xml = response.text().await.expect("listing");
        elements(&xml, "Upload")
            .iter()
            .flat_map(|upload| elements(upload, "Key"))
            .collect()
    }
}

/// The text of every `<name>…</name>` element (enough for S3's flat listings; keys here are
/// plain ASCII, so no entity decoding is needed).
fn elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else {
            break;
        };
        found.push(after[..end].to_owned());
        rest = &after[end + close.len()..];
    }
    found
}
