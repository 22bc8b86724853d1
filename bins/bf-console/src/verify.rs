//! `bf-console verify`: checks data on disk against a torrent's piece hashes (imdl's
//! `torrent verify`). It is the check the engine runs on start ([`Storage::check_piece`]),
//! on every core, and it says per file which pieces fail and why when the reason is plain
//! (a missing file, a wrong size).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use anyhow::{anyhow, Result};
use bf_cli::{Exit, ResultExt};
use bf_client::storage::{FilePool, Storage};
use bf_metainfo::format::human_size;
use bf_metainfo::Metainfo;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::info::{clean, print_stdout};

/// Most piece ranges listed for one file; the rest are counted.
const MAX_RANGES_SHOWN: usize = 16;
/// Open files kept at once (the engine's pool does the same for a session).
const OPEN_FILES: usize = 64;

/// Arguments of `bf-console verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// The .torrent file.
    torrent: PathBuf,
    /// The data: the file of a single-file torrent (or the folder holding it under the
    /// torrent's name), the top folder of a multi-file one.
    path: PathBuf,
    /// Hashing threads [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
}

/// What one file on disk is, before any hashing.
enum FileState {
    Present,
    /// Not there, or not a file we can read: why, in a few words.
    Missing(String),
    WrongSize(u64),
}

/// Checks every piece and prints the report; an error (exit status 1) when anything does
/// not match.
pub fn run(args: &VerifyArgs) -> Result<()> {
    let meta = Arc::new(Metainfo::from_file(&args.torrent).exit_with(Exit::Input)?);
    let root = data_root(&meta, &args.path).exit_with(Exit::Input)?;
    let pool = Arc::new(FilePool::new(OPEN_FILES));
    let storage = Storage::new(meta.clone(), &root, pool).exit_with(Exit::Input)?;

    // The files' state first: it names the cause of most failures without guessing.
    let states: Vec<Option<FileState>> = meta
        .files()
        .iter()
        .map(|f| {
            (!f.padding).then(|| {
                let p = if meta.is_single_file() {
                    root.clone()
                } else {
                    root.join(f.relative_path())
                };
                match std::fs::metadata(&p) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        FileState::Missing("missing".into())
                    }
                    Err(e) => FileState::Missing(format!("cannot be read ({e})")),
                    Ok(md) if !md.is_file() => FileState::Missing("not a regular file".into()),
                    Ok(md) if md.len() != f.length => FileState::WrongSize(md.len()),
                    Ok(_) => FileState::Present,
                }
            })
        })
        .collect();

    let started = Instant::now();
    let failed = check_all(&storage, &meta, args.threads)?;
    let secs = started.elapsed().as_secs_f64();

    let n = meta.piece_count();
    let bad_pieces = failed.iter().filter(|&&f| f).count();
    let mut bad_files = 0usize;
    let mut lines = Vec::new();
    for (i, f) in meta.files().iter().enumerate() {
        let Some(state) = &states[i] else { continue };
        let pieces = file_pieces(&meta, i);
        let fails: Vec<u32> = pieces.clone().filter(|&p| failed[p as usize]).collect();
        let why = match state {
            FileState::Missing(why) => Some(why.clone()),
            FileState::WrongSize(actual) => Some(format!(
                "{actual} bytes on disk, the torrent says {}",
                f.length
            )),
            FileState::Present => None,
        };
        if why.is_none() && fails.is_empty() {
            continue;
        }
        bad_files += 1;
        let mut parts = Vec::new();
        if let Some(why) = why {
            parts.push(why);
        }
        if !fails.is_empty() {
            parts.push(describe_failures(&fails, &pieces));
        }
        let shown = if meta.is_single_file() {
            meta.name().to_owned()
        } else {
            f.display_path()
        };
        lines.push(format!("  FAILED  {}: {}", clean(&shown), parts.join("; ")));
    }

    let name = clean(meta.name());
    if bad_pieces == 0 && bad_files == 0 {
        let files = states.iter().flatten().count();
        return print_stdout(&format!(
            "{name}: all {n} piece{} match ({} in {files} file{}, {secs:.2} s)\n",
            if n == 1 { "" } else { "s" },
            human_size(meta.total_length()),
            if files == 1 { "" } else { "s" },
        ));
    }
    let verdict = format!(
        "{bad_files} file{} not matching, {bad_pieces} of {n} pieces failed",
        if bad_files == 1 { "" } else { "s" }
    );
    let mut report =
        format!("{name}: {verdict} ({secs:.2} s; a piece that spans files is listed under each)\n");
    for l in &lines {
        report += l;
        report.push('\n');
    }
    print_stdout(&report)?;
    Err(anyhow!(
        "{} does not match {}: {verdict}",
        root.display(),
        args.torrent.display()
    ))
    .exit_with(Exit::Failure)
}

