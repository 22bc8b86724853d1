//! Real BitTorrent clients against bf-tracker over loopback: libtorrent, transmission-cli and
//! aria2c announce over HTTP and UDP (seen in scrape counts and the web log), and a
//! libtorrent seeder and an aria2c downloader find each other through it and complete a
//! download whose content is checked byte for byte.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bf_metainfo::InfoHash;
use bf_testkit::ChildGuard;

const LT_SCRIPT: &str = r#"
import sys, time
import libtorrent as lt
torrent, save, port, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
host = sys.argv[5] if len(sys.argv) > 5 else '127.0.0.1'
s = lt.session({
    'listen_interfaces': ('[%s]:%d' if ':' in host else '%s:%d') % (host, port),
    'outgoing_interfaces': host,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'allow_multiple_connections_per_ip': True,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
})
h = s.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': save})
end = time.time() + secs
while time.time() < end:
    st = h.status()
    print('state=%s progress=%.3f peers=%d' % (st.state, st.progress, st.num_peers), flush=True)
    time.sleep(0.5)
"#;

struct Swarm {
    dir: tempfile::TempDir,
    data: Vec<u8>,
    name: String,
    torrent: std::path::PathBuf,
    hash: InfoHash,
}

/// A torrent for `announce` with its data file in `dir/seed/`.
fn swarm(announce: &str, seed: u8, len: usize) -> Swarm {
    let dir = bf_testkit::temp_dir();
    let data = common::content(len, seed);
    let name = format!("payload-{seed}.bin");
    let (bytes, hash) = common::make_torrent(&name, &data, announce);
    let torrent = dir.path().join("t.torrent");
    std::fs::write(&torrent, bytes).unwrap();
    std::fs::create_dir_all(dir.path().join("seed")).unwrap();
    std::fs::write(dir.path().join("seed").join(&name), &data).unwrap();
    Swarm {
        dir,
        data,
        name,
        torrent,
        hash,
    }
}

fn libtorrent(s: &Swarm, save: &Path, secs: u32) -> ChildGuard {
    libtorrent_on(s, save, secs, "127.0.0.1", bf_testkit::free_port())
}

/// libtorrent listening on `host`:`port` (an IPv6 host for the IPv6 test).
fn libtorrent_on(s: &Swarm, save: &Path, secs: u32, host: &str, port: u16) -> ChildGuard {
    let script = s.dir.path().join("lt.py");
    std::fs::write(&script, LT_SCRIPT).unwrap();
    ChildGuard::spawn(
        Command::new(bf_testkit::SYSTEM_PYTHON)
            .arg(&script)
            .arg(&s.torrent)
            .arg(save)
            .arg(port.to_string())
            .arg(secs.to_string())
            .arg(host)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    )
}

fn aria2(s: &Swarm, out: &Path) -> ChildGuard {
    let port = bf_testkit::free_port();
    // aria2 speaks UDP trackers only through its DHT socket, so DHT is on, but with no entry
    // point and a fresh routing table it contacts nobody.
    let dht_port = bf_testkit::free_port();
    ChildGuard::spawn(
        Command::new("aria2c")
            .args([
                "--enable-dht=true",
                "--enable-dht6=false",
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--disable-ipv6=true",
                "--interface=127.0.0.1",
                "--seed-time=0",
                "--summary-interval=0",
                "--console-log-level=warn",
                "--check-certificate=false",
                "--bt-tracker-connect-timeout=5",
                "--bt-tracker-timeout=5",
            ])
            .arg(format!("--listen-port={port}"))
            .arg(format!("--dht-listen-port={dht_port}"))
            .arg(format!(
                "--dht-file-path={}",
                s.dir.path().join("dht.dat").display()
            ))
            .arg(format!("--dir={}", out.display()))
            .arg(&s.torrent)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    )
}

