//! BEP 12 tiers: trackers shuffled within each tier once, tried tier by tier in order, and a
//! tracker that answers moved to the front of its tier.
//!
//! A walk gives each tracker a bounded turn (UDP: `udp_walk_timeout` and
//! `udp_walk_retries` of [`ClientConfig`](super::ClientConfig), not BEP 15's two hours), and
//! remembers a tracker that failed: it is skipped for a back-off that starts at one minute
//! and doubles with each further failure up to an hour, unless every tracker is backing
//! off, in which case the walk tries them all in the usual order.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::Rng;
use tokio::time::Instant;

use super::{TrackerClient, TrackerError};
use crate::types::{AnnounceRequest, AnnounceResponse};

/// First back-off after a failure.
pub const BACKOFF_MIN: Duration = Duration::from_secs(60);
/// Longest back-off.
pub const BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// A tracker that failed: skipped until `until`; the next failure waits twice `delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failing {
    delay: Duration,
    until: Instant,
}

/// An `announce-list`, in the order it is tried, and the trackers backing off after a
/// failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerTiers {
    tiers: Vec<Vec<String>>,
    failing: HashMap<String, Failing>,
    backoff_min: Duration,
    backoff_max: Duration,
}

impl TrackerTiers {
    /// Tiers from an `announce-list`, each shuffled with `rng`; empty tiers are dropped.
    pub fn new(tiers: Vec<Vec<String>>, rng: &mut impl Rng) -> Self {
        let mut tiers: Vec<Vec<String>> = tiers.into_iter().filter(|t| !t.is_empty()).collect();
        for t in &mut tiers {
            t.shuffle(rng);
        }
        TrackerTiers::unshuffled(tiers)
    }

    /// A single tracker.
    pub fn single(url: impl Into<String>) -> Self {
        TrackerTiers::unshuffled(vec![vec![url.into()]])
    }

    fn unshuffled(tiers: Vec<Vec<String>>) -> Self {
        TrackerTiers {
            tiers,
            failing: HashMap::new(),
            backoff_min: BACKOFF_MIN,
            backoff_max: BACKOFF_MAX,
        }
    }

    /// The same tiers with another back-off: `min` after a first failure, doubling up to
    /// `max` (defaults [`BACKOFF_MIN`], [`BACKOFF_MAX`]).
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff_min = min;
        self.backoff_max = max.max(min);
        self
    }

    /// The current order.
    pub fn tiers(&self) -> &[Vec<String>] {
        &self.tiers
    }

    /// Every `(tier, index)` in the order to try, backing-off trackers included.
    pub fn order(&self) -> Vec<(usize, usize)> {
        self.tiers
            .iter()
            .enumerate()
            .flat_map(|(t, v)| (0..v.len()).map(move |i| (t, i)))
            .collect()
    }

    /// The `(tier, index)` a walk at `now` tries: [`order`](Self::order) without the
    /// trackers backing off, or all of them if every one is.
    pub fn walk_order(&self, now: Instant) -> Vec<(usize, usize)> {
        let all = self.order();
        let ready: Vec<(usize, usize)> = all
            .iter()
            .copied()
            .filter(|&(t, i)| self.retry_at(&self.tiers[t][i]).is_none_or(|at| at <= now))
            .collect();
        if ready.is_empty() {
            all
        } else {
            ready
        }
    }

    /// When a tracker that failed is tried again (`None`: it has not failed since it last
    /// answered).
    pub fn retry_at(&self, url: &str) -> Option<Instant> {
        self.failing.get(url).map(|f| f.until)
    }

    /// Notes that `url` failed at `now`: it backs off for the minimum after a first failure,
    /// twice its last back-off after another, at most the maximum.
    pub fn record_failure(&mut self, url: &str, now: Instant) {
        let delay = match self.failing.get(url) {
            Some(f) => f.delay.saturating_mul(2).min(self.backoff_max),
            None => self.backoff_min,
        };
        self.failing.insert(
            url.to_owned(),
            Failing {
                delay,
                until: now + delay,
            },
        );
    }

    /// Notes that `url` answered: its back-off is forgotten.
    pub fn record_success(&mut self, url: &str) {
        self.failing.remove(url);
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

    /// Announces to the first tracker of the walk that answers, promoting it; returns its
    /// URL too. Each tracker gets one bounded turn (a URL listed twice, one), and one that
    /// fails starts or extends its back-off.
    pub async fn announce(
        &mut self,
        client: &TrackerClient,
        req: &AnnounceRequest,
    ) -> Result<(String, AnnounceResponse), TrackerError> {
        let mut last = TrackerError::NoTrackers;
        let mut tried = HashSet::new();
        for (t, i) in self.walk_order(Instant::now()) {
            let url = self.tiers[t][i].clone();
            if !tried.insert(url.clone()) {
                continue;
            }
            match client.announce_in_walk(&url, req).await {
                Ok(r) => {
                    self.record_success(&url);
                    self.promote(t, i);
                    return Ok((url, r));
                }
                Err(e) => {
                    tracing::debug!("tracker {url}: {e}");
                    self.record_failure(&url, Instant::now());
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

    #[test]
    fn failures_back_off_doubling_to_the_cap_and_success_forgets() {
        let mut t = TrackerTiers::unshuffled(vec![vec!["a".into(), "b".into()]]);
        let t0 = Instant::now();
        let min = Duration::from_secs(60);
        assert_eq!(t.retry_at("a"), None);
        t.record_failure("a", t0);
        assert_eq!(t.retry_at("a"), Some(t0 + min));
        for (n, want) in [(1, 120), (2, 240), (3, 480), (4, 960), (5, 1920), (6, 3600)] {
            t.record_failure("a", t0);
            assert_eq!(t.retry_at("a"), Some(t0 + Duration::from_secs(want)), "{n}");
        }
        t.record_failure("a", t0);
        assert_eq!(t.retry_at("a"), Some(t0 + BACKOFF_MAX), "capped");
        t.record_success("a");
        assert_eq!(t.retry_at("a"), None);
        t.record_failure("a", t0);
        assert_eq!(
            t.retry_at("a"),
            Some(t0 + min),
            "starts over after an answer"
        );

        let short =
            TrackerTiers::single("x").with_backoff(Duration::from_secs(1), Duration::from_secs(3));
        let mut s = short;
        for want in [1, 2, 3, 3] {
            s.record_failure("x", t0);
            assert_eq!(s.retry_at("x"), Some(t0 + Duration::from_secs(want)));
        }
    }

    #[test]
    fn walk_skips_trackers_backing_off_unless_all_are() {
        let mut t = TrackerTiers::unshuffled(vec![vec!["a".into(), "b".into()], vec!["c".into()]]);
        let t0 = Instant::now();
        assert_eq!(t.walk_order(t0), t.order());
        t.record_failure("a", t0);
        assert_eq!(t.walk_order(t0), vec![(0, 1), (1, 0)]);
        assert_eq!(
            t.walk_order(t0 + BACKOFF_MIN),
            t.order(),
            "due again once the back-off has passed"
        );
        t.record_failure("b", t0);
        t.record_failure("c", t0);
        assert_eq!(t.walk_order(t0), t.order(), "all backing off: try all");
    }
}
