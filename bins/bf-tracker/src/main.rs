//! `bf-tracker`: the BitFountain tracker program (HTTP and UDP on one port number).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bf_cli::Exit;
use bf_tracker::swarm::StoreConfig;
use bf_tracker::{IndexPage, Limits, ScrapeMode, ServerConfig, ServerError, Tracker};
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
    /// Which scrapes are answered: full (also one naming no torrent, which lists them
    /// all), specific (only named torrents) or none.
    #[arg(long, value_enum, default_value_t = ScrapeArg::Full)]
    scrape: ScrapeArg,
    /// Same as --scrape specific (the older name).
    #[arg(long, hide = true, conflicts_with = "scrape")]
    no_full_scrape: bool,
    /// Do not write the web log.
    #[arg(long, conflicts_with = "logfile")]
    no_log: bool,
    /// File the web log is appended to ('-' for stdout); reopened on SIGHUP, so that
    /// logrotate can move it away [default: stdout].
    #[arg(long, value_name = "FILE")]
    logfile: Option<PathBuf>,
    /// Before handing a new peer out, connect back to it (a BitTorrent handshake) up to N
    /// times; peers that cannot be reached are not given to others. With it on, the ip=
    /// parameter is honoured from any client (it is checked); 0 is off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    nat_check: u32,
    /// Log the result of every NAT check.
    #[arg(long)]
    log_nat_checks: bool,
    /// With --allowed-dir: serve the .torrent files at /file?info_hash=… and link them
    /// from the index page.
    #[arg(long, requires = "allowed_dir")]
    allow_get: bool,
    /// Torrents whose peers all left stay on the index page and in full scrapes.
    #[arg(long)]
    keep_dead: bool,
    /// Icon served at /favicon.ico.
    #[arg(long, value_name = "FILE")]
    favicon: Option<PathBuf>,
    /// Serve no index page at / (404).
    #[arg(long, conflicts_with = "index_redirect")]
    no_index_page: bool,
    /// Redirect / to this URL instead of showing the index page.
    #[arg(long, value_name = "URL")]
    index_redirect: Option<String>,
    /// Whether the index page shows the names of allowed torrents.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    show_names: bool,
    /// Only these addresses may announce: a file of IP addresses and networks (CIDR), one
    /// per line, '#' starting a comment; re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    allowed_ips: Option<PathBuf>,
    /// HTTP connections open at once; new ones past it are closed at once.
    #[arg(long, value_name = "N", default_value_t = 4096)]
    max_connections: usize,
    /// Requests per second taken from one address (HTTP and UDP); more are refused; 0 is
    /// no limit.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_requests_per_ip: u32,
    /// Most torrents in a full scrape (the busiest are kept).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_full_scrape: usize,
    /// Most peers stored per torrent; new ones past it are not stored (they still get
    /// peers).
    #[arg(long, value_name = "N", default_value_t = 50_000)]
    max_peers_per_torrent: u32,
    /// Most torrents tracked (without --allowed-dir, anyone can add one by announcing).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_torrents: usize,
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

/// `--scrape`'s values.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ScrapeArg {
    Full,
    Specific,
    None,
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
        ServerError::Dfile { .. } | ServerError::DfileFolder { .. } => Exit::Storage,
        ServerError::AllowedDir { .. }
        | ServerError::AllowedIps { .. }
        | ServerError::BadRedirect(_)
        | ServerError::Favicon(_) => Exit::Input,
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
            max_peers_per_torrent: args.max_peers_per_torrent,
            max_torrents: args.max_torrents,
        },
        interval: args.interval,
        min_interval: args.min_interval,
        scrape: match (args.no_full_scrape, args.scrape) {
            (true, _) | (false, ScrapeArg::Specific) => ScrapeMode::Specific,
            (false, ScrapeArg::Full) => ScrapeMode::Full,
            (false, ScrapeArg::None) => ScrapeMode::None,
        },
        log_requests: !args.no_log,
        logfile: args.logfile.filter(|p| p.as_os_str() != "-"),
        udp: !args.no_udp,
        udp_workers: args.udp_workers,
        nat_check: args.nat_check,
        log_nat_checks: args.log_nat_checks,
        allow_get: args.allow_get,
        keep_dead: args.keep_dead,
        favicon: args.favicon,
        index: match (args.no_index_page, args.index_redirect) {
            (true, _) => IndexPage::Hidden,
            (false, Some(url)) => IndexPage::Redirect(url),
            (false, None) => IndexPage::Show,
        },
        show_names: args.show_names,
        allowed_ips: args.allowed_ips,
        limits: Limits {
            max_http_connections: args.max_connections.max(1),
            requests_per_ip: args.max_requests_per_ip,
            max_full_scrape: args.max_full_scrape,
        },
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
        tracing::info!("bye");
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
