//! The `portico` command line: `serve`, `migrate`, `demo` and `tenant …`. Output goes to the
//! writer passed in (stdout in the binary), logs to stderr, so scripts can read the output.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use portico_migrations::{Migrator, MigratorTrait, grant_app_role};
use portico_platform::storage::BlobStore;
use portico_platform::token::RawToken;
use portico_platform::{Database, Settings, telemetry};
use portico_tenants::audit::Actor;
use portico_tenants::{NewTenant, Registry, RegistryError, TenantRecord, TenantResolver};
use secrecy::{ExposeSecret, SecretString};

use crate::app::{Application, BuildOptions};

#[derive(Debug, Parser)]
#[command(name = "portico", version, about = "Client portals for law firms")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP with configuration from config/default.toml, FILE, then PORTICO_… env.
    Serve {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Apply migrations (as the owner on PostgreSQL: database.migration_url) and exit.
    Migrate {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Embedded demo: SQLite under ./data, mail to ./data/mail, a seeded demo firm.
    Demo {
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Operate firms (tenants).
    Tenant {
        #[arg(long, value_name = "FILE", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: TenantCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Onboard a firm; prints its Portal URL and the administrator's setup link.
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long)]
        admin_name: String,
    },
    /// List every firm.
    List,
    /// Show one firm.
    Show { slug: String },
    /// Suspend a firm: its pages answer "suspended"; nothing is deleted.
    Suspend { slug: String },
    /// Reactivate a suspended firm.
    Reactivate { slug: String },
    /// Delete a firm with every row and document it has. `--confirm` must repeat the slug.
    Delete {
        slug: String,
        #[arg(long)]
        confirm: String,
    },
}

pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let settings = Settings::load(config.as_deref())?;
            // Documents cannot be stored or read without the master key: refuse to start.
            portico_platform::crypto::MasterKey::from_settings(&settings.storage)?;
            let _logs = telemetry::init(&settings.log);
            if settings.database.migrate_on_start {
                migrate(&settings).await?;
            }
            let app = Application::build(
                settings,
                BuildOptions {
                    demo: false,
                    run_mail_worker: true,
                },
            )
            .await?;
            app.run_until_stopped(shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate { config } => {
            let settings = Settings::load(config.as_deref())?;
            let _logs = telemetry::init(&settings.log);
            migrate(&settings).await?;
            writeln!(out, "migrations applied")?;
            Ok(())
        }
        Command::Demo { config } => demo(config, out).await,
        Command::Tenant { config, action } => {
            let settings = Settings::load(config.as_deref())?;
            let _logs = telemetry::init(&settings.log);
            let registry = registry(&settings).await?;
            tenant_command(&registry, action, out).await
        }
    }
}

/// Applies migrations with the owner's URL, then grants the application role (PostgreSQL).
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let db = Database::connect(settings.database.migration_url(), &settings.database)
        .await
        .context("cannot connect to the database (database.migration_url)")?;
    let conn = db.unscoped_registry();
    Migrator::up(conn, None)
        .await
        .context("migrations failed")?;
    grant_app_role(conn, &settings.database.app_role).await?;
    db.close().await.ok();
    Ok(())
}

async fn registry(settings: &Settings) -> anyhow::Result<Registry> {
    let db = Database::connect(&settings.database.url, &settings.database)
        .await
        .context("cannot connect to the database (database.url)")?;
    // Changes made here reach running servers' caches through PostgreSQL notifications.
    let bus = portico_platform::invalidation::InvalidationBus::new(db.clone());
    let resolver = TenantResolver::new(db.clone(), Duration::from_secs(1), bus);
    let blobs = BlobStore::from_settings(settings)?;
    let portal = settings.clone();
    Ok(Registry::new(
        db,
        resolver,
        blobs,
        std::sync::Arc::new(move |slug: &str| portal.portal_url(slug)),
        chrono::Duration::hours(i64::from(settings.tenants.setup_token_valid_hours)),
    ))
}

