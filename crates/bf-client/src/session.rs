//! The public API: a [`Session`] listens for peers and runs torrents; each added torrent is
//! controlled through a [`TorrentHandle`].

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, Metainfo, MetainfoError, PeerId};
use bf_tracker::{ClientConfig, TrackerClient};
use bf_wire::ConnectionConfig;
use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

use crate::core::rate::TokenBucket;
use crate::core::CoreConfig;
use crate::dht::{self, DhtConfig, DhtNode, DhtNodes};
use crate::events::{TorrentEvent, TorrentState, TorrentStatus};
use crate::lsd::{Lsd, LsdConfig};
use crate::peer_io::{self, IoContext, Limiter};
use crate::storage::{FilePool, Storage, StorageError};
use crate::torrent::{self, Command, Msg, TorrentSetup};
use crate::workers::WorkerPool;

/// How long a magnet link's metadata may take to come.
const MAGNET_TIME: Duration = Duration::from_secs(120);

/// Settings of a [`Session`]; the defaults are the original BitTorrent's where it had one.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// First port to listen on; when taken the next ones are tried.
    pub port: u16,
    /// How many ports from `port` on to try (the original: 6881 to 6889).
    pub port_tries: u16,
    /// Address to listen on.
    pub bind: IpAddr,
    /// The address trackers are told to give out for us (`--ip`).
    pub announce_ip: Option<IpAddr>,
    /// Most peer connections in all torrents together.
    pub max_connections: usize,
    /// Upload limit in bytes per second for the whole session.
    pub max_upload_rate: Option<u64>,
    /// Download limit in bytes per second for the whole session.
    pub max_download_rate: Option<u64>,
    /// Folder for resume data; `None` keeps none.
    pub resume_dir: Option<PathBuf>,
    /// How often resume data is saved while pieces arrive.
    pub resume_interval: Duration,
    /// Per-torrent engine settings (peer id and port are the session's).
    pub core: CoreConfig,
    /// Hashing and disk threads; 0 means one per core.
    pub worker_threads: usize,
    /// Files kept open at once, all torrents together.
    pub open_files: usize,
    /// Time allowed for connecting and the handshakes.
    pub connect_timeout: Duration,
    /// Tracker client settings.
    pub tracker: ClientConfig,
    /// Whether to announce to trackers at all.
    pub use_trackers: bool,
    /// The DHT nodes for trackerless peer discovery (IPv4, and IPv6 where `bind` allows,
    /// see [`DhtNodes::start`]); `None` runs none.
    pub dht: Option<DhtConfig>,
    /// Local service discovery (BEP 14) for public torrents; `None` runs none.
    pub lsd: Option<LsdConfig>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            port: 6881,
            port_tries: 9,
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            announce_ip: None,
            max_connections: 500,
            max_upload_rate: None,
            max_download_rate: None,
            resume_dir: None,
            resume_interval: Duration::from_secs(30),
            core: CoreConfig::default(),
            worker_threads: 0,
            open_files: 256,
            connect_timeout: Duration::from_secs(10),
            tracker: ClientConfig::default(),
            use_trackers: true,
            dht: None,
            lsd: None,
        }
    }
}

