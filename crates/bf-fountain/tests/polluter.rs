//! A polluting sender among honest ones: the piece is accepted only when its SHA-1 matches,
//! and the culprit, and only the culprit, is named.
#![allow(clippy::unwrap_used)]

use bf_fountain::{PieceDecoder, PieceEncoder, PlanCache, Verdict, SYMBOL_SIZE};
use bytes::Bytes;
use sha1::{Digest, Sha1};

const T: usize = SYMBOL_SIZE;
const HONEST_A: &str = "honest-a";
const HONEST_B: &str = "honest-b";
const POLLUTER: &str = "polluter";

struct Swarm {
    data: Bytes,
    hash: [u8; 20],
    plans: PlanCache,
    enc: PieceEncoder,
    dec: PieceDecoder<&'static str>,
}

impl Swarm {
    fn new(len: usize) -> Self {
        let data: Bytes = (0..len)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761).rotate_left(7) as u8)
            .collect::<Vec<u8>>()
            .into();
        let hash: [u8; 20] = Sha1::digest(&data).into();
        let mut plans = PlanCache::new();
        let enc = PieceEncoder::new(2, data.clone(), &mut plans).unwrap();
        let dec = PieceDecoder::new(2, len as u64).unwrap();
        Self {
            data,
            hash,
            plans,
            enc,
            dec,
        }
    }

    fn honest(&mut self, who: &'static str, esis: impl IntoIterator<Item = u32>) {
        for esi in esis {
            let s = self.enc.symbol(esi).unwrap();
            self.dec.add_symbol(who, 2, esi, s).unwrap();
        }
    }

    fn polluted(&mut self, who: &'static str, esi: u32) {
        let mut s = self.enc.symbol(esi).unwrap().to_vec();
        // Flip bits inside the piece's bytes (a short last block keeps zero padding, which
        // the decoder would refuse outright).
        s[7] ^= 0x5A;
        s[100] ^= 0x01;
        self.dec.add_symbol(who, 2, esi, Bytes::from(s)).unwrap();
    }

    fn finish(&mut self) -> Verdict<&'static str> {
        self.dec.finish(&self.hash, &mut self.plans)
    }
}

fn expect_culprit(verdict: Verdict<&'static str>, data: &Bytes, culprit: &str) {
    match verdict {
        Verdict::Verified { piece, culprits } => {
            assert_eq!(&piece, data, "accepted piece must be the original");
            assert_eq!(culprits, vec![culprit]);
        }
        other => panic!("expected Verified naming {culprit}, got {other:?}"),
    }
}

#[test]
fn spare_polluted_repair_symbol_is_named_after_success() {
    // All 16 blocks from honest peers verify by concatenation; the polluter's spare repair
    // symbol was not needed, and re-encoding the verified piece exposes it.
    let mut s = Swarm::new(256 * 1024);
    s.honest(HONEST_A, 0..8);
    s.honest(HONEST_B, 8..16);
    s.polluted(POLLUTER, 16);
    s.honest(HONEST_B, [17]);
    expect_culprit(s.finish(), &s.data.clone(), POLLUTER);
    assert_eq!(s.dec.solves(), 0);
}

#[test]
fn polluted_source_block_is_found_by_leaving_one_out() {
    // Concatenation fails the hash; leaving the polluter out leaves 15 blocks + 2 repair
    // symbols, which solve to the verified piece.
    let mut s = Swarm::new(256 * 1024);
    s.honest(HONEST_A, (0..16).filter(|&e| e != 5));
    s.polluted(POLLUTER, 5);
    s.honest(HONEST_B, [16, 17]);
    expect_culprit(s.finish(), &s.data.clone(), POLLUTER);
    assert!(
        s.dec.solves() == 0,
        "leave-one-out solves are not counted as decoder solves"
    );
}

#[test]
fn polluted_repair_symbol_used_by_the_solve_is_found() {
    // A short last piece (K = 5); the polluted repair symbol enters the solve and corrupts it.
    let len = 4 * T + 1234;
    let mut s = Swarm::new(len);
    s.honest(HONEST_A, [0, 2, 4]);
    s.honest(HONEST_B, [5, 7]);
    s.polluted(POLLUTER, 6);
    let v = s.finish();
    assert_eq!(s.dec.solves(), 1);
    expect_culprit(v, &s.data.clone(), POLLUTER);
}

#[test]
fn without_spares_nothing_is_accepted_and_everyone_is_suspect() {
    let mut s = Swarm::new(8 * T);
    s.honest(HONEST_A, 0..7);
    s.polluted(POLLUTER, 7);
    match s.finish() {
        Verdict::Corrupt { mut suspects } => {
            suspects.sort();
            assert_eq!(suspects, vec![HONEST_A, POLLUTER]);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Discard and refetch from the unsuspected peer only: verified, nobody named.
    s.dec.discard();
    assert_eq!(s.dec.received(), 0);
    s.honest(HONEST_B, 0..8);
    match s.finish() {
        Verdict::Verified { piece, culprits } => {
            assert_eq!(piece, s.data);
            assert!(culprits.is_empty());
        }
        other => panic!("expected Verified, got {other:?}"),
    }
}

#[test]
fn two_polluters_are_never_accepted() {
    let mut s = Swarm::new(8 * T);
    s.honest(HONEST_A, 0..6);
    s.polluted(POLLUTER, 6);
    s.polluted("polluter-2", 7);
    s.honest(HONEST_B, [8]);
    match s.finish() {
        Verdict::Corrupt { suspects } => assert_eq!(suspects.len(), 4),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn honest_swarm_names_nobody() {
    let mut s = Swarm::new(1 << 20);
    s.honest(HONEST_A, (0..64).step_by(2));
    s.honest(HONEST_B, (64..96).chain([127]));
    match s.finish() {
        Verdict::Verified { piece, culprits } => {
            assert_eq!(piece, s.data);
            assert!(culprits.is_empty());
        }
        other => panic!("expected Verified, got {other:?}"),
    }
    assert_eq!(s.dec.esis_from(&HONEST_B).len(), 33);
}
