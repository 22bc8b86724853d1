//! BEP 11 ut_pex messages: the peers a peer is connected to, as they come and go.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bf_bencode::{Decoder as BencodeDecoder, Dict, Limits, Mode, Value};
use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;

/// Most peers taken from one message, added and dropped each (BEP 11 says a sender keeps
/// to 50; more are ignored, not an error).
pub const MAX_PEX_PEERS: usize = 100;

const LIMITS: Limits = Limits {
    max_depth: 2,
    max_bytes_len: 64 * 1024,
    max_items: 32,
};

/// A ut_pex message: peers that joined and left the sender's swarm since its last one.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PexMessage {
    /// Peers the sender connected to (`added`, `added6`).
    pub added: Vec<SocketAddr>,
    /// Peers it is no longer connected to (`dropped`, `dropped6`).
    pub dropped: Vec<SocketAddr>,
}

fn compact(b: &[u8], v6: bool) -> Vec<SocketAddr> {
    let len = if v6 { 18 } else { 6 };
    b.chunks_exact(len)
        .filter_map(|c| {
            let (ip, port) = c.split_at(len - 2);
            let ip = if v6 {
                IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?))
            } else {
                IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(ip).ok()?))
            };
            let port = u16::from_be_bytes([port[0], port[1]]);
            (port != 0).then_some(SocketAddr::new(ip, port))
        })
        .take(MAX_PEX_PEERS)
        .collect()
}

fn put_compact(addrs: &[SocketAddr], v6: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for a in addrs.iter().take(MAX_PEX_PEERS) {
        match (a.ip(), v6) {
            (IpAddr::V4(ip), false) => out.extend_from_slice(&ip.octets()),
            (IpAddr::V6(ip), true) => out.extend_from_slice(&ip.octets()),
            _ => continue,
        }
        out.extend_from_slice(&a.port().to_be_bytes());
    }
    out
}

impl PexMessage {
    /// Parses the payload after the extension id. Fields of the wrong kind are an error;
    /// a trailing partial address is ignored, as are flags (`added.f`).
    pub fn decode(payload: Bytes) -> Result<Self, DecodeError> {
        const WHAT: &str = "ut_pex";
        let v = BencodeDecoder::new(Mode::Lenient)
            .with_limits(LIMITS)
            .decode(&payload)
            .map_err(|source| DecodeError::Bencode { what: WHAT, source })?;
        let d = v.as_dict().ok_or(DecodeError::BadField {
            what: WHAT,
            key: "dictionary",
        })?;
        let field = |key: &'static str, v6: bool| -> Result<Vec<SocketAddr>, DecodeError> {
            match d.get(key.as_bytes()) {
                None => Ok(Vec::new()),
                Some(v) => v
                    .as_bytes()
                    .map(|b| compact(b, v6))
                    .ok_or(DecodeError::BadField { what: WHAT, key }),
            }
        };
        let mut added = field("added", false)?;
        added.extend(field("added6", true)?);
        added.truncate(MAX_PEX_PEERS);
        let mut dropped = field("dropped", false)?;
        dropped.extend(field("dropped6", true)?);
        dropped.truncate(MAX_PEX_PEERS);
        Ok(PexMessage { added, dropped })
    }

    /// Appends the bencoded payload.
    pub fn encode(&self, buf: &mut BytesMut) {
        let mut d = Dict::new();
        d.insert(
            &b"added"[..],
            Value::owned_bytes(put_compact(&self.added, false)),
        );
        d.insert(
            &b"added6"[..],
            Value::owned_bytes(put_compact(&self.added, true)),
        );
        d.insert(
            &b"dropped"[..],
            Value::owned_bytes(put_compact(&self.dropped, false)),
        );
        d.insert(
            &b"dropped6"[..],
            Value::owned_bytes(put_compact(&self.dropped, true)),
        );
        buf.put_slice(&bf_bencode::to_vec(&Value::Dict(d)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pex_round_trips_and_ignores_what_it_cannot_use() {
        let m = PexMessage {
            added: vec![
                "10.0.0.1:6881".parse().unwrap(),
                "[::1]:7000".parse().unwrap(),
            ],
            dropped: vec!["10.0.0.2:51413".parse().unwrap()],
        };
        let mut b = BytesMut::new();
        m.encode(&mut b);
        assert_eq!(PexMessage::decode(b.freeze()).unwrap(), m);
        // libtorrent's form: flags, a port-0 entry, a trailing partial address.
        let raw =
            b"d5:added13:\x0a\x00\x00\x01\x1a\xe1\x0a\x00\x00\x02\x00\x00\x017:added.f2:\x00\x00e";
        let m = PexMessage::decode(Bytes::from_static(raw)).unwrap();
        assert_eq!(
            m.added,
            vec!["10.0.0.1:6881".parse::<SocketAddr>().unwrap()]
        );
        for bad in [&b"le"[..], b"d5:addedi1ee", b"xx"] {
            assert!(PexMessage::decode(Bytes::from_static(bad)).is_err());
        }
    }
}
