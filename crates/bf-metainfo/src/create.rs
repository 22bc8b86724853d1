//! Making a torrent from a file or a directory: scanning, parallel piece hashing, and the
//! `.torrent` itself.
//!
//! What goes in, and in which order:
//! - A file makes a single-file torrent named after it; a directory makes a multi-file torrent
//!   named after the directory, holding every file below it, empty files included.
//!   [`CreateOptions::name`] names it otherwise.
//! - Skipped in directories, as the original BitTorrent did: `CVS`, `core`, `Thumbs.db`,
//!   `desktop.ini` and every name starting with a dot (kept with
//!   [`ScanOptions::include_hidden`]), and whatever [`ScanOptions::exclude`] leaves out. The
//!   path given itself is never skipped.
//! - Files are ordered by their relative path compared byte-wise as one `/`-joined string,
//!   as mktorrent orders them, so both make the same info-hash from the same tree.
//! - Symbolic links below the path given are skipped (and counted), as imdl does: a link can
//!   lead anywhere, and sharing what it points to should be asked for. With
//!   [`ScanOptions::follow_symlinks`] they are followed, to files and to directories, as
//!   mktorrent does; a link back to a directory being scanned is then refused as a loop.
//!   Anything that is neither a file nor a directory (a FIFO, a socket, a device, a dangling
//!   link) is an error naming it, since reading it could block or lie about its size.
//! - File names must be UTF-8 and pass [`crate::safe_path`]; the error names the file.
//!
//! The `info` dictionary holds what mktorrent 1.1 writes: `length` or `files` (each with
//! `length` and `path`), `name`, `piece length`, `pieces`, `private` when asked, and
//! `source` when given (the key private trackers ask for, so that the same data
//! cross-seeded to two trackers has two info-hashes).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;

use bf_bencode::{Dict, Value};
use sha1::{Digest, Sha1};
use thiserror::Error;

use crate::layout::slices;
use crate::metainfo::{FileEntry, Metainfo, Node, MAX_FILES, MAX_TOTAL_LENGTH};
use crate::piece_size::{auto_piece_length, is_valid_piece_length};
use crate::safe_path::component_problem;
use crate::MetainfoError;

/// Names never put in a torrent from a directory (besides names starting with a dot).
pub const IGNORED_NAMES: [&str; 4] = ["CVS", "core", "Thumbs.db", "desktop.ini"];
/// Deepest directory nesting scanned.
pub const MAX_SCAN_DEPTH: usize = 128;
/// Longest `pieces` field written: the longest string bf-bencode reads by default.
const MAX_PIECES_FIELD: u64 = 256 << 20;
/// Bytes read and hashed at a time by each worker: small enough to stay in the core's cache
/// between the kernel's copy and the hash, large enough that system calls cost little.
const CHUNK: usize = 128 << 10;

