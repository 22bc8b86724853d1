//! The sans-IO torrent core: every decision about one torrent, with time passed in.
//!
//! [`TorrentCore`] takes [`Input`]s (bytes from peer P, a piece verified and written, a piece
//! read for serving, peers from a tracker, …) and the current time, and yields [`Output`]s
//! (send these bytes to P, close P, dial an address, verify and write a piece, read a piece,
//! an event for the user) and the next instant it wants to be woken at
//! ([`TorrentCore::poll_timeout`]). It owns the wire [`Connection`]s, the piece picker, the
//! per-piece assemblers, the choker, rates and bans. It does no I/O, reads no clock and
//! keeps no global state, so tests (and a swarm simulator) drive it deterministically; the
//! tokio layer only moves bytes and runs hashing and disk work on worker threads.
//!
//! The invariants of the piece and request state are written down in
//! `docs/architecture.md`.

pub mod assembly;
pub mod choker;
mod fountain;
mod peer;
mod pex;
pub mod picker;
pub mod rate;
mod requests;
mod serve;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bf_fountain::{EncoderCache, PieceEncoder, RepairBudget};
use bf_metainfo::{Metainfo, PeerId};
use bf_wire::{
    Bitfield, Connection, ConnectionConfig, Event, ExtendedHandshake, Handshake, LocalExtensions,
    PeerPieces, TorrentShape,
};
use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::SeedableRng;

use assembly::{Assembly, Symbol};
use choker::{Candidate, Choker};
pub use peer::BanKey;
use peer::{Counted, Peer};
use picker::Picker;
use serve::ReadCache;

/// Identifies a peer connection within a torrent; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);

/// Tunables of a torrent's core; the defaults suit a desktop client.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Our peer id.
    pub peer_id: PeerId,
    /// Our listen port, told to peers in the extended handshake.
    pub listen_port: u16,
    /// Most connections for this torrent (in and out).
    pub max_peers: usize,
    /// Most outgoing connection attempts at once.
    pub max_half_open: usize,
    /// Regular upload slots (plus one optimistic).
    pub upload_slots: usize,
    /// How often the choker re-ranks peers.
    pub choke_round: Duration,
    /// How often the optimistic unchoke rotates.
    pub optimistic_round: Duration,
    /// Most block requests outstanding to one peer (also bounded by its `reqq`).
    pub max_requests_per_peer: usize,
    /// Requests kept outstanding to a peer: this many seconds of its current rate.
    pub request_queue_time: Duration,
    /// Requests kept outstanding to a peer whose rate is not known yet.
    pub initial_requests: usize,
    /// A peer with requests outstanding that sends nothing for this long is snubbed: its
    /// requests are cancelled and go to other peers.
    pub snub_timeout: Duration,
    /// Pieces picked at random before rarest-first takes over.
    pub random_first_pieces: u32,
    /// Bytes of pieces in flight (being downloaded, hashed or written) at most.
    pub max_inflight_bytes: u64,
    /// Verified pieces kept in memory for serving.
    pub read_cache_bytes: u64,
    /// Bytes queued for one peer's socket before we stop serving it more.
    pub max_unsent_bytes: usize,
    /// Whether the endgame asks for blocks that are already requested from another peer.
    pub endgame: bool,
    /// Most peers asking for one block at once in the endgame.
    pub endgame_max_requesters: usize,
    /// Close a connection that sent nothing for this long.
    pub idle_timeout: Duration,
    /// Seed for the random choices (piece order, optimistic unchoke).
    pub rng_seed: u64,
    /// Our client name, sent in the extended handshake.
    pub client_name: String,
    /// Whether to offer and use the fountain extension (`bf_raptorq`) with peers that speak
    /// it; pieces over 64 MiB go by blocks only whatever this says.
    pub fountain: bool,
    /// Memory for prepared encoders when serving repair symbols.
    pub encoder_cache_bytes: usize,
    /// Repair symbols served per second to one peer, sustained (more are rejected).
    pub repair_rate: u32,
    /// Repair symbols one peer may ask for at once.
    pub repair_burst: u32,
    /// The UDP port of our DHT nodes (IPv4's and IPv6's share it), told to peers that run
    /// one (the PORT message); `None` when we run none. Set by the session.
    pub dht_port: Option<u16>,
    /// Peer exchange (BEP 11, ut_pex) with peers that offer it; never for private torrents.
    pub pex: bool,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            peer_id: PeerId([0; 20]),
            listen_port: 0,
            max_peers: 80,
            max_half_open: 8,
            upload_slots: 8,
            choke_round: Duration::from_secs(10),
            optimistic_round: Duration::from_secs(30),
            max_requests_per_peer: 256,
            request_queue_time: Duration::from_secs(1),
            initial_requests: 32,
            snub_timeout: Duration::from_secs(20),
            random_first_pieces: 4,
            max_inflight_bytes: 16 << 20,
            read_cache_bytes: 16 << 20,
            max_unsent_bytes: 2 << 20,
            endgame: true,
            endgame_max_requesters: 3,
            idle_timeout: Duration::from_secs(180),
            rng_seed: 0,
            client_name: format!("BitFountain {}", env!("CARGO_PKG_VERSION")),
            fountain: true,
            encoder_cache_bytes: 32 << 20,
            repair_rate: bf_fountain::DEFAULT_REPAIR_RATE,
            repair_burst: bf_fountain::DEFAULT_REPAIR_BURST,
            dht_port: None,
            pex: true,
        }
    }
}

