//! Any bytes: `Metainfo::from_bytes` returns a torrent or an error; an accepted torrent
//! re-encodes to one with the same info-hash and fields, and its layout lookups stay in range.
#![no_main]

use bf_metainfo::Metainfo;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Metainfo::from_bytes(data) else {
        return;
    };
    let again = Metainfo::from_bytes(&m.to_bytes()).expect("re-encoded torrent must parse");
    assert_eq!(again.info_hash(), m.info_hash());
    assert_eq!(again, m);
    let last = m.piece_count() - 1;
    for i in [0, last / 2, last] {
        let covered: u64 = m.piece_file_slices(i).iter().map(|s| s.len).sum();
        assert_eq!(Some(covered), m.piece_size(i));
        assert!(m.piece_hash(i).is_some());
    }
    assert!(m.piece_hash(last + 1).is_none());
});
