//! The web log: one Common Log Format line per HTTP request on stdout or in a file, formatted
//! and written by a thread of its own so a slow disk or terminal never stalls the server
//! (lines are dropped and counted instead when the queue is full). A file is reopened on
//! request (SIGHUP), after logrotate moved it away: lines queued before go to the old file,
//! later ones to the new.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use bf_metainfo::format::UtcDateTime;

/// Lines queued at most before new ones are dropped.
const QUEUE: usize = 1 << 16;
/// Longest request line logged (longer ones are cut).
const MAX_TARGET: usize = 2048;

/// One HTTP request to log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Client address.
    pub ip: IpAddr,
    /// Unix time of the request.
    pub time: u64,
    /// `GET /announce?… HTTP/1.1`, as received.
    pub request: String,
    /// Status code.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: usize,
}

/// What reaches the writer thread.
enum Item {
    Line(LogEntry),
    Reopen,
}

/// The sending side of the log.
#[derive(Clone)]
pub struct LogSink {
    tx: SyncSender<Item>,
    dropped: Arc<AtomicU64>,
}

impl LogSink {
    /// Starts the writer thread, writing to stdout.
    pub fn stdout() -> std::io::Result<Self> {
        Self::start(None)
    }

    /// Starts the writer thread, appending to `path` (created if missing).
    pub fn file(path: &Path) -> std::io::Result<Self> {
        Self::start(Some(path.to_path_buf()))
    }

    fn start(path: Option<PathBuf>) -> std::io::Result<Self> {
        let out = open(path.as_deref())?;
        let (tx, rx) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let d = dropped.clone();
        std::thread::Builder::new()
            .name("bf-tracker-log".into())
            .spawn(move || writer(rx, d, path, out))?;
        Ok(LogSink { tx, dropped })
    }

    /// Queues one line (dropped and counted if the writer is far behind).
    pub fn log(&self, e: LogEntry) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(Item::Line(e)) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reopens the file by its name after the lines queued so far (nothing for stdout).
    pub fn reopen(&self) {
        // Blocking on a full queue is fine: the writer is draining it.
        let _ = self.tx.send(Item::Reopen);
    }
}

fn open(path: Option<&Path>) -> std::io::Result<Box<dyn Write + Send>> {
    Ok(match path {
        None => Box::new(std::io::stdout()),
        Some(p) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
    })
}

fn writer(
    rx: Receiver<Item>,
    dropped: Arc<AtomicU64>,
    path: Option<PathBuf>,
    first: Box<dyn Write + Send>,
) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, first);
    let mut reported = 0;
    let write = |out: &mut std::io::BufWriter<Box<dyn Write + Send>>, item: Item| match item {
        Item::Line(e) => {
            let _ = writeln!(out, "{}", format_line(&e));
        }
        Item::Reopen => {
            let Some(p) = &path else { return };
            let _ = out.flush();
            match open(Some(p)) {
                Ok(f) => *out = std::io::BufWriter::with_capacity(64 * 1024, f),
                // Keep writing to the old file rather than lose lines.
                Err(e) => tracing::warn!("web log: cannot reopen {}: {e}", p.display()),
            }
        }
    };
    while let Ok(item) = rx.recv() {
        write(&mut out, item);
        // Flush only when the queue is empty: batches lines under load, none wait when idle.
        let mut batch = 0;
        while let Ok(item) = rx.try_recv() {
            write(&mut out, item);
            batch += 1;
            if batch > 4096 {
                break;
            }
        }
        let d = dropped.load(Ordering::Relaxed);
        if d != reported {
            tracing::warn!("web log: {} lines dropped (output too slow)", d - reported);
            reported = d;
        }
        let _ = out.flush();
    }
}

/// One Common Log Format line.
pub fn format_line(e: &LogEntry) -> String {
    let mut req = e.request.as_str();
    if req.len() > MAX_TARGET {
        let mut cut = MAX_TARGET;
        while !req.is_char_boundary(cut) {
            cut -= 1;
        }
        req = &req[..cut];
    }
    let req = req.replace('"', "%22");
    format!(
        "{} - - [{}] \"{}\" {} {}",
        e.ip,
        clf_date(e.time),
        req,
        e.status,
        e.bytes
    )
}

/// `10/Oct/2000:13:55:36 +0000` for a Unix time (UTC).
pub fn clf_date(unix: u64) -> String {
    let t = UtcDateTime::from_unix(i64::try_from(unix).unwrap_or(i64::MAX));
    format!(
        "{:02}/{}/{}:{:02}:{:02}:{:02} +0000",
        t.day,
        t.month_abbrev(),
        t.year,
        t.hour,
        t.minute,
        t.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(clf_date(0), "01/Jan/1970:00:00:00 +0000");
        assert_eq!(clf_date(971_186_136), "10/Oct/2000:13:55:36 +0000");
        assert_eq!(clf_date(1_709_208_000), "29/Feb/2024:12:00:00 +0000");
    }

    #[test]
    fn line_shape() {
        let e = LogEntry {
            ip: "127.0.0.1".parse().unwrap(),
            time: 0,
            request: "GET /x\"y HTTP/1.1".into(),
            status: 200,
            bytes: 5,
        };
        assert_eq!(
            format_line(&e),
            "127.0.0.1 - - [01/Jan/1970:00:00:00 +0000] \"GET /x%22y HTTP/1.1\" 200 5"
        );
    }
}
