//! Peer exchange (BEP 11): three bf-console peers, of which two downloaders know only the
//! seeder (no tracker, no DHT); the seeder tells each of the other, and the downloaders end
//! up connected to each other. A private torrent's peers exchange nothing.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{phase, Dir, STEP};

/// Waits until `c` reports a connection with a peer whose port is `port` (either way: the
/// status's peer list names the listen port for peers we dialled).
fn connected_to(c: &mut common::Console, other: &common::Console, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let mine = c.peers_connected();
        let theirs = other.peers_connected();
        // One dialled the other: its peer_connected names the other's listen port, and the
        // other's names the dialler's source port, so either side's view is enough.
        if mine.iter().any(|a| a.port() == other.port) || theirs.iter().any(|a| a.port() == c.port)
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A seeder and two downloaders that know only it; whether the downloaders connected to
/// each other within `within`.
fn downloaders_meet(private: bool, within: Duration) -> bool {
    let start = Instant::now();
    let dir = Dir::new();
    // Large enough that the downloads are still running when the exchange happens: the
    // seeder is slowed down.
    let t = if private {
        common::private_file(&dir, "pex.bin", 8 * 1024 * 1024, 72)
    } else {
        common::single_file(&dir, "pex.bin", 8 * 1024 * 1024, 71, &[])
    };
    let mut seeder = common::console(
        "seeder",
        &dir,
        &t.file,
        &t.seed_path(),
        &["--no-dht", "--max-upload-rate", "1M"],
    );
    seeder.wait_seeding(STEP);
    let s = format!("127.0.0.1:{}", seeder.port);
    let args = ["--no-dht", "--peer", s.as_str()];
    let out_a = dir.sub("a").join("pex.bin");
    let out_b = dir.sub("b").join("pex.bin");
    let mut a = common::console("a", &dir, &t.file, &out_a, &args);
    // Connected to the seeder (a status says so; the first events may come before the
    // JSON printer listens).
    assert!(a.wait_status_at_least("peers", 1, STEP) >= 1);
    let mut b = common::console("b", &dir, &t.file, &out_b, &args);
    let met = connected_to(&mut a, &b, within);
    phase(
        start,
        &format!("private {private}: the downloaders met: {met}"),
    );
    a.wait_event(STEP, |v| v["event"] == "completed").unwrap();
    b.wait_event(STEP, |v| v["event"] == "completed").unwrap();
    t.assert_downloaded("a", &out_a, Duration::ZERO);
    t.assert_downloaded("b", &out_b, Duration::ZERO);
    met
}

#[test]
fn two_downloaders_that_know_only_the_seeder_find_each_other_by_pex() {
    assert!(
        downloaders_meet(false, Duration::from_secs(30)),
        "a and b never connected"
    );
}

#[test]
fn the_peers_of_a_private_torrent_are_not_exchanged() {
    // The public case meets within a few seconds (the first message goes 2 s after a
    // connection); ten give the private case ample time to show it does not.
    assert!(
        !downloaders_meet(true, Duration::from_secs(10)),
        "a and b connected"
    );
}
