//! Bounds for a server exposed to the internet: requests per address per second (a token
//! bucket per IPv4 address or IPv6 /64, in a table of fixed size) and the number of HTTP
//! connections held open (with the idle ones closed first when a new one needs room).
//!
//! Both are checked for every request, so both cost next to nothing: the rate table is
//! 1024 sets of 8 buckets behind one uncontended lock each, found by a keyed hash of the
//! address; the connection count is one atomic, and the queue of connections that may be
//! closed for a newcomer is touched only when a connection gets a task of its own.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

/// Bucket sets in the rate table (a power of two).
const SET_BITS: u32 = 10;
/// Buckets per set: addresses whose hashes meet in one set share nothing but its lock.
const WAYS: usize = 8;
/// The key of a bucket never used. As a key it would be 255.255.255.255, never a source
/// address; and an unused bucket is full anyway, so meeting it costs nobody anything.
const EMPTY: u64 = u64::MAX;

/// One address's bucket: `milli` thousandths of a request left as of `last_ms`.
#[derive(Clone, Copy)]
struct Bucket {
    key: u64,
    last_ms: u64,
    milli: u64,
}

/// Requests per second per address (an IPv4 address, or the /64 of an IPv6 one), HTTP and
/// UDP together: a token bucket of one second's worth, refilled continuously.
///
/// The table has 8,192 buckets whatever the traffic (about 200 KiB). A bucket left alone for
/// a second is full again, the same as none, so the table needs to hold only the addresses
/// heard from in the last second; when a set is full, the bucket with the most tokens left
/// is the one reused. A flood from more addresses than that can only make the limiter
/// forget someone (who then gets a fresh bucket): it never refuses an address that has not
/// itself asked too fast.
pub(crate) struct RateLimiter {
    /// Requests per second; 0: no limit (and no table).
    rate: u32,
    /// Keys the set index, so that nobody can choose addresses that meet in one set.
    seed: u64,
    sets: Box<[Mutex<[Bucket; WAYS]>]>,
}

impl RateLimiter {
    /// A limiter of `rate` requests per second per address; 0 turns it off.
    pub(crate) fn new(rate: u32) -> Self {
        let sets = if rate == 0 { 0 } else { 1 << SET_BITS };
        let full = Bucket {
            key: EMPTY,
            last_ms: 0,
            milli: u64::from(rate) * 1000,
        };
        RateLimiter {
            rate,
            seed: rand::random::<u64>() | 1,
            sets: (0..sets).map(|_| Mutex::new([full; WAYS])).collect(),
        }
    }

    /// Takes one request's token from `ip`'s bucket: false when it is empty (refuse).
    pub(crate) fn allow(&self, ip: IpAddr) -> bool {
        self.allow_now(ip, unix_ms())
    }

    /// [`Self::allow`] with the time given (milliseconds of Unix time, [`unix_ms`]): the
    /// UDP loop reads the clock once a packet. A clock stepped back only delays refills.
    pub(crate) fn allow_now(&self, ip: IpAddr, now_ms: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        self.allow_at(key_of(ip), now_ms)
    }

    fn allow_at(&self, key: u64, now_ms: u64) -> bool {
        let rate = u64::from(self.rate);
        let cap = rate * 1000;
        let level = |b: &Bucket| {
            b.milli
                .saturating_add(now_ms.saturating_sub(b.last_ms).saturating_mul(rate))
                .min(cap)
        };
        let idx = (key ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SET_BITS);
        let Some(set) = self.sets.get(idx as usize) else {
            return true;
        };
        let mut set = set.lock().unwrap_or_else(|e| e.into_inner());
        let i = match set.iter().position(|b| b.key == key) {
            Some(i) => i,
            None => {
                // Reuse the bucket that forgets least: the fullest (an unused one is full).
                let mut best = 0;
                let mut best_level = 0;
                for (i, b) in set.iter().enumerate() {
                    let l = level(b);
                    if l > best_level {
                        (best, best_level) = (i, l);
                    }
                }
                set[best] = Bucket {
                    key,
                    last_ms: now_ms,
                    milli: cap,
                };
                best
            }
        };
        let b = &mut set[i];
        let l = level(b);
        b.last_ms = b.last_ms.max(now_ms);
        if l >= 1000 {
            b.milli = l - 1000;
            true
        } else {
            b.milli = l;
            false
        }
    }

    /// The table's size in bytes (for the documentation's claim; tests check it).
    #[cfg(test)]
    fn table_bytes(&self) -> usize {
        self.sets.len() * std::mem::size_of::<Mutex<[Bucket; WAYS]>>()
    }
}

