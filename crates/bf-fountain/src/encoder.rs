//! The server side: a prepared RaptorQ encoder for one verified piece.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use raptorq::{SourceBlockEncoder, SourceBlockEncodingPlan};

use crate::{FountainError, PieceLayout, SYMBOL_SIZE};

/// Repair ESIs below `K + REPAIR_MEMO_SPAN` are kept once generated.
///
/// Every downloader starts its repair ESIs at K (see [`crate::EsiAllocator`]), so the first
/// few repair symbols of a piece are the ones many peers ask for; keeping them turns the
/// second and later requests into a reference-count increment.
pub const REPAIR_MEMO_SPAN: u32 = 32;

/// Bounded number of distinct K whose encoding plans are kept (a torrent has at most two K:
/// the regular pieces and the last one).
const PLAN_CACHE_CAPACITY: usize = 8;

/// Encoding plans by K: the elimination schedule depends only on K, not on the data, so
/// preparing the next piece with the same K skips the matrix work.
#[derive(Debug, Default)]
pub struct PlanCache {
    plans: HashMap<u32, Arc<SourceBlockEncodingPlan>>,
    order: Vec<u32>,
}

impl PlanCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The plan for `k` source symbols, generating it on first use.
    pub fn plan(&mut self, k: u32) -> Arc<SourceBlockEncodingPlan> {
        if let Some(p) = self.plans.get(&k) {
            return Arc::clone(p);
        }
        if self.order.len() >= PLAN_CACHE_CAPACITY {
            let old = self.order.remove(0);
            self.plans.remove(&old);
        }
        // k <= MAX_SOURCE_SYMBOLS (4096) fits u16.
        let plan = Arc::new(SourceBlockEncodingPlan::generate(k as u16));
        self.order.push(k);
        self.plans.insert(k, Arc::clone(&plan));
        plan
    }

    /// Number of plans held.
    pub fn len(&self) -> usize {
        self.plans.len()
    }

    /// Whether no plan is held.
    pub fn is_empty(&self) -> bool {
        self.plans.is_empty()
    }
}

/// A verified piece prepared for serving any ESI.
///
/// Source symbols are zero-copy slices of the piece; repair symbols are generated from the
/// RaptorQ intermediate symbols computed once at preparation.
#[derive(Debug)]
pub struct PieceEncoder {
    piece: u32,
    layout: PieceLayout,
    data: Bytes,
    /// The last source symbol zero-padded to T, when the piece is not a multiple of T.
    padded_last: Option<Bytes>,
    inner: SourceBlockEncoder,
    /// Repair symbols K … K + REPAIR_MEMO_SPAN - 1 once generated, indexed by ESI - K.
    memo: Vec<Option<Bytes>>,
}

impl PieceEncoder {
    /// Prepares piece `piece` from its (already verified) bytes, using `plans` for K.
    pub fn new(piece: u32, data: Bytes, plans: &mut PlanCache) -> Result<Self, FountainError> {
        let layout = PieceLayout::new(data.len() as u64)?;
        let k = layout.source_symbols();
        let plan = plans.plan(k);
        let padded_last = if data.len() == layout.padded_len() {
            None
        } else {
            let start = (k as usize - 1) * SYMBOL_SIZE;
            let mut last = vec![0u8; SYMBOL_SIZE];
            last[..data.len() - start].copy_from_slice(&data[start..]);
            Some(Bytes::from(last))
        };
        let inner = if let Some(last) = &padded_last {
            let mut padded = Vec::with_capacity(layout.padded_len());
            padded.extend_from_slice(&data[..(k as usize - 1) * SYMBOL_SIZE]);
            padded.extend_from_slice(last);
            SourceBlockEncoder::with_encoding_plan(0, &layout.oti(), &padded, &plan)
        } else {
            SourceBlockEncoder::with_encoding_plan(0, &layout.oti(), &data, &plan)
        };
        Ok(Self {
            piece,
            layout,
            data,
            padded_last,
            inner,
            memo: vec![None; REPAIR_MEMO_SPAN as usize],
        })
    }

    /// Piece index this encoder serves.
    pub fn piece(&self) -> u32 {
        self.piece
    }

    /// Layout (K, lengths, ESI cap) of the piece.
    pub fn layout(&self) -> &PieceLayout {
        &self.layout
    }

    /// The piece bytes (unpadded).
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Symbol `esi` (exactly T bytes), checking the ESI against the piece's cap first.
    ///
    /// Source ESIs are slices of the piece; repair ESIs below `K + REPAIR_MEMO_SPAN` are
    /// generated once and then shared; others are generated on each call.
    pub fn symbol(&mut self, esi: u32) -> Result<Bytes, FountainError> {
        self.layout.check_esi(esi)?;
        if let Some(s) = self.source_symbol(esi) {
            return Ok(s);
        }
        let k = self.layout.source_symbols();
        if let Some(slot) = self.memo.get_mut((esi - k) as usize) {
            return Ok(slot
                .get_or_insert_with(|| generate(&self.inner, k, esi))
                .clone());
        }
        Ok(self.generate_repair(esi))
    }

