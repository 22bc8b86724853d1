//! `bf-console info`: readable and JSON output, and broken input refused cleanly.

#![allow(clippy::unwrap_used)]

#[path = "../../../crates/bf-metainfo/tests/common/broken.rs"]
mod broken;

use std::path::Path;
use std::process::{Command, Output};

fn info(args: &[&str], torrent: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bf-console"))
        .arg("info")
        .args(args)
        .arg(torrent)
        .output()
        .unwrap()
}

fn assert_clean_failure(what: &str, out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what}: succeeded");
    // 3: the torrent could not be read (the exit codes in --help).
    assert_eq!(out.status.code(), Some(3), "{what}: {err}");
    assert!(!err.contains("panicked"), "{what}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err:?}");
    assert!(err.starts_with("bf-console: error: "), "{what}: {err}");
    assert!(out.stdout.is_empty(), "{what}: wrote to stdout");
}

#[test]
fn shows_every_field_as_text_and_json() {
    let dir = bf_testkit::temp_dir();
    let path = dir.path().join("t.torrent");
    let bytes = broken::base_multi().to_bytes();
    std::fs::write(&path, &bytes).unwrap();
    let m = bf_metainfo::Metainfo::from_bytes(&bytes).unwrap();

    let out = info(&[], &path);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        &m.info_hash().to_hex()[..],
        "directory name: corpus",
        "20000  a.bin",
        "5  sub/b.txt",
        "16.00 KiB (16384 bytes), 2 pieces",
        "private:        yes",
        "tier 1: http://127.0.0.1:6969/announce",
        "nodes:          127.0.0.1:6881",
        "web seeds:      http://127.0.0.1/seed/",
        "comment:        corpus",
        "created by:     test",
        "creation date:  2023-11-14 22:13:20 UTC (1700000000)",
        "magnet:?xt=urn:btih:",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }

    let out = info(&["--json"], &path);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["info_hash"], m.info_hash().to_hex());
    assert_eq!(j["name"], "corpus");
    assert_eq!(j["total_length"], 20_005);
    assert_eq!(j["piece_length"], 16384);
    assert_eq!(j["piece_count"], 2);
    assert_eq!(j["private"], true);
    assert_eq!(j["files"][1]["path"], serde_json::json!(["sub", "b.txt"]));
    assert_eq!(j["files"][1]["offset"], 20_000);
    assert_eq!(j["trackers"][0][0], "http://127.0.0.1:6969/announce");
    assert_eq!(j["nodes"][0]["port"], 6881);
    assert_eq!(j["creation_date"], 1_700_000_000);

    let single = dir.path().join("s.torrent");
    std::fs::write(&single, broken::base_single().to_bytes()).unwrap();
    let text = String::from_utf8(info(&[], &single).stdout).unwrap();
    assert!(text.contains("file name:      single.bin"), "{text}");
    assert!(
        text.contains("file size:      16.00 KiB (16385 bytes)"),
        "{text}"
    );
}

#[test]
fn broken_torrents_give_one_line_errors() {
    let dir = bf_testkit::temp_dir();
    let path = dir.path().join("bad.torrent");
    for (what, bytes) in broken::corpus() {
        std::fs::write(&path, &bytes).unwrap();
        assert_clean_failure(&what, &info(&[], &path));
        assert_clean_failure(&what, &info(&["--json"], &path));
    }
    let listing: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(listing.len(), 1, "info must not write files");
}

#[test]
fn unreadable_inputs_are_clear_errors() {
    let dir = bf_testkit::temp_dir();
    let missing = dir.path().join("missing.torrent");
    let out = info(&[], &missing);
    assert_clean_failure("missing", &out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.torrent"));
    assert_clean_failure("a directory", &info(&[], dir.path()));
}

#[test]
fn padding_files_are_counted_but_not_listed() {
    use bf_bencode::{Dict, Value};
    use broken::Seg::Key;
    let mut pad = Dict::new();
    pad.insert(&b"attr"[..], Value::from("p".to_string()));
    pad.insert(&b"length"[..], Value::Int(12_768));
    pad.insert(
        &b"path"[..],
        Value::List(vec![
            Value::from(".pad".to_string()),
            Value::from("12768".to_string()),
        ]),
    );
    let base = broken::base_multi();
    let files = base
        .as_dict()
        .unwrap()
        .get(b"info")
        .unwrap()
        .as_dict()
        .unwrap()
        .get(b"files")
        .unwrap();
    let mut list = files.as_list().unwrap().to_vec();
    list.insert(1, Value::Dict(pad));
    let t = broken::with(&base, &[Key("info"), Key("files")], Some(Value::List(list)));
    let t = broken::with(
        &t,
        &[Key("info"), Key("pieces")],
        Some(Value::from(vec![1u8; 60])),
    );

    let dir = bf_testkit::temp_dir();
    let path = dir.path().join("pad.torrent");
    std::fs::write(&path, t.to_bytes()).unwrap();
    let out = info(&[], &path);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("files:          2 (19.54 KiB (20005 bytes), 1 padding files not shown)"),
        "{text}"
    );
    assert!(!text.contains(".pad"), "{text}");
    let j: serde_json::Value = serde_json::from_slice(&info(&["--json"], &path).stdout).unwrap();
    assert_eq!(j["files"][1]["padding"], true);
    assert_eq!(j["total_length"], 32_773);
}

