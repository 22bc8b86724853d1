//! The fountain exchange (`docs/fountain-extension.md`) as the downloader runs it: which
//! requests to give up, which fresh repair symbols to ask for and of whom, symbols arriving,
//! decodes.
//!
//! Source symbols are the blocks and go out as ordinary REQUESTs to every peer, so one
//! assembler serves both kinds of peer. Repair symbols replace what is *uncertainly* lost:
//! a block asked of a peer that stalled, or dropped by a choke without the fast extension
//! (it may still arrive late, so asking it again of someone else could bring a duplicate).
//! What is *certainly* lost (a REJECT, a peer that left) is simply asked again as a block:
//! no duplicate can come of it, and no decode is needed (docs/decisions.md).

use std::time::{Duration, Instant};

use bf_wire::SymbolRange;
use bytes::Bytes;

use super::assembly::BLOCK_LEN;
use super::{Output, PeerKey, TorrentCore};

/// A block that has not arrived this many times its peer's usual gap between blocks counts
/// as stalled (within the bounds below).
const STALL_GAPS: f64 = 8.0;
/// Never sooner than this: TCP and rate limiters are bursty.
const STALL_MIN: Duration = Duration::from_millis(500);
/// Before a peer's first block, this long.
const STALL_FIRST_BLOCK: Duration = Duration::from_secs(2);

impl TorrentCore {
    /// Whether `key` speaks the fountain extension with us on this torrent.
    pub(super) fn is_fountain_peer(&self, key: PeerKey) -> bool {
        self.fountain_capable && self.peers.get(&key).is_some_and(|p| p.conn.fountain())
    }

    /// Whether a connected fountain peer other than `except` has `piece` (and so could
    /// replace a lost block with a repair symbol).
    pub(super) fn fountain_alternative(&self, piece: u32, except: PeerKey) -> bool {
        self.fountain_capable
            && self.peers.iter().any(|(k, p)| {
                *k != except && p.conn.fountain() && p.conn.peer_has(piece) && !p.snubbed
            })
    }

    /// Whether a connected fountain peer with `piece` is not on its list of suspects.
    fn unsuspected_fountain_peer(&self, piece: u32) -> bool {
        let avoid = self.avoid.get(&piece);
        self.peers.values().any(|p| {
            p.conn.fountain()
                && p.conn.peer_has(piece)
                && !p.snubbed
                && !avoid.is_some_and(|v| v.contains(&p.ban_key))
        })
    }

    /// A block request of `key` is given up but may still be answered: abandoned to repair
    /// symbols where a fountain peer can stand in, else opened again.
    pub(super) fn give_up_request(&mut self, key: PeerKey, r: &bf_wire::BlockRequest) {
        let alternative = self.fountain_alternative(r.piece, key);
        if let Some(asm) = self.inflight.get_mut(&r.piece) {
            if let Some(i) = asm.block_of(r) {
                if asm.is_requested_by(i, key) {
                    if alternative {
                        asm.give_up(i, key);
                    } else {
                        asm.release(i, key);
                    }
                    self.stats.requests_lost += 1;
                }
            }
        }
    }

    /// Asks fountain peer `key` for fresh repair symbols where pieces it has lack them;
    /// returns how many were asked.
    pub(super) fn request_repairs(&mut self, key: PeerKey, room: usize, now: Instant) -> usize {
        // A peer that stopped answering is not asked to stand in for others.
        if self.peers.get(&key).is_none_or(|p| p.snubbed) {
            return 0;
        }
        let mut sent = 0;
        let order = self.inflight_order.clone();
        for piece in order {
            if sent >= room {
                break;
            }
            let Some(p) = self.peers.get(&key) else { break };
            if !p.conn.peer_has(piece) {
                continue;
            }
            // After a failed decode the suspects are not asked for more, while others can.
            let suspect = self
                .avoid
                .get(&piece)
                .is_some_and(|v| v.contains(&p.ban_key));
            if suspect && self.unsuspected_fountain_peer(piece) {
                continue;
            }
            let Some(asm) = self.inflight.get_mut(&piece) else {
                continue;
            };
            let want = asm.deficit().min((room - sent) as u32);
            if want == 0 {
                continue;
            }
            let Some((first, count)) = asm.take_repair(want, key, now) else {
                continue;
            };
            let range = SymbolRange::new(piece, first, count);
            let Some(p) = self.peers.get_mut(&key) else {
                break;
            };
            match p.conn.request_symbols(range, now) {
                Ok(()) => {
                    p.dirty = true;
                    sent += count as usize;
                    self.stats.repair_requested += u64::from(count);
                }
                Err(e) => {
                    tracing::debug!(addr = %p.addr, "symbol request refused locally: {e}");
                    asm.repairs_lost(key, first, count);
                    break;
                }
            }
        }
        sent
    }

