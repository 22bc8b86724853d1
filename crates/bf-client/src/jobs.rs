//! The work the core hands to worker threads: verify a piece's blocks and write it, decode a
//! piece from blocks and repair symbols, prepare a piece's encoder. Plain functions over a
//! [`PieceIo`], so the engine's tests run the same code over memory.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use bf_fountain::{PieceDecoder, PieceEncoder, PlanCache, Verdict};
use bytes::{Bytes, BytesMut};
use sha1::{Digest, Sha1};

use crate::core::assembly::{Symbol, BLOCK_LEN};
use crate::core::{Input, Output, PeerKey, PieceOutcome};
use crate::storage::Storage;

/// Where verified pieces go and come from.
pub trait PieceIo {
    /// Writes a verified piece given as consecutive parts (its blocks, or one buffer).
    fn write_piece(&self, piece: u32, parts: &[Bytes]) -> Result<(), String>;
    /// Reads a verified piece.
    fn read_piece(&self, piece: u32) -> Result<Bytes, String>;
}

impl PieceIo for Storage {
    fn write_piece(&self, piece: u32, parts: &[Bytes]) -> Result<(), String> {
        Storage::write_piece(self, piece, parts).map_err(|e| e.to_string())
    }

    fn read_piece(&self, piece: u32) -> Result<Bytes, String> {
        Storage::read_piece(self, piece).map_err(|e| e.to_string())
    }
}

thread_local! {
    /// RaptorQ plans per K, kept by each worker thread (like the solver's memory).
    static PLANS: RefCell<PlanCache> = RefCell::new(PlanCache::new());
}

fn with_plans<T>(f: impl FnOnce(&mut PlanCache) -> T) -> T {
    PLANS.with(|p| f(&mut p.borrow_mut()))
}

/// Hashes the blocks of `piece` in order and writes them only if the SHA-1 is `expected`.
/// Repair symbols that came too are then checked against the verified piece, naming their
/// senders if wrong. Returns the outcome and the time spent hashing.
pub fn verify_and_write(
    io: &impl PieceIo,
    piece: u32,
    blocks: &[Bytes],
    repairs: &[Symbol],
    expected: &[u8; 20],
    want_block_hashes: bool,
) -> (PieceOutcome, Duration) {
    let start = Instant::now();
    let mut h = Sha1::new();
    for b in blocks {
        h.update(b);
    }
    let ok = <[u8; 20]>::from(h.finalize()) == *expected;
    let block_hashes = || blocks.iter().map(|b| Sha1::digest(b).into()).collect();
    if !ok {
        let hashes = block_hashes();
        return (
            PieceOutcome::HashFailed {
                block_hashes: hashes,
            },
            start.elapsed(),
        );
    }
    let hashes = want_block_hashes.then(block_hashes);
    let culprits = if repairs.is_empty() {
        Vec::new()
    } else {
        let mut whole = BytesMut::with_capacity(blocks.iter().map(Bytes::len).sum());
        for b in blocks {
            whole.extend_from_slice(b);
        }
        repair_culprits(piece, &whole.freeze(), repairs)
    };
    let work = start.elapsed();
    match io.write_piece(piece, blocks) {
        Ok(()) => (
            PieceOutcome::Written {
                block_hashes: hashes,
                culprits,
            },
            work,
        ),
        Err(e) => (PieceOutcome::WriteFailed(e), work),
    }
}

/// Senders of repair symbols that differ from the verified `data` of `piece`.
fn repair_culprits(piece: u32, data: &Bytes, repairs: &[Symbol]) -> Vec<PeerKey> {
    let Ok(mut d) = PieceDecoder::<PeerKey>::new(piece, data.len() as u64) else {
        return Vec::new();
    };
    let mut bad = Vec::new();
    for (esi, sym, sender) in repairs {
        if d.add_symbol(*sender, piece, *esi, sym.clone()).is_err() && !bad.contains(sender) {
            bad.push(*sender);
        }
    }
    if let Ok(named) = with_plans(|plans| d.culprits(data, plans)) {
        for k in named {
            if !bad.contains(&k) {
                bad.push(k);
            }
        }
    }
    bad
}

