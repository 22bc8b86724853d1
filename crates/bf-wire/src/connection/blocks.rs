//! Blocks (BEP 3, BEP 6): requests both ways, PIECE, CANCEL, REJECT, ALLOWED FAST, and
//! choking and interest, which decide which requests may go out and which are served.

use std::collections::BTreeSet;
use std::time::Instant;

use super::{Connection, Event, FAST};
use crate::error::{ProtocolError, SendError};
use crate::message::{Block, BlockRequest, Message};

impl Connection {
    pub(super) fn on_choke(&mut self) {
        if self.peer_choking {
            return;
        }
        self.peer_choking = true;
        let (mut dropped, mut dropped_symbols) = (Vec::new(), Vec::new());
        // BEP 3: a choke discards every request. BEP 6 changes that: they stay pending until
        // served or rejected.
        if !self.fast {
            dropped = std::mem::take(&mut self.our_requests).into_keys().collect();
            for r in &dropped {
                self.cancelled.push(*r);
            }
            dropped_symbols = self.our_symbols.remove_where(|_| true);
            for r in &dropped_symbols {
                self.cancelled_symbol_pieces.push(r.piece);
            }
        }
        self.events.push_back(Event::Choked {
            dropped,
            dropped_symbols,
        });
    }

    pub(super) fn on_request(&mut self, r: BlockRequest) -> Result<(), ProtocolError> {
        let Some(shape) = self.shape else {
            // We cannot have any piece before we have the metadata.
            self.refuse(r);
            return Ok(());
        };
        if !shape.contains(&r) {
            return Err(ProtocolError::InvalidRequest(r));
        }
        let choked = self.am_choking && !(self.fast && self.allowed_fast_out.contains(&r.piece));
        if r.length > self.config.limits.max_block_len
            || !self.announced(r.piece)
            || choked
            || self.incoming_queued() >= self.config.max_incoming_requests as u64
        {
            self.refuse(r);
        } else if self.peer_requests.insert(r) {
            self.events.push_back(Event::Request(r));
        }
        Ok(())
    }

    pub(super) fn on_piece(&mut self, block: Block) -> Result<(), ProtocolError> {
        let r = block.request();
        if self.our_requests.remove(&r).is_some() {
            self.events.push_back(Event::Block(block));
        } else if self.cancelled.contains(&r) {
            self.events.push_back(Event::LateBlock(block));
        } else {
            return Err(ProtocolError::UnrequestedBlock(r));
        }
        Ok(())
    }

    pub(super) fn on_cancel(&mut self, r: BlockRequest) {
        if self.peer_requests.remove(&r) {
            // BEP 6: every request gets exactly one answer, a cancelled one a reject.
            if self.fast {
                self.send(Message::Reject(r));
            }
            self.events.push_back(Event::Cancel(r));
        }
    }

    pub(super) fn on_reject(&mut self, r: BlockRequest) -> Result<(), ProtocolError> {
        self.require_fast()?;
        if self.our_requests.remove(&r).is_some() {
            self.events.push_back(Event::Rejected(r));
        } else if !self.cancelled.contains(&r) {
            return Err(ProtocolError::UnrequestedReject(r));
        }
        Ok(())
    }

    pub(super) fn on_allowed_fast(&mut self, piece: u32) -> Result<(), ProtocolError> {
        self.require_fast()?;
        self.check_piece(piece)?;
        if self.allowed_fast_in.len() < self.config.max_allowed_fast
            && self.allowed_fast_in.insert(piece)
        {
            self.events.push_back(Event::AllowedFast(piece));
        }
        Ok(())
    }

    /// Requests of the peer's that we hold, blocks and symbols alike (they share `reqq`).
    pub(super) fn incoming_queued(&self) -> u64 {
        self.peer_requests.len() as u64 + self.peer_symbols.total()
    }

    /// A request we will not serve: rejected with the fast extension, ignored without.
    fn refuse(&mut self, r: BlockRequest) {
        if self.fast {
            self.send(Message::Reject(r));
        }
    }

