//! The `--dfile` journal: every change to the swarms (a peer joined, left, became a seed, a
//! download completed) as a fixed-size record, appended to `<dfile>.journal` about once a
//! second, so that a tracker killed between two saves of the whole state loses at most the
//! last second. Re-announces that change nothing are not recorded: the state file has the
//! peer, and its age there stays well within the peer timeout. Sans-IO: records in, bytes
//! out, and back.
//!
//! A record: tag (`4` or `6`, the address family), the 20-byte info-hash, the IP octets, the
//! port, a flags byte (seed, stopped), the torrent's completed count, the Unix time, and a
//! Fletcher-16 checksum of the bytes before it. A torn or damaged record ends the replay.
//!
//! ```
//! use bf_tracker::journal::{decode, Record};
//!
//! let r = Record {
//!     info_hash: bf_metainfo::InfoHash([7; 20]),
//!     addr: "192.0.2.1:6881".parse().unwrap(),
//!     seed: true,
//!     stopped: false,
//!     completed: 3,
//!     time: 1_800_000_000,
//! };
//! let mut bytes = Vec::new();
//! r.encode(&mut bytes);
//! bytes.extend_from_slice(&bytes.clone()[..10]); // a torn second record
//! let (records, torn) = decode(&bytes);
//! assert_eq!(records, vec![r]);
//! assert!(torn);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bf_metainfo::InfoHash;

/// Bytes of an IPv4 record.
pub const V4_LEN: usize = 1 + 20 + 4 + 2 + 1 + 4 + 8 + 2;
/// Bytes of an IPv6 record.
pub const V6_LEN: usize = V4_LEN + 12;
const SEED: u8 = 1;
const STOPPED: u8 = 2;

/// One change to a swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The torrent.
    pub info_hash: InfoHash,
    /// The peer.
    pub addr: SocketAddr,
    /// Whether it is a seed now.
    pub seed: bool,
    /// Whether it left (the record removes it).
    pub stopped: bool,
    /// The torrent's completed count after the change.
    pub completed: u32,
    /// Unix time of the announce.
    pub time: u64,
}

fn fletcher16(b: &[u8]) -> [u8; 2] {
    let (mut a, mut c) = (0u16, 0u16);
    for &x in b {
        a = (a + u16::from(x)) % 255;
        c = (c + a) % 255;
    }
    [a as u8, c as u8]
}

impl Record {
    /// Appends the record's bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        match self.addr.ip().to_canonical() {
            IpAddr::V4(ip) => {
                out.push(4);
                out.extend_from_slice(self.info_hash.as_bytes());
                out.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                out.push(6);
                out.extend_from_slice(self.info_hash.as_bytes());
                out.extend_from_slice(&ip.octets());
            }
        }
        out.extend_from_slice(&self.addr.port().to_be_bytes());
        out.push((u8::from(self.seed) * SEED) | (u8::from(self.stopped) * STOPPED));
        out.extend_from_slice(&self.completed.to_be_bytes());
        out.extend_from_slice(&self.time.to_be_bytes());
        let sum = fletcher16(&out[start..]);
        out.extend_from_slice(&sum);
    }

    fn decode_one(b: &[u8]) -> Option<(Record, usize)> {
        let (len, ip_len) = match b.first()? {
            4 => (V4_LEN, 4),
            6 => (V6_LEN, 16),
            _ => return None,
        };
        let r = b.get(..len)?;
        if fletcher16(&r[..len - 2]) != r[len - 2..] {
            return None;
        }
        let info_hash = InfoHash(r[1..21].try_into().ok()?);
        let ip = if ip_len == 4 {
            IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(&r[21..25]).ok()?))
        } else {
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&r[21..37]).ok()?))
        };
        let at = 21 + ip_len;
        let port = u16::from_be_bytes([r[at], r[at + 1]]);
        let flags = r[at + 2];
        let completed = u32::from_be_bytes(r[at + 3..at + 7].try_into().ok()?);
        let time = u64::from_be_bytes(r[at + 7..at + 15].try_into().ok()?);
        Some((
            Record {
                info_hash,
                addr: SocketAddr::new(ip, port),
                seed: flags & SEED != 0,
                stopped: flags & STOPPED != 0,
                completed,
                time,
            },
            len,
        ))
    }
}

/// The records of a journal's bytes, and whether it ended in a torn or damaged record
/// (what follows one is not read).
pub fn decode(mut bytes: &[u8]) -> (Vec<Record>, bool) {
    let mut out = Vec::with_capacity(bytes.len() / V4_LEN);
    while !bytes.is_empty() {
        match Record::decode_one(bytes) {
            Some((r, n)) => {
                out.push(r);
                bytes = &bytes[n..];
            }
            None => return (out, true),
        }
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> impl Strategy<Value = Record> {
        (
            any::<[u8; 20]>(),
            prop_oneof![
                any::<[u8; 4]>().prop_map(IpAddr::from),
                any::<[u8; 16]>()
                    .prop_map(IpAddr::from)
                    .prop_filter("not mapped", |ip| ip.to_canonical().is_ipv6()),
            ],
            any::<u16>(),
            any::<bool>(),
            any::<bool>(),
            any::<u32>(),
            any::<u64>(),
        )
            .prop_map(|(h, ip, port, seed, stopped, completed, time)| Record {
                info_hash: InfoHash(h),
                addr: SocketAddr::new(ip, port),
                seed,
                stopped,
                completed,
                time,
            })
    }

    proptest! {
        #[test]
        fn records_round_trip_and_damage_ends_the_replay(
            rs in proptest::collection::vec(record(), 1..20),
            flip in any::<prop::sample::Index>(),
        ) {
            let mut b = Vec::new();
            for r in &rs {
                r.encode(&mut b);
            }
            prop_assert_eq!(decode(&b), (rs.clone(), false));
            let at = flip.index(b.len());
            b[at] ^= 0x40;
            let (got, torn) = decode(&b);
            prop_assert!(torn);
            prop_assert!(got.len() < rs.len());
            prop_assert_eq!(&got[..], &rs[..got.len()]);
        }
    }
}
