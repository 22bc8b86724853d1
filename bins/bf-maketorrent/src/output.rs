//! Writing torrents so that a failure never leaves a partial file.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};

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
