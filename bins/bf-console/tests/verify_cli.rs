//! `bf-console verify`: data checked against a torrent's pieces, the failing pieces named per
//! file, and the exit status 0 only when everything matches.

#![allow(clippy::unwrap_used)]

#[path = "../../../crates/bf-metainfo/tests/common/broken.rs"]
mod broken;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bf_metainfo::{CreateOptions, Metainfo, Source};

const PIECE: u64 = 16 << 10;

fn verify(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bf-console"))
        .arg("verify")
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

/// The exit status `verify --help` lists on the line containing `needle`.
fn listed_status(needle: &str) -> i32 {
    let help = String::from_utf8(verify(&[&"--help"]).stdout).unwrap();
    bf_testkit::listed_exit_status(&help, needle)
        .unwrap_or_else(|| panic!("no exit status {needle:?} in --help:\n{help}"))
}

/// A failed check: the listed status for "error (none", one error line on stderr, and the
/// report on stdout, returned.
fn failed_check(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(listed_status("error (none")),
        "{stdout}{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with("bf-console: error: ") && err.contains("pieces failed"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    stdout
}

/// A refusal before any check: status 3 (bad input) and one line naming the problem.
fn bad_input(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    assert!(
        err.starts_with("bf-console: error: ") && err.contains(needle),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// The `FAILED` lines of a report, as (file, rest of the line).
fn failed_lines(report: &str) -> Vec<(String, String)> {
    report
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("FAILED  "))
        .map(|l| {
            let (file, rest) = l.split_once(": ").unwrap();
            (file.to_owned(), rest.to_owned())
        })
        .collect()
}

/// A torrent of `files` (relative path, length) written under `dir/name`, 16 KiB pieces.
fn make(dir: &Path, name: &str, files: &[(&str, usize)]) -> (PathBuf, PathBuf, Metainfo) {
    let root = dir.join(name);
    for (i, (p, n)) in files.iter().enumerate() {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bf_testkit::pseudo_random_bytes(*n, i as u64 + 1)).unwrap();
    }
    let opts = CreateOptions {
        piece_length: Some(PIECE),
        ..CreateOptions::default()
    };
    let m = bf_metainfo::create(&Source::scan(&root).unwrap(), &opts, &mut |_| {}).unwrap();
    let torrent = dir.join(format!("{name}.torrent"));
    fs::write(&torrent, m.to_bytes()).unwrap();
    (torrent, root, m)
}

/// Flips one byte of `path` at `at`.
fn corrupt(path: &Path, at: usize) {
    let mut data = fs::read(path).unwrap();
    data[at] ^= 0x5a;
    fs::write(path, data).unwrap();
}

#[test]
fn one_corrupted_byte_names_its_piece_and_its_file_and_fails() {
    let dir = bf_testkit::temp_dir();
    // a.bin: pieces 0-6 (100,000 bytes); b.bin: 100,000..400,000, pieces 6-24; c.txt in 24.
    let (torrent, root, m) = make(
        dir.path(),
        "album",
        &[
            ("a.bin", 100_000),
            ("disc/b.bin", 300_000),
            ("disc/c.txt", 10),
        ],
    );
    let n = m.piece_count();
    let out = verify(&[&torrent, &root]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("album: all {n} pieces match")),
        "{stdout}"
    );
    assert!(out.stderr.is_empty(), "no bar or noise off a terminal");

    // Byte 150,000 of b.bin is content byte 250,000: piece 15, inside b.bin alone.
    corrupt(&root.join("disc/b.bin"), 150_000);
    let report = failed_check(&verify(&[&torrent, &root]));
    assert!(
        report.contains(&format!(
            "album: 1 file not matching, 1 of {n} pieces failed"
        )),
        "{report}"
    );
    assert_eq!(
        failed_lines(&report),
        [(
            "disc/b.bin".to_owned(),
            "piece 15 of its 19 (6-24) fails".to_owned()
        )],
        "{report}"
    );
    // The same answer on one thread.
    let one = failed_check(&verify(&[&torrent, &root, &"--threads", &"1"]));
    assert_eq!(failed_lines(&one), failed_lines(&report));
}

