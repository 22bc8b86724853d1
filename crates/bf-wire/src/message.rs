//! The messages that follow the handshake, and their encoding.
//!
//! Every message is `<u32 big-endian length><u8 id><payload>`; a length of zero is a
//! keep-alive. Payloads that carry data ([`Message::Piece`], [`Message::Bitfield`], symbols)
//! are [`Bytes`], which the decoder slices out of the receive buffer without copying.

use bytes::{BufMut, Bytes, BytesMut};

use crate::extended::ExtendedHandshake;
use crate::fountain::FountainMessage;
use crate::metadata::MetadataMessage;

/// Message ids (the byte after the length prefix).
pub mod id {
    /// BEP 3: the sender will not serve requests.
    pub const CHOKE: u8 = 0;
    /// BEP 3: the sender will serve requests.
    pub const UNCHOKE: u8 = 1;
    /// BEP 3: the sender wants pieces from the receiver.
    pub const INTERESTED: u8 = 2;
    /// BEP 3: the sender wants nothing from the receiver.
    pub const NOT_INTERESTED: u8 = 3;
    /// BEP 3: the sender has a new piece.
    pub const HAVE: u8 = 4;
    /// BEP 3: every piece the sender has.
    pub const BITFIELD: u8 = 5;
    /// BEP 3: ask for a block.
    pub const REQUEST: u8 = 6;
    /// BEP 3: a block.
    pub const PIECE: u8 = 7;
    /// BEP 3: withdraw a request.
    pub const CANCEL: u8 = 8;
    /// BEP 5: the sender's DHT port.
    pub const PORT: u8 = 9;
    /// BEP 6: a piece the receiver may want to fetch.
    pub const SUGGEST: u8 = 0x0D;
    /// BEP 6: the sender has every piece.
    pub const HAVE_ALL: u8 = 0x0E;
    /// BEP 6: the sender has no piece.
    pub const HAVE_NONE: u8 = 0x0F;
    /// BEP 6: a request will not be served.
    pub const REJECT: u8 = 0x10;
    /// BEP 6: a piece the receiver may request even while choked.
    pub const ALLOWED_FAST: u8 = 0x11;
    /// BEP 10: an extension message.
    pub const EXTENDED: u8 = 20;
}

/// A block of a piece: what REQUEST, CANCEL and REJECT name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct BlockRequest {
    /// Piece index.
    pub piece: u32,
    /// Byte offset inside the piece.
    pub begin: u32,
    /// Length in bytes.
    pub length: u32,
}

impl BlockRequest {
    /// The block of `length` bytes at `begin` in `piece`.
    pub fn new(piece: u32, begin: u32, length: u32) -> Self {
        BlockRequest {
            piece,
            begin,
            length,
        }
    }
}

/// The data of a PIECE message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Block {
    /// Piece index.
    pub piece: u32,
    /// Byte offset inside the piece.
    pub begin: u32,
    /// The bytes, a slice of the receive buffer when decoded.
    pub data: Bytes,
}

impl Block {
    /// The request this block answers.
    pub fn request(&self) -> BlockRequest {
        BlockRequest::new(self.piece, self.begin, self.data.len() as u32)
    }
}

/// One peer-protocol message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    /// Length zero: keeps an idle connection open.
    KeepAlive,
    /// The sender chokes the receiver.
    Choke,
    /// The sender unchokes the receiver.
    Unchoke,
    /// The sender is interested in the receiver's pieces.
    Interested,
    /// The sender is not interested.
    NotInterested,
    /// The sender has this piece.
    Have(u32),
    /// The sender's pieces, one bit each, high bit of byte 0 is piece 0.
    Bitfield(Bytes),
    /// Ask for a block.
    Request(BlockRequest),
    /// A block.
    Piece(Block),
    /// Withdraw a request.
    Cancel(BlockRequest),
    /// BEP 5: the sender's DHT port.
    Port(u16),
    /// BEP 6: a suggested piece.
    Suggest(u32),
    /// BEP 6: the sender has every piece.
    HaveAll,
    /// BEP 6: the sender has no piece.
    HaveNone,
    /// BEP 6: the request will not be served.
    Reject(BlockRequest),
    /// BEP 6: this piece may be requested while choked.
    AllowedFast(u32),
    /// BEP 10: an extension message.
    Extended(Extended),
    /// A message id this crate does not know, kept so the caller may ignore it.
    Unknown {
        /// The id.
        id: u8,
        /// Everything after the id.
        payload: Bytes,
    },
}

