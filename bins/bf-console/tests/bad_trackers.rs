//! bf-console with trackers that answer junk, never answer or are not there still downloads
//! from a peer given with --peer, and exits when asked to.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use support::Console;

/// A TCP "tracker" answering every connection with `reply`, for at most `max` connections
/// or `life`, whichever ends first.
fn junk_tracker(reply: &'static [u8], max: usize, life: Duration) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let end = Instant::now() + life;
        let mut served = 0;
        while served < max && Instant::now() < end {
            match l.accept() {
                Ok((mut s, _)) => {
                    served += 1;
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf);
                    let _ = s.write_all(reply);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    port
}

#[test]
fn broken_trackers_do_not_stop_a_download_from_a_given_peer() {
    let dir = bf_testkit::temp_dir();
    let (data, torrent, meta) =
        support::make_torrent(dir.path(), "payload.bin", 3 << 20, 256 << 10, 9);
    let (_seed, port) = support::seeder(&torrent, &dir.path().join("payload.bin"), &[]);

    // The downloader's copy of the torrent lists only broken trackers (same info-hash).
    let life = Duration::from_secs(60);
    let junk = junk_tracker(b"\x00\xffnot http at all\r\n\r\n", 50, life);
    let not_bencode = junk_tracker(
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nd8:interv",
        50,
        life,
    );
    let silent_udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp = silent_udp.local_addr().unwrap().port();
    let dead = bf_testkit::free_port();
    let mut broken = meta.clone();
    broken.set_trackers(
        [
            format!("http://127.0.0.1:{junk}/announce"),
            format!("http://127.0.0.1:{not_bencode}/announce"),
            format!("udp://127.0.0.1:{udp}/announce"),
            format!("http://127.0.0.1:{dead}/announce"),
        ]
        .into_iter()
        .map(|t| vec![t])
        .collect(),
    );
    assert_eq!(broken.info_hash(), meta.info_hash());
    let broken_torrent = dir.path().join("broken.torrent");
    std::fs::write(&broken_torrent, broken.to_bytes()).unwrap();

    let out = dir.path().join("out/payload.bin");
    let peer = format!("127.0.0.1:{port}");
    let dl_port = bf_testkit::free_port();
    let mut args: Vec<String> = vec![
        broken_torrent.display().to_string(),
        "--saveas".into(),
        out.display().to_string(),
        "--peer".into(),
        peer,
        "--no-resume".into(),
        "--exit-on-complete".into(),
    ];
    args.extend(support::loopback(dl_port));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let started = Instant::now();
    let mut dl = Console::start(&refs);
    let status = dl.wait_exit(Duration::from_secs(30));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "stderr: {}",
        dl.stderr_text()
    );
    eprintln!("downloaded and exited in {:?}", started.elapsed());
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let lines = dl.drain_json();
    assert!(
        lines
            .iter()
            .any(|v| v["event"] == "state" && v["state"] == "seeding"),
        "{lines:?}"
    );
    drop(silent_udp);
}
