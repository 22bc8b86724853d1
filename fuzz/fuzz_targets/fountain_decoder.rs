//! Arbitrary (sender, ESI, length, bytes) sequences into a PieceDecoder for a small piece,
//! mixed with genuine symbols: never a panic, and a piece is only ever accepted if it is the
//! original one.
#![no_main]

use bf_fountain::{
    sha1_digest, Bytes, PieceDecoder, PieceEncoder, PlanCache, Verdict, SYMBOL_SIZE,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // Piece of 1 ..= 3T + 255 bytes (K = 1..4).
    let piece_len = (usize::from(data[0] % 4) * SYMBOL_SIZE + usize::from(data[1])).max(1);
    let piece: Bytes = (0..piece_len)
        .map(|i| (i % 253) as u8)
        .collect::<Vec<u8>>()
        .into();
    let hash = sha1_digest(&piece);
    let mut plans = PlanCache::new();
    let Ok(mut enc) = PieceEncoder::new(0, piece.clone(), &mut plans) else {
        return;
    };
    let Ok(mut dec) = PieceDecoder::<u8>::new(0, piece_len as u64) else {
        return;
    };
    let mut rest = &data[2..];
    // Each record: sender, flags, esi (u16 LE, or u32 LE if flags & 4), len (u16 LE), fill.
    for _ in 0..64 {
        if rest.len() < 6 {
            break;
        }
        let (sender, flags) = (rest[0], rest[1]);
        let (esi, used) = if flags & 4 != 0 && rest.len() >= 9 {
            (u32::from_le_bytes([rest[2], rest[3], rest[4], rest[5]]), 6)
        } else {
            (u32::from(u16::from_le_bytes([rest[2], rest[3]])), 4)
        };
        let len_at = used;
        if rest.len() < len_at + 3 {
            break;
        }
        let len = usize::from(u16::from_le_bytes([rest[len_at], rest[len_at + 1]]));
        let fill = rest[len_at + 2];
        rest = &rest[len_at + 3..];
        let piece_idx = u32::from(flags >> 6);
        let bytes = if flags & 2 != 0 {
            // A genuine symbol, possibly with one byte flipped.
            match enc.symbol(esi) {
                Ok(s) => {
                    let mut v = s.to_vec();
                    if flags & 8 != 0 {
                        let at = usize::from(fill) % v.len();
                        v[at] ^= 0xFF;
                    }
                    Bytes::from(v)
                }
                Err(_) => Bytes::from(vec![fill; len.min(2 * SYMBOL_SIZE)]),
            }
        } else {
            Bytes::from(vec![fill; len.min(2 * SYMBOL_SIZE)])
        };
        let _ = if flags & 1 != 0 {
            dec.add_block(sender, piece_idx, esi, bytes)
        } else {
            dec.add_symbol(sender, piece_idx, esi, bytes)
        };
        let _ = dec.try_decode();
    }
    if let Verdict::Verified { piece: got, .. } = dec.finish(&hash, &mut plans) {
        assert_eq!(got, piece, "only the original piece can verify");
    }
});
