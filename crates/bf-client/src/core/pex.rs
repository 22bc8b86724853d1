//! Peer exchange (BEP 11, ut_pex): every minute each peer that offers it is told which
//! peers we joined and left since we last told it; the peers it tells us of are dialled like
//! those from a tracker. Off for private torrents (the extension is then not offered).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bf_wire::PexMessage;

use super::{Input, PeerKey, TorrentCore};

/// At most one message a minute to each peer (BEP 11).
const PEX_INTERVAL: Duration = Duration::from_secs(60);
/// The first message waits this long after the connection, so that it says something.
const PEX_FIRST: Duration = Duration::from_secs(2);
/// Peers per message, added and dropped each (BEP 11's limit).
const PEX_MAX: usize = 50;
/// Peers learned by exchange are taken only while fewer than this many are known.
const MAX_KNOWN_FOR_PEX: usize = 2000;

impl TorrentCore {
    /// The address each connected peer takes connections on: the one we dialled, or its
    /// address with the listen port its extended handshake gave.
    fn swarm_addrs(&self) -> Vec<(PeerKey, SocketAddr)> {
        self.peers
            .iter()
            .filter_map(|(k, p)| {
                if p.outbound {
                    return Some((*k, p.addr));
                }
                let port = p.conn.peer_extended_handshake()?.listen_port?;
                (port != 0).then(|| (*k, SocketAddr::new(p.addr.ip(), port)))
            })
            .collect()
    }

    /// Sends the ut_pex messages that are due.
    pub(super) fn exchange_peers(&mut self, now: Instant) {
        if self.wire.extensions.ut_pex == 0 {
            return;
        }
        let swarm = self.swarm_addrs();
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let Some(p) = self.peers.get_mut(&key) else {
                continue;
            };
            let due = match p.pex_at {
                None => now.saturating_duration_since(p.connected_at) >= PEX_FIRST,
                Some(t) => now.saturating_duration_since(t) >= PEX_INTERVAL,
            };
            if !due || !p.conn.peer_takes_pex() {
                continue;
            }
            let now_set: Vec<SocketAddr> = swarm
                .iter()
                .filter(|(k, _)| *k != key)
                .map(|(_, a)| *a)
                .collect();
            let added: Vec<SocketAddr> = now_set
                .iter()
                .filter(|a| !p.pex_told.contains(a))
                .take(PEX_MAX)
                .copied()
                .collect();
            let dropped: Vec<SocketAddr> = p
                .pex_told
                .iter()
                .filter(|a| !now_set.contains(a))
                .take(PEX_MAX)
                .copied()
                .collect();
            p.pex_at = Some(now);
            if added.is_empty() && dropped.is_empty() {
                continue;
            }
            for a in &added {
                p.pex_told.insert(*a);
            }
            for d in &dropped {
                p.pex_told.remove(d);
            }
            let _ = p.conn.send_pex(PexMessage { added, dropped });
            p.dirty = true;
        }
    }

    /// A peer told us of others.
    pub(super) fn on_pex(&mut self, key: PeerKey, msg: PexMessage, now: Instant) {
        if self.wire.extensions.ut_pex == 0 || !self.peers.contains_key(&key) {
            return;
        }
        if self.known.len() >= MAX_KNOWN_FOR_PEX {
            return;
        }
        let addrs: Vec<SocketAddr> = msg.added.into_iter().take(PEX_MAX).collect();
        if !addrs.is_empty() {
            self.handle_input(Input::Peers(addrs), now);
        }
    }
}
