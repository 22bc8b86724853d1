//! Seeding: serving peers' requests from verified pieces kept in memory or read from disk.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bf_wire::{Block, BlockRequest};
use bytes::{Bytes, BytesMut};

use super::assembly::BLOCK_LEN;
use super::{CoreEvent, Output, PeerKey, TorrentCore};

/// Verified pieces in memory, least recently used evicted first, bounded by bytes.
///
/// A piece is kept as its 16 KiB blocks (zero-copy slices of what was received or read),
/// which is how peers ask for it.
#[derive(Debug)]
pub(super) struct ReadCache {
    budget: u64,
    used: u64,
    clock: u64,
    pieces: HashMap<u32, Cached>,
}

#[derive(Debug)]
struct Cached {
    blocks: Vec<Bytes>,
    len: u32,
    last_use: u64,
}

impl ReadCache {
    pub fn new(budget: u64) -> Self {
        ReadCache {
            budget,
            used: 0,
            clock: 0,
            pieces: HashMap::new(),
        }
    }

    /// Keeps `piece` (`len` bytes as 16 KiB blocks, the last one possibly short).
    pub fn insert_blocks(&mut self, piece: u32, blocks: Vec<Bytes>, len: u32) {
        if u64::from(len) > self.budget {
            return;
        }
        self.clock += 1;
        if let Some(old) = self.pieces.remove(&piece) {
            self.used -= u64::from(old.len);
        }
        while self.used + u64::from(len) > self.budget {
            let Some((&oldest, _)) = self.pieces.iter().min_by_key(|(_, c)| c.last_use) else {
                break;
            };
            if let Some(c) = self.pieces.remove(&oldest) {
                self.used -= u64::from(c.len);
            }
        }
        self.used += u64::from(len);
        self.pieces.insert(
            piece,
            Cached {
                blocks,
                len,
                last_use: self.clock,
            },
        );
    }

    /// Keeps `piece` read from disk as one buffer.
    pub fn insert_piece(&mut self, piece: u32, data: Bytes) {
        let len = data.len() as u32;
        let blocks = (0..data.len())
            .step_by(BLOCK_LEN as usize)
            .map(|at| data.slice(at..(at + BLOCK_LEN as usize).min(data.len())))
            .collect();
        self.insert_blocks(piece, blocks, len);
    }

    /// The bytes of `r`, if its piece is here: zero-copy when it is one whole block.
    pub fn block(&mut self, r: &BlockRequest) -> Option<Bytes> {
        self.clock += 1;
        let c = self.pieces.get_mut(&r.piece)?;
        c.last_use = self.clock;
        let (begin, end) = (r.begin as usize, r.begin as usize + r.length as usize);
        if end > c.len as usize {
            return None;
        }
        let b = BLOCK_LEN as usize;
        let first = begin / b;
        if begin % b == 0 && (end - begin == b || end == c.len as usize) && end - begin <= b {
            return c.blocks.get(first).cloned();
        }
        // A request that is not block-aligned: copy it together.
        let mut out = BytesMut::with_capacity(end - begin);
        let mut at = begin;
        while at < end {
            let blk = c.blocks.get(at / b)?;
            let off = at % b;
            let take = (blk.len() - off).min(end - at);
            out.extend_from_slice(&blk[off..off + take]);
            at += take;
        }
        Some(out.freeze())
    }

    pub fn clear(&mut self) {
        self.pieces.clear();
        self.used = 0;
    }
}

impl TorrentCore {
    /// Serves `key`'s queued requests while its socket keeps up, reading pieces as needed.
    pub(super) fn serve_peer(&mut self, key: PeerKey, now: Instant) {
        let max_queue = 2 * self.wire.max_incoming_requests;
        loop {
            let Some(p) = self.peers.get_mut(&key) else {
                return;
            };
            if p.serve.len() > max_queue {
                // A peer that requests and cancels in a loop must not grow the queue.
                let live: HashSet<BlockRequest> = p.conn.peer_requests().collect();
                p.serve.retain(|r| live.contains(r));
            }
            if p.unsent + p.queued >= self.cfg.max_unsent_bytes {
                return;
            }
            let Some(r) = p.serve.front().copied() else {
                return;
            };
            let Some(data) = self.cache.block(&r) else {
                let waiting = self.reading.entry(r.piece).or_default();
                if waiting.is_empty() {
                    self.outputs.push_back(Output::Read(r.piece));
                }
                if !waiting.contains(&key) {
                    waiting.push(key);
                }
                return;
            };
            p.serve.pop_front();
            let len = data.len() as u64;
            let block = Block {
                piece: r.piece,
                begin: r.begin,
                data,
            };
            // Fails only for a request cancelled (or dropped by a choke) meanwhile: skipped.
            if p.conn.send_block(block).is_ok() {
                p.up.add(now, len);
                p.dirty = true;
                self.stats.uploaded += len;
                p.queued += len as usize;
            }
        }
    }

    pub(super) fn on_piece_read(&mut self, piece: u32, data: Result<Bytes, String>, now: Instant) {
        let waiting = self.reading.remove(&piece).unwrap_or_default();
        match data {
            Ok(d) => {
                self.cache.insert_piece(piece, d);
                for k in waiting {
                    self.serve_peer(k, now);
                }
            }
            Err(e) => {
                self.push_event(CoreEvent::StorageFailed(format!(
                    "reading piece {piece}: {e}"
                )));
                self.stop();
            }
        }
    }
}
