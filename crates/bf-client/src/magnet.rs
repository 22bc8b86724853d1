//! Magnet links (BEP 9): the info dictionary is fetched from peers found through `x.pe`,
//! the link's trackers (`tr`) and the DHT, checked against the info-hash, and becomes a
//! torrent. [`MetadataAssembly`] is the sans-IO part; [`fetch`] dials peers one after
//! another and asks each for every piece until one gives a dictionary that matches.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, Magnet, Metainfo, PeerId};
use bf_tracker::{AnnounceRequest, Event as AnnounceEvent, TrackerClient};
use bf_wire::{Connection, ConnectionConfig, Event, ExtendedHandshake};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::dht::DhtNodes;
use crate::peer_io;

/// Largest info dictionary fetched (BEP 9 leaves it to the client; 16 MiB covers torrents
/// of hundreds of thousands of files).
pub const MAX_METADATA: u32 = 16 << 20;
/// Bytes per metadata piece (BEP 9).
pub const METADATA_PIECE: u32 = 16 * 1024;
/// Time one peer gets to hand the whole dictionary over.
const PER_PEER: Duration = Duration::from_secs(20);
/// How long connecting and the handshakes may take.
const CONNECT: Duration = Duration::from_secs(5);
/// Most peers tried for one link.
const MAX_PEERS_TRIED: usize = 50;

/// Why a magnet link's metadata could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A peer said the dictionary is empty or larger than [`MAX_METADATA`].
    #[error("metadata of {0} bytes is refused (at most {MAX_METADATA})")]
    Size(u32),
    /// A piece did not fit what the peer said before.
    #[error("metadata piece {0} does not fit")]
    BadPiece(u32),
    /// The dictionary's SHA-1 is not the link's info-hash.
    #[error("the metadata's hash is not the link's info-hash")]
    HashMismatch,
    /// No peer gave it in time.
    #[error("no peer gave the metadata within {0:?} ({1} peers tried)")]
    NoPeer(Duration, usize),
    /// The metadata is not a valid torrent.
    #[error("the metadata is not a valid torrent: {0}")]
    Invalid(String),
}

/// The info dictionary of one torrent, assembled from 16 KiB pieces.
#[derive(Debug)]
pub struct MetadataAssembly {
    info_hash: InfoHash,
    size: u32,
    pieces: Vec<Option<Bytes>>,
}

impl MetadataAssembly {
    /// For a dictionary of `size` bytes (as the peer's extended handshake says).
    pub fn new(info_hash: InfoHash, size: u32) -> Result<Self, MetadataError> {
        if size == 0 || size > MAX_METADATA {
            return Err(MetadataError::Size(size));
        }
        let n = size.div_ceil(METADATA_PIECE) as usize;
        Ok(MetadataAssembly {
            info_hash,
            size,
            pieces: vec![None; n],
        })
    }

    /// Pieces not received yet.
    pub fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        self.pieces
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .map(|(i, _)| i as u32)
    }

    /// A piece arrived: its length must be 16 KiB, or the remainder for the last one, and
    /// the total the same as before.
    pub fn add(&mut self, piece: u32, total: u32, data: Bytes) -> Result<(), MetadataError> {
        let i = piece as usize;
        let last = self.pieces.len().saturating_sub(1);
        let want = if i == last {
            self.size - METADATA_PIECE * piece
        } else {
            METADATA_PIECE
        };
        if total != self.size || i >= self.pieces.len() || data.len() != want as usize {
            return Err(MetadataError::BadPiece(piece));
        }
        self.pieces[i] = Some(data);
        Ok(())
    }

    /// The dictionary once every piece is in and its hash is right.
    pub fn finish(&self) -> Option<Result<Vec<u8>, MetadataError>> {
        if self.pieces.iter().any(Option::is_none) {
            return None;
        }
        let mut all = Vec::with_capacity(self.size as usize);
        for p in self.pieces.iter().flatten() {
            all.extend_from_slice(p);
        }
        Some(if InfoHash::of(&all) == self.info_hash {
            Ok(all)
        } else {
            Err(MetadataError::HashMismatch)
        })
    }
}

