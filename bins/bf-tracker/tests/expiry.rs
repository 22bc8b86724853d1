//! Peers that stop announcing are dropped after `--peer-timeout` seconds; the completed count
//! stays.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bf_metainfo::InfoHash;

#[test]
fn silent_peers_expire() {
    let t = common::start(&["--peer-timeout", "1", "--no-log"]);
    let h = InfoHash([0x71; 20]);
    let mut q = String::from("/announce?info_hash=");
    bf_tracker::query::percent_encode(h.as_bytes(), &mut q);
    common::http_get(
        t.port,
        &format!("{q}&peer_id=-BF0100-000000000001&port=9001&left=3"),
    );
    common::http_get(
        t.port,
        &format!("{q}&peer_id=-BF0100-000000000001&port=9001&left=0&event=completed"),
    );
    let s = common::scrape(t.port, &h);
    assert_eq!((s.complete, s.downloaded), (1, 1));
    assert!(bf_testkit::wait_until(Duration::from_secs(10), || {
        common::scrape(t.port, &h).complete == 0
    }));
    assert_eq!(
        common::scrape(t.port, &h).downloaded,
        1,
        "the completed count outlives the peers"
    );
}
