//! The index page renders in a real browser (headless Chromium): the table lists the allowed
//! torrents by name, linked to their `.torrent` files (`--allow-get`), with size, seeds,
//! downloaders, completed count, bytes transferred and the totals; a screenshot is kept
//! under target/test-artifacts/.
//! Also `--allowed-dir`: unknown torrents are refused, a new file is picked up by a rescan.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

fn announce_target(h: &bf_metainfo::InfoHash, port: u16, left: u64) -> String {
    let mut q = String::from("/announce?info_hash=");
    bf_tracker::query::percent_encode(h.as_bytes(), &mut q);
    q.push_str(&format!(
        "&peer_id=-BF0100-{port:012}&port={port}&left={left}"
    ));
    q
}

fn failure(body: &[u8]) -> Option<String> {
    bf_tracker::http_codec::decode_announce(body)
        .err()
        .map(|e| e.to_string())
}

#[test]
fn allowed_dir_refuses_unknown_and_rescans() {
    let dir = bf_testkit::temp_dir();
    let (a, ha) = common::make_torrent(
        "alpha.bin",
        &common::content(40_000, 1),
        "http://x/announce",
    );
    std::fs::write(dir.path().join("alpha.torrent"), a).unwrap();
    let t = common::start(&[
        "--allowed-dir",
        dir.path().to_str().unwrap(),
        "--rescan-interval",
        "1",
    ]);
    let (_, body) = common::http_get(t.port, &announce_target(&ha, 7001, 0));
    assert_eq!(failure(&body), None);
    let (b, hb) =
        common::make_torrent("beta.bin", &common::content(30_000, 2), "http://x/announce");
    let (_, body) = common::http_get(t.port, &announce_target(&hb, 7002, 5));
    assert!(failure(&body).unwrap().contains("not allowed"));
    std::fs::write(dir.path().join("beta.torrent"), b).unwrap();
    assert!(bf_testkit::wait_until(Duration::from_secs(10), || {
        let (_, body) = common::http_get(t.port, &announce_target(&hb, 7002, 5));
        failure(&body).is_none()
    }));
    assert_eq!(common::scrape(t.port, &hb).incomplete, 1);
}

#[test]
fn index_page_renders_in_headless_chromium() {
    if !bf_testkit::require("chromium") {
        return;
    }
    let dir = bf_testkit::temp_dir();
    let data = common::content(3 * 1024 * 1024 + 17, 5);
    let (tb, h) = common::make_torrent("fountain <demo>.iso", &data, "http://x/announce");
    std::fs::write(dir.path().join("demo.torrent"), tb).unwrap();
    let (tb2, h2) = common::make_torrent(
        "second-file.bin",
        &common::content(40 * 1024, 6),
        "http://x/announce",
    );
    std::fs::write(dir.path().join("second.torrent"), tb2).unwrap();
    let t = common::start(&["--allowed-dir", dir.path().to_str().unwrap(), "--allow-get"]);
    for (port, left) in [(7001, 0), (7002, 0), (7003, 9)] {
        common::http_get(t.port, &announce_target(&h, port, left));
    }
    // The second torrent: downloaded three times (3 x 40 KiB transferred), one seed stays.
    for port in [7011, 7012, 7013] {
        common::http_get(t.port, &announce_target(&h2, port, 1));
        common::http_get(t.port, &common::announce_target(&h2, port, 0, "completed"));
    }
    for port in [7012, 7013] {
        common::http_get(t.port, &common::announce_target(&h2, port, 0, "stopped"));
    }
    let url = format!("http://127.0.0.1:{}/", t.port);
    let profile = bf_testkit::temp_dir();
    let shot = common::artifacts_dir().join("tracker-index.png");
    let _ = std::fs::remove_file(&shot);
    let base_args = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,800",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    };
    let mut dump = Command::new("chromium");
    base_args(&mut dump);
    let out = dump.arg("--dump-dom").arg(&url).output().unwrap();
    assert!(out.status.success());
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains("<table id=\"torrents\">"), "{dom}");
    assert!(dom.contains(&h.to_hex()), "{dom}");
    assert!(
        dom.contains("fountain &lt;demo&gt;.iso"),
        "the name is escaped and shown: {dom}"
    );
    assert!(
        dom.contains("<td class=\"n seeds\">2</td><td class=\"n downloading\">1</td>"),
        "2 seeds, 1 leecher: {dom}"
    );
    assert!(dom.contains("3.00 MiB"), "size: {dom}");
    for th in common::INDEX_COLUMNS {
        assert!(
            dom.contains(&format!("<th>{th}</th>")),
            "column {th}: {dom}"
        );
    }
    for (hash, name) in [(h, "fountain &lt;demo&gt;.iso"), (h2, "second-file.bin")] {
        let link = format!("<a href=\"/file?info_hash={}\">{name}</a>", hash.to_hex());
        assert!(dom.contains(&link), "{link}: {dom}");
    }
    assert!(
        dom.contains("<td class=\"n completed\">3</td><td class=\"n transferred\">120.00 KiB</td>"),
        "3 completions of 40 KiB: {dom}"
    );
    assert!(dom.contains("<tr id=\"totals\">"), "{dom}");
    assert!(
        dom.contains(
            "<td class=\"n seeds\">3</td><td class=\"n downloading\">1</td>\
             <td class=\"n completed\">3</td>"
        ),
        "totals: {dom}"
    );
    assert!(dom.contains(" UTC</span>"), "server time: {dom}");
    assert!(dom.contains("version 0.1.0"));
    let mut snap = Command::new("chromium");
    base_args(&mut snap);
    let st = snap
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG"),
        "a PNG screenshot at {}",
        shot.display()
    );
    assert!(
        t.log_contains("\"GET / HTTP/1.1\" 200"),
        "the browser's request is in the web log"
    );
}
