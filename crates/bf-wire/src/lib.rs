//! The BitTorrent peer protocol for BitFountain, sans-IO.
//!
//! Work in progress.

pub mod bitfield;
pub mod decoder;
pub mod error;
pub mod extended;
pub mod fountain;
pub mod handshake;
pub mod message;
pub mod metadata;
pub mod shape;

pub use bitfield::Bitfield;
pub use decoder::{Decoder, Frame, Limits};
pub use error::{BitfieldError, DecodeError, HandshakeError, ProtocolError, SendError, ShapeError};
pub use extended::{ExtendedHandshake, FountainParams, LocalExtensions};
pub use fountain::{FountainMessage, SymbolRange};
pub use handshake::{Handshake, Reserved};
pub use message::{encode, Block, BlockRequest, Extended, Message};
pub use metadata::MetadataMessage;
pub use shape::TorrentShape;
