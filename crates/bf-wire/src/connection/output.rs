//! The outbox: events and messages handed to the engine.

use std::time::Instant;

use bytes::BytesMut;

use super::{Connection, Event};
use crate::message::{Extended, Message};

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

    /// Whether messages wait to be sent.
    pub fn has_pending_transmit(&self) -> bool {
        !self.outbox.is_empty()
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
