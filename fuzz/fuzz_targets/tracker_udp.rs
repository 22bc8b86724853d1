//! Any bytes as a BEP 15 packet, both directions: an error or a packet, never a panic; what
//! parses re-encodes to bytes that parse to the same packet.
#![no_main]

use bf_tracker::udp_codec::{UdpRequest, UdpResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = UdpRequest::parse(data) {
        let mut b = Vec::new();
        r.write(&mut b);
        assert_eq!(UdpRequest::parse(&b).expect("re-encoded request parses"), r);
    }
    for v6 in [false, true] {
        if let Ok(r) = UdpResponse::parse(data, v6) {
            let mut b = Vec::new();
            r.write(&mut b, v6);
            let again = UdpResponse::parse(&b, v6).expect("re-encoded response parses");
            // Error messages are decoded lossily, so compare those by re-encoding only.
            if !matches!(r, UdpResponse::Error { .. }) {
                assert_eq!(again, r);
            }
        }
    }
});
