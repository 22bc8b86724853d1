//! `bf-console`: the BitFountain client. Downloads a torrent and seeds it (the original
//! BitTorrent's bittorrent-console), seeds a whole folder of torrents (its launchmany), and
//! shows what a .torrent holds (`info`, its torrentinfo).

mod download;
mod info;
mod launch;
mod progress;
mod units;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Exit codes, listed in `--help`.
pub mod exit {
    /// Success (also after ctrl-c or SIGTERM).
    pub const OK: u8 = 0;
    /// A runtime error: the torrent could not be downloaded or seeded.
    pub const FAILURE: u8 = 1;
    /// A usage error: bad flags or values.
    pub const USAGE: u8 = 2;
    /// The torrent file or URL could not be read.
    pub const BAD_TORRENT: u8 = 3;
    /// The data could not be read or written (disk full, permissions).
    pub const STORAGE: u8 = 5;
}

const EXIT_CODES: &str = "\
Exit codes:
  0  done (also after ctrl-c or SIGTERM, which announce `stopped` and save resume data)
  1  the download or seeding failed
  2  bad command line
  3  the torrent file or URL could not be read
  5  the data could not be read or written (disk full, permissions, paths)";

/// The BitFountain console client: downloads a torrent, then seeds it until stopped.
#[derive(Parser, Debug)]
#[command(name = "bf-console", version, after_help = EXIT_CODES, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what a .torrent file holds: name, info-hash, files, pieces, trackers.
    Info(info::InfoArgs),
}

/// Downloading and seeding.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The .torrent file to download and seed.
    #[arg(value_name = "TORRENT", conflicts_with_all = ["url", "torrent_dir"])]
    torrent: Option<PathBuf>,
    /// Fetch the .torrent file from this http(s) URL.
    #[arg(long, value_name = "URL", conflicts_with = "torrent_dir")]
    url: Option<String>,
    /// Download and seed every .torrent in this folder, picking up new ones and dropping
    /// removed ones while running.
    #[arg(long, value_name = "DIR")]
    torrent_dir: Option<PathBuf>,
    /// Where the data goes: the file of a single-file torrent, the top folder of a
    /// multi-file one. If it already holds the data, it is checked and seeded.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["save_in", "torrent_dir"])]
    saveas: Option<PathBuf>,
    /// The folder the data goes into, under the torrent's name [default: the current
    /// folder; with --torrent-dir, that folder].
    #[arg(long, value_name = "DIR")]
    save_in: Option<PathBuf>,
    /// First port to listen on; the next eight are tried when it is taken.
    #[arg(long, default_value_t = 6881)]
    port: u16,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    bind: IpAddr,
    /// The address trackers should give out for us (e.g. when on the tracker's LAN).
    #[arg(long, value_name = "ADDR")]
    ip: Option<IpAddr>,
    /// A peer to connect to directly (repeatable).
    #[arg(long = "peer", value_name = "HOST:PORT", value_parser = parse_peer)]
    peers: Vec<SocketAddr>,
    /// Upload limit: KiB/s, or with a unit (500K, 2M); 0 is none.
    #[arg(long, value_name = "RATE", value_parser = units::parse_rate, default_value = "0")]
    max_upload_rate: u64,
    /// Download limit: KiB/s, or with a unit (500K, 2M); 0 is none.
    #[arg(long, value_name = "RATE", value_parser = units::parse_rate, default_value = "0")]
    max_download_rate: u64,
    /// Most peers per torrent.
    #[arg(long, value_name = "N", default_value_t = 80)]
    max_peers: usize,
    /// Peers uploaded to at once (plus one optimistic unchoke).
    #[arg(long, value_name = "N", default_value_t = 8)]
    max_uploads: usize,
    /// Exit once the download is complete instead of seeding.
    #[arg(long)]
    exit_on_complete: bool,
    /// After completing, seed until uploaded / size reaches this ratio, then exit.
    #[arg(long, value_name = "R")]
    seed_ratio: Option<f64>,
    /// After completing, seed for this many seconds, then exit.
    #[arg(long, value_name = "SECS")]
    seed_time: Option<u64>,
    /// Folder for resume data [default: $XDG_STATE_HOME/bitfountain, else
    /// ~/.local/state/bitfountain].
    #[arg(long, value_name = "DIR")]
    resume_dir: Option<PathBuf>,
    /// Keep no resume data (every start checks the data on disk).
    #[arg(long, conflicts_with = "resume_dir")]
    no_resume: bool,
    /// Write one JSON object per line (status every second, and events) for programs.
    #[arg(long)]
    json: bool,
    /// Log more (repeat for even more); RUST_LOG works too.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn parse_peer(s: &str) -> Result<SocketAddr, String> {
    let mut addrs = s
        .to_socket_addrs()
        .map_err(|e| format!("{s:?}: not HOST:PORT ({e})"))?;
    let a = addrs.next().ok_or_else(|| format!("{s:?}: no address"))?;
    if a.port() == 0 {
        return Err(format!("{s:?}: port 0"));
    }
    Ok(a)
}

