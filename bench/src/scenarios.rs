//! What is measured, in order, on each backend (see BENCHMARKS.md for the why):
//!
//! 1. seeding (the benchmark firm through the API; small firms with a client for the spread);
//! 2. throughput and latency of the read routes at 1, 16 and 64 connections, next to the bare
//!    `/text` and bare `/query` baselines;
//! 3. a login storm (200 connections signing in continuously) and the p99 of reads meanwhile;
//! 4. a 50 MB upload and download (median of three rounds): peak memory growth and throughput
//!    against a file copy;
//! 5. host resolution (a firm host against the operator host) and the one-firm figures;
//! 6. onboarding 10,000 firms through concurrent operator API calls, then the same figures
//!    spread over every firm's host;
//! 7. start-up to ready on the existing database, and idle memory per firm.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use rand::RngCore;
use serde::Serialize;
use serde_json::json;

use crate::RunArgs;
use crate::load::{self, Plan, Stats, Target};
use crate::report::{Report, cell, f0, f1, f2, mib, pct};
use crate::seed::{self, Api};
use crate::server::{self, Backend, Env, Server};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Full,
    Check,
}

#[derive(Clone, Debug, Serialize)]
struct Params {
    secs: f64,
    warmup: f64,
    conns: Vec<usize>,
    firms: usize,
    upload_bytes: u64,
    storm_conns: usize,
    storm_clients: usize,
    spread_firms: usize,
    restarts: usize,
    onboard_concurrency: usize,
    /// `check` only: the build profile of the binary, which sets the floors.
    profile: String,
    /// `run` only: the parts to measure (empty: all).
    only: Vec<String>,
}

impl Params {
    fn new(args: &RunArgs, mode: Mode) -> Self {
        let full = mode == Mode::Full;
        Self {
            secs: args.secs.unwrap_or(if full { 4.0 } else { 1.5 }),
            warmup: args.warmup.unwrap_or(if full { 1.0 } else { 0.5 }),
            conns: if full { vec![1, 16, 64] } else { vec![16] },
            firms: args.firms.unwrap_or(if full { 10_000 } else { 0 }),
            upload_bytes: args.upload_mb.unwrap_or(50) * 1_000_000,
            storm_conns: 200,
            storm_clients: if full { 50 } else { 0 },
            spread_firms: if full { 20 } else { 0 },
            restarts: if full { 3 } else { 2 },
            onboard_concurrency: 32,
            profile: args.profile.clone(),
            only: args.only.clone(),
        }
    }

    fn plan(&self, conns: usize) -> Plan {
        Plan {
            conns,
            warmup: Duration::from_secs_f64(self.warmup),
            measure: Duration::from_secs_f64(self.secs),
        }
    }

    fn top(&self) -> usize {
        self.conns.iter().copied().max().unwrap_or(16)
    }
}

pub async fn run(args: RunArgs, mode: Mode) -> anyhow::Result<()> {
    let params = Params::new(&args, mode);
    let bin = std::fs::canonicalize(&args.bin)
        .with_context(|| format!("the portico binary {}", args.bin.display()))?;
    let mut report = Report::default();
    let machine = machine(&std::env::temp_dir());
    report.line(format!(
        "# Portico benchmark ({})",
        if mode == Mode::Full {
            "bench/run"
        } else {
            "bench/check"
        }
    ));
    report.line("");
    report.line(format!(
        "{} — binary `{}` — {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        args.bin.display(),
        machine.summary
    ));
    report.record("machine", &machine);
    report.record("params", &params);
    let backends = match (args.backends.is_empty(), mode) {
        (false, _) => args.backends.clone(),
        (true, Mode::Full) => vec!["sqlite".to_owned(), "postgres".to_owned()],
        (true, Mode::Check) => vec!["sqlite".to_owned()],
    };
    for name in &backends {
        let backend = Backend::parse(name)?;
        println!("== {} ==", backend.name());
        let mut env = Env::new(backend, &bin, &args.pg, &args.settings).await?;
        let outcome = match mode {
            Mode::Full => full(&mut env, &params, &mut report).await,
            Mode::Check => check(&mut env, &params, &mut report).await,
        };
        env.cleanup(args.keep).await;
        outcome.with_context(|| format!("on {}", backend.name()))?;
    }
    report.write(&args.out)?;
    println!("{}", report.markdown);
    println!("## Targets\n\n{}", report.verdict_table());
    println!("written to {}", args.out.join("report.md").display());
    let missed = report.verdicts.iter().filter(|v| !v.pass).count();
    if mode == Mode::Check && missed > 0 {
        bail!("{missed} check(s) failed: a gross performance regression");
    }
    if missed > 0 {
        println!("{missed} target(s) missed");
    }
    Ok(())
}

/// `portico-bench serve`: the seeded benchmark firm, left running for manual profiling.
pub async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let params = Params::new(&args, Mode::Check);
    let bin = std::fs::canonicalize(&args.bin)?;
    let backend = Backend::parse(args.backends.first().map_or("sqlite", String::as_str))?;
    let mut env = Env::new(backend, &bin, &args.pg, &args.settings).await?;
    let mut report = Report::default();
    let (ctx, server) = setup(&mut env, &params, &mut report).await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "portico": ctx.addr.to_string(), "portico_pid": server.pid(),
            "bare": ctx.bare.addr.to_string(), "bare_pid": ctx.bare.pid(),
            "host": ctx.host, "client_token": ctx.client_token, "member_token": ctx.member_token,
            "file": ctx.files[0], "dir": env.dir.display().to_string(), "db": env.db_url(),
        }))?
    );
    println!("serving; Ctrl-C (SIGINT) to stop");
    tokio::signal::ctrl_c().await?;
    server.stop().await?;
    ctx.bare.stop().await?;
    env.cleanup(args.keep).await;
    Ok(())
}

/// [`load::run`] on one target, and the server's CPU time per request answered inside the
/// measured window: its user + system time over the window ÷ the window's requests. Resolves
/// changes of a few percent where throughput cannot, since the load generator's share of the
/// cores moves it far less (`bench/cpu-per-request` measures the same with `wrk`).
async fn run_with_cpu(
    addr: SocketAddr,
    target: Target,
    plan: Plan,
    server: &Server,
) -> anyhow::Result<(Stats, Option<f64>)> {
    let (warmup, measure) = (plan.warmup, plan.measure);
    // The window is timed from here rather than from where `load::run` starts it, after its
    // connections are made: a few milliseconds early on a window of seconds.
    let sample = async {
        tokio::time::sleep(warmup).await;
        let before = server.cpu_seconds();
        tokio::time::sleep(measure).await;
        before.zip(server.cpu_seconds()).map(|(b, a)| a - b)
    };
    let (stats, cpu) = tokio::join!(load::run(addr, vec![target], plan), sample);
    let stats = stats?;
    let per_request = cpu
        .filter(|_| stats.requests > 0)
        .map(|seconds| seconds * 1e6 / stats.requests as f64);
    Ok((stats, per_request))
}

