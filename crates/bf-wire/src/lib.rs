//! The BitTorrent peer protocol for BitFountain, sans-IO: codecs and a per-connection state
//! machine, with no sockets, no async runtime and no clock (time is an argument).
//!
//! - [`Handshake`] and its [`Reserved`] bits (BEP 10 extension protocol, BEP 6 fast, BEP 5
//!   DHT).
//! - [`Message`]: every BEP 3 message, BEP 6's, PORT (BEP 5), and BEP 10 extension messages
//!   ([`Extended`]): the [`ExtendedHandshake`], ut_metadata ([`MetadataMessage`], BEP 9) and
//!   the fountain extension bf_raptorq ([`FountainMessage`]).
//! - [`Decoder`]: a streaming decoder over [`bytes::BytesMut`]. Any split of the stream
//!   decodes the same; every length prefix is checked against a per-kind limit before the
//!   buffer grows; block and symbol payloads are zero-copy slices of the receive buffer.
//! - [`Connection`]: the state of one connection (choke and interest both ways, the peer's
//!   pieces, outstanding requests and symbol ranges, which extension ids each side
//!   assigned). It turns incoming messages into [`Event`]s or a [`ProtocolError`] (close the
//!   connection), and checks the engine's own messages before queueing them. It names its
//!   next deadline ([`Connection::poll_timeout`]: keep-alive, ut_metadata timeouts,
//!   idleness) for the engine's timer, and hands out what to send either as one buffer or
//!   as segments for `write_vectored` that pass block and symbol data through uncopied
//!   ([`Connection::encode_pending_vectored`]).
//!
//! ```
//! use bf_metainfo::{InfoHash, PeerId};
//! use bf_wire::{
//!     Block, BlockRequest, Decoder, Frame, Handshake, Limits, LocalExtensions, Message,
//! };
//! use bytes::{Bytes, BytesMut};
//!
//! // Encode a handshake and a few messages, as a peer would send them.
//! let hs = Handshake::new(InfoHash([0xab; 20]), PeerId(*b"-BF0100-123456789012"));
//! let messages = vec![
//!     Message::Bitfield(Bytes::from_static(&[0b1010_0000])),
//!     Message::Unchoke,
//!     Message::Request(BlockRequest::new(2, 0, 16384)),
//!     Message::Piece(Block { piece: 0, begin: 0, data: Bytes::from(vec![7u8; 16384]) }),
//!     Message::KeepAlive,
//! ];
//! let mut wire = BytesMut::new();
//! hs.encode(&mut wire);
//! for m in &messages {
//!     m.encode(&mut wire);
//! }
//!
//! // Decode them back, feeding the bytes in arbitrary chunks as a socket would.
//! let mut decoder = Decoder::new(Limits::default(), LocalExtensions::default());
//! let mut buf = BytesMut::new();
//! let mut frames = Vec::new();
//! for chunk in wire.chunks(1000) {
//!     buf.extend_from_slice(chunk);
//!     while let Some(frame) = decoder.decode(&mut buf)? {
//!         frames.push(frame);
//!     }
//! }
//! assert_eq!(frames[0], Frame::Handshake(hs));
//! assert!(hs.reserved.fast() && hs.reserved.extension_protocol() && hs.reserved.dht());
//! let decoded: Vec<Frame> = messages.into_iter().map(Frame::Message).collect();
//! assert_eq!(frames[1..], decoded[..]);
//! # Ok::<(), bf_wire::DecodeError>(())
//! ```
//!
//! A [`Connection`] on top of that, for a peer that has pieces 0 and 2 of three:
//!
//! ```
//! use std::time::Instant;
//! use bf_metainfo::{InfoHash, PeerId};
//! use bf_wire::{BlockRequest, Connection, ConnectionConfig, Event, Handshake, Message,
//!               TorrentShape};
//! use bytes::{Bytes, BytesMut};
//!
//! let now = Instant::now();
//! let peer = Handshake::new(InfoHash([1; 20]), PeerId([2; 20]));
//! let shape = TorrentShape::new(32768, 3 * 32768 - 100)?;
//! let mut conn = Connection::new(ConnectionConfig::default(), &peer, Some(shape), now);
//!
//! let mut incoming = BytesMut::new();
//! Message::Bitfield(Bytes::from_static(&[0b1010_0000])).encode(&mut incoming);
//! Message::Unchoke.encode(&mut incoming);
//! conn.receive(&mut incoming, now)?;
//! assert_eq!(conn.poll_event(), Some(Event::Bitfield));
//! assert_eq!(conn.poll_event(), Some(Event::Unchoked));
//! assert!(conn.peer_has(2) && !conn.peer_has(1));
//!
//! conn.interested();
//! conn.request(BlockRequest::new(2, 16384, 16384 - 100), now)?;
//! let mut outgoing = BytesMut::new();
//! assert_eq!(conn.encode_pending(&mut outgoing, now), 2);
//!
//! // A later bitfield that only adds pieces is taken as HAVEs (aria2 sends them so) ...
//! Message::Bitfield(Bytes::from_static(&[0b1110_0000])).encode(&mut incoming);
//! conn.receive(&mut incoming, now)?;
//! assert_eq!(conn.poll_event(), Some(Event::Have(1)));
//! // ... but one that takes a piece back breaks the protocol: the caller disconnects.
//! Message::Bitfield(Bytes::from_static(&[0b0110_0000])).encode(&mut incoming);
//! assert!(conn.receive(&mut incoming, now).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The `bytes` crate this API is written against (`Bytes`, `BytesMut`).
pub use bytes;

pub mod bitfield;
pub mod connection;
pub mod decoder;
pub mod error;
pub mod extended;
pub mod fountain;
pub mod handshake;
pub mod message;
pub mod metadata;
mod pending;
pub mod pex;
pub mod shape;

pub use bitfield::Bitfield;
pub use connection::{Connection, ConnectionConfig, Event, PeerPieces};
pub use decoder::{Decoder, Frame, Limits};
pub use error::{BitfieldError, DecodeError, HandshakeError, ProtocolError, SendError, ShapeError};
pub use extended::{ExtendedHandshake, FountainParams, LocalExtensions};
pub use fountain::{FountainMessage, SymbolRange};
pub use handshake::{Handshake, Reserved};
pub use message::{encode, Block, BlockRequest, Extended, Message};
pub use metadata::MetadataMessage;
pub use pex::PexMessage;
pub use shape::TorrentShape;
