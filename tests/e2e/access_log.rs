//! The access log of `portico serve`: every request gets exactly one `request finished` line, as
//! JSON with the request's id, method, path, firm and status (in the request's span). Lines are
//! written by a log thread of their own (see `portico_platform::telemetry`), so this checks what
//! that must not lose: a line appears while the server runs (operators follow the log), and a
//! burst of requests followed at once by SIGTERM still has every line written out at exit.
//!
//! SQLite only: the log is written the same way whatever the database.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::Value;

use crate::support::process::{ServerEnv, ServerProcess};
use crate::support::{Backend, new_client};

/// The `request finished` lines in `output`, by request id.
fn finished_lines(output: &str) -> BTreeMap<String, Vec<Value>> {
    let mut by_id: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in output.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if entry["message"] != "request finished" {
            continue;
        }
        let id = entry["spans"][0]["request_id"]
            .as_str()
            .unwrap_or_else(|| panic!("an access-log line without its request id: {line}"))
            .to_owned();
        by_id.entry(id).or_default().push(entry);
    }
    by_id
}

async fn get(http: &reqwest::Client, url: String, request_id: &str) -> u16 {
    http.get(url)
        .header("x-request-id", request_id)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

async fn wait_for_line(server: &ServerProcess, request_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(lines) = finished_lines(&server.output()).remove(request_id) {
            return lines[0].clone();
        }
        assert!(
            Instant::now() < deadline,
            "no access-log line for {request_id} within 5 s while the server runs:\n{}",
            server.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_logged_once_while_running_and_through_shutdown() {
    let env = ServerEnv::new(Backend::Sqlite).await;
    let server = env.start().await;
    let http = new_client();
    let (slug, _) = server.create_tenant(&http, "").await;

    // While the server runs, a request's line shows up without anything else happening.
    let status = get(&http, server.firm_url(&slug, "/"), "while-running").await;
    assert_eq!(status, 200, "the firm's sign-in page");
    let line = wait_for_line(&server, "while-running").await;
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["status"], 200);
    assert!(line["latency_ms"].as_f64().is_some(), "latency: {line}");
    let span = &line["spans"][0];
    assert_eq!(span["method"], "GET");
    assert_eq!(span["path"], "/");
    assert_eq!(
        span["tenant"],
        slug.as_str(),
        "the firm the request was for"
    );

    // A burst over 16 connections, the operator host and the firm's host in turn; SIGTERM as
    // soon as the last answer is in.
    let ids: Vec<String> = (0..600).map(|i| format!("burst-{i:04}")).collect();
    let statuses: Vec<(String, u16)> = futures::stream::iter(ids.iter().cloned())
        .enumerate()
        .map(|(i, id)| {
            let http = http.clone();
            let url = if i % 2 == 0 {
                server.operator_url("/healthz")
            } else {
                server.firm_url(&slug, "/")
            };
            async move {
                let status = get(&http, url, &id).await;
                (id, status)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (id, status) in &statuses {
        assert_eq!(*status, 200, "{id}");
    }
    let output = server.stop().await;

    // The server's last words, logged just before it exits, are written out too.
    let last = output
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str::<Value>(line).ok())
        .expect("JSON log lines");
    assert_eq!(last["message"], "stopped", "the last line logged: {last}");

    let logged = finished_lines(&output);
    for (i, id) in ids.iter().enumerate() {
        let lines = logged.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(lines.len(), 1, "{id}: one access-log line, found {lines:?}");
        let span = &lines[0]["spans"][0];
        let (path, tenant) = if i % 2 == 0 {
            ("/healthz", None)
        } else {
            ("/", Some(slug.as_str()))
        };
        assert_eq!(span["path"], path, "{id}");
        assert_eq!(span["tenant"].as_str(), tenant, "{id}: {span}");
        assert_eq!(lines[0]["status"], 200, "{id}");
    }
    assert_eq!(
        logged.len(),
        ids.len() + 2,
        "the burst, the first request and the onboarding call, nothing else"
    );
}
