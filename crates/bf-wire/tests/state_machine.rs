//! The connection state machine, driven message by message and as two connected peers.
#![allow(clippy::unwrap_used)]

#[path = "shared/engine_actions.rs"]
mod engine_actions;

use std::time::{Duration, Instant};

use bf_metainfo::{InfoHash, PeerId};
use bf_wire::extended::{BF_RAPTORQ, SYMBOL_SIZE, UT_METADATA};
use bf_wire::{
    Bitfield, Block, BlockRequest, Connection, ConnectionConfig, Event, Extended,
    ExtendedHandshake, FountainMessage, FountainParams, Handshake, Message, MetadataMessage,
    PeerPieces, ProtocolError, Reserved, SendError, SymbolRange, TorrentShape,
};
use bytes::{Bytes, BytesMut};

const PIECE: u32 = 4 * 16384;

/// Five pieces of 64 KiB, the last one 1000 bytes.
fn shape() -> TorrentShape {
    TorrentShape::new(PIECE, 4 * u64::from(PIECE) + 1000).unwrap()
}

fn handshake(reserved: Reserved) -> Handshake {
    Handshake {
        reserved,
        info_hash: InfoHash([1; 20]),
        peer_id: PeerId([2; 20]),
    }
}

fn conn_with(peer_reserved: Reserved, shape: Option<TorrentShape>) -> Connection {
    Connection::new(
        ConnectionConfig::default(),
        &handshake(peer_reserved),
        shape,
        Instant::now(),
    )
}

