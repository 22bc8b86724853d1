//! One piece in flight: which blocks are open, requested (from whom, since when) or held.
//!
//! Every block of a piece being downloaded is tracked here and nowhere else; connections
//! only carry requests. The invariants (also in docs/architecture.md):
//!
//! - a block is *held* (data and sender recorded), *requested* (one or more requesters, each
//!   with the time of the request) or *open* (neither); `open` counts the open blocks;
//! - a peer appears at most once among a block's requesters, and exactly when its connection
//!   has that block request outstanding;
//! - a held block has no requesters: when data arrives the other requesters are handed back
//!   to be cancelled;
//! - `next_open` is a lower bound of the first open block, so handing out blocks in order
//!   costs O(1) amortised.
//!
//! A piece that may be fetched with the fountain extension also has a [`Repair`] part:
//!
//! - a block is *abandoned* when its request went to a peer that stopped answering and a
//!   fountain peer can stand in: it is neither open nor requested (asking for it again could
//!   bring a duplicate when the first copy arrives late), and a fresh repair symbol replaces
//!   it; if it arrives after all, it is held like any block;
//! - repair ESIs come from one counter that starts at K and only grows (never an ESI twice),
//!   below the piece's cap (2K + 64); each is in flight with one peer, or held, or was lost;
//! - `deficit()` = K + extra − held − (requested + open blocks) − repair symbols in flight:
//!   how many repair symbols to ask for now (extra counts failed decodes);
//! - a piece with all K blocks is complete without decoding; one with fewer blocks but at
//!   least K + extra symbols is decoded (once at a time: symbols that arrive meanwhile are
//!   kept for the next attempt).

use std::collections::BTreeMap;
use std::time::Instant;

use bf_wire::BlockRequest;
use bytes::Bytes;

use super::PeerKey;

/// The BEP 3 block size, also the fountain extension's symbol size T.
pub const BLOCK_LEN: u32 = 16 * 1024;

#[derive(Debug, Default, Clone)]
struct Slot {
    data: Option<(Bytes, PeerKey)>,
    requesters: Vec<(PeerKey, Instant)>,
    abandoned: bool,
}

/// The fountain part of a piece in flight.
#[derive(Debug, Clone)]
pub struct Repair {
    /// K.
    k: u32,
    /// First ESI not valid any more (2K + 64).
    cap: u32,
    next_esi: u32,
    in_flight: BTreeMap<u32, (PeerKey, Instant)>,
    held: BTreeMap<u32, (Bytes, PeerKey)>,
    abandoned: u32,
    /// One more symbol wanted per failed decode.
    extra: u32,
    decoding: bool,
    /// A decode failed its hash once and more symbols were asked so that each sender can be
    /// left out in turn.
    widened: bool,
}

/// A symbol of a piece, with its sender: what a decode is given.
pub type Symbol = (u32, Bytes, PeerKey);

/// What [`Assembly::receive`] did with a block.
#[derive(Debug, PartialEq, Eq)]
pub enum Received {
    /// Stored; these other peers had it requested too and should be sent a CANCEL.
    New {
        /// Requesters other than the sender.
        cancel: Vec<PeerKey>,
    },
    /// The block was already held: the bytes are redundant.
    Duplicate,
}

/// The state of one piece being downloaded.
#[derive(Debug, Clone)]
pub struct Assembly {
    piece: u32,
    len: u32,
    slots: Vec<Slot>,
    open: u32,
    held: u32,
    next_open: u32,
    repair: Option<Repair>,
    /// A request of this piece went to a peer that stopped answering.
    given_up: bool,
    /// When the piece was started (older pieces are finished first).
    pub started: Instant,
}

impl Assembly {
    /// Piece `piece` of `len` bytes (len > 0), nothing requested yet; `fountain` when repair
    /// symbols may complete it (`len` within the codec's limit).
    pub fn new(piece: u32, len: u32, fountain: bool, now: Instant) -> Self {
        let blocks = len.div_ceil(BLOCK_LEN);
        let repair = fountain.then(|| Repair {
            k: blocks,
            cap: bf_fountain::PieceLayout::new(u64::from(len)).map_or(blocks, |l| l.esi_limit()),
            next_esi: blocks,
            in_flight: BTreeMap::new(),
            held: BTreeMap::new(),
            abandoned: 0,
            extra: 0,
            decoding: false,
            widened: false,
        });
        Assembly {
            piece,
            len,
            slots: vec![Slot::default(); blocks as usize],
            open: blocks,
            held: 0,
            next_open: 0,
            repair,
            given_up: false,
            started: now,
        }
    }