    /// Choke the peer. Without the fast extension its block and symbol requests are dropped
    /// silently; with it each is rejected (REJECT, SYMBOL_REJECT), except those for
    /// allowed-fast pieces.
    pub fn choke(&mut self) {
        if self.am_choking {
            return;
        }
        self.am_choking = true;
        self.send(Message::Choke);
        let fast = self.fast;
        let keep = |piece: &u32, allowed: &BTreeSet<u32>| fast && allowed.contains(piece);
        let (kept, dropped): (BTreeSet<_>, BTreeSet<_>) = std::mem::take(&mut self.peer_requests)
            .into_iter()
            .partition(|r| keep(&r.piece, &self.allowed_fast_out));
        self.peer_requests = kept;
        if fast {
            for r in dropped {
                self.send(Message::Reject(r));
            }
        }
        let allowed = self.allowed_fast_out.clone();
        for r in self.peer_symbols.remove_where(|p| !keep(&p, &allowed)) {
            if fast {
                // Pending symbol requests imply the extension, hence an id: cannot fail.
                let _ = self.answer_symbol_request(r);
            }
        }
    }

    /// Unchoke the peer.
    pub fn unchoke(&mut self) {
        if self.am_choking {
            self.am_choking = false;
            self.send(Message::Unchoke);
        }
    }

    /// Tell the peer we are interested (no-op if already).
    pub fn interested(&mut self) {
        if !self.am_interested {
            self.am_interested = true;
            self.send(Message::Interested);
        }
    }

    /// Tell the peer we are not interested (no-op if already). Requests already out stay
    /// outstanding; new ones are refused ([`SendError::NotInterested`]) until
    /// [`Connection::interested`].
    pub fn not_interested(&mut self) {
        if self.am_interested {
            self.am_interested = false;
            self.send(Message::NotInterested);
        }
    }

    /// Whether a request for `piece` may go out now (BEP 3, BEP 6, and for symbols §8 of
    /// the extension): only while interested, and unchoked unless the piece is allowed fast.
    pub(super) fn check_may_request(&self, piece: u32) -> Result<(), SendError> {
        if !self.am_interested {
            return Err(SendError::NotInterested);
        }
        if self.peer_choking && !(self.fast && self.allowed_fast_in.contains(&piece)) {
            return Err(SendError::Choked);
        }
        Ok(())
    }

    /// Request a block at `now`: it must lie inside its piece, be at most the block limit
    /// long and not outstanding already; the peer must have the piece, and we must be
    /// interested and unchoked (or the piece allowed fast) and below the request bound.
    pub fn request(&mut self, r: BlockRequest, now: Instant) -> Result<(), SendError> {
        let shape = self.shape.ok_or(SendError::ShapeUnknown)?;
        if !shape.contains(&r) || r.length > self.config.limits.max_block_len {
            return Err(SendError::InvalidRequest);
        }
        if !self.peer_has(r.piece) {
            return Err(SendError::PeerLacksPiece);
        }
        self.check_may_request(r.piece)?;
        if self.our_requests.contains_key(&r) {
            return Err(SendError::AlreadyRequested);
        }
        if self.request_capacity() == 0 {
            return Err(SendError::TooManyRequests);
        }
        self.our_requests.insert(r, now);
        self.send(Message::Request(r));
        Ok(())
    }

    /// Cancel an outstanding request. Its block may still arrive ([`Event::LateBlock`]).
    pub fn cancel(&mut self, r: BlockRequest) -> Result<(), SendError> {
        if self.our_requests.remove(&r).is_none() {
            return Err(SendError::NotRequested);
        }
        self.cancelled.push(r);
        self.send(Message::Cancel(r));
        Ok(())
    }

    /// Serve a block the peer requested (`data` must be exactly the requested length).
    pub fn send_block(&mut self, block: Block) -> Result<(), SendError> {
        if !self.peer_requests.remove(&block.request()) {
            return Err(SendError::NotRequested);
        }
        self.send(Message::Piece(block));
        Ok(())
    }

    /// Refuse a request: a REJECT with the fast extension, silence without.
    pub fn reject(&mut self, r: BlockRequest) -> Result<(), SendError> {
        if !self.peer_requests.remove(&r) {
            return Err(SendError::NotRequested);
        }
        if self.fast {
            self.send(Message::Reject(r));
        }
        Ok(())
    }

    /// Let the peer request `piece` while choked (fast extension).
    pub fn allow_fast(&mut self, piece: u32) -> Result<(), SendError> {
        if !self.fast {
            return Err(SendError::NotNegotiated(FAST));
        }
        self.check_own_piece(piece)?;
        if self.allowed_fast_out.insert(piece) {
            self.send(Message::AllowedFast(piece));
        }
        Ok(())
    }

    /// Suggest a piece (fast extension).
    pub fn suggest(&mut self, piece: u32) -> Result<(), SendError> {
        if !self.fast {
            return Err(SendError::NotNegotiated(FAST));
        }
        self.check_own_piece(piece)?;
        self.send(Message::Suggest(piece));
        Ok(())
    }
}
