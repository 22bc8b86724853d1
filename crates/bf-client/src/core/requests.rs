//! Downloading: which blocks to ask each peer for, what arrives, pieces finished or failed.

use std::time::{Duration, Instant};

use bf_wire::{Block, BlockRequest, SendError};

use super::assembly::{Assembly, Received, BLOCK_LEN};
use super::{
    BanKey, CoreEvent, FailedAttempt, Output, PeerKey, PieceOutcome, TorrentCore, Verifying,
};

/// Strikes (pieces that failed their hash, every block from the peer) that get a peer banned.
const STRIKES_TO_BAN: u32 = 2;
/// Fewest requests kept outstanding to a peer that is sending: enough to hide a round trip
/// on a fast path, little enough to be lost cheaply on a slow one.
const MIN_QUEUE: usize = 4;

impl TorrentCore {
    /// How many requests `key` should have outstanding: its rate times the queue time, but
    /// near the end only its share of what is left (the time everything left takes at the
    /// whole download rate), so that every peer's queue drains at about the same moment and
    /// no slow peer is left holding the last blocks; at most the configured maximum, one
    /// while snubbed.
    fn queue_target(&mut self, key: PeerKey, now: Instant) -> usize {
        let left_blocks =
            u64::from(self.missing) * u64::from(self.shape.piece_length().div_ceil(BLOCK_LEN));
        let total_rate = self.total_down_rate;
        let peers = self.peers.len().max(1) as u64;
        let Some(p) = self.peers.get_mut(&key) else {
            return 0;
        };
        if p.snubbed {
            return 1;
        }
        let rate = p.down.rate(now);
        if rate == 0 {
            // Not measured yet: a fixed start, but never more than a fair share of the rest.
            return self
                .cfg
                .initial_requests
                .min((left_blocks / peers).max(2) as usize)
                .min(self.cfg.max_requests_per_peer);
        }
        // Every peer's queue spans the same time: the queue time, but no longer than the
        // fastest peer's queue at its cap lasts (else the fast peer would run dry first and
        // wait for the slow ones at the end), nor than what is left takes.
        let max = self.cfg.max_requests_per_peer.max(MIN_QUEUE);
        let mut horizon = self.cfg.request_queue_time.as_secs_f64();
        if self.max_peer_rate > 0 {
            horizon = horizon.min(max as f64 * f64::from(BLOCK_LEN) / self.max_peer_rate as f64);
        }
        if total_rate > 0 {
            let to_end = left_blocks as f64 * f64::from(BLOCK_LEN) / total_rate as f64;
            horizon = horizon.min(to_end);
        }
        let by_rate = (rate as f64 * horizon / f64::from(BLOCK_LEN)).ceil() as usize;
        by_rate.clamp(MIN_QUEUE, max)
    }

    /// Requests outstanding to `key`, from the connection's remaining capacity (O(1)).
    fn outstanding(&self, key: PeerKey) -> usize {
        let Some(p) = self.peers.get(&key) else {
            return 0;
        };
        let reqq = p
            .conn
            .peer_extended_handshake()
            .and_then(|h| h.reqq)
            .filter(|&q| q > 0)
            .map_or(usize::MAX, |q| q as usize);
        let limit = self.wire.max_outgoing_requests.min(reqq);
        limit.saturating_sub(p.conn.request_capacity())
    }

