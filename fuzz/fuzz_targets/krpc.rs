//! Any bytes as a DHT datagram: the KRPC decoder gives an error or a message, never a panic,
//! and what decodes re-encodes to a message that decodes the same; a node fed the bytes
//! from a few senders stays within its bounds and answers at most one datagram each.
#![no_main]

use std::net::{Ipv4Addr, SocketAddrV4};
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
    let mut node = Node::new(NodeId([0x42; 20]), Config::default(), now);
    for i in 0..4u8 {
        let from = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, i + 1), 6881);
        let _ = node.handle(from, data, now + Duration::from_millis(u64::from(i)));
    }
    let mut answers = 0;
    while let Some((_, bytes)) = node.poll_transmit() {
        assert!(bytes.len() <= 1500, "an answer of {} bytes", bytes.len());
        answers += 1;
    }
    assert!(answers <= 4);
    assert!(node.table().len() <= 4);
});