/// `portico-bench ab`: the read routes at the highest connection count on two binaries,
/// alternately, on one seeded database; medians of the rounds and the ratio B ÷ A, of throughput
/// and of the server's CPU time per request.
pub async fn ab(args: crate::AbArgs) -> anyhow::Result<()> {
    let run = args.run.clone();
    let params = Params::new(&run, Mode::Full);
    let bins = [
        std::fs::canonicalize(&run.bin)?,
        std::fs::canonicalize(&args.bin_b)?,
    ];
    let backends = if run.backends.is_empty() {
        vec!["sqlite".to_owned(), "postgres".to_owned()]
    } else {
        run.backends.clone()
    };
    let conns = params.top();
    let mut out = String::new();
    for name in &backends {
        let backend = Backend::parse(name)?;
        let mut env = Env::new(backend, &bins[0], &run.pg, &run.settings).await?;
        let outcome = async {
            let mut report = Report::default();
            let (ctx, server) = setup(&mut env, &params, &mut report).await?;
            server.stop().await?;
            let routes = ctx.read_routes();
            // [bin][route] -> rps of each round; route 0 is bare /text.
            let mut rps = vec![vec![Vec::new(); routes.len() + 1]; 2];
            // [bin][route] -> the server's CPU µs per request of each round (none for /text,
            // which another process serves).
            let mut cpu = vec![vec![Vec::new(); routes.len() + 1]; 2];
            for round in 0..args.rounds {
                for (b, bin) in bins.iter().enumerate() {
                    env.bin = bin.clone();
                    let server = env.start().await?;
                    rps[b][0].push(ctx.bare(BARE_TEXT, params.plan(conns)).await?.rps);
                    for (r, (route, target, _)) in routes.iter().enumerate() {
                        let (s, cpu_us) =
                            run_with_cpu(ctx.addr, target.clone(), params.plan(conns), &server)
                                .await
                                .with_context(|| route.to_string())?;
                        println!(
                            "  round {round} {} {route}: {:.0}/s, {} CPU µs per request",
                            ["A", "B"][b],
                            s.rps,
                            cpu_us.map_or("?".to_owned(), f1)
                        );
                        rps[b][r + 1].push(s.rps);
                        cpu[b][r + 1].extend(cpu_us);
                    }
                    server.stop().await?;
                }
            }
            let median = |v: &Vec<f64>| {
                let mut v = v.clone();
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied()
            };
            out.push_str(&format!(
                "\n{} — {conns} connections, median of {} rounds (req/s; ÷ /text of the same round set; the server's CPU µs per request, which the load generator's share of the cores moves far less)\n\n| route | A | B | B ÷ A | A ÷ /text | B ÷ /text | CPU µs A | CPU µs B | B ÷ A |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
                backend.name(),
                args.rounds
            ));
            let names: Vec<&str> = std::iter::once("bare /text")
                .chain(routes.iter().map(|(n, _, _)| *n))
                .collect();
            // Every round pushed one throughput per route, so those medians exist; a CPU
            // figure may be missing (none for /text, served by another process).
            let rps_of = |b: usize, r: usize| median(&rps[b][r]).unwrap_or(0.0);
            for (r, route) in names.iter().enumerate() {
                let (a, b) = (rps_of(0, r), rps_of(1, r));
                let (ta, tb) = (rps_of(0, 0), rps_of(1, 0));
                let (ca, cb) = (median(&cpu[0][r]), median(&cpu[1][r]));
                out.push_str(&format!(
                    "| {route} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                    f0(a),
                    f0(b),
                    f2(b / a),
                    pct(a / ta),
                    pct(b / tb),
                    ca.map(f1).unwrap_or_default(),
                    cb.map(f1).unwrap_or_default(),
                    ca.zip(cb).map(|(ca, cb)| f2(cb / ca)).unwrap_or_default()
                ));
            }
            ctx.bare.stop().await?;
            Ok::<_, anyhow::Error>(())
        }
        .await;
        env.cleanup(run.keep).await;
        outcome?;
    }
    println!(
        "A = {}\nB = {}\n{out}",
        run.bin.display(),
        args.bin_b.display()
    );
    std::fs::create_dir_all(&run.out)?;
    std::fs::write(run.out.join("ab.md"), &out)?;
    Ok(())
}

#[derive(Serialize)]
struct Machine {
    summary: String,
    nproc: usize,
    cpu: String,
    mem_total_kib: u64,
    disk: String,
    fsync_p50_ms: f64,
}

fn machine(dir: &Path) -> Machine {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let mem_total_kib = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let disk = std::process::Command::new("df")
        .args(["-hT", &dir.display().to_string()])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .nth(1)
                .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_default();
    let fsync_p50_ms = fsync_latency(dir).unwrap_or(0.0);
    Machine {
        summary: format!(
            "{nproc} × {cpu}, {:.1} GiB RAM, disk {disk} (4 KiB write + fsync: {fsync_p50_ms:.2} ms p50)",
            mem_total_kib as f64 / 1024.0 / 1024.0
        ),
        nproc,
        cpu,
        mem_total_kib,
        disk,
        fsync_p50_ms,
    }
}

