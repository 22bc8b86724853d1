//! A set of pieces, stored as BEP 3 sends it: one bit per piece, high bit first.

use crate::error::BitfieldError;

/// Which pieces of a torrent someone has.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    ones: u32,
}

impl Bitfield {
    /// No piece out of `len`.
    pub fn new(len: u32) -> Self {
        Bitfield {
            bytes: vec![0; byte_len(len)],
            len,
            ones: 0,
        }
    }

    /// Every piece out of `len`.
    pub fn full(len: u32) -> Self {
        let mut b = Bitfield {
            bytes: vec![0xff; byte_len(len)],
            len,
            ones: len,
        };
        b.clear_spare_bits();
        b
    }

    /// From the bytes of a BITFIELD message for `len` pieces: the length must be
    /// ceil(len / 8) and the spare bits of the last byte zero.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Self, BitfieldError> {
        let expected = byte_len(len);
        if bytes.len() != expected {
            return Err(BitfieldError::Length {
                expected,
                got: bytes.len(),
            });
        }
        let spare = (expected * 8) as u64 - u64::from(len);
        if let Some(&last) = bytes.last() {
            if spare > 0 && last & ((1u8 << spare) - 1) != 0 {
                return Err(BitfieldError::SpareBits);
            }
        }
        let ones = bytes.iter().map(|b| b.count_ones()).sum();
        Ok(Bitfield {
            bytes: bytes.to_vec(),
            len,
            ones,
        })
    }

    /// The number of pieces this set is about.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the torrent has no pieces at all (`len() == 0`).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many pieces are in the set.
    pub fn count_ones(&self) -> u32 {
        self.ones
    }

    /// Whether every piece is in the set.
    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }

    /// Whether no piece is in the set.
    pub fn is_none(&self) -> bool {
        self.ones == 0
    }

    /// Whether `piece` is in the set (false when out of range).
    pub fn get(&self, piece: u32) -> bool {
        piece < self.len
            && self
                .bytes
                .get((piece / 8) as usize)
                .is_some_and(|b| b & mask(piece) != 0)
    }

    /// Adds `piece`; returns whether it was new (false when out of range).
    pub fn set(&mut self, piece: u32) -> bool {
        if piece >= self.len {
            return false;
        }
        match self.bytes.get_mut((piece / 8) as usize) {
            Some(b) if *b & mask(piece) == 0 => {
                *b |= mask(piece);
                self.ones += 1;
                true
            }
            _ => false,
        }
    }

    /// Removes `piece`; returns whether it was there.
    pub fn clear(&mut self, piece: u32) -> bool {
        if piece >= self.len {
            return false;
        }
        match self.bytes.get_mut((piece / 8) as usize) {
            Some(b) if *b & mask(piece) != 0 => {
                *b &= !mask(piece);
                self.ones -= 1;
                true
            }
            _ => false,
        }
    }

    /// The bytes as a BITFIELD message carries them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The pieces in the set, in increasing order.
    pub fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.bytes.iter().enumerate().flat_map(move |(i, &b)| {
            (0..8u32).filter_map(move |bit| {
                let piece = i as u32 * 8 + bit;
                (b & (0x80 >> bit) != 0 && piece < self.len).then_some(piece)
            })
        })
    }

    fn clear_spare_bits(&mut self) {
        let spare = self.bytes.len() as u64 * 8 - u64::from(self.len);
        if let Some(last) = self.bytes.last_mut() {
            if spare > 0 {
                *last &= !((1u8 << spare) - 1);
            }
        }
    }
}

impl std::fmt::Debug for Bitfield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitfield({}/{})", self.ones, self.len)
    }
}

/// ceil(pieces / 8): the length of a bitfield for `pieces` pieces.
pub fn byte_len(pieces: u32) -> usize {
    (pieces as usize).div_ceil(8)
}

fn mask(piece: u32) -> u8 {
    0x80 >> (piece % 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_count_and_spare_bits() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0) && b.set(9) && !b.set(9) && !b.set(10));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count_ones(), 2);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![0, 9]);
        assert!(b.clear(0) && !b.clear(0));
        assert_eq!(Bitfield::full(10).as_bytes(), &[0xff, 0xc0]);
        assert!(Bitfield::full(10).is_full());
        assert_eq!(
            Bitfield::from_bytes(&[0xff, 0xe0], 10),
            Err(BitfieldError::SpareBits)
        );
        assert_eq!(
            Bitfield::from_bytes(&[0xff], 10),
            Err(BitfieldError::Length {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            Bitfield::from_bytes(&[0xff, 0xc0], 10),
            Ok(Bitfield::full(10))
        );
        assert_eq!(Bitfield::full(16).as_bytes(), &[0xff, 0xff]);
    }
}