/// Something for the core to take in.
#[derive(Debug)]
pub enum Input {
    /// Bytes read from a peer's socket.
    Data {
        /// The peer.
        peer: PeerKey,
        /// What was read (any split of the stream).
        bytes: BytesMut,
    },
    /// Bytes handed out in a [`Output::Transmit`] were written to the socket.
    Flushed {
        /// The peer.
        peer: PeerKey,
        /// How many bytes.
        bytes: usize,
    },
    /// The connection closed (by the peer, or an I/O error).
    Closed {
        /// The peer.
        peer: PeerKey,
    },
    /// Addresses of peers to try (from a tracker, the DHT, the user).
    Peers(Vec<SocketAddr>),
    /// An outgoing connection from [`Output::Connect`] failed before the handshakes.
    ConnectFailed(SocketAddr),
    /// The result of an [`Output::VerifyWrite`] or [`Output::Decode`].
    PieceDone {
        /// The piece.
        piece: u32,
        /// What happened.
        outcome: PieceOutcome,
        /// Worker time spent hashing and decoding (not writing), for the statistics.
        work: Duration,
    },
    /// The result of an [`Output::PrepareEncoder`].
    EncoderReady {
        /// The piece.
        piece: u32,
        /// The encoder, or why it could not be made (the piece could not be read).
        encoder: Result<Box<PieceEncoder>, String>,
    },
    /// The result of an [`Output::Read`].
    PieceRead {
        /// The piece.
        piece: u32,
        /// Its bytes, or why they could not be read.
        data: Result<Bytes, String>,
    },
}

/// What became of a piece handed out for verification (or decoding) and writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceOutcome {
    /// The hash matched and the piece is on disk. With the block hashes when asked for.
    Written {
        /// SHA-1 of each block, when [`Output::VerifyWrite::block_hashes`] asked for them.
        block_hashes: Option<Vec<[u8; 20]>>,
        /// Senders of symbols that differ from the verified piece (named exactly).
        culprits: Vec<PeerKey>,
    },
    /// The symbols given to a decode did not determine the piece: one more is needed.
    NeedMore,
    /// Decoded, the piece failed its hash, and leaving out each sender in turn did not help.
    Corrupt {
        /// Every sender of the symbols used.
        suspects: Vec<PeerKey>,
    },
    /// The hash did not match; nothing was written.
    HashFailed {
        /// SHA-1 of each block received, to tell later which sender was wrong.
        block_hashes: Vec<[u8; 20]>,
    },
    /// The hash matched but writing failed.
    WriteFailed(String),
}

/// Something the core wants done, or wants known.
#[derive(Debug)]
pub enum Output {
    /// Write these bytes, in order, to the peer's socket; report [`Input::Flushed`].
    Transmit {
        /// The peer.
        peer: PeerKey,
        /// The bytes, for a vectored write.
        segments: Vec<Bytes>,
    },
    /// Close the connection (the core has already forgotten the peer).
    Disconnect {
        /// The peer.
        peer: PeerKey,
    },
    /// Dial this address; on success call [`TorrentCore::add_peer`], else report
    /// [`Input::ConnectFailed`].
    Connect(SocketAddr),
    /// Hash these blocks (in order, the whole piece) and, only if the SHA-1 matches, write
    /// them; report [`Input::PieceDone`].
    VerifyWrite {
        /// The piece.
        piece: u32,
        /// Its blocks.
        blocks: Vec<Bytes>,
        /// Repair symbols that arrived too but were not needed: once the piece verifies,
        /// they are re-encoded and compared, to name senders of wrong ones.
        repairs: Vec<Symbol>,
        /// The expected SHA-1.
        expected: [u8; 20],
        /// Whether to report each block's SHA-1 on success (to clear or name senders of an
        /// earlier failed attempt).
        block_hashes: bool,
    },
    /// Rebuild a piece from fewer than all its blocks plus repair symbols, verify its SHA-1,
    /// name the senders of wrong symbols, and write it only if verified; report
    /// [`Input::PieceDone`] ([`PieceOutcome::NeedMore`] when the symbols did not suffice).
    Decode {
        /// The piece.
        piece: u32,
        /// Its length.
        len: u32,
        /// Blocks held: (index, bytes, sender).
        blocks: Vec<Symbol>,
        /// Repair symbols held: (ESI, T bytes, sender).
        repairs: Vec<Symbol>,
        /// The expected SHA-1.
        expected: [u8; 20],
        /// Whether to report each block's SHA-1 on success, as for
        /// [`Output::VerifyWrite::block_hashes`].
        block_hashes: bool,
    },
    /// Read a verified piece for serving; report [`Input::PieceRead`].
    Read(u32),
    /// Read a verified piece and prepare its encoder for serving repair symbols; report
    /// [`Input::EncoderReady`].
    PrepareEncoder(u32),
    /// For the user.
    Event(CoreEvent),
}

