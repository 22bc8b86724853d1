//! Message sequences through the connection state machine.
//!
//! The input is read as a script of operations. In mode 0 one connection gets messages built
//! from the input (and raw bytes) interleaved with engine actions: it may refuse them, never
//! panic. In mode 1 two of our connections talk to each other, driven by engine actions with
//! messages crossing on the wire: neither may ever see a protocol violation.
#![no_main]

#[path = "../../crates/bf-wire/tests/shared/engine_actions.rs"]
mod engine_actions;

use std::time::Instant;

use bf_metainfo::{InfoHash, PeerId};
use bf_wire::bytes::{Bytes, BytesMut};
use bf_wire::{
    Bitfield, Block, BlockRequest, Connection, ConnectionConfig, Extended, ExtendedHandshake,
    FountainMessage, FountainParams, Handshake, LocalExtensions, Message, MetadataMessage,
    Reserved, SymbolRange, TorrentShape,
};
use libfuzzer_sys::fuzz_target;

const T: u32 = 32;
const PIECES: u32 = 6;

struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn small(&mut self) -> u32 {
        u32::from(self.byte().unwrap_or(0))
    }
    fn u32(&mut self) -> u32 {
        let mut v = 0u32;
        for _ in 0..4 {
            v = v << 8 | self.small();
        }
        v
    }
    /// Mostly valid-looking numbers, sometimes anything.
    fn index(&mut self) -> u32 {
        match self.small() {
            0..=199 => self.small() % (PIECES + 1),
            200..=249 => self.small() * 16384 / 4,
            _ => self.u32(),
        }
    }
    fn bytes(&mut self, n: usize) -> Bytes {
        let n = n.min(self.0.len());
        let (a, rest) = self.0.split_at(n);
        self.0 = rest;
        Bytes::copy_from_slice(a)
    }
}

fn shape() -> TorrentShape {
    // Pieces of 32 KiB, the last one 5000 bytes.
    TorrentShape::new(32768, u64::from(PIECES - 1) * 32768 + 5000).expect("valid shape")
}

fn config(ut_metadata: u8, bf_raptorq: u8, fast: bool) -> ConnectionConfig {
    ConnectionConfig {
        reserved: Reserved::bitfountain().with_fast(fast),
        extensions: LocalExtensions {
            ut_metadata,
            bf_raptorq,
            ut_pex: 5,
            fountain: FountainParams {
                version: 1,
                symbol_size: T,
            },
        },
        recent_cancel_memory: 64,
        ..ConnectionConfig::default()
    }
}

fn peer_handshake(fast: bool) -> Handshake {
    Handshake {
        reserved: Reserved::bitfountain().with_fast(fast),
        info_hash: InfoHash([1; 20]),
        peer_id: PeerId([2; 20]),
    }
}

fn request(s: &mut Script<'_>) -> BlockRequest {
    let piece = s.index();
    let begin = s.index();
    let length = if s.small() < 200 { 16384 } else { s.index() };
    BlockRequest::new(piece, begin, length)
}

fn range(s: &mut Script<'_>) -> SymbolRange {
    SymbolRange::new(s.index(), s.small() % 64, 1 + s.small() % 16)
}

