//! Shared by bf-console's robustness tests: torrents of generated content, bf-console
//! processes whose `--json` lines are collected as they come, bounded waits, CPU time of a
//! process from /proc.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bf_metainfo::{CreateOptions, Metainfo, Source};
use bf_testkit::ChildGuard;
use serde_json::Value;

/// The program under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bf-console")
}

/// Writes `len` bytes of generated content to `dir/name` and its torrent to
/// `dir/name.torrent`.
pub fn make_torrent(
    dir: &Path,
    name: &str,
    len: usize,
    piece_len: u64,
    seed: u64,
) -> (Vec<u8>, PathBuf, Metainfo) {
    let data = bf_testkit::pseudo_random_bytes(len, seed);
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    let source = Source::scan(&path).unwrap();
    let opts = CreateOptions {
        piece_length: Some(piece_len),
        threads: 1,
        ..CreateOptions::default()
    };
    let meta = bf_metainfo::create(&source, &opts, &mut |_| {}).unwrap();
    let torrent = dir.join(format!("{name}.torrent"));
    std::fs::write(&torrent, meta.to_bytes()).unwrap();
    (data, torrent, meta)
}

/// A running bf-console: its JSON lines (stdout) and its stderr, read by threads.
pub struct Console {
    child: ChildGuard,
    lines: mpsc::Receiver<Value>,
    /// Every stdout line so far, JSON or not.
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// Everything written to stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl Console {
    /// Starts bf-console with `args` (logging at its default level, `RUST_LOG` cleared).
    pub fn start(args: &[&str]) -> Console {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .env_remove("RUST_LOG")
            // No public DHT routers: nothing leaves loopback.
            .env("BF_DHT_ROUTERS", "")
            // No multicast discovery: a test's peers are the ones it names.
            .env("BF_NO_LSD", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = ChildGuard::spawn(&mut cmd);
        let out = child.0.stdout.take().unwrap();
        let mut err = child.0.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let all = stdout.clone();
        // Each thread ends at EOF, when the process exits or is killed.
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
                all.lock().unwrap().push(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let e = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match err.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => e
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        Console {
            child,
            lines,
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next JSON line matching `want` within `within`.
    pub fn wait_json(
        &self,
        within: Duration,
        mut want: impl FnMut(&Value) -> bool,
    ) -> Option<Value> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) if want(&v) => return Some(v),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Every JSON line received so far that was not consumed by a wait.
    pub fn drain_json(&self) -> Vec<Value> {
        self.lines.try_iter().collect()
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.0.kill();
        let _ = self.child.0.wait();
    }

    /// SIGTERM (a clean stop).
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
    }

    /// The exit status, if it exits within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait() {
                // Let the reader threads catch the last bytes.
                std::thread::sleep(Duration::from_millis(100));
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stderr so far.
    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// User plus system CPU time of process `pid` so far, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces: count fields after its closing paren.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the whole line (utime, stime) are 11 and 12 after field 2.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let hz = clock_ticks_per_second();
    Duration::from_millis(ticks * 1000 / hz)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Arguments for a bf-console on loopback: `--bind 127.0.0.1 --port PORT --json`.
pub fn loopback(port: u16) -> Vec<String> {
    vec![
        "--bind".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--json".into(),
    ]
}

/// A bf-console seeding `torrent` from `data_path`, once its status says seeding; its port.
pub fn seeder(torrent: &Path, data_path: &Path, extra: &[&str]) -> (Console, u16) {
    let port = bf_testkit::free_port();
    let mut args: Vec<String> = vec![
        torrent.display().to_string(),
        "--saveas".into(),
        data_path.display().to_string(),
        "--no-resume".into(),
    ];
    args.extend(loopback(port));
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let c = Console::start(&refs);
    let seeding = c.wait_json(Duration::from_secs(30), |v| {
        v["event"] == "status" && v["state"] == "seeding"
    });
    assert!(
        seeding.is_some(),
        "the seeder never seeded; stderr: {}",
        c.stderr_text()
    );
    (c, port)
}
