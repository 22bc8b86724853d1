//! bf-console's command line: one default per option, the exit statuses in --help, and
//! mistakes refused with one line and the listed status before anything starts.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

fn bf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bf-console"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap()
}

fn help() -> String {
    String::from_utf8(bf(&["--help"]).stdout).unwrap()
}

fn assert_one_line(out: &Output, status: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    let listed = bf_testkit::listed_exit_status(&help(), status).unwrap();
    assert_eq!(out.status.code(), Some(listed), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(
        !err.contains("backtrace") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn help_lists_exit_statuses_and_one_default_each() {
    let h = help();
    assert!(h.contains("Exit status:"), "{h}");
    assert_eq!(
        bf_testkit::help_entries_with_two_defaults(&h),
        Vec::<String>::new()
    );
    for flag in [
        "--saveas",
        "--save-in",
        "--url",
        "--torrent-dir",
        "--peer",
        "--max-upload-rate",
        "--json",
        "--no-dht",
        "--dht-bootstrap",
        "--dht-port",
        "--no-lsd",
        "BF_NO_LSD",
        "dht-node",
    ] {
        assert!(h.contains(flag), "{flag} missing from --help");
    }
}

#[test]
fn mistakes_are_one_line_with_the_listed_status() {
    let dir = bf_testkit::temp_dir();
    let missing = dir.path().join("nope.torrent");
    let out = bf(&[missing.to_str().unwrap(), "--no-resume", "--port", "0"]);
    assert_one_line(&out, "bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.torrent"));

    for bad in [
        vec!["--url", "ftp://example.org/x.torrent"],
        vec!["--url", "http:///x.torrent"],
        vec!["--peer", "127.0.0.1:99999", "x.torrent"],
        vec!["--max-upload-rate", "fast", "x.torrent"],
        vec!["--port", "99999", "x.torrent"],
        vec!["x.torrent", "--saveas", "a", "--save-in", "b"],
        vec!["x.torrent", "--dht-bootstrap", "router.example"],
        vec!["x.torrent", "--dht-bootstrap", "router.example:0"],
        vec!["x.torrent", "--no-dht", "--dht-bootstrap", "127.0.0.1:6881"],
        vec!["x.torrent", "--dht-port", "0"],
        vec!["dht-node", "--port", "0"],
        vec![],
    ] {
        let out = bf(&bad);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bad:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
    let out = bf(&["--torrent-dir", missing.to_str().unwrap()]);
    assert_one_line(&out, "bad input");
}
