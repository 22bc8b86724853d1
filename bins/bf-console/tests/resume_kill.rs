//! bf-console killed with SIGKILL at random moments of a download, several times, then
//! restarted until it finishes: each restart keeps every piece verified before the kill, the
//! seeder sends little more than one copy in all, and the data is right.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::Console;

/// xorshift64, seeded from the clock (and printed, to replay a failure).
struct Rng(u64);

impl Rng {
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

fn u(v: &serde_json::Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

#[test]
fn killed_downloads_resume_without_fetching_verified_pieces_again() {
    let seed = std::env::var("BF_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
        | 1;
    eprintln!("kill moments from seed {seed} (BF_KILL_SEED={seed} replays them)");
    let mut rng = Rng(seed);

    let dir = bf_testkit::temp_dir();
    let piece = 256u64 << 10;
    let (data, torrent, meta) =
        support::make_torrent(dir.path(), "payload.bin", 40 << 20, piece, 3);
    let size = meta.total_length();
    // 4 MiB/s: ten seconds of transfer in all, more than the planned runs can last (under
    // 2 s each), so none of them finishes.
    let (seeder, port) = support::seeder(
        &torrent,
        &dir.path().join("payload.bin"),
        &["--max-upload-rate", "4M"],
    );
    let out = dir.path().join("out/payload.bin");
    let resume = dir.path().join("resume");
    let peer = format!("127.0.0.1:{port}");
    let start = || {
        let mut args: Vec<String> = vec![
            torrent.display().to_string(),
            "--saveas".into(),
            out.display().to_string(),
            "--peer".into(),
            peer.clone(),
            "--resume-dir".into(),
            resume.display().to_string(),
            "--exit-on-complete".into(),
        ];
        args.extend(support::loopback(bf_testkit::free_port()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Console::start(&refs)
    };

    // Killed three times with SIGKILL, once stopped cleanly with SIGTERM (which saves resume
    // data the next start trusts), then left to finish.
    let plan = ["KILL", "KILL", "TERM", "KILL"];
    let mut kills = 0u64;
    let mut had = 0u64;
    let mut previous = "";
    let t0 = Instant::now();
    for (run, how) in plan.iter().enumerate() {
        let before = had;
        let mut dl = start();
        // A random moment 1.1-1.9 s after the start. Its first status comes as soon as it
        // has checked the data (or trusted the resume data), and shows what it resumed
        // with: whatever was verified before it was stopped must be there again.
        let at = Instant::now() + Duration::from_millis(rng.between(1100, 1900));
        let (mut first, mut checked) = (None, false);
        while Instant::now() < at {
            let left = at.saturating_duration_since(Instant::now());
            let Some(v) = dl.wait_json(left, |v| v["event"] == "status" || v["event"] == "state")
            else {
                continue;
            };
            if v["event"] == "state" {
                checked |= v["state"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("checking"));
                continue;
            }
            assert_ne!(
                v["state"], "seeding",
                "run {run}: finished already; slow the seeder"
            );
            if v["state"] != "downloading" {
                continue;
            }
            let have = u(&v, "bytes_have");
            if first.is_none() {
                first = Some(have);
                assert!(
                    have >= before,
                    "run {run}: resumed with {have} bytes, {before} were verified before"
                );
            }
            had = had.max(have);
        }
        eprintln!("run {run}: resumed with {first:?} bytes (checked: {checked})");
        assert!(
            dl.wait_exit(Duration::ZERO).is_none(),
            "run {run} exited by itself: {}",
            dl.stderr_text()
        );
        if previous == "TERM" {
            // The clean stop saved resume data that matches the files: no check.
            assert!(
                !checked,
                "run {run}: the resume data of a clean stop was not trusted"
            );
        }
        previous = how;
        if *how == "KILL" {
            dl.kill();
            kills += 1;
        } else {
            dl.terminate();
            let st = dl.wait_exit(Duration::from_secs(15));
            assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", dl.stderr_text());
        }
        for v in dl.drain_json() {
            if v["event"] == "status" {
                had = had.max(u(&v, "bytes_have"));
            }
        }
        eprintln!("run {run}: {how} with {had} of {size} bytes verified");
        assert!(
            had < size,
            "finished before run {run} was stopped: slow the seeder"
        );
    }
    let mut dl = start();
    let st = dl.wait_exit(Duration::from_secs(60));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", dl.stderr_text());
    eprintln!("finished after {:?}", t0.elapsed());
    assert!(std::fs::read(&out).unwrap() == data, "the data differs");

    // What the seeder sent in all: one copy, plus at most what the downloader had in flight
    // (requested, arriving or being hashed: the engine keeps at most max_inflight_bytes of
    // pieces in flight, plus the one it may always start) at each kill. A clean stop loses
    // its pieces in flight too.
    let inflight = bf_client::core::CoreConfig::default().max_inflight_bytes + piece;
    let stops = kills + 1;
    // The newest status lines, from after the downloader exited.
    let _ = seeder.drain_json();
    let mut uploaded = 0;
    for _ in 0..2 {
        if let Some(v) = seeder.wait_json(Duration::from_secs(3), |v| v["event"] == "status") {
            uploaded = u(&v, "uploaded");
        }
    }
    eprintln!(
        "the seeder sent {uploaded} bytes for {size} ({:.2} copies) over {stops} stops",
        uploaded as f64 / size as f64
    );
    assert!(uploaded >= size);
    assert!(
        uploaded <= size + stops * inflight,
        "sent {uploaded}: more than {size} + {stops} x {inflight}"
    );
}
