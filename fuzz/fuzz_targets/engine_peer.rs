//! The torrent core against peers that say anything, after a valid handshake.
//!
//! A small torrent of zeros, seeded or being downloaded (or partly held); the input is a
//! script of operations: raw bytes from a peer, messages built from the input (blocks
//! answering the core's requests, right, wrong, short or long), time passing, writes
//! flushed, connections closed, peers added and dials failed, pieces verified, failed or
//! not written, reads answered or failed, the torrent stopped and started. The harness plays
//! the I/O layer and checks, after every operation, that the core never panics and that:
//!
//! - what it transmits is whole, well-framed messages, only to connected peers; the blocks
//!   it serves are inside their piece, at most 16 KiB, and hold the torrent's bytes;
//! - every VerifyWrite is for a piece it lacks and is not already verifying, with the
//!   piece's own hash and blocks of exactly the lengths the piece's blocks have;
//! - it reads only pieces it has, verifies only pieces reported written, completes once;
//! - its counters agree (redundant and wasted bytes within those received, uploaded at
//!   least what was transmitted, `left` and `is_complete` match what it has, the peer count
//!   matches the connections open).
#![no_main]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bf_bencode::{Dict, Value};
use bf_client::core::{CoreConfig, CoreEvent, Input, Output, PeerKey, PieceOutcome, TorrentCore};
use bf_metainfo::{Metainfo, PeerId};
use bf_wire::bytes::{Bytes, BytesMut};
use bf_wire::{
    Bitfield, Block, BlockRequest, Extended, ExtendedHandshake, Handshake, Message,
    MetadataMessage, Reserved,
};
use libfuzzer_sys::fuzz_target;
use sha1::{Digest, Sha1};

const BLOCK: u32 = 16 * 1024;
const MAX_OPS: usize = 2000;

struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn small(&mut self) -> u32 {
        u32::from(self.byte().unwrap_or(0))
    }
    fn u32(&mut self) -> u32 {
        (0..4).fold(0, |v, _| v << 8 | self.small())
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        a.to_vec()
    }
}

/// A torrent of `total` zero bytes in pieces of `piece_len`.
fn torrent(piece_len: u32, total: u64) -> Arc<Metainfo> {
    let mut pieces = Vec::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(u64::from(piece_len));
        pieces.extend_from_slice(&Sha1::digest(vec![0u8; n as usize]));
        left -= n;
    }
    let mut info = Dict::new();
    info.insert(&b"length"[..], total as i64);
    info.insert(&b"name"[..], "zeros.bin");
    info.insert(&b"piece length"[..], i64::from(piece_len));
    info.insert(&b"pieces"[..], Value::bytes(&pieces));
    let mut top = Dict::new();
    top.insert(&b"info"[..], info);
    Arc::new(Metainfo::from_bytes(&Value::Dict(top).to_bytes()).expect("valid torrent"))
}

struct Peer {
    key: PeerKey,
    addr: SocketAddr,
    open: bool,
    unsent: usize,
    /// Our requests to it, not yet answered or cancelled.
    requests: Vec<BlockRequest>,
}

struct World {
    core: TorrentCore,
    meta: Arc<Metainfo>,
    now: Instant,
    peers: Vec<Peer>,
    next_id: u8,
    initial: Bitfield,
    written: HashSet<u32>,
    verifying: Vec<(u32, Vec<Bytes>, [u8; 20], bool)>,
    reads: Vec<u32>,
    dials: Vec<SocketAddr>,
    completed: bool,
    transmitted_payload: u64,
}

impl World {
    fn piece_size(&self, p: u32) -> u32 {
        self.meta.piece_size(p).unwrap_or(0) as u32
    }

    fn handshake(&mut self, s: &mut Script<'_>) -> Handshake {
        let flags = s.small();
        // Usually a new peer id; sometimes one already connected (refused as a duplicate),
        // sometimes ours (refused as ourselves).
        let id = match flags >> 6 {
            0 if self.next_id > 1 => PeerId([self.next_id - 1; 20]),
            1 => PeerId([0xee; 20]),
            _ => {
                self.next_id = self.next_id.wrapping_add(1).max(1);
                PeerId([self.next_id; 20])
            }
        };
        Handshake {
            reserved: Reserved::NONE
                .with_extension_protocol(flags & 1 != 0)
                .with_fast(flags & 2 != 0),
            info_hash: self.meta.info_hash(),
            peer_id: id,
        }
    }

