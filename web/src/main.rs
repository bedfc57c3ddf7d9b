//! The `portico` binary.

use clap::Parser;

/// jemalloc instead of the system allocator: a request allocates and frees many small objects
/// on whichever worker thread runs it, and glibc's allocator spent a fifth of the CPU of the
/// JSON reads doing so (`perf`, bench/; figures in BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = portico_web::cli::Cli::parse();
    let mut stdout = std::io::stdout();
    match portico_web::cli::run(cli, &mut stdout).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line, naming what is wrong (configuration errors already name their key).
            eprintln!("portico: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
