//! `bf-tracker`: the BitFountain tracker program (HTTP and UDP on one port number).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bf_cli::Exit;
use bf_tracker::swarm::StoreConfig;
use bf_tracker::{ServerConfig, ServerError, Tracker};
use clap::Parser;

/// A BitTorrent tracker: HTTP announce/scrape, UDP (BEP 15), an index page, state that
/// survives restarts.
#[derive(Parser, Debug)]
#[command(name = "bf-tracker", version, after_help = bf_cli::EXIT_CODES_HELP)]
struct Args {
    /// Port for HTTP (TCP) and UDP.
    #[arg(long, default_value_t = 6969)]
    port: u16,
    /// Address to listen on (`::` listens on IPv6 and IPv4).
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// State file: swarms are saved here periodically and on exit, and loaded at start.
    #[arg(long)]
    dfile: Option<PathBuf>,
    /// Seconds between state-file saves.
    #[arg(long, default_value_t = 300)]
    save_interval: u64,
    /// Only track torrents whose .torrent file is in this folder (rescanned while running).
    #[arg(long)]
    allowed_dir: Option<PathBuf>,
    /// Seconds between rescans of the allowed folder.
    #[arg(long, default_value_t = 30)]
    rescan_interval: u64,
    /// Seconds of silence after which a peer is dropped.
    #[arg(long, default_value_t = 2700)]
    peer_timeout: u32,
    /// Announce interval sent to clients (seconds).
    #[arg(long, default_value_t = 1800)]
    interval: u32,
    /// Minimum announce interval sent to clients (seconds).
    #[arg(long, default_value_t = 60)]
    min_interval: u32,
    /// Peers returned when a client does not say how many it wants.
    #[arg(long, default_value_t = 50)]
    default_numwant: u32,
    /// Most peers ever returned.
    #[arg(long, default_value_t = 200)]
    max_numwant: u32,
    /// Refuse scrapes that name no torrent (they list every torrent).
    #[arg(long)]
    no_full_scrape: bool,
    /// Do not write the web log on stdout.
    #[arg(long)]
    no_log: bool,
    /// Serve HTTP only.
    #[arg(long)]
    no_udp: bool,
    /// UDP receive loops.
    #[arg(long, default_value_t = 2)]
    udp_workers: usize,
    /// Tokio worker threads [default: one per core].
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Nothing else sets a subscriber, so this cannot fail; if it did, running unlogged
    // would still be better than not running.
    let _ = bf_cli::init_logging(0);
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => bf_cli::report("bf-tracker", &e),
    }
}

/// The exit status for a server error: what the operator has to fix.
fn classify(e: ServerError) -> anyhow::Error {
    let exit = match &e {
        ServerError::Bind { .. } => Exit::Network,
        ServerError::Dfile { .. } => Exit::Storage,
        ServerError::AllowedDir { .. } => Exit::Input,
        _ => Exit::Failure,
    };
    bf_cli::mark(e, exit)
}

fn run(args: Args) -> anyhow::Result<()> {
    let cfg = ServerConfig {
        bind: args.bind,
        port: args.port,
        dfile: args.dfile,
        save_interval: Duration::from_secs(args.save_interval.max(1)),
        allowed_dir: args.allowed_dir,
        rescan_interval: Duration::from_secs(args.rescan_interval.max(1)),
        store: StoreConfig {
            peer_timeout: args.peer_timeout,
            default_numwant: args.default_numwant,
            max_numwant: args.max_numwant,
        },
        interval: args.interval,
        min_interval: args.min_interval,
        full_scrape: !args.no_full_scrape,
        log_requests: !args.no_log,
        udp: !args.no_udp,
        udp_workers: args.udp_workers,
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.build().context("starting the runtime")?;
    rt.block_on(async move {
        let tracker = Tracker::bind(cfg).await.map_err(classify)?;
        tracing::info!(
            "bf-tracker {} serving http://{}/announce and udp://{}",
            env!("CARGO_PKG_VERSION"),
            tracker.http_addr()?,
            tracker
                .udp_addr()
                .map_or_else(|| "-".to_string(), |a| a.to_string()),
        );
        tracker.run(shutdown_signal()).await.map_err(classify)?;
        tracing::info!("state saved, bye");
        anyhow::Ok(())
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    tracing::info!("signal received, saving state and exiting");
}