async fn tenant_command(
    registry: &Registry,
    action: TenantCommand,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    match action {
        TenantCommand::Create {
            slug,
            name,
            admin_email,
            admin_name,
        } => {
            let onboarded = registry
                .create(
                    NewTenant {
                        slug,
                        name,
                        admin_email: admin_email.clone(),
                        admin_name: admin_name.clone(),
                    },
                    Actor::Operator,
                )
                .await
                .map_err(explain)?;
            let t = &onboarded.tenant;
            writeln!(out, "Created firm \"{}\" ({})", t.name, t.slug)?;
            writeln!(out, "Portal URL:    {}", t.portal_url)?;
            writeln!(out, "Administrator: {admin_name} <{admin_email}>")?;
            writeln!(out, "Setup link:    {}", onboarded.setup_link)?;
        }
        TenantCommand::List => {
            let tenants = registry.list().await?;
            writeln!(
                out,
                "{:<24} {:<10} {:<40} NAME",
                "SLUG", "STATUS", "PORTAL URL"
            )?;
            for t in tenants {
                writeln!(
                    out,
                    "{:<24} {:<10} {:<40} {}",
                    t.slug,
                    t.status.as_str(),
                    t.portal_url,
                    t.name
                )?;
            }
        }
        TenantCommand::Show { slug } => {
            print_tenant(out, &registry.get(&slug).await.map_err(explain)?)?
        }
        TenantCommand::Suspend { slug } => {
            let t = registry
                .suspend(&slug, Actor::Operator)
                .await
                .map_err(explain)?;
            print_tenant(out, &t)?;
        }
        TenantCommand::Reactivate { slug } => {
            let t = registry
                .reactivate(&slug, Actor::Operator)
                .await
                .map_err(explain)?;
            print_tenant(out, &t)?;
        }
        TenantCommand::Delete { slug, confirm } => {
            registry
                .delete(&slug, &confirm, portico_migrations::TENANT_TABLES)
                .await
                .map_err(explain)?;
            writeln!(out, "Deleted firm {slug} and all its data")?;
        }
    }
    Ok(())
}

fn print_tenant(out: &mut (dyn Write + Send), t: &TenantRecord) -> std::io::Result<()> {
    writeln!(out, "Slug:       {}", t.slug)?;
    writeln!(out, "Name:       {}", t.name)?;
    writeln!(out, "Status:     {}", t.status.as_str())?;
    writeln!(out, "Portal URL: {}", t.portal_url)?;
    writeln!(out, "Created:    {}", t.created_at.to_rfc3339())?;
    writeln!(out, "Id:         {}", t.id)
}

/// Adds the likely fix to database errors that mean "not migrated yet".
fn explain(err: RegistryError) -> anyhow::Error {
    match err {
        RegistryError::Db(db)
            if db.to_string().contains("no such table")
                || db.to_string().contains("does not exist") =>
        {
            anyhow::anyhow!("{db} (has `portico migrate` been run?)")
        }
        other => other.into(),
    }
}

const DEMO_SLUG: &str = "demo";
const DEMO_ADMIN: &str = "admin@demo.example";

async fn demo(config: Option<PathBuf>, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let mut settings = Settings::load(config.as_deref())?;
    let _logs = telemetry::init(&settings.log);
    let generated_token = settings.platform.operator_token.expose_secret().is_empty();
    if generated_token {
        settings.platform.operator_token =
            SecretString::from(RawToken::generate().reveal().to_owned());
    }
    // The demo keeps a generated master key next to its data so documents survive restarts.
    let data_dir = settings
        .storage
        .dir
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| "data".into());
    portico_platform::crypto::ensure_demo_master_key(&mut settings.storage, &data_dir)
        .context("preparing the demo's document key")?;
    migrate(&settings).await?;
    let app = Application::build(
        settings,
        BuildOptions {
            demo: true,
            run_mail_worker: true,
        },
    )
    .await?;
    let state = app.state().clone();
    let seeded = match state
        .registry
        .create(
            NewTenant {
                slug: DEMO_SLUG.to_owned(),
                name: "Demo & Partners LLP".to_owned(),
                admin_email: DEMO_ADMIN.to_owned(),
                admin_name: "Dana Demo".to_owned(),
            },
            Actor::System("demo seed"),
        )
        .await
    {
        Ok(onboarded) => {
            crate::demo::seed(&state, &onboarded)
                .await
                .context("seeding the demo firm")?;
            true
        }
        Err(RegistryError::SlugTaken(_)) => false,
        Err(err) => return Err(err.into()),
    };
    let s = &state.settings;
    let portal = s.portal_url(DEMO_SLUG);
    writeln!(out, "Portico demo")?;
    writeln!(out, "  Operator console:  {}/", s.operator_url())?;
    if generated_token {
        writeln!(
            out,
            "  Operator token:    {} (generated for this run)",
            s.platform.operator_token.expose_secret()
        )?;
    }
    writeln!(out, "  Demo firm portal:  {portal}/")?;
    writeln!(out, "  Firm workspace:    {portal}/firm")?;
    writeln!(out, "  Outgoing mail:     {portal}/dev/mail")?;
    writeln!(
        out,
        "  Firm sign-in:      {portal}/firm/login  {DEMO_ADMIN} / {}",
        crate::demo::MEMBER_PASSWORD
    )?;
    writeln!(
        out,
        "  Client sign-in:    {portal}/  {} / {}",
        crate::demo::CLIENT_EMAIL,
        crate::demo::CLIENT_PASSWORD
    )?;
    if !seeded {
        writeln!(
            out,
            "  (the demo firm already existed in ./data; delete ./data for a fresh one)"
        )?;
    }
    out.flush()?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
