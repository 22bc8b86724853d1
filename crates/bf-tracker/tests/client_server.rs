//! Our client half against our server, in process, over HTTP and UDP, with BEP 12 tiers.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bf_metainfo::{InfoHash, PeerId};
use bf_tracker::udp_codec::UdpRequest;
use bf_tracker::{
    AnnounceRequest, ClientConfig, Event, ServerConfig, Tracker, TrackerClient, TrackerTiers,
};

async fn start() -> (
    String,
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let port = bf_testkit::free_port();
    let cfg = ServerConfig {
        bind: "127.0.0.1".parse().unwrap(),
        port,
        log_requests: false,
        ..ServerConfig::default()
    };
    let t = Tracker::bind(cfg).await.unwrap();
    let http = format!("http://{}/announce", t.http_addr().unwrap());
    let udp = format!("udp://{}/announce", t.udp_addr().unwrap());
    let (tx, h) = common::spawn(t);
    (http, udp, tx, h)
}

fn client() -> TrackerClient {
    TrackerClient::new(ClientConfig {
        http_timeout: Duration::from_secs(5),
        udp_base_timeout: Duration::from_millis(100),
        udp_max_retries: 2,
        udp_walk_timeout: Duration::from_millis(100),
        udp_walk_retries: 1,
        ..ClientConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn http_and_udp_announce_and_scrape() {
    let (http, udp, stop, h) = start().await;
    let c = client();
    for (url, hb) in [(&http, 1u8), (&udp, 2u8)] {
        let ih = InfoHash([hb; 20]);
        let mut a = AnnounceRequest::new(ih, PeerId([1; 20]), 7001, 10);
        let r1 = c.announce(url, &a).await.unwrap();
        assert!(r1.peers.is_empty(), "{url}: nobody else yet");
        let b = AnnounceRequest::new(ih, PeerId([2; 20]), 7002, 0);
        let r2 = c.announce(url, &b).await.unwrap();
        assert_eq!(r2.peers.len(), 1, "{url}");
        assert_eq!(r2.peers[0].addr, "127.0.0.1:7001".parse().unwrap());
        assert_eq!((r2.complete, r2.incomplete), (1, 1));
        let s = c.scrape(url, &[ih]).await.unwrap();
        assert_eq!(s.get(&ih).map(|s| (s.complete, s.incomplete)), Some((1, 1)));
        a.event = Event::Stopped;
        c.announce(url, &a).await.unwrap();
        let s = c.scrape(url, &[ih]).await.unwrap();
        assert_eq!(s.get(&ih).map(|s| s.incomplete), Some(0));
    }
    let _ = stop.send(());
    h.await.unwrap();
}

#[tokio::test]
async fn refusals_are_typed_errors() {
    let (http, _udp, stop, h) = start().await;
    let c = client();
    let bad = format!("{http}?info_hash=short");
    let r = c
        .announce(
            &bad,
            &AnnounceRequest::new(InfoHash([1; 20]), PeerId([1; 20]), 1, 0),
        )
        .await;
    assert!(
        matches!(r, Err(bf_tracker::TrackerError::Response(_))),
        "{r:?}"
    );
    let r = c
        .announce(
            "ftp://x/announce",
            &AnnounceRequest::new(InfoHash([1; 20]), PeerId([1; 20]), 1, 0),
        )
        .await;
    assert!(matches!(r, Err(bf_tracker::TrackerError::BadUrl { .. })));
    let _ = stop.send(());
    h.await.unwrap();
}

#[tokio::test]
async fn tiers_skip_dead_trackers_and_promote_the_working_one() {
    let (http, udp, stop, h) = start().await;
    let dead_port = bf_testkit::free_port();
    let dead_udp = format!("udp://127.0.0.1:{dead_port}/announce");
    let dead_http = format!("http://127.0.0.1:{dead_port}/announce");
    let mut rng = rand::thread_rng();
    let mut tiers = TrackerTiers::new(
        vec![
            vec![dead_udp.clone(), dead_http.clone()],
            vec![dead_http.clone(), udp.clone(), http.clone()],
        ],
        &mut rng,
    );
    let c = client();
    let a = AnnounceRequest::new(InfoHash([9; 20]), PeerId([9; 20]), 7009, 0);
    let (url, _) = tiers.announce(&c, &a).await.unwrap();
    assert!(url == udp || url == http, "{url}");
    assert_eq!(
        tiers.tiers()[1][0],
        url,
        "promoted to the front of its tier"
    );
    let mut dead = TrackerTiers::single(dead_udp);
    let r = dead.announce(&c, &a).await;
    assert!(
        matches!(r, Err(bf_tracker::TrackerError::AllFailed(_))),
        "{r:?}"
    );
    let _ = stop.send(());
    h.await.unwrap();
}

#[tokio::test]
async fn a_dead_udp_tracker_first_in_its_tier_costs_one_bounded_turn_then_backs_off() {
    let (_http, udp, stop, h) = start().await;
    let dead = format!("udp://127.0.0.1:{}/announce", bf_testkit::free_port());
    let mut rng = rand::thread_rng();
    let mut tiers = TrackerTiers::new(vec![vec![dead.clone(), udp.clone()]], &mut rng);
    let at = tiers.tiers()[0].iter().position(|u| *u == dead).unwrap();
    tiers.promote(0, at);
    assert_eq!(tiers.tiers()[0], [dead.clone(), udp.clone()]);
    // BEP 15's own schedule stays at 15 s * 2^n, 8 retries (about two hours of silence);
    // the walk's turn is 300 + 600 ms.
    let c = TrackerClient::new(ClientConfig {
        udp_walk_timeout: Duration::from_millis(300),
        udp_walk_retries: 1,
        ..ClientConfig::default()
    })
    .unwrap();
    let a = AnnounceRequest::new(InfoHash([0x41; 20]), PeerId([4; 20]), 7401, 1);
    let started = std::time::Instant::now();
    let (url, _) = tiers.announce(&c, &a).await.unwrap();
    let took = started.elapsed();
    assert_eq!(url, udp);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(
        tiers.tiers()[0][0],
        udp,
        "BEP 12: the one that answered goes first"
    );
    let retry = tiers
        .retry_at(&dead)
        .expect("the dead tracker is backing off");
    assert!(retry > tokio::time::Instant::now() + Duration::from_secs(50));
    assert_eq!(tiers.retry_at(&udp), None);

    // Moved behind the live one and backing off, it costs nothing on the next announce.
    tiers.promote(0, 1);
    assert_eq!(tiers.tiers()[0][0], dead);
    let started = std::time::Instant::now();
    let (url, _) = tiers.announce(&c, &a).await.unwrap();
    assert_eq!(url, udp);
    assert!(started.elapsed() < Duration::from_millis(800), "skipped");

    // Alone, a dead tracker is still tried (every tracker is backing off), boundedly.
    let mut alone = TrackerTiers::single(dead.clone());
    alone.record_failure(&dead, tokio::time::Instant::now());
    let started = std::time::Instant::now();
    let r = alone.announce(&c, &a).await;
    assert!(
        matches!(r, Err(bf_tracker::TrackerError::AllFailed(ref e)) if matches!(**e, bf_tracker::TrackerError::Timeout)),
        "{r:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    let _ = stop.send(());
    h.await.unwrap();
}

#[tokio::test]
async fn ipv6_peers_over_http_peers6_and_udp_18_byte_entries() {
    if std::net::UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 loopback here");
        return;
    }
    let port = bf_testkit::free_port();
    let cfg = ServerConfig {
        bind: "::1".parse().unwrap(),
        port,
        log_requests: false,
        ..ServerConfig::default()
    };
    let Ok(t) = Tracker::bind(cfg).await else {
        eprintln!("SKIPPED: port {port} busy on ::1");
        return;
    };
    let http = format!("http://[::1]:{port}/announce");
    let udp = format!("udp://[::1]:{port}/announce");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let h = tokio::spawn(async move {
        t.run(async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let c = client();
    for (url, hb) in [(&http, 0x61u8), (&udp, 0x62u8)] {
        let ih = InfoHash([hb; 20]);
        let a = AnnounceRequest::new(ih, PeerId([1; 20]), 7201, 5);
        c.announce(url, &a).await.unwrap();
        let b = AnnounceRequest::new(ih, PeerId([2; 20]), 7202, 5);
        let r = c.announce(url, &b).await.unwrap();
        let addrs: Vec<_> = r.peers.iter().map(|p| p.addr).collect();
        assert_eq!(addrs, vec!["[::1]:7201".parse().unwrap()], "{url}");
    }
    let _ = tx.send(());
    h.await.unwrap();
}

/// A UDP relay in front of `upstream` (for one client at a time) that counts the BEP 15
/// connect requests passing through it; returns the relay's tracker URL.
async fn counting_relay(upstream: SocketAddr) -> (String, Arc<AtomicUsize>) {
    let front = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let back = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    back.connect(upstream).await.unwrap();
    let url = format!("udp://{}/announce", front.local_addr().unwrap());
    let connects = Arc::new(AtomicUsize::new(0));
    let client = Arc::new(Mutex::new(None::<SocketAddr>));
    let (f, b, n, c) = (
        front.clone(),
        back.clone(),
        connects.clone(),
        client.clone(),
    );
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((len, from)) = f.recv_from(&mut buf).await {
            *c.lock().unwrap() = Some(from);
            if matches!(
                UdpRequest::parse(&buf[..len]),
                Ok(UdpRequest::Connect { .. })
            ) {
                n.fetch_add(1, Ordering::SeqCst);
            }
            let _ = b.send(&buf[..len]).await;
        }
    });
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok(len) = back.recv(&mut buf).await {
            let to = *client.lock().unwrap();
            if let Some(to) = to {
                let _ = front.send_to(&buf[..len], to).await;
            }
        }
    });
    (url, connects)
}

#[tokio::test]
async fn two_udp_announces_within_a_minute_use_one_connect() {
    let (_http, udp, stop, h) = start().await;
    let upstream: SocketAddr = udp
        .trim_start_matches("udp://")
        .trim_end_matches("/announce")
        .parse()
        .unwrap();
    let (relay, connects) = counting_relay(upstream).await;
    let c = client();
    let ih = InfoHash([0x31; 20]);
    c.announce(&relay, &AnnounceRequest::new(ih, PeerId([1; 20]), 7301, 10))
        .await
        .unwrap();
    let r = c
        .clone()
        .announce(&relay, &AnnounceRequest::new(ih, PeerId([2; 20]), 7302, 10))
        .await
        .unwrap();
    assert_eq!(r.peers.len(), 1, "the tracker took the first announce");
    let s = c.scrape(&relay, &[ih]).await.unwrap();
    assert_eq!(s.get(&ih).map(|s| s.incomplete), Some(2));
    assert_eq!(
        connects.load(Ordering::SeqCst),
        1,
        "announce, announce (from a clone) and scrape share one connection id"
    );
    // Another client has ids of its own.
    client()
        .announce(&relay, &AnnounceRequest::new(ih, PeerId([3; 20]), 7303, 10))
        .await
        .unwrap();
    assert_eq!(connects.load(Ordering::SeqCst), 2);
    let _ = stop.send(());
    h.await.unwrap();
}
