//! Bencode for BitFountain: a value tree, a strict and a lenient decoder, and a canonical
//! encoder built on [`bendy`].
//!
//! Why not bendy's decoder alone: it refuses the unsorted and duplicate keys that real
//! `.torrent` files sometimes carry, and it does not tell where a value's bytes were. An
//! info-hash must be SHA-1 of the `info` value *exactly as it appears in the file*, never of a
//! re-encoding, so [`Dict::raw`] returns those bytes. Limits on depth, string length and item
//! count are checked before anything is allocated, and every error carries a byte offset.
//!
//! ```
//! use bf_bencode::{decode, decode_lenient, Value};
//!
//! let file = b"d4:infod4:name3:abc6:lengthi5eee"; // keys of `info` out of order
//! assert!(decode(file).is_err()); // strict: refused
//! let torrent = decode_lenient(file).unwrap();
//! let top = torrent.as_dict().unwrap();
//! assert_eq!(top.raw(b"info"), Some(&b"d4:name3:abc6:lengthi5ee"[..]));
//! let info = top.get(b"info").and_then(Value::as_dict).unwrap();
//! assert_eq!(info.get(b"length").and_then(Value::as_int), Some(5));
//! // Re-encoding sorts the keys, which is why the raw bytes matter.
//! assert_eq!(top.get(b"info").unwrap().to_bytes(), b"d6:lengthi5e4:name3:abce");
//! ```

mod decode;
mod encode;
mod error;
mod value;

pub use decode::{decode, decode_lenient, Decoder, Limits, Mode};
pub use encode::{to_vec, write_value};
pub use error::{DecodeError, DecodeErrorKind};
pub use value::{Dict, Kind, Value};
