//! The core driven deterministically: several cores wired together in memory, virtual time.
#![allow(clippy::unwrap_used)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bf_bencode::{Dict, Value};
use bf_metainfo::{InfoHash, Metainfo, PeerId};
use bf_wire::{Bitfield, ConnectionConfig};
use bytes::{Bytes, BytesMut};
use sha1::{Digest, Sha1};

use super::*;
use crate::jobs::{self, PieceIo};

pub(crate) fn torrent(data: &[u8], piece_len: u32) -> Arc<Metainfo> {
    let pieces: Vec<u8> = data
        .chunks(piece_len as usize)
        .flat_map(|c| Sha1::digest(c).to_vec())
        .collect();
    let mut info = Dict::new();
    info.insert(&b"length"[..], data.len() as i64);
    info.insert(&b"name"[..], "data.bin");
    info.insert(&b"piece length"[..], i64::from(piece_len));
    info.insert(&b"pieces"[..], Value::bytes(&pieces));
    let mut top = Dict::new();
    top.insert(&b"info"[..], info);
    Arc::new(Metainfo::from_bytes(&Value::Dict(top).to_bytes()).unwrap())
}

fn content(len: usize, seed: u64) -> Vec<u8> {
    bf_testkit::pseudo_random_bytes(len, seed)
}

/// How a simulated node behaves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Behaviour {
    Honest,
    /// Flips a byte in every block it serves.
    Corrupt,
    /// Never finishes reading a piece from its disk: requests to it stall, while the
    /// connection stays open and its messages flow.
    Stall,
    /// Serves honest blocks but wrong repair symbols.
    CorruptRepairs,
}

/// A node's data in memory, served through the same jobs the workers run.
struct MemStore {
    data: RefCell<Vec<u8>>,
    piece_len: usize,
    corrupt: Cell<bool>,
    written: Cell<u64>,
}

impl PieceIo for MemStore {
    fn write_piece(&self, piece: u32, parts: &[Bytes]) -> Result<(), String> {
        let mut data = self.data.borrow_mut();
        let mut at = piece as usize * self.piece_len;
        for b in parts {
            data[at..at + b.len()].copy_from_slice(b);
            at += b.len();
            self.written.set(self.written.get() + b.len() as u64);
        }
        Ok(())
    }

    fn read_piece(&self, piece: u32) -> Result<Bytes, String> {
        let data = self.data.borrow();
        let start = piece as usize * self.piece_len;
        let end = (start + self.piece_len).min(data.len());
        let mut d = data[start..end].to_vec();
        if self.corrupt.get() {
            for b in d.iter_mut().step_by(16384) {
                *b ^= 0x55;
            }
        }
        Ok(Bytes::from(d))
    }
}

struct Node {
    core: TorrentCore,
    store: MemStore,
    addr: SocketAddr,
    behaviour: Behaviour,
}

impl Node {
    fn data(&self) -> Vec<u8> {
        self.store.data.borrow().clone()
    }
}

/// Cores connected pairwise in memory; every transmit is delivered at once.
struct Sim {
    nodes: Vec<Node>,
    /// (node, key) -> (other node, other key)
    links: HashMap<(usize, PeerKey), (usize, PeerKey)>,
    now: Instant,
    meta: Arc<Metainfo>,
    events: Vec<(usize, CoreEvent)>,
}

impl Sim {
    fn new(meta: Arc<Metainfo>) -> Self {
        Sim {
            nodes: Vec::new(),
            links: HashMap::new(),
            now: Instant::now(),
            meta,
            events: Vec::new(),
        }
    }