fn conn(fast: bool) -> Connection {
    conn_with(Reserved::bitfountain().with_fast(fast), Some(shape()))
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Events with data payloads shortened to their first byte and length, for readable failures.
fn brief(events: Vec<Event>) -> Vec<String> {
    let short = |d: &Bytes| format!("{}x{}", d.first().copied().unwrap_or(0), d.len());
    events
        .into_iter()
        .map(|e| match e {
            Event::Symbol { piece, esi, data } => format!("Symbol {piece}/{esi} {}", short(&data)),
            Event::LateSymbol { piece, esi, data } => {
                format!("LateSymbol {piece}/{esi} {}", short(&data))
            }
            other => format!("{other:?}"),
        })
        .collect()
}

fn sent(c: &mut Connection) -> Vec<Message> {
    let now = Instant::now();
    std::iter::from_fn(|| c.poll_transmit(now)).collect()
}

fn feed(c: &mut Connection, m: Message) -> Result<(), ProtocolError> {
    c.handle(m, Instant::now())
}

/// A connection on which we announced every piece (and may serve them).
fn serving(fast: bool) -> Connection {
    let mut c = conn(fast);
    c.send_pieces(&Bitfield::full(5)).unwrap();
    sent(&mut c);
    c
}

/// A connection to a seeder: its first message says it has every piece.
fn seeder(fast: bool) -> Connection {
    let mut c = conn(fast);
    let all = if fast {
        Message::HaveAll
    } else {
        Message::Bitfield(Bytes::from_static(&[0xf8]))
    };
    feed(&mut c, all).unwrap();
    events(&mut c);
    c.interested();
    sent(&mut c);
    c
}

fn block(r: BlockRequest) -> Block {
    Block {
        piece: r.piece,
        begin: r.begin,
        data: Bytes::from(vec![0xa5; r.length as usize]),
    }
}

fn peer_ext(fountain: Option<FountainParams>) -> Message {
    let mut hs = ExtendedHandshake::default();
    hs.extensions.insert(UT_METADATA.as_bytes().to_vec(), 7);
    if fountain.is_some() {
        hs.extensions.insert(BF_RAPTORQ.as_bytes().to_vec(), 9);
    }
    hs.fountain = fountain;
    hs.metadata_size = Some(40000);
    Message::Extended(Extended::Handshake(Box::new(hs)))
}

#[test]
fn piece_set_only_first_but_extended_handshake_may_precede_it() {
    let mut c = conn(true);
    feed(&mut c, peer_ext(None)).unwrap();
    feed(&mut c, Message::Port(6881)).unwrap();
    feed(
        &mut c,
        Message::Bitfield(Bytes::from_static(&[0b1000_1000])),
    )
    .unwrap();
    assert_eq!(
        events(&mut c),
        vec![Event::ExtendedHandshake, Event::Port(6881), Event::Bitfield]
    );
    assert!(c.peer_has(0) && c.peer_has(4) && !c.peer_has(1));
    assert_eq!(
        feed(&mut c, Message::HaveNone),
        Err(ProtocolError::PiecesNotFirst("have none"))
    );
    // aria2 sends HAVE ALL when it completes a download: a late one is an upgrade.
    let mut c = conn(true);
    feed(&mut c, Message::HaveNone).unwrap();
    feed(&mut c, Message::Interested).unwrap();
    feed(&mut c, Message::HaveAll).unwrap();
    assert_eq!(
        events(&mut c),
        vec![Event::HaveNone, Event::Interested, Event::HaveAll]
    );
    assert!(c.peer_has(3));

    // aria2 also sends its whole BITFIELD again in place of HAVEs when that is no longer:
    // a late one is taken as HAVEs of what it adds.
    let mut c = conn(true);
    feed(&mut c, Message::HaveNone).unwrap();
    feed(&mut c, Message::Interested).unwrap();
    feed(
        &mut c,
        Message::Bitfield(Bytes::from_static(&[0b0001_0000])),
    )
    .unwrap();
    feed(
        &mut c,
        Message::Bitfield(Bytes::from_static(&[0b0101_0000])),
    )
    .unwrap();
    assert_eq!(
        events(&mut c),
        vec![
            Event::HaveNone,
            Event::Interested,
            Event::Have(3),
            Event::Have(1)
        ]
    );
    assert!(c.peer_has(1) && c.peer_has(3) && !c.peer_has(0));
    // It is still checked, and may not take back a piece the peer announced.
    assert!(feed(
        &mut c,
        Message::Bitfield(Bytes::from_static(&[0b0101_0100]))
    )
    .is_err());
    assert_eq!(
        feed(
            &mut c,
            Message::Bitfield(Bytes::from_static(&[0b0100_0000]))
        ),
        Err(ProtocolError::PiecesNotFirst("bitfield"))
    );
    let mut c = conn(true);
    feed(&mut c, Message::Have(1)).unwrap();
    assert_eq!(
        feed(&mut c, Message::Bitfield(Bytes::from_static(&[0]))),
        Err(ProtocolError::PiecesNotFirst("bitfield"))
    );

    let mut c = conn(true);
    feed(&mut c, Message::Interested).unwrap();
    assert!(feed(&mut c, Message::HaveNone).is_err());
}

#[test]
fn bitfield_length_and_spare_bits() {
    let mut c = conn(false);
    assert_eq!(
        feed(&mut c, Message::Bitfield(Bytes::from_static(&[0, 0]))),
        Err(ProtocolError::BitfieldLength {
            expected: 1,
            got: 2
        })
    );
    let mut c = conn(false);
    assert_eq!(
        feed(
            &mut c,
            Message::Bitfield(Bytes::from_static(&[0b0000_0100]))
        ),
        Err(ProtocolError::BitfieldSpareBits)
    );
}

#[test]
fn have_grows_the_set_and_is_bounded() {
    let mut c = conn(false);
    feed(&mut c, Message::Have(3)).unwrap();
    feed(&mut c, Message::Have(3)).unwrap();
    assert_eq!(events(&mut c), vec![Event::Have(3)]);
    assert!(c.peer_has(3));
    assert_eq!(
        feed(&mut c, Message::Have(5)),
        Err(ProtocolError::PieceOutOfRange {
            piece: 5,
            piece_count: 5
        })
    );
}

#[test]
fn fast_messages_need_both_bits() {
    for m in [
        Message::HaveAll,
        Message::HaveNone,
        Message::Suggest(0),
        Message::AllowedFast(0),
        Message::Reject(BlockRequest::new(0, 0, 16384)),
    ] {
        let mut c = conn(false);
        assert_eq!(
            feed(&mut c, m),
            Err(ProtocolError::NotNegotiated("fast extension (BEP 6)"))
        );
    }
    let mut c = conn(true);
    feed(&mut c, Message::HaveAll).unwrap();
    assert_eq!(c.peer_pieces(), &PeerPieces::All);
    assert!(c.peer_has(4) && !c.peer_has(5));
}

#[test]
fn incoming_requests_bounds_choke_and_size() {
    let big = BlockRequest::new(0, 0, 32768);
    let ok = BlockRequest::new(4, 0, 1000);
    let past_end = BlockRequest::new(4, 0, 1001);

    // Fast: requests while choked and oversized ones are rejected, and a cancel is answered.
    let mut c = serving(true);
    feed(&mut c, Message::Request(ok)).unwrap();
    assert_eq!(sent(&mut c), vec![Message::Reject(ok)]);
    c.unchoke();
    feed(&mut c, Message::Request(big)).unwrap();
    feed(&mut c, Message::Request(ok)).unwrap();
    assert_eq!(sent(&mut c), vec![Message::Unchoke, Message::Reject(big)]);
    assert_eq!(events(&mut c), vec![Event::Request(ok)]);
    feed(&mut c, Message::Cancel(ok)).unwrap();
    assert_eq!(events(&mut c), vec![Event::Cancel(ok)]);
    assert_eq!(sent(&mut c), vec![Message::Reject(ok)]);
    assert_eq!(c.send_block(block(ok)), Err(SendError::NotRequested));
    assert_eq!(
        feed(&mut c, Message::Request(past_end)),
        Err(ProtocolError::InvalidRequest(past_end))
    );

    // Without fast: ignored silently.
    let mut c = serving(false);
    feed(&mut c, Message::Request(ok)).unwrap();
    c.unchoke();
    feed(&mut c, Message::Request(big)).unwrap();
    assert_eq!(sent(&mut c), vec![Message::Unchoke]);
    assert!(events(&mut c).is_empty());
    feed(&mut c, Message::Request(ok)).unwrap();
    c.send_block(block(ok)).unwrap();
    assert_eq!(sent(&mut c), vec![Message::Piece(block(ok))]);
    assert!(feed(&mut c, Message::Request(BlockRequest::new(0, 0, 0))).is_err());

    // A piece we did not announce is not served: rejected with fast, dropped without.
    let mut c = conn(true);
    c.send_pieces(&Bitfield::new(5)).unwrap();
    c.unchoke();
    c.have(1).unwrap();
    sent(&mut c);
    feed(&mut c, Message::Request(BlockRequest::new(0, 0, 16384))).unwrap();
    feed(&mut c, Message::Request(BlockRequest::new(1, 0, 16384))).unwrap();
    assert_eq!(
        sent(&mut c),
        vec![Message::Reject(BlockRequest::new(0, 0, 16384))]
    );
    assert_eq!(
        events(&mut c),
        vec![Event::Request(BlockRequest::new(1, 0, 16384))]
    );
    assert!(feed(&mut c, Message::Request(BlockRequest::new(5, 0, 1))).is_err());
}

#[test]
fn choking_the_peer_answers_its_pending_requests() {
    let r1 = BlockRequest::new(0, 0, 16384);
    let r2 = BlockRequest::new(1, 0, 16384);
    let mut c = serving(true);
    c.allow_fast(1).unwrap();
    c.unchoke();
    feed(&mut c, Message::Request(r1)).unwrap();
    feed(&mut c, Message::Request(r2)).unwrap();
    sent(&mut c);
    c.choke();
    // The allowed-fast piece stays servable.
    assert_eq!(sent(&mut c), vec![Message::Choke, Message::Reject(r1)]);
    c.send_block(block(r2)).unwrap();
    // While choked, an allowed-fast request is still accepted.
    feed(&mut c, Message::Request(BlockRequest::new(1, 16384, 16384))).unwrap();
    assert_eq!(
        events(&mut c).last(),
        Some(&Event::Request(BlockRequest::new(1, 16384, 16384)))
    );

    let mut c = serving(false);
    c.unchoke();
    feed(&mut c, Message::Request(r1)).unwrap();
    sent(&mut c);
    c.choke();
    assert_eq!(sent(&mut c), vec![Message::Choke]);
    assert_eq!(c.send_block(block(r1)), Err(SendError::NotRequested));
}

#[test]
fn blocks_must_match_requests_but_late_ones_are_tolerated() {
    let r1 = BlockRequest::new(0, 0, 16384);
    let r2 = BlockRequest::new(0, 16384, 16384);
    // Never ask a peer for a piece it has not announced.
    let mut c = conn(false);
    feed(&mut c, Message::Unchoke).unwrap();
    assert_eq!(
        c.request(r1, Instant::now()),
        Err(SendError::PeerLacksPiece)
    );
    feed(&mut c, Message::Have(0)).unwrap();
    // Nor without saying we are interested.
    assert_eq!(c.request(r1, Instant::now()), Err(SendError::NotInterested));
    c.interested();
    c.request(r1, Instant::now()).unwrap();
    c.not_interested();
    assert_eq!(c.request(r2, Instant::now()), Err(SendError::NotInterested));
    // What was asked before stays outstanding and is still answered.
    assert_eq!(c.outstanding_requests().count(), 1);
    feed(&mut c, Message::Piece(block(r1))).unwrap();

    let mut c = seeder(false);
    assert_eq!(c.request(r1, Instant::now()), Err(SendError::Choked));
    feed(&mut c, Message::Unchoke).unwrap();
    c.request(r1, Instant::now()).unwrap();
    c.request(r2, Instant::now()).unwrap();
    assert_eq!(
        c.request(r2, Instant::now()),
        Err(SendError::AlreadyRequested)
    );
    assert_eq!(
        c.request(BlockRequest::new(0, 0, 16385), Instant::now()),
        Err(SendError::InvalidRequest)
    );
    c.cancel(r2).unwrap();
    assert_eq!(c.outstanding_requests().count(), 1);
    events(&mut c);
    feed(&mut c, Message::Piece(block(r2))).unwrap();
    feed(&mut c, Message::Piece(block(r1))).unwrap();
    assert_eq!(
        events(&mut c),
        vec![Event::LateBlock(block(r2)), Event::Block(block(r1))]
    );
    assert_eq!(
        feed(&mut c, Message::Piece(block(r1))),
        Err(ProtocolError::UnrequestedBlock(r1))
    );

    // Without fast, a choke drops what is outstanding; what was on the wire still counts.
    let mut c = seeder(false);
    feed(&mut c, Message::Unchoke).unwrap();
    c.request(r1, Instant::now()).unwrap();
    feed(&mut c, Message::Choke).unwrap();
    assert_eq!(
        events(&mut c).last(),
        Some(&Event::Choked {
            dropped: vec![r1],
            dropped_symbols: vec![]
        })
    );
    feed(&mut c, Message::Piece(block(r1))).unwrap();
    assert_eq!(events(&mut c), vec![Event::LateBlock(block(r1))]);

    // With fast, a choke keeps them; the peer answers each, and a reject must match.
    let mut c = seeder(true);
    feed(&mut c, Message::Unchoke).unwrap();
    c.request(r1, Instant::now()).unwrap();
    feed(&mut c, Message::Choke).unwrap();
    assert_eq!(c.outstanding_requests().count(), 1);
    feed(&mut c, Message::Reject(r1)).unwrap();
    assert_eq!(events(&mut c).last(), Some(&Event::Rejected(r1)));
    assert_eq!(
        feed(&mut c, Message::Reject(r1)),
        Err(ProtocolError::UnrequestedReject(r1))
    );
    // An allowed-fast piece may be requested while choked.
    feed(&mut c, Message::AllowedFast(2)).unwrap();
    c.request(BlockRequest::new(2, 0, 16384), Instant::now())
        .unwrap();
    assert_eq!(
        c.request(BlockRequest::new(3, 0, 16384), Instant::now()),
        Err(SendError::Choked)
    );
}

#[test]
fn extension_ids_each_side_assigned() {
    let mut c = conn_with(
        Reserved::bitfountain().with_extension_protocol(false),
        Some(shape()),
    );
    assert_eq!(
        feed(&mut c, peer_ext(None)),
        Err(ProtocolError::NotNegotiated("extension protocol (BEP 10)"))
    );
    assert!(c
        .send_extended_handshake(ExtendedHandshake::default())
        .is_err());

    let mut c = conn(true);
    assert_eq!(
        c.request_metadata(0, Instant::now()),
        Err(SendError::NotNegotiated("ut_metadata (BEP 9)"))
    );
    c.send_extended_handshake(ExtendedHandshake {
        listen_port: Some(6881),
        ..ExtendedHandshake::default()
    })
    .unwrap();
    let Some(Message::Extended(Extended::Handshake(ours))) = sent(&mut c).pop() else {
        panic!("expected our extended handshake");
    };
    assert_eq!(ours.extension_id(UT_METADATA), Some(1));
    assert_eq!(ours.extension_id(BF_RAPTORQ), Some(2));
    assert_eq!(ours.fountain, Some(FountainParams::V1));
    assert_eq!(ours.listen_port, Some(6881));

    feed(&mut c, peer_ext(None)).unwrap();
    c.request_metadata(1, Instant::now()).unwrap();
    // Sent under the peer's id for ut_metadata...
    assert_eq!(
        sent(&mut c),
        vec![Message::Extended(Extended::Metadata {
            id: 7,
            message: MetadataMessage::Request { piece: 1 }
        })]
    );
    // ...and answered under ours (the decoder maps our id to the message kind).
    let data = Bytes::from_static(b"d4:name1:xe");
    let answer = |piece| {
        Message::Extended(Extended::Metadata {
            id: 1,
            message: MetadataMessage::Data {
                piece,
                total_size: 40000,
                data: data.clone(),
            },
        })
    };
    events(&mut c);
    feed(&mut c, answer(0)).unwrap();
    feed(&mut c, answer(1)).unwrap();
    assert_eq!(
        events(&mut c),
        vec![Event::MetadataData {
            piece: 1,
            total_size: 40000,
            data: data.clone()
        }]
    );
}

/// Two connections wired to each other through the codec.
struct Pair {
    a: Connection,
    b: Connection,
    /// When the pair was set up; `pump` sends at this time.
    now: Instant,
}

impl Pair {
    fn new(fast: bool, fountain_b: Option<FountainParams>) -> Pair {
        Pair::at(fast, fountain_b, Instant::now())
    }

    /// The pair as set up at `now` (the same `now` gives the same pair).
    fn at(fast: bool, fountain_b: Option<FountainParams>, now: Instant) -> Pair {
        let reserved = Reserved::bitfountain().with_fast(fast);
        let mut a = Connection::new(
            ConnectionConfig {
                reserved,
                ..ConnectionConfig::default()
            },
            &handshake(reserved),
            Some(shape()),
            now,
        );
        let mut cfg_b = ConnectionConfig {
            reserved,
            ..ConnectionConfig::default()
        };
        // B assigns other ids than A, to show each side sends under the other's ids.
        cfg_b.extensions.ut_metadata = 5;
        cfg_b.extensions.bf_raptorq = 6;
        if let Some(p) = fountain_b {
            cfg_b.extensions.fountain = p;
        }
        let mut b = Connection::new(cfg_b, &handshake(reserved), Some(shape()), now);
        a.send_extended_handshake(ExtendedHandshake::default())
            .unwrap();
        b.send_extended_handshake(ExtendedHandshake::default())
            .unwrap();
        // B is a seeder; A has the first three pieces, so requests can go both ways.
        let mut first_three = Bitfield::new(5);
        for p in 0..3 {
            first_three.set(p);
        }
        a.send_pieces(&first_three).unwrap();
        b.send_pieces(&Bitfield::full(5)).unwrap();
        // Requests go out only while interested: both are, as an engine would be.
        a.interested();
        b.interested();
        let mut p = Pair { a, b, now };
        p.pump().unwrap();
        events(&mut p.a);
        events(&mut p.b);
        p
    }

    /// Moves every queued message across, both ways, until both are quiet.
    fn pump(&mut self) -> Result<(), ProtocolError> {
        let now = self.now;
        for _ in 0..16 {
            let mut wire = BytesMut::new();
            let n = self.a.encode_pending(&mut wire, now);
            self.b.receive(&mut wire, now)?;
            let m = self.b.encode_pending(&mut wire, now);
            self.a.receive(&mut wire, now)?;
            assert!(wire.is_empty());
            if n + m == 0 {
                return Ok(());
            }
        }
        panic!("messages kept flowing");
    }
}

#[test]
fn fountain_needs_matching_version_and_symbol_size() {
    let p = Pair::new(true, None);
    assert!(p.a.fountain() && p.b.fountain());
    for other in [
        FountainParams {
            version: 2,
            symbol_size: SYMBOL_SIZE,
        },
        FountainParams {
            version: 1,
            symbol_size: 1024,
        },
    ] {
        let mut p = Pair::new(true, Some(other));
        assert!(!p.a.fountain() && !p.b.fountain());
        assert_eq!(
            p.a.request_symbols(SymbolRange::new(0, 0, 4), Instant::now()),
            Err(SendError::NotNegotiated("bf_raptorq"))
        );
        // A symbol message arriving anyway is a violation.
        let m = Message::Extended(Extended::Fountain {
            id: 2,
            message: FountainMessage::SymbolCancel { piece: 0 },
        });
        assert_eq!(
            p.a.handle(m, Instant::now()),
            Err(ProtocolError::NotNegotiated("bf_raptorq"))
        );
    }
}

#[test]
fn symbol_exchange_between_two_peers() {
    let t = SYMBOL_SIZE as usize;
    let sym = |i: u8| Bytes::from(vec![i; t]);
    let mut p = Pair::new(true, None);
    let now = Instant::now();

    assert!(p.a.peer_has(4) && p.b.peer_has(2) && !p.b.peer_has(3));
    assert_eq!(
        p.a.request_symbols(SymbolRange::new(1, 0, 4), now),
        Err(SendError::Choked)
    );
    p.b.unchoke();
    p.pump().unwrap();
    assert_eq!(events(&mut p.a), vec![Event::Unchoked]);
    p.a.not_interested();
    assert_eq!(
        p.a.request_symbols(SymbolRange::new(1, 0, 4), now),
        Err(SendError::NotInterested)
    );
    p.a.interested();
    p.pump().unwrap();
    assert_eq!(
        events(&mut p.b),
        vec![Event::NotInterested, Event::Interested]
    );

    p.a.request_symbols(SymbolRange::new(1, 0, 4), now).unwrap();
    p.a.request_symbols(SymbolRange::new(1, 4, 2), now).unwrap();
    assert_eq!(
        p.a.request_symbols(SymbolRange::new(1, 5, 1), now),
        Err(SendError::AlreadyRequested)
    );
    p.pump().unwrap();
    assert_eq!(
        events(&mut p.b),
        vec![
            Event::SymbolRequest(SymbolRange::new(1, 0, 4)),
            Event::SymbolRequest(SymbolRange::new(1, 4, 2))
        ]
    );
    // B serves out of order, refuses part of a range, and A sees exactly that.
    p.b.send_symbol(1, 2, sym(2)).unwrap();
    p.b.send_symbol(1, 0, sym(0)).unwrap();
    assert_eq!(p.b.send_symbol(1, 0, sym(0)), Err(SendError::NotRequested));
    assert_eq!(
        p.b.send_symbol(1, 1, Bytes::from_static(b"short")),
        Err(SendError::SymbolSize)
    );
    p.b.reject_symbols(SymbolRange::new(1, 3, 2)).unwrap();
    p.pump().unwrap();
    assert_eq!(
        brief(events(&mut p.a)),
        vec![
            "Symbol 1/2 2x16384",
            "Symbol 1/0 0x16384",
            "SymbolsRejected(SymbolRange { piece: 1, first_esi: 3, count: 1 })",
            "SymbolsRejected(SymbolRange { piece: 1, first_esi: 4, count: 1 })",
        ]
    );
    let mut left: Vec<_> = p.a.outstanding_symbols().map(|(r, _)| r).collect();
    left.sort();
    assert_eq!(
        left,
        vec![SymbolRange::new(1, 1, 1), SymbolRange::new(1, 5, 1)]
    );

    // A cancels the piece; B's symbol already on the wire arrives late, not as abuse.
    p.b.send_symbol(1, 5, sym(5)).unwrap();
    let mut in_flight = BytesMut::new();
    p.b.encode_pending(&mut in_flight, now);
    p.a.cancel_symbols(1).unwrap();
    p.pump().unwrap();
    assert_eq!(events(&mut p.b), vec![Event::SymbolCancel(1)]);
    assert_eq!(p.b.peer_symbol_requests().count(), 0);
    // Nothing left to cancel for that piece, or a piece past the end: refused, nothing sent.
    assert_eq!(p.a.cancel_symbols(1), Err(SendError::NotRequested));
    assert_eq!(p.a.cancel_symbols(u32::MAX), Err(SendError::NotRequested));
    assert!(!p.a.has_pending_transmit());
    p.a.receive(&mut in_flight, now).unwrap();
    assert_eq!(brief(events(&mut p.a)), vec!["LateSymbol 1/5 5x16384"]);

    // An unrequested symbol is a violation.
    p.b.request_symbols(SymbolRange::new(0, 0, 1), now)
        .unwrap_err();
    let rogue = Message::Extended(Extended::Fountain {
        id: 2,
        message: FountainMessage::Symbol {
            piece: 2,
            esi: 0,
            data: sym(0),
        },
    });
    assert_eq!(
        p.a.handle(rogue, now),
        Err(ProtocolError::UnrequestedSymbol { piece: 2, esi: 0 })
    );
}

#[test]
fn choking_rejects_pending_symbol_ranges() {
    let mut p = Pair::new(false, None);
    let now = Instant::now();
    p.b.unchoke();
    p.pump().unwrap();
    p.a.request_symbols(SymbolRange::new(0, 0, 8), now).unwrap();
    p.a.request_symbols(SymbolRange::new(3, 4, 8), now).unwrap();
    p.pump().unwrap();
    p.b.choke();
    p.pump().unwrap();
    // Without fast, A drops them on the choke; B's rejects that follow are tolerated.
    let ev = events(&mut p.a);
    assert_eq!(
        ev,
        vec![
            Event::Unchoked,
            Event::Choked {
                dropped: vec![],
                dropped_symbols: vec![SymbolRange::new(0, 0, 8), SymbolRange::new(3, 4, 8)]
            }
        ]
    );
    assert_eq!(p.a.outstanding_symbols().count(), 0);
}

#[test]
fn magnet_connection_checks_pieces_once_the_shape_is_known() {
    let early = |m: Vec<Message>| {
        let mut c = conn_with(Reserved::bitfountain(), None);
        for m in m {
            c.handle(m, Instant::now()).unwrap();
        }
        c
    };
    let mut c = early(vec![
        Message::Bitfield(Bytes::from_static(&[0b1000_0000])),
        Message::Have(3),
    ]);
    assert_eq!(c.peer_pieces(), &PeerPieces::Unknown);
    c.set_shape(shape()).unwrap();
    let PeerPieces::Some(b) = c.peer_pieces() else {
        panic!("expected a bitfield");
    };
    assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![0, 3]);
    assert_eq!(c.set_shape(shape()), Ok(()));
    assert_eq!(
        c.set_shape(TorrentShape::new(16384, 16384).unwrap()),
        Err(ProtocolError::ShapeChanged)
    );

    let mut c = early(vec![Message::Bitfield(Bytes::from_static(&[0, 0]))]);
    assert!(matches!(
        c.set_shape(shape()),
        Err(ProtocolError::BitfieldLength { .. })
    ));
    let mut c = early(vec![Message::Have(9)]);
    assert!(matches!(
        c.set_shape(shape()),
        Err(ProtocolError::PieceOutOfRange { piece: 9, .. })
    ));
    // Before the metadata, requests cannot be served: rejected.
    let mut c = early(vec![]);
    c.handle(
        Message::Request(BlockRequest::new(0, 0, 16384)),
        Instant::now(),
    )
    .unwrap();
    assert_eq!(
        sent(&mut c),
        vec![Message::Reject(BlockRequest::new(0, 0, 16384))]
    );
}

