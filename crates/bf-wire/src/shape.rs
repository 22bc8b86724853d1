//! The few numbers about a torrent that the wire protocol needs to validate messages.

use crate::error::ShapeError;
use crate::message::BlockRequest;

/// Piece count and lengths of a torrent.
///
/// Built from the piece length and total length, so the piece count and the length of the
/// last piece always agree with them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TorrentShape {
    piece_count: u32,
    piece_length: u32,
    total_length: u64,
}

impl TorrentShape {
    /// The shape of a torrent of `total_length` bytes cut into pieces of `piece_length`.
    pub fn new(piece_length: u32, total_length: u64) -> Result<Self, ShapeError> {
        if piece_length == 0 {
            return Err(ShapeError::ZeroPieceLength);
        }
        if total_length == 0 {
            return Err(ShapeError::ZeroLength);
        }
        let count = total_length.div_ceil(u64::from(piece_length));
        let piece_count = u32::try_from(count).map_err(|_| ShapeError::TooManyPieces)?;
        Ok(TorrentShape {
            piece_count,
            piece_length,
            total_length,
        })
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        self.piece_count
    }

    /// Length of every piece but the last.
    pub fn piece_length(&self) -> u32 {
        self.piece_length
    }

    /// Length of the whole torrent.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Length of piece `index`, `None` when out of range.
    pub fn piece_len(&self, index: u32) -> Option<u32> {
        if index >= self.piece_count {
            return None;
        }
        let start = u64::from(index) * u64::from(self.piece_length);
        let len = (self.total_length - start).min(u64::from(self.piece_length));
        Some(len as u32)
    }

    /// ceil(piece count / 8): the length of a BITFIELD message's payload.
    pub fn bitfield_len(&self) -> usize {
        crate::bitfield::byte_len(self.piece_count)
    }

    /// Whether `req` lies inside its piece and is not empty.
    pub fn contains(&self, req: &BlockRequest) -> bool {
        self.piece_len(req.piece).is_some_and(|len| {
            req.length > 0 && u64::from(req.begin) + u64::from(req.length) <= u64::from(len)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_piece_is_short() {
        let s = TorrentShape::new(16384 * 2, 16384 * 5 + 10).unwrap();
        assert_eq!(s.piece_count(), 3);
        assert_eq!(s.piece_len(2), Some(16384 + 10));
        assert_eq!(s.piece_len(3), None);
        assert!(s.contains(&BlockRequest::new(2, 16384, 10)));
        assert!(!s.contains(&BlockRequest::new(2, 16384, 11)));
        assert!(!s.contains(&BlockRequest::new(1, 0, 0)));
        assert!(!s.contains(&BlockRequest::new(0, u32::MAX, 2)));
        assert_eq!(TorrentShape::new(0, 1), Err(ShapeError::ZeroPieceLength));
        assert_eq!(TorrentShape::new(1, 0), Err(ShapeError::ZeroLength));
        assert_eq!(
            TorrentShape::new(1, 1 << 32),
            Err(ShapeError::TooManyPieces)
        );
        assert_eq!(
            TorrentShape::new(16384, 16384).unwrap().piece_len(0),
            Some(16384)
        );
    }
}
