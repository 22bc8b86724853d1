//! Shared by bf-console's interop tests: test torrents (single- and multi-file, made with
//! bf-metainfo's create API), bf-console runs read through `--json`, a bf-tracker running in
//! the test process, scrapes, and byte-for-byte content checks.
//!
//! The real clients themselves are started with `bf_testkit::clients`.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bf_metainfo::{CreateOptions, InfoHash, Metainfo, Source};
use bf_testkit::clients::{http_get, Program};
use serde_json::Value;

/// Piece length of every test torrent: 256 KiB, as a user's torrent of a few MiB has.
pub const PIECE: u64 = 256 << 10;

/// Checks every tool a test needs (each one, so a skip names all that are missing);
/// `false`: skip the test (it has printed why), or it panicked under `BF_REQUIRE_TOOLS=1`.
pub fn tools(libtorrent: bool, programs: &[&str]) -> bool {
    let mut ok = !libtorrent || bf_testkit::require_libtorrent();
    for p in programs {
        ok &= bf_testkit::require(p);
    }
    ok
}

/// A test's folder: `logs/` for the programs' output, `seed/` with the complete data, and
/// one folder per downloader.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    /// With `BF_KEEP_TEST_DIR=1` the folder is kept (and named on stderr) for a post-mortem.
    pub fn new() -> Dir {
        let mut tmp = bf_testkit::temp_dir();
        if std::env::var_os("BF_KEEP_TEST_DIR").is_some_and(|v| v == "1") {
            tmp.disable_cleanup(true);
            eprintln!("keeping {}", tmp.path().display());
        }
        let d = Dir { tmp };
        std::fs::create_dir_all(d.logs()).unwrap();
        std::fs::create_dir_all(d.path().join("seed")).unwrap();
        d
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn logs(&self) -> PathBuf {
        self.path().join("logs")
    }

    /// A fresh empty folder `name` (a downloader's).
    pub fn sub(&self, name: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    }
}

/// A test torrent: its `.torrent` file and the content it describes, written completely
/// under `seed/`.
pub struct TestTorrent {
    /// The `.torrent` file.
    pub file: PathBuf,
    pub meta: Metainfo,
    /// Relative path (empty for a single file) and bytes of every file.
    pub files: Vec<(PathBuf, Vec<u8>)>,
    seed_dir: PathBuf,
}

impl TestTorrent {
    pub fn name(&self) -> &str {
        self.meta.name()
    }

    pub fn info_hash(&self) -> InfoHash {
        self.meta.info_hash()
    }

    pub fn hex(&self) -> String {
        self.info_hash().to_hex()
    }

    pub fn len(&self) -> u64 {
        self.meta.total_length()
    }

    /// The complete data: the file of a single-file torrent, the top folder otherwise.
    pub fn seed_path(&self) -> PathBuf {
        self.seed_dir.join(self.name())
    }

    /// The folder holding [`Self::seed_path`] (what a client's `save_path` is).
    pub fn seed_dir(&self) -> &Path {
        &self.seed_dir
    }

    /// The same torrent (same info-hash) with other trackers (none: `&[]`), written to
    /// `path`: a client given it finds peers only as the test says.
    pub fn with_trackers(&self, path: &Path, trackers: &[&str]) -> PathBuf {
        let mut m = self.meta.clone();
        m.set_trackers(trackers.iter().map(|t| vec![t.to_string()]).collect());
        std::fs::write(path, m.to_bytes()).unwrap();
        assert_eq!(
            Metainfo::from_file(path).unwrap().info_hash(),
            self.info_hash()
        );
        path.to_path_buf()
    }

    /// Panics unless the data at `root` (the file, or the top folder) is exactly the
    /// torrent's content, each file byte for byte. Retries for up to `grace` while it
    /// differs: a client may report completion just before its last write lands.
    pub fn assert_downloaded(&self, who: &str, root: &Path, grace: Duration) {
        self.assert_downloaded_but(who, root, grace, false);
    }

