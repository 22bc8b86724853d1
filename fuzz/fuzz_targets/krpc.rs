//! Any bytes as a DHT datagram: the KRPC decoder gives an error or a message, never a panic,
//! and what decodes re-encodes to a message that decodes the same; a node of either family
//! (IPv4, IPv6) fed the bytes from a few senders stays within its bounds, answers at most
//! one datagram each, and never answers the sender of the other family.
#![no_main]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bf_dht::krpc::{Body, Message, MAX_VALUES};
use bf_dht::node::{Config, Node};
use bf_dht::NodeId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let fits = !matches!(&m.body, Body::Reply { reply, .. } if reply.values.len() > MAX_VALUES);
        if fits {
            let again = Message::decode(&m.encode(b"BF01")).expect("re-encoded message decodes");
            assert_eq!(again, m);
        }
    }
    let now = Instant::now();
    for ipv6 in [false, true] {
        let cfg = Config {
            ipv6,
            ..Config::default()
        };
        let mut node = Node::new(NodeId([0x42; 20]), cfg, now);
        let sender = |i: u8| -> SocketAddr {
            if ipv6 {
                (
                    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(i) + 1),
                    6881,
                )
                    .into()
            } else {
                (Ipv4Addr::new(10, 0, 0, i + 1), 6881).into()
            }
        };
        for i in 0..4u8 {
            let _ = node.handle(sender(i), data, now + Duration::from_millis(u64::from(i)));
        }
        // One of the other family, which must go unanswered.
        let stranger: SocketAddr = if ipv6 {
            (Ipv4Addr::new(10, 0, 0, 9), 6881).into()
        } else {
            (Ipv6Addr::LOCALHOST, 6881).into()
        };
        let _ = node.handle(stranger, data, now + Duration::from_millis(5));
        let mut answers = 0;
        while let Some((to, bytes)) = node.poll_transmit() {
            assert!(bytes.len() <= 1500, "an answer of {} bytes", bytes.len());
            assert_eq!(to.is_ipv6(), ipv6, "sent to {to}");
            answers += 1;
        }
        assert!(answers <= 4);
        assert!(node.table().len() <= 4);
    }
});
