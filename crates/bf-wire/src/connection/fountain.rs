//! bf_raptorq (`docs/fountain-extension.md`): negotiation, symbol requests both ways,
//! SYMBOL, SYMBOL_CANCEL and SYMBOL_REJECT, and the ESI cap.

use std::time::Instant;

use bytes::Bytes;

use super::{Connection, Event, FOUNTAIN};
use crate::error::{ProtocolError, SendError};
use crate::extended::BF_RAPTORQ;
use crate::fountain::{FountainMessage, SymbolRange};
use crate::message::{Extended, Message};

impl Connection {
    /// Recomputes whether bf_raptorq is usable, and under which id of the peer's.
    pub(super) fn update_fountain(&mut self) {
        let ours = &self.config.extensions;
        let offered = ours.bf_raptorq != 0 && ours.bf_raptorq != ours.ut_metadata;
        let now_on = if self.our_ext_sent && offered {
            self.peer_ext
                .as_ref()
                .filter(|p| p.fountain == Some(ours.fountain))
                .and_then(|p| p.extension_id(BF_RAPTORQ))
        } else {
            None
        };
        if self.fountain.is_some() && now_on.is_none() {
            // The peer withdrew the extension: nothing outstanding will be answered.
            for r in self.our_symbols.remove_where(|_| true) {
                self.cancelled_symbol_pieces.push(r.piece);
                self.events.push_back(Event::SymbolsRejected(r));
            }
            self.peer_symbols.remove_where(|_| true);
        }
        self.fountain = now_on;
    }

    pub(super) fn on_fountain(
        &mut self,
        msg: FountainMessage,
        now: Instant,
    ) -> Result<(), ProtocolError> {
        // The decoder checked this already; a message handed to `handle` directly was not,
        // and the events promise it (a SYMBOL is exactly T bytes, say).
        msg.validate(self.config.extensions.fountain.symbol_size)?;
        if let (Some(shape), Some(piece)) = (self.shape, msg.piece()) {
            if piece >= shape.piece_count() {
                return Err(ProtocolError::PieceOutOfRange {
                    piece,
                    piece_count: shape.piece_count(),
                });
            }
        }
        match msg {
            FountainMessage::SymbolRequest(r) => self.on_symbol_request(r, now)?,
            FountainMessage::Symbol { piece, esi, data } => {
                if self.our_symbols.take_one(piece, esi) {
                    self.events.push_back(Event::Symbol { piece, esi, data });
                } else if self.cancelled_symbol_pieces.contains(&piece) {
                    self.events
                        .push_back(Event::LateSymbol { piece, esi, data });
                } else {
                    return Err(ProtocolError::UnrequestedSymbol { piece, esi });
                }
            }
            FountainMessage::SymbolCancel { piece } => {
                if !self.peer_symbols.remove_where(|p| p == piece).is_empty() {
                    self.events.push_back(Event::SymbolCancel(piece));
                }
            }
            FountainMessage::SymbolReject(r) => {
                let removed = self.our_symbols.remove_range(&r);
                if removed.is_empty() && !self.cancelled_symbol_pieces.contains(&r.piece) {
                    return Err(ProtocolError::UnrequestedSymbolReject(r));
                }
                self.events
                    .extend(removed.into_iter().map(Event::SymbolsRejected));
            }
            // The extension says to ignore types it does not define (room for later ones).
            FountainMessage::Unknown { .. } => {}
        }
        Ok(())
    }

    fn on_symbol_request(&mut self, r: SymbolRange, now: Instant) -> Result<(), ProtocolError> {
        // Reached only through `on_extended`, which checked that the extension is usable:
        // the answer always has an id to go under.
        let reject = |this: &mut Self| {
            let _ = this.answer_symbol_request(r);
        };
        // Before the metadata we have no piece; past the cap or outside what we announced
        // nothing is served (the requester broke the spec, but a reject is enough).
        let Some(cap) = self.esi_cap(r.piece) else {
            reject(self);
            return Ok(());
        };
        if self.peer_symbols.overlaps(&r) {
            // Asking again for an ESI still outstanding breaks §5.1; one event per ESI is
            // what the engine relies on. The reject promises none of `r` will come, so the
            // overlap leaves the earlier range too (serving it would contradict the reject).
            self.peer_symbols.remove_range(&r);
            reject(self);
        } else if r.end() > u64::from(cap)
            || !self.announced(r.piece)
            || self.incoming_queued() + u64::from(r.count)
                > self.config.max_incoming_requests as u64
        {
            reject(self);
        } else if self.am_choking && !(self.fast && self.allowed_fast_out.contains(&r.piece)) {
            // As for REQUEST: rejected with the fast extension, dropped silently without.
            if self.fast {
                reject(self);
            }
        } else {
            self.peer_symbols.insert(r, now);
            self.events.push_back(Event::SymbolRequest(r));
        }
        Ok(())
    }

