//! Decoding errors: what was wrong, and at which byte offset.

use thiserror::Error;

/// A decoding failure at a byte offset of the input.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bencode error at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Offset in the input where the problem starts.
    pub offset: usize,
    /// What the problem is.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        DecodeError { offset, kind }
    }
}

/// The ways bencode input can be refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeErrorKind {
    /// The input ended early.
    #[error("unexpected end of input, expected {expected}")]
    UnexpectedEof {
        /// What the decoder was looking for.
        expected: &'static str,
    },
    /// A byte that cannot start or continue what was expected.
    #[error("unexpected byte 0x{found:02x}, expected {expected}")]
    UnexpectedByte {
        /// The byte found.
        found: u8,
        /// What the decoder was looking for.
        expected: &'static str,
    },
    /// An integer that is not canonical or does not fit in 64 bits.
    #[error("invalid integer: {0}")]
    InvalidInteger(&'static str),
    /// A string length prefix that is not a canonical decimal number.
    #[error("invalid string length: {0}")]
    InvalidLength(&'static str),
    /// A string whose declared length runs past the end of the input.
    #[error("string of {needed} bytes runs past the end of the input ({available} left)")]
    Truncated {
        /// Declared length.
        needed: usize,
        /// Bytes left in the input.
        available: usize,
    },
    /// A string longer than the configured limit.
    #[error("string of {len} bytes exceeds the limit of {limit}")]
    StringTooLong {
        /// Declared length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// Lists and dictionaries nested deeper than the configured limit.
    #[error("nesting deeper than {limit} levels")]
    TooDeep {
        /// The limit in force.
        limit: usize,
    },
    /// More values than the configured limit.
    #[error("more than {limit} values")]
    TooManyItems {
        /// The limit in force.
        limit: usize,
    },
    /// A dictionary key smaller than the one before it (strict mode).
    #[error("dictionary keys out of order")]
    UnsortedKey,
    /// A dictionary key equal to the one before it (strict mode).
    #[error("duplicate dictionary key")]
    DuplicateKey,
    /// Bytes left after the value.
    #[error("trailing data after the value")]
    TrailingData,
}
