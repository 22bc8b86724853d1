//! The `--dfile` state file: every swarm and completed count, saved atomically and loaded at
//! start. A binary format with a SHA-1 trailer, so a torn or damaged file is recognised.
//! Changes between two saves go to the journal (`crate::journal`).
//!
//! Layout (big-endian), version 2, written as a stream (a part of the store at a time, so
//! that saving needs no copy of the whole state in memory): magic `BFTRKDF2`; per torrent a
//! `1` byte, the 20-byte info-hash, u32 completed, u32 peer count, then per peer a family
//! byte (4 or 6), the IP octets, u16 port, u8 seed flag, u64 last-seen Unix time; then a `0`
//! byte, the u32 torrent count and the SHA-1 of all the above. Version 1 (`BFTRKDF1`: the
//! count after the magic, no per-torrent byte) is still read.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use bf_metainfo::InfoHash;
use sha1::{Digest, Sha1};

use crate::swarm::{StoredPeer, SwarmRecord};

const MAGIC: &[u8; 8] = b"BFTRKDF1";
const MAGIC2: &[u8; 8] = b"BFTRKDF2";

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

/// Appends one swarm in the file's encoding (without the version 2 leading byte).
fn encode_swarm(out: &mut Vec<u8>, h: &InfoHash, r: &SwarmRecord) {
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

/// Appends swarms to `out` as a part of a version 2 file; how many.
pub fn encode_part<R: std::borrow::Borrow<SwarmRecord>>(
    out: &mut Vec<u8>,
    swarms: impl IntoIterator<Item = (InfoHash, R)>,
) -> u32 {
    let mut n = 0;
    for (h, r) in swarms {
        out.push(1);
        encode_swarm(out, &h, r.borrow());
        n += 1;
    }
    n
}

/// Serialises swarms (a whole version 2 file in memory; see [`Writer`] for a stream).
pub fn encode<'a>(swarms: impl IntoIterator<Item = (InfoHash, &'a SwarmRecord)>) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let mut part = Vec::new();
    let n = encode_part(&mut part, swarms);
    // Writing to a Vec cannot fail.
    let _ = w.part(&part, n);
    w.finish().unwrap_or_default()
}

/// A version 2 file written part by part, hashed as it goes.
pub struct Writer<W: Write> {
    out: W,
    hash: Sha1,
    count: u32,
    failed: Option<std::io::Error>,
}

impl<W: Write> Writer<W> {
    /// Starts the file (writes the magic on the first part).
    pub fn new(out: W) -> Self {
        let mut w = Writer {
            out,
            hash: Sha1::new(),
            count: 0,
            failed: None,
        };
        w.put(MAGIC2);
        w
    }

    fn put(&mut self, b: &[u8]) {
        if self.failed.is_none() {
            self.hash.update(b);
            if let Err(e) = self.out.write_all(b) {
                self.failed = Some(e);
            }
        }
    }

    /// Adds bytes from [`encode_part`] holding `n` swarms.
    pub fn part(&mut self, bytes: &[u8], n: u32) -> std::io::Result<()> {
        self.put(bytes);
        self.count = self.count.saturating_add(n);
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Ends the file: the count and the checksum; gives the writer back.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.put(&[0]);
        let count = self.count.to_be_bytes();
        self.put(&count);
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let digest = self.hash.finalize_reset();
        self.out.write_all(&digest)?;
        Ok(self.out)
    }
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

/// Parses a state file's bytes (version 1 or 2).
pub fn decode(bytes: &[u8]) -> Result<Vec<(InfoHash, SwarmRecord)>, DfileError> {
    if bytes.len() < MAGIC.len() + 4 + 20 || (&bytes[..8] != MAGIC && &bytes[..8] != MAGIC2) {
        return Err(DfileError::Corrupt("not a bf-tracker state file"));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 20);
    if Sha1::digest(body).as_slice() != sum {
        return Err(DfileError::Corrupt("checksum mismatch"));
    }
    let mut r = Reader(&body[8..]);
    let mut out = Vec::new();
    if &bytes[..8] == MAGIC {
        let n = u32::from_be_bytes(r.arr()?);
        for _ in 0..n {
            out.push(read_swarm(&mut r)?);
        }
    } else {
        // Bounded by the file: every swarm takes bytes.
        loop {
            match r.arr::<1>()?[0] {
                1 => out.push(read_swarm(&mut r)?),
                0 => break,
                _ => return Err(DfileError::Corrupt("bad record tag")),
            }
        }
        if u32::from_be_bytes(r.arr()?) as usize != out.len() {
            return Err(DfileError::Corrupt("torrent count mismatch"));
        }
    }
    if !r.0.is_empty() {
        return Err(DfileError::Corrupt("trailing bytes"));
    }
    Ok(out)
}

fn read_swarm(r: &mut Reader<'_>) -> Result<(InfoHash, SwarmRecord), DfileError> {
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
    Ok((h, SwarmRecord { completed, peers }))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of
/// the directory, so a crash leaves either the old or the new file, never a torn one.
pub fn save_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    save_atomic_with(path, |f| f.write_all(bytes))
}

/// [`save_atomic`] with the content written by `fill` (through a buffer of its own).
pub fn save_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    let tmp = dir.join(name);
    let res = (|| {
        let mut f = std::io::BufWriter::with_capacity(256 << 10, fs::File::create(&tmp)?);
        fill(&mut f)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
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
    fn version_1_files_still_load_and_parts_make_one_file() {
        let s = sample();
        // Version 1, as the previous release wrote it.
        let mut v1 = Vec::new();
        v1.extend_from_slice(MAGIC);
        v1.extend_from_slice(&1u32.to_be_bytes());
        encode_swarm(&mut v1, &s[0].0, &s[0].1);
        let sum = Sha1::digest(&v1);
        v1.extend_from_slice(&sum);
        assert_eq!(decode(&v1).unwrap(), s);
        // Two parts written one after the other read as one file.
        let two = vec![s[0].clone(), (InfoHash([2; 20]), SwarmRecord::default())];
        let mut w = Writer::new(Vec::new());
        for one in &two {
            let mut part = Vec::new();
            let n = encode_part(&mut part, [(one.0, &one.1)]);
            w.part(&part, n).unwrap();
        }
        assert_eq!(decode(&w.finish().unwrap()).unwrap(), two);
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
