//! Property tests: every message round-trips, any split of a stream decodes the same, and no
//! input makes the decoder or the state machine panic.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, PeerId};
use bf_wire::fountain::ESI_LIMIT;
use bf_wire::{
    Block, BlockRequest, Connection, ConnectionConfig, Decoder, Extended, ExtendedHandshake,
    FountainMessage, FountainParams, Frame, Handshake, Limits, LocalExtensions, Message,
    MetadataMessage, PexMessage, Reserved, SymbolRange, TorrentShape,
};
use bytes::{Bytes, BytesMut};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

/// A small symbol size keeps the cases fast; the layout does not depend on it.
const T: u32 = 64;

fn extensions() -> LocalExtensions {
    LocalExtensions {
        ut_metadata: 3,
        bf_raptorq: 4,
        ut_pex: 5,
        fountain: FountainParams {
            version: 1,
            symbol_size: T,
        },
    }
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Mostly small numbers, so that state-machine cases hit valid pieces and offsets.
fn small_or_any() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..8, 2 => (0u32..8).prop_map(|b| b * 16384), 1 => any::<u32>()]
}

fn block_request() -> impl Strategy<Value = BlockRequest> {
    (
        small_or_any(),
        small_or_any(),
        prop_oneof![3 => Just(16384u32), 1 => small_or_any()],
    )
        .prop_map(|(p, b, l)| BlockRequest::new(p, b, l))
}

fn symbol_range() -> impl Strategy<Value = SymbolRange> {
    (small_or_any(), 0..ESI_LIMIT, 1u32..64).prop_map(|(piece, first, count)| {
        let first = first.min(ESI_LIMIT - count);
        SymbolRange::new(piece, first, count)
    })
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<[u8; 16]>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

fn extended_handshake() -> impl Strategy<Value = ExtendedHandshake> {
    (
        btree_map(vec(any::<u8>(), 1..12), any::<u8>(), 0..6),
        proptest::option::of(any::<u16>()),
        proptest::option::of(".{0,20}"),
        proptest::option::of(ip()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(
            (any::<u32>(), any::<u32>()).prop_map(|(version, symbol_size)| FountainParams {
                version,
                symbol_size,
            }),
        ),
    )
        .prop_map(
            |(extensions, listen_port, client, your_ip, reqq, metadata_size, fountain)| {
                ExtendedHandshake {
                    extensions,
                    listen_port,
                    client,
                    your_ip,
                    reqq,
                    metadata_size,
                    fountain,
                }
            },
        )
}

fn metadata_message() -> impl Strategy<Value = MetadataMessage> {
    prop_oneof![
        small_or_any().prop_map(|piece| MetadataMessage::Request { piece }),
        (small_or_any(), any::<u32>(), bytes(2048)).prop_map(|(piece, total_size, data)| {
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            }
        }),
        small_or_any().prop_map(|piece| MetadataMessage::Reject { piece }),
        any::<i64>()
            .prop_filter("defined types", |t| !(0..=2).contains(t))
            .prop_map(|msg_type| MetadataMessage::Unknown { msg_type }),
    ]
}

fn fountain_message() -> impl Strategy<Value = FountainMessage> {
    prop_oneof![
        symbol_range().prop_map(FountainMessage::SymbolRequest),
        (small_or_any(), 0..ESI_LIMIT, vec(any::<u8>(), T as usize)).prop_map(
            |(piece, esi, data)| FountainMessage::Symbol {
                piece,
                esi,
                data: Bytes::from(data),
            }
        ),
        small_or_any().prop_map(|piece| FountainMessage::SymbolCancel { piece }),
        symbol_range().prop_map(FountainMessage::SymbolReject),
        (4u8..=255, bytes(T as usize + 8))
            .prop_map(|(kind, payload)| FountainMessage::Unknown { kind, payload }),
    ]
}

/// Peer lists as a PEX message decodes them: IPv4 before IPv6, no port 0.
fn pex_addrs() -> impl Strategy<Value = Vec<SocketAddr>> {
    (
        vec((any::<[u8; 4]>(), 1u16..), 0..8),
        vec((any::<[u8; 16]>(), 1u16..), 0..4),
    )
        .prop_map(|(v4, v6)| {
            let v4 = v4
                .into_iter()
                .map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port));
            let v6 = v6
                .into_iter()
                .map(|(ip, port)| SocketAddr::new(IpAddr::from(ip), port));
            v4.chain(v6).collect()
        })
}

