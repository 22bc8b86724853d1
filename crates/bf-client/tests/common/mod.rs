//! Shared by the engine's integration tests: torrents of generated content, sessions on
//! loopback with short timeouts.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bf_client::{
    AddTorrent, DhtConfig, DhtNode, Session, SessionConfig, TorrentHandle, TorrentSource,
};
use bf_metainfo::{CreateOptions, Metainfo, Source};

/// Writes `len` bytes of generated content to `dir/name` and makes its torrent.
pub fn make_torrent(
    dir: &Path,
    name: &str,
    len: usize,
    piece_len: u64,
    trackers: &[&str],
) -> (Vec<u8>, Arc<Metainfo>) {
    let data = bf_testkit::pseudo_random_bytes(len, len as u64 ^ 0x5eed);
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    let source = Source::scan(&path).unwrap();
    let opts = CreateOptions {
        piece_length: Some(piece_len),
        trackers: trackers.iter().map(|t| vec![t.to_string()]).collect(),
        ..CreateOptions::default()
    };
    let meta = bf_metainfo::create(&source, &opts, &mut |_| {}).unwrap();
    (data, Arc::new(meta))
}

/// Session settings for tests: loopback, a port the kernel picks (sessions of tests running
/// in parallel never collide), quick timeouts.
pub fn config(resume_dir: Option<&Path>) -> SessionConfig {
    let mut cfg = SessionConfig {
        port: 0,
        port_tries: 1,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        resume_dir: resume_dir.map(Path::to_path_buf),
        connect_timeout: Duration::from_secs(5),
        ..SessionConfig::default()
    };
    cfg.tracker.udp_base_timeout = Duration::from_millis(500);
    cfg.tracker.udp_max_retries = 1;
    cfg.tracker.udp_walk_timeout = Duration::from_millis(500);
    cfg.tracker.udp_walk_retries = 1;
    cfg.tracker.http_timeout = Duration::from_secs(5);
    cfg
}

/// A session with [`config`].
pub async fn session(resume_dir: Option<&Path>) -> Session {
    Session::new(config(resume_dir)).await.unwrap()
}

/// A new session seeding `add`, its check of the data done.
pub async fn seed(add: AddTorrent) -> (Session, TorrentHandle) {
    let session = session(None).await;
    let handle = seed_in(&session, add).await;
    (session, handle)
}

/// `session` seeding `add`, its check of the data done.
pub async fn seed_in(session: &Session, add: AddTorrent) -> TorrentHandle {
    let handle = session.add_torrent(add).await.unwrap();
    match tokio::time::timeout(Duration::from_secs(30), handle.wait_complete()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("the seeder stopped: {e}"),
        Err(_) => panic!("the seeder's check took over 30 s: {:?}", handle.status()),
    }
    handle
}

/// `session` seeding `meta` from the file [`make_torrent`] wrote in `dir`.
pub async fn seed_from_in(session: &Session, dir: &Path, meta: &Arc<Metainfo>) -> TorrentHandle {
    let add = AddTorrent::new(TorrentSource::Metainfo(meta.clone())).save_as(dir.join(meta.name()));
    seed_in(session, add).await
}

/// A new session seeding `meta` from the file [`make_torrent`] wrote in `dir`.
pub async fn seed_from(dir: &Path, meta: &Arc<Metainfo>) -> (Session, TorrentHandle) {
    seed(AddTorrent::new(TorrentSource::Metainfo(meta.clone())).save_as(dir.join(meta.name())))
        .await
}

/// The same torrent (same info-hash) with no trackers.
pub fn without_trackers(meta: &Metainfo) -> Metainfo {
    let mut m = meta.clone();
    m.set_trackers(Vec::new());
    m
}

/// A DHT node on `ip` (a free port) that knows nobody: the router of a private DHT.
pub fn dht_router(ip: IpAddr) -> DhtNode {
    let cfg = DhtConfig {
        public_routers: false,
        ..DhtConfig::default()
    };
    DhtNode::start(&cfg, ip, 0, &[]).unwrap()
}

/// DHT settings whose only known node is `router`, keeping the table in `state_file`.
pub fn private_dht(router: &DhtNode, state_file: Option<&Path>) -> DhtConfig {
    DhtConfig {
        port: None,
        bootstrap: vec![router.local_addr().to_string()],
        public_routers: false,
        state_file: state_file.map(Path::to_path_buf),
    }
}
