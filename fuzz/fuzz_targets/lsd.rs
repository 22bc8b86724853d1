//! Any bytes as a local service discovery datagram (BEP 14): an error or an announce, never
//! a panic, and what parses re-encodes to an announce that parses the same.
#![no_main]

use bf_client::lsd::{Announce, GROUP, MAX_HASHES};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = Announce::parse(data) {
        assert!(!a.info_hashes.is_empty() && a.info_hashes.len() <= MAX_HASHES);
        assert_ne!(a.port, 0);
        // A cookie with a line break cannot be written back as one header.
        if a.cookie.as_deref().is_none_or(|c| !c.contains(['\r', '\n'])) {
            let again = Announce::parse(&a.encode(GROUP));
            if let Ok(again) = again {
                assert_eq!(again, a);
            } else {
                // Only the size bound may refuse what was read: a long cookie.
                assert!(a.encode(GROUP).len() > bf_client::lsd::MAX_DATAGRAM);
            }
        }
    }
});
