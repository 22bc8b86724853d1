//! Turning stored symbols into piece bytes: plain concatenation, or a RaptorQ solve.

use bytes::{Bytes, BytesMut};
use raptorq::{EncodingPacket, PayloadId, SourceBlockDecoder};

use crate::{PieceLayout, SYMBOL_SIZE};

/// Concatenates the K source symbols (all present) into the unpadded piece: one copy, no solve.
pub(crate) fn concatenate<'a>(
    layout: &PieceLayout,
    mut block: impl FnMut(u32) -> Option<&'a Bytes>,
) -> Option<Bytes> {
    let k = layout.source_symbols();
    if k == 1 {
        return block(0).map(|b| b.slice(..layout.piece_len()));
    }
    let mut out = BytesMut::with_capacity(layout.piece_len());
    for esi in 0..k {
        let range = layout.block_range(esi)?;
        let b = block(esi)?;
        out.extend_from_slice(&b[..range.len()]);
    }
    Some(out.freeze())
}

/// Runs the RaptorQ solve over `symbols` (ESI, T bytes), returning the unpadded piece, or
/// `None` when the received ESIs do not determine the block (rank deficiency).
///
/// Every symbol must already be validated (ESI < 2^24, exactly T bytes): raptorq asserts on
/// both.
pub(crate) fn solve<'a>(
    layout: &PieceLayout,
    symbols: impl Iterator<Item = (u32, &'a [u8])>,
) -> Option<Bytes> {
    let oti = layout.oti();
    let mut decoder = SourceBlockDecoder::new(0, &oti, layout.padded_len() as u64);
    let packets = symbols
        .filter(|(esi, data)| *esi < crate::ESI_LIMIT && data.len() == SYMBOL_SIZE)
        .map(|(esi, data)| EncodingPacket::new(PayloadId::new(0, esi), data.to_vec()));
    let mut out = decoder.decode(packets)?;
    out.truncate(layout.piece_len());
    Some(Bytes::from(out))
}
