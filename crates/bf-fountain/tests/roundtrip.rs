//! Round trips through encoder and decoder for the piece sizes a torrent has, with every mix
//! of source and repair symbols.
#![allow(clippy::unwrap_used)]

use bf_fountain::{PieceDecoder, PieceEncoder, PlanCache, Verdict, SYMBOL_SIZE};
use bytes::Bytes;
use sha1::{Digest, Sha1};

const T: usize = SYMBOL_SIZE;

/// Feeds `esis` (from a fresh encoder) into a decoder and returns its verdict.
fn decode_with(len: usize, esis: &[u32]) -> (Bytes, Verdict<u8>, u32) {
    let data = piece(len, len as u64);
    let hash: [u8; 20] = Sha1::digest(&data).into();
    let mut plans = PlanCache::new();
    let mut enc = PieceEncoder::new(9, data.clone(), &mut plans).unwrap();
    let mut dec = PieceDecoder::new(9, len as u64).unwrap();
    for (i, &esi) in esis.iter().enumerate() {
        dec.add_symbol((i % 3) as u8, 9, esi, enc.symbol(esi).unwrap())
            .unwrap();
    }
    let verdict = dec.finish(&hash, &mut plans);
    (data, verdict, dec.solves())
}

fn assert_verified(data: &Bytes, verdict: &Verdict<u8>) {
    match verdict {
        Verdict::Verified { piece, culprits } => {
            assert_eq!(piece, data);
            assert!(culprits.is_empty());
        }
        other => panic!("expected Verified, got {other:?}"),
    }
}

const SIZES: [usize; 6] = [1, T - 1, T, T + 1, 1 << 20, 4 << 20];

#[test]
fn all_source_needs_no_solve() {
    for len in SIZES {
        let k = len.div_ceil(T) as u32;
        let esis: Vec<u32> = (0..k).rev().collect();
        let (data, verdict, solves) = decode_with(len, &esis);
        assert_verified(&data, &verdict);
        assert_eq!(solves, 0, "len {len}");
    }
}

#[test]
fn mixed_source_and_repair() {
    for len in SIZES {
        let k = len.div_ceil(T) as u32;
        // Every third block lost, replaced by as many repair symbols plus one spare.
        let kept: Vec<u32> = (0..k).filter(|e| e % 3 != 1).collect();
        let lost = k - kept.len() as u32;
        let esis: Vec<u32> = kept.into_iter().chain(k..k + lost + 1).collect();
        let (data, verdict, _) = decode_with(len, &esis);
        assert_verified(&data, &verdict);
    }
}

#[test]
fn all_repair_with_k_plus_one_and_two() {
    for len in SIZES {
        let k = len.div_ceil(T) as u32;
        for extra in [1, 2] {
            let esis: Vec<u32> = (k..2 * k + extra).collect();
            let (data, verdict, solves) = decode_with(len, &esis);
            assert_verified(&data, &verdict);
            assert_eq!(solves, 1);
        }
    }
}

#[test]
fn exactly_k_symbols_decode_or_ask_for_one_more() {
    for len in SIZES {
        let k = len.div_ceil(T) as u32;
        let data = piece(len, 77);
        let hash: [u8; 20] = Sha1::digest(&data).into();
        let mut plans = PlanCache::new();
        let mut enc = PieceEncoder::new(0, data.clone(), &mut plans).unwrap();
        let mut dec = PieceDecoder::new(0, len as u64).unwrap();
        // Half the blocks (rounded down), the rest from repair ESIs: exactly K symbols.
        let esis: Vec<u32> = (0..k / 2).chain(k..k + (k - k / 2)).collect();
        assert_eq!(esis.len() as u32, k);
        for &esi in &esis {
            dec.add_symbol(1u8, 0, esi, enc.symbol(esi).unwrap())
                .unwrap();
        }
        match dec.finish(&hash, &mut plans) {
            Verdict::Verified { piece, .. } => assert_eq!(piece, data),
            Verdict::NeedMore { want, .. } => {
                // Rank-deficient set (~0.7% of K-sets): one more symbol must settle it, and
                // no second solve runs before it arrives.
                assert_eq!(want, 1);
                assert!(dec.try_decode().is_none());
                let esi = 2 * k;
                dec.add_symbol(2u8, 0, esi, enc.symbol(esi).unwrap())
                    .unwrap();
                assert_verified(&data, &dec.finish(&hash, &mut plans));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn fewer_than_k_symbols_never_solve() {
    let len = 5 * T;
    let data = piece(len, 3);
    let mut plans = PlanCache::new();
    let mut enc = PieceEncoder::new(0, data, &mut plans).unwrap();
    let mut dec = PieceDecoder::new(0, len as u64).unwrap();
    for esi in [0, 6, 7, 9] {
        dec.add_symbol(0u8, 0, esi, enc.symbol(esi).unwrap())
            .unwrap();
        assert!(dec.try_decode().is_none());
    }
    assert_eq!(dec.solves(), 0);
    assert!(matches!(
        dec.finish(&[0; 20], &mut plans),
        Verdict::NeedMore { have: 4, want: 1 }
    ));
}

#[test]
fn blocks_from_ordinary_peers_and_symbols_mix() {
    // The last piece of a torrent: 2 full blocks and a 100-byte block.
    let len = 2 * T + 100;
    let data = piece(len, 5);
    let hash: [u8; 20] = Sha1::digest(&data).into();
    let mut plans = PlanCache::new();
    let mut enc = PieceEncoder::new(4, data.clone(), &mut plans).unwrap();
    let mut dec = PieceDecoder::new(4, len as u64).unwrap();
    // The short last block arrives as a PIECE message (100 bytes), block 0 as a PIECE too,
    // block 1 is lost and replaced by repair ESIs 3 and 4 from a fountain peer.
    dec.add_block(0u8, 4, 2 * T as u32, data.slice(2 * T..))
        .unwrap();
    dec.add_block(0u8, 4, 0, data.slice(..T)).unwrap();
    for esi in [3, 4] {
        dec.add_symbol(1u8, 4, esi, enc.symbol(esi).unwrap())
            .unwrap();
    }
    assert_verified(&data, &dec.finish(&hash, &mut plans));
    // The padded last source symbol a fountain peer would send equals the zero-padded block.
    let s = enc.symbol(2).unwrap();
    assert_eq!(&s[..100], &data[2 * T..]);
    assert!(s[100..].iter().all(|&b| b == 0));
}

fn piece(len: usize, seed: u64) -> Bytes {
    bf_testkit::pseudo_random_bytes(len, seed).into()
}