    /// Sends `key` as many block requests as its queue target allows: blocks of pieces
    /// already in flight first (oldest piece first), then a new piece (random for the first
    /// few, then rarest first), then, in the endgame, blocks another peer is already asked
    /// for.
    pub(super) fn fill_requests(&mut self, key: PeerKey, now: Instant) {
        if !self.active || self.missing == 0 {
            return;
        }
        let Some(p) = self.peers.get(&key) else {
            return;
        };
        if !p.conn.am_interested() || p.conn.peer_choking() {
            return;
        }
        // A snubbed peer gets one request at a time to see whether it recovers, but not at
        // the tail, where that one block could be the last the download waits for.
        if p.snubbed && self.picker.pickable_count() == 0 && !self.inflight.is_empty() {
            return;
        }
        let target = self.queue_target(key, now);
        let outstanding = self.outstanding(key);

        let Some(p) = self.peers.get(&key) else {
            return;
        };
        let mut room = target
            .saturating_sub(outstanding)
            .min(p.conn.request_capacity());
        // Ask in batches: fewer, fuller writes, and less picking per block received.
        let batch = (target / 8).max(1);
        if room == 0 || (room < batch && outstanding > 0) {
            return;
        }
        let was_idle = outstanding == 0;
        let ban_key = p.ban_key;
        let fountain_peer = self.is_fountain_peer(key);

        // 0. Fresh repair symbols where pieces this fountain peer has lack them (their blocks
        //    were given up, or a decode wants one more).
        if fountain_peer {
            room -= self.request_repairs(key, room, now);
        }
        // 1. Pieces in flight that this peer has, oldest first: those it is already working
        //    on, and those nobody is (their peer left); others' pieces only once nothing
        //    new can be started. A piece then comes whole from one peer where it can, and a
        //    scarce peer (the only seeder of a flash crowd) spends its upload on pieces
        //    nobody else has rather than on the rest of pieces other peers are serving.
        let starting_possible = self.can_start_piece() && self.pick_new(key).is_some();
        let order = self.inflight_order.clone();
        for piece in order {
            if room == 0 {
                break;
            }
            let Some(asm) = self.inflight.get(&piece) else {
                continue;
            };
            let someone_elses = asm.has_requests() && !asm.is_requested_by_peer(key);
            if !self.peer_has(key, piece)
                || (self.avoids(piece, ban_key) && self.unavoided_holder(piece))
                || asm.is_decoding()
                || (someone_elses && starting_possible)
            {
                continue;
            }
            room -= self.request_open_blocks(key, piece, room, now);
        }
        // 2. New pieces, while memory allows.
        while room > 0 && self.can_start_piece() {
            let Some(piece) = self.pick_new(key) else {
                break;
            };
            self.start_piece(piece, now);
            let sent = self.request_open_blocks(key, piece, room, now);
            if sent == 0 {
                break;
            }
            room -= sent;
        }
        // 3. The tail: nothing left to start that this peer has, nothing open in flight. A
        //    fountain peer races what much slower peers still have queued with fresh repair
        //    symbols (nothing asked twice); a plain peer falls back to the endgame, on
        //    pieces no fountain peer can finish.
        if room > 0 && self.pick_new(key).is_none() {
            if fountain_peer {
                room -= self.race_tail(key, room, now);
            } else if self.cfg.endgame {
                room -= self.request_endgame(key, room, now);
            }
        }
        if was_idle && self.outstanding(key) > 0 {
            if let Some(p) = self.peers.get_mut(&key) {
                p.last_block_at = now;
            }
        }
        let _ = room;
    }

    pub(super) fn peer_has(&self, key: PeerKey, piece: u32) -> bool {
        self.peers.get(&key).is_some_and(|p| p.conn.peer_has(piece))
    }

    fn avoids(&self, piece: u32, who: BanKey) -> bool {
        self.avoid.get(&piece).is_some_and(|v| v.contains(&who))
    }

    /// Whether a connected peer that is not avoided for `piece` has it: only then is an
    /// avoided one passed over (else the piece would wait for a peer that may never come).
    fn unavoided_holder(&self, piece: u32) -> bool {
        self.peers
            .values()
            .any(|p| p.conn.peer_has(piece) && !self.avoids(piece, p.ban_key))
    }

    fn can_start_piece(&self) -> bool {
        let next = u64::from(self.shape.piece_length());
        self.inflight_bytes + next <= self.cfg.max_inflight_bytes || self.inflight.is_empty()
    }

