//! The HTTP listener: `/announce` and `/scrape` answered on a lean HTTP/1.1 path, everything
//! else (the index page, odd requests) handed to the axum router through hyper.
//!
//! Clients announce on a fresh connection each time (libtorrent sends `Connection: close`),
//! so the cost that matters is per connection. hyper and axum spend about 20 µs of CPU per
//! such announce on their connection and request machinery, which put `bf-tracker` 15% behind
//! opentracker (docs/performance.md, "Tracker"). Here a request head is parsed with httparse
//! (the parser hyper itself uses), the sans-IO query parser and response encoder do the rest,
//! and the answer leaves in one write. A request this path does not take — another path or
//! method, a body, a malformed head — goes to hyper together with the bytes already read,
//! so it is answered exactly as before.
//!
//! Accepting runs on a thread of its own, and an announce that is already readable when its
//! connection is accepted is answered on that thread: accept, read, write, close, without
//! the reactor registration, task and wake-ups that cost a tokio connection about as much
//! again (measured: 0.81× opentracker's announces per CPU-second with a task per
//! connection, 1.14–1.28× answered inline).
//!
//! Limits (see `limits.rs`): a connection pays for its first request at accept
//! (`--max-requests-per-ip`); one over the rate is answered `too many requests` if its
//! announce is already there, else closed. A connection that needs a task needs a place
//! among `--max-connections`: when all are taken the one idle longest gives way, and when
//! none is idle the newcomer is closed at once. One answered inline holds nothing past
//! the accept, so it needs no place. No connection outlives [`HEAD_TIMEOUT`] waiting for
//! a request (first or next), nor [`IO_TIMEOUT`] without a byte moving.

use std::future::Future;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::limits::ConnSlot;
use super::{http, unix_now, LimitHit, Shared};
use crate::clf::LogEntry;

/// Longest a client may take to send one request head: a connection that trickles bytes
/// (slowloris) is closed instead of holding a socket.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a connection may go without a byte moving either way while an answer is being
/// written (a client that stops reading) or hyper is serving it.
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest request head taken on this path (a scrape of 300 info-hashes is about 18 KB);
/// larger ones go to hyper, which refuses them with 431.
const MAX_HEAD: usize = 32 << 10;
/// Headers parsed at most; a request with more goes to hyper.
const MAX_HEADERS: usize = 32;

/// Bytes read from a fresh connection on the inline path (an announce is about 300).
const FIRST_READ: usize = 2048;
/// How long shutdown waits for the accept thread to notice.
const ACCEPT_STOP_WAIT: Duration = Duration::from_secs(2);

/// Accepts connections until `shutdown` completes.
///
/// Accepting runs on a thread of its own with a blocking listener: an announce that has
/// already arrived, with `Connection: close` (how clients announce), is answered right there
/// — accept, read, write, close, with no reactor registration, no task and no wake-up.
/// Anything else (a request still on its way, keep-alive, another path) becomes a task on the
/// runtime as before.
pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = listener.into_std()?;
    listener.set_nonblocking(false)?;
    let wake = wake_address(listener.local_addr()?);
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("bf-tracker-accept".into())
            .spawn(move || accept_loop(&listener, &shared, &app, &runtime, &stop))?
    };
    shutdown.await;
    stop.store(true, Ordering::SeqCst);
    // The thread sits in a blocking accept(): a connection of our own wakes it.
    let _ = std::net::TcpStream::connect_timeout(&wake, ACCEPT_STOP_WAIT);
    let deadline = tokio::time::Instant::now() + ACCEPT_STOP_WAIT;
    while !thread.is_finished() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Where to connect to reach a listener bound to `bound` (loopback for a wildcard address).
fn wake_address(bound: SocketAddr) -> SocketAddr {
    let ip = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, bound.port())
}

fn accept_loop(
    listener: &std::net::TcpListener,
    st: &Arc<Shared>,
    app: &Router,
    runtime: &tokio::runtime::Handle,
    stop: &AtomicBool,
) {
    // Tasks spawned from here, and sockets handed to the reactor, belong to the runtime.
    let _runtime = runtime.enter();
    let mut out = Vec::with_capacity(512);
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                if !stop.load(Ordering::SeqCst) {
                    answer_or_spawn(stream, peer, st, app, &mut out);
                }
            }
            // Out of descriptors, or a connection reset before accept: keep serving.
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// The whole answer to a request over `--max-requests-per-ip` on the lean path.
const TOO_MANY_ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
Content-Length: 39\r\nConnection: close\r\n\r\nd14:failure reason17:too many requestse";

