//! One engine action on a [`Connection`], chosen by a number: what an honest engine may do
//! (answer the first outstanding request, cancel what it asked for, announce pieces, …).
//! The two-peer property test in `state_machine.rs` and the `wire_state` fuzz target drive
//! connections with it, so both explore the same actions. Refusals (`SendError`) are
//! expected and ignored: an engine asking for something not allowed is told so locally.

use std::time::{Duration, Instant};

use bf_wire::bytes::Bytes;
use bf_wire::{
    Bitfield, Block, BlockRequest, Connection, ExtendedHandshake, SymbolRange, TorrentShape,
};

/// Number of distinct actions; `op` is taken modulo this.
pub const ACTIONS: u8 = 22;

/// Performs action `op` on `c`, for a torrent of `shape` and symbols of `symbol_size` bytes;
/// `a` and `b` pick the piece (always one of the torrent's), offsets and ESIs.
pub fn act(
    c: &mut Connection,
    shape: &TorrentShape,
    symbol_size: u32,
    op: u8,
    a: u32,
    b: u32,
    now: Instant,
) {
    let piece = a % shape.piece_count().max(1);
    let len = shape.piece_len(piece).unwrap_or(1);
    let begin = (b % 4) * 16384;
    let r = BlockRequest::new(piece, begin, 16384.min(len.saturating_sub(begin)).max(1));
    let first_out = c.outstanding_requests().map(|(r, _)| r).next();
    let first_req = c.peer_requests().next();
    let first_sym = c.peer_symbol_requests().next();
    let _ = match op % ACTIONS {
        0 => {
            c.unchoke();
            Ok(())
        }
        1 => {
            c.choke();
            Ok(())
        }
        // An honest engine says it is interested before it asks (spec §8, BEP 3); the odd
        // action asks as things stand, which may be refused.
        2 => {
            c.interested();
            c.request(r, now)
        }
        3 => c.request(r, now),
        4 => c.cancel(first_out.unwrap_or(r)),
        5 => match first_req {
            Some(r) => c.send_block(Block {
                piece: r.piece,
                begin: r.begin,
                data: Bytes::from(vec![0xa5; r.length as usize]),
            }),
            None => Ok(()),
        },
        6 => match first_req {
            Some(r) => c.reject(r),
            None => Ok(()),
        },
        7 => {
            c.interested();
            c.request_symbols(SymbolRange::new(piece, b % 40, 1 + a % 6), now)
        }
        8 => c.request_symbols(SymbolRange::new(piece, b % 40, 1 + a % 6), now),
        9 => match first_sym {
            Some(s) => c.send_symbol(
                s.piece,
                s.first_esi,
                Bytes::from(vec![1; symbol_size as usize]),
            ),
            None => Ok(()),
        },
        10 => match first_sym {
            Some(s) => c.reject_symbols(s),
            None => Ok(()),
        },
        11 => c.cancel_symbols(piece),
        12 => c.allow_fast(piece),
        13 => c.have(piece),
        14 => {
            c.interested();
            Ok(())
        }
        15 => {
            let mut mine = Bitfield::new(shape.piece_count());
            mine.set(piece);
            c.send_pieces(&mine)
        }
        16 => c.suggest(piece),
        17 => c.send_extended_handshake(ExtendedHandshake::default()),
        18 => c.request_metadata(b % 4, now),
        19 => {
            c.not_interested();
            Ok(())
        }
        20 => {
            let later = now + Duration::from_secs(u64::from(b % 200));
            if a % 2 == 0 {
                c.poll_keepalive(later);
            } else {
                c.handle_timeout(later);
            }
            Ok(())
        }
        _ => c.send_have_none(),
    };
}
