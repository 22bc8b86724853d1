//! Magnet links (BEP 9) over loopback, no .torrent file given to the downloader: bf-console
//! fetches the metadata from a libtorrent seeder (named in the link's `x.pe`) and from a bf
//! seeder found through a private DHT (the link holds the info-hash only), saves the
//! `.torrent` beside the data and downloads; libtorrent fetches the metadata from a bf
//! seeder. Every file is compared byte for byte.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bf_metainfo::{Magnet, Metainfo};
use bf_testkit::clients::{self, field, Program};
use bf_testkit::free_port;
use common::{phase, Dir, TestTorrent, STEP};

fn magnet(t: &TestTorrent, peers: &[String]) -> String {
    Magnet {
        info_hash: t.info_hash(),
        name: None,
        trackers: Vec::new(),
        peers: peers.to_vec(),
    }
    .to_string()
}

/// The saved `.torrent` is the original's info dictionary.
fn assert_saved_torrent(t: &TestTorrent, path: &Path) {
    let saved = Metainfo::from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(saved.info_hash(), t.info_hash());
    assert_eq!(saved.info_bytes(), t.meta.info_bytes());
}

#[test]
fn magnet_links_complete_from_libtorrent_and_from_bf_through_the_dht() {
    if !common::tools(true, &[]) {
        return;
    }
    let start = Instant::now();
    let dir = Dir::new();
    let router_port = free_port();
    let mut router = Program::spawn(
        "dht-router",
        Command::new(env!("CARGO_BIN_EXE_bf-console"))
            .args(["dht-node", "--bind", "127.0.0.1", "--json"])
            .args(["--port", &router_port.to_string()])
            .env("BF_DHT_ROUTERS", ""),
        &dir.logs(),
    );
    assert!(router
        .wait_line(STEP, |l| l.contains(r#""event":"dht""#))
        .is_some());
    let router_addr = SocketAddr::from(([127, 0, 0, 1], router_port)).to_string();

    // 1. From libtorrent, named in the link.
    let theirs = common::multi_file(&dir, "album", &common::ALBUM, 61, &[]);
    let lt_port = free_port();
    let mut lt_seed = clients::libtorrent(
        "lt-seeder",
        &dir.logs(),
        lt_port,
        &[(&theirs.file, theirs.seed_dir())],
        &[],
        240,
    );
    assert!(clients::libtorrent_ready(&mut lt_seed, 0, STEP));
    let into = dir.sub("bf-from-lt");
    let link = magnet(&theirs, &[format!("127.0.0.1:{lt_port}")]);
    let mut dl = common::console(
        "bf-magnet-lt",
        &dir,
        Path::new(&link),
        &into.join("x"),
        &["--exit-on-complete", "--no-dht"],
    );
    // --saveas was given as into/x: the data goes there, the .torrent beside it.
    dl.wait_success(STEP);
    phase(
        start,
        "bf fetched the metadata from libtorrent and downloaded",
    );
    theirs.assert_downloaded("bf-magnet-lt", &into.join("x"), Duration::ZERO);
    assert_saved_torrent(&theirs, &into.join("x.torrent"));
    dl.assert_no_trouble();

    // 2. From a bf seeder found through the DHT: the link has the info-hash only.
    let ours = common::single_file(&dir, "ours.bin", 3 * 1024 * 1024 + 11, 62, &[]);
    let boot = ["--dht-bootstrap", router_addr.as_str()];
    let mut seeder = common::console("bf-seeder", &dir, &ours.file, &ours.seed_path(), &boot);
    seeder.wait_seeding(STEP);
    let out = dir.sub("bf-from-bf").join("ours.bin");
    let link = magnet(&ours, &[]);
    let mut dl = common::console(
        "bf-magnet-dht",
        &dir,
        Path::new(&link),
        &out,
        &["--exit-on-complete", boot[0], boot[1]],
    );
    dl.wait_success(STEP);
    phase(
        start,
        "bf fetched the metadata from a bf seeder found through the DHT",
    );
    ours.assert_downloaded("bf-magnet-dht", &out, Duration::ZERO);
    assert_saved_torrent(&ours, &dir.sub("bf-from-bf").join("ours.bin.torrent"));
    dl.assert_no_trouble();

    // 3. libtorrent fetches the metadata from our seeder.
    let lt_out = dir.sub("lt-from-bf");
    let link = magnet(&ours, &[format!("127.0.0.1:{}", seeder.port)]);
    let mut lt = clients::libtorrent(
        "lt-magnet",
        &dir.logs(),
        free_port(),
        &[(Path::new(&link), &lt_out)],
        &[seeder.port],
        240,
    );
    let done = clients::libtorrent_wait(&mut lt, 0, STEP, |l| field(l, "seeding") == Some("1"));
    assert!(
        done.is_some(),
        "libtorrent did not complete the magnet link: {}",
        lt.log_tail()
    );
    phase(
        start,
        "libtorrent fetched the metadata from bf and downloaded",
    );
    ours.assert_downloaded(
        "lt-magnet",
        &lt_out.join("ours.bin"),
        Duration::from_secs(5),
    );
    seeder.assert_no_trouble();
}
