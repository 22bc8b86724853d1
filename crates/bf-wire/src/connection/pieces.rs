//! The piece sets: the peer's (BITFIELD, HAVE, HAVE ALL, HAVE NONE, also before the
//! torrent's shape is known) and ours, which bounds what we serve.

use bytes::Bytes;

use super::{Connection, Event, PeerPieces};
use crate::bitfield::Bitfield;
use crate::error::{ProtocolError, SendError};
use crate::message::Message;

impl Connection {
    pub(super) fn check_pieces_window(&mut self, what: &'static str) -> Result<(), ProtocolError> {
        if self.peer_pieces_window {
            Ok(())
        } else {
            Err(ProtocolError::PiecesNotFirst(what))
        }
    }

    /// Checks a piece index against the shape, or before it is known against the most
    /// pieces a bitfield within the limits could describe.
    pub(super) fn check_piece(&self, piece: u32) -> Result<(), ProtocolError> {
        let piece_count = match self.shape {
            Some(s) => s.piece_count(),
            None => self.max_unknown_pieces(),
        };
        if piece < piece_count {
            Ok(())
        } else {
            Err(ProtocolError::PieceOutOfRange { piece, piece_count })
        }
    }

    fn max_unknown_pieces(&self) -> u32 {
        u32::try_from(self.config.limits.max_bitfield_len.saturating_mul(8)).unwrap_or(u32::MAX)
    }

    pub(super) fn on_have(&mut self, piece: u32) -> Result<(), ProtocolError> {
        self.check_piece(piece)?;
        if self.shape.is_some() {
            if self.record_have(piece) {
                self.events.push_back(Event::Have(piece));
            }
        } else {
            let byte = (piece / 8) as usize;
            if self.early_haves.len() <= byte {
                self.early_haves.resize(byte + 1, 0);
            }
            self.early_haves[byte] |= 0x80 >> (piece % 8);
        }
        Ok(())
    }

    /// Adds a piece (index already checked) to the peer's set; whether it is new.
    pub(super) fn record_have(&mut self, piece: u32) -> bool {
        let Some(shape) = self.shape else {
            return false;
        };
        match &mut self.peer_pieces {
            PeerPieces::All => false,
            PeerPieces::Some(b) => b.set(piece),
            PeerPieces::Unknown | PeerPieces::None => {
                let mut b = Bitfield::new(shape.piece_count());
                let new = b.set(piece);
                self.peer_pieces = PeerPieces::Some(b);
                new
            }
        }
    }

    pub(super) fn on_bitfield(&mut self, bits: Bytes) -> Result<(), ProtocolError> {
        if !self.peer_pieces_window {
            return self.on_late_bitfield(&bits);
        }
        match self.shape {
            Some(s) => {
                self.peer_pieces = PeerPieces::Some(Bitfield::from_bytes(&bits, s.piece_count())?);
            }
            None => {
                if bits.len() > self.config.limits.max_bitfield_len {
                    return Err(ProtocolError::BitfieldLength {
                        expected: self.config.limits.max_bitfield_len,
                        got: bits.len(),
                    });
                }
                // Copied: a slice would pin the whole receive buffer until the metadata came.
                self.early_bitfield = Some(Bytes::copy_from_slice(&bits));
            }
        }
        self.events.push_back(Event::Bitfield);
        Ok(())
    }

    /// BEP 3 wants the BITFIELD first, but aria2 sends its whole set again in place of
    /// HAVEs whenever it is no longer than they are: for a torrent of up to 32 pieces, at
    /// every piece it completes. Pieces are only ever gained, so it is taken as HAVEs of the
    /// pieces it adds; one that leaves out a piece the peer announced is still an error.
    fn on_late_bitfield(&mut self, bits: &Bytes) -> Result<(), ProtocolError> {
        let Some(shape) = self.shape else {
            // Before the shape is known it can only be checked against the limits; its
            // pieces join the early HAVEs.
            if bits.len() > self.config.limits.max_bitfield_len {
                return Err(ProtocolError::BitfieldLength {
                    expected: self.config.limits.max_bitfield_len,
                    got: bits.len(),
                });
            }
            if self.early_haves.len() < bits.len() {
                self.early_haves.resize(bits.len(), 0);
            }
            for (e, b) in self.early_haves.iter_mut().zip(bits.iter()) {
                *e |= b;
            }
            return Ok(());
        };
        let set = Bitfield::from_bytes(bits, shape.piece_count())?;
        let keeps_all = match &self.peer_pieces {
            PeerPieces::All => set.is_full(),
            PeerPieces::Some(had) => had.iter_ones().all(|p| set.get(p)),
            PeerPieces::Unknown | PeerPieces::None => true,
        };
        if !keeps_all {
            return Err(ProtocolError::PiecesNotFirst("bitfield"));
        }
        for piece in set.iter_ones() {
            if self.record_have(piece) {
                self.events.push_back(Event::Have(piece));
            }
        }
        Ok(())
    }

