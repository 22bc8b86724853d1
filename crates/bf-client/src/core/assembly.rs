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
}

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
    /// When the piece was started (older pieces are finished first).
    pub started: Instant,
}

impl Assembly {
    /// Piece `piece` of `len` bytes (len > 0), nothing requested yet.
    pub fn new(piece: u32, len: u32, now: Instant) -> Self {
        let blocks = len.div_ceil(BLOCK_LEN);
        Assembly {
            piece,
            len,
            slots: vec![Slot::default(); blocks as usize],
            open: blocks,
            held: 0,
            next_open: 0,
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
            if s.data.is_none() && s.requesters.is_empty() {
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

    /// `peer`'s request for block `i` is gone (rejected, dropped by a choke, timed out,
    /// cancelled, or the peer left). Whether the block became open.
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

    /// Whether `peer` has block `i` requested.
    pub fn is_requested_by(&self, i: u32, peer: PeerKey) -> bool {
        self.slots
            .get(i as usize)
            .is_some_and(|s| s.requesters.iter().any(|(p, _)| *p == peer))
    }

    /// Stores block `i` (already checked to have the block's length) from `peer`.
    pub fn receive(&mut self, i: u32, peer: PeerKey, data: Bytes) -> Received {
        let Some(s) = self.slots.get_mut(i as usize) else {
            return Received::Duplicate;
        };
        if s.data.is_some() {
            return Received::Duplicate;
        }
        if s.requesters.is_empty() {
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

    /// Drops every block `peer` sent (it was banned): they become open again. How many.
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
        n
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

    /// Whether anyone has a block of this piece requested.
    pub fn has_requests(&self) -> bool {
        self.slots.iter().any(|s| !s.requesters.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_go_open_requested_held() {
        let now = Instant::now();
        let (a, b) = (PeerKey(1), PeerKey(2));
        let mut asm = Assembly::new(3, 2 * BLOCK_LEN + 10, now);
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
