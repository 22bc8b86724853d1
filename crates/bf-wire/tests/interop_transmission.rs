//! bf-wire downloads every block of a torrent from a transmission-cli 3.00 seeder over
//! loopback (transmission accepts incoming connections from 127.0.0.1, it only never dials
//! them).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use bf_testkit::{free_port, require, temp_dir, ChildGuard};
use common::*;

#[test]
fn download_everything_from_transmission() {
    if !require("transmission-cli") {
        return;
    }
    let dir = temp_dir();
    let (data, info_hash) = make_torrent(dir.path());
    let config_dir = dir.path().join("config");
    std::fs::create_dir(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("settings.json"),
        r#"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
            "port-forwarding-enabled": false, "utp-enabled": false, "encryption": 0,
            "bind-address-ipv4": "127.0.0.1"}"#,
    )
    .unwrap();
    let port = free_port();
    let _seeder = ChildGuard::spawn(
        Command::new("transmission-cli")
            .arg("-g")
            .arg(&config_dir)
            .arg("-w")
            .arg(dir.path())
            .args(["-p", &port.to_string(), "-et", "-M"])
            .arg(dir.path().join("t.torrent"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    download_all_from(port, info_hash, &data, Duration::from_secs(60));
}
