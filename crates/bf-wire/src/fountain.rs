//! The bf_raptorq extension's messages (see `docs/fountain-extension.md`).
//!
//! Each is a BEP 10 extended message whose payload starts with a type byte; integers are
//! big-endian u32:
//!
//! | type | name           | body                                   |
//! |------|----------------|----------------------------------------|
//! | 0x00 | SYMBOL_REQUEST | piece, first_esi, count                |
//! | 0x01 | SYMBOL         | piece, esi, then exactly T bytes       |
//! | 0x02 | SYMBOL_CANCEL  | piece                                  |
//! | 0x03 | SYMBOL_REJECT  | piece, first_esi, count                |
//!
//! Other types are decoded as [`FountainMessage::Unknown`], which receivers ignore.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::DecodeError;

/// Encoding symbol ids are below 2^24 (RFC 6330).
pub const ESI_LIMIT: u32 = 1 << 24;

/// Repair ESIs a piece has beyond one per source symbol: its ESI cap is 2K + this (§4.4).
pub const REPAIR_HEADROOM: u32 = 64;

/// The ESI cap of a piece of `piece_len` bytes for symbol size `symbol_size` (§4.4): valid
/// ESIs are below 2K + 64, K = ceil(piece_len / symbol_size), and never reach 2^24.
pub fn esi_cap(piece_len: u32, symbol_size: u32) -> u32 {
    let k = piece_len.div_ceil(symbol_size.max(1));
    k.saturating_mul(2)
        .saturating_add(REPAIR_HEADROOM)
        .min(ESI_LIMIT)
}

/// Message type bytes.
pub mod kind {
    /// Ask for a range of symbols.
    pub const SYMBOL_REQUEST: u8 = 0x00;
    /// One symbol.
    pub const SYMBOL: u8 = 0x01;
    /// Withdraw every request for a piece.
    pub const SYMBOL_CANCEL: u8 = 0x02;
    /// Refuse a range of symbols.
    pub const SYMBOL_REJECT: u8 = 0x03;
}

/// Symbols `first_esi .. first_esi + count` of a piece.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SymbolRange {
    /// Piece index.
    pub piece: u32,
    /// First encoding symbol id.
    pub first_esi: u32,
    /// Number of symbols (at least 1).
    pub count: u32,
}

impl SymbolRange {
    /// The range `first_esi .. first_esi + count` of `piece`.
    pub fn new(piece: u32, first_esi: u32, count: u32) -> Self {
        SymbolRange {
            piece,
            first_esi,
            count,
        }
    }

    /// One past the last ESI (computed in 64 bits: never overflows).
    pub fn end(&self) -> u64 {
        u64::from(self.first_esi) + u64::from(self.count)
    }

    /// Whether `count >= 1` and every ESI of the range is below 2^24.
    pub fn is_valid(&self) -> bool {
        self.validate().is_ok()
    }

    /// `Ok` if [`SymbolRange::is_valid`], else why not.
    pub fn validate(&self) -> Result<(), DecodeError> {
        if self.count == 0 {
            return Err(DecodeError::ZeroCount);
        }
        if self.end() > u64::from(ESI_LIMIT) {
            return Err(DecodeError::EsiOutOfRange(self.end() - 1));
        }
        Ok(())
    }
}

/// A bf_raptorq message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FountainMessage {
    /// Ask for the symbols of a range.
    SymbolRequest(SymbolRange),
    /// One encoding symbol.
    Symbol {
        /// Piece index.
        piece: u32,
        /// Encoding symbol id (< 2^24).
        esi: u32,
        /// Exactly T bytes, a slice of the receive buffer when decoded.
        data: Bytes,
    },
    /// Withdraw every outstanding request for a piece.
    SymbolCancel {
        /// Piece index.
        piece: u32,
    },
    /// The range will not be served.
    SymbolReject(SymbolRange),
    /// A type version 1 does not define; receivers ignore it.
    Unknown {
        /// The type byte (0x04 or above).
        kind: u8,
        /// Everything after the type byte.
        payload: Bytes,
    },
}

impl FountainMessage {
    /// The type byte.
    pub fn kind(&self) -> u8 {
        match self {
            FountainMessage::SymbolRequest(_) => kind::SYMBOL_REQUEST,
            FountainMessage::Symbol { .. } => kind::SYMBOL,
            FountainMessage::SymbolCancel { .. } => kind::SYMBOL_CANCEL,
            FountainMessage::SymbolReject(_) => kind::SYMBOL_REJECT,
            FountainMessage::Unknown { kind, .. } => *kind,
        }
    }

    /// The piece the message is about (`None` for an unknown type).
    pub fn piece(&self) -> Option<u32> {
        match self {
            FountainMessage::SymbolRequest(r) | FountainMessage::SymbolReject(r) => Some(r.piece),
            FountainMessage::Symbol { piece, .. } | FountainMessage::SymbolCancel { piece } => {
                Some(*piece)
            }
            FountainMessage::Unknown { .. } => None,
        }
    }

    /// Checks what [`FountainMessage::decode`] checks, for a message built otherwise: a
    /// SYMBOL of exactly `symbol_size` bytes with an ESI below 2^24, ranges of count 1 or
    /// more below 2^24.
    pub fn validate(&self, symbol_size: u32) -> Result<(), DecodeError> {
        match self {
            FountainMessage::SymbolRequest(r) | FountainMessage::SymbolReject(r) => r.validate(),
            FountainMessage::Symbol { esi, data, .. } => {
                if data.len() != symbol_size as usize {
                    return Err(DecodeError::FountainLength {
                        kind: kind::SYMBOL,
                        len: 8 + data.len(),
                    });
                }
                if *esi >= ESI_LIMIT {
                    return Err(DecodeError::EsiOutOfRange(u64::from(*esi)));
                }
                Ok(())
            }
            FountainMessage::SymbolCancel { .. } | FountainMessage::Unknown { .. } => Ok(()),
        }
    }

