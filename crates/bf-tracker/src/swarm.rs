//! The sans-IO swarm store: peers per torrent, seed/leecher/completed counters, peer
//! selection and expiry. Time is passed in (Unix seconds); nothing here does I/O.
//!
//! Peers are identified by their endpoint (address and port), as opentracker does: a
//! response can then never list the same endpoint twice nor the requester itself, and a
//! stored peer costs 10 bytes (IPv4) or 22 bytes (IPv6) in a per-torrent vector sorted by
//! endpoint. Peer ids are not kept, so dictionary-form responses carry none (BEP 23 allows
//! leaving them out; every current client asks for compact lists anyway).
//!
//! ```
//! use bf_metainfo::InfoHash;
//! use bf_tracker::swarm::{PeerAnnounce, StoreConfig, SwarmStore};
//! use bf_tracker::Event;
//!
//! // The store records announces and hands out peers, never the requester itself.
//! let mut store = SwarmStore::new(StoreConfig::default());
//! let mut rng = rand::thread_rng();
//! let now = 1_800_000_000; // Unix seconds
//! let info_hash = InfoHash([0xAB; 20]);
//! let mut peers = Vec::new();
//! for port in [6881, 6882] {
//!     let a = PeerAnnounce {
//!         info_hash,
//!         addr: format!("127.0.0.1:{port}").parse().unwrap(),
//!         left: 100,
//!         event: Event::Started,
//!         numwant: None,
//!     };
//!     peers.clear();
//!     store.announce(&a, now, &mut rng, &mut peers);
//! }
//! assert_eq!(peers, vec!["127.0.0.1:6881".parse().unwrap()]);
//! assert_eq!(store.stats(&info_hash).incomplete, 2);
//! ```

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bf_metainfo::InfoHash;
use rand::Rng;

use crate::types::{Event, ScrapeStats};

/// Seconds subtracted from Unix time before storing it in 31 bits (valid until 2091).
const CLOCK_EPOCH: u64 = 1_700_000_000;
const SEED_BIT: u32 = 1 << 31;

fn clock(unix: u64) -> u32 {
    (unix
        .saturating_sub(CLOCK_EPOCH)
        .min(u64::from(SEED_BIT - 1))) as u32
}

/// Tunables of a [`SwarmStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Seconds after its last announce when a peer is dropped.
    pub peer_timeout: u32,
    /// Peers returned when the client does not say.
    pub default_numwant: u32,
    /// Most peers ever returned.
    pub max_numwant: u32,
    /// Most peers kept per torrent; new ones past it get a peer list but are not stored.
    pub max_peers_per_torrent: u32,
    /// Most torrents this store keeps; announces for new ones past it are refused.
    pub max_torrents: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            peer_timeout: 2700,
            default_numwant: 50,
            max_numwant: 200,
            max_peers_per_torrent: 50_000,
            max_torrents: 1_000_000,
        }
    }
}

/// One announce as the store sees it (already validated, address already decided).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAnnounce {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Where the peer listens.
    pub addr: SocketAddr,
    /// Bytes left (0 = seed).
    pub left: u64,
    /// State change.
    pub event: Event,
    /// Peers wanted (`None` = default).
    pub numwant: Option<u32>,
}

/// A peer as saved to and loaded from the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPeer {
    /// Its endpoint.
    pub addr: SocketAddr,
    /// Whether it has everything.
    pub seed: bool,
    /// Unix time of its last announce.
    pub last_seen: u64,
}

/// One swarm as saved to and loaded from the state file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SwarmRecord {
    /// Completed downloads ever seen.
    pub completed: u32,
    /// Its peers.
    pub peers: Vec<StoredPeer>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Peer<const N: usize> {
    /// IP octets then port, big-endian: sorting by these bytes sorts by endpoint.
    key: [u8; N],
    /// Store clock of the last announce, with [`SEED_BIT`]. Bytes keep the struct unpadded.
    seen: [u8; 4],
}

