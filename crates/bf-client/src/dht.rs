//! Trackerless peer discovery: the session's node on the Mainline DHT (BEP 5). The node
//! itself is `bf_dht::node::Node`, sans-IO; this module gives it a UDP socket, its timers
//! and a handle, and runs for each public torrent a loop that looks its peers up, hands them
//! to the torrent and announces our port.
//!
//! The node answers other nodes' queries: it is a full node, a lightweight tracker for the
//! torrents announced to it, as in the original's trackerless mode. Its routing table is
//! written to a file at shutdown and read back at the next start. Private torrents (BEP 27)
//! never touch it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bf_dht::node::{Config, Event, LookupId, Node};
use bf_dht::NodeId;
use bf_metainfo::InfoHash;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::torrent::{Command, Msg};

/// The public routers a node with nothing else to go on bootstraps from.
pub const PUBLIC_ROUTERS: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
];

/// The first lookups of a torrent come quickly, then back off while none finds a peer.
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// Lookup and announce interval once peers were found (BEP 5 nodes keep peers ~30 min).
const REANNOUNCE: Duration = Duration::from_secs(5 * 60);
/// Most nodes written to the saved routing table.
const MAX_SAVED_NODES: usize = 200;
/// How often a node whose table emptied bootstraps again.
const REBOOTSTRAP: Duration = Duration::from_secs(60);
/// How long resolving one bootstrap name may take.
const RESOLVE_TIME: Duration = Duration::from_secs(5);

/// DHT settings of a session.
#[derive(Debug, Clone, Default)]
pub struct DhtConfig {
    /// UDP port of the node; `None`: the session's TCP listen port.
    pub port: Option<u16>,
    /// Nodes to bootstrap from (`HOST:PORT`), besides the saved routing table and the
    /// `nodes` of the torrents added.
    pub bootstrap: Vec<String>,
    /// Whether [`PUBLIC_ROUTERS`] are used when nothing else is known.
    pub public_routers: bool,
    /// Where the routing table is saved at shutdown and read back at start.
    pub state_file: Option<PathBuf>,
}

/// Why the DHT node could not start.
#[derive(Debug, thiserror::Error)]
pub enum DhtError {
    /// The DHT runs over IPv4 here; the session is bound to an IPv6 address.
    #[error("the DHT runs over IPv4, and the session is bound to {0}")]
    NotIpv4(IpAddr),
    /// The UDP port could not be bound.
    #[error("cannot start the DHT node on UDP {addr}: {source}")]
    Bind {
        /// Address tried.
        addr: SocketAddrV4,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

enum Cmd {
    Lookup {
        info_hash: NodeId,
        announce: Option<u16>,
        reply: oneshot::Sender<Vec<SocketAddr>>,
    },
    Ping(SocketAddrV4),
    Contacts(oneshot::Sender<Vec<SocketAddrV4>>),
}

/// A running DHT node. Cheap to clone; the node stops when the last clone is dropped.
#[derive(Clone)]
pub struct DhtNode {
    tx: mpsc::Sender<Cmd>,
    addr: SocketAddrV4,
    state_file: Option<PathBuf>,
}

impl std::fmt::Debug for DhtNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhtNode")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The routing table saved by an earlier run: one `IP:PORT` a line; other lines are
/// skipped, a missing file is an empty table.
pub fn read_state(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| l.parse::<SocketAddrV4>().is_ok())
        .take(MAX_SAVED_NODES)
        .map(str::to_string)
        .collect()
}

impl DhtNode {
    /// Starts a node on `bind`:`port` (UDP) on the current tokio runtime, bootstrapping
    /// from `cfg.bootstrap`, the saved routing table, `extra` (a torrent's `nodes`) and,
    /// when none of these gives a node, the public routers if allowed.
    pub fn start(
        cfg: &DhtConfig,
        bind: IpAddr,
        port: u16,
        extra: &[String],
    ) -> Result<DhtNode, DhtError> {
        let ip = match bind {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(v6) if v6.is_unspecified() => Ipv4Addr::UNSPECIFIED,
            other => return Err(DhtError::NotIpv4(other)),
        };
        let want = SocketAddrV4::new(ip, port);
        let std_socket = std::net::UdpSocket::bind(want)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| DhtError::Bind { addr: want, source })?;
        let socket = UdpSocket::from_std(std_socket)
            .map_err(|source| DhtError::Bind { addr: want, source })?;
        let addr = match socket.local_addr() {
            Ok(SocketAddr::V4(a)) => a,
            _ => want,
        };
        let mut boot: Vec<String> = cfg.bootstrap.clone();
        if let Some(f) = &cfg.state_file {
            boot.extend(read_state(f));
        }
        boot.extend(extra.iter().cloned());
        boot.sort();
        boot.dedup();
        if boot.is_empty() && cfg.public_routers {
            boot = PUBLIC_ROUTERS.iter().map(|s| s.to_string()).collect();
        }
        let now = Instant::now();
        let id = NodeId(rand::random());
        let node = Node::new(
            id,
            Config {
                seed: rand::random(),
                ..Config::default()
            },
            now,
        );
        let (tx, rx) = mpsc::channel(64);
        tracing::info!(
            "DHT node on UDP {addr}, bootstrapping from {} nodes",
            boot.len()
        );
        tokio::spawn(drive(socket, node, rx, boot));
        Ok(DhtNode {
            tx,
            addr,
            state_file: cfg.state_file.clone(),
        })
    }

