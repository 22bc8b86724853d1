//! One DHT node as a state machine: datagrams and the time go in, datagrams to send and
//! events come out. It answers queries (ping, find_node, get_peers, announce_peer, with
//! tokens), keeps the peers announced to it, and runs iterative lookups for our torrents.
//!
//! Every store is bounded: the routing table (161 × K contacts), queries in flight, lookups,
//! a lookup's candidates, torrents and peers per torrent, and the per-sender rate limiter;
//! queries beyond a sender's rate are dropped unanswered.
//!
//! A node runs over one address family, IPv4 or IPv6 ([`Config::ipv6`]): BEP 32 makes them
//! two separate DHTs. It takes datagrams from, sends to and keeps contacts of its own
//! family only; contacts of the other family in answers are dropped (it could not reach
//! them), peers of either family are reported.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};

use crate::id::NodeId;
use crate::krpc::{Body, Contact, KrpcError, Message, Query, Reply, Want, MAX_VALUES};
use crate::routing::{RoutingTable, K};

/// Settings of a [`Node`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Our client, sent in every message's `v` (4 bytes by convention).
    pub client: Vec<u8>,
    /// How long a query may go unanswered.
    pub query_timeout: Duration,
    /// Queries of ours in flight at once, all lookups together.
    pub max_inflight: usize,
    /// Queries in flight per lookup (Kademlia's alpha).
    pub alpha: usize,
    /// Lookups at once; more are refused.
    pub max_lookups: usize,
    /// A lookup ends after this long whatever it has found.
    pub lookup_deadline: Duration,
    /// Torrents whose announced peers we keep.
    pub max_torrents: usize,
    /// Peers kept per torrent.
    pub max_peers_per_torrent: usize,
    /// How long an announced peer is kept.
    pub peer_ttl: Duration,
    /// Queries answered per second from one sender (address and port), sustained.
    pub per_sender_rate: u32,
    /// Senders tracked by the rate limiter; when full it starts afresh.
    pub max_senders: usize,
    /// How often our own id is looked up again, keeping the table fresh.
    pub refresh: Duration,
    /// Seed of the node's randomness (token secrets, transaction ids).
    pub seed: u64,
    /// The node's address family: IPv6 (BEP 32's DHT) or IPv4 (BEP 5's).
    pub ipv6: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client: b"BF01".to_vec(),
            query_timeout: Duration::from_secs(2),
            max_inflight: 64,
            alpha: 4,
            max_lookups: 64,
            lookup_deadline: Duration::from_secs(30),
            max_torrents: 4096,
            max_peers_per_torrent: 200,
            peer_ttl: Duration::from_secs(30 * 60),
            per_sender_rate: 20,
            max_senders: 4096,
            refresh: Duration::from_secs(15 * 60),
            seed: 0,
            ipv6: false,
        }
    }
}

/// Identifies a lookup started with [`Node::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LookupId(pub u64);

/// What the node has to tell its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A lookup found peers (more may follow).
    Peers {
        /// The lookup.
        lookup: LookupId,
        /// Peers, each once per lookup (of either family: BEP 32 lets `values` hold both).
        peers: Vec<SocketAddr>,
    },
    /// A lookup is over; `announced` nodes were told of our port.
    LookupDone {
        /// The lookup.
        lookup: LookupId,
        /// Nodes that took our announce.
        announced: usize,
    },
}

/// Counters, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Queries answered.
    pub answered: u64,
    /// Queries dropped by the rate limiter.
    pub rate_limited: u64,
    /// Datagrams that were not KRPC we take.
    pub malformed: u64,
    /// Answers and errors that matched no query of ours.
    pub unsolicited: u64,
    /// announce_peer queries refused for a bad token.
    pub bad_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    New,
    Asked,
    Replied,
    Failed,
}

#[derive(Debug, Clone)]
struct Candidate {
    id: Option<NodeId>,
    addr: SocketAddr,
    state: Ask,
    token: Option<Vec<u8>>,
}

