//! A torrent's data on disk: the multi-file mapping, sparse files, piece reads, writes and
//! checks. Blocking I/O, run on worker threads only.
//!
//! Only verified pieces are written, so every byte on disk at a piece's place is either that
//! piece, verified, or whatever was there before (zeros in a new sparse file). Padding files
//! (BEP 47) are part of the piece layout but never created: their bytes read as zeros.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bf_metainfo::Metainfo;
use bytes::{Bytes, BytesMut};
use sha1::{Digest, Sha1};

/// Why the data of a torrent could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// A file of the torrent would be placed outside the download's folder.
    #[error("{0}: outside the download folder")]
    Escapes(PathBuf),
    /// A piece index past the end.
    #[error("no piece {0}")]
    NoPiece(u32),
}

impl StorageError {
    fn io(path: &Path, source: io::Error) -> Self {
        StorageError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Open files shared by every torrent of a session, at most `capacity` at once (least
/// recently used closed first), so that a torrent of many files or a folder of many torrents
/// cannot run out of file descriptors.
#[derive(Debug)]
pub struct FilePool {
    capacity: usize,
    inner: Mutex<PoolInner>,
}

#[derive(Debug, Default)]
struct PoolInner {
    clock: u64,
    open: HashMap<(PathBuf, bool), (Arc<File>, u64)>,
}

impl FilePool {
    /// A pool keeping at most `capacity` files open.
    pub fn new(capacity: usize) -> Self {
        FilePool {
            capacity: capacity.max(1),
            inner: Mutex::new(PoolInner::default()),
        }
    }

    /// `path` opened for reading, or for reading and writing (created if missing).
    fn get(&self, path: &Path, write: bool) -> io::Result<Arc<File>> {
        let key = (path.to_path_buf(), write);
        {
            let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            g.clock += 1;
            let clock = g.clock;
            if let Some((f, used)) = g.open.get_mut(&key) {
                *used = clock;
                return Ok(f.clone());
            }
        }
        let f = Arc::new(if write {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?
        } else {
            File::open(path)?
        });
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        while g.open.len() >= self.capacity {
            let Some(oldest) = g
                .open
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            g.open.remove(&oldest);
        }
        let clock = g.clock;
        g.open.insert(key, (f.clone(), clock));
        Ok(f)
    }

    /// Closes every open handle of files under `root` (a torrent removed or paused).
    pub fn forget(&self, root: &Path) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.open.retain(|(p, _), _| !p.starts_with(root));
    }

    /// Number of open files.
    pub fn open_count(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open
            .len()
    }
}

#[derive(Debug, Clone)]
struct DiskFile {
    path: PathBuf,
    length: u64,
    padding: bool,
}

/// Size and modification time of one file, as resume data records them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Length on disk (0 when missing).
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 when missing).
    pub mtime_ns: i128,
}

/// The files of one torrent under its download path.
#[derive(Debug, Clone)]
pub struct Storage {
    meta: Arc<Metainfo>,
    root: PathBuf,
    files: Vec<DiskFile>,
    pool: Arc<FilePool>,
}

impl Storage {
    /// The torrent's files at `path`: the file itself for a single-file torrent, the top
    /// folder of a multi-file one. Every file path is checked to stay inside it.
    pub fn new(
        meta: Arc<Metainfo>,
        path: &Path,
        pool: Arc<FilePool>,
    ) -> Result<Self, StorageError> {
        let mut files = Vec::with_capacity(meta.files().len());
        for f in meta.files() {
            let file_path = if meta.is_single_file() {
                path.to_path_buf()
            } else {
                let rel = f.relative_path();
                // bf-metainfo refuses such names already; a second check costs nothing.
                let escapes = rel.components().any(|c| !matches!(c, Component::Normal(_)));
                if escapes || f.path.is_empty() {
                    return Err(StorageError::Escapes(rel));
                }
                path.join(rel)
            };
            files.push(DiskFile {
                path: file_path,
                length: f.length,
                padding: f.padding,
            });
        }
        Ok(Storage {
            meta,
            root: path.to_path_buf(),
            files,
            pool,
        })
    }

    /// The download path (file or top folder).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether any of the torrent's (non-padding) files exists.
    pub fn any_file_exists(&self) -> bool {
        self.files
            .iter()
            .any(|f| !f.padding && f.path.symlink_metadata().is_ok())
    }

