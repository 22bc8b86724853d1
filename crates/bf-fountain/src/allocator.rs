//! The downloader's choice of ESIs for one piece.

use std::collections::BTreeSet;

use crate::{FountainError, PieceLayout};

/// A run of ESIs to put in one SYMBOL_REQUEST: `first .. first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EsiRun {
    /// First ESI.
    pub first: u32,
    /// Number of consecutive ESIs (≥ 1).
    pub count: u32,
}

impl EsiRun {
    /// The ESIs of the run.
    pub fn esis(&self) -> std::ops::Range<u32> {
        self.first..self.first + self.count
    }
}

/// Hands out ESIs of one piece so that nothing received is ever a duplicate.
///
/// Source ESIs 0..K-1 go out first, in order, like blocks. An ESI whose request is lost
/// (stalled, rejected, peer choked or left) is never asked again: a fresh repair ESI from a
/// per-piece counter (K, K+1, …) replaces it, so a slow peer cannot hold the piece hostage.
/// The target is K symbols received-or-in-flight, plus [`EsiAllocator::SPARE`] once repair
/// symbols are involved (a solve from exactly K symbols fails ~0.7% of the time, from K+1
/// ~0.02%), plus one more after each failed solve.
#[derive(Debug, Clone)]
pub struct EsiAllocator {
    layout: PieceLayout,
    next_source: u32,
    next_repair: u32,
    in_flight: BTreeSet<u32>,
    received: u32,
    lost: BTreeSet<u32>,
    /// Source ESIs whose request certainly failed: asked again before any new one.
    reopened: BTreeSet<u32>,
    extra: u32,
}

impl EsiAllocator {
    /// Spare symbols kept beyond K once any repair ESI has been handed out.
    pub const SPARE: u32 = 1;

    /// An allocator for a piece of `piece_len` bytes.
    pub fn new(piece_len: u64) -> Result<Self, FountainError> {
        let layout = PieceLayout::new(piece_len)?;
        Ok(Self {
            layout,
            next_source: 0,
            next_repair: layout.source_symbols(),
            in_flight: BTreeSet::new(),
            received: 0,
            lost: BTreeSet::new(),
            reopened: BTreeSet::new(),
            extra: 0,
        })
    }

    /// Layout of the piece.
    pub fn layout(&self) -> &PieceLayout {
        &self.layout
    }

    fn target(&self) -> u32 {
        let k = self.layout.source_symbols();
        let repair_involved = self.next_repair > k || !self.lost.is_empty();
        let spare = if repair_involved { Self::SPARE } else { 0 };
        k + spare + self.extra
    }

    /// How many more ESIs should be requested now to reach the target.
    pub fn wanted(&self) -> u32 {
        self.target()
            .saturating_sub(self.received + self.in_flight.len() as u32)
    }

    /// Next run of at most `max` ESIs to request (source ESIs first, then fresh repair ESIs),
    /// or `None` when nothing is wanted or the repair cap is reached.
    pub fn allocate(&mut self, max: u32) -> Option<EsiRun> {
        let k = self.layout.source_symbols();
        let n = self.wanted().min(max);
        if n == 0 {
            return None;
        }
        if let Some(esi) = self.reopened.pop_first() {
            self.in_flight.insert(esi);
            return Some(EsiRun {
                first: esi,
                count: 1,
            });
        }
        let (first, count) = if self.next_source < k {
            (self.next_source, n.min(k - self.next_source))
        } else {
            let room = self.layout.esi_limit().saturating_sub(self.next_repair);
            (self.next_repair, n.min(room))
        };
        if count == 0 {
            return None;
        }
        if first < k {
            self.next_source += count;
        } else {
            self.next_repair += count;
        }
        self.in_flight.extend(first..first + count);
        Some(EsiRun { first, count })
    }

    /// A symbol arrived; returns `false` if its ESI was never handed out (unsolicited).
    ///
    /// An ESI that was declared lost and arrives late still counts: it was never re-asked.
    pub fn on_received(&mut self, esi: u32) -> bool {
        if self.in_flight.remove(&esi) {
            self.received += 1;
            return true;
        }
        if self.lost.remove(&esi) {
            self.received += 1;
            return true;
        }
        false
    }

    /// These ESIs will not arrive (request stalled or rejected, peer choked or left); the
    /// next [`Self::allocate`] replaces them with fresh repair ESIs. Unknown ESIs are ignored.
    pub fn on_lost(&mut self, esis: impl IntoIterator<Item = u32>) {
        for esi in esis.into_iter().take(self.layout.esi_limit() as usize) {
            if self.in_flight.remove(&esi) {
                self.lost.insert(esi);
            }
        }
    }

