//! Magnet links (BEP 9): `magnet:?xt=urn:btih:…&dn=…&tr=…&x.pe=…`.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use crate::ids::InfoHash;
use crate::metainfo::Metainfo;

/// Longest magnet link accepted; real ones are well under 4 KiB.
pub const MAX_MAGNET_LEN: usize = 64 * 1024;

/// A parsed magnet link.
///
/// ```
/// use bf_metainfo::Magnet;
/// let m: Magnet = "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn=a+b&tr=http%3A%2F%2Ft%2Fannounce"
///     .parse()
///     .unwrap();
/// assert_eq!(m.name.as_deref(), Some("a b"));
/// assert_eq!(m.trackers, ["http://t/announce"]);
/// assert_eq!(m.to_string().parse::<Magnet>().unwrap(), m);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    /// The v1 info-hash (`xt=urn:btih:`, 40 hex digits or 32 base32 characters).
    pub info_hash: InfoHash,
    /// Display name (`dn`).
    pub name: Option<String>,
    /// Tracker URLs (`tr`, repeatable), in order.
    pub trackers: Vec<String>,
    /// Peer addresses (`x.pe`): `host:port`, `a.b.c.d:port` or `[v6]:port`.
    pub peers: Vec<String>,
}

/// Why a magnet link was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MagnetError {
    /// The text does not start with `magnet:?`.
    #[error("not a magnet link (expected it to start with \"magnet:?\")")]
    NotMagnet,
    /// Longer than [`MAX_MAGNET_LEN`].
    #[error("magnet link longer than {MAX_MAGNET_LEN} bytes")]
    TooLong,
    /// No `xt=urn:btih:` parameter.
    #[error("magnet link has no xt=urn:btih: info-hash (v2-only magnets are not supported)")]
    NoInfoHash,
    /// An info-hash that is neither 40 hex digits nor 32 base32 characters.
    #[error("bad info-hash {0:?} in magnet link: expected 40 hex digits or 32 base32 characters")]
    BadInfoHash(String),
    /// A `%` not followed by two hex digits.
    #[error("bad percent-escape in magnet parameter {0:?}")]
    BadEscape(String),
    /// An `x.pe` value that is not `host:port`.
    #[error("bad peer address {0:?} in magnet link: expected host:port")]
    BadPeer(String),
}

impl Magnet {
    /// A magnet for `m`: its info-hash, name and every tracker.
    pub fn from_metainfo(m: &Metainfo) -> Magnet {
        Magnet {
            info_hash: m.info_hash(),
            name: Some(m.name().to_owned()),
            trackers: m.trackers().into_iter().flatten().collect(),
            peers: Vec::new(),
        }
    }

    /// Parses a magnet link. Unknown parameters are ignored; of several `xt`, the first
    /// `urn:btih:` wins. In `dn`, `+` means a space (as browsers encode forms).
    pub fn parse(s: &str) -> Result<Magnet, MagnetError> {
        if s.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong);
        }
        let query = s
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
            .and_then(|_| s.get(8..))
            .ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut name = None;
        let mut trackers = Vec::new();
        let mut peers = Vec::new();
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = param.split_once('=').unwrap_or((param, ""));
            let key = key.to_ascii_lowercase();
            match key.as_str() {
                "xt" => {
                    let v = decode(raw, false)?;
                    let Some(h) = v
                        .get(..9)
                        .filter(|p| p.eq_ignore_ascii_case("urn:btih:"))
                        .and_then(|_| v.get(9..))
                    else {
                        continue;
                    };
                    if info_hash.is_none() {
                        info_hash = Some(parse_hash(h)?);
                    }
                }
                "dn" => name = Some(decode(raw, true)?),
                "x.pe" => {
                    let p = decode(raw, false)?;
                    check_peer(&p)?;
                    peers.push(p);
                }
                k if k == "tr" || k.strip_prefix("tr.").is_some_and(is_digits) => {
                    let t = decode(raw, false)?;
                    if !t.is_empty() {
                        trackers.push(t);
                    }
                }
                _ => {}
            }
        }
        Ok(Magnet {
            info_hash: info_hash.ok_or(MagnetError::NoInfoHash)?,
            name,
            trackers,
            peers,
        })
    }
}