/// A message a peer might send, built from the script.
fn message(s: &mut Script<'_>) -> Message {
    match s.small() % 22 {
        0 => Message::KeepAlive,
        1 => Message::Choke,
        2 => Message::Unchoke,
        3 => Message::Interested,
        4 => Message::NotInterested,
        5 => Message::Have(s.index()),
        6 => {
            let n = usize::from(s.byte().unwrap_or(1) % 4);
            Message::Bitfield(s.bytes(n))
        }
        7 => Message::Request(request(s)),
        8 => {
            let r = request(s);
            Message::Piece(Block {
                piece: r.piece,
                begin: r.begin,
                data: Bytes::from(vec![0; (r.length % 16385) as usize]),
            })
        }
        9 => Message::Cancel(request(s)),
        10 => Message::Port(s.small() as u16),
        11 => Message::Suggest(s.index()),
        12 => Message::HaveAll,
        13 => Message::HaveNone,
        14 => Message::Reject(request(s)),
        15 => Message::AllowedFast(s.index()),
        16 => {
            let mut hs = ExtendedHandshake::default();
            hs.extensions
                .insert(b"ut_metadata".to_vec(), s.small() as u8);
            hs.extensions
                .insert(b"bf_raptorq".to_vec(), s.small() as u8);
            hs.fountain = Some(FountainParams {
                version: 1 + s.small() % 2,
                symbol_size: if s.small() < 200 { T } else { s.u32() },
            });
            Message::Extended(Extended::Handshake(Box::new(hs)))
        }
        17 => {
            let piece = s.small() % 4;
            let message = match s.small() % 4 {
                0 => MetadataMessage::Request { piece },
                1 => MetadataMessage::Data {
                    piece,
                    total_size: s.u32(),
                    data: s.bytes(64),
                },
                2 => MetadataMessage::Reject { piece },
                _ => MetadataMessage::Unknown { msg_type: 7 },
            };
            Message::Extended(Extended::Metadata { id: 1, message })
        }
        18..=20 => {
            let message = match s.small() % 4 {
                0 => FountainMessage::SymbolRequest(range(s)),
                1 => FountainMessage::Symbol {
                    piece: s.index(),
                    esi: s.small() % 64,
                    data: Bytes::from(vec![0; T as usize]),
                },
                2 => FountainMessage::SymbolCancel { piece: s.index() },
                _ => FountainMessage::SymbolReject(range(s)),
            };
            Message::Extended(Extended::Fountain { id: 2, message })
        }
        _ => Message::Unknown {
            id: 30,
            payload: s.bytes(8),
        },
    }
}

/// An engine action picked by the script (shared with the two-peer property test).
fn local(c: &mut Connection, s: &mut Script<'_>, now: Instant) {
    let op = s.byte().unwrap_or(0);
    let (a, b) = (s.small(), s.small());
    engine_actions::act(c, &shape(), T, op, a, b, now);
}

fn drain(c: &mut Connection, now: Instant) -> BytesMut {
    while c.poll_event().is_some() {}
    let mut out = BytesMut::new();
    c.encode_pending(&mut out, now);
    out
}

fn one_connection(s: &mut Script<'_>, fast: bool, known: bool) {
    let now = Instant::now();
    let mut c = Connection::new(
        config(1, 2, true),
        &peer_handshake(fast),
        known.then(shape),
        now,
    );
    for _ in 0..512 {
        let Some(tag) = s.byte() else { break };
        let result = match tag % 8 {
            0..=3 => {
                let mut buf = BytesMut::new();
                message(s).encode(&mut buf);
                c.receive(&mut buf, now)
            }
            4 => {
                let n = (s.small() % 32) as usize;
                let mut buf = BytesMut::from(&s.bytes(n)[..]);
                c.receive(&mut buf, now)
            }
            5 if !known => c.set_shape(shape()).map(|()| 0),
            _ => {
                local(&mut c, s, now);
                Ok(0)
            }
        };
        if result.is_err() {
            return;
        }
        drain(&mut c, now);
    }
}

fn two_peers(s: &mut Script<'_>, fast: bool) {
    let now = Instant::now();
    let mut a = Connection::new(
        config(1, 2, fast),
        &peer_handshake(fast),
        Some(shape()),
        now,
    );
    let mut b = Connection::new(
        config(3, 4, fast),
        &peer_handshake(fast),
        Some(shape()),
        now,
    );
    for c in [&mut a, &mut b] {
        c.send_extended_handshake(ExtendedHandshake::default())
            .expect("both set the BEP 10 bit");
    }
    // B seeds; A has the first half, so requests can go both ways.
    let mut half = Bitfield::new(PIECES);
    for p in 0..PIECES / 2 {
        half.set(p);
    }
    a.send_pieces(&half).expect("first message");
    b.send_pieces(&Bitfield::full(PIECES))
        .expect("first message");
    for _ in 0..512 {
        let Some(tag) = s.byte() else { break };
        match tag % 3 {
            0 => local(&mut a, s, now),
            1 => local(&mut b, s, now),
            _ => {
                let mut ab = drain(&mut a, now);
                let mut ba = drain(&mut b, now);
                if let Err(e) = b.receive(&mut ab, now) {
                    panic!("b saw a violation from an honest a: {e}");
                }
                if let Err(e) = a.receive(&mut ba, now) {
                    panic!("a saw a violation from an honest b: {e}");
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut s = Script(data);
    let Some(ctl) = s.byte() else { return };
    let fast = ctl & 2 != 0;
    if ctl & 1 == 0 {
        one_connection(&mut s, fast, ctl & 4 != 0);
    } else {
        two_peers(&mut s, fast);
    }
});