    /// The largest payload (type byte included) of any message for symbol size `t`.
    pub fn max_payload_len(t: u32) -> usize {
        1 + 8 + t as usize
    }

    /// Parses the payload after the extension id; `symbol_size` is the negotiated T.
    pub fn decode(mut payload: Bytes, symbol_size: u32) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Err(DecodeError::FountainLength { kind: 0, len: 0 });
        }
        let kind = payload.get_u8();
        let len = payload.len();
        let expected = match kind {
            kind::SYMBOL_REQUEST | kind::SYMBOL_REJECT => 12,
            kind::SYMBOL => 8 + symbol_size as usize,
            kind::SYMBOL_CANCEL => 4,
            other => {
                return Ok(FountainMessage::Unknown {
                    kind: other,
                    payload,
                })
            }
        };
        if len != expected {
            return Err(DecodeError::FountainLength { kind, len });
        }
        let piece = payload.get_u32();
        Ok(match kind {
            kind::SYMBOL => {
                let esi = payload.get_u32();
                if esi >= ESI_LIMIT {
                    return Err(DecodeError::EsiOutOfRange(u64::from(esi)));
                }
                FountainMessage::Symbol {
                    piece,
                    esi,
                    data: payload,
                }
            }
            kind::SYMBOL_CANCEL => FountainMessage::SymbolCancel { piece },
            _ => {
                let range = SymbolRange::new(piece, payload.get_u32(), payload.get_u32());
                range.validate()?;
                if kind == kind::SYMBOL_REQUEST {
                    FountainMessage::SymbolRequest(range)
                } else {
                    FountainMessage::SymbolReject(range)
                }
            }
        })
    }

    /// Appends the payload (type byte first) to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        if let Some(data) = self.encode_split(buf) {
            buf.put_slice(data);
        }
    }

    /// Appends the payload except a SYMBOL's data, which it returns.
    pub(crate) fn encode_split(&self, buf: &mut BytesMut) -> Option<&Bytes> {
        buf.put_u8(self.kind());
        match self {
            FountainMessage::SymbolRequest(r) | FountainMessage::SymbolReject(r) => {
                buf.put_u32(r.piece);
                buf.put_u32(r.first_esi);
                buf.put_u32(r.count);
                None
            }
            FountainMessage::Symbol { piece, esi, data } => {
                buf.put_u32(*piece);
                buf.put_u32(*esi);
                Some(data)
            }
            FountainMessage::SymbolCancel { piece } => {
                buf.put_u32(*piece);
                None
            }
            FountainMessage::Unknown { payload, .. } => {
                buf.put_slice(payload);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: &FountainMessage) -> Bytes {
        let mut b = BytesMut::new();
        m.encode(&mut b);
        b.freeze()
    }

    #[test]
    fn layouts_and_validation() {
        let req = FountainMessage::SymbolRequest(SymbolRange::new(1, 2, 3));
        assert_eq!(&enc(&req)[..], &[0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
        assert_eq!(FountainMessage::decode(enc(&req), 4), Ok(req));
        let sym = FountainMessage::Symbol {
            piece: 5,
            esi: ESI_LIMIT - 1,
            data: Bytes::from_static(b"abcd"),
        };
        assert_eq!(FountainMessage::decode(enc(&sym), 4), Ok(sym.clone()));
        assert_eq!(
            FountainMessage::decode(enc(&sym), 5),
            Err(DecodeError::FountainLength { kind: 1, len: 12 })
        );
        let cancel = FountainMessage::SymbolCancel { piece: 9 };
        assert_eq!(&enc(&cancel)[..], &[2, 0, 0, 0, 9]);
        assert_eq!(FountainMessage::decode(enc(&cancel), 4), Ok(cancel));
        let zero = FountainMessage::SymbolReject(SymbolRange::new(1, 2, 0));
        assert_eq!(
            FountainMessage::decode(enc(&zero), 4),
            Err(DecodeError::ZeroCount)
        );
        let over = FountainMessage::SymbolRequest(SymbolRange::new(1, ESI_LIMIT - 1, 2));
        assert_eq!(
            FountainMessage::decode(enc(&over), 4),
            Err(DecodeError::EsiOutOfRange(u64::from(ESI_LIMIT)))
        );
        let last = SymbolRange::new(1, ESI_LIMIT - 1, 1);
        assert!(last.is_valid());
        let mut bad_esi = BytesMut::new();
        bad_esi.put_u8(1);
        bad_esi.put_u32(0);
        bad_esi.put_u32(ESI_LIMIT);
        bad_esi.put_bytes(0, 4);
        assert_eq!(
            FountainMessage::decode(bad_esi.freeze(), 4),
            Err(DecodeError::EsiOutOfRange(u64::from(ESI_LIMIT)))
        );
        assert_eq!(
            FountainMessage::decode(Bytes::from_static(&[7, 1, 2]), 4),
            Ok(FountainMessage::Unknown {
                kind: 7,
                payload: Bytes::from_static(&[1, 2])
            })
        );
        assert_eq!(
            FountainMessage::decode(Bytes::new(), 4),
            Err(DecodeError::FountainLength { kind: 0, len: 0 })
        );
    }
}
