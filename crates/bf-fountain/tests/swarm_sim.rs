//! The pieces working together as a client would drive them (no I/O): a server with an
//! encoder cache and a per-peer repair budget, a downloader spreading ESIs over a healthy and
//! a stalling peer. Nothing received is a duplicate, and each piece completes with at most
//! K + 1 symbols.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bf_fountain::{
    sha1_digest, Bytes, EncoderCache, EsiAllocator, PieceDecoder, RepairBudget, Verdict,
    SYMBOL_SIZE,
};

/// A small server budget (under two prepared 256 KiB encoders), so encoders are evicted and
/// prepared again as the pieces go by.
const CACHE_BYTES: usize = 2 * (256 * 1024 * 7 / 2 + 32 * SYMBOL_SIZE);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Peer {
    Fast,
    Stalling,
}

fn torrent() -> Vec<Bytes> {
    // Three pieces of 256 KiB and a short last piece.
    (0..4u8)
        .map(|p| {
            let len = if p == 3 { 100_000 } else { 256 * 1024 };
            (0..len)
                .map(|i: usize| (i as u8).wrapping_mul(p.wrapping_add(3)) ^ (i >> 10) as u8)
                .collect::<Vec<u8>>()
                .into()
        })
        .collect()
}

#[test]
fn stalled_requests_are_replaced_by_fresh_repair_symbols() {
    let pieces = torrent();
    let hashes: Vec<[u8; 20]> = pieces.iter().map(|p| sha1_digest(p)).collect();
    let mut cache = EncoderCache::new(CACHE_BYTES);
    let mut budget = RepairBudget::new(1000, 64, Duration::ZERO);
    let mut plans = bf_fountain::PlanCache::new();

    for (index, piece) in pieces.iter().enumerate() {
        let index = index as u32;
        let len = piece.len() as u64;
        let mut alloc = EsiAllocator::new(len).unwrap();
        let mut dec = PieceDecoder::new(index, len).unwrap();
        let k = alloc.layout().source_symbols();
        let mut now = Duration::from_secs(u64::from(index));
        let mut turn = 0;
        let mut failed_solves = 0;
        let verified = loop {
            assert!(turn < 100, "piece {index} did not complete");
            turn += 1;
            // Alternate peers like blocks; the stalling peer never answers.
            while let Some(run) = alloc.allocate(4) {
                let peer = if (run.first / 4) % 2 == 1 {
                    Peer::Stalling
                } else {
                    Peer::Fast
                };
                if peer == Peer::Stalling {
                    // The downloader's request timer fires later: these ESIs are lost.
                    alloc.on_lost(run.esis());
                    continue;
                }
                now += Duration::from_millis(10);
                let repair = run.esis().filter(|&e| e >= k).count() as u32;
                let granted = budget.take(now, repair);
                assert_eq!(granted, repair, "budget is generous enough here");
                for esi in run.esis() {
                    let symbol = match cache.symbol(index, esi) {
                        Some(s) => s.unwrap(),
                        None => cache
                            .insert(index, piece.clone())
                            .unwrap()
                            .symbol(esi)
                            .unwrap(),
                    };
                    assert!(alloc.on_received(esi));
                    dec.add_symbol(peer, index, esi, symbol).unwrap();
                }
            }
            match dec.finish(&hashes[index as usize], &mut plans) {
                Verdict::Verified { piece, culprits } => {
                    assert!(culprits.is_empty());
                    break piece;
                }
                Verdict::NeedMore { .. } => {
                    failed_solves += 1;
                    alloc.on_solve_failed();
                }
                Verdict::Corrupt { suspects } => panic!("honest peers suspected: {suspects:?}"),
            }
        };
        assert_eq!(&verified, piece);
        assert_eq!(dec.duplicates(), 0);
        assert!(dec.received() <= k + 1 + failed_solves);
        assert!(dec.esis_from(&Peer::Stalling).is_empty());
        assert!(
            alloc.lost() > 0 || k <= 4,
            "the stalling peer held some blocks"
        );
        assert!(cache.used_bytes() <= CACHE_BYTES);
    }
    let (hits, misses) = cache.stats();
    assert!(hits > 0 && misses >= 4);
}
