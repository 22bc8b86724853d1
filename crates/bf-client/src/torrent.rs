//! The task that drives one torrent: it owns the torrent's [`TorrentCore`], feeds it what the
//! sockets, workers and trackers report, and carries out what it asks for.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, Metainfo};
use bf_tracker::TrackerTiers;
use bf_tracker::{AnnounceRequest, AnnounceResponse, Event as AnnounceEvent, TrackerClient};
use bf_wire::{Bitfield, ConnectionConfig, Handshake};
use bytes::BytesMut;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use crate::core::{CoreConfig, CoreEvent, Input, Output, PeerKey, TorrentCore};
use crate::events::{TorrentEvent, TorrentState, TorrentStatus};
use crate::jobs;
use crate::peer_io::{self, IoContext, PeerLink};
use crate::resume::ResumeData;
use crate::storage::Storage;
use crate::workers::WorkerPool;

/// What reaches a torrent's task.
pub(crate) enum Msg {
    /// For the core.
    Core(Input),
    /// A connection completed its handshakes.
    Connected {
        addr: SocketAddr,
        stream: TcpStream,
        theirs: Handshake,
        leftover: BytesMut,
        outbound: bool,
        permit: Option<OwnedSemaphorePermit>,
    },
    /// From the torrent's handle.
    Command(Command),
    /// An announce finished.
    Announced {
        tiers: TrackerTiers,
        event: AnnounceEvent,
        result: Result<(String, AnnounceResponse), String>,
    },
    /// A piece was checked at start.
    Checked { piece: u32, ok: bool },
    /// Resume data was written (or not).
    ResumeSaved(Result<(), String>),
}

/// Requests from a [`crate::TorrentHandle`].
pub(crate) enum Command {
    Pause,
    Resume,
    AddPeers(Vec<SocketAddr>),
    Stop(oneshot::Sender<()>),
}

/// Everything a torrent's task needs from its session.
pub(crate) struct TorrentSetup {
    pub meta: Arc<Metainfo>,
    pub storage: Arc<Storage>,
    pub core: CoreConfig,
    pub workers: Arc<WorkerPool>,
    pub tracker: Option<TrackerClient>,
    pub announce_ip: Option<std::net::IpAddr>,
    pub announce_key: u32,
    pub resume_path: Option<PathBuf>,
    pub resume_interval: Duration,
    pub connect_timeout: Duration,
    pub connections: Arc<Semaphore>,
    pub io: IoContext,
    pub status: watch::Sender<TorrentStatus>,
    pub events: broadcast::Sender<TorrentEvent>,
    pub initial_peers: Vec<SocketAddr>,
    pub start_paused: bool,
    pub self_addrs: Vec<SocketAddr>,
    /// The session's DHT nodes, for public torrents when it runs them (a PORT message goes
    /// to the node of the peer's family).
    pub dht: Option<crate::dht::DhtNodes>,
    /// Local service discovery, for public torrents when the session runs it.
    pub lsd: Option<crate::lsd::Lsd>,
}

/// Stopped announces get this long before the task ends without their answer.
const STOP_ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(5);
/// Checking keeps this many pieces per worker queued.
const CHECKS_PER_WORKER: usize = 2;

struct Task {
    s: TorrentSetup,
    rx: mpsc::Receiver<Msg>,
    info_hash: InfoHash,
    state: TorrentState,
    links: HashMap<PeerKey, PeerLink>,
    tiers: Option<TrackerTiers>,
    next_announce: Option<Instant>,
    announce_failures: u32,
    pending_event: AnnounceEvent,
    resume_dirty: bool,
    resume_saving: bool,
    started: Instant,
}

