//! Any bytes as an HTTP announce or scrape query: an error or a request, never a panic; a
//! parsed announce rebuilds into a query that parses to the same request.
#![no_main]

use bf_tracker::query::{announce_query, parse_announce, parse_scrape, scrape_query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = parse_announce(data) {
        let again = parse_announce(announce_query(&r).as_bytes()).expect("rebuilt query parses");
        assert_eq!(again, r);
    }
    if let Ok(s) = parse_scrape(data) {
        let again = parse_scrape(scrape_query(&s).as_bytes()).expect("rebuilt scrape parses");
        assert_eq!(again, s);
    }
});