#[derive(Debug)]
struct Lookup {
    target: NodeId,
    /// `get_peers` (a torrent) or `find_node` (our own id: bootstrap and refresh).
    peers: bool,
    announce: Option<u16>,
    candidates: Vec<Candidate>,
    found: Vec<SocketAddr>,
    started: Instant,
    announcing: usize,
    announced: usize,
}

/// Candidates a lookup keeps (the closest ones).
const MAX_CANDIDATES: usize = 64;
/// Peers a lookup reports at most.
const MAX_FOUND: usize = 500;

impl Lookup {
    fn add(&mut self, id: Option<NodeId>, addr: SocketAddr) {
        if let Some(c) = self.candidates.iter_mut().find(|c| c.addr == addr) {
            if c.id.is_none() {
                c.id = id;
            }
            return;
        }
        self.candidates.push(Candidate {
            id,
            addr,
            state: Ask::New,
            token: None,
        });
        let target = self.target;
        self.candidates
            .sort_by_key(|c| c.id.map_or([0xff; 20], |id| id.distance(&target)));
        // The farthest new ones go first; ones asked stay, so their answers are taken.
        while self.candidates.len() > MAX_CANDIDATES {
            match self.candidates.iter().rposition(|c| c.state == Ask::New) {
                Some(i) => {
                    self.candidates.remove(i);
                }
                None => break,
            }
        }
    }

    /// Whether the K closest candidates that can answer have answered.
    fn settled(&self) -> bool {
        let mut good = 0;
        for c in &self.candidates {
            match c.state {
                Ask::Failed => continue,
                Ask::Replied => good += 1,
                Ask::New | Ask::Asked => return false,
            }
            if good >= K {
                return true;
            }
        }
        true
    }
}

#[derive(Debug)]
struct Pending {
    to: SocketAddr,
    sent: Instant,
    lookup: Option<LookupId>,
    announce: bool,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A DHT node.
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    cfg: Config,
    table: RoutingTable,
    rng: rand::rngs::StdRng,
    next_tid: u16,
    inflight: HashMap<u16, Pending>,
    lookups: HashMap<LookupId, Lookup>,
    next_lookup: u64,
    /// Announced peers per torrent, with when they announced.
    store: HashMap<NodeId, Vec<(SocketAddr, Instant)>>,
    secrets: [[u8; 16]; 2],
    rotated: Instant,
    senders: HashMap<SocketAddr, Bucket>,
    out: VecDeque<(SocketAddr, Vec<u8>)>,
    events: VecDeque<Event>,
    last_refresh: Instant,
    stats: Stats,
}

/// How often the token secret changes; a token stays valid for two periods.
const TOKEN_PERIOD: Duration = Duration::from_secs(5 * 60);

impl Node {
    /// A node with id `id`.
    pub fn new(id: NodeId, cfg: Config, now: Instant) -> Node {
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
        let secrets = [rng.gen(), rng.gen()];
        let next_tid = rng.gen();
        Node {
            id,
            table: RoutingTable::new(id),
            rng,
            next_tid,
            inflight: HashMap::new(),
            lookups: HashMap::new(),
            next_lookup: 0,
            store: HashMap::new(),
            secrets,
            rotated: now,
            senders: HashMap::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
            last_refresh: now,
            stats: Stats::default(),
            cfg,
        }
    }

    /// Our id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The routing table.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Torrents with announced peers held here.
    pub fn torrents_held(&self) -> usize {
        self.store.len()
    }

    /// Whether the node runs over IPv6 (else IPv4).
    pub fn is_ipv6(&self) -> bool {
        self.cfg.ipv6
    }

    /// Whether `addr` is of the node's family. An IPv4-mapped IPv6 address counts as
    /// neither: an IPv6-only socket cannot reach it, and on IPv4 it is not an IPv4 address.
    pub fn is_own_family(&self, addr: &SocketAddr) -> bool {
        of_family(addr, self.cfg.ipv6)
    }

    /// Whether a `find_node` or `get_peers` with `want` asks for our family's contacts
    /// (the only ones we have). Absent, it asks for the family it came over: ours.
    fn wants_ours(&self, want: Option<Want>) -> bool {
        want.is_none_or(|w| if self.cfg.ipv6 { w.v6 } else { w.v4 })
    }

