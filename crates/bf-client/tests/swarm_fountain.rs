//! The fountain exchange between processes' worth of real sessions on loopback sockets: a
//! peer that stalls mid-piece without closing holds nothing up (its pieces finish from
//! repair symbols long before any request timeout), and a peer that speaks bf_raptorq and
//! corrupts some of what it sends is banned, alone, with the data correct.
#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bf_client::testpeer::{PollutingPeer, StallingPeer};
use bf_client::{AddTorrent, Session, SessionConfig, TorrentEvent, TorrentSource};
use bytes::Bytes;

/// A bf seeder of `meta` (data at `path`) uploading at most `rate` bytes per second.
async fn seeder(meta: &Arc<bf_metainfo::Metainfo>, path: &std::path::Path, rate: u64) -> Session {
    let s = Session::new(SessionConfig {
        max_upload_rate: Some(rate),
        ..support::config(None)
    })
    .await
    .unwrap();
    let h = s
        .add_torrent(AddTorrent::new(TorrentSource::Metainfo(meta.clone())).save_as(path))
        .await
        .unwrap();
    support::complete(&h, Duration::from_secs(20)).await;
    s
}

/// A downloader whose request timeout (snub) is a minute: only the fountain can route
/// around a staller within the test's time.
async fn downloader() -> Session {
    let mut cfg = support::config(None);
    cfg.core.snub_timeout = Duration::from_secs(60);
    Session::new(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stalls_mid_piece_holds_nothing_up() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", 6 << 20, 256 << 10, &[]);
    let seed = seeder(&meta, &dir.path().join("payload.bin"), 4 << 20).await;
    let staller = StallingPeer::start(meta.clone()).await.unwrap();
    let d = downloader().await;
    let out = dir.path().join("out/payload.bin");
    let started = Instant::now();
    // The staller is dialled first, so that it is asked for blocks before anyone else.
    let h = d
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
                .save_as(&out)
                .peer(staller.addr()),
        )
        .await
        .unwrap();
    let mut events = h.events();
    support::wait_status(&h, Duration::from_secs(10), |s| s.peers >= 1)
        .await
        .unwrap();
    h.add_peers(vec![seed.listen_addr()]).await;
    support::complete(&h, Duration::from_secs(45)).await;
    let took = started.elapsed();
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let st = h.status();
    // The staller took requests and answered none; those pieces still finished, from
    // repair symbols (asked once its silence was noticed, or at the tail in its place),
    // with nothing received twice.
    assert!(st.stats.pieces_decoded > 0, "{:?}", st.stats);
    assert!(st.stats.repair_received > 0, "{:?}", st.stats);
    assert_eq!(st.redundant, 0, "{:?}", st.stats);
    assert_eq!(st.stats.endgame_requests, 0);
    // Nobody hung up on the staller before the download was done: it was routed around.
    let mut before_completion = Vec::new();
    // Bounded: the events of a finished download, read until none is left.
    while let Ok(ev) = events.try_recv() {
        if ev == TorrentEvent::Completed {
            break;
        }
        before_completion.push(ev);
    }
    assert!(
        !before_completion.contains(&TorrentEvent::PeerDisconnected(staller.addr())),
        "{before_completion:?}"
    );
    // 6 MiB at 4 MiB/s is 1.5 s of transfer; a request timeout would be 60 s.
    assert!(took < Duration::from_secs(30), "took {took:?}");
    d.shutdown().await;
    seed.shutdown().await;
    support::assert_no_engine_panics();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polluter_is_banned_alone_and_the_data_is_correct() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", 4 << 20, 256 << 10, &[]);
    // A slow honest seeder, a staller whose pieces need repair symbols, and a polluter that
    // serves blocks and repair symbols fast but corrupts one in five.
    let seed = seeder(&meta, &dir.path().join("payload.bin"), 1 << 20).await;
    let staller = StallingPeer::start(meta.clone()).await.unwrap();
    let polluter = PollutingPeer::start(meta.clone(), Bytes::from(data.clone()), 5)
        .await
        .unwrap();
    let d = downloader().await;
    let out = dir.path().join("out/payload.bin");
    let h = d
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
                .save_as(&out)
                .peer(staller.addr())
                .peer(polluter.addr())
                .peer(seed.listen_addr()),
        )
        .await
        .unwrap();
    let mut events = h.events();
    support::complete(&h, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let mut banned = Vec::new();
    // Bounded: the events of a finished download, read until none is left.
    while let Ok(ev) = events.try_recv() {
        if let TorrentEvent::PeerBanned { addr, .. } = ev {
            banned.push(addr);
        }
    }
    assert_eq!(banned, vec![polluter.addr()], "{:?}", h.status().stats);
    assert!(h.status().hash_failures >= 1);
    d.shutdown().await;
    seed.shutdown().await;
    support::assert_no_engine_panics();
}
