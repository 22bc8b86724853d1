//! Storage failures through the engine: a disk that fills up mid-download, and torrents whose
//! files would land outside the download folder.
#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::sync::Arc;
use std::time::Duration;

use bf_bencode::{Dict, Value};
use bf_client::resume::ResumeData;
use bf_client::storage::{FilePool, Storage};
use bf_client::{AddError, AddTorrent, TorrentEvent, TorrentSource, TorrentState};
use support::tmpfs::Tmpfs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_torrent_with_an_error_and_leaves_consistent_resume_data() {
    support::watch_panics();
    let Some(fs) = Tmpfs::mount("2m") else {
        return;
    };
    let dir = bf_testkit::temp_dir();
    let piece = 64u64 << 10;
    let (data, meta) =
        common::make_torrent(dir.path(), "payload.bin", (4 << 20) + 1234, piece, &[]);
    let n = meta.piece_count();
    let (seeder, _seed) = common::seed_from(dir.path(), &meta).await;

    // 4 MiB into 2 MiB: the writes fail part way.
    let resume_dir = dir.path().join("resume");
    let out = fs.path().join("payload.bin");
    let dl_session = support::session(Some(&resume_dir)).await;
    let dl = dl_session
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
                .save_as(&out)
                .peer(seeder.listen_addr()),
        )
        .await
        .unwrap();
    let mut events = dl.events();
    let st = support::wait_status(&dl, Duration::from_secs(30), |s| {
        matches!(s.state, TorrentState::Error(_))
    })
    .await;
    let st = st.unwrap_or_else(|st| panic!("no error state: {st:?}"));
    let TorrentState::Error(e) = &st.state else {
        unreachable!()
    };
    assert!(e.contains("No space left on device"), "unclear error: {e}");
    assert!(
        e.contains("payload.bin"),
        "the error does not name the file: {e}"
    );
    assert_eq!(e.lines().count(), 1, "{e:?}");
    // It stays stopped: no peer, nothing more asked for.
    let quiet = support::wait_status(&dl, Duration::from_secs(5), |s| s.peers == 0).await;
    assert!(quiet.is_ok(), "{quiet:?}");
    assert!(
        matches!(dl.status().state, TorrentState::Error(_)),
        "{:?}",
        dl.status()
    );
    // One failure, one Error event, however many pieces were being written at that moment.
    let mut errors = Vec::new();
    while let Some(TorrentEvent::Error(e)) =
        support::wait_event(&mut events, Duration::from_millis(1500), |e| {
            matches!(e, TorrentEvent::Error(_))
        })
        .await
    {
        errors.push(e);
    }
    assert_eq!(errors.len(), 1, "{errors:#?}");
    dl_session.shutdown().await;

    // The resume data left behind claims only pieces that are really on disk.
    let resume =
        ResumeData::load(&resume_dir.join(format!("{}.resume", meta.info_hash().to_hex())))
            .unwrap()
            .expect("no resume data saved");
    assert_eq!(resume.info_hash, meta.info_hash());
    let claimed: Vec<u32> = resume.have.iter_ones().collect();
    assert!(
        !claimed.is_empty() && claimed.len() < n as usize,
        "{} of {n}",
        claimed.len()
    );
    let storage = Storage::new(meta.clone(), &out, Arc::new(FilePool::new(4))).unwrap();
    for &p in &claimed {
        assert!(storage.check_piece(p), "piece {p} claimed but not on disk");
    }
    eprintln!(
        "disk full: {e}; resume claims {} of {n} pieces",
        claimed.len()
    );
    let claimed_bytes: u64 = claimed.iter().map(|&p| meta.piece_size(p).unwrap()).sum();

    // Room again: a restart trusts that record, fetches only the rest, and completes.
    fs.resize("8m");
    let again = support::session(Some(&resume_dir)).await;
    let dl = again
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
                .save_as(&out)
                .peer(seeder.listen_addr()),
        )
        .await
        .unwrap();
    support::complete(&dl, Duration::from_secs(30)).await;
    assert_eq!(std::fs::read(&out).unwrap(), data);
    let downloaded = dl.status().downloaded;
    eprintln!("after the restart: downloaded {downloaded}");
    assert!(
        downloaded <= meta.total_length() - claimed_bytes,
        "downloaded {downloaded}, but {claimed_bytes} of {} were already there",
        meta.total_length()
    );
    again.shutdown().await;
    seeder.shutdown().await;
    support::assert_no_engine_panics();
}