/// Why a torrent could not be made.
#[derive(Debug, Error)]
pub enum CreateError {
    /// Reading the input failed.
    #[error("{path:?}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A file name that is not UTF-8.
    #[error("{0:?}: file name is not UTF-8")]
    NotUtf8(PathBuf),
    /// A file name that would be unsafe in a torrent.
    #[error("{path:?}: {reason}")]
    UnsafeName {
        /// The file.
        path: PathBuf,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// Neither a regular file nor a directory.
    #[error("{0:?}: not a regular file or directory (FIFO, socket, device or dangling link)")]
    NotRegular(PathBuf),
    /// A symbolic link that leads back to a directory being scanned.
    #[error(
        "{link:?}: symbolic link loop: it leads back to {target:?}, a directory being scanned"
    )]
    SymlinkLoop {
        /// The link (or the directory reached through it).
        link: PathBuf,
        /// The directory it leads back to.
        target: PathBuf,
    },
    /// Directories nested deeper than [`MAX_SCAN_DEPTH`].
    #[error("{0:?}: directories nested deeper than {MAX_SCAN_DEPTH} levels")]
    TooDeep(PathBuf),
    /// More than [`MAX_FILES`] files.
    #[error("more than {MAX_FILES} files")]
    TooManyFiles,
    /// More than [`MAX_TOTAL_LENGTH`] bytes.
    #[error("more than {MAX_TOTAL_LENGTH} bytes of content")]
    TooLarge,
    /// No data to put in a torrent.
    #[error("{0:?} holds no data (skipped: empty files, names starting with a dot, CVS, core, Thumbs.db, desktop.ini, symbolic links and excluded names)")]
    Empty(PathBuf),
    /// A torrent name ([`CreateOptions::name`]) that would be unsafe as a file name.
    #[error("torrent name {name:?}: {reason}")]
    BadName {
        /// The name asked for.
        name: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A piece length that is not a power of two from 16 KiB to 256 MiB.
    #[error("piece size {0} is not a power of two from 16 KiB to 256 MiB")]
    BadPieceLength(u64),
    /// So many pieces that readers would refuse the `pieces` field (over 256 MiB).
    #[error("{0} pieces is too many for a torrent file; choose a larger piece size")]
    TooManyPieces(u64),
    /// A file that became shorter while it was hashed.
    #[error("{0:?}: file changed while hashing (it became shorter)")]
    Changed(PathBuf),
    /// No hashing thread could be started.
    #[error("cannot start a hashing thread: {0}")]
    Thread(std::io::Error),
    /// The result failed validation (a bug, or options such as a bad node).
    #[error("{0}")]
    Metainfo(#[from] MetainfoError),
}

/// One file found by [`Source::scan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Path components inside the torrent (`[name]` for a single-file torrent).
    pub path: Vec<String>,
    /// Where the file is on disk.
    pub disk_path: PathBuf,
    /// Length in bytes at scan time.
    pub length: u64,
}

/// Which entries of a directory [`Source::scan_with`] takes, besides the fixed rules of the
/// module docs. The default is what [`Source::scan`] does.
#[derive(Clone, Copy)]
pub struct ScanOptions<'a> {
    /// Keep names starting with a dot.
    pub include_hidden: bool,
    /// Follow symbolic links instead of skipping them.
    pub follow_symlinks: bool,
    /// Called for each entry below the path given, with its path inside the torrent
    /// (components joined by `/`, the torrent's name left out) and whether it is a
    /// directory; `true` leaves it out, and everything below it.
    pub exclude: &'a (dyn Fn(&str, bool) -> bool + Sync),
}

fn exclude_nothing(_: &str, _: bool) -> bool {
    false
}

impl Default for ScanOptions<'_> {
    fn default() -> Self {
        ScanOptions {
            include_hidden: false,
            follow_symlinks: false,
            exclude: &exclude_nothing,
        }
    }
}

impl std::fmt::Debug for ScanOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanOptions")
            .field("include_hidden", &self.include_hidden)
            .field("follow_symlinks", &self.follow_symlinks)
            .finish_non_exhaustive()
    }
}

/// The content of a torrent to be made: the scanned file or directory tree.
#[derive(Debug, Clone)]
pub struct Source {
    name: String,
    single_file: bool,
    files: Vec<SourceFile>,
    layout: Vec<FileEntry>,
    total_length: u64,
    skipped_symlinks: usize,
}

impl Source {
    /// Scans `path` (a file or a directory) with the default [`ScanOptions`]; see the
    /// module docs for the rules.
    pub fn scan(path: &Path) -> Result<Source, CreateError> {
        Source::scan_with(path, &ScanOptions::default())
    }

