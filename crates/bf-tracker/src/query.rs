//! The HTTP announce and scrape query strings: parsed from the raw bytes of the URL (the
//! `info_hash` and `peer_id` values are percent-encoded binary, not text) and built for the
//! client half.
//!
//! A literal `+` is kept as `+` (RFC 3986): clients percent-encode every byte outside the
//! unreserved set, so a `+` meaning space never occurs in the fields that matter.

use std::net::IpAddr;

use bf_metainfo::{InfoHash, PeerId};

use crate::types::{AnnounceRequest, Event, ScrapeRequest};

/// Longest query string accepted (bytes, still percent-encoded).
pub const MAX_QUERY_LEN: usize = 16 * 1024;
/// Most info-hashes one HTTP scrape may name.
pub const MAX_SCRAPE_HASHES: usize = 200;
/// Largest `numwant` accepted at all (larger is an error; up to this it is capped).
pub const MAX_NUMWANT_ACCEPTED: u64 = 1 << 20;

/// Why a query string was refused; the message becomes the `failure reason`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query is longer than [`MAX_QUERY_LEN`].
    #[error("request too long")]
    TooLong,
    /// A `%` not followed by two hexadecimal digits.
    #[error("invalid percent escape")]
    BadEscape,
    /// A required parameter is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A parameter appears twice where only one is allowed.
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    /// A 20-byte field of another length.
    #[error("{field} must be 20 bytes, got {len}")]
    BadLength {
        /// Which field.
        field: &'static str,
        /// Its decoded length.
        len: usize,
    },
    /// A number that does not parse or is out of range.
    #[error("invalid {0}")]
    BadNumber(&'static str),
    /// `port=0`.
    #[error("invalid port 0")]
    PortZero,
    /// An `event` other than started, completed, stopped or empty.
    #[error("invalid event")]
    BadEvent,
    /// An `ip` that is not an IP address.
    #[error("invalid ip")]
    BadIp,
    /// More info-hashes than [`MAX_SCRAPE_HASHES`].
    #[error("too many info_hash values")]
    TooManyHashes,
}

/// Decodes `%XX` escapes into bytes.
pub fn percent_decode(s: &[u8]) -> Result<Vec<u8>, QueryError> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            let hi = s.get(i + 1).and_then(|&c| hex_val(c));
            let lo = s.get(i + 2).and_then(|&c| hex_val(c));
            match (hi, lo) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => return Err(QueryError::BadEscape),
            }
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes `b`, leaving only RFC 3986 unreserved characters as they are.
pub fn percent_encode(b: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &c in b {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
            out.push(c as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(c >> 4)] as char);
            out.push(HEX[usize::from(c & 15)] as char);
        }
    }
}

/// Splits a raw query into `(key, value)` pairs of still-encoded bytes.
fn pairs(q: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    q.split(|&c| c == b'&').filter(|p| !p.is_empty()).map(|p| {
        match p.iter().position(|&c| c == b'=') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, &b""[..]),
        }
    })
}

fn twenty(field: &'static str, raw: &[u8]) -> Result<[u8; 20], QueryError> {
    let v = percent_decode(raw)?;
    let len = v.len();
    v.try_into()
        .map_err(|_| QueryError::BadLength { field, len })
}

fn number(field: &'static str, raw: &[u8]) -> Result<u64, QueryError> {
    let v = percent_decode(raw)?;
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return Err(QueryError::BadNumber(field));
    }
    std::str::from_utf8(&v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(QueryError::BadNumber(field))
}

fn set<T>(slot: &mut Option<T>, field: &'static str, v: T) -> Result<(), QueryError> {
    if slot.is_some() {
        return Err(QueryError::Duplicate(field));
    }
    *slot = Some(v);
    Ok(())
}

