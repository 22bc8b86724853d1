//! Misbehaving peers, for tests and the demo: real sockets, real protocol, bad manners.
//!
//! - [`StallingPeer`] says it has everything (and speaks the fountain extension), unchokes,
//!   takes requests, and never answers one, without ever closing the connection.
//! - [`PollutingPeer`] seeds for real, blocks and repair symbols, but flips a byte in every
//!   `n`-th unit it sends.
//!
//! - [`LyingMetadataPeer`] offers the info dictionary to magnet-link downloaders and gives a
//!   wrong one (a byte flipped), or says it is larger than anyone should take; it stalls
//!   like the first.
//!
//! All listen on loopback and serve any number of connections for one torrent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bf_fountain::{PieceEncoder, PlanCache};
use bf_metainfo::{Metainfo, PeerId};
use bf_wire::{
    Bitfield, Block, Connection, ConnectionConfig, Event, ExtendedHandshake, TorrentShape,
};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::peer_io::read_handshake;

/// How a test peer answers requests.
#[derive(Clone)]
enum Manner {
    Stall,
    Pollute { data: Bytes, every: u64 },
    Lie(MetadataLie),
}

/// How a [`LyingMetadataPeer`] lies about the info dictionary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataLie {
    /// The right size, one byte flipped: the hash does not match.
    WrongBytes,
    /// A size above [`crate::magnet::MAX_METADATA`], then the bytes of that claim.
    Oversized,
}

/// A listening misbehaving peer; stops when dropped.
struct Listening {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(meta: Arc<Metainfo>, manner: Manner) -> std::io::Result<Listening> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        // Bounded by the owner: aborted when the peer is dropped.
        while let Ok((stream, _)) = listener.accept().await {
            let (meta, manner) = (meta.clone(), manner.clone());
            tokio::spawn(async move {
                if let Err(e) = serve(stream, meta, manner).await {
                    tracing::debug!("test peer connection ended: {e}");
                }
            });
        }
    });
    Ok(Listening { addr, task })
}

/// A peer that takes every request and answers none, while keeping the connection open.
pub struct StallingPeer(Listening);

impl StallingPeer {
    /// Starts one on a loopback port for `meta`'s torrent.
    pub async fn start(meta: Arc<Metainfo>) -> std::io::Result<Self> {
        listen(meta, Manner::Stall).await.map(StallingPeer)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }
}

/// A seeder (blocks and repair symbols) that corrupts every `n`-th unit it sends.
pub struct PollutingPeer(Listening);

impl PollutingPeer {
    /// Starts one on a loopback port for `meta`'s torrent, whose whole content is `data`.
    pub async fn start(meta: Arc<Metainfo>, data: Bytes, every: u64) -> std::io::Result<Self> {
        let every = every.max(1);
        listen(meta, Manner::Pollute { data, every })
            .await
            .map(PollutingPeer)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }
}

/// A peer that answers metadata requests with a wrong info dictionary and stalls requests.
pub struct LyingMetadataPeer(Listening);

impl LyingMetadataPeer {
    /// Starts one on a loopback port for `meta`'s torrent.
    pub async fn start(meta: Arc<Metainfo>, lie: MetadataLie) -> std::io::Result<Self> {
        listen(meta, Manner::Lie(lie)).await.map(LyingMetadataPeer)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.0.addr
    }
}

/// The dictionary a liar offers: its size and bytes.
fn lie_about(meta: &Metainfo, lie: MetadataLie) -> (u32, Bytes) {
    match lie {
        MetadataLie::WrongBytes => {
            // A byte of the first piece hash: still a well-formed torrent, the worst lie.
            let mut info = meta.info_bytes().to_vec();
            let at = info
                .windows(8)
                .position(|w| w == b"6:pieces")
                .and_then(|p| {
                    let colon = info[p + 8..].iter().position(|&b| b == b':')?;
                    Some(p + 8 + colon + 1)
                })
                .unwrap_or(0);
            if let Some(b) = info.get_mut(at) {
                *b ^= 0xa5;
            }
            (
                u32::try_from(info.len()).unwrap_or(u32::MAX),
                Bytes::from(info),
            )
        }
        MetadataLie::Oversized => (
            crate::magnet::MAX_METADATA + 1,
            Bytes::from(vec![b'x'; crate::magnet::METADATA_PIECE as usize]),
        ),
    }
}