    /// Source symbol `esi` (T bytes, zero-padded for a short last block), or `None` for repair.
    pub fn source_symbol(&self, esi: u32) -> Option<Bytes> {
        let range = self.layout.block_range(esi)?;
        if range.len() < SYMBOL_SIZE {
            return self.padded_last.clone();
        }
        Some(self.data.slice(range))
    }

    /// Generates repair symbol `esi` (≥ K, < 2^24) without touching the memo.
    ///
    /// Any ESI ≥ K is a valid RaptorQ repair symbol; the cap is only enforced by [`Self::symbol`].
    pub fn repair_symbol(&self, esi: u32) -> Result<Bytes, FountainError> {
        if esi >= crate::ESI_LIMIT {
            return Err(FountainError::EsiOutOfRange { esi });
        }
        if let Some(s) = self.source_symbol(esi) {
            return Ok(s);
        }
        Ok(self.generate_repair(esi))
    }

    fn generate_repair(&self, esi: u32) -> Bytes {
        generate(&self.inner, self.layout.source_symbols(), esi)
    }

    /// Approximate heap bytes held: the piece, raptorq's copy of the source symbols, its L
    /// intermediate symbols, the padded last symbol and the memo at its largest.
    pub fn memory_bytes(&self) -> usize {
        let k = self.layout.source_symbols() as usize;
        let kp = self.layout.extended_source_symbols() as usize;
        // L = K' + S + H; S + H is below 0.3·K' + 20 for every K' of RFC 6330's table.
        let l = kp + kp * 3 / 10 + 20;
        self.data.len()
            + (k + l) * SYMBOL_SIZE
            + self.padded_last.as_ref().map_or(0, Bytes::len)
            + REPAIR_MEMO_SPAN as usize * SYMBOL_SIZE
    }
}

/// Repair symbol `esi` (≥ K) of the block `inner` encodes.
fn generate(inner: &SourceBlockEncoder, k: u32, esi: u32) -> Bytes {
    // raptorq numbers repair symbols from 0 = ESI K; it maps ESI to ISI (+ K' - K) itself.
    inner
        .repair_packets(esi - k, 1)
        .into_iter()
        .next()
        .map(|p| Bytes::from(p.split().1))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use raptorq::{EncodingPacket, PayloadId, SourceBlockDecoder};

    fn piece(len: usize, seed: u8) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
            .collect::<Vec<u8>>()
            .into()
    }

    #[test]
    fn source_esis_are_the_blocks_and_repair_esis_follow_k() {
        // A non-multiple of T with K = 5, whose K' (10) differs from K.
        let len = 4 * SYMBOL_SIZE + 100;
        let data = piece(len, 1);
        let mut plans = PlanCache::new();
        let enc = PieceEncoder::new(3, data.clone(), &mut plans).unwrap();
        let layout = *enc.layout();
        assert_eq!(layout.source_symbols(), 5);
        assert!(layout.extended_source_symbols() > 5);

        // raptorq's own systematic packets: ESI i < K carries block i verbatim.
        let mut padded = data.to_vec();
        padded.resize(layout.padded_len(), 0);
        let reference = SourceBlockEncoder::new(0, &layout.oti(), &padded);
        for p in reference.source_packets() {
            let esi = p.payload_id().encoding_symbol_id();
            assert_eq!(p.data(), &enc.source_symbol(esi).unwrap()[..]);
            let r = layout.block_range(esi).unwrap();
            assert_eq!(&p.data()[..r.len()], &data[r]);
        }
        // repair_packets(0, n) starts at ESI K, and our ESI is raptorq's ESI.
        let repair = reference.repair_packets(0, 3);
        for (i, p) in repair.iter().enumerate() {
            let esi = p.payload_id().encoding_symbol_id();
            assert_eq!(esi, 5 + i as u32);
            assert_eq!(p.data(), &enc.repair_symbol(esi).unwrap()[..]);
        }

        // A decoder fed ESIs as raptorq numbers them: K-1 blocks and repair ESI K+1 decode.
        let mut dec = SourceBlockDecoder::new(0, &layout.oti(), layout.padded_len() as u64);
        let mut packets: Vec<EncodingPacket> = (1..5)
            .map(|e| {
                EncodingPacket::new(PayloadId::new(0, e), enc.source_symbol(e).unwrap().to_vec())
            })
            .collect();
        packets.push(EncodingPacket::new(
            PayloadId::new(0, 6),
            enc.repair_symbol(6).unwrap().to_vec(),
        ));
        let out = dec.decode(packets).unwrap();
        assert_eq!(&out[..len], &data[..]);
    }

    #[test]
    fn memo_returns_identical_symbols_and_cap_is_enforced() {
        let data = piece(2 * SYMBOL_SIZE, 9);
        let mut plans = PlanCache::new();
        let mut enc = PieceEncoder::new(0, data, &mut plans).unwrap();
        let a = enc.symbol(2).unwrap();
        let b = enc.symbol(2).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), SYMBOL_SIZE);
        assert_eq!(enc.symbol(2 * 2 + 63).unwrap().len(), SYMBOL_SIZE);
        assert!(matches!(
            enc.symbol(2 * 2 + 64),
            Err(FountainError::EsiAboveCap { .. })
        ));
        assert_eq!(plans.len(), 1);
    }
}
