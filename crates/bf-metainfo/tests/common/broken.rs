//! A corpus of broken `.torrent` files, generated rather than committed: every truncation
//! of a real torrent, each field with each wrong type, bad `pieces`, unsafe paths, absurd
//! sizes, deep nesting, and things that are not bencode at all.
//!
//! Shared by bf-metainfo's tests and the `bf-console info` / `bf-maketorrent retrack` tests
//! (included there with `#[path]`).

#![allow(dead_code, clippy::unwrap_used)]

use bf_bencode::{Dict, Value};

/// A step into a bencode tree.
#[derive(Clone, Copy, Debug)]
pub enum Seg {
    /// A dictionary key.
    Key(&'static str),
    /// A list index.
    Idx(usize),
}

use Seg::{Idx, Key};

fn s(x: &str) -> Value<'static> {
    Value::from(x.to_owned())
}

fn dict(entries: Vec<(&str, Value<'static>)>) -> Value<'static> {
    let mut d = Dict::new();
    for (k, v) in entries {
        d.insert(k.as_bytes().to_vec(), v);
    }
    Value::Dict(d)
}

/// A valid multi-file torrent using every field the parser knows.
pub fn base_multi() -> Value<'static> {
    dict(vec![
        ("announce", s("http://127.0.0.1:6969/announce")),
        (
            "announce-list",
            Value::List(vec![Value::List(vec![s("http://127.0.0.1:6969/announce")])]),
        ),
        ("comment", s("corpus")),
        ("created by", s("test")),
        ("creation date", Value::Int(1_700_000_000)),
        (
            "info",
            dict(vec![
                (
                    "files",
                    Value::List(vec![
                        dict(vec![
                            ("attr", s("x")),
                            ("length", Value::Int(20_000)),
                            ("path", Value::List(vec![s("a.bin")])),
                        ]),
                        dict(vec![
                            ("length", Value::Int(5)),
                            ("path", Value::List(vec![s("sub"), s("b.txt")])),
                        ]),
                    ]),
                ),
                ("name", s("corpus")),
                ("piece length", Value::Int(16384)),
                ("pieces", Value::from(vec![0xabu8; 40])),
                ("private", Value::Int(1)),
            ]),
        ),
        (
            "nodes",
            Value::List(vec![Value::List(vec![s("127.0.0.1"), Value::Int(6881)])]),
        ),
        ("url-list", Value::List(vec![s("http://127.0.0.1/seed/")])),
    ])
}

/// A valid single-file torrent.
pub fn base_single() -> Value<'static> {
    dict(vec![
        ("announce", s("http://127.0.0.1:6969/announce")),
        (
            "info",
            dict(vec![
                ("length", Value::Int(16385)),
                ("name", s("single.bin")),
                ("piece length", Value::Int(16384)),
                ("pieces", Value::from(vec![0xcdu8; 40])),
            ]),
        ),
    ])
}

/// `root` with the value at `path` replaced (`Some`) or removed (`None`).
pub fn with(root: &Value<'static>, path: &[Seg], new: Option<Value<'static>>) -> Value<'static> {
    let mut v = root.clone();
    set(&mut v, path, new);
    v
}

fn set(v: &mut Value<'static>, path: &[Seg], new: Option<Value<'static>>) {
    let Some((first, rest)) = path.split_first() else {
        if let Some(n) = new {
            *v = n;
        }
        return;
    };
    match (v, first) {
        (Value::Dict(d), Key(k)) => {
            if rest.is_empty() {
                match new {
                    Some(n) => {
                        d.insert(k.as_bytes().to_vec(), n);
                    }
                    None => {
                        d.remove(k.as_bytes());
                    }
                }
            } else {
                let mut child = d.get(k.as_bytes()).cloned().unwrap();
                set(&mut child, rest, new);
                d.insert(k.as_bytes().to_vec(), child);
            }
        }
        (Value::List(l), Idx(i)) => {
            if rest.is_empty() {
                match new {
                    Some(n) => l[*i] = n,
                    None => {
                        l.remove(*i);
                    }
                }
            } else {
                set(&mut l[*i], rest, new);
            }
        }
        (v, seg) => panic!("corpus path {seg:?} does not fit {v:?}"),
    }
}

