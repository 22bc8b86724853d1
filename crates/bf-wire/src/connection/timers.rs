//! Deadlines. The connection reads no clock: the engine asks [`Connection::poll_timeout`]
//! when to wake up and calls [`Connection::handle_timeout`] then (or any time later).

use std::time::{Duration, Instant};

use super::Connection;
use crate::message::Message;

/// Longer timeouts are taken as this: a century after any instant a program sees is
/// representable on every platform `Instant` supports, so deadlines never overflow and
/// configuring `Duration::MAX` simply means "never".
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `base + after`, with `after` capped at [`LONGEST`].
pub(super) fn deadline(base: Instant, after: Duration) -> Instant {
    // The fallback is not reached on real clocks (see LONGEST); it only keeps this total.
    base.checked_add(after.min(LONGEST)).unwrap_or(base)
}

impl Connection {
    /// The next instant at which [`Connection::handle_timeout`] has something to do or the
    /// connection goes idle ([`Connection::idle_deadline`]). An instant already past means
    /// "now". Once the idle deadline has passed it stays the answer until something
    /// arrives: the engine is expected to disconnect.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.keepalive_deadline(),
            self.metadata_deadline(),
            Some(self.idle_deadline()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Does what is due at `now`: queues a keep-alive if nothing was sent for the keep-alive
    /// interval, and gives up metadata requests older than the metadata timeout
    /// ([`Event::MetadataTimedOut`](super::Event::MetadataTimedOut) each). Calling it early,
    /// late or repeatedly is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.queue_keepalive_if_due(now);
        self.expire_metadata_requests(now);
    }

    /// Queues a keep-alive if nothing was sent for the keep-alive interval; call it from a
    /// timer (or use [`Connection::handle_timeout`]). Whether one was queued.
    pub fn poll_keepalive(&mut self, now: Instant) -> bool {
        self.queue_keepalive_if_due(now)
    }

    /// When the connection counts as idle: the last message received plus
    /// [`ConnectionConfig::idle_timeout`](super::ConnectionConfig::idle_timeout).
    pub fn idle_deadline(&self) -> Instant {
        deadline(self.last_received, self.config.idle_timeout)
    }

    /// Whether nothing was received for the idle timeout: the engine should disconnect.
    pub fn is_idle(&self, now: Instant) -> bool {
        now >= self.idle_deadline()
    }

    /// When a keep-alive falls due; none while messages wait, since sending them resets the
    /// interval (and a deadline that stays past while the socket is full would spin the
    /// engine's timer).
    fn keepalive_deadline(&self) -> Option<Instant> {
        self.outbox
            .is_empty()
            .then(|| deadline(self.last_sent, self.config.keepalive_interval))
    }

    fn queue_keepalive_if_due(&mut self, now: Instant) -> bool {
        let due = self.keepalive_deadline().is_some_and(|d| now >= d);
        if due {
            self.outbox.push_back(Message::KeepAlive);
        }
        due
    }
}
