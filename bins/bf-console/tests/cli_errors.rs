//! bf-console failing cleanly: one line on stderr starting `bf-console: error: `, the exit
//! code its --help lists, no panic, and nothing written where it should not be.
#![allow(clippy::unwrap_used)]

mod support;
#[path = "../../../crates/bf-client/tests/support/tmpfs.rs"]
mod tmpfs;

use std::path::Path;
use std::time::Duration;

use bf_bencode::{Dict, Value};
use support::Console;

/// Runs bf-console to its end (killed after 20 s); its exit code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let mut c = Console::start(args);
    let status = c.wait_exit(Duration::from_secs(20));
    (status.and_then(|s| s.code()), c.stderr_text())
}

fn assert_one_line_failure(what: &str, code: i32, status: Option<i32>, stderr: &str) {
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_eq!(status, Some(code), "{what}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr:?}");
    assert!(
        stderr.starts_with("bf-console: error: "),
        "{what}: {stderr}"
    );
}

/// A torrent of one 100-byte file at `path` (multi-file) or named `name` (single file);
/// its piece hash is made up (nothing here gets as far as checking data).
fn torrent(name: &str, path: Option<&[&str]>) -> Vec<u8> {
    let hash = [0x5a_u8; 20];
    let mut info = Dict::new();
    match path {
        Some(p) => {
            let mut f = Dict::new();
            f.insert(&b"length"[..], 100i64);
            f.insert(
                &b"path"[..],
                Value::List(p.iter().map(|c| Value::from(c.to_string())).collect()),
            );
            info.insert(&b"files"[..], Value::List(vec![Value::Dict(f)]));
        }
        None => {
            info.insert(&b"length"[..], 100i64);
        }
    }
    info.insert(&b"name"[..], name);
    info.insert(&b"piece length"[..], 16384i64);
    info.insert(&b"pieces"[..], Value::bytes(&hash));
    let mut top = Dict::new();
    top.insert(&b"info"[..], info);
    Value::Dict(top).to_bytes()
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_torrent_whose_files_would_escape_the_download_folder_is_refused() {
    let root = bf_testkit::temp_dir();
    let save = root.path().join("a/b/save");
    std::fs::create_dir_all(&save).unwrap();
    let resume = root.path().join("resume");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a `..` component",
            torrent("top", Some(&["..", "..", "escaped"])),
        ),
        (
            "`..` in the middle",
            torrent("top", Some(&["x", "..", "..", "escaped"])),
        ),
        (
            "an absolute path",
            torrent("top", Some(&["/tmp/bf-escaped-cli"])),
        ),
        ("a name of `..`", torrent("..", Some(&["escaped"]))),
        ("a single file named `..`", torrent("..", None)),
        (
            "a single file with an absolute name",
            torrent("/tmp/bf-escaped-cli", None),
        ),
        ("a single file named `../x`", torrent("../escaped", None)),
    ];
    let t = root.path().join("t.torrent");
    std::fs::write(&t, b"").unwrap();
    let before = tree(root.path());
    for (what, bytes) in &cases {
        std::fs::write(&t, bytes).unwrap();
        let port = bf_testkit::free_port().to_string();
        let common = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
            "--resume-dir",
            resume.to_str().unwrap(),
        ];
        let saveas = save.join("x");
        for (how, place) in [
            ("--saveas", saveas.to_str().unwrap()),
            ("--save-in", save.to_str().unwrap()),
        ] {
            let mut args = vec![t.to_str().unwrap(), how, place];
            args.extend(common);
            let (code, err) = run(&args);
            assert_one_line_failure(&format!("{what} {how}"), 3, code, &err);
            assert!(err.contains("unsafe file path"), "{what} {how}: {err}");
        }
    }
    // Nothing created: not in the save folder, not above it, no resume data, not in /tmp.
    assert_eq!(tree(root.path()), before);
    assert!(!Path::new("/tmp/bf-escaped-cli").exists());
}

