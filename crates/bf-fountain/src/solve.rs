//! Turning stored symbols into piece bytes: plain concatenation, or a RaptorQ solve.
//!
//! Two ways to solve, chosen by cost:
//!
//! - **Inactivation decoding** (RFC 6330 §5.4.2, raptorq's solver run by
//!   `crate::inactivation` on memory kept per thread): about 40 symbol operations per source
//!   symbol whatever is missing, plus ~H × L GF(256) multiply-adds for the HDPC rows, which
//!   dominate small pieces.
//! - **The decoding map** (few symbols missing): the code is linear over GF(256) byte by byte,
//!   so each missing source symbol is a fixed combination Σ c_j · r_j of the n received
//!   symbols. The coefficients come from raptorq's own decoder run on n-byte unit vectors
//!   (received symbol j = e_j, so decoded source i = its coefficient row), which costs the
//!   matrix work of a solve but only n-byte symbol operations; the piece then costs
//!   missing × n multiply-adds on T-byte symbols. For a 256 KiB piece from K + 1 repair
//!   symbols that is 16 × 17 = 272 operations instead of ~1,200 (2× faster, measured in
//!   docs/performance.md); for a 4 MiB piece it would be 65,792 against ~12,600.

use bytes::{Bytes, BytesMut};
use raptorq::{
    EncodingPacket, ObjectTransmissionInformation, Octet, PayloadId, SourceBlockDecoder, Symbol,
};

use crate::{PieceLayout, SYMBOL_SIZE};

/// The decoding map is used while missing × received ≤ `MAP_COST_PER_SYMBOL` × K: below
/// that its multiply-adds are fewer than raptorq's ~40 operations per source symbol
/// (measured crossover: K = 64 from K + 1 repair symbols is even, 7 of 64 missing is 1.6×
/// faster by the map, 26 of 256 missing 0.9×).
const MAP_COST_PER_SYMBOL: u64 = 24;

/// Concatenates the K source symbols (all present) into the unpadded piece: one copy, no solve.
pub(crate) fn concatenate<'a>(
    layout: &PieceLayout,
    mut block: impl FnMut(u32) -> Option<&'a Bytes>,
) -> Option<Bytes> {
    let k = layout.source_symbols();
    if k == 1 {
        return block(0).map(|b| b.slice(..layout.piece_len()));
    }
    let mut out = BytesMut::with_capacity(layout.piece_len());
    for esi in 0..k {
        let range = layout.block_range(esi)?;
        let b = block(esi)?;
        out.extend_from_slice(&b[..range.len()]);
    }
    Some(out.freeze())
}

/// Runs the RaptorQ solve over `symbols` (ESI, T bytes, distinct ESIs), returning the
/// unpadded piece, or `None` when the received ESIs do not determine the block (rank
/// deficiency).
///
/// Every symbol must already be validated (ESI < 2^24, exactly T bytes): raptorq asserts on
/// both; invalid ones are skipped here as a second line of defence.
pub(crate) fn solve<'a>(
    layout: &PieceLayout,
    symbols: impl Iterator<Item = (u32, &'a [u8])>,
) -> Option<Bytes> {
    let symbols: Vec<(u32, &[u8])> = symbols
        .filter(|(esi, data)| *esi < crate::ESI_LIMIT && data.len() == SYMBOL_SIZE)
        .collect();
    let k = layout.source_symbols();
    let present = symbols.iter().filter(|(esi, _)| *esi < k).count();
    let missing = (k as usize).saturating_sub(present);
    let map_cost = missing as u64 * symbols.len() as u64;
    if map_cost <= MAP_COST_PER_SYMBOL * u64::from(k) && symbols.len() <= usize::from(u16::MAX) {
        decode_by_map(layout, &symbols)
    } else {
        crate::inactivation::decode(layout, &symbols)
    }
}

/// raptorq's own `SourceBlockDecoder`: the reference the faster paths are checked against.
#[cfg(test)]
fn decode_by_raptorq(layout: &PieceLayout, symbols: &[(u32, &[u8])]) -> Option<Bytes> {
    let oti = layout.oti();
    let mut decoder = SourceBlockDecoder::new(0, &oti, layout.padded_len() as u64);
    let packets = symbols
        .iter()
        .map(|(esi, data)| EncodingPacket::new(PayloadId::new(0, *esi), data.to_vec()));
    let mut out = decoder.decode(packets)?;
    out.truncate(layout.piece_len());
    Some(Bytes::from(out))
}

/// Coefficients of every source symbol over the `esis` received, row-major (K rows of
/// `esis.len()` bytes), or `None` if these ESIs do not determine the block.
fn decoding_map(k: u32, esis: &[u32]) -> Option<Vec<u8>> {
    let n = esis.len();
    // Fewer than K symbols never determine the block, and zero would make raptorq's symbol
    // size zero, which it divides by.
    if n < k as usize || n == 0 {
        return None;
    }
    let unit = u16::try_from(n).ok()?;
    let len = u64::from(k) * u64::from(unit);
    let oti = ObjectTransmissionInformation::new(len, unit, 1, 1, 1);
    let mut decoder = SourceBlockDecoder::new(0, &oti, len);
    let packets = esis.iter().enumerate().map(|(j, esi)| {
        let mut e = vec![0u8; n];
        e[j] = 1;
        EncodingPacket::new(PayloadId::new(0, *esi), e)
    });
    decoder.decode(packets)
}

