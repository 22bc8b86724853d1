//! Torrent metainfo for BitFountain (work in progress).

pub mod ids;

pub use ids::{InfoHash, PeerId, ParseHexError};
