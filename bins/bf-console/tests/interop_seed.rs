//! bf-console as the seeder of real clients over loopback: one bf-console pointed with
//! `--saveas` at the complete data serves libtorrent, aria2c and transmission-cli at once,
//! for a single-file torrent (libtorrent finds it through bf-tracker) and a multi-file one
//! (aria2 finds it through opentracker). Every downloaded file is compared byte for byte.
//!
//! Each downloader can reach no one but our seeder, so each completed download is ours:
//! the client that finds us through the tracker has the only copy of the torrent that
//! names one; the others have a copy without trackers (same info-hash) and our seeder
//! dials them (`--peer`); no client here sends PEX; and our upload counter must reach
//! three times the content.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use bf_testkit::clients::{self, field, num_field, Program};
use bf_testkit::free_port;
use common::{phase, Dir, TestTorrent, STEP};

/// Which downloader finds our seeder through the tracker (it starts once the seeder has
/// announced); the other two are dialed by it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Finder {
    Libtorrent,
    Aria2,
}

/// Serves `t` (whose file names the tracker on `tracker_port`) to libtorrent, aria2 and
/// transmission at once, and checks what each one got.
fn serve_three(dir: &Dir, t: &TestTorrent, tracker_port: u16, finder: Finder) {
    let start = Instant::now();
    let logs = dir.logs();
    let quiet = t.with_trackers(&dir.path().join("no-tracker.torrent"), &[]);
    let (lt_port, a_port, tr_port) = (free_port(), free_port(), free_port());
    let (lt_dir, a_dir, tr_dir) = (
        dir.sub("libtorrent"),
        dir.sub("aria2"),
        dir.sub("transmission"),
    );
    let tr_done = dir.path().join("transmission-finished");
    let start_lt = |torrent: &Path| {
        clients::libtorrent(
            "libtorrent",
            &logs,
            lt_port,
            &[(torrent, &lt_dir)],
            &[],
            150,
        )
    };
    let start_aria2 = |torrent: &Path| clients::aria2("aria2", &logs, torrent, &a_dir, a_port);

    // Those our seeder dials take peers before it starts (a failed dial is retried only
    // after 30 s). transmission drops peers while it verifies, and a probe connection would
    // keep us out for a while (it keeps one peer per IP): its log says when it is ready.
    let mut tr = clients::transmission("transmission", &logs, &quiet, &tr_dir, tr_port, &tr_done);
    let mut dial = vec![tr_port];
    let (mut lt, mut a) = (None, None);
    match finder {
        Finder::Aria2 => {
            // libtorrent resets connections for a torrent it has not started yet.
            let mut p = start_lt(&quiet);
            assert!(
                clients::libtorrent_ready(&mut p, 0, STEP),
                "libtorrent never started the torrent"
            );
            lt = Some(p);
            dial.push(lt_port);
        }
        Finder::Libtorrent => {
            a = Some(start_aria2(&quiet));
            assert!(
                clients::wait_listening(a_port, STEP),
                "aria2 never listened"
            );
            dial.push(a_port);
        }
    }
    assert!(
        clients::transmission_ready(&mut tr, STEP),
        "transmission never got ready"
    );
    phase(start, "the downloaders our seeder dials take peers");

    let peers: Vec<String> = dial.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut args = Vec::new();
    for p in &peers {
        args.extend(["--peer", p.as_str()]);
    }
    let mut seeder = common::console("bf-seeder", dir, &t.file, &t.seed_path(), &args);
    seeder.wait_seeding(STEP);
    phase(start, "our seeder checked the data and is seeding");
    seeder.wait_announced(STEP);
    assert!(
        common::wait_scrape(tracker_port, &t.info_hash(), STEP, |s| s.complete >= 1),
        "the tracker never counted our seeder"
    );
    phase(start, "our seeder announced");

    // The finder starts only now: the tracker's answer to it holds our seeder.
    match finder {
        Finder::Libtorrent => lt = Some(start_lt(&t.file)),
        Finder::Aria2 => a = Some(start_aria2(&t.file)),
    }
    let (mut lt, mut a): (Program, Program) = (lt.unwrap(), a.unwrap());

    let done = clients::libtorrent_wait(&mut lt, 0, STEP, |l| num_field(l, "seeding") == 1);
    assert!(done.is_some(), "libtorrent did not complete");
    phase(start, "libtorrent complete");
    match a.wait_exit(STEP) {
        Some(s) if s.success() => phase(start, "aria2 complete (it exited)"),
        other => {
            // Whether it had the data says whose failure it was.
            let data = std::panic::catch_unwind(|| {
                t.assert_downloaded("aria2", &a_dir.join(t.name()), Duration::ZERO)
            });
            panic!(
                "aria2c did not complete: {other:?}, data complete: {}",
                data.is_ok()
            );
        }
    }
    assert!(
        bf_testkit::wait_until(STEP, || tr_done.exists()),
        "transmission did not complete"
    );
    phase(start, "transmission complete");

    // A client may say it is complete just before its last write lands.
    let grace = Duration::from_secs(10);
    t.assert_downloaded("libtorrent", &lt_dir.join(t.name()), grace);
    t.assert_downloaded("aria2", &a_dir.join(t.name()), grace);
    t.assert_downloaded_but_empty_files("transmission", &tr_dir.join(t.name()), grace);
    phase(start, "all three downloads are the content, byte for byte");

    // libtorrent's connections were with us, made the way the test says: as the finder it
    // dialed our port (or one of the next eight bf-console tries when it is taken); dialed
    // by us, it took our connection (it may also dial back the port we told it).
    let last = clients::libtorrent_last(&lt, 0).unwrap();
    let seen: Vec<&str> = field(&last, "seen").unwrap_or("").split(',').collect();
    let ours = |c: &&str| {
        c.strip_prefix("out:")
            .and_then(|p| p.parse::<u16>().ok())
            .is_some_and(|p| (seeder.port..=seeder.port.saturating_add(8)).contains(&p))
    };
    match finder {
        Finder::Libtorrent => assert!(
            seen.iter().all(ours) && !seen.is_empty(),
            "libtorrent (our port {}): {last}",
            seeder.port
        ),
        Finder::Aria2 => assert!(
            seen.iter().any(|c| c.starts_with("in:"))
                && seen.iter().all(|c| c.starts_with("in:") || ours(c)),
            "libtorrent (our port {}): {last}",
            seeder.port
        ),
    }
    // We connected to those we were told to dial; the finder connected to us.
    let connected = seeder.peers_connected();
    for p in &dial {
        assert!(
            connected.iter().any(|a| a.port() == *p),
            "our seeder never connected to 127.0.0.1:{p}: {connected:?}"
        );
    }
    assert!(
        connected.iter().any(|a| !dial.contains(&a.port())),
        "the finder never connected to our seeder: {connected:?}"
    );
    // Every byte they have came from us.
    let want = 3 * t.len();
    let uploaded = seeder.wait_status_at_least("uploaded", want, Duration::from_secs(10));
    assert!(uploaded >= want, "our seeder uploaded {uploaded} < {want}");
    seeder.assert_no_trouble();
    assert!(seeder.program.try_wait().is_none(), "our seeder exited");
}

#[test]
fn seeds_a_single_file_to_libtorrent_aria2_and_transmission_through_bf_tracker() {
    if !common::tools(true, &["aria2c", "transmission-cli"]) {
        return;
    }
    let dir = Dir::new();
    let tracker = common::BfTracker::start();
    let len = 6 * 1024 * 1024 + 4321;
    let t = common::single_file(&dir, "payload.bin", len, 1, &[&tracker.http_url()]);
    assert!(t.meta.is_single_file());
    serve_three(&dir, &t, tracker.port, Finder::Libtorrent);
}

#[test]
fn seeds_a_multi_file_torrent_to_libtorrent_aria2_and_transmission_through_opentracker() {
    if !common::tools(true, &["aria2c", "transmission-cli", "opentracker"]) {
        return;
    }
    let dir = Dir::new();
    let mut t = common::multi_file(&dir, "album", &common::ALBUM, 2, &[]);
    assert!(!t.meta.is_single_file());
    let ot = clients::Opentracker::start(&dir.logs(), &dir.path().join("opentracker"), &[t.hex()]);
    t.file = t.with_trackers(&dir.path().join("album.torrent"), &[&ot.http_url()]);
    serve_three(&dir, &t, ot.port, Finder::Aria2);
}
