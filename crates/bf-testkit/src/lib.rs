//! Helpers for BitFountain's integration tests: external tools that must exist in CI,
//! loopback ports, child processes that never outlive a test, bounded waiting.
//!
//! Tests that drive a real client call [`require`] first. Outside CI a missing tool makes the
//! test skip with a loud message; with `BF_REQUIRE_TOOLS=1` (set by `.ci/run`) it fails, so CI
//! can never go green by skipping.
//!
//! ```no_run
//! if !bf_testkit::require("mktorrent") {
//!     return;
//! }
//! let dir = bf_testkit::temp_dir();
//! let port = bf_testkit::free_port();
//! # let _ = (dir, port);
//! ```

pub mod clients;

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Python interpreter that has Debian's libtorrent bindings (the one on PATH does not).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3";

/// Whether missing external tools must fail tests (`BF_REQUIRE_TOOLS=1`).
pub fn tools_required() -> bool {
    std::env::var("BF_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
}

/// Whether `tool` (a program on PATH or an absolute path) can be run.
///
/// Missing: panics under `BF_REQUIRE_TOOLS=1`, else prints a loud SKIP line and returns false.
pub fn require(tool: &str) -> bool {
    is_installed(tool) || missing(tool)
}

/// Whether `tool` (a program on PATH or an absolute path) exists, without skipping or
/// failing anything: for optional helpers.
pub fn is_installed(tool: &str) -> bool {
    if tool.contains('/') {
        Path::new(tool).is_file()
    } else {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(tool).is_file()))
    }
}

/// Whether `/usr/bin/python3` can import Debian's `libtorrent` bindings; same rules as
/// [`require`].
pub fn require_libtorrent() -> bool {
    let ok = Command::new(SYSTEM_PYTHON)
        .args(["-c", "import libtorrent"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok || missing("python3-libtorrent (import libtorrent under /usr/bin/python3)")
}

fn missing(what: &str) -> bool {
    if tools_required() {
        panic!("required external tool missing: {what} (BF_REQUIRE_TOOLS=1)");
    }
    eprintln!("\n*** SKIPPED: {what} is not installed; install it or run .ci/run ***\n");
    false
}

/// `len` deterministic pseudo-random bytes (xorshift64): test content that compresses badly
/// and differs for every `seed`, reproducible from run to run.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    match tempfile::Builder::new().prefix("bf-test-").tempdir() {
        Ok(d) => d,
        Err(e) => panic!("cannot create a temporary directory: {e}"),
    }
}

/// A loopback port free for both TCP and UDP at the time of the call.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(tcp) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(addr) = tcp.local_addr() else { continue };
        if UdpSocket::bind(("127.0.0.1", addr.port())).is_ok() {
            return addr.port();
        }
    }
    panic!("no free loopback port found in 100 tries")
}

/// Polls `check` every 50 ms until it returns true or `timeout` passes; returns the last answer.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed (SIGKILL) and reaped when dropped, so a failing test leaves nothing
/// running.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Spawns `cmd`, panicking with the program name if it cannot start.
    pub fn spawn(cmd: &mut Command) -> Self {
        match cmd.spawn() {
            Ok(c) => ChildGuard(c),
            Err(e) => panic!("cannot start {:?}: {e}", cmd.get_program()),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// Whether the process has exited (and then its status).
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.0.try_wait().ok().flatten()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The exit status a program's `--help` lists (after `Exit status:`, as bf-cli writes it)
/// on the line containing `needle`.
pub fn listed_exit_status(help: &str, needle: &str) -> Option<i32> {
    let block = help.split("Exit status:").nth(1)?;
    let line = block.lines().find(|l| l.contains(needle))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The entries of a clap `--help` (from one `-x, --name`, `<ARG>` or `[ARG]` line to the
/// next) that mention a default more than once: the help text saying it and clap adding
/// its own `[default: …]`.
pub fn help_entries_with_two_defaults(help: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        // Headers are indented 2 or 6 columns, their help text (and clap's `[default: …]`
        // on a line of its own) 10.
        let header = line.len() - t.len() <= 6;
        if header && (t.starts_with('-') || t.starts_with('<') || t.starts_with('[')) {
            entries.push(String::new());
        }
        if let Some(e) = entries.last_mut() {
            e.push_str(line);
            e.push('\n');
        }
    }
    // `default:` and `defaults to`, not the word alone: an option may be named
    // `--default-numwant`.
    entries.retain(|e| e.matches("default:").count() + e.matches("defaults to").count() > 1);
    entries
}

#[cfg(test)]
mod help_tests {
    #[test]
    fn finds_listed_statuses_and_doubled_defaults() {
        let help = "Options:\n      --threads <N>\n          Hashing threads [default: one per core]\n          \n          [default: 0]\n\n      --port <PORT>  Port [default: 6969]\n      --default-x <N>  X (defaults to 3)\n  -h, --help  Print help\n\nExit status:\n  0  success\n  3  bad input: a file\n";
        assert_eq!(super::listed_exit_status(help, "bad input"), Some(3));
        assert_eq!(super::listed_exit_status(help, "nope"), None);
        let d = super::help_entries_with_two_defaults(help);
        assert_eq!(d.len(), 1);
        assert!(d[0].contains("--threads"));
    }
}