    /// Scans `path` (a file or a directory; see the module docs for the rules).
    pub fn scan_with(path: &Path, opts: &ScanOptions<'_>) -> Result<Source, CreateError> {
        let io = |source| CreateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        // `.`, `..` or `dir/` have no usable file name of their own: use the real one.
        let named = if path.file_name().is_some() && !path.ends_with("..") {
            path.to_path_buf()
        } else {
            std::fs::canonicalize(path).map_err(io)?
        };
        let name = named
            .file_name()
            .ok_or_else(|| CreateError::NotUtf8(path.to_path_buf()))?
            .to_str()
            .ok_or_else(|| CreateError::NotUtf8(path.to_path_buf()))?
            .to_owned();
        if let Some(reason) = component_problem(&name) {
            return Err(CreateError::UnsafeName {
                path: path.to_path_buf(),
                reason,
            });
        }
        let mut skipped_symlinks = 0;
        let (files, single_file) = if meta.is_file() {
            let f = SourceFile {
                path: vec![name.clone()],
                disk_path: path.to_path_buf(),
                length: meta.len(),
            };
            (vec![f], true)
        } else if meta.is_dir() {
            let mut walk = Walk {
                opts,
                ancestors: vec![(dir_id(&meta), path.to_path_buf())],
                files: Vec::new(),
                skipped_symlinks: 0,
            };
            walk.dir(path, &mut Vec::new())?;
            skipped_symlinks = walk.skipped_symlinks;
            let mut files = walk.files;
            // mktorrent's order: the joined path compared as bytes ("a-b/x" < "a.txt" < "a/y").
            files.sort_by_cached_key(|f: &SourceFile| f.path.join("/"));
            (files, false)
        } else {
            return Err(CreateError::NotRegular(path.to_path_buf()));
        };
        let mut offset = 0u64;
        let mut layout = Vec::with_capacity(files.len());
        for f in &files {
            layout.push(FileEntry {
                path: f.path.clone(),
                length: f.length,
                offset,
                padding: false,
            });
            offset = offset
                .checked_add(f.length)
                .filter(|&t| t <= MAX_TOTAL_LENGTH)
                .ok_or(CreateError::TooLarge)?;
        }
        if offset == 0 {
            return Err(CreateError::Empty(path.to_path_buf()));
        }
        Ok(Source {
            name,
            single_file,
            files,
            layout,
            total_length: offset,
            skipped_symlinks,
        })
    }

    /// Symbolic links left out because [`ScanOptions::follow_symlinks`] was off.
    pub fn skipped_symlinks(&self) -> usize {
        self.skipped_symlinks
    }

    /// The torrent's name: the file or directory name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this makes a single-file torrent.
    pub fn is_single_file(&self) -> bool {
        self.single_file
    }

    /// The files in torrent order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Total content length in bytes.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// SHA-1 of every piece, concatenated, hashed by `threads` workers (0: one per core).
    ///
    /// Each worker takes the next piece, reads it in small chunks (across file boundaries)
    /// and hashes as it reads, so memory stays at one chunk per worker whatever the piece
    /// length. `progress` is called on the calling thread with the bytes hashed so far.
    pub fn hash_pieces(
        &self,
        piece_length: u64,
        threads: usize,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<u8>, CreateError> {
        if !is_valid_piece_length(piece_length) {
            return Err(CreateError::BadPieceLength(piece_length));
        }
        let count = self.total_length.div_ceil(piece_length);
        if count.saturating_mul(20) > MAX_PIECES_FIELD {
            return Err(CreateError::TooManyPieces(count));
        }
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let threads = threads
            .clamp(1, 256)
            .min(usize::try_from(count).unwrap_or(usize::MAX).max(1));
        let next = AtomicU64::new(0);
        let abort = AtomicBool::new(false);
        let mut pieces = vec![0u8; usize::try_from(count * 20).map_err(|_| CreateError::TooLarge)?];
        let mut first_error = None;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<Result<(u64, [u8; 20], u64), CreateError>>();
            let mut spawned = 0;
            for _ in 0..threads {
                let tx = tx.clone();
                let (next, abort) = (&next, &abort);
                let handle = std::thread::Builder::new().spawn_scoped(scope, move || {
                    let mut worker = Worker::new(self);
                    while !abort.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            break;
                        }
                        let r = worker.hash_piece(i, piece_length);
                        let failed = r.is_err();
                        if tx.send(r.map(|(h, n)| (i, h, n))).is_err() || failed {
                            break;
                        }
                    }
                });
                match handle {
                    Ok(_) => spawned += 1,
                    // Fewer workers than asked is fine; none at all is an error.
                    Err(e) if spawned == 0 => {
                        first_error = Some(CreateError::Thread(e));
                        break;
                    }
                    Err(_) => break,
                }
            }
            drop(tx);
            let mut done = 0u64;
            for msg in rx {
                match msg {
                    Ok((i, hash, n)) => {
                        let at = (i * 20) as usize;
                        pieces[at..at + 20].copy_from_slice(&hash);
                        done += n;
                        progress(done);
                    }
                    Err(e) => {
                        abort.store(true, Ordering::Relaxed);
                        first_error.get_or_insert(e);
                    }
                }
            }
        });
        match first_error {
            Some(e) => Err(e),
            None => Ok(pieces),
        }
    }
}

