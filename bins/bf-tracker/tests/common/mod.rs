//! Shared helpers for the bf-tracker program's tests: start it, talk raw HTTP and UDP to it.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bf_metainfo::InfoHash;
use bf_testkit::ChildGuard;
use bf_tracker::ScrapeStats;

/// A running bf-tracker and the lines it wrote on stdout.
pub struct Running {
    pub child: ChildGuard,
    pub port: u16,
    pub log: Arc<Mutex<Vec<String>>>,
    /// Its stderr lines (the diagnostics).
    pub stderr: Arc<Mutex<Vec<String>>>,
}

pub fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_bf-tracker")
}

/// Starts the tracker on a free loopback port with extra `args`, waits until it serves.
///
/// The port is free when picked but another process (a BitTorrent client of a parallel
/// test) can take it before the tracker binds: then the tracker exits and another port is
/// tried, instead of the test talking to a stranger listening there.
pub fn start(args: &[&str]) -> Running {
    start_bound("127.0.0.1", args)
}

/// [`start`] with the listening address `bind` (`::` serves IPv6 and IPv4-mapped clients).
pub fn start_bound(bind: &str, args: &[&str]) -> Running {
    for _ in 0..5 {
        if let Some(t) = try_start_on(bind, bf_testkit::free_port(), args) {
            return t;
        }
    }
    panic!("bf-tracker did not start on any of 5 free ports");
}

/// Starts the tracker on `port` (a restart on the port of a killed one), waits until it serves.
pub fn start_on(port: u16, args: &[&str]) -> Running {
    try_start_on("127.0.0.1", port, args)
        .unwrap_or_else(|| panic!("bf-tracker did not start on {port}"))
}

fn try_start_on(bind: &str, port: u16, args: &[&str]) -> Option<Running> {
    let mut child = ChildGuard::spawn(
        Command::new(exe())
            .args(["--bind", bind, "--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let log = Arc::new(Mutex::new(Vec::new()));
    let out = child.0.stdout.take().unwrap();
    let l = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            l.lock().unwrap().push(line);
        }
    });
    // The tracker says "serving" on stderr once both its sockets are bound; the lines are
    // passed on to the test's stderr.
    let serving = Arc::new(AtomicBool::new(false));
    let err = child.0.stderr.take().unwrap();
    let s = serving.clone();
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let e = stderr.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if line.contains("serving http://") {
                s.store(true, Ordering::SeqCst);
            }
            eprintln!("[bf-tracker] {line}");
            e.lock().unwrap().push(line);
        }
    });
    let up = bf_testkit::wait_until(Duration::from_secs(20), || {
        serving.load(Ordering::SeqCst) || child.0.try_wait().ok().flatten().is_some()
    });
    let alive = child.0.try_wait().ok().flatten().is_none();
    (up && alive && serving.load(Ordering::SeqCst)).then_some(Running {
        child,
        port,
        log,
        stderr,
    })
}

impl Running {
    pub fn announce_url(&self) -> String {
        format!("http://127.0.0.1:{}/announce", self.port)
    }
    pub fn udp_url(&self) -> String {
        format!("udp://127.0.0.1:{}/announce", self.port)
    }
    pub fn log_contains(&self, needle: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(needle))
    }
    pub fn stderr_contains(&self, needle: &str) -> bool {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }
}

/// GET `target` over a fresh connection; returns (status, body).
pub fn http_get(port: u16, target: &str) -> (u16, Vec<u8>) {
    try_http_get(port, target).unwrap_or_else(|| panic!("GET {target} failed"))
}

/// GET `target`, `None` on any failure (for load threads racing a kill).
pub fn try_http_get(port: u16, target: &str) -> Option<(u16, Vec<u8>)> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    get_on(s, target).map(|a| (a.status, a.body))
}

/// Sends `GET target` (Connection: close) on `s` and reads the whole answer.
fn get_on(mut s: TcpStream, target: &str) -> Option<Answer> {
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    parse_answer(&buf)
}

/// The columns of the index page, as the original tracker's.
pub const INDEX_COLUMNS: &[&str] = &[
    "info-hash",
    "name",
    "size",
    "complete",
    "downloading",
    "downloaded",
    "transferred",
];

/// Scrape counters of one torrent over HTTP.
pub fn scrape(port: u16, h: &InfoHash) -> ScrapeStats {
    let mut q = String::from("/scrape?info_hash=");
    bf_tracker::query::percent_encode(h.as_bytes(), &mut q);
    let (_, body) = http_get(port, &q);
    bf_tracker::http_codec::decode_scrape(&body)
        .unwrap()
        .get(h)
        .unwrap_or_default()
}

