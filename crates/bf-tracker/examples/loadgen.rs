//! Tracker load generator for `scripts/bench-tracker.sh`: realistic announces (info-hashes
//! drawn from a fixed set, distinct peers, a started/none/completed mix) over UDP (BEP 15,
//! with connect and windowed pipelining) or HTTP (keep-alive, reconnecting when the server
//! closes; or one connection per request with `--http-close`).
//!
//! ```text
//! loadgen hashes N                      # the N info-hashes, hex, one a line (a whitelist)
//! loadgen load  TARGET [options]        # announce every peer once (fills the tracker)
//! loadgen bench TARGET [options]        # random announces for --secs seconds
//! TARGET: udp://127.0.0.1:PORT or http://127.0.0.1:PORT
//! options: --torrents N --peers N --secs S --workers N --window N --http-close
//! ```
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, PeerId};
use bf_tracker::udp_codec::{UdpAnnounce, UdpRequest};
use bf_tracker::Event;
use sha1::{Digest, Sha1};

#[derive(Clone)]
struct Opts {
    torrents: u64,
    peers: u64,
    secs: u64,
    workers: u64,
    window: u64,
    http_close: bool,
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    errors: AtomicU64,
    lost: AtomicU64,
    reconnects: AtomicU64,
}

fn hash(i: u64) -> InfoHash {
    InfoHash(Sha1::digest(i.to_le_bytes()).into())
}

/// xorshift64*: the load's randomness must cost next to nothing.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Peer `i`: its torrent, its port (distinct within the torrent), whether it seeds.
fn peer(o: &Opts, i: u64) -> (u64, u16, bool) {
    let t = i % o.torrents;
    let port = 1024 + (i / o.torrents) as u16;
    (t, port, i % 3 == 0)
}

fn peer_id(i: u64) -> PeerId {
    let mut id = *b"-LG0001-000000000000";
    id[8..20].copy_from_slice(format!("{:012}", i % 1_000_000_000_000).as_bytes());
    PeerId(id)
}

/// The event and `left` of announce number `n` of peer `i` in bench mode.
fn bench_event(r: u64, seed: bool) -> (Event, u64) {
    match r % 100 {
        0..=4 => (Event::Started, if seed { 0 } else { 1_000_000 }),
        5..=7 => (Event::Completed, 0),
        _ => (Event::None, if seed { 0 } else { 500_000 }),
    }
}

