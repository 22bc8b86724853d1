//! The streaming decoder: bytes as they arrive in, whole messages out.
//!
//! The caller appends whatever the socket gave to a [`BytesMut`] and calls
//! [`Decoder::decode`] until it returns `Ok(None)` (more bytes needed). A message is taken
//! off the front of the buffer only once it is complete; its data payloads are
//! [`Bytes`](bytes::Bytes) slices of that buffer, not copies. Every length prefix is checked
//! against the limit for its message kind as soon as the id byte is there, before the
//! decoder asks the buffer to grow, so a peer cannot make it hold more than the limit.

use bf_metainfo::InfoHash;
use bytes::{Buf, BytesMut};

use crate::error::DecodeError;
use crate::extended::{ExtendedHandshake, LocalExtensions};
use crate::fountain::FountainMessage;
use crate::handshake::{check_prefix, Handshake, HANDSHAKE_LEN};
use crate::message::{id, Block, BlockRequest, Extended, Message};
use crate::metadata::MetadataMessage;

/// Size bounds on incoming messages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    /// Largest block in a PIECE message (and largest block request served).
    pub max_block_len: u32,
    /// Largest bitfield payload accepted while the piece count is unknown; once it is known
    /// the length must be exactly ceil(pieces / 8).
    pub max_bitfield_len: usize,
    /// Largest extended-message payload after the extension id, except bf_raptorq messages,
    /// which are bounded by the symbol size.
    pub max_extended_len: usize,
    /// Largest payload of a message id this crate does not know.
    pub max_unknown_len: usize,
}

impl Default for Limits {
    /// 16 KiB blocks; bitfields up to 128 KiB (a million pieces) before the metadata is
    /// known; 64 KiB for extended and unknown messages (a ut_metadata data message is 16 KiB
    /// plus a small dictionary).
    fn default() -> Self {
        Limits {
            max_block_len: 16 * 1024,
            max_bitfield_len: 128 * 1024,
            max_extended_len: 64 * 1024,
            max_unknown_len: 64 * 1024,
        }
    }
}

/// What the decoder produced: the handshake once, then messages.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Frame {
    /// The 68-byte handshake.
    Handshake(Handshake),
    /// A message.
    Message(Message),
}

/// A streaming decoder for one connection's incoming bytes.
#[derive(Clone, Debug)]
pub struct Decoder {
    limits: Limits,
    extensions: LocalExtensions,
    piece_count: Option<u32>,
    expect_handshake: bool,
}

impl Decoder {
    /// A decoder that expects the handshake first. `extensions` is our own `m` map: it says
    /// how to parse extended messages peers send us.
    pub fn new(limits: Limits, extensions: LocalExtensions) -> Self {
        Decoder {
            limits,
            extensions,
            piece_count: None,
            expect_handshake: true,
        }
    }

    /// A decoder for the messages after a handshake that was already read.
    pub fn after_handshake(limits: Limits, extensions: LocalExtensions) -> Self {
        Decoder {
            expect_handshake: false,
            ..Decoder::new(limits, extensions)
        }
    }