    /// A piece to start for `key`: preferring pieces whose last attempt did not involve it.
    fn pick_new(&mut self, key: PeerKey) -> Option<u32> {
        let p = self.peers.get(&key)?;
        let random = self.have.count_ones() < self.cfg.random_first_pieces;
        let who = p.ban_key;
        let conn = &p.conn;
        let avoid = &self.avoid;
        self.picker
            .pick(
                |piece| {
                    conn.peer_has(piece) && !avoid.get(&piece).is_some_and(|v| v.contains(&who))
                },
                random,
                &mut self.rng,
            )
            .or_else(|| {
                self.picker
                    .pick(|piece| conn.peer_has(piece), random, &mut self.rng)
            })
    }

    fn start_piece(&mut self, piece: u32, now: Instant) {
        let len = self.shape.piece_len(piece).unwrap_or(0);
        if len == 0 || self.inflight.contains_key(&piece) {
            return;
        }
        self.picker.remove(piece);
        self.inflight
            .insert(piece, Assembly::new(piece, len, self.fountain_capable, now));
        self.inflight_order.push(piece);
        self.inflight_bytes += u64::from(len);
    }

    /// Requests up to `room` open blocks of `piece` from `key`; returns how many.
    fn request_open_blocks(
        &mut self,
        key: PeerKey,
        piece: u32,
        room: usize,
        now: Instant,
    ) -> usize {
        let (Some(asm), Some(p)) = (self.inflight.get_mut(&piece), self.peers.get_mut(&key)) else {
            return 0;
        };
        let mut sent = 0;
        while sent < room {
            let Some(i) = asm.next_open() else { break };
            match p.conn.request(asm.request_for(i), now) {
                Ok(()) => {
                    asm.mark_requested(i, key, now);
                    sent += 1;
                }
                Err(SendError::AlreadyRequested) => {
                    // Our state says open but the connection has it outstanding: keep them
                    // in agreement rather than loop.
                    asm.mark_requested(i, key, now);
                }
                Err(_) => break,
            }
        }
        if sent > 0 {
            p.dirty = true;
        }
        sent
    }

    fn request_endgame(&mut self, key: PeerKey, room: usize, now: Instant) -> usize {
        let max = self.cfg.endgame_max_requesters;
        let mut sent = 0;
        let order = self.inflight_order.clone();
        for piece in order {
            // No endgame duplication where a fountain peer can finish the piece.
            if !self.peer_has(key, piece) || self.fountain_alternative(piece, key) {
                continue;
            }
            while sent < room {
                let (Some(asm), Some(p)) =
                    (self.inflight.get_mut(&piece), self.peers.get_mut(&key))
                else {
                    break;
                };
                let Some(i) = asm.endgame_block(key, max) else {
                    break;
                };
                if p.conn.request(asm.request_for(i), now).is_err() {
                    return sent;
                }
                asm.mark_requested(i, key, now);
                p.dirty = true;
                sent += 1;
                self.stats.endgame_requests += 1;
            }
            if sent >= room {
                break;
            }
        }
        sent
    }

    /// `key`'s request `r` is gone; the block goes back to open if nobody else has it asked.
    pub(super) fn release_request(&mut self, key: PeerKey, r: &BlockRequest) {
        if let Some(asm) = self.inflight.get_mut(&r.piece) {
            if let Some(i) = asm.block_of(r) {
                if asm.is_requested_by(i, key) {
                    asm.release(i, key);
                    self.stats.requests_lost += 1;
                }
            }
        }
    }

    pub(super) fn on_block(&mut self, key: PeerKey, block: Block, now: Instant) {
        let len = block.data.len() as u64;
        let r = block.request();
        self.stats.downloaded += len;
        self.stats.blocks_received += 1;
        if let Some(p) = self.peers.get_mut(&key) {
            p.down.add(now, len);
            p.last_block_at = now;
            p.snubbed = false;
        }
        let outcome = match self.inflight.get_mut(&r.piece) {
            Some(asm) => match asm.block_of(&r) {
                Some(i) => Some(asm.receive(i, key, block.data)),
                None => None,
            },
            None => None,
        };
        match outcome {
            Some(Received::New { cancel }) => {
                for other in cancel {
                    if let Some(p) = self.peers.get_mut(&other) {
                        // The other copy may still arrive: it is counted as redundant then.
                        if p.conn.cancel(r).is_ok() {
                            p.dirty = true;
                        }
                    }
                }
                self.after_symbol(r.piece);
            }
            Some(Received::Duplicate) => {
                self.stats.redundant += len;
                self.stats.duplicate += len;
                if let Some(p) = self.peers.get_mut(&key) {
                    p.redundant += len;
                }
            }
            None => {
                // Its piece is complete (or not wanted): cancelled too late, or raced.
                self.stats.redundant += len;
                self.stats.late += len;
                if let Some(p) = self.peers.get_mut(&key) {
                    p.redundant += len;
                }
            }
        }
        self.fill_requests(key, now);
    }