/// Rebuilds `piece` (`len` bytes) from the blocks and repair symbols held, verifies it,
/// names the senders of wrong symbols, and writes it if verified. Returns the outcome and
/// the time spent decoding and verifying.
pub fn decode_and_write(
    io: &impl PieceIo,
    piece: u32,
    len: u32,
    blocks: &[Symbol],
    repairs: &[Symbol],
    expected: &[u8; 20],
    want_block_hashes: bool,
) -> (PieceOutcome, Duration) {
    let start = Instant::now();
    let Ok(mut d) = PieceDecoder::<PeerKey>::new(piece, u64::from(len)) else {
        return (PieceOutcome::NeedMore, start.elapsed());
    };
    // A symbol the decoder refuses (it validates each before raptorq sees it) names its
    // sender; the rest go on.
    let mut refused = Vec::new();
    for (i, data, sender) in blocks {
        if d.add_block(*sender, piece, i * BLOCK_LEN, data.clone())
            .is_err()
        {
            refused.push(*sender);
        }
    }
    for (esi, data, sender) in repairs {
        if d.add_symbol(*sender, piece, *esi, data.clone()).is_err() {
            refused.push(*sender);
        }
    }
    let verdict = with_plans(|plans| d.finish(expected, plans));
    let work = start.elapsed();
    match verdict {
        Verdict::NeedMore { .. } => (PieceOutcome::NeedMore, work),
        Verdict::Corrupt { suspects } => (PieceOutcome::Corrupt { suspects }, work),
        Verdict::Verified {
            piece: data,
            mut culprits,
        } => {
            for k in refused {
                if !culprits.contains(&k) {
                    culprits.push(k);
                }
            }
            // Against an earlier attempt that failed: each block of the verified piece.
            let block_hashes = want_block_hashes.then(|| {
                data.chunks(BLOCK_LEN as usize)
                    .map(|b| Sha1::digest(b).into())
                    .collect()
            });
            match io.write_piece(piece, std::slice::from_ref(&data)) {
                Ok(()) => (
                    PieceOutcome::Written {
                        block_hashes,
                        culprits,
                    },
                    work,
                ),
                Err(e) => (PieceOutcome::WriteFailed(e), work),
            }
        }
    }
}

/// Reads verified `piece` and prepares its encoder for serving repair symbols.
pub fn prepare_encoder(io: &impl PieceIo, piece: u32) -> Result<Box<PieceEncoder>, String> {
    let data = io.read_piece(piece)?;
    with_plans(|plans| PieceEncoder::new(piece, data, plans))
        .map(Box::new)
        .map_err(|e| e.to_string())
}

/// Does the disk and CPU work `out` asks for (verify and write, decode and write, read,
/// prepare an encoder) and returns the input that reports it to the core; any other output
/// is handed back.
pub fn perform(io: &impl PieceIo, out: Output) -> Result<Input, Output> {
    Ok(match out {
        Output::VerifyWrite {
            piece,
            blocks,
            repairs,
            expected,
            block_hashes,
        } => {
            let (outcome, work) =
                verify_and_write(io, piece, &blocks, &repairs, &expected, block_hashes);
            Input::PieceDone {
                piece,
                outcome,
                work,
            }
        }
        Output::Decode {
            piece,
            len,
            blocks,
            repairs,
            expected,
            block_hashes,
        } => {
            let (outcome, work) =
                decode_and_write(io, piece, len, &blocks, &repairs, &expected, block_hashes);
            Input::PieceDone {
                piece,
                outcome,
                work,
            }
        }
        Output::Read(piece) => Input::PieceRead {
            piece,
            data: io.read_piece(piece),
        },
        Output::PrepareEncoder(piece) => Input::EncoderReady {
            piece,
            encoder: prepare_encoder(io, piece),
        },
        other => return Err(other),
    })
}
