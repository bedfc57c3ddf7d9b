//! The `portico` command line, run in-process: tenant commands against the same database the
//! server uses, and configuration errors reported as one line naming the key.

use clap::Parser;
use portico_web::cli::{Cli, run};
use secrecy::ExposeSecret;

use crate::on_both_backends;
use crate::support::{TestApp, unique_slug};

on_both_backends!(tenant_commands_onboard_and_operate_firms);

async fn tenant_commands_onboard_and_operate_firms(app: TestApp) {
    let backend = app.backend;
    drop(app);
    let app = TestApp::spawn_with(
        backend,
        serde_json::json!({"tenants": {"host_cache_ttl_secs": 1}}),
    )
    .await;
    run_tenant_commands(app).await
}

fn config_file(app: &TestApp) -> std::path::PathBuf {
    let s = &app.state.settings;
    let toml = format!(
        "[server]\nbase_domain = \"localhost\"\npublic_port = {port}\n\
         [database]\nurl = \"{url}\"\nmigration_url = \"{murl}\"\n\
         [mail]\ntransport = \"file\"\nfile_dir = \"{mail}\"\n\
         [storage]\ndir = \"{storage}\"\n[log]\nfilter = \"error\"\n",
        port = app.port(),
        url = s.database.url.expose_secret(),
        murl = s.database.migration_url.expose_secret(),
        mail = s.mail.file_dir.display(),
        storage = s.storage.dir.display(),
    );
    let path = app.dir.path().join("cli.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

async fn portico(args: &[&str]) -> Result<String, String> {
    let cli = Cli::try_parse_from(std::iter::once("portico").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    run(cli, &mut out).await.map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).unwrap())
}

async fn run_tenant_commands(app: TestApp) {
    let config = config_file(&app);
    let config = config.to_str().unwrap();
    let slug = unique_slug();
    let out = portico(&[
        "tenant",
        "--config",
        config,
        "create",
        "--slug",
        &slug,
        "--name",
        "Cli & Sons",
        "--admin-email",
        "ada@cli.example",
        "--admin-name",
        "Ada Cli",
    ])
    .await
    .expect("create");
    assert!(
        out.contains(&format!("Portal URL:    {}", app.portal_url(&slug))),
        "{out}"
    );
    let prefix = format!("Setup link:    {}/firm/setup/", app.portal_url(&slug));
    assert!(out.contains(&prefix), "{out}");
    let token = crate::support::link_token(&out, &prefix);
    assert_eq!(token.len(), 43);

    // The running server sees the new firm at once: the login page names it.
    let page = app.http.get(app.firm_url(&slug, "/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Sign in to Cli &amp; Sons")
    );
    // The server's outbox worker sends the setup email with the same link.
    let mail = app.wait_for_file_mail("ada@cli.example").await;
    assert!(mail.contains(&format!("/firm/setup/{token}")));

    let again = portico(&[
        "tenant",
        "create",
        "--config",
        config,
        "--slug",
        &slug,
        "--name",
        "X",
        "--admin-email",
        "x@y.example",
        "--admin-name",
        "X",
    ])
    .await;
    assert!(again.unwrap_err().contains("already exists"));
    let invalid = portico(&[
        "tenant",
        "create",
        "--config",
        config,
        "--slug",
        "www",
        "--name",
        "X",
        "--admin-email",
        "x@y.example",
        "--admin-name",
        "X",
    ])
    .await;
    assert!(invalid.unwrap_err().contains("reserved"));

    let list = portico(&["tenant", "list", "--config", config])
        .await
        .unwrap();
    assert!(
        list.lines()
            .any(|l| l.starts_with(&slug) && l.contains("active")),
        "{list}"
    );
    let show = portico(&["tenant", "show", &slug, "--config", config])
        .await
        .unwrap();
    assert!(show.contains("Name:       Cli & Sons"), "{show}");
    let suspended = portico(&["tenant", "suspend", &slug, "--config", config])
        .await
        .unwrap();
    assert!(suspended.contains("Status:     suspended"));
    // Another process suspended the firm: the server sees it once its host cache entry expires
    // (1 s in this test, `tenants.host_cache_ttl_secs`).
    let mut status = 0;
    for _ in 0..40 {
        status = app
            .http
            .get(app.firm_url(&slug, "/"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 403 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 403, "suspension by another process is seen");
    let reactivated = portico(&["tenant", "reactivate", &slug, "--config", config])
        .await
        .unwrap();
    assert!(reactivated.contains("Status:     active"));

    let refused = portico(&[
        "tenant",
        "delete",
        &slug,
        "--confirm",
        "nope",
        "--config",
        config,
    ])
    .await;
    assert!(refused.unwrap_err().contains("confirmation does not match"));
    let deleted = portico(&[
        "tenant",
        "delete",
        &slug,
        "--confirm",
        &slug,
        "--config",
        config,
    ])
    .await
    .unwrap();
    assert!(deleted.contains("Deleted firm"));
    let missing = portico(&["tenant", "show", &slug, "--config", config]).await;
    assert!(missing.unwrap_err().contains("no firm with slug"));
}

/// Invalid configuration stops start-up with one line naming the key. No database needed.
#[tokio::test]
async fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[mail]\ntransport = \"pigeon\"\n",
            "configuration: mail.transport:",
        ),
        (
            "[database]\nurl = \"mysql://u:secretpw@db/x\"\n",
            "configuration: database.url: unsupported scheme `mysql`",
        ),
        (
            "[server]\nbind = \"0.0.0.0:8080\"\n",
            "configuration: platform.operator_token: required when server.bind",
        ),
        (
            "[server]\nbind = \"not-an-address\"\n",
            "configuration: server.bind:",
        ),
        (
            "[server]\npublic_scheme = \"gopher\"\n",
            "configuration: server.public_scheme:",
        ),
        (
            "[platform]\noperator_token = \"short\"\n",
            "configuration: platform.operator_token: must be at least 24",
        ),
        ("[log]\nformat = \"xml\"\n", "configuration: log.format:"),
    ];
    for (i, (toml, expected)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, toml).unwrap();
        let err = portico(&["serve", "--config", path.to_str().unwrap()])
            .await
            .unwrap_err();
        assert!(err.starts_with(expected), "{toml}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!err.contains("secretpw"), "secrets are not echoed: {err}");
    }
    let missing = portico(&[
        "serve",
        "--config",
        dir.path().join("nope.toml").to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    assert!(missing.contains("nope.toml"), "{missing}");
}

/// `portico migrate` applies migrations and can be run again.
#[tokio::test]
async fn migrate_is_repeatable_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"sqlite://{}/m.db?mode=rwc\"\n[log]\nfilter = \"error\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    for _ in 0..2 {
        let out = portico(&["migrate", "--config", path.to_str().unwrap()])
            .await
            .unwrap();
        assert_eq!(out.trim(), "migrations applied");
    }
}
