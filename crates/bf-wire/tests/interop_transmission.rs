//! bf-wire against transmission-cli 3.00 over loopback: download every block from a
//! transmission seeder, and seed a whole torrent to a transmission downloader. Transmission
//! accepts connections from 127.0.0.1 (it only never dials them), so we always dial.
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bf_testkit::{free_port, require, temp_dir, ChildGuard};
use common::*;

/// transmission-cli with its own config dir (no DHT, LPD, PEX, port mapping, uTP),
/// saving into `save`; `on_done` runs when the torrent completes.
fn transmission(dir: &Path, save: &Path, port: u16, on_done: Option<&Path>) -> ChildGuard {
    let config_dir = dir.join(format!("config-{port}"));
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("settings.json"),
        r#"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
            "port-forwarding-enabled": false, "utp-enabled": false, "encryption": 0,
            "bind-address-ipv4": "127.0.0.1"}"#,
    )
    .unwrap();
    let mut cmd = Command::new("transmission-cli");
    cmd.arg("-g")
        .arg(&config_dir)
        .arg("-w")
        .arg(save)
        .args(["-p", &port.to_string(), "-et", "-M"]);
    if let Some(script) = on_done {
        cmd.arg("-f").arg(script);
    }
    cmd.arg(dir.join("t.torrent"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    ChildGuard::spawn(&mut cmd)
}

#[test]
fn download_everything_from_transmission() {
    if !require("transmission-cli") {
        return;
    }
    let dir = temp_dir();
    let (data, info_hash) = make_torrent(dir.path());
    let port = free_port();
    let _seeder = transmission(dir.path(), dir.path(), port, None);
    download_all_from(port, info_hash, &data, Duration::from_secs(60));
}

#[test]
fn seed_everything_to_transmission() {
    if !require("transmission-cli") {
        return;
    }
    let dir = temp_dir();
    let (data, info_hash) = make_torrent(dir.path());
    let save = dir.path().join("download");
    std::fs::create_dir(&save).unwrap();
    let marker = dir.path().join("finished");
    let script = dir.path().join("on-done.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\ntouch '{}'\n", marker.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = free_port();
    let _leecher = transmission(dir.path(), &save, port, Some(&script));
    serve_all_to(port, info_hash, &data, Duration::from_secs(60), || {
        marker.exists()
    });
    assert_eq!(std::fs::read(save.join("data.bin")).unwrap(), data);
}
