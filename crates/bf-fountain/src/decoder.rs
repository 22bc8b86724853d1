//! The downloader side: collects validated symbols of one piece from any senders.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::{solve, FountainError, PieceLayout, SYMBOL_SIZE};

/// What [`PieceDecoder::add_symbol`] did with a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// Stored: a new ESI.
    New,
    /// Ignored: this ESI was already held (counted in [`PieceDecoder::duplicates`]).
    Duplicate,
}

/// One stored symbol and who sent it.
#[derive(Debug, Clone)]
pub(crate) struct Entry<S> {
    pub(crate) sender: S,
    /// Exactly T bytes (a short last block is stored zero-padded).
    pub(crate) data: Bytes,
}

/// Symbols of one piece from any number of senders, decoded once enough are held.
///
/// `S` identifies a sender (a peer key); it is recorded with every symbol so that culprits
/// can be named after verification (see [`PieceDecoder::finish`]). Memory: the symbols
/// themselves (T bytes each, at most [`PieceLayout::esi_limit`] of them, normally K + 1).
#[derive(Debug, Clone)]
pub struct PieceDecoder<S> {
    piece: u32,
    layout: PieceLayout,
    pub(crate) source: Vec<Option<Entry<S>>>,
    pub(crate) repair: BTreeMap<u32, Entry<S>>,
    source_count: u32,
    duplicates: u64,
    /// A symbol arrived since the last solve that failed: only then is another solve useful,
    /// because whether a solve succeeds depends on the set of ESIs alone.
    dirty: bool,
    solves: u32,
}

impl<S: Clone + Eq + std::hash::Hash> PieceDecoder<S> {
    /// A decoder for piece `piece` of `piece_len` bytes.
    pub fn new(piece: u32, piece_len: u64) -> Result<Self, FountainError> {
        let layout = PieceLayout::new(piece_len)?;
        Ok(Self {
            piece,
            layout,
            source: vec![None; layout.source_symbols() as usize],
            repair: BTreeMap::new(),
            source_count: 0,
            duplicates: 0,
            dirty: false,
            solves: 0,
        })
    }

    /// Piece index.
    pub fn piece(&self) -> u32 {
        self.piece
    }

    /// Layout (K, lengths, ESI cap) of the piece.
    pub fn layout(&self) -> &PieceLayout {
        &self.layout
    }

    /// Validates and stores symbol `esi` of `piece` (a SYMBOL message's payload) from `sender`.
    ///
    /// Checks, before anything reaches raptorq: the piece index, ESI < 2^24 and below the
    /// piece's cap, exactly T bytes, and zero padding in a short last source symbol.
    pub fn add_symbol(
        &mut self,
        sender: S,
        piece: u32,
        esi: u32,
        data: Bytes,
    ) -> Result<Added, FountainError> {
        self.check_piece(piece)?;
        self.layout.check_esi(esi)?;
        if data.len() != SYMBOL_SIZE {
            return Err(FountainError::BadSymbolLength {
                esi,
                expected: SYMBOL_SIZE,
                got: data.len(),
            });
        }
        if let Some(range) = self.layout.block_range(esi) {
            if data[range.len()..].iter().any(|&b| b != 0) {
                return Err(FountainError::NonZeroPadding { esi });
            }
        }
        Ok(self.store(sender, esi, data))
    }

    /// Validates and stores an ordinary block (a BEP 3 PIECE payload at byte `offset`) as the
    /// source symbol it is.
    pub fn add_block(
        &mut self,
        sender: S,
        piece: u32,
        offset: u32,
        data: Bytes,
    ) -> Result<Added, FountainError> {
        self.check_piece(piece)?;
        let esi = self.layout.esi_of_offset(offset)?;
        let expected = self.layout.block_range(esi).map_or(0, |r| r.len());
        if data.len() != expected {
            return Err(FountainError::BadSymbolLength {
                esi,
                expected,
                got: data.len(),
            });
        }
        let data = if expected == SYMBOL_SIZE {
            data
        } else {
            let mut padded = vec![0u8; SYMBOL_SIZE];
            padded[..expected].copy_from_slice(&data);
            Bytes::from(padded)
        };
        Ok(self.store(sender, esi, data))
    }

    fn check_piece(&self, piece: u32) -> Result<(), FountainError> {
        if piece != self.piece {
            return Err(FountainError::WrongPiece {
                expected: self.piece,
                got: piece,
            });
        }
        Ok(())
    }

    fn store(&mut self, sender: S, esi: u32, data: Bytes) -> Added {
        if self.has_esi(esi) {
            self.duplicates += 1;
            return Added::Duplicate;
        }
        let entry = Entry { sender, data };
        match self.source.get_mut(esi as usize) {
            Some(slot) => {
                *slot = Some(entry);
                self.source_count += 1;
            }
            None => {
                self.repair.insert(esi, entry);
            }
        }
        self.dirty = true;
        Added::New
    }

    /// Whether a symbol with this ESI is held.
    pub fn has_esi(&self, esi: u32) -> bool {
        match self.source.get(esi as usize) {
            Some(slot) => slot.is_some(),
            None => self.repair.contains_key(&esi),
        }
    }

    /// Who sent the symbol with this ESI, if it is held.
    pub fn sender_of(&self, esi: u32) -> Option<&S> {
        match self.source.get(esi as usize) {
            Some(slot) => slot.as_ref().map(|e| &e.sender),
            None => self.repair.get(&esi).map(|e| &e.sender),
        }
    }