/// Runs the torrent until it is stopped.
pub(crate) async fn run(setup: TorrentSetup, rx: mpsc::Receiver<Msg>) {
    let info_hash = setup.meta.info_hash();
    let trackers = setup.meta.trackers();
    let tiers = (!trackers.is_empty() && setup.tracker.is_some())
        .then(|| TrackerTiers::new(trackers, &mut rand::thread_rng()));
    let mut t = Task {
        s: setup,
        rx,
        info_hash,
        state: TorrentState::Checking {
            checked: 0,
            total: 0,
        },
        links: HashMap::new(),
        tiers,
        next_announce: None,
        announce_failures: 0,
        pending_event: AnnounceEvent::Started,
        resume_dirty: false,
        resume_saving: false,
        started: Instant::now(),
    };
    let Some(have) = t.check().await else {
        t.set_state(TorrentState::Stopped);
        return;
    };
    if let Err(e) = t.s.storage.create_files() {
        t.fail(e.to_string());
        t.idle_until_stopped().await;
        return;
    }
    let now = Instant::now();
    let mut core = match TorrentCore::new(t.s.core.clone(), t.s.meta.clone(), have, now) {
        Ok(c) => c,
        Err(e) => {
            t.fail(e.to_string());
            t.idle_until_stopped().await;
            return;
        }
    };
    core.set_self_addrs(t.s.self_addrs.clone());
    // Announced once checked: connections made while checking are refused.
    if let Some(lsd) = &t.s.lsd {
        lsd.register(info_hash, t.s.io.to_torrent.clone());
    }
    t.main(core).await;
}

impl Task {
    fn set_state(&mut self, state: TorrentState) {
        if self.state != state {
            self.state = state.clone();
            let _ = self.s.events.send(TorrentEvent::State(state));
        }
    }

    fn fail(&mut self, e: String) {
        // Reported through the event and the status: a program decides how to tell its
        // user (bf-console makes it its last line); a log line at error level would say it
        // twice.
        tracing::debug!("{}: stopped: {e}", self.s.meta.name());
        let _ = self.s.events.send(TorrentEvent::Error(e.clone()));
        self.set_state(TorrentState::Error(e));
        self.publish_idle();
    }

    fn publish_idle(&self) {
        let mut st = self.s.status.borrow().clone();
        st.state = self.state.clone();
        st.down_rate = 0;
        st.up_rate = 0;
        st.peers = 0;
        st.seeds = 0;
        st.peer_list.clear();
        let _ = self.s.status.send(st);
    }

    /// After an error that stops the torrent: wait for the stop command only.
    async fn idle_until_stopped(&mut self) {
        while let Some(m) = self.rx.recv().await {
            if let Msg::Command(Command::Stop(done)) = m {
                let _ = done.send(());
                return;
            }
        }
    }