/// What happened in a torrent, for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    /// A piece passed its hash and is on disk.
    PieceVerified(u32),
    /// A piece failed its hash and will be fetched again.
    HashFailed {
        /// The piece.
        piece: u32,
        /// Addresses of the peers that sent its blocks.
        senders: Vec<SocketAddr>,
    },
    /// Every piece is on disk.
    Completed,
    /// A peer connected.
    PeerConnected(SocketAddr),
    /// A peer left or was closed.
    PeerDisconnected {
        /// Its address.
        addr: SocketAddr,
        /// Why, if we closed it.
        reason: Option<String>,
    },
    /// A peer was banned for sending wrong data.
    PeerBanned {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// Reading or writing the data failed: the torrent stopped.
    StorageFailed(String),
    /// A peer told us the address of its DHT node (BEP 5's PORT message).
    DhtNode(SocketAddr),
}

/// Why [`TorrentCore::add_peer`] refused a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The torrent has as many connections as it may.
    #[error("too many connections")]
    TooManyPeers,
    /// It is us.
    #[error("connection to ourselves")]
    Ourselves,
    /// A connection to this peer id exists.
    #[error("already connected to this peer")]
    Duplicate,
    /// The peer is banned.
    #[error("banned peer")]
    Banned,
    /// The torrent is stopped.
    #[error("torrent not active")]
    Inactive,
    /// Both sides are seeds.
    #[error("both sides are seeds")]
    BothSeeds,
}

/// Counters since the torrent was added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoreStats {
    /// Payload bytes received (blocks), duplicates included.
    pub downloaded: u64,
    /// Payload bytes sent.
    pub uploaded: u64,
    /// Payload bytes received that were not needed: `duplicate` + `late`.
    pub redundant: u64,
    /// Payload bytes of blocks received twice (the endgame's copies).
    pub duplicate: u64,
    /// Payload bytes (blocks or symbols) that arrived after their piece was complete:
    /// cancelled too late, or raced.
    pub late: u64,
    /// Payload bytes of pieces that failed their hash.
    pub wasted: u64,
    /// Pieces that failed their hash.
    pub hash_failures: u32,
    /// Blocks requested from a second or third peer in the endgame.
    pub endgame_requests: u64,
    /// Block requests given up (peer snubbed, choked, rejected or left) and re-issued.
    pub requests_lost: u64,
    /// Blocks received (source symbols).
    pub blocks_received: u64,
    /// Repair symbols asked for.
    pub repair_requested: u64,
    /// Repair symbols received.
    pub repair_received: u64,
    /// Decodes started.
    pub decodes: u64,
    /// Decodes that needed one more symbol.
    pub decode_retries: u64,
    /// Pieces completed with repair symbols.
    pub pieces_decoded: u32,
    /// Repair symbols asked at the tail, racing blocks queued with much slower peers.
    pub raced: u64,
    /// Pieces completed although a request of theirs went to a peer that stopped answering.
    pub pieces_held_up: u32,
    /// Worker time spent hashing pieces.
    pub hash_time: Duration,
    /// Worker time spent decoding pieces (the cost of the fountain exchange).
    pub decode_time: Duration,
    /// Repair symbols served to others.
    pub repair_served: u64,
}

/// A peer as the user sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSummary {
    /// Its address.
    pub addr: SocketAddr,
    /// Its client name, if it said.
    pub client: Option<String>,
    /// Payload bytes per second from it.
    pub down_rate: u64,
    /// Payload bytes per second to it.
    pub up_rate: u64,
    /// Payload bytes received from it.
    pub downloaded: u64,
    /// Payload bytes sent to it.
    pub uploaded: u64,
    /// How many pieces it has.
    pub pieces: u32,
    /// Whether it is a seed.
    pub seed: bool,
    /// Whether we dialled it.
    pub outbound: bool,
    /// Whether it chokes us.
    pub choking_us: bool,
    /// Whether we choke it.
    pub choked: bool,
    /// Whether it stopped answering our requests.
    pub snubbed: bool,
    /// Whether pieces travel as RaptorQ symbols with it (both ends negotiated `bf_raptorq`).
    pub fountain: bool,
}

#[derive(Debug, Clone)]
struct Known {
    connected: bool,
    failures: u32,
    next_try: Instant,
}

/// A piece handed out for hashing and writing.
#[derive(Debug)]
struct Verifying {
    asm: Assembly,
}

/// Evidence kept after a piece failed its hash: who sent which block (by SHA-1), to name the
/// liar once the piece verifies.
#[derive(Debug, Clone)]
struct FailedAttempt {
    blocks: Vec<(u32, [u8; 20], BanKey, SocketAddr)>,
}

/// The whole state of one torrent.
#[derive(Debug)]
pub struct TorrentCore {
    cfg: CoreConfig,
    meta: Arc<Metainfo>,
    shape: TorrentShape,
    wire: ConnectionConfig,
    rng: StdRng,