/// A `.torrent` made of a fetched info dictionary and the link's trackers.
pub fn torrent_of(info: &[u8], magnet: &Magnet) -> Result<Metainfo, MetadataError> {
    let mut out = Vec::with_capacity(info.len() + 256);
    out.push(b'd');
    if let Some(first) = magnet.trackers.first() {
        out.extend_from_slice(format!("8:announce{}:{first}", first.len()).as_bytes());
        if magnet.trackers.len() > 1 {
            out.extend_from_slice(b"13:announce-listl");
            for t in &magnet.trackers {
                out.extend_from_slice(format!("l{}:{t}e", t.len()).as_bytes());
            }
            out.push(b'e');
        }
    }
    out.extend_from_slice(b"4:info");
    out.extend_from_slice(info);
    out.push(b'e');
    Metainfo::from_bytes(&out).map_err(|e| MetadataError::Invalid(e.to_string()))
}

/// What [`fetch`] may use to find peers.
pub(crate) struct Sources<'a> {
    pub peer_id: PeerId,
    pub port: u16,
    pub tracker: Option<&'a TrackerClient>,
    /// Both families' nodes: a lookup asks each.
    pub dht: Option<DhtNodes>,
    pub extra: Vec<SocketAddr>,
}

/// Finds peers of `magnet` and fetches its info dictionary from the first that gives one
/// matching the info-hash, within `limit`; with it, every peer it learned of (the torrent's
/// first peers).
pub(crate) async fn fetch(
    magnet: &Magnet,
    src: Sources<'_>,
    limit: Duration,
) -> Result<(Vec<u8>, Vec<SocketAddr>), MetadataError> {
    let deadline = Instant::now() + limit;
    let mut tried: HashSet<SocketAddr> = HashSet::new();
    let mut queue: Vec<SocketAddr> = src.extra.clone();
    for p in &magnet.peers {
        if let Ok(mut a) = tokio::net::lookup_host(p.as_str()).await {
            queue.extend(a.next());
        }
    }
    let mut asked_sources = false;
    // Bounded by the deadline and by MAX_PEERS_TRIED.
    while Instant::now() < deadline && tried.len() < MAX_PEERS_TRIED {
        if queue.is_empty() {
            if asked_sources {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            queue.extend(find_peers(magnet, &src).await);
            queue.retain(|a| !tried.contains(a));
            asked_sources = true;
            continue;
        }
        let addr = queue.remove(0);
        if !tried.insert(addr) {
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let budget = PER_PEER.min(left);
        match tokio::time::timeout(budget, from_peer(addr, magnet.info_hash, src.peer_id)).await {
            Ok(Ok(info)) => {
                let mut peers: Vec<SocketAddr> = tried.into_iter().chain(queue).collect();
                peers.sort();
                peers.dedup();
                return Ok((info, peers));
            }
            Ok(Err(FromPeer::Lied(e))) => {
                tracing::warn!(%addr, "metadata from this peer dropped: {e}");
            }
            Ok(Err(FromPeer::Failed(e))) => tracing::debug!(%addr, "metadata: {e}"),
            Err(_) => tracing::debug!(%addr, "metadata: no answer in time"),
        }
    }
    Err(MetadataError::NoPeer(limit, tried.len()))
}

/// Peers from the link's trackers and the DHT.
async fn find_peers(magnet: &Magnet, src: &Sources<'_>) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    if let Some(client) = src.tracker {
        let req = AnnounceRequest {
            info_hash: magnet.info_hash,
            peer_id: src.peer_id,
            port: src.port,
            uploaded: 0,
            downloaded: 0,
            // Unknown until the metadata is in: not zero, which would say we seed.
            left: u64::from(MAX_METADATA),
            event: AnnounceEvent::Started,
            numwant: Some(50),
            compact: true,
            no_peer_id: true,
            key: None,
            ip: None,
        };
        for url in &magnet.trackers {
            match client.announce(url, &req).await {
                Ok(r) => out.extend(r.peers.iter().map(|p| p.addr)),
                Err(e) => tracing::debug!(%url, "magnet announce: {e}"),
            }
        }
    }
    if let Some(d) = &src.dht {
        out.extend(d.lookup(magnet.info_hash, None).await);
    }
    out
}

/// Why one peer did not give the dictionary.
enum FromPeer {
    /// It gave something wrong: a size over the limit, a bad piece, a wrong hash.
    Lied(MetadataError),
    /// It could not or would not (connection, protocol, refusal).
    Failed(String),
}

impl From<String> for FromPeer {
    fn from(e: String) -> Self {
        FromPeer::Failed(e)
    }
}

impl From<&str> for FromPeer {
    fn from(e: &str) -> Self {
        FromPeer::Failed(e.to_string())
    }
}

/// Connects to `addr` and asks it for the whole dictionary.
async fn from_peer(
    addr: SocketAddr,
    info_hash: InfoHash,
    peer_id: PeerId,
) -> Result<Vec<u8>, FromPeer> {
    let cfg = ConnectionConfig::default();
    let ours = cfg.handshake(info_hash, peer_id);
    let (mut stream, theirs, mut inbuf) = peer_io::dial(addr, ours, CONNECT)
        .await
        .map_err(|e| e.to_string())?;
    let now = Instant::now();
    let mut conn = Connection::new(cfg, &theirs, None, now);
    if !conn.extension_protocol() {
        return Err("no extension protocol".into());
    }
    conn.send_extended_handshake(ExtendedHandshake::default())
        .map_err(|e| e.to_string())?;
    // We have nothing: say so before anything else (BEP 6 wants the piece set first).
    let _ = conn.send_have_none();
    let mut asm: Option<MetadataAssembly> = None;
    let mut out = BytesMut::new();
    let mut read = [0u8; 16 * 1024];
    // Bounded by the caller's timeout.
    loop {
        conn.receive(&mut inbuf, Instant::now())
            .map_err(|e| e.to_string())?;
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::ExtendedHandshake => {
                    let size = conn
                        .peer_extended_handshake()
                        .and_then(|h| h.metadata_size)
                        .ok_or("the peer has no metadata to give")?;
                    if asm.is_none() {
                        let a = MetadataAssembly::new(info_hash, size).map_err(FromPeer::Lied)?;
                        for p in a.missing() {
                            conn.request_metadata(p, Instant::now())
                                .map_err(|e| e.to_string())?;
                        }
                        asm = Some(a);
                    }
                }
                Event::MetadataData {
                    piece,
                    total_size,
                    data,
                } => {
                    let a = asm.as_mut().ok_or("metadata before its size")?;
                    a.add(piece, total_size, data).map_err(FromPeer::Lied)?;
                    if let Some(done) = a.finish() {
                        return done.map_err(FromPeer::Lied);
                    }
                }
                Event::MetadataRejected(p) => return Err(format!("piece {p} refused").into()),
                Event::MetadataTimedOut(p) => return Err(format!("piece {p} not answered").into()),
                _ => {}
            }
        }
        conn.handle_timeout(Instant::now());
        out.clear();
        conn.encode_pending(&mut out, Instant::now());
        if !out.is_empty() {
            stream.write_all(&out).await.map_err(|e| e.to_string())?;
        }
        let n = stream.read(&mut read).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed".into());
        }
        inbuf.extend_from_slice(&read[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assembly_takes_right_pieces_only_and_checks_the_hash() {
        let info: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let h = InfoHash::of(&info);
        assert!(MetadataAssembly::new(h, 0).is_err());
        assert!(MetadataAssembly::new(h, MAX_METADATA + 1).is_err());
        let mut a = MetadataAssembly::new(h, 40_000).unwrap();
        assert_eq!(a.missing().collect::<Vec<_>>(), vec![0, 1, 2]);
        let piece =
            |i: usize| Bytes::copy_from_slice(&info[i * 16384..((i + 1) * 16384).min(40_000)]);
        assert!(a.add(0, 39_999, piece(0)).is_err());
        assert!(a.add(3, 40_000, piece(2)).is_err());
        assert!(a.add(2, 40_000, piece(0)).is_err());
        for i in 0..3 {
            assert!(a.finish().is_none());
            a.add(i as u32, 40_000, piece(i)).unwrap();
        }
        assert_eq!(a.finish().unwrap().unwrap(), info);
        let mut wrong = MetadataAssembly::new(InfoHash([0; 20]), 40_000).unwrap();
        for i in 0..3 {
            wrong.add(i as u32, 40_000, piece(i)).unwrap();
        }
        assert!(matches!(
            wrong.finish(),
            Some(Err(MetadataError::HashMismatch))
        ));
    }
}