#[test]
fn our_piece_set_goes_first_and_keepalives_follow_idleness() {
    let mut c = conn(true);
    c.send_pieces(&Bitfield::new(5)).unwrap();
    assert_eq!(sent(&mut c), vec![Message::HaveNone]);
    assert_eq!(
        c.send_pieces(&Bitfield::new(5)),
        Err(SendError::PiecesNotFirst)
    );
    let mut c = conn(false);
    let mut mine = Bitfield::new(5);
    mine.set(1);
    assert_eq!(
        c.send_pieces(&Bitfield::new(4)),
        Err(SendError::BitfieldLength)
    );
    c.send_pieces(&mine).unwrap();
    assert_eq!(
        sent(&mut c),
        vec![Message::Bitfield(Bytes::from_static(&[0b0100_0000]))]
    );

    let start = Instant::now();
    let mut c = Connection::new(
        ConnectionConfig::default(),
        &handshake(Reserved::bitfountain()),
        Some(shape()),
        start,
    );
    assert!(!c.poll_keepalive(start + Duration::from_secs(10)));
    assert!(c.poll_keepalive(start + Duration::from_secs(91)));
    assert_eq!(
        c.poll_transmit(start + Duration::from_secs(91)),
        Some(Message::KeepAlive)
    );
    assert!(!c.poll_keepalive(start + Duration::from_secs(100)));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

    /// Whatever two of our connections do, in whatever order, with messages crossing on the
    /// wire, neither ever sees the other break the protocol.
    #[test]
    fn two_honest_peers_never_violate(
        fast in proptest::prelude::any::<bool>(),
        steps in proptest::collection::vec(
            proptest::collection::vec((0u8..engine_actions::ACTIONS, 0u32..64, 0u32..64, proptest::prelude::any::<bool>()), 0..4),
            1..40,
        ),
    ) {
        let mut p = Pair::new(fast, None);
        let now = Instant::now();
        for ops in steps {
            for (op, a, b, on_a) in ops {
                let c = if on_a { &mut p.a } else { &mut p.b };
                engine_actions::act(c, &shape(), SYMBOL_SIZE, op, a, b, now);
            }
            // Both directions are on the wire at once, so cancels cross blocks.
            let (mut ab, mut ba) = (BytesMut::new(), BytesMut::new());
            p.a.encode_pending(&mut ab, now);
            p.b.encode_pending(&mut ba, now);
            let fail = |e: ProtocolError| proptest::test_runner::TestCaseError::fail(e.to_string());
            p.b.receive(&mut ab, now).map_err(fail)?;
            p.a.receive(&mut ba, now).map_err(fail)?;
            proptest::prop_assert!(ab.is_empty() && ba.is_empty());
            events(&mut p.a);
            events(&mut p.b);
        }
    }

    /// Identical pairs driven alike write the same bytes whether drained with
    /// `encode_pending` or `encode_pending_vectored`, and stay in step; the segments are
    /// runs of small messages, each followed by the data of a block or symbol.
    #[test]
    fn vectored_output_is_the_same_bytes(
        fast in proptest::prelude::any::<bool>(),
        steps in proptest::collection::vec(
            proptest::collection::vec((0u8..engine_actions::ACTIONS, 0u32..64, 0u32..64, proptest::prelude::any::<bool>()), 0..6),
            1..30,
        ),
    ) {
        let now = Instant::now();
        // Drained with encode_pending, encode_pending_vectored, and message by message.
        let mut pairs = [
            Pair::at(fast, None, now),
            Pair::at(fast, None, now),
            Pair::at(fast, None, now),
        ];
        let fail = |e: ProtocolError| proptest::test_runner::TestCaseError::fail(e.to_string());
        for ops in steps {
            for &(op, a, b, on_a) in &ops {
                for p in &mut pairs {
                    let c = if on_a { &mut p.a } else { &mut p.b };
                    engine_actions::act(c, &shape(), SYMBOL_SIZE, op, a, b, now);
                }
            }
            let [plain, vectored, listed] = &mut pairs;
            let mut wires = Vec::new();
            for (c, v, l) in [
                (&mut plain.a, &mut vectored.a, &mut listed.a),
                (&mut plain.b, &mut vectored.b, &mut listed.b),
            ] {
                proptest::prop_assert_eq!(c.outbox_len(), v.outbox_len());
                let mut bytes = BytesMut::new();
                let n = c.encode_pending(&mut bytes, now);
                let mut segments = Vec::new();
                proptest::prop_assert_eq!(v.encode_pending_vectored(&mut segments, now), n);
                proptest::prop_assert_eq!(v.outbox_len(), 0);
                let joined: Vec<u8> = segments.iter().flat_map(|s| s.iter().copied()).collect();
                proptest::prop_assert_eq!(&joined[..], &bytes[..]);
                let (mut want, mut run, mut header) = (Vec::new(), 0, BytesMut::new());
                while let Some(m) = l.poll_transmit(now) {
                    let data = m.encode_vectored(&mut header);
                    run += header.split().len();
                    if let Some(d) = data {
                        want.push(run);
                        run = 0;
                        if !d.is_empty() {
                            want.push(d.len());
                        }
                    }
                }
                if run > 0 {
                    want.push(run);
                }
                let got: Vec<usize> = segments.iter().map(Bytes::len).collect();
                proptest::prop_assert_eq!(got, want);
                wires.push(bytes);
            }
            for p in &mut pairs {
                let (mut ab, mut ba) = (wires[0].clone(), wires[1].clone());
                p.b.receive(&mut ab, now).map_err(fail)?;
                p.a.receive(&mut ba, now).map_err(fail)?;
            }
            let [plain, vectored, listed] = &mut pairs;
            for (x, y, z) in [
                (&mut plain.a, &mut vectored.a, &mut listed.a),
                (&mut plain.b, &mut vectored.b, &mut listed.b),
            ] {
                let ev = events(x);
                proptest::prop_assert_eq!(&ev, &events(y));
                proptest::prop_assert_eq!(&ev, &events(z));
            }
        }
    }
}