    /// ESIs held from `sender`, ascending.
    pub fn esis_from(&self, sender: &S) -> Vec<u32> {
        self.entries()
            .filter(|(_, e)| &e.sender == sender)
            .map(|(esi, _)| esi)
            .collect()
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (u32, &Entry<S>)> {
        self.source
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, e)))
            .chain(self.repair.iter().map(|(esi, e)| (*esi, e)))
    }

    /// Number of distinct symbols held.
    pub fn received(&self) -> u32 {
        self.source_count + self.repair.len() as u32
    }

    /// Number of distinct source symbols (blocks) held.
    pub fn source_received(&self) -> u32 {
        self.source_count
    }

    /// Symbols ignored because their ESI was already held.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// RaptorQ solves attempted so far.
    pub fn solves(&self) -> u32 {
        self.solves
    }

    /// Whether [`Self::try_decode`] can produce a piece now without waiting for more symbols
    /// (all K blocks held, or ≥ K symbols and new ones since the last failed solve).
    pub fn can_attempt(&self) -> bool {
        self.source_count == self.layout.source_symbols()
            || (self.received() >= self.layout.source_symbols() && self.dirty)
    }

    /// The decoded piece (unpadded), or `None` if more symbols are needed.
    ///
    /// With all K source symbols the piece is their concatenation (no solve). Otherwise the
    /// RaptorQ solve runs only with ≥ K symbols and only if a symbol arrived since the last
    /// failed solve. The result is unverified: check its SHA-1 (or use [`Self::finish`]).
    /// A solve leaves its working memory (about 1.15 × the piece) to the next solve on the
    /// same thread; [`crate::release_solve_memory`] frees it.
    pub fn try_decode(&mut self) -> Option<Bytes> {
        let k = self.layout.source_symbols();
        if self.source_count == k {
            return self.concatenate_all();
        }
        if self.received() < k || !self.dirty {
            return None;
        }
        self.dirty = false;
        self.solves += 1;
        solve::solve(
            &self.layout,
            self.entries().map(|(esi, e)| (esi, &e.data[..])),
        )
    }

    /// The K blocks of the piece, zero-copy, when all source symbols are held (`None`
    /// otherwise): a caller can hash them in order and write them out without assembling the
    /// piece (the last block is truncated to its real length).
    pub fn source_blocks(&self) -> Option<Vec<Bytes>> {
        (0..self.layout.source_symbols())
            .map(|esi| {
                let r = self.layout.block_range(esi)?;
                let e = self.source.get(esi as usize)?.as_ref()?;
                Some(e.data.slice(..r.len()))
            })
            .collect()
    }

    pub(crate) fn concatenate_all(&self) -> Option<Bytes> {
        solve::concatenate(&self.layout, |esi| {
            self.source
                .get(esi as usize)
                .and_then(Option::as_ref)
                .map(|e| &e.data)
        })
    }

    /// Forgets every symbol (after a piece failed verification and no culprit was found), so
    /// the piece can be fetched again; counters are kept.
    pub fn discard(&mut self) {
        self.source.iter_mut().for_each(|s| *s = None);
        self.repair.clear();
        self.source_count = 0;
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize) -> Bytes {
        (0..len)
            .map(|i| (i * 13 + i / 7) as u8)
            .collect::<Vec<_>>()
            .into()
    }

    #[test]
    fn all_blocks_complete_without_a_solve() {
        let piece = data(3 * SYMBOL_SIZE + 10);
        let mut d = PieceDecoder::<u8>::new(7, piece.len() as u64).unwrap();
        for esi in (0..4u32).rev() {
            assert!(d.try_decode().is_none());
            let r = d.layout().block_range(esi).unwrap();
            d.add_block(1, 7, r.start as u32, piece.slice(r)).unwrap();
        }
        assert_eq!(d.try_decode().unwrap(), piece);
        let blocks = d.source_blocks().unwrap();
        assert_eq!(blocks.concat(), piece.to_vec());
        assert_eq!(d.solves(), 0);
        assert_eq!(d.esis_from(&1), vec![0, 1, 2, 3]);
        assert_eq!(d.sender_of(2), Some(&1));
    }

    #[test]
    fn malformed_input_is_refused() {
        let mut d = PieceDecoder::<u8>::new(1, 2 * SYMBOL_SIZE as u64 - 1).unwrap();
        let t = Bytes::from(vec![0u8; SYMBOL_SIZE]);
        assert!(matches!(
            d.add_symbol(0, 2, 0, t.clone()),
            Err(FountainError::WrongPiece { .. })
        ));
        assert!(matches!(
            d.add_symbol(0, 1, 1 << 24, t.clone()),
            Err(FountainError::EsiOutOfRange { .. })
        ));
        assert!(matches!(
            d.add_symbol(0, 1, 68, t.clone()),
            Err(FountainError::EsiAboveCap { .. })
        ));
        assert!(matches!(
            d.add_symbol(0, 1, 0, t.slice(1..)),
            Err(FountainError::BadSymbolLength { .. })
        ));
        let mut bad_pad = vec![0u8; SYMBOL_SIZE];
        bad_pad[SYMBOL_SIZE - 1] = 1;
        assert_eq!(
            d.add_symbol(0, 1, 1, Bytes::from(bad_pad)),
            Err(FountainError::NonZeroPadding { esi: 1 })
        );
        assert!(matches!(
            d.add_block(0, 1, 5, t.clone()),
            Err(FountainError::BadBlockOffset { .. })
        ));
        assert!(matches!(
            d.add_block(0, 1, SYMBOL_SIZE as u32, t.clone()),
            Err(FountainError::BadSymbolLength { .. })
        ));
        assert_eq!(d.received(), 0);
        assert_eq!(d.add_symbol(0, 1, 3, t.clone()), Ok(Added::New));
        assert_eq!(d.add_symbol(1, 1, 3, t), Ok(Added::Duplicate));
        assert_eq!(d.duplicates(), 1);
    }
}
