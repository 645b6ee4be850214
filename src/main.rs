use clap::Parser;
use std::process::ExitCode;

// Webhook bodies are tens of kilobytes each; mimalloc handles that churn far better than
// the system allocator (see the ingest benchmark in the README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = herald::cli::Cli::parse();
    match herald::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