#[test]
fn fountain_limits_of_the_spec() {
    let now = Instant::now();
    let fountain = |message| Message::Extended(Extended::Fountain { id: 2, message });
    for fast in [true, false] {
        let mut p = Pair::new(fast, None);
        p.b.unchoke();
        p.pump().unwrap();
        // Piece 0 has K = 4 source symbols: the cap is 2K + 64 = 72; the last piece K = 1.
        assert_eq!(p.a.esi_cap(0), Some(72));
        assert_eq!(p.a.esi_cap(4), Some(66));
        assert_eq!(p.a.esi_cap(5), None);
        assert_eq!(
            p.a.request_symbols(SymbolRange::new(0, 70, 3), now),
            Err(SendError::InvalidRequest)
        );
        p.a.request_symbols(SymbolRange::new(0, 60, 12), now)
            .unwrap();
        p.pump().unwrap();
        // A peer asking past the cap gets a reject, whatever the fast extension says.
        let past_cap = SymbolRange::new(4, 60, 10);
        p.a.handle(fountain(FountainMessage::SymbolRequest(past_cap)), now)
            .unwrap();
        assert_eq!(
            sent(&mut p.a).last(),
            Some(&Message::Extended(Extended::Fountain {
                id: 6,
                message: FountainMessage::SymbolReject(past_cap)
            }))
        );
        // Unknown types are ignored; a piece index out of range is a violation.
        p.a.handle(
            fountain(FountainMessage::Unknown {
                kind: 9,
                payload: Bytes::new(),
            }),
            now,
        )
        .unwrap();
        assert_eq!(
            p.a.handle(fountain(FountainMessage::SymbolCancel { piece: 5 }), now),
            Err(ProtocolError::PieceOutOfRange {
                piece: 5,
                piece_count: 5
            })
        );

        // Choking: SYMBOL_REJECT with the fast extension, silence without (as for REQUEST).
        assert_eq!(p.b.peer_symbol_requests().count(), 1);
        p.b.choke();
        let expected = if fast {
            vec![
                Message::Choke,
                Message::Extended(Extended::Fountain {
                    id: 2,
                    message: FountainMessage::SymbolReject(SymbolRange::new(0, 60, 12)),
                }),
            ]
        } else {
            vec![Message::Choke]
        };
        assert_eq!(sent(&mut p.b), expected);
    }
}