/// Sends one datagram and returns the answer (or None after 2 s).
pub fn udp_exchange(port: u16, packet: &[u8]) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.send_to(packet, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// A single-file `.torrent` for `content`, built with bf-bencode; returns (bytes, info-hash).
pub fn make_torrent(name: &str, content: &[u8], announce: &str) -> (Vec<u8>, InfoHash) {
    use bf_bencode::{Dict, Value};
    use sha1::{Digest, Sha1};
    let piece = 16 * 1024;
    let mut pieces = Vec::new();
    for c in content.chunks(piece) {
        pieces.extend_from_slice(&Sha1::digest(c));
    }
    let mut info = Dict::new();
    info.insert(&b"length"[..], Value::Int(content.len() as i64));
    info.insert(&b"name"[..], Value::owned_bytes(name.as_bytes().to_vec()));
    info.insert(&b"piece length"[..], Value::Int(piece as i64));
    info.insert(&b"pieces"[..], Value::owned_bytes(pieces));
    let info = Value::Dict(info);
    let hash = InfoHash::of(&bf_bencode::to_vec(&info));
    let mut top = Dict::new();
    top.insert(
        &b"announce"[..],
        Value::owned_bytes(announce.as_bytes().to_vec()),
    );
    top.insert(&b"info"[..], info);
    (bf_bencode::to_vec(&Value::Dict(top)), hash)
}

/// `target/test-artifacts`, created.
pub fn artifacts_dir() -> PathBuf {
    // CARGO_BIN_EXE_* is target/<profile>/bf-tracker.
    let exe = Path::new(exe());
    let target = exe.parent().and_then(Path::parent).unwrap();
    let d = target.join("test-artifacts");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Deterministic pseudo-random bytes (a test's file content).
pub fn content(len: usize, seed: u8) -> Vec<u8> {
    bf_testkit::pseudo_random_bytes(len, u64::from(seed))
}

/// An HTTP answer: status, headers (names lowercased) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// GET `target` over a fresh connection, with the answer's headers.
pub fn http_get_full(port: u16, target: &str) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    parse_answer(&buf).unwrap_or_else(|| panic!("GET {target}: no HTTP answer in {buf:?}"))
}

/// Splits a whole `Connection: close` HTTP answer.
pub fn parse_answer(buf: &[u8]) -> Option<Answer> {
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: buf[split + 4..].to_vec(),
    })
}

/// A TCP connection to the tracker on 127.0.0.1:`port` from the loopback address `source`
/// (127.0.0.2 and so on: all of 127.0.0.0/8 is this machine), as a client elsewhere would
/// come from an address of its own.
pub fn connect_from(source: &str, port: u16) -> std::io::Result<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(format!("{source}:0").parse().unwrap())?;
        let s = sock.connect(([127, 0, 0, 1], port).into()).await?;
        let s = s.into_std()?;
        s.set_nonblocking(false)?;
        Ok(s)
    })
}

/// GET `target` from the loopback address `source`; `None` when the connection is closed
/// or reset without an answer.
pub fn http_get_from(source: &str, port: u16, target: &str) -> Option<Answer> {
    get_on(connect_from(source, port).ok()?, target)
}

/// `h` percent-encoded, for an `info_hash=` parameter.
pub fn hash_param(h: &InfoHash) -> String {
    let mut q = String::new();
    bf_tracker::query::percent_encode(h.as_bytes(), &mut q);
    q
}

/// An announce target for `h` from a peer on `port` with `left` bytes to go.
pub fn announce_target(h: &InfoHash, port: u16, left: u64, event: &str) -> String {
    format!(
        "/announce?info_hash={}&peer_id=-BF0100-{port:012}&port={port}&left={left}{}",
        hash_param(h),
        if event.is_empty() {
            String::new()
        } else {
            format!("&event={event}")
        }
    )
}

/// The `failure reason` of a bencoded tracker answer, if it is one.
pub fn failure_reason(body: &[u8]) -> Option<String> {
    let v = bf_bencode::decode(body).ok()?;
    let f = v.as_dict()?.get(b"failure reason")?.as_bytes()?.to_vec();
    Some(String::from_utf8_lossy(&f).into_owned())
}

/// The soft limit on open files of this process (`ulimit -n`), if readable.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
