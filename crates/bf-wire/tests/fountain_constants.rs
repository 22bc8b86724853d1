//! The numbers bf_raptorq defines (`docs/fountain-extension.md`) are written down twice:
//! in bf-wire, which speaks the protocol, and in bf-fountain, which codes the pieces.
//! Neither crate depends on the other, so this test is what keeps the two copies equal.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use bf_fountain::{PieceLayout, MAX_PIECE_LEN};
use bf_metainfo::{InfoHash, PeerId};
use bf_wire::extended::{BF_RAPTORQ, FOUNTAIN_VERSION, SYMBOL_SIZE};
use bf_wire::fountain::{esi_cap, ESI_LIMIT, REPAIR_HEADROOM};
use bf_wire::{Connection, ConnectionConfig, FountainParams, Handshake, LocalExtensions};
use bf_wire::{ShapeError, TorrentShape};

#[test]
fn every_constant_is_the_same_in_both_crates() {
    assert_eq!(SYMBOL_SIZE as usize, bf_fountain::SYMBOL_SIZE);
    assert_eq!(ESI_LIMIT, bf_fountain::ESI_LIMIT);
    assert_eq!(REPAIR_HEADROOM, bf_fountain::REPAIR_HEADROOM);
    assert_eq!(BF_RAPTORQ, bf_fountain::EXTENSION_NAME);
    assert_eq!(FOUNTAIN_VERSION, bf_fountain::PROTOCOL_VERSION);
    // What a connection announces by default is that version and symbol size.
    let v1 = FountainParams {
        version: bf_fountain::PROTOCOL_VERSION,
        symbol_size: bf_fountain::SYMBOL_SIZE as u32,
    };
    assert_eq!(FountainParams::V1, v1);
    assert_eq!(LocalExtensions::default().fountain, v1);
}

/// Piece lengths to compare at: every K at and around its boundaries (T - 1, T, T + 1 bytes
/// into it), and a spread of lengths in between, up to the largest piece bf-fountain codes.
fn piece_lengths() -> impl Iterator<Item = u64> {
    let t = bf_fountain::SYMBOL_SIZE as u64;
    let boundaries = (1..=MAX_PIECE_LEN / t).flat_map(move |k| [k * t - 1, k * t, k * t + 1]);
    // A fixed odd stride walks through every residue of T.
    let spread = (1..MAX_PIECE_LEN).step_by(7919);
    [1, 2]
        .into_iter()
        .chain(boundaries)
        .chain(spread)
        .filter(|&len| len <= MAX_PIECE_LEN)
}

#[test]
fn esi_cap_is_the_layouts_esi_limit() {
    let mut n = 0;
    for len in piece_lengths() {
        let layout = PieceLayout::new(len).unwrap();
        assert_eq!(
            esi_cap(len as u32, SYMBOL_SIZE),
            layout.esi_limit(),
            "piece of {len} bytes"
        );
        n += 1;
    }
    assert!(n > 3 * 4096);
}

/// A connection to a torrent of the given shape, with the default (version 1) settings.
fn connection(shape: Result<TorrentShape, ShapeError>) -> Connection {
    let peer = Handshake::new(InfoHash([1; 20]), PeerId([2; 20]));
    Connection::new(
        ConnectionConfig::default(),
        &peer,
        Some(shape.unwrap()),
        Instant::now(),
    )
}

#[test]
fn connection_esi_cap_is_the_layouts_esi_limit() {
    // Every piece of a torrent, and the last, shorter one.
    for len in piece_lengths().step_by(5) {
        let whole = connection(TorrentShape::new(len as u32, 3 * len));
        for piece in 0..3 {
            assert_eq!(
                whole.esi_cap(piece),
                Some(PieceLayout::new(len).unwrap().esi_limit()),
                "piece {piece} of {len} bytes"
            );
        }
        let tail = len / 3 + 1;
        let short = connection(TorrentShape::new(len as u32, len + tail));
        assert_eq!(
            short.esi_cap(1),
            Some(PieceLayout::new(tail).unwrap().esi_limit()),
            "last piece of {tail} bytes"
        );
        assert_eq!(short.esi_cap(2), None);
    }
}