impl RunArgs {
    fn resume_dir(&self) -> Option<PathBuf> {
        if self.no_resume {
            return None;
        }
        if let Some(d) = &self.resume_dir {
            return Some(d.clone());
        }
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
        Some(state.join("bitfountain"))
    }

    fn session_config(&self) -> bf_client::SessionConfig {
        let mut cfg = bf_client::SessionConfig {
            port: self.port,
            bind: self.bind,
            announce_ip: self.ip,
            max_upload_rate: (self.max_upload_rate > 0).then_some(self.max_upload_rate),
            max_download_rate: (self.max_download_rate > 0).then_some(self.max_download_rate),
            resume_dir: self.resume_dir(),
            ..bf_client::SessionConfig::default()
        };
        cfg.core.max_peers = self.max_peers;
        cfg.core.upload_slots = self.max_uploads;
        cfg.connect_timeout = Duration::from_secs(10);
        cfg
    }
}

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    /// `error`, exiting with `code`.
    pub fn new(code: u8, error: impl Into<anyhow::Error>) -> Self {
        Failure {
            code,
            error: error.into(),
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::new(exit::FAILURE, e)
    }
}

/// The error and its causes on one line, each cause once.
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if out.contains(&c) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&c);
    }
    out.replace(['\n', '\r'], " ")
}

fn init_logging(verbose: u8, single_torrent: bool) {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let default = match verbose {
        0 => "warn",
        1 => "info,bf_client=info",
        2 => "debug",
        _ => "trace",
    };
    let from_env = tracing_subscriber::EnvFilter::try_from_default_env();
    // With one torrent, the error that stops it is bf-console's own last line (and its exit
    // code): the engine's log of the same error would say it twice. More logging asked
    // for (-v, RUST_LOG) shows it anyway.
    let quiet_stop_errors = single_torrent && verbose == 0 && from_env.is_err();
    let filter = from_env.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let not_a_stop_error = tracing_subscriber::filter::filter_fn(move |m| {
        !(quiet_stop_errors
            && *m.level() == tracing::Level::ERROR
            && m.target() == "bf_client::torrent")
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter)
        .with_filter(not_a_stop_error);
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Info(args)) => {
            info::run(&args).map_err(|e| Failure::new(exit::BAD_TORRENT, e))
        }
        None => {
            init_logging(cli.run.verbose, cli.run.torrent_dir.is_none());
            run(cli.run)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("bf-console: error: {}", one_line(&f.error));
            ExitCode::from(f.code)
        }
    }
}

fn run(args: RunArgs) -> Result<(), Failure> {
    if args.torrent.is_none() && args.url.is_none() && args.torrent_dir.is_none() {
        return Err(Failure::new(
            exit::USAGE,
            anyhow::anyhow!(
                "nothing to do: give a .torrent file, --url or --torrent-dir (see --help)"
            ),
        ));
    }
    if let Some(r) = args.seed_ratio {
        if !(r.is_finite() && r >= 0.0) {
            return Err(Failure::new(
                exit::USAGE,
                anyhow::anyhow!("--seed-ratio {r}: not a ratio"),
            ));
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        if args.torrent_dir.is_some() {
            launch::run(args).await
        } else {
            download::run(args).await
        }
    })
}
