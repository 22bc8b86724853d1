//! BEP 15 client: connect, then announce or scrape, attempt `n` waiting `base * 2^n` before
//! retransmitting.
//!
//! A [`TrackerClient`](super::TrackerClient) and its clones share one UDP socket per
//! address family and a cache of connection ids by tracker address, so a second request to
//! the same tracker within a minute sends no connect. The shared socket matters for that:
//! a tracker may tie an id to the source port as well as the address (ours does), and a
//! fresh socket per request would present a new port each time. Answers are matched to
//! requests by transaction id and source address; whichever request is reading the socket
//! hands the others' answers over.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bf_metainfo::InfoHash;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{ClientConfig, TrackerError};
use crate::types::{AnnounceRequest, AnnounceResponse, PeerAddr, ScrapeResponse};
use crate::udp_codec::{UdpAnnounce, UdpRequest, UdpResponse, MAX_UDP_SCRAPE};

/// A connection id is reused for this long (BEP 15: one minute).
pub(super) const CONN_ID_LIFE: Duration = Duration::from_secs(60);

/// Largest datagram read; a BEP 15 answer is at most a UDP payload.
const MAX_DATAGRAM: usize = 65_536;

/// How long each attempt waits and how many retransmissions follow the first.
#[derive(Debug, Clone, Copy)]
pub(super) struct Retry {
    pub base: Duration,
    pub retries: u32,
}

impl Retry {
    /// The whole BEP 15 schedule (`udp_base_timeout`, `udp_max_retries`).
    pub fn full(cfg: &ClientConfig) -> Self {
        Retry {
            base: cfg.udp_base_timeout,
            retries: cfg.udp_max_retries,
        }
    }

    /// The bounded attempt of a tier walk (`udp_walk_timeout`, `udp_walk_retries`).
    pub fn walk(cfg: &ClientConfig) -> Self {
        Retry {
            base: cfg.udp_walk_timeout,
            retries: cfg.udp_walk_retries,
        }
    }

    fn timeout(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1u32 << attempt.min(16))
    }
}

/// Connection ids by tracker address, each with when it was received.
#[derive(Debug, Default)]
pub(super) struct ConnCache {
    ids: HashMap<SocketAddr, (u64, Instant)>,
}

impl ConnCache {
    /// The id for `tracker` if it is younger than [`CONN_ID_LIFE`] at `now`.
    pub fn get(&mut self, tracker: SocketAddr, now: Instant) -> Option<u64> {
        match self.ids.get(&tracker) {
            Some(&(id, at)) if now.saturating_duration_since(at) < CONN_ID_LIFE => Some(id),
            Some(_) => {
                self.ids.remove(&tracker);
                None
            }
            None => None,
        }
    }

    /// Records an id received at `now`; expired entries go, so the map holds only the
    /// trackers of the last minute.
    pub fn put(&mut self, tracker: SocketAddr, id: u64, now: Instant) {
        self.ids
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < CONN_ID_LIFE);
        self.ids.insert(tracker, (id, now));
    }

    /// Drops the id for `tracker` (it was refused, or the tracker went silent).
    pub fn forget(&mut self, tracker: SocketAddr) {
        self.ids.remove(&tracker);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// A bound socket and the requests waiting for answers on it.
struct Endpoint {
    sock: UdpSocket,
    waiting: Mutex<HashMap<u32, Waiter>>,
}

struct Waiter {
    tracker: SocketAddr,
    tx: Option<oneshot::Sender<UdpResponse>>,
}

/// Removes a request's entry however its future ends (answer, timeout or cancellation).
struct Registration<'a> {
    ep: &'a Endpoint,
    txn: u32,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.ep.waiting().remove(&self.txn);
    }
}

impl Endpoint {
    fn bind(v6: bool) -> std::io::Result<Endpoint> {
        let local = if v6 {
            SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        };
        let std_sock = std::net::UdpSocket::bind(local)?;
        std_sock.set_nonblocking(true)?;
        Ok(Endpoint {
            sock: UdpSocket::from_std(std_sock)?,
            waiting: Mutex::new(HashMap::new()),
        })
    }

    fn waiting(&self) -> MutexGuard<'_, HashMap<u32, Waiter>> {
        // The map is consistent after every statement, so a panic elsewhere leaves it usable.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A transaction id no other request on this socket is using, and the answer's mailbox.
    fn register(&self, tracker: SocketAddr) -> (Registration<'_>, oneshot::Receiver<UdpResponse>) {
        let (tx, rx) = oneshot::channel();
        let mut w = self.waiting();
        let mut txn: u32 = rand::random();
        while w.contains_key(&txn) {
            txn = rand::random();
        }
        w.insert(
            txn,
            Waiter {
                tracker,
                tx: Some(tx),
            },
        );
        (Registration { ep: self, txn }, rx)
    }