/// Milliseconds of Unix time: the rate limiter's clock.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The bucket key of an address: an IPv4 address (IPv4-mapped IPv6 ones too), or the
/// first 64 bits of an IPv6 one, where one subscriber's addresses all share a /64.
fn key_of(ip: IpAddr) -> u64 {
    match ip.to_canonical() {
        // ffff:ffff::/32 is multicast space, never the /64 of a source: no IPv6 key meets
        // these.
        IpAddr::V4(a) => 0xFFFF_FFFF_0000_0000 | u64::from(u32::from(a)),
        IpAddr::V6(a) => (u128::from(a) >> 64) as u64,
    }
}

/// What a connection with a task is doing, as [`Connections`] sees it.
const IDLE: u8 = 0;
/// Answering a request (never closed for a newcomer).
const BUSY: u8 = 1;
/// Served by hyper: closed for a newcomer only after a second without a byte moved.
const HYPER: u8 = 2;
/// Closed for a newcomer, which took its place in the count.
const SHED: u8 = 3;
/// Gone.
const DEAD: u8 = 4;

/// How long a hyper connection must have moved no byte before it may be closed to make
/// room for a new connection.
const HYPER_IDLE_MS: u64 = 1000;
/// Connections looked at, at most, to find one to close for a newcomer.
const SCAN: usize = 64;

/// One connection's state, shared between its task and the accept thread.
pub(crate) struct ConnState {
    state: AtomicU8,
    /// When a byte last moved (milliseconds since [`Connections`]' epoch; hyper only).
    active_ms: AtomicU64,
    /// Woken when the connection was closed for a newcomer.
    shed: tokio::sync::Notify,
}

/// The HTTP connections held open past their accept (a task each), at most
/// `max` of them.
///
/// When a connection needs a task and all places are taken, the connection that has waited
/// longest for its client to send a request (oldest first among those waiting for a head,
/// and hyper's that moved no byte for a second) is closed and the newcomer takes its place.
/// Clients send their request as soon as they connect, so this closes the idle sockets an
/// attacker holds open, not clients that are being served; only when every connection is
/// busy is the newcomer itself closed.
pub(crate) struct Connections {
    open: AtomicUsize,
    max: usize,
    epoch: Instant,
    /// The connections with a task, oldest first (roughly: busy ones looked at go to the
    /// back); dead entries are dropped as they are met, or all at once when it gets long.
    queue: Mutex<VecDeque<Weak<ConnState>>>,
}

impl Connections {
    /// At most `max` connections (at least 1).
    pub(crate) fn new(max: usize) -> Self {
        Connections {
            open: AtomicUsize::new(0),
            max: max.max(1),
            epoch: Instant::now(),
            queue: Mutex::new(VecDeque::new()),
        }
    }

    /// Connections held open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// The cap.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// A place for a new connection: a free one, else that of the connection idle longest
    /// (which is told to close). `Err` when every place is busy; `Ok((slot, true))` when the
    /// cap was reached and an idle connection gave way.
    pub(crate) fn admit(self: &Arc<Self>) -> Result<(ConnSlot, bool), ()> {
        let state = Arc::new(ConnState {
            state: AtomicU8::new(BUSY),
            active_ms: AtomicU64::new(self.now_ms()),
            shed: tokio::sync::Notify::new(),
        });
        let mut shed_one = false;
        let free = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok();
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if !free {
            if !self.shed_idle(&mut q) {
                return Err(());
            }
            shed_one = true;
        }
        if q.len() > 2 * self.max + SCAN {
            q.retain(|w| w.strong_count() > 0);
        }
        q.push_back(Arc::downgrade(&state));
        drop(q);
        Ok((
            ConnSlot {
                conns: self.clone(),
                state,
            },
            shed_one,
        ))
    }

    /// Closes the connection waiting longest for its client, whose place in the count
    /// passes to the caller; false if none is idle among the first [`SCAN`].
    fn shed_idle(&self, q: &mut VecDeque<Weak<ConnState>>) -> bool {
        let now = self.now_ms();
        for _ in 0..SCAN.min(q.len()) {
            let Some(w) = q.pop_front() else { break };
            let Some(c) = w.upgrade() else { continue };
            let from = match c.state.load(Ordering::Acquire) {
                IDLE => IDLE,
                HYPER
                    if now.saturating_sub(c.active_ms.load(Ordering::Relaxed)) >= HYPER_IDLE_MS =>
                {
                    HYPER
                }
                DEAD | SHED => continue,
                _ => {
                    q.push_back(w);
                    continue;
                }
            };
            if c.state
                .compare_exchange(from, SHED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                c.shed.notify_one();
                return true;
            }
            // It woke up (or went away) meanwhile: look at it again later.
            q.push_back(w);
        }
        false
    }
}