    /// The verified pieces at start: resume data if it still matches the files, else a
    /// check of what is on disk, on every worker. `None` if stopped meanwhile.
    async fn check(&mut self) -> Option<Bitfield> {
        let n = self.s.meta.piece_count();
        if let Some(path) = &self.s.resume_path {
            match ResumeData::load(path) {
                Ok(Some(r)) => {
                    let stamps = self.s.storage.stamps();
                    if let Some(have) = r.trusted_have(self.info_hash, n, &stamps) {
                        tracing::info!("{}: resume data trusted", self.s.meta.name());
                        return Some(have.clone());
                    }
                    tracing::info!(
                        "{}: files changed since the resume data, checking",
                        self.s.meta.name()
                    );
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("{e}; checking the data instead"),
            }
        }
        let mut have = Bitfield::new(n);
        if !self.s.storage.any_file_exists() {
            return Some(have);
        }
        self.set_state(TorrentState::Checking {
            checked: 0,
            total: n,
        });
        let mut next = 0u32;
        let mut done = 0u32;
        let window = (self.s.workers.size() * CHECKS_PER_WORKER) as u32;
        let mut last_publish = Instant::now();
        while done < n {
            while next < n && next - done < window {
                let storage = self.s.storage.clone();
                let tx = self.s.io.to_torrent.clone();
                let piece = next;
                self.s.workers.submit(move || {
                    let ok = storage.check_piece(piece);
                    let _ = tx.blocking_send(Msg::Checked { piece, ok });
                });
                next += 1;
            }
            match self.rx.recv().await? {
                Msg::Checked { piece, ok } => {
                    done += 1;
                    if ok {
                        have.set(piece);
                    }
                    if last_publish.elapsed() >= Duration::from_millis(250) || done == n {
                        last_publish = Instant::now();
                        let st = TorrentState::Checking {
                            checked: done,
                            total: n,
                        };
                        self.state = st.clone();
                        self.publish_checking(&have, st);
                    }
                }
                Msg::Command(Command::Stop(ack)) => {
                    let _ = ack.send(());
                    return None;
                }
                // Connections made while checking are dropped: peers retry.
                _ => {}
            }
        }
        tracing::info!(
            "{}: checked, {} of {n} pieces present",
            self.s.meta.name(),
            have.count_ones()
        );
        self.resume_dirty = true;
        Some(have)
    }

    fn publish_checking(&self, have: &Bitfield, state: TorrentState) {
        let mut st = self.s.status.borrow().clone();
        st.state = state.clone();
        st.pieces_have = have.count_ones();
        st.bytes_have = have
            .iter_ones()
            .map(|p| self.s.meta.piece_size(p).unwrap_or(0))
            .sum();
        let _ = self.s.status.send(st);
        let _ = self.s.events.send(TorrentEvent::State(state));
    }

    async fn main(&mut self, mut core: TorrentCore) {
        self.started = Instant::now();
        let paused = self.s.start_paused;
        if paused {
            core.stop();
            self.set_state(TorrentState::Paused);
        } else {
            self.set_state(if core.is_complete() {
                TorrentState::Seeding
            } else {
                TorrentState::Downloading
            });
            self.next_announce = Some(Instant::now());
        }
        if core.is_complete() {
            // Already complete at start: the tracker is told so by `left`, not by an event.
            self.pending_event = AnnounceEvent::Started;
        }
        let peers = std::mem::take(&mut self.s.initial_peers);
        if !peers.is_empty() {
            core.handle_input(Input::Peers(peers), Instant::now());
        }
        self.drain(&mut core);
        let mut status_tick = tokio::time::interval(Duration::from_secs(1));
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut resume_tick = tokio::time::interval(self.s.resume_interval);
        resume_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        resume_tick.tick().await;
        loop {
            let core_deadline = core.poll_timeout();
            let announce_at = self.next_announce.filter(|_| self.tiers.is_some());
            tokio::select! {
                msg = self.rx.recv() => {
                    let Some(msg) = msg else { break };
                    if let Some(ack) = self.on_msg(&mut core, msg) {
                        self.shutdown(&mut core).await;
                        let _ = ack.send(());
                        return;
                    }
                    // Take whatever else is waiting before acting: fewer, fuller writes.
                    for _ in 0..64 {
                        let Ok(msg) = self.rx.try_recv() else { break };
                        if let Some(ack) = self.on_msg(&mut core, msg) {
                            self.shutdown(&mut core).await;
                            let _ = ack.send(());
                            return;
                        }
                    }
                }
                _ = sleep_until(core_deadline) => {
                    core.handle_timeout(Instant::now());
                }
                _ = sleep_until(announce_at) => {
                    self.start_announce(&core);
                }
                _ = status_tick.tick() => {
                    self.publish_status(&mut core, true);
                }
                _ = resume_tick.tick() => {
                    self.save_resume(&core, None);
                }
            }
            self.drain(&mut core);
        }

        self.shutdown(&mut core).await;
    }

    /// Handles one message; `Some(ack)` when the torrent is to stop.
    fn on_msg(&mut self, core: &mut TorrentCore, msg: Msg) -> Option<oneshot::Sender<()>> {
        let now = Instant::now();
        match msg {
            Msg::Core(input) => core.handle_input(input, now),
            Msg::Connected {
                addr,
                stream,
                theirs,
                leftover,
                outbound,
                permit,
            } => match core.add_peer(addr, &theirs, outbound, now) {
                Ok(key) => {
                    let link = peer_io::start(key, stream, leftover, self.s.io.clone(), permit);
                    self.links.insert(key, link);
                }
                Err(e) => tracing::debug!(%addr, "refused: {e}"),
            },
            Msg::Command(c) => match c {
                Command::Stop(ack) => return Some(ack),
                Command::Pause => {
                    if !matches!(self.state, TorrentState::Paused | TorrentState::Error(_)) {
                        core.stop();
                        self.set_state(TorrentState::Paused);
                        self.pending_event = AnnounceEvent::Stopped;
                        self.start_announce(core);
                        self.save_resume(core, None);
                    }
                }
                Command::Resume => {
                    if self.state == TorrentState::Paused {
                        core.start(now);
                        self.set_state(if core.is_complete() {
                            TorrentState::Seeding
                        } else {
                            TorrentState::Downloading
                        });
                        self.pending_event = AnnounceEvent::Started;
                        self.next_announce = Some(now);
                    }
                }
                Command::AddPeers(addrs) => core.handle_input(Input::Peers(addrs), now),
            },
            Msg::Announced {
                tiers,
                event,
                result,
            } => self.on_announced(core, tiers, event, result),
            Msg::Checked { .. } => {}
            Msg::ResumeSaved(r) => {
                self.resume_saving = false;
                if let Err(e) = r {
                    tracing::warn!("saving resume data: {e}");
                }
            }
        }
        None
    }

    /// Carries out everything the core asked for.
    fn drain(&mut self, core: &mut TorrentCore) {
        while let Some(out) = core.poll_output() {
            match out {
                Output::Transmit { peer, segments } => {
                    if let Some(l) = self.links.get(&peer) {
                        let _ = l.writer.send(segments);
                    }
                }
                Output::Disconnect { peer } => {
                    if let Some(l) = self.links.remove(&peer) {
                        l.close();
                    }
                }
                Output::Connect(addr) => self.dial(addr),
                work @ (Output::VerifyWrite { .. }
                | Output::Decode { .. }
                | Output::Read(_)
                | Output::PrepareEncoder(_)) => {
                    let storage = self.s.storage.clone();
                    let tx = self.s.io.to_torrent.clone();
                    self.s.workers.submit(move || {
                        if let Ok(input) = jobs::perform(&*storage, work) {
                            let _ = tx.blocking_send(Msg::Core(input));
                        }
                    });
                }
                Output::Event(e) => self.on_core_event(core, e),
            }
        }
    }

    fn on_core_event(&mut self, core: &mut TorrentCore, e: CoreEvent) {
        let ev = match e {
            CoreEvent::PieceVerified(p) => {
                self.resume_dirty = true;
                TorrentEvent::PieceVerified(p)
            }
            CoreEvent::HashFailed { piece, senders } => {
                tracing::warn!(?senders, "piece {piece} failed its hash");
                TorrentEvent::HashFailed { piece }
            }
            CoreEvent::Completed => {
                tracing::info!("{}: download complete", self.s.meta.name());
                self.set_state(TorrentState::Seeding);
                self.pending_event = AnnounceEvent::Completed;
                self.next_announce = Some(Instant::now());
                self.save_resume(core, None);
                // The status as of completion, exact, rather than up to a second old, and
                // before the event, so that a watcher that stops there reads it (in the
                // watch only: the event stream says Completed next, not a status first).
                self.publish_status(core, false);
                TorrentEvent::Completed
            }
            CoreEvent::PeerConnected(a) => TorrentEvent::PeerConnected(a),
            CoreEvent::PeerDisconnected { addr, .. } => TorrentEvent::PeerDisconnected(addr),
            CoreEvent::PeerBanned { addr, reason } => TorrentEvent::PeerBanned { addr, reason },
            CoreEvent::DhtNode(node) => {
                if let Some(d) = &self.s.dht {
                    d.heard_of(node);
                }
                return;
            }
            CoreEvent::StorageFailed(e) => {
                // Pieces being written when the first write failed fail too: the torrent
                // stopped once, and says so once (fail() sends the Error event).
                if !matches!(self.state, TorrentState::Error(_)) {
                    for (_, l) in self.links.drain() {
                        l.close();
                    }
                    self.save_resume(core, None);
                    self.fail(e);
                }
                return;
            }
        };
        let _ = self.s.events.send(ev);
    }

    fn dial(&mut self, addr: SocketAddr) {
        let tx = self.s.io.to_torrent.clone();
        let Ok(permit) = self.s.connections.clone().try_acquire_owned() else {
            // The session is at its connection limit: try again later.
            let _ = tx.try_send(Msg::Core(Input::ConnectFailed(addr)));
            return;
        };
        let mut ours = ConnectionConfig::default().handshake(self.info_hash, self.s.core.peer_id);
        // The DHT bit says we run a node: only when we do.
        ours.reserved = ours.reserved.with_dht(self.s.core.dht_port.is_some());
        let timeout = self.s.connect_timeout;
        tokio::spawn(async move {
            match peer_io::dial(addr, ours, timeout).await {
                Ok((stream, theirs, leftover)) => {
                    let _ = tx
                        .send(Msg::Connected {
                            addr,
                            stream,
                            theirs,
                            leftover,
                            outbound: true,
                            permit: Some(permit),
                        })
                        .await;
                }
                Err(e) => {
                    tracing::debug!(%addr, "connect failed: {e}");
                    let _ = tx.send(Msg::Core(Input::ConnectFailed(addr))).await;
                }
            }
        });
    }

    fn announce_request(&self, core: &TorrentCore, event: AnnounceEvent) -> AnnounceRequest {
        let st = core.stats();
        AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.s.core.peer_id,
            port: self.s.core.listen_port,
            uploaded: st.uploaded,
            downloaded: st.downloaded,
            left: core.left(),
            event,
            numwant: Some(if event == AnnounceEvent::Stopped {
                0
            } else {
                80
            }),
            compact: true,
            no_peer_id: true,
            key: Some(self.s.announce_key),
            ip: self.s.announce_ip,
        }
    }

