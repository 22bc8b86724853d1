//! Hostile peers against real sessions over loopback: a raw socket speaking the protocol with
//! bf-wire's codecs sends each kind of bad input to a bf seeder and to a bf downloader. The
//! session must cut the connection off (EOF or reset on the socket, the peer gone from the
//! torrent's events and status), ban senders of wrong data, never panic, never write a wrong
//! byte, and still complete the download from an honest peer, byte for byte.
#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bf_client::{AddTorrent, Session, TorrentEvent, TorrentHandle, TorrentSource};
use bf_metainfo::{InfoHash, Metainfo};
use bf_wire::{Bitfield, Block, BlockRequest, Message};
use bytes::{BufMut, Bytes, BytesMut};
use support::{fake_seed, raw_id, Answer, RawPeer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// 20 pieces of 32 KiB (two blocks each), the last one short: the bitfield has spare bits.
const PIECE: u64 = 32 << 10;
const LEN: usize = 20 * (32 << 10) - 1000;
const CUT_OFF: Duration = Duration::from_secs(5);

fn encode(messages: &[Message]) -> Vec<u8> {
    let mut b = BytesMut::new();
    for m in messages {
        m.encode(&mut b);
    }
    b.to_vec()
}

async fn seeder(dir: &std::path::Path) -> (Vec<u8>, Arc<Metainfo>, Session, TorrentHandle) {
    let (data, meta) = common::make_torrent(dir, "payload.bin", LEN, PIECE, &[]);
    let (s, h) = common::seed_from(dir, &meta).await;
    (data, meta, s, h)
}

/// An honest bf downloader fetches the torrent from `from`; the data must match.
async fn honest_download(
    dir: &std::path::Path,
    meta: &Arc<Metainfo>,
    from: SocketAddr,
    data: &[u8],
) {
    let s = support::session(None).await;
    let out = dir.join("honest/payload.bin");
    let h = s
        .add_torrent(
            AddTorrent::new(TorrentSource::Metainfo(meta.clone()))
                .save_as(&out)
                .peer(from),
        )
        .await
        .unwrap();
    support::complete(&h, Duration::from_secs(30)).await;
    assert_eq!(std::fs::read(&out).unwrap(), data);
    s.shutdown().await;
}

/// Waits for the events of one peer connecting and leaving.
async fn saw_connect_and_disconnect(
    rx: &mut tokio::sync::broadcast::Receiver<TorrentEvent>,
    addr: SocketAddr,
    what: &str,
) {
    let ev = support::wait_event(
        rx,
        CUT_OFF,
        |e| matches!(e, TorrentEvent::PeerDisconnected(a) if *a == addr),
    )
    .await;
    assert!(ev.is_some(), "{what}: no PeerDisconnected({addr}) event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeder_cuts_off_every_malformed_peer_and_keeps_serving() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta, seed_session, seed) = seeder(dir.path()).await;
    let addr = seed_session.listen_addr();
    let hash = meta.info_hash();
    let n = meta.piece_count();
    assert_eq!(n, 20);
    let zeros = Bytes::from(vec![0u8; 3]);
    let first_piece = Bytes::from(vec![0x80u8, 0, 0]);

    // 1. Not BitTorrent at all, and a handshake for another torrent: closed before any
    //    peer is registered, and nothing but (at most) our own handshake comes back.
    let mut events = seed.events();
    for (what, first) in [
        (
            "garbage instead of a handshake",
            bf_testkit::pseudo_random_bytes(68, 7),
        ),
        (
            "a handshake for another torrent",
            bf_wire::Handshake::new(InfoHash([0xee; 20]), raw_id(99))
                .to_bytes()
                .to_vec(),
        ),
    ] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&first).await.unwrap();
        let mut got = Vec::new();
        let closed = tokio::time::timeout(CUT_OFF, async {
            let mut buf = [0u8; 4096];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(k) => got.extend_from_slice(&buf[..k]),
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "{what}: not closed");
        assert!(
            got.is_empty(),
            "{what}: the session answered {} bytes",
            got.len()
        );
    }

    // 2. After a valid handshake: every kind of bad message.
    let garbage = bf_testkit::pseudo_random_bytes(4096, 11);
    // The garbage's first length prefix is beyond every limit: it is refused at once.
    assert!(u32::from_be_bytes(garbage[..4].try_into().unwrap()) > 1 << 20);
    let mut oversized = BytesMut::new();
    oversized.put_u32(0x7fff_ff00);
    oversized.put_u8(7);
    let mut piece_too_long = BytesMut::new();
    piece_too_long.put_u32(9 + 16 * 1024 + 1);
    piece_too_long.put_u8(7);
    let mut have_wrong_len = BytesMut::new();
    have_wrong_len.put_u32(3);
    have_wrong_len.put_u8(4);
    have_wrong_len.put_u16(0);
    let mut spare = Bitfield::new(n).as_bytes().to_vec();
    spare[2] |= 0x01; // bit 23: past piece 19
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random garbage", garbage),
        ("an oversized length prefix", oversized.to_vec()),
        ("a PIECE longer than a block", piece_too_long.to_vec()),
        ("a HAVE of the wrong length", have_wrong_len.to_vec()),
        // A late bitfield that only adds pieces is taken as HAVEs (aria2 sends them in
        // place of HAVEs); one that takes back a piece is a violation.
        (
            "a late bitfield taking back a piece it announced",
            encode(&[Message::Have(0), Message::Bitfield(zeros.clone())]),
        ),
        (
            "a second bitfield taking back a piece",
            encode(&[
                Message::Bitfield(first_piece.clone()),
                Message::Bitfield(zeros.clone()),
            ]),
        ),
        (
            "HAVE NONE after a bitfield",
            encode(&[Message::Bitfield(zeros.clone()), Message::HaveNone]),
        ),
        (
            "a bitfield of the wrong length",
            encode(&[Message::Bitfield(Bytes::from(vec![0u8; 4]))]),
        ),
        (
            "a bitfield with spare bits set",
            encode(&[Message::Bitfield(Bytes::from(spare))]),
        ),
        (
            "a HAVE past the last piece",
            encode(&[Message::HaveNone, Message::Have(n)]),
        ),
        (
            "a request for a piece past the last",
            encode(&[
                Message::HaveNone,
                Message::Interested,
                Message::Request(BlockRequest::new(n, 0, 16384)),
            ]),
        ),
        (
            "a request past the end of its piece",
            encode(&[
                Message::HaveNone,
                Message::Interested,
                Message::Request(BlockRequest::new(0, PIECE as u32 - 100, 16384)),
            ]),
        ),
        (
            "a request past the end of the short last piece",
            encode(&[
                Message::HaveNone,
                Message::Interested,
                Message::Request(BlockRequest::new(n - 1, 16384, 16384)),
            ]),
        ),
        (
            "a request of length zero",
            encode(&[
                Message::HaveNone,
                Message::Interested,
                Message::Request(BlockRequest::new(0, 0, 0)),
            ]),
        ),
        (
            "a block the seeder never asked for",
            encode(&[
                Message::HaveNone,
                Message::Piece(Block {
                    piece: 0,
                    begin: 0,
                    data: Bytes::from(vec![0u8; 16384]),
                }),
            ]),
        ),
        (
            "a reject of a request never sent",
            encode(&[
                Message::HaveNone,
                Message::Reject(BlockRequest::new(0, 0, 16384)),
            ]),
        ),
    ];
    for (i, (what, bytes)) in cases.iter().enumerate() {
        let mut p = RawPeer::dial(addr, hash, raw_id(i as u8), n).await;
        assert_eq!(p.theirs.info_hash, hash);
        p.send_raw(bytes).await;
        assert!(p.expect_closed(CUT_OFF).await, "{what}: not cut off");
        saw_connect_and_disconnect(&mut events, p.local, what).await;
    }

    // The seeder still counts no peer, still seeds, and serves an honest downloader.
    let st = support::wait_status(&seed, Duration::from_secs(5), |s| s.peers == 0).await;
    assert!(st.is_ok(), "peers left connected: {st:?}");
    assert_eq!(seed.status().state, bf_client::TorrentState::Seeding);
    honest_download(dir.path(), &meta, addr, &data).await;
    seed_session.shutdown().await;
    support::assert_no_engine_panics();
}

