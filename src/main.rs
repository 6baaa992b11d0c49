//! The `tessera` binary: logging, command-line parsing, dispatch. Nothing else.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc returns freed memory to the system, where glibc's malloc keeps the
/// 19 MiB argon2 buffers of a login storm resident for good.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use tessera::cli::{self, Cli};
use tessera::config::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = std::env::var("TESSERA_LOG").or_else(|_| std::env::var("RUST_LOG")).unwrap_or_else(|_| "info".into());
    env_logger::Builder::new().parse_filters(&filter).init();
    let result = Settings::from_env().map_err(|e| e.to_string()).and_then(|settings| cli::run(cli, settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