    /// Joins the network through `addrs` (ids unknown): a lookup of our own id that starts
    /// from them as well as from the table. Addresses of the other family are skipped.
    pub fn bootstrap(&mut self, addrs: &[SocketAddr], now: Instant) -> Option<LookupId> {
        self.start(self.id, false, None, addrs, now)
    }

    /// Asks `addr` for a ping: it enters the table if it answers (a peer's PORT message).
    /// An address of the other family is ignored.
    pub fn ping(&mut self, addr: SocketAddr, now: Instant) {
        if !self.is_own_family(&addr) {
            return;
        }
        let id = self.id;
        self.query(
            addr,
            Query::Ping,
            id,
            Pending {
                to: addr,
                sent: now,
                lookup: None,
                announce: false,
            },
        );
    }

    /// Looks up the peers of `info_hash`, then announces TCP `announce` to the closest
    /// nodes if given. `None` if too many lookups run already.
    pub fn lookup(
        &mut self,
        info_hash: NodeId,
        announce: Option<u16>,
        now: Instant,
    ) -> Option<LookupId> {
        self.start(info_hash, true, announce, &[], now)
    }

    fn start(
        &mut self,
        target: NodeId,
        peers: bool,
        announce: Option<u16>,
        extra: &[SocketAddr],
        now: Instant,
    ) -> Option<LookupId> {
        if self.lookups.len() >= self.cfg.max_lookups {
            return None;
        }
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        let mut l = Lookup {
            target,
            peers,
            announce,
            candidates: Vec::new(),
            found: Vec::new(),
            started: now,
            announcing: 0,
            announced: 0,
        };
        for c in self.table.closest(&target, K * 2) {
            l.add(Some(c.id), c.addr);
        }
        for a in extra.iter().filter(|a| self.is_own_family(a)) {
            l.add(None, *a);
        }
        self.lookups.insert(id, l);
        self.advance(id, now);
        Some(id)
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let q = self
            .inflight
            .values()
            .map(|p| p.sent + self.cfg.query_timeout)
            .min();
        let l = self
            .lookups
            .values()
            .map(|l| l.started + self.cfg.lookup_deadline)
            .min();
        let r = Some(self.last_refresh + self.cfg.refresh);
        [q, l, r].into_iter().flatten().min()
    }

