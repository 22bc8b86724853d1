//! Trackers that answer garbage, hang, never answer or are not there do not hold up a
//! download from a peer given directly.
#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::time::{Duration, Instant};

use bf_client::{AddTorrent, TorrentEvent, TorrentSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// A TCP "tracker" that reads a little of each request and answers `reply`, for at most
/// `max` connections.
async fn junk_tracker(reply: Vec<u8>, max: usize) -> (u16, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        for _ in 0..max {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
                let _ = s.write_all(&reply).await;
            });
        }
    });
    (port, task)
}

/// A TCP "tracker" that accepts and then says nothing, holding each connection open.
async fn silent_tcp_tracker(max: usize) -> (u16, tokio::task::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..max {
            let Ok((s, _)) = l.accept().await else {
                return;
            };
            held.push(s);
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_trackers_do_not_hold_up_a_download_from_a_given_peer() {
    support::watch_panics();
    // Raw junk, an HTTP 200 whose body is not bencode, a connection that never answers, a
    // UDP port that never answers, a TCP port with nobody on it.
    let (raw_junk, t1) = junk_tracker(bf_testkit::pseudo_random_bytes(4096, 3), 100).await;
    let (http_junk, t2) = junk_tracker(
        b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nd8:intervalx".to_vec(),
        100,
    )
    .await;
    let (hang, t3) = silent_tcp_tracker(100).await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let udp_port = udp.local_addr().unwrap().port();
    let dead = bf_testkit::free_port();
    let trackers = [
        format!("http://127.0.0.1:{raw_junk}/announce"),
        format!("http://127.0.0.1:{http_junk}/announce"),
        format!("http://127.0.0.1:{hang}/announce"),
        format!("udp://127.0.0.1:{udp_port}/announce"),
        format!("http://127.0.0.1:{dead}/announce"),
    ];
    let refs: Vec<&str> = trackers.iter().map(String::as_str).collect();

    let dir = bf_testkit::temp_dir();
    // The seeder's copy has no trackers (the info-hash is the same): only the downloader's
    // announces are under test.
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", 3 << 20, 256 << 10, &[]);
    let mut with_trackers = (*meta).clone();
    with_trackers.set_trackers(refs.iter().map(|t| vec![t.to_string()]).collect());
    let with_trackers = std::sync::Arc::new(with_trackers);
    assert_eq!(with_trackers.info_hash(), meta.info_hash());
    assert_eq!(with_trackers.trackers().len(), 5);
    let (seeder, _seed) = common::seed_from(dir.path(), &meta).await;

    let mut cfg = support::config(None);
    cfg.tracker.http_timeout = Duration::from_secs(2);
    let leecher = bf_client::Session::new(cfg).await.unwrap();
    let out = dir.path().join("out/payload.bin");
    let started = Instant::now();
    let dl = leecher
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(with_trackers.clone()))
                .save_as(&out)
                .peer(seeder.listen_addr()),
        )
        .await
        .unwrap();
    let mut events = dl.events();
    support::complete(&dl, Duration::from_secs(20)).await;
    eprintln!("downloaded in {:?}", started.elapsed());
    assert_eq!(std::fs::read(&out).unwrap(), data);
    // The trackers were tried, and their failure is reported, not fatal.
    let failed = support::wait_event(&mut events, Duration::from_secs(20), |e| {
        matches!(e, TorrentEvent::TrackerFailed(_))
    })
    .await;
    assert!(failed.is_some(), "no TrackerFailed event");
    assert_eq!(dl.status().state, bf_client::TorrentState::Seeding);

    // Stopping does not wait on them for long either (the stopped announce is bounded).
    let t = Instant::now();
    leecher.shutdown().await;
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        t.elapsed()
    );
    seeder.shutdown().await;
    for t in [t1, t2, t3] {
        t.abort();
    }
    drop(udp);
    support::assert_no_engine_panics();
}
