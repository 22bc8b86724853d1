//! A swarm on loopback: one bf seeder and four bf downloaders (in-process sessions). The
//! seeder leaves as soon as the downloaders hold one full copy between them; they must then
//! finish from each other, byte for byte.
#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::collections::HashSet;
use std::time::Duration;

use bf_client::{AddTorrent, Session, SessionConfig, TorrentEvent, TorrentSource};
use tokio::sync::mpsc;

const DOWNLOADERS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloaders_finish_from_each_other_after_the_seeder_leaves() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta) = common::make_torrent(dir.path(), "payload.bin", 4 << 20, 64 << 10, &[]);
    let n = meta.piece_count();
    let size = meta.total_length();
    // The seeder is slow (2 MiB/s): the downloaders cannot all finish from it before it
    // leaves, but are free to trade with each other as fast as loopback goes.
    let seeder = Session::new(SessionConfig {
        max_upload_rate: Some(2 << 20),
        ..support::config(None)
    })
    .await
    .unwrap();
    let seed = seeder
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
                .save_as(dir.path().join("payload.bin")),
        )
        .await
        .unwrap();
    support::complete(&seed, Duration::from_secs(20)).await;

    // Downloader i is told of the seeder and of downloaders 0..i (so each pair dials once).
    let mut sessions: Vec<Session> = Vec::new();
    let mut handles = Vec::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, u32)>();
    for i in 0..DOWNLOADERS {
        let s = support::session(None).await;
        let mut add = AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
            .save_as(dir.path().join(format!("d{i}/payload.bin")))
            .peer(seeder.listen_addr())
            .paused(true);
        for earlier in &sessions {
            add = add.peer(earlier.listen_addr());
        }
        let h = s.add_torrent(add).await.unwrap();
        let mut events = h.events();
        let tx = tx.clone();
        tokio::spawn(async move {
            // Ends when the torrent's event channel closes (session shut down).
            loop {
                match events.recv().await {
                    Ok(TorrentEvent::PieceVerified(p)) => {
                        if tx.send((i, p)).is_err() {
                            return;
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        sessions.push(s);
        handles.push(h);
    }
    for h in &handles {
        h.resume().await;
    }

    // Wait until every piece is held by some downloader, then the seeder leaves.
    let mut union = HashSet::new();
    let mut held = vec![0u32; DOWNLOADERS];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while union.len() < n as usize {
        let got = tokio::time::timeout_at(deadline, rx.recv()).await;
        let Ok(Some((i, p))) = got else {
            panic!("no full copy among the downloaders: {} of {n}", union.len());
        };
        held[i] += 1;
        union.insert(p);
    }
    let uploaded_by_seed = seed.status().uploaded;
    assert!(seeder.remove(&meta.info_hash()).await);
    eprintln!(
        "seeder left after uploading {uploaded_by_seed} bytes; downloaders held {held:?} of {n}"
    );
    assert!(
        held.iter().any(|&h| h < n),
        "every downloader finished before the seeder left: the test shows nothing"
    );

    for (i, h) in handles.iter().enumerate() {
        match tokio::time::timeout(Duration::from_secs(30), h.wait_complete()).await {
            Ok(Ok(())) => {}
            other => panic!("downloader {i}: {other:?}, {:?}", h.status()),
        }
    }
    for i in 0..DOWNLOADERS {
        let got = std::fs::read(dir.path().join(format!("d{i}/payload.bin"))).unwrap();
        assert!(got == data, "downloader {i}: data differs");
    }
    let traded: u64 = handles.iter().map(|h| h.status().uploaded).sum();
    eprintln!("the downloaders sent each other {traded} bytes");
    assert!(traded >= (DOWNLOADERS as u64) * size - uploaded_by_seed - size);
    for s in &sessions {
        s.shutdown().await;
    }
    seeder.shutdown().await;
    support::assert_no_engine_panics();
}