/// Where the data is: PATH itself, or PATH/NAME for a single-file torrent given a folder.
fn data_root(meta: &Metainfo, path: &Path) -> Result<PathBuf> {
    let md = std::fs::metadata(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if meta.is_single_file() {
        return Ok(if md.is_dir() {
            path.join(meta.name())
        } else {
            path.to_path_buf()
        });
    }
    if !md.is_dir() {
        return Err(anyhow!(
            "{}: not a folder (the data of a multi-file torrent is its top folder)",
            path.display()
        ));
    }
    Ok(path.to_path_buf())
}

/// Which pieces fail, hashed by `threads` workers (default: one per core) that each take
/// the next piece; the calling thread draws the progress bar.
fn check_all(storage: &Storage, meta: &Metainfo, threads: Option<u16>) -> Result<Vec<bool>> {
    let n = meta.piece_count();
    let threads = threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |c| c.get()))
        .clamp(1, usize::try_from(n).unwrap_or(usize::MAX).max(1));
    let bar = progress_bar(meta.total_length());
    let next = AtomicU32::new(0);
    let mut failed = vec![false; n as usize];
    let mut spawn_error = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(u32, bool)>();
        let mut spawned = 0;
        for i in 0..threads {
            let tx = tx.clone();
            let next = &next;
            let worker = std::thread::Builder::new()
                .name(format!("verify-{i}"))
                .spawn_scoped(scope, move || loop {
                    let p = next.fetch_add(1, Ordering::Relaxed);
                    if p >= n || tx.send((p, storage.check_piece(p))).is_err() {
                        return;
                    }
                });
            match worker {
                Ok(_) => spawned += 1,
                // Fewer threads than asked still check everything; none cannot.
                Err(e) if spawned == 0 => {
                    spawn_error = Some(e);
                    break;
                }
                Err(_) => break,
            }
        }
        drop(tx);
        for (p, ok) in rx {
            failed[p as usize] = !ok;
            bar.inc(meta.piece_size(p).unwrap_or(0));
        }
    });
    bar.finish_and_clear();
    match spawn_error {
        Some(e) => Err(anyhow!("cannot start a hashing thread: {e}")),
        None => Ok(failed),
    }
}

/// A bar on standard error when it is a terminal; nothing otherwise (a log or a pipe wants
/// the report alone).
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "verifying [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// The pieces holding any byte of file `i` (none for an empty file).
fn file_pieces(meta: &Metainfo, i: usize) -> std::ops::Range<u32> {
    let f = &meta.files()[i];
    if f.length == 0 {
        return 0..0;
    }
    let pl = meta.piece_length();
    let first = f.offset / pl;
    let last = (f.offset + f.length - 1) / pl;
    // Piece counts fit u32 (bf-metainfo checks), so these do too.
    u32::try_from(first).unwrap_or(u32::MAX)..u32::try_from(last + 1).unwrap_or(u32::MAX)
}

/// `piece 7 of its 5 (5-9) fails`, `pieces 3, 7-9 of its 12 (0-11) fail`.
fn describe_failures(fails: &[u32], pieces: &std::ops::Range<u32>) -> String {
    if pieces.len() == 1 {
        return format!("its one piece, {}, fails", pieces.start);
    }
    let (noun, verb) = if fails.len() == 1 {
        ("piece", "fails")
    } else {
        ("pieces", "fail")
    };
    format!(
        "{noun} {} of its {} ({}-{}) {verb}",
        ranges(fails),
        pieces.len(),
        pieces.start,
        pieces.end.saturating_sub(1)
    )
}

/// Sorted piece numbers as `3, 7-9, 12`, at most [`MAX_RANGES_SHOWN`] ranges.
fn ranges(pieces: &[u32]) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &p in pieces {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == p => *end = p,
            _ => runs.push((p, p)),
        }
    }
    let mut parts: Vec<String> = runs
        .iter()
        .take(MAX_RANGES_SHOWN)
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    if runs.len() > MAX_RANGES_SHOWN {
        let rest: u32 = runs[MAX_RANGES_SHOWN..]
            .iter()
            .map(|&(a, b)| b - a + 1)
            .sum();
        parts.push(format!("and {rest} more"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_lists_are_ranges_and_bounded() {
        assert_eq!(ranges(&[3]), "3");
        assert_eq!(ranges(&[3, 7, 8, 9, 12]), "3, 7-9, 12");
        let scattered: Vec<u32> = (0..100).map(|i| i * 2).collect();
        let s = ranges(&scattered);
        assert!(s.ends_with("and 84 more"), "{s}");
        assert_eq!(describe_failures(&[5], &(5..6)), "its one piece, 5, fails");
        assert_eq!(
            describe_failures(&[7], &(5..10)),
            "piece 7 of its 5 (5-9) fails"
        );
        assert_eq!(
            describe_failures(&[5, 6, 9], &(5..10)),
            "pieces 5-6, 9 of its 5 (5-9) fail"
        );
    }
}