#[test]
fn request_capacity_follows_the_peers_reqq() {
    let mut c = seeder(true);
    assert_eq!(
        c.request_capacity(),
        ConnectionConfig::default().max_outgoing_requests
    );
    let mut hs = ExtendedHandshake {
        reqq: Some(2),
        ..ExtendedHandshake::default()
    };
    hs.extensions.insert(BF_RAPTORQ.as_bytes().to_vec(), 9);
    hs.fountain = Some(FountainParams::V1);
    feed(&mut c, Message::Extended(Extended::Handshake(Box::new(hs)))).unwrap();
    c.send_extended_handshake(ExtendedHandshake::default())
        .unwrap();
    feed(&mut c, Message::Unchoke).unwrap();
    c.request(BlockRequest::new(0, 0, 16384), Instant::now())
        .unwrap();
    assert_eq!(c.request_capacity(), 1);
    assert_eq!(
        c.request_symbols(SymbolRange::new(1, 0, 2), Instant::now()),
        Err(SendError::TooManyRequests)
    );
    c.request_symbols(SymbolRange::new(1, 0, 1), Instant::now())
        .unwrap();
    assert_eq!(
        c.request(BlockRequest::new(0, 16384, 16384), Instant::now()),
        Err(SendError::TooManyRequests)
    );
}

