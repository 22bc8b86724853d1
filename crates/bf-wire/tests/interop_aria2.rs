//! bf-wire downloads every block of a torrent from an aria2c 1.36 seeder over loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use bf_testkit::{free_port, require, temp_dir, ChildGuard};
use common::*;

#[test]
fn download_everything_from_aria2() {
    if !require("aria2c") {
        return;
    }
    let dir = temp_dir();
    let (data, info_hash) = make_torrent(dir.path());
    let port = free_port();
    let _seeder = ChildGuard::spawn(
        Command::new("aria2c")
            .arg(format!("--dir={}", dir.path().display()))
            .arg(format!("--listen-port={port}"))
            .args([
                "--enable-dht=false",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--disable-ipv6=true",
                "--interface=127.0.0.1",
                "--check-integrity=true",
                "--seed-time=10",
                "--bt-min-crypto-level=plain",
                "--console-log-level=warn",
                "--summary-interval=0",
            ])
            .arg(dir.path().join("t.torrent"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    download_all_from(port, info_hash, &data, Duration::from_secs(60));
}