    /// Creates the folders and every file, sparse, at its full length (existing files are
    /// kept, and only extended if short). A folder that is a symbolic link leading outside
    /// the download folder is refused.
    pub fn create_files(&self) -> Result<(), StorageError> {
        let top = if self.meta.is_single_file() {
            self.root
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default()
        } else {
            self.root.clone()
        };
        let top_dir = if top.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            top.clone()
        };
        std::fs::create_dir_all(&top_dir).map_err(|e| StorageError::io(&top_dir, e))?;
        let canonical_top = top_dir
            .canonicalize()
            .map_err(|e| StorageError::io(&top_dir, e))?;
        for f in self.files.iter().filter(|f| !f.padding) {
            if let Some(parent) = f.path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|e| StorageError::io(parent, e))?;
                let real = parent
                    .canonicalize()
                    .map_err(|e| StorageError::io(parent, e))?;
                if !real.starts_with(&canonical_top) {
                    return Err(StorageError::Escapes(f.path.clone()));
                }
            }
            let file = self
                .pool
                .get(&f.path, true)
                .map_err(|e| StorageError::io(&f.path, e))?;
            let len = file
                .metadata()
                .map_err(|e| StorageError::io(&f.path, e))?
                .len();
            if len < f.length {
                file.set_len(f.length)
                    .map_err(|e| StorageError::io(&f.path, e))?;
            }
        }
        Ok(())
    }

    /// Writes a verified piece given as its blocks in order.
    pub fn write_piece(&self, piece: u32, blocks: &[Bytes]) -> Result<(), StorageError> {
        let slices = self.meta.piece_file_slices(piece);
        if slices.is_empty() {
            return Err(StorageError::NoPiece(piece));
        }
        // Walk the blocks and the file slices together: each block part is written where
        // its bytes belong, without first gathering the piece into one buffer.
        let mut bi = 0usize;
        let mut boff = 0usize;
        for s in slices {
            let f = &self.files[s.file_index];
            let mut remaining = s.len as usize;
            let mut at = s.file_offset;
            let file = if f.padding {
                None
            } else {
                Some(
                    self.pool
                        .get(&f.path, true)
                        .map_err(|e| StorageError::io(&f.path, e))?,
                )
            };
            while remaining > 0 {
                let Some(block) = blocks.get(bi) else {
                    return Err(StorageError::NoPiece(piece));
                };
                let take = (block.len() - boff).min(remaining);
                if let Some(file) = &file {
                    file.write_all_at(&block[boff..boff + take], at)
                        .map_err(|e| StorageError::io(&f.path, e))?;
                }
                at += take as u64;
                remaining -= take;
                boff += take;
                if boff == block.len() {
                    bi += 1;
                    boff = 0;
                }
            }
        }
        Ok(())
    }

    /// Reads a piece (padding reads as zeros; a missing or short file is an error).
    pub fn read_piece(&self, piece: u32) -> Result<Bytes, StorageError> {
        let len = self
            .meta
            .piece_size(piece)
            .ok_or(StorageError::NoPiece(piece))? as usize;
        let mut buf = BytesMut::zeroed(len);
        for s in self.meta.piece_file_slices(piece) {
            let f = &self.files[s.file_index];
            if f.padding {
                continue;
            }
            let file = self
                .pool
                .get(&f.path, false)
                .map_err(|e| StorageError::io(&f.path, e))?;
            let dst = &mut buf[s.range_offset as usize..(s.range_offset + s.len) as usize];
            file.read_exact_at(dst, s.file_offset).map_err(|e| {
                let e = if e.kind() == ErrorKind::UnexpectedEof {
                    io::Error::new(
                        ErrorKind::UnexpectedEof,
                        "file shorter than the torrent says",
                    )
                } else {
                    e
                };
                StorageError::io(&f.path, e)
            })?;
        }
        Ok(buf.freeze())
    }

    /// Whether piece `piece` on disk matches its hash (false when it cannot be read).
    pub fn check_piece(&self, piece: u32) -> bool {
        let Some(expected) = self.meta.piece_hash(piece) else {
            return false;
        };
        match self.read_piece(piece) {
            Ok(data) => <[u8; 20]>::from(Sha1::digest(&data)) == expected,
            Err(_) => false,
        }
    }

    /// Size and modification time of every file (padding files as zero).
    pub fn stamps(&self) -> Vec<FileStamp> {
        self.files
            .iter()
            .map(|f| {
                if f.padding {
                    return FileStamp {
                        size: 0,
                        mtime_ns: 0,
                    };
                }
                match std::fs::metadata(&f.path) {
                    Ok(m) => FileStamp {
                        size: m.len(),
                        mtime_ns: m.modified().map(nanos).unwrap_or(0),
                    },
                    Err(_) => FileStamp {
                        size: 0,
                        mtime_ns: 0,
                    },
                }
            })
            .collect()
    }

    /// Flushes written data of every file to the disk, so resume data saved after it never
    /// claims a piece a power cut could lose.
    pub fn sync(&self) -> Result<(), StorageError> {
        for f in self.files.iter().filter(|f| !f.padding) {
            if let Ok(file) = self.pool.get(&f.path, false) {
                // A file opened read-only can still be synced on Linux.
                file.sync_data().map_err(|e| StorageError::io(&f.path, e))?;
            }
        }
        Ok(())
    }

    /// Closes the torrent's open files.
    pub fn close(&self) {
        self.pool.forget(&self.root);
    }
}

