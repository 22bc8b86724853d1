//! The BitFountain engine: sessions, torrents, peers, storage.
//!
//! Every decision about a torrent (piece picking, choking, the per-piece assembler, request
//! timeouts, peer scores, bans) lives in a sans-IO core, [`core::TorrentCore`], that takes
//! inputs stamped with the time and yields outputs. The tokio layer ([`Session`]) moves
//! bytes between sockets and cores, runs hashing and disk I/O on worker threads, and talks to
//! trackers. `docs/architecture.md` describes the layering, the path of a block from socket
//! to disk and the invariants of the piece and request state.
//!
//! A program that downloads a torrent, then stops:
//!
//! ```no_run
//! use bf_client::{AddTorrent, Session, SessionConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let session = Session::new(SessionConfig::default()).await?; // listens on 6881..=6889
//! let torrent = session
//!     .add_torrent(AddTorrent::file("ubuntu.iso.torrent").save_in("downloads"))
//!     .await?;
//! torrent.wait_complete().await?; // checked, downloaded, verified, on disk
//! println!("{} done: {:?}", torrent.metainfo().name(), torrent.status().state);
//! session.shutdown().await; // tells the trackers, saves resume data
//! # Ok(())
//! # }
//! ```
//!
//! `examples/download.rs` adds a progress line from the event stream.
pub mod core;
pub mod dht;
pub mod events;
pub mod jobs;
pub mod lsd;
pub mod magnet;
mod peer_io;
pub mod resume;
mod session;
pub mod storage;
pub mod testpeer;
mod torrent;
pub mod workers;

pub use dht::{DhtConfig, DhtError, DhtNode};
pub use events::{PeerSummary, TorrentEvent, TorrentState, TorrentStatus};
pub use lsd::{LsdConfig, LsdError};
pub use session::{
    AddError, AddTorrent, Session, SessionConfig, SessionError, TorrentHandle, TorrentSource,
};
