//! Bencoded HTTP tracker responses: written directly by the server (no value tree on the hot
//! path) and parsed by the client half.

use std::net::{IpAddr, SocketAddr};

use bf_bencode::{Decoder, Limits, Mode, Value};
use bf_metainfo::{InfoHash, PeerId};

use crate::types::{decode_compact_peers, AnnounceResponse, PeerAddr, ScrapeResponse, ScrapeStats};

/// Largest response body the client half will parse.
pub const MAX_RESPONSE_LEN: usize = 4 << 20;

/// Why a tracker response could not be understood (or was a refusal).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    /// The tracker answered with `failure reason`.
    #[error("tracker refused: {0}")]
    Failure(String),
    /// The body is not bencode.
    #[error("response is not bencode: {0}")]
    Bencode(String),
    /// A field is missing or of the wrong type.
    #[error("bad response field {0}")]
    Field(&'static str),
    /// The body is larger than [`MAX_RESPONSE_LEN`].
    #[error("response too large")]
    TooLarge,
}

fn put_int(out: &mut Vec<u8>, key: &str, v: i64) {
    put_key(out, key);
    out.push(b'i');
    out.extend_from_slice(v.to_string().as_bytes());
    out.push(b'e');
}

fn put_key(out: &mut Vec<u8>, key: &str) {
    put_bytes(out, key.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// A `d14:failure reason…e` body.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(reason.len() + 24);
    out.push(b'd');
    put_key(&mut out, "failure reason");
    put_bytes(&mut out, reason.as_bytes());
    out.push(b'e');
    out
}

/// Encodes an announce response; `compact` selects BEP 23 strings (`peers`, and `peers6` per
/// BEP 7) over a list of dictionaries.
pub fn encode_announce(r: &AnnounceResponse, compact: bool, with_peer_id: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + r.peers.len() * 18);
    out.push(b'd');
    put_int(&mut out, "complete", r.complete.into());
    put_int(&mut out, "incomplete", r.incomplete.into());
    put_int(&mut out, "interval", r.interval.into());
    if let Some(m) = r.min_interval {
        put_int(&mut out, "min interval", m.into());
    }
    if compact {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for p in &r.peers {
            match p.addr {
                SocketAddr::V4(a) => {
                    v4.extend_from_slice(&a.ip().octets());
                    v4.extend_from_slice(&a.port().to_be_bytes());
                }
                SocketAddr::V6(a) => {
                    v6.extend_from_slice(&a.ip().octets());
                    v6.extend_from_slice(&a.port().to_be_bytes());
                }
            }
        }
        put_key(&mut out, "peers");
        put_bytes(&mut out, &v4);
        if !v6.is_empty() {
            put_key(&mut out, "peers6");
            put_bytes(&mut out, &v6);
        }
    } else {
        put_key(&mut out, "peers");
        out.push(b'l');
        for p in &r.peers {
            out.push(b'd');
            put_key(&mut out, "ip");
            put_bytes(&mut out, p.addr.ip().to_string().as_bytes());
            if let (true, Some(id)) = (with_peer_id, p.peer_id) {
                put_key(&mut out, "peer id");
                put_bytes(&mut out, id.as_bytes());
            }
            put_int(&mut out, "port", p.addr.port().into());
            out.push(b'e');
        }
        out.push(b'e');
    }
    if let Some(w) = &r.warning {
        put_key(&mut out, "warning message");
        put_bytes(&mut out, w.as_bytes());
    }
    out.push(b'e');
    out
}

/// Encodes a scrape response (BEP 48); torrents are written in key order.
pub fn encode_scrape(r: &ScrapeResponse) -> Vec<u8> {
    let mut files: Vec<&(InfoHash, ScrapeStats)> = r.files.iter().collect();
    files.sort_by_key(|(h, _)| *h);
    files.dedup_by_key(|(h, _)| *h);
    let mut out = Vec::with_capacity(16 + files.len() * 80);
    out.push(b'd');
    put_key(&mut out, "files");
    out.push(b'd');
    for (h, s) in files {
        put_bytes(&mut out, h.as_bytes());
        out.push(b'd');
        put_int(&mut out, "complete", s.complete.into());
        put_int(&mut out, "downloaded", s.downloaded.into());
        put_int(&mut out, "incomplete", s.incomplete.into());
        out.push(b'e');
    }
    out.push(b'e');
    out.push(b'e');
    out
}

fn decode_top(body: &[u8]) -> Result<Value<'_>, ResponseError> {
    if body.len() > MAX_RESPONSE_LEN {
        return Err(ResponseError::TooLarge);
    }
    let limits = Limits {
        max_depth: 8,
        ..Limits::default()
    };
    let v = Decoder::new(Mode::Lenient)
        .with_limits(limits)
        .decode(body)
        .map_err(|e| ResponseError::Bencode(e.to_string()))?;
    if let Some(d) = v.as_dict() {
        if let Some(f) = d.get(b"failure reason") {
            let msg = f
                .as_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned());
            return Err(ResponseError::Failure(msg.unwrap_or_default()));
        }
    }
    Ok(v)
}