fn samples() -> [(&'static str, Value<'static>); 4] {
    [
        ("integer", Value::Int(7)),
        ("string", s("x")),
        ("list", Value::List(vec![Value::Int(1)])),
        ("dict", dict(vec![("k", Value::Int(1))])),
    ]
}

/// Every broken case: a description and the file's bytes.
pub fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let multi = base_multi();
    let single = base_single();
    let good = multi.to_bytes();

    for n in 0..good.len() {
        out.push((format!("truncated to {n} bytes"), good[..n].to_vec()));
    }
    let good_single = single.to_bytes();
    for n in (0..good_single.len()).step_by(7) {
        out.push((
            format!("single-file truncated to {n} bytes"),
            good_single[..n].to_vec(),
        ));
    }

    // (path, kinds that are right for it)
    let typed: Vec<(Vec<Seg>, &[&str], bool)> = vec![
        (vec![Key("info")], &["dict"], true),
        (vec![Key("info"), Key("name")], &["string"], true),
        (vec![Key("info"), Key("piece length")], &["integer"], true),
        (vec![Key("info"), Key("pieces")], &["string"], true),
        (vec![Key("info"), Key("private")], &["integer"], true),
        (vec![Key("info"), Key("files")], &["list"], true),
        (vec![Key("info"), Key("files"), Idx(0)], &["dict"], true),
        (
            vec![Key("info"), Key("files"), Idx(0), Key("length")],
            &["integer"],
            true,
        ),
        (
            vec![Key("info"), Key("files"), Idx(0), Key("path")],
            &["list"],
            true,
        ),
        (
            vec![Key("info"), Key("files"), Idx(1), Key("path"), Idx(1)],
            &["string"],
            true,
        ),
        (
            vec![Key("info"), Key("files"), Idx(0), Key("attr")],
            &["string"],
            true,
        ),
        (vec![Key("announce")], &["string"], true),
        (vec![Key("announce-list")], &["list"], true),
        (vec![Key("announce-list"), Idx(0)], &["list"], true),
        (
            vec![Key("announce-list"), Idx(0), Idx(0)],
            &["string"],
            true,
        ),
        (vec![Key("nodes")], &["list"], true),
        (vec![Key("nodes"), Idx(0)], &["list"], true),
        (vec![Key("nodes"), Idx(0), Idx(0)], &["string"], true),
        (vec![Key("nodes"), Idx(0), Idx(1)], &["integer"], true),
        (vec![Key("url-list")], &["string", "list"], true),
        (vec![Key("comment")], &["string"], true),
        (vec![Key("created by")], &["string"], true),
        (vec![Key("creation date")], &["integer"], true),
    ];
    for (path, right, _) in &typed {
        for (kind, sample) in samples() {
            if !right.contains(&kind) {
                out.push((
                    format!("{path:?} is a {kind}"),
                    with(&multi, path, Some(sample)).to_bytes(),
                ));
            }
        }
    }
    for (kind, sample) in samples() {
        if kind != "integer" {
            let p = [Key("info"), Key("length")];
            out.push((
                format!("single-file length is a {kind}"),
                with(&single, &p, Some(sample)).to_bytes(),
            ));
        }
    }

    let info = |k| vec![Key("info"), Key(k)];
    let mut bad = |what: &str, root: &Value<'static>, path: Vec<Seg>, v: Option<Value<'static>>| {
        out.push((what.to_owned(), with(root, &path, v).to_bytes()));
    };
    // Missing required fields.
    for k in ["name", "piece length", "pieces", "files"] {
        bad(&format!("no info.{k}"), &multi, info(k), None);
    }
    bad("no info", &multi, vec![Key("info")], None);
    bad("no length", &single, info("length"), None);
    bad(
        "both length and files",
        &multi,
        info("length"),
        Some(Value::Int(5)),
    );
    bad(
        "file without length",
        &multi,
        vec![Key("info"), Key("files"), Idx(0), Key("length")],
        None,
    );
    bad(
        "file without path",
        &multi,
        vec![Key("info"), Key("files"), Idx(0), Key("path")],
        None,
    );
    bad(
        "node without port",
        &multi,
        vec![Key("nodes"), Idx(0), Idx(1)],
        None,
    );
    bad(
        "node port 0",
        &multi,
        vec![Key("nodes"), Idx(0), Idx(1)],
        Some(Value::Int(0)),
    );
    bad(
        "node port 70000",
        &multi,
        vec![Key("nodes"), Idx(0), Idx(1)],
        Some(Value::Int(70000)),
    );

    // `pieces` of the wrong length.
    for n in [0usize, 19, 21, 39, 41, 60] {
        bad(
            &format!("pieces of {n} bytes"),
            &multi,
            info("pieces"),
            Some(Value::from(vec![1u8; n])),
        );
        bad(
            &format!("single-file pieces of {n} bytes"),
            &single,
            info("pieces"),
            Some(Value::from(vec![1u8; n])),
        );
    }

    // Unsafe paths.
    let comp = |c: &str| Some(s(c));
    for c in ["..", ".", "", "a/b", "a\\b", "a\0b", "C:", "/etc"] {
        bad(
            &format!("path component {c:?}"),
            &multi,
            vec![Key("info"), Key("files"), Idx(1), Key("path"), Idx(0)],
            comp(c),
        );
        bad(&format!("name {c:?}"), &multi, info("name"), comp(c));
        bad(
            &format!("single-file name {c:?}"),
            &single,
            info("name"),
            comp(c),
        );
    }
    bad(
        "empty path list",
        &multi,
        vec![Key("info"), Key("files"), Idx(1), Key("path")],
        Some(Value::List(vec![])),
    );
    bad(
        "duplicate path",
        &multi,
        vec![Key("info"), Key("files"), Idx(1), Key("path")],
        Some(Value::List(vec![s("a.bin")])),
    );
    bad(
        "file is also a directory",
        &multi,
        vec![Key("info"), Key("files"), Idx(1), Key("path")],
        Some(Value::List(vec![s("a.bin"), s("x")])),
    );

    // Absurd sizes.
    for n in [-1i64, i64::MIN, 1 << 51, i64::MAX] {
        bad(
            &format!("file length {n}"),
            &multi,
            vec![Key("info"), Key("files"), Idx(0), Key("length")],
            Some(Value::Int(n)),
        );
        bad(
            &format!("single length {n}"),
            &single,
            info("length"),
            Some(Value::Int(n)),
        );
    }
    for n in [0i64, -16384, 1 << 40, i64::MAX] {
        bad(
            &format!("piece length {n}"),
            &multi,
            info("piece length"),
            Some(Value::Int(n)),
        );
    }
    let huge = Value::List(vec![
        dict(vec![
            ("length", Value::Int(1 << 50)),
            ("path", Value::List(vec![s("x")])),
        ]),
        dict(vec![
            ("length", Value::Int(1 << 50)),
            ("path", Value::List(vec![s("y")])),
        ]),
    ]);
    bad("total over 2^50", &multi, info("files"), Some(huge));
    bad(
        "empty file list",
        &multi,
        info("files"),
        Some(Value::List(vec![])),
    );
    bad(
        "zero total length",
        &single,
        info("length"),
        Some(Value::Int(0)),
    );

    // Deep nesting, inside and as the whole file.
    let deep = |n: usize| {
        let mut v = b"l".repeat(n);
        v.extend(b"e".repeat(n));
        v
    };
    let mut nested = b"d7:comment".to_vec();
    nested.extend(deep(100_000));
    nested.extend(b"e");
    out.push(("deeply nested comment".into(), nested));
    out.push(("deeply nested list".into(), deep(1_000_000)));
    let mut unclosed = b"d4:info".to_vec();
    unclosed.extend(b"d1:a".repeat(50_000));
    out.push(("deeply nested, unclosed dictionaries".into(), unclosed));

    // Not bencode, or not a dictionary.
    for (what, bytes) in [
        ("empty file", &b""[..]),
        ("text", b"this is not a torrent\n"),
        ("JSON", b"{\"info\": {}}"),
        ("PNG header", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
        ("an integer", b"i42e"),
        ("a string", b"4:spam"),
        ("a list", b"li1ee"),
        ("huge string length", b"d4:info99999999999999999999:x"),
        ("string longer than the file", b"d4:info4000000000:x"),
        ("leading zero integer", b"d13:creation datei01e4:infodee"),
        ("negative zero", b"i-0e"),
        ("integer overflow", b"i99999999999999999999999e"),
    ] {
        out.push((what.to_owned(), bytes.to_vec()));
    }
    let mut trailing = good.clone();
    trailing.extend(b"garbage");
    out.push(("trailing garbage".into(), trailing));
    out
}
