//! Transfer rates and rate limits, with time passed in.

use std::time::{Duration, Instant};

/// Bytes per second over the last few seconds, in one-second buckets.
///
/// A sliding window rather than an average since connect: choking and request pipelining
/// must react within seconds to a peer that slows down or stalls.
#[derive(Debug, Clone)]
pub struct RateMeter {
    buckets: [u64; Self::BUCKETS],
    /// The second (since `origin`) that `buckets[head]` counts.
    head_second: u64,
    head: usize,
    origin: Instant,
    total: u64,
}

impl RateMeter {
    const BUCKETS: usize = 5;

    /// A meter that starts counting at `now`.
    pub fn new(now: Instant) -> Self {
        RateMeter {
            buckets: [0; Self::BUCKETS],
            head_second: 0,
            head: 0,
            origin: now,
            total: 0,
        }
    }

    fn advance(&mut self, now: Instant) {
        let second = now.saturating_duration_since(self.origin).as_secs();
        if second <= self.head_second {
            return;
        }
        let steps = (second - self.head_second).min(Self::BUCKETS as u64);
        for _ in 0..steps {
            self.head = (self.head + 1) % Self::BUCKETS;
            self.buckets[self.head] = 0;
        }
        self.head_second = second;
    }

    /// Counts `bytes` at `now`.
    pub fn add(&mut self, now: Instant, bytes: u64) {
        self.advance(now);
        self.buckets[self.head] += bytes;
        self.total += bytes;
    }

    /// Bytes per second at `now`, averaged over the complete buckets plus the current one
    /// pro rata, and over at least a second: a young meter reads low rather than high (a
    /// rate limiter's first burst, read over a tenth of a second, would promise several
    /// times the real rate, and requests sized to that promise are held for seconds).
    pub fn rate(&mut self, now: Instant) -> u64 {
        self.advance(now);
        let elapsed = now.saturating_duration_since(self.origin);
        let into_current = elapsed.as_secs_f64() - self.head_second as f64;
        let complete = (self.head_second as usize).min(Self::BUCKETS - 1);
        let span = (complete as f64 + into_current.clamp(0.0, 1.0)).max(1.0);
        let sum: u64 = self.buckets.iter().sum();
        (sum as f64 / span) as u64
    }

    /// Every byte counted since the meter was made.
    pub fn total(&self) -> u64 {
        self.total
    }
}

/// A token bucket over bytes: a rate limit with a burst, time passed in.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` bytes per second, at most `burst` saved up; starts full.
    pub fn new(rate: u64, burst: u64, now: Instant) -> Self {
        TokenBucket {
            rate,
            burst: burst.max(1),
            tokens: burst.max(1) as f64,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + dt * self.rate as f64).min(self.burst as f64);
    }

    /// Takes `bytes` at `now` and returns how long to wait before they may go (zero when
    /// they are within the budget). The debt is taken at once, so callers that wait the
    /// returned time stay within the rate on average whatever their chunk sizes.
    pub fn take(&mut self, now: Instant, bytes: u64) -> Duration {
        self.refill(now);
        self.tokens -= bytes as f64;
        if self.tokens >= 0.0 || self.rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(-self.tokens / self.rate as f64)
    }

    /// The configured rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_reads_recent_rate_and_forgets_old_traffic() {
        let t0 = Instant::now();
        let mut m = RateMeter::new(t0);
        for s in 0..4 {
            m.add(t0 + Duration::from_secs(s), 1000);
        }
        let r = m.rate(t0 + Duration::from_millis(3999));
        assert!((900..=1100).contains(&r), "{r}");
        assert_eq!(m.rate(t0 + Duration::from_secs(30)), 0);
        assert_eq!(m.total(), 4000);
    }

    #[test]
    fn bucket_makes_callers_wait_for_their_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 1000, t0);
        assert_eq!(b.take(t0, 1000), Duration::ZERO);
        let wait = b.take(t0, 500);
        assert!((Duration::from_millis(499)..=Duration::from_millis(501)).contains(&wait));
        // After the wait, the bucket is level again.
        assert_eq!(
            b.take(t0 + Duration::from_millis(1000), 400),
            Duration::ZERO
        );
    }
}
