//! The IPv6 DHT (BEP 32) on loopback, no tracker: a router node on `[::1]`, a session
//! bound to `::1` seeding a torrent that has no tracker, and another session bound to
//! `::1` that finds the seeder only through the IPv6 DHT and downloads the torrent byte for
//! byte; a third fetches it from a magnet link naming no tracker and no peer. A session
//! bound to an IPv6 address runs the IPv6 node alone; the downloader's routing table is
//! saved as `[IPv6]:PORT` lines.
//!
//! Skipped (loudly) on a machine without `::1`, unless `BF_REQUIRE_TOOLS=1`.
#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use bf_client::{AddTorrent, DhtNode, Session, TorrentSource};

/// Whether `::1` can be bound here; without it the test skips, or fails under
/// `BF_REQUIRE_TOOLS=1`.
fn ipv6_loopback() -> bool {
    if std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)).is_ok() {
        return true;
    }
    assert!(
        !bf_testkit::tools_required(),
        "no IPv6 loopback (::1) on this machine (BF_REQUIRE_TOOLS=1)"
    );
    eprintln!("\n*** SKIPPED: no IPv6 loopback (::1) on this machine ***\n");
    false
}

/// A session on `::1` in the private IPv6 DHT whose only known node is `router`.
async fn dht6_session(router: &DhtNode, state_file: Option<&Path>) -> Session {
    let mut cfg = common::config(None);
    cfg.bind = IpAddr::V6(Ipv6Addr::LOCALHOST);
    cfg.use_trackers = false;
    cfg.dht = Some(common::private_dht(router, state_file));
    Session::new(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trackerless_torrent_is_found_and_downloaded_over_the_ipv6_dht() {
    if !ipv6_loopback() {
        return;
    }
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", 2 << 20, 128 << 10, &[]);
    assert!(meta.trackers().is_empty());
    let router = common::dht_router(IpAddr::V6(Ipv6Addr::LOCALHOST));
    assert!(router.is_ipv6());
    assert!(router.local_addr().to_string().starts_with("[::1]:"));

    let seed = dht6_session(&router, None).await;
    common::seed_from_in(&seed, dir.path(), &meta).await;
    // Bound to an IPv6 address: the IPv6 node alone, on the session's address.
    assert!(seed.running_dht().is_none());
    let seed_node = seed.running_dht6().unwrap();
    assert_eq!(seed_node.local_addr().ip(), IpAddr::V6(Ipv6Addr::LOCALHOST));

    let state = dir.path().join("state/dht.nodes");
    let d = dht6_session(&router, Some(&state)).await;
    let out = dir.path().join("out/payload.bin");
    let h = d
        .add_torrent(AddTorrent::new(TorrentSource::Metainfo(meta.clone())).save_as(&out))
        .await
        .unwrap();
    support::complete(&h, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let st = h.status();
    assert_eq!(st.hash_failures, 0, "{:?}", st.stats);
    // No tracker, no LSD, no --peer: the DHT's answer was the only way to the seeder, and
    // a lookup over IPv6 gives its listen address.
    let seeder: SocketAddr = seed.listen_addr();
    assert!(seeder.is_ipv6());
    let node = d.running_dht6().unwrap();
    assert!(d.running_dht().is_none());
    let found = node.lookup(meta.info_hash(), None).await;
    assert!(found.contains(&seeder), "{found:?} lacks {seeder}");

    // The router knows both sessions' nodes, all over IPv6.
    let table = router.routing_table().await;
    assert!(table.len() >= 2, "{table:?}");
    assert!(table.iter().all(SocketAddr::is_ipv6), "{table:?}");

    // A magnet link with no tracker and no peer: the metadata and the pieces come from
    // the seeder the IPv6 DHT names.
    let link = bf_metainfo::Magnet {
        info_hash: meta.info_hash(),
        name: None,
        trackers: Vec::new(),
        peers: Vec::new(),
    }
    .to_string();
    let m = dht6_session(&router, None).await;
    let mout = dir.path().join("magnet/payload.bin");
    let mh = m
        .add_torrent(AddTorrent::magnet(link).save_as(&mout))
        .await
        .unwrap();
    support::complete(&mh, Duration::from_secs(60)).await;
    assert_eq!(std::fs::read(&mout).unwrap(), data);
    m.shutdown().await;

    d.shutdown().await;
    let saved = std::fs::read_to_string(&state).unwrap();
    let lines: Vec<SocketAddr> = saved.lines().map(|l| l.parse().unwrap()).collect();
    assert!(
        !lines.is_empty() && lines.iter().all(SocketAddr::is_ipv6),
        "{saved:?}"
    );
    assert!(lines.contains(&router.local_addr()), "{saved:?}");
    seed.shutdown().await;
    support::assert_no_engine_panics();
}