    have: Bitfield,
    /// Pieces we lack (neither had nor written yet): what interest is measured against.
    missing: u32,
    picker: Picker,
    inflight: HashMap<u32, Assembly>,
    /// In-flight pieces in the order they were started: older ones are finished first.
    inflight_order: Vec<u32>,
    verifying: HashMap<u32, Verifying>,
    inflight_bytes: u64,
    /// Peers to avoid for a piece that failed its hash.
    avoid: HashMap<u32, Vec<BanKey>>,
    failed: HashMap<u32, FailedAttempt>,

    peers: HashMap<PeerKey, Peer>,
    next_key: u64,
    known: HashMap<SocketAddr, Known>,
    dialing: HashSet<SocketAddr>,
    self_addrs: Vec<SocketAddr>,
    banned: HashSet<BanKey>,
    strikes: HashMap<BanKey, u32>,

    choker: Choker,
    choke_soon: bool,
    /// Requests were lost: every peer should be offered work at the end of this input.
    refill_soon: bool,
    /// Payload bytes per second from all peers, as of the last tick.
    total_down_rate: u64,
    /// ... and from the fastest one.
    max_peer_rate: u64,
    cache: ReadCache,
    reading: HashMap<u32, Vec<PeerKey>>,

    outputs: VecDeque<Output>,
    stats: CoreStats,
    /// Whether this torrent's pieces may travel as symbols (the extension on and pieces
    /// within the codec's limit).
    fountain_capable: bool,
    encoders: EncoderCache,
    /// Pieces whose encoder is being prepared, and the peers waiting for it.
    preparing: HashMap<u32, Vec<PeerKey>>,
    /// Time origin for the repair budgets (which take durations).
    epoch: Instant,
    next_tick: Instant,
    active: bool,
    completed_announced: bool,
}

impl TorrentCore {
    /// A torrent whose verified pieces are `have` (from resume data or a check).
    pub fn new(
        cfg: CoreConfig,
        meta: Arc<Metainfo>,
        have: Bitfield,
        now: Instant,
    ) -> Result<Self, bf_wire::ShapeError> {
        let piece_length = u32::try_from(meta.piece_length()).unwrap_or(u32::MAX);
        let shape = TorrentShape::new(piece_length, meta.total_length())?;
        let mut rng = StdRng::seed_from_u64(cfg.rng_seed);
        let mut picker = Picker::new(shape.piece_count(), &mut rng);
        let have = if have.len() == shape.piece_count() {
            have
        } else {
            Bitfield::new(shape.piece_count())
        };
        for p in have.iter_ones() {
            picker.remove(p);
        }
        let fountain_capable =
            cfg.fountain && u64::from(piece_length) <= bf_fountain::MAX_PIECE_LEN;
        if cfg.fountain && !fountain_capable {
            tracing::info!(
                "{}: pieces of {piece_length} bytes are over the fountain codec's limit: blocks only",
                meta.name()
            );
        }
        let wire = ConnectionConfig {
            max_outgoing_requests: cfg.max_requests_per_peer,
            idle_timeout: cfg.idle_timeout,
            extensions: LocalExtensions {
                // Not offered at all when unusable: peers then see blocks only, from both sides.
                bf_raptorq: if fountain_capable { 2 } else { 0 },
                // Private torrents (BEP 27) get their peers from their trackers only.
                ut_pex: if cfg.pex && !meta.is_private() { 3 } else { 0 },
                ..LocalExtensions::default()
            },
            ..ConnectionConfig::default()
        };
        let choker = Choker::new(cfg.upload_slots, cfg.choke_round, cfg.optimistic_round, now);
        let cache = ReadCache::new(cfg.read_cache_bytes);
        let missing = shape.piece_count() - have.count_ones();
        Ok(TorrentCore {
            wire,
            rng,
            missing,
            picker,
            inflight: HashMap::new(),
            inflight_order: Vec::new(),
            verifying: HashMap::new(),
            inflight_bytes: 0,
            avoid: HashMap::new(),
            failed: HashMap::new(),
            peers: HashMap::new(),
            next_key: 1,
            known: HashMap::new(),
            dialing: HashSet::new(),
            self_addrs: Vec::new(),
            banned: HashSet::new(),
            strikes: HashMap::new(),
            choker,
            choke_soon: false,
            refill_soon: false,
            total_down_rate: 0,
            max_peer_rate: 0,
            cache,
            reading: HashMap::new(),
            outputs: VecDeque::new(),
            stats: CoreStats::default(),
            fountain_capable,
            encoders: EncoderCache::new(cfg.encoder_cache_bytes),
            preparing: HashMap::new(),
            epoch: now,
            next_tick: now,
            active: true,
            completed_announced: have.is_full(),
            have,
            shape,
            meta,
            cfg,
        })
    }

    // ----- state -----

    /// The torrent.
    pub fn metainfo(&self) -> &Arc<Metainfo> {
        &self.meta
    }

    /// The verified pieces.
    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Whether every piece is verified and written.
    pub fn is_complete(&self) -> bool {
        self.missing == 0
    }

    /// Bytes still missing (what trackers call `left`).
    pub fn left(&self) -> u64 {
        (0..self.shape.piece_count())
            .filter(|&p| !self.have.get(p))
            .map(|p| u64::from(self.shape.piece_len(p).unwrap_or(0)))
            .sum()
    }

