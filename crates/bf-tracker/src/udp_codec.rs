//! BEP 15 UDP tracker packets, both directions, IPv4 and IPv6 (peer entries of 6 or 18 bytes
//! depending on the address family the request came over).

use std::net::SocketAddr;

use bf_metainfo::{InfoHash, PeerId};

use crate::types::{decode_compact_peers, Event, ScrapeStats};

/// The magic constant of a connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Most info-hashes in one UDP scrape (BEP 15).
pub const MAX_UDP_SCRAPE: usize = 74;

const CONNECT: u32 = 0;
const ANNOUNCE: u32 = 1;
const SCRAPE: u32 = 2;
const ERROR: u32 = 3;

/// Why a UDP packet was refused; the message goes into the error packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdpError {
    /// Shorter than its action requires.
    #[error("packet too short")]
    TooShort,
    /// An action number that does not exist.
    #[error("unknown action")]
    UnknownAction,
    /// A connect without the protocol magic.
    #[error("bad protocol id")]
    BadProtocolId,
    /// An event number outside 0..=3.
    #[error("invalid event")]
    BadEvent,
    /// Port 0 in an announce.
    #[error("invalid port 0")]
    PortZero,
    /// Too many info-hashes, or a length that is not a multiple of 20.
    #[error("bad scrape length")]
    BadScrape,
    /// A response peer list whose length is not a multiple of the entry size.
    #[error("bad peer list length")]
    BadPeers,
}

/// A BEP 15 announce as it travels over UDP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpAnnounce {
    /// The connection id from a connect.
    pub connection_id: u64,
    /// Echoed in the answer.
    pub transaction_id: u32,
    /// The torrent.
    pub info_hash: InfoHash,
    /// The announcing peer.
    pub peer_id: PeerId,
    /// Bytes downloaded.
    pub downloaded: u64,
    /// Bytes left.
    pub left: u64,
    /// Bytes uploaded.
    pub uploaded: u64,
    /// State change.
    pub event: Event,
    /// IPv4 address claimed by the peer, 0 for "use the source".
    pub ip: u32,
    /// Session key.
    pub key: u32,
    /// Peers wanted, -1 for the default.
    pub num_want: i32,
    /// Listening port.
    pub port: u16,
}

/// A request a client sends to a UDP tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpRequest {
    /// Asks for a connection id.
    Connect {
        /// Echoed in the answer.
        transaction_id: u32,
    },
    /// An announce.
    Announce(UdpAnnounce),
    /// A scrape of up to [`MAX_UDP_SCRAPE`] torrents.
    Scrape {
        /// From a connect.
        connection_id: u64,
        /// Echoed in the answer.
        transaction_id: u32,
        /// The torrents.
        info_hashes: Vec<InfoHash>,
    },
}

/// A packet a UDP tracker sends back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UdpResponse {
    /// The connection id to use for the next two minutes at most.
    Connect {
        /// From the request.
        transaction_id: u32,
        /// The id.
        connection_id: u64,
    },
    /// Peers and counts.
    Announce {
        /// From the request.
        transaction_id: u32,
        /// Seconds until the next announce.
        interval: u32,
        /// Leechers.
        leechers: u32,
        /// Seeders.
        seeders: u32,
        /// Peers, all of the request's address family.
        peers: Vec<SocketAddr>,
    },
    /// One entry per requested torrent, in request order.
    Scrape {
        /// From the request.
        transaction_id: u32,
        /// The counters.
        stats: Vec<ScrapeStats>,
    },
    /// A refusal.
    Error {
        /// From the request (0 if it had none).
        transaction_id: u32,
        /// Human-readable reason.
        message: String,
    },
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], i: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(i..i + 8)?.try_into().ok()?))
}
fn h20_at(b: &[u8], i: usize) -> Option<[u8; 20]> {
    b.get(i..i + 20)?.try_into().ok()
}

/// The transaction id of a packet too broken to parse, for its error reply (0 if absent).
pub fn transaction_id_of(packet: &[u8]) -> u32 {
    u32_at(packet, 12).unwrap_or(0)
}

