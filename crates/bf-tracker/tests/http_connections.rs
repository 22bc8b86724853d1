//! How the HTTP listener handles connections: an announce already readable at accept is
//! answered on the accept thread, anything else (a head still arriving, keep-alive,
//! pipelining, the tail of an answer too big for the socket buffer) by a task; shutdown
//! closes the listener.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use bf_tracker::{ServerConfig, Tracker};

/// The info-hash of [`ANNOUNCE`], percent-encoded.
const ONES: &str = "%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01";
const ANNOUNCE: &str =
    "/announce?info_hash=%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01%01\
&peer_id=-BF0001-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=5";

async fn start() -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let cfg = ServerConfig {
        bind: "127.0.0.1".parse().unwrap(),
        port: bf_testkit::free_port(),
        log_requests: false,
        udp: false,
        // 3,000 announces from 127.0.0.1 as fast as they go: no per-address rate limit.
        limits: bf_tracker::Limits {
            requests_per_ip: 0,
            ..bf_tracker::Limits::default()
        },
        ..ServerConfig::default()
    };
    let t = Tracker::bind(cfg).await.unwrap();
    let addr = t.http_addr().unwrap();
    let (tx, h) = common::spawn(t);
    (addr, tx, h)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads one answer (head and Content-Length body); `None` at end of stream.
fn read_answer(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
        assert!(head.len() < 4096, "head too long");
    }
    let head = String::from_utf8(head).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    Some((head, body))
}

fn is_announce_answer((head, body): &(String, Vec<u8>)) -> bool {
    head.starts_with("HTTP/1.1 200")
        && body.starts_with(b"d")
        && body.windows(8).any(|w| w == b"interval")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_in_pieces_keep_alive_and_pipelining_are_all_answered() {
    let (addr, stop, h) = start().await;
    tokio::task::spawn_blocking(move || {
        // A head that arrives in three pieces: not readable in full at accept.
        let mut s = connect(addr);
        let req = format!("GET {ANNOUNCE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        for piece in [&req[..10], &req[10..60], &req[60..]] {
            s.write_all(piece.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(30));
        }
        let a = read_answer(&mut s).unwrap();
        assert!(is_announce_answer(&a), "{a:?}");
        assert!(a.0.contains("Connection: close"));
        assert!(read_answer(&mut s).is_none(), "closed after the answer");

        // Keep-alive: two requests one after the other on one connection.
        let mut s = connect(addr);
        for _ in 0..2 {
            write!(s, "GET {ANNOUNCE} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let a = read_answer(&mut s).unwrap();
            assert!(is_announce_answer(&a), "{a:?}");
            assert!(!a.0.contains("Connection: close"));
        }

        // Pipelined in one write, the second closing: both answered, then end of stream.
        let mut s = connect(addr);
        let two = format!(
            "GET {ANNOUNCE} HTTP/1.1\r\nHost: x\r\n\r\nGET /scrape?info_hash={ONES} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        s.write_all(two.as_bytes()).unwrap();
        assert!(is_announce_answer(&read_answer(&mut s).unwrap()));
        let (head, body) = read_answer(&mut s).unwrap();
        assert!(head.starts_with("HTTP/1.1 200") && body.starts_with(b"d5:files"));
        assert!(read_answer(&mut s).is_none());

        // A full scrape bigger than the socket buffer takes at once (3,000 torrents, ~200 KB):
        // the rest of the answer is written by a task.
        let mut s = connect(addr);
        for i in 0..3000u32 {
            let mut target = String::from("/announce?info_hash=");
            let mut hash = [7u8; 20];
            hash[..4].copy_from_slice(&i.to_be_bytes());
            bf_tracker::query::percent_encode(&hash, &mut target);
            target.push_str("&peer_id=-BF0001-abcdefghijkl&port=6881&left=1");
            write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            assert!(is_announce_answer(&read_answer(&mut s).unwrap()));
        }
        let mut s = connect(addr);
        write!(s, "GET /scrape HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let files = bf_tracker::http_codec::decode_scrape(&all[split..]).unwrap().files;
        assert!(files.len() >= 3000, "{} torrents in the full scrape", files.len());

        // The index page still goes through the router.
        let mut s = connect(addr);
        write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        assert!(page.starts_with("HTTP/1.1 200") && page.contains("<table"), "{page}");
    })
    .await
    .unwrap();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), h)
        .await
        .expect("run() returns after shutdown")
        .unwrap();
    // The accept thread has let go of the listening socket.
    let rebound =
        bf_testkit::wait_until(Duration::from_secs(3), || TcpListener::bind(addr).is_ok());
    assert!(rebound, "the port is free again after shutdown");
}
