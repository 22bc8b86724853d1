//! What a program watching a torrent sees: its status, and a stream of events.

use std::net::SocketAddr;
use std::time::Duration;

use bf_metainfo::InfoHash;

pub use crate::core::{CoreStats, PeerSummary};

/// Where a torrent is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentState {
    /// Hashing the data already on disk; `checked` of `total` pieces done.
    Checking {
        /// Pieces checked so far.
        checked: u32,
        /// Pieces to check.
        total: u32,
    },
    /// Fetching pieces.
    Downloading,
    /// Every piece is verified on disk; uploading to others.
    Seeding,
    /// Stopped by the user; resumes on request.
    Paused,
    /// Stopped by an error (disk full, unreadable data, …).
    Error(String),
    /// Removed from the session, or the session shut down.
    Stopped,
}

/// A snapshot of a torrent, refreshed about once a second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentStatus {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Its name.
    pub name: String,
    /// Its state.
    pub state: TorrentState,
    /// Verified pieces.
    pub pieces_have: u32,
    /// All pieces.
    pub pieces_total: u32,
    /// Bytes of verified pieces.
    pub bytes_have: u64,
    /// Bytes in all.
    pub bytes_total: u64,
    /// Payload bytes per second received.
    pub down_rate: u64,
    /// Payload bytes per second sent.
    pub up_rate: u64,
    /// Payload bytes received since the torrent was added (duplicates included).
    pub downloaded: u64,
    /// Payload bytes sent since the torrent was added.
    pub uploaded: u64,
    /// Payload bytes received that were already held (endgame duplicates).
    pub redundant: u64,
    /// Pieces that failed their hash.
    pub hash_failures: u32,
    /// Connected peers.
    pub peers: usize,
    /// Connected peers that are seeds.
    pub seeds: usize,
    /// Estimated time to completion at the current rate.
    pub eta: Option<Duration>,
    /// Time since the torrent started downloading or seeding in this session.
    pub active_for: Duration,
    /// Connected peers, one summary each.
    pub peer_list: Vec<PeerSummary>,
    /// The engine's counters (blocks and repair symbols, decodes, worker time, …).
    pub stats: CoreStats,
}

impl TorrentStatus {
    /// The share of the data verified, 0.0 to 1.0.
    pub fn progress(&self) -> f64 {
        if self.bytes_total == 0 {
            1.0
        } else {
            self.bytes_have as f64 / self.bytes_total as f64
        }
    }

    /// Whether every piece is verified.
    pub fn is_complete(&self) -> bool {
        self.pieces_have == self.pieces_total
    }
}

/// Something that happened to a torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentEvent {
    /// The periodic status.
    Status(Box<TorrentStatus>),
    /// The state changed.
    State(TorrentState),
    /// A piece was verified and written.
    PieceVerified(u32),
    /// A piece failed its hash.
    HashFailed {
        /// The piece.
        piece: u32,
    },
    /// Every piece is verified and written.
    Completed,
    /// A peer connected.
    PeerConnected(SocketAddr),
    /// A peer disconnected.
    PeerDisconnected(SocketAddr),
    /// A peer was banned for sending wrong data.
    PeerBanned {
        /// Its address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A tracker answered.
    TrackerAnnounced {
        /// Its URL.
        url: String,
        /// Peers it gave.
        peers: usize,
    },
    /// No tracker of the torrent answered.
    TrackerFailed(String),
    /// An error that stopped the torrent.
    Error(String),
}