/// Logs (once a minute) that an address asks faster than allowed.
fn too_fast(st: &Shared, peer: SocketAddr) {
    st.limit_hit(LimitHit::RequestRate, || {
        format!(
            "{} asked more than {} times in a second (--max-requests-per-ip): its requests \
             are refused",
            peer.ip().to_canonical(),
            st.cfg.limits.requests_per_ip
        )
    });
}

/// A place among `--max-connections` for a connection that needs a task, or `None`
/// (close it).
fn admit(st: &Shared) -> Option<ConnSlot> {
    let max = st.conns.max();
    match st.conns.admit() {
        Ok((slot, false)) => Some(slot),
        Ok((slot, true)) => {
            st.limit_hit(LimitHit::Connections, || {
                format!(
                    "{max} HTTP connections open (--max-connections): the longest idle are \
                     closed for new ones"
                )
            });
            Some(slot)
        }
        Err(()) => {
            st.limit_hit(LimitHit::Connections, || {
                format!(
                    "{max} HTTP connections open (--max-connections), none idle: new ones \
                     are closed at accept"
                )
            });
            None
        }
    }
}

/// Answers a `Connection: close` announce or scrape that is already readable, or hands the
/// connection to a task.
fn answer_or_spawn(
    stream: std::net::TcpStream,
    peer: SocketAddr,
    st: &Arc<Shared>,
    app: &Router,
    out: &mut Vec<u8>,
) {
    // The connection pays for its first request here.
    let allowed = st.rate.allow(peer.ip());
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let mut first = [0u8; FIRST_READ];
    let n = match (&stream).read(&mut first) {
        Ok(0) => return,
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(_) => return,
    };
    let read = &first[..n];
    if let Head::Fast(head) = parse_head(read) {
        // Exactly one request and nothing after it (a full buffer may hide more): closing
        // with unread input would reset the connection and could destroy the answer.
        let alone = head.len == n && n < FIRST_READ;
        if alone && !allowed {
            // Told why, kept alive or not; a fresh socket's buffer takes these bytes.
            too_fast(st, peer);
            let _ = (&stream).write(TOO_MANY_ANSWER);
            return;
        }
        if alone && !head.keep_alive {
            answer(st, read, &head, peer, out);
            let rest = match (&stream).write(out) {
                // The whole answer is in the socket buffer; closing sends it, then FIN.
                Ok(w) if w == out.len() => None,
                Ok(w) => Some(out[w..].to_vec()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Some(out.clone()),
                Err(_) => None,
            };
            // A full scrape grows `out` to megabytes: do not keep that for every announce.
            if out.capacity() > MAX_HEAD {
                *out = Vec::with_capacity(512);
            }
            if let Some(rest) = rest {
                spawn_finish_write(stream, rest, st);
            }
            return;
        }
    }
    if !allowed {
        // Over the rate and no whole announce to answer yet: closing costs least.
        too_fast(st, peer);
        return;
    }
    let Some(slot) = admit(st) else {
        return;
    };
    let Ok(stream) = TcpStream::from_std(stream) else {
        return;
    };
    tokio::spawn(connection(
        stream,
        peer,
        st.clone(),
        app.clone(),
        BytesMut::from(read),
        slot,
    ));
}

/// Sends the rest of an answer the socket buffer did not take at once, within the deadline
/// (it needs a place among `--max-connections`; without one the answer is cut).
fn spawn_finish_write(stream: std::net::TcpStream, rest: Vec<u8>, st: &Shared) {
    let Some(slot) = admit(st) else {
        return;
    };
    let Ok(mut stream) = TcpStream::from_std(stream) else {
        return;
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(IO_TIMEOUT, stream.write_all(&rest)).await;
        drop(slot);
    });
}

/// What the lean path made of one request head.
enum Head {
    /// Not complete yet: read more.
    Partial,
    /// A GET of `/announce` or `/scrape` without a body: answered here.
    Fast(Fast),
    /// Anything else: hyper's business.
    Other,
}

/// An announce or scrape head the lean path answers.
struct Fast {
    /// Head length in bytes.
    len: usize,
    /// `true` for `/announce`, `false` for `/scrape`.
    announce: bool,
    /// Byte range of the query string within the head.
    query: std::ops::Range<usize>,
    /// Byte range of the request target (for the web log).
    target: std::ops::Range<usize>,
    /// HTTP minor version (0 or 1).
    minor: u8,
    /// Whether the client keeps the connection open.
    keep_alive: bool,
}

fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    let (Some("GET"), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Head::Other;
    };
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let announce = match route {
        "/announce" => true,
        "/scrape" => false,
        _ => return Head::Other,
    };
    let mut keep_alive = minor == 1;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") && h.value != b"0"
            || h.name.eq_ignore_ascii_case("transfer-encoding")
        {
            return Head::Other;
        }
        if h.name.eq_ignore_ascii_case("connection") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            if v.contains("close") {
                keep_alive = false;
            } else if v.contains("keep-alive") {
                keep_alive = true;
            }
        }
    }
    // httparse borrows `path` from `buf`: recover its offsets.
    let target_start = path.as_ptr() as usize - buf.as_ptr() as usize;
    let query_start = target_start + route.len() + usize::from(!query.is_empty());
    Head::Fast(Fast {
        len,
        announce,
        query: query_start..query_start + query.len(),
        target: target_start..target_start + path.len(),
        minor,
        keep_alive,
    })
}

/// Serves requests on one connection, starting with the bytes `buf` already read from it.
/// Its first request was paid for at accept; each later one pays its own.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    st: Arc<Shared>,
    app: Router,
    mut buf: BytesMut,
    slot: ConnSlot,
) {
    let mut out = Vec::with_capacity(512);
    let mut paid = true;
    loop {
        // Waiting for the client: this connection may be closed to make room for another.
        slot.idle();
        // One deadline for the whole head, so a client cannot trickle a byte per read forever
        // (and keep-alive cannot idle longer between requests).
        let deadline = tokio::time::Instant::now() + HEAD_TIMEOUT;
        let head = loop {
            match parse_head(&buf) {
                Head::Partial if buf.len() < MAX_HEAD => {}
                Head::Partial => break Head::Other,
                head => break head,
            }
            // The request has usually arrived with the connection: read it without arming a
            // timer, and wait (bounded) only when it has not.
            match stream.try_read_buf(&mut buf) {
                Ok(n) if n > 0 => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                _ => return,
            }
            tokio::select! {
                r = tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)) => match r {
                    Ok(Ok(n)) if n > 0 => {}
                    // Closed, reset or silent past the deadline: nothing to answer.
                    _ => return,
                },
                // Closed for a newcomer while idle.
                () = slot.shed() => return,
            }
        };
        if !slot.busy() {
            return;
        }
        if !std::mem::take(&mut paid) && !st.rate.allow(peer.ip()) {
            too_fast(&st, peer);
            let _ = tokio::time::timeout(IO_TIMEOUT, stream.write_all(TOO_MANY_ANSWER)).await;
            let _ = stream.shutdown().await;
            return;
        }
        let Head::Fast(head) = head else {
            hand_to_hyper(stream, buf.freeze(), peer, app, slot, st).await;
            return;
        };
        answer(&st, &buf, &head, peer, &mut out);
        match tokio::time::timeout(IO_TIMEOUT, stream.write_all(&out)).await {
            Ok(Ok(())) => {}
            _ => return,
        }
        buf.advance(head.len);
        if !head.keep_alive {
            // Closing a socket with unread input resets it, which can destroy the answer in
            // flight: only then say goodbye with an explicit FIN first.
            if !buf.is_empty() {
                let _ = stream.shutdown().await;
            }
            return;
        }
    }
}

/// Writes into `out` the whole HTTP answer to the announce or scrape `head` parsed from
/// `buf`, and logs it.
fn answer(st: &Shared, buf: &[u8], head: &Fast, peer: SocketAddr, out: &mut Vec<u8>) {
    let body = if head.announce {
        http::announce_reply(st, &buf[head.query.clone()], peer).into()
    } else {
        http::scrape_reply(st, &buf[head.query.clone()])
    };
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ");
    out.extend_from_slice(body.len().to_string().as_bytes());
    out.extend_from_slice(if head.keep_alive {
        &b"\r\n\r\n"[..]
    } else {
        &b"\r\nConnection: close\r\n\r\n"[..]
    });
    out.extend_from_slice(&body);
    if let Some(log) = &st.log {
        log.log(LogEntry {
            ip: peer.ip().to_canonical(),
            time: unix_now(),
            request: format!(
                "GET {} HTTP/1.{}",
                String::from_utf8_lossy(&buf[head.target.clone()]),
                head.minor
            ),
            status: 200,
            bytes: body.len(),
        });
    }
}