    fn add(&mut self, seed_data: Option<&[u8]>, behaviour: Behaviour, cfg: CoreConfig) -> usize {
        let i = self.nodes.len();
        let n = self.meta.piece_count();
        let total = self.meta.total_length() as usize;
        let (have, data) = match seed_data {
            Some(d) => (Bitfield::full(n), d.to_vec()),
            None => (Bitfield::new(n), vec![0; total]),
        };
        let cfg = CoreConfig {
            peer_id: PeerId([i as u8 + 1; 20]),
            rng_seed: i as u64,
            ..cfg
        };
        let core = TorrentCore::new(cfg, self.meta.clone(), have, self.now).unwrap();
        self.nodes.push(Node {
            core,
            store: MemStore {
                data: RefCell::new(data),
                piece_len: self.meta.piece_length() as usize,
                corrupt: Cell::new(behaviour == Behaviour::Corrupt),
                written: Cell::new(0),
            },
            addr: SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16)),
            behaviour,
        });
        i
    }

    fn connect(&mut self, a: usize, b: usize) {
        let hash = self.meta.info_hash();
        let hs = |i: usize| ConnectionConfig::default().handshake(hash, PeerId([i as u8 + 1; 20]));
        let (ha, hb) = (hs(a), hs(b));
        let addr_a = self.nodes[a].addr;
        let addr_b = self.nodes[b].addr;
        let ka = self.nodes[a]
            .core
            .add_peer(addr_b, &hb, true, self.now)
            .unwrap();
        let kb = self.nodes[b]
            .core
            .add_peer(addr_a, &ha, false, self.now)
            .unwrap();
        self.links.insert((a, ka), (b, kb));
        self.links.insert((b, kb), (a, ka));
    }

    /// Delivers outputs until nothing moves; returns whether anything did.
    fn settle(&mut self) -> bool {
        let mut moved = false;
        for _ in 0..1_000_000 {
            let mut any = false;
            for i in 0..self.nodes.len() {
                while let Some(out) = self.nodes[i].core.poll_output() {
                    any = true;
                    self.apply(i, out);
                }
            }
            if !any {
                return moved;
            }
            moved = true;
        }
        panic!("the simulation did not settle");
    }

    fn apply(&mut self, i: usize, out: Output) {
        let now = self.now;
        match out {
            Output::Transmit { peer, segments } => {
                let len: usize = segments.iter().map(Bytes::len).sum();
                self.nodes[i]
                    .core
                    .handle_input(Input::Flushed { peer, bytes: len }, now);
                let Some(&(j, kj)) = self.links.get(&(i, peer)) else {
                    return;
                };
                let mut buf = BytesMut::new();
                for s in segments {
                    buf.extend_from_slice(&s);
                }
                self.nodes[j].core.handle_input(
                    Input::Data {
                        peer: kj,
                        bytes: buf,
                    },
                    now,
                );
            }
            Output::Disconnect { peer } => {
                if let Some((j, kj)) = self.links.remove(&(i, peer)) {
                    self.links.remove(&(j, kj));
                    self.nodes[j]
                        .core
                        .handle_input(Input::Closed { peer: kj }, now);
                }
            }
            Output::Connect(addr) => {
                self.nodes[i]
                    .core
                    .handle_input(Input::ConnectFailed(addr), now);
            }
            Output::Read(_) | Output::PrepareEncoder(_)
                if self.nodes[i].behaviour == Behaviour::Stall => {}
            work @ Output::PrepareEncoder(_) => {
                let node = &self.nodes[i];
                let lie = node.behaviour == Behaviour::CorruptRepairs;
                node.store
                    .corrupt
                    .set(lie || node.behaviour == Behaviour::Corrupt);
                let input = jobs::perform(&node.store, work);
                node.store.corrupt.set(node.behaviour == Behaviour::Corrupt);
                if let Ok(input) = input {
                    self.nodes[i].core.handle_input(input, now);
                }
            }
            work @ (Output::VerifyWrite { .. } | Output::Decode { .. } | Output::Read(_)) => {
                if let Ok(input) = jobs::perform(&self.nodes[i].store, work) {
                    self.nodes[i].core.handle_input(input, now);
                }
            }
            Output::Event(e) => self.events.push((i, e)),
        }
    }

    /// Runs in 100 ms steps of virtual time until `done` or `limit` passes.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.settle();
            if done(self) {
                return true;
            }
            if self.now >= end {
                return false;
            }
            self.now += Duration::from_millis(100);
            let now = self.now;
            for n in &mut self.nodes {
                n.core.handle_timeout(now);
            }
        }
    }

    fn complete(&self, i: usize) -> bool {
        self.nodes[i].core.is_complete()
    }
}

fn small_cfg() -> CoreConfig {
    CoreConfig {
        read_cache_bytes: 4 << 20,
        ..CoreConfig::default()
    }
}

