//! `bf-console --torrent-dir` with a hundred small torrents: every one is seeded, the idle
//! process uses next to no CPU, and a .torrent removed while running is dropped.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, Metainfo};
use support::Console;

const TORRENTS: usize = 100;

/// What a seeder said to a handshake for one torrent.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    /// It answered and announced every piece (HAVE ALL, or a full bitfield).
    Seeding,
    /// It answered, then closed or announced less (still checking, or downloading).
    NotSeeding,
    /// It closed without a handshake: it has no such torrent.
    Refused,
}

/// Connects to the seeder on `port` for `hash` as peer `n` and reads its first messages.
fn probe(port: u16, hash: &InfoHash, pieces: u32, n: usize) -> Probe {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut hs = Vec::with_capacity(68);
    hs.push(19u8);
    hs.extend_from_slice(b"BitTorrent protocol");
    // Extension protocol and fast extension bits.
    hs.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0x04]);
    hs.extend_from_slice(hash.as_bytes());
    hs.extend_from_slice(format!("-PR0001-{n:012}").as_bytes());
    s.write_all(&hs).unwrap();
    let mut theirs = [0u8; 68];
    if s.read_exact(&mut theirs).is_err() {
        return Probe::Refused;
    }
    assert_eq!(
        &theirs[28..48],
        hash.as_bytes(),
        "answered for another torrent"
    );
    // The messages after the handshake: the extended handshake, then the piece set.
    for _ in 0..8 {
        let mut len = [0u8; 4];
        if s.read_exact(&mut len).is_err() {
            return Probe::NotSeeding;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue;
        }
        let mut msg = vec![0u8; len];
        if s.read_exact(&mut msg).is_err() {
            return Probe::NotSeeding;
        }
        match msg[0] {
            0x0E => return Probe::Seeding,
            5 => {
                let full = (0..pieces).all(|p| msg[1 + p as usize / 8] & (0x80 >> (p % 8)) != 0);
                return if full {
                    Probe::Seeding
                } else {
                    Probe::NotSeeding
                };
            }
            0x0F => return Probe::NotSeeding,
            _ => {}
        }
    }
    Probe::NotSeeding
}

fn probe_until_seeding(port: u16, m: &Metainfo, n: usize, within: Duration) -> Probe {
    let deadline = Instant::now() + within;
    loop {
        let p = probe(port, &m.info_hash(), m.piece_count(), n);
        if p == Probe::Seeding || Instant::now() >= deadline {
            return p;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Downloads `metas` from the seeder on `port` into `dir` with an in-process bf session.
fn download(port: u16, metas: &[(Vec<u8>, Metainfo)], dir: &Path) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let cfg = bf_client::SessionConfig {
            port: 0,
            port_tries: 1,
            bind: "127.0.0.1".parse().unwrap(),
            resume_dir: None,
            use_trackers: false,
            ..bf_client::SessionConfig::default()
        };
        let s = bf_client::Session::new(cfg).await.unwrap();
        let mut handles = Vec::new();
        for (_, m) in metas {
            let add = bf_client::AddTorrent::new(bf_client::TorrentSource::Metainfo(
                std::sync::Arc::new(m.clone()),
            ))
            .save_in(dir)
            .peer(([127, 0, 0, 1], port).into());
            handles.push(s.add_torrent(add).await.unwrap());
        }
        for h in &handles {
            let r = tokio::time::timeout(Duration::from_secs(20), h.wait_complete()).await;
            assert!(matches!(r, Ok(Ok(()))), "{}: {r:?}", h.metainfo().name());
        }
        s.shutdown().await;
    });
    for (data, m) in metas {
        assert!(
            std::fs::read(dir.join(m.name())).unwrap() == *data,
            "{}",
            m.name()
        );
    }
}

#[test]
fn a_hundred_torrents_are_seeded_idle_cpu_is_near_zero_and_removed_ones_are_dropped() {
    let dir = bf_testkit::temp_dir();
    let tdir = dir.path().join("torrents");
    std::fs::create_dir_all(&tdir).unwrap();
    let mut all = Vec::new();
    for i in 0..TORRENTS {
        let (data, _, meta) = support::make_torrent(
            &tdir,
            &format!("f{i:03}.bin"),
            20_000 + i,
            16 << 10,
            i as u64,
        );
        all.push((data, meta));
    }
    let port = bf_testkit::free_port();
    let resume = dir.path().join("resume");
    let mut args: Vec<String> = vec![
        "--torrent-dir".into(),
        tdir.display().to_string(),
        "--resume-dir".into(),
        resume.display().to_string(),
    ];
    args.extend(support::loopback(port));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut c = Console::start(&refs);

    // Every torrent is picked up ...
    let mut added = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while added < TORRENTS && Instant::now() < deadline {
        let left = deadline.saturating_duration_since(Instant::now());
        if c.wait_json(left, |v| {
            v["event"] == "note" && v["text"].as_str().is_some_and(|t| t.contains(": added "))
        })
        .is_some()
        {
            added += 1;
        }
    }
    assert_eq!(added, TORRENTS, "stderr: {}", c.stderr_text());
    // ... and seeded: each answers a handshake with HAVE ALL.
    for (i, (_, m)) in all.iter().enumerate() {
        assert_eq!(
            probe_until_seeding(port, m, i, Duration::from_secs(20)),
            Probe::Seeding,
            "{}",
            m.name()
        );
    }

    // Idle for ten seconds: next to no CPU. A .torrent removed meanwhile is dropped by the
    // rescan in that time.
    let removed = &all[TORRENTS - 1].1;
    std::fs::remove_file(tdir.join(format!("{}.torrent", removed.name()))).unwrap();
    let cpu0 = support::cpu_time(c.pid());
    let t0 = Instant::now();
    let noted = c.wait_json(Duration::from_secs(10), |v| {
        v["event"] == "note" && v["text"].as_str().is_some_and(|t| t.contains("removed"))
    });
    std::thread::sleep(Duration::from_secs(10).saturating_sub(t0.elapsed()));
    let idle = support::cpu_time(c.pid()) - cpu0;
    let wall = t0.elapsed();
    eprintln!("idle with {TORRENTS} torrents: {idle:?} of CPU in {wall:?}");
    assert!(
        idle < Duration::from_millis(500),
        "{idle:?} of CPU in {wall:?} while idle"
    );
    assert!(noted.is_some(), "the removed .torrent was not dropped");
    assert_eq!(
        probe(port, &removed.info_hash(), removed.piece_count(), 999),
        Probe::Refused,
        "a removed torrent still answers"
    );

    // A downloader gets a few of them, byte for byte.
    let picks: Vec<(Vec<u8>, Metainfo)> = [0, 41, 98].iter().map(|&i| all[i].clone()).collect();
    download(port, &picks, &dir.path().join("got"));

    c.terminate();
    let st = c.wait_exit(Duration::from_secs(20));
    assert_eq!(st.and_then(|s| s.code()), Some(0), "{}", c.stderr_text());
}
