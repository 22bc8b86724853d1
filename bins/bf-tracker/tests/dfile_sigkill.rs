//! `--dfile`: the tracker is killed with SIGKILL while announces keep coming, restarted on the
//! same state file, and serves the same swarm at once, including every peer that announced
//! (or left) a second or two before the kill, long before any periodic save (the journal).
//! Also: a corrupt file is kept aside, a state file in a missing folder is an error.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bf_metainfo::InfoHash;

fn announce(port: u16, hash_byte: u8, peer_port: u16, numwant: u32) -> Option<Vec<SocketAddr>> {
    announce_event(port, hash_byte, peer_port, numwant, "started")
}

fn announce_event(
    port: u16,
    hash_byte: u8,
    peer_port: u16,
    numwant: u32,
    event: &str,
) -> Option<Vec<SocketAddr>> {
    let mut q = String::from("/announce?info_hash=");
    bf_tracker::query::percent_encode(&[hash_byte; 20], &mut q);
    q.push_str(&format!(
        "&peer_id=-BF0100-{peer_port:012}&port={peer_port}&left=1&numwant={numwant}&event={event}"
    ));
    let (_, body) = common::try_http_get(port, &q)?;
    let r = bf_tracker::http_codec::decode_announce(&body).ok()?;
    Some(r.peers.into_iter().map(|p| p.addr).collect())
}

fn saved_peers(path: &std::path::Path) -> usize {
    std::fs::read(path)
        .ok()
        .and_then(|b| bf_tracker::dfile::decode(&b).ok())
        .map_or(0, |v| v.iter().map(|(_, r)| r.peers.len()).sum())
}

#[test]
fn sigkill_under_load_then_restart_serves_the_same_swarm() {
    let dir = bf_testkit::temp_dir();
    let state = dir.path().join("dstate");
    let st = state.to_str().unwrap();
    let port = bf_testkit::free_port();
    let args = [
        "--dfile",
        st,
        "--save-interval",
        "1",
        "--no-log",
        "--max-requests-per-ip",
        "0",
    ];
    let mut t = common::start_on(port, &args);
    // The sockets are bound before the state is loaded, so wait for the file itself.
    assert!(
        bf_testkit::wait_until(Duration::from_secs(10), || state.exists()),
        "a missing dfile is created at start"
    );
    let peers: BTreeSet<SocketAddr> = (0..60u16)
        .map(|i| {
            announce(port, 0x42, 20_000 + i, 0).unwrap();
            format!("127.0.0.1:{}", 20_000 + i).parse().unwrap()
        })
        .collect();
    // Wait for a periodic save that holds them all, while load continues on another torrent.
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let load = std::thread::spawn(move || {
        let mut i = 0u16;
        while !s.load(Ordering::Relaxed) && i < 5000 {
            let _ = announce(port, 0x43, 30_000 + i % 500, 5);
            i += 1;
        }
    });
    assert!(bf_testkit::wait_until(
        Duration::from_secs(15),
        || saved_peers(&state) >= 60
    ));
    std::thread::sleep(Duration::from_millis(300));
    // SIGKILL: no chance to save on the way out.
    t.child.0.kill().unwrap();
    t.child.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    drop(t);

    let t = common::start_on(port, &args);
    let stats = common::scrape(port, &InfoHash([0x42; 20]));
    assert_eq!(
        stats.incomplete, 60,
        "the swarm is back before anyone re-announces"
    );
    let got: BTreeSet<SocketAddr> = announce(port, 0x42, 29_999, 200)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(got, peers);
    drop(t);
}

