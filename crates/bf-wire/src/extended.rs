//! BEP 10: the extended handshake, and which extension ids this side assigns.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bf_bencode::{Decoder as BencodeDecoder, Dict, Limits, Mode, Value};

use crate::error::DecodeError;

/// Name of the BEP 9 metadata extension in `m`.
pub const UT_METADATA: &str = "ut_metadata";
/// Name of the fountain extension in `m`, and the top-level key carrying its parameters.
pub const BF_RAPTORQ: &str = "bf_raptorq";
/// Name of the peer exchange extension (BEP 11).
pub const UT_PEX: &str = "ut_pex";
/// The bf_raptorq version this crate speaks.
pub const FOUNTAIN_VERSION: u32 = 1;
/// The symbol size T of bf_raptorq version 1, in bytes (one 16 KiB block).
pub const SYMBOL_SIZE: u32 = 16384;

/// Extended handshakes are small; a bound keeps a hostile one cheap to parse.
const HANDSHAKE_LIMITS: Limits = Limits {
    max_depth: 8,
    max_bytes_len: 64 * 1024,
    max_items: 8192,
};

/// The bf_raptorq parameters from the handshake's top-level `bf_raptorq` dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct FountainParams {
    /// `v`: the extension version.
    pub version: u32,
    /// `t`: the symbol size T in bytes.
    pub symbol_size: u32,
}

impl FountainParams {
    /// Version 1 with T = 16 KiB: what this crate speaks.
    pub const V1: FountainParams = FountainParams {
        version: FOUNTAIN_VERSION,
        symbol_size: SYMBOL_SIZE,
    };
}

impl Default for FountainParams {
    fn default() -> Self {
        FountainParams::V1
    }
}

/// The extended handshake (BEP 10 extension message 0).
///
/// Decoding is lenient the way real clients need: unknown keys are ignored, and a known key
/// with a value of the wrong type or range reads as absent. Only a payload that is not a
/// bencoded dictionary is an error.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ExtendedHandshake {
    /// `m`: extension name to the id the sender wants to *receive* it under; 0 disables.
    pub extensions: BTreeMap<Vec<u8>, u8>,
    /// `p`: the sender's listen port.
    pub listen_port: Option<u16>,
    /// `v`: client name and version.
    pub client: Option<String>,
    /// `yourip`: the receiver's address as the sender sees it.
    pub your_ip: Option<IpAddr>,
    /// `reqq`: how many outstanding requests the sender accepts.
    pub reqq: Option<u32>,
    /// `metadata_size` (BEP 9): the size of the info dictionary in bytes.
    pub metadata_size: Option<u32>,
    /// Top-level `bf_raptorq`: the fountain extension's parameters.
    pub fountain: Option<FountainParams>,
}

impl ExtendedHandshake {
    /// The non-zero id the sender assigned to extension `name`.
    pub fn extension_id(&self, name: &str) -> Option<u8> {
        self.extensions
            .get(name.as_bytes())
            .copied()
            .filter(|&id| id != 0)
    }

    /// Parses the payload after the extension id.
    pub fn decode(payload: &[u8]) -> Result<Self, DecodeError> {
        const WHAT: &str = "handshake";
        let value = BencodeDecoder::new(Mode::Lenient)
            .with_limits(HANDSHAKE_LIMITS)
            .decode(payload)
            .map_err(|source| DecodeError::Bencode { what: WHAT, source })?;
        let Some(d) = value.as_dict() else {
            return Err(DecodeError::BadField {
                what: WHAT,
                key: "dictionary",
            });
        };
        let mut extensions = BTreeMap::new();
        if let Some(m) = d.get(b"m").and_then(Value::as_dict) {
            for (name, id) in m.iter() {
                if let Some(id) = id.as_int().and_then(|i| u8::try_from(i).ok()) {
                    extensions.insert(name.to_vec(), id);
                }
            }
        }
        let fountain = d.get(BF_RAPTORQ.as_bytes()).and_then(Value::as_dict);
        Ok(ExtendedHandshake {
            extensions,
            listen_port: int(d, b"p"),
            client: d
                .get(b"v")
                .and_then(Value::as_bytes)
                .map(|b| String::from_utf8_lossy(b).into_owned()),
            your_ip: d.get(b"yourip").and_then(Value::as_bytes).and_then(ip),
            reqq: int(d, b"reqq"),
            metadata_size: int(d, b"metadata_size"),
            fountain: fountain.and_then(|f| {
                Some(FountainParams {
                    version: int(f, b"v")?,
                    symbol_size: int(f, b"t")?,
                })
            }),
        })
    }