fn fsync_latency(dir: &Path) -> anyhow::Result<f64> {
    use std::io::Write;
    let path = dir.join(format!("portico-bench-fsync-{}", server::random_suffix(6)));
    let mut file = std::fs::File::create(&path)?;
    let mut times = Vec::new();
    for _ in 0..50 {
        let started = Instant::now();
        file.write_all(&[7u8; 4096])?;
        file.sync_data()?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let _ = std::fs::remove_file(&path);
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The bare baselines: the framework's ceiling and the database's (one indexed row: the benchmark
/// firm's host resolution).
const BARE_TEXT: &str = "/text";
const BARE_QUERY: &str = "/query?slug=bench";

/// The benchmark firm and the handles every scenario needs.
struct Ctx {
    api: Api,
    addr: SocketAddr,
    bare: Server,
    host: String,
    client_token: String,
    member_token: String,
    files: Vec<String>,
    storm_emails: Vec<String>,
    spread: Vec<(String, String)>,
    backend: Backend,
}

impl Ctx {
    fn name(&self) -> &'static str {
        self.backend.name()
    }

    /// A bare baseline ([`BARE_TEXT`] or [`BARE_QUERY`]).
    async fn bare(&self, path: &str, plan: Plan) -> anyhow::Result<Stats> {
        load::run(self.bare.addr, vec![Target::get("localhost", path)], plan).await
    }

    fn client(&self, path: &str) -> Target {
        Target::get(&self.host, path).bearer(&self.client_token)
    }

    /// The read routes, in report order: (name, target, JSON?).
    fn read_routes(&self) -> Vec<(&'static str, Target, bool)> {
        let file = &self.files[0];
        vec![
            ("list my files", self.client("/api/v1/portal/files"), true),
            (
                "file detail",
                self.client(&format!("/api/v1/portal/files/{file}")),
                true,
            ),
            (
                "file's shared notes",
                self.client(&format!("/api/v1/portal/files/{file}/notes")),
                true,
            ),
            (
                "billing Outstanding",
                self.client("/api/v1/portal/billing?view=outstanding"),
                true,
            ),
            (
                "firm activity page (HTML)",
                Target::get(&self.host, "/firm/activity")
                    .header("cookie", &format!("portico_session={}", self.member_token)),
                false,
            ),
        ]
    }
}

async fn setup(
    env: &mut Env,
    params: &Params,
    report: &mut Report,
) -> anyhow::Result<(Ctx, Server)> {
    let server = env.start().await?;
    println!(
        "  first start (fresh database, migrations): {:.0} ms",
        server.ready_after.as_secs_f64() * 1000.0
    );
    let api = Api::new(env.port, &env.operator_token, env.mail_dir())?;
    let started = Instant::now();
    let seeded = seed::bench_firm(&api, "bench", params.storm_clients).await?;
    let spread: Vec<(String, String)> = futures::stream::iter(0..params.spread_firms)
        .map(|n| {
            let api = api.clone();
            async move {
                let slug = format!("spread{n:03}");
                let (_, token) = api.small_firm(&slug).await?;
                Ok::<_, anyhow::Error>((slug, token))
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    let seed_secs = started.elapsed().as_secs_f64();
    println!("  seeded in {seed_secs:.1} s");
    report.record(
        &format!("{}_seed", env.backend.name()),
        json!({"secs": seed_secs, "files_shared": seeded.files.len(),
               "notes_per_file": seeded.notes_per_file, "invoices": seeded.invoices,
               "storm_clients": seeded.storm_emails.len(), "spread_firms": spread.len()}),
    );
    let bare = server::start_bare(&env.db_url(), env.pool_size(), &env.dir).await?;
    let ctx = Ctx {
        host: api.host("bench"),
        api,
        addr: env.addr(),
        bare,
        client_token: seeded.client_token,
        member_token: seeded.admin.token,
        files: seeded.files,
        storm_emails: seeded.storm_emails,
        spread,
        backend: env.backend,
    };
    // Every route answers as expected before anything is timed.
    for (name, target, _) in ctx.read_routes() {
        let (status, body) = load::once(ctx.addr, &target).await?;
        if status != 200 {
            bail!(
                "{name}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
        }
    }
    Ok((ctx, server))
}

async fn full(env: &mut Env, params: &Params, report: &mut Report) -> anyhow::Result<()> {
    let (ctx, server) = setup(env, params, report).await?;
    report.heading(&format!("## {}", ctx.name()));
    let on = |part: &str| params.only.is_empty() || params.only.iter().any(|p| p == part);
    if on("reads") {
        throughput(&ctx, params, report).await?;
    }
    if on("storm") {
        storm(&ctx, params, report).await?;
        // Whatever the storm left running in the server ends before the next measurement.
        let settled = server.wait_until_idle(Duration::from_secs(60)).await;
        println!(
            "  server idle {:.1} s after the storm",
            settled.as_secs_f64()
        );
    }
    if on("transfer") {
        transfer(&ctx, &server, params, report, &env.dir).await?;
    }
    let firms = on("firms") && params.firms > 0;
    if firms {
        let one = one_firm(&ctx, params, report).await?;
        many_firms(&ctx, params, report, &one).await?;
    }
    server.stop().await?;
    if on("startup") {
        startup_and_memory(env, &ctx, params, report, firms).await?;
    }
    ctx.bare.stop().await?;
    Ok(())
}

/// The floor of `check` for authenticated reads, as a share of bare `/text`: about a quarter
/// of what the build measures on the reference machines (BENCHMARKS.md), so only a gross
/// regression (an extra round trip per row, a write on a read path, a blocking call, answers
/// from memory no longer kept) fails it. PostgreSQL reads measure 9–10% of `/text` with answers
/// from memory and 1–2% without, so its floor fails the latter. Debug code is slower relative to
/// the framework than release code, hence its own floor.
fn check_floor(profile: &str, backend: Backend) -> f64 {
    match (profile, backend) {
        ("debug", _) => 0.005,
        (_, Backend::Sqlite) => 0.05,
        (_, Backend::Postgres) => 0.025,
    }
}

/// The floor of `check` for authenticated reads on PostgreSQL as a share of the bare one-row
/// `/query` (release build). Reads answered from memory, with a busy firm's requests sharing
/// each read of its write epoch, measure 102–161% of it at `check`'s 16 connections; each
/// request reading the epoch itself measured 59–63%, and reads not answered from memory (~9
/// round trips) 9–15% (BENCHMARKS.md items 15 and 18). A ratio to `/query` separates them on
/// any machine; the one to `/text` moves with the CPU.
fn check_query_floor(profile: &str, backend: Backend) -> Option<f64> {
    match (profile, backend) {
        ("release", Backend::Postgres) => Some(0.70),
        _ => None,
    }
}

/// The floor of `check` for the firm activity page (HTML) as a share of the bare one-row
/// `/query` (release build): at `check`'s 16 connections it measures 60% (SQLite) and 83%
/// (PostgreSQL) with the rows rendered once per kept feed (BENCHMARKS.md item 20), 37–38% with
/// the rows rendered on every view, 5% and 10% with the feed read on every view (item 16). The
/// floor catches the last; the one before is within this machine's run-to-run spread of the
/// first.
fn check_page_floor(profile: &str) -> Option<f64> {
    (profile == "release").then_some(0.18)
}

/// CI: gross regressions only, by ratios.
async fn check(env: &mut Env, params: &Params, report: &mut Report) -> anyhow::Result<()> {
    let (ctx, server) = setup(env, params, report).await?;
    let name = ctx.name();
    report.heading(&format!("## {name}"));
    let conns = params.top();
    let text = ctx.bare(BARE_TEXT, params.plan(conns)).await?;
    let query = ctx.bare(BARE_QUERY, params.plan(conns)).await?;
    let floor = check_floor(&params.profile, ctx.backend);
    let mut rows = vec![
        vec![
            "bare /text".to_owned(),
            cell(&text),
            "1.00".into(),
            f2(text.rps / query.rps),
        ],
        vec![
            "bare /query".to_owned(),
            cell(&query),
            f2(query.rps / text.rps),
            "1.00".into(),
        ],
    ];
    for (route, target, json) in ctx.read_routes() {
        // JSON reads are judged against /text (and, where set, /query); the HTML page against
        // /query alone, in release builds.
        let (text_floor, query_floor) = if json {
            let query_floor = check_query_floor(&params.profile, ctx.backend);
            (
                Some(floor),
                query_floor.map(|f| (f, "answers from memory, epoch reads shared")),
            )
        } else {
            let page_floor = check_page_floor(&params.profile);
            (None, page_floor.map(|f| (f, "feed kept in memory")))
        };
        if text_floor.is_none() && query_floor.is_none() {
            continue;
        }
        let stats = load::run(ctx.addr, vec![target], params.plan(conns)).await?;
        let (vs_text, vs_query) = (stats.rps / text.rps, stats.rps / query.rps);
        rows.push(vec![
            route.to_owned(),
            cell(&stats),
            f2(vs_text),
            f2(vs_query),
        ]);
        if let Some(text_floor) = text_floor {
            report.judge(
                name,
                &format!(
                    "{route}: ≥ {} of bare /text at {conns} connections ({} build)",
                    pct(text_floor),
                    params.profile
                ),
                format!("{:.1}%", vs_text * 100.0),
                vs_text >= text_floor,
            );
        }
        if let Some((query_floor, why)) = query_floor {
            report.judge(
                name,
                &format!(
                    "{route}: ≥ {} of bare /query at {conns} connections ({why})",
                    pct(query_floor)
                ),
                format!("{:.0}%", vs_query * 100.0),
                vs_query >= query_floor,
            );
        }
    }
    report.line(format!(
        "{conns} connections: requests/s (p50 / p99 ms), ratios to the bare baselines"
    ));
    report.line("");
    report.table(
        &["route", "req/s (p50 / p99 ms)", "÷ /text", "÷ /query"],
        &rows,
    );
    let t = transfer(&ctx, &server, params, report, &env.dir).await?;
    t.judge_peaks(report, name, 64);
    server.stop().await?;
    let worst = restarts(env, params.restarts)
        .await?
        .into_iter()
        .max()
        .unwrap_or_default();
    report.line(format!(
        "\nStart-up to ready (existing database, worst of {}): {:.0} ms",
        params.restarts,
        worst.as_secs_f64() * 1000.0
    ));
    report.judge(
        name,
        "start-up to ready < 3 s",
        format!("{:.0} ms", worst.as_secs_f64() * 1000.0),
        worst < Duration::from_secs(3),
    );
    ctx.bare.stop().await?;
    Ok(())
}

async fn throughput(ctx: &Ctx, params: &Params, report: &mut Report) -> anyhow::Result<()> {
    let name = ctx.name();
    let mut text = Vec::new();
    let mut query = Vec::new();
    for &conns in &params.conns {
        text.push(ctx.bare(BARE_TEXT, params.plan(conns)).await?);
        query.push(ctx.bare(BARE_QUERY, params.plan(conns)).await?);
        println!(
            "  bare at {conns}: /text {:.0}/s, /query {:.0}/s",
            text.last().map(|s| s.rps).unwrap_or(0.0),
            query.last().map(|s| s.rps).unwrap_or(0.0)
        );
    }
    let mut header = vec!["route".to_owned()];
    for &c in &params.conns {
        header.push(format!("{c} conn: req/s (p50 / p99 ms)"));
    }
    let top = params.conns.len() - 1;
    let top_conns = params.conns[top];
    header.push(format!("÷ /text @{top_conns}"));
    header.push(format!("÷ /query @{top_conns}"));
    let mut rows = Vec::new();
    let mut row = |label: &str, stats: &[Stats]| {
        let mut r = vec![label.to_owned()];
        r.extend(stats.iter().map(cell));
        r.push(f2(stats[top].rps / text[top].rps));
        r.push(f2(stats[top].rps / query[top].rps));
        rows.push(r);
    };
    row("bare poem `/text` (framework ceiling)", &text);
    row("bare poem `/query` (one indexed row)", &query);
    let mut all = json!({"text": text, "query": query});
    let json_floor = if ctx.backend == Backend::Sqlite {
        0.35
    } else {
        0.20
    };
    for (route, target, is_json) in ctx.read_routes() {
        let mut stats = Vec::new();
        for &conns in &params.conns {
            let s = load::run(ctx.addr, vec![target.clone()], params.plan(conns))
                .await
                .with_context(|| route.to_owned())?;
            println!(
                "  {route} at {conns}: {:.0}/s p99 {:.2} ms",
                s.rps, s.p99_ms
            );
            stats.push(s);
        }
        row(route, &stats);
        let s = &stats[top];
        let vs_text = s.rps / text[top].rps;
        let vs_query = s.rps / query[top].rps;
        if is_json {
            report.judge(
                name,
                &format!(
                    "{route}: ≥ {} of bare /text at {top_conns} conn",
                    pct(json_floor)
                ),
                pct(vs_text),
                vs_text >= json_floor,
            );
            report.judge(
                name,
                &format!("{route}: p99 ≤ 25 ms at {top_conns} conn"),
                format!("{} ms", f2(s.p99_ms)),
                s.p99_ms <= 25.0,
            );
        }
        report.judge(
            name,
            &format!("{route}: ≥ bare /query ÷ 1.5 at {top_conns} conn"),
            format!("{} of /query", pct(vs_query)),
            vs_query >= 1.0 / 1.5,
        );
        all[route] = serde_json::to_value(&stats)?;
    }
    report.heading("### Read throughput and latency");
    report.line(
        "Closed loop, keep-alive; each cell is requests/s (p50 / p99 latency in ms); ratios at the highest connection count.",
    );
    report.line("");
    report.table(
        &header.iter().map(String::as_str).collect::<Vec<_>>(),
        &rows,
    );
    report.record(&format!("{name}_throughput"), all);
    Ok(())
}

async fn storm(ctx: &Ctx, params: &Params, report: &mut Report) -> anyhow::Result<()> {
    if ctx.storm_emails.is_empty() {
        return Ok(());
    }
    let name = ctx.name();
    let reads = Arc::new(vec![ctx.client("/api/v1/portal/files")]);
    let logins: Vec<Target> = ctx
        .storm_emails
        .iter()
        .map(|email| {
            Target::post_json(
                &ctx.host,
                "/api/v1/portal/session",
                &json!({"email": email, "password": seed::CLIENT_PASSWORD}),
            )
        })
        .collect();
    // Logins take long under a storm: a longer window, so enough of them complete inside it.
    let plan = |conns| Plan {
        conns,
        warmup: Duration::from_secs_f64(params.warmup * 2.0),
        measure: Duration::from_secs_f64(params.secs * 2.0),
    };
    let read_conns = 16;
    let quiet = load::run(ctx.addr, reads.clone(), plan(read_conns)).await?;
    let (during, storm) = tokio::join!(
        load::run(ctx.addr, reads, plan(read_conns)),
        load::run(ctx.addr, logins, plan(params.storm_conns)),
    );
    let (during, storm) = (during?, storm?);
    let ratio = during.p99_ms / quiet.p99_ms;
    println!(
        "  storm: reads p99 {:.2} -> {:.2} ms; {:.1} logins/s",
        quiet.p99_ms, during.p99_ms, storm.rps
    );
    report.heading("### Login storm");
    report.line(format!(
        "{} connections sign clients in continuously (POST /api/v1/portal/session, {} accounts, Argon2id m=19 MiB t=2) while {read_conns} connections list files.",
        params.storm_conns,
        ctx.storm_emails.len()
    ));
    report.line("");
    report.table(
        &["", "req/s", "p50 ms", "p99 ms"],
        &[
            vec![
                "list my files, no storm".into(),
                f0(quiet.rps),
                f2(quiet.p50_ms),
                f2(quiet.p99_ms),
            ],
            vec![
                "list my files, during the storm".into(),
                f0(during.rps),
                f2(during.p50_ms),
                f2(during.p99_ms),
            ],
            vec![
                "sign-ins during the storm".into(),
                f1(storm.rps),
                f2(storm.p50_ms),
                f2(storm.p99_ms),
            ],
        ],
    );
    report.line(format!("\np99 during ÷ p99 without: **{}×**", f2(ratio)));
    report.judge(
        name,
        "login storm raises other routes' p99 < 2×",
        format!("{}×", f2(ratio)),
        ratio < 2.0,
    );
    report.record(
        &format!("{name}_storm"),
        json!({"quiet": quiet, "during": during, "logins": storm, "p99_ratio": ratio}),
    );
    Ok(())
}

#[derive(Serialize, Default)]
struct Transfer {
    bytes: u64,
    copy_mbps: f64,
    durable_copy_mbps: f64,
    upload_mbps: f64,
    download_mbps: f64,
    /// A download that reads the blob through first (a version this process did not know).
    verified_download_mbps: f64,
    upload_peak_kib: f64,
    download_peak_kib: f64,
    peak_method: String,
}

impl Transfer {
    /// Peak memory growth of the upload and of the download below `mb` MB (10^6 bytes).
    fn judge_peaks(&self, report: &mut Report, backend: &str, mb: u32) {
        let limit = f64::from(mb) * 1000.0 * 1000.0 / 1024.0;
        for (what, kib) in [
            ("upload", self.upload_peak_kib),
            ("download", self.download_peak_kib),
        ] {
            report.judge(
                backend,
                &format!("50 MB {what}: peak memory growth < {mb} MB"),
                mib(kib),
                kib < limit,
            );
        }
    }
}

/// Polls the server's `VmRSS` every millisecond until told to stop; returns the highest.
fn sample_rss(pid: u32) -> (Arc<AtomicU64>, tokio::task::JoinHandle<u64>) {
    let stop = Arc::new(AtomicU64::new(0));
    let flag = stop.clone();
    let handle = tokio::spawn(async move {
        let mut peak = 0;
        while flag.load(Ordering::Relaxed) == 0 {
            peak = peak.max(server::proc_status_kib(pid, "VmRSS").unwrap_or(0));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        peak.max(server::proc_status_kib(pid, "VmRSS").unwrap_or(0))
    });
    (stop, handle)
}

/// What `work` cost the server: peak memory growth in KiB, and how long it took.
struct Growth {
    peak_kib: f64,
    elapsed: Duration,
    /// Whether `VmHWM` could be reset, so that it counted next to the polled `VmRSS`.
    hwm: bool,
}

/// Upload/download rounds per backend.
const TRANSFER_ROUNDS: usize = 3;

impl Growth {
    /// The median time and the highest memory growth of several rounds.
    fn median_of(mut rounds: Vec<Growth>) -> Growth {
        let peak_kib = rounds.iter().map(|g| g.peak_kib).fold(0.0, f64::max);
        let hwm = rounds.iter().all(|g| g.hwm);
        rounds.sort_by_key(|g| g.elapsed);
        Growth {
            peak_kib,
            elapsed: rounds[rounds.len() / 2].elapsed,
            hwm,
        }
    }
}

/// Peak memory growth of `server` while `work` runs: the highest of `VmHWM` (reset before,
/// where the kernel allows it) and `VmRSS` polled every millisecond, minus `VmRSS` before.
async fn peak_growth<F, T>(server: &Server, work: F) -> anyhow::Result<(T, Growth)>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    let reset = server.reset_peak();
    let before = server.status_kib("VmRSS").unwrap_or(0);
    let (stop, sampler) = sample_rss(server.pid());
    let started = Instant::now();
    let out = work.await;
    let elapsed = started.elapsed();
    stop.store(1, Ordering::Relaxed);
    let polled = sampler.await.unwrap_or(0);
    let hwm = if reset {
        server.status_kib("VmHWM").unwrap_or(0)
    } else {
        0
    };
    let peak = polled.max(hwm);
    let growth = Growth {
        peak_kib: peak.saturating_sub(before) as f64,
        elapsed,
        hwm: reset,
    };
    Ok((out?, growth))
}

fn file_stream(path: std::path::PathBuf) -> impl futures::Stream<Item = std::io::Result<Bytes>> {
    use tokio::io::AsyncReadExt;
    futures::stream::try_unfold(None::<tokio::fs::File>, move |file| {
        let path = path.clone();
        async move {
            let mut file = match file {
                Some(file) => file,
                None => tokio::fs::File::open(&path).await?,
            };
            let mut buf = vec![0u8; 256 * 1024];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), Some(file))))
        }
    })
}

fn copy_mbps(src: &Path, dir: &Path, durable: bool, bytes: u64) -> anyhow::Result<f64> {
    let mut times = Vec::new();
    for n in 0..3 {
        let dst = dir.join(format!("copy-{n}.pdf"));
        let started = Instant::now();
        std::fs::copy(src, &dst)?;
        if durable {
            std::fs::File::open(&dst)?.sync_all()?;
            std::fs::File::open(dir)?.sync_all()?;
        }
        times.push(started.elapsed().as_secs_f64());
        std::fs::remove_file(&dst)?;
    }
    times.sort_by(f64::total_cmp);
    Ok(bytes as f64 / 1e6 / times[1])
}

async fn transfer(
    ctx: &Ctx,
    server: &Server,
    params: &Params,
    report: &mut Report,
    dir: &Path,
) -> anyhow::Result<Transfer> {
    let name = ctx.name();
    let bytes = params.upload_bytes;
    let src = dir.join("upload.pdf");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&src)?;
        file.write_all(b"%PDF-1.7\n")?;
        let mut chunk = vec![0u8; 1 << 20];
        let mut left = bytes - 9;
        while left > 0 {
            rand::thread_rng().fill_bytes(&mut chunk);
            let n = left.min(chunk.len() as u64) as usize;
            file.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
    }
    // The same bytes copied on the same disk (the documents directory's), page cache warm like
    // the upload's source: plain (`cp`) and durable (`cp` + fsync of file and directory, which
    // is what Portico does before it answers).
    let copy = copy_mbps(&src, dir, false, bytes)?;
    let durable_copy = copy_mbps(&src, dir, true, bytes)?;

    let url = ctx.api.url(
        "bench",
        &format!("/api/v1/firm/files/{}/documents", ctx.files[0]),
    );
    // Three rounds, the median time of each direction (one 50 MB transfer takes ~50–100 ms,
    // short enough for a scheduler hiccup to move a single sample by a third); the highest
    // memory growth of the three.
    let mut ups = Vec::new();
    let mut downs = Vec::new();
    let mut first_reads = Vec::new();
    for _ in 0..TRANSFER_ROUNDS {
        let upload = async {
            let body = reqwest::Body::wrap_stream(file_stream(src.clone()));
            let part = reqwest::multipart::Part::stream_with_length(body, bytes)
                .file_name("bench.pdf")
                .mime_str("application/pdf")?;
            let form = reqwest::multipart::Form::new().part("file", part);
            let response = ctx
                .api
                .http
                .post(&url)
                .bearer_auth(&ctx.member_token)
                .multipart(form)
                .send()
                .await?;
            let status = response.status();
            let text = response.text().await?;
            if status != 201 {
                bail!("upload: {status}: {text}");
            }
            let doc: serde_json::Value = serde_json::from_str(&text)?;
            seed::str_field(&doc, "id")
        };
        let (doc, up) = peak_growth(server, upload).await?;
        let download = || async {
            let response = ctx
                .api
                .http
                .get(
                    ctx.api
                        .url("bench", &format!("/api/v1/firm/documents/{doc}/content")),
                )
                .bearer_auth(&ctx.member_token)
                .send()
                .await?;
            if response.status() != 200 {
                bail!("download: {}", response.status());
            }
            let mut stream = response.bytes_stream();
            let mut got = 0u64;
            while let Some(chunk) = stream.next().await {
                got += chunk?.len() as u64;
            }
            if got != bytes {
                bail!("download: {got} bytes, expected {bytes}");
            }
            Ok(())
        };
        let ((), down) = peak_growth(server, download()).await?;
        // The same document again as a node that did not write it would serve it: the blob's
        // change time moved, so Portico reads it through (verifies) before sending it.
        touch_blobs(&dir.join("documents"))?;
        let ((), first_read) = peak_growth(server, download()).await?;
        ups.push(up);
        downs.push(down);
        first_reads.push(first_read);
    }
    let (up, down, first_read) = (
        Growth::median_of(ups),
        Growth::median_of(downs),
        Growth::median_of(first_reads),
    );
    let _ = std::fs::remove_file(&src);
    let t = Transfer {
        bytes,
        copy_mbps: copy,
        durable_copy_mbps: durable_copy,
        upload_mbps: bytes as f64 / 1e6 / up.elapsed.as_secs_f64(),
        download_mbps: bytes as f64 / 1e6 / down.elapsed.as_secs_f64(),
        verified_download_mbps: bytes as f64 / 1e6 / first_read.elapsed.as_secs_f64(),
        upload_peak_kib: up.peak_kib,
        download_peak_kib: down.peak_kib.max(first_read.peak_kib),
        peak_method: if up.hwm && down.hwm {
            "VmHWM reset through clear_refs, and VmRSS polled every ms".into()
        } else {
            "VmRSS polled every ms".into()
        },
    };
    println!(
        "  {} MB: upload {:.0} MB/s (+{}), download {:.0} MB/s (+{}), first read {:.0} MB/s; copy {:.0} MB/s, durable copy {:.0} MB/s",
        bytes / 1_000_000,
        t.upload_mbps,
        mib(t.upload_peak_kib),
        t.download_mbps,
        mib(t.download_peak_kib),
        t.verified_download_mbps,
        t.copy_mbps,
        t.durable_copy_mbps
    );
    report.heading(&format!("### {} MB upload and download", bytes / 1_000_000));
    report.line(format!(
        "A member uploads (multipart, streamed from disk) and downloads a {} MB PDF — once as written (its version is known whole), once after its change time moved (read through before sending, as on a node that did not write it); median of three rounds; peak memory growth of the server = highest RSS during the transfer − RSS before ({}).",
        bytes / 1_000_000,
        t.peak_method
    ));
    report.line("");
    report.table(
        &["", "MB/s", "÷ copy", "÷ durable copy", "peak memory growth"],
        &[
            vec![
                "file copy (`cp`, same disk)".into(),
                f0(t.copy_mbps),
                "1.00".into(),
                f2(t.copy_mbps / t.durable_copy_mbps),
                "".into(),
            ],
            vec![
                "durable file copy (`cp` + fsync)".into(),
                f0(t.durable_copy_mbps),
                f2(t.durable_copy_mbps / t.copy_mbps),
                "1.00".into(),
                "".into(),
            ],
            vec![
                "upload (encrypt, fsync)".into(),
                f0(t.upload_mbps),
                f2(t.upload_mbps / t.copy_mbps),
                f2(t.upload_mbps / t.durable_copy_mbps),
                mib(t.upload_peak_kib),
            ],
            vec![
                "download (decrypt; version known whole)".into(),
                f0(t.download_mbps),
                f2(t.download_mbps / t.copy_mbps),
                f2(t.download_mbps / t.durable_copy_mbps),
                mib(t.download_peak_kib),
            ],
            vec![
                "download, first read on this node (verify, then decrypt)".into(),
                f0(t.verified_download_mbps),
                f2(t.verified_download_mbps / t.copy_mbps),
                f2(t.verified_download_mbps / t.durable_copy_mbps),
                "".into(),
            ],
        ],
    );
    if params.firms > 0 || params.conns.len() > 1 {
        t.judge_peaks(report, name, 32);
        report.judge(
            name,
            "upload ≥ 50% of a durable file copy",
            pct(t.upload_mbps / t.durable_copy_mbps),
            t.upload_mbps / t.durable_copy_mbps >= 0.5,
        );
        report.judge(
            name,
            "download ≥ 50% of a file copy",
            pct(t.download_mbps / t.copy_mbps),
            t.download_mbps / t.copy_mbps >= 0.5,
        );
    }
    report.record(&format!("{name}_transfer"), &t);
    Ok(t)
}

/// Moves the change time of every blob under `root` (the firm folders), as any write would.
fn touch_blobs(root: &Path) -> std::io::Result<()> {
    for firm in std::fs::read_dir(root)? {
        let firm = firm?.path();
        if !firm.is_dir() {
            continue;
        }
        for blob in std::fs::read_dir(&firm)? {
            let blob = blob?.path();
            let file = std::fs::File::options().write(true).open(&blob)?;
            file.set_modified(std::fs::metadata(&blob)?.modified()?)?;
        }
    }
    Ok(())
}

/// `list my files` of the client of each small firm (one file each), round-robin.
fn spread_files(ctx: &Ctx) -> Vec<Target> {
    ctx.spread
        .iter()
        .map(|(slug, token)| Target::get(&ctx.api.host(slug), "/api/v1/portal/files").bearer(token))
        .collect()
}

/// Figures on the one benchmark firm, for the many-firms comparison.
#[derive(Serialize)]
struct OneFirm {
    login_page: Stats,
    files: Stats,
    not_found_firm: Stats,
}

/// A path no route answers: the 404 page, on any host.
const NOT_FOUND: &str = "/bench-no-such-page";

/// The host slug of the `i`-th firm onboarded for the many-firms figures.
fn firm_slug(i: usize) -> String {
    format!("f{i:05}")
}

async fn one_firm(ctx: &Ctx, params: &Params, report: &mut Report) -> anyhow::Result<OneFirm> {
    let name = ctx.name();
    let top = params.top();
    let operator_host = format!("localhost:{}", ctx.api.port);
    let op404 = Target::get(&operator_host, NOT_FOUND).expect(404);
    let firm404 = Target::get(&ctx.host, NOT_FOUND).expect(404);
    let op1 = load::run(ctx.addr, vec![op404.clone()], params.plan(1)).await?;
    let firm1 = load::run(ctx.addr, vec![firm404.clone()], params.plan(1)).await?;
    let op_top = load::run(ctx.addr, vec![op404], params.plan(top)).await?;
    let firm_top = load::run(ctx.addr, vec![firm404], params.plan(top)).await?;
    let login_page = load::run(
        ctx.addr,
        vec![Target::get(&ctx.host, "/")],
        params.plan(top),
    )
    .await?;
    // The same signed-in clients the many-firms figure uses (each firm's own client, one file
    // each), before the firms are onboarded: the comparison changes nothing but the number of
    // firms.
    let files = load::run(ctx.addr, spread_files(ctx), params.plan(top)).await?;
    let cost_us = (firm1.p50_ms - op1.p50_ms) * 1000.0;
    report.heading("### Host resolution (one firm)");
    report.line(format!(
        "The same 404 page on the operator host (no firm to resolve) and on a firm's host (host → firm from the cache). Cost of a cached resolution ≈ p50 difference at 1 connection: **{} µs**.",
        f0(cost_us)
    ));
    report.line("");
    report.table(
        &[
            "",
            "1 conn: req/s (p50 / p99 ms)",
            &format!("{top} conn: req/s (p50 / p99 ms)"),
        ],
        &[
            vec!["operator host".into(), cell(&op1), cell(&op_top)],
            vec!["firm host".into(), cell(&firm1), cell(&firm_top)],
        ],
    );
    report.record(
        &format!("{name}_host_resolution"),
        json!({"operator_1": op1, "firm_1": firm1, "operator_top": op_top, "firm_top": firm_top, "cached_cost_us": cost_us}),
    );
    Ok(OneFirm {
        login_page,
        files,
        not_found_firm: firm_top,
    })
}

async fn many_firms(
    ctx: &Ctx,
    params: &Params,
    report: &mut Report,
    one: &OneFirm,
) -> anyhow::Result<()> {
    let name = ctx.name();
    let n = params.firms;
    let mails_before = ctx.api.mail_count();
    let started = Instant::now();
    let slugs: Vec<String> = (0..n).map(firm_slug).collect();
    futures::stream::iter(slugs.clone())
        .map(|slug| {
            let api = ctx.api.clone();
            async move { api.onboard(&slug, &format!("Firm {slug}")).await }
        })
        .buffer_unordered(params.onboard_concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    let onboard = started.elapsed();
    println!("  onboarded {n} firms in {:.1} s", onboard.as_secs_f64());
    // The setup emails go out in the background; wait for them so they do not run under the
    // measurements.
    let drain_started = Instant::now();
    while ctx.api.mail_count() < mails_before + n
        && drain_started.elapsed() < Duration::from_secs(300)
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain = drain_started.elapsed();
    let top = params.top();
    let hosts: Vec<String> = slugs.iter().map(|s| ctx.api.host(s)).collect();
    let login_pages: Vec<Target> = hosts.iter().map(|h| Target::get(h, "/")).collect();
    let not_found: Vec<Target> = hosts
        .iter()
        .map(|h| Target::get(h, NOT_FOUND).expect(404))
        .collect();
    let files = spread_files(ctx);
    // First touch of each firm: nothing cached yet. At 1 connection, the same 404 on firm hosts
    // never seen, then again on the same (now cached) hosts: the cost of an uncached host
    // resolution. Then the sign-in page once on every firm's host (a cold pass: host and
    // options are read from the database for each firm).
    let probe = n.min(1000);
    let cold_404 = load::sweep(ctx.addr, not_found[..probe].to_vec(), 1).await?;
    let warm_404 = load::sweep(ctx.addr, not_found[..probe].to_vec(), 1).await?;
    let uncached_us = (cold_404.as_secs_f64() - warm_404.as_secs_f64()) * 1e6 / probe as f64;
    let cold_pass = load::sweep(ctx.addr, login_pages.clone(), top).await?;
    let cold_rps = n as f64 / cold_pass.as_secs_f64();
    let many_login = load::run(ctx.addr, login_pages, params.plan(top)).await?;
    let many_404 = load::run(ctx.addr, not_found, params.plan(top)).await?;
    let many_files = load::run(ctx.addr, files.clone(), params.plan(top)).await?;
    let r_login = many_login.rps / one.login_page.rps;
    let r_404 = many_404.rps / one.not_found_firm.rps;
    let r_files = many_files.rps / one.files.rps;
    report.heading(&format!("### {n} firms"));
    report.line(format!(
        "{n} firms onboarded through `POST /api/v1/platform/tenants` ({} concurrent calls): **{:.1} s** ({:.0} firms/s); their {n} setup emails were written {:.1} s later. Then, at {top} connections, every request on another firm's host:",
        params.onboard_concurrency,
        onboard.as_secs_f64(),
        n as f64 / onboard.as_secs_f64(),
        drain.as_secs_f64()
    ));
    report.line("");
    report.table(
        &[
            "route",
            "before onboarding",
            &format!("after onboarding {n} firms"),
            "ratio",
        ],
        &[
            vec![
                format!("client sign-in page — before: one firm's host; after: first visit of each of the {n} hosts (cold caches)"),
                f0(one.login_page.rps),
                f0(cold_rps),
                pct(cold_rps / one.login_page.rps),
            ],
            vec![
                format!("client sign-in page `GET /` — before: one firm's host; after: each of the {n} hosts"),
                cell(&one.login_page),
                cell(&many_login),
                pct(r_login),
            ],
            vec![
                format!("404 page (host resolution) — before: one firm's host; after: each of the {n} hosts"),
                cell(&one.not_found_firm),
                cell(&many_404),
                pct(r_404),
            ],
            vec![
                format!(
                    "list my files (round-robin over the clients of {} small firms; {} firms vs {})",
                    files.len(),
                    files.len() + 1,
                    n + files.len() + 1
                ),
                cell(&one.files),
                cell(&many_files),
                pct(r_files),
            ],
        ],
    );
    report.line(format!(
        "\nHost resolution not yet cached (first request for a firm, at 1 connection, over {probe} firms): **{uncached_us:.0} µs** more than a cached one. Steady-state rows: {top} connections for {}+{} s round-robin over the hosts, after the cold pass (the host cache keeps a firm 30 s, the options cache 60 s).",
        params.warmup,
        params.secs,
    ));
    report.judge(
        name,
        &format!("onboarding {n} firms < 60 s"),
        format!("{:.1} s", onboard.as_secs_f64()),
        onboard < Duration::from_secs(60),
    );
    report.judge(
        name,
        &format!("throughput at {n} firms ≥ 90% of one firm (sign-in page)"),
        pct(r_login),
        r_login >= 0.9,
    );
    report.judge(
        name,
        &format!("throughput at {n} firms ≥ 90% of one firm (list my files)"),
        pct(r_files),
        r_files >= 0.9,
    );
    report.record(
        &format!("{name}_many_firms"),
        json!({"firms": n, "onboard_secs": onboard.as_secs_f64(), "mail_drain_secs": drain.as_secs_f64(),
               "login_page": many_login, "not_found": many_404, "files": many_files,
               "cold_pass_rps": cold_rps, "uncached_resolution_us": uncached_us,
               "ratios": {"login_page": r_login, "not_found": r_404, "files": r_files}}),
    );
    Ok(())
}

/// Spawns `portico serve` `n` times on the existing database, stopping each as soon as it is
/// ready; returns each start-up to ready.
async fn restarts(env: &mut Env, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let server = env.start().await?;
        times.push(server.ready_after);
        server.stop().await?;
    }
    Ok(times)
}

async fn settle(server: &Server) -> u64 {
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.status_kib("VmRSS").unwrap_or(0)
}

async fn startup_and_memory(
    env: &mut Env,
    ctx: &Ctx,
    params: &Params,
    report: &mut Report,
    firms: bool,
) -> anyhow::Result<()> {
    let name = ctx.name();
    let mut times = restarts(env, params.restarts).await?;
    times.sort();
    let median = times[times.len() / 2];
    let worst = times[times.len() - 1];
    let firms_in_db = if firms { params.firms } else { 0 } + params.spread_firms + 1;
    report.heading("### Start-up and idle memory");
    report.line(format!(
        "Start-up to ready = spawn of `portico serve` to the first `/readyz` 200 (polled every 2 ms), on the existing database ({firms_in_db} firms), {} restarts: median **{:.0} ms**, worst {:.0} ms.",
        params.restarts,
        median.as_secs_f64() * 1000.0,
        worst.as_secs_f64() * 1000.0
    ));
    report.judge(
        name,
        "start-up to ready < 1 s",
        format!("{:.0} ms (worst)", worst.as_secs_f64() * 1000.0),
        worst < Duration::from_secs(1),
    );
    if firms {
        // A fresh process: the same number of requests on one firm's host, then one on each
        // firm's host; what stays afterwards is what each firm costs when idle.
        let server = env.start().await?;
        let fresh = settle(&server).await;
        let n = params.firms;
        let one: Vec<Target> = (0..n).map(|_| Target::get(&ctx.host, "/")).collect();
        load::sweep(ctx.addr, one, 16).await?;
        let after_one = settle(&server).await;
        let every: Vec<Target> = (0..n)
            .map(|i| Target::get(&ctx.api.host(&firm_slug(i)), "/"))
            .collect();
        load::sweep(ctx.addr, every, 16).await?;
        let after_all = settle(&server).await;
        let per_firm_bytes = (after_all.saturating_sub(after_one) as f64) * 1024.0 / n as f64;
        report.line(format!(
            "\nIdle memory (RSS 2 s after the last request): fresh process {}; after {n} sign-in pages on one firm's host {}; after one on each of {n} firms' hosts {} — **{:.0} bytes per firm**.",
            mib(fresh as f64),
            mib(after_one as f64),
            mib(after_all as f64),
            per_firm_bytes
        ));
        report.judge(
            name,
            "idle memory ≤ 2 KiB per firm",
            format!("{per_firm_bytes:.0} B"),
            per_firm_bytes <= 2048.0,
        );
        report.record(
            &format!("{name}_memory"),
            json!({"fresh_kib": fresh, "after_one_firm_kib": after_one, "after_all_firms_kib": after_all, "per_firm_bytes": per_firm_bytes}),
        );
        server.stop().await?;
    }
    report.record(
        &format!("{name}_startup_ms"),
        times
            .iter()
            .map(|t| t.as_secs_f64() * 1000.0)
            .collect::<Vec<_>>(),
    );
    Ok(())
}
