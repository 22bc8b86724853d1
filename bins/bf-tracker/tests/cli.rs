//! The bf-tracker program's command line: failures are one line with the path or address at
//! fault and the exit status its `--help` lists, never a backtrace; logs written to a pipe
//! carry no terminal escape codes.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bf_testkit::ChildGuard;

fn help() -> String {
    let out = Command::new(common::exe()).arg("--help").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn listed_status(needle: &str) -> i32 {
    let help = help();
    bf_testkit::listed_exit_status(&help, needle)
        .unwrap_or_else(|| panic!("no exit status {needle:?} in --help:\n{help}"))
}

/// Runs the tracker on a free loopback port with `args` and `RUST_BACKTRACE=1`, expecting
/// it to fail at start.
fn fail(args: &[&str]) -> Output {
    let mut c = Command::new(common::exe());
    c.args(["--bind", "127.0.0.1", "--no-log"])
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1");
    if !args.contains(&"--port") {
        c.args(["--port", &bf_testkit::free_port().to_string()]);
    }
    c.output().unwrap()
}

/// The error line of a failed start; checks its form and that the status is `--help`'s
/// for `kind`.
fn error_line(what: &str, kind: &str, out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(listed_status(kind)),
        "{what}: {stderr}"
    );
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{what}: {stderr}");
    assert!(
        errors[0].starts_with("bf-tracker: error: "),
        "{what}: {stderr}"
    );
    assert!(
        !stderr.to_lowercase().contains("backtrace") && !stderr.contains("panicked"),
        "{what}: {stderr}"
    );
    errors[0].to_string()
}

#[test]
fn help_lists_the_exit_statuses_and_one_default_per_option() {
    let help = help();
    for n in 0..=5 {
        assert!(help.contains(&format!("\n  {n}  ")), "status {n}:\n{help}");
    }
    let doubled = bf_testkit::help_entries_with_two_defaults(&help);
    assert!(doubled.is_empty(), "two defaults in {doubled:?}");
}

#[test]
fn start_failures_are_one_line_naming_what_is_wrong_with_the_listed_status() {
    let dir = bf_testkit::temp_dir();
    let missing = dir.path().join("no-such-dir");
    let line = error_line(
        "missing --allowed-dir",
        "bad input",
        &fail(&["--allowed-dir", missing.to_str().unwrap()]),
    );
    assert_eq!(listed_status("bad input"), 3);
    assert!(line.contains("no-such-dir"), "{line}");
    assert_eq!(line.matches("No such file").count(), 1, "{line}");

    let dfile = missing.join("state");
    let line = error_line(
        "--dfile in a missing folder",
        "cannot write",
        &fail(&["--dfile", dfile.to_str().unwrap()]),
    );
    assert!(line.contains("no-such-dir/state"), "{line}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let line = error_line(
        "port in use",
        "network",
        &fail(&["--port", &port, "--no-udp"]),
    );
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");

    let icon = dir.path().join("no-icon.ico");
    let line = error_line(
        "missing --favicon",
        "bad input",
        &fail(&["--favicon", icon.to_str().unwrap()]),
    );
    assert!(line.contains("no-icon.ico"), "{line}");

    let ips = dir.path().join("ips");
    std::fs::write(&ips, "10.0.0.0/8\n300.1.2.3\n").unwrap();
    let line = error_line(
        "a bad --allowed-ips line",
        "bad input",
        &fail(&["--allowed-ips", ips.to_str().unwrap()]),
    );
    assert!(
        line.contains("line 2") && line.contains("300.1.2.3"),
        "{line}"
    );

    let line = error_line(
        "an --index-redirect that is no header value",
        "bad input",
        &fail(&["--index-redirect", "http://x/\u{7f}"]),
    );
    assert!(line.contains("index-redirect"), "{line}");

    let usage = fail(&["--port", "99999"]);
    assert_eq!(usage.status.code(), Some(listed_status("command line")));
}

/// Collects everything `r` yields, on a thread.
fn drain(mut r: impl Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    buf
}

#[test]
fn logs_to_a_pipe_have_no_escape_codes() {
    let port = bf_testkit::free_port();
    let mut child = ChildGuard::spawn(
        Command::new(common::exe())
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let stdout = drain(child.0.stdout.take().unwrap());
    let stderr = drain(child.0.stderr.take().unwrap());
    let has =
        |b: &Arc<Mutex<Vec<u8>>>, s: &str| String::from_utf8_lossy(&b.lock().unwrap()).contains(s);
    assert!(
        bf_testkit::wait_until(Duration::from_secs(20), || has(&stderr, "serving http://")),
        "did not start: {}",
        String::from_utf8_lossy(&stderr.lock().unwrap())
    );
    let (status, _) = common::http_get(port, "/");
    assert_eq!(status, 200);
    assert!(bf_testkit::wait_until(Duration::from_secs(10), || has(
        &stdout, "GET / "
    )));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(bf_testkit::wait_until(Duration::from_secs(20), || child
        .try_wait()
        .is_some()));
    assert!(bf_testkit::wait_until(Duration::from_secs(5), || has(
        &stderr, "bye"
    )));
    for (name, b) in [("stderr", &stderr), ("stdout", &stdout)] {
        let b = b.lock().unwrap();
        assert!(
            !b.contains(&0x1b),
            "{name} has escape codes: {:?}",
            String::from_utf8_lossy(&b)
        );
    }
    assert!(has(&stderr, "INFO"), "the log is there, just plain");
}
