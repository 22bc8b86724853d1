//! The flags users of imdl and mktorrent reach for: --name, --source, --exclude,
//! --include-hidden, --follow-symlinks, `-o -`, --dry-run, and the piece-size warnings.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use bf_metainfo::Metainfo;

const URL: &str = "http://127.0.0.1:6969/announce";

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bf-maketorrent"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

fn ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> (String, String) {
    let out = run(args);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stderr}");
    (stdout, stderr)
}

/// A failure with exit status `code` and one `bf-maketorrent: error:` line.
fn failure(code: i32, args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err:?}");
    err
}

fn read(p: &Path) -> Metainfo {
    Metainfo::from_bytes(&fs::read(p).unwrap()).unwrap()
}

fn paths(m: &Metainfo) -> Vec<String> {
    m.files().iter().map(|f| f.display_path()).collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The `source` key of the info dictionary, as bytes.
fn info_source(m: &Metainfo) -> Option<Vec<u8>> {
    let info = bf_bencode::decode(m.info_bytes()).unwrap();
    let d = info.as_dict().unwrap();
    d.get(b"source").map(|v| v.as_bytes().unwrap().to_vec())
}

#[test]
fn name_renames_the_torrent_and_its_default_output() {
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("raw-upload.bin");
    fs::write(&file, bf_testkit::pseudo_random_bytes(70_000, 1)).unwrap();
    let (stdout, _) = ok(&[
        &file,
        &URL,
        &"--name",
        &"Nice Name (2024).bin",
        &"--no-date",
    ]);
    let written = dir.path().join("Nice Name (2024).bin.torrent");
    let m = read(&written);
    assert_eq!(m.name(), "Nice Name (2024).bin");
    assert_eq!(m.files()[0].length, 70_000);
    assert!(
        stdout.contains("name:       Nice Name (2024).bin"),
        "{stdout}"
    );
    assert!(stdout.contains("&dn=Nice%20Name"), "{stdout}");
    let plain = dir.path().join("plain.torrent");
    ok(&[&file, &URL, &"--no-date", &"-o", &plain]);
    assert_eq!(read(&plain).piece_hashes(), m.piece_hashes());
    assert_ne!(read(&plain).info_hash(), m.info_hash());

    for (bad, why) in [("a/b", "separator"), ("..", "`..`"), ("", "empty")] {
        let err = failure(2, &[&file, &URL, &"--name", &bad]);
        assert!(
            err.contains("--name") && err.contains(why),
            "{bad:?}: {err}"
        );
    }
    assert_eq!(
        listing(dir.path()),
        [
            "Nice Name (2024).bin.torrent",
            "plain.torrent",
            "raw-upload.bin"
        ]
    );
}

#[test]
fn source_goes_in_the_info_dictionary_and_changes_the_info_hash() {
    let dir = bf_testkit::temp_dir();
    let tree = dir.path().join("release");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::write(
        tree.join("a.bin"),
        bf_testkit::pseudo_random_bytes(50_000, 2),
    )
    .unwrap();
    fs::write(
        tree.join("sub/b.bin"),
        bf_testkit::pseudo_random_bytes(9_000, 3),
    )
    .unwrap();
    let make = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&tree, &URL, &"--no-date"];
        let out_ref = &out;
        args.push(&"-o");
        args.push(out_ref);
        for e in extra {
            args.push(e);
        }
        ok(&args);
        read(&out)
    };
    let plain = make("plain.torrent", &["--private"]);
    let a = make("a.torrent", &["--private", "--source", "TRACKER-A"]);
    let b = make("b.torrent", &["--private", "--source", "TRACKER-B"]);
    assert_eq!(info_source(&plain), None);
    assert_eq!(info_source(&a).as_deref(), Some(&b"TRACKER-A"[..]));
    assert_eq!(a.piece_hashes(), plain.piece_hashes());
    let hashes = [plain.info_hash(), a.info_hash(), b.info_hash()];
    assert!(
        hashes[0] != hashes[1] && hashes[1] != hashes[2] && hashes[0] != hashes[2],
        "{hashes:?}"
    );
    let err = failure(2, &[&tree, &URL, &"--source", &""]);
    assert!(err.contains("--source"), "{err}");
}

/// libtorrent loads a torrent made with --source, reads the key and agrees on the info-hash.
#[test]
fn libtorrent_reads_the_source_key() {
    if !bf_testkit::require_libtorrent() {
        return;
    }
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("x.bin");
    fs::write(&file, bf_testkit::pseudo_random_bytes(40_000, 4)).unwrap();
    let t = dir.path().join("x.torrent");
    ok(&[&file, &URL, &"--source", &"MY-TRACKER ü", &"-o", &t]);
    let out = Command::new(bf_testkit::SYSTEM_PYTHON)
        .arg("-c")
        .arg(
            "import sys, libtorrent as lt\n\
             ti = lt.torrent_info(sys.argv[1])\n\
             info = lt.bdecode(ti.info_section())\n\
             print(info[b'source'].decode('utf-8'))\n\
             print(str(ti.info_hashes().v1))",
        )
        .arg(&t)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["MY-TRACKER ü", &read(&t).info_hash().to_hex()[..]],
        "{stdout}"
    );
}

