//! The tracker server: HTTP (axum) and UDP (tokio) on the same port number, over a sharded
//! [`SwarmStore`], with `--dfile` persistence and `--allowed-dir`.

mod fast_http;
mod http;
mod index;
mod limits;
mod nat_check;
mod persist;
mod udp;

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bf_metainfo::InfoHash;
use bytes::Bytes;

use crate::allowed::{AllowedDir, TorrentInfo};
use crate::clf::LogSink;
use crate::conn_id::ConnIdKey;
use crate::dfile;
use crate::ip_list::IpList;
use crate::swarm::{Full, PeerAnnounce, StoreConfig, SwarmStore};
use crate::types::{AnnounceRequest, ScrapeStats};

/// Number of independently locked parts of the store (by the first info-hash byte).
const SHARDS: usize = 16;

/// Which scrapes are answered (the original's `scrape_allowed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrapeMode {
    /// Named torrents, and every torrent when none is named.
    Full,
    /// Named torrents only.
    Specific,
    /// None.
    None,
}

/// What `/` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexPage {
    /// The table of torrents.
    Show,
    /// Nothing: 404.
    Hidden,
    /// A redirect to this URL.
    Redirect(String),
}

/// Bounds that keep one client, or a flood of made-up torrents, from exhausting the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// HTTP connections open at once; over it, new ones are closed at accept.
    pub max_http_connections: usize,
    /// Requests per second from one address (HTTP and UDP together); 0: no limit.
    pub requests_per_ip: u32,
    /// Most torrents listed in a full scrape (the busiest first).
    pub max_full_scrape: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_http_connections: 4096,
            requests_per_ip: 100,
            max_full_scrape: 100_000,
        }
    }
}