    /// Peers that stopped sending while we wait for blocks: their requests on pieces a
    /// fountain peer could complete are given up (cancelled, abandoned to repair symbols),
    /// long before the snub timeout. Returns whether any were.
    pub(super) fn check_stalls(&mut self, now: Instant) -> bool {
        if !self.fountain_capable {
            return false;
        }
        let mut stalled = Vec::new();
        for (k, p) in self.peers.iter_mut() {
            if p.conn.outstanding_requests().next().is_none()
                && p.conn.outstanding_symbols().next().is_none()
            {
                continue;
            }
            let rate = p.down.rate(now);
            let limit = if p.down.total() == 0 {
                STALL_FIRST_BLOCK
            } else if rate == 0 {
                STALL_MIN.max(Duration::from_secs(1))
            } else {
                Duration::from_secs_f64(STALL_GAPS * f64::from(BLOCK_LEN) / rate as f64)
                    .clamp(STALL_MIN, self.cfg.snub_timeout)
            };
            if now.saturating_duration_since(p.last_block_at) >= limit {
                tracing::debug!(addr = %p.addr, ?limit, rate, "stall suspected");

                stalled.push(*k);
            }
        }
        let mut any = false;
        for k in stalled {
            let Some(p) = self.peers.get(&k) else {
                continue;
            };
            let give_up: Vec<bf_wire::BlockRequest> = p
                .conn
                .outstanding_requests()
                .map(|(r, _)| r)
                .filter(|r| {
                    self.inflight.get(&r.piece).is_some_and(|a| a.is_fountain())
                        && self.fountain_alternative(r.piece, k)
                })
                .collect();
            let symbols: Vec<SymbolRange> = p.conn.outstanding_symbols().map(|(r, _)| r).collect();
            if give_up.is_empty() && symbols.is_empty() {
                continue;
            }
            tracing::debug!(addr = %p.addr, n = give_up.len(), "stalled: giving up its requests");
            if let Some(p) = self.peers.get_mut(&k) {
                // Treated as snubbed until it sends again: one request at a time.
                p.snubbed = true;
                for r in &give_up {
                    let _ = p.conn.cancel(*r);
                }
                for r in &symbols {
                    let _ = p.conn.cancel_symbols(r.piece);
                }
                p.dirty = true;
            }
            for r in &give_up {
                self.give_up_request(k, r);
            }
            // Repair ESIs are never asked twice: the lost ones are replaced by fresh ones.
            for r in &symbols {
                if let Some(asm) = self.inflight.get_mut(&r.piece) {
                    asm.repairs_lost(k, r.first_esi, r.count);
                }
            }
            any = true;
        }
        any
    }

    /// A symbol arrived from `key` (its length was checked by the connection).
    pub(super) fn on_symbol(
        &mut self,
        key: PeerKey,
        piece: u32,
        esi: u32,
        data: Bytes,
        now: Instant,
    ) {
        let source_len = self
            .inflight
            .get(&piece)
            .filter(|a| esi < a.block_count())
            .map(|a| a.block_len(esi) as usize);
        if let Some(real) = source_len {
            // A source symbol sent as SYMBOL (another implementation may): the block,
            // zero-padded to T, whose padding must be zeros (spec §6.1).
            if data[real..].iter().any(|&b| b != 0) {
                self.close(key, "symbol padding is not zero");
                return;
            }
            let block = bf_wire::Block {
                piece,
                begin: esi * BLOCK_LEN,
                data: data.slice(..real),
            };
            self.on_block(key, block, now);
            return;
        }
        let len = data.len() as u64;
        self.stats.downloaded += len;
        if let Some(p) = self.peers.get_mut(&key) {
            p.down.add(now, len);
            p.last_block_at = now;
            p.snubbed = false;
        }
        let stored = self
            .inflight
            .get_mut(&piece)
            .is_some_and(|asm| asm.receive_repair(esi, key, data));
        if stored {
            self.stats.repair_received += 1;
            self.after_symbol(piece);
        } else {
            // The piece completed meanwhile (the symbol was on the wire when we cancelled).
            self.stats.redundant += len;
        }
        self.fill_requests(key, now);
    }

    /// After a block or symbol of `piece` arrived: hand it out complete, or decode it.
    pub(super) fn after_symbol(&mut self, piece: u32) {
        let Some(asm) = self.inflight.get_mut(&piece) else {
            return;
        };
        if asm.is_complete() {
            self.finish_piece(piece);
        } else if asm.decode_ready() {
            let (blocks, repairs) = asm.start_decode();
            let expected = self.meta.piece_hash(piece).unwrap_or([0; 20]);
            self.stats.decodes += 1;
            self.outputs.push_back(Output::Decode {
                piece,
                len: asm.piece_len(),
                blocks,
                repairs,
                expected,
            });
        }
    }

    /// Tells every peer still asked for something of `piece` to stop: CANCEL for blocks,
    /// SYMBOL_CANCEL for repair symbols.
    pub(super) fn cancel_outstanding(&mut self, piece: u32) {
        let Some(asm) = self
            .inflight
            .get(&piece)
            .or_else(|| self.verifying.get(&piece).map(|v| &v.asm))
        else {
            return;
        };
        let blocks: Vec<(bf_wire::BlockRequest, PeerKey)> = asm
            .block_requests()
            .into_iter()
            .map(|(i, p)| (asm.request_for(i), p))
            .collect();
        let repairs = asm.repair_requesters();
        for (r, k) in blocks {
            if let Some(p) = self.peers.get_mut(&k) {
                if p.conn.cancel(r).is_ok() {
                    p.dirty = true;
                }
            }
        }
        for k in repairs {
            if let Some(p) = self.peers.get_mut(&k) {
                if p.conn.cancel_symbols(piece).is_ok() {
                    p.dirty = true;
                }
            }
        }
    }

    /// Blocks abandoned to repair symbols that no fountain peer can supply any more open
    /// again, for any peer to fetch.
    pub(super) fn reopen_orphaned(&mut self) {
        let pieces: Vec<u32> = self
            .inflight
            .iter()
            .filter(|(_, a)| a.abandoned() > 0)
            .map(|(p, _)| *p)
            .collect();
        for piece in pieces {
            if !self.fountain_alternative(piece, PeerKey(0)) {
                if let Some(asm) = self.inflight.get_mut(&piece) {
                    asm.reopen_abandoned();
                }
            }
        }
    }
}
