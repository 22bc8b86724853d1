//! How many 16 KiB symbol operations raptorq's inactivation solver (RFC 6330 §5.4.2) spends
//! on a piece decoded from K + 1 repair symbols, by phase, plus the XORs that rebuild the K
//! missing blocks from the intermediate symbols. These counts, not the matrix work, are
//! what a decode costs (docs/performance.md, "Where the solve spends its time").
//!
//!     cargo run --release -p bf-fountain --example solve_ops
#![allow(missing_docs)]

use raptorq::{
    extended_source_block_symbols, generate_constraint_matrix, BinaryMatrix, DenseBinaryMatrix,
    IntermediateSymbolDecoder, SparseBinaryMatrix, SymbolSlab,
};

fn main() {
    // The counts do not depend on the symbol size, so 1-byte symbols keep this quick.
    for (k, label) in [(16u32, "256 KiB"), (64, "1 MiB"), (256, "4 MiB")] {
        let kp = extended_source_block_symbols(k);
        // Padding symbols (ISI K..K'), then repair ESIs K..=2K under ISI = ESI + K' - K.
        let isis: Vec<u32> = (k..kp).chain((k..=2 * k).map(|e| e + kp - k)).collect();
        let (a, hdpc) = generate_constraint_matrix::<SparseBinaryMatrix>(k, &isis);
        let rows = a.height();
        let slab = SymbolSlab::with_zeros(rows, 1);
        let mut solver = IntermediateSymbolDecoder::new(a, hdpc, slab, k);
        if solver.execute().0.is_none() {
            println!("{label}: not solvable from these ESIs");
            continue;
        }
        let fma = solver.get_symbol_mul_ops_by_phase();
        let xor = solver.get_symbol_add_ops_by_phase();
        // Block i is the XOR of the intermediate symbols its LT row names.
        let all: Vec<u32> = (0..kp).collect();
        let lt = generate_constraint_matrix::<DenseBinaryMatrix>(k, &all).0;
        let first = lt.height() - all.len();
        let rebuild: usize = (0..k as usize)
            .map(|i| lt.query_non_zero_columns(first + i, 0).len() - 1)
            .sum();
        println!(
            "{label} (K = {k}, K' = {kp}): multiply-adds by phase {fma:?} = {}, XORs by phase \
             {xor:?} = {}, rebuild XORs {rebuild}",
            fma.iter().sum::<u32>(),
            xor.iter().sum::<u32>(),
        );
    }
}