fn nanos(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bf_bencode::{Dict, Value};

    fn multi(files: &[(&str, u64, bool)], piece_len: u32, data: &[u8]) -> Arc<Metainfo> {
        let pieces: Vec<u8> = data
            .chunks(piece_len as usize)
            .flat_map(|c| Sha1::digest(c).to_vec())
            .collect();
        let list = files
            .iter()
            .map(|(name, len, pad)| {
                let mut d = Dict::new();
                d.insert(&b"length"[..], *len as i64);
                d.insert(
                    &b"path"[..],
                    Value::List(
                        name.split('/')
                            .map(|c| Value::from(c.to_string()))
                            .collect(),
                    ),
                );
                if *pad {
                    d.insert(&b"attr"[..], "p");
                }
                Value::Dict(d)
            })
            .collect();
        let mut info = Dict::new();
        info.insert(&b"files"[..], Value::List(list));
        info.insert(&b"name"[..], "top");
        info.insert(&b"piece length"[..], i64::from(piece_len));
        info.insert(&b"pieces"[..], Value::bytes(&pieces));
        let mut top = Dict::new();
        top.insert(&b"info"[..], info);
        Arc::new(Metainfo::from_bytes(&Value::Dict(top).to_bytes()).unwrap())
    }

    #[test]
    fn pieces_map_onto_files_and_padding_is_never_written() {
        let dir = bf_testkit::temp_dir();
        let mut data = bf_testkit::pseudo_random_bytes(5000, 1);
        data[3000..3500].fill(0); // the padding file's bytes
        let meta = multi(
            &[
                ("a.bin", 3000, false),
                (".pad/500", 500, true),
                ("sub/b.bin", 1500, false),
            ],
            1024,
            &data,
        );
        let root = dir.path().join("top");
        let st = Storage::new(meta.clone(), &root, Arc::new(FilePool::new(2))).unwrap();
        st.create_files().unwrap();
        assert!(!root.join(".pad").exists());
        for p in 0..meta.piece_count() {
            assert!(
                !st.check_piece(p) || data[p as usize * 1024..].iter().take(1024).all(|&b| b == 0)
            );
            let start = p as usize * 1024;
            let end = (start + 1024).min(data.len());
            // Odd block boundaries on purpose: the writer must not assume 16 KiB blocks.
            let blocks = vec![
                Bytes::copy_from_slice(&data[start..start + 100]),
                Bytes::copy_from_slice(&data[start + 100..end]),
            ];
            st.write_piece(p, &blocks).unwrap();
            assert!(st.check_piece(p));
            assert_eq!(&st.read_piece(p).unwrap()[..], &data[start..end]);
        }
        assert_eq!(std::fs::read(root.join("a.bin")).unwrap(), &data[..3000]);
        assert_eq!(
            std::fs::read(root.join("sub/b.bin")).unwrap(),
            &data[3500..]
        );
        assert!(st.pool.open_count() <= 2);
        let stamps = st.stamps();
        assert_eq!(stamps[0].size, 3000);
        assert_eq!(stamps[1].size, 0);
    }

    #[test]
    fn a_folder_symlinked_outside_is_refused() {
        let dir = bf_testkit::temp_dir();
        let outside = bf_testkit::temp_dir();
        let data = vec![1u8; 100];
        let meta = multi(&[("sub/x.bin", 100, false)], 1024, &data);
        let root = dir.path().join("top");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("sub")).unwrap();
        let st = Storage::new(meta, &root, Arc::new(FilePool::new(4))).unwrap();
        assert!(matches!(st.create_files(), Err(StorageError::Escapes(_))));
        assert!(!outside.path().join("x.bin").exists());
    }
}
