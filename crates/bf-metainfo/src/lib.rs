//! Torrent metainfo for BitFountain: reading and validating v1 `.torrent` files (hybrid
//! v1+v2 files are read as v1), the info-hash, safe file paths, and magnet links.
//!
//! ```
//! use bf_metainfo::Metainfo;
//!
//! // A single-file torrent: 5 bytes in one piece.
//! let mut t = b"d8:announce17:http://t/announce4:infod6:lengthi5e4:name5:a.txt".to_vec();
//! t.extend_from_slice(b"12:piece lengthi16384e6:pieces20:");
//! t.extend_from_slice(&[7u8; 20]);
//! t.extend_from_slice(b"ee");
//! let m = Metainfo::from_bytes(&t).unwrap();
//! assert_eq!(m.name(), "a.txt");
//! assert_eq!(m.total_length(), 5);
//! assert_eq!(m.piece_count(), 1);
//! assert_eq!(m.info_hash(), bf_metainfo::InfoHash::of(m.info_bytes()));
//! assert_eq!(Metainfo::from_bytes(&m.to_bytes()).unwrap(), m);
//! ```

pub mod create;
mod error;
pub mod format;
pub mod ids;
mod layout;
mod magnet;
mod metainfo;
pub mod piece_size;
pub mod safe_path;

pub use create::{create, CreateError, CreateOptions, Source};
pub use error::MetainfoError;
pub use ids::{InfoHash, ParseBase32Error, ParseHexError, PeerId};
pub use layout::FileSlice;
pub use magnet::{Magnet, MagnetError, MAX_MAGNET_LEN};
pub use metainfo::{
    FileEntry, Metainfo, Node, MAX_FILES, MAX_PIECE_LENGTH, MAX_TORRENT_FILE, MAX_TOTAL_LENGTH,
};