/// Parses an announce query (the part after `?`, still percent-encoded).
pub fn parse_announce(q: &[u8]) -> Result<AnnounceRequest, QueryError> {
    if q.len() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong);
    }
    let (mut info_hash, mut peer_id, mut port) = (None, None, None);
    let (mut uploaded, mut downloaded, mut left) = (None, None, None);
    let (mut event, mut numwant, mut compact, mut no_peer_id) = (None, None, None, None);
    let (mut key, mut ip) = (None, None);
    for (k, v) in pairs(q) {
        match k {
            b"info_hash" => set(&mut info_hash, "info_hash", twenty("info_hash", v)?)?,
            b"peer_id" => set(&mut peer_id, "peer_id", twenty("peer_id", v)?)?,
            b"port" => {
                let p = number("port", v)?;
                let p = u16::try_from(p).map_err(|_| QueryError::BadNumber("port"))?;
                if p == 0 {
                    return Err(QueryError::PortZero);
                }
                set(&mut port, "port", p)?
            }
            b"uploaded" => set(&mut uploaded, "uploaded", number("uploaded", v)?)?,
            b"downloaded" => set(&mut downloaded, "downloaded", number("downloaded", v)?)?,
            b"left" => set(&mut left, "left", number("left", v)?)?,
            b"event" => {
                let e = match percent_decode(v)?.as_slice() {
                    b"" | b"empty" | b"paused" => Event::None,
                    b"started" => Event::Started,
                    b"completed" => Event::Completed,
                    b"stopped" => Event::Stopped,
                    _ => return Err(QueryError::BadEvent),
                };
                set(&mut event, "event", e)?
            }
            b"numwant" => {
                let n = if percent_decode(v)? == b"-1" {
                    None
                } else {
                    let n = number("numwant", v)?;
                    if n > MAX_NUMWANT_ACCEPTED {
                        return Err(QueryError::BadNumber("numwant"));
                    }
                    Some(n as u32)
                };
                set(&mut numwant, "numwant", n)?
            }
            b"compact" => set(&mut compact, "compact", percent_decode(v)? != b"0")?,
            b"no_peer_id" => set(&mut no_peer_id, "no_peer_id", percent_decode(v)? != b"0")?,
            b"key" => {
                // Clients send 4-8 hex digits; anything else is kept as "no key".
                let d = percent_decode(v)?;
                let k = std::str::from_utf8(&d)
                    .ok()
                    .and_then(|s| u32::from_str_radix(s, 16).ok());
                key = k.or(key);
            }
            b"ip" => {
                let d = percent_decode(v)?;
                let a = std::str::from_utf8(&d)
                    .ok()
                    .and_then(|s| s.parse::<IpAddr>().ok())
                    .ok_or(QueryError::BadIp)?;
                set(&mut ip, "ip", a)?
            }
            _ => {}
        }
    }
    Ok(AnnounceRequest {
        info_hash: InfoHash(info_hash.ok_or(QueryError::Missing("info_hash"))?),
        peer_id: PeerId(peer_id.ok_or(QueryError::Missing("peer_id"))?),
        port: port.ok_or(QueryError::Missing("port"))?,
        uploaded: uploaded.unwrap_or(0),
        downloaded: downloaded.unwrap_or(0),
        left: left.ok_or(QueryError::Missing("left"))?,
        event: event.unwrap_or_default(),
        numwant: numwant.flatten(),
        compact: compact.unwrap_or(true),
        no_peer_id: no_peer_id.unwrap_or(false),
        key,
        ip,
    })
}

/// Parses a scrape query; no `info_hash` at all means a full scrape.
pub fn parse_scrape(q: &[u8]) -> Result<ScrapeRequest, QueryError> {
    if q.len() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong);
    }
    let mut info_hashes = Vec::new();
    for (k, v) in pairs(q) {
        if k == b"info_hash" {
            if info_hashes.len() == MAX_SCRAPE_HASHES {
                return Err(QueryError::TooManyHashes);
            }
            let h = InfoHash(twenty("info_hash", v)?);
            if !info_hashes.contains(&h) {
                info_hashes.push(h);
            }
        }
    }
    Ok(ScrapeRequest { info_hashes })
}