    /// [`Self::assert_downloaded`], except that empty files may be missing: transmission
    /// 3.00 creates none.
    pub fn assert_downloaded_but_empty_files(&self, who: &str, root: &Path, grace: Duration) {
        self.assert_downloaded_but(who, root, grace, true);
    }

    fn assert_downloaded_but(&self, who: &str, root: &Path, grace: Duration, no_empty: bool) {
        let deadline = Instant::now() + grace;
        loop {
            let problem = self.difference(root, no_empty);
            let Some(problem) = problem else { return };
            if Instant::now() >= deadline {
                panic!(
                    "{who}: downloaded data at {} differs: {problem}",
                    root.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// What differs between `root` and the content, if anything.
    fn difference(&self, root: &Path, no_empty: bool) -> Option<String> {
        for (rel, want) in &self.files {
            let path = if rel.as_os_str().is_empty() {
                root.to_path_buf()
            } else {
                root.join(rel)
            };
            if no_empty && want.is_empty() && !path.exists() {
                continue;
            }
            let got = match std::fs::read(&path) {
                Ok(g) => g,
                Err(e) => return Some(format!("{}: {e}", path.display())),
            };
            if got.len() != want.len() {
                return Some(format!(
                    "{}: {} bytes, want {}",
                    path.display(),
                    got.len(),
                    want.len()
                ));
            }
            if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
                return Some(format!("{}: first differing byte at {at}", path.display()));
            }
        }
        None
    }
}

fn make(
    dir: &Dir,
    source_path: &Path,
    files: Vec<(PathBuf, Vec<u8>)>,
    trackers: &[&str],
) -> TestTorrent {
    make_with(dir, source_path, files, trackers, &[], false)
}

fn make_with(
    dir: &Dir,
    source_path: &Path,
    files: Vec<(PathBuf, Vec<u8>)>,
    trackers: &[&str],
    nodes: &[SocketAddr],
    private: bool,
) -> TestTorrent {
    let source = Source::scan(source_path).unwrap();
    let opts = CreateOptions {
        piece_length: Some(PIECE),
        trackers: trackers.iter().map(|t| vec![t.to_string()]).collect(),
        nodes: nodes
            .iter()
            .map(|a| bf_metainfo::Node {
                host: a.ip().to_string(),
                port: a.port(),
            })
            .collect(),
        created_by: Some("BitFountain interop test".into()),
        private,
        ..CreateOptions::default()
    };
    let meta = bf_metainfo::create(&source, &opts, &mut |_| {}).unwrap();
    let file = dir.path().join(format!("{}.torrent", meta.name()));
    std::fs::write(&file, meta.to_bytes()).unwrap();
    TestTorrent {
        file,
        meta,
        files,
        seed_dir: dir.path().join("seed"),
    }
}

/// A single-file torrent of `len` generated bytes named `name`, announcing to `trackers`.
pub fn single_file(dir: &Dir, name: &str, len: usize, seed: u64, trackers: &[&str]) -> TestTorrent {
    let data = bf_testkit::pseudo_random_bytes(len, seed);
    let path = dir.path().join("seed").join(name);
    std::fs::write(&path, &data).unwrap();
    make(dir, &path, vec![(PathBuf::new(), data)], trackers)
}

/// A trackerless single-file torrent of `len` generated bytes named `name`, whose `nodes`
/// are the DHT nodes to bootstrap from.
pub fn trackerless(
    dir: &Dir,
    name: &str,
    len: usize,
    seed: u64,
    nodes: &[SocketAddr],
) -> TestTorrent {
    let data = bf_testkit::pseudo_random_bytes(len, seed);
    let path = dir.path().join("seed").join(name);
    std::fs::write(&path, &data).unwrap();
    make_with(dir, &path, vec![(PathBuf::new(), data)], &[], nodes, false)
}

/// A private (BEP 27) single-file torrent of `len` generated bytes named `name`, with no
/// tracker.
pub fn private_file(dir: &Dir, name: &str, len: usize, seed: u64) -> TestTorrent {
    let data = bf_testkit::pseudo_random_bytes(len, seed);
    let path = dir.path().join("seed").join(name);
    std::fs::write(&path, &data).unwrap();
    make_with(dir, &path, vec![(PathBuf::new(), data)], &[], &[], true)
}

/// A multi-file torrent: folder `name` holding `files` (relative paths and lengths, 0
/// allowed), announcing to `trackers`.
pub fn multi_file(
    dir: &Dir,
    name: &str,
    files: &[(&str, usize)],
    seed: u64,
    trackers: &[&str],
) -> TestTorrent {
    let top = dir.path().join("seed").join(name);
    let mut content = Vec::new();
    for (i, (rel, len)) in files.iter().enumerate() {
        let data = bf_testkit::pseudo_random_bytes(*len, seed.wrapping_add(i as u64 * 7919));
        let path = top.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &data).unwrap();
        content.push((PathBuf::from(rel), data));
    }
    let t = make(dir, &top, content, trackers);
    assert_eq!(
        t.meta.files().len(),
        files.len(),
        "every file is in the torrent"
    );
    t
}

/// The multi-file layout the tests use (about 6 MiB): pieces that span files, a file
/// smaller than a piece between two, one in a subfolder, and an empty one.
pub const ALBUM: [(&str, usize); 5] = [
    ("01 first.bin", 2 * 1024 * 1024 + 1000),
    ("02 tiny.txt", 3333),
    ("empty.dat", 0),
    ("extras/03 third.bin", 3 * 1024 * 1024 - 77),
    ("extras/notes/04 last.bin", 700 * 1024 + 5),
];

// ----- bf-console -----

/// A bf-console run: `--json` lines on its stdout.
pub struct Console {
    pub program: Program,
    /// The port it was told to listen on (it tries the next eight when taken).
    pub port: u16,
}

/// Starts `bf-console TORRENT --saveas SAVEAS` on loopback with `--json --no-resume`, a free
/// port and `extra` arguments.
pub fn console(name: &str, dir: &Dir, torrent: &Path, saveas: &Path, extra: &[&str]) -> Console {
    let port = bf_testkit::free_port();
    let mut program = Program::spawn(
        name,
        Command::new(env!("CARGO_BIN_EXE_bf-console"))
            .arg(torrent)
            .arg("--saveas")
            .arg(saveas)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--json", "--no-resume"])
            .args(extra)
            // Never the user's state folder, even if --no-resume were ignored.
            .env("HOME", dir.path())
            // No public DHT routers: a test's DHT is on loopback, when it has one.
            .env("BF_DHT_ROUTERS", "")
            // No multicast discovery: a test's peers are the ones it names.
            .env("BF_NO_LSD", "1")
            .env("XDG_STATE_HOME", dir.path().join("state"))
            // Connections and why they end, for the log printed when a test fails.
            .env("RUST_LOG", "info,bf_client=debug"),
        &dir.logs(),
    );
    program.set_tail_filter(|l| !l.contains(r#""event":"status""#));
    Console { program, port }
}

impl Console {
    /// Every JSON object it printed so far.
    pub fn events(&self) -> Vec<Value> {
        self.program
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The first event for which `pred` holds, waiting up to `timeout`.
    pub fn wait_event(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        self.program
            .wait_line(timeout, |l| {
                serde_json::from_str::<Value>(l).is_ok_and(|v| pred(&v))
            })
            .and_then(|l| serde_json::from_str(&l).ok())
    }

    /// Waits until it is seeding (checked the data, or finished downloading).
    pub fn wait_seeding(&mut self, timeout: Duration) {
        let name = self.program.name().to_string();
        let seeding = self.wait_event(timeout, |v| {
            matches!(v["event"].as_str(), Some("status" | "state")) && v["state"] == "seeding"
        });
        assert!(seeding.is_some(), "{name} never said it was seeding");
    }

    /// Waits until a tracker answered it.
    pub fn wait_announced(&mut self, timeout: Duration) {
        let name = self.program.name().to_string();
        let ok = self.wait_event(timeout, |v| v["event"] == "tracker_announced");
        assert!(ok.is_some(), "{name}: no tracker answered");
    }

    /// Waits for it to exit successfully (after `--exit-on-complete`).
    pub fn wait_success(&mut self, timeout: Duration) {
        let name = self.program.name().to_string();
        match self.program.wait_exit(timeout) {
            Some(s) if s.success() => {}
            Some(s) => panic!("{name} failed: {s}"),
            None => panic!("{name} did not finish within {timeout:?}"),
        }
    }

    /// The addresses of the peers it connected with.
    pub fn peers_connected(&self) -> Vec<SocketAddr> {
        self.events()
            .iter()
            .filter(|v| v["event"] == "peer_connected")
            .filter_map(|v| v["addr"].as_str()?.parse().ok())
            .collect()
    }

    /// The last status event.
    pub fn last_status(&self) -> Option<Value> {
        self.events()
            .into_iter()
            .rev()
            .find(|v| v["event"] == "status")
    }

    /// Waits until a status event says `field` is at least `min`; the last value seen.
    pub fn wait_status_at_least(&mut self, field: &str, min: u64, timeout: Duration) -> u64 {
        self.wait_event(timeout, |v| {
            v["event"] == "status" && v[field].as_u64().is_some_and(|n| n >= min)
        });
        self.last_status()
            .and_then(|v| v[field].as_u64())
            .unwrap_or(0)
    }

    /// Panics if it reported a hash failure, a ban or an error.
    pub fn assert_no_trouble(&self) {
        for v in self.events() {
            let e = v["event"].as_str().unwrap_or("");
            assert!(
                !matches!(e, "hash_failed" | "peer_banned" | "error"),
                "{}: {v}",
                self.program.name()
            );
            if e == "status" {
                assert_eq!(v["hash_failures"], 0, "{}: {v}", self.program.name());
            }
        }
    }
}

// ----- trackers -----

/// A bf-tracker (HTTP and UDP on one port) served on its own thread in this process.
pub struct BfTracker {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BfTracker {
    pub fn start() -> BfTracker {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                // A free port can be taken by a client of a parallel test before we bind.
                for _ in 0..5 {
                    let cfg = bf_tracker::ServerConfig {
                        bind: "127.0.0.1".parse().unwrap(),
                        port: bf_testkit::free_port(),
                        log_requests: false,
                        ..bf_tracker::ServerConfig::default()
                    };
                    let Ok(t) = bf_tracker::Tracker::bind(cfg).await else {
                        continue;
                    };
                    let _ = tx.send(t.http_addr().unwrap().port());
                    t.run(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
                    return;
                }
                panic!("bf-tracker did not bind any of 5 free ports");
            });
            rt.shutdown_timeout(Duration::from_secs(2));
        });
        let port = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("bf-tracker started");
        BfTracker {
            port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }

    pub fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }
}

impl Drop for BfTracker {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One torrent's scrape counters from the HTTP tracker on `port` (bf-tracker or
/// opentracker); zeros when it does not know the torrent or does not answer.
pub fn scrape(port: u16, h: &InfoHash) -> bf_tracker::ScrapeStats {
    let mut q = String::from("/scrape?info_hash=");
    bf_tracker::query::percent_encode(h.as_bytes(), &mut q);
    http_get(port, &q)
        .and_then(|body| bf_tracker::http_codec::decode_scrape(&body).ok())
        .and_then(|r| r.get(h))
        .unwrap_or_default()
}

/// Waits up to `timeout` until the scrape of `h` satisfies `want`.
pub fn wait_scrape(
    port: u16,
    h: &InfoHash,
    timeout: Duration,
    want: impl Fn(&bf_tracker::ScrapeStats) -> bool,
) -> bool {
    bf_testkit::wait_until(timeout, || want(&scrape(port, h)))
}

/// How long one step of a test (a client getting ready, a download) may take before it is
/// declared stuck: generous, since the two cores are shared with other tests and jobs.
pub const STEP: Duration = Duration::from_secs(90);

/// Prints a test's phase and the time since `start` (seen with `--nocapture`, and in the
/// output of a failed test).
pub fn phase(start: Instant, what: &str) {
    let test = std::thread::current().name().unwrap_or("").to_string();
    eprintln!("[{:6.2}s] {test}: {what}", start.elapsed().as_secs_f64());
}