#[test]
fn missing_and_wrong_sized_files_are_named_with_their_pieces() {
    let dir = bf_testkit::temp_dir();
    let (torrent, root, m) = make(
        dir.path(),
        "set",
        &[
            ("a.bin", 2 * PIECE as usize),
            ("b.bin", PIECE as usize),
            ("c.bin", PIECE as usize + 100),
            ("d.bin", 3 * PIECE as usize),
        ],
    );
    fs::remove_file(root.join("b.bin")).unwrap();
    // c.bin one byte short: its last piece (4, shared with d.bin) cannot match.
    let c = root.join("c.bin");
    let data = fs::read(&c).unwrap();
    fs::write(&c, &data[..data.len() - 1]).unwrap();
    let report = failed_check(&verify(&[&torrent, &root]));
    let n = m.piece_count();
    assert!(
        report.contains(&format!("3 files not matching, 2 of {n} pieces failed")),
        "{report}"
    );
    assert_eq!(
        failed_lines(&report),
        [
            (
                "b.bin".to_owned(),
                "missing; its one piece, 2, fails".to_owned()
            ),
            (
                "c.bin".to_owned(),
                format!(
                    "{} bytes on disk, the torrent says {}; piece 4 of its 2 (3-4) fails",
                    PIECE + 99,
                    PIECE + 100
                )
            ),
            (
                "d.bin".to_owned(),
                "piece 4 of its 4 (4-7) fails".to_owned()
            ),
        ],
        "{report}"
    );
    // A file too long still matches piece by piece, but is not the torrent's data.
    let (torrent, root, _) = make(dir.path(), "long", &[("x.bin", 1000), ("y.bin", 1000)]);
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(root.join("y.bin"))
        .unwrap();
    std::io::Write::write_all(&mut f, b"extra").unwrap();
    drop(f);
    let report = failed_check(&verify(&[&torrent, &root]));
    assert_eq!(
        failed_lines(&report),
        [(
            "y.bin".to_owned(),
            "1005 bytes on disk, the torrent says 1000".to_owned()
        )],
        "{report}"
    );
}

#[test]
fn single_file_torrents_take_the_file_or_the_folder_holding_it() {
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("movie.mkv");
    fs::write(&file, bf_testkit::pseudo_random_bytes(200_000, 9)).unwrap();
    let m = bf_metainfo::create(
        &Source::scan(&file).unwrap(),
        &CreateOptions {
            piece_length: Some(PIECE),
            ..CreateOptions::default()
        },
        &mut |_| {},
    )
    .unwrap();
    let torrent = dir.path().join("movie.torrent");
    fs::write(&torrent, m.to_bytes()).unwrap();
    for path in [file.as_path(), dir.path()] {
        let out = verify(&[&torrent, &path]);
        assert!(
            out.status.success(),
            "{path:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    corrupt(&file, 199_999);
    let last = m.piece_count() - 1;
    let report = failed_check(&verify(&[&torrent, &dir.path()]));
    assert_eq!(
        failed_lines(&report),
        [(
            "movie.mkv".to_owned(),
            format!("piece {last} of its {} (0-{last}) fails", last + 1)
        )],
        "{report}"
    );
}

#[test]
fn many_pieces_on_every_thread_report_exactly_the_bad_ones() {
    let dir = bf_testkit::temp_dir();
    let (torrent, root, m) = make(dir.path(), "big", &[("data.bin", 4 << 20)]);
    let n = m.piece_count();
    let bad = [0u64, 1, 77, 255];
    for p in bad {
        corrupt(&root.join("data.bin"), (p * PIECE + 123) as usize);
    }
    for threads in ["1", "2", "7"] {
        let report = failed_check(&verify(&[&torrent, &root, &"--threads", &threads]));
        assert_eq!(
            failed_lines(&report),
            [(
                "data.bin".to_owned(),
                format!("pieces 0-1, 77, 255 of its {n} (0-{}) fail", n - 1)
            )],
            "{threads} threads: {report}"
        );
    }
}

#[test]
fn bad_torrents_and_paths_are_one_line_errors() {
    let dir = bf_testkit::temp_dir();
    let (torrent, root, _) = make(dir.path(), "t", &[("a", 100), ("b", 100)]);
    bad_input(
        &verify(&[&dir.path().join("none.torrent"), &root]),
        "none.torrent",
    );
    bad_input(&verify(&[&torrent, &dir.path().join("gone")]), "gone");
    bad_input(
        &verify(&[&torrent, &root.join("a")]),
        "not a folder (the data of a multi-file torrent is its top folder)",
    );
    let bad = dir.path().join("bad.torrent");
    for (what, bytes) in broken::corpus() {
        fs::write(&bad, &bytes).unwrap();
        let out = verify(&[&bad, &root]);
        assert_eq!(out.status.code(), Some(3), "{what}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr)
                .trim_end()
                .lines()
                .count(),
            1,
            "{what}"
        );
    }
    let out = verify(&[&torrent, &root, &"--threads", &"0"]);
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
}

#[test]
fn help_describes_verify_and_its_exit_statuses() {
    let top = Command::new(env!("CARGO_BIN_EXE_bf-console"))
        .arg("--help")
        .output()
        .unwrap();
    let top = String::from_utf8(top.stdout).unwrap();
    assert!(
        top.contains("verify") && top.contains("which pieces fail"),
        "{top}"
    );
    let help = String::from_utf8(verify(&[&"--help"]).stdout).unwrap();
    for needle in [
        "<TORRENT>",
        "<PATH>",
        "--threads <N>",
        "the top folder of a multi-file one",
        "Exit status:",
    ] {
        assert!(help.contains(needle), "missing {needle:?} in\n{help}");
    }
    assert_eq!(listed_status("error (none"), 1);
    assert_eq!(listed_status("bad input"), 3);
}