fn decode_by_map(layout: &PieceLayout, symbols: &[(u32, &[u8])]) -> Option<Bytes> {
    let k = layout.source_symbols();
    let n = symbols.len();
    let esis: Vec<u32> = symbols.iter().map(|(esi, _)| *esi).collect();
    let map = decoding_map(k, &esis)?;
    let mut by_esi: Vec<Option<&[u8]>> = vec![None; k as usize];
    for (esi, data) in symbols {
        if let Some(slot) = by_esi.get_mut(*esi as usize) {
            *slot = Some(data);
        }
    }
    // raptorq's kernels take its own `Symbol` type: one copy of each received symbol.
    let received: Vec<Symbol> = symbols
        .iter()
        .map(|(_, d)| Symbol::new(d.to_vec()))
        .collect();
    let mut out = BytesMut::with_capacity(layout.piece_len());
    for (i, have) in by_esi.iter().enumerate() {
        let range = layout.block_range(i as u32)?;
        if let Some(data) = have {
            out.extend_from_slice(&data[..range.len()]);
            continue;
        }
        let row = map.get(i * n..(i + 1) * n)?;
        let mut acc = Symbol::zero(SYMBOL_SIZE);
        for (&c, r) in row.iter().zip(&received) {
            match c {
                0 => {}
                1 => acc += r,
                c => acc.fused_addassign_mul_scalar(r, &Octet::new(c)),
            }
        }
        out.extend_from_slice(&acc.as_bytes()[..range.len()]);
    }
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PieceEncoder, PlanCache};

    /// The three solvers give the piece back, for small and large K, a short last block, and
    /// mixes of source and repair symbols on either side of the cost rule.
    #[test]
    fn map_and_raptorq_agree_with_the_piece() {
        let mut plans = PlanCache::new();
        for len in [SYMBOL_SIZE * 3 + 100, 256 << 10, 1 << 20] {
            let data = Bytes::from(bf_testkit::pseudo_random_bytes(len, len as u64));
            let mut enc = PieceEncoder::new(0, data.clone(), &mut plans).unwrap();
            let layout = *enc.layout();
            let k = layout.source_symbols();
            let sets: [Vec<u32>; 3] = [
                (k..2 * k + 1).collect(),
                (1..k).chain([k + 5]).collect(),
                (0..k)
                    .filter(|e| e % 3 != 0)
                    .chain(k + 1..k + k / 3 + 3)
                    .collect(),
            ];
            for esis in sets {
                let syms: Vec<(u32, Bytes)> =
                    esis.iter().map(|&e| (e, enc.symbol(e).unwrap())).collect();
                let view = || syms.iter().map(|(e, d)| (*e, &d[..]));
                let v: Vec<(u32, &[u8])> = view().collect();
                let a = decode_by_map(&layout, &v);
                let b = decode_by_raptorq(&layout, &v);
                let c = crate::inactivation::decode(&layout, &v);
                assert_eq!(a.as_deref(), Some(&data[..]), "map, len {len}, {esis:?}");
                assert_eq!(b.as_deref(), Some(&data[..]), "raptorq, len {len}");
                assert_eq!(c.as_deref(), Some(&data[..]), "pooled slab, len {len}");
                assert_eq!(solve(&layout, view()).as_deref(), Some(&data[..]));
            }
        }
    }

    /// Too few symbols, or a set that does not determine the block: `None` from both.
    #[test]
    fn underdetermined_sets_give_none() {
        let data = Bytes::from(bf_testkit::pseudo_random_bytes(256 << 10, 3));
        let mut enc = PieceEncoder::new(0, data, &mut PlanCache::new()).unwrap();
        let layout = *enc.layout();
        let k = layout.source_symbols();
        let syms: Vec<(u32, Bytes)> = (1..k).map(|e| (e, enc.symbol(e).unwrap())).collect();
        let view: Vec<(u32, &[u8])> = syms.iter().map(|(e, d)| (*e, &d[..])).collect();
        assert!(decode_by_map(&layout, &view).is_none());
        assert!(decode_by_raptorq(&layout, &view).is_none());
        assert!(crate::inactivation::decode(&layout, &view).is_none());
    }
}

#[cfg(test)]
mod agreement {
    use super::*;
    use crate::{PieceEncoder, PlanCache};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// For any piece length and any set of distinct ESIs (around K of them, some sets
        /// short of rank), the pooled-slab solver and the decoding map agree with raptorq's
        /// own decoder: the same piece, or `None` from all.
        #[test]
        fn every_solver_agrees_with_raptorq(
            len in 1usize..(48 * SYMBOL_SIZE),
            seed in any::<u64>(),
            keep in proptest::collection::vec(any::<bool>(), 200),
            extra in 0u32..4,
        ) {
            let data = Bytes::from(bf_testkit::pseudo_random_bytes(len, seed));
            let mut enc = PieceEncoder::new(0, data.clone(), &mut PlanCache::new()).unwrap();
            let layout = *enc.layout();
            let k = layout.source_symbols();
            // Drop the ESIs `keep` says to, then top up with repair ESIs to K - 1 + extra.
            let mut esis: Vec<u32> = (0..2 * k + 8).filter(|e| keep[*e as usize % keep.len()]).collect();
            esis.truncate((k - 1 + extra) as usize);
            let mut next = 2 * k + 8;
            while esis.len() < (k - 1 + extra) as usize {
                esis.push(next);
                next += 1;
            }
            let syms: Vec<(u32, Bytes)> = esis.iter().map(|&e| (e, enc.symbol(e).unwrap())).collect();
            let view: Vec<(u32, &[u8])> = syms.iter().map(|(e, d)| (*e, &d[..])).collect();
            let reference = decode_by_raptorq(&layout, &view);
            if let Some(piece) = &reference {
                prop_assert_eq!(&piece[..], &data[..]);
            }
            prop_assert_eq!(&crate::inactivation::decode(&layout, &view), &reference);
            prop_assert_eq!(&decode_by_map(&layout, &view), &reference);
        }
    }
}