#[test]
fn one_seeder_one_downloader() {
    let data = content(40 * 32768 - 1000, 1);
    let mut sim = Sim::new(torrent(&data, 32768));
    let s = sim.add(Some(&data), Behaviour::Honest, small_cfg());
    let d = sim.add(None, Behaviour::Honest, small_cfg());
    sim.connect(d, s);
    assert!(sim.run_until(Duration::from_secs(30), |sim| sim.complete(d)));
    assert_eq!(sim.nodes[d].data(), data);
    let st = sim.nodes[d].core.stats();
    assert_eq!(st.downloaded, data.len() as u64);
    assert_eq!(st.redundant, 0);
    assert_eq!(sim.nodes[s].core.stats().uploaded, data.len() as u64);
    assert!(sim
        .events
        .iter()
        .any(|(i, e)| *i == d && *e == CoreEvent::Completed));
    // Both seeds now: the connection is dropped.
    assert_eq!(sim.nodes[d].core.peer_count(), 0);
}

#[test]
fn downloaders_finish_from_each_other_after_the_seed_leaves() {
    let data = content(64 * 16384, 2);
    let mut sim = Sim::new(torrent(&data, 16384));
    let s = sim.add(Some(&data), Behaviour::Honest, small_cfg());
    let ds: Vec<usize> = (0..4)
        .map(|_| sim.add(None, Behaviour::Honest, small_cfg()))
        .collect();
    for (n, &d) in ds.iter().enumerate() {
        sim.connect(d, s);
        for &e in &ds[..n] {
            sim.connect(d, e);
        }
    }
    // The seed leaves once it has uploaded one full copy.
    let total = data.len() as u64;
    assert!(sim.run_until(Duration::from_secs(60), |sim| {
        sim.nodes[s].core.stats().uploaded >= total
    }));
    sim.nodes[s].core.stop();
    assert!(sim.run_until(Duration::from_secs(120), |sim| ds
        .iter()
        .all(|&d| sim.complete(d))));
    for &d in &ds {
        assert_eq!(sim.nodes[d].data(), data);
    }
}

#[test]
fn a_corrupting_peer_is_banned_and_the_data_stays_correct() {
    let data = content(200 * 16384, 3);
    let mut sim = Sim::new(torrent(&data, 2 * 16384));
    let good = sim.add(Some(&data), Behaviour::Honest, small_cfg());
    let bad = sim.add(Some(&data), Behaviour::Corrupt, small_cfg());
    let d = sim.add(None, Behaviour::Honest, small_cfg());
    sim.connect(d, bad);
    sim.connect(d, good);
    assert!(sim.run_until(Duration::from_secs(120), |sim| sim.complete(d)));
    assert_eq!(sim.nodes[d].data(), data);
    let banned: Vec<SocketAddr> = sim
        .events
        .iter()
        .filter_map(|(i, e)| match e {
            CoreEvent::PeerBanned { addr, .. } if *i == d => Some(*addr),
            _ => None,
        })
        .collect();
    assert_eq!(banned, vec![sim.nodes[bad].addr]);
    assert!(sim.nodes[d].core.stats().hash_failures >= 1);
}

#[test]
fn a_stalling_peer_does_not_hold_the_download() {
    let data = content(24 * 16384, 4);
    let cfg = CoreConfig {
        snub_timeout: Duration::from_secs(5),
        ..small_cfg()
    };
    let mut sim = Sim::new(torrent(&data, 4 * 16384));
    let good = sim.add(Some(&data), Behaviour::Honest, cfg.clone());
    let staller = sim.add(Some(&data), Behaviour::Stall, cfg.clone());
    let d = sim.add(None, Behaviour::Honest, cfg);
    sim.connect(d, staller);
    sim.connect(d, good);
    assert!(sim.run_until(Duration::from_secs(60), |sim| sim.complete(d)));
    assert_eq!(sim.nodes[d].data(), data);
    let _ = good;
}

