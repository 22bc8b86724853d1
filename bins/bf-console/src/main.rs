//! `bf-console`: the BitFountain client. Downloads a torrent and seeds it (the original
//! BitTorrent's bittorrent-console), seeds a whole folder of torrents (its launchmany), and
//! shows what a .torrent holds (`info`, its torrentinfo).

mod demo;
mod dht_node;
mod download;
mod info;
mod launch;
mod progress;
mod units;
mod verify;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bf_cli::{Exit, ResultExt};
use clap::{Args, Parser, Subcommand};

/// The BitFountain console client: downloads a torrent, then seeds it until stopped.
#[derive(Parser, Debug)]
#[command(name = "bf-console", version, after_help = bf_cli::EXIT_CODES_HELP, args_conflicts_with_subcommands = true)]
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
    /// Check the data on disk against a .torrent's piece hashes, on every core, and say per
    /// file which pieces fail; exit status 0 only when everything matches.
    #[command(after_help = bf_cli::EXIT_CODES_HELP)]
    Verify(verify::VerifyArgs),
    /// Run a local fountain swarm on loopback (tracker, seeders, a staller, downloaders) and
    /// show what the exchange did. Needs nothing but this program.
    Demo(demo::DemoArgs),
    /// Run a DHT node that only routes: it gives contacts and keeps the peers announced to
    /// it, downloading nothing (the original's routing client).
    DhtNode(dht_node::DhtNodeArgs),
}

/// Downloading and seeding.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The .torrent file to download and seed, or a magnet link ('magnet:?xt=urn:btih:…':
    /// the metadata is fetched from peers, and saved as a .torrent beside the data).
    #[arg(value_name = "TORRENT", conflicts_with_all = ["url", "torrent_dir"])]
    torrent: Option<PathBuf>,
    /// Fetch the .torrent file from this http(s) URL.
    #[arg(long, value_name = "URL", conflicts_with = "torrent_dir", value_parser = parse_url)]
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
    /// Do not offer or use the fountain exchange (bf_raptorq): blocks only, as between
    /// ordinary clients. For comparisons.
    #[arg(long)]
    no_fountain: bool,
    #[command(flatten)]
    dht: DhtArgs,
    /// Do not look for peers on the local network by multicast (BEP 14 local service
    /// discovery, on the --bind address's interface; never for private torrents).
    #[arg(long, env = "BF_NO_LSD", value_parser = clap::builder::BoolishValueParser::new())]
    no_lsd: bool,
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

/// The DHT flags, shared by downloading and `dht-node`.
#[derive(Args, Debug, Clone)]
pub struct DhtArgs {
    /// Run no DHT node: peers come from trackers and --peer only.
    #[arg(long, conflicts_with_all = ["dht_bootstrap", "dht_port"])]
    no_dht: bool,
    /// A DHT node to bootstrap from (repeatable; `[IPv6]:PORT` for the IPv6 DHT); with
    /// none, the saved routing table, the torrent's own `nodes` and, if those give nothing,
    /// the public routers (BF_DHT_ROUTERS overrides their list, comma-separated; empty for
    /// none).
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT", value_parser = parse_node)]
    dht_bootstrap: Vec<String>,
    /// UDP port of the DHT nodes: with --bind on all addresses an IPv4 node and, where
    /// there is IPv6, an IPv6 one (BEP 32), both on this port; with one address, a node of
    /// its family [default: the port we listen on for peers].
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    dht_port: Option<u16>,
}

impl DhtArgs {
    /// DHT on, bootstrapping from `nodes`.
    fn from_bootstrap(nodes: Vec<String>) -> Self {
        DhtArgs {
            no_dht: false,
            dht_bootstrap: nodes,
            dht_port: None,
        }
    }

    /// The session's DHT settings, `state_dir` holding the routing table across runs.
    pub fn config(&self, state_dir: Option<&std::path::Path>) -> Option<bf_client::DhtConfig> {
        if self.no_dht {
            return None;
        }
        let routers = std::env::var("BF_DHT_ROUTERS").ok();
        let mut bootstrap = self.dht_bootstrap.clone();
        let public_routers = match &routers {
            // An explicit list stands in for the public routers, used only as they are.
            Some(list) => {
                if self.dht_bootstrap.is_empty() {
                    bootstrap.extend(
                        list.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(String::from),
                    );
                }
                false
            }
            None => self.dht_bootstrap.is_empty(),
        };
        Some(bf_client::DhtConfig {
            port: self.dht_port,
            bootstrap,
            public_routers,
            state_file: state_dir.map(|d| d.join("dht.nodes")),
        })
    }
}

fn parse_node(s: &str) -> Result<String, String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?}: not HOST:PORT"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(s.to_string()),
        _ => Err(format!("{s:?}: not HOST:PORT with a port from 1 to 65535")),
    }
}

fn parse_url(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("{s:?}: only http:// and https:// URLs are fetched"));
    }
    bf_tracker::client::validate_tracker_url(s).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(s.to_string())
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
        cfg.core.fountain = !self.no_fountain;
        cfg.dht = self.dht.config(cfg.resume_dir.as_deref());
        cfg.lsd = (!self.no_lsd).then(|| bf_client::LsdConfig {
            interface: match self.bind {
                IpAddr::V4(v4) => v4,
                IpAddr::V6(_) => std::net::Ipv4Addr::UNSPECIFIED,
            },
            ..bf_client::LsdConfig::default()
        });
        cfg.connect_timeout = Duration::from_secs(10);
        cfg
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Info(args)) => info::run(&args).exit_with(Exit::Input),
        Some(Command::Verify(args)) => verify::run(&args),
        Some(Command::DhtNode(args)) => {
            let _ = bf_cli::init_logging(i8::try_from(args.verbose).unwrap_or(i8::MAX) - 1);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(dht_node::run(args)))
        }
        Some(Command::Demo(args)) => {
            let _ = bf_cli::init_logging(-1);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|rt| rt.block_on(demo::run(args)))
        }
        None => {
            // Warnings by default; each -v one level more.
            let _ = bf_cli::init_logging(i8::try_from(cli.run.verbose).unwrap_or(i8::MAX) - 1);
            run(cli.run)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => bf_cli::report("bf-console", &e),
    }
}

fn usage(text: String) -> anyhow::Error {
    bf_cli::mark(anyhow::anyhow!(text), Exit::Usage)
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.torrent.is_none() && args.url.is_none() && args.torrent_dir.is_none() {
        return Err(usage(
            "nothing to do: give a .torrent file, --url or --torrent-dir (see --help)".into(),
        ));
    }
    if let Some(r) = args.seed_ratio {
        if !(r.is_finite() && r >= 0.0) {
            return Err(usage(format!("--seed-ratio {r}: not a ratio")));
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