    /// The piece index.
    pub fn piece(&self) -> u32 {
        self.piece
    }

    /// The piece length in bytes.
    pub fn piece_len(&self) -> u32 {
        self.len
    }

    /// Number of blocks.
    pub fn block_count(&self) -> u32 {
        self.slots.len() as u32
    }

    /// The block index of a request, if it names exactly one block of this piece.
    pub fn block_of(&self, r: &BlockRequest) -> Option<u32> {
        if r.piece != self.piece || r.begin % BLOCK_LEN != 0 {
            return None;
        }
        let i = r.begin / BLOCK_LEN;
        (i < self.block_count() && r.length == self.block_len(i)).then_some(i)
    }

    /// Length of block `i` (the last one may be short).
    pub fn block_len(&self, i: u32) -> u32 {
        (self.len - i * BLOCK_LEN).min(BLOCK_LEN)
    }

    /// The wire request for block `i`.
    pub fn request_for(&self, i: u32) -> BlockRequest {
        BlockRequest::new(self.piece, i * BLOCK_LEN, self.block_len(i))
    }

    /// Blocks neither held nor requested.
    pub fn open(&self) -> u32 {
        self.open
    }

    /// Blocks held.
    pub fn held(&self) -> u32 {
        self.held
    }

    /// Whether every block is held.
    pub fn is_complete(&self) -> bool {
        self.held == self.block_count()
    }

    /// The first open block, if any.
    pub fn next_open(&mut self) -> Option<u32> {
        if self.open == 0 {
            return None;
        }
        while (self.next_open as usize) < self.slots.len() {
            let s = &self.slots[self.next_open as usize];
            if s.data.is_none() && s.requesters.is_empty() && !s.abandoned {
                return Some(self.next_open);
            }
            self.next_open += 1;
        }
        None
    }