/// A downloader and the fake peers it dials.
struct Downloader {
    session: Session,
    handle: TorrentHandle,
    out: std::path::PathBuf,
}

impl Downloader {
    /// Waits for the download to complete and checks its bytes.
    async fn completes_with(&self, data: &[u8]) {
        support::complete(&self.handle, Duration::from_secs(30)).await;
        assert_eq!(std::fs::read(&self.out).unwrap(), data);
    }

    /// Shuts the downloader and `seeder` down; no engine task may have panicked.
    async fn close(self, seeder: Session) {
        self.session.shutdown().await;
        seeder.shutdown().await;
        support::assert_no_engine_panics();
    }
}

async fn downloader(dir: &std::path::Path, meta: &Arc<Metainfo>) -> Downloader {
    let session = support::session(None).await;
    let out = dir.join("dl/payload.bin");
    let handle = session
        .add_torrent(AddTorrent::new(TorrentSource::Metainfo(meta.clone())).save_as(&out))
        .await
        .unwrap();
    Downloader {
        session,
        handle,
        out,
    }
}

impl Downloader {
    /// Has the downloader dial a fresh listener; our end of that connection.
    async fn dials_us(&self, id: u8) -> RawPeer {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.handle.add_peers(vec![l.local_addr().unwrap()]).await;
        let n = self.handle.metainfo().piece_count();
        RawPeer::accept(&l, raw_id(id), n).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downloader_cuts_off_malformed_peers_and_completes_from_an_honest_one() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta, seed_session, _seed) = seeder(dir.path()).await;
    let n = meta.piece_count();
    let d = downloader(dir.path(), &meta).await;
    let mut events = d.handle.events();