/// A BEP 10 extension message (message id 20).
///
/// The extension id is the *receiver's*: when decoding it is one of the ids in our own `m`
/// map (which tells the decoder how to parse the payload); when encoding it must be the id
/// the peer assigned in its extended handshake. [`crate::Connection`] picks the right one.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Extended {
    /// Extension id 0: the extended handshake.
    Handshake(Box<ExtendedHandshake>),
    /// A ut_metadata (BEP 9) message.
    Metadata {
        /// Extension id (non-zero).
        id: u8,
        /// The message.
        message: MetadataMessage,
    },
    /// A ut_pex (BEP 11) message.
    Pex {
        /// Extension id (non-zero).
        id: u8,
        /// The message.
        message: crate::pex::PexMessage,
    },
    /// A bf_raptorq message.
    Fountain {
        /// Extension id (non-zero).
        id: u8,
        /// The message.
        message: FountainMessage,
    },
    /// An extension this side did not offer.
    Unknown {
        /// Extension id.
        id: u8,
        /// Everything after the extension id.
        payload: Bytes,
    },
}

impl Message {
    /// The message id, `None` for a keep-alive.
    pub fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have(_) => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece(_) => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::Suggest(_) => id::SUGGEST,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::Reject(_) => id::REJECT,
            Message::AllowedFast(_) => id::ALLOWED_FAST,
            Message::Extended(_) => id::EXTENDED,
            Message::Unknown { id, .. } => *id,
        })
    }

    /// A short name for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Message::KeepAlive => "keep-alive",
            Message::Choke => "choke",
            Message::Unchoke => "unchoke",
            Message::Interested => "interested",
            Message::NotInterested => "not interested",
            Message::Have(_) => "have",
            Message::Bitfield(_) => "bitfield",
            Message::Request(_) => "request",
            Message::Piece(_) => "piece",
            Message::Cancel(_) => "cancel",
            Message::Port(_) => "port",
            Message::Suggest(_) => "suggest piece",
            Message::HaveAll => "have all",
            Message::HaveNone => "have none",
            Message::Reject(_) => "reject request",
            Message::AllowedFast(_) => "allowed fast",
            Message::Extended(Extended::Handshake(_)) => "extended handshake",
            Message::Extended(Extended::Metadata { .. }) => "ut_metadata",
            Message::Extended(Extended::Pex { .. }) => "ut_pex",
            Message::Extended(Extended::Fountain { .. }) => "bf_raptorq",
            Message::Extended(Extended::Unknown { .. }) => "unknown extension",
            Message::Unknown { .. } => "unknown",
        }
    }

    /// Appends the message, length prefix included, to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        if let Some(data) = self.encode_split(buf) {
            buf.put_slice(data);
        }
    }

    /// Appends the message to `header` except the data bytes of a PIECE block or a SYMBOL,
    /// which it returns (a zero-copy clone) to be written right after `header`, e.g. with
    /// `write_vectored`. Every other message is appended whole and `None` returned.
    pub fn encode_vectored(&self, header: &mut BytesMut) -> Option<Bytes> {
        self.encode_split(header).cloned()
    }

    /// Appends everything but the trailing data bytes of a PIECE or SYMBOL, which it
    /// returns; the length prefix counts them.
    fn encode_split(&self, buf: &mut BytesMut) -> Option<&Bytes> {
        let start = buf.len();
        buf.put_u32(0);
        if let Some(id) = self.id() {
            buf.put_u8(id);
        }
        let tail = match self {
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => None,
            Message::Have(p) | Message::Suggest(p) | Message::AllowedFast(p) => {
                buf.put_u32(*p);
                None
            }
            Message::Bitfield(b) => {
                buf.put_slice(b);
                None
            }
            Message::Request(r) | Message::Cancel(r) | Message::Reject(r) => {
                buf.put_u32(r.piece);
                buf.put_u32(r.begin);
                buf.put_u32(r.length);
                None
            }
            Message::Piece(b) => {
                buf.put_u32(b.piece);
                buf.put_u32(b.begin);
                Some(&b.data)
            }
            Message::Port(p) => {
                buf.put_u16(*p);
                None
            }
            Message::Extended(ext) => ext.encode_payload(buf),
            Message::Unknown { payload, .. } => {
                buf.put_slice(payload);
                None
            }
        };
        let len = (buf.len() - start - 4 + tail.map_or(0, Bytes::len)) as u32;
        buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        tail
    }

    /// The encoded message in a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut buf = BytesMut::new();
        self.encode(&mut buf);
        buf.freeze()
    }
}

