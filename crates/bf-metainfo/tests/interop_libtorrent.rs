//! libtorrent 2.0 loads our torrents with the same info-hash, files and sizes; we read the
//! hybrid v1+v2 torrents it makes (with BEP 47 padding files) and get its v1 info-hash.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use bf_metainfo::{create, CreateOptions, Metainfo, Source};
use serde_json::Value as Json;

const DESCRIBE: &str = r#"
import json, sys
import libtorrent as lt
ti = lt.torrent_info(sys.argv[1])
fs = ti.files()
pad = lt.file_storage.flag_pad_file
print(json.dumps({
    "v1": str(ti.info_hashes().v1),
    "name": ti.name(),
    "total": ti.total_size(),
    "piece_length": ti.piece_length(),
    "pieces": ti.num_pieces(),
    "files": [[fs.file_path(i), fs.file_size(i), bool(fs.file_flags(i) & pad)] for i in range(fs.num_files())],
}))
"#;

const MAKE: &str = r#"
import os, sys
import libtorrent as lt
path, out = sys.argv[1], sys.argv[2]
fs = lt.file_storage()
lt.add_files(fs, path)
ct = lt.create_torrent(fs)
ct.add_tracker("http://127.0.0.1:6969/announce")
lt.set_piece_hashes(ct, os.path.dirname(path))
open(out, "wb").write(lt.bencode(ct.generate()))
"#;

fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(bf_testkit::SYSTEM_PYTHON)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn describe(torrent: &Path) -> Json {
    serde_json::from_str(&python(DESCRIBE, &[torrent])).unwrap()
}

/// Our files as libtorrent lists them: `name/path…` for multi-file, `name` for single-file.
fn our_files(m: &Metainfo) -> Vec<(String, u64, bool)> {
    m.files()
        .iter()
        .map(|f| {
            let p = if m.is_single_file() {
                m.name().to_string()
            } else {
                format!("{}/{}", m.name(), f.display_path())
            };
            (p, f.length, f.padding)
        })
        .collect()
}

fn their_files(j: &Json) -> Vec<(String, u64, bool)> {
    j["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f[0].as_str().unwrap().to_string(),
                f[1].as_u64().unwrap(),
                f[2].as_bool().unwrap(),
            )
        })
        .collect()
}

/// A file tree (`make_tree`) and a single file of `len` bytes `fill`, in `dir`.
fn inputs(dir: &Path, fill: u8, len: usize) -> (PathBuf, PathBuf) {
    let tree = dir.join("tree");
    make_tree(&tree);
    let single = dir.join("one.bin");
    fs::write(&single, vec![fill; len]).unwrap();
    (tree, single)
}

fn make_tree(root: &Path) {
    for (p, n) in [
        ("docs/readme.txt", 1_234usize),
        ("docs/empty", 0),
        ("data/big.bin", 200_000),
        ("data/small.bin", 17),
        ("top.bin", 65_536),
    ] {
        let path = root.join(p);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(
            path,
            (0..n).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>(),
        )
        .unwrap();
    }
}

#[test]
fn libtorrent_loads_our_torrents_with_the_same_hash_and_files() {
    if !bf_testkit::require_libtorrent() {
        return;
    }
    let dir = bf_testkit::temp_dir();
    let (tree, single) = inputs(dir.path(), 3, 100_001);

    for (input, pl) in [(&tree, None), (&tree, Some(1 << 16)), (&single, None)] {
        let opts = CreateOptions {
            piece_length: pl,
            trackers: vec![vec!["http://127.0.0.1:6969/announce".into()]],
            private: pl.is_some(),
            ..Default::default()
        };
        let m = create(&Source::scan(input).unwrap(), &opts, &mut |_| {}).unwrap();
        let t = dir.path().join("ours.torrent");
        fs::write(&t, m.to_bytes()).unwrap();
        let j = describe(&t);
        assert_eq!(j["v1"], m.info_hash().to_hex(), "{input:?}");
        assert_eq!(j["name"], m.name());
        assert_eq!(j["total"], m.total_length());
        assert_eq!(j["piece_length"], m.piece_length());
        assert_eq!(j["pieces"], m.piece_count());
        assert_eq!(their_files(&j), our_files(&m), "{input:?}");
    }
}

#[test]
fn we_read_libtorrent_hybrid_torrents_as_v1() {
    if !bf_testkit::require_libtorrent() {
        return;
    }
    let dir = bf_testkit::temp_dir();
    let (tree, single) = inputs(dir.path(), 5, 70_000);

    for input in [&tree, &single] {
        let t = dir.path().join("lt.torrent");
        python(MAKE, &[input, &t]);
        let j = describe(&t);
        let m = Metainfo::from_bytes(&fs::read(&t).unwrap()).unwrap();
        assert_eq!(m.info_hash().to_hex(), j["v1"], "{input:?}");
        assert_eq!(our_files(&m), their_files(&j), "{input:?}");
        assert_eq!(m.total_length(), j["total"].as_u64().unwrap());
        assert_eq!(m.piece_count(), j["pieces"].as_u64().unwrap() as u32);
        if input == &tree {
            // libtorrent 2.0 makes hybrid torrents with padding files by default: the case
            // this test exists for.
            assert!(m.files().iter().any(|f| f.padding), "no padding files: {j}");
            let info = bf_bencode::decode_lenient(m.info_bytes()).unwrap();
            assert!(
                info.as_dict().unwrap().contains_key(b"file tree"),
                "not hybrid"
            );
        }
        // Re-encoding keeps the hash and the v2 parts (piece layers) alike.
        let again = dir.path().join("again.torrent");
        fs::write(&again, m.to_bytes()).unwrap();
        assert_eq!(describe(&again)["v1"], j["v1"]);
    }
}
