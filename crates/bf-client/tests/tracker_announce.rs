//! What the engine tells a tracker: `started` with everything left, `completed` once the
//! data is verified with `left=0` and the bytes downloaded, `stopped` at shutdown; peers
//! from the answer are dialled. The tracker here records every announce it receives.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bf_client::{AddTorrent, TorrentSource};
use bf_tracker::query::parse_announce;
use bf_tracker::{AnnounceRequest, AnnounceResponse, Event, PeerAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP tracker that records every announce and answers with `peers`.
async fn recording_tracker(peers: Vec<SocketAddr>) -> (String, Arc<Mutex<Vec<AnnounceRequest>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/announce", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                match s.read(&mut buf[n..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let Some(query) = head
                .split_whitespace()
                .nth(1)
                .and_then(|target| target.split_once('?'))
                .map(|(_, q)| q.to_string())
            else {
                continue;
            };
            let req = parse_announce(query.as_bytes()).unwrap();
            log.lock().unwrap().push(req);
            let body = bf_tracker::http_codec::encode_announce(
                &AnnounceResponse {
                    interval: 1800,
                    min_interval: None,
                    complete: 1,
                    incomplete: 1,
                    peers: peers.iter().map(|a| PeerAddr::from(*a)).collect(),
                    warning: None,
                },
                true,
                false,
            );
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            resp.extend_from_slice(&body);
            let _ = s.write_all(&resp).await;
        }
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn started_completed_stopped_with_true_counts() {
    let dir = bf_testkit::temp_dir();
    let seeder = common::session(None).await;
    let (url, seen) = recording_tracker(vec![seeder.listen_addr()]).await;
    let size = 3 << 20;
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", size, 64 << 10, &[&url]);
    // The seeder gets the torrent without trackers: only the downloader announces.
    let seed = seeder
        .add_torrent(
            AddTorrent::new(TorrentSource::Bytes(
                common::without_trackers(&meta).to_bytes(),
            ))
            .save_as(dir.path().join("payload.bin")),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), seed.wait_complete())
        .await
        .unwrap()
        .unwrap();

    let leecher = common::session(None).await;
    let out = dir.path().join("out/payload.bin");
    let dl = leecher
        .add_torrent(AddTorrent::new(TorrentSource::Metainfo(meta.clone())).save_as(&out))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), dl.wait_complete())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), data);
    // The completed announce goes out right after completion.
    assert!(bf_testkit::wait_until(Duration::from_secs(10), || seen
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.event == Event::Completed)));
    leecher.shutdown().await;

    let log = seen.lock().unwrap().clone();
    let events: Vec<Event> = log.iter().map(|r| r.event).collect();
    assert_eq!(
        events,
        vec![Event::Started, Event::Completed, Event::Stopped],
        "{log:?}"
    );
    let (started, completed, stopped) = (&log[0], &log[1], &log[2]);
    assert_eq!(started.left, size as u64);
    assert_eq!(started.downloaded, 0);
    assert_eq!(completed.left, 0);
    assert_eq!(completed.downloaded, size as u64);
    assert_eq!(stopped.left, 0);
    assert_eq!(stopped.port, leecher.listen_addr().port());
    assert_eq!(started.info_hash, meta.info_hash());
    assert!(log.iter().all(|r| r.peer_id == leecher.peer_id()));
    seeder.shutdown().await;
}