#[test]
fn blocks_reach_the_engine_as_slices_of_the_receive_buffer() {
    let r = BlockRequest::new(1, 16384, 16384);
    let mut c = seeder(false);
    feed(&mut c, Message::Unchoke).unwrap();
    c.request(r, Instant::now()).unwrap();
    events(&mut c);
    let mut buf = BytesMut::new();
    Message::Piece(block(r)).encode(&mut buf);
    let range = buf.as_ptr() as usize..buf.as_ptr() as usize + buf.len();
    c.receive(&mut buf, Instant::now()).unwrap();
    let Some(Event::Block(b)) = c.poll_event() else {
        panic!("expected the block");
    };
    assert!(
        range.contains(&(b.data.as_ptr() as usize)),
        "the block was copied"
    );
    assert_eq!(b.request(), r);
}

#[test]
fn poll_timeout_names_the_keepalive_and_the_idle_deadline() {
    let start = Instant::now();
    let s = Duration::from_secs;
    let mut c = Connection::new(
        ConnectionConfig::default(),
        &handshake(Reserved::bitfountain()),
        Some(shape()),
        start,
    );
    // Keep-alive at 90 s comes before idleness at 120 s.
    assert_eq!(c.poll_timeout(), Some(start + s(90)));
    assert_eq!(c.idle_deadline(), start + s(120));
    c.handle_timeout(start + s(89));
    assert!(!c.has_pending_transmit());
    c.handle_timeout(start + s(90));
    assert!(c.has_pending_transmit());
    // While something waits to be sent no keep-alive is due: only idleness is left.
    assert_eq!(c.poll_timeout(), Some(start + s(120)));
    c.handle_timeout(start + s(95));
    assert_eq!(c.poll_transmit(start + s(100)), Some(Message::KeepAlive));
    assert_eq!(c.poll_transmit(start + s(100)), None);
    assert_eq!(c.poll_timeout(), Some(start + s(120)));
    assert!(!c.is_idle(start + s(119)) && c.is_idle(start + s(120)));
    // Anything received moves the idle deadline; then the keep-alive is next again.
    feed_at(&mut c, Message::KeepAlive, start + s(110));
    assert_eq!(c.idle_deadline(), start + s(230));
    assert_eq!(c.poll_timeout(), Some(start + s(190)));
    assert!(!c.is_idle(start + s(200)));

    // Timeouts too long for `Instant` mean never, without overflowing.
    let mut c = Connection::new(
        ConnectionConfig {
            keepalive_interval: Duration::MAX,
            idle_timeout: Duration::MAX,
            ..ConnectionConfig::default()
        },
        &handshake(Reserved::bitfountain()),
        Some(shape()),
        start,
    );
    assert!(c
        .poll_timeout()
        .is_some_and(|t| t > start + s(1_000_000_000)));
    c.handle_timeout(start + s(1_000_000));
    assert!(!c.has_pending_transmit() && !c.is_idle(start + s(1_000_000)));
}

fn feed_at(c: &mut Connection, m: Message, now: Instant) {
    c.handle(m, now).unwrap();
}

