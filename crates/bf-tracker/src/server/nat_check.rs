//! `--nat-check N`: before a new peer is handed to others, the tracker connects back to the
//! address it announced and exchanges BitTorrent handshakes (up to N tries). A peer that
//! cannot be reached (behind a NAT, a firewall, or announcing a port nothing listens on)
//! gets peer lists but is never given out; the original tracker's rule.
//!
//! Bounds: [`MAX_PENDING`] peers waiting for a check (announces past it are answered and
//! checked on a later announce), [`MAX_CONCURRENT`] connections at once, each try within
//! [`TRY_TIME`]; a failed peer is remembered for [`FAILED_FOR`] (at most [`MAX_FAILED`] of
//! them) so that its re-announces do not make the tracker dial it again each time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bf_metainfo::InfoHash;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use super::{unix_now, Shared};
use crate::swarm::PeerAnnounce;

/// Peers waiting for their check at most.
pub(crate) const MAX_PENDING: usize = 4096;
/// Checks connecting at once.
pub(crate) const MAX_CONCURRENT: usize = 64;
/// One try: connect, send our handshake, read theirs.
pub(crate) const TRY_TIME: Duration = Duration::from_secs(5);
/// Pause between tries.
const TRY_GAP: Duration = Duration::from_secs(1);
/// How long a failed peer is not dialled again (seconds).
pub(crate) const FAILED_FOR: u64 = 30 * 60;
/// Failed peers remembered at most.
pub(crate) const MAX_FAILED: usize = 65_536;
const PSTR: &[u8] = b"BitTorrent protocol";

type Key = (InfoHash, SocketAddr);

/// The NAT checks in flight and their results.
pub(crate) struct NatChecker {
    tries: u32,
    log: bool,
    pending: Mutex<HashMap<Key, PeerAnnounce>>,
    failed: Mutex<HashMap<Key, u64>>,
    slots: Arc<Semaphore>,
    peer_id: [u8; 20],
}

impl NatChecker {
    /// Checks of up to `tries` tries each; `log` says every result.
    pub(crate) fn new(tries: u32, log: bool) -> Self {
        let mut peer_id = *b"-BT0000-000000000000";
        peer_id[8..].copy_from_slice(&rand::random::<[u8; 12]>());
        NatChecker {
            tries: tries.max(1),
            log,
            pending: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(MAX_CONCURRENT)),
            peer_id,
        }
    }

    /// An announce from a peer not stored: starts its check unless one runs or it failed
    /// lately. Stops of pending peers cancel the pending entry.
    pub(crate) fn on_unknown(&self, shared: &Arc<Shared>, a: &PeerAnnounce) {
        let key = (a.info_hash, a.addr);
        let now = unix_now();
        {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            match failed.get(&key) {
                Some(&at) if now < at + FAILED_FOR => return,
                Some(_) => {
                    failed.remove(&key);
                }
                None => {}
            }
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if a.event == crate::types::Event::Stopped {
            pending.remove(&key);
            return;
        }
        if let Some(p) = pending.get_mut(&key) {
            // The latest state is what gets stored once the check passes; a completion
            // seen meanwhile is kept.
            let completed = p.event == crate::types::Event::Completed;
            *p = *a;
            if completed {
                p.event = crate::types::Event::Completed;
            }
            return;
        }
        if pending.len() >= MAX_PENDING {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        pending.insert(key, *a);
        rt.spawn(run(shared.clone(), key));
    }

    fn finish(&self, key: Key, reachable: bool) -> Option<PeerAnnounce> {
        let a = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        if !reachable {
            let mut failed = self.failed.lock().unwrap_or_else(|e| e.into_inner());
            let now = unix_now();
            if failed.len() >= MAX_FAILED {
                failed.retain(|_, at| now < *at + FAILED_FOR);
            }
            if failed.len() < MAX_FAILED {
                failed.insert(key, now);
            }
        }
        a
    }
}

/// One peer's check, then its announce recorded if it passed.
async fn run(shared: Arc<Shared>, key: Key) {
    let Some(nat) = shared.nat.as_ref() else {
        return;
    };
    let (h, addr) = key;
    let result = {
        let Ok(_slot) = nat.slots.clone().acquire_owned().await else {
            return;
        };
        let mut last = Err(String::from("not tried"));
        for i in 0..nat.tries {
            if i > 0 {
                tokio::time::sleep(TRY_GAP).await;
            }
            last = match tokio::time::timeout(TRY_TIME, handshake(addr, h, nat.peer_id)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no handshake within {TRY_TIME:?}")),
            };
            if last.is_ok() {
                break;
            }
        }
        last
    };
    let reachable = result.is_ok();
    if nat.log {
        match &result {
            Ok(()) => tracing::info!("NAT check {addr} for {}: reachable", h.to_hex()),
            Err(e) => tracing::info!(
                "NAT check {addr} for {}: unreachable after {} tries ({e})",
                h.to_hex(),
                nat.tries
            ),
        }
    }
    if let Some(a) = nat.finish(key, reachable) {
        if reachable {
            shared.record_checked(&a);
        }
    }
}

/// Connects to `addr` and exchanges handshakes for `h`: reachable when the peer answers
/// with the same info-hash.
async fn handshake(addr: SocketAddr, h: InfoHash, peer_id: [u8; 20]) -> Result<(), String> {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let mut ours = Vec::with_capacity(68);
    ours.push(PSTR.len() as u8);
    ours.extend_from_slice(PSTR);
    ours.extend_from_slice(&[0; 8]);
    ours.extend_from_slice(h.as_bytes());
    ours.extend_from_slice(&peer_id);
    s.write_all(&ours).await.map_err(|e| e.to_string())?;
    // Their handshake up to the info-hash is what tells: the peer id may come late.
    let mut theirs = [0u8; 48];
    s.read_exact(&mut theirs)
        .await
        .map_err(|e| format!("no handshake: {e}"))?;
    if theirs[0] as usize != PSTR.len() || &theirs[1..20] != PSTR {
        return Err("not a BitTorrent handshake".into());
    }
    if &theirs[28..48] != h.as_bytes() {
        return Err("a handshake for another torrent".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Event;

    fn ann(port: u16, event: Event) -> PeerAnnounce {
        PeerAnnounce {
            info_hash: InfoHash([3; 20]),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            left: 5,
            event,
            numwant: None,
        }
    }

    #[test]
    fn a_failed_peer_is_held_without_a_new_check_and_a_stop_cancels() {
        let nat = NatChecker::new(2, false);
        let a = ann(9, Event::Started);
        nat.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((a.info_hash, a.addr), a);
        assert_eq!(nat.finish((a.info_hash, a.addr), false), Some(a));
        assert!(nat
            .failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&(a.info_hash, a.addr)));
        assert_eq!(nat.finish((a.info_hash, a.addr), true), None);
    }
}
