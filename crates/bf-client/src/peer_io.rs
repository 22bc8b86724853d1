//! Sockets: the handshakes, then one reader and one writer task per connection that only
//! move bytes between the socket and the torrent's task.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bf_metainfo::InfoHash;
use bf_wire::{Decoder, Handshake, Limits, LocalExtensions};
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::core::rate::TokenBucket;
use crate::core::{Input, PeerKey};
use crate::torrent::Msg;

/// A shared rate limit (session-wide, up or down).
pub(crate) type Limiter = Option<Arc<Mutex<TokenBucket>>>;

/// Waits as long as the limiter says `bytes` cost.
async fn throttle(limiter: &Limiter, bytes: usize) {
    if let Some(l) = limiter {
        let wait = l
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(Instant::now(), bytes as u64);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeFailure {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Protocol(String),
    #[error("peer is for another torrent")]
    WrongTorrent,
}

/// Reads the peer's 68-byte handshake (what follows it stays in `buf`).
pub(crate) async fn read_handshake(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<Handshake, HandshakeFailure> {
    let mut decoder = Decoder::new(Limits::default(), LocalExtensions::default());
    // Bounded: each pass reads at least one byte or returns.
    loop {
        match decoder.decode_handshake(buf) {
            Ok(Some(hs)) => return Ok(hs),
            Ok(None) => {}
            Err(e) => return Err(HandshakeFailure::Protocol(e.to_string())),
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(HandshakeFailure::Protocol(
                "closed during the handshake".into(),
            ));
        }
    }
}

/// Reads just enough of an incoming connection to know which torrent it wants.
pub(crate) async fn peek_info_hash(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<InfoHash, HandshakeFailure> {
    let decoder = Decoder::new(Limits::default(), LocalExtensions::default());
    loop {
        match decoder.peek_info_hash(buf) {
            Ok(Some(h)) => return Ok(h),
            Ok(None) => {}
            Err(e) => return Err(HandshakeFailure::Protocol(e.to_string())),
        }
        if stream.read_buf(buf).await? == 0 {
            return Err(HandshakeFailure::Protocol(
                "closed during the handshake".into(),
            ));
        }
    }
}

/// Dials `addr`, exchanges handshakes for `ours.info_hash`; the stream, the peer's
/// handshake and any bytes that followed it.
pub(crate) async fn dial(
    addr: SocketAddr,
    ours: Handshake,
    timeout: Duration,
) -> Result<(TcpStream, Handshake, BytesMut), HandshakeFailure> {
    let run = async {
        let mut stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        stream.write_all(&ours.to_bytes()).await?;
        let mut buf = BytesMut::with_capacity(1024);
        let theirs = read_handshake(&mut stream, &mut buf).await?;
        if theirs.info_hash != ours.info_hash {
            return Err(HandshakeFailure::WrongTorrent);
        }
        Ok((stream, theirs, buf))
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| HandshakeFailure::Timeout)?
}

/// A started connection: how the torrent task sends to it and stops it.
#[derive(Debug)]
pub(crate) struct PeerLink {
    pub writer: mpsc::UnboundedSender<Vec<Bytes>>,
    reader: tokio::task::AbortHandle,
}

impl PeerLink {
    /// Closes the connection (the writer stops once its queue is dropped).
    pub fn close(self) {
        self.reader.abort();
    }
}

/// Limits and channels a connection's tasks share.
#[derive(Clone)]
pub(crate) struct IoContext {
    pub to_torrent: mpsc::Sender<Msg>,
    pub up: Limiter,
    pub down: Limiter,
}

/// Unsent bytes a socket may hold in the kernel (TCP_NOTSENT_LOWAT), at the most and at
/// the least; between them a tenth of a second of what the socket takes.
const KERNEL_UNSENT: usize = 128 * 1024;
const KERNEL_UNSENT_MIN: usize = 16 * 1024;
/// How often the writer measures what its socket takes.
const RATE_WINDOW: Duration = Duration::from_millis(250);

/// Size of each read buffer allocation: reads fill it piece by piece, and the blocks cut
/// from it are zero-copy slices until their piece is written.
const READ_CHUNK: usize = 128 * 1024;
/// Read into a fresh allocation when less than this is left in the current one.
const MIN_READ_ROOM: usize = 32 * 1024;

/// Starts the reader and writer tasks of connection `key`; `leftover` holds bytes that
/// arrived after the handshake.
pub(crate) fn start(
    key: PeerKey,
    stream: TcpStream,
    leftover: BytesMut,
    ctx: IoContext,
    permit: Option<OwnedSemaphorePermit>,
) -> PeerLink {
    // Keep little unsent in the kernel's send buffer, which otherwise grows to megabytes on
    // a slow link: bytes there can no longer be cancelled, and the core's count of what is
    // queued for the peer would say nothing about what really left. The writer shrinks it
    // to what its socket takes.
    let _ = socket2::SockRef::from(&stream).set_tcp_notsent_lowat(KERNEL_UNSENT as u32);
    let (read, write) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let permit = Arc::new(permit);
    let reader = tokio::spawn(read_loop(key, read, leftover, ctx.clone(), permit.clone()));
    tokio::spawn(write_loop(key, write, rx, ctx, permit));
    PeerLink {
        writer: tx,
        reader: reader.abort_handle(),
    }
}

async fn read_loop(
    key: PeerKey,
    mut read: OwnedReadHalf,
    leftover: BytesMut,
    ctx: IoContext,
    _permit: Arc<Option<OwnedSemaphorePermit>>,
) {
    if !leftover.is_empty()
        && ctx
            .to_torrent
            .send(Msg::Core(Input::Data {
                peer: key,
                bytes: leftover,
            }))
            .await
            .is_err()
    {
        return;
    }
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() - buf.len() < MIN_READ_ROOM {
            buf = BytesMut::with_capacity(READ_CHUNK);
        }
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                throttle(&ctx.down, n).await;
                let bytes = buf.split();
                // A bounded channel: a torrent task that falls behind slows the sockets.
                if ctx
                    .to_torrent
                    .send(Msg::Core(Input::Data { peer: key, bytes }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    let _ = ctx
        .to_torrent
        .send(Msg::Core(Input::Closed { peer: key }))
        .await;
}

async fn write_loop(
    key: PeerKey,
    mut write: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<Bytes>>,
    ctx: IoContext,
    _permit: Arc<Option<OwnedSemaphorePermit>>,
) {
    // With an upload limit, bytes go out in slices of a twentieth of a second of the rate:
    // the peer sees a steady stream (a burst followed by a long pause looks like a stall),
    // and what is queued here stays small enough for a CANCEL to still catch most of it.
    let slice = ctx.up.as_ref().map(|l| {
        let rate = l.lock().unwrap_or_else(|e| e.into_inner()).rate();
        ((rate / 20) as usize).max(16 * 1024)
    });
    let mut unsent = UnsentLimit::new(Instant::now());
    while let Some(mut segments) = rx.recv().await {
        // Take whatever else is queued too: one vectored write for all of it.
        while let Ok(more) = rx.try_recv() {
            segments.extend(more);
        }
        let mut rest = segments.into_iter().peekable();
        // Bounded: every pass takes at least one segment.
        while rest.peek().is_some() {
            let mut part = Vec::new();
            let mut bytes = 0;
            while let Some(s) =
                rest.next_if(|s| slice.is_none_or(|max| bytes == 0 || bytes + s.len() <= max))
            {
                bytes += s.len();
                part.push(s);
            }
            throttle(&ctx.up, bytes).await;
            if write_all_vectored(&mut write, &mut part).await.is_err() {
                let _ = ctx
                    .to_torrent
                    .send(Msg::Core(Input::Closed { peer: key }))
                    .await;
                return;
            }
            if let Some(lowat) = unsent.written(bytes, Instant::now()) {
                let _ = socket2::SockRef::from(write.as_ref()).set_tcp_notsent_lowat(lowat);
            }
            if ctx
                .to_torrent
                .send(Msg::Core(Input::Flushed { peer: key, bytes }))
                .await
                .is_err()
            {
                return;
            }
        }
    }
    let _ = write.shutdown().await;
}

/// The kernel's share of a connection's unsent bytes, sized to what the socket takes: a
/// slow peer's CANCEL then still finds most of its blocks unsent, and a fast socket is
/// never starved.
struct UnsentLimit {
    since: Instant,
    bytes: usize,
    current: usize,
}

impl UnsentLimit {
    fn new(now: Instant) -> Self {
        UnsentLimit {
            since: now,
            bytes: 0,
            current: KERNEL_UNSENT,
        }
    }

    /// `n` more bytes were written; the new TCP_NOTSENT_LOWAT when it should change.
    fn written(&mut self, n: usize, now: Instant) -> Option<u32> {
        self.bytes += n;
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed < RATE_WINDOW {
            return None;
        }
        let rate = self.bytes as f64 / elapsed.as_secs_f64();
        self.since = now;
        self.bytes = 0;
        // In whole blocks, so that small swings do not reset it every window.
        let want = ((rate / 10.0) as usize)
            .next_multiple_of(16 * 1024)
            .clamp(KERNEL_UNSENT_MIN, KERNEL_UNSENT);
        (want != self.current).then(|| {
            self.current = want;
            want as u32
        })
    }
}

async fn write_all_vectored(
    write: &mut OwnedWriteHalf,
    segments: &mut Vec<Bytes>,
) -> std::io::Result<()> {
    let mut first = 0;
    // Bounded: every pass writes at least one byte or fails.
    while first < segments.len() {
        let n = {
            let slices: Vec<IoSlice<'_>> = segments[first..]
                .iter()
                .take(64)
                .map(|s| IoSlice::new(s))
                .collect();
            write.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = n;
        while left > 0 && first < segments.len() {
            let s = &mut segments[first];
            if s.len() <= left {
                left -= s.len();
                first += 1;
            } else {
                s.advance(left);
                left = 0;
            }
        }
    }
    segments.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_unsent_share_follows_what_the_socket_takes() {
        let t0 = Instant::now();
        let mut u = UnsentLimit::new(t0);
        // Within a window nothing changes.
        assert_eq!(u.written(1 << 20, t0 + Duration::from_millis(100)), None);
        // 100 KiB/s: a tenth of a second is under a block, so one block.
        let mut u = UnsentLimit::new(t0);
        assert_eq!(
            u.written(25 * 1024, t0 + RATE_WINDOW),
            Some(KERNEL_UNSENT_MIN as u32)
        );
        // 640 KiB/s: 64 KiB; then the same rate again changes nothing.
        let t1 = t0 + RATE_WINDOW;
        assert_eq!(u.written(160 * 1024, t1 + RATE_WINDOW), Some(64 * 1024));
        assert_eq!(u.written(160 * 1024, t1 + 2 * RATE_WINDOW), None);
        // A fast socket gets the most.
        assert_eq!(
            u.written(100 << 20, t1 + 3 * RATE_WINDOW),
            Some(KERNEL_UNSENT as u32)
        );
    }
}