#[test]
fn vectored_output_passes_block_and_symbol_data_through_uncopied() {
    let mut p = Pair::new(true, None);
    let now = p.now;
    p.b.unchoke();
    p.pump().unwrap();
    p.a.interested();
    p.a.request(BlockRequest::new(4, 0, 1000), now).unwrap();
    p.a.request_symbols(SymbolRange::new(1, 0, 2), now).unwrap();
    p.pump().unwrap();
    events(&mut p.a);
    events(&mut p.b);
    let data = Bytes::from(vec![3u8; 1000]);
    let symbol = Bytes::from(vec![4u8; SYMBOL_SIZE as usize]);
    p.b.send_block(Block {
        piece: 4,
        begin: 0,
        data: data.clone(),
    })
    .unwrap();
    p.b.send_symbol(1, 1, symbol.clone()).unwrap();
    p.b.suggest(2).unwrap();
    p.b.reject_symbols(SymbolRange::new(1, 0, 1)).unwrap();
    assert_eq!(p.b.outbox_len(), 4);
    let mut segments = Vec::new();
    assert_eq!(p.b.encode_pending_vectored(&mut segments, now), 4);
    assert_eq!(p.b.outbox_len(), 0);
    let lens: Vec<usize> = segments.iter().map(Bytes::len).collect();
    // PIECE header, block, SYMBOL header, symbol, then SUGGEST and SYMBOL_REJECT coalesced.
    assert_eq!(lens, vec![13, 1000, 15, SYMBOL_SIZE as usize, 9 + 19]);
    assert_eq!(segments[1].as_ptr(), data.as_ptr());
    assert_eq!(segments[3].as_ptr(), symbol.as_ptr());
    let mut wire: BytesMut = segments.iter().flat_map(|s| s.iter().copied()).collect();
    p.a.receive(&mut wire, now).unwrap();
    assert_eq!(
        events(&mut p.a),
        vec![
            Event::Block(block_of(4, 0, &data)),
            Event::Symbol {
                piece: 1,
                esi: 1,
                data: symbol
            },
            Event::Suggest(2),
            Event::SymbolsRejected(SymbolRange::new(1, 0, 1)),
        ]
    );
}

fn block_of(piece: u32, begin: u32, data: &Bytes) -> Block {
    Block {
        piece,
        begin,
        data: data.clone(),
    }
}

#[test]
fn overlapping_symbol_requests_from_the_peer_are_rejected_whole() {
    let mut p = Pair::new(true, None);
    let now = p.now;
    p.b.unchoke();
    p.pump().unwrap();
    // A request arriving at B, under B's id for bf_raptorq (6).
    let ask = |r| {
        Message::Extended(Extended::Fountain {
            id: 6,
            message: FountainMessage::SymbolRequest(r),
        })
    };
    let rejected = |r| {
        Message::Extended(Extended::Fountain {
            id: 2,
            message: FountainMessage::SymbolReject(r),
        })
    };
    p.b.handle(ask(SymbolRange::new(1, 0, 4)), now).unwrap();
    p.b.handle(ask(SymbolRange::new(1, 2, 4)), now).unwrap();
    p.b.handle(ask(SymbolRange::new(1, 6, 2)), now).unwrap();
    assert_eq!(
        events(&mut p.b),
        vec![
            Event::SymbolRequest(SymbolRange::new(1, 0, 4)),
            Event::SymbolRequest(SymbolRange::new(1, 6, 2)),
        ]
    );
    assert_eq!(sent(&mut p.b), vec![rejected(SymbolRange::new(1, 2, 4))]);
    // ESIs 2 and 3 were rejected, so they are no longer served from the first range.
    let mut left: Vec<_> = p.b.peer_symbol_requests().collect();
    left.sort();
    assert_eq!(
        left,
        vec![SymbolRange::new(1, 0, 2), SymbolRange::new(1, 6, 2)]
    );
    let sym = Bytes::from(vec![0; SYMBOL_SIZE as usize]);
    assert_eq!(
        p.b.send_symbol(1, 2, sym.clone()),
        Err(SendError::NotRequested)
    );
    p.b.send_symbol(1, 0, sym).unwrap();
}

