//! Codec throughput beside SHA-1 and memcpy of the same bytes, and the cost of serving a
//! block against serving a repair symbol. Results and the command are in docs/performance.md.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use bf_fountain::{PieceDecoder, PieceEncoder, PlanCache, SYMBOL_ALIGNMENT, SYMBOL_SIZE};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use raptorq::{
    EncodingPacket, ObjectTransmissionInformation, Octet, PayloadId, SourceBlockDecoder, Symbol,
};
use sha1::{Digest, Sha1};

const T: usize = SYMBOL_SIZE;
const SIZES: [(usize, &str); 3] = [(256 << 10, "256KiB"), (1 << 20, "1MiB"), (4 << 20, "4MiB")];

/// (ESI, symbol) sets: all source; 10% of blocks replaced by repair (+1 spare); all repair
/// (K + 1: the tail target of the allocator).
fn symbol_sets(enc: &mut PieceEncoder) -> Vec<(&'static str, Vec<(u32, Bytes)>)> {
    let k = enc.layout().source_symbols();
    let lost = k.div_ceil(10);
    let all_source: Vec<u32> = (0..k).collect();
    let ten_pct: Vec<u32> = (0..k)
        .filter(|e| e % 10 != 3 || e / 10 >= lost)
        .chain(k..k + lost + 1)
        .collect();
    let all_repair: Vec<u32> = (k..2 * k + 1).collect();
    [
        ("decode_all_source", all_source),
        ("decode_10pct_repair", ten_pct),
        ("decode_all_repair", all_repair),
    ]
    .into_iter()
    .map(|(name, esis)| {
        let syms = esis
            .into_iter()
            .map(|e| (e, enc.symbol(e).unwrap()))
            .collect();
        (name, syms)
    })
    .collect()
}

fn codec(c: &mut Criterion) {
    for (len, label) in SIZES {
        let data = Bytes::from(bf_testkit::pseudo_random_bytes(len, 1));
        let mut plans = PlanCache::new();
        let mut enc = PieceEncoder::new(0, data.clone(), &mut plans).unwrap();
        let mut g = c.benchmark_group(format!("codec_{label}"));
        g.throughput(Throughput::Bytes(len as u64));
        g.sample_size(if len > (1 << 20) { 20 } else { 40 });

        let mut out = vec![0u8; len];
        g.bench_function("memcpy", |b| {
            b.iter(|| out.copy_from_slice(black_box(&data)));
        });
        // The same copy into a freshly allocated buffer, as a decoder that returns a new
        // piece must do.
        g.bench_function("memcpy_alloc", |b| {
            b.iter_batched(
                || (),
                |()| black_box(&data).to_vec(),
                BatchSize::PerIteration,
            );
        });
        g.bench_function("sha1", |b| b.iter(|| Sha1::digest(black_box(&data))));
        g.bench_function("encoder_prepare", |b| {
            b.iter(|| PieceEncoder::new(0, black_box(data.clone()), &mut plans).unwrap());
        });
        g.bench_function("encoder_prepare_cold_plan", |b| {
            b.iter(|| {
                PieceEncoder::new(0, black_box(data.clone()), &mut PlanCache::new()).unwrap()
            });
        });
        for (name, syms) in symbol_sets(&mut enc) {
            if name != "decode_all_source" {
                // The baseline: raptorq's own block decoder on the same symbols, as
                // bf-fountain called it before it ran the solver on its own memory.
                let oti = ObjectTransmissionInformation::new(
                    len as u64,
                    T as u16,
                    1,
                    1,
                    SYMBOL_ALIGNMENT,
                );
                let padded = enc.layout().padded_len();
                g.bench_function(format!("{name}_raptorq_decoder"), |b| {
                    b.iter_batched(
                        || syms.clone(),
                        |syms| {
                            let mut dec = SourceBlockDecoder::new(0, &oti, padded as u64);
                            let packets = syms.iter().map(|(esi, s)| {
                                EncodingPacket::new(PayloadId::new(0, *esi), s.to_vec())
                            });
                            let mut out = dec.decode(packets).unwrap();
                            out.truncate(len);
                            Bytes::from(out)
                        },
                        BatchSize::PerIteration,
                    );
                });
            }
            g.bench_function(name, |b| {
                b.iter_batched(
                    || syms.clone(),
                    |syms| {
                        let mut dec = PieceDecoder::new(0, len as u64).unwrap();
                        for (esi, s) in syms {
                            dec.add_symbol(0u8, 0, esi, s).unwrap();
                        }
                        dec.try_decode().unwrap()
                    },
                    // Drop each piece before the next is decoded, as a client does once the
                    // piece is written; holding a batch of them would time page faults.
                    BatchSize::PerIteration,
                );
            });
        }
        // All blocks present, handed out zero-copy for hashing and writing: no assembly.
        let blocks: Vec<(u32, Bytes)> = (0..enc.layout().source_symbols())
            .map(|e| (e, enc.symbol(e).unwrap()))
            .collect();
        g.bench_function("decode_all_source_zero_copy", |b| {
            b.iter_batched(
                || blocks.clone(),
                |syms| {
                    let mut dec = PieceDecoder::new(0, len as u64).unwrap();
                    for (esi, s) in syms {
                        dec.add_symbol(0u8, 0, esi, s).unwrap();
                    }
                    dec.source_blocks().unwrap()
                },
                BatchSize::PerIteration,
            );
        });
        g.finish();

        // One repair symbol (ESI beyond the memo), per symbol; throughput is T bytes.
        let mut g = c.benchmark_group(format!("repair_symbol_{label}"));
        g.throughput(Throughput::Bytes(T as u64));
        let k = enc.layout().source_symbols();
        g.bench_function("generate", |b| {
            b.iter(|| enc.repair_symbol(black_box(k + 40)).unwrap());
        });
        g.finish();
    }
}

