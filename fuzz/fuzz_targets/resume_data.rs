//! Resume files: any bytes given to `ResumeData::from_bytes` give a record or an error, never
//! a panic; a record it accepts encodes to bytes that decode to the same record, and those
//! bytes are a fixed point of decoding and encoding. Records built from the input (any piece
//! count, any bits, any file sizes and times a record can hold) round-trip too.
#![no_main]

use bf_client::resume::ResumeData;
use bf_client::storage::FileStamp;
use bf_metainfo::InfoHash;
use bf_wire::Bitfield;
use libfuzzer_sys::fuzz_target;

fn round_trip(r: &ResumeData) {
    let bytes = r.to_bytes();
    let again = ResumeData::from_bytes(&bytes).expect("an encoded record must decode");
    assert_eq!(&again, r);
    assert_eq!(again.to_bytes(), bytes, "encoding is deterministic");
}

fn built(data: &[u8]) -> Option<ResumeData> {
    let (head, rest) = data.split_at_checked(22)?;
    let mut hash = [0u8; 20];
    hash.copy_from_slice(&head[..20]);
    let pieces = u32::from(u16::from_le_bytes([head[20], head[21]]));
    let (bits, rest) = rest.split_at_checked((pieces as usize).div_ceil(8).min(rest.len()))?;
    let mut have = Bitfield::new(pieces);
    for p in 0..pieces {
        if bits
            .get(p as usize / 8)
            .is_some_and(|b| b & (0x80 >> (p % 8)) != 0)
        {
            have.set(p);
        }
    }
    let files = rest
        .chunks_exact(20)
        .map(|c| {
            let size = u64::from_le_bytes(c[..8].try_into().unwrap_or([0; 8])) >> 1;
            let secs = i64::from_le_bytes(c[8..16].try_into().unwrap_or([0; 8]));
            let ns = u32::from_le_bytes(c[16..20].try_into().unwrap_or([0; 4])) % 1_000_000_000;
            FileStamp {
                size,
                mtime_ns: i128::from(secs) * 1_000_000_000 + i128::from(ns),
            }
        })
        .collect();
    Some(ResumeData {
        info_hash: InfoHash(hash),
        have,
        files,
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = ResumeData::from_bytes(data) {
        assert_eq!(r.have.as_bytes().len(), r.have.len().div_ceil(8) as usize);
        round_trip(&r);
    }
    if let Some(r) = built(data) {
        round_trip(&r);
    }
});
