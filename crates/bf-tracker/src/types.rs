//! Protocol-neutral announce and scrape types shared by the HTTP and UDP codecs.

use std::net::{IpAddr, SocketAddr};

use bf_metainfo::{InfoHash, PeerId};

/// What a peer tells the tracker about its state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Event {
    /// A regular re-announce.
    #[default]
    None,
    /// The first announce of a download.
    Started,
    /// The download has just finished.
    Completed,
    /// The peer is leaving the swarm.
    Stopped,
}

impl Event {
    /// The word used in the HTTP query (`None` has none).
    pub fn as_http(self) -> Option<&'static str> {
        match self {
            Event::None => None,
            Event::Started => Some("started"),
            Event::Completed => Some("completed"),
            Event::Stopped => Some("stopped"),
        }
    }

    /// The BEP 15 event number.
    pub fn to_udp(self) -> u32 {
        match self {
            Event::None => 0,
            Event::Completed => 1,
            Event::Started => 2,
            Event::Stopped => 3,
        }
    }

    /// From a BEP 15 event number.
    pub fn from_udp(n: u32) -> Option<Self> {
        Some(match n {
            0 => Event::None,
            1 => Event::Completed,
            2 => Event::Started,
            3 => Event::Stopped,
            _ => return None,
        })
    }
}

/// One announce, as sent by a client over HTTP or UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// The port it listens on (never 0 once parsed).
    pub port: u16,
    /// Bytes uploaded so far.
    pub uploaded: u64,
    /// Bytes downloaded so far.
    pub downloaded: u64,
    /// Bytes still missing; 0 means the peer is a seed.
    pub left: u64,
    /// State change, if any.
    pub event: Event,
    /// How many peers it wants; `None` lets the tracker choose.
    pub numwant: Option<u32>,
    /// Whether it accepts the compact peer list (BEP 23).
    pub compact: bool,
    /// Whether peer ids may be left out of a dictionary peer list.
    pub no_peer_id: bool,
    /// The client's session key (helps a tracker recognise a peer whose address changed).
    pub key: Option<u32>,
    /// An address the peer claims for itself (honoured only from loopback).
    pub ip: Option<IpAddr>,
}

impl AnnounceRequest {
    /// A `started` announce with `left` bytes missing (0: a seed), everything else zero or
    /// default.
    ///
    /// `left` has no default because a wrong one is silently harmful: a leecher announced
    /// as `left = 0` is counted as a seed and gets no seeds from the tracker.
    pub fn new(info_hash: InfoHash, peer_id: PeerId, port: u16, left: u64) -> Self {
        AnnounceRequest {
            info_hash,
            peer_id,
            port,
            uploaded: 0,
            downloaded: 0,
            left,
            event: Event::Started,
            numwant: None,
            compact: true,
            no_peer_id: true,
            key: None,
            ip: None,
        }
    }
}

/// A peer as listed in an announce response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Its id, when the tracker sent one (dictionary form only).
    pub peer_id: Option<PeerId>,
}

impl From<SocketAddr> for PeerAddr {
    /// A peer known by its address only (compact responses carry no ids).
    fn from(addr: SocketAddr) -> Self {
        PeerAddr {
            addr,
            peer_id: None,
        }
    }
}

/// Decodes compact peers (BEP 23 / BEP 7): 6 bytes each (IPv4 + port) or, with `v6`, 18
/// (IPv6 + port), all big-endian. `None` when the length is not a multiple of the entry size.
pub(crate) fn decode_compact_peers(b: &[u8], v6: bool) -> Option<Vec<SocketAddr>> {
    let n = if v6 { 18 } else { 6 };
    if b.len() % n != 0 {
        return None;
    }
    Some(
        b.chunks_exact(n)
            .map(|c| {
                let (ip, port) = c.split_at(n - 2);
                let ip = match <[u8; 16]>::try_from(ip) {
                    Ok(v6) => IpAddr::from(v6),
                    Err(_) => IpAddr::from([ip[0], ip[1], ip[2], ip[3]]),
                };
                SocketAddr::new(ip, u16::from_be_bytes([port[0], port[1]]))
            })
            .collect(),
    )
}

/// The tracker's answer to an announce.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnnounceResponse {
    /// Seconds to wait before the next regular announce.
    pub interval: u32,
    /// Seconds the client must wait at least, if the tracker says so.
    pub min_interval: Option<u32>,
    /// Seeders in the swarm.
    pub complete: u32,
    /// Leechers in the swarm.
    pub incomplete: u32,
    /// Peers to contact (IPv4 and IPv6 together).
    pub peers: Vec<PeerAddr>,
    /// A non-fatal message from the tracker.
    pub warning: Option<String>,
}

/// Counters of one torrent as scrape reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    /// Seeders.
    pub complete: u32,
    /// Completed downloads ever seen.
    pub downloaded: u32,
    /// Leechers.
    pub incomplete: u32,
}

/// A scrape: which torrents to report (empty means all, where the tracker allows it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeRequest {
    /// The torrents asked about.
    pub info_hashes: Vec<InfoHash>,
}

/// The tracker's answer to a scrape.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// One entry per torrent the tracker reported.
    pub files: Vec<(InfoHash, ScrapeStats)>,
}

impl ScrapeResponse {
    /// The stats of one torrent, if reported.
    pub fn get(&self, h: &InfoHash) -> Option<ScrapeStats> {
        self.files.iter().find(|(k, _)| k == h).map(|(_, s)| *s)
    }
}
