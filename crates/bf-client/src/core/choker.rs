//! Who we upload to: tit-for-tat over a few slots plus one optimistic unchoke.
//!
//! Every round (10 s) the interested peers that give us the most (download rate from them;
//! when seeding, the upload rate to them, which favours peers that can take data fast) get
//! the regular slots. One more peer, picked at random among the rest, is unchoked
//! optimistically and kept for three rounds, so that a newcomer with nothing to trade yet can
//! prove itself. Snubbed peers (they stopped sending what we asked for) get no regular slot.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand::Rng;

use super::PeerKey;

/// What the choker needs to know about one connected peer.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// The peer.
    pub key: PeerKey,
    /// Whether it is interested in our pieces.
    pub interested: bool,
    /// Bytes per second: from it while downloading, to it while seeding.
    pub rate: u64,
    /// Whether it stopped answering our requests.
    pub snubbed: bool,
}

/// The unchoke schedule of one torrent.
#[derive(Debug, Clone)]
pub struct Choker {
    slots: usize,
    round: Duration,
    optimistic_every: Duration,
    next_round: Instant,
    next_optimistic: Instant,
    optimistic: Option<PeerKey>,
}

impl Choker {
    /// `slots` regular upload slots, a round every `round`, the optimistic unchoke rotated
    /// every `optimistic_every`; the first round is due at `now`.
    pub fn new(slots: usize, round: Duration, optimistic_every: Duration, now: Instant) -> Self {
        Choker {
            slots,
            round,
            optimistic_every,
            next_round: now,
            next_optimistic: now,
            optimistic: None,
        }
    }

    /// Regular slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// When the next round is due.
    pub fn deadline(&self) -> Instant {
        self.next_round
    }

    /// The peer holding the optimistic slot.
    pub fn optimistic(&self) -> Option<PeerKey> {
        self.optimistic
    }

    /// Runs a round if one is due (or `force`): the peers to have unchoked, or `None` when no
    /// round ran.
    pub fn run(
        &mut self,
        now: Instant,
        candidates: &[Candidate],
        force: bool,
        rng: &mut impl Rng,
    ) -> Option<Vec<PeerKey>> {
        if !force && now < self.next_round {
            return None;
        }
        self.next_round = now + self.round;
        let mut regular: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| c.interested && !c.snubbed)
            .collect();
        // Random order first so that equal rates (a fresh swarm: all zero) share out fairly.
        regular.shuffle(rng);
        regular.sort_by_key(|c| std::cmp::Reverse(c.rate));
        regular.truncate(self.slots);
        let mut chosen: Vec<PeerKey> = regular.iter().map(|c| c.key).collect();

        let still_ok = |k: PeerKey| {
            candidates
                .iter()
                .any(|c| c.key == k && c.interested && !chosen.contains(&k))
        };
        let keep = self.optimistic.filter(|&k| still_ok(k));
        let rotate = now >= self.next_optimistic || keep.is_none();
        self.optimistic = if rotate {
            let rest: Vec<PeerKey> = candidates
                .iter()
                .filter(|c| c.interested && !chosen.contains(&c.key))
                .map(|c| c.key)
                .collect();
            self.next_optimistic = now + self.optimistic_every;
            rest.choose(rng).copied()
        } else {
            keep
        };
        chosen.extend(self.optimistic);
        Some(chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn c(k: u64, interested: bool, rate: u64) -> Candidate {
        Candidate {
            key: PeerKey(k),
            interested,
            rate,
            snubbed: false,
        }
    }

    #[test]
    fn best_rates_get_slots_and_one_more_is_optimistic() {
        let now = Instant::now();
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut ch = Choker::new(2, Duration::from_secs(10), Duration::from_secs(30), now);
        let peers = [
            c(1, true, 100),
            c(2, true, 900),
            c(3, false, 5000),
            c(4, true, 500),
            c(5, true, 1),
        ];
        let set = ch.run(now, &peers, false, &mut rng).unwrap();
        assert_eq!(&set[..2], &[PeerKey(2), PeerKey(4)]);
        assert_eq!(set.len(), 3);
        let opt = ch.optimistic().unwrap();
        assert!(opt == PeerKey(1) || opt == PeerKey(5));
        // Not due yet.
        assert!(ch
            .run(now + Duration::from_secs(1), &peers, false, &mut rng)
            .is_none());
        // The optimistic peer is kept until its 30 s are up.
        let later = ch
            .run(now + Duration::from_secs(10), &peers, false, &mut rng)
            .unwrap();
        assert_eq!(later[2], opt);
    }
}