    /// All blocks of `piece` are held: hand it out for hashing and writing. Whatever is
    /// still asked of others for it is cancelled.
    pub(super) fn finish_piece(&mut self, piece: u32) {
        self.cancel_outstanding(piece);
        let Some(asm) = self.inflight.remove(&piece) else {
            return;
        };
        self.inflight_order.retain(|p| *p != piece);
        let expected = self.meta.piece_hash(piece).unwrap_or([0; 20]);
        self.outputs.push_back(Output::VerifyWrite {
            piece,
            blocks: asm.blocks(),
            repairs: asm.held_repairs(),
            expected,
            block_hashes: self.failed.contains_key(&piece),
        });
        self.verifying.insert(piece, Verifying { asm });
    }

    pub(super) fn on_piece_done(
        &mut self,
        piece: u32,
        outcome: PieceOutcome,
        work: Duration,
        now: Instant,
    ) {
        if self.inflight.get(&piece).is_some_and(Assembly::is_decoding) {
            self.stats.decode_time += work;
            self.on_decoded(piece, outcome, now);
            return;
        }
        let Some(v) = self.verifying.remove(&piece) else {
            return;
        };
        self.stats.hash_time += work;
        let len = u64::from(v.asm.piece_len());
        self.inflight_bytes = self.inflight_bytes.saturating_sub(len);
        match outcome {
            PieceOutcome::Written {
                block_hashes,
                culprits,
            } => {
                if let (Some(hashes), Some(failed)) = (block_hashes, self.failed.remove(&piece)) {
                    self.judge_failed_attempt(&hashes, failed);
                }
                self.ban_culprits(&culprits);
                self.avoid.remove(&piece);
                if v.asm.was_held_up() {
                    self.stats.pieces_held_up += 1;
                }
                self.on_piece_verified(piece);
            }
            PieceOutcome::HashFailed { block_hashes } => {
                self.on_hash_failed(piece, &v.asm, &block_hashes, now);
            }
            // Only decodes report these.
            PieceOutcome::NeedMore | PieceOutcome::Corrupt { .. } => {
                self.picker.insert(piece, &mut self.rng);
            }
            PieceOutcome::WriteFailed(e) => {
                self.picker.insert(piece, &mut self.rng);
                self.push_event(CoreEvent::StorageFailed(e));
                self.stop();
            }
        }
    }