#[test]
fn fountain_messages_go_under_the_peers_current_id_and_never_id_0() {
    let now = Instant::now();
    let peer_ext_with = |id: u8| {
        let mut hs = ExtendedHandshake::default();
        hs.extensions.insert(BF_RAPTORQ.as_bytes().to_vec(), id);
        hs.fountain = Some(FountainParams::V1);
        Message::Extended(Extended::Handshake(Box::new(hs)))
    };
    let mut c = conn(true);
    c.send_pieces(&Bitfield::full(5)).unwrap();
    c.send_extended_handshake(ExtendedHandshake::default())
        .unwrap();
    c.unchoke();
    c.interested();
    feed(&mut c, Message::HaveAll).unwrap();
    feed(&mut c, Message::Unchoke).unwrap();
    // An id of 0 in `m` disables the extension: there is no id to send under.
    feed(&mut c, peer_ext_with(0)).unwrap();
    assert!(!c.fountain());
    assert_eq!(
        c.request_symbols(SymbolRange::new(0, 0, 2), now),
        Err(SendError::NotNegotiated("bf_raptorq"))
    );
    feed(&mut c, peer_ext_with(9)).unwrap();
    c.request_symbols(SymbolRange::new(0, 0, 2), now).unwrap();
    // A later handshake may move the id; messages follow it.
    feed(&mut c, peer_ext_with(11)).unwrap();
    c.request_symbols(SymbolRange::new(1, 0, 1), now).unwrap();
    let ids: Vec<u8> = sent(&mut c)
        .into_iter()
        .filter_map(|m| match m {
            Message::Extended(Extended::Fountain { id, .. }) => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![9, 11]);

    // The peer asks us for symbols, then withdraws the extension: what either side had
    // pending is gone, and choking it sends no SYMBOL_REJECT (there is no id for one).
    let ask = Message::Extended(Extended::Fountain {
        id: 2,
        message: FountainMessage::SymbolRequest(SymbolRange::new(3, 0, 2)),
    });
    feed(&mut c, ask).unwrap();
    assert_eq!(c.peer_symbol_requests().count(), 1);
    events(&mut c);
    feed(&mut c, peer_ext_with(0)).unwrap();
    assert_eq!(
        events(&mut c),
        vec![
            Event::SymbolsRejected(SymbolRange::new(0, 0, 2)),
            Event::SymbolsRejected(SymbolRange::new(1, 0, 1)),
            Event::ExtendedHandshake,
        ]
    );
    assert_eq!(c.peer_symbol_requests().count(), 0);
    c.choke();
    assert_eq!(sent(&mut c), vec![Message::Choke]);
    assert_eq!(
        c.reject_symbols(SymbolRange::new(3, 0, 2)),
        Err(SendError::NotNegotiated("bf_raptorq"))
    );
}

#[test]
fn messages_handed_in_directly_are_checked_like_decoded_ones() {
    use bf_wire::fountain::ESI_LIMIT;
    use bf_wire::DecodeError;
    let mut p = Pair::new(true, None);
    let now = p.now;
    p.b.unchoke();
    p.pump().unwrap();
    p.a.request_symbols(SymbolRange::new(1, 0, 2), now).unwrap();
    p.pump().unwrap();
    let fountain = |message| Message::Extended(Extended::Fountain { id: 2, message });
    let symbol = |len: usize| {
        fountain(FountainMessage::Symbol {
            piece: 1,
            esi: 0,
            data: Bytes::from(vec![0; len]),
        })
    };
    // A SYMBOL must be exactly T bytes, even one that was requested.
    for len in [0, 5, SYMBOL_SIZE as usize - 1, SYMBOL_SIZE as usize + 1] {
        assert_eq!(
            p.a.handle(symbol(len), now),
            Err(ProtocolError::Decode(DecodeError::FountainLength {
                kind: 1,
                len: 8 + len
            }))
        );
    }
    assert_eq!(p.a.outstanding_symbols().count(), 1);
    p.a.handle(symbol(SYMBOL_SIZE as usize), now).unwrap();
    assert_eq!(
        p.a.handle(
            fountain(FountainMessage::Symbol {
                piece: 1,
                esi: ESI_LIMIT,
                data: Bytes::from(vec![0; SYMBOL_SIZE as usize]),
            }),
            now
        ),
        Err(ProtocolError::Decode(DecodeError::EsiOutOfRange(
            u64::from(ESI_LIMIT)
        )))
    );
    for (r, e) in [
        (SymbolRange::new(1, 0, 0), DecodeError::ZeroCount),
        (
            SymbolRange::new(1, ESI_LIMIT - 1, 2),
            DecodeError::EsiOutOfRange(u64::from(ESI_LIMIT)),
        ),
    ] {
        for m in [
            FountainMessage::SymbolRequest(r),
            FountainMessage::SymbolReject(r),
        ] {
            assert_eq!(
                p.a.handle(fountain(m), now),
                Err(ProtocolError::Decode(e.clone()))
            );
        }
    }
    // ut_metadata data is at most 16 KiB, however it arrives.
    let mut c = conn(true);
    c.send_extended_handshake(ExtendedHandshake::default())
        .unwrap();
    feed(&mut c, peer_ext(None)).unwrap();
    c.request_metadata(0, Instant::now()).unwrap();
    let data = |len| {
        Message::Extended(Extended::Metadata {
            id: 1,
            message: MetadataMessage::Data {
                piece: 0,
                total_size: 40000,
                data: Bytes::from(vec![b'x'; len]),
            },
        })
    };
    assert_eq!(
        feed(&mut c, data(16385)),
        Err(ProtocolError::Decode(DecodeError::MetadataTooLong(16385)))
    );
    feed(&mut c, data(16384)).unwrap();
}

#[test]
fn have_none_goes_out_before_the_shape_is_known() {
    for fast in [true, false] {
        let mut c = conn_with(Reserved::bitfountain().with_fast(fast), None);
        assert_eq!(
            c.send_pieces(&Bitfield::new(5)),
            Err(SendError::ShapeUnknown)
        );
        c.send_extended_handshake(ExtendedHandshake::default())
            .unwrap();
        c.send_have_none().unwrap();
        let mut want = vec![];
        if fast {
            want.push(Message::HaveNone);
        }
        let mut got = sent(&mut c);
        got.remove(0); // the extended handshake
        assert_eq!(got, want);
        assert_eq!(c.send_have_none(), Err(SendError::PiecesNotFirst));
        c.set_shape(shape()).unwrap();
        assert_eq!(
            c.send_pieces(&Bitfield::full(5)),
            Err(SendError::PiecesNotFirst)
        );
        // What we gain later is announced piece by piece, and served.
        c.have(2).unwrap();
        c.unchoke();
        assert_eq!(sent(&mut c), vec![Message::Have(2), Message::Unchoke]);
        let r = BlockRequest::new(2, 0, 16384);
        feed(&mut c, Message::Request(r)).unwrap();
        assert_eq!(events(&mut c), vec![Event::Request(r)]);
    }
    // After anything else it is too late, as for any piece set.
    let mut c = conn_with(Reserved::bitfountain(), None);
    c.interested();
    assert_eq!(c.send_have_none(), Err(SendError::PiecesNotFirst));
}

#[test]
fn metadata_requests_time_out_and_may_be_asked_again() {
    let start = Instant::now();
    let s = Duration::from_secs;
    let mut c = Connection::new(
        ConnectionConfig::default(),
        &handshake(Reserved::bitfountain()),
        None,
        start,
    );
    c.send_extended_handshake(ExtendedHandshake::default())
        .unwrap();
    feed_at(&mut c, peer_ext(None), start);
    events(&mut c);
    c.request_metadata(0, start).unwrap();
    c.request_metadata(1, start + s(5)).unwrap();
    assert_eq!(
        c.request_metadata(1, start + s(6)),
        Err(SendError::AlreadyRequested)
    );
    assert_eq!(
        c.outstanding_metadata_requests().collect::<Vec<_>>(),
        vec![(0, start), (1, start + s(5))]
    );
    c.encode_pending(&mut BytesMut::new(), start + s(5));
    // The first request's 20 s come before the keep-alive (95 s) and idleness (120 s).
    assert_eq!(c.poll_timeout(), Some(start + s(20)));
    c.handle_timeout(start + s(19));
    assert!(events(&mut c).is_empty());
    c.handle_timeout(start + s(20));
    assert_eq!(events(&mut c), vec![Event::MetadataTimedOut(0)]);
    assert_eq!(
        c.outstanding_metadata_requests().collect::<Vec<_>>(),
        vec![(1, start + s(5))]
    );
    assert_eq!(c.poll_timeout(), Some(start + s(25)));
    assert!(!c.has_pending_transmit());

    // The late answer is dropped like an unrequested one; the piece may be asked again.
    let answer = |piece| {
        Message::Extended(Extended::Metadata {
            id: 1,
            message: MetadataMessage::Data {
                piece,
                total_size: 40000,
                data: Bytes::from_static(b"d4:name1:xe"),
            },
        })
    };
    feed_at(&mut c, answer(0), start + s(21));
    assert!(events(&mut c).is_empty());
    c.request_metadata(0, start + s(21)).unwrap();
    feed_at(&mut c, answer(1), start + s(22));
    feed_at(&mut c, answer(0), start + s(22));
    assert_eq!(
        events(&mut c),
        vec![
            Event::MetadataData {
                piece: 1,
                total_size: 40000,
                data: Bytes::from_static(b"d4:name1:xe")
            },
            Event::MetadataData {
                piece: 0,
                total_size: 40000,
                data: Bytes::from_static(b"d4:name1:xe")
            },
        ]
    );
    assert_eq!(c.outstanding_metadata_requests().count(), 0);
    // Nothing outstanding: the outbox holds the second request for piece 0, so only
    // idleness (22 s + 120 s) is left to wait for.
    assert_eq!(c.poll_timeout(), Some(start + s(142)));
}
