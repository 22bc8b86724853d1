//! The web log: one Common Log Format line per HTTP request on stdout, formatted and written
//! by a thread of its own so a slow stdout never stalls the server (lines are dropped and
//! counted instead when the queue is full).

use std::io::Write;
use std::net::IpAddr;
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

/// The sending side of the log.
#[derive(Clone)]
pub struct LogSink {
    tx: SyncSender<LogEntry>,
    dropped: Arc<AtomicU64>,
}

impl LogSink {
    /// Starts the writer thread (writing to stdout).
    pub fn stdout() -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let d = dropped.clone();
        std::thread::Builder::new()
            .name("bf-tracker-log".into())
            .spawn(move || writer(rx, d))?;
        Ok(LogSink { tx, dropped })
    }

    /// Queues one line (dropped and counted if the writer is far behind).
    pub fn log(&self, e: LogEntry) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(e) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn writer(rx: Receiver<LogEntry>, dropped: Arc<AtomicU64>) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut reported = 0;
    while let Ok(e) = rx.recv() {
        let _ = writeln!(out, "{}", format_line(&e));
        // Flush only when the queue is empty: batches lines under load, none wait when idle.
        let mut batch = 0;
        while let Ok(e) = rx.try_recv() {
            let _ = writeln!(out, "{}", format_line(&e));
            batch += 1;
            if batch > 4096 {
                break;
            }
        }
        let d = dropped.load(Ordering::Relaxed);
        if d != reported {
            tracing::warn!("web log: {} lines dropped (stdout too slow)", d - reported);
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