    /// Expires queries and lookups, rotates the token secret, refreshes the table.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u16> = self
            .inflight
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.sent) >= self.cfg.query_timeout)
            .map(|(t, _)| *t)
            .collect();
        for tid in expired {
            if let Some(p) = self.inflight.remove(&tid) {
                self.table.failed(p.to);
                self.settle(p, None, now);
            }
        }
        let late: Vec<LookupId> = self
            .lookups
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.started) >= self.cfg.lookup_deadline)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.finish(id);
        }
        if now.saturating_duration_since(self.rotated) >= TOKEN_PERIOD {
            self.secrets[1] = self.secrets[0];
            self.secrets[0] = self.rng.gen();
            self.rotated = now;
        }
        if now.saturating_duration_since(self.last_refresh) >= self.cfg.refresh {
            self.last_refresh = now;
            let ttl = self.cfg.peer_ttl;
            for peers in self.store.values_mut() {
                peers.retain(|(_, at)| now.saturating_duration_since(*at) < ttl);
            }
            self.store.retain(|_, p| !p.is_empty());
            if !self.table.is_empty() {
                self.start(self.id, false, None, &[], now);
            }
        }
    }

    /// One datagram from `from`. Errors say why it was dropped (nothing is answered then,
    /// except a query we could not read, which gets a KRPC error when its id was readable).
    pub fn handle(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        now: Instant,
    ) -> Result<(), KrpcError> {
        if from.port() == 0 {
            self.stats.malformed += 1;
            return Err(KrpcError::Field("source port"));
        }
        // Not from our DHT (a socket of the other family cannot hand us one; a caller's
        // mix-up is dropped rather than answered over the wrong network).
        if !self.is_own_family(&from) {
            self.stats.malformed += 1;
            return Err(KrpcError::Field("source address family"));
        }
        let msg = match Message::decode(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.stats.malformed += 1;
                if let KrpcError::UnknownQuery(_) = e {
                    // Say so, so that the sender does not wait: only after the rate check.
                    if self.allow(from, now) {
                        if let Some(tid) = quick_tid(datagram) {
                            self.send(
                                from,
                                Message {
                                    tid,
                                    body: Body::Error {
                                        code: e.code(),
                                        message: "method unknown".into(),
                                    },
                                },
                            );
                        }
                    }
                }
                return Err(e);
            }
        };
        match msg.body {
            Body::Query {
                id,
                query,
                read_only,
            } => {
                if !self.allow(from, now) {
                    self.stats.rate_limited += 1;
                    return Ok(());
                }
                if !read_only {
                    self.table.seen(Contact { id, addr: from }, now);
                }
                self.answer(from, msg.tid, query, now);
            }
            Body::Reply { id, reply } => {
                let Some(p) = self.take_pending(&msg.tid, from) else {
                    self.stats.unsolicited += 1;
                    return Ok(());
                };
                self.table.seen(Contact { id, addr: from }, now);
                self.settle(p, Some((id, reply)), now);
            }
            Body::Error { .. } => {
                let Some(p) = self.take_pending(&msg.tid, from) else {
                    self.stats.unsolicited += 1;
                    return Ok(());
                };
                self.settle(p, None, now);
            }
        }
        Ok(())
    }

    fn take_pending(&mut self, tid: &[u8], from: SocketAddr) -> Option<Pending> {
        let t = u16::from_be_bytes(<[u8; 2]>::try_from(tid).ok()?);
        // An answer from another address than we asked is not taken.
        if self.inflight.get(&t)?.to != from {
            return None;
        }
        self.inflight.remove(&t)
    }

    fn allow(&mut self, from: SocketAddr, now: Instant) -> bool {
        if self.senders.len() >= self.cfg.max_senders && !self.senders.contains_key(&from) {
            self.senders.clear();
        }
        let rate = f64::from(self.cfg.per_sender_rate);
        let b = self.senders.entry(from).or_insert(Bucket {
            tokens: rate * 2.0,
            at: now,
        });
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * rate).min(rate * 2.0);
        b.at = now;
        if b.tokens < 1.0 {
            return false;
        }
        b.tokens -= 1.0;
        true
    }

    fn token(&self, ip: IpAddr, secret: usize) -> Vec<u8> {
        let mut h = Sha1::new();
        h.update(self.secrets[secret]);
        match ip {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
        h.finalize()[..8].to_vec()
    }

    fn answer(&mut self, from: SocketAddr, tid: Vec<u8>, query: Query, now: Instant) {
        self.stats.answered += 1;
        let mut reply = Reply::default();
        match query {
            Query::Ping => {}
            Query::FindNode { target, want } => {
                if self.wants_ours(want) {
                    reply.nodes = self.table.closest(&target, K);
                }
            }
            Query::GetPeers { info_hash, want } => {
                reply.token = Some(self.token(from.ip(), 0));
                let ttl = self.cfg.peer_ttl;
                let values: Vec<SocketAddr> = self
                    .store
                    .get(&info_hash)
                    .map(|p| {
                        p.iter()
                            .rev()
                            .filter(|(_, at)| now.saturating_duration_since(*at) < ttl)
                            .map(|(a, _)| *a)
                            .take(MAX_VALUES)
                            .collect()
                    })
                    .unwrap_or_default();
                if values.is_empty() {
                    if self.wants_ours(want) {
                        reply.nodes = self.table.closest(&info_hash, K);
                    }
                } else {
                    reply.values = values;
                }
            }
            Query::AnnouncePeer {
                info_hash,
                port,
                implied_port,
                token,
            } => {
                let ip = from.ip();
                if token != self.token(ip, 0) && token != self.token(ip, 1) {
                    self.stats.bad_tokens += 1;
                    self.send(
                        from,
                        Message {
                            tid,
                            body: Body::Error {
                                code: 203,
                                message: "bad token".into(),
                            },
                        },
                    );
                    return;
                }
                let port = if implied_port { from.port() } else { port };
                if port != 0 {
                    self.store_peer(info_hash, SocketAddr::new(ip, port), now);
                }
            }
        }
        let id = self.id;
        self.send(
            from,
            Message {
                tid,
                body: Body::Reply { id, reply },
            },
        );
    }

    fn store_peer(&mut self, info_hash: NodeId, peer: SocketAddr, now: Instant) {
        if !self.store.contains_key(&info_hash) && self.store.len() >= self.cfg.max_torrents {
            // Full: the torrent with the stalest announce makes room.
            if let Some(oldest) = self
                .store
                .iter()
                .min_by_key(|(_, p)| p.iter().map(|(_, at)| *at).max())
                .map(|(k, _)| *k)
            {
                self.store.remove(&oldest);
            }
        }
        let peers = self.store.entry(info_hash).or_default();
        peers.retain(|(a, _)| *a != peer);
        peers.push((peer, now));
        if peers.len() > self.cfg.max_peers_per_torrent {
            peers.remove(0);
        }
    }

    fn send(&mut self, to: SocketAddr, msg: Message) {
        // Every address reaching here was checked; this keeps it so whatever changes.
        if !self.is_own_family(&to) {
            return;
        }
        let bytes = msg.encode(&self.cfg.client);
        self.out.push_back((to, bytes));
    }

    fn query(&mut self, to: SocketAddr, query: Query, id: NodeId, pending: Pending) -> bool {
        if self.inflight.len() >= self.cfg.max_inflight || !self.is_own_family(&to) {
            return false;
        }
        // Two-byte transaction ids, as libtorrent's; one not in use.
        let mut tid = self.next_tid;
        for _ in 0..=u16::MAX as usize {
            if !self.inflight.contains_key(&tid) {
                break;
            }
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1);
        self.inflight.insert(tid, pending);
        self.send(
            to,
            Message {
                tid: tid.to_be_bytes().to_vec(),
                body: Body::Query {
                    id,
                    query,
                    read_only: false,
                },
            },
        );
        true
    }

    /// An answer (or its absence) to one of our queries.
    fn settle(&mut self, p: Pending, reply: Option<(NodeId, Reply)>, now: Instant) {
        let Some(lid) = p.lookup else { return };
        let Some(l) = self.lookups.get_mut(&lid) else {
            return;
        };
        if p.announce {
            l.announcing = l.announcing.saturating_sub(1);
            if reply.is_some() {
                l.announced += 1;
            }
            if l.announcing == 0 {
                self.finish(lid);
            }
            return;
        }
        let Some(c) = l.candidates.iter_mut().find(|c| c.addr == p.to) else {
            return;
        };
        match reply {
            None => c.state = Ask::Failed,
            Some((id, r)) => {
                c.state = Ask::Replied;
                c.id = Some(id);
                c.token = r.token;
                let target = l.target;
                l.candidates
                    .sort_by_key(|c| c.id.map_or([0xff; 20], |id| id.distance(&target)));
                let ipv6 = self.cfg.ipv6;
                // Contacts of the other family cannot be asked from here.
                for n in r.nodes {
                    if n.id != self.id && of_family(&n.addr, ipv6) {
                        l.add(Some(n.id), n.addr);
                    }
                }
                if l.peers {
                    let fresh: Vec<SocketAddr> = r
                        .values
                        .into_iter()
                        .filter(|a| !l.found.contains(a))
                        .take(MAX_FOUND.saturating_sub(l.found.len()))
                        .collect();
                    if !fresh.is_empty() {
                        l.found.extend(&fresh);
                        self.events.push_back(Event::Peers {
                            lookup: lid,
                            peers: fresh,
                        });
                    }
                }
            }
        }
        self.advance(lid, now);
    }

    /// Sends the lookup's next queries, or ends it.
    fn advance(&mut self, lid: LookupId, now: Instant) {
        let Some(l) = self.lookups.get(&lid) else {
            return;
        };
        if l.announcing > 0 {
            return;
        }
        let asked = l
            .candidates
            .iter()
            .filter(|c| c.state == Ask::Asked)
            .count();
        let room = self.cfg.alpha.saturating_sub(asked);
        // Only the K closest live candidates are worth asking.
        let next: Vec<SocketAddr> = l
            .candidates
            .iter()
            .filter(|c| c.state != Ask::Failed)
            .take(K)
            .filter(|c| c.state == Ask::New)
            .take(room)
            .map(|c| c.addr)
            .collect();
        let (target, peers) = (l.target, l.peers);
        let id = self.id;
        for addr in next {
            // No `want`: the answer then holds contacts of our family, all we can use.
            let q = if peers {
                Query::GetPeers {
                    info_hash: target,
                    want: None,
                }
            } else {
                Query::FindNode { target, want: None }
            };
            let sent = self.query(
                addr,
                q,
                id,
                Pending {
                    to: addr,
                    sent: now,
                    lookup: Some(lid),
                    announce: false,
                },
            );
            if let Some(l) = self.lookups.get_mut(&lid) {
                if let Some(c) = l.candidates.iter_mut().find(|c| c.addr == addr) {
                    // Not sent (too many in flight): tried again at the next answer.
                    if sent {
                        c.state = Ask::Asked;
                    }
                }
            }
        }
        let Some(l) = self.lookups.get(&lid) else {
            return;
        };
        let nothing_in_flight = !l.candidates.iter().any(|c| c.state == Ask::Asked);
        if l.settled() && nothing_in_flight {
            self.announce_or_finish(lid, now);
        }
    }

    fn announce_or_finish(&mut self, lid: LookupId, now: Instant) {
        let Some(l) = self.lookups.get(&lid) else {
            return;
        };
        let Some(port) = l.announce else {
            self.finish(lid);
            return;
        };
        let target = l.target;
        let to: Vec<(SocketAddr, Vec<u8>)> = l
            .candidates
            .iter()
            .filter(|c| c.state == Ask::Replied)
            .filter_map(|c| c.token.clone().map(|t| (c.addr, t)))
            .take(K)
            .collect();
        let id = self.id;
        let mut sent = 0;
        for (addr, token) in to {
            if self.query(
                addr,
                Query::AnnouncePeer {
                    info_hash: target,
                    port,
                    implied_port: false,
                    token,
                },
                id,
                Pending {
                    to: addr,
                    sent: now,
                    lookup: Some(lid),
                    announce: true,
                },
            ) {
                sent += 1;
            }
        }
        match self.lookups.get_mut(&lid) {
            Some(l) if sent > 0 => l.announcing = sent,
            _ => self.finish(lid),
        }
    }

    fn finish(&mut self, lid: LookupId) {
        if let Some(l) = self.lookups.remove(&lid) {
            self.events.push_back(Event::LookupDone {
                lookup: lid,
                announced: l.announced,
            });
        }
        // Its queries still in flight are answered into nothing.
        for p in self.inflight.values_mut() {
            if p.lookup == Some(lid) {
                p.lookup = None;
            }
        }
    }
}

/// Whether `addr` belongs to the IPv6 DHT (`ipv6`) or the IPv4 one; see
/// [`Node::is_own_family`].
fn of_family(addr: &SocketAddr, ipv6: bool) -> bool {
    match addr {
        SocketAddr::V4(_) => !ipv6,
        SocketAddr::V6(a) => ipv6 && a.ip().to_ipv4_mapped().is_none(),
    }
}

/// The transaction id of a datagram we could not otherwise read, to answer it with an
/// error.
fn quick_tid(datagram: &[u8]) -> Option<Vec<u8>> {
    let v = bf_bencode::decode_lenient(datagram).ok()?;
    let t = v.as_dict()?.get(b"t")?.as_bytes()?;
    (t.len() <= crate::krpc::MAX_ECHO).then(|| t.to_vec())
}

#[cfg(test)]
mod tests;