/// What to put in a new torrent besides its content.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The torrent's name (and a single file's name for downloaders); `None`: the name of
    /// the file or directory scanned.
    pub name: Option<String>,
    /// The `source` key inside `info` (so it changes the info-hash): private trackers ask
    /// for their own, so that cross-seeded data has a distinct torrent on each.
    pub source: Option<String>,
    /// Piece length; `None` chooses one ([`auto_piece_length`]).
    pub piece_length: Option<u64>,
    /// Hashing threads; 0 means one per core.
    pub threads: usize,
    /// Set the BEP 27 `private` flag (inside `info`, so it changes the info-hash).
    pub private: bool,
    /// Tracker tiers (BEP 12); the first URL also becomes `announce`.
    pub trackers: Vec<Vec<String>>,
    /// DHT bootstrap nodes for trackerless torrents (BEP 5).
    pub nodes: Vec<Node>,
    /// Web seeds (BEP 19).
    pub url_list: Vec<String>,
    /// A comment.
    pub comment: Option<String>,
    /// The program that made it, e.g. `BitFountain/0.1.0`.
    pub created_by: Option<String>,
    /// Creation time, seconds since the Unix epoch; `None` leaves it out.
    pub creation_date: Option<i64>,
}

/// Hashes `source` and builds its torrent.
pub fn create(
    source: &Source,
    opts: &CreateOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Metainfo, CreateError> {
    let piece_length = opts
        .piece_length
        .unwrap_or_else(|| auto_piece_length(source.total_length));
    // A bad name is refused before the hashing, which can take minutes, not after it.
    torrent_name(source, opts)?;
    let pieces = source.hash_pieces(piece_length, opts.threads, progress)?;
    build(source, opts, piece_length, pieces)
}

/// [`CreateOptions::name`] if it is a safe file name, else the scanned name.
fn torrent_name(source: &Source, opts: &CreateOptions) -> Result<String, CreateError> {
    match &opts.name {
        Some(name) => match component_problem(name) {
            Some(reason) => Err(CreateError::BadName {
                name: name.clone(),
                reason,
            }),
            None => Ok(name.clone()),
        },
        None => Ok(source.name.clone()),
    }
}

/// Builds the torrent from already computed piece hashes.
pub fn build(
    source: &Source,
    opts: &CreateOptions,
    piece_length: u64,
    pieces: Vec<u8>,
) -> Result<Metainfo, CreateError> {
    let mut info = Dict::new();
    if source.single_file {
        info.insert(&b"length"[..], Value::Int(source.total_length as i64));
    } else {
        let files = source
            .files
            .iter()
            .map(|f| {
                let mut d = Dict::new();
                d.insert(&b"length"[..], Value::Int(f.length as i64));
                let path = f.path.iter().map(|c| Value::from(c.clone())).collect();
                d.insert(&b"path"[..], Value::List(path));
                Value::Dict(d)
            })
            .collect();
        info.insert(&b"files"[..], Value::List(files));
    }
    info.insert(&b"name"[..], Value::from(torrent_name(source, opts)?));
    info.insert(&b"piece length"[..], Value::Int(piece_length as i64));
    info.insert(&b"pieces"[..], Value::from(pieces));
    if opts.private {
        info.insert(&b"private"[..], Value::Int(1));
    }
    if let Some(src) = &opts.source {
        info.insert(&b"source"[..], Value::from(src.clone()));
    }
    let mut top = Dict::new();
    top.insert(&b"info"[..], Value::Dict(info));
    let mut m = Metainfo::from_bytes(&Value::Dict(top).to_bytes())?;
    m.set_trackers(opts.trackers.clone());
    m.set_nodes(opts.nodes.clone());
    m.set_url_list(opts.url_list.clone());
    m.set_description(
        opts.comment.clone(),
        opts.created_by.clone(),
        opts.creation_date,
    );
    // Re-read so that options are validated by the same rules as any file.
    Ok(Metainfo::from_bytes(&m.to_bytes())?)
}

struct Worker<'s> {
    source: &'s Source,
    open: Option<(usize, File)>,
    buf: Vec<u8>,
}

