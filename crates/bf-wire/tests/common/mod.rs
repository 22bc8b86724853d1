//! Shared by the interop tests: a test torrent, and our side of a connection driven over a
//! blocking loopback socket.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bf_bencode::{Dict, Value};
use bf_metainfo::{InfoHash, PeerId};
use bf_wire::{
    BlockRequest, Connection, ConnectionConfig, Decoder, Event, ExtendedHandshake, Handshake,
    Limits, LocalExtensions, PeerPieces, TorrentShape,
};
use bytes::BytesMut;

pub const PIECE_LEN: u32 = 32768;
pub const FILE_LEN: usize = 3 * PIECE_LEN as usize - 1234;

/// Writes `data.bin` (deterministic content) and `t.torrent` into `dir`: (file bytes, info-hash).
pub fn make_torrent(dir: &Path) -> (Vec<u8>, InfoHash) {
    let data: Vec<u8> = (0..FILE_LEN).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("data.bin"), &data).unwrap();
    let pieces: Vec<u8> = data
        .chunks(PIECE_LEN as usize)
        .flat_map(|c| InfoHash::of(c).0)
        .collect();
    let mut info = Dict::new();
    info.insert(&b"length"[..], FILE_LEN as i64);
    info.insert(&b"name"[..], "data.bin");
    info.insert(&b"piece length"[..], i64::from(PIECE_LEN));
    info.insert(&b"pieces"[..], Value::bytes(&pieces));
    let info_bytes = Value::Dict(info.clone()).to_bytes();
    let mut top = Dict::new();
    top.insert(&b"announce"[..], "http://127.0.0.1:1/announce");
    top.insert(&b"info"[..], info);
    std::fs::write(dir.join("t.torrent"), Value::Dict(top).to_bytes()).unwrap();
    (data, InfoHash::of(&info_bytes))
}

pub fn config() -> ConnectionConfig {
    ConnectionConfig {
        extensions: LocalExtensions::default(),
        ..ConnectionConfig::default()
    }
}

pub fn our_handshake(info_hash: InfoHash) -> Handshake {
    Handshake::new(info_hash, PeerId::azureus_style(b"BF", b"0100", &[7; 12]))
}

/// Reads the peer's handshake, leaving whatever follows it in `buf`.
pub fn read_handshake(stream: &mut TcpStream, buf: &mut BytesMut, deadline: Instant) -> Handshake {
    let mut decoder = Decoder::new(Limits::default(), LocalExtensions::default());
    loop {
        if let Some(hs) = decoder.decode_handshake(buf).unwrap() {
            return hs;
        }
        read_some(stream, buf, deadline);
    }
}

pub fn read_some(stream: &mut TcpStream, buf: &mut BytesMut, deadline: Instant) {
    assert!(Instant::now() < deadline, "timed out");
    let mut tmp = [0u8; 65536];
    match stream.read(&mut tmp) {
        Ok(0) => panic!("the peer closed the connection"),
        Ok(n) => buf.extend_from_slice(&tmp[..n]),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        Err(e) => panic!("read failed: {e}"),
    }
}

/// Runs the connection until `on_event` says it is done.
pub fn drive(
    stream: &mut TcpStream,
    conn: &mut Connection,
    buf: &mut BytesMut,
    deadline: Instant,
    mut on_event: impl FnMut(&mut Connection, Event) -> bool,
) {
    loop {
        let now = Instant::now();
        conn.receive(buf, now).unwrap();
        while let Some(ev) = conn.poll_event() {
            if on_event(conn, ev) {
                flush(stream, conn);
                return;
            }
        }
        flush(stream, conn);
        read_some(stream, buf, deadline);
    }
}

pub fn flush(stream: &mut TcpStream, conn: &mut Connection) {
    let mut out = BytesMut::new();
    conn.encode_pending(&mut out, Instant::now());
    stream.write_all(&out).unwrap();
}

/// Sends as many of `wanted` as the peer lets us (it may still choke us).
pub fn request_all(c: &mut Connection, wanted: &mut Vec<BlockRequest>) {
    while let Some(r) = wanted.pop() {
        if let Err(e) = c.request(r, Instant::now()) {
            wanted.push(r);
            assert_eq!(e, bf_wire::SendError::Choked);
            break;
        }
    }
}

/// Every block of the torrent, as requests.
pub fn all_blocks(shape: &TorrentShape) -> Vec<BlockRequest> {
    (0..shape.piece_count())
        .flat_map(|p| {
            let len = shape.piece_len(p).unwrap_or(0);
            (0..len.div_ceil(16384))
                .map(move |b| BlockRequest::new(p, b * 16384, (len - b * 16384).min(16384)))
        })
        .collect()
}

