//! Property tests for every codec: round trips, and arbitrary bytes never panic.
#![allow(clippy::unwrap_used)]

use bf_metainfo::{InfoHash, PeerId};
use bf_tracker::http_codec::{decode_announce, decode_scrape, encode_announce, encode_scrape};
use bf_tracker::query::{announce_query, parse_announce, parse_scrape, scrape_query};
use bf_tracker::udp_codec::{UdpAnnounce, UdpRequest, UdpResponse};
use bf_tracker::{
    AnnounceRequest, AnnounceResponse, Event, PeerAddr, ScrapeRequest, ScrapeResponse, ScrapeStats,
};
use proptest::prelude::*;
use std::net::{IpAddr, SocketAddr};

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::None),
        Just(Event::Started),
        Just(Event::Completed),
        Just(Event::Stopped)
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from)
    ]
}

prop_compose! {
    fn announce_req()(
        h in any::<[u8; 20]>(), p in any::<[u8; 20]>(), port in 1u16.., up in any::<u64>(),
        down in any::<u64>(), left in any::<u64>(), event in event(),
        numwant in proptest::option::of(0u32..100_000), compact in any::<bool>(),
        no_peer_id in any::<bool>(), key in proptest::option::of(any::<u32>()),
        ip in proptest::option::of(ip()),
    ) -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash(h), peer_id: PeerId(p), port, uploaded: up, downloaded: down,
            left, event, numwant, compact, no_peer_id, key, ip,
        }
    }
}

fn sock() -> impl Strategy<Value = SocketAddr> {
    (ip(), any::<u16>()).prop_map(|(i, p)| SocketAddr::new(i, p))
}

proptest! {
    #[test]
    fn http_query_round_trip(r in announce_req()) {
        prop_assert_eq!(parse_announce(announce_query(&r).as_bytes()).unwrap(), r);
    }

    #[test]
    fn scrape_query_round_trip(hs in proptest::collection::hash_set(any::<[u8; 20]>(), 0..50)) {
        let s = ScrapeRequest { info_hashes: hs.into_iter().map(InfoHash).collect() };
        prop_assert_eq!(parse_scrape(scrape_query(&s).as_bytes()).unwrap(), s);
    }

    #[test]
    fn query_parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_announce(&b);
        let _ = parse_scrape(&b);
    }

    #[test]
    fn announce_response_round_trip(
        interval in any::<u32>(), min in proptest::option::of(any::<u32>()),
        c in any::<u32>(), i in any::<u32>(), peers in proptest::collection::vec(sock(), 0..40),
        compact in any::<bool>(),
    ) {
        let mut peers: Vec<PeerAddr> =
            peers.into_iter().map(|addr| PeerAddr { addr, peer_id: None }).collect();
        if compact {
            // Compact form groups IPv4 before IPv6.
            peers.sort_by_key(|p| p.addr.is_ipv6());
        }
        let r = AnnounceResponse { interval, min_interval: min, complete: c, incomplete: i, peers, warning: None };
        let body = encode_announce(&r, compact, false);
        prop_assert!(bf_bencode::decode(&body).is_ok());
        prop_assert_eq!(decode_announce(&body).unwrap(), r);
    }

    #[test]
    fn scrape_response_round_trip(files in proptest::collection::btree_map(any::<[u8; 20]>(), any::<(u32, u32, u32)>(), 0..30)) {
        let r = ScrapeResponse { files: files.into_iter().map(|(h, (a, b, c))| {
            (InfoHash(h), ScrapeStats { complete: a, downloaded: b, incomplete: c })
        }).collect() };
        prop_assert_eq!(decode_scrape(&encode_scrape(&r)).unwrap(), r);
    }

    #[test]
    fn response_parsers_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode_announce(&b);
        let _ = decode_scrape(&b);
        let _ = UdpResponse::parse(&b, false);
        let _ = UdpResponse::parse(&b, true);
        let _ = UdpRequest::parse(&b);
    }

    #[test]
    fn udp_request_round_trip(
        cid in any::<u64>(), txn in any::<u32>(), h in any::<[u8; 20]>(), p in any::<[u8; 20]>(),
        d in any::<u64>(), l in any::<u64>(), u in any::<u64>(), e in event(), ip in any::<u32>(),
        key in any::<u32>(), nw in any::<i32>(), port in 1u16..,
        hs in proptest::collection::vec(any::<[u8; 20]>(), 1..74),
    ) {
        let reqs = [
            UdpRequest::Connect { transaction_id: txn },
            UdpRequest::Announce(UdpAnnounce {
                connection_id: cid, transaction_id: txn, info_hash: InfoHash(h), peer_id: PeerId(p),
                downloaded: d, left: l, uploaded: u, event: e, ip, key, num_want: nw, port,
            }),
            UdpRequest::Scrape { connection_id: cid, transaction_id: txn, info_hashes: hs.into_iter().map(InfoHash).collect() },
        ];
        for r in reqs {
            let mut b = Vec::new();
            r.write(&mut b);
            prop_assert_eq!(UdpRequest::parse(&b).unwrap(), r);
        }
    }

    #[test]
    fn udp_response_round_trip(
        txn in any::<u32>(), cid in any::<u64>(), iv in any::<u32>(), le in any::<u32>(), se in any::<u32>(),
        v6 in any::<bool>(), peers in proptest::collection::vec(sock(), 0..50),
        stats in proptest::collection::vec(any::<(u32, u32, u32)>(), 0..20), msg in "[a-z ]{0,40}",
    ) {
        let peers: Vec<SocketAddr> = peers.into_iter().filter(|p| p.is_ipv6() == v6).collect();
        let resps = [
            UdpResponse::Connect { transaction_id: txn, connection_id: cid },
            UdpResponse::Announce { transaction_id: txn, interval: iv, leechers: le, seeders: se, peers },
            UdpResponse::Scrape { transaction_id: txn, stats: stats.into_iter().map(|(a, b, c)| ScrapeStats { complete: a, downloaded: b, incomplete: c }).collect() },
            UdpResponse::Error { transaction_id: txn, message: msg },
        ];
        for r in resps {
            let mut b = Vec::new();
            r.write(&mut b, v6);
            prop_assert_eq!(UdpResponse::parse(&b, v6).unwrap(), r);
        }
    }

    #[cfg(feature = "server")]
    #[test]
    fn dfile_decoder_never_panics(b in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = bf_tracker::dfile::decode(&b);
    }
}
