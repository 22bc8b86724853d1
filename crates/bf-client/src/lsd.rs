//! Local service discovery (BEP 14): peers on the same network find each other by multicast
//! announces, with no tracker and no DHT. [`Announce`] is the sans-IO message (an HTTP-like
//! `BT-SEARCH` datagram); [`Lsd`] gives it a socket, announces the session's public torrents
//! and hands the peers it hears of to their torrents.
//!
//! Only announces from loopback, private and link-local source addresses are taken (a
//! datagram from elsewhere did not come from the local network), at most
//! [`RECEIVE_PER_SECOND`] of them a second, and one peer is handed to a torrent at most once
//! a minute. Our own announces, looped back by the kernel, are recognised by their cookie.
//! IPv4 only (BEP 14's IPv6 group is not joined).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use bf_metainfo::InfoHash;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::torrent::{Command, Msg};

/// BEP 14's IPv4 multicast group and port.
pub const GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771);
/// Largest datagram sent or read: within one Ethernet frame.
pub const MAX_DATAGRAM: usize = 1400;
/// Most info-hashes read from one announce.
pub const MAX_HASHES: usize = 32;
/// Announces read per second at most; the rest are dropped unread.
pub const RECEIVE_PER_SECOND: u32 = 50;
/// How often every torrent is announced again.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(5 * 60);
/// A torrent is never announced more often than this (BEP 14: at most once a minute).
const MIN_GAP: Duration = Duration::from_secs(60);
/// A peer heard of again within this time is not handed to its torrent again.
const PEER_MEMORY: Duration = Duration::from_secs(60);
/// Most (torrent, peer) pairs remembered for [`PEER_MEMORY`].
const MAX_REMEMBERED: usize = 4096;
const REQUEST_LINE: &str = "BT-SEARCH * HTTP/1.1";

/// Where local service discovery multicasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LsdConfig {
    /// The multicast group and port ([`GROUP`]).
    pub group: SocketAddrV4,
    /// The interface (by its address) to send on and join the group on; unspecified: the
    /// system's default.
    pub interface: Ipv4Addr,
}

impl Default for LsdConfig {
    fn default() -> Self {
        LsdConfig {
            group: GROUP,
            interface: Ipv4Addr::UNSPECIFIED,
        }
    }
}

/// An announce that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Longer than [`MAX_DATAGRAM`].
    #[error("announce of {0} bytes (at most {MAX_DATAGRAM})")]
    TooLong(usize),
    /// The first line is not `BT-SEARCH * HTTP/1.1`.
    #[error("not a BT-SEARCH announce")]
    NotSearch,
    /// A header line without a colon, or not text.
    #[error("malformed header line")]
    BadHeader,
    /// No `Port` header, or not a port.
    #[error("missing or bad Port header")]
    BadPort,
    /// An `Infohash` header that is not 40 hex digits.
    #[error("bad Infohash header")]
    BadHash,
    /// No `Infohash` header.
    #[error("no Infohash header")]
    NoHash,
}

/// One BEP 14 announce: we have these torrents and take peers on this TCP port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// TCP port peers connect to.
    pub port: u16,
    /// The torrents (at most [`MAX_HASHES`]).
    pub info_hashes: Vec<InfoHash>,
    /// The sender's token, to recognise its own announces looped back.
    pub cookie: Option<String>,
}

impl Announce {
    /// The datagram, addressed to `host` (the group).
    pub fn encode(&self, host: SocketAddrV4) -> Vec<u8> {
        let mut s = format!("{REQUEST_LINE}\r\nHost: {host}\r\nPort: {}\r\n", self.port);
        for h in &self.info_hashes {
            s.push_str("Infohash: ");
            s.push_str(&h.to_hex());
            s.push_str("\r\n");
        }
        if let Some(c) = &self.cookie {
            s.push_str("cookie: ");
            s.push_str(c);
            s.push_str("\r\n");
        }
        // BEP 14 ends the message with two empty lines.
        s.push_str("\r\n\r\n");
        s.into_bytes()
    }

