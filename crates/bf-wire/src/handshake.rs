//! The 68-byte handshake that opens every peer connection (BEP 3) and its reserved bits.

use bf_metainfo::{InfoHash, PeerId};
use bytes::{BufMut, BytesMut};

use crate::error::HandshakeError;

/// The protocol string every BitTorrent handshake carries after its length byte.
pub const PROTOCOL: &[u8; 19] = b"BitTorrent protocol";

/// Length of a handshake on the wire: 1 + 19 + 8 + 20 + 20 bytes.
pub const HANDSHAKE_LEN: usize = 68;

/// The eight reserved bytes of a handshake: one bit per optional protocol extension.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Reserved(pub [u8; 8]);

impl Reserved {
    /// No extension bits set.
    pub const NONE: Reserved = Reserved([0; 8]);

    /// The bits BitFountain sets: extension protocol (BEP 10), fast (BEP 6) and DHT (BEP 5).
    pub fn bitfountain() -> Self {
        Reserved::NONE
            .with_extension_protocol(true)
            .with_fast(true)
            .with_dht(true)
    }

    /// BEP 10 extension protocol: `reserved[5] & 0x10`.
    pub fn extension_protocol(&self) -> bool {
        self.0[5] & 0x10 != 0
    }

    /// BEP 6 fast extension: `reserved[7] & 0x04`.
    pub fn fast(&self) -> bool {
        self.0[7] & 0x04 != 0
    }

    /// BEP 5 DHT: `reserved[7] & 0x01`.
    pub fn dht(&self) -> bool {
        self.0[7] & 0x01 != 0
    }

    /// The same bits with the BEP 10 bit set or cleared.
    pub fn with_extension_protocol(self, on: bool) -> Self {
        self.with_bit(5, 0x10, on)
    }

    /// The same bits with the BEP 6 bit set or cleared.
    pub fn with_fast(self, on: bool) -> Self {
        self.with_bit(7, 0x04, on)
    }

    /// The same bits with the BEP 5 bit set or cleared.
    pub fn with_dht(self, on: bool) -> Self {
        self.with_bit(7, 0x01, on)
    }

    fn with_bit(mut self, byte: usize, mask: u8, on: bool) -> Self {
        if on {
            self.0[byte] |= mask;
        } else {
            self.0[byte] &= !mask;
        }
        self
    }
}

/// A handshake: which extensions the sender speaks, which torrent, and who it is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Handshake {
    /// Extension bits.
    pub reserved: Reserved,
    /// The torrent this connection is about.
    pub info_hash: InfoHash,
    /// The sender's peer id.
    pub peer_id: PeerId,
}

impl Handshake {
    /// A handshake with BitFountain's extension bits ([`Reserved::bitfountain`]).
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Self {
        Handshake {
            reserved: Reserved::bitfountain(),
            info_hash,
            peer_id,
        }
    }

    /// The 68 bytes on the wire.
    pub fn to_bytes(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[0] = PROTOCOL.len() as u8;
        out[1..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved.0);
        out[28..48].copy_from_slice(self.info_hash.as_bytes());
        out[48..68].copy_from_slice(self.peer_id.as_bytes());
        out
    }

    /// Appends the 68 bytes to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        buf.put_slice(&self.to_bytes());
    }

    /// Parses exactly [`HANDSHAKE_LEN`] bytes.
    pub fn parse(bytes: &[u8]) -> Result<Self, HandshakeError> {
        if bytes.len() != HANDSHAKE_LEN {
            return Err(HandshakeError::Length(bytes.len()));
        }
        check_prefix(bytes)?;
        let mut reserved = [0u8; 8];
        reserved.copy_from_slice(&bytes[20..28]);
        let mut info_hash = [0u8; 20];
        info_hash.copy_from_slice(&bytes[28..48]);
        let mut peer_id = [0u8; 20];
        peer_id.copy_from_slice(&bytes[48..68]);
        Ok(Handshake {
            reserved: Reserved(reserved),
            info_hash: InfoHash(info_hash),
            peer_id: PeerId(peer_id),
        })
    }
}

/// Checks as much of the `19 "BitTorrent protocol"` prefix as `bytes` holds, so a stream that
/// is not BitTorrent is refused after its first byte rather than after 68.
pub(crate) fn check_prefix(bytes: &[u8]) -> Result<(), HandshakeError> {
    if let Some(&len) = bytes.first() {
        if usize::from(len) != PROTOCOL.len() {
            return Err(HandshakeError::ProtocolLength(len));
        }
    }
    let seen = bytes.len().clamp(1, 20);
    if bytes.len() > 1 && bytes[1..seen] != PROTOCOL[..seen - 1] {
        return Err(HandshakeError::Protocol);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_bits_are_where_the_beps_put_them() {
        let r = Reserved::bitfountain();
        assert_eq!(r.0, [0, 0, 0, 0, 0, 0x10, 0, 0x05]);
        assert!(r.extension_protocol() && r.fast() && r.dht());
        let r = r.with_fast(false);
        assert_eq!(r.0[7], 0x01);
        assert!(!r.fast());
    }

    #[test]
    fn round_trip_and_refusals() {
        let h = Handshake::new(InfoHash([7; 20]), PeerId([9; 20]));
        let b = h.to_bytes();
        assert_eq!(Handshake::parse(&b), Ok(h));
        assert_eq!(Handshake::parse(&b[..67]), Err(HandshakeError::Length(67)));
        let mut bad = b;
        bad[0] = 18;
        assert_eq!(
            Handshake::parse(&bad),
            Err(HandshakeError::ProtocolLength(18))
        );
        let mut bad = b;
        bad[5] = b'X';
        assert_eq!(Handshake::parse(&bad), Err(HandshakeError::Protocol));
        assert_eq!(check_prefix(b"\x13Bit"), Ok(()));
        assert_eq!(check_prefix(b"\x13Bat"), Err(HandshakeError::Protocol));
        assert_eq!(check_prefix(b""), Ok(()));
    }
}
