//! Hash verification and polluter identification for a [`PieceDecoder`].

use std::collections::HashMap;
use std::hash::Hash;

use bytes::Bytes;
use sha1::{Digest, Sha1};

use crate::{solve, FountainError, PieceDecoder, PieceEncoder, PlanCache};

/// Most leave-one-sender-out solves tried after a hash failure (each is a full solve).
pub const MAX_LEAVE_ONE_OUT: usize = 16;

/// Outcome of [`PieceDecoder::finish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict<S> {
    /// Not decodable yet: ask for `want` more symbols (fresh ESIs) before trying again.
    NeedMore {
        /// Distinct symbols held.
        have: u32,
        /// How many more to ask for.
        want: u32,
    },
    /// The piece matches its SHA-1 and may be written.
    Verified {
        /// The verified piece bytes (unpadded).
        piece: Bytes,
        /// Senders at least one of whose symbols differs from the re-encoded piece: polluters,
        /// named exactly (an honest sender is never listed).
        culprits: Vec<S>,
    },
    /// The hash failed and no single sender's exclusion produced a verifying piece.
    Corrupt {
        /// Every sender that contributed; the caller discards the symbols
        /// ([`PieceDecoder::discard`]) and refetches, preferring other peers.
        suspects: Vec<S>,
    },
}

/// SHA-1 of `data` compared with `expected`.
pub fn sha1_matches(data: &[u8], expected: &[u8; 20]) -> bool {
    Sha1::digest(data).as_slice() == expected
}

/// SHA-1 of `data` (the v1 piece hash).
pub fn sha1_digest(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

impl<S: Clone + Eq + Hash> PieceDecoder<S> {
    /// Decodes if possible, verifies against `expected` (the piece's SHA-1 from the torrent),
    /// and names polluters.
    ///
    /// On a hash failure each sender is left out in turn (fewest symbols first, at most
    /// [`MAX_LEAVE_ONE_OUT`] solves) where the others still hold ≥ K symbols; a verifying
    /// result is accepted and the excluded sender named. `plans` serves the re-encoding of
    /// received repair symbols.
    pub fn finish(&mut self, expected: &[u8; 20], plans: &mut PlanCache) -> Verdict<S> {
        let k = self.layout().source_symbols();
        let have = self.received();
        let Some(piece) = self.try_decode() else {
            // Either too few symbols, or the ESIs held were rank-deficient: one more fixes
            // that with probability ~99%.
            return Verdict::NeedMore {
                have,
                want: k.saturating_sub(have).max(1),
            };
        };
        if sha1_matches(&piece, expected) {
            let culprits = self.culprits(&piece, plans).unwrap_or_default();
            return Verdict::Verified { piece, culprits };
        }
        if let Some(piece) = self.leave_one_out(expected) {
            let culprits = self.culprits(&piece, plans).unwrap_or_default();
            return Verdict::Verified { piece, culprits };
        }
        Verdict::Corrupt {
            suspects: self.senders(),
        }
    }

    /// Distinct senders of the symbols held, in first-ESI order.
    pub fn senders(&self) -> Vec<S> {
        let mut seen = HashMap::new();
        let mut out = Vec::new();
        for (_, e) in self.entries() {
            if seen.insert(e.sender.clone(), ()).is_none() {
                out.push(e.sender.clone());
            }
        }
        out
    }

    /// Senders whose symbols differ from `verified` (the piece bytes after a SHA-1 match):
    /// source symbols are compared with the piece's blocks, repair symbols with ones
    /// regenerated from an encoder of the piece.
    pub fn culprits(
        &self,
        verified: &Bytes,
        plans: &mut PlanCache,
    ) -> Result<Vec<S>, FountainError> {
        let layout = *self.layout();
        if verified.len() != layout.piece_len() {
            return Err(FountainError::BadPieceLength {
                len: verified.len() as u64,
                max: layout.piece_len() as u64,
            });
        }
        let mut bad: Vec<S> = Vec::new();
        let mut flag = |s: &S| {
            if !bad.contains(s) {
                bad.push(s.clone());
            }
        };
        for (esi, e) in self.entries().take_while(|(esi, _)| layout.is_source(*esi)) {
            if let Some(r) = layout.block_range(esi) {
                // Padding beyond a short last block was checked to be zero on arrival.
                if e.data[..r.len()] != verified[r] {
                    flag(&e.sender);
                }
            }
        }
        if !self.repair.is_empty() {
            let encoder = PieceEncoder::new(self.piece(), verified.clone(), plans)?;
            for (esi, e) in &self.repair {
                if encoder.repair_symbol(*esi)? != e.data {
                    flag(&e.sender);
                }
            }
        }
        Ok(bad)
    }

    /// Solves without each sender in turn; the first piece that verifies is returned.
    fn leave_one_out(&mut self, expected: &[u8; 20]) -> Option<Bytes> {
        let layout = *self.layout();
        let k = layout.source_symbols();
        let mut counts: HashMap<S, u32> = HashMap::new();
        for (_, e) in self.entries() {
            *counts.entry(e.sender.clone()).or_default() += 1;
        }
        if counts.len() < 2 {
            return None;
        }
        let total = self.received();
        let mut order: Vec<(S, u32)> = counts.into_iter().filter(|(_, n)| total - n >= k).collect();
        order.sort_by_key(|(_, n)| *n);
        for (left_out, _) in order.into_iter().take(MAX_LEAVE_ONE_OUT) {
            let others = || self.entries().filter(|(_, e)| e.sender != left_out);
            let all_source = others().filter(|(esi, _)| layout.is_source(*esi)).count() as u32 == k;
            let piece = if all_source {
                solve::concatenate(&layout, |esi| {
                    self.source
                        .get(esi as usize)
                        .and_then(Option::as_ref)
                        .map(|e| &e.data)
                })
            } else {
                solve::solve(&layout, others().map(|(esi, e)| (esi, &e.data[..])))
            };
            if let Some(piece) = piece {
                if sha1_matches(&piece, expected) {
                    return Some(piece);
                }
            }
        }
        None
    }
}
