//! The `bf_raptorq` piece codec: one BitTorrent v1 piece is one RaptorQ (RFC 6330) source
//! block with 16 KiB symbols, so any K distinct symbols (about) rebuild the piece, whoever
//! sent them. Sans-IO: no sockets, no clocks, no threads. The wire format and the rules
//! around it are specified in `docs/fountain-extension.md`.
//!
//! - [`PieceLayout`]: K = ceil(piece_len / T), the ESI cap, the byte range of each block.
//! - [`PieceEncoder`] / [`EncoderCache`] (server): source symbols are zero-copy slices of the
//!   piece, repair symbols are generated from an encoder prepared once per piece with a plan
//!   shared by all pieces of the same K ([`PlanCache`]); the cache is an LRU bounded by bytes.
//! - [`PieceDecoder`] (downloader): validates every symbol before raptorq sees it (raptorq
//!   panics on malformed input), records its sender, concatenates when all K blocks are
//!   there, solves only when a solve can succeed (by the decoding map when few blocks are
//!   missing, otherwise by raptorq's inactivation solver on memory kept per thread, see
//!   [`release_solve_memory`] and `docs/decisions.md`), verifies SHA-1 and names polluters
//!   ([`Verdict`]).
//! - [`EsiAllocator`] (downloader): which ESIs to ask for, so nothing received is a duplicate.
//! - [`RepairBudget`] (server): a per-peer token bucket on repair symbols, time passed in.
//!
//! The code is systematic and our ESIs are raptorq's ESIs: ESI i < K is block i verbatim
//! (so BEP 3 PIECE blocks feed the same decoder), ESI K, K+1, … are repair symbols (raptorq
//! maps them to internal symbol ids ESI + K' − K itself).
//!
//! ```
//! use bf_fountain::{EsiAllocator, PieceDecoder, PieceEncoder, PlanCache, Verdict, SYMBOL_SIZE};
//! use sha1::{Digest, Sha1};
//!
//! let piece: Vec<u8> = (0..3 * SYMBOL_SIZE + 100).map(|i| (i % 251) as u8).collect();
//! let hash: [u8; 20] = Sha1::digest(&piece).into();
//! let mut plans = PlanCache::new();
//! // Server: prepare the verified piece once.
//! let mut encoder = PieceEncoder::new(0, piece.clone().into(), &mut plans).unwrap();
//!
//! // Downloader: K = 4. Blocks 1 and 2 are lost in flight; fresh repair ESIs replace them.
//! let mut alloc = EsiAllocator::new(piece.len() as u64).unwrap();
//! let mut decoder = PieceDecoder::<&str>::new(0, piece.len() as u64).unwrap();
//! let first = alloc.allocate(16).unwrap();
//! assert_eq!((first.first, first.count), (0, 4));
//! alloc.on_lost([1, 2]);
//! for esi in [0, 3] {
//!     alloc.on_received(esi);
//!     decoder.add_symbol("peer-a", 0, esi, encoder.symbol(esi).unwrap()).unwrap();
//! }
//! let repair = alloc.allocate(16).unwrap(); // ESIs 4, 5, 6: two replacements + one spare
//! assert_eq!(repair.first, 4);
//! for esi in repair.esis() {
//!     alloc.on_received(esi);
//!     decoder.add_symbol("peer-b", 0, esi, encoder.symbol(esi).unwrap()).unwrap();
//! }
//! match decoder.finish(&hash, &mut plans) {
//!     Verdict::Verified { piece: got, culprits } => {
//!         assert_eq!(&got[..], &piece[..]);
//!         assert!(culprits.is_empty());
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! ```

mod allocator;
mod decoder;
mod encoder;
mod encoder_cache;
mod error;
mod inactivation;
mod layout;
mod rate;
mod solve;
mod verify;

pub use allocator::{EsiAllocator, EsiRun};
pub use decoder::{Added, PieceDecoder};
pub use encoder::{PieceEncoder, PlanCache, REPAIR_MEMO_SPAN};
pub use encoder_cache::EncoderCache;
pub use error::FountainError;
pub use inactivation::release_solve_memory;
pub use layout::{
    PieceLayout, ESI_LIMIT, MAX_PIECE_LEN, MAX_SOURCE_SYMBOLS, REPAIR_HEADROOM, SYMBOL_ALIGNMENT,
    SYMBOL_SIZE,
};
pub use rate::{RepairBudget, DEFAULT_REPAIR_BURST, DEFAULT_REPAIR_RATE};
pub use verify::{sha1_digest, sha1_matches, Verdict, MAX_LEAVE_ONE_OUT};

/// Re-exported: symbols and pieces are [`bytes::Bytes`].
pub use bytes::Bytes;

/// Name of the extension in the BEP 10 `m` dictionary and of its handshake key.
pub const EXTENSION_NAME: &str = "bf_raptorq";

/// Version carried as `v` in the handshake's `bf_raptorq` dictionary.
pub const PROTOCOL_VERSION: u32 = 1;
