//! The HTTP options of an operator's tracker: `--allow-get` serves the allowed `.torrent`
//! files (libtorrent loads one with the right info-hash), `--favicon`, `--no-index-page`,
//! `--index-redirect`, `--scrape full|specific|none`, and the index page's columns and
//! totals (read back from its HTML).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use bf_metainfo::format::human_size;
use bf_metainfo::InfoHash;

/// Writes `name.torrent` into `dir` for a file called `inner` of `len` bytes.
fn put_torrent(dir: &Path, name: &str, inner: &str, len: usize, seed: u8) -> (Vec<u8>, InfoHash) {
    let (bytes, h) = common::make_torrent(inner, &common::content(len, seed), "http://x/announce");
    std::fs::write(dir.join(format!("{name}.torrent")), &bytes).unwrap();
    (bytes, h)
}

/// What libtorrent makes of the `.torrent` file at `path`: (info-hash hex, name).
fn libtorrent_reads(path: &Path) -> (String, String) {
    let out = Command::new(bf_testkit::SYSTEM_PYTHON)
        .args([
            "-c",
            "import sys, libtorrent as lt\n\
             t = lt.torrent_info(sys.argv[1])\n\
             print(str(t.info_hash()))\n\
             print(t.name())",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "libtorrent could not load it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    (
        lines.next().unwrap().trim().to_string(),
        lines.next().unwrap_or("").to_string(),
    )
}

#[test]
fn allow_get_serves_allowed_torrent_files_that_libtorrent_loads() {
    let dir = bf_testkit::temp_dir();
    let (alpha, ha) = put_torrent(dir.path(), "alpha", "alpha <1>.bin", 40_000, 1);
    let (beta, hb) = put_torrent(dir.path(), "béta", "béta.bin", 20_000, 2);
    let t = common::start(&["--allowed-dir", dir.path().to_str().unwrap(), "--allow-get"]);

    let a = common::http_get_full(
        t.port,
        &format!("/file?info_hash={}", common::hash_param(&ha)),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/x-bittorrent"));
    let disp = a.header("content-disposition").unwrap();
    assert!(
        disp.starts_with("attachment;") && disp.contains("filename=\"alpha.torrent\""),
        "{disp}"
    );
    assert!(a.body == alpha, "the file's bytes as they are");
    // 40 hex digits (either case) name it too; a non-ASCII file name is kept in filename*.
    let b = common::http_get_full(
        t.port,
        &format!("/file?info_hash={}", hb.to_hex().to_uppercase()),
    );
    assert_eq!(b.status, 200);
    assert!(b.body == beta);
    let disp = b.header("content-disposition").unwrap();
    assert!(
        disp.contains("filename=\"b_ta.torrent\"")
            && disp.contains("filename*=UTF-8''b%C3%A9ta.torrent"),
        "{disp}"
    );

    // libtorrent loads what was served and finds the same torrent.
    if bf_testkit::require_libtorrent() {
        let got = dir.path().join("served.bin");
        std::fs::write(&got, &a.body).unwrap();
        let (hash, name) = libtorrent_reads(&got);
        assert_eq!(hash, ha.to_hex());
        assert_eq!(name, "alpha <1>.bin");
    }

    // Unknown, malformed and missing info-hashes.
    let unknown = InfoHash([0x5a; 20]);
    for (target, status) in [
        (
            format!("/file?info_hash={}", common::hash_param(&unknown)),
            404,
        ),
        (format!("/file?info_hash={}", unknown.to_hex()), 404),
        ("/file?info_hash=abc".to_string(), 400),
        ("/file?info_hash=%ZZ".to_string(), 400),
        ("/file".to_string(), 400),
    ] {
        let (got, _) = common::http_get(t.port, &target);
        assert_eq!(got, status, "{target}");
    }

    // The index page links each allowed torrent to its file.
    let (_, page) = common::http_get(t.port, "/");
    let page = String::from_utf8(page).unwrap();
    for h in [ha, hb] {
        let link = format!("<a href=\"/file?info_hash={}\">", h.to_hex());
        assert!(page.contains(&link), "{link} in {page}");
    }

    // A file replaced on disk since the last scan is not served under the old info-hash.
    std::fs::write(dir.path().join("alpha.torrent"), &beta).unwrap();
    let (status, _) = common::http_get(t.port, &format!("/file?info_hash={}", ha.to_hex()));
    assert_eq!(status, 404);
}

#[test]
fn without_allow_get_no_files_and_the_favicon_only_when_given() {
    let dir = bf_testkit::temp_dir();
    let (_, h) = put_torrent(dir.path(), "alpha", "alpha.bin", 10_000, 3);
    let t = common::start(&["--allowed-dir", dir.path().to_str().unwrap()]);
    let (status, _) = common::http_get(t.port, &format!("/file?info_hash={}", h.to_hex()));
    assert_eq!(status, 404, "no --allow-get: no files");
    let (_, page) = common::http_get(t.port, "/");
    assert!(!String::from_utf8(page).unwrap().contains("/file?"));
    let (status, _) = common::http_get(t.port, "/favicon.ico");
    assert_eq!(status, 404, "no --favicon: no icon");
    drop(t);

    let icon = dir.path().join("icon.png");
    let png = b"\x89PNG\r\n\x1a\n-not-really-an-image-but-its-bytes".to_vec();
    std::fs::write(&icon, &png).unwrap();
    let t = common::start(&["--favicon", icon.to_str().unwrap()]);
    let a = common::http_get_full(t.port, "/favicon.ico");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("image/png"));
    assert!(a.body == png);
    // Read once at start: changing the file later changes nothing.
    std::fs::write(&icon, b"other").unwrap();
    assert!(common::http_get(t.port, "/favicon.ico").1 == png);
}

#[test]
fn index_page_hidden_or_redirected() {
    let h = InfoHash([0x21; 20]);
    let t = common::start(&["--no-index-page"]);
    let (status, _) = common::http_get(t.port, "/");
    assert_eq!(status, 404);
    let (status, body) = common::http_get(t.port, &common::announce_target(&h, 7001, 0, ""));
    assert_eq!(status, 200);
    assert_eq!(
        common::failure_reason(&body),
        None,
        "announces still served"
    );
    drop(t);

    let url = "https://example.org/about-this-tracker?x=1";
    let t = common::start(&["--index-redirect", url]);
    let a = common::http_get_full(t.port, "/");
    assert!(matches!(a.status, 302 | 303), "{}", a.status);
    assert_eq!(a.header("location"), Some(url));
    let (status, _) = common::http_get(t.port, &common::announce_target(&h, 7001, 0, ""));
    assert_eq!(status, 200);
}

#[test]
fn scrape_modes_full_specific_none() {
    let h = InfoHash([0x31; 20]);
    let named = format!("/scrape?info_hash={}", common::hash_param(&h));
    for mode in ["full", "specific", "none"] {
        let t = common::start(&["--scrape", mode, "--no-log"]);
        common::http_get(t.port, &common::announce_target(&h, 7001, 0, ""));
        let (_, one) = common::http_get(t.port, &named);
        let (_, all) = common::http_get(t.port, "/scrape");
        let files = |b: &[u8]| {
            bf_tracker::http_codec::decode_scrape(b)
                .ok()
                .map(|r| r.files.len())
        };
        match mode {
            "full" => {
                assert_eq!(files(&one), Some(1), "{mode}");
                assert_eq!(files(&all), Some(1), "{mode}");
            }
            "specific" => {
                assert_eq!(files(&one), Some(1), "{mode}");
                assert_eq!(
                    common::failure_reason(&all).as_deref(),
                    Some("full scrape disabled")
                );
            }
            _ => {
                for b in [&one, &all] {
                    let r = common::failure_reason(b).unwrap_or_default();
                    assert!(r.contains("scrape disabled"), "{mode}: {r:?}");
                }
            }
        }
    }
}

/// The text of the cell of class `class` in `row` (tags stripped).
fn cell(row: &str, class: &str) -> String {
    let key = format!("class=\"n {class}\">");
    let start = row
        .find(&key)
        .map(|i| i + key.len())
        .unwrap_or_else(|| panic!("no {class} in {row}"));
    row[start..][..row[start..].find("</td>").unwrap()].to_string()
}

/// The row of the torrent `h` in the index page.
fn row<'a>(page: &'a str, h: &InfoHash) -> &'a str {
    let hex = h.to_hex();
    page.lines()
        .find(|l| l.starts_with("<tr>") && l.contains(&hex))
        .unwrap_or_else(|| panic!("no row for {hex} in {page}"))
}

