//! `--logfile F` with logrotate's dance: the file is moved away (`mv F F.1`), the tracker
//! keeps writing to it until SIGHUP, then writes to a new F. Every request, announces on
//! the lean path and pages through hyper alike, is in exactly one of the files, once.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bf_metainfo::InfoHash;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Waits until `path` holds `n` lines (the writer thread flushes once its queue is empty).
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    bf_testkit::wait_until(Duration::from_secs(10), || lines(path).len() >= n);
    lines(path)
}

#[test]
fn requests_are_logged_once_across_a_rotation_with_sighup() {
    let dir = bf_testkit::temp_dir();
    let f = dir.path().join("web.log");
    let f1 = dir.path().join("web.log.1");
    let f2 = dir.path().join("web.log.2");
    let t = common::start(&["--logfile", f.to_str().unwrap()]);
    let h = InfoHash([0x42; 20]);
    // Request number `i`: an announce from port 10000 + i, every fifth one the index page
    // (served by hyper, logged by its middleware) with a marker query.
    let request = |i: u16| {
        let target = if i % 5 == 4 {
            format!("/?n={i}")
        } else {
            common::announce_target(&h, 10_000 + i, 1, "")
        };
        let (status, _) = common::http_get(t.port, &target);
        assert_eq!(status, 200, "{target}");
    };
    let mark = |i: u16| {
        if i % 5 == 4 {
            format!("GET /?n={i} ")
        } else {
            format!("port={}&", 10_000 + i)
        }
    };
    let hup = || {
        let ok = Command::new("kill")
            .args(["-HUP", &t.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -HUP");
    };

    (0..10).for_each(request);
    assert_eq!(wait_lines(&f, 10).len(), 10);
    // logrotate moves the file; until told, the tracker still writes to it (same inode).
    std::fs::rename(&f, &f1).unwrap();
    (10..15).for_each(request);
    assert_eq!(wait_lines(&f1, 15).len(), 15);
    assert!(!f.exists());
    hup();
    // The reopen creates the new file; from then on requests go there.
    assert!(
        bf_testkit::wait_until(Duration::from_secs(10), || f.exists()),
        "SIGHUP did not reopen {}",
        f.display()
    );
    (15..27).for_each(request);
    assert_eq!(wait_lines(&f, 12).len(), 12);
    // And once more: the second rotation works like the first.
    std::fs::rename(&f, &f2).unwrap();
    hup();
    assert!(bf_testkit::wait_until(Duration::from_secs(10), || f.exists()));
    (27..31).for_each(request);
    assert_eq!(wait_lines(&f, 4).len(), 4);
    std::thread::sleep(Duration::from_millis(200));

    let (a, b, c) = (lines(&f1), lines(&f2), lines(&f));
    assert_eq!(
        (a.len(), b.len(), c.len()),
        (15, 12, 4),
        "{a:#?}\n{b:#?}\n{c:#?}"
    );
    let all: Vec<&String> = a.iter().chain(&b).chain(&c).collect();
    for i in 0..31u16 {
        let m = mark(i);
        let n = all.iter().filter(|l| l.contains(&m)).count();
        assert_eq!(n, 1, "request {i} ({m}) logged {n} times");
        let file = match i {
            0..=14 => &a,
            15..=26 => &b,
            _ => &c,
        };
        assert!(
            file.iter().any(|l| l.contains(&m)),
            "request {i} in the wrong file"
        );
    }
    for l in &all {
        assert!(
            l.starts_with("127.0.0.1 - - [") && l.contains("\" 200 "),
            "a Common Log Format line: {l}"
        );
    }
    assert!(t.stderr_contains("SIGHUP"), "the reopen is logged");
    assert!(
        t.log.lock().unwrap().is_empty(),
        "nothing on stdout with --logfile"
    );
}