    /// Reads one datagram. Header names are case-insensitive, unknown headers are skipped,
    /// info-hashes past [`MAX_HASHES`] are ignored.
    pub fn parse(datagram: &[u8]) -> Result<Announce, ParseError> {
        if datagram.len() > MAX_DATAGRAM {
            return Err(ParseError::TooLong(datagram.len()));
        }
        let text = std::str::from_utf8(datagram).map_err(|_| ParseError::BadHeader)?;
        let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        if lines.next().map(str::trim_end) != Some(REQUEST_LINE) {
            return Err(ParseError::NotSearch);
        }
        let (mut port, mut info_hashes, mut cookie) = (None, Vec::new(), None);
        for line in lines {
            if line.is_empty() {
                // The end of the headers.
                break;
            }
            let (name, value) = line.split_once(':').ok_or(ParseError::BadHeader)?;
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "port" => {
                    port = Some(
                        value
                            .parse::<u16>()
                            .ok()
                            .filter(|&p| p != 0)
                            .ok_or(ParseError::BadPort)?,
                    );
                }
                "infohash" => {
                    let h = InfoHash::from_hex(value).map_err(|_| ParseError::BadHash)?;
                    if info_hashes.len() < MAX_HASHES && !info_hashes.contains(&h) {
                        info_hashes.push(h);
                    }
                }
                "cookie" => cookie = Some(value.to_string()),
                _ => {}
            }
        }
        let port = port.ok_or(ParseError::BadPort)?;
        if info_hashes.is_empty() {
            return Err(ParseError::NoHash);
        }
        Ok(Announce {
            port,
            info_hashes,
            cookie,
        })
    }
}

/// Datagrams for `hashes`, each under [`MAX_DATAGRAM`].
fn announces(port: u16, hashes: &[InfoHash], cookie: &str, group: SocketAddrV4) -> Vec<Vec<u8>> {
    let one = |h: Vec<InfoHash>| {
        Announce {
            port,
            info_hashes: h,
            cookie: Some(cookie.to_string()),
        }
        .encode(group)
    };
    // About 52 bytes per hash after ~120 of request line, host, port and cookie.
    hashes.chunks(20).map(|c| one(c.to_vec())).collect()
}

/// Whether a datagram from `ip` can be from the local network.
fn local_source(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_private() || ip.is_link_local()
}

/// Why local service discovery could not start.
#[derive(Debug, thiserror::Error)]
pub enum LsdError {
    /// The socket could not be set up (bound, or joined to the group).
    #[error("local service discovery on {group} via {interface}: {source}")]
    Socket {
        /// The group.
        group: SocketAddrV4,
        /// The interface.
        interface: Ipv4Addr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

enum Cmd {
    Register(InfoHash, mpsc::Sender<Msg>),
}

/// Local service discovery for a session. Cheap to clone; stops when the last clone is
/// dropped.
#[derive(Clone)]
pub struct Lsd {
    tx: mpsc::Sender<Cmd>,
}

impl std::fmt::Debug for Lsd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lsd").finish_non_exhaustive()
    }
}

fn socket(cfg: &LsdConfig) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Every client on the machine binds the same port.
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, cfg.group.port())).into())?;
    s.join_multicast_v4(cfg.group.ip(), &cfg.interface)?;
    if !cfg.interface.is_unspecified() {
        s.set_multicast_if_v4(&cfg.interface)?;
    }
    // Other clients on this machine hear us too; our own copies are told by the cookie.
    s.set_multicast_loop_v4(true)?;
    s.set_multicast_ttl_v4(1)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

impl Lsd {
    /// Joins the group and starts announcing, on the current tokio runtime, for a session
    /// that takes peers on TCP `port`.
    pub fn start(cfg: &LsdConfig, port: u16) -> Result<Lsd, LsdError> {
        let sock = socket(cfg).map_err(|source| LsdError::Socket {
            group: cfg.group,
            interface: cfg.interface,
            source,
        })?;
        let (tx, rx) = mpsc::channel(64);
        let cookie = format!("bf{:08x}", rand::random::<u32>());
        tracing::info!(
            "local service discovery on {} via {}",
            cfg.group,
            cfg.interface
        );
        tokio::spawn(drive(sock, *cfg, port, cookie, rx));
        Ok(Lsd { tx })
    }

    /// Announces `info_hash` from now on and hands the peers heard of to `to_torrent`,
    /// until that channel closes.
    pub(crate) fn register(&self, info_hash: InfoHash, to_torrent: mpsc::Sender<Msg>) {
        let _ = self.tx.try_send(Cmd::Register(info_hash, to_torrent));
    }
}

