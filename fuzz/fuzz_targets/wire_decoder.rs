//! Any byte stream, fed whole or in pieces: the decoder never panics, every split gives the
//! same messages (and fails at the same message if it fails), and every decoded message
//! re-encodes to bytes that decode to the same message.
#![no_main]

use bf_wire::bytes::BytesMut;
use bf_wire::{Decoder, FountainParams, Frame, Limits, LocalExtensions};
use libfuzzer_sys::fuzz_target;

struct Setup {
    handshake_first: bool,
    piece_count: Option<u32>,
}

fn decoder(s: &Setup) -> Decoder {
    let ext = LocalExtensions {
        ut_metadata: 1,
        bf_raptorq: 2,
        ut_pex: 3,
        // A small T lets the fuzzer reach valid symbols.
        fountain: FountainParams {
            version: 1,
            symbol_size: 32,
        },
    };
    let limits = Limits {
        max_bitfield_len: 4096,
        max_extended_len: 8192,
        max_unknown_len: 1024,
        ..Limits::default()
    };
    let mut d = if s.handshake_first {
        Decoder::new(limits, ext)
    } else {
        Decoder::after_handshake(limits, ext)
    };
    if let Some(n) = s.piece_count {
        d.set_piece_count(n);
    }
    d
}

/// Frames decoded and whether decoding stopped on an error.
fn decode_all(s: &Setup, stream: &[u8], chunks: &[usize]) -> (Vec<Frame>, bool) {
    let mut d = decoder(s);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = stream;
    let mut sizes = chunks.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        // Each frame takes at least four bytes off the buffer, so this ends.
        loop {
            match d.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, stream)) = data.split_first() else {
        return;
    };
    let setup = Setup {
        handshake_first: ctl & 1 != 0,
        piece_count: (ctl & 2 != 0).then_some(u32::from(ctl >> 2) * 7 + 1),
    };
    let chunk = usize::from(ctl >> 4) + 1;
    let whole = decode_all(&setup, stream, &[stream.len().max(1)]);
    let split = decode_all(&setup, stream, &[chunk, 1, 3 * chunk + 2]);
    assert_eq!(whole, split, "a split of the stream decoded differently");

    for frame in whole.0 {
        if let Frame::Message(m) = frame {
            let mut buf = BytesMut::new();
            m.encode(&mut buf);
            let mut d = decoder(&Setup {
                handshake_first: false,
                ..setup
            });
            let again = d
                .decode_message(&mut buf)
                .expect("re-encoded message must decode");
            assert_eq!(again, Some(m));
            assert!(buf.is_empty());
        }
    }
});
