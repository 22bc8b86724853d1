//! `bf-maketorrent` end to end: making, refusing to overwrite, retracking, broken input.

#![allow(clippy::unwrap_used)]

#[path = "../../../crates/bf-metainfo/tests/common/broken.rs"]
mod broken;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use bf_metainfo::Metainfo;

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bf-maketorrent"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

/// The exit status `--help` lists on the line containing `needle`.
fn listed_status(needle: &str) -> i32 {
    let help = String::from_utf8(run(&[&"--help"]).stdout).unwrap();
    bf_testkit::listed_exit_status(&help, needle)
        .unwrap_or_else(|| panic!("no exit status {needle:?} in --help:\n{help}"))
}

const OTHER: &str = "error (none";
const USAGE: &str = "bad command line";
const INPUT: &str = "bad input";

fn assert_clean_failure(what: &str, status: &str, out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(listed_status(status)),
        "{what}: {err}"
    );
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err:?}");
    assert!(err.starts_with("bf-maketorrent: error: "), "{what}: {err}");
    err
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const URL: &str = "http://127.0.0.1:6969/announce";

#[test]
fn makes_path_torrent_next_to_the_input_and_prints_the_summary() {
    let dir = bf_testkit::temp_dir();
    let content = dir.path().join("album");
    fs::create_dir_all(content.join("cd1")).unwrap();
    fs::write(content.join("cd1/01.flac"), vec![7u8; 300_000]).unwrap();
    fs::write(content.join("cover.jpg"), vec![9u8; 1000]).unwrap();
    fs::write(content.join(".DS_Store"), b"skipped").unwrap();

    let out = run(&[
        &content,
        &URL,
        &"udp://127.0.0.1:6969,http://127.0.0.1:7000/announce",
        &"--comment",
        &"hi",
        &"--private",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let written = dir.path().join("album.torrent");
    let m = Metainfo::from_bytes(&fs::read(&written).unwrap()).unwrap();
    assert_eq!(m.name(), "album");
    assert_eq!(m.total_length(), 301_000);
    assert_eq!(m.files().len(), 2);
    assert!(m.is_private());
    assert_eq!(m.comment(), Some("hi"));
    assert_eq!(m.created_by(), Some("BitFountain/0.1.0"));
    assert!(m.creation_date().is_some());
    assert_eq!(m.piece_length(), 16384, "automatic piece size for 301 kB");
    assert_eq!(
        m.trackers(),
        vec![
            vec![URL.to_string()],
            vec![
                "udp://127.0.0.1:6969".to_string(),
                "http://127.0.0.1:7000/announce".to_string()
            ]
        ]
    );
    for needle in [
        "name:       album".to_string(),
        format!("info-hash:  {}", m.info_hash()),
        format!("magnet:     magnet:?xt=urn:btih:{}", m.info_hash()),
        "pieces:     19 x 16.00 KiB".to_string(),
    ] {
        assert!(stdout.contains(&needle), "missing {needle:?} in\n{stdout}");
    }
    assert_eq!(listing(dir.path()), ["album", "album.torrent"]);

    // Existing output: a clear error and the file untouched, until --force.
    let before = fs::read(&written).unwrap();
    let err = assert_clean_failure("existing output", OTHER, &run(&[&content, &URL]));
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(fs::read(&written).unwrap(), before);
    let out = run(&[
        &content,
        &URL,
        &"--force",
        &"--no-date",
        &"--piece-size",
        &"32K",
        &"--threads",
        &"3",
    ]);
    assert!(out.status.success());
    let m2 = Metainfo::from_bytes(&fs::read(&written).unwrap()).unwrap();
    assert_eq!(
        (m2.piece_length(), m2.creation_date(), m2.is_private()),
        (32768, None, false)
    );
    assert_eq!(listing(dir.path()), ["album", "album.torrent"]);
}

#[test]
fn output_option_trackerless_nodes_and_argument_errors() {
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("f.bin");
    fs::write(&file, vec![1u8; 50_000]).unwrap();
    let out_path = dir.path().join("out/x.torrent");
    fs::create_dir(dir.path().join("out")).unwrap();
    let out = run(&[
        &file,
        &"-o",
        &out_path,
        &"--node",
        &"127.0.0.1:6881",
        &"--node",
        &"[::1]:6882",
        &"--piece-size",
        &"262144",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = Metainfo::from_bytes(&fs::read(&out_path).unwrap()).unwrap();
    assert!(m.trackers().is_empty());
    assert_eq!(m.nodes().len(), 2);
    assert_eq!(m.nodes()[1].host, "::1");
    assert_eq!(m.piece_length(), 262144);

    let err = assert_clean_failure("no tracker", USAGE, &run(&[&file]));
    assert!(err.contains("--node"), "{err}");
    let err = assert_clean_failure("not a URL", USAGE, &run(&[&file, &"other-dir"]));
    assert!(err.contains("not a tracker URL"), "{err}");
    let err = assert_clean_failure(
        "missing input",
        INPUT,
        &run(&[&dir.path().join("nope"), &URL]),
    );
    assert!(err.contains("nope"), "{err}");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = assert_clean_failure("empty dir", INPUT, &run(&[&empty, &URL]));
    assert!(err.contains("holds no data"), "{err}");
    let bad_ps = run(&[&file, &URL, &"--piece-size", &"1000"]);
    assert_eq!(bad_ps.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&bad_ps.stderr).contains("power of two"));
    assert_eq!(listing(dir.path()), ["empty", "f.bin", "out"]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.path().join("locked.bin");
        fs::write(&locked, b"secret").unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        // Root reads anything: then the unreadable case cannot be made here.
        if fs::read(&locked).is_err() {
            let err = assert_clean_failure("unreadable", INPUT, &run(&[&locked, &URL]));
            assert!(err.contains("locked.bin"), "{err}");
            assert!(!dir.path().join("locked.bin.torrent").exists());
        }
    }
}

#[test]
fn retrack_replaces_trackers_and_keeps_the_info_hash() {
    let dir = bf_testkit::temp_dir();
    let t = dir.path().join("t.torrent");
    fs::write(&t, broken::base_multi().to_bytes()).unwrap();
    let before = Metainfo::from_bytes(&fs::read(&t).unwrap()).unwrap();

    let out = run(&[
        &"retrack",
        &t,
        &"http://127.0.0.1:1/announce,http://127.0.0.1:2/announce",
        &"udp://127.0.0.1:3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains(&format!("info-hash:  {} (unchanged)", before.info_hash())));
    let after = Metainfo::from_bytes(&fs::read(&t).unwrap()).unwrap();
    assert_eq!(after.info_hash(), before.info_hash());
    assert_eq!(after.info_bytes(), before.info_bytes());
    assert_eq!(after.announce(), Some("http://127.0.0.1:1/announce"));
    assert_eq!(after.trackers().len(), 2);
    assert_eq!(
        (after.comment(), after.nodes()),
        (before.comment(), before.nodes())
    );

    // -o: a new file; an existing one needs --force.
    let copy = dir.path().join("copy.torrent");
    assert!(run(&[&"retrack", &t, &URL, &"-o", &copy]).status.success());
    assert_eq!(
        Metainfo::from_bytes(&fs::read(&copy).unwrap())
            .unwrap()
            .trackers(),
        vec![vec![URL.to_string()]]
    );
    let err = assert_clean_failure(
        "retrack onto existing",
        OTHER,
        &run(&[&"retrack", &t, &URL, &"-o", &copy]),
    );
    assert!(err.contains("already exists"));
    assert!(run(&[&"retrack", &t, &URL, &"-o", &copy, &"--force"])
        .status
        .success());
    assert_eq!(listing(dir.path()), ["copy.torrent", "t.torrent"]);
}

#[test]
fn retrack_refuses_broken_torrents_and_writes_nothing() {
    let dir = bf_testkit::temp_dir();
    let path = dir.path().join("bad.torrent");
    for (what, bytes) in broken::corpus() {
        fs::write(&path, &bytes).unwrap();
        assert_clean_failure(&what, INPUT, &run(&[&"retrack", &path, &URL]));
        assert_eq!(fs::read(&path).unwrap(), bytes, "{what}: input changed");
        assert_eq!(listing(dir.path()), ["bad.torrent"], "{what}: wrote a file");
    }
    let err = assert_clean_failure(
        "missing",
        INPUT,
        &run(&[&"retrack", &dir.path().join("none.torrent"), &URL]),
    );
    assert!(err.contains("none.torrent"), "{err}");
}

#[test]
fn bad_tracker_urls_are_refused_and_nothing_is_written() {
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("f.bin");
    fs::write(&file, vec![1u8; 1000]).unwrap();
    let t = dir.path().join("t.torrent");
    fs::write(&t, broken::base_multi().to_bytes()).unwrap();
    let before = fs::read(&t).unwrap();
    for (bad, why) in [
        ("ftp://host/announce", "unsupported scheme \"ftp\""),
        ("http:///announce", "no host"),
        ("http://host:99999/announce", "bad port \"99999\""),
        ("udp://host/announce", "needs a port"),
        ("http://ok/announce,http://:1/x", "no host"),
    ] {
        let err = assert_clean_failure(bad, USAGE, &run(&[&file, &bad]));
        assert!(
            err.contains("is not a tracker URL") && err.contains(why),
            "{bad}: {err}"
        );
        let err = assert_clean_failure(bad, USAGE, &run(&[&"retrack", &t, &bad]));
        assert!(err.contains(why), "retrack {bad}: {err}");
    }
    assert_eq!(fs::read(&t).unwrap(), before);
    assert_eq!(listing(dir.path()), ["f.bin", "t.torrent"]);
}

/// Runs bf-maketorrent under `sh` with `umask` set first.
fn run_with_umask(umask: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_bf-maketorrent"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn written_torrents_take_the_umask_and_a_retracked_one_keeps_its_mode() {
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("f.bin");
    fs::write(&file, vec![3u8; 5000]).unwrap();
    for (umask, want) in [("022", 0o644), ("077", 0o600), ("002", 0o664)] {
        let out = dir.path().join(format!("u{umask}.torrent"));
        let r = run_with_umask(umask, &[&file, &URL, &"-o", &out]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        assert_eq!(mode(&out), want, "umask {umask}");
    }
    // Retracking in place rewrites the file; the owner's choice of mode stays.
    let t = dir.path().join("u022.torrent");
    let p = <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o640);
    fs::set_permissions(&t, p).unwrap();
    let r = run_with_umask("022", &[&"retrack", &t, &"udp://127.0.0.1:6969"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(mode(&t), 0o640);
    let copy = dir.path().join("copy.torrent");
    let r = run_with_umask("022", &[&"retrack", &t, &URL, &"-o", &copy]);
    assert!(r.status.success());
    assert_eq!(mode(&copy), 0o644, "a new file: the umask's mode");
}

#[test]
fn a_missing_input_is_one_line_with_its_path_and_the_listed_status_without_backtrace() {
    let dir = bf_testkit::temp_dir();
    let missing = dir.path().join("no-such-input");
    let out = Command::new(env!("CARGO_BIN_EXE_bf-maketorrent"))
        .arg(&missing)
        .arg(URL)
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = assert_clean_failure("missing input", INPUT, &out);
    assert_eq!(listed_status(INPUT), 3);
    assert!(err.contains(&format!("{missing:?}")), "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the cause once: {err}"
    );
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
    let err = assert_clean_failure(
        "missing torrent",
        INPUT,
        &Command::new(env!("CARGO_BIN_EXE_bf-maketorrent"))
            .args(["retrack".as_ref(), missing.as_os_str(), URL.as_ref()])
            .env("RUST_BACKTRACE", "full")
            .output()
            .unwrap(),
    );
    assert!(
        err.contains("no-such-input") && !err.contains("Stack"),
        "{err}"
    );
}

#[test]
fn help_shows_one_default_per_option_and_the_exit_statuses() {
    for args in [&["--help"][..], &["retrack", "--help"]] {
        let help = String::from_utf8(
            Command::new(env!("CARGO_BIN_EXE_bf-maketorrent"))
                .args(args)
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        assert!(help.contains("Exit status:"), "{args:?}");
        for n in 0..=5 {
            assert!(help.contains(&format!("\n  {n}  ")), "{args:?}: status {n}");
        }
        let doubled = bf_testkit::help_entries_with_two_defaults(&help);
        assert!(doubled.is_empty(), "{args:?}: two defaults in {doubled:?}");
    }
}
