//! Typed errors of the fountain codec.

use thiserror::Error;

/// Why a piece, a symbol or a request was refused by the codec.
///
/// Every variant is a property of the input, never an internal failure: a caller that gets one
/// from network data should treat the sender as misbehaving (or, for the piece-level variants,
/// fall back to block exchange for that piece).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FountainError {
    /// The piece length is zero or larger than the codec handles.
    #[error("piece length {len} is outside 1..={max}")]
    BadPieceLength {
        /// Length that was given.
        len: u64,
        /// Largest piece length the codec accepts.
        max: u64,
    },
    /// The symbol or request names another piece than the one this object is for.
    #[error("symbol is for piece {got}, expected piece {expected}")]
    WrongPiece {
        /// Piece this decoder/encoder is for.
        expected: u32,
        /// Piece the input named.
        got: u32,
    },
    /// An ESI does not fit in 24 bits (RFC 6330 §3.2).
    #[error("ESI {esi} is not below 2^24")]
    EsiOutOfRange {
        /// The offending ESI.
        esi: u32,
    },
    /// An ESI is at or above this piece's repair cap.
    #[error("ESI {esi} is at or above the cap {limit} for this piece")]
    EsiAboveCap {
        /// The offending ESI.
        esi: u32,
        /// First ESI that is refused for this piece.
        limit: u32,
    },
    /// A symbol does not have exactly the expected length.
    #[error("symbol {esi} has {got} bytes, expected {expected}")]
    BadSymbolLength {
        /// ESI of the symbol.
        esi: u32,
        /// Expected length.
        expected: usize,
        /// Length received.
        got: usize,
    },
    /// A block offset is not a multiple of the symbol size or lies outside the piece.
    #[error("block offset {offset} is not a symbol boundary inside the piece")]
    BadBlockOffset {
        /// The offending offset.
        offset: u32,
    },
    /// The last source symbol of a short piece carries non-zero bytes past the piece end.
    #[error("symbol {esi} has non-zero padding past the end of the piece")]
    NonZeroPadding {
        /// ESI of the symbol.
        esi: u32,
    },
    /// A symbol request asks for no symbols, too many, or wraps around.
    #[error("symbol request for {count} symbols from ESI {first_esi} is not allowed")]
    BadRequest {
        /// First ESI requested.
        first_esi: u32,
        /// Number of symbols requested.
        count: u32,
    },
}