    /// The UDP address the node is bound to.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// The contacts of its routing table, most recently seen first.
    pub async fn routing_table(&self) -> Vec<SocketAddrV4> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::Contacts(reply)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Peers of `info_hash` found in one lookup; then, with `announce`, the closest nodes
    /// are told we have it on that TCP port. Within the node's lookup deadline.
    pub async fn lookup(&self, info_hash: InfoHash, announce: Option<u16>) -> Vec<SocketAddr> {
        let (reply, rx) = oneshot::channel();
        let cmd = Cmd::Lookup {
            info_hash: NodeId(info_hash.0),
            announce,
            reply,
        };
        if self.tx.send(cmd).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// A peer told us its DHT port (the PORT message): the node pings it, and takes it
    /// into its table if it answers.
    pub fn heard_of(&self, node: SocketAddr) {
        if let SocketAddr::V4(v4) = node {
            if v4.port() != 0 {
                let _ = self.tx.try_send(Cmd::Ping(v4));
            }
        }
    }

    /// Writes the routing table to the state file, atomically; how many nodes it holds.
    pub async fn save(&self) -> std::io::Result<usize> {
        let Some(path) = self.state_file.clone() else {
            return Ok(0);
        };
        let mut nodes = self.routing_table().await;
        nodes.truncate(MAX_SAVED_NODES);
        if nodes.is_empty() {
            return Ok(0);
        }
        let n = nodes.len();
        let text: String = nodes.iter().map(|a| format!("{a}\n")).collect();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &path)
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok(n)
    }
}

