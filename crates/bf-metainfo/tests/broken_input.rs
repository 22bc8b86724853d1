//! Every torrent in the broken corpus is refused with a one-line error, never a panic.

#![allow(clippy::unwrap_used)]

mod common {
    pub mod broken;
}

use bf_metainfo::Metainfo;
use common::broken::{base_multi, base_single, corpus};

#[test]
fn the_corpus_bases_are_valid() {
    let m = Metainfo::from_bytes(&base_multi().to_bytes()).unwrap();
    assert_eq!(
        (m.files().len(), m.total_length(), m.piece_count()),
        (2, 20_005, 2)
    );
    assert!(m.is_private());
    let s = Metainfo::from_bytes(&base_single().to_bytes()).unwrap();
    assert!(s.is_single_file());
}

#[test]
fn every_broken_torrent_is_refused_with_one_line() {
    let cases = corpus();
    assert!(cases.len() > 500, "corpus has only {} cases", cases.len());
    for (what, bytes) in cases {
        match Metainfo::from_bytes(&bytes) {
            Ok(m) => panic!("{what}: accepted as {:?}", m.name()),
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty() && !msg.contains('\n'), "{what}: {msg:?}");
            }
        }
    }
}