struct Registered {
    tx: mpsc::Sender<Msg>,
    /// When it was last announced.
    announced: Option<Instant>,
}

/// Counts datagrams per second: the receive budget.
struct Budget {
    second: Instant,
    used: u32,
}

impl Budget {
    fn take(&mut self, now: Instant) -> bool {
        if now.duration_since(self.second) >= Duration::from_secs(1) {
            self.second = now;
            self.used = 0;
        }
        self.used += 1;
        self.used <= RECEIVE_PER_SECOND
    }
}

async fn drive(
    sock: UdpSocket,
    cfg: LsdConfig,
    port: u16,
    cookie: String,
    mut rx: mpsc::Receiver<Cmd>,
) {
    let mut torrents: HashMap<InfoHash, Registered> = HashMap::new();
    let mut heard: HashMap<(InfoHash, SocketAddr), Instant> = HashMap::new();
    let mut budget = Budget {
        second: Instant::now(),
        used: 0,
    };
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut next = tokio::time::Instant::now();
    // Ends when every handle is dropped (the session stopped).
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                None => return,
                Some(Cmd::Register(h, tx)) => {
                    torrents.insert(h, Registered { tx, announced: None });
                    next = tokio::time::Instant::now();
                }
            },
            r = sock.recv_from(&mut buf) => {
                let Ok((n, SocketAddr::V4(from))) = r else { continue };
                let now = Instant::now();
                if !local_source(*from.ip()) || !budget.take(now) {
                    continue;
                }
                match Announce::parse(&buf[..n]) {
                    Ok(a) if a.cookie.as_deref() == Some(cookie.as_str()) => {}
                    Ok(a) => hand_over(&a, *from.ip(), &mut torrents, &mut heard, now),
                    Err(e) => tracing::debug!(%from, "local discovery: dropped: {e}"),
                }
            }
            _ = tokio::time::sleep_until(next) => {
                torrents.retain(|_, t| !t.tx.is_closed());
                let now = Instant::now();
                let due: Vec<InfoHash> = torrents
                    .iter()
                    .filter(|(_, t)| t.announced.is_none_or(|a| now.duration_since(a) >= MIN_GAP))
                    .map(|(h, _)| *h)
                    .collect();
                for d in announces(port, &due, &cookie, cfg.group) {
                    if let Err(e) = sock.send_to(&d, SocketAddr::V4(cfg.group)).await {
                        tracing::debug!("local discovery: cannot announce: {e}");
                    }
                }
                for h in &due {
                    if let Some(t) = torrents.get_mut(h) {
                        t.announced = Some(now);
                    }
                }
                // The next round: when the soonest torrent is due again.
                let soonest = torrents
                    .values()
                    .filter_map(|t| t.announced)
                    .map(|a| a + ANNOUNCE_EVERY)
                    .min()
                    .unwrap_or(now + ANNOUNCE_EVERY);
                next = tokio::time::Instant::from_std(soonest.max(now + MIN_GAP));
            }
        }
    }
}

