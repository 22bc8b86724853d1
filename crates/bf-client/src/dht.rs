//! Trackerless peer discovery: the session's nodes on the Mainline DHT (BEP 5), one over
//! IPv4 and one over IPv6 (BEP 32: two separate DHTs, on the same UDP port number). The
//! node itself is `bf_dht::node::Node`, sans-IO; this module gives each node a UDP socket,
//! its timers and a handle ([`DhtNode`]), keeps a session's nodes together ([`DhtNodes`]),
//! and runs for each public torrent and node a loop that looks its peers up, hands them to
//! the torrent and announces our port.
//!
//! A node answers other nodes' queries: it is a full node, a lightweight tracker for the
//! torrents announced to it, as in the original's trackerless mode. The routing tables are
//! written to one file at shutdown (`IP:PORT` and `[IPv6]:PORT` lines) and read back at the
//! next start, each node taking its own family's lines. Private torrents (BEP 27) never
//! touch the DHT.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bf_dht::node::{Config, Event, LookupId, Node};
use bf_dht::NodeId;
use bf_metainfo::InfoHash;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::torrent::{Command, Msg};

/// The public routers a node with nothing else to go on bootstraps from (each node takes
/// the addresses of its own family they resolve to).
pub const PUBLIC_ROUTERS: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
];

/// The first lookups of a torrent come quickly, then back off while none finds a peer.
const FIRST_RETRY: Duration = Duration::from_secs(2);
/// Lookup and announce interval once peers were found (BEP 5 nodes keep peers ~30 min).
const REANNOUNCE: Duration = Duration::from_secs(5 * 60);
/// Most nodes of each family written to (and read from) the saved routing table.
const MAX_SAVED_NODES: usize = 200;
/// How often a node whose table emptied bootstraps again.
const REBOOTSTRAP: Duration = Duration::from_secs(60);
/// How long resolving one bootstrap name may take.
const RESOLVE_TIME: Duration = Duration::from_secs(5);

/// DHT settings of a session.
#[derive(Debug, Clone, Default)]
pub struct DhtConfig {
    /// UDP port of the nodes (IPv4 and IPv6 use the same number); `None`: the session's
    /// TCP listen port.
    pub port: Option<u16>,
    /// Nodes to bootstrap from (`HOST:PORT`, `[IPv6]:PORT`), besides the saved routing
    /// table and the `nodes` of the torrents added; each node uses those of its family.
    pub bootstrap: Vec<String>,
    /// Whether [`PUBLIC_ROUTERS`] are used when nothing else gives a node an address of
    /// its family.
    pub public_routers: bool,
    /// Where the routing tables are saved at shutdown and read back at start.
    pub state_file: Option<PathBuf>,
}

/// Why a DHT node could not start.
#[derive(Debug, thiserror::Error)]
pub enum DhtError {
    /// The UDP port could not be bound.
    #[error("cannot start the DHT node on UDP {addr}: {source}")]
    Bind {
        /// Address tried.
        addr: SocketAddr,
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
    Ping(SocketAddr),
    Contacts(oneshot::Sender<Vec<SocketAddr>>),
}

/// A running DHT node of one address family. Cheap to clone; the node stops when the last
/// clone is dropped.
#[derive(Clone)]
pub struct DhtNode {
    tx: mpsc::Sender<Cmd>,
    addr: SocketAddr,
    state_file: Option<PathBuf>,
}

impl std::fmt::Debug for DhtNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhtNode")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The routing tables saved by an earlier run: one `IP:PORT` or `[IPv6]:PORT` a line, at
/// most 200 of each family; other lines are skipped, a missing file is an empty table.
pub fn read_state(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let (mut v4, mut v6) = (0, 0);
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        let count = match line.parse::<SocketAddr>() {
            Ok(SocketAddr::V4(_)) => &mut v4,
            Ok(SocketAddr::V6(_)) => &mut v6,
            Err(_) => continue,
        };
        if *count < MAX_SAVED_NODES {
            *count += 1;
            out.push(line.to_string());
        }
    }
    out
}

