//! Same input, same piece size: our info-hash equals mktorrent's; and we read its torrents.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::Path;
use std::process::Command;

use bf_metainfo::{create, CreateOptions, Metainfo, Source};

const URL: &str = "http://127.0.0.1:6969/announce";

/// A tree whose order differs between "sort by components" and mktorrent's byte order, with
/// an empty file and files that straddle pieces. No dot-files or CVS: mktorrent keeps them.
fn make_tree(root: &Path) {
    let files: [(&str, usize); 8] = [
        ("a/y.dat", 70_001),
        ("a-b/x.dat", 3),
        ("a.txt", 0),
        ("B/upper.bin", 40_000),
        ("sub/deeper/z.bin", 300_000),
        ("sub/deeper/zz.bin", 16_384),
        ("sub/k.bin", 1),
        ("ünïcode name.txt", 12_345),
    ];
    for (i, (p, n)) in files.iter().enumerate() {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bf_testkit::pseudo_random_bytes(*n, i as u64 + 1)).unwrap();
    }
}

fn mktorrent(input: &Path, out: &Path, log2: u32, private: bool) -> Metainfo {
    let mut cmd = Command::new("mktorrent");
    cmd.arg("-l")
        .arg(log2.to_string())
        .arg("-a")
        .arg(URL)
        .arg("-o")
        .arg(out);
    if private {
        cmd.arg("-p");
    }
    let res = cmd.arg(input).output().unwrap();
    assert!(
        res.status.success(),
        "mktorrent: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    Metainfo::from_bytes(&fs::read(out).unwrap()).unwrap()
}

fn ours(input: &Path, log2: u32, private: bool) -> Metainfo {
    let opts = CreateOptions {
        piece_length: Some(1 << log2),
        private,
        trackers: vec![vec![URL.into()]],
        created_by: Some("BitFountain/test".into()),
        creation_date: Some(1_700_000_000),
        ..Default::default()
    };
    create(&Source::scan(input).unwrap(), &opts, &mut |_| {}).unwrap()
}

#[test]
fn same_info_hash_as_mktorrent_for_a_file_and_a_tree() {
    if !bf_testkit::require("mktorrent") {
        return;
    }
    let dir = bf_testkit::temp_dir();
    let tree = dir.path().join("tree");
    make_tree(&tree);
    let single = dir.path().join("single.iso");
    fs::write(&single, bf_testkit::pseudo_random_bytes(1_000_003, 99)).unwrap();

    let mut n = 0;
    for (input, log2, private) in [
        (&tree, 18, false),
        (&tree, 15, false),
        (&tree, 17, true),
        (&single, 18, false),
        (&single, 16, true),
    ] {
        n += 1;
        let theirs = mktorrent(
            input,
            &dir.path().join(format!("m{n}.torrent")),
            log2,
            private,
        );
        let mine = ours(input, log2, private);
        assert_eq!(
            mine.info_hash(),
            theirs.info_hash(),
            "{input:?} -l {log2} private={private}"
        );
        assert_eq!(mine.info_bytes(), theirs.info_bytes());
        // Reading mktorrent's file gives the same layout we scanned.
        assert_eq!(theirs.files(), mine.files());
        assert_eq!(theirs.trackers(), vec![vec![URL.to_string()]]);
        assert_eq!(theirs.is_private(), private);
        assert_eq!(theirs.created_by(), Some("mktorrent 1.1"));
    }
}
