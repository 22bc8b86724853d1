//! Malformed HTTP queries and garbage UDP packets: each gets a `failure reason` or a UDP
//! error packet, and the tracker keeps serving.
#![allow(clippy::unwrap_used)]

mod common;

use bf_bencode::Value;
use bf_tracker::udp_codec::{UdpAnnounce, UdpRequest, UdpResponse, PROTOCOL_ID};

const H: &str = "%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB%AB";
const P: &str = "-BF0100-abcdefghijkl";

fn failure_reason(body: &[u8]) -> Option<String> {
    let v = bf_bencode::decode(body).ok()?;
    let f = v.as_dict()?.get(b"failure reason")?.as_bytes()?.to_vec();
    Some(String::from_utf8_lossy(&f).into_owned())
}

#[test]
fn malformed_http_queries_get_failure_reasons() {
    let t = common::start(&["--no-full-scrape"]);
    let long = format!(
        "/announce?info_hash={H}&peer_id={P}&port=1&left=0&x={}",
        "a".repeat(20_000)
    );
    let cases: Vec<(String, &str)> = vec![
        ("/announce".into(), "missing info_hash"),
        (
            format!("/announce?info_hash=%G1{H}&peer_id={P}&port=1&left=0"),
            "percent escape",
        ),
        (
            format!("/announce?info_hash={H}%&peer_id={P}&port=1&left=0"),
            "percent escape",
        ),
        (
            format!("/announce?info_hash=%AB%AB&peer_id={P}&port=1&left=0"),
            "info_hash must be 20 bytes",
        ),
        (
            format!("/announce?info_hash={H}%AB&peer_id={P}&port=1&left=0"),
            "info_hash must be 20 bytes",
        ),
        (
            format!("/announce?info_hash={H}&port=1&left=0"),
            "missing peer_id",
        ),
        (
            format!("/announce?info_hash={H}&peer_id=short&port=1&left=0"),
            "peer_id must be 20 bytes",
        ),
        (
            format!("/announce?info_hash={H}&peer_id={P}&port=0&left=0"),
            "invalid port 0",
        ),
        (
            format!("/announce?info_hash={H}&peer_id={P}&port=65536&left=0"),
            "invalid port",
        ),
        (
            format!("/announce?info_hash={H}&peer_id={P}&left=0"),
            "missing port",
        ),
        (
            format!("/announce?info_hash={H}&peer_id={P}&port=1"),
            "missing left",
        ),
        (
            format!("/announce?info_hash={H}&peer_id={P}&port=1&left=-5"),
            "invalid left",
        ),
        (
            format!("/announce?info_hash={H}&peer_id={P}&port=1&left=0&numwant=99999999999999"),
            "invalid numwant",
        ),
        (
            format!("/announce?info_hash={H}&peer_id={P}&port=1&left=0&event=exploded"),
            "invalid event",
        ),
        (
            format!("/announce?info_hash={H}&peer_id={P}&port=1&left=0&ip=not-an-ip"),
            "invalid ip",
        ),
        (
            format!("/announce?info_hash={H}&info_hash={H}&peer_id={P}&port=1&left=0"),
            "duplicate info_hash",
        ),
        (long, "too long"),
        ("/scrape?info_hash=%AB".into(), "info_hash must be 20 bytes"),
        ("/scrape".into(), "full scrape disabled"),
        ("/nonsense".into(), "not found"),
    ];
    for (target, want) in &cases {
        let (status, body) = common::http_get(t.port, target);
        let reason = failure_reason(&body).unwrap_or_else(|| {
            panic!(
                "{target}: no failure reason in {:?}",
                String::from_utf8_lossy(&body)
            )
        });
        assert!(
            reason.contains(want),
            "{target}: got {reason:?}, want {want:?}"
        );
        assert!(
            status == 200 || (status == 404 && target == "/nonsense"),
            "{target}: {status}"
        );
    }
    // Still serving: a good announce works and is answered with a peer list.
    let (status, body) = common::http_get(
        t.port,
        &format!("/announce?info_hash={H}&peer_id={P}&port=1&left=0"),
    );
    assert_eq!(status, 200);
    let v = bf_bencode::decode(&body).unwrap();
    assert!(v
        .as_dict()
        .unwrap()
        .get(b"peers")
        .and_then(Value::as_bytes)
        .is_some());
}

/// A BEP 15 announce packet (a `started` seed of torrent 0x01…) under `connection_id`.
fn udp_announce(connection_id: u64, transaction_id: u32) -> Vec<u8> {
    let mut out = Vec::new();
    UdpRequest::Announce(UdpAnnounce {
        connection_id,
        transaction_id,
        info_hash: bf_metainfo::InfoHash([1; 20]),
        peer_id: bf_metainfo::PeerId([2; 20]),
        downloaded: 0,
        left: 0,
        uploaded: 0,
        event: bf_tracker::Event::Started,
        ip: 0,
        key: 0,
        num_want: -1,
        port: 6881,
    })
    .write(&mut out);
    out
}