/// Serves the connection with hyper, starting with the bytes `read` already read from it
/// (whose first request is paid for).
///
/// hyper's header read timeout also runs while a keep-alive connection waits for its next
/// request, so an idle one closes after [`HEAD_TIMEOUT`]; [`Prefixed`] closes one on which
/// no byte moved for [`IO_TIMEOUT`] (a client that does not read its answer).
async fn hand_to_hyper(
    stream: TcpStream,
    read: Bytes,
    peer: SocketAddr,
    app: Router,
    slot: ConnSlot,
    st: Arc<Shared>,
) {
    if !slot.to_hyper() {
        return;
    }
    let slot = Arc::new(slot);
    let first = AtomicBool::new(true);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        let refused = !first.swap(false, Ordering::Relaxed) && !st.rate.allow(peer.ip());
        if refused {
            too_fast(&st, peer);
        }
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move {
            if refused {
                return Ok(http::too_many_requests(req.uri().path()));
            }
            tower_service::Service::call(&mut app, req.map(Body::new)).await
        }
    });
    let io = hyper_util::rt::TokioIo::new(Prefixed {
        read,
        inner: stream,
        slot: slot.clone(),
        stall: Box::pin(tokio::time::sleep(IO_TIMEOUT)),
        stalled: false,
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT);
    // A client that goes away mid-request is its own business; one closed for a newcomer
    // (idle for a second at least) is dropped as it is.
    tokio::select! {
        _ = http.serve_connection(io, service) => {}
        () = slot.shed() => {}
    }
}

/// A stream that first yields bytes already read from it, and fails once no byte has
/// moved either way for [`IO_TIMEOUT`].
struct Prefixed {
    read: Bytes,
    inner: TcpStream,
    slot: Arc<ConnSlot>,
    /// Armed when an operation has to wait, disarmed whenever a byte moves.
    stall: Pin<Box<tokio::time::Sleep>>,
    stalled: bool,
}

impl Prefixed {
    /// Passes on what the socket said, keeping the stall timer.
    fn track<T>(&mut self, cx: &mut Context<'_>, p: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match p {
            Poll::Ready(r) => {
                self.stalled = false;
                self.slot.moved();
                Poll::Ready(r)
            }
            Poll::Pending => {
                if !self.stalled {
                    self.stalled = true;
                    let at = tokio::time::Instant::now() + IO_TIMEOUT;
                    self.stall.as_mut().reset(at);
                }
                match self.stall.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            buf.put_slice(&self.read[..n]);
            self.read.advance(n);
            return Poll::Ready(Ok(()));
        }
        let p = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.track(cx, p)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.track(cx, p)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let p = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.track(cx, p)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_too_many_requests_answer_is_whole() {
        let a = std::str::from_utf8(TOO_MANY_ANSWER).unwrap_or_default();
        let (head, body) = a.split_once("\r\n\r\n").unwrap_or_default();
        assert_eq!(
            body.as_bytes(),
            crate::http_codec::encode_failure(http::TOO_MANY)
        );
        assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn heads_that_take_the_lean_path_and_those_that_do_not() {
        let fast = |h: &[u8]| match parse_head(h) {
            Head::Fast(f) => Some((f.announce, h[f.query].to_vec(), f.keep_alive, f.len)),
            _ => None,
        };
        let h = b"GET /announce?a=1&b=2 HTTP/1.1\r\nHost: x\r\n\r\nGET /next";
        assert_eq!(fast(h), Some((true, b"a=1&b=2".to_vec(), true, 43)));
        let h = b"GET /scrape HTTP/1.0\r\n\r\n";
        assert_eq!(fast(h), Some((false, Vec::new(), false, 24)));
        let h = b"GET /announce?x HTTP/1.1\r\nConnection: close\r\n\r\n";
        assert_eq!(fast(h).map(|f| f.2), Some(false));
        let h = b"GET /announce?x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
        assert_eq!(fast(h).map(|f| f.2), Some(true));
        assert!(matches!(
            parse_head(b"GET /announce?x HTTP/1.1\r\n"),
            Head::Partial
        ));
        for other in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"POST /announce HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET /announce HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET /announcex HTTP/1.1\r\n\r\n",
            b"\x00\x01garbage\r\n\r\n",
        ] {
            assert!(matches!(parse_head(other), Head::Other), "{other:?}");
        }
    }
}