    pub(super) fn on_have_all(&mut self) -> Result<(), ProtocolError> {
        self.require_fast()?;
        // BEP 6 wants it first, but aria2 also sends it when it completes a download, in
        // place of HAVEs. Pieces are only ever gained, so it is taken as that.
        if self.peer_pieces != PeerPieces::All {
            self.peer_pieces = PeerPieces::All;
            self.early_bitfield = None;
            self.early_haves.clear();
            self.events.push_back(Event::HaveAll);
        }
        Ok(())
    }

    pub(super) fn on_have_none(&mut self) -> Result<(), ProtocolError> {
        self.require_fast()?;
        self.check_pieces_window("have none")?;
        self.peer_pieces = PeerPieces::None;
        self.events.push_back(Event::HaveNone);
        Ok(())
    }

    /// Whether we announced `piece` (we serve nothing else).
    pub(super) fn announced(&self, piece: u32) -> bool {
        self.announced.as_ref().is_some_and(|b| b.get(piece))
    }

    /// Our piece set, as the first message: HAVE ALL / HAVE NONE when both speak the fast
    /// extension and they fit, else a BITFIELD (nothing at all for an empty set without it).
    pub fn send_pieces(&mut self, ours: &Bitfield) -> Result<(), SendError> {
        let shape = self.shape.ok_or(SendError::ShapeUnknown)?;
        if !self.our_pieces_window {
            return Err(SendError::PiecesNotFirst);
        }
        if ours.len() != shape.piece_count() {
            return Err(SendError::BitfieldLength);
        }
        self.announced = Some(ours.clone());
        let m = match (self.fast, ours.is_full(), ours.is_none()) {
            (true, true, _) => Message::HaveAll,
            (true, _, true) => Message::HaveNone,
            (false, _, true) => {
                self.our_pieces_window = false;
                return Ok(());
            }
            _ => Message::Bitfield(Bytes::copy_from_slice(ours.as_bytes())),
        };
        self.send(m);
        Ok(())
    }

    /// Announce, as the first message, that we have no piece. Unlike
    /// [`Connection::send_pieces`] this needs no torrent shape, so a magnet link's
    /// connection can say it before the metadata is known. HAVE NONE with the fast
    /// extension; without it nothing is sent (BEP 3 lets an empty bitfield be left out), and
    /// either way the piece set can no longer be sent: later pieces go out as HAVEs.
    pub fn send_have_none(&mut self) -> Result<(), SendError> {
        if !self.our_pieces_window {
            return Err(SendError::PiecesNotFirst);
        }
        if self.fast {
            self.send(Message::HaveNone);
        } else {
            self.our_pieces_window = false;
        }
        Ok(())
    }

    /// Announce a piece we now have.
    pub fn have(&mut self, piece: u32) -> Result<(), SendError> {
        self.check_own_piece(piece)?;
        if let Some(shape) = self.shape {
            self.announced
                .get_or_insert_with(|| Bitfield::new(shape.piece_count()))
                .set(piece);
        }
        self.send(Message::Have(piece));
        Ok(())
    }

    pub(super) fn check_own_piece(&self, piece: u32) -> Result<(), SendError> {
        let shape = self.shape.ok_or(SendError::ShapeUnknown)?;
        if piece < shape.piece_count() {
            Ok(())
        } else {
            Err(SendError::PieceOutOfRange)
        }
    }
}