    /// The ESI cap of a piece (2K + 64, K = its number of source symbols), once the shape is
    /// known: valid ESIs are below it.
    pub fn esi_cap(&self, piece: u32) -> Option<u32> {
        let len = self.shape?.piece_len(piece)?;
        Some(crate::fountain::esi_cap(
            len,
            self.config.extensions.fountain.symbol_size,
        ))
    }

    /// The peer's id for bf_raptorq, if the extension is usable. There is no fallback:
    /// under id 0 a message would read as an extended handshake.
    fn fountain_id(&self) -> Result<u8, SendError> {
        self.fountain.ok_or(SendError::NotNegotiated(FOUNTAIN))
    }

    /// Queues a bf_raptorq message under the peer's id; refused if there is none.
    fn send_fountain(&mut self, message: FountainMessage) -> Result<(), SendError> {
        let id = self.fountain_id()?;
        self.send(Message::Extended(Extended::Fountain { id, message }));
        Ok(())
    }

    /// Queues the SYMBOL_REJECT that answers a symbol request of the peer's. Such requests
    /// are only accepted, and only stay pending, while the extension is usable (a request
    /// without it is a protocol error; withdrawing it drops them), so the id is known:
    /// [`SendError::NotNegotiated`] here would mean there is nobody to answer, and nothing
    /// is sent.
    pub(super) fn answer_symbol_request(&mut self, r: SymbolRange) -> Result<(), SendError> {
        self.send_fountain(FountainMessage::SymbolReject(r))
    }

    /// Ask for a range of symbols at `now`, under the same conditions as a block
    /// ([`Connection::request`]), within the piece's ESI cap and not overlapping a range
    /// outstanding.
    pub fn request_symbols(&mut self, r: SymbolRange, now: Instant) -> Result<(), SendError> {
        self.fountain_id()?;
        self.check_own_piece(r.piece)?;
        if !r.is_valid() {
            return Err(SendError::InvalidRequest);
        }
        if !self.peer_has(r.piece) {
            return Err(SendError::PeerLacksPiece);
        }
        self.check_may_request(r.piece)?;
        if self.our_symbols.overlaps(&r) {
            return Err(SendError::AlreadyRequested);
        }
        if self
            .esi_cap(r.piece)
            .is_none_or(|cap| r.end() > u64::from(cap))
        {
            return Err(SendError::InvalidRequest);
        }
        if self.request_capacity() < r.count as usize {
            return Err(SendError::TooManyRequests);
        }
        self.our_symbols.insert(r, now);
        self.send_fountain(FountainMessage::SymbolRequest(r))
    }

    /// Withdraw every symbol request for `piece` (e.g. once it verified). Symbols already on
    /// the wire still arrive, as [`Event::LateSymbol`]. With nothing outstanding for `piece`
    /// (or a piece out of range) nothing is sent: [`SendError::NotRequested`].
    pub fn cancel_symbols(&mut self, piece: u32) -> Result<(), SendError> {
        self.fountain_id()?;
        if self.our_symbols.remove_where(|p| p == piece).is_empty() {
            return Err(SendError::NotRequested);
        }
        self.cancelled_symbol_pieces.push(piece);
        self.send_fountain(FountainMessage::SymbolCancel { piece })
    }

    /// Serve one requested symbol (`data` must be exactly T bytes).
    pub fn send_symbol(&mut self, piece: u32, esi: u32, data: Bytes) -> Result<(), SendError> {
        self.fountain_id()?;
        if data.len() != self.config.extensions.fountain.symbol_size as usize {
            return Err(SendError::SymbolSize);
        }
        if !self.peer_symbols.take_one(piece, esi) {
            return Err(SendError::NotRequested);
        }
        self.send_fountain(FountainMessage::Symbol { piece, esi, data })
    }

    /// Refuse the requested symbols of `r` (those not requested are left out).
    pub fn reject_symbols(&mut self, r: SymbolRange) -> Result<(), SendError> {
        self.fountain_id()?;
        let removed = self.peer_symbols.remove_range(&r);
        if removed.is_empty() {
            return Err(SendError::NotRequested);
        }
        removed
            .into_iter()
            .try_for_each(|r| self.send_fountain(FountainMessage::SymbolReject(r)))
    }
}