impl FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Magnet::parse(s)
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "magnet:?xt=urn:btih:{}", self.info_hash.to_hex())?;
        if let Some(n) = &self.name {
            write!(f, "&dn={}", encode(n))?;
        }
        for t in &self.trackers {
            write!(f, "&tr={}", encode(t))?;
        }
        for p in &self.peers {
            write!(f, "&x.pe={}", encode(p))?;
        }
        Ok(())
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_hash(h: &str) -> Result<InfoHash, MagnetError> {
    let bad = || MagnetError::BadInfoHash(h.chars().take(64).collect());
    match h.len() {
        40 => InfoHash::from_hex(h).map_err(|_| bad()),
        32 => InfoHash::from_base32(h).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

fn check_peer(p: &str) -> Result<(), MagnetError> {
    let bad = || MagnetError::BadPeer(p.chars().take(200).collect());
    let (host, port) = p.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = is_digits(port) && port.parse::<u16>().is_ok_and(|n| n != 0);
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|v6| v6.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty() && !host.contains([':', '[', ']', '/', ' '])
    };
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Percent-encodes everything but unreserved characters and `:` `/` `@` (legal in a query,
/// and what keeps tracker URLs readable).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:/@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes; bytes that are not UTF-8 after decoding are replaced, not refused.
fn decode(s: &str, plus_is_space: bool) -> Result<String, MagnetError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| MagnetError::BadEscape(s.chars().take(200).collect()))?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";

    #[test]
    fn hex_and_base32_give_the_same_hash() {
        let h = InfoHash::from_hex(HEX).unwrap();
        let a = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap();
        let b = Magnet::parse(&format!("MAGNET:?xt=urn:btih:{}", h.to_base32())).unwrap();
        assert_eq!(a.info_hash, h);
        assert_eq!(b.info_hash, h);
    }

    #[test]
    fn all_parameters() {
        let m = Magnet::parse(&format!(
            "magnet:?xt=urn:btmh:1220abcd&xt=urn:btih:{HEX}&dn=Big%20Buck+Bunny&tr=udp%3A%2F%2Fa%3A1&tr.2=http://b/announce&x.pe=10.0.0.1:6881&x.pe=%5B::1%5D:7000&x.pe=host.example:1&foo=bar"
        ))
        .unwrap();
        assert_eq!(m.name.as_deref(), Some("Big Buck Bunny"));
        assert_eq!(m.trackers, ["udp://a:1", "http://b/announce"]);
        assert_eq!(m.peers, ["10.0.0.1:6881", "[::1]:7000", "host.example:1"]);
    }

    #[test]
    fn clear_errors() {
        assert_eq!(Magnet::parse("http://x"), Err(MagnetError::NotMagnet));
        assert_eq!(Magnet::parse("magnet:?dn=x"), Err(MagnetError::NoInfoHash));
        assert!(matches!(
            Magnet::parse("magnet:?xt=urn:btih:abc"),
            Err(MagnetError::BadInfoHash(_))
        ));
        assert!(matches!(
            Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&dn=%4")),
            Err(MagnetError::BadEscape(_))
        ));
        for bad in [
            "1.2.3.4",
            "1.2.3.4:0",
            "1.2.3.4:70000",
            ":80",
            "[zz]:1",
            "::1:5",
        ] {
            assert!(
                matches!(
                    Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}&x.pe={bad}")),
                    Err(MagnetError::BadPeer(_))
                ),
                "{bad}"
            );
        }
        assert_eq!(
            Magnet::parse(&format!("magnet:?{}", "a".repeat(MAX_MAGNET_LEN))),
            Err(MagnetError::TooLong)
        );
        // Multi-byte characters where the prefix would be cut must not panic.
        assert_eq!(Magnet::parse("magnéééé"), Err(MagnetError::NotMagnet));
    }

    fn peer() -> impl Strategy<Value = String> {
        prop_oneof![
            (any::<[u8; 4]>(), 1u16..)
                .prop_map(|(a, p)| format!("{}:{p}", std::net::Ipv4Addr::from(a))),
            (any::<[u8; 16]>(), 1u16..)
                .prop_map(|(a, p)| format!("[{}]:{p}", std::net::Ipv6Addr::from(a))),
            ("[a-z][a-z0-9.-]{0,20}", 1u16..).prop_map(|(h, p)| format!("{h}:{p}")),
        ]
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(
            hash in any::<[u8; 20]>(),
            name in proptest::option::of(".{0,40}"),
            trackers in proptest::collection::vec(".{1,40}", 0..4),
            peers in proptest::collection::vec(peer(), 0..4),
        ) {
            let m = Magnet { info_hash: InfoHash(hash), name, trackers, peers };
            prop_assert_eq!(Magnet::parse(&m.to_string()), Ok(m));
        }

        #[test]
        fn arbitrary_text_never_panics(s in ".{0,200}") {
            let _ = Magnet::parse(&s);
            let _ = Magnet::parse(&format!("magnet:?{s}"));
        }
    }
}
