//! Trackerless operation over a private DHT on loopback, no tracker running: a
//! `bf-console dht-node` is the router; trackerless torrents carry it in their `nodes`.
//! A torrent seeded by bf-console is downloaded by bf-console and by libtorrent (its own DHT
//! node bootstrapping from the router), and one seeded by libtorrent is downloaded by
//! bf-console. Peers are found only through the DHT (no `--peer`, no tracker); every file
//! is compared byte for byte, and the downloaders say they connected to the seeder.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use bf_testkit::clients::{self, field, Program};
use bf_testkit::free_port;
use common::{phase, Dir, STEP};

/// A `bf-console dht-node` on loopback with `extra` arguments, once it is up.
fn dht_node(dir: &Dir, name: &str, port: u16, extra: &[&str]) -> Program {
    let mut p = Program::spawn(
        name,
        Command::new(env!("CARGO_BIN_EXE_bf-console"))
            .args(["dht-node", "--bind", "127.0.0.1", "--json"])
            .args(["--port", &port.to_string()])
            .args(extra)
            .env("BF_DHT_ROUTERS", "")
            .env("RUST_LOG", "info"),
        &dir.logs(),
    );
    assert!(
        p.wait_line(STEP, |l| l.contains(r#""event":"dht""#))
            .is_some(),
        "{name} did not start"
    );
    p
}

/// The router: a bf-console DHT node that downloads nothing.
fn router(dir: &Dir) -> (Program, SocketAddr) {
    let port = free_port();
    let p = dht_node(dir, "dht-router", port, &[]);
    (p, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Waits until the node says it knows at least one other node.
fn knows_a_node(p: &mut Program) -> bool {
    p.wait_line(STEP, |l| {
        l.contains(r#""event":"dht""#) && !l.contains(r#""nodes":0"#)
    })
    .is_some()
}

#[test]
fn a_routing_node_keeps_its_table_across_restarts() {
    let dir = Dir::new();
    let (_router, router_addr) = router(&dir);
    let state = dir.path().join("dht.nodes");
    let port = free_port();
    let state_arg = state.to_str().unwrap();
    let boot = router_addr.to_string();
    let mut first = dht_node(
        &dir,
        "node-1",
        port,
        &["--state", state_arg, "--dht-bootstrap", &boot],
    );
    assert!(knows_a_node(&mut first), "it never learned the router");
    let _ = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status();
    assert!(first.wait_exit(STEP).is_some_and(|s| s.success()));
    let saved = std::fs::read_to_string(&state).unwrap();
    assert!(saved.lines().any(|l| l == boot), "{saved:?}");
    // No bootstrap node given this time: only what it saved.
    let mut again = dht_node(&dir, "node-2", port, &["--state", state_arg]);
    assert!(knows_a_node(&mut again), "the saved table was not used");
}

#[test]
fn trackerless_torrents_go_between_bf_and_libtorrent_over_a_private_dht() {
    if !common::tools(true, &[]) {
        return;
    }
    let start = Instant::now();
    let dir = Dir::new();
    let (_router, router_addr) = router(&dir);
    phase(start, "router up");
    let ours = common::trackerless(&dir, "ours.bin", 3 * 1024 * 1024 + 77, 51, &[router_addr]);
    let theirs = common::trackerless(&dir, "theirs.bin", 2 * 1024 * 1024 + 5, 52, &[router_addr]);
    assert!(ours.meta.trackers().is_empty() && !ours.meta.nodes().is_empty());

    // Our seeder joins the DHT through the torrent's nodes and announces itself there.
    let mut seeder = common::console("bf-seeder", &dir, &ours.file, &ours.seed_path(), &[]);
    seeder.wait_seeding(STEP);

    // libtorrent seeds the other torrent and downloads ours, its DHT bootstrapping from
    // the router.
    let lt_port = free_port();
    let lt_out = dir.sub("lt");
    let mut lt = clients::libtorrent_with_dht(
        "libtorrent",
        &dir.logs(),
        lt_port,
        &[(&theirs.file, theirs.seed_dir()), (&ours.file, &lt_out)],
        &[],
        &[router_addr.to_string()],
        240,
    );

    // Our downloaders: of ours (from our seeder) and of theirs (from libtorrent).
    let out_ours = dir.sub("bf-ours").join(ours.name());
    let mut dl_ours = common::console(
        "bf-dl-ours",
        &dir,
        &ours.file,
        &out_ours,
        &["--exit-on-complete"],
    );
    let out_theirs = dir.sub("bf-theirs").join(theirs.name());
    let mut dl_theirs = common::console(
        "bf-dl-theirs",
        &dir,
        &theirs.file,
        &out_theirs,
        &["--exit-on-complete"],
    );

    dl_ours.wait_success(STEP);
    phase(start, "bf downloaded the bf seeder's torrent");
    ours.assert_downloaded("bf-dl-ours", &out_ours, Duration::ZERO);
    // It found the seeder (or the seeder found it: either dials whom the DHT names).
    assert!(!dl_ours.peers_connected().is_empty());
    dl_ours.assert_no_trouble();

    dl_theirs.wait_success(STEP);
    phase(start, "bf downloaded libtorrent's torrent");
    theirs.assert_downloaded("bf-dl-theirs", &out_theirs, Duration::ZERO);
    // The only holder of that torrent is libtorrent: it sent it.
    assert!(!dl_theirs.peers_connected().is_empty());
    let lt_sent =
        clients::libtorrent_wait(&mut lt, 0, STEP, |l| clients::num_field(l, "uploaded") > 0);
    assert!(lt_sent.is_some(), "libtorrent says it uploaded nothing");
    dl_theirs.assert_no_trouble();

    let done = clients::libtorrent_wait(&mut lt, 1, STEP, |l| field(l, "seeding") == Some("1"));
    assert!(
        done.is_some(),
        "libtorrent did not complete our torrent: {}",
        lt.log_tail()
    );
    phase(start, "libtorrent downloaded the bf seeder's torrent");
    ours.assert_downloaded(
        "libtorrent",
        &lt_out.join(ours.name()),
        Duration::from_secs(5),
    );
    let sent = seeder.wait_status_at_least("uploaded", 1, STEP);
    assert!(sent > 0, "the bf seeder sent nothing");
    seeder.assert_no_trouble();
}
