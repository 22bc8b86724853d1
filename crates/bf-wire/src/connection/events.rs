//! What a connection tells the engine: events, and the peer's piece set.

use bytes::Bytes;

#[cfg(doc)]
use super::Connection;
use crate::bitfield::Bitfield;
use crate::fountain::SymbolRange;
use crate::message::{Block, BlockRequest};

/// What we know of the peer's pieces.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PeerPieces {
    /// Nothing said yet (or a bitfield is held until the torrent's shape is known).
    Unknown,
    /// HAVE NONE.
    None,
    /// HAVE ALL.
    All,
    /// A bitfield (possibly grown by HAVE messages).
    Some(Bitfield),
}

/// Something the engine should know or act on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Event {
    /// The peer choked us. Without the fast extension this drops every outstanding request:
    /// they are listed so the engine can ask elsewhere. With it, requests stay outstanding
    /// until served or rejected.
    Choked {
        /// Block requests that will not be answered.
        dropped: Vec<BlockRequest>,
        /// Symbol ranges that will not be answered.
        dropped_symbols: Vec<SymbolRange>,
    },
    /// The peer unchoked us.
    Unchoked,
    /// The peer is interested in our pieces.
    Interested,
    /// The peer is no longer interested.
    NotInterested,
    /// The peer has a piece it did not have before.
    Have(u32),
    /// The peer sent its bitfield; read it with [`Connection::peer_pieces`].
    Bitfield,
    /// The peer has every piece.
    HaveAll,
    /// The peer has no piece.
    HaveNone,
    /// The peer asks for a block of a piece we announced: serve it with
    /// [`Connection::send_block`] or refuse it with [`Connection::reject`].
    Request(BlockRequest),
    /// The peer withdrew a request: do not serve it.
    Cancel(BlockRequest),
    /// A block we asked for.
    Block(Block),
    /// A block we had cancelled (or that a choke dropped) arrived anyway.
    LateBlock(Block),
    /// The peer refuses one of our requests.
    Rejected(BlockRequest),
    /// The peer suggests a piece.
    Suggest(u32),
    /// The peer lets us request this piece while choked.
    AllowedFast(u32),
    /// The peer's DHT port.
    Port(u16),
    /// The peers the peer is connected to, as they came and went (BEP 11).
    Pex(crate::pex::PexMessage),
    /// The peer sent (or updated) its extended handshake; read it with
    /// [`Connection::peer_extended_handshake`].
    ExtendedHandshake,
    /// The peer asks for a metadata piece.
    MetadataRequest(u32),
    /// A metadata piece we asked for.
    MetadataData {
        /// Metadata piece index.
        piece: u32,
        /// Size of the whole info dictionary as the peer states it.
        total_size: u32,
        /// The bytes (at most 16 KiB).
        data: Bytes,
    },
    /// The peer will not send this metadata piece.
    MetadataRejected(u32),
    /// Our request for this metadata piece went unanswered for the metadata timeout and is
    /// forgotten: ask again, of this peer or another. A late answer is dropped.
    MetadataTimedOut(u32),
    /// The peer asks for symbols of a piece we announced: serve each with
    /// [`Connection::send_symbol`] or refuse with [`Connection::reject_symbols`]. Some may
    /// be withdrawn before that (SYMBOL_CANCEL, a choke, a later overlapping request, which
    /// is rejected whole): serving those is refused with [`crate::SendError::NotRequested`].
    SymbolRequest(SymbolRange),
    /// A symbol we asked for (length already checked to be T).
    Symbol {
        /// Piece index.
        piece: u32,
        /// Encoding symbol id.
        esi: u32,
        /// T bytes.
        data: Bytes,
    },
    /// A symbol of a piece whose requests we had cancelled (or a choke dropped) arrived anyway.
    LateSymbol {
        /// Piece index.
        piece: u32,
        /// Encoding symbol id.
        esi: u32,
        /// T bytes.
        data: Bytes,
    },
    /// The peer withdrew every symbol request for a piece.
    SymbolCancel(u32),
    /// The peer will not send these symbols (exactly those of ours that were outstanding).
    SymbolsRejected(SymbolRange),
}
