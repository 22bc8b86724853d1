//! bf-wire against aria2c 1.36 over loopback: download every block from an aria2 seeder,
//! and seed a whole torrent to an aria2 downloader.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bf_testkit::{free_port, require, temp_dir, ChildGuard};
use common::*;

/// aria2c without DHT, LPD, PEX or IPv6, saving into `save`; it seeds for `seed_minutes`
/// after completing (0: exits once complete).
fn aria2(dir: &Path, save: &Path, port: u16, seed_minutes: u32) -> ChildGuard {
    ChildGuard::spawn(
        Command::new("aria2c")
            .arg(format!("--dir={}", save.display()))
            .arg(format!("--listen-port={port}"))
            .arg(format!("--seed-time={seed_minutes}"))
            .args([
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--disable-ipv6=true",
                "--interface=127.0.0.1",
                "--check-integrity=true",
                "--bt-min-crypto-level=plain",
                "--console-log-level=warn",
                "--summary-interval=0",
            ])
            .arg(dir.join("t.torrent"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

#[test]
fn download_everything_from_aria2() {
    if !require("aria2c") {
        return;
    }
    let dir = temp_dir();
    let (data, info_hash) = make_torrent(dir.path());
    let port = free_port();
    let _seeder = aria2(dir.path(), dir.path(), port, 10);
    download_all_from(port, info_hash, &data, Duration::from_secs(60));
}

#[test]
fn seed_everything_to_aria2() {
    if !require("aria2c") {
        return;
    }
    let dir = temp_dir();
    let (data, info_hash) = make_torrent(dir.path());
    let save = dir.path().join("download");
    std::fs::create_dir(&save).unwrap();
    let port = free_port();
    let mut leecher = aria2(dir.path(), &save, port, 0);
    // With --seed-time=0 aria2 exits once the download is complete and verified.
    let mut status = None;
    serve_all_to(port, info_hash, &data, Duration::from_secs(60), || {
        status = leecher.try_wait();
        status.is_some()
    });
    assert!(
        status.is_some_and(|s| s.success()),
        "aria2c failed: {status:?}"
    );
    assert_eq!(std::fs::read(save.join("data.bin")).unwrap(), data);
}
