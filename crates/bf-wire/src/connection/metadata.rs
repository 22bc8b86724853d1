//! ut_metadata (BEP 9): the info dictionary in 16 KiB pieces, for magnet links.

use std::time::Instant;

use bytes::Bytes;

use super::timers::deadline;
use super::{Connection, Event, METADATA};
use crate::error::{DecodeError, ProtocolError, SendError};
use crate::extended::UT_METADATA;
use crate::message::{Extended, Message};
use crate::metadata::{MetadataMessage, METADATA_PIECE_LEN};

impl Connection {
    pub(super) fn on_metadata(&mut self, message: MetadataMessage) -> Result<(), ProtocolError> {
        match message {
            MetadataMessage::Request { piece } => {
                self.events.push_back(Event::MetadataRequest(piece));
            }
            MetadataMessage::Data {
                piece,
                total_size,
                data,
            } => {
                // As the decoder does, for a message handed to `handle` directly.
                if data.len() > METADATA_PIECE_LEN {
                    return Err(DecodeError::MetadataTooLong(data.len()).into());
                }
                // Unrequested metadata is dropped: harmless, and the engine only wants what it
                // asked for.
                if self.our_metadata_requests.remove(&piece).is_some() {
                    self.events.push_back(Event::MetadataData {
                        piece,
                        total_size,
                        data,
                    });
                }
            }
            MetadataMessage::Reject { piece } => {
                if self.our_metadata_requests.remove(&piece).is_some() {
                    self.events.push_back(Event::MetadataRejected(piece));
                }
            }
            // BEP 9: unknown message types are ignored.
            MetadataMessage::Unknown { .. } => {}
        }
        Ok(())
    }

    fn send_metadata_msg(&mut self, message: MetadataMessage) -> Result<(), SendError> {
        let id = self
            .peer_ext_id(UT_METADATA)
            .map_err(|_| SendError::NotNegotiated(METADATA))?;
        self.send(Message::Extended(Extended::Metadata { id, message }));
        Ok(())
    }

    /// Ask for a metadata piece at `now`. Unanswered after
    /// [`ConnectionConfig::metadata_timeout`](super::ConnectionConfig::metadata_timeout), it
    /// is given up ([`Event::MetadataTimedOut`], from [`Connection::handle_timeout`]) and may
    /// be asked again.
    pub fn request_metadata(&mut self, piece: u32, now: Instant) -> Result<(), SendError> {
        if self.our_metadata_requests.contains_key(&piece) {
            return Err(SendError::AlreadyRequested);
        }
        self.send_metadata_msg(MetadataMessage::Request { piece })?;
        self.our_metadata_requests.insert(piece, now);
        Ok(())
    }

    /// When the oldest metadata request times out.
    pub(super) fn metadata_deadline(&self) -> Option<Instant> {
        let oldest = self.our_metadata_requests.values().min()?;
        Some(deadline(*oldest, self.config.metadata_timeout))
    }

    /// Gives up the metadata requests whose time is up at `now`. Their answers, should they
    /// still come, are dropped as unrequested ones are.
    pub(super) fn expire_metadata_requests(&mut self, now: Instant) {
        let timeout = self.config.metadata_timeout;
        let events = &mut self.events;
        self.our_metadata_requests.retain(|&piece, &mut sent| {
            let expired = now >= deadline(sent, timeout);
            if expired {
                events.push_back(Event::MetadataTimedOut(piece));
            }
            !expired
        });
    }

    /// Send a metadata piece (at most 16 KiB).
    pub fn send_metadata(
        &mut self,
        piece: u32,
        total_size: u32,
        data: Bytes,
    ) -> Result<(), SendError> {
        if data.len() > METADATA_PIECE_LEN {
            return Err(SendError::InvalidRequest);
        }
        self.send_metadata_msg(MetadataMessage::Data {
            piece,
            total_size,
            data,
        })
    }

    /// Refuse a metadata piece.
    pub fn reject_metadata(&mut self, piece: u32) -> Result<(), SendError> {
        self.send_metadata_msg(MetadataMessage::Reject { piece })
    }
}