    fn start_announce(&mut self, core: &TorrentCore) {
        let (Some(client), Some(mut tiers)) = (self.s.tracker.clone(), self.tiers.take()) else {
            return;
        };
        self.next_announce = None;
        let event = std::mem::replace(&mut self.pending_event, AnnounceEvent::None);
        let req = self.announce_request(core, event);
        let tx = self.s.io.to_torrent.clone();
        tokio::spawn(async move {
            let result = tiers
                .announce(&client, &req)
                .await
                .map_err(|e| e.to_string());
            let _ = tx
                .send(Msg::Announced {
                    tiers,
                    event,
                    result,
                })
                .await;
        });
    }

    fn on_announced(
        &mut self,
        core: &mut TorrentCore,
        tiers: TrackerTiers,
        event: AnnounceEvent,
        result: Result<(String, AnnounceResponse), String>,
    ) {
        self.tiers = Some(tiers);
        let now = Instant::now();
        match result {
            Ok((url, resp)) => {
                self.announce_failures = 0;
                let n = resp.peers.len();
                tracing::debug!(%url, peers = n, "announced");
                let _ = self
                    .s
                    .events
                    .send(TorrentEvent::TrackerAnnounced { url, peers: n });
                let addrs = resp.peers.iter().map(|p| p.addr).collect();
                core.handle_input(Input::Peers(addrs), now);
                let interval =
                    u64::from(resp.interval.max(resp.min_interval.unwrap_or(0))).clamp(30, 3600);
                if event != AnnounceEvent::Stopped && core.is_active() {
                    // A completed event queued meanwhile goes out at once.
                    let due = if self.pending_event == AnnounceEvent::None {
                        now + Duration::from_secs(interval)
                    } else {
                        now
                    };
                    self.next_announce = Some(due);
                }
            }
            Err(e) => {
                tracing::warn!("{}: tracker: {e}", self.s.meta.name());
                let _ = self.s.events.send(TorrentEvent::TrackerFailed(e));
                if event != AnnounceEvent::None && self.pending_event == AnnounceEvent::None {
                    // The event still has to reach the tracker once it answers.
                    self.pending_event = event;
                }
                self.announce_failures += 1;
                let backoff = Duration::from_secs(15u64 << self.announce_failures.min(7));
                if event != AnnounceEvent::Stopped && core.is_active() {
                    self.next_announce = Some(now + backoff.min(Duration::from_secs(1800)));
                }
            }
        }
    }