/// The state file's text with the lines of a family replaced by `v4` or `v6` when given
/// (and not empty), and kept from `old` when not: a node saving its table leaves the
/// other family's alone.
fn merge_state(old: &str, v4: Option<&[SocketAddr]>, v6: Option<&[SocketAddr]>) -> String {
    let v4 = v4.filter(|n| !n.is_empty());
    let v6 = v6.filter(|n| !n.is_empty());
    let kept = |ipv6: bool| -> Vec<SocketAddr> {
        old.lines()
            .filter_map(|l| l.trim().parse::<SocketAddr>().ok())
            .filter(|a| a.is_ipv6() == ipv6)
            .take(MAX_SAVED_NODES)
            .collect()
    };
    let v4 = v4.map_or_else(|| kept(false), <[SocketAddr]>::to_vec);
    let v6 = v6.map_or_else(|| kept(true), <[SocketAddr]>::to_vec);
    v4.iter()
        .filter(|a| a.is_ipv4())
        .take(MAX_SAVED_NODES)
        .chain(v6.iter().filter(|a| a.is_ipv6()).take(MAX_SAVED_NODES))
        .map(|a| format!("{a}\n"))
        .collect()
}

/// Writes the routing tables to `path` atomically (see [`merge_state`]); how many of our
/// nodes it holds. Nothing given: the file is left as it is.
async fn write_state(
    path: PathBuf,
    v4: Option<Vec<SocketAddr>>,
    v6: Option<Vec<SocketAddr>>,
) -> std::io::Result<usize> {
    let ours = |n: &Option<Vec<SocketAddr>>| n.as_ref().map_or(0, |n| n.len().min(MAX_SAVED_NODES));
    let n = ours(&v4) + ours(&v6);
    if n == 0 {
        return Ok(0);
    }
    tokio::task::spawn_blocking(move || {
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let text = merge_state(&old, v4.as_deref(), v6.as_deref());
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

/// A UDP socket on `addr`, non-blocking; an IPv6 one is IPv6-only, so that the IPv4 node
/// can have the same port number.
fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

impl DhtNode {
    /// Starts a node on `bind`:`port` (UDP) on the current tokio runtime, of `bind`'s
    /// family (`::` runs an IPv6 node on every IPv6 address), bootstrapping from those of
    /// its family among `cfg.bootstrap`, the saved routing table and `extra` (a torrent's
    /// `nodes`) and, when none of these gives a node, the public routers if allowed.
    pub fn start(
        cfg: &DhtConfig,
        bind: IpAddr,
        port: u16,
        extra: &[String],
    ) -> Result<DhtNode, DhtError> {
        DhtNode::start_with_id(cfg, bind, port, extra, NodeId(rand::random()))
    }

    /// [`DhtNode::start`] with node id `id`.
    fn start_with_id(
        cfg: &DhtConfig,
        bind: IpAddr,
        port: u16,
        extra: &[String],
        id: NodeId,
    ) -> Result<DhtNode, DhtError> {
        let want = SocketAddr::new(bind, port);
        let ipv6 = want.is_ipv6();
        let std_socket = bind_udp(want).map_err(|source| DhtError::Bind { addr: want, source })?;
        let socket = UdpSocket::from_std(std_socket)
            .map_err(|source| DhtError::Bind { addr: want, source })?;
        let addr = socket.local_addr().unwrap_or(want);
        let mut boot: Vec<String> = cfg.bootstrap.clone();
        if let Some(f) = &cfg.state_file {
            // Each node its own family's lines: the other family's could not be reached.
            boot.extend(
                read_state(f)
                    .into_iter()
                    .filter(|l| l.parse::<SocketAddr>().is_ok_and(|a| a.is_ipv6() == ipv6)),
            );
        }
        boot.extend(extra.iter().cloned());
        boot.sort();
        boot.dedup();
        let routers = cfg.public_routers;
        let now = Instant::now();
        let node = Node::new(
            id,
            Config {
                seed: rand::random(),
                ipv6,
                ..Config::default()
            },
            now,
        );
        let (tx, rx) = mpsc::channel(64);
        tracing::info!(
            "DHT node on UDP {addr}, bootstrapping from {} names{}",
            boot.len(),
            if routers {
                " or the public routers"
            } else {
                ""
            }
        );
        tokio::spawn(drive(socket, node, rx, boot, routers));
        Ok(DhtNode {
            tx,
            addr,
            state_file: cfg.state_file.clone(),
        })
    }

    /// The UDP address the node is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the node runs on the IPv6 DHT (else the IPv4 one).
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }

    /// The contacts of its routing table, most recently seen first.
    pub async fn routing_table(&self) -> Vec<SocketAddr> {
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
    /// into its table if it answers. An address of the other family is ignored.
    pub fn heard_of(&self, node: SocketAddr) {
        if node.port() != 0 && node.is_ipv6() == self.is_ipv6() {
            let _ = self.tx.try_send(Cmd::Ping(node));
        }
    }

    /// Writes the routing table to the state file, atomically, keeping the other family's
    /// lines there; how many nodes it holds.
    pub async fn save(&self) -> std::io::Result<usize> {
        let Some(path) = self.state_file.clone() else {
            return Ok(0);
        };
        let nodes = self.routing_table().await;
        let (v4, v6) = if self.is_ipv6() {
            (None, Some(nodes))
        } else {
            (Some(nodes), None)
        };
        write_state(path, v4, v6).await
    }
}

/// A session's DHT nodes: an IPv4 one, an IPv6 one, or both (on the same port number).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct DhtNodes {
    v4: Option<DhtNode>,
    v6: Option<DhtNode>,
}

impl DhtNodes {
    /// Starts the nodes for a session bound to `bind`: an IPv4 address gets an IPv4 node,
    /// an IPv6 one an IPv6 node, an unspecified one (`0.0.0.0` or `::`) an IPv4 node on all
    /// IPv4 addresses and, if the machine has IPv6, an IPv6 node on `[::]` with the same
    /// port number and the same node id (without IPv6 that is only logged at debug
    /// level). See [`DhtNode::start`] for `port` and `extra`.
    pub fn start(
        cfg: &DhtConfig,
        bind: IpAddr,
        port: u16,
        extra: &[String],
    ) -> Result<DhtNodes, DhtError> {
        if !bind.is_unspecified() {
            return Ok(DhtNodes::from_nodes([DhtNode::start(
                cfg, bind, port, extra,
            )?]));
        }
        // One id in both DHTs, as BEP 32 recommends.
        let id = NodeId(rand::random());
        let v4 = DhtNode::start_with_id(cfg, IpAddr::V4(Ipv4Addr::UNSPECIFIED), port, extra, id)?;
        let v6 = match DhtNode::start_with_id(
            cfg,
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            v4.local_addr().port(),
            extra,
            id,
        ) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::debug!("no IPv6 DHT node, the IPv4 one runs alone: {e}");
                None
            }
        };
        Ok(DhtNodes { v4: Some(v4), v6 })
    }

    /// The first node of each family among `nodes` (later ones of a family are left out).
    pub fn from_nodes(nodes: impl IntoIterator<Item = DhtNode>) -> DhtNodes {
        let mut out = DhtNodes { v4: None, v6: None };
        for n in nodes {
            let slot = if n.is_ipv6() {
                &mut out.v6
            } else {
                &mut out.v4
            };
            if slot.is_none() {
                *slot = Some(n);
            }
        }
        out
    }

    /// The IPv4 node, if it runs.
    pub fn v4(&self) -> Option<&DhtNode> {
        self.v4.as_ref()
    }

    /// The IPv6 node, if it runs.
    pub fn v6(&self) -> Option<&DhtNode> {
        self.v6.as_ref()
    }

    /// The nodes that run, IPv4's first.
    pub fn iter(&self) -> impl Iterator<Item = &DhtNode> {
        self.v4.iter().chain(self.v6.iter())
    }

    /// The UDP port of the nodes (the one a PORT message gives).
    pub fn port(&self) -> u16 {
        self.iter().next().map_or(0, |n| n.local_addr().port())
    }

    /// Peers of `info_hash` from one lookup on each node at once (see
    /// [`DhtNode::lookup`]), of both families.
    pub async fn lookup(&self, info_hash: InfoHash, announce: Option<u16>) -> Vec<SocketAddr> {
        let (mut a, b) = tokio::join!(
            lookup_on(self.v4(), info_hash, announce),
            lookup_on(self.v6(), info_hash, announce)
        );
        a.extend(b);
        a.sort();
        a.dedup();
        a
    }

    /// A peer's PORT message: handed to the node of the address's family (an IPv4-mapped
    /// one, a peer that reached a dual-stack listener over IPv4, to the IPv4 node).
    pub fn heard_of(&self, node: SocketAddr) {
        let node = SocketAddr::new(node.ip().to_canonical(), node.port());
        let to = if node.is_ipv6() { &self.v6 } else { &self.v4 };
        if let Some(n) = to {
            n.heard_of(node);
        }
    }

    /// Writes both routing tables to the state file at once, atomically; how many nodes
    /// it holds. A family whose node does not run keeps its saved lines.
    pub async fn save(&self) -> std::io::Result<usize> {
        let Some(path) = self.iter().find_map(|n| n.state_file.clone()) else {
            return Ok(0);
        };
        let v4 = match &self.v4 {
            Some(n) => Some(n.routing_table().await),
            None => None,
        };
        let v6 = match &self.v6 {
            Some(n) => Some(n.routing_table().await),
            None => None,
        };
        write_state(path, v4, v6).await
    }
}