/// IPv4 addresses of `names` (`HOST:PORT`), each resolved within a few seconds.
async fn resolve(names: &[String]) -> Vec<SocketAddrV4> {
    let mut out = Vec::new();
    for n in names {
        match tokio::time::timeout(RESOLVE_TIME, tokio::net::lookup_host(n.as_str())).await {
            Ok(Ok(addrs)) => out.extend(addrs.filter_map(|a| match a {
                SocketAddr::V4(v4) => Some(v4),
                SocketAddr::V6(_) => None,
            })),
            Ok(Err(e)) => tracing::debug!("DHT bootstrap {n}: {e}"),
            Err(_) => tracing::debug!("DHT bootstrap {n}: not resolved in time"),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The node's task: the socket, the timers and the handles' commands. Ends when every
/// handle is gone.
async fn drive(socket: UdpSocket, mut node: Node, mut rx: mpsc::Receiver<Cmd>, boot: Vec<String>) {
    let boot = resolve(&boot).await;
    if !boot.is_empty() {
        node.bootstrap(&boot, Instant::now());
    }
    let mut waiting: HashMap<LookupId, (oneshot::Sender<Vec<SocketAddr>>, Vec<SocketAddr>)> =
        HashMap::new();
    let mut buf = vec![0u8; 2048];
    let mut next_bootstrap = Instant::now() + REBOOTSTRAP;
    loop {
        while let Some((to, bytes)) = node.poll_transmit() {
            // UDP: a datagram that cannot go now is lost, as on the wire.
            let _ = socket.send_to(&bytes, to).await;
        }
        while let Some(e) = node.poll_event() {
            match e {
                Event::Peers { lookup, peers } => {
                    if let Some((_, found)) = waiting.get_mut(&lookup) {
                        found.extend(peers.into_iter().map(SocketAddr::V4));
                    }
                }
                Event::LookupDone { lookup, announced } => {
                    if let Some((reply, found)) = waiting.remove(&lookup) {
                        tracing::debug!(
                            "DHT lookup: {} peers, announced to {announced} nodes",
                            found.len()
                        );
                        let _ = reply.send(found);
                    }
                }
            }
        }
        let wake = node
            .poll_timeout()
            .unwrap_or_else(|| Instant::now() + REBOOTSTRAP)
            .min(next_bootstrap);
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, SocketAddr::V4(from))) => {
                    let data = buf.get(..n).unwrap_or_default();
                    if let Err(e) = node.handle(from, data, Instant::now()) {
                        tracing::trace!(%from, "DHT: dropped a datagram: {e}");
                    }
                }
                Ok(_) => {}
                // ICMP errors surface here on Linux: the next datagram is unaffected.
                Err(e) => tracing::trace!("DHT socket: {e}"),
            },
            cmd = rx.recv() => match cmd {
                None => return,
                Some(Cmd::Lookup { info_hash, announce, reply }) => {
                    match node.lookup(info_hash, announce, Instant::now()) {
                        Some(id) => {
                            waiting.insert(id, (reply, Vec::new()));
                        }
                        None => {
                            let _ = reply.send(Vec::new());
                        }
                    }
                }
                Some(Cmd::Ping(addr)) => node.ping(addr, Instant::now()),
                Some(Cmd::Contacts(reply)) => {
                    let _ = reply.send(node.table().contacts().iter().map(|c| c.addr).collect());
                }
            },
            _ = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                node.handle_timeout(now);
                if now >= next_bootstrap {
                    next_bootstrap = now + REBOOTSTRAP;
                    if node.table().is_empty() && !boot.is_empty() {
                        node.bootstrap(&boot, now);
                    }
                }
            }
        }
    }
}

/// Looks up `info_hash`'s peers and announces `port` for it until the torrent's task is
/// gone: soon and often at first, every few minutes once peers were found.
pub(crate) async fn torrent_loop(
    node: DhtNode,
    info_hash: InfoHash,
    port: u16,
    to_torrent: mpsc::Sender<Msg>,
) {
    let mut backoff = FIRST_RETRY;
    // Ends when the torrent's channel closes (it was removed or the session stopped).
    while !to_torrent.is_closed() {
        let peers = node.lookup(info_hash, Some(port)).await;
        let found = !peers.is_empty();
        if found {
            tracing::debug!("DHT: {} peers for {}", peers.len(), info_hash.to_hex());
            if to_torrent
                .send(Msg::Command(Command::AddPeers(peers)))
                .await
                .is_err()
            {
                return;
            }
        }
        let wait = if found { REANNOUNCE } else { backoff };
        backoff = (backoff * 2).min(REANNOUNCE);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = to_torrent.closed() => return,
        }
    }
}

/// The address the DHT binds: the session's, or all IPv4 ones when it listens on all.
pub(crate) fn dht_bind(bind: IpAddr) -> IpAddr {
    if bind.is_unspecified() {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        bind
    }
}