#[test]
fn index_page_shows_counts_sizes_transferred_and_totals() {
    let dir = bf_testkit::temp_dir();
    let (la, lb) = (40_000u64, 3 * 1024 * 1024 + 17);
    let (_, ha) = put_torrent(dir.path(), "a", "a <b> & 'c'.iso", la as usize, 4);
    let (_, hb) = put_torrent(dir.path(), "b", "second.bin", lb as usize, 5);
    let d = dir.path().to_str().unwrap();
    let t = common::start(&["--allowed-dir", d, "--allow-get", "--no-log"]);
    let get = |target: String| {
        let (_, body) = common::http_get(t.port, &target);
        assert_eq!(common::failure_reason(&body), None, "{target}");
    };
    // a: two seeds (one finished here), one downloader; b: one seed, two completions (one
    // of them left again).
    get(common::announce_target(&ha, 7001, 0, ""));
    get(common::announce_target(&ha, 7002, 5, ""));
    get(common::announce_target(&ha, 7002, 0, "completed"));
    get(common::announce_target(&ha, 7003, 9, ""));
    get(common::announce_target(&hb, 7011, 1, ""));
    get(common::announce_target(&hb, 7011, 0, "completed"));
    get(common::announce_target(&hb, 7012, 1, ""));
    get(common::announce_target(&hb, 7012, 0, "completed"));
    get(common::announce_target(&hb, 7012, 0, "stopped"));

    let (status, page) = common::http_get(t.port, "/");
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    for th in common::INDEX_COLUMNS {
        assert!(
            page.contains(&format!("<th>{th}</th>")),
            "column {th}: {page}"
        );
    }
    let ra = row(&page, &ha);
    assert!(
        ra.contains("a &lt;b&gt; &amp; &#39;c&#39;.iso"),
        "escaped name: {ra}"
    );
    assert_eq!(cell(ra, "size"), human_size(la));
    assert_eq!(cell(ra, "seeds"), "2");
    assert_eq!(cell(ra, "downloading"), "1");
    assert_eq!(cell(ra, "completed"), "1");
    assert_eq!(cell(ra, "transferred"), human_size(la));
    let rb = row(&page, &hb);
    assert!(rb.contains("second.bin"));
    assert_eq!(cell(rb, "size"), human_size(lb));
    assert_eq!(cell(rb, "seeds"), "1");
    assert_eq!(cell(rb, "downloading"), "0");
    assert_eq!(cell(rb, "completed"), "2");
    assert_eq!(cell(rb, "transferred"), human_size(2 * lb));
    // Busiest first.
    assert!(page.find(ra).unwrap() < page.find(rb).unwrap());
    let totals = page
        .split("<tr id=totals>")
        .nth(1)
        .and_then(|s| s.split("</tr>").next())
        .unwrap();
    assert!(totals.contains("2 torrents"), "{totals}");
    assert_eq!(cell(totals, "size"), human_size(la + lb));
    assert_eq!(cell(totals, "seeds"), "3");
    assert_eq!(cell(totals, "downloading"), "1");
    assert_eq!(cell(totals, "completed"), "3");
    assert_eq!(cell(totals, "transferred"), human_size(la + 2 * lb));
    assert!(page.contains(&format!("version {}", env!("CARGO_PKG_VERSION"))));
    let time = page
        .split("<span id=time>")
        .nth(1)
        .and_then(|s| s.split("</span>").next())
        .unwrap();
    assert!(
        time.ends_with(" UTC") && time.len() == "2026-12-01 14:00:00 UTC".len(),
        "{time}"
    );
    assert!(page.contains("<span id=uptime>0h 0m "), "{page}");
    drop(t);

    // --show-names false: no names (the info-hash carries the link).
    let t = common::start(&[
        "--allowed-dir",
        d,
        "--allow-get",
        "--show-names",
        "false",
        "--no-log",
    ]);
    let (_, page) = common::http_get(t.port, "/");
    let page = String::from_utf8(page).unwrap();
    assert!(
        !page.contains("<th>name</th>") && !page.contains("second.bin"),
        "{page}"
    );
    assert!(page.contains(&format!(
        "<a href=\"/file?info_hash={0}\">{0}</a>",
        hb.to_hex()
    )));
    assert!(page.contains("totals: 2 torrents"), "{page}");
}