    /// For the endgame: a block not held, requested by others but not by `peer`, with the
    /// fewest requesters (oldest request first among equals), if it has fewer than `max`.
    pub fn endgame_block(&self, peer: PeerKey, max: usize) -> Option<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                s.data.is_none()
                    && !s.requesters.is_empty()
                    && s.requesters.len() < max
                    && !s.requesters.iter().any(|(p, _)| *p == peer)
            })
            .min_by_key(|(_, s)| {
                let oldest = s.requesters.iter().map(|(_, t)| *t).min();
                (s.requesters.len(), oldest)
            })
            .map(|(i, _)| i as u32)
    }

    /// Records that `peer` requested block `i` at `now`.
    pub fn mark_requested(&mut self, i: u32, peer: PeerKey, now: Instant) {
        let Some(s) = self.slots.get_mut(i as usize) else {
            return;
        };
        if s.data.is_some() || s.requesters.iter().any(|(p, _)| *p == peer) {
            return;
        }
        if s.requesters.is_empty() {
            self.open -= 1;
        }
        s.requesters.push((peer, now));
    }

    /// `peer`'s request for block `i` will not be answered and cannot arrive late (rejected,
    /// or the peer left): the block may be asked again. Whether the block became open.
    pub fn release(&mut self, i: u32, peer: PeerKey) -> bool {
        let Some(s) = self.slots.get_mut(i as usize) else {
            return false;
        };
        let before = s.requesters.len();
        s.requesters.retain(|(p, _)| *p != peer);
        if before > 0 && s.requesters.is_empty() && s.data.is_none() {
            self.open += 1;
            self.next_open = self.next_open.min(i);
            return true;
        }
        false
    }

    /// Whether `peer` has any block of this piece requested.
    pub fn is_requested_by_peer(&self, peer: PeerKey) -> bool {
        self.slots
            .iter()
            .any(|s| s.requesters.iter().any(|(p, _)| *p == peer))
    }

    /// Whether `peer` has block `i` requested.
    pub fn is_requested_by(&self, i: u32, peer: PeerKey) -> bool {
        self.slots
            .get(i as usize)
            .is_some_and(|s| s.requesters.iter().any(|(p, _)| *p == peer))
    }

    /// `peer`'s request for block `i` was given up although its answer may still come (the
    /// peer stalled — `stalled` — or choked us and dropped it, or is much slower than a
    /// fountain peer taking over at the tail). A fountain piece abandons the block (a
    /// repair symbol replaces it, so a late copy is never a duplicate); otherwise the block
    /// opens again. Whether the block is now abandoned.
    pub fn give_up(&mut self, i: u32, peer: PeerKey, stalled: bool) -> bool {
        self.given_up |= stalled && self.is_requested_by(i, peer);
        if self.repair.is_none() {
            self.release(i, peer);
            return false;
        }
        let Some(s) = self.slots.get_mut(i as usize) else {
            return false;
        };
        let before = s.requesters.len();
        s.requesters.retain(|(p, _)| *p != peer);
        if before > 0 && s.requesters.is_empty() && s.data.is_none() {
            s.abandoned = true;
            if let Some(r) = &mut self.repair {
                r.abandoned += 1;
            }
            return true;
        }
        false
    }

    /// Opens every abandoned block again (no fountain peer can stand in for them any more).
    pub fn reopen_abandoned(&mut self) {
        let Some(r) = &mut self.repair else { return };
        if r.abandoned == 0 {
            return;
        }
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.abandoned {
                s.abandoned = false;
                self.open += 1;
                self.next_open = self.next_open.min(i as u32);
            }
        }
        r.abandoned = 0;
    }

    /// Stores block `i` (already checked to have the block's length) from `peer`.
    pub fn receive(&mut self, i: u32, peer: PeerKey, data: Bytes) -> Received {
        let Some(s) = self.slots.get_mut(i as usize) else {
            return Received::Duplicate;
        };
        if s.data.is_some() {
            return Received::Duplicate;
        }
        if s.abandoned {
            // Late, after a repair symbol was asked in its place: welcome all the same.
            s.abandoned = false;
            if let Some(r) = &mut self.repair {
                r.abandoned -= 1;
            }
        } else if s.requesters.is_empty() {
            // A late block for a request that had been given up: welcome all the same.
            self.open -= 1;
        }
        let cancel = s
            .requesters
            .drain(..)
            .map(|(p, _)| p)
            .filter(|p| *p != peer)
            .collect();
        s.data = Some((data, peer));
        self.held += 1;
        Received::New { cancel }
    }

    /// The blocks in order, zero-copy (only meaningful once complete).
    pub fn blocks(&self) -> Vec<Bytes> {
        self.slots
            .iter()
            .filter_map(|s| s.data.as_ref().map(|(d, _)| d.clone()))
            .collect()
    }

    /// Who sent block `i`.
    pub fn sender_of(&self, i: u32) -> Option<PeerKey> {
        self.slots.get(i as usize)?.data.as_ref().map(|(_, p)| *p)
    }

    /// Distinct senders of held blocks.
    pub fn senders(&self) -> Vec<PeerKey> {
        let mut out: Vec<PeerKey> = Vec::new();
        for (_, p) in self.slots.iter().filter_map(|s| s.data.as_ref()) {
            if !out.contains(p) {
                out.push(*p);
            }
        }
        out
    }

    /// Whether a request of this piece was given up because its peer stopped answering.
    pub fn was_held_up(&self) -> bool {
        self.given_up
    }

    /// Whether anyone has a block or a repair symbol of this piece requested.
    pub fn has_requests(&self) -> bool {
        self.slots.iter().any(|s| !s.requesters.is_empty())
            || self
                .repair
                .as_ref()
                .is_some_and(|r| !r.in_flight.is_empty())
    }

    /// The outstanding block requests of `peers`, newest first: (block, requester).
    pub fn newest_requests_of(&self, peers: &[PeerKey]) -> Vec<(u32, PeerKey)> {
        let mut v: Vec<(u32, PeerKey, Instant)> = self
            .slots
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.requesters.iter().map(move |(p, t)| (i as u32, *p, *t)))
            .filter(|(_, p, _)| peers.contains(p))
            .collect();
        v.sort_by_key(|(_, _, t)| std::cmp::Reverse(*t));
        v.into_iter().map(|(i, p, _)| (i, p)).collect()
    }

    /// Every outstanding block request: (block, requester).
    pub fn block_requests(&self) -> Vec<(u32, PeerKey)> {
        self.slots
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.requesters.iter().map(move |(p, _)| (i as u32, *p)))
            .collect()
    }

    // ----- the fountain part -----

    /// Whether repair symbols may complete this piece.
    pub fn is_fountain(&self) -> bool {
        self.repair.is_some()
    }

    /// Blocks abandoned to repair symbols.
    pub fn abandoned(&self) -> u32 {
        self.repair.as_ref().map_or(0, |r| r.abandoned)
    }

    /// Repair symbols held.
    pub fn repairs_held(&self) -> u32 {
        self.repair.as_ref().map_or(0, |r| r.held.len() as u32)
    }

    /// Whether a decode of this piece is running.
    pub fn is_decoding(&self) -> bool {
        self.repair.as_ref().is_some_and(|r| r.decoding)
    }

    /// How many repair symbols to ask for now (0 for a piece without the fountain part, or
    /// while it is being decoded).
    pub fn deficit(&self) -> u32 {
        let Some(r) = &self.repair else { return 0 };
        if r.decoding {
            return 0;
        }
        let requested = self
            .slots
            .iter()
            .filter(|s| s.data.is_none() && !s.requesters.is_empty())
            .count() as u32;
        let covered =
            self.held + r.held.len() as u32 + requested + self.open + r.in_flight.len() as u32;
        (r.k + r.extra).saturating_sub(covered)
    }

    /// The next `n` fresh repair ESIs (fewer near the cap), recorded as in flight with
    /// `peer`: `(first, count)`, or `None` when the cap is reached.
    pub fn take_repair(&mut self, n: u32, peer: PeerKey, now: Instant) -> Option<(u32, u32)> {
        let r = self.repair.as_mut()?;
        let count = n.min(r.cap.saturating_sub(r.next_esi));
        if count == 0 {
            return None;
        }
        let first = r.next_esi;
        r.next_esi += count;
        for esi in first..first + count {
            r.in_flight.insert(esi, (peer, now));
        }
        Some((first, count))
    }

    /// Repair ESIs `first .. first + count` asked of `peer` will not come (rejected, the peer
    /// choked or left): they are forgotten, never asked again; the deficit grows instead.
    pub fn repairs_lost(&mut self, peer: PeerKey, first: u32, count: u32) {
        if let Some(r) = &mut self.repair {
            let end = first.saturating_add(count);
            r.in_flight
                .retain(|esi, (p, _)| !(*esi >= first && *esi < end && *p == peer));
        }
    }

    /// Every repair ESI in flight with `peer` is lost.
    pub fn all_repairs_lost(&mut self, peer: PeerKey) {
        if let Some(r) = &mut self.repair {
            r.in_flight.retain(|_, (p, _)| *p != peer);
        }
    }

    /// Symbols needed to complete the piece: K, plus one per failed decode.
    pub fn need(&self) -> u32 {
        self.block_count() + self.repair.as_ref().map_or(0, |r| r.extra)
    }

    /// Repair symbols of this piece in flight.
    pub fn repairs_in_flight(&self) -> u32 {
        self.repair.as_ref().map_or(0, |r| r.in_flight.len() as u32)
    }

    /// Peers with repair symbols of this piece in flight.
    pub fn repair_requesters(&self) -> Vec<PeerKey> {
        let mut out = Vec::new();
        if let Some(r) = &self.repair {
            for (p, _) in r.in_flight.values() {
                if !out.contains(p) {
                    out.push(*p);
                }
            }
        }
        out
    }

    /// Stores repair symbol `esi` (T bytes, validated) from `peer`; false when it was
    /// already held (or the piece has no fountain part).
    pub fn receive_repair(&mut self, esi: u32, peer: PeerKey, data: Bytes) -> bool {
        let Some(r) = &mut self.repair else {
            return false;
        };
        r.in_flight.remove(&esi);
        if esi < r.k || esi >= r.cap || r.held.contains_key(&esi) {
            return false;
        }
        r.held.insert(esi, (data, peer));
        true
    }

    /// Whether a decode can be started now: fewer than K blocks, but at least K + extra
    /// symbols, some of them repair, and no decode running.
    pub fn decode_ready(&self) -> bool {
        let Some(r) = &self.repair else { return false };
        !r.decoding
            && !self.is_complete()
            && !r.held.is_empty()
            && self.held + r.held.len() as u32 >= r.k + r.extra
    }

    /// Marks a decode as started and hands out every symbol held: (blocks, repair symbols).
    pub fn start_decode(&mut self) -> (Vec<Symbol>, Vec<Symbol>) {
        if let Some(r) = &mut self.repair {
            r.decoding = true;
        }
        (self.held_blocks(), self.held_repairs())
    }

    /// The blocks held, with their ESIs and senders.
    pub fn held_blocks(&self) -> Vec<Symbol> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.data.as_ref().map(|(d, p)| (i as u32, d.clone(), *p)))
            .collect()
    }

    /// The repair symbols held, with their ESIs and senders.
    pub fn held_repairs(&self) -> Vec<Symbol> {
        self.repair.as_ref().map_or_else(Vec::new, |r| {
            r.held
                .iter()
                .map(|(esi, (d, p))| (*esi, d.clone(), *p))
                .collect()
        })
    }

    /// A decode could not solve with what it had: one more symbol is wanted.
    pub fn decode_failed(&mut self) {
        if let Some(r) = &mut self.repair {
            r.decoding = false;
            r.extra += 1;
        }
    }

    /// A decode failed its hash and no sender could be left out (too few symbols without
    /// any one of them). The first time, the symbols are kept and as many more are wanted
    /// as the largest sender gave, so that the next decode can leave out each sender in turn
    /// and name the liar; returns false when that was already tried (then
    /// [`Assembly::discard`]).
    pub fn widen_for_leave_one_out(&mut self) -> bool {
        let largest = {
            let mut counts: Vec<(PeerKey, u32)> = Vec::new();
            let senders = self
                .slots
                .iter()
                .filter_map(|s| s.data.as_ref().map(|(_, p)| *p))
                .chain(
                    self.repair
                        .iter()
                        .flat_map(|r| r.held.values().map(|(_, p)| *p)),
                );
            for p in senders {
                match counts.iter_mut().find(|(k, _)| *k == p) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((p, 1)),
                }
            }
            counts.iter().map(|(_, n)| *n).max().unwrap_or(0)
        };
        let Some(r) = &mut self.repair else {
            return false;
        };
        r.decoding = false;
        if r.widened {
            return false;
        }
        r.widened = true;
        r.extra += largest;
        true
    }

    /// The piece failed its hash and no sender could be named: every symbol held is dropped
    /// and the blocks open again (outstanding requests stay; the repair counter keeps going).
    pub fn discard(&mut self) {
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.data.take().is_some() || s.abandoned {
                s.abandoned = false;
                if s.requesters.is_empty() {
                    self.open += 1;
                }
                self.next_open = self.next_open.min(i as u32);
            }
        }
        self.held = 0;
        if let Some(r) = &mut self.repair {
            r.held.clear();
            r.abandoned = 0;
            r.extra = 0;
            r.decoding = false;
            r.widened = false;
        }
    }

    /// Drops everything `peer` sent (it was banned): its blocks open again, its repair
    /// symbols are forgotten. How many symbols were dropped.
    pub fn discard_from(&mut self, peer: PeerKey) -> u32 {
        let mut n = 0;
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.data.as_ref().is_some_and(|(_, p)| *p == peer) {
                // A held block has no requesters: it goes straight back to open.
                s.data = None;
                self.held -= 1;
                self.open += 1;
                self.next_open = self.next_open.min(i as u32);
                n += 1;
            }
        }
        if let Some(r) = &mut self.repair {
            let before = r.held.len();
            r.held.retain(|_, (_, p)| *p != peer);
            n += (before - r.held.len()) as u32;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_go_open_requested_held() {
        let now = Instant::now();
        let (a, b) = (PeerKey(1), PeerKey(2));
        let mut asm = Assembly::new(3, 2 * BLOCK_LEN + 10, false, now);
        assert_eq!(asm.block_count(), 3);
        assert_eq!(asm.block_len(2), 10);
        assert_eq!(asm.next_open(), Some(0));
        asm.mark_requested(0, a, now);
        asm.mark_requested(1, a, now);
        assert_eq!(asm.next_open(), Some(2));
        asm.mark_requested(2, a, now);
        assert_eq!(asm.next_open(), None);
        // Endgame: b may double up on a's blocks.
        assert_eq!(asm.endgame_block(b, 2), Some(0));
        asm.mark_requested(1, b, now);
        assert_eq!(asm.endgame_block(b, 2), Some(0));
        assert_eq!(
            asm.receive(1, b, Bytes::from(vec![0; BLOCK_LEN as usize])),
            Received::New { cancel: vec![a] }
        );
        assert_eq!(
            asm.receive(1, a, Bytes::from(vec![0; BLOCK_LEN as usize])),
            Received::Duplicate
        );
        // a leaves: its blocks open again.
        assert!(asm.release(0, a));
        assert!(asm.release(2, a));
        assert_eq!(asm.open(), 2);
        assert_eq!(asm.next_open(), Some(0));
        assert_eq!(
            asm.block_of(&BlockRequest::new(3, 2 * BLOCK_LEN, 10)),
            Some(2)
        );
        assert_eq!(asm.block_of(&BlockRequest::new(3, 5, 10)), None);
        // b is banned: its block opens again, first in line.
        assert_eq!(asm.discard_from(b), 1);
        assert_eq!((asm.open(), asm.held()), (3, 0));
        assert_eq!(asm.next_open(), Some(0));
        asm.mark_requested(0, a, now);
        assert_eq!(asm.next_open(), Some(1));
    }
}