    /// The result of a decode of `piece`, which stayed in flight meanwhile.
    fn on_decoded(&mut self, piece: u32, outcome: PieceOutcome, _now: Instant) {
        match outcome {
            PieceOutcome::Written {
                culprits,
                block_hashes,
            } => {
                if let (Some(hashes), Some(failed)) = (block_hashes, self.failed.remove(&piece)) {
                    self.judge_failed_attempt(&hashes, failed);
                }
                self.cancel_outstanding(piece);
                if let Some(asm) = self.inflight.remove(&piece) {
                    self.inflight_bytes = self
                        .inflight_bytes
                        .saturating_sub(u64::from(asm.piece_len()));
                    if asm.was_held_up() {
                        self.stats.pieces_held_up += 1;
                    }
                }
                self.inflight_order.retain(|p| *p != piece);
                self.stats.pieces_decoded += 1;
                self.ban_culprits(&culprits);
                self.avoid.remove(&piece);
                self.failed.remove(&piece);
                self.on_piece_verified(piece);
            }
            PieceOutcome::NeedMore => {
                self.stats.decode_retries += 1;
                if let Some(asm) = self.inflight.get_mut(&piece) {
                    asm.decode_failed();
                }
                // Symbols that arrived during the solve may already be enough.
                self.after_symbol(piece);
                self.refill_soon = true;
            }
            PieceOutcome::Corrupt { suspects } => {
                let Some(asm) = self.inflight.get_mut(&piece) else {
                    return;
                };
                self.stats.hash_failures += 1;
                if !asm.widen_for_leave_one_out() {
                    self.stats.wasted += u64::from(asm.piece_len());
                    asm.discard();
                }
                let mut addrs = Vec::new();

                let avoid = self.avoid.entry(piece).or_default();
                for k in &suspects {
                    if let Some(p) = self.peers.get(k) {
                        addrs.push(p.addr);
                        if !avoid.contains(&p.ban_key) {
                            avoid.push(p.ban_key);
                        }
                    }
                }
                tracing::warn!(
                    ?addrs,
                    "piece {piece} decoded wrong and no sender could be named"
                );
                self.push_event(CoreEvent::HashFailed {
                    piece,
                    senders: addrs,
                });
                if let [only] = suspects[..] {
                    self.strike(only, "sent two pieces that failed their hash");
                }
                self.refill_soon = true;
            }
            PieceOutcome::HashFailed { .. } => {}
            PieceOutcome::WriteFailed(e) => {
                self.push_event(CoreEvent::StorageFailed(e));
                self.stop();
            }
        }
    }

    /// Bans every peer named as a sender of wrong symbols.
    fn ban_culprits(&mut self, culprits: &[PeerKey]) {
        for k in culprits {
            if let Some(p) = self.peers.get(k) {
                let (bk, addr) = (p.ban_key, p.addr);
                self.ban(bk, addr, "sent symbols that differ from the verified piece");
            }
        }
    }

    /// One more strike for connected peer `key`; two ban it.
    fn strike(&mut self, key: PeerKey, reason: &str) {
        if let Some(p) = self.peers.get(&key) {
            let (bk, addr) = (p.ban_key, p.addr);
            self.strike_key(bk, addr, reason);
        }
    }

    /// One more strike for whoever `bk` names (at `addr`); two ban it.
    fn strike_key(&mut self, bk: BanKey, addr: std::net::SocketAddr, reason: &str) {
        let strikes = self.strikes.entry(bk).or_default();
        *strikes += 1;
        if *strikes >= STRIKES_TO_BAN {
            self.ban(bk, addr, reason);
        }
    }

    fn on_piece_verified(&mut self, piece: u32) {
        if !self.have.set(piece) {
            return;
        }
        self.missing -= 1;
        // Not kept for serving: its blocks pin whole receive buffers, and the page cache
        // holds the piece anyway once written.
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for k in &keys {
            let Some(p) = self.peers.get_mut(k) else {
                continue;
            };
            if p.conn.peer_has(piece) {
                p.useful = p.useful.saturating_sub(1);
            } else if p.conn.have(piece).is_ok() {
                p.dirty = true;
            }
            self.update_interest(*k);
        }
        self.push_event(CoreEvent::PieceVerified(piece));
        if self.missing == 0 && !self.completed_announced {
            self.completed_announced = true;
            self.push_event(CoreEvent::Completed);
            for k in keys {
                self.drop_if_both_seeds(k);
            }
        }
    }

