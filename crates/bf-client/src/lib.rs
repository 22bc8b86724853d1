//! The BitFountain engine: sessions, torrents, peers, storage.
//!
//! Every decision about a torrent (piece picking, choking, the per-piece assembler, request
//! timeouts, peer scores, bans) lives in a sans-IO core, [`core::TorrentCore`], that takes
//! inputs stamped with the time and yields outputs. The tokio layer ([`Session`]) moves
//! bytes between sockets and cores, runs hashing and disk I/O on worker threads, and talks to
//! trackers. `docs/architecture.md` describes the layering, the path of a block from socket
//! to disk and the invariants of the piece and request state.
pub mod core;
pub mod events;
mod peer_io;
pub mod resume;
mod session;
pub mod storage;
mod torrent;
pub mod workers;

pub use events::{PeerSummary, TorrentEvent, TorrentState, TorrentStatus};
pub use session::{
    AddError, AddTorrent, Session, SessionConfig, SessionError, TorrentHandle, TorrentSource,
};
