//! The outbox: events and messages handed to the engine.

use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::{Connection, Event};
use crate::message::{Extended, Message};

/// Capacity of the coalescing buffer.
const SCRATCH_CAPACITY: usize = 4096;

impl Connection {
    /// The next event for the engine.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next message to send; `now` is recorded as the time of the last send.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Message> {
        let m = self.outbox.pop_front()?;
        self.last_sent = now;
        Some(m)
    }

    /// Encodes every queued message into `buf`; returns how many.
    pub fn encode_pending(&mut self, buf: &mut BytesMut, now: Instant) -> usize {
        let mut n = 0;
        while let Some(m) = self.poll_transmit(now) {
            m.encode(buf);
            n += 1;
        }
        n
    }

    /// Encodes every queued message as segments for `write_vectored`, appended to `out`;
    /// returns how many messages. Runs of small messages are coalesced into one segment;
    /// the data of each PIECE block and SYMBOL is a segment of its own, the caller's
    /// `Bytes` itself, not copied. Concatenated, the segments are what
    /// [`Connection::encode_pending`] would have written.
    pub fn encode_pending_vectored(&mut self, out: &mut Vec<Bytes>, now: Instant) -> usize {
        if self.outbox.is_empty() {
            return 0;
        }
        // Headers are small: one allocation serves many of them, and `BytesMut` remembers
        // this size when it must allocate again (segments still held pin the old one).
        self.scratch.reserve(SCRATCH_CAPACITY);
        let mut n = 0;
        while let Some(m) = self.poll_transmit(now) {
            if let Some(data) = m.encode_vectored(&mut self.scratch) {
                out.push(self.scratch.split().freeze());
                if !data.is_empty() {
                    out.push(data);
                }
            }
            n += 1;
        }
        if !self.scratch.is_empty() {
            out.push(self.scratch.split().freeze());
        }
        n
    }

    /// Whether messages wait to be sent.
    pub fn has_pending_transmit(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// How many messages wait to be sent: an engine whose peer does not read bounds it.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    pub(super) fn send(&mut self, m: Message) {
        if !matches!(
            m,
            Message::KeepAlive | Message::Port(_) | Message::Extended(Extended::Handshake(_))
        ) {
            self.our_pieces_window = false;
        }
        self.outbox.push_back(m);
    }
}