fn u32_field(d: &bf_bencode::Dict<'_>, key: &'static str) -> Result<Option<u32>, ResponseError> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v
            .as_int()
            .map(|i| i.clamp(0, i64::from(u32::MAX)) as u32)
            .map(Some)
            .ok_or(ResponseError::Field(key)),
    }
}

fn compact_peers(b: &[u8], v6: bool, out: &mut Vec<PeerAddr>) -> Result<(), ResponseError> {
    let peers = decode_compact_peers(b, v6).ok_or(ResponseError::Field(if v6 {
        "peers6"
    } else {
        "peers"
    }))?;
    out.extend(peers.into_iter().map(PeerAddr::from));
    Ok(())
}

/// Parses an announce response body (client side).
pub fn decode_announce(body: &[u8]) -> Result<AnnounceResponse, ResponseError> {
    let v = decode_top(body)?;
    let d = v.as_dict().ok_or(ResponseError::Field("top level"))?;
    let mut r = AnnounceResponse {
        interval: u32_field(d, "interval")?.ok_or(ResponseError::Field("interval"))?,
        min_interval: u32_field(d, "min interval")?,
        complete: u32_field(d, "complete")?.unwrap_or(0),
        incomplete: u32_field(d, "incomplete")?.unwrap_or(0),
        peers: Vec::new(),
        warning: d
            .get(b"warning message")
            .and_then(Value::as_bytes)
            .map(|b| String::from_utf8_lossy(b).into_owned()),
    };
    match d.get(b"peers") {
        None => {}
        Some(Value::Bytes(b)) => compact_peers(b, false, &mut r.peers)?,
        Some(Value::List(l)) => {
            for p in l {
                let pd = p.as_dict().ok_or(ResponseError::Field("peers"))?;
                let ip = pd
                    .get(b"ip")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<IpAddr>().ok())
                    .ok_or(ResponseError::Field("peers.ip"))?;
                let port = pd
                    .get(b"port")
                    .and_then(Value::as_int)
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(ResponseError::Field("peers.port"))?;
                let peer_id = pd
                    .get(b"peer id")
                    .and_then(Value::as_bytes)
                    .and_then(PeerId::from_slice);
                r.peers.push(PeerAddr {
                    addr: SocketAddr::new(ip, port),
                    peer_id,
                });
            }
        }
        Some(_) => return Err(ResponseError::Field("peers")),
    }
    match d.get(b"peers6") {
        None => {}
        Some(Value::Bytes(b)) => compact_peers(b, true, &mut r.peers)?,
        Some(_) => return Err(ResponseError::Field("peers6")),
    }
    Ok(r)
}

/// Parses a scrape response body (client side).
pub fn decode_scrape(body: &[u8]) -> Result<ScrapeResponse, ResponseError> {
    let v = decode_top(body)?;
    let d = v.as_dict().ok_or(ResponseError::Field("top level"))?;
    let files = d
        .get(b"files")
        .and_then(Value::as_dict)
        .ok_or(ResponseError::Field("files"))?;
    let mut r = ScrapeResponse::default();
    for (k, v) in files.iter() {
        let h = InfoHash::from_slice(k).ok_or(ResponseError::Field("files key"))?;
        let s = v.as_dict().ok_or(ResponseError::Field("files entry"))?;
        r.files.push((
            h,
            ScrapeStats {
                complete: u32_field(s, "complete")?.unwrap_or(0),
                downloaded: u32_field(s, "downloaded")?.unwrap_or(0),
                incomplete: u32_field(s, "incomplete")?.unwrap_or(0),
            },
        ));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_round_trip_both_forms() {
        let r = AnnounceResponse {
            interval: 1800,
            min_interval: Some(60),
            complete: 3,
            incomplete: 4,
            peers: vec![
                PeerAddr {
                    addr: "1.2.3.4:5".parse().unwrap(),
                    peer_id: None,
                },
                PeerAddr {
                    addr: "[::1]:7".parse().unwrap(),
                    peer_id: None,
                },
            ],
            warning: Some("w".into()),
        };
        let body = encode_announce(&r, true, false);
        assert!(bf_bencode::decode(&body).is_ok(), "canonical bencode");
        assert_eq!(decode_announce(&body).unwrap(), r);
        let body = encode_announce(&r, false, false);
        assert!(bf_bencode::decode(&body).is_ok());
        assert_eq!(decode_announce(&body).unwrap(), r);
    }

    #[test]
    fn failure_is_an_error() {
        let e = decode_announce(&encode_failure("nope")).unwrap_err();
        assert_eq!(e, ResponseError::Failure("nope".into()));
    }

    #[test]
    fn scrape_round_trip() {
        let s = ScrapeStats {
            complete: 1,
            downloaded: 2,
            incomplete: 3,
        };
        let r = ScrapeResponse {
            files: vec![(InfoHash([1; 20]), s), (InfoHash([9; 20]), s)],
        };
        let body = encode_scrape(&r);
        assert!(bf_bencode::decode(&body).is_ok());
        assert_eq!(decode_scrape(&body).unwrap(), r);
    }
}