#[test]
fn unusable_inputs_fail_with_their_exit_codes() {
    let dir = bf_testkit::temp_dir();
    let d = dir.path();
    let garbage = d.join("garbage.torrent");
    std::fs::write(&garbage, bf_testkit::pseudo_random_bytes(1000, 1)).unwrap();
    let good = d.join("good.torrent");
    std::fs::write(&good, torrent("file.bin", None)).unwrap();
    let a_file = d.join("a-file");
    std::fs::write(&a_file, b"x").unwrap();
    let missing = d.join("missing.torrent");
    let port = bf_testkit::free_port().to_string();
    let lo = ["--bind", "127.0.0.1", "--port", &port, "--no-resume"];
    let under_a_file = a_file.join("file.bin");
    let cases: Vec<(&str, i32, Vec<&str>)> = vec![
        ("nothing to do", 2, vec![]),
        (
            "a bad --peer",
            2,
            vec![good.to_str().unwrap(), "--peer", "nowhere"],
        ),
        (
            "a negative --seed-ratio",
            2,
            vec![good.to_str().unwrap(), "--seed-ratio=-1"],
        ),
        ("a missing torrent", 3, vec![missing.to_str().unwrap()]),
        ("a torrent of garbage", 3, vec![garbage.to_str().unwrap()]),
        ("a folder as the torrent", 3, vec![d.to_str().unwrap()]),
        // (A --url that is not http(s) is refused by the command line parser: cli_flags.rs.)
        (
            "a --torrent-dir that is not a folder",
            3,
            vec!["--torrent-dir", a_file.to_str().unwrap()],
        ),
        (
            "a save path under a regular file",
            5,
            vec![
                good.to_str().unwrap(),
                "--saveas",
                under_a_file.to_str().unwrap(),
            ],
        ),
    ];
    for (what, code, mut args) in cases {
        if !args.is_empty() {
            args.extend(lo);
        }
        let (status, err) = run(&args);
        if code == 2 && !err.starts_with("bf-console: error: ") {
            // clap's own usage errors: several lines, but exit code 2 and no panic.
            assert_eq!(status, Some(2), "{what}: {err}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            continue;
        }
        assert_one_line_failure(what, code, status, &err);
    }
}

#[test]
fn a_full_disk_stops_bf_console_with_exit_code_5_and_one_line() {
    let Some(fs) = tmpfs::Tmpfs::mount("2m") else {
        return;
    };
    let dir = bf_testkit::temp_dir();
    let (_, torrent, meta) = support::make_torrent(dir.path(), "payload.bin", 4 << 20, 64 << 10, 5);
    let (_seed, port) = support::seeder(&torrent, &dir.path().join("payload.bin"), &[]);
    let out = fs.path().join("payload.bin");
    let resume = dir.path().join("resume");
    let dl_port = bf_testkit::free_port();
    let peer = format!("127.0.0.1:{port}");
    let mut args: Vec<String> = vec![
        torrent.display().to_string(),
        "--saveas".into(),
        out.display().to_string(),
        "--peer".into(),
        peer,
        "--resume-dir".into(),
        resume.display().to_string(),
    ];
    args.extend(support::loopback(dl_port));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut dl = Console::start(&refs);
    let status = dl.wait_exit(Duration::from_secs(30));
    let err = dl.stderr_text();
    assert_one_line_failure("disk full", 5, status.and_then(|s| s.code()), &err);
    assert!(err.contains("No space left on device"), "{err}");
    // The error is in the JSON output too, for programs.
    let lines = dl.drain_json();
    assert!(
        lines.iter().any(|v| v["event"] == "error"),
        "no error event in {lines:?}"
    );
    // Resume data was left behind and claims only pieces on disk.
    let r = bf_client::resume::ResumeData::load(
        &resume.join(format!("{}.resume", meta.info_hash().to_hex())),
    )
    .unwrap()
    .expect("no resume data");
    let storage = bf_client::storage::Storage::new(
        std::sync::Arc::new(meta.clone()),
        &out,
        std::sync::Arc::new(bf_client::storage::FilePool::new(4)),
    )
    .unwrap();
    let claimed: Vec<u32> = r.have.iter_ones().collect();
    assert!(!claimed.is_empty() && claimed.len() < meta.piece_count() as usize);
    for p in claimed {
        assert!(storage.check_piece(p), "piece {p} claimed but not on disk");
    }
}

#[test]
fn a_torrent_that_fails_as_it_starts_is_never_missed() {
    // The failure can come before bf-console listens for the torrent's events: it must
    // still exit with it, every time.
    let dir = bf_testkit::temp_dir();
    let good = dir.path().join("good.torrent");
    std::fs::write(&good, torrent("file.bin", None)).unwrap();
    let a_file = dir.path().join("a-file");
    std::fs::write(&a_file, b"x").unwrap();
    let under = a_file.join("file.bin");
    for i in 0..20 {
        let port = bf_testkit::free_port().to_string();
        let (code, err) = run(&[
            good.to_str().unwrap(),
            "--saveas",
            under.to_str().unwrap(),
            "--no-resume",
            "--bind",
            "127.0.0.1",
            "--port",
            &port,
        ]);
        assert_one_line_failure(&format!("run {i}"), 5, code, &err);
    }
}