/// Why a session could not start.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No port of the range could be bound.
    #[error("cannot listen on {bind} port {first}..={last}: {source}")]
    Bind {
        /// Address.
        bind: IpAddr,
        /// First port tried.
        first: u16,
        /// Last port tried.
        last: u16,
        /// The last error.
        #[source]
        source: std::io::Error,
    },
    /// Worker threads could not be started.
    #[error("cannot start worker threads: {0}")]
    Workers(#[source] std::io::Error),
    /// The tracker client could not be made.
    #[error("tracker client: {0}")]
    Tracker(#[from] bf_tracker::TrackerError),
}

/// Why a torrent could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The torrent file is invalid or unreadable.
    #[error(transparent)]
    Metainfo(#[from] MetainfoError),
    /// Fetching the torrent from a URL failed.
    #[error("fetching {url}: {reason}")]
    Fetch {
        /// The URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The same torrent is already in the session.
    #[error("torrent {0} is already added")]
    Duplicate(InfoHash),
    /// The download path is unusable.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Neither a save path nor a folder to save in was given.
    #[error("no download path given")]
    NoPath,
    /// The magnet link is malformed.
    #[error(transparent)]
    Magnet(#[from] bf_metainfo::MagnetError),
    /// A magnet link's metadata could not be had.
    #[error(transparent)]
    Metadata(#[from] crate::magnet::MetadataError),
}

/// Where a torrent comes from.
#[derive(Debug, Clone)]
pub enum TorrentSource {
    /// A `.torrent` file.
    File(PathBuf),
    /// The bytes of a `.torrent` file.
    Bytes(Vec<u8>),
    /// An `http(s)://` URL of a `.torrent` file.
    Url(String),
    /// Already parsed.
    Metainfo(Arc<Metainfo>),
    /// A `magnet:?xt=urn:btih:…` link: the metadata is fetched from peers first (found
    /// through its `x.pe` and `tr` entries, the DHT, and [`AddTorrent::peer`]), and the
    /// `.torrent` saved beside the data.
    Magnet(String),
}

/// What [`Session::add_torrent`] needs: the torrent and where its data goes.
#[derive(Debug, Clone)]
pub struct AddTorrent {
    source: TorrentSource,
    save_as: Option<PathBuf>,
    save_in: Option<PathBuf>,
    peers: Vec<SocketAddr>,
    paused: bool,
}

impl AddTorrent {
    /// From a source.
    pub fn new(source: TorrentSource) -> Self {
        AddTorrent {
            source,
            save_as: None,
            save_in: None,
            peers: Vec::new(),
            paused: false,
        }
    }

    /// From a `.torrent` file.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::new(TorrentSource::File(path.into()))
    }

    /// From the bytes of a `.torrent` file.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self::new(TorrentSource::Bytes(bytes.into()))
    }

    /// From a URL.
    pub fn url(url: impl Into<String>) -> Self {
        Self::new(TorrentSource::Url(url.into()))
    }

    /// From a magnet link.
    pub fn magnet(uri: impl Into<String>) -> Self {
        Self::new(TorrentSource::Magnet(uri.into()))
    }

    /// The data goes exactly here: the file of a single-file torrent, the top folder of a
    /// multi-file one. If it already holds the data, it is checked and seeded.
    pub fn save_as(mut self, path: impl Into<PathBuf>) -> Self {
        self.save_as = Some(path.into());
        self
    }

    /// The data goes into this folder, under the torrent's name.
    pub fn save_in(mut self, dir: impl Into<PathBuf>) -> Self {
        self.save_in = Some(dir.into());
        self
    }

    /// A peer to connect to directly, besides those trackers give.
    pub fn peer(mut self, addr: SocketAddr) -> Self {
        self.peers.push(addr);
        self
    }

    /// Adds the torrent paused (checked, but no peers until resumed).
    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = paused;
        self
    }
}

struct Entry {
    tx: mpsc::Sender<Msg>,
    handle: TorrentHandle,
    task: JoinHandle<()>,
}

struct Inner {
    cfg: SessionConfig,
    peer_id: PeerId,
    listen: SocketAddr,
    torrents: Mutex<HashMap<InfoHash, Entry>>,
    workers: Arc<WorkerPool>,
    files: Arc<FilePool>,
    connections: Arc<Semaphore>,
    tracker: Option<TrackerClient>,
    up: Limiter,
    down: Limiter,
    announce_key: u32,
    http: reqwest::Client,
    /// The DHT nodes once started (at the first public torrent, so that its `nodes` are
    /// bootstrapped from); `Err` once they failed to start, so that it is not retried.
    dht: Mutex<Option<Result<DhtNodes, ()>>>,
    /// Local service discovery, when configured and it could start.
    lsd: Option<Lsd>,
}

/// A running client: listens for peers, runs torrents. Cheap to clone.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
    listener: Arc<JoinHandle<()>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("listen", &self.inner.listen)
            .finish_non_exhaustive()
    }
}