    /// Publishes the status: to the watch, and as a `Status` event when `event`.
    fn publish_status(&mut self, core: &mut TorrentCore, event: bool) {
        let now = Instant::now();
        let (down, up) = core.rates(now);
        let st = core.stats();
        let meta = &self.s.meta;
        let have = core.have();
        let bytes_have: u64 = have
            .iter_ones()
            .map(|p| meta.piece_size(p).unwrap_or(0))
            .sum();
        let left = meta.total_length() - bytes_have;
        let status = TorrentStatus {
            info_hash: self.info_hash,
            name: meta.name().to_string(),
            state: self.state.clone(),
            pieces_have: have.count_ones(),
            pieces_total: meta.piece_count(),
            bytes_have,
            bytes_total: meta.total_length(),
            down_rate: down,
            up_rate: up,
            downloaded: st.downloaded,
            uploaded: st.uploaded,
            redundant: st.redundant,
            hash_failures: st.hash_failures,
            peers: core.peer_count(),
            seeds: core.seed_count(),
            eta: (down > 0 && left > 0).then(|| Duration::from_secs(left / down)),
            active_for: now - self.started,
            peer_list: core.peer_summaries(now),
            stats: st,
        };
        let _ = self.s.status.send(status.clone());
        if event {
            let _ = self.s.events.send(TorrentEvent::Status(Box::new(status)));
        }
    }

