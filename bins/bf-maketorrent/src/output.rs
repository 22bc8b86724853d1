//! Reading torrents and writing them so that a failure never leaves a partial file.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use bf_metainfo::Metainfo;

/// Larger than any real torrent (the pieces of a 1 PiB torrent at 16 MiB pieces fit in
/// 1.3 MiB); refusing early keeps a wrong argument from being read into memory.
const MAX_TORRENT_FILE: u64 = 256 << 20;

/// Reads and validates a `.torrent` file.
pub fn read_torrent(path: &Path) -> Result<Metainfo> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {path:?}"))?;
    if !meta.is_file() {
        bail!("{path:?} is not a file");
    }
    if meta.len() > MAX_TORRENT_FILE {
        bail!(
            "{path:?} is {} bytes, too large for a torrent file",
            meta.len()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {path:?}"))?;
    Metainfo::from_bytes(&bytes).with_context(|| format!("{path:?}"))
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place: readers
/// see the old file or the whole new one. Without `force` an existing `path` is an error.
pub fn write_atomically(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".bf-maketorrent-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a file in {dir:?}"))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {:?}", tmp.path()))?;
    let result = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    match result {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{path:?} already exists (use --force to overwrite)")
        }
        Err(e) => Err(e.error).with_context(|| format!("cannot write {path:?}")),
    }
}
