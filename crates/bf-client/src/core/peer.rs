//! What the core keeps about one connected peer, beside its wire `Connection`.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bf_fountain::RepairBudget;
use bf_metainfo::PeerId;
use bf_wire::{Bitfield, Connection};
use bytes::BytesMut;

use super::rate::RateMeter;
use super::serve::ServeItem;

/// Which of the peer's pieces are counted in the picker's availability.
#[derive(Debug, Clone)]
pub(crate) enum Counted {
    /// Nothing counted.
    Nothing,
    /// These pieces.
    Pieces(Bitfield),
    /// Every piece (counted as one seed).
    Seed,
}

/// Who a ban applies to.
///
/// Normally an IP address, as other clients ban. On loopback every test peer shares
/// 127.0.0.1, so there the peer id is part of the key: banning one loopback polluter must
/// not cut off every other loopback peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BanKey {
    /// Everything from this address.
    Ip(IpAddr),
    /// One peer (by id) on a loopback address.
    LoopbackPeer(IpAddr, PeerId),
}

impl BanKey {
    /// The key for a peer at `addr` with id `id`.
    pub fn of(addr: SocketAddr, id: PeerId) -> Self {
        let ip = addr.ip();
        if ip.is_loopback() {
            BanKey::LoopbackPeer(ip, id)
        } else {
            BanKey::Ip(ip)
        }
    }

    /// Whether a connection to `addr`, whose id is not known yet, is covered.
    pub fn covers_addr(&self, addr: SocketAddr) -> bool {
        matches!(self, BanKey::Ip(ip) if *ip == addr.ip())
    }
}

/// One connected peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub conn: Connection,
    pub addr: SocketAddr,
    pub id: PeerId,
    pub ban_key: BanKey,
    pub outbound: bool,
    /// Received bytes not yet decoded (a frame cut by the socket read).
    pub rx: BytesMut,
    /// Payload bytes from the peer.
    pub down: RateMeter,
    /// Payload bytes to the peer.
    pub up: RateMeter,
    pub connected_at: Instant,
    /// When a block last arrived, or when requests were last sent after a quiet spell: the
    /// start of the current wait for data.
    pub last_block_at: Instant,
    /// The peer stopped answering our requests.
    pub snubbed: bool,
    /// Pieces it has that we lack: we are interested while this is above zero.
    pub useful: u32,
    pub counted: Counted,
    /// Requests it made, in arrival order, to serve (cancelled ones are skipped lazily: the
    /// connection no longer lists them).
    pub serve: VecDeque<ServeItem>,
    /// Repair symbols it may still be sent (a token bucket): more are rejected.
    pub repair_budget: RepairBudget,
    /// Bytes handed out for sending and not yet reported written.
    pub unsent: usize,
    /// Block bytes queued in the connection, not yet handed out in a transmit.
    pub queued: usize,
    /// Messages are queued in the connection and should be handed out.
    pub dirty: bool,
    /// Blocks received from it that were already held (endgame copies).
    pub redundant: u64,
    /// The highest download rate seen from it (what it can do when asked, not what it
    /// does now).
    pub peak_rate: u64,
    /// Its download rate as of the last tick.
    pub last_rate: u64,
    /// The peers we told it of by ut_pex (BEP 11), and when we last did.
    pub pex_told: std::collections::HashSet<SocketAddr>,
    /// When we last sent it a ut_pex message.
    pub pex_at: Option<Instant>,
}

impl Peer {
    pub fn new(
        conn: Connection,
        addr: SocketAddr,
        id: PeerId,
        outbound: bool,
        repair_budget: RepairBudget,
        now: Instant,
    ) -> Self {
        Peer {
            conn,
            addr,
            id,
            ban_key: BanKey::of(addr, id),
            outbound,
            rx: BytesMut::new(),
            down: RateMeter::new(now),
            up: RateMeter::new(now),
            connected_at: now,
            last_block_at: now,
            snubbed: false,
            useful: 0,
            counted: Counted::Nothing,
            serve: VecDeque::new(),
            repair_budget,
            unsent: 0,
            queued: 0,
            dirty: true,
            redundant: 0,
            peak_rate: 0,
            last_rate: 0,
            pex_told: std::collections::HashSet::new(),
            pex_at: None,
        }
    }

    /// Whether the peer has every piece.
    pub fn is_seed(&self) -> bool {
        match &self.counted {
            Counted::Seed => true,
            Counted::Pieces(b) => b.is_full(),
            Counted::Nothing => false,
        }
    }

    /// Number of pieces the peer has.
    pub fn piece_count(&self, total: u32) -> u32 {
        match &self.counted {
            Counted::Seed => total,
            Counted::Pieces(b) => b.count_ones(),
            Counted::Nothing => 0,
        }
    }
}
