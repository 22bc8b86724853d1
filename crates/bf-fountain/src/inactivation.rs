//! The full RaptorQ solve (RFC 6330 §5.4.2, inactivation decoding) on symbol memory this
//! thread keeps from one solve to the next.
//!
//! raptorq's `SourceBlockDecoder` allocates its working slab (S + H + n symbols, about
//! 1.15 × the piece) and its output for every solve and frees them after. For pieces of a
//! megabyte and more glibc hands those back to the kernel, so every solve pays a page fault
//! per 4 KiB (about 2,000 at 4 MiB, half the decode time in this VM: docs/performance.md).
//! Here the same solver (raptorq's `IntermediateSymbolDecoder`) runs on a slab taken from a
//! small per-thread pool, and the missing blocks are rebuilt straight into the piece.

use std::cell::RefCell;

use bytes::{Bytes, BytesMut};
use raptorq::{
    extended_source_block_symbols, generate_constraint_matrix, BinaryMatrix, DenseBinaryMatrix,
    IntermediateSymbolDecoder, SparseBinaryMatrix, SymbolSlab,
};

use crate::{PieceLayout, SYMBOL_SIZE};

/// From this K' on raptorq's own decoder switches to its sparse matrix (its
/// `SPARSE_MATRIX_THRESHOLD`); the same choice here keeps its measured behaviour.
const SPARSE_FROM: u32 = 250;

/// Slabs a thread keeps beside the most recent one, at most this many bytes in all: two
/// 16 MiB pieces' worth, so a thread solving pieces of two sizes (or n = K and K + 1) does not
/// churn. The most recent slab is always kept, whatever its size: it is ~1.15 × a piece the
/// thread is decoding anyway, and a 64 MiB piece solved on fresh memory pays ~33,000 page
/// faults.
const POOL_BYTES: usize = 40 << 20;

thread_local! {
    static POOL: RefCell<Vec<SymbolSlab>> = const { RefCell::new(Vec::new()) };
}

/// A slab of `count` T-byte symbols with the identity order; contents are whatever the last
/// solve left (every row is overwritten before use).
fn take_slab(count: usize) -> SymbolSlab {
    let reused = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let i = p.iter().position(|s| s.len() == count)?;
        Some(p.swap_remove(i))
    });
    match reused {
        Some(mut slab) => {
            // A solved slab carries its result order; rows are addressed through it.
            slab.set_reorder((0..count).collect());
            slab
        }
        None => SymbolSlab::with_zeros(count, SYMBOL_SIZE),
    }
}

/// Frees the solve memory this thread keeps between solves (about 1.15 × the piece for each
/// piece size recently solved: the last one, and others up to 40 MiB in all). The next solve
/// on this thread allocates afresh.
pub fn release_solve_memory() {
    POOL.with(|p| p.borrow_mut().clear());
}

fn give_back(slab: SymbolSlab) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let mut kept = 0;
        p.retain(|s| {
            kept += s.len() * SYMBOL_SIZE;
            kept + slab.len() * SYMBOL_SIZE <= POOL_BYTES
        });
        p.insert(0, slab);
    });
}

/// Solves for the piece from `symbols` (validated ESI < 2^24, T bytes each, distinct), or
/// `None` when they do not determine the block.
pub(crate) fn decode(layout: &PieceLayout, symbols: &[(u32, &[u8])]) -> Option<Bytes> {
    // The slab's rows are exactly T bytes; anything else would not fit (the caller has
    // already dropped such symbols, this keeps the function safe on its own).
    if symbols.iter().any(|(_, data)| data.len() != SYMBOL_SIZE) {
        return None;
    }
    let k = layout.source_symbols();
    let k_ext = extended_source_block_symbols(k);
    let padding = k_ext - k;
    let mut by_esi: Vec<Option<&[u8]>> = vec![None; k as usize];
    // Rows in raptorq's order: received source symbols, the padding symbols (known zero),
    // then repair symbols under their internal ids (ESI + K' − K).
    let mut isis: Vec<u32> = Vec::with_capacity(symbols.len() + padding as usize);
    let mut rows: Vec<Option<&[u8]>> = Vec::with_capacity(isis.capacity());
    for (esi, data) in symbols.iter().filter(|(esi, _)| *esi < k) {
        let slot = by_esi.get_mut(*esi as usize)?;
        *slot = Some(data);
        isis.push(*esi);
        rows.push(Some(data));
    }
    for isi in k..k_ext {
        isis.push(isi);
        rows.push(None);
    }
    for (esi, data) in symbols.iter().filter(|(esi, _)| *esi >= k) {
        isis.push(esi.checked_add(padding)?);
        rows.push(Some(data));
    }
    if isis.len() < k_ext as usize {
        return None;
    }
    let c = if k_ext >= SPARSE_FROM {
        solve_rows::<SparseBinaryMatrix>(k, &isis, &rows)
    } else {
        solve_rows::<DenseBinaryMatrix>(k, &isis, &rows)
    }?;
    assemble(layout, &by_esi, c)
}

/// The L intermediate symbols, in a pooled slab, from the received rows `rows` whose internal
/// symbol ids are `isis` (at least K' of them); `None` if they do not determine the block.
fn solve_rows<M: BinaryMatrix>(k: u32, isis: &[u32], rows: &[Option<&[u8]>]) -> Option<SymbolSlab> {
    let (a, hdpc) = generate_constraint_matrix::<M>(k, isis);
    let mut slab = take_slab(a.height());
    fill_rows(&mut slab, a.height() - rows.len(), rows);
    IntermediateSymbolDecoder::new(a, hdpc, slab, k).execute().0
}

