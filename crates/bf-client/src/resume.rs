//! Resume data: which pieces are verified on disk, and the size and modification time of
//! every file when that was recorded, so that a restart can trust it without re-hashing.
//!
//! The file is a bencoded dictionary, written atomically (a temporary file in the same
//! folder, flushed, then renamed over the old one): a crash at any moment leaves either the
//! old or the new record, never a torn one. It is trusted only if its info-hash and piece
//! count match and every file still has the recorded size and modification time; otherwise
//! the data is checked again.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bf_bencode::{Dict, Value};
use bf_metainfo::InfoHash;
use bf_wire::Bitfield;

use crate::storage::FileStamp;

/// Largest resume file read (a million-piece torrent's bitfield is 128 KiB).
const MAX_RESUME_FILE: u64 = 64 << 20;

/// What a resume file records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeData {
    /// The torrent.
    pub info_hash: InfoHash,
    /// Verified pieces.
    pub have: Bitfield,
    /// Every file's size and modification time when `have` was recorded.
    pub files: Vec<FileStamp>,
}

/// Why a resume file was not used.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The resume file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The file is not resume data of ours.
    #[error("not valid resume data: {0}")]
    Invalid(&'static str),
}

impl ResumeData {
    /// Encodes the record.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut d = Dict::new();
        d.insert(&b"version"[..], 1i64);
        d.insert(&b"info-hash"[..], Value::bytes(self.info_hash.as_bytes()));
        d.insert(&b"pieces"[..], i64::from(self.have.len()));
        d.insert(&b"have"[..], Value::bytes(self.have.as_bytes()));
        let files = self
            .files
            .iter()
            .map(|f| {
                let mut e = Dict::new();
                e.insert(&b"size"[..], f.size as i64);
                // Seconds and nanoseconds apart: bencode integers are 64-bit in practice.
                e.insert(&b"mtime"[..], f.mtime_ns.div_euclid(1_000_000_000) as i64);
                e.insert(
                    &b"mtime-ns"[..],
                    f.mtime_ns.rem_euclid(1_000_000_000) as i64,
                );
                Value::Dict(e)
            })
            .collect();
        d.insert(&b"files"[..], Value::List(files));
        Value::Dict(d).to_bytes()
    }

    /// Decodes a record.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ResumeError> {
        let v = bf_bencode::decode(bytes).map_err(|_| ResumeError::Invalid("not bencode"))?;
        let d = v
            .as_dict()
            .ok_or(ResumeError::Invalid("not a dictionary"))?;
        if d.get(b"version").and_then(Value::as_int) != Some(1) {
            return Err(ResumeError::Invalid("unknown version"));
        }
        let info_hash = d
            .get(b"info-hash")
            .and_then(Value::as_bytes)
            .and_then(InfoHash::from_slice)
            .ok_or(ResumeError::Invalid("info-hash"))?;
        let pieces = d
            .get(b"pieces")
            .and_then(Value::as_int)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(ResumeError::Invalid("piece count"))?;
        let have = d
            .get(b"have")
            .and_then(Value::as_bytes)
            .and_then(|b| Bitfield::from_bytes(b, pieces).ok())
            .ok_or(ResumeError::Invalid("have bitfield"))?;
        let list = d
            .get(b"files")
            .and_then(Value::as_list)
            .ok_or(ResumeError::Invalid("files"))?;
        let mut files = Vec::with_capacity(list.len().min(1 << 20));
        for f in list {
            let e = f.as_dict().ok_or(ResumeError::Invalid("file entry"))?;
            let int = |k: &[u8]| e.get(k).and_then(Value::as_int);
            let size = int(b"size")
                .and_then(|s| u64::try_from(s).ok())
                .ok_or(ResumeError::Invalid("file size"))?;
            let secs = int(b"mtime").ok_or(ResumeError::Invalid("file mtime"))?;
            let ns = int(b"mtime-ns")
                .filter(|n| (0..1_000_000_000).contains(n))
                .ok_or(ResumeError::Invalid("file mtime"))?;
            files.push(FileStamp {
                size,
                mtime_ns: i128::from(secs) * 1_000_000_000 + i128::from(ns),
            });
        }
        Ok(ResumeData {
            info_hash,
            have,
            files,
        })
    }

    /// Reads the record at `path`; `Ok(None)` when there is none.
    pub fn load(path: &Path) -> Result<Option<Self>, ResumeError> {
        let io = |source| ResumeError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        if meta.len() > MAX_RESUME_FILE {
            return Err(ResumeError::Invalid("too large"));
        }
        let bytes = std::fs::read(path).map_err(io)?;
        Self::from_bytes(&bytes).map(Some)
    }

    /// Writes the record to `path` atomically (temporary file, flush, rename).
    pub fn save(&self, path: &Path) -> Result<(), ResumeError> {
        let io = |source| ResumeError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Unique per save, not only per process: two saves of one torrent can run at once
        // (a periodic one on a worker and the one at stop), and a shared name let one rename
        // the other's half-written file into place, or fail on a file already renamed.
        static SAVES: AtomicU64 = AtomicU64::new(0);
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(
            ".tmp{}-{}",
            std::process::id(),
            SAVES.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = PathBuf::from(tmp);
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&self.to_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(io)
    }

    /// The verified pieces, if this record is for `info_hash` with `pieces` pieces and the
    /// files are exactly as recorded.
    pub fn trusted_have(
        &self,
        info_hash: InfoHash,
        pieces: u32,
        now_on_disk: &[FileStamp],
    ) -> Option<&Bitfield> {
        (self.info_hash == info_hash && self.have.len() == pieces && self.files == now_on_disk)
            .then_some(&self.have)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_trust_rules() {
        let mut have = Bitfield::new(10);
        have.set(3);
        let files = vec![
            FileStamp {
                size: 5,
                mtime_ns: 1_700_000_000_123_456_789,
            },
            FileStamp {
                size: 0,
                mtime_ns: -5,
            },
        ];
        let r = ResumeData {
            info_hash: InfoHash([7; 20]),
            have,
            files: files.clone(),
        };
        let dir = bf_testkit::temp_dir();
        let path = dir.path().join("x/y.resume");
        assert!(ResumeData::load(&path).unwrap().is_none());
        r.save(&path).unwrap();
        let back = ResumeData::load(&path).unwrap().unwrap();
        assert_eq!(back, r);
        assert!(back.trusted_have(InfoHash([7; 20]), 10, &files).is_some());
        assert!(back.trusted_have(InfoHash([8; 20]), 10, &files).is_none());
        let mut touched = files.clone();
        touched[0].mtime_ns += 1;
        assert!(back.trusted_have(InfoHash([7; 20]), 10, &touched).is_none());
        for bad in [&b"garbage"[..], b"d7:versioni2ee", b"de", b"li1ee"] {
            assert!(ResumeData::from_bytes(bad).is_err());
        }
    }
}
