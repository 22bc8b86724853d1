//! The program's output has mktorrent's info-hash for the same input and piece size.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::process::Command;

use bf_metainfo::Metainfo;

/// Runs `cmd`, failing the test with its stderr unless it succeeds.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bf_maketorrent_and_mktorrent_agree() {
    if !bf_testkit::require("mktorrent") {
        return;
    }
    let dir = bf_testkit::temp_dir();
    let tree = dir.path().join("share");
    fs::create_dir_all(tree.join("x/y")).unwrap();
    fs::write(tree.join("x/y/deep.bin"), vec![1u8; 600_000]).unwrap();
    fs::write(tree.join("x.bin"), vec![2u8; 262_144]).unwrap();
    fs::write(tree.join("z"), b"tail").unwrap();
    let url = "http://127.0.0.1:6969/announce";

    for input in [tree.clone(), tree.join("x/y/deep.bin")] {
        let ours = dir.path().join("ours.torrent");
        let theirs = dir.path().join("theirs.torrent");
        run(Command::new(env!("CARGO_BIN_EXE_bf-maketorrent"))
            .args([
                input.as_os_str(),
                url.as_ref(),
                "-o".as_ref(),
                ours.as_os_str(),
            ])
            .args(["--piece-size", "256K", "--force"]));
        run(Command::new("mktorrent")
            .args(["-l", "18", "-a", url, "-o"])
            .arg(&theirs)
            .arg(&input));
        let ours = Metainfo::from_bytes(&fs::read(&ours).unwrap()).unwrap();
        let theirs = Metainfo::from_bytes(&fs::read(&theirs).unwrap()).unwrap();
        assert_eq!(ours.info_hash(), theirs.info_hash(), "{input:?}");
        fs::remove_file(dir.path().join("theirs.torrent")).unwrap();
    }
}

/// mktorrent keeps dot-files and follows symbolic links, and has -n and -s: with
/// --include-hidden, --follow-symlinks, --name and --source we make its info-hash.
#[cfg(unix)]
#[test]
fn name_source_hidden_files_and_followed_links_agree_with_mktorrent() {
    if !bf_testkit::require("mktorrent") {
        return;
    }
    let dir = bf_testkit::temp_dir();
    let tree = dir.path().join("share");
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir_all(tree.join("sub")).unwrap();
    fs::create_dir_all(&elsewhere).unwrap();
    fs::write(tree.join("sub/a.bin"), vec![3u8; 300_000]).unwrap();
    fs::write(tree.join(".hidden"), b"dot").unwrap();
    fs::write(elsewhere.join("e.bin"), vec![4u8; 5_000]).unwrap();
    std::os::unix::fs::symlink(&elsewhere, tree.join("linked-dir")).unwrap();
    std::os::unix::fs::symlink(tree.join("sub/a.bin"), tree.join("linked-file")).unwrap();
    let url = "http://127.0.0.1:6969/announce";
    let ours = dir.path().join("ours.torrent");
    let theirs = dir.path().join("theirs.torrent");
    run(Command::new(env!("CARGO_BIN_EXE_bf-maketorrent"))
        .arg(&tree)
        .arg(url)
        .arg("-o")
        .arg(&ours)
        .args([
            "--piece-size",
            "256K",
            "--name",
            "Renamed",
            "--source",
            "TRK",
        ])
        .args(["--include-hidden", "--follow-symlinks"]));
    run(Command::new("mktorrent")
        .args(["-l", "18", "-a", url, "-n", "Renamed", "-s", "TRK", "-o"])
        .arg(&theirs)
        .arg(&tree));
    let ours = Metainfo::from_bytes(&fs::read(&ours).unwrap()).unwrap();
    let theirs = Metainfo::from_bytes(&fs::read(&theirs).unwrap()).unwrap();
    assert_eq!(ours.files().len(), 4, "{:?}", ours.files());
    assert_eq!(ours.name(), "Renamed");
    assert_eq!(ours.info_hash(), theirs.info_hash());
}