fn transmission(s: &Swarm) -> ChildGuard {
    let cfg = s.dir.path().join("tr-config");
    let dl = s.dir.path().join("tr-download");
    std::fs::create_dir_all(&cfg).unwrap();
    std::fs::create_dir_all(&dl).unwrap();
    std::fs::write(
        cfg.join("settings.json"),
        r#"{"dht-enabled": false, "lpd-enabled": false, "pex-enabled": false,
            "port-forwarding-enabled": false, "utp-enabled": false, "rpc-enabled": false,
            "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1"}"#,
    )
    .unwrap();
    let port = bf_testkit::free_port();
    ChildGuard::spawn(
        Command::new("transmission-cli")
            .arg("-g")
            .arg(&cfg)
            .arg("-w")
            .arg(&dl)
            .args(["-p", &port.to_string(), "-M"])
            .arg(&s.torrent)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// Waits until scrape shows `want(stats)`.
fn wait_scrape(port: u16, h: &InfoHash, want: impl Fn(bf_tracker::ScrapeStats) -> bool) -> bool {
    bf_testkit::wait_until(Duration::from_secs(45), || want(common::scrape(port, h)))
}

/// libtorrent on `[::1]` announces over HTTP and UDP to a tracker bound to `::`; an IPv6
/// announce of ours then gets libtorrent back: in `peers6` (BEP 7) over HTTP, as an 18-byte
/// entry (BEP 15) over UDP.
#[test]
fn libtorrent_announces_over_ipv6_http_and_udp() {
    if !bf_testkit::require_libtorrent() {
        return;
    }
    let t = common::start_bound("::", &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = bf_tracker::TrackerClient::new(bf_tracker::ClientConfig::default()).unwrap();
    let http = format!("http://[::1]:{}/announce", t.port);
    let udp = format!("udp://[::1]:{}/announce", t.port);
    for (url, seed) in [(http, 51), (udp, 52)] {
        let s = swarm(&url, seed, 100_000);
        let lt_port = bf_testkit::free_port();
        let _lt = libtorrent_on(&s, &s.dir.path().join("seed"), 60, "::1", lt_port);
        // Scrape goes over IPv4: the `::` socket takes IPv4-mapped connections too.
        assert!(
            wait_scrape(t.port, &s.hash, |st| st.complete == 1),
            "{url}: libtorrent not seen"
        );
        let ours = bf_tracker::AnnounceRequest::new(
            s.hash,
            bf_metainfo::PeerId(*b"-BF0001-ipv6ipv6ipv6"),
            6999,
            1,
        );
        let got = rt.block_on(client.announce(&url, &ours)).unwrap();
        let want = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, lt_port));
        assert!(
            got.peers.iter().any(|p| p.addr == want),
            "{url}: libtorrent's [::1]:{lt_port} not among {:?}",
            got.peers
        );
        assert!(
            got.peers.iter().all(|p| p.addr.is_ipv6()),
            "{url}: only IPv6 peers here: {:?}",
            got.peers
        );
    }
}

#[test]
fn libtorrent_announces_over_http_and_udp() {
    if !bf_testkit::require_libtorrent() {
        return;
    }
    let t = common::start(&[]);
    for (url, seed) in [(t.announce_url(), 11), (t.udp_url(), 12)] {
        let s = swarm(&url, seed, 100_000);
        let _lt = libtorrent(&s, &s.dir.path().join("seed"), 60);
        assert!(
            wait_scrape(t.port, &s.hash, |st| st.complete == 1),
            "{url}: libtorrent seed not seen"
        );
    }
    assert!(
        t.log_contains("peer_id=-LT20"),
        "libtorrent's HTTP announce is in the web log"
    );
}

#[test]
fn transmission_announces_over_http_and_udp() {
    if !bf_testkit::require("transmission-cli") {
        return;
    }
    let t = common::start(&[]);
    for (url, seed) in [(t.announce_url(), 21), (t.udp_url(), 22)] {
        let s = swarm(&url, seed, 100_000);
        let _tr = transmission(&s);
        assert!(
            wait_scrape(t.port, &s.hash, |st| st.incomplete == 1),
            "{url}: transmission not seen"
        );
    }
    assert!(
        t.log_contains("peer_id=-TR"),
        "transmission's HTTP announce is in the web log"
    );
}

#[test]
fn aria2_announces_over_http_and_udp() {
    if !bf_testkit::require("aria2c") {
        return;
    }
    let t = common::start(&[]);
    for (url, seed) in [(t.announce_url(), 31), (t.udp_url(), 32)] {
        let s = swarm(&url, seed, 100_000);
        let out = s.dir.path().join("aria2-out");
        let _a = aria2(&s, &out);
        assert!(
            wait_scrape(t.port, &s.hash, |st| st.incomplete == 1),
            "{url}: aria2 not seen"
        );
    }
    assert!(
        t.log_contains("peer_id=A2-"),
        "aria2's HTTP announce is in the web log"
    );
}

#[test]
fn libtorrent_seeder_and_aria2_downloader_meet_through_the_tracker() {
    if !bf_testkit::require_libtorrent() || !bf_testkit::require("aria2c") {
        return;
    }
    let t = common::start(&[]);
    let s = swarm(&t.announce_url(), 41, 3 * 1024 * 1024 + 123);
    let _lt = libtorrent(&s, &s.dir.path().join("seed"), 120);
    assert!(
        wait_scrape(t.port, &s.hash, |st| st.complete == 1),
        "seeder not announced"
    );
    let out = s.dir.path().join("aria2-out");
    let mut a = aria2(&s, &out);
    let done = bf_testkit::wait_until(Duration::from_secs(90), || a.try_wait().is_some());
    assert!(done, "aria2c did not finish");
    assert!(a.try_wait().unwrap().success(), "aria2c failed");
    let got = std::fs::read(out.join(&s.name)).unwrap();
    assert!(got == s.data, "downloaded content differs");
    let events: Vec<String> = t
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("peer_id=A2-"))
        .cloned()
        .collect();
    assert!(
        common::scrape(t.port, &s.hash).downloaded >= 1,
        "aria2's completed event counted: {events:#?}"
    );
}
