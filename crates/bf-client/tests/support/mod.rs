//! Shared by the robustness tests: a raw peer that speaks the protocol with bf-wire's codecs
//! over a real loopback socket (so it can send anything, valid or not), a fake seeder built
//! on it, bounded waits for torrent events, and a check that no engine thread panicked.
#![allow(dead_code, clippy::unwrap_used)]

pub mod tmpfs;

use std::net::SocketAddr;
use std::sync::{Mutex, Once};
use std::time::Duration;

use bf_client::{TorrentEvent, TorrentHandle, TorrentState};
use bf_metainfo::{InfoHash, PeerId};
use bf_wire::{Block, BlockRequest, Decoder, Handshake, Limits, LocalExtensions, Message};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::time::Instant;

/// Most messages read while waiting for one thing (on top of the time bound).
const MAX_MESSAGES: usize = 1_000_000;

/// How long a raw peer waits for the session's handshake.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(5);

static PANICS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static HOOK: Once = Once::new();

/// Records panics on engine threads (tokio workers, the hashing and disk workers): a panic
/// there kills a task silently, so tests check [`assert_no_engine_panics`] at the end.
pub fn watch_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            if name.starts_with("tokio-runtime-worker") || name.starts_with("bf-worker") {
                PANICS
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{name}: {info}"));
            }
            previous(info);
        }));
    });
}

/// Fails if any engine thread panicked since the process started.
pub fn assert_no_engine_panics() {
    let p = PANICS.lock().unwrap_or_else(|e| e.into_inner());
    assert!(p.is_empty(), "engine threads panicked: {p:#?}");
}

/// A peer id for raw test peers: recognisable, distinct per `n`.
pub fn raw_id(n: u8) -> PeerId {
    let mut id = *b"-XX0001-hostile00000";
    id[19] = b'0' + n % 10;
    id[18] = b'0' + n / 10 % 10;
    PeerId(id)
}

/// What reading from a raw peer's socket gave.
#[derive(Debug)]
pub enum Recv {
    /// A message from the session.
    Msg(Message),
    /// The session closed the connection (EOF or reset).
    Closed,
    /// Nothing within the time given.
    Timeout,
}

/// One end of a connection to a session, driven by hand.
pub struct RawPeer {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
    /// The session's handshake.
    pub theirs: Handshake,
    /// Our end's address (what the session sees as the peer's address when we dialled).
    pub local: SocketAddr,
}

impl RawPeer {
    /// Dials `addr` and exchanges handshakes for `info_hash` as `id`.
    pub async fn dial(addr: SocketAddr, info_hash: InfoHash, id: PeerId, pieces: u32) -> Self {
        let stream = tokio::time::timeout(HANDSHAKE_WAIT, TcpStream::connect(addr))
            .await
            .expect("connect timed out")
            .expect("connect");
        let local = stream.local_addr().unwrap();
        let mut p = RawPeer::new(stream, local, pieces);
        p.stream
            .write_all(&Handshake::new(info_hash, id).to_bytes())
            .await
            .unwrap();
        p.theirs = p.read_handshake().await.expect("the session's handshake");
        p
    }