    fn on_hash_failed(&mut self, piece: u32, asm: &Assembly, hashes: &[[u8; 20]], _now: Instant) {
        self.stats.hash_failures += 1;
        self.stats.wasted += u64::from(asm.piece_len());
        let mut blocks = Vec::new();
        let mut senders: Vec<(BanKey, std::net::SocketAddr)> = Vec::new();
        for (i, h) in hashes.iter().enumerate() {
            let Some(sender) = asm.sender_of(i as u32) else {
                continue;
            };
            let Some(p) = self.peers.get(&sender) else {
                continue;
            };
            blocks.push((i as u32, *h, p.ban_key, p.addr));
            if !senders.iter().any(|(k, _)| *k == p.ban_key) {
                senders.push((p.ban_key, p.addr));
            }
        }
        let sole = senders.len() == 1 && blocks.len() == hashes.len();
        // Keep the first failed attempt's evidence; a second failure adds its own strikes.
        self.failed.entry(piece).or_insert(FailedAttempt { blocks });
        let avoid = self.avoid.entry(piece).or_default();
        for (k, _) in &senders {
            if !avoid.contains(k) {
                avoid.push(*k);
            }
        }
        self.push_event(CoreEvent::HashFailed {
            piece,
            senders: senders.iter().map(|(_, a)| *a).collect(),
        });
        // Only a peer that sent the whole piece is struck. With several senders (or one that
        // left) the failure does not tell who lied, and striking them all would let a liar
        // get whoever completes its pieces banned; the liar is named by comparing blocks
        // once the piece verifies (`judge_failed_attempt`).
        if let (true, Some(&(k, addr))) = (sole, senders.first()) {
            self.strike_key(k, addr, "sent two pieces that failed their hash");
        }
        self.picker.insert(piece, &mut self.rng);
    }

    /// The piece verified after an attempt that failed: a sender whose block then differs
    /// from the verified one lied, and is banned; the others are cleared of that strike.
    fn judge_failed_attempt(&mut self, verified: &[[u8; 20]], failed: FailedAttempt) {
        let mut liars: Vec<(BanKey, std::net::SocketAddr)> = Vec::new();
        let mut honest: Vec<BanKey> = Vec::new();
        for (i, h, k, addr) in &failed.blocks {
            if verified.get(*i as usize) != Some(h) {
                if !liars.iter().any(|(l, _)| l == k) {
                    liars.push((*k, *addr));
                }
            } else if !honest.contains(k) {
                honest.push(*k);
            }
        }
        for k in honest {
            if !liars.iter().any(|(l, _)| *l == k) {
                if let Some(s) = self.strikes.get_mut(&k) {
                    *s = s.saturating_sub(1);
                }
            }
        }
        for (k, addr) in liars {
            self.ban(k, addr, "sent a block that differs from the verified piece");
        }
    }

    pub(super) fn ban(&mut self, key: BanKey, addr: std::net::SocketAddr, reason: &str) {
        if !self.banned.insert(key) {
            return;
        }
        tracing::info!(%addr, "banned: {reason}");
        self.push_event(CoreEvent::PeerBanned {
            addr,
            reason: reason.to_string(),
        });
        let doomed: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.ban_key == key)
            .map(|(k, _)| *k)
            .collect();
        for k in doomed {
            // Its blocks in pieces still being assembled are presumed wrong: left there, they
            // would fail those pieces and implicate whoever sends the rest.
            for asm in self.inflight.values_mut() {
                asm.discard_from(k);
            }
            self.close(k, format!("banned: {reason}"));
        }
        if let BanKey::Ip(_) = key {
            self.known.retain(|a, _| !key.covers_addr(*a));
        } else {
            self.known.remove(&addr);
        }
    }

    /// A peer that sent nothing for the snub timeout while we waited for blocks is snubbed:
    /// its requests are cancelled and handed to others.
    pub(super) fn check_snub(&mut self, key: PeerKey, now: Instant) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        if p.snubbed || now.saturating_duration_since(p.last_block_at) < self.cfg.snub_timeout {
            return;
        }
        let outstanding: Vec<BlockRequest> =
            p.conn.outstanding_requests().map(|(r, _)| r).collect();
        if outstanding.is_empty() {
            return;
        }
        tracing::debug!(addr = %p.addr, "snubbed: no block for {:?}", self.cfg.snub_timeout);
        p.snubbed = true;
        for r in &outstanding {
            let _ = p.conn.cancel(*r);
        }
        p.dirty = true;
        for r in &outstanding {
            // It may still answer: given up, not released.
            self.give_up_request(key, r);
        }
        let others: Vec<PeerKey> = self.peers.keys().copied().filter(|k| *k != key).collect();
        for k in others {
            self.fill_requests(k, now);
        }
    }
}
