//! `--nat-check`: the tracker connects back to each new peer before handing it out. A
//! libtorrent seeder that listens is handed out once its handshake answered; an announce
//! whose port nothing listens on is answered but never given to anyone, and the results
//! are logged (`--log-nat-checks`).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bf_metainfo::InfoHash;
use bf_testkit::clients;

/// Peers the tracker gives a probing leecher of `h`.
fn peers_for(port: u16, h: &InfoHash, probe_port: u16) -> Vec<SocketAddr> {
    let mut q = String::from("/announce?info_hash=");
    bf_tracker::query::percent_encode(h.as_bytes(), &mut q);
    q.push_str(&format!(
        "&peer_id=-XX0001-probe0000000&port={probe_port}&left=1&compact=1&numwant=50"
    ));
    let (_, body) = common::http_get(port, &q);
    let r = bf_tracker::http_codec::decode_announce(&body).unwrap();
    r.peers.iter().map(|p| p.addr).collect()
}

#[test]
fn only_peers_that_answer_a_handshake_are_handed_out() {
    if !bf_testkit::require_libtorrent() {
        return;
    }
    let t = common::start(&[
        "--nat-check",
        "2",
        "--log-nat-checks",
        "--no-log",
        "--max-requests-per-ip",
        "0",
    ]);
    let dir = bf_testkit::temp_dir();
    let data = common::content(300_000, 41);
    let (bytes, h) = common::make_torrent("nat.bin", &data, &t.announce_url());
    let torrent = dir.path().join("nat.torrent");
    std::fs::write(&torrent, bytes).unwrap();
    std::fs::write(dir.path().join("nat.bin"), &data).unwrap();

    // A peer announcing a port nothing listens on.
    let dead = bf_testkit::free_port();
    let mut q = String::from("/announce?info_hash=");
    bf_tracker::query::percent_encode(h.as_bytes(), &mut q);
    q.push_str(&format!(
        "&peer_id=-XX0001-dead00000000&port={dead}&left=0&event=started"
    ));
    let (status, body) = common::http_get(t.port, &q);
    assert_eq!(status, 200);
    assert!(
        bf_tracker::http_codec::decode_announce(&body).is_ok(),
        "an unchecked peer still gets an answer: {}",
        String::from_utf8_lossy(&body)
    );

    // A libtorrent seeder that listens, announcing by itself.
    let lt_port = bf_testkit::free_port();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut lt = clients::libtorrent(
        "lt-seed",
        &logs,
        lt_port,
        &[(&torrent, dir.path())],
        &[],
        60,
    );
    assert!(clients::libtorrent_ready(
        &mut lt,
        0,
        Duration::from_secs(20)
    ));
    let lt_addr = SocketAddr::from(([127, 0, 0, 1], lt_port));
    let dead_addr = SocketAddr::from(([127, 0, 0, 1], dead));

    let mut seen = Vec::new();
    let handed = bf_testkit::wait_until(Duration::from_secs(30), || {
        seen = peers_for(t.port, &h, 1);
        seen.contains(&lt_addr)
    });
    assert!(
        handed,
        "libtorrent was not handed out: {seen:?}; {}",
        lt.log_tail()
    );
    assert!(bf_testkit::wait_until(Duration::from_secs(15), || {
        t.stderr_contains(&format!("NAT check {dead_addr}"))
    }));
    assert!(t.stderr_contains(&format!(
        "NAT check {dead_addr} for {}: unreachable",
        h.to_hex()
    )));
    assert!(t.stderr_contains(&format!(
        "NAT check {lt_addr} for {}: reachable",
        h.to_hex()
    )));
    let seen = peers_for(t.port, &h, 2);
    assert!(seen.contains(&lt_addr), "{seen:?}");
    assert!(
        !seen.contains(&dead_addr),
        "an unreachable peer was handed out: {seen:?}"
    );
    // The unreachable seed is in no count either: only libtorrent seeds.
    assert_eq!(common::scrape(t.port, &h).complete, 1);
}
