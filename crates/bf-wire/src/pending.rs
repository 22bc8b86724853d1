//! Bookkeeping of outstanding symbol ranges and of recently cancelled requests.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use crate::fountain::SymbolRange;

/// One outstanding span of ESIs `start..end` of a piece, with when it was requested.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    end: u32,
    since: Instant,
}

/// Outstanding symbol requests, by piece. ESIs are below 2^24, so `end` fits in a u32.
#[derive(Clone, Debug, Default)]
pub(crate) struct PendingSymbols {
    by_piece: BTreeMap<u32, Vec<Span>>,
    total: u64,
}

impl PendingSymbols {
    /// How many ESIs are outstanding.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// Whether any ESI of `r` is outstanding.
    pub(crate) fn overlaps(&self, r: &SymbolRange) -> bool {
        let end = r.end();
        self.by_piece.get(&r.piece).is_some_and(|spans| {
            spans
                .iter()
                .any(|s| u64::from(s.start) < end && u64::from(r.first_esi) < u64::from(s.end))
        })
    }

    /// Adds a valid range (the caller checked `r.is_valid()`).
    pub(crate) fn insert(&mut self, r: SymbolRange, since: Instant) {
        let end = r.end().min(u64::from(u32::MAX)) as u32;
        self.by_piece.entry(r.piece).or_default().push(Span {
            start: r.first_esi,
            end,
            since,
        });
        self.total += u64::from(end - r.first_esi);
    }

    /// Removes one ESI; whether it was outstanding.
    pub(crate) fn take_one(&mut self, piece: u32, esi: u32) -> bool {
        let Some(spans) = self.by_piece.get_mut(&piece) else {
            return false;
        };
        let Some(i) = spans.iter().position(|s| s.start <= esi && esi < s.end) else {
            return false;
        };
        let s = spans[i];
        match (s.start == esi, esi + 1 == s.end) {
            (true, true) => {
                spans.swap_remove(i);
            }
            (true, false) => spans[i].start += 1,
            (false, true) => spans[i].end -= 1,
            (false, false) => {
                spans[i].end = esi;
                spans.push(Span {
                    start: esi + 1,
                    ..s
                });
            }
        }
        if spans.is_empty() {
            self.by_piece.remove(&piece);
        }
        self.total -= 1;
        true
    }

    /// Removes the ESIs of `r` that are outstanding; returns them as ranges.
    pub(crate) fn remove_range(&mut self, r: &SymbolRange) -> Vec<SymbolRange> {
        let Some(spans) = self.by_piece.get_mut(&r.piece) else {
            return Vec::new();
        };
        let (lo, hi) = (u64::from(r.first_esi), r.end());
        let mut removed = Vec::new();
        let mut kept = Vec::with_capacity(spans.len());
        for s in spans.drain(..) {
            let (a, b) = (u64::from(s.start).max(lo), u64::from(s.end).min(hi));
            if a >= b {
                kept.push(s);
                continue;
            }
            removed.push(SymbolRange::new(r.piece, a as u32, (b - a) as u32));
            if u64::from(s.start) < a {
                kept.push(Span { end: a as u32, ..s });
            }
            if b < u64::from(s.end) {
                kept.push(Span {
                    start: b as u32,
                    ..s
                });
            }
        }
        *spans = kept;
        removed.sort();
        if spans.is_empty() {
            self.by_piece.remove(&r.piece);
        }
        self.total -= removed.iter().map(|r| u64::from(r.count)).sum::<u64>();
        removed
    }

    /// Removes every range of the pieces for which `pick` is true.
    pub(crate) fn remove_where(&mut self, mut pick: impl FnMut(u32) -> bool) -> Vec<SymbolRange> {
        let pieces: Vec<u32> = self.by_piece.keys().copied().filter(|&p| pick(p)).collect();
        let mut out = Vec::new();
        for piece in pieces {
            if let Some(mut spans) = self.by_piece.remove(&piece) {
                spans.sort_by_key(|s| s.start);
                for s in spans {
                    self.total -= u64::from(s.end - s.start);
                    out.push(SymbolRange::new(piece, s.start, s.end - s.start));
                }
            }
        }
        out
    }

    /// Every outstanding range with when it was requested.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SymbolRange, Instant)> + '_ {
        self.by_piece.iter().flat_map(|(&piece, spans)| {
            spans
                .iter()
                .map(move |s| (SymbolRange::new(piece, s.start, s.end - s.start), s.since))
        })
    }
}

/// The last `cap` distinct items pushed: what was cancelled recently enough that its
/// answer may still be on the wire.
#[derive(Clone, Debug)]
pub(crate) struct Recent<T: Ord + Copy> {
    order: VecDeque<T>,
    set: BTreeSet<T>,
    cap: usize,
}

impl<T: Ord + Copy> Recent<T> {
    pub(crate) fn new(cap: usize) -> Self {
        Recent {
            order: VecDeque::new(),
            set: BTreeSet::new(),
            cap: cap.max(1),
        }
    }

    pub(crate) fn push(&mut self, item: T) {
        if self.set.insert(item) {
            self.order.push_back(item);
            if self.order.len() > self.cap {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub(crate) fn contains(&self, item: &T) -> bool {
        self.set.contains(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_split_and_remove() {
        let now = Instant::now();
        let mut p = PendingSymbols::default();
        p.insert(SymbolRange::new(1, 10, 10), now);
        assert!(p.overlaps(&SymbolRange::new(1, 19, 5)));
        assert!(!p.overlaps(&SymbolRange::new(1, 20, 5)));
        assert!(!p.overlaps(&SymbolRange::new(2, 10, 5)));
        assert!(p.take_one(1, 15));
        assert!(!p.take_one(1, 15));
        assert!(p.take_one(1, 10) && p.take_one(1, 19));
        assert_eq!(p.total(), 7);
        let removed = p.remove_range(&SymbolRange::new(1, 12, 6));
        assert_eq!(
            removed,
            vec![SymbolRange::new(1, 12, 3), SymbolRange::new(1, 16, 2)]
        );
        assert_eq!(p.total(), 2);
        let mut left: Vec<_> = p.iter().map(|(r, _)| r).collect();
        left.sort();
        assert_eq!(
            left,
            vec![SymbolRange::new(1, 11, 1), SymbolRange::new(1, 18, 1)]
        );
        assert_eq!(p.remove_where(|_| true).len(), 2);
        assert_eq!(p.total(), 0);
    }

    #[test]
    fn recent_forgets_the_oldest() {
        let mut r = Recent::new(2);
        r.push(1);
        r.push(2);
        r.push(2);
        r.push(3);
        assert!(!r.contains(&1) && r.contains(&2) && r.contains(&3));
    }
}