#[test]
fn sigkill_loses_nothing_announced_a_few_seconds_before() {
    let dir = bf_testkit::temp_dir();
    let state = dir.path().join("dstate");
    let st = state.to_str().unwrap();
    let port = bf_testkit::free_port();
    // No periodic save within the test: what survives, survives through the journal.
    let args = [
        "--dfile",
        st,
        "--save-interval",
        "3600",
        "--no-log",
        "--max-requests-per-ip",
        "0",
        "--max-numwant",
        "10000",
    ];
    let mut t = common::start_on(port, &args);
    assert!(bf_testkit::wait_until(Duration::from_secs(10), || state.exists()));
    // Five peers that leave: the journal must remember the departures too.
    for i in 0..5u16 {
        announce(port, 0x45, 39_000 + i, 0).unwrap();
        announce_event(port, 0x45, 39_000 + i, 0, "stopped").unwrap();
    }
    // Announces keep coming from two threads until the kill; each notes when its peer
    // was answered.
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2u16)
        .map(|k| {
            let s = stop.clone();
            std::thread::spawn(move || {
                let mut done = Vec::new();
                let mut i = 0u16;
                while !s.load(Ordering::Relaxed) && i < 4000 {
                    let p = 40_000 + k * 4000 + i;
                    if announce(port, 0x45, p, 0).is_some() {
                        done.push((std::time::Instant::now(), p));
                    }
                    i += 1;
                }
                done
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let killed = std::time::Instant::now();
    t.child.0.kill().unwrap();
    t.child.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let done: Vec<_> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    drop(t);
    assert_eq!(saved_peers(&state), 0, "no periodic save happened");
    let must: BTreeSet<SocketAddr> = done
        .iter()
        .filter(|(at, _)| *at + Duration::from_secs(2) <= killed)
        .map(|(_, p)| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    assert!(must.len() > 100, "too little load to tell: {}", must.len());

    let t = common::start_on(port, &args);
    let got: BTreeSet<SocketAddr> = announce(port, 0x45, 1, 10_000)
        .unwrap()
        .into_iter()
        .collect();
    let lost: Vec<_> = must.difference(&got).collect();
    assert!(
        lost.is_empty(),
        "{} of {} peers announced 2 s or more before the kill are gone: {:?}",
        lost.len(),
        must.len(),
        &lost[..lost.len().min(5)]
    );
    for i in 0..5u16 {
        let left = SocketAddr::from(([127, 0, 0, 1], 39_000 + i));
        assert!(
            !got.contains(&left),
            "{left} left before the kill, yet is back"
        );
    }
    drop(t);
}

#[test]
fn a_state_file_in_a_missing_folder_is_an_error_naming_it() {
    let dir = bf_testkit::temp_dir();
    let state = dir.path().join("no-such-folder").join("dstate");
    let out = std::process::Command::new(common::exe())
        .args(["--bind", "127.0.0.1", "--port", "0", "--no-log", "--dfile"])
        .arg(&state)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("does not exist") && err.contains("no-such-folder"),
        "{err}"
    );
    assert!(!state.exists());
}

#[test]
fn corrupt_dfile_is_kept_aside_with_a_warning() {
    let dir = bf_testkit::temp_dir();
    let state = dir.path().join("dstate");
    std::fs::write(&state, b"this is not a state file").unwrap();
    let t = common::start(&["--dfile", state.to_str().unwrap(), "--no-log"]);
    // Any request is answered only once the state is loaded.
    common::http_get(t.port, "/");
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("dstate.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(aside[0].path()).unwrap(),
        b"this is not a state file"
    );
    assert!(
        bf_tracker::dfile::decode(&std::fs::read(&state).unwrap()).is_ok(),
        "a fresh file"
    );
    drop(t);
}

#[test]
fn sigterm_and_sigint_save_what_the_last_periodic_save_missed() {
    for sig in ["-TERM", "-INT"] {
        let dir = bf_testkit::temp_dir();
        let state = dir.path().join("dstate");
        let st = state.to_str().unwrap();
        let port = bf_testkit::free_port();
        // No periodic save during the test: only the signal path can write these peers.
        let mut t = common::start_on(
            port,
            &[
                "--dfile",
                st,
                "--save-interval",
                "3600",
                "--no-log",
                "--max-requests-per-ip",
                "0",
            ],
        );
        for i in 0..5u16 {
            announce(port, 0x44, 21_000 + i, 0).unwrap();
        }
        assert_eq!(saved_peers(&state), 0);
        let ok = std::process::Command::new("kill")
            .arg(sig)
            .arg(t.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        assert!(
            bf_testkit::wait_until(Duration::from_secs(10), || t.child.try_wait().is_some()),
            "{sig}: tracker did not exit"
        );
        assert!(
            t.child.try_wait().unwrap().success(),
            "{sig}: clean exit status"
        );
        assert_eq!(saved_peers(&state), 5, "{sig}: state saved on the way out");
        drop(t);
        let t = common::start_on(port, &["--dfile", st, "--no-log"]);
        assert_eq!(
            common::scrape(port, &InfoHash([0x44; 20])).incomplete,
            5,
            "{sig}"
        );
        drop(t);
    }
}