impl<const N: usize> Peer<N> {
    fn new(key: [u8; N], now: u32, seed: bool) -> Self {
        let v = now | if seed { SEED_BIT } else { 0 };
        Peer {
            key,
            seen: v.to_le_bytes(),
        }
    }
    fn raw_seen(&self) -> u32 {
        u32::from_le_bytes(self.seen)
    }
    fn seed(&self) -> bool {
        self.raw_seen() & SEED_BIT != 0
    }
    fn last_seen(&self) -> u32 {
        self.raw_seen() & !SEED_BIT
    }
    fn addr(&self) -> SocketAddr {
        let port = u16::from_be_bytes([self.key[N - 2], self.key[N - 1]]);
        let ip = if N == 6 {
            IpAddr::V4(Ipv4Addr::new(
                self.key[0],
                self.key[1],
                self.key[2],
                self.key[3],
            ))
        } else {
            let mut o = [0u8; 16];
            o.copy_from_slice(&self.key[..16]);
            IpAddr::V6(Ipv6Addr::from(o))
        };
        SocketAddr::new(ip, port)
    }
}

fn key4(ip: Ipv4Addr, port: u16) -> [u8; 6] {
    let mut k = [0u8; 6];
    k[..4].copy_from_slice(&ip.octets());
    k[4..].copy_from_slice(&port.to_be_bytes());
    k
}

fn key6(ip: Ipv6Addr, port: u16) -> [u8; 18] {
    let mut k = [0u8; 18];
    k[..16].copy_from_slice(&ip.octets());
    k[16..].copy_from_slice(&port.to_be_bytes());
    k
}

/// The peers of one torrent.
#[derive(Clone, Default)]
struct Swarm {
    v4: Vec<Peer<6>>,
    v6: Vec<Peer<18>>,
    seeds: u32,
    completed: u32,
}

impl Swarm {
    fn len(&self) -> u32 {
        (self.v4.len() + self.v6.len()) as u32
    }
    fn stats(&self) -> ScrapeStats {
        ScrapeStats {
            complete: self.seeds,
            downloaded: self.completed,
            incomplete: self.len().saturating_sub(self.seeds),
        }
    }
    /// Appends up to `want` peers for the peer at `addr` (stored at `idx` in its family's
    /// list, if it is), its own family first.
    fn give(
        &self,
        addr: SocketAddr,
        idx: Option<usize>,
        seed: bool,
        want: usize,
        rng: &mut impl Rng,
        out: &mut Vec<SocketAddr>,
    ) {
        let before = out.len();
        if addr.is_ipv4() {
            pick(&self.v4, idx, seed, want, rng, out);
            let left = want - (out.len() - before);
            pick(&self.v6, None, seed, left, rng, out);
        } else {
            pick(&self.v6, idx, seed, want, rng, out);
            let left = want - (out.len() - before);
            pick(&self.v4, None, seed, left, rng, out);
        }
    }

    fn recount(&mut self) {
        let s4 = self.v4.iter().filter(|p| p.seed()).count();
        let s6 = self.v6.iter().filter(|p| p.seed()).count();
        self.seeds = (s4 + s6) as u32;
    }
}

/// What an announce changed in the store, reported so the caller can log or count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnounceOutcome {
    /// The torrent's counters after the announce.
    pub stats: ScrapeStats,
    /// Whether the peer was new to the store (or changed between seed and leecher): what
    /// a journal must record.
    pub changed: bool,
    /// A bound kept the announce out of the store.
    pub full: Option<Full>,
}

/// Which bound an announce hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The torrent has [`StoreConfig::max_peers_per_torrent`] peers.
    Peers,
    /// The store has [`StoreConfig::max_torrents`] torrents.
    Torrents,
}

/// Peers per torrent, with the counters scrape reports.
#[derive(Clone, Default)]
pub struct SwarmStore {
    torrents: HashMap<InfoHash, Swarm>,
    config: StoreConfig,
    peers: usize,
}

/// What [`upsert`] did.
struct Upsert {
    /// The peer's index afterwards, if it is (still) stored.
    index: Option<usize>,
    /// Its seed flag before, if it was stored.
    was_seed: Option<bool>,
    /// Change in the seed count.
    dseeds: i32,
    /// Change in the peer count.
    dpeers: i32,
}