async fn serve(mut stream: TcpStream, meta: Arc<Metainfo>, manner: Manner) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let theirs = read_handshake(&mut stream, &mut buf)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if theirs.info_hash != meta.info_hash() {
        return Ok(());
    }
    let cfg = ConnectionConfig::default();
    let id = PeerId(rand::random());
    stream
        .write_all(&cfg.handshake(meta.info_hash(), id).to_bytes())
        .await?;
    let piece_len = u32::try_from(meta.piece_length()).unwrap_or(u32::MAX);
    let shape = TorrentShape::new(piece_len, meta.total_length())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut conn = Connection::new(cfg, &theirs, Some(shape), Instant::now());
    let offered = match &manner {
        Manner::Lie(lie) => Some(lie_about(&meta, *lie)),
        _ => None,
    };
    let _ = conn.send_extended_handshake(ExtendedHandshake {
        client: Some("BitFountain test peer".into()),
        metadata_size: offered.as_ref().map(|(size, _)| *size),
        ..ExtendedHandshake::default()
    });
    let _ = conn.send_pieces(&Bitfield::full(shape.piece_count()));
    conn.unchoke();
    let mut plans = PlanCache::new();
    let mut encoder: Option<PieceEncoder> = None;
    let mut sent = 0u64;
    let mut keepalive = tokio::time::interval(Duration::from_secs(30));
    // Bounded by the peer: ends when the connection closes or breaks the protocol.
    loop {
        let mut out = BytesMut::new();
        conn.encode_pending(&mut out, Instant::now());
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        tokio::select! {
            n = stream.read_buf(&mut buf) => {
                if n? == 0 {
                    return Ok(());
                }
            }
            _ = keepalive.tick() => {
                conn.handle_timeout(Instant::now());
                continue;
            }
        }
        if conn.receive(&mut buf, Instant::now()).is_err() {
            return Ok(());
        }
        while let Some(ev) = conn.poll_event() {
            if let (Event::MetadataRequest(piece), Some((size, info))) = (&ev, &offered) {
                let chunk = crate::magnet::METADATA_PIECE as usize;
                let start = (*piece as usize).saturating_mul(chunk).min(info.len());
                let end = start.saturating_add(chunk).min(info.len());
                let data = if start < end {
                    info.slice(start..end)
                } else {
                    // Past what it has: more of the same, so the claim looks real.
                    info.slice(..chunk.min(info.len()))
                };
                let _ = conn.send_metadata(*piece, *size, data);
                continue;
            }
            let Manner::Pollute { data, every } = &manner else {
                // A staller reads everything and answers nothing.
                continue;
            };
            match ev {
                Event::Request(r) => {
                    let start = u64::from(r.piece) * meta.piece_length() + u64::from(r.begin);
                    let Some(bytes) = slice(data, start, u64::from(r.length)) else {
                        continue;
                    };
                    sent += 1;
                    let bytes = if sent % every == 0 {
                        corrupt(&bytes)
                    } else {
                        bytes
                    };
                    let _ = conn.send_block(Block {
                        piece: r.piece,
                        begin: r.begin,
                        data: bytes,
                    });
                }
                Event::SymbolRequest(r) => {
                    let start = u64::from(r.piece) * meta.piece_length();
                    let len = meta.piece_size(r.piece).unwrap_or(0);
                    let Some(piece) = slice(data, start, len) else {
                        continue;
                    };
                    if encoder.as_ref().is_none_or(|e| e.piece() != r.piece) {
                        encoder = PieceEncoder::new(r.piece, piece, &mut plans).ok();
                    }
                    let Some(enc) = encoder.as_mut() else {
                        continue;
                    };
                    for esi in r.first_esi..r.first_esi.saturating_add(r.count) {
                        let Ok(sym) = enc.symbol(esi) else { break };
                        sent += 1;
                        let sym = if sent % every == 0 {
                            corrupt(&sym)
                        } else {
                            sym
                        };
                        let _ = conn.send_symbol(r.piece, esi, sym);
                    }
                }
                _ => {}
            }
        }
    }
}

fn slice(data: &Bytes, start: u64, len: u64) -> Option<Bytes> {
    let s = usize::try_from(start).ok()?;
    let e = usize::try_from(start.checked_add(len)?).ok()?;
    (e <= data.len()).then(|| data.slice(s..e))
}

/// A copy of `b` with its first byte flipped.
fn corrupt(b: &Bytes) -> Bytes {
    let mut v = b.to_vec();
    if let Some(x) = v.first_mut() {
        *x ^= 0xa5;
    }
    Bytes::from(v)
}
