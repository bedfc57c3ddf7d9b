//! The `portico` binary.

use clap::Parser;

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
