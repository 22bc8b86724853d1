//! Writing torrents so that a failure never leaves a partial file.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
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

/// Writes `bytes` to standard output. A reader that went away (`| head`) ends the output
/// quietly, as for any Unix filter, where `print!` would panic.
pub fn to_stdout(bytes: &[u8]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e)
            .context("cannot write to standard output")
            .exit_with(Exit::Storage),
        _ => Ok(()),
    }
}

/// The refusal to overwrite `path`.
pub fn already_exists(path: &Path) -> Result<()> {
    bail!("{path:?} already exists (use --force to overwrite)")
}
