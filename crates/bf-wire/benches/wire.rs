//! Codec throughput beside memcpy of the same bytes: decoding PIECE and SYMBOL streams
//! (zero-copy), the same through the connection state machine, and encoding.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, PeerId};
use bf_wire::{
    Block, Connection, ConnectionConfig, Decoder, Extended, FountainMessage, Handshake, Limits,
    LocalExtensions, Message, TorrentShape,
};
use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

const BLOCK: usize = 16384;
const PIECE_LEN: u32 = 1 << 20;
const BLOCKS: u32 = 1024; // 16 MiB per stream

fn block_messages() -> Vec<Message> {
    let data = Bytes::from(vec![0x5a; BLOCK]);
    (0..BLOCKS)
        .map(|i| {
            Message::Piece(Block {
                piece: i / (PIECE_LEN / BLOCK as u32),
                begin: (i % (PIECE_LEN / BLOCK as u32)) * BLOCK as u32,
                data: data.clone(),
            })
        })
        .collect()
}

fn symbol_messages() -> Vec<Message> {
    let data = Bytes::from(vec![0x5a; BLOCK]);
    (0..BLOCKS)
        .map(|i| {
            Message::Extended(Extended::Fountain {
                id: LocalExtensions::default().bf_raptorq,
                message: FountainMessage::Symbol {
                    piece: i / 64,
                    esi: i % 64,
                    data: data.clone(),
                },
            })
        })
        .collect()
}

fn wire(msgs: &[Message]) -> Bytes {
    let mut buf = BytesMut::new();
    for m in msgs {
        m.encode(&mut buf);
    }
    buf.freeze()
}

fn decode_all(buf: &mut BytesMut) -> usize {
    let mut d = Decoder::after_handshake(Limits::default(), LocalExtensions::default());
    let mut n = 0;
    while let Some(m) = d.decode_message(buf).unwrap() {
        std::hint::black_box(&m);
        n += 1;
    }
    n
}

fn benches(c: &mut Criterion) {
    let blocks = block_messages();
    let block_wire = wire(&blocks);
    let symbol_wire = wire(&symbol_messages());
    let mut g = c.benchmark_group("wire");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(block_wire.len() as u64));

    g.bench_function("memcpy 16 MiB", |b| {
        b.iter_batched_ref(
            // Non-zero, so the pages are written (faulted in) before the timed copy.
            || vec![1u8; block_wire.len()],
            |dst| dst.copy_from_slice(&block_wire),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("decode PIECE stream", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&block_wire[..]),
            |buf| assert_eq!(decode_all(buf), BLOCKS as usize),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("decode SYMBOL stream", |b| {
        b.iter_batched_ref(
            || BytesMut::from(&symbol_wire[..]),
            |buf| assert_eq!(decode_all(buf), BLOCKS as usize),
            BatchSize::LargeInput,
        )
    });

    // Decoding plus the state machine: every block matched against an outstanding request.
    let shape = TorrentShape::new(PIECE_LEN, u64::from(BLOCKS) * BLOCK as u64).unwrap();
    let peer = Handshake::new(InfoHash([1; 20]), PeerId([2; 20]));
    g.bench_function("connection receive PIECE stream", |b| {
        b.iter_batched_ref(
            || {
                let now = Instant::now();
                let mut conn =
                    Connection::new(ConnectionConfig::default(), &peer, Some(shape), now);
                // The peer has every piece (16 of them), unchokes us, and we are interested.
                conn.handle(Message::Bitfield(Bytes::from_static(&[0xff, 0xff])), now)
                    .unwrap();
                conn.handle(Message::Unchoke, now).unwrap();
                conn.interested();
                for m in &blocks {
                    if let Message::Piece(b) = m {
                        conn.request(b.request(), now).unwrap();
                    }
                }
                while conn.poll_event().is_some() {}
                (conn, BytesMut::from(&block_wire[..]))
            },
            |(conn, buf)| {
                let now = Instant::now();
                assert_eq!(conn.receive(buf, now).unwrap(), BLOCKS as usize);
                while let Some(ev) = conn.poll_event() {
                    std::hint::black_box(ev);
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("encode PIECE stream", |b| {
        b.iter_batched_ref(
            || {
                let mut b = BytesMut::from(&vec![1u8; block_wire.len()][..]);
                b.clear();
                b
            },
            |buf| {
                for m in &blocks {
                    m.encode(buf);
                }
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(wire_benches, benches);
criterion_main!(wire_benches);
