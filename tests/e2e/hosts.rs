//! Host → firm resolution: exact `<slug>.<base_domain>` after lower-casing and stripping port
//! and trailing dot; anything else is 404 before any handler, never a default firm.

use crate::on_both_backends;
use crate::support::TestApp;

on_both_backends!(
    firm_hosts_resolve_in_every_spelling,
    unknown_and_malformed_hosts_are_404,
    forwarded_host_headers_are_ignored,
);

async fn get_with_host(app: &TestApp, host: &str, path: &str) -> reqwest::Response {
    app.http
        .get(format!("http://127.0.0.1:{}{path}", app.port()))
        .header("host", host)
        .send()
        .await
        .unwrap()
}

async fn firm_hosts_resolve_in_every_spelling(app: TestApp) {
    let firm = app.create_tenant().await;
    let slug = firm["slug"].as_str().unwrap();
    let name = firm["name"].as_str().unwrap();
    let port = app.port();
    for host in [
        format!("{slug}.localhost:{port}"),
        format!("{}.LOCALHOST:{port}", slug.to_uppercase()),
        format!("{slug}.localhost.:{port}"),
        format!("{slug}.localhost"),
    ] {
        let response = get_with_host(&app, &host, "/").await;
        assert_eq!(response.status(), 200, "{host}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("Sign in to {name}")),
            "{host}: login page names the firm"
        );
    }
    // The base domain is the operator console, not a firm.
    let console = get_with_host(&app, &format!("localhost:{port}"), "/").await;
    assert_eq!(console.status(), 200);
    assert!(console.text().await.unwrap().contains("Operator console"));
}

async fn unknown_and_malformed_hosts_are_404(app: TestApp) {
    let firm = app.create_tenant().await;
    let slug = firm["slug"].as_str().unwrap();
    let port = app.port();
    for host in [
        format!("nosuchfirm.localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_owned(),
        format!("[::1]:{port}"),
        format!("{slug}.localhost..:{port}"),
        format!("a.{slug}.localhost:{port}"),
        format!("{slug}.evil.example:{port}"),
        format!("{slug}localhost:{port}"),
        format!("{slug}.localhost:{port}:1"),
        "".to_owned(),
    ] {
        for path in [
            "/",
            "/firm",
            "/api/v1/platform/tenants",
            "/api/openapi.json",
            "/metrics",
        ] {
            let response = get_with_host(&app, &host, path).await;
            assert_eq!(response.status(), 404, "{host:?}{path}");
            let body = response.text().await.unwrap();
            assert!(!body.contains(slug), "{host:?}{path} leaked the firm");
        }
    }
    // Health endpoints answer on any host (load balancers probe by IP).
    assert_eq!(
        get_with_host(&app, &format!("127.0.0.1:{port}"), "/healthz")
            .await
            .status(),
        200
    );
    assert_eq!(
        get_with_host(&app, &format!("127.0.0.1:{port}"), "/readyz")
            .await
            .status(),
        200
    );
}

async fn forwarded_host_headers_are_ignored(app: TestApp) {
    let firm = app.create_tenant().await;
    let slug = firm["slug"].as_str().unwrap();
    let port = app.port();
    let response = app
        .http
        .get(format!("http://127.0.0.1:{port}/"))
        .header("host", format!("evil.example:{port}"))
        .header("x-forwarded-host", format!("{slug}.localhost:{port}"))
        .header("forwarded", format!("host={slug}.localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    // And the reverse: a firm host with a forwarded evil host still serves that firm.
    let response = app
        .http
        .get(app.firm_url(slug, "/"))
        .header("x-forwarded-host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