impl<'s> Worker<'s> {
    fn new(source: &'s Source) -> Self {
        Worker {
            source,
            open: None,
            buf: vec![0; CHUNK],
        }
    }

    fn hash_piece(
        &mut self,
        index: u64,
        piece_length: u64,
    ) -> Result<([u8; 20], u64), CreateError> {
        let start = index * piece_length;
        let len = piece_length.min(self.source.total_length - start);
        let mut hasher = Sha1::new();
        for s in slices(&self.source.layout, start, len) {
            let disk_path = &self.source.files[s.file_index].disk_path;
            let io = |source| CreateError::Io {
                path: disk_path.clone(),
                source,
            };
            let file = match &mut self.open {
                Some((i, f)) if *i == s.file_index => f,
                slot => {
                    let f = File::open(disk_path).map_err(io)?;
                    &mut slot.insert((s.file_index, f)).1
                }
            };
            file.seek(SeekFrom::Start(s.file_offset)).map_err(io)?;
            let mut left = s.len;
            while left > 0 {
                let want = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
                let n = match file.read(&mut self.buf[..want]) {
                    Ok(0) => return Err(CreateError::Changed(disk_path.clone())),
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(io(e)),
                };
                hasher.update(&self.buf[..n]);
                left -= n as u64;
            }
        }
        Ok((hasher.finalize().into(), len))
    }
}

