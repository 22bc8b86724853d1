//! `--dfile`: the whole state saved every `--save-interval`, and every change in between in
//! a journal beside it (`<dfile>.journal`), written about once a second, so that `kill -9`
//! loses at most the last second of joins, departures and completions.
//!
//! Each shard of the store keeps the journal records of its changes in a buffer, appended
//! under the shard's lock (so a peer's records are in the order the store saw them); the
//! flusher moves the buffers to the file. A save first closes the current journal (renamed
//! `.prev`), then streams the store to the state file a shard at a time, then deletes
//! `.prev`: a crash at any point leaves a state file plus journals that, replayed in order,
//! give the state back (replaying a record twice changes nothing). A journal that grows past
//! [`JOURNAL_COMPACT`] brings the next save forward.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::{unix_now, ServerError, Shared, SHARDS};
use crate::dfile::{self, Loaded};
use crate::journal::{self, Record};

/// How often the journal buffers go to the file.
pub(crate) const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Capacity a shard's journal buffer keeps between flushes (about 1,700 records a second).
const KEEP_BUFFER: usize = 64 << 10;
/// A journal this large makes the next save come now.
pub(crate) const JOURNAL_COMPACT: u64 = 64 << 20;

/// The journal of one state file.
pub(crate) struct Journal {
    /// Per shard: records not yet in the file.
    bufs: Box<[Mutex<Vec<u8>>]>,
    file: Mutex<Option<File>>,
    path: PathBuf,
    prev: PathBuf,
    /// Bytes in the current journal file.
    written: AtomicU64,
    /// Wakes the save loop early.
    pub(crate) compact: Notify,
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn io_err(path: &Path, e: std::io::Error) -> ServerError {
    ServerError::Dfile {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

impl Journal {
    /// The journal of `dfile` (files are opened by [`load`]).
    pub(crate) fn new(dfile: &Path) -> Self {
        let mut bufs = Vec::with_capacity(SHARDS);
        bufs.resize_with(SHARDS, || Mutex::new(Vec::new()));
        Journal {
            bufs: bufs.into_boxed_slice(),
            file: Mutex::new(None),
            path: with_suffix(dfile, ".journal"),
            prev: with_suffix(dfile, ".journal.prev"),
            written: AtomicU64::new(0),
            compact: Notify::new(),
        }
    }

    /// Queues a record of shard `shard`; call with the shard locked.
    pub(crate) fn record(&self, shard: usize, r: &Record) {
        if let Some(b) = self.bufs.get(shard) {
            r.encode(&mut b.lock().unwrap_or_else(|e| e.into_inner()));
        }
    }

    /// Moves the buffered records to the file (with the file's lock held by the caller),
    /// a shard's buffer at a time: each is written and handed back empty with its
    /// capacity, so that the journal allocates nothing in the steady state and never holds
    /// a copy of all the shards' records at once.
    fn drain_into(&self, file: &mut Option<File>) -> std::io::Result<()> {
        let Some(f) = file.as_mut() else {
            return Ok(());
        };
        let mut spare = Vec::new();
        let mut total = 0u64;
        for b in self.bufs.iter() {
            {
                let mut g = b.lock().unwrap_or_else(|e| e.into_inner());
                if g.is_empty() {
                    continue;
                }
                std::mem::swap(&mut *g, &mut spare);
            }
            // Written without the shard's buffer locked: announces go on meanwhile.
            let written = f.write_all(&spare);
            total += spare.len() as u64;
            spare.clear();
            // A burst (a million new peers in a few seconds) leaves big buffers: keep what
            // a steady second needs, give the rest back.
            spare.shrink_to(KEEP_BUFFER);
            {
                let mut g = b.lock().unwrap_or_else(|e| e.into_inner());
                // Keep the larger buffer for the shard, unless it filled again meanwhile.
                if g.is_empty() && g.capacity() < spare.capacity() {
                    std::mem::swap(&mut *g, &mut spare);
                }
            }
            spare.clear();
            written?;
        }
        if total == 0 {
            return Ok(());
        }
        let n = self.written.fetch_add(total, Ordering::Relaxed) + total;
        if n > JOURNAL_COMPACT {
            self.compact.notify_one();
        }
        Ok(())
    }

    /// Writes what is buffered to the journal file.
    pub(crate) fn flush(&self) -> std::io::Result<()> {
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        self.drain_into(&mut f)
    }

    /// Closes the current journal into `.prev` (appending to one a failed save left) and
    /// starts an empty one: what a save is about to cover.
    fn rotate(&self) -> std::io::Result<()> {
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        self.drain_into(&mut f)?;
        *f = None;
        if self.prev.exists() {
            let cur = fs::read(&self.path).unwrap_or_default();
            OpenOptions::new()
                .append(true)
                .open(&self.prev)?
                .write_all(&cur)?;
            fs::remove_file(&self.path).or_else(ignore_missing)?;
        } else {
            fs::rename(&self.path, &self.prev).or_else(ignore_missing)?;
        }
        *f = Some(open_append(&self.path)?);
        self.written.store(0, Ordering::Relaxed);
        Ok(())
    }
}

fn ignore_missing(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

fn open_append(p: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

/// Replays a journal file into the store; how many records.
fn replay(shared: &Shared, path: &Path) -> Result<usize, ServerError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(path, e)),
    };
    let (records, torn) = journal::decode(&bytes);
    if torn {
        tracing::warn!(
            "{}: the journal ends in a torn or damaged record; {} records before it replayed",
            path.display(),
            records.len()
        );
    }
    for r in &records {
        shared.shard(&r.info_hash).apply(r);
    }
    Ok(records.len())
}

/// Loads the state file and its journals, then saves (which compacts the journals) and
/// opens a fresh journal.
pub(crate) fn load(shared: &Shared, path: &Path) -> Result<(), ServerError> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !folder.is_dir() {
        return Err(ServerError::DfileFolder {
            path: path.to_path_buf(),
        });
    }
    let loaded = dfile::load(path, unix_now()).map_err(|source| ServerError::Dfile {
        path: path.to_path_buf(),
        source,
    })?;
    match loaded {
        Loaded::Swarms(v) => {
            for (h, r) in &v {
                shared.shard(h).import(*h, r);
            }
        }
        Loaded::Missing => {
            tracing::info!("{} does not exist yet; creating it", path.display());
        }
        Loaded::Corrupt { moved_to, error } => {
            tracing::warn!(
                "{}: {error}; kept it as {} and starting empty",
                path.display(),
                moved_to.display()
            );
        }
    }
    let mut replayed = 0;
    if let Some(j) = &shared.journal {
        replayed += replay(shared, &j.prev)?;
        replayed += replay(shared, &j.path)?;
    }
    let (t, p) = shared.counts();
    tracing::info!(
        "loaded {t} torrents, {p} peers from {} ({replayed} journal records)",
        path.display()
    );
    save(shared)?;
    Ok(())
}

/// Saves the whole state (streamed a shard at a time) and drops the journal it covers;
/// (torrents, peers) saved.
pub(crate) fn save(shared: &Shared) -> Result<(usize, usize), ServerError> {
    let Some(path) = &shared.cfg.dfile else {
        return Ok((0, 0));
    };
    if let Some(j) = &shared.journal {
        j.rotate().map_err(|e| io_err(&j.path, e))?;
    }
    let (mut torrents, mut peers) = (0usize, 0usize);
    dfile::save_atomic_with(path, |out| {
        let mut w = dfile::Writer::new(out);
        let mut part = Vec::new();
        for s in shared.shards.iter() {
            part.clear();
            // Encoded under the lock, written without it: announces wait only for the copy.
            let n = {
                let s = s.lock().unwrap_or_else(|e| e.into_inner());
                peers += s.peer_count();
                dfile::encode_part(&mut part, s.export())
            };
            torrents += n as usize;
            w.part(&part, n)?;
        }
        w.finish().map(|_| ())
    })
    .map_err(|e| io_err(path, e))?;
    if let Some(j) = &shared.journal {
        fs::remove_file(&j.prev)
            .or_else(ignore_missing)
            .map_err(|e| io_err(&j.prev, e))?;
    }
    tracing::debug!(
        "saved {torrents} torrents, {peers} peers to {}",
        path.display()
    );
    Ok((torrents, peers))
}

/// Saves every `--save-interval`, or sooner when the journal grows large.
pub(crate) async fn save_loop(shared: Arc<Shared>) {
    let mut t = tokio::time::interval(shared.cfg.save_interval.max(Duration::from_millis(100)));
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    t.tick().await;
    // Ends with the server (the task is aborted at shutdown).
    loop {
        match &shared.journal {
            Some(j) => {
                tokio::select! {
                    _ = t.tick() => {}
                    _ = j.compact.notified() => {}
                }
            }
            None => {
                t.tick().await;
            }
        }
        let s = shared.clone();
        match tokio::task::spawn_blocking(move || save(&s)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("saving state failed: {e}"),
            Err(e) => tracing::warn!("saving state failed: {e}"),
        }
    }
}

/// Writes the journal buffers to the file every [`FLUSH_EVERY`].
pub(crate) async fn flush_loop(shared: Arc<Shared>) {
    let mut t = tokio::time::interval(FLUSH_EVERY);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Ends with the server (the task is aborted at shutdown).
    loop {
        t.tick().await;
        let s = shared.clone();
        let r = tokio::task::spawn_blocking(move || match &s.journal {
            Some(j) => j.flush(),
            None => Ok(()),
        })
        .await;
        if let Ok(Err(e)) = r {
            tracing::warn!("writing the journal failed: {e}");
        }
    }
}
