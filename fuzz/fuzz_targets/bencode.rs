//! Any bytes: both decoders return a value or an error; a decoded value re-encodes canonically
//! and decodes strictly to the same value.
#![no_main]

use bf_bencode::{decode, Decoder, Mode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = Decoder::new(Mode::Lenient).decode(data) {
        let canonical = v.to_bytes();
        let again = decode(&canonical).expect("canonical encoding must decode strictly");
        assert_eq!(again, v);
    }
    if let Ok(v) = decode(data) {
        assert_eq!(v.to_bytes(), data, "strict input is canonical");
    }
});
