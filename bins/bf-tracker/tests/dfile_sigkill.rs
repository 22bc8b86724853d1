//! `--dfile`: the tracker is killed with SIGKILL while announces keep coming, restarted on the
//! same state file, and serves the same swarm at once. Also: a corrupt file is kept aside.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bf_metainfo::InfoHash;

fn announce(port: u16, hash_byte: u8, peer_port: u16, numwant: u32) -> Option<Vec<SocketAddr>> {
    let mut q = String::from("/announce?info_hash=");
    bf_tracker::query::percent_encode(&[hash_byte; 20], &mut q);
    q.push_str(&format!(
        "&peer_id=-BF0100-{peer_port:012}&port={peer_port}&left=1&numwant={numwant}"
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
    let mut t = common::start_on(port, &["--dfile", st, "--save-interval", "1", "--no-log"]);
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

    let t = common::start_on(port, &["--dfile", st, "--save-interval", "1", "--no-log"]);
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
            &["--dfile", st, "--save-interval", "3600", "--no-log"],
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
