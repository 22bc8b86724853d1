//! Two BitFountain sessions over loopback: a seeder that checks a complete file and a
//! downloader that fetches it, contents compared byte for byte.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bf_client::{AddTorrent, TorrentSource};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bf_seeder_serves_a_bf_downloader() {
    let dir = bf_testkit::temp_dir();
    let (data, meta) =
        common::make_torrent(dir.path(), "payload.bin", 5 << 20 | 1234, 256 << 10, &[]);
    let (seeder, _seed) = common::seed_from(dir.path(), &meta).await;

    let leecher = common::session(None).await;
    let out = dir.path().join("out/payload.bin");
    let dl = leecher
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
                .save_as(&out)
                .peer(seeder.listen_addr()),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), dl.wait_complete())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let st = dl.status();
    assert_eq!(st.redundant, 0);
    leecher.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_a_download_rate_limit() {
    let dir = bf_testkit::temp_dir();
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", 3 << 20, 64 << 10, &[]);
    let (seeder, _seed) = common::seed_from(dir.path(), &meta).await;

    // A downloader limited to 1 MiB/s, added paused: it takes no peer until resumed.
    let leecher = bf_client::Session::new(bf_client::SessionConfig {
        max_download_rate: Some(1 << 20),
        ..common::config(None)
    })
    .await
    .unwrap();
    let out = dir.path().join("out/payload.bin");
    let dl = leecher
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
                .save_as(&out)
                .peer(seeder.listen_addr())
                .paused(true),
        )
        .await
        .unwrap();
    let mut w = dl.watch();
    tokio::time::timeout(Duration::from_secs(10), async {
        while w.borrow_and_update().state != bf_client::TorrentState::Paused {
            w.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(dl.status().peers, 0);
    assert_eq!(dl.status().pieces_have, 0);

    let started = std::time::Instant::now();
    dl.resume().await;
    tokio::time::timeout(Duration::from_secs(60), dl.wait_complete())
        .await
        .unwrap()
        .unwrap();
    // 3 MiB at 1 MiB/s, less the limiter's first burst (a fifth of a second's worth, or
    // 64 KiB): no less than two seconds.
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // Paused again, the torrent keeps its data and drops its peers; removed, it is gone.
    dl.pause().await;
    tokio::time::timeout(Duration::from_secs(10), async {
        let mut w = dl.watch();
        while w.borrow_and_update().state != bf_client::TorrentState::Paused {
            w.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    assert!(leecher.remove(&meta.info_hash()).await);
    assert!(leecher.torrent(&meta.info_hash()).is_none());
    assert_eq!(std::fs::read(&out).unwrap(), data);
    leecher.shutdown().await;
    seeder.shutdown().await;
}
