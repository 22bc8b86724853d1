//! The `--dfile` state file: every swarm and completed count, saved atomically and loaded at
//! start. A binary format with a SHA-1 trailer, so a torn or damaged file is recognised.
//!
//! Layout (big-endian): magic `BFTRKDF1`, u32 torrent count; per torrent the 20-byte
//! info-hash, u32 completed, u32 peer count, then per peer a family byte (4 or 6), the IP
//! octets, u16 port, u8 seed flag, u64 last-seen Unix time; finally SHA-1 of all the above.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use bf_metainfo::InfoHash;
use sha1::{Digest, Sha1};

use crate::swarm::{StoredPeer, SwarmRecord};

const MAGIC: &[u8; 8] = b"BFTRKDF1";

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DfileError {
    /// The file is not in this format or is damaged.
    #[error("corrupt state file: {0}")]
    Corrupt(&'static str),
    /// Reading or writing failed.
    #[error("state file I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Serialises swarms.
pub fn encode<'a>(swarms: impl IntoIterator<Item = (InfoHash, &'a SwarmRecord)>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[0; 4]);
    let mut n: u32 = 0;
    for (h, r) in swarms {
        n += 1;
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&r.completed.to_be_bytes());
        out.extend_from_slice(&(r.peers.len() as u32).to_be_bytes());
        for p in &r.peers {
            match p.addr.ip() {
                IpAddr::V4(ip) => {
                    out.push(4);
                    out.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    out.push(6);
                    out.extend_from_slice(&ip.octets());
                }
            }
            out.extend_from_slice(&p.addr.port().to_be_bytes());
            out.push(u8::from(p.seed));
            out.extend_from_slice(&p.last_seen.to_be_bytes());
        }
    }
    out[8..12].copy_from_slice(&n.to_be_bytes());
    let digest = Sha1::digest(&out);
    out.extend_from_slice(&digest);
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DfileError> {
        if self.0.len() < n {
            return Err(DfileError::Corrupt("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DfileError> {
        self.take(N)?
            .try_into()
            .map_err(|_| DfileError::Corrupt("truncated"))
    }
}

/// Parses a state file's bytes.
pub fn decode(bytes: &[u8]) -> Result<Vec<(InfoHash, SwarmRecord)>, DfileError> {
    if bytes.len() < MAGIC.len() + 4 + 20 || &bytes[..8] != MAGIC {
        return Err(DfileError::Corrupt("not a bf-tracker state file"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 20);
    if Sha1::digest(body).as_slice() != sum {
        return Err(DfileError::Corrupt("checksum mismatch"));
    }
    let mut r = Reader(&body[8..]);
    let n = u32::from_be_bytes(r.arr()?);
    let mut out = Vec::new();
    for _ in 0..n {
        let h = InfoHash(r.arr()?);
        let completed = u32::from_be_bytes(r.arr()?);
        let np = u32::from_be_bytes(r.arr()?) as usize;
        // Each peer takes at least 16 bytes: refuse counts the file cannot hold.
        if np > r.0.len() / 16 {
            return Err(DfileError::Corrupt("peer count exceeds file"));
        }
        let mut peers = Vec::with_capacity(np);
        for _ in 0..np {
            let ip = match r.arr::<1>()?[0] {
                4 => IpAddr::V4(Ipv4Addr::from(r.arr::<4>()?)),
                6 => IpAddr::V6(Ipv6Addr::from(r.arr::<16>()?)),
                _ => return Err(DfileError::Corrupt("bad address family")),
            };
            let port = u16::from_be_bytes(r.arr()?);
            let seed = r.arr::<1>()?[0] != 0;
            let last_seen = u64::from_be_bytes(r.arr()?);
            peers.push(StoredPeer {
                addr: SocketAddr::new(ip, port),
                seed,
                last_seen,
            });
        }
        out.push((h, SwarmRecord { completed, peers }));
    }
    if !r.0.is_empty() {
        return Err(DfileError::Corrupt("trailing bytes"));
    }
    Ok(out)
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
/// the directory, so a crash leaves either the old or the new file, never a torn one.
pub fn save_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(name);
    let res = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// What [`load`] found.
#[derive(Debug)]
pub enum Loaded {
    /// The file's swarms.
    Swarms(Vec<(InfoHash, SwarmRecord)>),
    /// There was no file yet.
    Missing,
    /// The file was damaged; it has been renamed to `moved_to`.
    Corrupt {
        /// Where the damaged file now is.
        moved_to: PathBuf,
        /// What was wrong.
        error: DfileError,
    },
}

/// Reads the state file; a damaged one is moved aside (never overwritten) and reported.
pub fn load(path: &Path, now: u64) -> Result<Loaded, DfileError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(e.into()),
    };
    match decode(&bytes) {
        Ok(s) => Ok(Loaded::Swarms(s)),
        Err(error) => {
            let mut name = path.as_os_str().to_os_string();
            name.push(format!(".corrupt-{now}"));
            let moved_to = PathBuf::from(name);
            fs::rename(path, &moved_to)?;
            Ok(Loaded::Corrupt { moved_to, error })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(InfoHash, SwarmRecord)> {
        vec![(
            InfoHash([1; 20]),
            SwarmRecord {
                completed: 3,
                peers: vec![
                    StoredPeer {
                        addr: "1.2.3.4:5".parse().unwrap(),
                        seed: true,
                        last_seen: 9,
                    },
                    StoredPeer {
                        addr: "[::1]:6".parse().unwrap(),
                        seed: false,
                        last_seen: 10,
                    },
                ],
            },
        )]
    }

    #[test]
    fn round_trip_and_damage_detected() {
        let s = sample();
        let b = encode(s.iter().map(|(h, r)| (*h, r)));
        assert_eq!(decode(&b).unwrap(), s);
        for i in [0, 9, 20, b.len() - 1] {
            let mut d = b.clone();
            d[i] ^= 1;
            assert!(decode(&d).is_err(), "flip at {i}");
        }
        assert!(decode(&b[..b.len() - 3]).is_err());
    }

    #[test]
    fn corrupt_file_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state");
        assert!(matches!(load(&p, 1).unwrap(), Loaded::Missing));
        fs::write(&p, b"garbage").unwrap();
        match load(&p, 7).unwrap() {
            Loaded::Corrupt { moved_to, .. } => {
                assert_eq!(fs::read(moved_to).unwrap(), b"garbage");
                assert!(!p.exists());
            }
            other => panic!("{other:?}"),
        }
        let s = sample();
        save_atomic(&p, &encode(s.iter().map(|(h, r)| (*h, r)))).unwrap();
        assert!(matches!(load(&p, 1).unwrap(), Loaded::Swarms(v) if v == s));
    }
}