/// A fresh peer id: `-BF0100-` and twelve random bytes.
fn new_peer_id() -> PeerId {
    let v = env!("CARGO_PKG_VERSION").as_bytes();
    let digit = |i: usize| v.get(i).copied().filter(u8::is_ascii_digit).unwrap_or(b'0');
    let random: [u8; 12] = rand::random();
    let mut id = PeerId::azureus_style(b"BF", &[digit(0), digit(2), digit(4), b'0'], &[0; 12]);
    // Printable random tail: some trackers show peer ids.
    for (i, r) in random.iter().enumerate() {
        id.0[8 + i] = b"0123456789abcdefghijklmnopqrstuvwxyz"[*r as usize % 36];
    }
    id
}

impl Session {
    /// Starts a session on the current tokio runtime: binds the listen port (trying the
    /// next ones when taken) and starts the worker threads.
    pub async fn new(cfg: SessionConfig) -> Result<Session, SessionError> {
        let last = cfg.port.saturating_add(cfg.port_tries.max(1) - 1);
        let mut listener = None;
        let mut last_err = std::io::Error::other("no port tried");
        for port in cfg.port..=last {
            match TcpListener::bind(SocketAddr::new(cfg.bind, port)).await {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(e) => last_err = e,
            }
        }
        let Some(listener) = listener else {
            return Err(SessionError::Bind {
                bind: cfg.bind,
                first: cfg.port,
                last,
                source: last_err,
            });
        };
        let listen = listener.local_addr().map_err(|source| SessionError::Bind {
            bind: cfg.bind,
            first: cfg.port,
            last,
            source,
        })?;
        let workers = if cfg.worker_threads == 0 {
            WorkerPool::per_core("bf-worker")
        } else {
            WorkerPool::new(cfg.worker_threads, "bf-worker")
        }
        .map_err(SessionError::Workers)?;
        let now = Instant::now();
        let limiter = |rate: Option<u64>| -> Limiter {
            rate.filter(|&r| r > 0).map(|r| {
                // A burst of a fifth of a second: smooth, yet a 16 KiB block always fits.
                Arc::new(Mutex::new(TokenBucket::new(r, (r / 5).max(64 * 1024), now)))
            })
        };
        let tracker = if cfg.use_trackers {
            Some(TrackerClient::new(cfg.tracker.clone())?)
        } else {
            None
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| SessionError::Tracker(e.into()))?;
        // Without it the session still works: peers come from elsewhere.
        let lsd = cfg.lsd.as_ref().and_then(|l| {
            Lsd::start(l, listen.port())
                .map_err(|e| tracing::warn!("no local service discovery: {e}"))
                .ok()
        });
        let inner = Arc::new(Inner {
            peer_id: if cfg.core.peer_id.0 == [0; 20] {
                new_peer_id()
            } else {
                cfg.core.peer_id
            },
            listen,
            torrents: Mutex::new(HashMap::new()),
            workers,
            files: Arc::new(FilePool::new(cfg.open_files)),
            connections: Arc::new(Semaphore::new(cfg.max_connections)),
            tracker,
            up: limiter(cfg.max_upload_rate),
            down: limiter(cfg.max_download_rate),
            announce_key: rand::random(),
            http,
            dht: Mutex::new(None),
            lsd,
            cfg,
        });
        let accept = tokio::spawn(accept_loop(listener, Arc::downgrade(&inner)));
        Ok(Session {
            inner,
            listener: Arc::new(accept),
        })
    }