impl UdpRequest {
    /// Parses a request; bytes after an announce (BEP 41 options) are ignored.
    pub fn parse(b: &[u8]) -> Result<Self, UdpError> {
        let short = UdpError::TooShort;
        let connection_id = u64_at(b, 0).ok_or(short.clone())?;
        let action = u32_at(b, 8).ok_or(short.clone())?;
        let transaction_id = u32_at(b, 12).ok_or(short.clone())?;
        match action {
            CONNECT => {
                if connection_id != PROTOCOL_ID {
                    return Err(UdpError::BadProtocolId);
                }
                Ok(UdpRequest::Connect { transaction_id })
            }
            ANNOUNCE => {
                if b.len() < 98 {
                    return Err(short);
                }
                let event = u32_at(b, 80)
                    .and_then(Event::from_udp)
                    .ok_or(UdpError::BadEvent)?;
                let port = u16_at(b, 96).ok_or(short.clone())?;
                if port == 0 {
                    return Err(UdpError::PortZero);
                }
                Ok(UdpRequest::Announce(UdpAnnounce {
                    connection_id,
                    transaction_id,
                    info_hash: InfoHash(h20_at(b, 16).ok_or(short.clone())?),
                    peer_id: PeerId(h20_at(b, 36).ok_or(short.clone())?),
                    downloaded: u64_at(b, 56).ok_or(short.clone())?,
                    left: u64_at(b, 64).ok_or(short.clone())?,
                    uploaded: u64_at(b, 72).ok_or(short.clone())?,
                    event,
                    ip: u32_at(b, 84).ok_or(short.clone())?,
                    key: u32_at(b, 88).ok_or(short.clone())?,
                    num_want: u32_at(b, 92).ok_or(short)? as i32,
                    port,
                }))
            }
            SCRAPE => {
                let rest = &b[16..];
                if rest.is_empty() || rest.len() % 20 != 0 || rest.len() / 20 > MAX_UDP_SCRAPE {
                    return Err(UdpError::BadScrape);
                }
                let info_hashes = rest
                    .chunks_exact(20)
                    .filter_map(InfoHash::from_slice)
                    .collect();
                Ok(UdpRequest::Scrape {
                    connection_id,
                    transaction_id,
                    info_hashes,
                })
            }
            _ => Err(UdpError::UnknownAction),
        }
    }

    /// Appends the wire form to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            UdpRequest::Connect { transaction_id } => {
                out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
                out.extend_from_slice(&CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
            }
            UdpRequest::Announce(a) => {
                out.extend_from_slice(&a.connection_id.to_be_bytes());
                out.extend_from_slice(&ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&a.transaction_id.to_be_bytes());
                out.extend_from_slice(a.info_hash.as_bytes());
                out.extend_from_slice(a.peer_id.as_bytes());
                out.extend_from_slice(&a.downloaded.to_be_bytes());
                out.extend_from_slice(&a.left.to_be_bytes());
                out.extend_from_slice(&a.uploaded.to_be_bytes());
                out.extend_from_slice(&a.event.to_udp().to_be_bytes());
                out.extend_from_slice(&a.ip.to_be_bytes());
                out.extend_from_slice(&a.key.to_be_bytes());
                out.extend_from_slice(&a.num_want.to_be_bytes());
                out.extend_from_slice(&a.port.to_be_bytes());
            }
            UdpRequest::Scrape {
                connection_id,
                transaction_id,
                info_hashes,
            } => {
                out.extend_from_slice(&connection_id.to_be_bytes());
                out.extend_from_slice(&SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                for h in info_hashes {
                    out.extend_from_slice(h.as_bytes());
                }
            }
        }
    }
}

impl UdpResponse {
    /// The transaction id the packet answers.
    pub fn transaction_id(&self) -> u32 {
        match self {
            UdpResponse::Connect { transaction_id, .. }
            | UdpResponse::Announce { transaction_id, .. }
            | UdpResponse::Scrape { transaction_id, .. }
            | UdpResponse::Error { transaction_id, .. } => *transaction_id,
        }
    }

