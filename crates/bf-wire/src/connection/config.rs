//! The settings of a connection.

use std::time::Duration;

use bf_metainfo::{InfoHash, PeerId};

#[cfg(doc)]
use super::Connection;
use crate::decoder::Limits;
use crate::extended::LocalExtensions;
use crate::handshake::{Handshake, Reserved};

/// Settings of a connection; the defaults suit a BitFountain client.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// The reserved bits of our handshake.
    pub reserved: Reserved,
    /// Our extension ids and fountain parameters.
    pub extensions: LocalExtensions,
    /// Size limits for incoming messages.
    pub limits: Limits,
    /// Most requests we keep outstanding to the peer, blocks and symbols counted alike
    /// (further bounded by the `reqq` the peer announces).
    pub max_outgoing_requests: usize,
    /// Most requests from the peer we queue, blocks and symbols counted alike (advertise it
    /// as `reqq`): beyond it block requests are rejected (fast extension) or dropped, and
    /// symbol ranges rejected.
    pub max_incoming_requests: usize,
    /// How many cancelled requests (and pieces of cancelled symbol requests) are remembered,
    /// so that their answers, already on the wire, are not mistaken for abuse.
    pub recent_cancel_memory: usize,
    /// Most allowed-fast pieces remembered from the peer.
    pub max_allowed_fast: usize,
    /// Send a keep-alive after this long without sending anything.
    pub keepalive_interval: Duration,
    /// Disconnect after this long without receiving anything (see
    /// [`Connection::is_idle`]); peers send keep-alives every two minutes at most.
    pub idle_timeout: Duration,
    /// Give up a ut_metadata request after this long without an answer (see
    /// [`Connection::handle_timeout`]).
    pub metadata_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            reserved: Reserved::bitfountain(),
            extensions: LocalExtensions::default(),
            limits: Limits::default(),
            max_outgoing_requests: 2048,
            max_incoming_requests: 512,
            recent_cancel_memory: 4096,
            max_allowed_fast: 64,
            keepalive_interval: Duration::from_secs(90),
            idle_timeout: Duration::from_secs(120),
            metadata_timeout: Duration::from_secs(20),
        }
    }
}

impl ConnectionConfig {
    /// Our handshake for `info_hash`, with this configuration's reserved bits.
    pub fn handshake(&self, info_hash: InfoHash, peer_id: PeerId) -> Handshake {
        Handshake {
            reserved: self.reserved,
            info_hash,
            peer_id,
        }
    }
}