#[test]
fn picker_prefers_rare_pieces() {
    // A peer with only piece 5 and a seed: piece 5 is the rarest only while nobody else has
    // it; with random-first off the seed's first pick is a piece of availability 1.
    let data = content(8 * 16384, 5);
    let meta = torrent(&data, 16384);
    let hash = meta.info_hash();
    let mut have5 = Bitfield::new(8);
    have5.set(5);
    let cfg = CoreConfig {
        random_first_pieces: 0,
        peer_id: PeerId([9; 20]),
        ..small_cfg()
    };
    let now = Instant::now();
    let mut core = TorrentCore::new(cfg, meta, Bitfield::new(8), now).unwrap();
    let partial = ConnectionConfig::default().handshake(hash, PeerId([1; 20]));
    let k = core
        .add_peer(SocketAddr::from(([127, 0, 0, 1], 1)), &partial, true, now)
        .unwrap();
    // Feed the partial peer's bitfield (piece 5) and an unchoke.
    let mut wire = BytesMut::new();
    bf_wire::Message::Bitfield(Bytes::copy_from_slice(have5.as_bytes())).encode(&mut wire);
    bf_wire::Message::Unchoke.encode(&mut wire);
    core.handle_input(
        Input::Data {
            peer: k,
            bytes: wire,
        },
        now,
    );
    assert_eq!(core.picker.availability(5), 1);
    assert!(core.inflight.contains_key(&5), "the only piece it has");
    let _ = InfoHash([0; 20]);
}

fn stalled_swarm(fountain: bool) -> (Sim, usize, Duration) {
    let data = content(48 * 16384, 6);
    let cfg = CoreConfig {
        // Far longer than the run: only the fountain may route around the staller.
        snub_timeout: Duration::from_secs(600),
        fountain,
        ..small_cfg()
    };
    let mut sim = Sim::new(torrent(&data, 8 * 16384));
    let staller = sim.add(Some(&data), Behaviour::Stall, cfg.clone());
    let good = sim.add(Some(&data), Behaviour::Honest, cfg.clone());
    let d = sim.add(None, Behaviour::Honest, cfg);
    sim.connect(d, staller);
    sim.connect(d, good);
    let start = sim.now;
    let ok = sim.run_until(Duration::from_secs(900), |sim| sim.complete(d));
    if !ok {
        let c = &sim.nodes[d].core;
        eprintln!("stats {:?}", c.stats());
        for (p, a) in &c.inflight {
            eprintln!("piece {p}: held {} open {} abandoned {} deficit {} reqs {:?} repairs held {} decoding {}", a.held(), a.open(), a.abandoned(), a.deficit(), a.block_requests(), a.repairs_held(), a.is_decoding());
        }
        eprintln!("verifying {:?}", c.verifying.keys().collect::<Vec<_>>());
        for (k, p) in &c.peers {
            eprintln!(
                "peer {k:?} fountain {} snubbed {} choking {} interested {} out_symbols {:?}",
                p.conn.fountain(),
                p.snubbed,
                p.conn.peer_choking(),
                p.conn.am_interested(),
                p.conn.outstanding_symbols().collect::<Vec<_>>()
            );
        }
        for n in &sim.nodes {
            for (k, p) in &n.core.peers {
                eprintln!(
                    "node {} peer {k:?} serve {:?} peer_sym {:?} unsent {} queued {}",
                    n.addr,
                    p.serve,
                    p.conn.peer_symbol_requests().collect::<Vec<_>>(),
                    p.unsent,
                    p.queued
                );
            }
        }
    }
    assert!(ok);
    assert_eq!(sim.nodes[d].data(), data);
    let took = sim.now - start;
    (sim, d, took)
}

#[test]
fn the_fountain_finishes_pieces_a_staller_holds_without_a_timeout() {
    let data_len = 48 * 16384u64;
    let (sim, d, took) = stalled_swarm(true);
    // Virtual time: a few stall checks, far from the 600 s snub timeout.
    assert!(took < Duration::from_secs(10), "{took:?}");
    let st = sim.nodes[d].core.stats();
    assert!(st.repair_received > 0, "{st:?}");
    assert!(st.pieces_decoded > 0, "{st:?}");
    assert_eq!(st.redundant, 0, "no duplicate or wasted bytes: {st:?}");
    assert_eq!(st.endgame_requests, 0, "{st:?}");
    assert!(st.downloaded >= data_len);
}

