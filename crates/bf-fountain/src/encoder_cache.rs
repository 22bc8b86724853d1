//! A server's LRU cache of prepared piece encoders, bounded by bytes.

use std::collections::HashMap;

use bytes::Bytes;

use crate::{FountainError, PieceEncoder, PlanCache};

/// Prepared encoders by piece index, evicting the least recently used beyond a byte budget.
///
/// Sans-IO: the caller reads the (verified) piece from its storage and hands the bytes to
/// [`EncoderCache::insert`] when [`EncoderCache::get`] misses.
#[derive(Debug)]
pub struct EncoderCache {
    budget: usize,
    used: usize,
    tick: u64,
    entries: HashMap<u32, (PieceEncoder, u64)>,
    plans: PlanCache,
    hits: u64,
    misses: u64,
}

impl EncoderCache {
    /// A cache that keeps at most `budget_bytes` of encoders (always at least the newest one).
    pub fn new(budget_bytes: usize) -> Self {
        Self {
            budget: budget_bytes,
            used: 0,
            tick: 0,
            entries: HashMap::new(),
            plans: PlanCache::new(),
            hits: 0,
            misses: 0,
        }
    }

    /// The encoder of `piece`, if cached (marks it recently used).
    pub fn get(&mut self, piece: u32) -> Option<&mut PieceEncoder> {
        self.tick += 1;
        let tick = self.tick;
        match self.entries.get_mut(&piece) {
            Some((enc, t)) => {
                *t = tick;
                self.hits += 1;
                Some(enc)
            }
            None => {
                self.misses += 1;
                None
            }
        }
    }

    /// Prepares and caches the encoder of `piece` from its verified bytes, evicting LRU entries.
    ///
    /// An encoder larger than the whole budget is still kept (alone) so it can be served.
    pub fn insert(&mut self, piece: u32, data: Bytes) -> Result<&mut PieceEncoder, FountainError> {
        let enc = PieceEncoder::new(piece, data, &mut self.plans)?;
        Ok(self.insert_prepared(enc))
    }

    /// Caches an encoder prepared elsewhere (on a worker thread: preparation costs about as
    /// much as hashing the piece), evicting LRU entries.
    pub fn insert_prepared(&mut self, enc: PieceEncoder) -> &mut PieceEncoder {
        let piece = enc.piece();
        if let Some((old, _)) = self.entries.remove(&piece) {
            self.used -= old.memory_bytes();
        }
        let size = enc.memory_bytes();
        // Bounded: each round removes one entry.
        while self.used + size > self.budget && !self.entries.is_empty() {
            let Some(victim) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(p, _)| *p)
            else {
                break;
            };
            if let Some((e, _)) = self.entries.remove(&victim) {
                self.used -= e.memory_bytes();
            }
        }
        self.tick += 1;
        self.used += size;
        let entry = self.entries.entry(piece).or_insert((enc, self.tick));
        &mut entry.0
    }

    /// Symbol `esi` of `piece` if the piece is cached (`None` on a miss).
    pub fn symbol(&mut self, piece: u32, esi: u32) -> Option<Result<Bytes, FountainError>> {
        self.get(piece).map(|e| e.symbol(esi))
    }

    /// Drops the encoder of `piece` (e.g. the piece was found corrupt on disk).
    pub fn remove(&mut self, piece: u32) {
        if let Some((e, _)) = self.entries.remove(&piece) {
            self.used -= e.memory_bytes();
        }
    }

    /// Bytes currently accounted to cached encoders.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    /// Number of cached encoders.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (hits, misses) of [`Self::get`] so far.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SYMBOL_SIZE;

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let data = Bytes::from(vec![7u8; 4 * SYMBOL_SIZE]);
        let one = {
            let mut p = PlanCache::new();
            PieceEncoder::new(0, data.clone(), &mut p)
                .unwrap()
                .memory_bytes()
        };
        let mut cache = EncoderCache::new(2 * one);
        cache.insert(0, data.clone()).unwrap();
        cache.insert(1, data.clone()).unwrap();
        assert!(cache.get(0).is_some()); // 1 is now the oldest
        cache.insert(2, data.clone()).unwrap();
        assert_eq!(cache.len(), 2);
        assert!(cache.get(1).is_none());
        assert!(cache.get(0).is_some() && cache.get(2).is_some());
        assert!(cache.used_bytes() <= 2 * one);
        let s = cache.symbol(2, 1).unwrap().unwrap();
        assert_eq!(s, data.slice(SYMBOL_SIZE..2 * SYMBOL_SIZE));
        cache.remove(2);
        assert_eq!(cache.used_bytes(), one);
        // Larger than the budget: kept alone.
        let mut tiny = EncoderCache::new(1);
        tiny.insert(5, data.clone()).unwrap();
        tiny.insert(6, data).unwrap();
        assert_eq!(tiny.len(), 1);
        assert!(tiny.get(6).is_some());
    }
}
