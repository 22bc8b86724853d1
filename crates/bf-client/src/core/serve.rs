//! Seeding: serving peers' requests from verified pieces kept in memory or read from disk.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use bf_fountain::PieceEncoder;
use bf_wire::{Block, BlockRequest, SymbolRange};
use bytes::{Bytes, BytesMut};

use super::assembly::BLOCK_LEN;
use super::{CoreEvent, Output, PeerKey, TorrentCore};

/// A request from a peer, queued in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServeItem {
    /// A block (REQUEST).
    Block(BlockRequest),
    /// Symbols (SYMBOL_REQUEST); shrinks from the front as they are sent.
    Symbols(SymbolRange),
    /// The rest of a symbol range whose repair symbols were paid for from the budget.
    Paid(SymbolRange),
}

/// Bytes queued for a peer's socket that are always allowed, whatever its rate.
const MIN_UNSENT: usize = 16 * 1024;

/// What serving the front of a queue needs first.
enum Need {
    Piece(u32),
    Encoder(u32),
}

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
    /// Serves `key`'s queued requests while its socket keeps up, reading pieces and preparing
    /// encoders as needed.
    pub(super) fn serve_peer(&mut self, key: PeerKey, now: Instant) {
        let max_queue = 2 * self.wire.max_incoming_requests;
        // Bounded: every pass sends or drops one queued unit, or returns.
        loop {
            let Some(p) = self.peers.get_mut(&key) else {
                return;
            };
            if p.serve.len() > max_queue {
                // A peer that requests and cancels in a loop must not grow the queue.
                let live: HashSet<BlockRequest> = p.conn.peer_requests().collect();
                let ranges: Vec<SymbolRange> = p.conn.peer_symbol_requests().collect();
                p.serve.retain(|item| match item {
                    ServeItem::Block(r) => live.contains(r),
                    ServeItem::Symbols(r) | ServeItem::Paid(r) => {
                        ranges.iter().any(|l| l.piece == r.piece)
                    }
                });
            }
            // A quarter second of what the peer takes, within bounds: enough to keep a fast
            // socket busy, little enough that a CANCEL still finds most requests unsent.
            let limit = ((p.up.rate(now) / 4) as usize).clamp(
                MIN_UNSENT.min(self.cfg.max_unsent_bytes),
                self.cfg.max_unsent_bytes,
            );
            if p.unsent + p.queued >= limit {
                return;
            }
            let Some(item) = p.serve.front().copied() else {
                return;
            };
            let need = match item {
                ServeItem::Block(r) => self.serve_block(key, r, now),
                ServeItem::Symbols(r) => {
                    self.pay_for_repairs(key, r, now);
                    None
                }
                ServeItem::Paid(r) => self.serve_symbol(key, r, now),
            };
            match need {
                None => {}
                Some(Need::Piece(piece)) => {
                    if wait_on(&mut self.reading, piece, key) {
                        self.outputs.push_back(Output::Read(piece));
                    }
                    return;
                }
                Some(Need::Encoder(piece)) => {
                    if wait_on(&mut self.preparing, piece, key) {
                        self.outputs.push_back(Output::PrepareEncoder(piece));
                    }
                    return;
                }
            }
        }
    }

    /// Sends the block at the front of `key`'s queue, or says what it needs first.
    fn serve_block(&mut self, key: PeerKey, r: BlockRequest, now: Instant) -> Option<Need> {
        let Some(data) = self.cache.block(&r) else {
            return Some(Need::Piece(r.piece));
        };
        let p = self.peers.get_mut(&key)?;
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
        None
    }

    /// Takes the front range's repair symbols from the peer's budget; what does not fit is
    /// rejected (the requester asks someone else for fresh ones).
    fn pay_for_repairs(&mut self, key: PeerKey, r: SymbolRange, now: Instant) {
        let k = self
            .shape
            .piece_len(r.piece)
            .map_or(0, |len| len.div_ceil(BLOCK_LEN));
        let at = now.saturating_duration_since(self.epoch);
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.serve.pop_front();
        let end = r.first_esi.saturating_add(r.count);
        let repair_first = r.first_esi.max(k);
        let repairs = end.saturating_sub(repair_first);
        let granted = if repairs > 0 {
            p.repair_budget.take(at, repairs)
        } else {
            0
        };
        let refused = repairs - granted;
        if refused > 0 {
            let rejected = SymbolRange::new(r.piece, end - refused, refused);
            if p.conn.reject_symbols(rejected).is_ok() {
                p.dirty = true;
            }
        }
        let kept = r.count - refused;
        if kept > 0 {
            p.serve.push_front(ServeItem::Paid(SymbolRange::new(
                r.piece,
                r.first_esi,
                kept,
            )));
        }
    }

    /// Sends the first symbol of the front range, or says what it needs first.
    fn serve_symbol(&mut self, key: PeerKey, r: SymbolRange, now: Instant) -> Option<Need> {
        let esi = r.first_esi;
        let len = self.shape.piece_len(r.piece)?;
        let k = len.div_ceil(BLOCK_LEN);
        let data = if esi < k {
            let block = BlockRequest::new(
                r.piece,
                esi * BLOCK_LEN,
                (len - esi * BLOCK_LEN).min(BLOCK_LEN),
            );
            let Some(b) = self.cache.block(&block) else {
                return Some(Need::Piece(r.piece));
            };
            if b.len() == BLOCK_LEN as usize {
                b
            } else {
                // The short last block goes as a symbol of T bytes, zero-padded (spec §4.2).
                let mut padded = BytesMut::zeroed(BLOCK_LEN as usize);
                padded[..b.len()].copy_from_slice(&b);
                padded.freeze()
            }
        } else {
            let Some(enc) = self.encoders.get(r.piece) else {
                return Some(Need::Encoder(r.piece));
            };
            match enc.symbol(esi) {
                Ok(s) => {
                    self.stats.repair_served += 1;
                    s
                }
                // Above the cap: the connection refused such requests already.
                Err(_) => Bytes::new(),
            }
        };
        let p = self.peers.get_mut(&key)?;
        p.serve.pop_front();
        if r.count > 1 {
            p.serve.push_front(ServeItem::Paid(SymbolRange::new(
                r.piece,
                esi + 1,
                r.count - 1,
            )));
        }
        let n = data.len() as u64;
        // Fails for a range cancelled meanwhile (SYMBOL_CANCEL, a choke): skipped.
        if !data.is_empty() && p.conn.send_symbol(r.piece, esi, data).is_ok() {
            p.up.add(now, n);
            p.dirty = true;
            self.stats.uploaded += n;
            p.queued += n as usize;
        }
        None
    }

    pub(super) fn on_encoder_ready(
        &mut self,
        piece: u32,
        encoder: Result<Box<PieceEncoder>, String>,
        now: Instant,
    ) {
        let waiting = self.preparing.remove(&piece).unwrap_or_default();
        match encoder {
            Ok(e) => {
                self.encoders.insert_prepared(*e);
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

/// Adds `key` to the peers waiting on a job for `piece`; true when it is the first (the job
/// is to be started: one read or one encoder per piece, however many peers want it).
fn wait_on(waiting: &mut HashMap<u32, Vec<PeerKey>>, piece: u32, key: PeerKey) -> bool {
    let peers = waiting.entry(piece).or_default();
    let first = peers.is_empty();
    if !peers.contains(&key) {
        peers.push(key);
    }
    first
}