#[cfg(unix)]
fn dir_id(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dir_id(_meta: &std::fs::Metadata) -> (u64, u64) {
    // No inode numbers: loops are then stopped by the depth limit alone.
    (0, 0)
}

/// One directory scan's state: where it is, and what it found.
struct Walk<'o, 'a> {
    opts: &'o ScanOptions<'a>,
    /// The directories from the path given down to the one being read: a directory met
    /// again among them is a loop.
    ancestors: Vec<((u64, u64), PathBuf)>,
    files: Vec<SourceFile>,
    skipped_symlinks: usize,
}

impl Walk<'_, '_> {
    fn dir(&mut self, dir: &Path, rel: &mut Vec<String>) -> Result<(), CreateError> {
        if rel.len() > MAX_SCAN_DEPTH {
            return Err(CreateError::TooDeep(dir.to_path_buf()));
        }
        let io = |path: &Path, source| CreateError::Io {
            path: path.to_path_buf(),
            source,
        };
        let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(dir, e))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name
                .to_str()
                .ok_or_else(|| CreateError::NotUtf8(path.clone()))?;
            if (name.starts_with('.') && !self.opts.include_hidden) || IGNORED_NAMES.contains(&name)
            {
                continue;
            }
            if let Some(reason) = component_problem(name) {
                return Err(CreateError::UnsafeName { path, reason });
            }
            // The entry's own type, not its target's: a link is decided on before it is
            // followed.
            let kind = entry.file_type().map_err(|e| io(&path, e))?;
            if kind.is_symlink() && !self.opts.follow_symlinks {
                self.skipped_symlinks += 1;
                continue;
            }
            let meta = std::fs::metadata(&path);
            rel.push(name.to_owned());
            // Asked before the entry must be a file or a directory: an excluded FIFO or
            // dangling link is no error.
            if (self.opts.exclude)(&rel.join("/"), meta.as_ref().is_ok_and(|m| m.is_dir())) {
                rel.pop();
                continue;
            }
            let meta = meta.map_err(|_| CreateError::NotRegular(path.clone()))?;
            if meta.is_file() {
                if self.files.len() >= MAX_FILES {
                    return Err(CreateError::TooManyFiles);
                }
                self.files.push(SourceFile {
                    path: rel.clone(),
                    disk_path: path,
                    length: meta.len(),
                });
            } else if meta.is_dir() {
                let id = dir_id(&meta);
                if cfg!(unix) {
                    if let Some((_, target)) = self.ancestors.iter().find(|(a, _)| *a == id) {
                        return Err(CreateError::SymlinkLoop {
                            link: path,
                            target: target.clone(),
                        });
                    }
                }
                self.ancestors.push((id, path.clone()));
                self.dir(&path, rel)?;
                self.ancestors.pop();
            } else {
                return Err(CreateError::NotRegular(path));
            }
            rel.pop();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn naive_pieces(data: &[u8], pl: usize) -> Vec<u8> {
        data.chunks(pl)
            .flat_map(|c| <[u8; 20]>::from(Sha1::digest(c)))
            .collect()
    }

    fn bytes(seed: u8, n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn directory_scan_skips_orders_and_hashes_across_files() {
        let tmp = bf_testkit::temp_dir();
        let root = tmp.path().join("content");
        for d in ["a", "a-b", "sub/deeper", ".git", "CVS"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let files: [(&str, usize); 6] = [
            ("a/y", 40_000),
            ("a-b/x", 1),
            ("a.txt", 0),
            ("sub/deeper/z", 70_000),
            ("B", 16_384),
            ("zz", 5),
        ];
        for (i, (p, n)) in files.iter().enumerate() {
            fs::write(root.join(p), bytes(i as u8, *n)).unwrap();
        }
        for skipped in [
            ".git/config",
            "CVS/Root",
            ".hidden",
            "core",
            "Thumbs.db",
            "desktop.ini",
        ] {
            fs::write(root.join(skipped), b"skip").unwrap();
        }
        let src = Source::scan(&root).unwrap();
        let order: Vec<String> = src.files().iter().map(|f| f.path.join("/")).collect();
        assert_eq!(order, ["B", "a-b/x", "a.txt", "a/y", "sub/deeper/z", "zz"]);
        assert_eq!(src.name(), "content");

        let mut all = Vec::new();
        for f in src.files() {
            all.extend(fs::read(&f.disk_path).unwrap());
        }
        let expected = naive_pieces(&all, 16384);
        for threads in [1, 2, 3, 16] {
            let mut last = 0;
            let got = src.hash_pieces(16384, threads, &mut |n| last = n).unwrap();
            assert_eq!(got, expected, "{threads} threads");
            assert_eq!(last, all.len() as u64);
        }
        let m = create(
            &src,
            &CreateOptions {
                piece_length: Some(16384),
                ..Default::default()
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(m.piece_hashes(), &expected[..]);
        assert_eq!(m.files().len(), 6);
    }

    #[test]
    fn single_file_with_options() {
        let tmp = bf_testkit::temp_dir();
        let p = tmp.path().join("one.bin");
        fs::write(&p, bytes(9, 100_000)).unwrap();
        let opts = CreateOptions {
            private: true,
            trackers: vec![vec!["http://t/announce".into()], vec!["udp://u:1".into()]],
            nodes: vec![Node {
                host: "127.0.0.1".into(),
                port: 6881,
            }],
            comment: Some("hi".into()),
            created_by: Some("BitFountain/0.1.0".into()),
            creation_date: Some(1),
            ..Default::default()
        };
        let m = create(&Source::scan(&p).unwrap(), &opts, &mut |_| {}).unwrap();
        assert!(m.is_single_file() && m.is_private());
        assert_eq!(m.name(), "one.bin");
        assert_eq!(m.piece_length(), 16384);
        assert_eq!(m.trackers().len(), 2);
        assert_eq!(
            m.piece_hashes(),
            &naive_pieces(&bytes(9, 100_000), 16384)[..]
        );
        // The info dictionary holds mktorrent's keys and nothing else.
        let info = bf_bencode::decode(m.info_bytes()).unwrap();
        let keys: Vec<&[u8]> = info.as_dict().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                &b"length"[..],
                b"name",
                b"piece length",
                b"pieces",
                b"private"
            ]
        );
    }

    #[test]
    fn clear_errors_for_bad_input() {
        let tmp = bf_testkit::temp_dir();
        let empty = tmp.path().join("empty");
        fs::create_dir(&empty).unwrap();
        fs::write(empty.join(".only-hidden"), b"x").unwrap();
        assert!(matches!(Source::scan(&empty), Err(CreateError::Empty(_))));
        assert!(matches!(
            Source::scan(&tmp.path().join("missing")),
            Err(CreateError::Io { .. })
        ));
        let src = Source::scan(tmp.path().join("empty/.only-hidden").as_path()).unwrap();
        assert!(matches!(
            src.hash_pieces(1000, 1, &mut |_| {}),
            Err(CreateError::BadPieceLength(1000))
        ));

        #[cfg(unix)]
        {
            let looped = tmp.path().join("looped");
            fs::create_dir_all(looped.join("d")).unwrap();
            fs::write(looped.join("f"), b"x").unwrap();
            std::os::unix::fs::symlink(&looped, looped.join("d/back")).unwrap();
            // Skipped by default; followed, it is a loop naming the link and its target.
            assert_eq!(Source::scan(&looped).unwrap().skipped_symlinks(), 1);
            let follow = ScanOptions {
                follow_symlinks: true,
                ..ScanOptions::default()
            };
            match Source::scan_with(&looped, &follow) {
                Err(e @ CreateError::SymlinkLoop { .. }) => {
                    let e = e.to_string();
                    assert!(e.contains("d/back") && e.contains("looped\""), "{e}");
                }
                other => panic!("{other:?}"),
            }

            let bad = tmp.path().join("bad");
            fs::create_dir(&bad).unwrap();
            fs::write(bad.join("a\\b"), b"x").unwrap();
            let e = Source::scan(&bad).unwrap_err().to_string();
            assert!(e.contains("a\\\\b") && e.contains("separator"), "{e}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_hidden_names_and_exclusions_follow_the_scan_options() {
        let tmp = bf_testkit::temp_dir();
        let outside = tmp.path().join("outside");
        fs::create_dir_all(outside.join("inner")).unwrap();
        fs::write(outside.join("inner/o.bin"), b"outside").unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("keep/skip-me")).unwrap();
        fs::create_dir_all(root.join(".config")).unwrap();
        fs::write(root.join("keep/a.txt"), b"a").unwrap();
        fs::write(root.join("keep/skip-me/deep.txt"), b"deep").unwrap();
        fs::write(root.join("keep/b.nfo"), b"b").unwrap();
        fs::write(root.join(".config/c"), b"c").unwrap();
        fs::write(root.join(".env"), b"e").unwrap();
        fs::write(root.join("CVS"), b"still ignored").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("dir-link")).unwrap();
        std::os::unix::fs::symlink(root.join("keep/a.txt"), root.join("file-link")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), root.join("dangling")).unwrap();
        let paths = |src: &Source| -> Vec<String> {
            src.files().iter().map(|f| f.path.join("/")).collect()
        };

        let plain = Source::scan(&root).unwrap();
        assert_eq!(
            paths(&plain),
            ["keep/a.txt", "keep/b.nfo", "keep/skip-me/deep.txt"]
        );
        assert_eq!(plain.skipped_symlinks(), 3);

        let hidden = ScanOptions {
            include_hidden: true,
            ..ScanOptions::default()
        };
        let with_hidden = Source::scan_with(&root, &hidden).unwrap();
        assert_eq!(
            paths(&with_hidden),
            [
                ".config/c",
                ".env",
                "keep/a.txt",
                "keep/b.nfo",
                "keep/skip-me/deep.txt"
            ]
        );

        // The dangling link is excluded by name, so following the others is no error.
        let seen = std::sync::Mutex::new(Vec::new());
        let exclude = |p: &str, is_dir: bool| {
            seen.lock().unwrap().push((p.to_owned(), is_dir));
            p == "dangling" || p.ends_with(".nfo") || (is_dir && p.ends_with("skip-me"))
        };
        let follow = ScanOptions {
            follow_symlinks: true,
            exclude: &exclude,
            ..ScanOptions::default()
        };
        let followed = Source::scan_with(&root, &follow).unwrap();
        assert_eq!(
            paths(&followed),
            ["dir-link/inner/o.bin", "file-link", "keep/a.txt"]
        );
        assert_eq!(followed.skipped_symlinks(), 0);
        let seen = seen.into_inner().unwrap();
        assert!(
            seen.contains(&("dir-link/inner".to_owned(), true)),
            "{seen:?}"
        );
        assert!(
            !seen.iter().any(|(p, _)| p.contains("deep")),
            "nothing below an excluded directory is looked at: {seen:?}"
        );
        // Not excluded, the dangling link is an error naming it.
        let follow_all = ScanOptions {
            follow_symlinks: true,
            ..ScanOptions::default()
        };
        let e = Source::scan_with(&root, &follow_all).unwrap_err();
        assert!(
            matches!(&e, CreateError::NotRegular(p) if p.ends_with("dangling")),
            "{e}"
        );
    }

    #[test]
    fn name_and_source_go_in_the_info_dictionary() {
        let tmp = bf_testkit::temp_dir();
        let p = tmp.path().join("data.bin");
        fs::write(&p, bytes(3, 40_000)).unwrap();
        let src = Source::scan(&p).unwrap();
        let plain = create(&src, &CreateOptions::default(), &mut |_| {}).unwrap();
        let opts = CreateOptions {
            name: Some("Renamed.bin".into()),
            source: Some("TRACKER".into()),
            private: true,
            ..Default::default()
        };
        let m = create(&src, &opts, &mut |_| {}).unwrap();
        assert_eq!(m.name(), "Renamed.bin");
        assert_ne!(m.info_hash(), plain.info_hash());
        let info = bf_bencode::decode(m.info_bytes()).unwrap();
        let info = info.as_dict().unwrap();
        let keys: Vec<&[u8]> = info.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                &b"length"[..],
                b"name",
                b"piece length",
                b"pieces",
                b"private",
                b"source"
            ]
        );
        assert_eq!(
            info.get(b"source").unwrap().as_bytes(),
            Some(&b"TRACKER"[..])
        );
        // Only the source differs: a different info-hash for each tracker's copy.
        let other = CreateOptions {
            source: Some("OTHER".into()),
            ..opts.clone()
        };
        let m2 = create(&src, &other, &mut |_| {}).unwrap();
        assert_ne!(m2.info_hash(), m.info_hash());
        assert_eq!(m2.piece_hashes(), m.piece_hashes());

        for bad in ["", "a/b", "..", "C:x"] {
            let opts = CreateOptions {
                name: Some(bad.into()),
                ..Default::default()
            };
            let mut hashed = false;
            let e = create(&src, &opts, &mut |_| hashed = true).unwrap_err();
            assert!(matches!(e, CreateError::BadName { .. }), "{bad:?}: {e}");
            assert!(!hashed, "{bad:?}: refused only after hashing");
        }
    }

    #[test]
    fn file_shrinking_while_hashing_is_an_error() {
        let tmp = bf_testkit::temp_dir();
        let p = tmp.path().join("f");
        fs::write(&p, vec![0u8; 50_000]).unwrap();
        let src = Source::scan(&p).unwrap();
        fs::write(&p, vec![0u8; 10]).unwrap();
        assert!(matches!(
            src.hash_pieces(16384, 2, &mut |_| {}),
            Err(CreateError::Changed(_))
        ));
    }
}
