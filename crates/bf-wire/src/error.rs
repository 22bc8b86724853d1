//! Error types: malformed bytes ([`DecodeError`]), a peer breaking the protocol
//! ([`ProtocolError`], always a reason to disconnect), and local misuse ([`SendError`]).

use thiserror::Error;

use crate::fountain::SymbolRange;
use crate::message::BlockRequest;

/// A handshake that is not a BitTorrent handshake.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HandshakeError {
    /// A complete handshake must be exactly 68 bytes.
    #[error("a handshake is 68 bytes, got {0}")]
    Length(usize),
    /// The first byte must be 19, the length of "BitTorrent protocol".
    #[error("protocol string length {0}, expected 19")]
    ProtocolLength(u8),
    /// The protocol string is not "BitTorrent protocol".
    #[error("protocol string is not \"BitTorrent protocol\"")]
    Protocol,
}

/// Bytes that do not form a valid message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The handshake is malformed.
    #[error("bad handshake: {0}")]
    Handshake(#[from] HandshakeError),
    /// A length prefix above the limit for its message kind (checked before buffering it).
    #[error("message id {id}: length {len} exceeds the limit of {limit}")]
    FrameTooLong {
        /// Message id.
        id: u8,
        /// Declared length (id byte included).
        len: usize,
        /// Largest length accepted for this kind.
        limit: usize,
    },
    /// A fixed-size message, or one below its minimum size, with the wrong length.
    #[error("message id {id}: invalid length {len}")]
    FrameLength {
        /// Message id.
        id: u8,
        /// Declared length (id byte included).
        len: usize,
    },
    /// A message was decoded before the handshake.
    #[error("expected the handshake first")]
    HandshakeExpected,
    /// An extended (BEP 10) dictionary that is not valid bencode.
    #[error("extended message {what}: {source}")]
    Bencode {
        /// Which message.
        what: &'static str,
        /// The bencode error.
        source: bf_bencode::DecodeError,
    },
    /// An extended dictionary that lacks a key or has a value of the wrong type or range.
    #[error("extended message {what}: missing or invalid {key:?}")]
    BadField {
        /// Which message.
        what: &'static str,
        /// Which key.
        key: &'static str,
    },
    /// Bytes after a ut_metadata request or reject dictionary.
    #[error("ut_metadata: trailing bytes after a {0} message")]
    MetadataTrailing(&'static str),
    /// A ut_metadata data message carrying more than 16 KiB.
    #[error("ut_metadata: {0} bytes of data, at most 16384 allowed")]
    MetadataTooLong(usize),
    /// A bf_raptorq message whose payload length is wrong for its type.
    #[error("bf_raptorq: message type {kind} with payload of {len} bytes")]
    FountainLength {
        /// Message type.
        kind: u8,
        /// Payload length after the type byte.
        len: usize,
    },
    /// An encoding symbol id at or above 2^24 (RFC 6330 limit).
    #[error("bf_raptorq: ESI {0} is not below 2^24")]
    EsiOutOfRange(u64),
    /// A symbol request or reject for zero symbols.
    #[error("bf_raptorq: symbol range of count 0")]
    ZeroCount,
}

/// A peer broke the protocol: the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// The bytes were not a valid message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A bitfield, have all or have none that was not the first such message, or came after
    /// other messages.
    #[error("{0} must be the first message after the handshake")]
    PiecesNotFirst(&'static str),
    /// A bitfield whose length does not match the piece count.
    #[error("bitfield of {got} bytes, expected {expected}")]
    BitfieldLength {
        /// ceil(piece count / 8).
        expected: usize,
        /// Received length.
        got: usize,
    },
    /// A bitfield with bits set past the last piece.
    #[error("bitfield has spare bits set")]
    BitfieldSpareBits,
    /// A piece index at or above the piece count.
    #[error("piece {piece} out of range (the torrent has {piece_count})")]
    PieceOutOfRange {
        /// The index received.
        piece: u32,
        /// The number of pieces (or, before the metadata is known, the most accepted).
        piece_count: u32,
    },
    /// A block request outside its piece, or of length zero.
    #[error("invalid block request {0:?}")]
    InvalidRequest(BlockRequest),
    /// A block we never asked for (nor cancelled recently).
    #[error("unrequested block {0:?}")]
    UnrequestedBlock(BlockRequest),
    /// A reject for a request we never sent (nor cancelled recently).
    #[error("reject for a request never sent: {0:?}")]
    UnrequestedReject(BlockRequest),
    /// A message of an extension that was not negotiated by both sides.
    #[error("{0} message without negotiating it")]
    NotNegotiated(&'static str),
    /// A symbol we never asked for (nor cancelled recently).
    #[error("unrequested symbol: piece {piece} ESI {esi}")]
    UnrequestedSymbol {
        /// Piece index.
        piece: u32,
        /// Encoding symbol id.
        esi: u32,
    },
    /// A symbol reject for symbols we never asked for (nor cancelled recently).
    #[error("symbol reject for symbols never requested: {0:?}")]
    UnrequestedSymbolReject(SymbolRange),
    /// `set_shape` was called a second time with a different shape.
    #[error("the torrent shape is already set to a different one")]
    ShapeChanged,
}

/// Something the local side asked for that the protocol does not allow now.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SendError {
    /// The peer has not announced the piece (a request for it could get us disconnected).
    #[error("the peer does not have this piece")]
    PeerLacksPiece,
    /// The peer is choking us (and the piece is not allowed fast).
    #[error("the peer is choking us")]
    Choked,
    /// Requests go out only while we are interested: call `interested()` first.
    #[error("we have not said we are interested")]
    NotInterested,
    /// The extension needed for this message was not negotiated.
    #[error("{0} not negotiated with this peer")]
    NotNegotiated(&'static str),
    /// Serving, cancelling or rejecting something that is not outstanding.
    #[error("no such outstanding request")]
    NotRequested,
    /// The request (or an overlapping one) is already outstanding.
    #[error("already requested")]
    AlreadyRequested,
    /// The configured bound on outstanding requests is reached.
    #[error("too many outstanding requests")]
    TooManyRequests,
    /// A request outside its piece, empty, or longer than the block limit.
    #[error("invalid request")]
    InvalidRequest,
    /// The torrent's shape is not known yet (magnet link without metadata).
    #[error("the torrent's metadata is not known yet")]
    ShapeUnknown,
    /// A piece index at or above the piece count.
    #[error("piece index out of range")]
    PieceOutOfRange,
    /// Bitfield, have all or have none after other messages were sent.
    #[error("the piece set must be the first message sent")]
    PiecesNotFirst,
    /// A bitfield of the wrong length for the torrent.
    #[error("bitfield length does not match the torrent")]
    BitfieldLength,
    /// Symbol data whose length is not the negotiated symbol size.
    #[error("symbol data must be exactly the negotiated symbol size")]
    SymbolSize,
}

/// A `TorrentShape` that cannot describe a torrent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ShapeError {
    /// Piece length zero.
    #[error("piece length is zero")]
    ZeroPieceLength,
    /// Total length zero.
    #[error("total length is zero")]
    ZeroLength,
    /// More than 2^32 - 1 pieces.
    #[error("too many pieces")]
    TooManyPieces,
}

/// Bytes that are not a bitfield for a given number of pieces.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BitfieldError {
    /// Length is not ceil(pieces / 8).
    #[error("bitfield of {got} bytes, expected {expected}")]
    Length {
        /// ceil(pieces / 8).
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// Bits set past the last piece.
    #[error("bitfield has spare bits set")]
    SpareBits,
}

impl From<BitfieldError> for ProtocolError {
    fn from(e: BitfieldError) -> Self {
        match e {
            BitfieldError::Length { expected, got } => {
                ProtocolError::BitfieldLength { expected, got }
            }
            BitfieldError::SpareBits => ProtocolError::BitfieldSpareBits,
        }
    }
}