/// A connection's place in [`Connections`]' count, given back when dropped.
pub(crate) struct ConnSlot {
    conns: Arc<Connections>,
    state: Arc<ConnState>,
}

impl ConnSlot {
    /// The connection waits for its client's next request: it may be closed for a newcomer.
    pub(crate) fn idle(&self) {
        let _ = self
            .state
            .state
            .compare_exchange(BUSY, IDLE, Ordering::AcqRel, Ordering::Acquire);
    }

    /// A request arrived: false when the connection was closed for a newcomer meanwhile
    /// (drop it without answering).
    pub(crate) fn busy(&self) -> bool {
        let s = &self.state.state;
        s.compare_exchange(IDLE, BUSY, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            || s.load(Ordering::Acquire) == BUSY
    }

    /// The connection goes to hyper: from now on it may be closed for a newcomer after a
    /// second in which no byte moved (see [`ConnSlot::moved`]).
    pub(crate) fn to_hyper(&self) -> bool {
        self.moved();
        let s = &self.state.state;
        s.compare_exchange(BUSY, HYPER, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            || s.compare_exchange(IDLE, HYPER, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Bytes moved on a hyper connection.
    pub(crate) fn moved(&self) {
        self.state
            .active_ms
            .store(self.conns.now_ms(), Ordering::Relaxed);
    }

    /// Completes once the connection has been closed for a newcomer.
    pub(crate) async fn shed(&self) {
        loop {
            if self.state.state.load(Ordering::Acquire) == SHED {
                return;
            }
            self.state.shed.notified().await;
        }
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        // A shed connection's place already belongs to its newcomer.
        if self.state.state.swap(DEAD, Ordering::AcqRel) != SHED {
            self.conns.open.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_second_of_burst_then_the_rate() {
        let r = RateLimiter::new(10);
        let k = key_of(IpAddr::from([192, 0, 2, 1]));
        let ok = (0..25).filter(|_| r.allow_at(k, 1_000)).count();
        assert_eq!(ok, 10, "a burst of one second's worth");
        assert!(!r.allow_at(k, 1_050), "half a token is not enough");
        assert!(r.allow_at(k, 1_100), "one token 100 ms later");
        assert!(!r.allow_at(k, 1_100));
        // Another address has its own bucket.
        assert!(r.allow_at(key_of(IpAddr::from([192, 0, 2, 2])), 1_100));
        // Refilled to the cap, not beyond.
        let ok = (0..25).filter(|_| r.allow_at(k, 60_000)).count();
        assert_eq!(ok, 10);
        // Steady 10/s over 10 s from the empty bucket: 100 allowed.
        let ok = (0..1000)
            .filter(|i| r.allow_at(k, 60_000 + 10 * (i + 1)))
            .count();
        assert_eq!(ok, 100);
    }

    #[test]
    fn off_means_no_table_and_everything_allowed() {
        let r = RateLimiter::new(0);
        assert_eq!(r.table_bytes(), 0);
        assert!((0..10_000).all(|_| r.allow(IpAddr::from([10, 0, 0, 1]))));
    }

    #[test]
    fn ipv6_shares_a_bucket_per_64_and_mapped_v4_is_v4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap_or_else(|_| unreachable!());
        let b: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(key_of(a), key_of(b));
        assert_ne!(key_of(a), key_of(c));
        let m: IpAddr = "::ffff:192.0.2.1"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(key_of(m), key_of(IpAddr::from([192, 0, 2, 1])));
        let r = RateLimiter::new(3);
        assert_eq!(
            (0..6)
                .filter(|i| r.allow_at(key_of(if i % 2 == 0 { a } else { b }), 5))
                .count(),
            3
        );
        assert!(r.allow_at(key_of(c), 5));
    }

    #[test]
    fn a_flood_from_many_addresses_never_refuses_a_quiet_one_and_memory_is_fixed() {
        let r = RateLimiter::new(5);
        let bytes = r.table_bytes();
        assert!(bytes < 256 << 10, "{bytes} bytes");
        let quiet = key_of(IpAddr::from([198, 51, 100, 7]));
        let hot = key_of(IpAddr::from([198, 51, 100, 8]));
        let mut hot_ok = 0;
        let mut t = 0;
        for round in 0..200u64 {
            // 1,000 new addresses a round (200,000 in all, far more than the table holds),
            // one hot address asking 10 times a round, a quiet one once every 10 rounds.
            for i in 0..1000u64 {
                r.allow_at(
                    key_of(IpAddr::from(((round * 1000 + i) as u32).to_be_bytes())),
                    t,
                );
            }
            for _ in 0..10 {
                hot_ok += usize::from(r.allow_at(hot, t));
            }
            if round % 10 == 0 {
                assert!(r.allow_at(quiet, t), "round {round}: quiet address refused");
            }
            t += 100;
        }
        assert_eq!(r.table_bytes(), bytes);
        // 20 s at 5/s plus the first second's burst; a hot bucket is the last one reused.
        assert!(hot_ok <= 110, "the hot address got {hot_ok} of 2000");
    }

    #[test]
    fn connections_are_capped_and_idle_ones_give_way() {
        let c = Arc::new(Connections::new(3));
        let (a, _) = c.admit().unwrap_or_else(|_| unreachable!());
        let (b, _) = c.admit().unwrap_or_else(|_| unreachable!());
        let (d, _) = c.admit().unwrap_or_else(|_| unreachable!());
        assert_eq!(c.open(), 3);
        // All busy: the newcomer is refused.
        assert!(c.admit().is_err());
        // `b` waits for its client: it gives way, the count stays at the cap.
        b.idle();
        let (e, shed) = c.admit().unwrap_or_else(|_| unreachable!());
        assert!(shed);
        assert!(!b.busy(), "a shed connection is not served");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|_| unreachable!());
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), b.shed())
                .await
                .unwrap_or_else(|_| unreachable!());
        });
        drop(b);
        assert_eq!(c.open(), 3, "the shed one's place went to the newcomer");
        // A hyper connection gives way only after a second without traffic.
        assert!(a.to_hyper());
        assert!(c.admit().is_err(), "it just moved a byte");
        a.state.active_ms.store(0, Ordering::Relaxed);
        let later = Arc::new(Connections {
            epoch: Instant::now()
                .checked_sub(std::time::Duration::from_secs(5))
                .unwrap_or_else(Instant::now),
            ..Connections::new(1)
        });
        let (h, _) = later.admit().unwrap_or_else(|_| unreachable!());
        assert!(h.to_hyper());
        assert!(later.admit().is_err());
        h.state.active_ms.store(0, Ordering::Relaxed);
        assert!(later.admit().is_ok(), "silent for 5 s: it gives way");
        drop((a, d, e));
        assert!(c.open() <= 1);
    }
}