/// Updates, inserts or (when `stopped`) removes the peer at `key` in `v`.
fn upsert<const N: usize>(
    v: &mut Vec<Peer<N>>,
    key: [u8; N],
    now: u32,
    seed: bool,
    stopped: bool,
    room: bool,
) -> Upsert {
    match v.binary_search_by(|p| p.key.cmp(&key)) {
        Ok(i) => {
            let was = v[i].seed();
            if stopped {
                v.remove(i);
                return Upsert {
                    index: None,
                    was_seed: Some(was),
                    dseeds: -i32::from(was),
                    dpeers: -1,
                };
            }
            v[i] = Peer::new(key, now, seed);
            Upsert {
                index: Some(i),
                was_seed: Some(was),
                dseeds: i32::from(seed) - i32::from(was),
                dpeers: 0,
            }
        }
        Err(_) if stopped || !room => Upsert {
            index: None,
            was_seed: None,
            dseeds: 0,
            dpeers: 0,
        },
        Err(i) => {
            if v.len() == v.capacity() {
                // Grow by half instead of doubling: most swarms are small and stay put, so
                // the slack of a doubled vector would be most of their memory.
                v.reserve_exact((v.len() / 2).max(4));
            }
            v.insert(i, Peer::new(key, now, seed));
            Upsert {
                index: Some(i),
                was_seed: None,
                dseeds: i32::from(seed),
                dpeers: 1,
            }
        }
    }
}

/// [`SwarmStore::apply`] for one address family: the change in the peer count.
fn replay<const N: usize>(
    v: &mut Vec<Peer<N>>,
    key: [u8; N],
    seen: u32,
    r: &crate::journal::Record,
    room: bool,
) -> isize {
    match v.binary_search_by(|p| p.key.cmp(&key)) {
        Ok(i) if r.stopped => {
            v.remove(i);
            -1
        }
        Ok(i) => {
            v[i] = Peer::new(key, seen.max(v[i].last_seen()), r.seed);
            0
        }
        Err(_) if r.stopped || !room => 0,
        Err(i) => {
            v.insert(i, Peer::new(key, seen, r.seed));
            1
        }
    }
}

/// Appends up to `want` peers of `v` to `out`, starting at a random place and wrapping, so
/// each is taken at most once; `skip` is the requester, `no_seeds` leaves seeds out.
fn pick<const N: usize>(
    v: &[Peer<N>],
    skip: Option<usize>,
    no_seeds: bool,
    want: usize,
    rng: &mut impl Rng,
    out: &mut Vec<SocketAddr>,
) {
    let n = v.len();
    if want == 0 || n == 0 {
        return;
    }
    let start = if n > want { rng.gen_range(0..n) } else { 0 };
    let mut taken = 0;
    for i in 0..n {
        let j = (start + i) % n;
        if Some(j) == skip || (no_seeds && v[j].seed()) {
            continue;
        }
        out.push(v[j].addr());
        taken += 1;
        if taken == want {
            break;
        }
    }
}

impl SwarmStore {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        SwarmStore {
            torrents: HashMap::new(),
            config,
            peers: 0,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Records an announce made at Unix time `now` and appends the peers to give back to
    /// `out` (never the requester, never twice, no seeds to a seed).
    pub fn announce(
        &mut self,
        a: &PeerAnnounce,
        now: u64,
        rng: &mut impl Rng,
        out: &mut Vec<SocketAddr>,
    ) -> AnnounceOutcome {
        let now = clock(now);
        let stopped = a.event == Event::Stopped;
        let known = self.torrents.contains_key(&a.info_hash);
        if stopped && !known {
            return AnnounceOutcome {
                stats: ScrapeStats::default(),
                changed: false,
                full: None,
            };
        }
        if !known && self.torrents.len() >= self.config.max_torrents {
            return AnnounceOutcome {
                stats: ScrapeStats::default(),
                changed: false,
                full: Some(Full::Torrents),
            };
        }
        let swarm = self.torrents.entry(a.info_hash).or_default();
        let seed = a.left == 0;
        let addr = SocketAddr::new(a.addr.ip().to_canonical(), a.addr.port());
        let room = swarm.len() < self.config.max_peers_per_torrent;
        let u = match addr {
            SocketAddr::V4(s) => upsert(
                &mut swarm.v4,
                key4(*s.ip(), s.port()),
                now,
                seed,
                stopped,
                room,
            ),
            SocketAddr::V6(s) => upsert(
                &mut swarm.v6,
                key6(*s.ip(), s.port()),
                now,
                seed,
                stopped,
                room,
            ),
        };
        let full = (!stopped && !room && u.was_seed.is_none()).then_some(Full::Peers);
        let idx = u.index;
        swarm.seeds = swarm.seeds.saturating_add_signed(u.dseeds);
        self.peers = self.peers.saturating_add_signed(u.dpeers as isize);
        // A download counts as completed on the `completed` event, or when a peer known as a
        // leecher reports nothing left (aria2 sends `stopped` with left=0 and no `completed`).
        let finished = match u.was_seed {
            Some(was) => seed && !was,
            None => seed && a.event == Event::Completed,
        };
        if finished {
            swarm.completed = swarm.completed.saturating_add(1);
        }
        if !stopped {
            let want = Self::want(&self.config, a);
            swarm.give(addr, idx, seed, want, rng, out);
        }
        AnnounceOutcome {
            stats: swarm.stats(),
            changed: u.dpeers != 0 || u.dseeds != 0 || finished,
            full,
        }
    }

