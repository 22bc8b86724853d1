//! A server's per-peer bound on repair symbols generated (time passed in, no clock).

use std::time::Duration;

/// Default sustained repair symbols per second per peer: 4096 (64 MiB/s of repair data, about
/// 2% of a core at 5 µs per generated symbol).
pub const DEFAULT_REPAIR_RATE: u32 = 4096;

/// Default burst of repair symbols a peer may ask for at once: 512 (two 4 MiB pieces' worth
/// of K).
pub const DEFAULT_REPAIR_BURST: u32 = 512;

/// Token bucket over repair symbols for one peer: a server takes tokens before generating
/// repair symbols and rejects (SYMBOL_REJECT) what does not fit.
///
/// Source symbols are blocks and cost a copy; they are bounded by the request queue like
/// block requests, not by this.
#[derive(Debug, Clone)]
pub struct RepairBudget {
    rate: u64,
    burst_milli: u64,
    tokens_milli: u64,
    last: Duration,
}

impl RepairBudget {
    /// A bucket refilling `rate_per_sec` tokens per second up to `burst`, starting full at
    /// time `now` (any monotonic time base the caller uses).
    pub fn new(rate_per_sec: u32, burst: u32, now: Duration) -> Self {
        let burst_milli = u64::from(burst) * 1000;
        Self {
            rate: u64::from(rate_per_sec),
            burst_milli,
            tokens_milli: burst_milli,
            last: now,
        }
    }

    /// Takes up to `wanted` tokens at time `now`; returns how many were granted.
    pub fn take(&mut self, now: Duration, wanted: u32) -> u32 {
        // Time going backwards (a caller's bug) refills nothing rather than panicking.
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        let ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let refill = ms.saturating_mul(self.rate);
        self.tokens_milli = self
            .tokens_milli
            .saturating_add(refill)
            .min(self.burst_milli);
        let granted = (self.tokens_milli / 1000).min(u64::from(wanted));
        self.tokens_milli -= granted * 1000;
        granted as u32
    }
}

impl Default for RepairBudget {
    fn default() -> Self {
        Self::new(DEFAULT_REPAIR_RATE, DEFAULT_REPAIR_BURST, Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate_up_to_the_burst() {
        let t0 = Duration::from_secs(10);
        let mut b = RepairBudget::new(100, 50, t0);
        assert_eq!(b.take(t0, 80), 50);
        assert_eq!(b.take(t0, 1), 0);
        assert_eq!(b.take(t0 + Duration::from_millis(100), 20), 10);
        assert_eq!(b.take(t0 + Duration::from_secs(60), 1000), 50);
        // Time going backwards grants nothing new and does not panic.
        assert_eq!(b.take(t0, 5), 0);
    }
}
