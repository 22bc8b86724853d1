//! The SHA-1 limit: single-core throughput of RustCrypto `sha1` (SHA-NI chosen at run time
//! where the CPU has it) over data already in memory, the ceiling for piece hashing.

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sha1::{Digest, Sha1};

fn sha1_limit(c: &mut Criterion) {
    let mut g = c.benchmark_group("sha1");
    for size in [128usize << 10, 1 << 20] {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("{} KiB", size >> 10), |b| {
            b.iter(|| Sha1::digest(std::hint::black_box(&data)))
        });
    }
    g.finish();
}

criterion_group!(benches, sha1_limit);
criterion_main!(benches);
