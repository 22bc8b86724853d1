//! The two 20-byte identifiers every part of BitTorrent passes around.

use std::fmt;
use std::str::FromStr;

/// SHA-1 of a torrent's bencoded `info` dictionary, exactly as it appears in the file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct InfoHash(pub [u8; 20]);

/// A peer's self-chosen 20-byte identifier.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PeerId(pub [u8; 20]);

/// A string that is not 40 hexadecimal digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 40 hexadecimal digits, got {0:?}")]
pub struct ParseHexError(pub String);

/// A string that is not 32 base32 characters (RFC 4648 alphabet, either case, no padding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 32 base32 characters, got {0:?}")]
pub struct ParseBase32Error(pub String);

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

impl InfoHash {
    /// Upper-case base32 (RFC 4648), 32 characters, as older magnet links carry it.
    pub fn to_base32(&self) -> String {
        let mut out = String::with_capacity(32);
        // 20 bytes = 160 bits = exactly 32 groups of 5 bits, so no padding is ever needed.
        for chunk in self.0.chunks_exact(5) {
            let mut acc: u64 = 0;
            for &b in chunk {
                acc = (acc << 8) | u64::from(b);
            }
            for i in (0..8).rev() {
                out.push(BASE32[((acc >> (i * 5)) & 31) as usize] as char);
            }
        }
        out
    }

    /// From 32 base32 characters (either case).
    pub fn from_base32(s: &str) -> Result<Self, ParseBase32Error> {
        let bad = || ParseBase32Error(s.chars().take(64).collect());
        let b = s.as_bytes();
        if b.len() != 32 {
            return Err(bad());
        }
        let mut out = [0u8; 20];
        for (group, chunk) in b.chunks_exact(8).enumerate() {
            let mut acc: u64 = 0;
            for &c in chunk {
                let v = match c.to_ascii_uppercase() {
                    c @ b'A'..=b'Z' => c - b'A',
                    c @ b'2'..=b'7' => c - b'2' + 26,
                    _ => return Err(bad()),
                };
                acc = (acc << 5) | u64::from(v);
            }
            for i in 0..5 {
                out[group * 5 + i] = (acc >> (8 * (4 - i))) as u8;
            }
        }
        Ok(InfoHash(out))
    }

    /// The SHA-1 of `info_bytes` (the raw bytes of the `info` value).
    pub fn of(info_bytes: &[u8]) -> Self {
        use sha1::{Digest, Sha1};
        InfoHash(Sha1::digest(info_bytes).into())
    }

    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Lower-case hexadecimal, 40 characters.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }

    /// From 40 hexadecimal digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, ParseHexError> {
        from_hex(s).map(InfoHash)
    }

    /// From a slice that must be exactly 20 bytes long.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(InfoHash)
    }
}

impl PeerId {
    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// From a slice that must be exactly 20 bytes long.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        b.try_into().ok().map(PeerId)
    }

    /// An Azureus-style id, `-XXvvvv-` followed by `random` bytes (12 are used).
    pub fn azureus_style(client: &[u8; 2], version: &[u8; 4], random: &[u8; 12]) -> Self {
        let mut id = [0u8; 20];
        id[0] = b'-';
        id[1..3].copy_from_slice(client);
        id[3..7].copy_from_slice(version);
        id[7] = b'-';
        id[8..].copy_from_slice(random);
        PeerId(id)
    }
}

impl FromStr for InfoHash {
    type Err = ParseHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        InfoHash::from_hex(s)
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({})", self.to_hex())
    }
}

impl fmt::Display for PeerId {
    /// Printable bytes as they are, others as `%XX`, as trackers log them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() && b != b'%' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "%{b:02X}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(DIGITS[usize::from(x >> 4)] as char);
        s.push(DIGITS[usize::from(x & 15)] as char);
    }
    s
}

fn from_hex(s: &str) -> Result<[u8; 20], ParseHexError> {
    let bad = || ParseHexError(s.chars().take(64).collect());
    let b = s.as_bytes();
    if b.len() != 40 {
        return Err(bad());
    }
    let mut out = [0u8; 20];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16).ok_or_else(bad)?;
        let lo = (pair[1] as char).to_digit(16).ok_or_else(bad)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_refusals() {
        let h = InfoHash::of(b"d6:lengthi1ee");
        assert_eq!(InfoHash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(InfoHash::from_hex(&h.to_hex().to_uppercase()), Ok(h));
        assert!(InfoHash::from_hex("abc").is_err());
        assert!(InfoHash::from_hex(&"g".repeat(40)).is_err());
        assert!(InfoHash::from_hex(&"é".repeat(20)).is_err());
    }

    #[test]
    fn base32_matches_rfc4648_and_round_trips() {
        // RFC 4648 test vector "foobar" padded to 20 bytes with zeros.
        let mut b = [0u8; 20];
        b[..6].copy_from_slice(b"foobar");
        let h = InfoHash(b);
        assert!(h.to_base32().starts_with("MZXW6YTBOI"));
        assert_eq!(InfoHash::from_base32(&h.to_base32()), Ok(h));
        assert_eq!(InfoHash::from_base32(&h.to_base32().to_lowercase()), Ok(h));
        assert!(InfoHash::from_base32("A").is_err());
        assert!(InfoHash::from_base32(&"1".repeat(32)).is_err());
        assert!(InfoHash::from_base32(&"é".repeat(16)).is_err());
    }

    #[test]
    fn peer_id_display_escapes() {
        let id = PeerId::azureus_style(b"BF", b"0100", &[0xff; 12]);
        assert!(id.to_string().starts_with("-BF0100-%FF"));
    }
}