#[test]
fn exclude_and_include_hidden_choose_the_files() {
    let dir = bf_testkit::temp_dir();
    let tree = dir.path().join("show");
    for d in ["s01/extras", "s01/sample", ".git", "s02"] {
        fs::create_dir_all(tree.join(d)).unwrap();
    }
    for (p, n) in [
        ("s01/e01.mkv", 20_000),
        ("s01/e01.nfo", 10),
        ("s01/extras/x.mkv", 30),
        ("s01/sample/s.mkv", 40),
        ("s02/e01.mkv", 20_001),
        ("s02/e01.NFO", 11),
        (".git/HEAD", 5),
        (".hidden", 6),
        ("Thumbs.db", 7),
    ] {
        fs::write(tree.join(p), vec![1u8; n]).unwrap();
    }
    let t = dir.path().join("t.torrent");
    let make = |extra: &[&str]| {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&tree, &URL, &"-o", &t, &"--force"];
        for e in extra {
            args.push(e);
        }
        ok(&args);
        paths(&read(&t))
    };
    assert_eq!(
        make(&[]),
        [
            "s01/e01.mkv",
            "s01/e01.nfo",
            "s01/extras/x.mkv",
            "s01/sample/s.mkv",
            "s02/e01.NFO",
            "s02/e01.mkv"
        ]
    );
    assert_eq!(
        make(&[
            "--exclude",
            "*.nfo",
            "--exclude",
            "*.[Nn][Ff][Oo]",
            "--exclude",
            "s01/extras/",
            "--exclude",
            "**/sample"
        ]),
        ["s01/e01.mkv", "s02/e01.mkv"]
    );
    assert_eq!(
        make(&["--include-hidden", "--exclude", "s0?"]),
        [".git/HEAD", ".hidden"],
        "dot-files kept, the original's junk list (Thumbs.db) still applied"
    );
    // Excluding everything leaves no data: a clear error, not an empty torrent.
    let err = failure(3, &[&tree, &URL, &"-o", &t, &"--force", &"--exclude", &"*"]);
    assert!(err.contains("holds no data"), "{err}");
    let bad = run(&[&tree, &URL, &"--exclude", &"[abc"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("\"[abc\" is not a usable pattern"), "{err}");
}

#[cfg(unix)]
#[test]
fn symlinks_are_left_out_unless_followed_and_a_loop_is_an_error() {
    use std::os::unix::fs::symlink;
    let dir = bf_testkit::temp_dir();
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::write(elsewhere.join("big.bin"), vec![5u8; 30_000]).unwrap();
    let tree = dir.path().join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("real.bin"), vec![6u8; 20_000]).unwrap();
    symlink(&elsewhere, tree.join("linked-dir")).unwrap();
    symlink(tree.join("real.bin"), tree.join("linked-file")).unwrap();
    let t = dir.path().join("t.torrent");

    let (_, stderr) = ok(&[&tree, &URL, &"-o", &t]);
    assert_eq!(paths(&read(&t)), ["real.bin"]);
    assert!(
        stderr.contains("left out 2 symbolic links (--follow-symlinks takes them in)"),
        "{stderr}"
    );
    let (_, stderr) = ok(&[&tree, &URL, &"-o", &t, &"--force", &"--follow-symlinks"]);
    assert_eq!(
        paths(&read(&t)),
        ["linked-dir/big.bin", "linked-file", "real.bin"]
    );
    assert!(!stderr.contains("symbolic link"), "{stderr}");
    // The path given is taken even when it is a link.
    let link_to_tree = dir.path().join("via-link");
    symlink(&tree, &link_to_tree).unwrap();
    ok(&[&link_to_tree, &URL, &"-o", &t, &"--force"]);
    assert_eq!(read(&t).name(), "via-link");

    symlink(&tree, tree.join("loop")).unwrap();
    let before = fs::read(&t).unwrap();
    let err = failure(
        3,
        &[&tree, &URL, &"-o", &t, &"--force", &"--follow-symlinks"],
    );
    assert!(
        err.starts_with("bf-maketorrent: error: ")
            && err.contains("tree/loop")
            && err.contains("symbolic link loop"),
        "{err}"
    );
    assert_eq!(fs::read(&t).unwrap(), before, "nothing written on error");
    // Unfollowed, the loop is just another link left out.
    ok(&[&tree, &URL, &"-o", &t, &"--force"]);
}

