//! How many intermediate symbols one RaptorQ repair symbol is made of (RFC 6330 §5.3.5.3:
//! d LT plus d1 PI symbols), averaged over the first 400 repair ESIs, for the piece sizes of
//! the benchmark. This is the floor under generating a repair symbol afresh: it reads that
//! many 16 KiB symbols, where serving a block reads one (docs/performance.md).
//!
//!     cargo run --release -p bf-fountain --example repair_degree
#![allow(missing_docs)]

use raptorq::DenseBinaryMatrix;
use raptorq::{extended_source_block_symbols, generate_constraint_matrix, BinaryMatrix};

fn main() {
    // At least L - S - H rows are needed for raptorq to build the matrix.
    const SAMPLES: u32 = 400;
    for (k, label) in [(16u32, "256 KiB"), (64, "1 MiB"), (256, "4 MiB")] {
        let kp = extended_source_block_symbols(k);
        // Repair ESI e has ISI e + (K' - K).
        let isis: Vec<u32> = (0..SAMPLES).map(|r| kp + r).collect();
        let (m, _) = generate_constraint_matrix::<DenseBinaryMatrix>(k, &isis);
        let first = m.height() - isis.len();
        let terms: usize = (first..m.height())
            .map(|row| m.query_non_zero_columns(row, 0).len())
            .sum();
        println!(
            "{label} piece (K = {k}, K' = {kp}, L = {}): {:.2} intermediate symbols per repair symbol",
            m.width(),
            terms as f64 / f64::from(SAMPLES)
        );
    }
}
