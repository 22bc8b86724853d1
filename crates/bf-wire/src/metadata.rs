//! BEP 9 ut_metadata messages: fetching the info dictionary from peers (magnet links).

use bf_bencode::{Decoder as BencodeDecoder, Dict, Limits, Mode, Value};
use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;

/// The metadata is exchanged in pieces of 16 KiB (the last one shorter).
pub const METADATA_PIECE_LEN: usize = 16 * 1024;

const LIMITS: Limits = Limits {
    max_depth: 4,
    max_bytes_len: 1024,
    max_items: 64,
};

/// A ut_metadata message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MetadataMessage {
    /// `msg_type` 0: ask for a metadata piece.
    Request {
        /// Metadata piece index.
        piece: u32,
    },
    /// `msg_type` 1: a metadata piece; the raw bytes follow the dictionary.
    Data {
        /// Metadata piece index.
        piece: u32,
        /// `total_size`: size of the whole info dictionary.
        total_size: u32,
        /// The piece's bytes (at most 16 KiB), a slice of the receive buffer.
        data: Bytes,
    },
    /// `msg_type` 2: the sender will not send this piece.
    Reject {
        /// Metadata piece index.
        piece: u32,
    },
    /// A `msg_type` BEP 9 does not define, which it says to ignore.
    Unknown {
        /// The `msg_type`.
        msg_type: i64,
    },
}

impl MetadataMessage {
    /// Parses the payload after the extension id.
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        const WHAT: &str = "ut_metadata";
        let (value, used) = BencodeDecoder::new(Mode::Lenient)
            .with_limits(LIMITS)
            .decode_prefix(&payload)
            .map_err(|source| DecodeError::Bencode { what: WHAT, source })?;
        let d = value.as_dict().ok_or(DecodeError::BadField {
            what: WHAT,
            key: "dictionary",
        })?;
        let field = |key: &'static str| -> Result<i64, DecodeError> {
            d.get(key.as_bytes())
                .and_then(Value::as_int)
                .ok_or(DecodeError::BadField { what: WHAT, key })
        };
        let u32_field = |key: &'static str| -> Result<u32, DecodeError> {
            u32::try_from(field(key)?).map_err(|_| DecodeError::BadField { what: WHAT, key })
        };
        let msg_type = field("msg_type")?;
        let no_trailing = |name| {
            if used == payload.len() {
                Ok(())
            } else {
                Err(DecodeError::MetadataTrailing(name))
            }
        };
        Ok(match msg_type {
            0 => {
                no_trailing("request")?;
                MetadataMessage::Request {
                    piece: u32_field("piece")?,
                }
            }
            1 => {
                let piece = u32_field("piece")?;
                let total_size = u32_field("total_size")?;
                let data = payload.slice(used..);
                if data.len() > METADATA_PIECE_LEN {
                    return Err(DecodeError::MetadataTooLong(data.len()));
                }
                MetadataMessage::Data {
                    piece,
                    total_size,
                    data,
                }
            }
            2 => {
                no_trailing("reject")?;
                MetadataMessage::Reject {
                    piece: u32_field("piece")?,
                }
            }
            other => MetadataMessage::Unknown { msg_type: other },
        })
    }

    /// Appends the payload (dictionary, then data for a data message) to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut d = Dict::new();
        let (msg_type, piece) = match self {
            MetadataMessage::Request { piece } => (0, Some(piece)),
            MetadataMessage::Data {
                piece, total_size, ..
            } => {
                d.insert(&b"total_size"[..], i64::from(*total_size));
                (1, Some(piece))
            }
            MetadataMessage::Reject { piece } => (2, Some(piece)),
            MetadataMessage::Unknown { msg_type } => (*msg_type, None),
        };
        d.insert(&b"msg_type"[..], msg_type);
        if let Some(p) = piece {
            d.insert(&b"piece"[..], i64::from(*p));
        }
        buf.put_slice(&bf_bencode::to_vec(&Value::Dict(d)));
        if let MetadataMessage::Data { data, .. } = self {
            buf.put_slice(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(m: &MetadataMessage) -> Bytes {
        let mut b = BytesMut::new();
        m.encode(&mut b);
        b.freeze()
    }

    #[test]
    fn bep9_layouts() {
        let r = MetadataMessage::Request { piece: 0 };
        assert_eq!(&enc(&r)[..], b"d8:msg_typei0e5:piecei0ee");
        let d = MetadataMessage::Data {
            piece: 1,
            total_size: 20000,
            data: Bytes::from_static(b"xyz"),
        };
        assert_eq!(
            &enc(&d)[..],
            b"d8:msg_typei1e5:piecei1e10:total_sizei20000eexyz"
        );
        assert_eq!(MetadataMessage::decode(enc(&d)), Ok(d));
        assert_eq!(MetadataMessage::decode(enc(&r)), Ok(r));
        assert!(matches!(
            MetadataMessage::decode(Bytes::from_static(b"d8:msg_typei0e5:piecei0eeX")),
            Err(DecodeError::MetadataTrailing(_))
        ));
        assert!(matches!(
            MetadataMessage::decode(Bytes::from_static(b"d8:msg_typei0e5:piecei-1ee")),
            Err(DecodeError::BadField { key: "piece", .. })
        ));
        assert!(matches!(
            MetadataMessage::decode(Bytes::from_static(b"d8:msg_typei1e5:piecei0ee")),
            Err(DecodeError::BadField {
                key: "total_size",
                ..
            })
        ));
        let mut big = BytesMut::from(&b"d8:msg_typei1e5:piecei0e10:total_sizei1ee"[..]);
        big.put_bytes(0, METADATA_PIECE_LEN + 1);
        assert_eq!(
            MetadataMessage::decode(big.freeze()),
            Err(DecodeError::MetadataTooLong(METADATA_PIECE_LEN + 1))
        );
        assert_eq!(
            MetadataMessage::decode(Bytes::from_static(b"d8:msg_typei9ee")),
            Ok(MetadataMessage::Unknown { msg_type: 9 })
        );
    }
}