/// Gives the announcer to each of our torrents it names, unless it was given lately.
fn hand_over(
    a: &Announce,
    ip: Ipv4Addr,
    torrents: &mut HashMap<InfoHash, Registered>,
    heard: &mut HashMap<(InfoHash, SocketAddr), Instant>,
    now: Instant,
) {
    let peer = SocketAddr::new(IpAddr::V4(ip), a.port);
    heard.retain(|_, at| now.duration_since(*at) < PEER_MEMORY);
    for h in &a.info_hashes {
        let Some(t) = torrents.get(h) else { continue };
        if heard.contains_key(&(*h, peer)) || heard.len() >= MAX_REMEMBERED {
            continue;
        }
        heard.insert((*h, peer), now);
        tracing::debug!(%peer, "local discovery: a peer of {}", h.to_hex());
        let _ = t.tx.try_send(Msg::Command(Command::AddPeers(vec![peer])));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(b: u8) -> InfoHash {
        InfoHash([b; 20])
    }

    #[test]
    fn an_announce_round_trips_and_fits_a_datagram() {
        let hashes: Vec<InfoHash> = (0..45).map(hash).collect();
        let grams = announces(6881, &hashes, "bf0000abcd", GROUP);
        assert_eq!(grams.len(), 3);
        let mut back = Vec::new();
        for g in &grams {
            assert!(g.len() <= MAX_DATAGRAM, "{}", g.len());
            let a = Announce::parse(g).unwrap();
            assert_eq!(a.port, 6881);
            assert_eq!(a.cookie.as_deref(), Some("bf0000abcd"));
            back.extend(a.info_hashes);
        }
        assert_eq!(back, hashes);
    }

    #[test]
    fn other_clients_spelling_is_read() {
        // Lower-case header names, upper-case hex, bare newlines, an unknown header.
        let text = format!(
            "BT-SEARCH * HTTP/1.1\nhost: 239.192.152.143:6771\nport: 51413\nX-Other: 1\n\
             infohash: {}\n\n\n",
            "AB".repeat(20)
        );
        let a = Announce::parse(text.as_bytes()).unwrap();
        assert_eq!(a.port, 51413);
        assert_eq!(a.info_hashes, vec![InfoHash([0xab; 20])]);
        assert_eq!(a.cookie, None);
    }

    #[test]
    fn malformed_announces_are_errors() {
        let h = "0".repeat(40);
        let cases: Vec<(Vec<u8>, ParseError)> = vec![
            (b"GET / HTTP/1.1\r\n\r\n".to_vec(), ParseError::NotSearch),
            (Vec::new(), ParseError::NotSearch),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nInfohash: {h}\r\n\r\n").into_bytes(),
                ParseError::BadPort,
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: {h}\r\n\r\n").into_bytes(),
                ParseError::BadPort,
            ),
            (
                format!("BT-SEARCH * HTTP/1.1\r\nPort: 70000\r\nInfohash: {h}\r\n\r\n")
                    .into_bytes(),
                ParseError::BadPort,
            ),
            (
                b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: xyz\r\n\r\n".to_vec(),
                ParseError::BadHash,
            ),
            (
                b"BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n".to_vec(),
                ParseError::NoHash,
            ),
            (
                b"BT-SEARCH * HTTP/1.1\r\nno colon here\r\n\r\n".to_vec(),
                ParseError::BadHeader,
            ),
            (
                b"BT-SEARCH * HTTP/1.1\r\nPort: \xff\xfe\r\n".to_vec(),
                ParseError::BadHeader,
            ),
            (
                vec![b'a'; MAX_DATAGRAM + 1],
                ParseError::TooLong(MAX_DATAGRAM + 1),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                Announce::parse(&bytes),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
    }

    #[test]
    fn only_local_sources_count() {
        assert!(local_source(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(local_source(Ipv4Addr::new(192, 168, 1, 9)));
        assert!(local_source(Ipv4Addr::new(10, 1, 2, 3)));
        assert!(local_source(Ipv4Addr::new(169, 254, 0, 1)));
        assert!(!local_source(Ipv4Addr::new(8, 8, 8, 8)));
    }

    #[test]
    fn a_peer_is_handed_over_once_a_minute_and_only_to_its_torrent() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut torrents = HashMap::from([(
            hash(1),
            Registered {
                tx,
                announced: None,
            },
        )]);
        let mut heard = HashMap::new();
        let a = Announce {
            port: 7000,
            info_hashes: vec![hash(1), hash(2)],
            cookie: None,
        };
        let t0 = Instant::now();
        let ip = Ipv4Addr::new(192, 168, 0, 7);
        hand_over(&a, ip, &mut torrents, &mut heard, t0);
        hand_over(
            &a,
            ip,
            &mut torrents,
            &mut heard,
            t0 + Duration::from_secs(5),
        );
        hand_over(&a, ip, &mut torrents, &mut heard, t0 + PEER_MEMORY);
        let mut got = 0;
        while let Ok(Msg::Command(Command::AddPeers(p))) = rx.try_recv() {
            assert_eq!(p, vec![SocketAddr::from(([192, 168, 0, 7], 7000))]);
            got += 1;
        }
        assert_eq!(got, 2);
    }

    #[test]
    fn the_receive_budget_holds_per_second() {
        let t0 = Instant::now();
        let mut b = Budget {
            second: t0,
            used: 0,
        };
        let taken = (0..200).filter(|_| b.take(t0)).count();
        assert_eq!(taken, RECEIVE_PER_SECOND as usize);
        assert!(b.take(t0 + Duration::from_secs(1)));
    }
}