    /// These ESIs will certainly not arrive (the request was rejected, or its peer left), so
    /// asking again cannot produce a duplicate: a source ESI among them is handed out again,
    /// before any other, by [`Self::allocate`] or [`Self::allocate_source`] (which is how a
    /// swarm of peers without the extension finishes a piece); a repair ESI is dropped.
    pub fn on_gone(&mut self, esis: impl IntoIterator<Item = u32>) {
        for esi in esis.into_iter().take(self.layout.esi_limit() as usize) {
            if self.in_flight.remove(&esi) && self.layout.is_source(esi) {
                self.reopened.insert(esi);
            }
        }
    }

    /// One source ESI for a peer that serves only blocks (no repair symbols): one whose
    /// request certainly failed first, else the next never asked; `None` when none is left
    /// or nothing is wanted.
    pub fn allocate_source(&mut self) -> Option<u32> {
        if self.wanted() == 0 {
            return None;
        }
        let esi = match self.reopened.pop_first() {
            Some(esi) => esi,
            None if self.next_source < self.layout.source_symbols() => {
                self.next_source += 1;
                self.next_source - 1
            }
            None => return None,
        };
        self.in_flight.insert(esi);
        Some(esi)
    }

    /// A solve failed with what was received: ask for one more symbol.
    pub fn on_solve_failed(&mut self) {
        self.extra += 1;
    }

    /// ESIs requested and not yet received or lost (to CANCEL once the piece verifies).
    pub fn in_flight(&self) -> impl Iterator<Item = u32> + '_ {
        self.in_flight.iter().copied()
    }

    /// Number of ESIs in flight.
    pub fn in_flight_count(&self) -> u32 {
        self.in_flight.len() as u32
    }

    /// Number of symbols received.
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Number of ESIs declared lost.
    pub fn lost(&self) -> u32 {
        self.lost.len() as u32
    }

    /// Whether every repair ESI up to the cap has been handed out.
    pub fn exhausted(&self) -> bool {
        self.next_source >= self.layout.source_symbols()
            && self.next_repair >= self.layout.esi_limit()
    }

    /// Starts over after the piece was discarded as corrupt: source ESIs may be asked again
    /// (nothing of them is held any more); the repair counter keeps going.
    pub fn restart(&mut self) {
        self.next_source = 0;
        self.in_flight.clear();
        self.received = 0;
        self.lost.clear();
        self.reopened.clear();
        self.extra = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SYMBOL_SIZE;

    #[test]
    fn sources_then_fresh_repairs_never_a_duplicate() {
        let mut a = EsiAllocator::new(4 * SYMBOL_SIZE as u64).unwrap();
        assert_eq!(a.allocate(3), Some(EsiRun { first: 0, count: 3 }));
        assert_eq!(a.allocate(3), Some(EsiRun { first: 3, count: 1 }));
        assert_eq!(a.allocate(3), None); // K in flight, all source: no spare needed
        assert!(a.on_received(0) && a.on_received(3));
        a.on_lost([1, 2]);
        assert_eq!(a.wanted(), 3); // two replacements + the spare
                                   // Two replacements + one spare now that repair symbols are involved.
        assert_eq!(a.allocate(10), Some(EsiRun { first: 4, count: 3 }));
        assert_eq!(a.allocate(10), None);
        assert!(a.on_received(1)); // late arrival of a lost ESI still counts
        assert!(!a.on_received(100));
        assert_eq!(a.received(), 3);
        assert_eq!(a.in_flight().collect::<Vec<_>>(), vec![4, 5, 6]);
        a.on_solve_failed();
        assert_eq!(a.wanted(), 0); // 3 received + 3 in flight = K + 2
    }

    #[test]
    fn a_certainly_lost_source_is_asked_again_of_a_plain_peer() {
        let mut a = EsiAllocator::new(3 * SYMBOL_SIZE as u64).unwrap();
        assert_eq!(a.allocate_source(), Some(0));
        assert_eq!(a.allocate_source(), Some(1));
        assert_eq!(a.allocate_source(), Some(2));
        assert_eq!(a.allocate_source(), None);
        // The peer with ESI 1 left: a plain peer can still fetch block 1.
        a.on_gone([1]);
        assert!(a.on_received(0) && a.on_received(2));
        assert_eq!(a.allocate_source(), Some(1));
        assert!(a.on_received(1));
        assert_eq!(a.received(), 3);
        assert_eq!(a.wanted(), 0);
        assert_eq!(a.lost(), 0);
    }

    #[test]
    fn repair_cap_is_respected() {
        let mut a = EsiAllocator::new(1).unwrap();
        let mut seen = BTreeSet::new();
        for _ in 0..200 {
            match a.allocate(5) {
                Some(run) => {
                    for e in run.esis() {
                        assert!(seen.insert(e), "duplicate ESI {e}");
                    }
                    a.on_lost(run.esis());
                }
                None => break,
            }
        }
        assert!(a.exhausted());
        assert_eq!(seen.len() as u32, a.layout().esi_limit());
    }
}
