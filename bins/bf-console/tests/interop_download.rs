//! bf-console as the downloader, from real seeders over loopback, finding them through a
//! tracker: a libtorrent seeder of a single-file and a multi-file torrent announced to
//! opentracker, and two transmission-cli seeders (one of each kind) announced to bf-tracker,
//! both over UDP. The seeders announce first; each of our downloaders (`--exit-on-complete`,
//! no `--peer`) announces, learns its seeder from the tracker's answer and dials it (the
//! seeders could learn of us from the tracker only at their next announce, half an hour
//! later).
//! Every file is compared byte for byte, the empty one included.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bf_testkit::clients::{self, field};
use bf_testkit::free_port;
use common::{phase, Console, Dir, TestTorrent, STEP};

/// Starts our downloader of `t` into `dir/NAME/`, told of no peer.
fn downloader(dir: &Dir, name: &str, t: &TestTorrent) -> (Console, std::path::PathBuf) {
    let out = dir.sub(name).join(t.name());
    let c = common::console(name, dir, &t.file, &out, &["--exit-on-complete"]);
    (c, out)
}

/// Waits for our downloader to finish, and checks what it got and how: every byte from
/// the seeder listening on `seeder_port`, which it dialed.
fn check_download(
    start: Instant,
    c: &mut Console,
    t: &TestTorrent,
    out: &std::path::Path,
    seeder_port: u16,
) {
    let name = c.program.name().to_string();
    c.wait_success(STEP);
    phase(start, &format!("{name} complete (it exited)"));
    t.assert_downloaded(&name, out, Duration::ZERO);
    assert!(
        c.events().iter().any(|v| v["event"] == "completed"),
        "{name}: no completed event"
    );
    let connected = c.peers_connected();
    assert!(
        connected.iter().any(|a| a.port() == seeder_port),
        "{name} never connected to the seeder at 127.0.0.1:{seeder_port}: {connected:?}"
    );
    let announced = c
        .events()
        .iter()
        .filter(|v| v["event"] == "tracker_announced")
        .filter_map(|v| v["peers"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(announced >= 1, "{name}: the tracker gave no peer");
    c.assert_no_trouble();
}

#[test]
fn downloads_single_and_multi_file_torrents_from_libtorrent_through_opentracker() {
    if !common::tools(true, &["opentracker"]) {
        return;
    }
    let start = Instant::now();
    let dir = Dir::new();
    let len = 5 * 1024 * 1024 + 999;
    let mut single = common::single_file(&dir, "payload.bin", len, 11, &[]);
    let mut multi = common::multi_file(&dir, "album", &common::ALBUM, 12, &[]);
    let ot = clients::Opentracker::start(
        &dir.logs(),
        &dir.path().join("opentracker"),
        &[single.hex(), multi.hex()],
    );
    for t in [&mut single, &mut multi] {
        let file = dir.path().join(format!("{}-udp.torrent", t.name()));
        t.file = t.with_trackers(&file, &[&ot.udp_url()]);
    }

    // One libtorrent session seeds both.
    let lt_port = free_port();
    let mut lt = clients::libtorrent(
        "libtorrent-seeder",
        &dir.logs(),
        lt_port,
        &[
            (&single.file, single.seed_dir()),
            (&multi.file, multi.seed_dir()),
        ],
        &[],
        150,
    );
    for (i, t) in [&single, &multi].into_iter().enumerate() {
        let seeding = clients::libtorrent_wait(&mut lt, i, STEP, |l| {
            field(l, "seeding") == Some("1") && field(l, "paused") == Some("0")
        });
        assert!(seeding.is_some(), "libtorrent never seeded {}", t.name());
        assert!(
            common::wait_scrape(ot.port, &t.info_hash(), STEP, |s| s.complete >= 1),
            "opentracker never counted libtorrent seeding {}",
            t.name()
        );
    }
    phase(start, "libtorrent seeds both torrents, announced");

    let (mut a, a_out) = downloader(&dir, "bf-single", &single);
    let (mut b, b_out) = downloader(&dir, "bf-multi", &multi);
    check_download(start, &mut a, &single, &a_out, lt_port);
    check_download(start, &mut b, &multi, &b_out, lt_port);

    // Our downloaders told opentracker they completed (it counts `completed` events).
    for t in [&single, &multi] {
        let s = common::scrape(ot.port, &t.info_hash());
        assert!(s.downloaded >= 1, "{}: {s:?}", t.name());
    }
    // libtorrent took a connection for each (ours: we dialed it). It may dial us back once
    // our extended handshake gave it our port; we keep one connection per peer.
    for i in 0..2 {
        let last = clients::libtorrent_last(&lt, i).unwrap();
        let seen = field(&last, "seen").unwrap_or("");
        assert!(
            seen.split(',').any(|c| c.starts_with("in:")),
            "libtorrent: {last}"
        );
    }
}

#[test]
fn downloads_single_and_multi_file_torrents_from_transmission_through_bf_tracker() {
    if !common::tools(false, &["transmission-cli"]) {
        return;
    }
    let start = Instant::now();
    let dir = Dir::new();
    let tracker = common::BfTracker::start();
    let url = tracker.udp_url();
    let len = 5 * 1024 * 1024 + 4097;
    let single = common::single_file(&dir, "payload.bin", len, 21, &[&url]);
    let multi = common::multi_file(&dir, "album", &common::ALBUM, 22, &[&url]);

    // Two transmission seeders, one per torrent (it runs one torrent per process).
    let mut seeders = Vec::new();
    for (name, t) in [
        ("transmission-single", &single),
        ("transmission-multi", &multi),
    ] {
        let port = free_port();
        let never = dir.path().join(format!("{name}-finished"));
        let tr = clients::transmission(name, &dir.logs(), &t.file, t.seed_dir(), port, &never);
        seeders.push((tr, port));
    }
    for ((tr, _), t) in seeders.iter_mut().zip([&single, &multi]) {
        assert!(
            clients::transmission_ready(tr, STEP),
            "{}: not ready",
            tr.name()
        );
        assert!(
            common::wait_scrape(tracker.port, &t.info_hash(), STEP, |s| s.complete >= 1),
            "bf-tracker never counted {} seeding",
            tr.name()
        );
    }
    phase(start, "both transmission seeders announced");

    let (mut a, a_out) = downloader(&dir, "bf-single", &single);
    let (mut b, b_out) = downloader(&dir, "bf-multi", &multi);
    check_download(start, &mut a, &single, &a_out, seeders[0].1);
    check_download(start, &mut b, &multi, &b_out, seeders[1].1);
    // Our downloaders announced too: the tracker counts their completions.
    for t in [&single, &multi] {
        let s = common::scrape(tracker.port, &t.info_hash());
        assert!(s.downloaded >= 1, "{}: {s:?}", t.name());
    }
}
