//! BEP 15 client: connect, then announce or scrape, each attempt `n` waiting
//! `base * 2^n` before retransmitting, a fresh connect when the id is a minute old.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bf_metainfo::InfoHash;
use tokio::net::UdpSocket;

use super::{ClientConfig, TrackerError};
use crate::types::{AnnounceRequest, AnnounceResponse, PeerAddr, ScrapeResponse};
use crate::udp_codec::{UdpAnnounce, UdpRequest, UdpResponse, MAX_UDP_SCRAPE};

/// A connection id is reused for this long (BEP 15: one minute).
const CONN_ID_LIFE: Duration = Duration::from_secs(60);

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

struct Session {
    sock: UdpSocket,
    v6: bool,
    cfg: ClientConfig,
    conn: Option<(u64, Instant)>,
}

impl Session {
    async fn open(cfg: &ClientConfig, url: &str) -> Result<Session, TrackerError> {
        let target = resolve(url).await?;
        let local = if target.is_ipv6() {
            SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0))
        } else {
            SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0))
        };
        let sock = UdpSocket::bind(local).await?;
        sock.connect(target).await?;
        Ok(Session {
            sock,
            v6: target.is_ipv6(),
            cfg: cfg.clone(),
            conn: None,
        })
    }

    fn timeout(&self, attempt: u32) -> Duration {
        self.cfg
            .udp_base_timeout
            .saturating_mul(1u32 << attempt.min(16))
    }

    /// Sends `req` and waits up to `wait` for the answer with its transaction id.
    async fn exchange(
        &self,
        req: &UdpRequest,
        txn: u32,
        wait: Duration,
    ) -> Result<Option<UdpResponse>, TrackerError> {
        let mut out = Vec::with_capacity(128);
        req.write(&mut out);
        self.sock.send(&out).await?;
        let deadline = tokio::time::Instant::now() + wait;
        let mut buf = vec![0u8; 65_536];
        // Bounded: every pass either returns or consumes a datagram before the deadline.
        loop {
            let n = match tokio::time::timeout_at(deadline, self.sock.recv(&mut buf)).await {
                Err(_) => return Ok(None),
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    // ICMP port unreachable: treat as silence, the BEP's retries apply.
                    tokio::time::sleep_until(deadline).await;
                    return Ok(None);
                }
                Ok(r) => r?,
            };
            match UdpResponse::parse(&buf[..n], self.v6) {
                Ok(r) if r.transaction_id() == txn => return Ok(Some(r)),
                _ => continue,
            }
        }
    }

    /// Runs `make(conn_id, txn)` with connects and retransmissions as BEP 15 says.
    async fn request(
        &mut self,
        make: impl Fn(u64, u32) -> UdpRequest,
    ) -> Result<UdpResponse, TrackerError> {
        let mut attempt = 0;
        while attempt <= self.cfg.udp_max_retries {
            let conn = match self.conn {
                Some((id, at)) if at.elapsed() < CONN_ID_LIFE => id,
                _ => {
                    let txn: u32 = rand::random();
                    let wait = self.timeout(attempt);
                    match self
                        .exchange(
                            &UdpRequest::Connect {
                                transaction_id: txn,
                            },
                            txn,
                            wait,
                        )
                        .await?
                    {
                        Some(UdpResponse::Connect { connection_id, .. }) => {
                            self.conn = Some((connection_id, Instant::now()));
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
            let txn: u32 = rand::random();
            match self
                .exchange(&make(conn, txn), txn, self.timeout(attempt))
                .await?
            {
                Some(r) => return Ok(r),
                None => {
                    attempt += 1;
                    // The id may have expired on the tracker's side while we waited.
                    self.conn = None;
                }
            }
        }
        Err(TrackerError::Timeout)
    }
}

pub(super) async fn announce(
    cfg: &ClientConfig,
    url: &str,
    req: &AnnounceRequest,
) -> Result<AnnounceResponse, TrackerError> {
    let mut s = Session::open(cfg, url).await?;
    let ip = match req.ip {
        Some(std::net::IpAddr::V4(v4)) => u32::from(v4),
        _ => 0,
    };
    let resp = s
        .request(|connection_id, transaction_id| {
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
        UdpResponse::Error { message, .. } => Err(TrackerError::Refused(message)),
        _ => Err(TrackerError::Unexpected),
    }
}

pub(super) async fn scrape(
    cfg: &ClientConfig,
    url: &str,
    hashes: &[InfoHash],
) -> Result<ScrapeResponse, TrackerError> {
    if hashes.is_empty() || hashes.len() > MAX_UDP_SCRAPE {
        return Err(TrackerError::Udp(crate::udp_codec::UdpError::BadScrape));
    }
    let mut s = Session::open(cfg, url).await?;
    let resp = s
        .request(|connection_id, transaction_id| UdpRequest::Scrape {
            connection_id,
            transaction_id,
            info_hashes: hashes.to_vec(),
        })
        .await?;
    match resp {
        UdpResponse::Scrape { stats, .. } => Ok(ScrapeResponse {
            files: hashes.iter().copied().zip(stats).collect(),
        }),
        UdpResponse::Error { message, .. } => Err(TrackerError::Refused(message)),
        _ => Err(TrackerError::Unexpected),
    }
}
