//! Coding parameters of one piece: symbol size, K, the repair cap, and the RFC 6330 OTI.

use std::ops::Range;

use raptorq::ObjectTransmissionInformation;

use crate::FountainError;

/// Symbol size T in bytes: the standard BitTorrent block size.
pub const SYMBOL_SIZE: usize = 16 * 1024;

/// Symbol alignment Al of the RFC 6330 OTI. Unused with one sub-block, but part of the OTI.
pub const SYMBOL_ALIGNMENT: u8 = 8;

/// ESIs are 24-bit (RFC 6330 §3.2): every ESI on the wire must be below this.
pub const ESI_LIMIT: u32 = 1 << 24;

/// Largest K the codec accepts: 4096 source symbols, i.e. 64 MiB pieces.
///
/// RFC 6330 allows K up to 56403, but decoding cost grows faster than linearly in K and a
/// decoder holds K·T bytes; torrents with pieces above 64 MiB fall back to block exchange.
pub const MAX_SOURCE_SYMBOLS: u32 = 4096;

/// Largest piece length in bytes the codec accepts.
pub const MAX_PIECE_LEN: u64 = MAX_SOURCE_SYMBOLS as u64 * SYMBOL_SIZE as u64;

/// Repair ESIs a piece has beyond one per source symbol (see [`PieceLayout::esi_limit`]).
pub const REPAIR_HEADROOM: u32 = 64;

/// K, the padded length and the ESI cap of one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PieceLayout {
    piece_len: u32,
    k: u32,
}

impl PieceLayout {
    /// Layout of a piece of `piece_len` bytes; refuses 0 and lengths above [`MAX_PIECE_LEN`].
    pub fn new(piece_len: u64) -> Result<Self, FountainError> {
        if piece_len == 0 || piece_len > MAX_PIECE_LEN {
            return Err(FountainError::BadPieceLength {
                len: piece_len,
                max: MAX_PIECE_LEN,
            });
        }
        let k = piece_len.div_ceil(SYMBOL_SIZE as u64);
        // Both fit: piece_len <= 64 MiB and k <= 4096.
        Ok(Self {
            piece_len: piece_len as u32,
            k: k as u32,
        })
    }

    /// Piece length in bytes (without padding).
    pub fn piece_len(&self) -> usize {
        self.piece_len as usize
    }

    /// K: number of source symbols, `ceil(piece_len / T)`.
    pub fn source_symbols(&self) -> u32 {
        self.k
    }

    /// K': the RFC 6330 table value ≥ K that the code is built on (internal padding symbols).
    pub fn extended_source_symbols(&self) -> u32 {
        raptorq::extended_source_block_symbols(self.k)
    }

    /// Padded length K·T that the code works on.
    pub fn padded_len(&self) -> usize {
        self.k as usize * SYMBOL_SIZE
    }

    /// First ESI refused for this piece: `2K + 64`, i.e. K + 64 repair ESIs (K, …, 2K + 63).
    ///
    /// K repair ESIs let a downloader replace every source symbol once (even a piece fetched
    /// entirely from repair symbols); the 64 more cover the spare at the tail, failed solves
    /// and repair requests that are themselves lost, and keep small pieces (K = 1..16) from
    /// running out. Every downloader starts its repair ESIs at K, so low repair ESIs are
    /// shared across downloaders and worth caching on servers; the cap bounds what a server
    /// can be asked to compute and what a decoder can be made to store.
    pub fn esi_limit(&self) -> u32 {
        2 * self.k + REPAIR_HEADROOM
    }

    /// Whether `esi` names a source symbol (a block of the piece).
    pub fn is_source(&self, esi: u32) -> bool {
        esi < self.k
    }

    /// Byte range of source symbol `esi` inside the (unpadded) piece; `None` for repair ESIs.
    pub fn block_range(&self, esi: u32) -> Option<Range<usize>> {
        if esi >= self.k {
            return None;
        }
        let start = esi as usize * SYMBOL_SIZE;
        Some(start..(start + SYMBOL_SIZE).min(self.piece_len()))
    }

    /// ESI of the block at byte `offset` (BEP 3 PIECE/REQUEST offsets), checking alignment.
    pub fn esi_of_offset(&self, offset: u32) -> Result<u32, FountainError> {
        let o = offset as usize;
        if o % SYMBOL_SIZE != 0 || o >= self.piece_len() {
            return Err(FountainError::BadBlockOffset { offset });
        }
        Ok((o / SYMBOL_SIZE) as u32)
    }

    /// Checks that `esi` may be used for this piece (24-bit and below [`Self::esi_limit`]).
    pub fn check_esi(&self, esi: u32) -> Result<(), FountainError> {
        if esi >= ESI_LIMIT {
            return Err(FountainError::EsiOutOfRange { esi });
        }
        let limit = self.esi_limit();
        if esi >= limit {
            return Err(FountainError::EsiAboveCap { esi, limit });
        }
        Ok(())
    }

    /// Checks a SYMBOL_REQUEST range `first_esi .. first_esi + count` against this piece.
    pub fn check_request(&self, first_esi: u32, count: u32) -> Result<Range<u32>, FountainError> {
        let bad = FountainError::BadRequest { first_esi, count };
        if count == 0 {
            return Err(bad);
        }
        let end = first_esi.checked_add(count).ok_or(bad.clone())?;
        self.check_esi(first_esi)?;
        self.check_esi(end - 1)?;
        Ok(first_esi..end)
    }

    /// The RFC 6330 OTI of this piece: F = piece length, T = 16384, Z = 1, N = 1, Al = 8.
    pub(crate) fn oti(&self) -> ObjectTransmissionInformation {
        ObjectTransmissionInformation::new(
            u64::from(self.piece_len),
            SYMBOL_SIZE as u16,
            1,
            1,
            SYMBOL_ALIGNMENT,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_and_last_block() {
        let l = PieceLayout::new(3 * SYMBOL_SIZE as u64 + 5).unwrap();
        assert_eq!(l.source_symbols(), 4);
        assert_eq!(l.block_range(3), Some(3 * SYMBOL_SIZE..3 * SYMBOL_SIZE + 5));
        assert_eq!(l.block_range(4), None);
        assert_eq!(l.padded_len(), 4 * SYMBOL_SIZE);
        assert_eq!(l.esi_limit(), 2 * 4 + 64);
        let big = PieceLayout::new(4 << 20).unwrap();
        assert_eq!(big.esi_limit(), 576);
        assert!(big.extended_source_symbols() >= 256);
    }

    #[test]
    fn bad_lengths_and_esis() {
        assert!(PieceLayout::new(0).is_err());
        assert!(PieceLayout::new(MAX_PIECE_LEN + 1).is_err());
        assert!(PieceLayout::new(MAX_PIECE_LEN).is_ok());
        let l = PieceLayout::new(1).unwrap();
        assert_eq!(
            l.check_esi(ESI_LIMIT),
            Err(FountainError::EsiOutOfRange { esi: ESI_LIMIT })
        );
        assert!(l.check_esi(65).is_ok());
        assert!(matches!(
            l.check_esi(66),
            Err(FountainError::EsiAboveCap { .. })
        ));
        assert!(l.check_request(0, 0).is_err());
        assert!(l.check_request(u32::MAX, 2).is_err());
        assert_eq!(l.check_request(1, 3), Ok(1..4));
        assert_eq!(l.esi_of_offset(0), Ok(0));
        assert!(l.esi_of_offset(1).is_err());
    }
}
