//! The BitFountain tracker: the announce/scrape protocol over HTTP (BEP 3, 23, 7, 48) and
//! UDP (BEP 15) as plain types and codecs, a sans-IO swarm store, the server built on them
//! (axum and tokio at the edges, with `--dfile` persistence and `--allowed-dir`), and the
//! client half (reqwest and UDP, BEP 12 tiers) that `bf-client` uses.
//!
//! The codecs and the store do no I/O and take time as an argument:
//!
//! ```
//! use bf_metainfo::{InfoHash, PeerId};
//! use bf_tracker::query::{announce_query, parse_announce};
//! use bf_tracker::swarm::{PeerAnnounce, StoreConfig, SwarmStore};
//! use bf_tracker::AnnounceRequest;
//!
//! // A client builds the query; the tracker parses the raw bytes back.
//! let req = AnnounceRequest::new(InfoHash([0xAB; 20]), PeerId([b'x'; 20]), 6881);
//! let parsed = parse_announce(announce_query(&req).as_bytes()).unwrap();
//! assert_eq!(parsed, req);
//!
//! // The store records it and hands out peers, never the requester itself.
//! let mut store = SwarmStore::new(StoreConfig::default());
//! let mut rng = rand::thread_rng();
//! let now = 1_800_000_000; // Unix seconds
//! let mut peers = Vec::new();
//! for port in [6881, 6882] {
//!     let a = PeerAnnounce {
//!         info_hash: parsed.info_hash,
//!         addr: format!("127.0.0.1:{port}").parse().unwrap(),
//!         left: 100,
//!         event: parsed.event,
//!         numwant: None,
//!     };
//!     peers.clear();
//!     store.announce(&a, now, &mut rng, &mut peers);
//! }
//! assert_eq!(peers, vec!["127.0.0.1:6881".parse().unwrap()]);
//! assert_eq!(store.stats(&parsed.info_hash).incomplete, 2);
//! ```

pub mod allowed;
pub mod clf;
pub mod client;
pub mod conn_id;
pub mod dfile;
pub mod http_codec;
pub mod query;
pub mod server;
pub mod swarm;
pub mod types;
pub mod udp_codec;

pub use client::{ClientConfig, TrackerClient, TrackerError, TrackerTiers};
pub use server::{ServerConfig, ServerError, Tracker};
pub use types::{
    AnnounceRequest, AnnounceResponse, Event, PeerAddr, ScrapeRequest, ScrapeResponse, ScrapeStats,
};