/// Everything the server can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (HTTP and UDP).
    pub bind: IpAddr,
    /// Port for both HTTP (TCP) and UDP; 0 picks a free one (then TCP and UDP may differ).
    pub port: u16,
    /// State file.
    pub dfile: Option<PathBuf>,
    /// How often the state file is saved whole (changes in between go to its journal).
    pub save_interval: Duration,
    /// Folder of allowed `.torrent` files.
    pub allowed_dir: Option<PathBuf>,
    /// How often the allowed folder is rescanned.
    pub rescan_interval: Duration,
    /// Peer lists, timeout and bounds.
    pub store: StoreConfig,
    /// `interval` sent to clients (seconds).
    pub interval: u32,
    /// `min interval` sent to clients (seconds).
    pub min_interval: u32,
    /// Which scrapes are answered.
    pub scrape: ScrapeMode,
    /// Whether to write the web log.
    pub log_requests: bool,
    /// Where the web log goes: `None` or `-` for stdout; reopened on SIGHUP.
    pub logfile: Option<PathBuf>,
    /// Whether to serve UDP too.
    pub udp: bool,
    /// Number of UDP receive loops.
    pub udp_workers: usize,
    /// Connect back to each new peer (a BitTorrent handshake) up to this many times before
    /// handing it out; 0: no NAT check.
    pub nat_check: u32,
    /// Log the result of every NAT check.
    pub log_nat_checks: bool,
    /// With `allowed_dir`: `/file?info_hash=…` serves the `.torrent` file.
    pub allow_get: bool,
    /// Torrents whose peers all left stay on the index page and in scrapes.
    pub keep_dead: bool,
    /// The icon served at `/favicon.ico`.
    pub favicon: Option<PathBuf>,
    /// What `/` shows.
    pub index: IndexPage,
    /// Whether the index page shows the names of allowed torrents.
    pub show_names: bool,
    /// Only these addresses and networks may announce (one per line, `#` comments); re-read
    /// on SIGHUP.
    pub allowed_ips: Option<PathBuf>,
    /// Bounds for an exposed server.
    pub limits: Limits,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::from([0, 0, 0, 0]),
            port: 6969,
            dfile: None,
            save_interval: Duration::from_secs(300),
            allowed_dir: None,
            rescan_interval: Duration::from_secs(30),
            store: StoreConfig::default(),
            interval: 1800,
            min_interval: 60,
            scrape: ScrapeMode::Full,
            log_requests: true,
            logfile: None,
            udp: true,
            udp_workers: 2,
            nat_check: 0,
            log_nat_checks: false,
            allow_get: false,
            keep_dead: false,
            favicon: None,
            index: IndexPage::Show,
            show_names: true,
            allowed_ips: None,
            limits: Limits::default(),
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The state file's folder does not exist.
    #[error("the folder of the state file {path:?} does not exist")]
    DfileFolder {
        /// The state file.
        path: PathBuf,
    },
    /// The state file could not be read, moved aside or written.
    #[error("{path:?}: {source}")]
    Dfile {
        /// The state file.
        path: PathBuf,
        /// The cause.
        source: dfile::DfileError,
    },
    /// The allowed folder could not be read.
    #[error("cannot read allowed dir {dir}: {source}")]
    AllowedDir {
        /// The folder.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The `--favicon` file cannot be served.
    #[error("{0}")]
    Favicon(String),
    /// `--index-redirect` is not a URL that fits a `Location` header.
    #[error("--index-redirect {0:?} cannot be sent as a Location header")]
    BadRedirect(String),
    /// The `--allowed-ips` file could not be read or has a bad line.
    #[error("allowed addresses {path:?}: {why}")]
    AllowedIps {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Another I/O failure.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The shard holding torrent `h`.
fn shard_of(h: &InfoHash) -> usize {
    usize::from(h.0[0]) % SHARDS
}

/// Whether `ip` is on a local network: loopback, private, link-local or unique-local.
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_loopback() || a.is_private() || a.is_link_local(),
        IpAddr::V6(a) => {
            a.is_loopback()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Reads an `--allowed-ips` file.
fn read_ip_list(path: &std::path::Path) -> Result<IpList, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|e| ServerError::AllowedIps {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    text.parse()
        .map_err(|e: crate::ip_list::IpListError| ServerError::AllowedIps {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// State shared by the HTTP and UDP front ends.
pub(crate) struct Shared {
    shards: Box<[Mutex<SwarmStore>]>,
    allowed: RwLock<Option<Arc<HashMap<InfoHash, TorrentInfo>>>>,
    conn_key: ConnIdKey,
    cfg: ServerConfig,
    started: Instant,
    log: Option<LogSink>,
    /// The last full scrape's encoded body and when it was made (see [`FULL_SCRAPE_TTL`]).
    full_scrape: Mutex<Option<(Instant, Bytes)>>,
    /// When each [`LimitHit`] was last logged (Unix seconds).
    limit_logged: [std::sync::atomic::AtomicU64; LimitHit::COUNT],
    /// `--nat-check`: the checks in flight, when on.
    pub(crate) nat: Option<nat_check::NatChecker>,
    /// This, for the tasks an announce starts (NAT checks); set once the `Arc` exists.
    me: std::sync::OnceLock<std::sync::Weak<Shared>>,
    /// `--allowed-ips`: who may announce, when set.
    allowed_ips: RwLock<Option<Arc<IpList>>>,
    /// With `--dfile`: the changes since the last save.
    journal: Option<persist::Journal>,
    /// `--max-requests-per-ip`: a token bucket per address, HTTP and UDP together.
    rate: limits::RateLimiter,
    /// `--max-connections`: the HTTP connections held open.
    conns: Arc<limits::Connections>,
    /// `--favicon`'s bytes, read at start.
    favicon: Option<Bytes>,
}

/// The bounds whose reaching is logged (once a minute each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// A full scrape was cut.
    FullScrape,
    /// A torrent's peer list is full.
    PeersPerTorrent,
    /// The store holds as many torrents as allowed.
    Torrents,
    /// HTTP connections at the cap.
    Connections,
    /// One address asked faster than allowed.
    RequestRate,
}

impl LimitHit {
    const COUNT: usize = 5;
}

/// How long one encoded full scrape is served again before it is rebuilt: with 100k torrents
/// it is megabytes and tens of milliseconds of work, which a client asking in a loop must not
/// be able to demand at will. Scrape counters are advisory; BEP 48 asks no fresher.
pub(crate) const FULL_SCRAPE_TTL: Duration = Duration::from_secs(10);

/// Why an announce was refused (the text goes to the client).
pub(crate) type Refusal = &'static str;

impl Shared {
    fn new(cfg: ServerConfig, log: Option<LogSink>) -> Self {
        let mut shards = Vec::with_capacity(SHARDS);
        // Torrents spread evenly over the shards by their first byte: each takes its share.
        let store = StoreConfig {
            max_torrents: cfg.store.max_torrents.div_ceil(SHARDS),
            ..cfg.store
        };
        shards.resize_with(SHARDS, || Mutex::new(SwarmStore::new(store)));
        Shared {
            shards: shards.into_boxed_slice(),
            allowed: RwLock::new(None),
            conn_key: ConnIdKey::random(),
            started: Instant::now(),
            log,
            full_scrape: Mutex::new(None),
            limit_logged: Default::default(),
            nat: (cfg.nat_check > 0)
                .then(|| nat_check::NatChecker::new(cfg.nat_check, cfg.log_nat_checks)),
            me: std::sync::OnceLock::new(),
            allowed_ips: RwLock::new(None),
            journal: cfg.dfile.as_deref().map(persist::Journal::new),
            rate: limits::RateLimiter::new(cfg.limits.requests_per_ip),
            conns: Arc::new(limits::Connections::new(cfg.limits.max_http_connections)),
            // Until Tracker::bind refuses to start without it: warn, serve no icon.
            favicon: None,
            cfg,
        }
    }

    fn shard(&self, h: &InfoHash) -> MutexGuard<'_, SwarmStore> {
        let m = &self.shards[shard_of(h)];
        // A panic while holding the lock cannot leave a swarm half-updated in a way that
        // matters more than refusing service would, so a poisoned lock is used as is.
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn allowed(&self) -> Option<Arc<HashMap<InfoHash, TorrentInfo>>> {
        self.allowed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn is_allowed(&self, h: &InfoHash) -> bool {
        // No lock on the hot path of an open tracker.
        if self.cfg.allowed_dir.is_none() {
            return true;
        }
        match &*self.allowed.read().unwrap_or_else(|e| e.into_inner()) {
            None => true,
            Some(m) => m.contains_key(h),
        }
    }

    /// Records an announce from `source`, filling `peers`. The `ip` parameter counts only
    /// when the request comes from a local address (the original's only_local_override_ip),
    /// or from anyone when NAT checking is on (the address given is checked then).
    pub(crate) fn announce(
        &self,
        req: &AnnounceRequest,
        source: SocketAddr,
        peers: &mut Vec<SocketAddr>,
    ) -> Result<ScrapeStats, Refusal> {
        self.announce_at(req, source, peers, unix_now())
    }

    /// [`Self::announce`] at Unix time `now` (the UDP loop reads the clock once a packet).
    pub(crate) fn announce_at(
        &self,
        req: &AnnounceRequest,
        source: SocketAddr,
        peers: &mut Vec<SocketAddr>,
        now: u64,
    ) -> Result<ScrapeStats, Refusal> {
        if !self.is_allowed(&req.info_hash) {
            return Err("torrent not allowed on this tracker");
        }
        let src = source.ip().to_canonical();
        if let Some(list) = self.allowed_ips() {
            if !list.contains(src) {
                return Err("your address may not announce to this tracker");
            }
        }
        let ip = match req.ip {
            Some(ip) if is_local(src) || self.nat.is_some() => ip.to_canonical(),
            _ => src,
        };
        let a = PeerAnnounce {
            info_hash: req.info_hash,
            addr: SocketAddr::new(ip, req.port),
            left: req.left,
            event: req.event,
            numwant: req.numwant,
        };
        let mut rng = rand::thread_rng();
        let mut shard = self.shard(&req.info_hash);
        if let Some(nat) = &self.nat {
            if !shard.has_peer(&a.info_hash, a.addr) {
                // Answered, not handed out until a connection back to it works.
                let stats = shard.peek(&a, &mut rng, peers);
                drop(shard);
                if let Some(me) = self.me.get().and_then(std::sync::Weak::upgrade) {
                    nat.on_unknown(&me, &a);
                }
                return Ok(stats);
            }
        }
        let out = shard.announce(&a, now, &mut rng, peers);
        if out.changed {
            self.journal_change(&a, out.stats.downloaded, now);
        }
        drop(shard);
        match out.full {
            Some(Full::Peers) => self.limit_hit(LimitHit::PeersPerTorrent, || {
                format!(
                    "{} has {} peers; new ones are not stored (--max-peers-per-torrent)",
                    req.info_hash.to_hex(),
                    self.cfg.store.max_peers_per_torrent
                )
            }),
            Some(Full::Torrents) => {
                self.limit_hit(LimitHit::Torrents, || {
                    format!(
                        "{} torrents tracked; announces for new ones are refused (--max-torrents)",
                        self.cfg.store.max_torrents
                    )
                });
                return Err("tracker full: no new torrents taken");
            }
            None => {}
        }
        Ok(out.stats)
    }

    /// Counters for the named torrents (allowed ones only), or all when `hashes` is empty.
    pub(crate) fn scrape(
        &self,
        hashes: &[InfoHash],
    ) -> Result<Vec<(InfoHash, ScrapeStats)>, Refusal> {
        match (self.cfg.scrape, hashes.is_empty()) {
            (ScrapeMode::None, _) => return Err("scrape disabled on this tracker"),
            (ScrapeMode::Specific, true) => return Err("full scrape disabled"),
            (ScrapeMode::Full, true) => return Ok(self.full_scrape_stats()),
            _ => {}
        }
        Ok(hashes
            .iter()
            .filter(|h| self.is_allowed(h))
            .map(|h| (*h, self.shard(h).stats(h)))
            .collect())
    }

    /// What a full scrape lists: every torrent, or the busiest [`Limits::max_full_scrape`]
    /// of them, so that its answer stays bounded however many torrents are tracked.
    pub(crate) fn full_scrape_stats(&self) -> Vec<(InfoHash, ScrapeStats)> {
        let mut all: Vec<_> = self.all_stats().into_iter().collect();
        let max = self.cfg.limits.max_full_scrape;
        if all.len() > max {
            let busy = |s: &ScrapeStats| u64::from(s.complete) + u64::from(s.incomplete);
            all.select_nth_unstable_by(max, |a, b| busy(&b.1).cmp(&busy(&a.1)));
            all.truncate(max);
            self.limit_hit(LimitHit::FullScrape, || {
                format!("full scrape cut to the {max} busiest torrents (--max-full-scrape)")
            });
        }
        all
    }

    /// Logs that a bound was reached, at most once a minute per bound.
    pub(crate) fn limit_hit(&self, which: LimitHit, msg: impl FnOnce() -> String) {
        let now = unix_now();
        let last = &self.limit_logged[which as usize];
        let before = last.load(std::sync::atomic::Ordering::Relaxed);
        if now >= before + 60
            && last
                .compare_exchange(
                    before,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_ok()
        {
            tracing::warn!("limit reached: {}", msg());
        }
    }

    /// Counters of every torrent in the store or the allowed folder.
    pub(crate) fn all_stats(&self) -> HashMap<InfoHash, ScrapeStats> {
        let mut all = HashMap::new();
        for s in self.shards.iter() {
            let s = s.lock().unwrap_or_else(|e| e.into_inner());
            all.extend(s.all_stats(self.cfg.keep_dead));
        }
        if let Some(a) = self.allowed() {
            for h in a.keys() {
                all.entry(*h).or_default();
            }
        }
        all
    }

    fn expire(&self) -> usize {
        let now = unix_now();
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).expire(now))
            .sum()
    }

    fn install_allowed(&self, dir: &AllowedDir) {
        let map = Arc::new(dir.torrents().clone());
        for s in self.shards.iter() {
            s.lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain_torrents(|h| map.contains_key(h));
        }
        *self.allowed.write().unwrap_or_else(|e| e.into_inner()) = Some(map);
    }

    /// What SIGHUP does: reopen the log file, re-read the allowed addresses (a file that
    /// no longer reads keeps the list in force).
    fn hangup(&self) {
        if let Some(log) = &self.log {
            log.reopen();
        }
        if let Some(path) = &self.cfg.allowed_ips {
            match read_ip_list(path) {
                Ok(list) => {
                    tracing::info!(
                        "SIGHUP: {} allowed addresses from {}",
                        list.len(),
                        path.display()
                    );
                    *self.allowed_ips.write().unwrap_or_else(|e| e.into_inner()) =
                        Some(Arc::new(list));
                }
                Err(e) => tracing::warn!("SIGHUP: keeping the allowed addresses: {e}"),
            }
        }
        tracing::info!("SIGHUP: log file reopened");
    }

    fn allowed_ips(&self) -> Option<Arc<IpList>> {
        self.cfg.allowed_ips.as_ref()?;
        self.allowed_ips
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stores a peer whose NAT check passed, with its latest announce.
    pub(crate) fn record_checked(&self, a: &PeerAnnounce) {
        let mut rng = rand::thread_rng();
        let now = unix_now();
        let mut shard = self.shard(&a.info_hash);
        let out = shard.announce(a, now, &mut rng, &mut Vec::new());
        if out.changed {
            self.journal_change(a, out.stats.downloaded, now);
        }
    }

    /// Queues the journal record of a change `a` made; call with its shard locked, so that
    /// the records of a peer are in the order the store saw them.
    fn journal_change(&self, a: &PeerAnnounce, completed: u32, now: u64) {
        if let Some(j) = &self.journal {
            j.record(
                shard_of(&a.info_hash),
                &crate::journal::Record {
                    info_hash: a.info_hash,
                    addr: a.addr,
                    seed: a.left == 0,
                    stopped: a.event == crate::types::Event::Stopped,
                    completed,
                    time: now,
                },
            );
        }
    }

    /// (torrents, peers) in the store.
    pub(crate) fn counts(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(t, p), s| {
            let s = s.lock().unwrap_or_else(|e| e.into_inner());
            (t + s.torrent_count(), p + s.peer_count())
        })
    }
}

/// A tracker whose sockets are bound and whose state is loaded, ready to [`run`](Self::run).
pub struct Tracker {
    shared: Arc<Shared>,
    http: tokio::net::TcpListener,
    udp: Option<Arc<tokio::net::UdpSocket>>,
    allowed_dir: Option<AllowedDir>,
}

impl Tracker {
    /// Binds the sockets, then loads the state file and the allowed folder.
    pub async fn bind(cfg: ServerConfig) -> Result<Tracker, ServerError> {
        // Sockets first: a second instance on the same port must fail before it touches
        // the state file.
        let addr = SocketAddr::new(cfg.bind, cfg.port);
        let http = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind { addr, source })?;
        let udp = if cfg.udp {
            let uaddr = SocketAddr::new(cfg.bind, http.local_addr()?.port());
            let s =
                tokio::net::UdpSocket::bind(uaddr)
                    .await
                    .map_err(|source| ServerError::Bind {
                        addr: uaddr,
                        source,
                    })?;
            Some(Arc::new(s))
        } else {
            None
        };
        let log = match (&cfg.log_requests, &cfg.logfile) {
            (false, _) => None,
            (true, None) => Some(LogSink::stdout()?),
            (true, Some(p)) => Some(LogSink::file(p).map_err(|e| {
                std::io::Error::new(e.kind(), format!("log file {}: {e}", p.display()))
            })?),
        };
        let mut shared = Shared::new(cfg.clone(), log);
        if let Some(path) = &cfg.dfile {
            persist::load(&shared, path)?;
        }
        let mut allowed_dir = None;
        if let Some(dir) = &cfg.allowed_dir {
            let mut a = AllowedDir::new(dir);
            let n = a.rescan().map_err(|source| ServerError::AllowedDir {
                dir: dir.clone(),
                source,
            })?;
            tracing::info!("{n} torrents allowed from {}", dir.display());
            shared.install_allowed(&a);
            allowed_dir = Some(a);
        }
        // A favicon or redirect that cannot be served is the operator's mistake: say so now.
        if let Some(p) = &cfg.favicon {
            shared.favicon =
                Some(http::load_favicon(p).map_err(|e| ServerError::Favicon(e.to_string()))?);
        }
        if let IndexPage::Redirect(url) = &cfg.index {
            if axum::http::HeaderValue::from_str(url).is_err() || url.is_empty() {
                return Err(ServerError::BadRedirect(url.clone()));
            }
        }
        if let Some(path) = &cfg.allowed_ips {
            let list = read_ip_list(path)?;
            tracing::info!("{} allowed addresses from {}", list.len(), path.display());
            *shared
                .allowed_ips
                .write()
                .unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(list));
        }
        let shared = Arc::new(shared);
        let _ = shared.me.set(Arc::downgrade(&shared));
        Ok(Tracker {
            shared,
            http,
            udp,
            allowed_dir,
        })
    }

    /// The HTTP listening address.
    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }

    /// The UDP listening address, if UDP is on.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|u| u.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then saves the state file.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Tracker {
            shared,
            http,
            udp,
            allowed_dir,
        } = self;
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(sock) = udp {
            for _ in 0..shared.cfg.udp_workers.max(1) {
                tasks.spawn(udp::serve(shared.clone(), sock.clone()));
            }
        }
        tasks.spawn(expire_loop(shared.clone()));
        tasks.spawn(hangup_loop(shared.clone()));
        if shared.cfg.dfile.is_some() {
            tasks.spawn(persist::save_loop(shared.clone()));
            tasks.spawn(persist::flush_loop(shared.clone()));
        }
        if let Some(dir) = allowed_dir {
            tasks.spawn(rescan_loop(shared.clone(), dir));
        }
        let app = http::router(shared.clone());
        let served = fast_http::serve(http, shared.clone(), app, shutdown).await;
        tasks.shutdown().await;
        let saved = {
            let s = shared.clone();
            tokio::task::spawn_blocking(move || persist::save(&s)).await
        };
        served?;
        match saved {
            Ok(Ok((torrents, peers))) => {
                if let Some(p) = &shared.cfg.dfile {
                    tracing::info!(
                        "state saved: {torrents} torrents, {peers} peers in {}",
                        p.display()
                    );
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e),
            Err(e) => Err(ServerError::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

/// SIGHUP: the web log file is reopened (logrotate moved it away) and the allowed
/// addresses are read again.
async fn hangup_loop(shared: Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot watch SIGHUP: the log file will not be reopened");
        return;
    };
    // Ends with the server (the task is aborted at shutdown).
    while hup.recv().await.is_some() {
        shared.hangup();
    }
}

async fn expire_loop(shared: Arc<Shared>) {
    let period = Duration::from_secs(u64::from(shared.cfg.store.peer_timeout).clamp(1, 60));
    let mut t = tokio::time::interval(period);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        t.tick().await;
        let n = shared.expire();
        if n > 0 {
            tracing::debug!("expired {n} peers");
        }
    }
}

async fn rescan_loop(shared: Arc<Shared>, mut dir: AllowedDir) {
    let mut t = tokio::time::interval(shared.cfg.rescan_interval.max(Duration::from_millis(100)));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t.tick().await;
    loop {
        t.tick().await;
        let res = tokio::task::spawn_blocking(move || {
            let r = dir.rescan();
            (dir, r)
        })
        .await;
        match res {
            Ok((d, Ok(_))) => {
                shared.install_allowed(&d);
                dir = d;
            }
            Ok((d, Err(e))) => {
                tracing::warn!("rescanning allowed dir failed: {e}");
                dir = d;
            }
            Err(e) => {
                tracing::warn!("rescan task failed: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bf_metainfo::PeerId;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn ip_parameter_only_from_loopback() {
        let sh = Shared::new(ServerConfig::default(), None);
        let h = InfoHash([5; 20]);
        let mut req = AnnounceRequest::new(h, PeerId([1; 20]), 7000, 0);
        req.ip = Some(IpAddr::from([10, 9, 9, 9]));
        let mut peers = Vec::new();
        assert!(sh.announce(&req, sa("127.0.0.1:5555"), &mut peers).is_ok());
        assert!(sh.announce(&req, sa("192.0.2.7:5555"), &mut peers).is_ok());
        let mut probe = AnnounceRequest::new(h, PeerId([2; 20]), 7001, 1);
        probe.numwant = Some(10);
        peers.clear();
        assert!(sh.announce(&probe, sa("127.0.0.1:1"), &mut peers).is_ok());
        peers.sort();
        let want = vec![sa("10.9.9.9:7000"), sa("192.0.2.7:7000")];
        assert_eq!(
            peers, want,
            "from loopback the claimed ip counts, from afar the source"
        );
    }

    #[test]
    fn allowed_set_refuses_others_and_full_scrape_switch() {
        let cfg = ServerConfig {
            scrape: ScrapeMode::Specific,
            allowed_dir: Some(PathBuf::from("allowed")),
            ..ServerConfig::default()
        };
        let sh = Shared::new(cfg, None);
        *sh.allowed.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(HashMap::new()));
        let req = AnnounceRequest::new(InfoHash([6; 20]), PeerId([1; 20]), 7000, 0);
        assert!(sh
            .announce(&req, sa("127.0.0.1:1"), &mut Vec::new())
            .is_err());
        assert!(sh.scrape(&[]).is_err());
    }
}