    // A block before we even unchoked: nothing can have asked for it.
    let mut p = d.dials_us(1).await;
    p.send(&[
        Message::HaveAll,
        Message::Piece(Block {
            piece: 0,
            begin: 0,
            data: Bytes::from(data[..16384].to_vec()),
        }),
    ])
    .await;
    assert!(
        p.expect_closed(CUT_OFF).await,
        "unrequested block: not cut off"
    );
    saw_connect_and_disconnect(&mut events, p.local, "unrequested block").await;

    // A block one byte shorter than requested: not the block that was asked for.
    let mut p = d.dials_us(2).await;
    p.send(&[Message::HaveAll, Message::Unchoke]).await;
    let Some(Message::Request(r)) = p
        .wait_for(CUT_OFF, |m| matches!(m, Message::Request(_)))
        .await
    else {
        panic!("no request from the downloader");
    };
    let at = (u64::from(r.piece) * PIECE + u64::from(r.begin)) as usize;
    p.send(&[Message::Piece(Block {
        piece: r.piece,
        begin: r.begin,
        data: Bytes::from(data[at..at + r.length as usize - 1].to_vec()),
    })])
    .await;
    assert!(p.expect_closed(CUT_OFF).await, "short block: not cut off");
    saw_connect_and_disconnect(&mut events, p.local, "short block").await;

    // Garbage in the middle of a healthy exchange.
    let mut p = d.dials_us(3).await;
    p.send(&[Message::HaveAll, Message::Unchoke]).await;
    assert!(p
        .wait_for(CUT_OFF, |m| matches!(m, Message::Request(_)))
        .await
        .is_some());
    p.send_raw(&bf_testkit::pseudo_random_bytes(1000, 12)).await;
    assert!(p.expect_closed(CUT_OFF).await, "garbage: not cut off");
    saw_connect_and_disconnect(&mut events, p.local, "garbage").await;

    // A request for a piece the downloader lacks is refused (BEP 6 REJECT), never served,
    // and the connection stays usable; a request outside the torrent then cuts it off.
    let mut p = d.dials_us(4).await;
    p.send(&[Message::HaveNone, Message::Interested]).await;
    assert!(
        p.wait_for(CUT_OFF, |m| *m == Message::Unchoke)
            .await
            .is_some(),
        "the downloader did not unchoke an interested peer"
    );
    for piece in [0, 7] {
        let r = BlockRequest::new(piece, 0, 16384);
        p.send(&[Message::KeepAlive, Message::Request(r)]).await;
        let answer = p
            .wait_for(CUT_OFF, |m| {
                matches!(m, Message::Reject(_) | Message::Piece(_))
            })
            .await;
        assert_eq!(
            answer,
            Some(Message::Reject(r)),
            "request for a lacking piece"
        );
    }
    p.send(&[Message::Request(BlockRequest::new(n + 5, 0, 16384))])
        .await;
    assert!(
        p.expect_closed(CUT_OFF).await,
        "out-of-range request: not cut off"
    );
    saw_connect_and_disconnect(&mut events, p.local, "out-of-range request").await;

