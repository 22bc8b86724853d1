//! Why a `.torrent` file was refused.

use bf_bencode::{DecodeError, Kind};
use thiserror::Error;

/// A `.torrent` file (or a value meant to become one) that cannot be used.
///
/// Every message is one line and names the field or path at fault, so a program can print
/// it as it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MetainfoError {
    /// The file could not be read, is not a regular file, or is too large to be a torrent.
    #[error("cannot read {path:?}: {reason}")]
    Read {
        /// The path given.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The bytes are not bencode.
    #[error("not a torrent file: {0}")]
    Bencode(#[from] DecodeError),
    /// The top-level value is not a dictionary.
    #[error("not a torrent file: the top-level value is a {0}, expected a dictionary")]
    NotADict(Kind),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    Missing(String),
    /// A field holds the wrong kind of value.
    #[error("field `{field}` is a {found}, expected {expected}")]
    WrongType {
        /// Where the field is, e.g. `info.files[2].length`.
        field: String,
        /// What it should have been.
        expected: &'static str,
        /// What it was.
        found: Kind,
    },
    /// A field has the right type but a value that cannot be used.
    #[error("field `{field}`: {reason}")]
    Invalid {
        /// Where the field is.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file path that could escape the download directory or is not portable.
    #[error("unsafe file path {path:?}: {reason}")]
    UnsafePath {
        /// The path as written in the torrent, components joined with `/`.
        path: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// Two files with the same path, or a path that is both a file and a directory.
    #[error("conflicting file paths: {0:?} {1}")]
    PathConflict(String, &'static str),
    /// The piece hashes do not match the total length and piece length.
    #[error("field `info.pieces` is {len} bytes, expected {expected} (20 per piece, {pieces} pieces of {piece_length} bytes for {total} bytes)")]
    PiecesMismatch {
        /// Length of the `pieces` string.
        len: usize,
        /// Length it should have.
        expected: u64,
        /// Number of pieces the content needs.
        pieces: u64,
        /// The piece length.
        piece_length: u64,
        /// The total content length.
        total: u64,
    },
}

impl MetainfoError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        MetainfoError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