fn udp_worker(
    target: SocketAddr,
    o: Opts,
    w: u64,
    load: bool,
    stop: Arc<AtomicBool>,
    c: Arc<Counters>,
) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.connect(target).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let connect = |sock: &UdpSocket, buf: &mut [u8]| -> u64 {
        for _ in 0..100 {
            let mut out = Vec::new();
            UdpRequest::Connect { transaction_id: 7 }.write(&mut out);
            sock.send(&out).unwrap();
            // Skip stale announce answers until the connect reply.
            for _ in 0..1000 {
                match sock.recv(buf) {
                    Ok(n) if n >= 16 && buf[..4] == [0, 0, 0, 0] => {
                        return u64::from_be_bytes(buf[8..16].try_into().unwrap())
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
        }
        panic!("no connect answer from {target}");
    };
    let mut conn = connect(&sock, &mut buf);
    let mut conn_at = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w + 1).wrapping_mul(0x0001_2345_6789));
    let mut next_load = w;
    let mut in_flight = 0u64;
    let mut out = Vec::with_capacity(128);
    loop {
        if conn_at.elapsed() > Duration::from_secs(30) && in_flight == 0 {
            conn = connect(&sock, &mut buf);
            conn_at = Instant::now();
        }
        let done_sending = if load {
            next_load >= o.peers
        } else {
            stop.load(Ordering::Relaxed)
        };
        if done_sending && in_flight == 0 {
            return;
        }
        while !done_sending && in_flight < o.window && conn_at.elapsed() <= Duration::from_secs(30)
        {
            let (i, ev, left) = if load {
                if next_load >= o.peers {
                    break;
                }
                let i = next_load;
                next_load += o.workers;
                let seed = peer(&o, i).2;
                (i, Event::Started, if seed { 0 } else { 1_000_000 })
            } else {
                let i = rng.next() % o.peers;
                let (e, l) = bench_event(rng.next(), peer(&o, i).2);
                (i, e, l)
            };
            let (t, port, _) = peer(&o, i);
            out.clear();
            UdpRequest::Announce(UdpAnnounce {
                connection_id: conn,
                transaction_id: i as u32,
                info_hash: hash(t),
                peer_id: peer_id(i),
                downloaded: 0,
                left,
                uploaded: 0,
                event: ev,
                ip: 0,
                key: i as u32,
                num_want: 50,
                port,
            })
            .write(&mut out);
            if sock.send(&out).is_err() {
                break;
            }
            in_flight += 1;
        }
        match sock.recv(&mut buf) {
            Ok(n) => {
                in_flight = in_flight.saturating_sub(1);
                if n >= 8 && buf[..4] == [0, 0, 0, 1] {
                    c.ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(_) => {
                c.lost.fetch_add(in_flight, Ordering::Relaxed);
                in_flight = 0;
            }
        }
    }
}

fn http_request(o: &Opts, i: u64, ev: Event, left: u64, close: bool) -> Vec<u8> {
    let (t, port, _) = peer(o, i);
    let mut q = String::from("GET /announce?info_hash=");
    bf_tracker::query::percent_encode(hash(t).as_bytes(), &mut q);
    q.push_str("&peer_id=");
    bf_tracker::query::percent_encode(peer_id(i).as_bytes(), &mut q);
    q.push_str(&format!(
        "&port={port}&uploaded=0&downloaded=0&left={left}&compact=1&numwant=50"
    ));
    if let Some(e) = ev.as_http() {
        q.push_str("&event=");
        q.push_str(e);
    }
    q.push_str(" HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if close {
        q.push_str("Connection: close\r\n");
    }
    q.push_str("\r\n");
    q.into_bytes()
}

/// Reads one response; `Ok(true)` if the server said or showed it will close.
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    let mut tmp = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp)?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            if !head.starts_with("http/1.1 200") {
                return Err(std::io::Error::other("status"));
            }
            return Ok(head.contains("connection: close"));
        }
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn http_worker(
    target: SocketAddr,
    o: Opts,
    w: u64,
    load: bool,
    stop: Arc<AtomicBool>,
    c: Arc<Counters>,
) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (w + 1).wrapping_mul(0x0001_2345_6789));
    let mut next_load = w;
    let mut conn: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(8192);
    loop {
        let (i, ev, left) = if load {
            if next_load >= o.peers {
                return;
            }
            let i = next_load;
            next_load += o.workers;
            (i, Event::Started, if peer(&o, i).2 { 0 } else { 1_000_000 })
        } else {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let i = rng.next() % o.peers;
            let (e, l) = bench_event(rng.next(), peer(&o, i).2);
            (i, e, l)
        };
        let req = http_request(&o, i, ev, left, o.http_close);
        // A kept-alive connection the server has closed fails here: reconnect and resend once.
        let mut done = false;
        for _ in 0..2 {
            let s = match conn.as_mut() {
                Some(s) => s,
                None => {
                    let Ok(s) = TcpStream::connect(target) else {
                        c.errors.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(10));
                        break;
                    };
                    let _ = s.set_nodelay(true);
                    c.reconnects.fetch_add(1, Ordering::Relaxed);
                    conn.insert(s)
                }
            };
            let r = s.write_all(&req).and_then(|_| read_response(s, &mut buf));
            match r {
                Ok(close) => {
                    if close || o.http_close {
                        conn = None;
                    }
                    done = true;
                    break;
                }
                Err(_) => conn = None,
            }
        }
        if done {
            c.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            c.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: loadgen hashes N | loadgen (load|bench) (udp|http)://HOST:PORT [--torrents N] [--peers N] [--secs S] [--workers N] [--window N] [--http-close]";
    if args.get(1).map(String::as_str) == Some("hashes") {
        let n: u64 = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for i in 0..n {
            writeln!(out, "{}", hash(i).to_hex()).unwrap();
        }
        return;
    }
    let mode = args.get(1).expect(usage).clone();
    let target = args.get(2).expect(usage).clone();
    let mut o = Opts {
        torrents: 100_000,
        peers: 1_000_000,
        secs: 20,
        workers: 0,
        window: 64,
        http_close: false,
    };
    let mut it = args[3..].iter();
    while let Some(a) = it.next() {
        let mut num = || it.next().and_then(|v| v.parse::<u64>().ok()).expect(usage);
        match a.as_str() {
            "--torrents" => o.torrents = num(),
            "--peers" => o.peers = num(),
            "--secs" => o.secs = num(),
            "--workers" => o.workers = num(),
            "--window" => o.window = num(),
            "--http-close" => o.http_close = true,
            _ => panic!("{usage}"),
        }
    }
    let (udp, addr) = if let Some(a) = target.strip_prefix("udp://") {
        (true, a)
    } else if let Some(a) = target.strip_prefix("http://") {
        (false, a)
    } else {
        panic!("{usage}")
    };
    let addr: SocketAddr = addr
        .trim_end_matches("/announce")
        .parse()
        .expect("HOST:PORT");
    if o.workers == 0 {
        o.workers = if udp { 2 } else { 32 };
    }
    let load = match mode.as_str() {
        "load" => true,
        "bench" => false,
        _ => panic!("{usage}"),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let c = Arc::new(Counters::default());
    let start = Instant::now();
    let handles: Vec<_> = (0..o.workers)
        .map(|w| {
            let (o, stop, c) = (o.clone(), stop.clone(), c.clone());
            std::thread::spawn(move || {
                if udp {
                    udp_worker(addr, o, w, load, stop, c)
                } else {
                    http_worker(addr, o, w, load, stop, c)
                }
            })
        })
        .collect();
    if !load {
        std::thread::sleep(Duration::from_secs(o.secs));
        stop.store(true, Ordering::Relaxed);
    }
    for h in handles {
        h.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let ok = c.ok.load(Ordering::Relaxed);
    println!(
        "mode={mode} proto={} announces={ok} secs={secs:.2} rate={:.0} errors={} lost={} connects={}",
        if udp { "udp" } else { "http" },
        ok as f64 / secs,
        c.errors.load(Ordering::Relaxed),
        c.lost.load(Ordering::Relaxed),
        c.reconnects.load(Ordering::Relaxed),
    );
}