#[test]
fn files_prints_the_tree_alone_and_magnet_the_link_alone() {
    let dir = bf_testkit::temp_dir();
    let path = dir.path().join("t.torrent");
    let bytes = broken::base_multi().to_bytes();
    std::fs::write(&path, &bytes).unwrap();
    let m = bf_metainfo::Metainfo::from_bytes(&bytes).unwrap();

    let out = info(&["--files"], &path);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "corpus/  19.54 KiB (20005 bytes)\n\
         ├── a.bin  19.53 KiB (20000 bytes)\n\
         └── sub/  5 bytes\n    \
             └── b.txt  5 bytes\n"
    );
    let single = dir.path().join("s.torrent");
    std::fs::write(&single, broken::base_single().to_bytes()).unwrap();
    assert_eq!(
        String::from_utf8(info(&["--files"], &single).stdout).unwrap(),
        "single.bin  16.00 KiB (16385 bytes)\n"
    );

    let out = info(&["--magnet"], &path);
    assert!(out.status.success());
    let link = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        link,
        format!("{}\n", bf_metainfo::Magnet::from_metainfo(&m))
    );
    assert!(
        link.starts_with(&format!("magnet:?xt=urn:btih:{}&dn=corpus", m.info_hash())),
        "{link}"
    );
    let parsed: bf_metainfo::Magnet = link.trim_end().parse().unwrap();
    assert_eq!(parsed.info_hash, m.info_hash());

    for both in [
        &["--files", "--magnet"][..],
        &["--json", "--files"],
        &["--json", "--magnet"],
    ] {
        let out = info(both, &path);
        assert_eq!(out.status.code(), Some(2), "{both:?}: clap's usage error");
        assert!(out.stdout.is_empty());
    }
    let bad = dir.path().join("bad.torrent");
    for (what, bytes) in broken::corpus().into_iter().take(20) {
        std::fs::write(&bad, &bytes).unwrap();
        assert_clean_failure(&what, &info(&["--files"], &bad));
        assert_clean_failure(&what, &info(&["--magnet"], &bad));
    }
}

#[test]
fn the_file_tree_nests_folders_with_their_sizes() {
    use bf_metainfo::{CreateOptions, Source};
    let dir = bf_testkit::temp_dir();
    let root = dir.path().join("show");
    for (p, n) in [
        ("s01/e01.mkv", 3000),
        ("s01/extras/a.txt", 10),
        ("s01/extras/b.txt", 20),
        ("s02/e01.mkv", 4000),
        ("readme", 1),
    ] {
        let f = root.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, vec![0u8; n]).unwrap();
    }
    let m = bf_metainfo::create(
        &Source::scan(&root).unwrap(),
        &CreateOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let path = dir.path().join("show.torrent");
    std::fs::write(&path, m.to_bytes()).unwrap();
    let out = info(&["--files"], &path);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "show/  6.87 KiB (7031 bytes)\n\
         ├── readme  1 byte\n\
         ├── s01/  2.96 KiB (3030 bytes)\n\
         │   ├── e01.mkv  2.93 KiB (3000 bytes)\n\
         │   └── extras/  30 bytes\n\
         │       ├── a.txt  10 bytes\n\
         │       └── b.txt  20 bytes\n\
         └── s02/  3.91 KiB (4000 bytes)\n    \
             └── e01.mkv  3.91 KiB (4000 bytes)\n",
        "{text}"
    );
}

#[test]
fn help_describes_files_and_magnet() {
    let out = Command::new(env!("CARGO_BIN_EXE_bf-console"))
        .args(["info", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("--files") && help.contains("file tree"),
        "{help}"
    );
    assert!(
        help.contains("--magnet") && help.contains("only the magnet link"),
        "{help}"
    );
}

/// A full disk behind standard output is a one-line error, not a panic.
#[cfg(target_os = "linux")]
#[test]
fn a_failing_standard_output_is_a_clean_error() {
    let dir = bf_testkit::temp_dir();
    let path = dir.path().join("t.torrent");
    std::fs::write(&path, broken::base_multi().to_bytes()).unwrap();
    for args in [&[][..], &["--files"], &["--magnet"], &["--json"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_bf-console"))
            .arg("info")
            .args(args)
            .arg(&path)
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("bf-console: error: cannot write to standard output"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn the_source_key_is_shown() {
    use bf_metainfo::{CreateOptions, Source};
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("x.bin");
    std::fs::write(&file, vec![1u8; 5000]).unwrap();
    let opts = CreateOptions {
        source: Some("TRACKER-X".into()),
        ..CreateOptions::default()
    };
    let m = bf_metainfo::create(&Source::scan(&file).unwrap(), &opts, &mut |_| {}).unwrap();
    assert_eq!(m.source(), Some("TRACKER-X"));
    let path = dir.path().join("x.torrent");
    std::fs::write(&path, m.to_bytes()).unwrap();
    let text = String::from_utf8(info(&[], &path).stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("source") && l.contains("TRACKER-X")),
        "{text}"
    );
    let json = String::from_utf8(info(&["--json"], &path).stdout).unwrap();
    assert!(json.contains(r#""source":"TRACKER-X""#), "{json}");
}