/// [`DhtNode::lookup`] on `node` if there is one.
async fn lookup_on(
    node: Option<&DhtNode>,
    info_hash: InfoHash,
    announce: Option<u16>,
) -> Vec<SocketAddr> {
    match node {
        Some(n) => n.lookup(info_hash, announce).await,
        None => Vec::new(),
    }
}

/// Addresses of `names` (`HOST:PORT`) of one family, each name resolved within a few
/// seconds.
async fn resolve(names: &[String], ipv6: bool) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for n in names {
        match tokio::time::timeout(RESOLVE_TIME, tokio::net::lookup_host(n.as_str())).await {
            Ok(Ok(addrs)) => out.extend(addrs.filter(|a| a.is_ipv6() == ipv6)),
            Ok(Err(e)) => tracing::debug!("DHT bootstrap {n}: {e}"),
            Err(_) => tracing::debug!("DHT bootstrap {n}: not resolved in time"),
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The node's task: the socket, the timers and the handles' commands. Ends when every
/// handle is gone. The public routers (with `routers`) stand in when no name of `boot`
/// gives an address of the node's family: an IPv6 node whose names are all IPv4 ones
/// would otherwise never join.
async fn drive(
    socket: UdpSocket,
    mut node: Node,
    mut rx: mpsc::Receiver<Cmd>,
    boot: Vec<String>,
    routers: bool,
) {
    let mut boot = resolve(&boot, node.is_ipv6()).await;
    if boot.is_empty() && routers {
        let names: Vec<String> = PUBLIC_ROUTERS.iter().map(|s| s.to_string()).collect();
        boot = resolve(&names, node.is_ipv6()).await;
    }
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
                        found.extend(peers);
                    }
                }
                Event::LookupDone { lookup, announced } => {
                    if let Some((reply, found)) = waiting.remove(&lookup) {
                        tracing::debug!(
                            ipv6 = node.is_ipv6(),
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
                Ok((n, from)) => {
                    let data = buf.get(..n).unwrap_or_default();
                    if let Err(e) = node.handle(from, data, Instant::now()) {
                        tracing::trace!(%from, "DHT: dropped a datagram: {e}");
                    }
                }
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

/// Looks up `info_hash`'s peers on `node` and announces `port` for it (when given) until
/// the torrent's task is gone: soon and often at first, every few minutes once peers were
/// found.
pub(crate) async fn torrent_loop(
    node: DhtNode,
    info_hash: InfoHash,
    port: Option<u16>,
    to_torrent: mpsc::Sender<Msg>,
) {
    let mut backoff = FIRST_RETRY;
    // Ends when the torrent's channel closes (it was removed or the session stopped).
    while !to_torrent.is_closed() {
        let peers = node.lookup(info_hash, port).await;
        let found = !peers.is_empty();
        if found {
            tracing::debug!(
                ipv6 = node.is_ipv6(),
                "DHT: {} peers for {}",
                peers.len(),
                info_hash.to_hex()
            );
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

/// A torrent's `nodes` entry as a name to resolve: `HOST:PORT`, an IPv6 literal in brackets
/// (`[::1]:6881`, as it must be to parse).
pub(crate) fn host_port(host: &str, port: u16) -> String {
    if host.parse::<Ipv6Addr>().is_ok() {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Whether a node (of IPv6 or not) should announce our TCP port: only when the session's
/// listener takes connections of its family. A listener on `0.0.0.0` takes no IPv6 ones,
/// so the IPv6 node then only looks peers up (we dial them); one on `::` takes both.
pub(crate) fn announces(listen: SocketAddr, node_ipv6: bool) -> bool {
    match listen {
        SocketAddr::V4(_) => !node_ipv6,
        SocketAddr::V6(a) => node_ipv6 || a.ip().is_unspecified(),
    }
}

/// The loopback address of `listen`'s family when it listens on all addresses: an
/// address of ours a DHT answer may give back.
pub(crate) fn loopback_of(listen: SocketAddr) -> Option<SocketAddr> {
    match listen {
        SocketAddr::V6(a) if a.ip().is_unspecified() => Some(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::LOCALHOST,
            a.port(),
            0,
            0,
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_state_file_keeps_the_family_not_saved() {
        let old = "10.0.0.1:1\n[2001:db8::1]:2\ngarbage\n10.0.0.2:3\n";
        let v4 = [a("10.0.0.9:9")];
        assert_eq!(
            merge_state(old, Some(&v4), None),
            "10.0.0.9:9\n[2001:db8::1]:2\n"
        );
        let v6 = [a("[::1]:7"), a("[2001:db8::2]:8")];
        assert_eq!(
            merge_state(old, None, Some(&v6)),
            "10.0.0.1:1\n10.0.0.2:3\n[::1]:7\n[2001:db8::2]:8\n"
        );
        // An empty table does not erase the saved one.
        assert_eq!(
            merge_state(old, Some(&[]), Some(&v6)),
            "10.0.0.1:1\n10.0.0.2:3\n[::1]:7\n[2001:db8::2]:8\n"
        );
        // At most MAX_SAVED_NODES of each family.
        let many: Vec<SocketAddr> = (1..=300u16)
            .map(|p| SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), p))
            .collect();
        let text = merge_state("", Some(&v4), Some(&many));
        assert_eq!(text.lines().count(), 1 + MAX_SAVED_NODES);
    }

    #[test]
    fn each_family_reads_its_own_lines_of_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dht.nodes");
        let mut text = String::from("10.0.0.1:1\n[::1]:2\nnot an address\n");
        for p in 1..=250 {
            text.push_str(&format!("[2001:db8::{p:x}]:{p}\n"));
        }
        std::fs::write(&path, text).unwrap();
        let lines = read_state(&path);
        assert_eq!(lines.first().map(String::as_str), Some("10.0.0.1:1"));
        let v6 = lines.iter().filter(|l| l.starts_with('[')).count();
        assert_eq!(v6, MAX_SAVED_NODES);
        assert_eq!(lines.len(), 1 + MAX_SAVED_NODES);
    }

    #[test]
    fn a_torrents_ipv6_node_is_bracketed() {
        assert_eq!(host_port("::1", 6881), "[::1]:6881");
        assert_eq!(host_port("[::1]", 6881), "[::1]:6881");
        assert_eq!(host_port("10.0.0.1", 1), "10.0.0.1:1");
        assert_eq!(host_port("router.example", 2), "router.example:2");
        assert!(host_port("2001:db8::7", 3).parse::<SocketAddr>().is_ok());
    }

    #[test]
    fn only_a_listener_of_the_family_gets_an_announce() {
        assert!(announces(a("0.0.0.0:1"), false));
        assert!(!announces(a("0.0.0.0:1"), true));
        assert!(announces(a("[::]:1"), false));
        assert!(announces(a("[::]:1"), true));
        assert!(announces(a("[::1]:1"), true));
        assert!(!announces(a("[::1]:1"), false));
        assert!(announces(a("127.0.0.1:1"), false));
    }

    #[tokio::test]
    async fn a_session_address_gives_the_nodes_of_its_families() {
        let cfg = DhtConfig::default();
        let v4 = DhtNodes::start(&cfg, IpAddr::V4(Ipv4Addr::LOCALHOST), 0, &[]).unwrap();
        assert!(v4.v4().is_some() && v4.v6().is_none());
        if !has_ipv6_loopback() {
            return;
        }
        let v6 = DhtNodes::start(&cfg, IpAddr::V6(Ipv6Addr::LOCALHOST), 0, &[]).unwrap();
        assert!(v6.v4().is_none());
        assert_eq!(
            v6.v6().map(|n| n.local_addr().ip()),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        // All addresses: both, on one port number.
        let both = DhtNodes::start(&cfg, IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0, &[]).unwrap();
        let (Some(x), Some(y)) = (both.v4(), both.v6()) else {
            panic!("{both:?}")
        };
        assert!(!x.is_ipv6() && y.is_ipv6());
        assert_eq!(x.local_addr().port(), y.local_addr().port());
        assert_eq!(both.port(), x.local_addr().port());
        // The IPv6 port number taken: the IPv4 node runs alone.
        let taken = bind_udp(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0)).unwrap();
        let port = taken.local_addr().unwrap().port();
        let alone = DhtNodes::start(&cfg, IpAddr::V4(Ipv4Addr::UNSPECIFIED), port, &[]).unwrap();
        assert!(alone.v6().is_none(), "{alone:?}");
        assert_eq!(alone.v4().map(|n| n.local_addr().port()), Some(port));
    }

    /// Whether `::1` can be bound here (a machine or container may have no IPv6): the
    /// test skips loudly without it, and fails under `BF_REQUIRE_TOOLS=1`.
    fn has_ipv6_loopback() -> bool {
        let ok = std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok();
        if !ok {
            assert!(!bf_testkit::tools_required(), "no IPv6 loopback (::1) here");
            eprintln!("\n*** SKIPPED: no IPv6 loopback (::1) on this machine ***\n");
        }
        ok
    }
}