    fn want(config: &StoreConfig, a: &PeerAnnounce) -> usize {
        a.numwant
            .unwrap_or(config.default_numwant)
            .min(config.max_numwant) as usize
    }

    /// Whether `addr` is stored as a peer of `h`.
    pub fn has_peer(&self, h: &InfoHash, addr: SocketAddr) -> bool {
        let Some(s) = self.torrents.get(h) else {
            return false;
        };
        match SocketAddr::new(addr.ip().to_canonical(), addr.port()) {
            SocketAddr::V4(a) => {
                let k = key4(*a.ip(), a.port());
                s.v4.binary_search_by(|p| p.key.cmp(&k)).is_ok()
            }
            SocketAddr::V6(a) => {
                let k = key6(*a.ip(), a.port());
                s.v6.binary_search_by(|p| p.key.cmp(&k)).is_ok()
            }
        }
    }

    /// Answers an announce without recording it (a peer not handed out yet, while it is
    /// NAT-checked): the peers to give back are appended to `out`.
    pub fn peek(
        &self,
        a: &PeerAnnounce,
        rng: &mut impl Rng,
        out: &mut Vec<SocketAddr>,
    ) -> ScrapeStats {
        let Some(swarm) = self.torrents.get(&a.info_hash) else {
            return ScrapeStats::default();
        };
        if a.event != Event::Stopped {
            let addr = SocketAddr::new(a.addr.ip().to_canonical(), a.addr.port());
            swarm.give(
                addr,
                None,
                a.left == 0,
                Self::want(&self.config, a),
                rng,
                out,
            );
        }
        swarm.stats()
    }

    /// The counters of one torrent (zeros if unknown).
    pub fn stats(&self, h: &InfoHash) -> ScrapeStats {
        self.torrents.get(h).map(Swarm::stats).unwrap_or_default()
    }

    /// Whether the store knows the torrent.
    pub fn contains(&self, h: &InfoHash) -> bool {
        self.torrents.contains_key(h)
    }

    /// Counters of every torrent known; with `dead`, also of those without peers (kept for
    /// their completed count).
    pub fn all_stats(&self, dead: bool) -> impl Iterator<Item = (InfoHash, ScrapeStats)> + '_ {
        self.torrents
            .iter()
            .filter(move |(_, s)| dead || s.len() > 0)
            .map(|(h, s)| (*h, s.stats()))
    }

    /// Number of torrents known.
    pub fn torrent_count(&self) -> usize {
        self.torrents.len()
    }

    /// Number of peers stored.
    pub fn peer_count(&self) -> usize {
        self.peers
    }

    /// Drops peers silent for longer than the timeout at Unix time `now`, and torrents left
    /// with neither peers nor completed downloads; returns how many peers went.
    pub fn expire(&mut self, now: u64) -> usize {
        let cutoff = clock(now).saturating_sub(self.config.peer_timeout);
        let mut gone = 0;
        self.torrents.retain(|_, s| {
            let before = s.len();
            s.v4.retain(|p| p.last_seen() >= cutoff);
            s.v6.retain(|p| p.last_seen() >= cutoff);
            if s.len() != before {
                gone += (before - s.len()) as usize;
                s.recount();
                if s.v4.capacity() > 2 * s.v4.len() + 8 {
                    s.v4.shrink_to_fit();
                }
            }
            s.len() > 0 || s.completed > 0
        });
        self.peers -= gone.min(self.peers);
        gone
    }

    /// Keeps only the torrents for which `keep` says yes.
    pub fn retain_torrents(&mut self, mut keep: impl FnMut(&InfoHash) -> bool) {
        let mut gone = 0;
        self.torrents.retain(|h, s| {
            let k = keep(h);
            if !k {
                gone += s.len() as usize;
            }
            k
        });
        self.peers -= gone.min(self.peers);
    }