fn pex_message() -> impl Strategy<Value = PexMessage> {
    (pex_addrs(), pex_addrs()).prop_map(|(added, dropped)| PexMessage { added, dropped })
}

/// Any message, with extension ids as the decoder configured by [`extensions`] reads them.
fn message() -> impl Strategy<Value = Message> {
    let ext = extensions();
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        small_or_any().prop_map(Message::Have),
        bytes(64).prop_map(Message::Bitfield),
        block_request().prop_map(Message::Request),
        (small_or_any(), small_or_any(), bytes(16384))
            .prop_map(|(piece, begin, data)| { Message::Piece(Block { piece, begin, data }) }),
        block_request().prop_map(Message::Cancel),
        any::<u16>().prop_map(Message::Port),
        small_or_any().prop_map(Message::Suggest),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        block_request().prop_map(Message::Reject),
        small_or_any().prop_map(Message::AllowedFast),
        extended_handshake().prop_map(|h| Message::Extended(Extended::Handshake(Box::new(h)))),
        metadata_message().prop_map(move |message| Message::Extended(Extended::Metadata {
            id: ext.ut_metadata,
            message
        })),
        fountain_message().prop_map(move |message| Message::Extended(Extended::Fountain {
            id: ext.bf_raptorq,
            message
        })),
        pex_message().prop_map(move |message| Message::Extended(Extended::Pex {
            id: ext.ut_pex,
            message
        })),
        (6u8..=255, bytes(256))
            .prop_map(|(id, payload)| Message::Extended(Extended::Unknown { id, payload })),
        (21u8..=255, bytes(256)).prop_map(|(id, payload)| Message::Unknown { id, payload }),
    ]
}

fn decoder() -> Decoder {
    Decoder::new(Limits::default(), extensions())
}

fn handshake() -> Handshake {
    Handshake::new(InfoHash([3; 20]), PeerId([4; 20]))
}

