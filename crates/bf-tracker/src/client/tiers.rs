//! BEP 12 tiers: trackers shuffled within each tier once, tried tier by tier in order, and a
//! tracker that answers moved to the front of its tier.

use rand::seq::SliceRandom;
use rand::Rng;

use super::{TrackerClient, TrackerError};
use crate::types::{AnnounceRequest, AnnounceResponse};

/// An `announce-list`, in the order it is tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerTiers {
    tiers: Vec<Vec<String>>,
}

impl TrackerTiers {
    /// Tiers from an `announce-list`, each shuffled with `rng`; empty tiers are dropped.
    pub fn new(tiers: Vec<Vec<String>>, rng: &mut impl Rng) -> Self {
        let mut tiers: Vec<Vec<String>> = tiers.into_iter().filter(|t| !t.is_empty()).collect();
        for t in &mut tiers {
            t.shuffle(rng);
        }
        TrackerTiers { tiers }
    }

    /// A single tracker.
    pub fn single(url: impl Into<String>) -> Self {
        TrackerTiers {
            tiers: vec![vec![url.into()]],
        }
    }

    /// The current order.
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// Every `(tier, index)` in the order to try.
    pub fn order(&self) -> Vec<(usize, usize)> {
        self.tiers
            .iter()
            .enumerate()
            .flat_map(|(t, v)| (0..v.len()).map(move |i| (t, i)))
            .collect()
    }

    /// Moves the tracker at `(tier, index)` to the front of its tier (it answered).
    pub fn promote(&mut self, tier: usize, index: usize) {
        if let Some(t) = self.tiers.get_mut(tier) {
            if index < t.len() {
                let u = t.remove(index);
                t.insert(0, u);
            }
        }
    }

    /// Announces to the first tracker that answers, promoting it; returns its URL too.
    pub async fn announce(
        &mut self,
        client: &TrackerClient,
        req: &AnnounceRequest,
    ) -> Result<(String, AnnounceResponse), TrackerError> {
        let mut last = TrackerError::NoTrackers;
        for (t, i) in self.order() {
            let url = self.tiers[t][i].clone();
            match client.announce(&url, req).await {
                Ok(r) => {
                    self.promote(t, i);
                    return Ok((url, r));
                }
                Err(e) => {
                    tracing::debug!("tracker {url}: {e}");
                    last = e;
                }
            }
        }
        match last {
            TrackerError::NoTrackers => Err(TrackerError::NoTrackers),
            e => Err(TrackerError::AllFailed(Box::new(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn shuffle_keeps_tiers_and_promote_moves_to_front() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let tiers = vec![
            vec!["a".into(), "b".into(), "c".into()],
            vec![],
            vec!["d".into()],
        ];
        let mut t = TrackerTiers::new(tiers, &mut rng);
        assert_eq!(t.tiers().len(), 2);
        let mut first = t.tiers()[0].clone();
        first.sort();
        assert_eq!(first, ["a", "b", "c"]);
        let third = t.tiers()[0][2].clone();
        t.promote(0, 2);
        assert_eq!(t.tiers()[0][0], third);
        assert_eq!(t.order(), vec![(0, 0), (0, 1), (0, 2), (1, 0)]);
    }
}
