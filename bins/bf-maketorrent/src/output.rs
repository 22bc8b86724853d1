//! Writing torrents so that a failure never leaves a partial file.

use std::path::Path;

use anyhow::{bail, Result};
use bf_cli::{Exit, ResultExt, WriteError};

/// Writes `bytes` to `path` whole or not at all (see [`bf_cli::write_file_atomically`]).
/// Without `force` an existing `path` is an error and is left alone.
pub fn write_atomically(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let written = if force {
        bf_cli::write_file_atomically(path, bytes)
    } else {
        bf_cli::write_new_file_atomically(path, bytes)
    };
    match written {
        Ok(()) => Ok(()),
        Err(WriteError::Exists(_)) => already_exists(path),
        Err(e) => Err(e).exit_with(Exit::Storage),
    }
}

/// The refusal to overwrite `path`.
pub fn already_exists(path: &Path) -> Result<()> {
    bail!("{path:?} already exists (use --force to overwrite)")
}
