//! Any text: `Magnet::parse` returns a link or an error; an accepted link formats to text
//! that parses back to the same link.
#![no_main]

use bf_metainfo::Magnet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for text in [s.to_owned(), format!("magnet:?{s}")] {
        if let Ok(m) = Magnet::parse(&text) {
            assert_eq!(Magnet::parse(&m.to_string()), Ok(m));
        }
    }
});