#[test]
fn dash_output_writes_the_torrent_to_stdout_and_the_summary_to_stderr() {
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("f.bin");
    fs::write(&file, bf_testkit::pseudo_random_bytes(100_000, 5)).unwrap();
    let out = run(&[&file, &URL, &"-o", &"-", &"--no-date"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let m = Metainfo::from_bytes(&out.stdout).unwrap();
    assert_eq!(m.name(), "f.bin");
    assert!(
        stderr.contains(&format!("info-hash:  {}", m.info_hash()))
            && stderr.contains("written:    standard output"),
        "{stderr}"
    );
    ok(&[
        &file,
        &URL,
        &"--no-date",
        &"-o",
        &dir.path().join("ref.torrent"),
    ]);
    assert_eq!(
        fs::read(dir.path().join("ref.torrent")).unwrap(),
        out.stdout
    );
    assert_eq!(
        listing(dir.path()),
        ["f.bin", "ref.torrent"],
        "no file named -"
    );
}

#[test]
fn dry_run_hashes_and_prints_but_writes_nothing() {
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("f.bin");
    fs::write(&file, bf_testkit::pseudo_random_bytes(100_000, 6)).unwrap();
    let (stdout, _) = ok(&[&file, &URL, &"--dry-run", &"--no-date"]);
    assert_eq!(listing(dir.path()), ["f.bin"]);
    let written = dir.path().join("f.bin.torrent");
    ok(&[&file, &URL, &"--no-date"]);
    let m = read(&written);
    for needle in [
        format!("info-hash:  {}", m.info_hash()),
        format!("magnet:     magnet:?xt=urn:btih:{}", m.info_hash()),
        format!(
            "written:    nothing (--dry-run; would write {})",
            written.display()
        ),
    ] {
        assert!(stdout.contains(&needle), "missing {needle:?} in\n{stdout}");
    }
    // An existing output is no reason to stop a run that would not write it.
    let before = fs::read(&written).unwrap();
    let (stdout, _) = ok(&[&file, &URL, &"--dry-run", &"--source", &"X"]);
    assert!(stdout.contains("info-hash:"), "{stdout}");
    assert_eq!(fs::read(&written).unwrap(), before);
    let out = run(&[&file, &URL, &"--dry-run", &"-o", &"-"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("written:    nothing (--dry-run; would write standard output)"),
        "{stdout}"
    );
    assert_eq!(listing(dir.path()), ["f.bin", "f.bin.torrent"]);
}

#[test]
fn an_absurd_piece_size_is_a_warning_naming_a_better_one() {
    let dir = bf_testkit::temp_dir();
    let small = dir.path().join("small.bin");
    fs::write(&small, vec![0u8; 1 << 20]).unwrap();
    let (_, stderr) = ok(&[&small, &URL, &"--piece-size", &"32M", &"--dry-run"]);
    assert!(
        stderr.contains("bf-maketorrent: warning: piece size 32.00 MiB is above 16 MiB")
            && stderr.contains("(--piece-size 16K)"),
        "{stderr}"
    );
    // Over 100,000 pieces: a sparse file of 1.6 GB in 16 KiB pieces (zeros hash quickly).
    let big = dir.path().join("big.bin");
    let f = fs::File::create(&big).unwrap();
    f.set_len(100_001 * 16_384).unwrap();
    drop(f);
    let (stdout, stderr) = ok(&[&big, &URL, &"--piece-size", &"16K", &"--dry-run"]);
    assert!(
        stderr.contains("makes 100001 pieces, over 100000") && stderr.contains("(--piece-size 1M)"),
        "{stderr}"
    );
    assert!(
        stdout.contains("pieces:     100001 x 16.00 KiB"),
        "{stdout}"
    );
    // A sensible choice, or the automatic one, draws no warning.
    for args in [&["--piece-size", "256K"][..], &[]] {
        let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&small, &URL, &"--dry-run"];
        for a in args {
            all.push(a);
        }
        let (_, stderr) = ok(&all);
        assert!(!stderr.contains("warning"), "{args:?}: {stderr}");
    }
}

#[test]
fn every_new_flag_has_help_text() {
    let help = String::from_utf8(run(&[&"--help"]).stdout).unwrap();
    for (flag, words) in [
        ("--name <NAME>", "The torrent's name"),
        ("--source <TEXT>", "`source`"),
        ("--exclude <GLOB>", "matching GLOB"),
        ("--include-hidden", "start with a dot"),
        ("--follow-symlinks", "Follow symbolic links"),
        ("--dry-run", "write no torrent"),
        ("-o, --output <OUT>", "`-` writes it to standard output"),
        ("--piece-size <SIZE>", "warned about"),
    ] {
        let at = help
            .find(flag)
            .unwrap_or_else(|| panic!("{flag} not in --help"));
        let entry = &help[at..];
        let end = entry.find("\n\n").unwrap_or(entry.len());
        assert!(entry[..end].contains(words), "{flag}: {:?}", &entry[..end]);
    }
}

/// A full disk behind standard output is a one-line error (status 5), not a panic.
#[cfg(target_os = "linux")]
#[test]
fn a_failing_standard_output_is_a_clean_error() {
    let dir = bf_testkit::temp_dir();
    let file = dir.path().join("f.bin");
    fs::write(&file, vec![1u8; 1000]).unwrap();
    for args in [&["--dry-run"][..], &["-o", "-"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_bf-maketorrent"))
            .arg(&file)
            .arg(URL)
            .args(args)
            .stdout(fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{args:?}: {err}");
        assert!(
            err.contains("bf-maketorrent: error: cannot write to standard output")
                && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