    /// Hands an answer to the request it belongs to; strays and forgeries from another
    /// address are dropped.
    fn deliver(&self, from: SocketAddr, r: UdpResponse) {
        let mut w = self.waiting();
        if let Some(waiter) = w.get_mut(&r.transaction_id()) {
            if same_host_port(waiter.tracker, from) {
                if let Some(tx) = waiter.tx.take() {
                    let _ = tx.send(r);
                }
            }
        }
    }
}

fn same_host_port(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

/// What a [`TrackerClient`](super::TrackerClient) and its clones share for UDP.
#[derive(Default)]
pub(super) struct UdpShared {
    conns: Mutex<ConnCache>,
    /// IPv4 and IPv6 sockets, bound on first use.
    endpoints: Mutex<[Option<Arc<Endpoint>>; 2]>,
}

impl UdpShared {
    fn conns(&self) -> MutexGuard<'_, ConnCache> {
        self.conns.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn endpoint(&self, v6: bool) -> std::io::Result<Arc<Endpoint>> {
        let mut eps = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        let slot = &mut eps[usize::from(v6)];
        match slot {
            Some(ep) => Ok(ep.clone()),
            None => {
                let ep = Arc::new(Endpoint::bind(v6)?);
                *slot = Some(ep.clone());
                Ok(ep)
            }
        }
    }

    /// Drops a socket that failed, so the next request binds a new one (its ids may be
    /// tied to the old port, but a refused id is retried with a fresh connect anyway).
    fn discard(&self, ep: &Arc<Endpoint>) {
        let mut eps = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        for slot in eps.iter_mut() {
            if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, ep)) {
                *slot = None;
            }
        }
    }

    /// Sends the request `build(txn)` and waits up to `wait` for its answer.
    async fn exchange(
        &self,
        ep: &Arc<Endpoint>,
        tracker: SocketAddr,
        wait: Duration,
        build: impl FnOnce(u32) -> UdpRequest,
    ) -> Result<Option<UdpResponse>, TrackerError> {
        let (reg, mut rx) = ep.register(tracker);
        let mut out = Vec::with_capacity(128);
        build(reg.txn).write(&mut out);
        if let Err(e) = ep.sock.send_to(&out, tracker).await {
            if !is_transient(&e) {
                self.discard(ep);
            }
            return Err(e.into());
        }
        let deadline = Instant::now() + wait;
        let v6 = tracker.is_ipv6();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        // Bounded: every pass either returns or consumes a datagram before the deadline.
        loop {
            tokio::select! {
                r = &mut rx => return Ok(r.ok()),
                r = tokio::time::timeout_at(deadline, ep.sock.recv_from(&mut buf)) => match r {
                    Err(_) => return Ok(None),
                    // ICMP errors of earlier sends (not reported on Linux for an unconnected
                    // socket, but elsewhere): silence, which the retries deal with.
                    Ok(Err(e)) if is_transient(&e) => continue,
                    Ok(Err(e)) => {
                        self.discard(ep);
                        return Err(e.into());
                    }
                    Ok(Ok((n, from))) => {
                        let Ok(r) = UdpResponse::parse(&buf[..n], v6) else {
                            continue;
                        };
                        if r.transaction_id() == reg.txn && same_host_port(tracker, from) {
                            return Ok(Some(r));
                        }
                        ep.deliver(from, r);
                    }
                },
            }
        }
    }

    /// Runs `make(conn_id, txn)` with connects and retransmissions as BEP 15 says, reusing
    /// a cached connection id; an error packet drops it, and if it came from the cache one
    /// fresh connect is tried before the refusal is believed (the tracker may have
    /// restarted, or tie ids to something that changed).
    async fn request(
        &self,
        tracker: SocketAddr,
        retry: Retry,
        make: impl Fn(u64, u32) -> UdpRequest,
    ) -> Result<UdpResponse, TrackerError> {
        let ep = self.endpoint(tracker.is_ipv6())?;
        let mut attempt = 0;
        let mut may_reconnect = true;
        while attempt <= retry.retries {
            let wait = retry.timeout(attempt);
            let cached = self.conns().get(tracker, Instant::now());
            let conn = match cached {
                Some(id) => id,
                None => {
                    let connect = |transaction_id| UdpRequest::Connect { transaction_id };
                    match self.exchange(&ep, tracker, wait, connect).await? {
                        Some(UdpResponse::Connect { connection_id, .. }) => {
                            self.conns().put(tracker, connection_id, Instant::now());
                            connection_id
                        }
                        Some(UdpResponse::Error { message, .. }) => {
                            return Err(TrackerError::Refused(message))
                        }
                        Some(_) => return Err(TrackerError::Unexpected),
                        None => {
                            attempt += 1;
                            continue;
                        }
                    }
                }
            };
            match self
                .exchange(&ep, tracker, wait, |txn| make(conn, txn))
                .await?
            {
                Some(UdpResponse::Error { message, .. }) => {
                    self.conns().forget(tracker);
                    if cached.is_some() && may_reconnect {
                        may_reconnect = false;
                        continue;
                    }
                    return Err(TrackerError::Refused(message));
                }
                Some(r) => return Ok(r),
                None => {
                    attempt += 1;
                    // The id may have expired on the tracker's side while we waited.
                    self.conns().forget(tracker);
                }
            }
        }
        Err(TrackerError::Timeout)
    }

    pub(super) async fn announce(
        &self,
        url: &str,
        retry: Retry,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        let tracker = resolve(url).await?;
        let ip = match req.ip {
            Some(std::net::IpAddr::V4(v4)) => u32::from(v4),
            _ => 0,
        };
        let resp = self
            .request(tracker, retry, |connection_id, transaction_id| {
                UdpRequest::Announce(UdpAnnounce {
                    connection_id,
                    transaction_id,
                    info_hash: req.info_hash,
                    peer_id: req.peer_id,
                    downloaded: req.downloaded,
                    left: req.left,
                    uploaded: req.uploaded,
                    event: req.event,
                    ip,
                    key: req.key.unwrap_or(0),
                    num_want: req.numwant.map_or(-1, |n| n.min(i32::MAX as u32) as i32),
                    port: req.port,
                })
            })
            .await?;
        match resp {
            UdpResponse::Announce {
                interval,
                leechers,
                seeders,
                peers,
                ..
            } => Ok(AnnounceResponse {
                interval,
                min_interval: None,
                complete: seeders,
                incomplete: leechers,
                peers: peers.into_iter().map(PeerAddr::from).collect(),
                warning: None,
            }),
            _ => Err(TrackerError::Unexpected),
        }
    }

    pub(super) async fn scrape(
        &self,
        url: &str,
        retry: Retry,
        hashes: &[InfoHash],
    ) -> Result<ScrapeResponse, TrackerError> {
        if hashes.is_empty() || hashes.len() > MAX_UDP_SCRAPE {
            return Err(TrackerError::Udp(crate::udp_codec::UdpError::BadScrape));
        }
        let tracker = resolve(url).await?;
        let resp = self
            .request(tracker, retry, |connection_id, transaction_id| {
                UdpRequest::Scrape {
                    connection_id,
                    transaction_id,
                    info_hashes: hashes.to_vec(),
                }
            })
            .await?;
        match resp {
            UdpResponse::Scrape { stats, .. } => Ok(ScrapeResponse {
                files: hashes.iter().copied().zip(stats).collect(),
            }),
            _ => Err(TrackerError::Unexpected),
        }
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionReset | Interrupted | WouldBlock
    )
}