#[test]
fn fountain_and_block_peers_share_one_assembler() {
    // A plain (no extension) seeder and a fountain seeder, one of which stalls: pieces mix
    // blocks from the plain peer with repair symbols from the fountain one.
    let data = content(40 * 16384, 7);
    let plain = CoreConfig {
        fountain: false,
        snub_timeout: Duration::from_secs(600),
        ..small_cfg()
    };
    let fountain = CoreConfig {
        snub_timeout: Duration::from_secs(600),
        ..small_cfg()
    };
    let mut sim = Sim::new(torrent(&data, 8 * 16384));
    let staller = sim.add(Some(&data), Behaviour::Stall, plain.clone());
    let p = sim.add(Some(&data), Behaviour::Honest, plain);
    let f = sim.add(Some(&data), Behaviour::Honest, fountain.clone());
    let d = sim.add(None, Behaviour::Honest, fountain);
    sim.connect(d, staller);
    sim.connect(d, p);
    sim.connect(d, f);
    assert!(sim.run_until(Duration::from_secs(300), |sim| sim.complete(d)));
    assert_eq!(sim.nodes[d].data(), data);
    let st = sim.nodes[d].core.stats();
    assert!(st.repair_received > 0, "{st:?}");
    assert!(sim.nodes[p].core.stats().uploaded > 0);
    assert!(sim.nodes[f].core.stats().repair_served > 0);
}

#[test]
fn a_polluter_of_repair_symbols_is_named_and_banned() {
    let data = content(32 * 16384, 8);
    let cfg = CoreConfig {
        snub_timeout: Duration::from_secs(600),
        ..small_cfg()
    };
    let mut sim = Sim::new(torrent(&data, 8 * 16384));
    let staller = sim.add(Some(&data), Behaviour::Stall, cfg.clone());
    let polluter = sim.add(Some(&data), Behaviour::CorruptRepairs, cfg.clone());
    let good = sim.add(Some(&data), Behaviour::Honest, cfg.clone());
    let d = sim.add(None, Behaviour::Honest, cfg);
    sim.connect(d, staller);
    sim.connect(d, polluter);
    sim.connect(d, good);
    assert!(sim.run_until(Duration::from_secs(300), |sim| sim.complete(d)));
    assert_eq!(sim.nodes[d].data(), data);
    let banned: Vec<SocketAddr> = sim
        .events
        .iter()
        .filter_map(|(i, e)| match e {
            CoreEvent::PeerBanned { addr, .. } if *i == d => Some(*addr),
            _ => None,
        })
        .collect();
    assert_eq!(banned, vec![sim.nodes[polluter].addr]);
    assert!(sim.nodes[polluter].core.stats().repair_served > 0);
    let _ = good;
}

#[test]
fn without_the_fountain_a_staller_holds_its_blocks_until_the_endgame() {
    let (sim, d, _) = stalled_swarm(false);
    let st = sim.nodes[d].core.stats();
    assert_eq!(st.repair_received, 0);
    assert!(st.endgame_requests > 0, "{st:?}");
}

#[test]
fn pieces_over_the_codecs_limit_go_by_blocks_and_the_extension_is_not_offered() {
    // A torrent of 128 MiB pieces (its content is never touched: only the shape matters).
    let pieces = [7u8; 20];
    let mut info = Dict::new();
    info.insert(&b"length"[..], 128i64 << 20);
    info.insert(&b"name"[..], "big.bin");
    info.insert(&b"piece length"[..], 128i64 << 20);
    info.insert(&b"pieces"[..], Value::bytes(&pieces));
    let mut top = Dict::new();
    top.insert(&b"info"[..], info);
    let meta = Arc::new(Metainfo::from_bytes(&Value::Dict(top).to_bytes()).unwrap());
    let now = Instant::now();
    let core =
        TorrentCore::new(CoreConfig::default(), meta.clone(), Bitfield::new(1), now).unwrap();
    assert!(!core.fountain_capable);
    assert_eq!(core.wire.extensions.bf_raptorq, 0);
    // And with pieces within it, offered.
    let data = content(4 * 16384, 9);
    let core = TorrentCore::new(
        CoreConfig::default(),
        torrent(&data, 16384),
        Bitfield::new(4),
        now,
    )
    .unwrap();
    assert!(core.fountain_capable);
    assert_ne!(core.wire.extensions.bf_raptorq, 0);
}