impl Extended {
    /// Appends extension id and payload, except a SYMBOL's data, which it returns.
    fn encode_payload(&self, buf: &mut BytesMut) -> Option<&Bytes> {
        match self {
            Extended::Handshake(h) => {
                buf.put_u8(0);
                buf.put_slice(&h.to_bencode());
                None
            }
            Extended::Metadata { id, message } => {
                buf.put_u8(*id);
                message.encode(buf);
                None
            }
            Extended::Pex { id, message } => {
                buf.put_u8(*id);
                message.encode(buf);
                None
            }
            Extended::Fountain { id, message } => {
                buf.put_u8(*id);
                message.encode_split(buf)
            }
            Extended::Unknown { id, payload } => {
                buf.put_u8(*id);
                buf.put_slice(payload);
                None
            }
        }
    }
}

/// Appends `message`, length prefix included, to `buf` (same as [`Message::encode`]).
pub fn encode(message: &Message, buf: &mut BytesMut) {
    message.encode(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_layouts() {
        assert_eq!(&Message::KeepAlive.to_bytes()[..], &[0, 0, 0, 0]);
        assert_eq!(&Message::Choke.to_bytes()[..], &[0, 0, 0, 1, 0]);
        assert_eq!(&Message::HaveNone.to_bytes()[..], &[0, 0, 0, 1, 0x0f]);
        assert_eq!(
            &Message::Have(258).to_bytes()[..],
            &[0, 0, 0, 5, 4, 0, 0, 1, 2]
        );
        assert_eq!(
            &Message::Request(BlockRequest::new(1, 2, 3)).to_bytes()[..],
            &[0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]
        );
        assert_eq!(
            &Message::Port(6881).to_bytes()[..],
            &[0, 0, 0, 3, 9, 0x1a, 0xe1]
        );
        let piece = Message::Piece(Block {
            piece: 1,
            begin: 0,
            data: Bytes::from_static(b"abc"),
        });
        assert_eq!(
            &piece.to_bytes()[..],
            &[0, 0, 0, 12, 7, 0, 0, 0, 1, 0, 0, 0, 0, b'a', b'b', b'c']
        );
        let mut header = BytesMut::new();
        let data = piece.encode_vectored(&mut header);
        assert_eq!(&header[..], &[0, 0, 0, 12, 7, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert_eq!(data.as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn vectored_symbol_leaves_out_only_the_data() {
        let data = Bytes::from(vec![9u8; 16384]);
        let m = Message::Extended(Extended::Fountain {
            id: 6,
            message: FountainMessage::Symbol {
                piece: 2,
                esi: 3,
                data: data.clone(),
            },
        });
        let mut header = BytesMut::new();
        let out = m.encode_vectored(&mut header);
        // The frame of docs/fountain-extension.md section 3: 00 00 40 0b | 14 | X | 01 | ...
        assert_eq!(
            &header[..],
            &[0, 0, 0x40, 0x0b, 20, 6, 1, 0, 0, 0, 2, 0, 0, 0, 3]
        );
        assert_eq!(out.map(|d| d.as_ptr()), Some(data.as_ptr()));
        let mut whole = BytesMut::new();
        Message::Have(1).encode_vectored(&mut whole);
        assert_eq!(&whole[..], &Message::Have(1).to_bytes()[..]);
    }
}