    /// Counters.
    pub fn stats(&self) -> CoreStats {
        self.stats
    }

    /// Connected peers.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Connected peers that have every piece.
    pub fn seed_count(&self) -> usize {
        self.peers.values().filter(|p| p.is_seed()).count()
    }

    /// Whether the torrent exchanges data (not stopped by a storage error or by the user).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Download and upload payload rates in bytes per second.
    pub fn rates(&mut self, now: Instant) -> (u64, u64) {
        self.peers.values_mut().fold((0, 0), |(d, u), p| {
            (d + p.down.rate(now), u + p.up.rate(now))
        })
    }

    /// One line per connected peer.
    pub fn peer_summaries(&mut self, now: Instant) -> Vec<PeerSummary> {
        let total = self.shape.piece_count();
        let mut v: Vec<PeerSummary> = self
            .peers
            .values_mut()
            .map(|p| PeerSummary {
                addr: p.addr,
                client: p
                    .conn
                    .peer_extended_handshake()
                    .and_then(|h| h.client.clone()),
                down_rate: p.down.rate(now),
                up_rate: p.up.rate(now),
                downloaded: p.down.total(),
                uploaded: p.up.total(),
                pieces: p.piece_count(total),
                seed: p.is_seed(),
                outbound: p.outbound,
                choking_us: p.conn.peer_choking(),
                choked: p.conn.am_choking(),
                snubbed: p.snubbed,
                fountain: self.fountain_capable && p.conn.fountain(),
            })
            .collect();
        v.sort_by_key(|s| s.addr);
        v
    }

    /// Addresses that are ours (listen addresses): never dialled.
    pub fn set_self_addrs(&mut self, addrs: Vec<SocketAddr>) {
        self.self_addrs = addrs;
    }