    /// The session's DHT nodes, started now if the session has a DHT configured and it is
    /// not running yet; `extra` are further nodes to bootstrap from when they start (a
    /// torrent's `nodes`). `None` when the session runs no DHT or it could not start.
    pub fn dht_nodes(&self, extra: &[String]) -> Option<DhtNodes> {
        let cfg = self.inner.cfg.dht.as_ref()?;
        let mut g = self.inner.dht.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            let port = cfg.port.unwrap_or(self.inner.listen.port());
            *g = Some(
                DhtNodes::start(cfg, self.inner.cfg.bind, port, extra).map_err(|e| {
                    tracing::warn!("no DHT: {e}");
                }),
            );
        }
        g.as_ref().and_then(|r| r.as_ref().ok()).cloned()
    }

    /// The session's IPv4 DHT node, as [`Self::dht_nodes`] starts it; `None` also when
    /// the session runs only an IPv6 one (bound to an IPv6 address).
    pub fn dht_node(&self, extra: &[String]) -> Option<DhtNode> {
        self.dht_nodes(extra)?.v4().cloned()
    }

    /// The DHT nodes if they are running.
    pub fn running_dht_nodes(&self) -> Option<DhtNodes> {
        let g = self.inner.dht.lock().unwrap_or_else(|e| e.into_inner());
        g.as_ref().and_then(|r| r.as_ref().ok()).cloned()
    }

    /// The IPv4 DHT node if it is running.
    pub fn running_dht(&self) -> Option<DhtNode> {
        self.running_dht_nodes()?.v4().cloned()
    }

    /// The IPv6 DHT node (BEP 32) if it is running.
    pub fn running_dht6(&self) -> Option<DhtNode> {
        self.running_dht_nodes()?.v6().cloned()
    }

    /// The address peers reach us on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.inner.listen
    }

    /// Our peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// Adds a torrent and starts it (checking what is on disk first).
    pub async fn add_torrent(&self, mut add: AddTorrent) -> Result<TorrentHandle, AddError> {
        let meta = match add.source.clone() {
            TorrentSource::Metainfo(m) => m,
            TorrentSource::File(p) => Arc::new(Metainfo::from_file(&p)?),
            TorrentSource::Bytes(b) => Arc::new(Metainfo::from_bytes(&b)?),
            TorrentSource::Url(u) => Arc::new(self.fetch_torrent(&u).await?),
            TorrentSource::Magnet(uri) => {
                let (meta, peers) = self.fetch_magnet(&uri, &add).await?;
                add.peers.extend(peers);
                Arc::new(meta)
            }
        };
        let path = match (add.save_as, add.save_in) {
            (Some(p), _) => p,
            (None, Some(dir)) => dir.join(meta.name()),
            (None, None) => return Err(AddError::NoPath),
        };
        let info_hash = meta.info_hash();
        let storage = Arc::new(Storage::new(meta.clone(), &path, self.inner.files.clone())?);
        // Private torrents (BEP 27) get peers from their trackers only.
        let dht = if meta.is_private() {
            None
        } else {
            let nodes: Vec<String> = meta
                .nodes()
                .iter()
                .map(|n| dht::host_port(&n.host, n.port))
                .collect();
            self.dht_nodes(&nodes)
        };
        let inner = &self.inner;
        let mut torrents = inner.torrents.lock().unwrap_or_else(|e| e.into_inner());
        if torrents.contains_key(&info_hash) {
            return Err(AddError::Duplicate(info_hash));
        }
        // Bounded in messages, each at most one socket read: the memory a torrent task
        // that falls behind can have queued.
        let (tx, rx) = mpsc::channel(64);
        let initial = TorrentStatus {
            info_hash,
            name: meta.name().to_string(),
            state: TorrentState::Checking {
                checked: 0,
                total: meta.piece_count(),
            },
            pieces_have: 0,
            pieces_total: meta.piece_count(),
            bytes_have: 0,
            bytes_total: meta.total_length(),
            down_rate: 0,
            up_rate: 0,
            downloaded: 0,
            uploaded: 0,
            redundant: 0,
            hash_failures: 0,
            peers: 0,
            seeds: 0,
            eta: None,
            active_for: Duration::ZERO,
            peer_list: Vec::new(),
            stats: Default::default(),
        };
        let (status_tx, status_rx) = watch::channel(initial);
        let (events_tx, _) = broadcast::channel(1024);
        let mut core = inner.cfg.core.clone();
        core.peer_id = inner.peer_id;
        core.listen_port = inner.listen.port();
        core.rng_seed = rand::random();
        // Both nodes have one port number: a PORT message names it for either family.
        core.dht_port = dht.as_ref().map(DhtNodes::port);
        let resume_path = inner
            .cfg
            .resume_dir
            .as_ref()
            .map(|d| d.join(format!("{}.resume", info_hash.to_hex())));
        let mut self_addrs = vec![inner.listen];
        if inner.listen.ip().is_unspecified() {
            self_addrs.push(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                inner.listen.port(),
            ));
        }
        // The IPv6 DHT can hand our own [::1] back too.
        self_addrs.extend(dht::loopback_of(inner.listen));
        let setup = TorrentSetup {
            meta: meta.clone(),
            storage,
            core,
            workers: inner.workers.clone(),
            tracker: inner.tracker.clone(),
            announce_ip: inner.cfg.announce_ip,
            announce_key: inner.announce_key,
            resume_path,
            resume_interval: inner.cfg.resume_interval,
            connect_timeout: inner.cfg.connect_timeout,
            connections: inner.connections.clone(),
            io: IoContext {
                to_torrent: tx.clone(),
                up: inner.up.clone(),
                down: inner.down.clone(),
            },
            status: status_tx,
            events: events_tx.clone(),
            initial_peers: add.peers,
            start_paused: add.paused,
            self_addrs,
            dht: dht.clone(),
            lsd: inner.lsd.clone().filter(|_| !meta.is_private()),
        };
        let handle = TorrentHandle {
            meta,
            path,
            tx: tx.clone(),
            status: status_rx,
            events: events_tx,
        };
        let task = tokio::spawn(torrent::run(setup, rx));
        for node in dht.iter().flat_map(DhtNodes::iter) {
            // Only where peers can connect back over the node's family.
            let announce =
                dht::announces(inner.listen, node.is_ipv6()).then_some(inner.listen.port());
            // Ends by itself once the torrent's task is gone.
            tokio::spawn(dht::torrent_loop(
                node.clone(),
                info_hash,
                announce,
                tx.clone(),
            ));
        }
        torrents.insert(
            info_hash,
            Entry {
                tx,
                handle: handle.clone(),
                task,
            },
        );
        Ok(handle)
    }

    /// The torrent of a magnet link: its metadata from peers, then the `.torrent` written
    /// beside where the data goes (a failure to write it is only logged).
    async fn fetch_magnet(
        &self,
        uri: &str,
        add: &AddTorrent,
    ) -> Result<(Metainfo, Vec<SocketAddr>), AddError> {
        let magnet: bf_metainfo::Magnet = uri.parse()?;
        if let Some(t) = self.torrent(&magnet.info_hash) {
            return Err(AddError::Duplicate(t.info_hash()));
        }
        let src = crate::magnet::Sources {
            peer_id: self.inner.peer_id,
            port: self.inner.listen.port(),
            tracker: self.inner.tracker.as_ref(),
            dht: self.dht_nodes(&[]),
            extra: add.peers.clone(),
        };
        let (info, peers) = crate::magnet::fetch(&magnet, src, MAGNET_TIME).await?;
        let meta = crate::magnet::torrent_of(&info, &magnet)?;
        let data = match (&add.save_as, &add.save_in) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(dir)) => Some(dir.join(meta.name())),
            (None, None) => None,
        };
        if let Some(data) = data {
            let mut name = data.into_os_string();
            name.push(".torrent");
            let path = PathBuf::from(name);
            let bytes = meta.to_bytes();
            let written = tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                std::fs::write(&path, bytes)?;
                Ok(path)
            })
            .await;
            match written {
                Ok(Ok(p)) => tracing::info!("metadata fetched; saved {}", p.display()),
                Ok(Err(e)) => {
                    tracing::warn!("metadata fetched, but the .torrent was not saved: {e}")
                }
                Err(e) => tracing::warn!("metadata fetched, but the .torrent was not saved: {e}"),
            }
        }
        Ok((meta, peers))
    }

    async fn fetch_torrent(&self, url: &str) -> Result<Metainfo, AddError> {
        let fail = |reason: String| AddError::Fetch {
            url: url.to_string(),
            reason,
        };
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(fail("only http:// and https:// URLs are supported".into()));
        }
        let mut resp = self
            .inner
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(fail(format!("HTTP status {}", resp.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| fail(e.to_string()))? {
            if (body.len() + chunk.len()) as u64 > bf_metainfo::MAX_TORRENT_FILE {
                return Err(fail("larger than a torrent file may be".into()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Metainfo::from_bytes(&body)?)
    }

    /// The torrents in the session.
    pub fn torrents(&self) -> Vec<TorrentHandle> {
        let g = self
            .inner
            .torrents
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        g.values().map(|e| e.handle.clone()).collect()
    }

    /// The torrent with this info-hash.
    pub fn torrent(&self, info_hash: &InfoHash) -> Option<TorrentHandle> {
        let g = self
            .inner
            .torrents
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        g.get(info_hash).map(|e| e.handle.clone())
    }

    /// Stops a torrent (tells its trackers, saves its resume data) and removes it. The data
    /// stays on disk.
    pub async fn remove(&self, info_hash: &InfoHash) -> bool {
        let entry = {
            let mut g = self
                .inner
                .torrents
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            g.remove(info_hash)
        };
        let Some(e) = entry else {
            return false;
        };
        let (ack, done) = oneshot::channel();
        if e.tx.send(Msg::Command(Command::Stop(ack))).await.is_ok() {
            let _ = done.await;
        }
        let _ = e.task.await;
        true
    }

    /// Stops every torrent (each tells its trackers and saves its resume data) and the
    /// listener.
    pub async fn shutdown(&self) {
        let hashes: Vec<InfoHash> = {
            let g = self
                .inner
                .torrents
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            g.keys().copied().collect()
        };
        // Concurrently: each waits a few seconds at most for its trackers.
        let mut stops = tokio::task::JoinSet::new();
        for h in hashes {
            let s = self.clone();
            stops.spawn(async move {
                s.remove(&h).await;
            });
        }
        while stops.join_next().await.is_some() {}
        if let Some(nodes) = self.running_dht_nodes() {
            match nodes.save().await {
                Ok(0) => {}
                Ok(n) => tracing::info!("DHT: saved {n} nodes of the routing table"),
                Err(e) => tracing::warn!("DHT: cannot save the routing table: {e}"),
            }
        }
        self.listener.abort();
        let workers = self.inner.workers.clone();
        let _ = tokio::task::spawn_blocking(move || workers.shutdown()).await;
    }
}

/// Controls one torrent of a [`Session`]. Cheap to clone.
#[derive(Clone)]
pub struct TorrentHandle {
    meta: Arc<Metainfo>,
    path: PathBuf,
    tx: mpsc::Sender<Msg>,
    status: watch::Receiver<TorrentStatus>,
    events: broadcast::Sender<TorrentEvent>,
}

impl std::fmt::Debug for TorrentHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TorrentHandle")
            .field("name", &self.meta.name())
            .field("info_hash", &self.meta.info_hash())
            .finish_non_exhaustive()
    }
}

impl TorrentHandle {
    /// The torrent.
    pub fn metainfo(&self) -> &Arc<Metainfo> {
        &self.meta
    }

    /// Its info-hash.
    pub fn info_hash(&self) -> InfoHash {
        self.meta.info_hash()
    }

    /// Where its data is (the file, or the top folder).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The latest status.
    pub fn status(&self) -> TorrentStatus {
        self.status.borrow().clone()
    }

    /// A receiver of status changes (the latest one, when it changes).
    pub fn watch(&self) -> watch::Receiver<TorrentStatus> {
        self.status.clone()
    }

    /// A stream of events from now on (a receiver that falls far behind skips some).
    pub fn events(&self) -> broadcast::Receiver<TorrentEvent> {
        self.events.subscribe()
    }

    /// Stops exchanging data (peers closed, trackers told), keeping the torrent.
    pub async fn pause(&self) {
        let _ = self.tx.send(Msg::Command(Command::Pause)).await;
    }

    /// Exchanges data again after [`Self::pause`].
    pub async fn resume(&self) {
        let _ = self.tx.send(Msg::Command(Command::Resume)).await;
    }

    /// Peers to connect to directly.
    pub async fn add_peers(&self, addrs: Vec<SocketAddr>) {
        let _ = self.tx.send(Msg::Command(Command::AddPeers(addrs))).await;
    }

    /// Waits until the torrent is complete (`Ok`), or stopped by an error (`Err`).
    pub async fn wait_complete(&self) -> Result<(), String> {
        let mut w = self.status.clone();
        loop {
            {
                let st = w.borrow_and_update();
                if st.is_complete() && !matches!(st.state, TorrentState::Checking { .. }) {
                    return Ok(());
                }
                match &st.state {
                    TorrentState::Error(e) => return Err(e.clone()),
                    TorrentState::Stopped => return Err("stopped".into()),
                    _ => {}
                }
            }
            if w.changed().await.is_err() {
                return Err("stopped".into());
            }
        }
    }
}

async fn accept_loop(listener: TcpListener, inner: std::sync::Weak<Inner>) {
    // Bounded by the session's life: the task is aborted at shutdown.
    loop {
        let Ok((stream, addr)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Ok(permit) = inner.connections.clone().try_acquire_owned() else {
            continue;
        };
        tokio::spawn(async move {
            let timeout = inner.cfg.connect_timeout;
            let r = tokio::time::timeout(timeout, accept_one(stream, addr, &inner, permit)).await;
            match r {
                Ok(Ok((tx, msg))) => {
                    let _ = tx.send(msg).await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, "incoming connection: {e}"),
                Err(_) => tracing::debug!(%addr, "incoming connection: handshake timed out"),
            }
        });
    }
}

async fn accept_one(
    mut stream: TcpStream,
    addr: SocketAddr,
    inner: &Inner,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<(mpsc::Sender<Msg>, Msg), peer_io::HandshakeFailure> {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(1024);
    let info_hash = peer_io::peek_info_hash(&mut stream, &mut buf).await?;
    let tx = {
        let g = inner.torrents.lock().unwrap_or_else(|e| e.into_inner());
        g.get(&info_hash)
            .map(|e| e.tx.clone())
            .ok_or(peer_io::HandshakeFailure::WrongTorrent)?
    };
    let mut ours = ConnectionConfig::default().handshake(info_hash, inner.peer_id);
    // The DHT bit says we run a node: only when we do.
    let dht_on = matches!(
        *inner.dht.lock().unwrap_or_else(|e| e.into_inner()),
        Some(Ok(_))
    );
    ours.reserved = ours.reserved.with_dht(dht_on);
    stream.write_all(&ours.to_bytes()).await?;
    let theirs = peer_io::read_handshake(&mut stream, &mut buf).await?;
    Ok((
        tx,
        Msg::Connected {
            addr,
            stream,
            theirs,
            leftover: buf,
            outbound: false,
            permit: Some(permit),
        },
    ))
}
