//! The UDP client half against a scripted BEP 15 tracker on a raw socket: connection ids
//! reused, dropped on error packets, answers matched to concurrent requests.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bf_metainfo::{InfoHash, PeerId};
use bf_tracker::udp_codec::{UdpRequest, UdpResponse};
use bf_tracker::{AnnounceRequest, ClientConfig, TrackerClient, TrackerError};

/// The torrent the fake refuses, whatever the connection id.
const UNREGISTERED: InfoHash = InfoHash([0xEE; 20]);

/// A tracker whose connection id is its current `epoch`: bumping the epoch is a restart
/// that invalidates every id handed out. Announces answer with `interval` = the announcing
/// port, so each answer shows which request it belongs to.
struct Fake {
    url: String,
    connects: Arc<AtomicUsize>,
    epoch: Arc<AtomicU64>,
}

async fn fake() -> Fake {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let url = format!("udp://{}/announce", sock.local_addr().unwrap());
    let connects = Arc::new(AtomicUsize::new(0));
    let epoch = Arc::new(AtomicU64::new(1));
    let (c, e) = (connects.clone(), epoch.clone());
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        let mut out = Vec::new();
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                continue;
            };
            let current = e.load(Ordering::SeqCst);
            let resp = match UdpRequest::parse(&buf[..n]) {
                Ok(UdpRequest::Connect { transaction_id }) => {
                    c.fetch_add(1, Ordering::SeqCst);
                    UdpResponse::Connect {
                        transaction_id,
                        connection_id: current,
                    }
                }
                Ok(UdpRequest::Announce(a)) if a.info_hash == UNREGISTERED => UdpResponse::Error {
                    transaction_id: a.transaction_id,
                    message: "unregistered torrent".into(),
                },
                Ok(UdpRequest::Announce(a)) if a.connection_id == current => {
                    UdpResponse::Announce {
                        transaction_id: a.transaction_id,
                        interval: u32::from(a.port),
                        leechers: 0,
                        seeders: 0,
                        peers: vec![],
                    }
                }
                Ok(UdpRequest::Announce(a)) => UdpResponse::Error {
                    transaction_id: a.transaction_id,
                    message: "connection id expired".into(),
                },
                _ => continue,
            };
            out.clear();
            resp.write(&mut out, false);
            let _ = sock.send_to(&out, from).await;
        }
    });
    Fake {
        url,
        connects,
        epoch,
    }
}

fn client() -> TrackerClient {
    TrackerClient::new(ClientConfig {
        udp_base_timeout: Duration::from_millis(200),
        udp_max_retries: 2,
        ..ClientConfig::default()
    })
    .unwrap()
}

fn req(port: u16) -> AnnounceRequest {
    AnnounceRequest::new(InfoHash([1; 20]), PeerId([2; 20]), port, 5)
}

#[tokio::test]
async fn connection_id_reused_then_renewed_after_an_error_packet() {
    let f = fake().await;
    let c = client();
    c.announce(&f.url, &req(7001)).await.unwrap();
    c.clone().announce(&f.url, &req(7002)).await.unwrap();
    assert_eq!(f.connects.load(Ordering::SeqCst), 1, "clones share the id");

    // The tracker "restarts": the cached id is refused once, a fresh connect follows.
    f.epoch.store(2, Ordering::SeqCst);
    let r = c.announce(&f.url, &req(7003)).await.unwrap();
    assert_eq!(r.interval, 7003);
    assert_eq!(f.connects.load(Ordering::SeqCst), 2);

    // A refusal with a fresh id is believed; with a cached one it is retried once.
    let mut bad = req(7004);
    bad.info_hash = UNREGISTERED;
    match c.announce(&f.url, &bad).await {
        Err(TrackerError::Refused(m)) => assert_eq!(m, "unregistered torrent"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        f.connects.load(Ordering::SeqCst),
        3,
        "one reconnect, no more"
    );
    // The error packet dropped the id: the next announce connects again.
    c.announce(&f.url, &req(7005)).await.unwrap();
    assert_eq!(f.connects.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn concurrent_requests_on_the_shared_socket_get_their_own_answers() {
    let f = fake().await;
    let c = client();
    c.announce(&f.url, &req(7100)).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for port in 7101..7141u16 {
        let (c, url) = (c.clone(), f.url.clone());
        tasks.spawn(async move { (port, c.announce(&url, &req(port)).await) });
    }
    while let Some(done) = tasks.join_next().await {
        let (port, r) = done.unwrap();
        assert_eq!(r.unwrap().interval, u32::from(port));
    }
    assert_eq!(f.connects.load(Ordering::SeqCst), 1);
}