/// The first `zero_rows` rows (the S LDPC and H HDPC constraints) are zero, then one row per
/// entry of `rows`: its symbol, or zero for a padding symbol.
fn fill_rows(slab: &mut SymbolSlab, zero_rows: usize, rows: &[Option<&[u8]>]) {
    for i in 0..zero_rows {
        slab.get_mut(i).fill(0);
    }
    for (i, row) in rows.iter().enumerate() {
        let dst = slab.get_mut(zero_rows + i);
        match row {
            Some(data) => dst.copy_from_slice(data),
            None => dst.fill(0),
        }
    }
}

/// The piece: received blocks copied, missing ones rebuilt from the intermediate symbols `c`
/// (each is the XOR of the few intermediate symbols its LT row names).
fn assemble(layout: &PieceLayout, by_esi: &[Option<&[u8]>], c: SymbolSlab) -> Option<Bytes> {
    let k = layout.source_symbols();
    // The LT rows of source symbols 0..K' are the last K' rows of their constraint matrix
    // (raptorq's generator wants at least K' rows, so all of them are made).
    let all: Vec<u32> = (0..extended_source_block_symbols(k)).collect();
    let lt_rows = generate_constraint_matrix::<DenseBinaryMatrix>(k, &all).0;
    let first_lt = lt_rows.height() - all.len();
    let mut out = BytesMut::with_capacity(layout.piece_len());
    let mut columns = Vec::new();
    for (i, have) in by_esi.iter().enumerate() {
        let len = layout.block_range(i as u32)?.len();
        if let Some(data) = have {
            out.extend_from_slice(data.get(..len)?);
            continue;
        }
        lt_rows.query_non_zero_columns_into(first_lt + i, 0, &mut columns);
        let (&head, rest) = columns.split_first()?;
        let start = out.len();
        out.extend_from_slice(c.get(head).get(..len)?);
        let block = out.get_mut(start..)?;
        for &col in rest {
            xor_into(block, c.get(col));
        }
    }
    give_back(c);
    Some(out.freeze())
}

/// `dst ^= src`, written so the compiler vectorises it.
fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= s;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PieceEncoder, PlanCache};

    fn pooled_bytes() -> usize {
        POOL.with(|p| p.borrow().iter().map(|s| s.len() * SYMBOL_SIZE).sum())
    }

    fn all_repair(data: &Bytes) -> (PieceLayout, Vec<(u32, Bytes)>) {
        let mut enc = PieceEncoder::new(0, data.clone(), &mut PlanCache::new()).unwrap();
        let layout = *enc.layout();
        let k = layout.source_symbols();
        let syms = (k..2 * k + 1)
            .map(|e| (e, enc.symbol(e).unwrap()))
            .collect();
        (layout, syms)
    }

    fn view(syms: &[(u32, Bytes)]) -> Vec<(u32, &[u8])> {
        syms.iter().map(|(e, d)| (*e, &d[..])).collect()
    }

    /// A slab reused for a second piece with the same ESIs (same row count) gives that piece,
    /// not a mix with the first; after `release_solve_memory` the pool is empty and solves
    /// still work.
    #[test]
    fn reused_slabs_give_each_piece_its_own_bytes() {
        let len = (1 << 20) - 5000;
        let a = Bytes::from(bf_testkit::pseudo_random_bytes(len, 1));
        let b = Bytes::from(bf_testkit::pseudo_random_bytes(len, 2));
        let (layout, sa) = all_repair(&a);
        let (_, sb) = all_repair(&b);
        release_solve_memory();
        assert_eq!(decode(&layout, &view(&sa)).as_deref(), Some(&a[..]));
        let kept = pooled_bytes();
        assert!(kept > len, "the slab was not kept: {kept} bytes");
        assert_eq!(decode(&layout, &view(&sb)).as_deref(), Some(&b[..]));
        assert_eq!(
            pooled_bytes(),
            kept,
            "the second solve did not reuse the slab"
        );
        release_solve_memory();
        assert_eq!(pooled_bytes(), 0);
        assert_eq!(decode(&layout, &view(&sa)).as_deref(), Some(&a[..]));
    }

    /// A symbol that is not T bytes long gives `None`, not a panic on the slab's row size.
    #[test]
    fn a_symbol_of_the_wrong_length_is_refused() {
        let data = Bytes::from(bf_testkit::pseudo_random_bytes(3 * SYMBOL_SIZE, 7));
        let (layout, mut syms) = all_repair(&data);
        assert_eq!(decode(&layout, &view(&syms)).as_deref(), Some(&data[..]));
        syms[1].1 = syms[1].1.slice(..SYMBOL_SIZE - 1);
        assert_eq!(decode(&layout, &view(&syms)), None);
    }

    /// Slabs for many row counts never hold more than `POOL_BYTES`, except the newest alone,
    /// which is kept whatever its size.
    #[test]
    fn the_pool_stays_within_its_budget() {
        let newest = || POOL.with(|p| p.borrow().first().map(SymbolSlab::len));
        release_solve_memory();
        for count in [1200, 1100, 1000, 300] {
            give_back(take_slab(count));
            assert!(pooled_bytes() <= POOL_BYTES);
            assert_eq!(newest(), Some(count));
        }
        // A 64 MiB piece's slab (~4,700 symbols) is kept on its own.
        give_back(take_slab(4700));
        assert_eq!(pooled_bytes(), 4700 * SYMBOL_SIZE);
        give_back(take_slab(300));
        assert_eq!(pooled_bytes(), 300 * SYMBOL_SIZE);
        release_solve_memory();
    }
}
