//! A mixed swarm over loopback, through bf-tracker: a libtorrent seeder and a bf-console
//! seeder, and bf-console downloaders (which speak the fountain extension with the bf
//! seeder and plain BEP 3 with libtorrent) that use both; then the bf seeder alone serving
//! one of ours and a libtorrent downloader at once. Everyone completes; every copy is
//! compared byte for byte.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bf_testkit::clients::{self, field};
use bf_testkit::free_port;
use common::{phase, Dir, STEP};

#[test]
fn libtorrent_and_bf_seeders_with_bf_and_libtorrent_downloaders() {
    if !common::tools(true, &[]) {
        return;
    }
    let start = Instant::now();
    let dir = Dir::new();
    let tracker = common::BfTracker::start();
    let url = tracker.http_url();
    let t = common::single_file(&dir, "payload.bin", 8 * 1024 * 1024 + 321, 31, &[&url]);

    // The seeders: libtorrent, and ours (limited, so that the libtorrent seeder matters).
    let lt_seed_port = free_port();
    let mut lt_seed = clients::libtorrent(
        "libtorrent-seeder",
        &dir.logs(),
        lt_seed_port,
        &[(&t.file, t.seed_dir())],
        &[],
        150,
    );
    assert!(
        clients::libtorrent_wait(&mut lt_seed, 0, STEP, |l| field(l, "seeding") == Some("1"))
            .is_some(),
        "libtorrent never seeded"
    );
    let mut bf_seed = common::console(
        "bf-seeder",
        &dir,
        &t.file,
        &t.seed_path(),
        &["--max-upload-rate", "3M"],
    );
    bf_seed.wait_seeding(STEP);
    bf_seed.wait_announced(STEP);
    assert!(
        common::wait_scrape(tracker.port, &t.info_hash(), STEP, |s| s.complete >= 2),
        "the tracker never counted both seeders"
    );
    phase(start, "a libtorrent and a bf seeder announced");

    // 1. Two of our downloaders, from both seeders.
    for name in ["bf-downloader-1", "bf-downloader-2"] {
        let out = dir.sub(name).join(t.name());
        let mut c = common::console(name, &dir, &t.file, &out, &["--exit-on-complete"]);
        c.wait_success(STEP);
        t.assert_downloaded(name, &out, Duration::ZERO);
        let connected = c.peers_connected();
        assert!(
            connected.iter().any(|a| a.port() == lt_seed_port),
            "{name} never connected to libtorrent: {connected:?}"
        );
        assert!(
            connected.iter().any(|a| a.port() == bf_seed.port),
            "{name} never connected to the bf seeder: {connected:?}"
        );
        c.assert_no_trouble();
    }
    phase(
        start,
        "both bf downloaders complete from libtorrent and bf seeders",
    );
    drop(lt_seed);
    let sent_before = bf_seed
        .last_status()
        .and_then(|v| v["uploaded"].as_u64())
        .unwrap_or(0);

    // 2. The bf seeder alone serves one of ours and a libtorrent downloader at once.
    let out = dir.sub("bf-downloader-3").join(t.name());
    let mut ours = common::console(
        "bf-downloader-3",
        &dir,
        &t.file,
        &out,
        &["--exit-on-complete"],
    );
    let lt_dl_dir = dir.sub("libtorrent-downloader");
    let mut lt_dl = clients::libtorrent(
        "libtorrent-downloader",
        &dir.logs(),
        free_port(),
        &[(&t.file, &lt_dl_dir)],
        &[bf_seed.port],
        150,
    );
    ours.wait_success(STEP);
    t.assert_downloaded("bf-downloader-3", &out, Duration::ZERO);
    ours.assert_no_trouble();
    let done = clients::libtorrent_wait(&mut lt_dl, 0, STEP, |l| field(l, "seeding") == Some("1"));
    assert!(done.is_some(), "the libtorrent downloader never completed");
    t.assert_downloaded("libtorrent-downloader", &lt_dl_dir.join(t.name()), STEP);
    phase(
        start,
        "a bf and a libtorrent downloader complete from the bf seeder",
    );
    let seen = clients::libtorrent_last(&lt_dl, 0).unwrap();
    assert!(
        field(&seen, "seen")
            .unwrap_or("")
            .split(',')
            .any(|c| c == format!("out:{}", bf_seed.port)),
        "libtorrent never dialled the bf seeder: {seen}"
    );
    // The only seed: at least one whole copy came from it in this round.
    let sent = bf_seed.wait_status_at_least("uploaded", sent_before + t.len(), STEP);
    assert!(
        sent >= sent_before + t.len(),
        "the bf seeder sent {} bytes in the second round",
        sent - sent_before
    );
    bf_seed.assert_no_trouble();
}