    /// Whether `addr` is banned (checked before a connection's handshake is even read).
    pub fn is_banned_addr(&self, addr: SocketAddr) -> bool {
        self.banned.iter().any(|b| b.covers_addr(addr))
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`TorrentCore::handle_timeout`] should next be called, if at all.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.active {
            return None;
        }
        let busy = !self.peers.is_empty()
            || !self.dialing.is_empty()
            || self.known.values().any(|k| !k.connected);
        busy.then_some(self.next_tick)
    }

    // ----- peers -----

    /// A connection to `addr` completed both handshakes (`theirs` is the peer's); returns
    /// the key to route its bytes with, or why it must be closed.
    pub fn add_peer(
        &mut self,
        addr: SocketAddr,
        theirs: &Handshake,
        outbound: bool,
        now: Instant,
    ) -> Result<PeerKey, Refusal> {
        if outbound {
            self.dialing.remove(&addr);
        }
        if !self.active {
            return Err(Refusal::Inactive);
        }
        if theirs.peer_id == self.cfg.peer_id {
            self.self_addrs.push(addr);
            return Err(Refusal::Ourselves);
        }
        let ban_key = BanKey::of(addr, theirs.peer_id);
        if self.banned.contains(&ban_key) {
            return Err(Refusal::Banned);
        }
        if self.peers.len() >= self.cfg.max_peers {
            return Err(Refusal::TooManyPeers);
        }
        if self.peers.values().any(|p| p.id == theirs.peer_id) {
            return Err(Refusal::Duplicate);
        }
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        let mut conn = Connection::new(self.wire.clone(), theirs, Some(self.shape), now);
        if conn.extension_protocol() {
            let hs = ExtendedHandshake {
                listen_port: (self.cfg.listen_port != 0).then_some(self.cfg.listen_port),
                client: Some(self.cfg.client_name.clone()),
                your_ip: Some(addr.ip()),
                reqq: u32::try_from(self.wire.max_incoming_requests).ok(),
                metadata_size: u32::try_from(self.meta.info_bytes().len()).ok(),
                ..ExtendedHandshake::default()
            };
            // Cannot fail: the extension protocol was just checked.
            let _ = conn.send_extended_handshake(hs);
        }
        // Cannot fail: the shape is known and nothing was sent yet.
        let _ = conn.send_pieces(&self.have);
        if let Some(port) = self.cfg.dht_port.filter(|_| theirs.reserved.dht()) {
            conn.port(port);
        }
        if let Some(k) = self.known.get_mut(&addr) {
            k.connected = true;
            k.failures = 0;
        }
        let budget = RepairBudget::new(
            self.cfg.repair_rate,
            self.cfg.repair_burst,
            now.saturating_duration_since(self.epoch),
        );
        self.peers.insert(
            key,
            Peer::new(conn, addr, theirs.peer_id, outbound, budget, now),
        );
        self.push_event(CoreEvent::PeerConnected(addr));
        self.flush_dirty(now);
        Ok(key)
    }

    fn push_event(&mut self, e: CoreEvent) {
        self.outputs.push_back(Output::Event(e));
    }

    /// Forgets a peer: its requests go back to their pieces, its pieces leave the
    /// availability counts. `reason` set: we close it (an output tells the I/O layer).
    fn remove_peer(&mut self, key: PeerKey, reason: Option<String>) {
        let Some(p) = self.peers.remove(&key) else {
            return;
        };
        let requests: Vec<_> = p.conn.outstanding_requests().map(|(r, _)| r).collect();
        if !requests.is_empty() {
            self.refill_soon = true;
        }
        for r in requests {
            // It left: those requests cannot be answered, so the blocks may be asked again.
            self.release_request(key, &r);
        }
        for asm in self.inflight.values_mut() {
            asm.all_repairs_lost(key);
        }
        self.preparing
            .values_mut()
            .for_each(|w| w.retain(|k| *k != key));
        match &p.counted {
            Counted::Seed => self.picker.remove_seed(),
            Counted::Pieces(b) => {
                for piece in b.iter_ones() {
                    self.picker.dec(piece);
                }
            }
            Counted::Nothing => {}
        }
        if let Some(k) = self.known.get_mut(&p.addr) {
            k.connected = false;
            // Reconnect later, not at once: it may have left on purpose.
            k.next_try = p.connected_at.max(k.next_try) + Duration::from_secs(60);
        }
        for waiting in self.reading.values_mut() {
            waiting.retain(|k| *k != key);
        }
        if !p.conn.am_choking() && p.conn.peer_interested() {
            self.choke_soon = true;
        }
        if reason.is_some() {
            self.outputs.push_back(Output::Disconnect { peer: key });
        }
        self.push_event(CoreEvent::PeerDisconnected {
            addr: p.addr,
            reason,
        });
    }

    fn close(&mut self, key: PeerKey, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::debug!(peer = ?self.peers.get(&key).map(|p| p.addr), "closing: {reason}");
        self.remove_peer(key, Some(reason));
    }

    // ----- input -----

    /// Takes one input at `now`.
    pub fn handle_input(&mut self, input: Input, now: Instant) {
        match input {
            Input::Data { peer, bytes } => self.on_data(peer, bytes, now),
            Input::Flushed { peer, bytes } => {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.unsent = p.unsent.saturating_sub(bytes);
                    self.serve_peer(peer, now);
                }
            }
            Input::Closed { peer } => self.remove_peer(peer, None),
            Input::Peers(addrs) => {
                for a in addrs {
                    if a.port() == 0 || self.self_addrs.contains(&a) {
                        continue;
                    }
                    self.known.entry(a).or_insert(Known {
                        connected: false,
                        failures: 0,
                        next_try: now,
                    });
                }
                self.connect_more(now);
            }
            Input::ConnectFailed(addr) => {
                self.dialing.remove(&addr);
                if let Some(k) = self.known.get_mut(&addr) {
                    k.failures += 1;
                    let backoff = Duration::from_secs(15u64 << k.failures.min(6));
                    k.next_try = now + backoff;
                }
                if self.known.get(&addr).is_some_and(|k| k.failures >= 8) {
                    self.known.remove(&addr);
                }
                self.connect_more(now);
            }
            Input::PieceDone {
                piece,
                outcome,
                work,
            } => self.on_piece_done(piece, outcome, work, now),
            Input::PieceRead { piece, data } => self.on_piece_read(piece, data, now),
            Input::EncoderReady { piece, encoder } => self.on_encoder_ready(piece, encoder, now),
        }
        self.after_input(now);
    }

    /// Runs what is due at `now`: rates, choking, snubbed peers, keep-alives, dialling.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_tick {
            // Stalls are looked for four times a second while the fountain can act on them.
            let every = if self.fountain_capable && self.missing > 0 {
                Duration::from_millis(250)
            } else {
                Duration::from_secs(1)
            };
            self.next_tick = now + every;
            self.tick(now);
        }
        self.after_input(now);
    }

    fn after_input(&mut self, now: Instant) {
        if self.choke_soon {
            self.choke_soon = false;
            self.run_choker(now, true);
        }
        if self.refill_soon {
            self.refill_soon = false;
            self.reopen_orphaned();
            let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
            for k in keys {
                self.fill_requests(k, now);
            }
        }
        self.flush_dirty(now);
    }

    fn tick(&mut self, now: Instant) {
        self.exchange_peers(now);
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            let Some(p) = self.peers.get_mut(&k) else {
                continue;
            };
            if p.conn.is_idle(now) {
                self.close(k, "idle");
                continue;
            }
            p.conn.handle_timeout(now);
            p.dirty = true;
            self.check_snub(k, now);
        }
        let rates: Vec<u64> = self
            .peers
            .values_mut()
            .map(|p| {
                let r = p.down.rate(now);
                p.peak_rate = p.peak_rate.max(r);
                p.last_rate = r;
                r
            })
            .collect();
        self.total_down_rate = rates.iter().sum();
        self.max_peer_rate = rates.iter().copied().max().unwrap_or(0);

        if self.check_stalls(now) {
            self.reopen_orphaned();
        }
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.fill_requests(k, now);
        }
        self.run_choker(now, false);
        self.connect_more(now);
    }

    fn on_data(&mut self, key: PeerKey, bytes: BytesMut, now: Instant) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.rx.is_empty() {
            p.rx = bytes;
        } else {
            // O(1) when the new bytes continue the same buffer; else the cut frame is copied.
            p.rx.unsplit(bytes);
        }
        let result = p.conn.receive(&mut p.rx, now);
        // Events from the messages before a violation are still acted on.
        self.drain_events(key, now);
        if let Err(e) = result {
            self.close(key, format!("protocol error: {e}"));
            return;
        }
        if let Some(p) = self.peers.get_mut(&key) {
            p.dirty = true;
        }
    }

    fn drain_events(&mut self, key: PeerKey, now: Instant) {
        // Bounded: each event was queued by a message already received.
        loop {
            let Some(ev) = self.peers.get_mut(&key).and_then(|p| p.conn.poll_event()) else {
                return;
            };
            self.on_event(key, ev, now);
        }
    }

    fn on_event(&mut self, key: PeerKey, ev: Event, now: Instant) {
        match ev {
            Event::Choked {
                dropped,
                dropped_symbols,
            } => {
                // Without the fast extension a choke drops our requests, but blocks already
                // on the wire still come: uncertain losses.
                for r in &dropped {
                    self.give_up_request(key, r);
                }
                for r in &dropped_symbols {
                    if let Some(asm) = self.inflight.get_mut(&r.piece) {
                        asm.repairs_lost(key, r.first_esi, r.count);
                    }
                }
                self.refill_soon = true;
            }
            Event::Unchoked => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.last_block_at = now;
                }
                self.fill_requests(key, now);
            }
            Event::Interested => {
                self.maybe_unchoke_now(key);
            }
            Event::NotInterested => {}
            Event::Have(piece) => self.on_have(key, piece, now),
            Event::Bitfield => self.on_bitfield(key, now),
            Event::HaveAll => self.on_have_all(key, now),
            Event::HaveNone => {}
            Event::Request(r) => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.serve.push_back(serve::ServeItem::Block(r));
                }
                self.serve_peer(key, now);
            }
            Event::SymbolRequest(r) => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.serve.push_back(serve::ServeItem::Symbols(r));
                }
                self.serve_peer(key, now);
            }
            Event::Cancel(_) => {}
            Event::Block(block) => self.on_block(key, block, now),
            Event::LateBlock(block) => self.on_block(key, block, now),
            Event::Rejected(r) => {
                // A reject is final: the block may be asked again, of anyone.
                self.release_request(key, &r);
                self.refill_soon = true;
            }
            Event::MetadataRequest(piece) => self.serve_metadata(key, piece),
            Event::Pex(msg) => self.on_pex(key, msg, now),
            Event::Port(port) => {
                if let (Some(p), true) = (self.peers.get(&key), port != 0) {
                    let node = SocketAddr::new(p.addr.ip(), port);
                    self.push_event(CoreEvent::DhtNode(node));
                }
            }
            Event::Suggest(_)
            | Event::AllowedFast(_)
            | Event::ExtendedHandshake
            | Event::MetadataData { .. }
            | Event::MetadataRejected(_)
            | Event::MetadataTimedOut(_) => {}
            Event::Symbol { piece, esi, data } | Event::LateSymbol { piece, esi, data } => {
                self.on_symbol(key, piece, esi, data, now);
            }
            Event::SymbolsRejected(r) => {
                if let Some(asm) = self.inflight.get_mut(&r.piece) {
                    asm.repairs_lost(key, r.first_esi, r.count);
                }
                self.refill_soon = true;
            }
            // Served lazily: a cancelled range no longer passes `send_symbol`.
            Event::SymbolCancel(_) => {}
        }
    }

    fn serve_metadata(&mut self, key: PeerKey, piece: u32) {
        let info = self.meta.info_bytes();
        let total = info.len();
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let start = piece as usize * bf_wire::metadata::METADATA_PIECE_LEN;
        if start >= total {
            let _ = p.conn.reject_metadata(piece);
            return;
        }
        let end = (start + bf_wire::metadata::METADATA_PIECE_LEN).min(total);
        let data = Bytes::copy_from_slice(&info[start..end]);
        let _ = p.conn.send_metadata(piece, total as u32, data);
        p.dirty = true;
    }

    // ----- what peers have -----

    fn on_have(&mut self, key: PeerKey, piece: u32, now: Instant) {
        let lacking = !self.have.get(piece);
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let n = self.shape.piece_count();
        match &mut p.counted {
            Counted::Seed => return,
            Counted::Pieces(b) => {
                if !b.set(piece) {
                    return;
                }
            }
            Counted::Nothing => {
                let mut b = Bitfield::new(n);
                b.set(piece);
                p.counted = Counted::Pieces(b);
            }
        }
        if lacking {
            p.useful += 1;
        }
        self.picker.inc(piece);
        self.update_interest(key);
        if lacking {
            self.fill_requests(key, now);
        }
        self.drop_if_both_seeds(key);
    }

    fn on_bitfield(&mut self, key: PeerKey, now: Instant) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let PeerPieces::Some(bits) = p.conn.peer_pieces().clone() else {
            return;
        };
        let mut useful = 0;
        for piece in bits.iter_ones() {
            self.picker.inc(piece);
            if !self.have.get(piece) {
                useful += 1;
            }
        }
        p.useful = useful;
        p.counted = Counted::Pieces(bits);
        self.update_interest(key);
        self.fill_requests(key, now);
        self.drop_if_both_seeds(key);
    }

    fn on_have_all(&mut self, key: PeerKey, now: Instant) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        // aria2 sends HAVE ALL after a bitfield once it completes: uncount the bitfield.
        if let Counted::Pieces(b) = std::mem::replace(&mut p.counted, Counted::Seed) {
            for piece in b.iter_ones() {
                self.picker.dec(piece);
            }
        }
        p.useful = self.missing;
        self.picker.add_seed();
        self.update_interest(key);
        self.fill_requests(key, now);
        self.drop_if_both_seeds(key);
    }

    fn update_interest(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let want = p.useful > 0 && self.active;
        if want && !p.conn.am_interested() {
            p.conn.interested();
            p.dirty = true;
        } else if !want && p.conn.am_interested() {
            p.conn.not_interested();
            p.dirty = true;
        }
    }

    fn drop_if_both_seeds(&mut self, key: PeerKey) {
        if self.missing == 0 && self.peers.get(&key).is_some_and(|p| p.is_seed()) {
            self.close(key, "both seeds");
        }
    }

    // ----- choking -----

    fn maybe_unchoke_now(&mut self, key: PeerKey) {
        let unchoked = self
            .peers
            .values()
            .filter(|p| !p.conn.am_choking() && p.conn.peer_interested())
            .count();
        if unchoked < self.choker.slots() + 1 {
            if let Some(p) = self.peers.get_mut(&key) {
                p.conn.unchoke();
                p.dirty = true;
            }
        }
    }

    fn run_choker(&mut self, now: Instant, force: bool) {
        let seeding = self.missing == 0;
        let candidates: Vec<Candidate> = self
            .peers
            .iter_mut()
            .map(|(k, p)| Candidate {
                key: *k,
                interested: p.conn.peer_interested(),
                rate: if seeding {
                    p.up.rate(now)
                } else {
                    p.down.rate(now)
                },
                snubbed: p.snubbed,
            })
            .collect();
        let Some(chosen) = self.choker.run(now, &candidates, force, &mut self.rng) else {
            return;
        };
        for (k, p) in self.peers.iter_mut() {
            let unchoke = chosen.contains(k);
            if unchoke && p.conn.am_choking() {
                p.conn.unchoke();
                p.dirty = true;
            } else if !unchoke && !p.conn.am_choking() {
                p.conn.choke();
                p.dirty = true;
            }
        }
    }

    // ----- dialling -----

    fn connect_more(&mut self, now: Instant) {
        if !self.active {
            return;
        }
        let room = self
            .cfg
            .max_peers
            .saturating_sub(self.peers.len() + self.dialing.len());
        let half_open = self.cfg.max_half_open.saturating_sub(self.dialing.len());
        let connected: HashSet<SocketAddr> = self.peers.values().map(|p| p.addr).collect();
        let mut due: Vec<SocketAddr> = self
            .known
            .iter()
            .filter(|(a, k)| {
                !k.connected
                    && k.next_try <= now
                    && !self.dialing.contains(*a)
                    && !connected.contains(*a)
                    && !self.is_banned_addr(**a)
            })
            .map(|(a, _)| *a)
            .collect();
        due.sort();
        for addr in due.into_iter().take(room.min(half_open)) {
            self.dialing.insert(addr);
            if let Some(k) = self.known.get_mut(&addr) {
                k.next_try = now + Duration::from_secs(30);
            }
            self.outputs.push_back(Output::Connect(addr));
        }
    }

    // ----- output -----

    fn flush_dirty(&mut self, now: Instant) {
        for (k, p) in self.peers.iter_mut() {
            if !p.dirty {
                continue;
            }
            p.dirty = false;
            if !p.conn.has_pending_transmit() {
                continue;
            }
            let mut segments = Vec::new();
            p.conn.encode_pending_vectored(&mut segments, now);
            p.unsent += segments.iter().map(Bytes::len).sum::<usize>();
            p.queued = 0;
            self.outputs
                .push_back(Output::Transmit { peer: *k, segments });
        }
    }

    // ----- stopping -----

    /// Stops exchanging data: every peer is closed and nothing more is requested or dialled
    /// (pause, or a storage error). Pieces in flight are dropped; verified ones stay.
    pub fn stop(&mut self) {
        self.active = false;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in keys {
            self.close(k, "torrent stopped");
        }
        self.dialing.clear();
        for (piece, asm) in std::mem::take(&mut self.inflight) {
            self.inflight_bytes -= u64::from(asm.piece_len());
            self.picker.insert(piece, &mut self.rng);
        }
        self.inflight_order.clear();
        self.cache.clear();
        self.reading.clear();
    }

    /// Exchanges data again after [`TorrentCore::stop`]; known peers are dialled again.
    pub fn start(&mut self, now: Instant) {
        if self.active {
            return;
        }
        self.active = true;
        for k in self.known.values_mut() {
            k.next_try = now;
            k.connected = false;
        }
        self.next_tick = now;
        self.connect_more(now);
    }
}

#[cfg(test)]
mod tests;