    /// Every swarm as a record for the state file.
    pub fn export(&self) -> impl Iterator<Item = (InfoHash, SwarmRecord)> + '_ {
        self.torrents.iter().map(|(h, s)| {
            let mut peers = Vec::with_capacity(s.len() as usize);
            let conv = |seed: bool, seen: u32, addr| StoredPeer {
                addr,
                seed,
                last_seen: u64::from(seen) + CLOCK_EPOCH,
            };
            peers.extend(s.v4.iter().map(|p| conv(p.seed(), p.last_seen(), p.addr())));
            peers.extend(s.v6.iter().map(|p| conv(p.seed(), p.last_seen(), p.addr())));
            (
                *h,
                SwarmRecord {
                    completed: s.completed,
                    peers,
                },
            )
        })
    }

    /// Replays a journal record on top of the state file: the peer is removed, or stored
    /// with the later of the two times; the completed count only grows. Bounds hold.
    pub fn apply(&mut self, r: &crate::journal::Record) {
        if !self.torrents.contains_key(&r.info_hash)
            && (r.stopped || self.torrents.len() >= self.config.max_torrents)
        {
            return;
        }
        let s = self.torrents.entry(r.info_hash).or_default();
        s.completed = s.completed.max(r.completed);
        let room = s.len() < self.config.max_peers_per_torrent;
        let seen = clock(r.time);
        let ip = r.addr.ip().to_canonical();
        let dpeers = match ip {
            IpAddr::V4(ip) => replay(&mut s.v4, key4(ip, r.addr.port()), seen, r, room),
            IpAddr::V6(ip) => replay(&mut s.v6, key6(ip, r.addr.port()), seen, r, room),
        };
        self.peers = self.peers.saturating_add_signed(dpeers);
        s.recount();
    }

    /// Adds a swarm loaded from the state file (merging with what is there).
    pub fn import(&mut self, h: InfoHash, rec: &SwarmRecord) {
        let s = self.torrents.entry(h).or_default();
        s.completed = s.completed.max(rec.completed);
        for p in &rec.peers {
            let seen = clock(p.last_seen);
            let ip = p.addr.ip().to_canonical();
            let u = match ip {
                IpAddr::V4(ip) => upsert(
                    &mut s.v4,
                    key4(ip, p.addr.port()),
                    seen,
                    p.seed,
                    false,
                    true,
                ),
                IpAddr::V6(ip) => upsert(
                    &mut s.v6,
                    key6(ip, p.addr.port()),
                    seen,
                    p.seed,
                    false,
                    true,
                ),
            };
            self.peers = self.peers.saturating_add_signed(u.dpeers as isize);
        }
        s.recount();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const T: u64 = 1_800_000_000;

    fn ann(h: u8, addr: &str, left: u64, event: Event) -> PeerAnnounce {
        PeerAnnounce {
            info_hash: InfoHash([h; 20]),
            addr: addr.parse().unwrap(),
            left,
            event,
            numwant: None,
        }
    }

    #[test]
    fn never_self_never_twice_no_seeds_to_seeds() {
        let mut s = SwarmStore::new(StoreConfig::default());
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut out = Vec::new();
        for i in 0..10 {
            let left = if i < 5 { 0 } else { 7 };
            s.announce(
                &ann(1, &format!("10.0.0.{i}:1000"), left, Event::Started),
                T,
                &mut rng,
                &mut out,
            );
        }
        out.clear();
        let r = s.announce(
            &ann(1, "10.0.0.7:1000", 7, Event::None),
            T,
            &mut rng,
            &mut out,
        );
        assert_eq!((r.stats.complete, r.stats.incomplete), (5, 5));
        assert_eq!(out.len(), 9);
        assert!(!out.contains(&"10.0.0.7:1000".parse().unwrap()));
        let mut d = out.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 9);
        out.clear();
        s.announce(
            &ann(1, "10.0.0.0:1000", 0, Event::None),
            T,
            &mut rng,
            &mut out,
        );
        assert_eq!(out.len(), 5, "a seed gets only the leechers");
    }

    #[test]
    fn completed_counted_once_and_stopped_removes() {
        let mut s = SwarmStore::new(StoreConfig::default());
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut out = Vec::new();
        s.announce(
            &ann(1, "1.1.1.1:1", 5, Event::Started),
            T,
            &mut rng,
            &mut out,
        );
        s.announce(
            &ann(1, "1.1.1.1:1", 0, Event::Completed),
            T,
            &mut rng,
            &mut out,
        );
        s.announce(
            &ann(1, "1.1.1.1:1", 0, Event::Completed),
            T,
            &mut rng,
            &mut out,
        );
        assert_eq!(
            s.stats(&InfoHash([1; 20])),
            ScrapeStats {
                complete: 1,
                downloaded: 1,
                incomplete: 0
            }
        );
        s.announce(
            &ann(1, "1.1.1.1:1", 0, Event::Stopped),
            T,
            &mut rng,
            &mut out,
        );
        assert_eq!(s.peer_count(), 0);
        assert_eq!(s.stats(&InfoHash([1; 20])).downloaded, 1);
        // A leecher that stops with nothing left has completed too; a seed that starts has not.
        s.announce(
            &ann(1, "1.1.1.2:1", 5, Event::Started),
            T,
            &mut rng,
            &mut out,
        );
        s.announce(
            &ann(1, "1.1.1.2:1", 0, Event::Stopped),
            T,
            &mut rng,
            &mut out,
        );
        s.announce(
            &ann(1, "1.1.1.3:1", 0, Event::Started),
            T,
            &mut rng,
            &mut out,
        );
        assert_eq!(s.stats(&InfoHash([1; 20])).downloaded, 2);
    }

    #[test]
    fn expiry_and_numwant_cap() {
        let cfg = StoreConfig {
            peer_timeout: 100,
            default_numwant: 3,
            max_numwant: 4,
            ..StoreConfig::default()
        };
        let mut s = SwarmStore::new(cfg);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut out = Vec::new();
        for i in 0..20u16 {
            s.announce(
                &ann(2, &format!("[::1]:{}", i + 1), 1, Event::None),
                T,
                &mut rng,
                &mut out,
            );
        }
        out.clear();
        let mut a = ann(2, "1.2.3.4:5", 1, Event::None);
        s.announce(&a, T + 50, &mut rng, &mut out);
        assert_eq!(out.len(), 3);
        out.clear();
        a.numwant = Some(1000);
        s.announce(&a, T + 50, &mut rng, &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(s.expire(T + 120), 20);
        assert_eq!(s.peer_count(), 1);
    }

    #[test]
    fn export_import_round_trip() {
        let mut s = SwarmStore::new(StoreConfig::default());
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut out = Vec::new();
        s.announce(
            &ann(3, "1.1.1.1:1", 0, Event::Completed),
            T,
            &mut rng,
            &mut out,
        );
        s.announce(&ann(3, "[::2]:2", 9, Event::Started), T, &mut rng, &mut out);
        let mut t = SwarmStore::new(StoreConfig::default());
        for (h, r) in s.export() {
            t.import(h, &r);
        }
        assert_eq!(t.stats(&InfoHash([3; 20])), s.stats(&InfoHash([3; 20])));
        assert_eq!(t.peer_count(), 2);
        let mut a: Vec<_> = s.export().collect();
        let mut b: Vec<_> = t.export().collect();
        a.sort_by_key(|x| x.0);
        b.sort_by_key(|x| x.0);
        assert_eq!(a, b);
    }

    #[test]
    fn bounds_keep_new_peers_and_torrents_out_but_serve_them() {
        let cfg = StoreConfig {
            max_peers_per_torrent: 3,
            max_torrents: 2,
            ..StoreConfig::default()
        };
        let mut s = SwarmStore::new(cfg);
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut out = Vec::new();
        for i in 1..=5u8 {
            out.clear();
            let addr = format!("10.0.0.{i}:1");
            let o = s.announce(&ann(1, &addr, 5, Event::Started), T, &mut rng, &mut out);
            assert_eq!(o.full.is_some(), i > 3, "peer {i}");
            assert_eq!(o.changed, i <= 3, "peer {i}");
            // Past the bound a peer is not stored, yet it gets the stored ones.
            assert_eq!(out.len(), usize::from(i.min(4) - 1).min(3), "peer {i}");
        }
        assert_eq!(s.stats(&InfoHash([1; 20])).incomplete, 3);
        // A stored peer re-announcing is no bound's business.
        let o = s.announce(
            &ann(1, "10.0.0.2:1", 0, Event::Completed),
            T,
            &mut rng,
            &mut out,
        );
        assert_eq!((o.full, o.changed), (None, true));
        assert!(s
            .announce(
                &ann(2, "10.0.0.9:1", 5, Event::Started),
                T,
                &mut rng,
                &mut out
            )
            .full
            .is_none());
        let o = s.announce(
            &ann(3, "10.0.0.9:1", 5, Event::Started),
            T,
            &mut rng,
            &mut out,
        );
        assert_eq!(o.full, Some(Full::Torrents));
        assert_eq!(s.torrent_count(), 2);
    }
}