#[test]
fn garbage_udp_packets_are_not_answered_and_nothing_is_reflected() {
    let t = common::start(&[]);
    let bad_conn = udp_announce(12345, 77);
    let mut connect_bad_magic = Vec::new();
    connect_bad_magic.extend_from_slice(&1u64.to_be_bytes());
    connect_bad_magic.extend_from_slice(&0u32.to_be_bytes());
    connect_bad_magic.extend_from_slice(&5u32.to_be_bytes());
    let mut unknown_action = connect_bad_magic.clone();
    unknown_action[8..12].copy_from_slice(&9u32.to_be_bytes());
    let mut short_announce = bad_conn[..60].to_vec();
    short_announce[12..16].copy_from_slice(&78u32.to_be_bytes());
    let mut scrape_19 = PROTOCOL_ID.to_be_bytes().to_vec();
    scrape_19.extend_from_slice(&2u32.to_be_bytes());
    scrape_19.extend_from_slice(&79u32.to_be_bytes());
    scrape_19.extend_from_slice(&[0; 19]);
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![0; 15],
        connect_bad_magic,
        unknown_action,
        bad_conn,
        short_announce,
        scrape_19,
    ];
    // 2,000 random datagrams of 1 to 1,500 bytes, as a scanner or a spoofer would send.
    let random = common::content(2000 * 1500, 3);
    for i in 0..2000 {
        let len = 1 + (i * 7919) % 1500;
        cases.push(random[i * 1500..i * 1500 + len].to_vec());
    }
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 2048];
    for pkt in &cases {
        sock.send_to(pkt, ("127.0.0.1", t.port)).unwrap();
    }
    // Still serving: the first answer this socket gets is the one to its connect. The
    // kernel may drop the connect while the tracker's receive buffer is full of the burst
    // above (RcvbufErrors), so it is sent again, as a client would, until answered.
    let mut c = Vec::new();
    UdpRequest::Connect { transaction_id: 42 }.write(&mut c);
    sock.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let mut answered = None;
    for _ in 0..10 {
        sock.send_to(&c, ("127.0.0.1", t.port)).unwrap();
        if let Ok(n) = sock.recv(&mut buf) {
            answered = Some(n);
            break;
        }
    }
    let n = answered.expect("the connect after the burst was never answered");
    let UdpResponse::Connect {
        connection_id,
        transaction_id: 42,
    } = UdpResponse::parse(&buf[..n], false).unwrap()
    else {
        panic!("the first answer was not the connect's: {:?}", &buf[..n])
    };
    sock.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    // Bounded: each late answer to a resent connect is skipped, at most ten of them.
    for _ in 0..10 {
        let Ok(n) = sock.recv(&mut buf) else { break };
        assert!(
            matches!(
                UdpResponse::parse(&buf[..n], false),
                Ok(UdpResponse::Connect {
                    transaction_id: 42,
                    ..
                })
            ),
            "a garbage datagram was answered"
        );
    }
    // A malformed request with a valid connection id is told why, in no more bytes.
    let mut short = udp_announce(connection_id, 44)[..40].to_vec();
    short[12..16].copy_from_slice(&44u32.to_be_bytes());
    sock.send_to(&short, ("127.0.0.1", t.port)).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert!(n <= short.len(), "{n} bytes answered to {}", short.len());
    assert!(matches!(
        UdpResponse::parse(&buf[..n], false).unwrap(),
        UdpResponse::Error {
            transaction_id: 44,
            ..
        }
    ));
    let a = udp_announce(connection_id, 43);
    sock.send_to(&a, ("127.0.0.1", t.port)).unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert!(matches!(
        UdpResponse::parse(&buf[..n], false).unwrap(),
        UdpResponse::Announce {
            transaction_id: 43,
            seeders: 1,
            ..
        }
    ));
}

#[test]
fn oversized_requests_are_refused_by_the_http_layer_and_serving_goes_on() {
    let t = common::start(&[]);
    // Past hyper's ~400 KB header buffer the request never reaches the tracker: it answers
    // 431 (or resets while we are still writing); either way nothing breaks.
    let huge = format!("/announce?x={}", "a".repeat(600_000));
    if let Some((status, _)) = common::try_http_get(t.port, &huge) {
        assert_eq!(status, 431);
    }
    let (status, body) = common::http_get(
        t.port,
        &format!("/announce?info_hash={H}&peer_id={P}&port=1&left=0"),
    );
    assert_eq!(status, 200);
    assert!(failure_reason(&body).is_none());
}