    /// Writes resume data on a worker (after flushing the files); `done` is told when it is
    /// written. Skipped when nothing changed or a save is under way.
    fn save_resume(&mut self, core: &TorrentCore, done: Option<oneshot::Sender<()>>) {
        let Some(path) = self.s.resume_path.clone() else {
            if let Some(d) = done {
                let _ = d.send(());
            }
            return;
        };
        if (!self.resume_dirty || self.resume_saving) && done.is_none() {
            return;
        }
        self.resume_dirty = false;
        self.resume_saving = true;
        let storage = self.s.storage.clone();
        let info_hash = self.info_hash;
        let have = core.have().clone();
        let tx = self.s.io.to_torrent.clone();
        self.s.workers.submit(move || {
            let r = save_resume(&storage, &path, info_hash, have);
            match done {
                Some(d) => {
                    let _ = d.send(());
                    if let Err(e) = r {
                        tracing::warn!("saving resume data: {e}");
                    }
                }
                None => {
                    let _ = tx.blocking_send(Msg::ResumeSaved(r));
                }
            }
        });
    }

    async fn shutdown(&mut self, core: &mut TorrentCore) {
        let was_active = core.is_active();
        core.stop();
        self.drain(core);
        for (_, l) in self.links.drain() {
            l.close();
        }
        if was_active {
            self.final_announces(core).await;
        }
        let (tx, rx) = oneshot::channel();
        self.resume_dirty = true;
        self.save_resume(core, Some(tx));
        let _ = rx.await;
        self.s.storage.close();
        self.set_state(TorrentState::Stopped);
        self.publish_idle();
    }
}

impl Task {
    /// The `stopped` announce, after the announce under way or still due: stopping right
    /// after a download completed (`--exit-on-complete`) must not lose the `completed`
    /// event, by which trackers such as opentracker count downloads. All within
    /// [`STOP_ANNOUNCE_TIMEOUT`].
    async fn final_announces(&mut self, core: &TorrentCore) {
        // Without trackers (or a client) there are no tiers to wait for.
        let Some(client) = self.s.tracker.clone() else {
            return;
        };
        if self.s.meta.trackers().is_empty() {
            return;
        }
        let deadline = tokio::time::Instant::now() + STOP_ANNOUNCE_TIMEOUT;
        // An announce under way has the tiers; it sends them back. Bounded by the
        // deadline; every pass takes one message (the peers are closed: the rest is moot).
        while self.tiers.is_none() {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(Msg::Announced {
                    tiers,
                    event,
                    result,
                })) => {
                    self.tiers = Some(tiers);
                    if result.is_err() && self.pending_event == AnnounceEvent::None {
                        self.pending_event = event;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return,
            }
        }
        let Some(mut tiers) = self.tiers.take() else {
            return;
        };
        if self.pending_event == AnnounceEvent::Completed {
            let req = self.announce_request(core, AnnounceEvent::Completed);
            let _ = tokio::time::timeout_at(deadline, tiers.announce(&client, &req)).await;
        }
        let req = self.announce_request(core, AnnounceEvent::Stopped);
        let _ = tokio::time::timeout_at(deadline, tiers.announce(&client, &req)).await;
    }
}

fn save_resume(
    storage: &Storage,
    path: &std::path::Path,
    info_hash: InfoHash,
    have: Bitfield,
) -> Result<(), String> {
    storage.sync().map_err(|e| e.to_string())?;
    let r = ResumeData {
        info_hash,
        have,
        files: storage.stamps(),
    };
    r.save(path).map_err(|e| e.to_string())
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
