//! `bf-console demo`, the README's main job, run small: every downloader completes with the
//! original bytes, and the summary says which exchange moved them (repair symbols with the
//! fountain, none with `--no-fountain`).
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::Console;

/// The summary's rows, one per downloader: (repair symbols received, data verdict).
fn summary_rows(args: &[&str]) -> Vec<(u64, String)> {
    let mut demo = Console::start(args);
    let status = demo.wait_exit(Duration::from_secs(120));
    let out = demo.stdout.lock().unwrap().join("\n");
    assert!(
        status.is_some_and(|s| s.success()),
        "demo {args:?} failed ({status:?}):\n{out}\n{}",
        demo.stderr_text()
    );
    let table: Vec<&str> = out
        .lines()
        .skip_while(|l| !(l.contains("time") && l.contains("received") && l.contains("data")))
        .skip(1)
        .take_while(|l| l.starts_with("downloader "))
        .collect();
    table
        .iter()
        .map(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            // downloader N | time s | received (value unit) | blocks | repair | ...
            let repair = cols[7].parse().unwrap_or_else(|_| panic!("row {row:?}"));
            (repair, cols.last().unwrap().to_string())
        })
        .collect()
}

#[test]
fn the_demo_swarm_completes_with_the_original_bytes_in_both_exchanges() {
    let small = ["demo", "--size", "4", "--seed-rate", "16M"];
    let fountain = summary_rows(&small);
    assert_eq!(fountain.len(), 3, "{fountain:?}");
    assert!(
        fountain.iter().all(|(_, data)| data == "same"),
        "{fountain:?}"
    );
    assert!(
        fountain.iter().any(|(repair, _)| *repair > 0),
        "the staller's pieces come from repair symbols: {fountain:?}"
    );

    let blocks = summary_rows(&[&small[..], &["--no-fountain", "--downloaders", "2"]].concat());
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert!(
        blocks
            .iter()
            .all(|(repair, data)| *repair == 0 && data == "same"),
        "{blocks:?}"
    );
}
