//! Health, readiness, the API document, metrics, security headers and graceful shutdown.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    health_readiness_docs_and_metrics,
    security_headers_on_every_kind_of_response,
    graceful_shutdown_finishes_in_flight_requests,
);

async fn health_readiness_docs_and_metrics(app: TestApp) {
    let health = app
        .http
        .get(app.operator_url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = app
        .http
        .get(app.operator_url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);

    let spec: Value = app
        .http
        .get(app.operator_url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = spec["paths"].as_object().expect("paths");
    for path in [
        "/platform/tenants",
        "/platform/tenants/{slug}",
        "/platform/tenants/{slug}/suspend",
    ] {
        assert!(paths.contains_key(path), "{path} documented");
    }
    assert_eq!(spec["servers"][0]["url"], "/api/v1");
    let problem = &spec["paths"]["/platform/tenants"]["post"]["responses"]["409"]["content"];
    assert!(
        problem.get("application/problem+json").is_some(),
        "errors documented as problem+json"
    );

    let docs = app
        .http
        .get(app.operator_url("/api/docs"))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));

    let firm = app.create_tenant().await;
    let slug = firm["slug"].as_str().unwrap();
    app.http.get(app.firm_url(slug, "/")).send().await.unwrap();
    let metrics = app.metrics().await;
    assert!(metrics.contains(r#"portico_http_requests_total{method="POST",route="/api/v1/platform/tenants",status="201"}"#), "{metrics}");
    assert!(metrics.contains(r#"route="/",status="200""#));
    assert!(metrics.contains("portico_http_request_duration_seconds_bucket"));
}

fn assert_security_headers(response: &reqwest::Response, what: &str, hsts: bool) {
    let h = response.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    for directive in [
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP has {directive}: {csp}"
        );
    }
    assert_eq!(
        h.get("x-content-type-options").unwrap(),
        "nosniff",
        "{what}"
    );
    assert!(
        h.get("referrer-policy").is_some(),
        "{what}: Referrer-Policy"
    );
    assert_eq!(h.get("cache-control").unwrap(), "no-store", "{what}");
    assert_eq!(
        h.get("strict-transport-security").is_some(),
        hsts,
        "{what}: HSTS"
    );
    if hsts {
        let value = h
            .get("strict-transport-security")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(value.contains("max-age=63072000") && value.contains("includeSubDomains"));
    }
}

async fn security_headers_on_every_kind_of_response(app: TestApp) {
    let firm = app.create_tenant().await;
    let slug = firm["slug"].as_str().unwrap();
    let cases = [
        (app.operator_url("/"), "operator console"),
        (app.firm_url(slug, "/"), "client login"),
        (app.firm_url(slug, "/firm"), "firm page"),
        (app.operator_url("/api/v1/platform/tenants"), "API 401"),
        (app.firm_url("nosuchfirm", "/"), "unknown host"),
        (app.firm_url(slug, "/no/such/page"), "404 page"),
    ];
    for (url, what) in &cases {
        let response = app.http.get(url).send().await.unwrap();
        assert_security_headers(&response, what, false);
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("panicked") && !body.to_lowercase().contains("select "),
            "{what}: no internals"
        );
    }
    let listing = app
        .operator_api(reqwest::Method::GET, "/tenants")
        .send()
        .await
        .unwrap();
    assert_security_headers(&listing, "API list", false);
    let css = app
        .http
        .get(app.operator_url("/static/app.css"))
        .send()
        .await
        .unwrap();
    assert!(
        css.headers()
            .get("cache-control")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("max-age")
    );

    // Served as https (behind a TLS-terminating proxy), every response also carries HSTS.
    let https = TestApp::spawn_with(
        app.backend,
        json!({"server": {"public_scheme": "https", "public_port": 443}}),
    )
    .await;
    let response = https
        .http
        .get(https.operator_url("/"))
        .send()
        .await
        .unwrap();
    assert_security_headers(&response, "https console", true);
    let response = https
        .http
        .get(https.operator_url("/api/v1/platform/tenants"))
        .send()
        .await
        .unwrap();
    assert_security_headers(&response, "https API", true);
}

/// An upload-sized request is half sent when shutdown starts: readiness turns 503 during the
/// drain window, the request still completes with 201, the server exits cleanly, and new
/// connections are refused afterwards.
async fn graceful_shutdown_finishes_in_flight_requests(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let mut app = TestApp::spawn_with(backend, json!({"server": {"shutdown_drain_ms": 700}})).await;
    let port = app.port();
    let slug = crate::support::unique_slug();
    let body = json!({"slug": slug, "name": "In Flight LLP", "admin_email": "a@inflight.example", "admin_name": "A"}).to_string();
    let (head, tail) = body.split_at(body.len() / 2);

    let mut in_flight = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request_head = format!(
        "POST /api/v1/platform/tenants HTTP/1.1\r\nHost: localhost:{port}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{head}",
        app.operator_token,
        body.len()
    );
    in_flight.write_all(request_head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let server = app.take_server();
    app.trigger_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let ready = app
        .http
        .get(app.operator_url("/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "readiness turns 503 first");
    assert_eq!(
        app.http
            .get(app.operator_url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Wait until the listener is closed: from here on the request is truly in flight during
    // shutdown, not merely during the drain window.
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "new connections are refused once draining ends");

    in_flight.write_all(tail.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            let n = in_flight.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&response).contains("\"portal_url\"") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "in-flight request answered");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");

    let exit = tokio::time::timeout(Duration::from_secs(15), server)
        .await
        .expect("server stops in time");
    exit.expect("server task").expect("clean exit");
    let firms = app
        .count(
            "SELECT COUNT(*) AS n FROM tenant WHERE slug = $1",
            vec![slug.into()],
        )
        .await;
    assert_eq!(firms, 1, "the in-flight write is committed");
}

/// Every pooled SQLite connection runs in WAL mode with synchronous=FULL and foreign keys on:
/// several transactions held open at once must each be on their own connection, and each
/// reports the settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pragmas_hold_on_every_pooled_connection() {
    use sea_orm::ConnectionTrait;
    // Four connections held at once: its own pool size, whatever PORTICO_TEST_POOL_SIZE says.
    let app = TestApp::spawn_with(
        crate::support::Backend::Sqlite,
        serde_json::json!({"database": {"max_connections": 5}}),
    )
    .await;
    let firm = app.create_tenant().await;
    let tenant = portico_platform::ids::TenantId::from_uuid(
        uuid::Uuid::parse_str(firm["id"].as_str().unwrap()).unwrap(),
    );
    let db = app.state.db.tenant(tenant);
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(db.read().await.unwrap());
    }
    for tx in &open {
        let conn = tx.conn();
        let backend = conn.get_database_backend();
        let mut values = Vec::new();
        for pragma in [
            "journal_mode",
            "synchronous",
            "foreign_keys",
            "busy_timeout",
            "cache_size",
        ] {
            let row = conn
                .query_one_raw(sea_orm::Statement::from_string(
                    backend,
                    format!("PRAGMA {pragma}"),
                ))
                .await
                .unwrap()
                .unwrap();
            let value: String = row
                .try_get_by_index::<String>(0)
                .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                .unwrap();
            values.push(value);
        }
        assert_eq!(values[0], "wal");
        assert_eq!(values[1], "2", "synchronous=FULL");
        assert_eq!(values[2], "1", "foreign keys on");
        assert!(
            values[3].parse::<i64>().unwrap() >= 1000,
            "busy timeout set"
        );
        assert_eq!(
            values[4], "-512",
            "page cache of config/default.toml, in KiB"
        );
    }
}