    // None of that reached the disk; an honest seeder completes the download.
    assert_eq!(d.handle.status().pieces_have, 0);
    d.handle.add_peers(vec![seed_session.listen_addr()]).await;
    d.completes_with(&data).await;
    assert_eq!(d.handle.status().hash_failures, 0);
    d.close(seed_session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_pieces_fail_their_hash_twice_is_banned_and_nothing_wrong_is_written() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta, seed_session, _seed) = seeder(dir.path()).await;
    let n = meta.piece_count();
    let d = downloader(dir.path(), &meta).await;
    let mut events = d.handle.events();

    // A fake seeder that corrupts every block it sends.
    let liar = d.dials_us(1).await;
    let liar_addr = liar.local;
    let served = tokio::spawn(fake_seed(
        liar,
        data.clone(),
        PIECE,
        Duration::from_secs(20),
        |_| Answer::Corrupt,
    ));
    let banned = support::wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, TorrentEvent::PeerBanned { .. })
    })
    .await;
    let Some(TorrentEvent::PeerBanned { addr, reason }) = banned else {
        panic!("the liar was not banned: {:?}", d.handle.status());
    };
    assert_eq!(addr, liar_addr);
    assert!(reason.contains("two pieces"), "{reason}");
    let served = served.await.unwrap();
    assert!(served.closed, "the banned peer's connection stayed open");
    assert!(!served.requests.is_empty());

    // Not a byte of its data is on disk: the file is still all zeros (sparse).
    let st = support::wait_status(&d.handle, Duration::from_secs(5), |s| {
        s.hash_failures >= 2 && s.peers == 0
    })
    .await;
    assert!(st.is_ok(), "{st:?}");
    assert_eq!(d.handle.status().pieces_have, 0);
    let on_disk = std::fs::read(&d.out).unwrap();
    assert!(
        on_disk.iter().all(|&b| b == 0),
        "a wrong byte reached the disk"
    );

    // The ban holds: the same peer dialling in is dropped right after the handshakes.
    let mut again = RawPeer::dial(d.session.listen_addr(), meta.info_hash(), raw_id(1), n).await;
    assert!(
        again.expect_closed(CUT_OFF).await,
        "a banned peer was let back in"
    );

    // An honest seeder completes the download, byte for byte; it is not blamed.
    d.handle.add_peers(vec![seed_session.listen_addr()]).await;
    d.completes_with(&data).await;
    let more_bans = support::wait_event(&mut events, Duration::from_millis(10), |e| {
        matches!(e, TorrentEvent::PeerBanned { .. })
    })
    .await;
    assert!(
        more_bans.is_none(),
        "an honest peer was banned: {more_bans:?}"
    );
    d.close(seed_session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_piece_is_refetched_from_another_peer_and_the_liar_banned() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta, seed_session, _seed) = seeder(dir.path()).await;
    let n = meta.piece_count();
    let d = downloader(dir.path(), &meta).await;
    let mut events = d.handle.events();

    // A fake seeder that corrupts the blocks of the first piece it is asked for, once, and
    // serves every other piece honestly; asked for that piece again it stays silent.
    let liar = d.dials_us(1).await;
    let liar_addr = liar.local;
    let target: Arc<Mutex<Option<(u32, usize)>>> = Arc::new(Mutex::new(None));
    let t = target.clone();
    let blocks_per_piece = (PIECE / 16384) as usize;
    let served = tokio::spawn(fake_seed(
        liar,
        data.clone(),
        PIECE,
        Duration::from_secs(30),
        move |r| {
            let mut g = t.lock().unwrap();
            let (piece, corrupted) = g.get_or_insert((r.piece, 0));
            if r.piece != *piece {
                return Answer::Honest;
            }
            if *corrupted < blocks_per_piece {
                *corrupted += 1;
                Answer::Corrupt
            } else {
                Answer::Ignore
            }
        },
    ));
    let failed = support::wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, TorrentEvent::HashFailed { .. })
    })
    .await;
    let Some(TorrentEvent::HashFailed { piece }) = failed else {
        panic!("no hash failure: {:?}", d.handle.status());
    };
    assert_eq!(Some(piece), target.lock().unwrap().map(|(p, _)| p));
    // Everything else arrives from the liar; the failed piece cannot.
    let st = support::wait_status(&d.handle, Duration::from_secs(15), |s| {
        s.pieces_have == n - 1
    })
    .await;
    assert!(st.is_ok(), "{st:?}");

    // An honest seeder joins: the piece comes from it, and comparing the blocks names the
    // liar, who is banned although one strike is below the ban threshold.
    d.handle.add_peers(vec![seed_session.listen_addr()]).await;
    let banned = support::wait_event(&mut events, Duration::from_secs(15), |e| {
        matches!(e, TorrentEvent::PeerBanned { .. })
    })
    .await;
    let Some(TorrentEvent::PeerBanned { addr, reason }) = banned else {
        panic!("the liar was not banned: {:?}", d.handle.status());
    };
    assert_eq!(addr, liar_addr);
    assert!(reason.contains("differs"), "{reason}");
    let served = served.await.unwrap();
    assert!(served.closed, "the banned peer's connection stayed open");
    d.completes_with(&data).await;
    assert_eq!(d.handle.status().hash_failures, 1);
    d.close(seed_session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_peers_blocks_are_dropped_from_unfinished_pieces() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta, seed_session, _seed) = seeder(dir.path()).await;
    let d = downloader(dir.path(), &meta).await;
    let mut events = d.handle.events();

    // The liar collects the downloader's first requests (two blocks per piece) ...
    let mut liar = d.dials_us(1).await;
    let liar_addr = liar.local;
    liar.send(&[Message::HaveAll, Message::Unchoke]).await;
    let mut requests: Vec<BlockRequest> = Vec::new();
    let deadline = tokio::time::Instant::now() + CUT_OFF;
    while tokio::time::Instant::now() < deadline {
        let mut pieces: Vec<u32> = requests.iter().map(|r| r.piece).collect();
        pieces.dedup();
        if pieces.len() >= 6 && requests.iter().filter(|r| r.piece == pieces[5]).count() == 2 {
            break;
        }
        match liar.recv(Duration::from_millis(200)).await {
            support::Recv::Msg(Message::Request(r)) => requests.push(r),
            support::Recv::Msg(_) | support::Recv::Timeout => {}
            support::Recv::Closed => panic!("closed early"),
        }
    }
    let mut pieces: Vec<u32> = requests.iter().map(|r| r.piece).collect();
    pieces.dedup();
    assert!(pieces.len() >= 6, "too few requests: {requests:?}");
    let corrupt = |r: &BlockRequest| {
        let at = (u64::from(r.piece) * PIECE + u64::from(r.begin)) as usize;
        Message::Piece(Block {
            piece: r.piece,
            begin: r.begin,
            data: Bytes::from(
                data[at..at + r.length as usize]
                    .iter()
                    .map(|b| !b)
                    .collect::<Vec<u8>>(),
            ),
        })
    };
    let of = |p: u32| -> Vec<Message> {
        requests
            .iter()
            .filter(|r| r.piece == p)
            .map(corrupt)
            .collect()
    };
    // ... sends one wrong piece whole, the first block of four more pieces (wrong too),
    // then a second wrong piece whole: its second strike.
    liar.send(&of(pieces[0])).await;
    for &p in &pieces[2..6] {
        liar.send(&of(p)[..1]).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    liar.send(&of(pieces[1])).await;
    let banned = support::wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, TorrentEvent::PeerBanned { .. })
    })
    .await;
    assert!(
        matches!(&banned, Some(TorrentEvent::PeerBanned { addr, .. }) if *addr == liar_addr),
        "{banned:?}"
    );
    assert!(liar.expect_closed(CUT_OFF).await);

    // The honest seeder completes the four half-done pieces; the liar's blocks in them must
    // not count against it.
    d.handle.add_peers(vec![seed_session.listen_addr()]).await;
    let done = tokio::time::timeout(Duration::from_secs(20), d.handle.wait_complete()).await;
    let wrongly_banned = support::wait_event(&mut events, Duration::from_millis(10), |e| {
        matches!(e, TorrentEvent::PeerBanned { .. })
    })
    .await;
    assert!(
        wrongly_banned.is_none(),
        "the honest seeder was banned: {wrongly_banned:?}"
    );
    assert!(matches!(done, Ok(Ok(()))), "{:?}", d.handle.status());
    assert_eq!(std::fs::read(&d.out).unwrap(), data);
    // Only the liar's two whole pieces failed: its blocks in the others were dropped.
    assert_eq!(d.handle.status().hash_failures, 2);
    d.close(seed_session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_left_behind_by_a_peer_that_left_do_not_get_an_honest_peer_banned() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta, seed_session, _seed) = seeder(dir.path()).await;
    let d = downloader(dir.path(), &meta).await;
    let mut events = d.handle.events();

    // The liar answers the first block of four pieces wrongly, then hangs up by itself.
    let mut liar = d.dials_us(1).await;
    liar.send(&[Message::HaveAll, Message::Unchoke]).await;
    let mut requests: Vec<BlockRequest> = Vec::new();
    let deadline = tokio::time::Instant::now() + CUT_OFF;
    while tokio::time::Instant::now() < deadline
        && requests.iter().filter(|r| r.begin == 0).count() < 4
    {
        if let support::Recv::Msg(Message::Request(r)) = liar.recv(Duration::from_millis(200)).await
        {
            requests.push(r);
        }
    }
    let firsts: Vec<BlockRequest> = requests.into_iter().filter(|r| r.begin == 0).collect();
    assert!(firsts.len() >= 4);
    for r in &firsts[..4] {
        let at = (u64::from(r.piece) * PIECE) as usize;
        let wrong: Vec<u8> = data[at..at + r.length as usize]
            .iter()
            .map(|b| !b)
            .collect();
        liar.send(&[Message::Piece(Block {
            piece: r.piece,
            begin: 0,
            data: Bytes::from(wrong),
        })])
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(liar);
    let st = support::wait_status(&d.handle, CUT_OFF, |s| s.peers == 0).await;
    assert!(st.is_ok(), "{st:?}");

    d.handle.add_peers(vec![seed_session.listen_addr()]).await;
    let done = tokio::time::timeout(Duration::from_secs(20), d.handle.wait_complete()).await;
    let wrongly_banned = support::wait_event(&mut events, Duration::from_millis(10), |e| {
        matches!(e, TorrentEvent::PeerBanned { .. })
    })
    .await;
    assert!(
        wrongly_banned.is_none(),
        "the honest seeder was banned: {wrongly_banned:?}"
    );
    assert!(matches!(done, Ok(Ok(()))), "{:?}", d.handle.status());
    assert_eq!(std::fs::read(&d.out).unwrap(), data);
    d.close(seed_session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_liar_mixing_its_blocks_with_an_honest_peer_does_not_get_it_banned() {
    support::watch_panics();
    let dir = bf_testkit::temp_dir();
    let (data, meta, seed_session, _seed) = seeder(dir.path()).await;
    let d = downloader(dir.path(), &meta).await;
    let mut events = d.handle.events();

    // The liar answers the first block of two pieces wrongly and stalls every other request,
    // so the honest seeder ends up sending the rest of those two pieces.
    let liar = d.dials_us(1).await;
    let liar_addr = liar.local;
    let wrong: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(Vec::new()));
    let w = wrong.clone();
    let served = tokio::spawn(fake_seed(
        liar,
        data.clone(),
        PIECE,
        Duration::from_secs(25),
        move |r| {
            let mut w = w.lock().unwrap();
            if r.begin == 0 && w.len() < 2 && !w.contains(&r.piece) {
                w.push(r.piece);
                Answer::Corrupt
            } else {
                Answer::Ignore
            }
        },
    ));
    assert!(bf_testkit::wait_until(Duration::from_secs(5), || wrong
        .lock()
        .unwrap()
        .len()
        == 2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    d.handle.add_peers(vec![seed_session.listen_addr()]).await;
    let done = tokio::time::timeout(Duration::from_secs(20), d.handle.wait_complete()).await;
    let mut banned = Vec::new();
    while let Some(TorrentEvent::PeerBanned { addr, .. }) =
        support::wait_event(&mut events, Duration::from_millis(10), |e| {
            matches!(e, TorrentEvent::PeerBanned { .. })
        })
        .await
    {
        banned.push(addr);
    }
    assert_eq!(banned, vec![liar_addr], "who was banned");
    assert!(matches!(done, Ok(Ok(()))), "{:?}", d.handle.status());
    assert_eq!(std::fs::read(&d.out).unwrap(), data);
    assert!(served.await.unwrap().closed);
    d.close(seed_session).await;
}
