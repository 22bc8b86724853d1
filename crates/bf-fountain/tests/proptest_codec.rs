//! Property tests: random loss patterns decode to the original; arbitrary input never panics.
#![allow(clippy::unwrap_used)]

use bf_fountain::{EsiAllocator, PieceDecoder, PieceEncoder, PlanCache, Verdict, SYMBOL_SIZE};
use bytes::Bytes;
use proptest::prelude::*;
use sha1::{Digest, Sha1};

const T: usize = SYMBOL_SIZE;

fn data(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(seed | 1) ^ (i >> 8) as u8)
        .collect::<Vec<u8>>()
        .into()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Each source ESI is lost with the given pattern; the allocator replaces losses with
    /// fresh repair ESIs (never a duplicate) and the decoder rebuilds the exact piece.
    #[test]
    fn random_losses_with_repair_decode_to_the_original(
        len in 1usize..=(12 * T + 3),
        seed in any::<u8>(),
        losses in proptest::collection::vec(any::<bool>(), 40),
        order_seed in any::<u64>(),
    ) {
        let piece = data(len, seed);
        let hash: [u8; 20] = Sha1::digest(&piece).into();
        let mut plans = PlanCache::new();
        let mut enc = PieceEncoder::new(1, piece.clone(), &mut plans).unwrap();
        let mut alloc = EsiAllocator::new(len as u64).unwrap();
        let mut dec = PieceDecoder::new(1, len as u64).unwrap();
        let mut loss = losses.into_iter().cycle();
        let mut x = order_seed | 1;
        let mut verified = None;
        // Bounded: each round either receives or loses at least one ESI, and the repair cap
        // ends allocation.
        for _round in 0..200 {
            let mut batch = Vec::new();
            while let Some(run) = alloc.allocate(4) {
                batch.extend(run.esis());
            }
            if batch.is_empty() && verified.is_none() {
                match dec.finish(&hash, &mut plans) {
                    Verdict::Verified { piece: p, culprits } => {
                        prop_assert!(culprits.is_empty());
                        verified = Some(p);
                        break;
                    }
                    Verdict::NeedMore { .. } => alloc.on_solve_failed(),
                    Verdict::Corrupt { .. } => return Err(TestCaseError::fail("honest symbols reported corrupt")),
                }
                continue;
            }
            // Deliver in a scrambled order, dropping some: only first-round losses, so the
            // piece always completes.
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            let rot = (x as usize) % batch.len().max(1);
            batch.rotate_left(rot);
            for esi in batch {
                if esi < alloc.layout().source_symbols() && loss.next().unwrap_or(false) {
                    alloc.on_lost([esi]);
                } else {
                    prop_assert!(!dec.has_esi(esi), "allocator handed out ESI {} twice", esi);
                    prop_assert!(alloc.on_received(esi));
                    dec.add_symbol(0u8, 1, esi, enc.symbol(esi).unwrap()).unwrap();
                }
            }
        }
        prop_assert_eq!(verified, Some(piece));
        prop_assert_eq!(dec.duplicates(), 0);
    }

    /// Any subset of source symbols plus enough distinct repair symbols decodes; the decoder
    /// only solves once it holds K symbols. (RFC 6330 §1: K + 2 symbols fail to decode with
    /// probability below 1e-6.)
    #[test]
    fn any_k_plus_two_symbols_decode(
        k in 1u32..=20,
        tail in 1usize..=T,
        keep in proptest::collection::vec(any::<bool>(), 20),
        repair_offset in 0u32..40,
    ) {
        let len = (k as usize - 1) * T + tail;
        let piece = data(len, k as u8);
        let mut plans = PlanCache::new();
        let mut enc = PieceEncoder::new(0, piece.clone(), &mut plans).unwrap();
        let mut dec = PieceDecoder::new(0, len as u64).unwrap();
        let sources: Vec<u32> = (0..k).filter(|&e| keep[e as usize]).collect();
        let need = k + 2 - sources.len() as u32;
        let repairs = (k + repair_offset)..(k + repair_offset + need);
        for esi in sources.into_iter().chain(repairs) {
            if dec.received() < k {
                prop_assert!(dec.try_decode().is_none());
            }
            dec.add_symbol(3u16, 0, esi, enc.symbol(esi).unwrap()).unwrap();
        }
        prop_assert_eq!(dec.try_decode(), Some(piece));
    }

    /// Arbitrary (piece, esi, length, bytes, sender) input is either refused with an error or
    /// stored; decoding and verification never panic.
    #[test]
    fn arbitrary_symbols_never_panic(
        piece_len in 1u64..=(4 * T as u64),
        inputs in proptest::collection::vec(
            (0u32..3, prop_oneof![0u32..80, any::<u32>()], prop_oneof![Just(T), 0usize..(T + 2)], any::<u8>(), any::<u8>(), any::<bool>()),
            0..24,
        ),
    ) {
        let mut dec = PieceDecoder::new(1, piece_len).unwrap();
        let mut plans = PlanCache::new();
        for (piece, esi, len, fill, sender, as_block) in inputs {
            let bytes = Bytes::from(vec![fill; len]);
            let r = if as_block {
                dec.add_block(sender, piece, esi.wrapping_mul(T as u32), bytes)
            } else {
                dec.add_symbol(sender, piece, esi, bytes)
            };
            if r.is_ok() {
                prop_assert!(dec.has_esi(esi) || as_block);
            }
            let _ = dec.try_decode();
        }
        let verdict = dec.finish(&[0u8; 20], &mut plans);
        let accepted = matches!(verdict, Verdict::Verified { .. });
        prop_assert!(!accepted, "a piece with a wrong hash was accepted");
    }
}
