//! `portico-bench`: Portico measured against this machine's own limits.
//!
//! - `portico-bench run` (what `bench/run` calls): seeds a firm, starts the real `portico serve`
//!   on SQLite and on PostgreSQL, and measures every figure of BENCHMARKS.md, each next to a
//!   baseline measured in the same run: a bare poem endpoint returning a fixed string (the
//!   framework's ceiling) and a bare poem endpoint doing one indexed single-row query on the same
//!   database (the database's ceiling). Prints a Markdown report and writes it, with the raw JSON,
//!   to `--out`.
//! - `portico-bench check` (what `bench/check` calls): a small version for CI that fails only on
//!   gross regressions, judged by ratios, never by absolute times.
//! - `portico-bench bare`: the bare baseline server (started by `run` as its own process).
//! - `portico-bench log-lines`: one request's logging timed on one thread (BENCHMARKS.md, item 25).

mod bare;
mod load;
mod log_lines;
mod report;
mod scenarios;
mod seed;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "portico-bench",
    about = "Portico benchmarks (see BENCHMARKS.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The full benchmark (bench/run).
    Run(RunArgs),
    /// The CI mode (bench/check): small, and fails only on gross regressions.
    Check(RunArgs),
    /// Seeds one backend, starts Portico and the bare server, prints how to reach them (for
    /// profiling with wrk and perf), and serves until interrupted.
    Serve(RunArgs),
    /// Before/after: seeds once, then measures the read routes on `--bin` (A) and `--bin-b` (B)
    /// alternately, three rounds on the same database, so machine noise falls on both alike.
    Ab(AbArgs),
    /// One request's logging (its span and access-log line) timed on one thread, with
    /// tracing-subscriber's JSON formatter and with Portico's `JsonLines`.
    LogLines(LogLinesArgs),
    /// The bare baseline server: `/text` (a fixed string) and `/query` (one indexed single-row
    /// query on `--db`). Logs `listening on <addr>`.
    Bare(BareArgs),
}

#[derive(Args, Clone)]
pub struct RunArgs {
    /// The `portico` binary to measure.
    #[arg(long, default_value = "target/release/portico")]
    pub bin: PathBuf,
    /// Backends to measure, comma-separated: sqlite, postgres (default: both for `run`, sqlite
    /// for `check`).
    #[arg(long, value_delimiter = ',')]
    pub backends: Vec<String>,
    /// The build profile of `--bin`, for `check`'s floors (debug code is slower in different
    /// places than release code, so its ratios differ).
    #[arg(long, default_value = "release")]
    pub profile: String,
    /// PostgreSQL server (trust authentication for `postgres`).
    #[arg(long, env = "PORTICO_BENCH_PG", default_value = "127.0.0.1:5432")]
    pub pg: String,
    /// Seconds measured per load point (after the warm-up).
    #[arg(long)]
    pub secs: Option<f64>,
    /// Warm-up seconds before each load point.
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Firms onboarded for the many-firms figures (0 skips them).
    #[arg(long)]
    pub firms: Option<usize>,
    /// Size of the upload/download document in MB (10^6 bytes).
    #[arg(long)]
    pub upload_mb: Option<u64>,
    /// Where the report (`report.md`) and raw figures (`report.json`) are written.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// `run`: measure only these parts, comma-separated: reads, storm, transfer, firms, startup.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Extra Portico settings for every `portico serve`, as `key=value` with dotted keys (e.g.
    /// `--set database.max_connections=4`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Keep the temporary data directories (databases, documents, logs).
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Clone)]
pub struct AbArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// The binary compared with `--bin` (e.g. the build with a fix).
    #[arg(long)]
    pub bin_b: PathBuf,
    /// Rounds of A then B.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
}

#[derive(Args)]
struct LogLinesArgs {
    /// Timed rounds of each way (the median is reported).
    #[arg(long, default_value_t = 7)]
    rounds: usize,
}

#[derive(Args)]
struct BareArgs {
    /// Database URL (the same file or database Portico uses).
    #[arg(long)]
    db: String,
    /// Pool size (Portico's `database.max_connections`).
    #[arg(long, default_value_t = 10)]
    pool: u32,
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // The bare server gets the same runtime as `portico` (`#[tokio::main]`: one worker per
        // core).
        Command::Bare(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(bare::serve(args.db, args.pool, args.bind))),
        // The driver (seeding and load generation) runs on one thread, so it takes at most one
        // of the machine's cores away from the servers it measures, the same in every run.
        Command::Run(args) => driver(|| scenarios::run(args, scenarios::Mode::Full)),
        Command::Check(args) => driver(|| scenarios::run(args, scenarios::Mode::Check)),
        Command::Serve(args) => driver(|| scenarios::serve(args)),
        Command::Ab(args) => driver(|| scenarios::ab(args)),
        Command::LogLines(args) => log_lines::run(args.rounds),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portico-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn driver<F, Fut>(f: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f())
}