    /// Parses a response; `v6` says whether peers are 18-byte (IPv6) entries.
    pub fn parse(b: &[u8], v6: bool) -> Result<Self, UdpError> {
        let short = UdpError::TooShort;
        let action = u32_at(b, 0).ok_or(short.clone())?;
        let transaction_id = u32_at(b, 4).ok_or(short.clone())?;
        match action {
            CONNECT => Ok(UdpResponse::Connect {
                transaction_id,
                connection_id: u64_at(b, 8).ok_or(short)?,
            }),
            ANNOUNCE => {
                if b.len() < 20 {
                    return Err(short);
                }
                let peers = decode_compact_peers(&b[20..], v6).ok_or(UdpError::BadPeers)?;
                Ok(UdpResponse::Announce {
                    transaction_id,
                    interval: u32_at(b, 8).ok_or(short.clone())?,
                    leechers: u32_at(b, 12).ok_or(short.clone())?,
                    seeders: u32_at(b, 16).ok_or(short)?,
                    peers,
                })
            }
            SCRAPE => {
                let rest = &b[8..];
                if rest.len() % 12 != 0 {
                    return Err(UdpError::BadScrape);
                }
                let stats = rest
                    .chunks_exact(12)
                    .map(|c| ScrapeStats {
                        complete: u32_at(c, 0).unwrap_or(0),
                        downloaded: u32_at(c, 4).unwrap_or(0),
                        incomplete: u32_at(c, 8).unwrap_or(0),
                    })
                    .collect();
                Ok(UdpResponse::Scrape {
                    transaction_id,
                    stats,
                })
            }
            ERROR => Ok(UdpResponse::Error {
                transaction_id,
                message: String::from_utf8_lossy(&b[8..]).into_owned(),
            }),
            _ => Err(UdpError::UnknownAction),
        }
    }

    /// Appends the wire form to `out`; peers of the other family than `v6` are skipped.
    pub fn write(&self, out: &mut Vec<u8>, v6: bool) {
        match self {
            UdpResponse::Connect {
                transaction_id,
                connection_id,
            } => {
                out.extend_from_slice(&CONNECT.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                out.extend_from_slice(&connection_id.to_be_bytes());
            }
            UdpResponse::Announce {
                transaction_id,
                interval,
                leechers,
                seeders,
                peers,
            } => {
                out.extend_from_slice(&ANNOUNCE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                out.extend_from_slice(&interval.to_be_bytes());
                out.extend_from_slice(&leechers.to_be_bytes());
                out.extend_from_slice(&seeders.to_be_bytes());
                for p in peers {
                    match (p, v6) {
                        (SocketAddr::V4(a), false) => out.extend_from_slice(&a.ip().octets()),
                        (SocketAddr::V6(a), true) => out.extend_from_slice(&a.ip().octets()),
                        _ => continue,
                    }
                    out.extend_from_slice(&p.port().to_be_bytes());
                }
            }
            UdpResponse::Scrape {
                transaction_id,
                stats,
            } => {
                out.extend_from_slice(&SCRAPE.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                for s in stats {
                    out.extend_from_slice(&s.complete.to_be_bytes());
                    out.extend_from_slice(&s.downloaded.to_be_bytes());
                    out.extend_from_slice(&s.incomplete.to_be_bytes());
                }
            }
            UdpResponse::Error {
                transaction_id,
                message,
            } => {
                out.extend_from_slice(&ERROR.to_be_bytes());
                out.extend_from_slice(&transaction_id.to_be_bytes());
                out.extend_from_slice(message.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_request_round_trip() {
        let a = UdpRequest::Announce(UdpAnnounce {
            connection_id: 1,
            transaction_id: 2,
            info_hash: InfoHash([3; 20]),
            peer_id: PeerId([4; 20]),
            downloaded: 5,
            left: 6,
            uploaded: 7,
            event: Event::Started,
            ip: 0,
            key: 9,
            num_want: -1,
            port: 6881,
        });
        let mut b = Vec::new();
        a.write(&mut b);
        assert_eq!(b.len(), 98);
        assert_eq!(UdpRequest::parse(&b).unwrap(), a);
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(UdpRequest::parse(b"xx"), Err(UdpError::TooShort));
        assert_eq!(UdpRequest::parse(&[0; 16]), Err(UdpError::BadProtocolId));
        let mut b = vec![0; 16];
        b[11] = 9;
        assert_eq!(UdpRequest::parse(&b), Err(UdpError::UnknownAction));
    }

    #[test]
    fn v6_peers_round_trip() {
        let r = UdpResponse::Announce {
            transaction_id: 1,
            interval: 2,
            leechers: 3,
            seeders: 4,
            peers: vec!["[::1]:80".parse().unwrap()],
        };
        let mut b = Vec::new();
        r.write(&mut b, true);
        assert_eq!(UdpResponse::parse(&b, true).unwrap(), r);
    }
}