async fn resolve(url: &str) -> Result<SocketAddr, TrackerError> {
    let u = super::url::parse(url).map_err(|reason| TrackerError::BadUrl {
        url: url.into(),
        reason,
    })?;
    let port = u.port.ok_or_else(|| TrackerError::BadUrl {
        url: url.into(),
        reason: super::TrackerUrlError::UdpNeedsPort,
    })?;
    let mut addrs = tokio::net::lookup_host((u.host, port)).await?;
    addrs.next().ok_or_else(|| {
        TrackerError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} has no address", u.host),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids_live_one_minute_and_expired_ones_are_pruned() {
        let t0 = Instant::now();
        let a: SocketAddr = "192.0.2.1:6969".parse().unwrap_or_else(|_| unreachable!());
        let b: SocketAddr = "192.0.2.2:6969".parse().unwrap_or_else(|_| unreachable!());
        let mut c = ConnCache::default();
        assert_eq!(c.get(a, t0), None);
        c.put(a, 7, t0);
        assert_eq!(c.get(a, t0 + Duration::from_secs(59)), Some(7));
        assert_eq!(c.get(a, t0 + CONN_ID_LIFE), None, "a minute old: expired");
        c.put(a, 8, t0);
        c.put(b, 9, t0 + Duration::from_secs(61));
        assert_eq!(c.len(), 1, "a's stale id pruned when b's was stored");
        c.forget(b);
        assert_eq!(c.get(b, t0 + Duration::from_secs(62)), None);
    }

    #[test]
    fn retry_schedule_doubles() {
        let r = Retry {
            base: Duration::from_secs(3),
            retries: 2,
        };
        let total: Duration = (0..=r.retries).map(|n| r.timeout(n)).sum();
        assert_eq!(total, Duration::from_secs(21));
    }
}