/// Builds the announce query string (without the leading `?`).
pub fn announce_query(r: &AnnounceRequest) -> String {
    let mut q = String::with_capacity(256);
    q.push_str("info_hash=");
    percent_encode(r.info_hash.as_bytes(), &mut q);
    q.push_str("&peer_id=");
    percent_encode(r.peer_id.as_bytes(), &mut q);
    q.push_str(&format!(
        "&port={}&uploaded={}&downloaded={}&left={}&compact={}",
        r.port,
        r.uploaded,
        r.downloaded,
        r.left,
        u8::from(r.compact)
    ));
    if r.no_peer_id {
        q.push_str("&no_peer_id=1");
    }
    if let Some(e) = r.event.as_http() {
        q.push_str("&event=");
        q.push_str(e);
    }
    if let Some(n) = r.numwant {
        q.push_str(&format!("&numwant={n}"));
    }
    if let Some(k) = r.key {
        q.push_str(&format!("&key={k:08x}"));
    }
    if let Some(ip) = r.ip {
        q.push_str("&ip=");
        percent_encode(ip.to_string().as_bytes(), &mut q);
    }
    q
}

/// Builds the scrape query string (without the leading `?`).
pub fn scrape_query(r: &ScrapeRequest) -> String {
    let mut q = String::new();
    for (i, h) in r.info_hashes.iter().enumerate() {
        if i > 0 {
            q.push('&');
        }
        q.push_str("info_hash=");
        percent_encode(h.as_bytes(), &mut q);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> String {
        let mut q = String::from("info_hash=");
        percent_encode(&[0xAB; 20], &mut q);
        q.push_str("&peer_id=-BF0100-abcdefghijkl&port=6881&left=5");
        q
    }

    #[test]
    fn parses_binary_fields() {
        let r = parse_announce(base().as_bytes()).unwrap();
        assert_eq!(r.info_hash, InfoHash([0xAB; 20]));
        assert_eq!(&r.peer_id.0[..8], b"-BF0100-");
        assert_eq!(
            (r.port, r.left, r.event, r.compact),
            (6881, 5, Event::None, true)
        );
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases: &[(&str, QueryError)] = &[
            ("info_hash=%ZZ", QueryError::BadEscape),
            ("port=1", QueryError::Missing("info_hash")),
            ("&port=0", QueryError::PortZero),
            ("&port=70000", QueryError::BadNumber("port")),
            ("&numwant=99999999999", QueryError::BadNumber("numwant")),
            ("&event=bogus", QueryError::BadEvent),
            ("&left=-1", QueryError::BadNumber("left")),
            ("&port=5", QueryError::Duplicate("port")),
        ];
        for (extra, want) in cases {
            let q = if extra.starts_with('&') {
                format!("{}{extra}", base())
            } else {
                extra.to_string()
            };
            assert_eq!(parse_announce(q.as_bytes()).unwrap_err(), *want, "{q}");
        }
        let short = "info_hash=abc&peer_id=x&port=1&left=0";
        assert!(matches!(
            parse_announce(short.as_bytes()),
            Err(QueryError::BadLength {
                field: "info_hash",
                len: 3
            })
        ));
    }

    #[test]
    fn round_trip_through_builder() {
        let mut r = AnnounceRequest::new(InfoHash([7; 20]), PeerId([0; 20]), 1, 0);
        r.numwant = Some(10);
        r.key = Some(0xdead);
        r.ip = Some("127.0.0.2".parse().unwrap());
        assert_eq!(parse_announce(announce_query(&r).as_bytes()).unwrap(), r);
        let s = ScrapeRequest {
            info_hashes: vec![InfoHash([1; 20]), InfoHash([2; 20])],
        };
        assert_eq!(parse_scrape(scrape_query(&s).as_bytes()).unwrap(), s);
    }
}