/// A multi-file torrent whose one file has `path` (components), with valid piece hashes.
fn torrent_with_path(path: &[&str], name: &str) -> Vec<u8> {
    let data = vec![7u8; 100];
    let hash = <sha1::Sha1 as sha1::Digest>::digest(&data);
    let mut info = Dict::new();
    let mut f = Dict::new();
    f.insert(&b"length"[..], 100i64);
    f.insert(
        &b"path"[..],
        Value::List(path.iter().map(|c| Value::from(c.to_string())).collect()),
    );
    info.insert(&b"files"[..], Value::List(vec![Value::Dict(f)]));
    info.insert(&b"name"[..], name);
    info.insert(&b"piece length"[..], 16384i64);
    info.insert(&b"pieces"[..], Value::bytes(&hash));
    let mut top = Dict::new();
    top.insert(&b"info"[..], info);
    Value::Dict(top).to_bytes()
}

/// A single-file torrent named `name`.
fn single_named(name: &str) -> Vec<u8> {
    let data = vec![7u8; 100];
    let hash = <sha1::Sha1 as sha1::Digest>::digest(&data);
    let mut info = Dict::new();
    info.insert(&b"length"[..], 100i64);
    info.insert(&b"name"[..], name);
    info.insert(&b"piece length"[..], 16384i64);
    info.insert(&b"pieces"[..], Value::bytes(&hash));
    let mut top = Dict::new();
    top.insert(&b"info"[..], info);
    Value::Dict(top).to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_whose_files_would_escape_the_download_folder_is_refused() {
    support::watch_panics();
    let root = bf_testkit::temp_dir();
    let save = root.path().join("a/b/save");
    std::fs::create_dir_all(&save).unwrap();
    let session = support::session(None).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a `..` component",
            torrent_with_path(&["..", "..", "escaped"], "top"),
        ),
        (
            "`..` in the middle",
            torrent_with_path(&["x", "..", "..", "escaped"], "top"),
        ),
        (
            "an absolute path",
            torrent_with_path(&["/tmp/bf-escaped"], "top"),
        ),
        (
            "an absolute first component",
            torrent_with_path(&["/", "escaped"], "top"),
        ),
        ("a name of `..`", torrent_with_path(&["escaped"], "..")),
        ("a single file named `..`", single_named("..")),
        (
            "a single file with an absolute name",
            single_named("/tmp/bf-escaped"),
        ),
        ("a single file named with `../`", single_named("../escaped")),
    ];
    for (what, bytes) in &cases {
        for (how, add) in [
            (
                "save_as",
                AddTorrent::bytes(bytes.clone()).save_as(save.join("t")),
            ),
            ("save_in", AddTorrent::bytes(bytes.clone()).save_in(&save)),
        ] {
            match session.add_torrent(add).await {
                Err(AddError::Metainfo(e)) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains("unsafe"),
                        "{what} ({how}): unclear error {msg}"
                    );
                    assert_eq!(msg.lines().count(), 1);
                }
                Err(e) => panic!("{what} ({how}): refused, but as {e:?}"),
                Ok(h) => panic!("{what} ({how}): accepted, files at {:?}", h.path()),
            }
        }
    }
    // Nothing was created anywhere: not in the save folder, not above it, not in /tmp.
    assert_eq!(std::fs::read_dir(&save).unwrap().count(), 0);
    for p in [
        root.path().join("a/escaped"),
        root.path().join("a/b/escaped"),
    ] {
        assert!(!p.exists(), "{} created", p.display());
    }
    assert!(!std::path::Path::new("/tmp/bf-escaped").exists());
    assert!(session.torrents().is_empty());
    session.shutdown().await;
    support::assert_no_engine_panics();
}

#[test]
fn resume_data_saved_from_two_threads_at_once_is_never_lost_or_torn() {
    // A torrent saves its resume data on a worker while a stop saves it again on another:
    // both must succeed, and the file must always be one whole record.
    let dir = bf_testkit::temp_dir();
    let path = dir.path().join("x.resume");
    let record = |fill: u8| {
        let mut have = bf_wire::Bitfield::new(4000);
        for p in (0..4000).step_by(usize::from(fill)) {
            have.set(p);
        }
        ResumeData {
            info_hash: bf_metainfo::InfoHash([fill; 20]),
            have,
            files: vec![
                bf_client::storage::FileStamp {
                    size: u64::from(fill),
                    mtime_ns: 1,
                };
                usize::from(fill)
            ],
        }
    };
    let threads: Vec<_> = [3u8, 7]
        .into_iter()
        .map(|fill| {
            let path = path.clone();
            let r = record(fill);
            std::thread::spawn(move || {
                for i in 0..200 {
                    if let Err(e) = r.save(&path) {
                        return Err(format!("save {i} of record {fill}: {e}"));
                    }
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    let back = ResumeData::load(&path).unwrap().unwrap();
    assert!(back == record(3) || back == record(7), "torn record");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "temporary files left behind");
}
