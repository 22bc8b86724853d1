//! `--allowed-dir`: the torrents whose `.torrent` files sit in a folder, with the names and
//! sizes the index page shows. Rescanning re-parses only files whose size or mtime changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bf_metainfo::{InfoHash, Metainfo};

/// Most `.torrent` files looked at in one scan (bounds the work of a rescan).
pub const MAX_FILES: usize = 100_000;
/// Largest `.torrent` file read.
pub const MAX_TORRENT_FILE: u64 = 64 << 20;

/// What the index page shows about an allowed torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorrentInfo {
    /// The `name` from its info dictionary.
    pub name: String,
    /// Sum of its file lengths.
    pub total_length: u64,
    /// The `.torrent` file it was read from (served at `/file` with `--allow-get`).
    pub path: PathBuf,
}

#[derive(Clone)]
struct Cached {
    stamp: (u64, Option<SystemTime>),
    parsed: Option<(InfoHash, TorrentInfo)>,
}

/// The set of allowed torrents, kept up to date by [`AllowedDir::rescan`].
#[derive(Clone, Default)]
pub struct AllowedDir {
    dir: PathBuf,
    files: HashMap<PathBuf, Cached>,
    torrents: HashMap<InfoHash, TorrentInfo>,
}

impl AllowedDir {
    /// A scanner for `dir` (call [`rescan`](Self::rescan) to fill it).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        AllowedDir {
            dir: dir.into(),
            ..Default::default()
        }
    }

    /// Re-reads the folder; returns the number of torrents allowed. Unreadable or invalid
    /// files are skipped with a warning.
    pub fn rescan(&mut self) -> std::io::Result<usize> {
        let mut seen = HashMap::new();
        for entry in std::fs::read_dir(&self.dir)?.take(MAX_FILES) {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "torrent") {
                continue;
            }
            let Ok(md) = entry.metadata() else { continue };
            if !md.is_file() {
                continue;
            }
            let stamp = (md.len(), md.modified().ok());
            let cached = match self.files.get(&path) {
                Some(c) if c.stamp == stamp => c.clone(),
                _ => Cached {
                    stamp,
                    parsed: parse_file(&path, md.len()),
                },
            };
            seen.insert(path, cached);
        }
        self.torrents = seen.values().filter_map(|c| c.parsed.clone()).collect();
        self.files = seen;
        Ok(self.torrents.len())
    }

    /// The allowed torrents.
    pub fn torrents(&self) -> &HashMap<InfoHash, TorrentInfo> {
        &self.torrents
    }
}

fn parse_file(path: &Path, len: u64) -> Option<(InfoHash, TorrentInfo)> {
    if len > MAX_TORRENT_FILE {
        tracing::warn!(
            "{}: larger than {MAX_TORRENT_FILE} bytes, ignored",
            path.display()
        );
        return None;
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("{}: {e}", path.display());
            return None;
        }
    };
    match Metainfo::from_bytes(&bytes) {
        Ok(m) => Some((
            m.info_hash(),
            TorrentInfo {
                name: m.name().to_string(),
                total_length: m.total_length(),
                path: path.to_path_buf(),
            },
        )),
        Err(e) => {
            tracing::warn!("{}: not a valid torrent: {e}", path.display());
            None
        }
    }
}