/// Feeds `wire` in the given chunk sizes and collects every frame; panics on an error.
fn decode_in_chunks(wire: &[u8], cuts: &[usize]) -> Vec<Frame> {
    let mut d = decoder();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut cuts = cuts.iter().cycle();
    while !rest.is_empty() {
        let n = (*cuts.next().unwrap()).clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(f) = d.decode(&mut buf).unwrap() {
            frames.push(f);
        }
    }
    assert!(buf.is_empty(), "bytes left over");
    frames
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_message_round_trips(m in message()) {
        let mut buf = BytesMut::new();
        m.encode(&mut buf);
        let mut d = Decoder::after_handshake(Limits::default(), extensions());
        let got = d.decode_message(&mut buf).unwrap();
        prop_assert_eq!(got, Some(m));
        prop_assert!(buf.is_empty());
    }

    /// The header and the data `encode_vectored` splits a message into are its encoding,
    /// and the data is the message's own `Bytes`, not a copy.
    #[test]
    fn vectored_encoding_is_the_encoding(msgs in vec(message(), 0..12)) {
        let (mut whole, mut header) = (BytesMut::new(), BytesMut::new());
        let mut joined = Vec::new();
        for m in &msgs {
            m.encode(&mut whole);
            let data = m.encode_vectored(&mut header);
            joined.extend_from_slice(&header.split());
            let own = match m {
                Message::Piece(b) => Some(&b.data),
                Message::Extended(Extended::Fountain {
                    message: FountainMessage::Symbol { data, .. },
                    ..
                }) => Some(data),
                _ => None,
            };
            prop_assert_eq!(data.is_some(), own.is_some());
            if let (Some(data), Some(own)) = (data, own) {
                prop_assert_eq!(data.as_ptr(), own.as_ptr());
                prop_assert_eq!(data.len(), own.len());
                joined.extend_from_slice(&data);
            }
        }
        prop_assert_eq!(&joined[..], &whole[..]);
    }

    #[test]
    fn any_split_decodes_the_same(
        msgs in vec(message(), 0..12),
        cuts in vec(1usize..300, 1..20),
    ) {
        let mut wire = BytesMut::new();
        handshake().encode(&mut wire);
        for m in &msgs {
            m.encode(&mut wire);
        }
        let whole = decode_in_chunks(&wire, &[wire.len().max(1)]);
        let split = decode_in_chunks(&wire, &cuts);
        let mut want = vec![Frame::Handshake(handshake())];
        want.extend(msgs.into_iter().map(Frame::Message));
        prop_assert_eq!(&whole, &want);
        prop_assert_eq!(&split, &want);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(
        data in vec(any::<u8>(), 0..2048),
        after_handshake in any::<bool>(),
        piece_count in proptest::option::of(1u32..100),
    ) {
        let mut d = if after_handshake {
            Decoder::after_handshake(Limits::default(), extensions())
        } else {
            decoder()
        };
        if let Some(n) = piece_count {
            d.set_piece_count(n);
        }
        let mut buf = BytesMut::from(&data[..]);
        // Each frame consumes at least 4 bytes: bounded.
        for _ in 0..=data.len() {
            match d.decode(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    #[test]
    fn arbitrary_messages_never_panic_the_state_machine(
        fast in any::<bool>(),
        known_shape in any::<bool>(),
        msgs in vec(message(), 0..40),
        ops in vec((0u8..16, small_or_any(), small_or_any()), 0..40),
        garbage in vec(any::<u8>(), 0..256),
    ) {
        let now = Instant::now();
        let shape = TorrentShape::new(4 * 16384, 7 * 4 * 16384 + 5000).unwrap();
        let config = ConnectionConfig {
            extensions: extensions(),
            ..ConnectionConfig::default()
        };
        let peer = Handshake {
            reserved: Reserved::bitfountain().with_fast(fast),
            ..handshake()
        };
        let mut c = Connection::new(config, &peer, known_shape.then_some(shape), now);
        let mut ops = ops.into_iter();
        for m in msgs {
            // Interleave local actions so that requests and symbol ranges are outstanding.
            if let Some((op, a, b)) = ops.next() {
                local_op(&mut c, op, a, b, now);
            }
            let msg_bytes = m.to_bytes();
            let mut buf = BytesMut::from(&msg_bytes[..]);
            if c.receive(&mut buf, now).is_err() {
                return Ok(());
            }
            while c.poll_event().is_some() {}
            let mut out = BytesMut::new();
            c.encode_pending(&mut out, now);
        }
        if !known_shape {
            let _ = c.set_shape(shape);
        }
        let mut buf = BytesMut::from(&garbage[..]);
        let _ = c.receive(&mut buf, now + Duration::from_secs(1));
    }
}

/// One engine action chosen by `op`; errors are expected and ignored.
fn local_op(c: &mut Connection, op: u8, a: u32, b: u32, now: Instant) {
    let r = BlockRequest::new(a % 8, (b % 4) * 16384, 16384);
    let _ = match op {
        0 => {
            c.unchoke();
            Ok(())
        }
        1 => {
            c.choke();
            Ok(())
        }
        2 => {
            c.interested();
            c.request(r, now)
        }
        3 => c.cancel(r),
        4 => c.send_extended_handshake(ExtendedHandshake::default()),
        5 => c.request_symbols(SymbolRange::new(a % 8, b % 64, 1 + b % 8), now),
        6 => c.cancel_symbols(a % 8),
        7 => c.send_symbol(a % 8, b % 64, Bytes::from(vec![0; T as usize])),
        8 => c.reject_symbols(SymbolRange::new(a % 8, b % 64, 4)),
        9 => c.allow_fast(a % 8),
        10 => c.request_metadata(a % 4, now),
        11 => c.send_block(Block {
            piece: r.piece,
            begin: r.begin,
            data: Bytes::from(vec![0; 16384]),
        }),
        12 => c.reject(r),
        13 => c.have(a),
        14 => {
            c.interested();
            Ok(())
        }
        _ => {
            c.poll_keepalive(now + Duration::from_secs(u64::from(b % 200)));
            Ok(())
        }
    };
}
