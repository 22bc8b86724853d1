//! bf-wire against a real peer: libtorrent-rasterbar 2.0 (python3-libtorrent) over loopback
//! TCP. Our codec and state machine download every block and the metadata (ut_metadata) from
//! a libtorrent seeder, and serve a whole torrent to a libtorrent downloader. Neither side may
//! see a protocol violation.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bf_bencode::Value;
use bf_metainfo::InfoHash;
use bf_testkit::{free_port, require_libtorrent, temp_dir, ChildGuard, SYSTEM_PYTHON};
use bf_wire::extended::UT_METADATA;
use bf_wire::{Bitfield, Block, Connection, Event, ExtendedHandshake, TorrentShape};
use bytes::{Bytes, BytesMut};
use common::*;

/// libtorrent in a child process; its stdout lines arrive on a channel.
struct Libtorrent {
    _child: ChildGuard,
    lines: mpsc::Receiver<String>,
}

impl Libtorrent {
    /// `mode` is "seed" (serve `save` on `port`) or "leech" (download into `save` from us at
    /// `peer_port`).
    fn start(dir: &Path, save: &Path, port: u16, mode: &str, peer_port: u16) -> Libtorrent {
        let script = r#"
import sys, time, libtorrent as lt
torrent, save, port, mode, peer_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
s = lt.session({
    'listen_interfaces': '127.0.0.1:%d' % port, 'outgoing_interfaces': '127.0.0.1',
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'allow_multiple_connections_per_ip': True,
    # Its outgoing connections start with MSE/PE encryption by default (and fall back to
    # plaintext only after a failed attempt); we speak plaintext BitTorrent.
    'out_enc_policy': int(lt.enc_policy.pe_disabled),
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
h = s.add_torrent(atp)
deadline = time.time() + 60
if mode == 'seed':
    while not h.status().is_seeding and time.time() < deadline:
        time.sleep(0.05)
    print('READY' if h.status().is_seeding else 'NOT-SEEDING', flush=True)
    while time.time() < deadline:
        time.sleep(0.2)
else:
    print('READY', flush=True)
    h.connect_peer(('127.0.0.1', peer_port))
    while not h.status().is_seeding and time.time() < deadline:
        time.sleep(0.05)
    print('DONE' if h.status().is_seeding else 'TIMEOUT', flush=True)
    time.sleep(1)
"#;
        let mut child = ChildGuard::spawn(
            Command::new(SYSTEM_PYTHON)
                .arg("-c")
                .arg(script)
                .arg(dir.join("t.torrent"))
                .arg(save)
                .arg(port.to_string())
                .arg(mode)
                .arg(peer_port.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let stdout = child.0.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Libtorrent {
            _child: child,
            lines,
        }
    }

    fn expect(&self, what: &str, timeout: Duration) {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => assert_eq!(line, what, "libtorrent said something else"),
            Err(e) => panic!("libtorrent did not say {what}: {e}"),
        }
    }
}

#[test]
fn download_blocks_and_metadata_from_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let dir = temp_dir();
    let (data, info_hash) = make_torrent(dir.path());
    let port = free_port();
    let lt = Libtorrent::start(dir.path(), dir.path(), port, "seed", 0);
    lt.expect("READY", Duration::from_secs(30));

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (theirs, mut buf) = exchange_handshakes(&mut stream, info_hash, deadline);
    assert!(theirs.reserved.extension_protocol() && theirs.reserved.fast());

    // Start as a magnet link would: no shape until the metadata is fetched and checked.
    let mut conn = Connection::new(config(), &theirs, None, Instant::now());
    assert!(conn.fast() && conn.extension_protocol());
    conn.send_extended_handshake(ExtendedHandshake {
        client: Some("BitFountain test".into()),
        ..ExtendedHandshake::default()
    })
    .unwrap();

    let mut metadata = None;
    drive(
        &mut stream,
        &mut conn,
        &mut buf,
        deadline,
        |c, ev| match ev {
            Event::ExtendedHandshake => {
                let hs = c.peer_extended_handshake().unwrap();
                assert!(hs.extension_id(UT_METADATA).is_some());
                assert!(hs.metadata_size.is_some());
                c.request_metadata(0, Instant::now()).unwrap();
                false
            }
            Event::MetadataData {
                piece, data: md, ..
            } => {
                assert_eq!(piece, 0);
                metadata = Some(md);
                true
            }
            Event::MetadataRejected(_) => panic!("libtorrent refused the metadata"),
            _ => false,
        },
    );
    let metadata = metadata.unwrap();
    assert_eq!(
        InfoHash::of(&metadata),
        info_hash,
        "metadata hashes to the info-hash"
    );
    let info = bf_bencode::decode(&metadata).unwrap();
    let piece_len = info
        .as_dict()
        .and_then(|d| d.get(b"piece length"))
        .and_then(Value::as_int)
        .unwrap();
    let shape = TorrentShape::new(piece_len as u32, FILE_LEN as u64).unwrap();
    conn.set_shape(shape).unwrap();
    assert!((0..shape.piece_count()).all(|p| conn.peer_has(p)));

    // Every block of every piece, compared with the file.
    fetch_every_block(&mut stream, &mut conn, &mut buf, &data, deadline);
}

#[test]
fn serve_a_torrent_to_libtorrent() {
    if !require_libtorrent() {
        return;
    }
    let dir = temp_dir();
    let (data, info_hash) = make_torrent(dir.path());
    let save = dir.path().join("download");
    std::fs::create_dir(&save).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let our_port = listener.local_addr().unwrap().port();
    let lt = Libtorrent::start(dir.path(), &save, free_port(), "leech", our_port);
    lt.expect("READY", Duration::from_secs(30));

    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "libtorrent never connected");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept failed: {e}"),
        }
    };
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = BytesMut::new();
    let theirs = read_handshake(&mut stream, &mut buf, deadline);
    assert_eq!(theirs.info_hash, info_hash);
    let mut out = BytesMut::new();
    our_handshake(info_hash).encode(&mut out);
    stream.write_all(&out).unwrap();

    let shape = TorrentShape::new(PIECE_LEN, FILE_LEN as u64).unwrap();
    let mut conn = Connection::new(config(), &theirs, Some(shape), Instant::now());
    conn.send_extended_handshake(ExtendedHandshake {
        reqq: Some(config().max_incoming_requests as u32),
        ..ExtendedHandshake::default()
    })
    .unwrap();
    conn.send_pieces(&Bitfield::full(shape.piece_count()))
        .unwrap();
    let mut served = 0usize;
    drive(&mut stream, &mut conn, &mut buf, deadline, |c, ev| {
        match ev {
            Event::Interested => c.unchoke(),
            Event::Request(r) => {
                let start = (r.piece * PIECE_LEN + r.begin) as usize;
                let block = Block {
                    piece: r.piece,
                    begin: r.begin,
                    data: Bytes::copy_from_slice(&data[start..start + r.length as usize]),
                };
                c.send_block(block).unwrap();
                served += r.length as usize;
            }
            _ => {}
        }
        served >= FILE_LEN
    });
    lt.expect("DONE", Duration::from_secs(30));
    assert_eq!(std::fs::read(save.join("data.bin")).unwrap(), data);
}
