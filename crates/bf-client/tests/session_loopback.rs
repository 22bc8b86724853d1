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
    let seeder = common::session(None).await;
    let seed = seeder
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
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
