//! Our client half against Debian's opentracker, over HTTP and UDP: two of our clients
//! announce and find each other, and scrape sees them.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use bf_metainfo::{InfoHash, PeerId};
use bf_testkit::ChildGuard;
use bf_tracker::{AnnounceRequest, ClientConfig, TrackerClient};

#[tokio::test]
async fn our_client_against_opentracker() {
    if !bf_testkit::require("opentracker") {
        return;
    }
    let dir = bf_testkit::temp_dir();
    // opentracker chroots into the folder and drops to `nobody` when run as root.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let hashes = [InfoHash([0x51; 20]), InfoHash([0x52; 20])];
    let list: String = hashes.iter().map(|h| format!("{}\n", h.to_hex())).collect();
    std::fs::write(dir.path().join("whitelist"), list).unwrap();
    std::fs::set_permissions(
        dir.path().join("whitelist"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let port = bf_testkit::free_port();
    let p = port.to_string();
    let _ot = ChildGuard::spawn(
        Command::new("opentracker")
            .args(["-i", "127.0.0.1", "-p", &p, "-P", &p, "-w", "/whitelist"])
            .arg("-d")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(bf_testkit::wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));
    let c = TrackerClient::new(ClientConfig {
        udp_base_timeout: Duration::from_millis(200),
        udp_max_retries: 3,
        ..ClientConfig::default()
    })
    .unwrap();
    let urls = [
        format!("http://127.0.0.1:{port}/announce"),
        format!("udp://127.0.0.1:{port}/announce"),
    ];
    for (url, ih) in urls.iter().zip(hashes) {
        let a = AnnounceRequest::new(ih, PeerId([1; 20]), 7101, 100);
        // opentracker answers on its port before its whitelist thread has loaded the file
        // ("not authorized" meanwhile): retry the first announce for a bounded time.
        let mut first = c.announce(url, &a).await;
        for _ in 0..50 {
            if first.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            first = c.announce(url, &a).await;
        }
        first.unwrap();
        let b = AnnounceRequest::new(ih, PeerId([2; 20]), 7102, 100);
        let r = c.announce(url, &b).await.unwrap();
        let addrs: Vec<_> = r.peers.iter().map(|p| p.addr).collect();
        assert!(
            addrs.contains(&"127.0.0.1:7101".parse().unwrap()),
            "{url}: {addrs:?}"
        );
        // The first client sees the second one too.
        let r = c.announce(url, &a).await.unwrap();
        let addrs: Vec<_> = r.peers.iter().map(|p| p.addr).collect();
        assert!(
            addrs.contains(&"127.0.0.1:7102".parse().unwrap()),
            "{url}: {addrs:?}"
        );
        let s = c.scrape(url, &[ih]).await.unwrap();
        assert_eq!(s.get(&ih).map(|s| s.incomplete), Some(2), "{url}");
    }
    // A torrent outside the whitelist is refused with a typed error.
    let r = c
        .announce(
            &urls[0],
            &AnnounceRequest::new(InfoHash([0x99; 20]), PeerId([3; 20]), 7103, 0),
        )
        .await;
    assert!(
        matches!(r, Err(bf_tracker::TrackerError::Response(_))),
        "{r:?}"
    );
}
