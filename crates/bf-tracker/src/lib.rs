//! The BitFountain tracker: the announce/scrape protocol over HTTP (BEP 3, 23, 7, 48) and
//! UDP (BEP 15) as plain types and codecs, the client half (reqwest and UDP, BEP 12 tiers)
//! that `bf-client` uses, and, with the `server` feature (on by default), a sans-IO swarm
//! store and the server built on it (axum and tokio at the edges, with `--dfile`
//! persistence and `--allowed-dir`).
//!
//! The codecs do no I/O:
//!
//! ```
//! use bf_metainfo::{InfoHash, PeerId};
//! use bf_tracker::query::{announce_query, parse_announce};
//! use bf_tracker::AnnounceRequest;
//!
//! // A client builds the query; the tracker parses the raw bytes back.
//! let req = AnnounceRequest::new(InfoHash([0xAB; 20]), PeerId([b'x'; 20]), 6881, 0);
//! let parsed = parse_announce(announce_query(&req).as_bytes()).unwrap();
//! assert_eq!(parsed, req);
//! ```
//!
//! The store (`swarm`, with the `server` feature) takes time as an argument; see its example.

#[cfg(feature = "server")]
pub mod allowed;
#[cfg(feature = "server")]
pub mod clf;
pub mod client;
#[cfg(feature = "server")]
pub mod conn_id;
#[cfg(feature = "server")]
pub mod dfile;
pub mod http_codec;
#[cfg(feature = "server")]
pub mod ip_list;
#[cfg(feature = "server")]
pub mod journal;
pub mod query;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod swarm;
pub mod types;
pub mod udp_codec;

pub use client::{ClientConfig, TrackerClient, TrackerError, TrackerTiers};
#[cfg(feature = "server")]
pub use server::{IndexPage, Limits, ScrapeMode, ServerConfig, ServerError, Tracker};
pub use types::{
    AnnounceRequest, AnnounceResponse, Event, PeerAddr, ScrapeRequest, ScrapeResponse, ScrapeStats,
};