    fn add_peer(&mut self, addr: SocketAddr, outbound: bool, s: &mut Script<'_>) {
        let hs = self.handshake(s);
        if let Ok(key) = self.core.add_peer(addr, &hs, outbound, self.now) {
            assert!(
                self.peers.iter().all(|p| p.key != key),
                "a peer key was reused"
            );
            self.peers.push(Peer {
                key,
                addr,
                open: true,
                unsent: 0,
                requests: Vec::new(),
            });
        }
    }

    fn peer(&self, s: &mut Script<'_>) -> Option<usize> {
        if self.peers.is_empty() {
            return None;
        }
        Some(s.small() as usize % self.peers.len())
    }

    fn feed(&mut self, i: usize, bytes: &[u8], split: usize) {
        let key = self.peers[i].key;
        let split = split.min(bytes.len());
        for part in [&bytes[..split], &bytes[split..]] {
            if !part.is_empty() {
                let input = Input::Data {
                    peer: key,
                    bytes: BytesMut::from(part),
                };
                self.core.handle_input(input, self.now);
            }
        }
    }

    /// Carries out the core's outputs, checking each.
    fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Transmit { peer, segments } => {
                    let i = self
                        .peers
                        .iter()
                        .position(|p| p.key == peer && p.open)
                        .expect("transmit to a peer that is not connected");
                    let mut wire = Vec::new();
                    for seg in &segments {
                        wire.extend_from_slice(seg);
                    }
                    self.peers[i].unsent += wire.len();
                    self.check_frames(i, &wire);
                }
                Output::Disconnect { peer } => {
                    let p = self
                        .peers
                        .iter_mut()
                        .find(|p| p.key == peer)
                        .expect("disconnect of an unknown peer");
                    assert!(p.open, "disconnect of a closed peer");
                    p.open = false;
                }
                Output::Connect(addr) => self.dials.push(addr),
                Output::VerifyWrite {
                    piece,
                    blocks,
                    expected,
                    block_hashes,
                    ..
                } => {
                    let n = self.meta.piece_count();
                    assert!(piece < n, "verify of piece {piece} of {n}");
                    assert!(
                        !self.initial.get(piece) && !self.written.contains(&piece),
                        "verify of piece {piece}, already held"
                    );
                    assert!(
                        self.verifying.iter().all(|v| v.0 != piece),
                        "piece {piece} handed out twice"
                    );
                    assert_eq!(Some(expected), self.meta.piece_hash(piece));
                    let size = self.piece_size(piece);
                    let lens: Vec<u32> = blocks.iter().map(|b| b.len() as u32).collect();
                    let want: Vec<u32> = (0..size.div_ceil(BLOCK))
                        .map(|b| (size - b * BLOCK).min(BLOCK))
                        .collect();
                    assert_eq!(lens, want, "piece {piece}: block lengths");
                    self.verifying.push((piece, blocks, expected, block_hashes));
                }
                Output::Read(piece) => {
                    assert!(
                        self.core.have().get(piece),
                        "read of piece {piece}, not held"
                    );
                    self.reads.push(piece);
                }
                Output::PrepareEncoder(piece) => {
                    assert!(
                        self.core.have().get(piece),
                        "encoder for piece {piece}, not held"
                    );
                    // Served from zeros: what matters here is that the core stays sound.
                    let data = Bytes::from(vec![0u8; self.piece_size(piece) as usize]);
                    let encoder = bf_fountain::PieceEncoder::new(
                        piece,
                        data,
                        &mut bf_fountain::PlanCache::new(),
                    )
                    .map(Box::new)
                    .map_err(|e| e.to_string());
                    self.core
                        .handle_input(Input::EncoderReady { piece, encoder }, self.now);
                }
                Output::Decode { piece, .. } => {
                    let n = self.meta.piece_count();
                    assert!(piece < n, "decode of piece {piece} of {n}");
                    assert!(
                        !self.initial.get(piece) && !self.written.contains(&piece),
                        "decode of piece {piece}, already held"
                    );
                    // Symbols from a fuzzed peer do not rebuild the piece: more are wanted.
                    let outcome = PieceOutcome::NeedMore;
                    self.core.handle_input(
                        Input::PieceDone {
                            piece,
                            outcome,
                            work: Duration::ZERO,
                        },
                        self.now,
                    );
                }
                Output::Event(e) => match e {
                    CoreEvent::PieceVerified(p) => {
                        assert!(
                            self.written.contains(&p),
                            "piece {p} verified, never written"
                        )
                    }
                    CoreEvent::Completed => {
                        assert!(!self.completed, "completed twice");
                        assert!(self.core.is_complete(), "completed while missing pieces");
                        self.completed = true;
                    }
                    CoreEvent::PeerBanned { addr, .. } => {
                        assert!(self.peers.iter().any(|p| p.addr == addr));
                    }
                    CoreEvent::DhtNode(node) => {
                        // Only a connected peer's PORT names a node, at its own address.
                        assert!(self.peers.iter().any(|p| p.addr.ip() == node.ip()));
                        assert_ne!(node.port(), 0);
                    }
                    CoreEvent::HashFailed { .. }
                    | CoreEvent::PeerConnected(_)
                    | CoreEvent::PeerDisconnected { .. }
                    | CoreEvent::StorageFailed(_) => {}
                },
            }
        }
    }

    /// What the core sends must be whole messages; requests are recorded, blocks checked.
    fn check_frames(&mut self, i: usize, wire: &[u8]) {
        let mut at = 0;
        while at < wire.len() {
            assert!(wire.len() - at >= 4, "a cut length prefix");
            let len = u32::from_be_bytes(wire[at..at + 4].try_into().unwrap_or([0; 4])) as usize;
            at += 4;
            assert!(wire.len() - at >= len, "a cut message");
            let msg = &wire[at..at + len];
            at += len;
            let int = |o: usize| u32::from_be_bytes(msg[o..o + 4].try_into().unwrap_or([0; 4]));
            match msg.first() {
                Some(6) | Some(8) => {
                    assert_eq!(len, 13, "request/cancel length");
                    let r = BlockRequest::new(int(1), int(5), int(9));
                    let size = self.piece_size(r.piece);
                    let reqs = &mut self.peers[i].requests;
                    if msg[0] == 6 {
                        assert!(r.length > 0 && r.length <= BLOCK);
                        assert!(r.begin + r.length <= size, "a request outside its piece");
                        reqs.push(r);
                    } else {
                        reqs.retain(|q| *q != r);
                    }
                }
                Some(7) => {
                    assert!(len >= 9, "piece message length");
                    let (piece, begin, data) = (int(1), int(5), &msg[9..]);
                    assert!(data.len() as u32 <= BLOCK, "a block over 16 KiB served");
                    assert!(
                        u64::from(begin) + data.len() as u64 <= u64::from(self.piece_size(piece)),
                        "a block outside its piece served"
                    );
                    assert!(
                        data.iter().all(|&b| b == 0),
                        "served bytes not the torrent's"
                    );
                    self.transmitted_payload += data.len() as u64;
                }
                _ => {}
            }
        }
    }

    fn check(&mut self) {
        let st = self.core.stats();
        assert!(st.redundant <= st.downloaded, "{st:?}");
        assert!(st.wasted <= st.downloaded, "{st:?}");
        assert!(st.uploaded >= self.transmitted_payload, "{st:?}");
        let have = self.core.have();
        let n = self.meta.piece_count();
        assert_eq!(have.len(), n);
        let mut left = 0u64;
        for p in 0..n {
            if have.get(p) {
                assert!(
                    self.initial.get(p) || self.written.contains(&p),
                    "piece {p} held, never written"
                );
            } else {
                left += u64::from(self.piece_size(p));
            }
        }
        assert_eq!(self.core.left(), left);
        assert_eq!(self.core.is_complete(), left == 0);
        let open = self.peers.iter().filter(|p| p.open).count();
        assert_eq!(self.core.peer_count(), open, "peer count");
    }

    fn message(&mut self, s: &mut Script<'_>, i: usize) -> Message {
        let n = self.meta.piece_count();
        let index = |s: &mut Script<'_>| match s.small() {
            0..=219 => s.small() % (n + 1),
            _ => s.u32(),
        };
        let request = |s: &mut Script<'_>| {
            let piece = index(s);
            let begin = if s.small() < 200 {
                (s.small() % 3) * BLOCK
            } else {
                s.u32()
            };
            let length = match s.small() {
                0..=199 => BLOCK,
                200..=239 => 924,
                _ => s.u32(),
            };
            BlockRequest::new(piece, begin, length)
        };
        match s.small() % 18 {
            0 => Message::KeepAlive,
            1 => Message::Choke,
            2..=3 => Message::Unchoke,
            4..=5 => Message::Interested,
            6 => Message::NotInterested,
            7 => Message::Have(index(s)),
            8 => {
                let len = if s.small() < 200 {
                    n.div_ceil(8) as usize
                } else {
                    s.small() as usize % 4
                };
                Message::Bitfield(Bytes::from(s.bytes(len)))
            }
            9 => Message::HaveAll,
            10 => Message::HaveNone,
            11 | 12 => Message::Request(request(s)),
            13 => Message::Cancel(request(s)),
            14 => Message::Reject(request(s)),
            15 => {
                // An answer to one of our requests: right, wrong, short or long.
                let reqs = &self.peers[i].requests;
                let r = if reqs.is_empty() {
                    request(s)
                } else {
                    reqs[s.small() as usize % reqs.len()]
                };
                let len = match s.small() % 8 {
                    0 => r.length.saturating_sub(1),
                    1 => r.length.saturating_add(1),
                    _ => r.length,
                }
                .min(BLOCK + 1) as usize;
                let fill = if s.small() % 4 == 0 { 0xff } else { 0 };
                self.peers[i].requests.retain(|q| *q != r);
                Message::Piece(Block {
                    piece: r.piece,
                    begin: r.begin,
                    data: Bytes::from(vec![fill; len]),
                })
            }
            16 => {
                let mut hs = ExtendedHandshake::default();
                hs.extensions
                    .insert(b"ut_metadata".to_vec(), s.small() as u8);
                hs.reqq = Some(s.small());
                Message::Extended(Extended::Handshake(Box::new(hs)))
            }
            _ => Message::Extended(Extended::Metadata {
                id: 1,
                message: MetadataMessage::Request {
                    piece: s.small() % 3,
                },
            }),
        }
    }

    fn step(&mut self, s: &mut Script<'_>) -> bool {
        let Some(op) = s.byte() else { return false };
        match op % 16 {
            0..=2 => {
                if let Some(i) = self.peer(s) {
                    let n = 1 + s.small() as usize;
                    let bytes = s.bytes(n);
                    self.feed(i, &bytes, usize::MAX);
                }
            }
            3..=6 => {
                if let Some(i) = self.peer(s) {
                    let m = self.message(s, i);
                    let mut buf = BytesMut::new();
                    m.encode(&mut buf);
                    let split = s.small() as usize * 64;
                    self.feed(i, &buf, split);
                }
            }
            7 => {
                let dt = match s.small() % 4 {
                    0 => Duration::from_millis(u64::from(s.small()) * 10),
                    1 | 2 => Duration::from_secs(u64::from(s.small() % 30)),
                    _ => Duration::from_secs(u64::from(s.small()) * 10),
                };
                self.now += dt;
                self.core.handle_timeout(self.now);
            }
            8 => {
                if let Some(i) = self.peer(s) {
                    let p = &mut self.peers[i];
                    let bytes = if s.small() % 2 == 0 {
                        p.unsent
                    } else {
                        p.unsent / 2
                    };
                    p.unsent -= bytes;
                    let input = Input::Flushed { peer: p.key, bytes };
                    self.core.handle_input(input, self.now);
                }
            }
            9 => {
                if !self.verifying.is_empty() {
                    let k = s.small() as usize % self.verifying.len();
                    let (piece, blocks, expected, want_hashes) = self.verifying.remove(k);
                    let mut h = Sha1::new();
                    for b in &blocks {
                        h.update(b);
                    }
                    let hashes: Vec<[u8; 20]> =
                        blocks.iter().map(|b| Sha1::digest(b).into()).collect();
                    let outcome = if <[u8; 20]>::from(h.finalize()) != expected {
                        PieceOutcome::HashFailed {
                            block_hashes: hashes,
                        }
                    } else if s.small() % 8 == 0 {
                        PieceOutcome::WriteFailed("no space left".into())
                    } else {
                        self.written.insert(piece);
                        PieceOutcome::Written {
                            block_hashes: want_hashes.then_some(hashes),
                            culprits: Vec::new(),
                        }
                    };
                    self.core.handle_input(
                        Input::PieceDone {
                            piece,
                            outcome,
                            work: Duration::ZERO,
                        },
                        self.now,
                    );
                }
            }
            10 => {
                if !self.reads.is_empty() {
                    let piece = self.reads.remove(s.small() as usize % self.reads.len());
                    let data = if s.small() % 8 == 0 {
                        Err("read error".into())
                    } else {
                        Ok(Bytes::from(vec![0u8; self.piece_size(piece) as usize]))
                    };
                    self.core
                        .handle_input(Input::PieceRead { piece, data }, self.now);
                }
            }
            11 => {
                // A connection closes (sometimes one already closed: must be ignored).
                if let Some(i) = self.peer(s) {
                    let key = self.peers[i].key;
                    self.peers[i].open = false;
                    self.core
                        .handle_input(Input::Closed { peer: key }, self.now);
                }
            }
            12 => {
                if self.dials.is_empty() || s.small() % 2 == 0 {
                    // Someone dials us.
                    let addr = SocketAddr::from(([127, 0, 0, 2], 20_000 + s.small() as u16));
                    self.add_peer(addr, false, s);
                } else {
                    let addr = self.dials.remove(s.small() as usize % self.dials.len());
                    if s.small() % 2 == 0 {
                        self.core.handle_input(Input::ConnectFailed(addr), self.now);
                    } else {
                        self.add_peer(addr, true, s);
                    }
                }
            }
            13 => {
                let addrs = (0..1 + s.small() % 4)
                    .map(|k| SocketAddr::from(([127, 0, 0, 3], 30_000 + k as u16)))
                    .collect();
                self.core.handle_input(Input::Peers(addrs), self.now);
            }
            14 => {
                if s.small() % 2 == 0 {
                    self.core.stop();
                } else {
                    self.core.start(self.now);
                }
            }
            _ => {
                // Cores reject a connection while stopped; this just checks it does not break.
                let _ = self.core.poll_timeout();
            }
        }
        true
    }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script(data);
    let mode = s.small();
    let (piece_len, total) = if mode & 1 == 0 {
        // One block per piece, the last short: small enough for inputs to hold whole pieces.
        (1024, 5 * 1024 - 100)
    } else {
        // Two blocks per piece, the last piece 5000 bytes.
        (32768, 2 * 32768 + 5000)
    };
    let meta = torrent(piece_len, total);
    let n = meta.piece_count();
    let initial = match (mode >> 1) % 3 {
        0 => Bitfield::new(n),
        1 => Bitfield::full(n),
        _ => {
            let mut b = Bitfield::new(n);
            let bits = s.small();
            for p in 0..n {
                if bits & (1 << (p % 8)) != 0 {
                    b.set(p);
                }
            }
            b
        }
    };
    let now = Instant::now();
    let cfg = CoreConfig {
        peer_id: PeerId([0xee; 20]),
        listen_port: 6881,
        max_peers: 4,
        snub_timeout: Duration::from_secs(5),
        rng_seed: u64::from(mode),
        ..CoreConfig::default()
    };
    let core = TorrentCore::new(cfg, meta.clone(), initial.clone(), now).expect("valid shape");
    let mut w = World {
        core,
        meta,
        now,
        peers: Vec::new(),
        next_id: 0,
        initial,
        written: HashSet::new(),
        verifying: Vec::new(),
        reads: Vec::new(),
        dials: Vec::new(),
        completed: false,
        transmitted_payload: 0,
    };
    if w.initial.is_full() {
        w.completed = true;
    }
    // A first peer, connected with a valid handshake.
    let addr = SocketAddr::from(([127, 0, 0, 2], 6881));
    w.add_peer(addr, true, &mut s);
    w.drain();
    w.check();
    for _ in 0..MAX_OPS {
        if !w.step(&mut s) {
            break;
        }
        w.drain();
        w.check();
    }
});
