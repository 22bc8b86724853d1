//! The UDP front end (BEP 15): one receive loop per worker on a shared socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::UdpSocket;

use super::{LimitHit, Shared};
use crate::types::AnnounceRequest;
use crate::udp_codec::{transaction_id_of, UdpRequest, UdpResponse};

/// Largest datagram read; longer ones are cut and then refused by the parser if it matters.
const MAX_PACKET: usize = 2048;

pub(super) async fn serve(shared: Arc<Shared>, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_PACKET];
    let mut out = Vec::with_capacity(4096);
    let mut peers = Vec::with_capacity(256);
    // Ends with the server (the task is aborted at shutdown).
    loop {
        // Datagrams that are already there are read without a future per packet; the
        // reactor is asked only when the socket runs dry (measured: a few % of a core).
        let (n, src) = match sock.try_recv_from(&mut buf) {
            Ok(x) => x,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Err(e) = sock.readable().await {
                    tracing::debug!("udp readable: {e}");
                }
                continue;
            }
            Err(e) => {
                // ICMP errors from earlier sends surface here on Linux; keep serving.
                tracing::debug!("udp recv: {e}");
                continue;
            }
        };
        out.clear();
        peers.clear();
        let v6 = src.ip().to_canonical().is_ipv6();
        let Some(resp) = handle(&shared, &buf[..n], src, &mut peers) else {
            continue;
        };
        resp.write(&mut out, v6);
        // The peer list's buffer serves the next request too.
        if let UdpResponse::Announce { peers: p, .. } = resp {
            peers = p;
        }
        match sock.try_send_to(&out, src) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Err(e) = sock.send_to(&out, src).await {
                    tracing::debug!("udp send to {src}: {e}");
                }
            }
            Err(e) => tracing::debug!("udp send to {src}: {e}"),
        }
    }
}

/// Answers one datagram, or nothing. So that the tracker cannot be used to reflect
/// traffic at a spoofed address, only a well-formed connect (protocol id included) and
/// requests carrying a connection id we issued to that address are answered, and an error
/// answer is never longer than the request; everything else is dropped unanswered, as
/// opentracker does. Each request that would be answered counts against its address's
/// `--max-requests-per-ip` (a connect too); over it, nothing is answered.
pub(crate) fn handle(
    shared: &Shared,
    packet: &[u8],
    src: SocketAddr,
    peers: &mut Vec<SocketAddr>,
) -> Option<UdpResponse> {
    // One clock read a packet: the rate limiter's milliseconds give the seconds too.
    let now_ms = super::limits::unix_ms();
    let now = now_ms / 1000;
    let verified = |connection_id| shared.conn_key.check(connection_id, &src, now);
    let too_fast = || {
        if shared.rate.allow_now(src.ip(), now_ms) {
            return false;
        }
        shared.limit_hit(LimitHit::RequestRate, || {
            format!(
                "{} asked more than {} times in a second (--max-requests-per-ip): its \
                 requests are refused",
                src.ip().to_canonical(),
                shared.cfg.limits.requests_per_ip
            )
        });
        true
    };
    let req = match UdpRequest::parse(packet) {
        Ok(r) => r,
        Err(e) => {
            let id = packet
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)?;
            if !verified(id) || too_fast() {
                return None;
            }
            // Header (action, transaction id) plus a message cut to the request's size.
            let mut message = e.to_string();
            let room = packet.len().saturating_sub(8);
            while message.len() > room {
                message.pop();
            }
            return Some(UdpResponse::Error {
                transaction_id: transaction_id_of(packet),
                message,
            });
        }
    };
    Some(match req {
        UdpRequest::Connect { transaction_id } => {
            if too_fast() {
                return None;
            }
            UdpResponse::Connect {
                transaction_id,
                connection_id: shared.conn_key.issue(&src, now),
            }
        }
        UdpRequest::Announce(a) => {
            if !verified(a.connection_id) || too_fast() {
                return None;
            }
            let req = AnnounceRequest {
                info_hash: a.info_hash,
                peer_id: a.peer_id,
                port: a.port,
                uploaded: a.uploaded,
                downloaded: a.downloaded,
                left: a.left,
                event: a.event,
                numwant: u32::try_from(a.num_want).ok(),
                compact: true,
                no_peer_id: true,
                key: Some(a.key),
                ip: (a.ip != 0).then(|| IpAddr::V4(Ipv4Addr::from(a.ip))),
            };
            match shared.announce_at(&req, src, peers, now) {
                Ok(stats) => {
                    // Only peers of the requester's family fit a BEP 15 answer.
                    let v6 = src.ip().to_canonical().is_ipv6();
                    peers.retain(|p| p.is_ipv6() == v6);
                    UdpResponse::Announce {
                        transaction_id: a.transaction_id,
                        interval: shared.cfg.interval,
                        leechers: stats.incomplete,
                        seeders: stats.complete,
                        peers: std::mem::take(peers),
                    }
                }
                Err(reason) => UdpResponse::Error {
                    transaction_id: a.transaction_id,
                    message: reason.into(),
                },
            }
        }
        UdpRequest::Scrape {
            connection_id,
            transaction_id,
            info_hashes,
        } => {
            if !verified(connection_id) || too_fast() {
                return None;
            }
            // A UDP scrape always names its torrents: only `--scrape none` refuses it.
            if shared.cfg.scrape == super::ScrapeMode::None {
                let mut message = String::from("scrape disabled on this tracker");
                message.truncate(packet.len().saturating_sub(8));
                return Some(UdpResponse::Error {
                    transaction_id,
                    message,
                });
            }
            // BEP 15 answers in request order, one entry each, so refused torrents read 0.
            let stats = info_hashes
                .iter()
                .map(|h| {
                    if shared.is_allowed(h) {
                        shared.shard(h).stats(h)
                    } else {
                        Default::default()
                    }
                })
                .collect();
            UdpResponse::Scrape {
                transaction_id,
                stats,
            }
        }
    })
}
