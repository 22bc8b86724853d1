//! Any bytes as an HTTP tracker response (the client side): an error or a response, never a
//! panic; a parsed announce response re-encodes and parses to the same peers and counts.
#![no_main]

use bf_tracker::http_codec::{decode_announce, decode_scrape, encode_announce, encode_scrape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = decode_announce(data) {
        r.warning = None;
        // Dictionary form keeps the order; compact form groups IPv4 first.
        let again = decode_announce(&encode_announce(&r, false, true)).expect("re-encoded parses");
        assert_eq!(again.peers.len(), r.peers.len());
        assert_eq!(
            (again.complete, again.incomplete, again.interval),
            (r.complete, r.incomplete, r.interval)
        );
    }
    if let Ok(s) = decode_scrape(data) {
        let again = decode_scrape(&encode_scrape(&s)).expect("re-encoded scrape parses");
        assert!(again.files.len() <= s.files.len());
    }
});