    /// The bencoded dictionary (canonical: keys sorted).
    pub fn to_bencode(&self) -> Vec<u8> {
        let mut d = Dict::new();
        let m: Dict<'_> = self
            .extensions
            .iter()
            .map(|(k, v)| (k.as_slice(), Value::Int(i64::from(*v))))
            .collect();
        d.insert(&b"m"[..], m);
        if let Some(p) = self.listen_port {
            d.insert(&b"p"[..], i64::from(p));
        }
        if let Some(v) = &self.client {
            d.insert(&b"v"[..], v.as_str());
        }
        if let Some(ip) = self.your_ip {
            let bytes = match ip {
                IpAddr::V4(a) => a.octets().to_vec(),
                IpAddr::V6(a) => a.octets().to_vec(),
            };
            d.insert(&b"yourip"[..], Value::Bytes(bytes.into()));
        }
        if let Some(q) = self.reqq {
            d.insert(&b"reqq"[..], i64::from(q));
        }
        if let Some(s) = self.metadata_size {
            d.insert(&b"metadata_size"[..], i64::from(s));
        }
        if let Some(f) = self.fountain {
            let mut fd = Dict::new();
            fd.insert(&b"v"[..], i64::from(f.version));
            fd.insert(&b"t"[..], i64::from(f.symbol_size));
            d.insert(BF_RAPTORQ.as_bytes(), fd);
        }
        bf_bencode::to_vec(&Value::Dict(d))
    }
}

fn int<T: TryFrom<i64>>(d: &Dict<'_>, key: &[u8]) -> Option<T> {
    d.get(key)
        .and_then(Value::as_int)
        .and_then(|i| T::try_from(i).ok())
}

fn ip(b: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::V4(Ipv4Addr::from(a)));
    }
    <[u8; 16]>::try_from(b)
        .ok()
        .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
}

/// The extension ids this side assigns in its own `m` map: the ids peers must use to send us
/// those extensions, and so the ids the decoder recognises. 0 means "not offered".
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LocalExtensions {
    /// Our id for ut_metadata (BEP 9), 0 if not offered.
    pub ut_metadata: u8,
    /// Our id for bf_raptorq, 0 if not offered.
    pub bf_raptorq: u8,
    /// Our id for ut_pex (BEP 11), 0 if not offered.
    pub ut_pex: u8,
    /// The bf_raptorq parameters we announce (and require of the peer).
    pub fountain: FountainParams,
}

impl Default for LocalExtensions {
    /// ut_metadata as 1, bf_raptorq as 2, ut_pex as 3, version 1 with T = 16 KiB.
    fn default() -> Self {
        LocalExtensions {
            ut_metadata: 1,
            bf_raptorq: 2,
            ut_pex: 3,
            fountain: FountainParams::V1,
        }
    }
}

impl LocalExtensions {
    /// No extension offered (an extended handshake may still be exchanged).
    pub fn none() -> Self {
        LocalExtensions {
            ut_metadata: 0,
            bf_raptorq: 0,
            ut_pex: 0,
            fountain: FountainParams::V1,
        }
    }

    /// Our `m` map and fountain parameters written into `hs`, replacing what it said about
    /// these two extensions.
    pub fn apply_to(&self, hs: &mut ExtendedHandshake) {
        for (name, id) in [
            (UT_METADATA, self.ut_metadata),
            (BF_RAPTORQ, self.bf_raptorq),
            (UT_PEX, self.ut_pex),
        ] {
            if id == 0 {
                hs.extensions.remove(name.as_bytes());
            } else {
                hs.extensions.insert(name.as_bytes().to_vec(), id);
            }
        }
        hs.fountain = (self.bf_raptorq != 0).then_some(self.fountain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_real_looking_handshake_leniently() {
        // Unsorted keys, a bad port type, a 5-byte yourip and an out-of-range id: all tolerated.
        let raw = b"d1:md11:ut_metadatai3e6:ut_pexi300e10:bf_raptorqi7ee13:metadata_sizei31235e1:p3:abc4:reqqi250e1:v13:Deluge 2.1.1\xff6:yourip5:abcde10:bf_raptorqd1:ti16384e1:vi1eee";
        let h = ExtendedHandshake::decode(raw).unwrap();
        assert_eq!(h.extension_id("ut_metadata"), Some(3));
        assert_eq!(h.extension_id("ut_pex"), None);
        assert_eq!(h.extension_id("bf_raptorq"), Some(7));
        assert_eq!(h.metadata_size, Some(31235));
        assert_eq!(h.listen_port, None);
        assert_eq!(h.reqq, Some(250));
        assert_eq!(h.your_ip, None);
        assert_eq!(h.client.as_deref(), Some("Deluge 2.1.1\u{fffd}"));
        assert_eq!(h.fountain, Some(FountainParams::V1));
        let again = ExtendedHandshake::decode(&h.to_bencode()).unwrap();
        assert_eq!(again, h);
        assert!(ExtendedHandshake::decode(b"le").is_err());
        assert!(ExtendedHandshake::decode(b"d1:m").is_err());
    }

    #[test]
    fn apply_local_ids() {
        let mut h = ExtendedHandshake::default();
        h.extensions.insert(b"bf_raptorq".to_vec(), 9);
        LocalExtensions {
            ut_metadata: 4,
            bf_raptorq: 0,
            ut_pex: 0,
            fountain: FountainParams::V1,
        }
        .apply_to(&mut h);
        assert_eq!(h.extension_id(UT_METADATA), Some(4));
        assert_eq!(h.extension_id(BF_RAPTORQ), None);
        assert_eq!(h.fountain, None);
        let yourip = ExtendedHandshake {
            your_ip: Some("::1".parse().unwrap()),
            ..ExtendedHandshake::default()
        };
        assert_eq!(ExtendedHandshake::decode(&yourip.to_bencode()), Ok(yourip));
    }
}