/// What the limits cost per request, single-threaded (`cargo test --release -p bf-tracker
/// --lib limits::cost -- --ignored --nocapture`).
#[cfg(test)]
mod cost {
    use super::*;

    fn per_op(n: u32, mut f: impl FnMut(u32)) -> f64 {
        let t = Instant::now();
        for i in 0..n {
            f(i);
        }
        t.elapsed().as_nanos() as f64 / f64::from(n)
    }

    #[test]
    #[ignore = "a measurement, not a check"]
    fn limits_cost_per_request() {
        let r = RateLimiter::new(100_000_000);
        let one = IpAddr::from([127, 0, 0, 1]);
        let ns = per_op(10_000_000, |_| {
            std::hint::black_box(r.allow(std::hint::black_box(one)));
        });
        eprintln!("RateLimiter::allow, one address: {ns:.1} ns");
        let ns = per_op(10_000_000, |i| {
            let ip = IpAddr::from((0x0a00_0000 | (i % 100_000)).to_be_bytes());
            std::hint::black_box(r.allow(ip));
        });
        eprintln!("RateLimiter::allow, 100,000 addresses in turn: {ns:.1} ns");
        let off = RateLimiter::new(0);
        let ns = per_op(10_000_000, |_| {
            std::hint::black_box(off.allow(std::hint::black_box(one)));
        });
        eprintln!("RateLimiter::allow, off: {ns:.1} ns");
        let c = Arc::new(Connections::new(4096));
        let ns = per_op(1_000_000, |_| {
            let s = c.admit();
            std::hint::black_box(&s);
        });
        eprintln!("Connections::admit and drop: {ns:.1} ns");
        let (s, _) = c.admit().unwrap_or_else(|_| unreachable!());
        let ns = per_op(10_000_000, |_| {
            s.idle();
            std::hint::black_box(s.busy());
        });
        eprintln!("ConnSlot::idle then busy (each keep-alive request): {ns:.1} ns");
    }
}