/// Connects to a seeder at `port` (retrying until it has every piece) and downloads every
/// block of the test torrent, checking each against `data`.
pub fn download_all_from(port: u16, info_hash: InfoHash, data: &[u8], timeout: Duration) {
    let deadline = Instant::now() + timeout;
    let shape = TorrentShape::new(PIECE_LEN, FILE_LEN as u64).unwrap();
    let (mut stream, mut conn, mut buf) = loop {
        assert!(
            Instant::now() < deadline,
            "the seeder never offered every piece"
        );
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        };
        let (mut conn, mut buf) = open_session(&mut stream, info_hash, shape, deadline);
        // Wait (bounded) for its piece set; a seeder still checking its files has none yet.
        let seen_by = Instant::now() + Duration::from_secs(3);
        let mut complete = false;
        while Instant::now() < seen_by && !complete {
            conn.receive(&mut buf, Instant::now()).unwrap();
            while conn.poll_event().is_some() {}
            complete = match conn.peer_pieces() {
                PeerPieces::All => true,
                PeerPieces::Some(b) => b.is_full(),
                _ => false,
            };
            flush(&mut stream, &mut conn);
            if !complete {
                read_some(&mut stream, &mut buf, deadline);
            }
        }
        if complete {
            break (stream, conn, buf);
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    fetch_every_block(&mut stream, &mut conn, &mut buf, data, deadline);
}

/// Sends our handshake for `info_hash` and reads the peer's (checked to be for the same
/// torrent); returns it and whatever arrived after it.
pub fn exchange_handshakes(
    stream: &mut TcpStream,
    info_hash: InfoHash,
    deadline: Instant,
) -> (Handshake, BytesMut) {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut out = BytesMut::new();
    our_handshake(info_hash).encode(&mut out);
    stream.write_all(&out).unwrap();
    let mut buf = BytesMut::new();
    let theirs = read_handshake(stream, &mut buf, deadline);
    assert_eq!(theirs.info_hash, info_hash);
    (theirs, buf)
}

/// Sends our handshake on a connected `stream`, reads the peer's (which must be for
/// `info_hash`) and starts a [`Connection`], with our extended handshake if both speak BEP 10.
pub fn open_session(
    stream: &mut TcpStream,
    info_hash: InfoHash,
    shape: TorrentShape,
    deadline: Instant,
) -> (Connection, BytesMut) {
    let (theirs, buf) = exchange_handshakes(stream, info_hash, deadline);
    let mut conn = Connection::new(config(), &theirs, Some(shape), Instant::now());
    if conn.extension_protocol() {
        conn.send_extended_handshake(ExtendedHandshake::default())
            .unwrap();
    }
    (conn, buf)
}

/// Requests every block of the torrent `conn` knows the shape of, re-asking for rejected and
/// choke-dropped ones, and checks each block against `data`, until all have arrived.
pub fn fetch_every_block(
    stream: &mut TcpStream,
    conn: &mut Connection,
    buf: &mut BytesMut,
    data: &[u8],
    deadline: Instant,
) {
    let Some(shape) = conn.shape().copied() else {
        panic!("the torrent's shape must be known before fetching blocks");
    };
    let mut wanted = all_blocks(&shape);
    let total = wanted.len();
    let mut got = 0;
    conn.interested();
    request_all(conn, &mut wanted);
    drive(stream, conn, buf, deadline, |c, ev| {
        match ev {
            Event::Unchoked | Event::AllowedFast(_) => request_all(c, &mut wanted),
            Event::Block(b) => {
                let start = (b.piece * shape.piece_length() + b.begin) as usize;
                assert_eq!(&b.data[..], &data[start..start + b.data.len()]);
                got += 1;
            }
            Event::Rejected(r) => {
                wanted.push(r);
                request_all(c, &mut wanted);
            }
            Event::Choked { dropped, .. } => wanted.extend(dropped),
            _ => {}
        }
        got == total
    });
    assert_eq!(got, total, "every block arrived");
}

/// Connects to a downloader at `port` (retrying until it listens) as a seeder of the test
/// torrent and serves every block it asks for until `done()` says it has finished.
pub fn serve_all_to(
    port: u16,
    info_hash: InfoHash,
    data: &[u8],
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + timeout;
    let shape = TorrentShape::new(PIECE_LEN, FILE_LEN as u64).unwrap();
    let mut stream = loop {
        assert!(Instant::now() < deadline, "the downloader never listened");
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let (mut conn, mut buf) = open_session(&mut stream, info_hash, shape, deadline);
    conn.send_pieces(&bf_wire::Bitfield::full(shape.piece_count()))
        .unwrap();
    loop {
        let now = Instant::now();
        conn.receive(&mut buf, now).unwrap();
        while let Some(ev) = conn.poll_event() {
            match ev {
                Event::Interested => conn.unchoke(),
                Event::Request(r) => {
                    let start = (r.piece * PIECE_LEN + r.begin) as usize;
                    let block = bf_wire::Block {
                        piece: r.piece,
                        begin: r.begin,
                        data: bytes::Bytes::copy_from_slice(
                            &data[start..start + r.length as usize],
                        ),
                    };
                    conn.send_block(block).unwrap();
                }
                _ => {}
            }
        }
        flush(&mut stream, &mut conn);
        if done() {
            return;
        }
        assert!(Instant::now() < deadline, "the downloader did not finish");
        let mut tmp = [0u8; 65536];
        match stream.read(&mut tmp) {
            // The downloader may hang up once it is complete; `done()` decides.
            Ok(0) => std::thread::sleep(Duration::from_millis(100)),
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
            Err(_) => {}
        }
    }
}