/// Serving one 16 KiB unit to a peer: slice the piece and copy into the send buffer, against
/// a repair symbol from a cached encoder (memo hit, and generated afresh) copied the same way.
fn serve(c: &mut Criterion) {
    let data = Bytes::from(bf_testkit::pseudo_random_bytes(1 << 20, 1));
    let mut plans = PlanCache::new();
    let mut enc = PieceEncoder::new(0, data.clone(), &mut plans).unwrap();
    let k = enc.layout().source_symbols();
    let mut out = vec![0u8; T];
    let mut g = c.benchmark_group("serve_1MiB_piece");
    g.throughput(Throughput::Bytes(T as u64));
    g.bench_function("block_slice_copy", |b| {
        b.iter(|| {
            let s = data.slice(5 * T..6 * T);
            out.copy_from_slice(black_box(&s));
        });
    });
    g.bench_function("repair_cached_copy", |b| {
        b.iter(|| {
            let s = enc.symbol(black_box(k + 1)).unwrap();
            out.copy_from_slice(&s);
        });
    });
    g.bench_function("repair_generated_copy", |b| {
        b.iter(|| {
            let s = enc.repair_symbol(black_box(k + 40)).unwrap();
            out.copy_from_slice(&s);
        });
    });
    g.finish();
}

/// One solver operation on two 16 KiB symbols with raptorq's kernels (what the solve_ops
/// example counts): the unit that turns operation counts into time.
fn symbol_ops(c: &mut Criterion) {
    let mut dst = Symbol::new(bf_testkit::pseudo_random_bytes(T, 5));
    let src = Symbol::new(bf_testkit::pseudo_random_bytes(T, 6));
    let beta = Octet::new(7);
    let mut g = c.benchmark_group("symbol_op_16KiB");
    g.throughput(Throughput::Bytes(T as u64));
    g.bench_function("xor", |b| b.iter(|| dst += black_box(&src)));
    g.bench_function("multiply_add", |b| {
        b.iter(|| dst.fused_addassign_mul_scalar(black_box(&src), &beta))
    });
    g.bench_function("multiply", |b| b.iter(|| dst.mulassign_scalar(&beta)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = codec, serve, symbol_ops
}
criterion_main!(benches);
