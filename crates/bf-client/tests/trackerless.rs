//! Peers found with no tracker.
//!
//! Local service discovery: two sessions that know nothing of each other find each other
//! by multicast on the loopback interface (a group port of the test's own) and the torrent
//! completes.
//!
//! A magnet link in a private DHT on loopback, no tracker: the link names two peers that lie
//! about the info dictionary (one gives a dictionary whose hash is wrong, one says it is
//! larger than the limit). Both are dropped, the dictionary comes from a bf seeder found
//! through the DHT, and with that seeder the pieces still travel as RaptorQ symbols: the
//! liars also stall every block request, and those pieces finish from the seeder's repair
//! symbols.
#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bf_client::testpeer::{LyingMetadataPeer, MetadataLie};
use bf_client::{AddTorrent, DhtNode, LsdConfig, Session, TorrentSource};
use bf_metainfo::{Magnet, Metainfo};

/// A session in the private DHT whose only known node is `router`.
async fn dht_session(router: &DhtNode, upload: Option<u64>) -> Session {
    let mut cfg = common::config(None);
    cfg.max_upload_rate = upload;
    // Only the fountain can route around a staller within the test's time.
    cfg.core.snub_timeout = Duration::from_secs(60);
    cfg.dht = Some(common::private_dht(router, None));
    Session::new(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_link_drops_lying_peers_and_keeps_the_fountain_with_dht_peers() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", 3 << 20, 128 << 10, &[]);
    let router = common::dht_router(IpAddr::V4(Ipv4Addr::LOCALHOST));

    // 1.5 MiB/s: the download lasts long enough for the liars to be asked for blocks.
    let seed = dht_session(&router, Some(3 << 19)).await;
    common::seed_from_in(&seed, dir.path(), &meta).await;

    let wrong = LyingMetadataPeer::start(meta.clone(), MetadataLie::WrongBytes)
        .await
        .unwrap();
    let huge = LyingMetadataPeer::start(meta.clone(), MetadataLie::Oversized)
        .await
        .unwrap();
    let link = Magnet {
        info_hash: meta.info_hash(),
        name: None,
        trackers: Vec::new(),
        peers: vec![wrong.addr().to_string(), huge.addr().to_string()],
    }
    .to_string();

    let d = dht_session(&router, None).await;
    let out = dir.path().join("out/payload.bin");
    let h = d
        .add_torrent(AddTorrent::magnet(link).save_as(&out))
        .await
        .unwrap();
    // The seeder is a fountain peer in the list while the download runs.
    let fountain_seed = support::wait_status(&h, Duration::from_secs(60), |s| {
        s.peer_list
            .iter()
            .any(|p| p.addr == seed.listen_addr() && p.fountain)
    })
    .await;
    if let Err(st) = fountain_seed {
        panic!(
            "the seeder found through the DHT is not a fountain peer: {:?}",
            st.peer_list
        );
    }
    support::complete(&h, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(&out).unwrap(), data);

    // The dictionary kept is the seeder's, not a liar's.
    let saved = Metainfo::from_file(&dir.path().join("out/payload.bin.torrent")).unwrap();
    assert_eq!(saved.info_hash(), meta.info_hash());
    assert_eq!(saved.info_bytes(), meta.info_bytes());

    let st = h.status();
    assert_eq!(st.hash_failures, 0, "{:?}", st.stats);
    // The liars took block requests and answered none: the seeder's repair symbols
    // finished those pieces, with nothing received twice.
    assert!(st.stats.repair_received > 0, "{:?}", st.stats);
    assert!(st.stats.pieces_decoded > 0, "{:?}", st.stats);
    assert_eq!(st.redundant, 0, "{:?}", st.stats);
    d.shutdown().await;
    seed.shutdown().await;
    support::assert_no_engine_panics();
}

/// A private torrent of 1 MiB written under `dir`.
fn private_torrent(dir: &std::path::Path) -> Arc<Metainfo> {
    let path = dir.join("secret.bin");
    std::fs::write(&path, bf_testkit::pseudo_random_bytes(1 << 20, 7)).unwrap();
    let opts = bf_metainfo::CreateOptions {
        private: true,
        ..bf_metainfo::CreateOptions::default()
    };
    let source = bf_metainfo::Source::scan(&path).unwrap();
    Arc::new(bf_metainfo::create(&source, &opts, &mut |_| {}).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_on_the_local_network_find_each_other_by_multicast() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", 2 << 20, 256 << 10, &[]);
    let lsd = LsdConfig {
        group: std::net::SocketAddrV4::new(
            bf_client::lsd::GROUP.ip().to_owned(),
            bf_testkit::free_port(),
        ),
        interface: Ipv4Addr::LOCALHOST,
    };
    let session = || {
        let mut cfg = common::config(None);
        cfg.use_trackers = false;
        cfg.lsd = Some(lsd);
        Session::new(cfg)
    };
    // A private torrent (BEP 27) is never announced: its downloader finds nobody.
    let private = private_torrent(dir.path());
    let seed = session().await.unwrap();
    let d = session().await.unwrap();
    seed.add_torrent(
        AddTorrent::new(TorrentSource::Metainfo(private.clone()))
            .save_as(dir.path().join("secret.bin")),
    )
    .await
    .unwrap();
    let ph = d
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(private))
                .save_as(dir.path().join("out/secret.bin")),
        )
        .await
        .unwrap();
    common::seed_from_in(&seed, dir.path(), &meta).await;
    let out = dir.path().join("out/payload.bin");
    let h = d
        .add_torrent(AddTorrent::new(TorrentSource::Metainfo(meta.clone())).save_as(&out))
        .await
        .unwrap();
    support::complete(&h, Duration::from_secs(30)).await;
    assert_eq!(std::fs::read(&out).unwrap(), data);
    // Both announced the public torrent and heard each other: the private one, added
    // first, would have been in the same announces and connected as quickly.
    let private_peers = support::wait_status(&ph, Duration::from_secs(3), |s| {
        s.peers > 0 || s.pieces_have > 0
    })
    .await;
    assert!(private_peers.is_err(), "{:?}", ph.status().peer_list);
    d.shutdown().await;
    seed.shutdown().await;
    support::assert_no_engine_panics();
}
