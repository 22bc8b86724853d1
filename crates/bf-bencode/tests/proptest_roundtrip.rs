//! Property tests: canonical round trips, lenient/strict agreement, no panics on any input.

use bf_bencode::{decode, decode_lenient, to_vec, Dict, Value};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value<'static>> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::List),
            proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..8), inner), 0..8)
                .prop_map(|pairs| Value::Dict(pairs.into_iter().collect::<Dict<'static>>())),
        ]
    })
}

proptest! {
    #[test]
    fn encode_then_strict_decode_round_trips(v in value()) {
        let bytes = to_vec(&v);
        let back = decode(&bytes).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(to_vec(&back), bytes);
    }

    #[test]
    fn bendy_agrees_with_our_canonical_encoding(v in value()) {
        // bendy's own strict decoder accepts exactly what we emit, as one object.
        let bytes = to_vec(&v);
        let mut d = bendy::decoding::Decoder::new(&bytes).with_max_depth(64);
        prop_assert!(d.next_object().is_ok());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let strict = decode(&data);
        let lenient = decode_lenient(&data);
        if let Ok(v) = &strict {
            // Whatever strict mode accepts, lenient accepts identically, and it is canonical.
            prop_assert_eq!(lenient.as_ref().ok(), Some(v));
            prop_assert_eq!(to_vec(v), data.clone());
        }
    }

    #[test]
    fn truncations_of_valid_input_are_errors(v in value(), cut in any::<prop::sample::Index>()) {
        let bytes = to_vec(&v);
        let n = cut.index(bytes.len());
        prop_assert!(decode(&bytes[..n]).is_err());
    }
}
