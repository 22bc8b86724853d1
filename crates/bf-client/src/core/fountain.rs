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
/// At the tail a fountain peer races the queued blocks of peers at least this many times
/// slower than itself ...
const RACE_RATIO: u64 = 2;
/// ... whose queues take longer than this to drain.
const RACE_MIN_DRAIN: Duration = Duration::from_millis(100);

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

    /// Whether another fountain peer with `piece` could send repair symbols at least twice
    /// as fast as `key` does now (its best rate so far against `key`'s current one). A
    /// suspect of a failed decode of the piece is no stand-in: it is not asked for more.
    fn better_stand_in(&self, key: PeerKey, piece: u32) -> bool {
        let Some(me) = self.peers.get(&key) else {
            return false;
        };
        let mine = me.last_rate;
        let avoid = self.avoid.get(&piece);
        self.peers.iter().any(|(k, p)| {
            *k != key
                && p.conn.fountain()
                && p.conn.peer_has(piece)
                && !p.snubbed
                && !p.conn.peer_choking()
                && !avoid.is_some_and(|v| v.contains(&p.ban_key))
                && p.peak_rate >= mine.saturating_mul(2).max(u64::from(BLOCK_LEN))
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
                        asm.give_up(i, key, true);
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
            // Repair symbols replace what stalled: ask a peer that can send them fast, and
            // leave a busy or slow one (often the only seeder, the scarcest bandwidth there
            // is) to pieces only it has.
            if self.better_stand_in(key, piece) {
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

    /// The tail, for fountain peer `key` with room and nothing else to do: for each piece it
    /// has, as many fresh repair symbols as there are blocks still queued with peers much
    /// slower than it (at least twice, and a queue that takes them over a tenth of a second
    /// to drain). Those requests are not cancelled: whichever symbols arrive first complete
    /// the piece, every one of them useful until then (nothing is asked twice), and the rest
    /// are cancelled once it verifies. The endgame's benefit without its duplicates: a scarce
    /// seeder's bandwidth is not spent on a block another peer can stand in for. Returns how
    /// many symbols were asked.
    pub(super) fn race_tail(&mut self, key: PeerKey, room: usize, now: Instant) -> usize {
        let Some(me) = self.peers.get_mut(&key) else {
            return 0;
        };
        if me.snubbed {
            return 0;
        }
        // What it can do when asked: a peer that has had little to send reads slow now.
        let my_rate = me
            .peak_rate
            .max(me.down.rate(now))
            .max(u64::from(BLOCK_LEN));
        let outstanding_blocks = |p: &super::peer::Peer| p.conn.outstanding_requests().count();
        let slow: Vec<PeerKey> = self
            .peers
            .iter_mut()
            .filter(|(k, _)| **k != key)
            .filter_map(|(k, p)| {
                let rate = p.down.rate(now);
                let queued = outstanding_blocks(p) as f64 * f64::from(BLOCK_LEN);
                let drain = if rate == 0 {
                    f64::INFINITY
                } else {
                    queued / rate as f64
                };
                (rate.saturating_mul(RACE_RATIO) < my_rate && drain > RACE_MIN_DRAIN.as_secs_f64())
                    .then_some(*k)
            })
            .collect();
        if slow.is_empty() {
            return 0;
        }
        let mut sent = 0;
        let order = self.inflight_order.clone();
        for piece in order {
            if sent >= room {
                break;
            }
            if !self.peer_has(key, piece) {
                continue;
            }
            let Some(asm) = self.inflight.get_mut(&piece) else {
                continue;
            };
            if !asm.is_fountain() || asm.is_decoding() {
                continue;
            }
            // What the piece lacks once everything but the slow peers' queues arrives: the
            // blocks held and asked of others count, the slow peers' do not.
            let requests = asm.block_requests();
            let late = requests.iter().filter(|(_, p)| slow.contains(p)).count() as u32;
            let coming = requests.len() as u32 - late;
            let lacking = asm
                .need()
                .saturating_sub(asm.held() + asm.repairs_held() + asm.repairs_in_flight() + coming);
            let want = lacking.min(late).min((room - sent) as u32);
            if want == 0 {
                continue;
            }
            let Some((first, count)) = asm.take_repair(want, key, now) else {
                continue;
            };
            let Some(p) = self.peers.get_mut(&key) else {
                break;
            };
            match p
                .conn
                .request_symbols(SymbolRange::new(piece, first, count), now)
            {
                Ok(()) => {
                    p.dirty = true;
                    sent += count as usize;
                    self.stats.repair_requested += u64::from(count);
                    self.stats.raced += u64::from(count);
                }
                Err(_) => {
                    asm.repairs_lost(key, first, count);
                    break;
                }
            }
            // As many of the slow peers' queued blocks of this piece are cancelled, newest
            // first (the least likely to be sent already): the slow peer's upload goes to
            // what only it can give, as the endgame's cancels do, block for block.
            let handed: Vec<(u32, PeerKey)> = asm
                .newest_requests_of(&slow)
                .into_iter()
                .take(count as usize)
                .collect();
            for (i, q) in handed {
                let r = asm.request_for(i);
                asm.give_up(i, q, false);
                if let Some(p) = self.peers.get_mut(&q) {
                    if p.conn.cancel(r).is_ok() {
                        p.dirty = true;
                    }
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
        let tail = self.picker.pickable_count() == 0;
        let mut stalled = Vec::new();
        for (k, p) in self.peers.iter_mut() {
            if p.conn.outstanding_requests().next().is_none()
                && p.conn.outstanding_symbols().next().is_none()
            {
                continue;
            }
            let rate = p.down.rate(now);
            // A peer already snubbed gets no grace: its probe request is given up at once at
            // the tail (where it could be the last block waited for), soon otherwise.
            let limit = if p.snubbed && tail {
                Duration::ZERO
            } else if p.snubbed {
                STALL_MIN
            } else if p.down.total() == 0 {
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
            self.stats.late += len;
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
                block_hashes: self.failed.contains_key(&piece),
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