    /// Accepts the session's connection on `listener`: reads its handshake, answers as `id`.
    pub async fn accept(listener: &TcpListener, id: PeerId, pieces: u32) -> Self {
        let (stream, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("the session did not dial us")
            .unwrap();
        let local = listener.local_addr().unwrap();
        let mut p = RawPeer::new(stream, local, pieces);
        let theirs = p.read_handshake().await.expect("the session's handshake");
        p.stream
            .write_all(&Handshake::new(theirs.info_hash, id).to_bytes())
            .await
            .unwrap();
        p.theirs = theirs;
        p
    }

    fn new(stream: TcpStream, local: SocketAddr, pieces: u32) -> Self {
        let _ = stream.set_nodelay(true);
        let mut decoder = Decoder::new(Limits::default(), LocalExtensions::default());
        decoder.set_piece_count(pieces);
        RawPeer {
            stream,
            buf: BytesMut::new(),
            decoder,
            theirs: Handshake::new(InfoHash([0; 20]), PeerId([0; 20])),
            local,
        }
    }

    async fn read_handshake(&mut self) -> Option<Handshake> {
        let deadline = Instant::now() + HANDSHAKE_WAIT;
        loop {
            if let Some(h) = self.decoder.decode_handshake(&mut self.buf).unwrap() {
                return Some(h);
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    /// Sends messages, encoded with bf-wire (errors ignored: the session may have closed).
    pub async fn send(&mut self, messages: &[Message]) {
        let mut out = BytesMut::new();
        for m in messages {
            m.encode(&mut out);
        }
        let _ = self.stream.write_all(&out).await;
    }

    /// Sends raw bytes (errors ignored).
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// The next message, or why there is none.
    pub async fn recv(&mut self, within: Duration) -> Recv {
        let deadline = Instant::now() + within;
        loop {
            match self.decoder.decode_message(&mut self.buf) {
                Ok(Some(m)) => return Recv::Msg(m),
                Ok(None) => {}
                Err(e) => panic!("the session sent bytes that do not decode: {e}"),
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Recv::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Recv::Closed,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Whether the session closes the connection within `within` (messages before that are
    /// read and dropped).
    pub async fn expect_closed(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        for _ in 0..MAX_MESSAGES {
            match self
                .recv(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Recv::Msg(_) => {}
                Recv::Closed => return true,
                Recv::Timeout => return false,
            }
        }
        false
    }

    /// The first message matching `want` within `within`; `None` on close or time-out.
    pub async fn wait_for(
        &mut self,
        within: Duration,
        mut want: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        let deadline = Instant::now() + within;
        for _ in 0..MAX_MESSAGES {
            match self
                .recv(deadline.saturating_duration_since(Instant::now()))
                .await
            {
                Recv::Msg(m) if want(&m) => return Some(m),
                Recv::Msg(_) => {}
                Recv::Closed | Recv::Timeout => return None,
            }
        }
        None
    }
}

/// What a fake seeder does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The right bytes.
    Honest,
    /// The right length, every byte flipped.
    Corrupt,
    /// No answer at all (the request stalls).
    Ignore,
}

/// How a fake seeder's run ended.
#[derive(Debug)]
pub struct Served {
    /// The session closed the connection (rather than the time running out).
    pub closed: bool,
    /// Every request received, in order.
    pub requests: Vec<BlockRequest>,
}

/// Plays a seeder of `data` (pieces of `piece_len`) on `peer`: HAVE ALL, UNCHOKE, then each
/// request answered as `policy` says, until the session closes or `within` passes.
pub async fn fake_seed(
    mut peer: RawPeer,
    data: Vec<u8>,
    piece_len: u64,
    within: Duration,
    mut policy: impl FnMut(BlockRequest) -> Answer,
) -> Served {
    peer.send(&[Message::HaveAll, Message::Unchoke]).await;
    let deadline = Instant::now() + within;
    let mut requests = Vec::new();
    for _ in 0..MAX_MESSAGES {
        match peer
            .recv(deadline.saturating_duration_since(Instant::now()))
            .await
        {
            Recv::Msg(Message::Request(r)) => {
                requests.push(r);
                let at = (u64::from(r.piece) * piece_len + u64::from(r.begin)) as usize;
                let Some(bytes) = data.get(at..at + r.length as usize) else {
                    continue;
                };
                let payload = match policy(r) {
                    Answer::Honest => bytes.to_vec(),
                    Answer::Corrupt => bytes.iter().map(|b| !b).collect(),
                    Answer::Ignore => continue,
                };
                peer.send(&[Message::Piece(Block {
                    piece: r.piece,
                    begin: r.begin,
                    data: Bytes::from(payload),
                })])
                .await;
            }
            Recv::Msg(_) => {}
            Recv::Closed => {
                return Served {
                    closed: true,
                    requests,
                }
            }
            Recv::Timeout => break,
        }
    }
    Served {
        closed: false,
        requests,
    }
}

/// The first event matching `want` within `within`.
pub async fn wait_event(
    rx: &mut broadcast::Receiver<TorrentEvent>,
    within: Duration,
    mut want: impl FnMut(&TorrentEvent) -> bool,
) -> Option<TorrentEvent> {
    let deadline = Instant::now() + within;
    for _ in 0..MAX_MESSAGES {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Err(_) => return None,
            Ok(Ok(ev)) if want(&ev) => return Some(ev),
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
        }
    }
    None
}

/// Waits until the torrent's status satisfies `want`, or `within` passes; the last status.
pub async fn wait_status(
    h: &TorrentHandle,
    within: Duration,
    mut want: impl FnMut(&bf_client::TorrentStatus) -> bool,
) -> Result<bf_client::TorrentStatus, bf_client::TorrentStatus> {
    let mut w = h.watch();
    let deadline = Instant::now() + within;
    for _ in 0..MAX_MESSAGES {
        {
            let st = w.borrow_and_update();
            if want(&st) {
                return Ok(st.clone());
            }
        }
        match tokio::time::timeout_at(deadline, w.changed()).await {
            Ok(Ok(())) => {}
            _ => break,
        }
    }
    Err(h.status())
}

/// Waits for the torrent to complete (state seeding) within `within`, with a useful panic.
pub async fn complete(h: &TorrentHandle, within: Duration) {
    match tokio::time::timeout(within, h.wait_complete()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("the torrent stopped: {e}"),
        Err(_) => panic!("not complete in {within:?}: {:?}", h.status()),
    }
    let st = wait_status(h, Duration::from_secs(5), |s| {
        s.state == TorrentState::Seeding
    })
    .await;
    assert!(st.is_ok(), "complete but not seeding: {st:?}");
}

#[allow(unused_imports)]
pub use crate::common::{config, session};
