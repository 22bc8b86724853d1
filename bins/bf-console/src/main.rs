//! `bf-console`: the BitFountain client. For now it has the `info` subcommand (the original
//! BitTorrent's torrentinfo); downloading and seeding come with the client engine.

mod info;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The BitFountain console client.
#[derive(Parser, Debug)]
#[command(name = "bf-console", version)]
struct Cli {
    // Download/seed flags (`--url`, `--saveas`, …) join here as top-level options once the
    // client engine exists; subcommands stay for the other jobs.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what a .torrent file holds: name, info-hash, files, pieces, trackers.
    Info(info::InfoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Info(args)) => info::run(&args),
        None => {
            eprintln!(
                "bf-console: downloading is not implemented yet; `bf-console info FILE.torrent` shows a torrent (see --help)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "bf-console: error: {}",
                format!("{e:#}").replace(['\n', '\r'], " ")
            );
            ExitCode::FAILURE
        }
    }
}