    /// From now on a bitfield must be exactly ceil(`piece_count` / 8) bytes.
    pub fn set_piece_count(&mut self, piece_count: u32) {
        self.piece_count = Some(piece_count);
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the next frame must be the handshake.
    pub fn expects_handshake(&self) -> bool {
        self.expect_handshake
    }

    /// The next frame at the front of `buf`: the handshake if it is still expected, else a
    /// message. `Ok(None)` means more bytes are needed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if self.expect_handshake {
            Ok(self.decode_handshake(buf)?.map(Frame::Handshake))
        } else {
            Ok(self.decode_message(buf)?.map(Frame::Message))
        }
    }

    /// A handshake at the front of `buf`. A stream that is not BitTorrent fails on its
    /// first bytes.
    pub fn decode_handshake(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<Handshake>, DecodeError> {
        check_prefix(&buf[..buf.len().min(HANDSHAKE_LEN)])?;
        if buf.len() < HANDSHAKE_LEN {
            return Ok(None);
        }
        let hs = Handshake::parse(&buf[..HANDSHAKE_LEN])?;
        buf.advance(HANDSHAKE_LEN);
        self.expect_handshake = false;
        Ok(Some(hs))
    }

    /// The info-hash of a handshake at the front of `buf` once its first 48 bytes are in,
    /// without consuming anything: a listener can pick the torrent (and answer) before the
    /// peer id arrives.
    pub fn peek_info_hash(&self, buf: &[u8]) -> Result<Option<InfoHash>, DecodeError> {
        check_prefix(&buf[..buf.len().min(HANDSHAKE_LEN)])?;
        Ok(buf.get(28..48).and_then(InfoHash::from_slice))
    }

    /// A message at the front of `buf`.
    pub fn decode_message(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        if self.expect_handshake {
            return Err(DecodeError::HandshakeExpected);
        }
        let Some(header) = buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len == 0 {
            buf.advance(4);
            return Ok(Some(Message::KeepAlive));
        }
        let Some(&msg_id) = buf.get(4) else {
            return Ok(None);
        };
        self.check_len(msg_id, len, buf.get(5).copied())?;
        if msg_id == id::EXTENDED && buf.len() < 6 {
            return Ok(None);
        }
        if buf.len() < 4 + len {
            // Safe to ask for now: `len` passed the limit for its kind.
            buf.reserve(4 + len - buf.len());
            return Ok(None);
        }
        let mut payload = buf.split_to(4 + len).freeze();
        payload.advance(5);
        self.parse(msg_id, payload).map(Some)
    }

    /// Checks a length prefix (`len` counts the id byte) against the limit for its kind.
    /// `ext_id` is the byte after the id when already received.
    fn check_len(&self, msg_id: u8, len: usize, ext_id: Option<u8>) -> Result<(), DecodeError> {
        let exact = |n: usize| {
            if len == n {
                Ok(())
            } else {
                Err(DecodeError::FrameLength { id: msg_id, len })
            }
        };
        let range = |min: usize, max: usize| {
            if len < min {
                Err(DecodeError::FrameLength { id: msg_id, len })
            } else if len > max {
                Err(DecodeError::FrameTooLong {
                    id: msg_id,
                    len,
                    limit: max,
                })
            } else {
                Ok(())
            }
        };
        let fountain_max =
            2 + FountainMessage::max_payload_len(self.extensions.fountain.symbol_size);
        let extended_max = 2 + self.limits.max_extended_len;
        match msg_id {
            id::CHOKE
            | id::UNCHOKE
            | id::INTERESTED
            | id::NOT_INTERESTED
            | id::HAVE_ALL
            | id::HAVE_NONE => exact(1),
            id::HAVE | id::SUGGEST | id::ALLOWED_FAST => exact(5),
            id::REQUEST | id::CANCEL | id::REJECT => exact(13),
            id::PORT => exact(3),
            id::BITFIELD => match self.piece_count {
                Some(n) => exact(1 + crate::bitfield::byte_len(n)),
                None => range(1, 1 + self.limits.max_bitfield_len),
            },
            id::PIECE => range(9, 9 + self.limits.max_block_len as usize),
            id::EXTENDED => match ext_id {
                None => range(2, extended_max.max(fountain_max)),
                Some(e) if e != 0 && e == self.fountain_id() => range(2, fountain_max),
                Some(_) => range(2, extended_max),
            },
            _ => range(1, 1 + self.limits.max_unknown_len),
        }
    }

    /// Our bf_raptorq id, unless ut_metadata claimed the same id (it wins).
    fn fountain_id(&self) -> u8 {
        let e = &self.extensions;
        if e.bf_raptorq == e.ut_metadata {
            0
        } else {
            e.bf_raptorq
        }
    }

    fn parse(&self, msg_id: u8, mut p: bytes::Bytes) -> Result<Message, DecodeError> {
        // Lengths were checked by `check_len`, so the fixed-size reads below cannot run short.
        let req = |p: &mut bytes::Bytes| BlockRequest::new(p.get_u32(), p.get_u32(), p.get_u32());
        Ok(match msg_id {
            id::CHOKE => Message::Choke,
            id::UNCHOKE => Message::Unchoke,
            id::INTERESTED => Message::Interested,
            id::NOT_INTERESTED => Message::NotInterested,
            id::HAVE => Message::Have(p.get_u32()),
            id::BITFIELD => Message::Bitfield(p),
            id::REQUEST => Message::Request(req(&mut p)),
            id::PIECE => {
                let piece = p.get_u32();
                let begin = p.get_u32();
                Message::Piece(Block {
                    piece,
                    begin,
                    data: p,
                })
            }
            id::CANCEL => Message::Cancel(req(&mut p)),
            id::PORT => Message::Port(p.get_u16()),
            id::SUGGEST => Message::Suggest(p.get_u32()),
            id::HAVE_ALL => Message::HaveAll,
            id::HAVE_NONE => Message::HaveNone,
            id::REJECT => Message::Reject(req(&mut p)),
            id::ALLOWED_FAST => Message::AllowedFast(p.get_u32()),
            id::EXTENDED => {
                let ext = p.get_u8();
                Message::Extended(if ext == 0 {
                    Extended::Handshake(Box::new(ExtendedHandshake::decode(&p)?))
                } else if ext == self.extensions.ut_metadata {
                    Extended::Metadata {
                        id: ext,
                        message: MetadataMessage::decode(p)?,
                    }
                } else if ext != 0 && ext == self.extensions.ut_pex {
                    Extended::Pex {
                        id: ext,
                        message: crate::pex::PexMessage::decode(p)?,
                    }
                } else if ext == self.fountain_id() {
                    Extended::Fountain {
                        id: ext,
                        message: FountainMessage::decode(p, self.extensions.fountain.symbol_size)?,
                    }
                } else {
                    Extended::Unknown {
                        id: ext,
                        payload: p,
                    }
                })
            }
            other => Message::Unknown {
                id: other,
                payload: p,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bf_metainfo::{InfoHash, PeerId};
    use bytes::BufMut;

    fn decoder() -> Decoder {
        Decoder::new(Limits::default(), LocalExtensions::default())
    }

    #[test]
    fn handshake_then_messages_byte_by_byte() {
        let mut wire = BytesMut::new();
        let hs = Handshake::new(InfoHash([1; 20]), PeerId([2; 20]));
        hs.encode(&mut wire);
        let msgs = [
            Message::KeepAlive,
            Message::Have(7),
            Message::Bitfield(bytes::Bytes::from_static(&[0xf0])),
            Message::Unchoke,
        ];
        for m in &msgs {
            m.encode(&mut wire);
        }
        let mut d = decoder();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in wire {
            buf.put_u8(b);
            while let Some(f) = d.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        assert_eq!(out[0], Frame::Handshake(hs));
        let got: Vec<_> = out[1..].to_vec();
        let want: Vec<_> = msgs.iter().cloned().map(Frame::Message).collect();
        assert_eq!(got, want);
        assert!(buf.is_empty());
    }

    #[test]
    fn refuses_before_buffering() {
        let mut d = Decoder::after_handshake(Limits::default(), LocalExtensions::default());
        // A 4 GiB piece is refused from its 5-byte header.
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, id::PIECE][..]);
        assert!(matches!(
            d.decode_message(&mut buf),
            Err(DecodeError::FrameTooLong { id: 7, .. })
        ));
        assert!(buf.capacity() < 1024);
        let mut buf = BytesMut::from(&[0, 0, 0, 2, id::HAVE][..]);
        assert_eq!(
            d.decode_message(&mut buf),
            Err(DecodeError::FrameLength { id: 4, len: 2 })
        );
        d.set_piece_count(9);
        let mut buf = BytesMut::from(&[0, 0, 0, 2, id::BITFIELD][..]);
        assert_eq!(
            d.decode_message(&mut buf),
            Err(DecodeError::FrameLength { id: 5, len: 2 })
        );
        // A fountain message is bounded by T, not by the general extended limit.
        let mut buf = BytesMut::from(&[0, 1, 0, 0, id::EXTENDED, 2][..]);
        assert!(matches!(
            d.decode_message(&mut buf),
            Err(DecodeError::FrameTooLong { id: 20, .. })
        ));
        let mut buf = BytesMut::from(&b"\x13BitTorrent protocoX"[..]);
        assert!(decoder().decode(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1"[..]);
        assert!(decoder().decode(&mut buf).is_err());
        let mut buf = BytesMut::from(&[0, 0, 0, 0][..]);
        assert_eq!(
            decoder().decode_message(&mut buf),
            Err(DecodeError::HandshakeExpected)
        );
    }

    #[test]
    fn payloads_are_slices_of_the_receive_buffer() {
        let mut buf = BytesMut::new();
        Message::Piece(Block {
            piece: 3,
            begin: 16384,
            data: bytes::Bytes::from(vec![5u8; 16384]),
        })
        .encode(&mut buf);
        let base = buf.as_ptr() as usize;
        let mut d = Decoder::after_handshake(Limits::default(), LocalExtensions::default());
        let Some(Message::Piece(block)) = d.decode_message(&mut buf).unwrap() else {
            panic!("expected a piece");
        };
        assert_eq!(block.data.as_ptr() as usize, base + 13);
        assert_eq!(block.request(), BlockRequest::new(3, 16384, 16384));
    }
}
