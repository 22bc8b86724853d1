//! Every way bencode input can be refused: the error kind and its byte offset.

use bf_bencode::{decode, decode_lenient, DecodeErrorKind as K, Decoder, Limits, Mode, Value};

fn err(input: &[u8]) -> (usize, K) {
    let e = decode(input).expect_err("input must be refused");
    (e.offset, e.kind)
}

#[test]
fn malformed_integers() {
    assert_eq!(err(b"i03e"), (0, K::InvalidInteger("leading zero")));
    assert_eq!(err(b"i-0e"), (0, K::InvalidInteger("negative zero")));
    assert_eq!(err(b"ie"), (0, K::InvalidInteger("no digits")));
    assert_eq!(err(b"i-e"), (0, K::InvalidInteger("no digits")));
    assert_eq!(
        err(b"i1x2e"),
        (0, K::InvalidInteger("not a decimal number"))
    );
    assert_eq!(err(b"i+1e"), (0, K::InvalidInteger("not a decimal number")));
    assert_eq!(
        err(b"i9223372036854775808e"),
        (0, K::InvalidInteger("out of the 64-bit range"))
    );
    assert_eq!(
        decode(b"i-9223372036854775808e").unwrap(),
        Value::Int(i64::MIN)
    );
    assert!(matches!(err(b"i12"), (3, K::UnexpectedEof { .. })));
}

#[test]
fn malformed_strings() {
    assert_eq!(err(b"01:a"), (0, K::InvalidLength("leading zero")));
    assert_eq!(
        err(b"5:abc"),
        (
            0,
            K::Truncated {
                needed: 5,
                available: 3
            }
        )
    );
    assert!(matches!(err(b"12"), (2, K::UnexpectedEof { .. })));
    assert_eq!(
        err(b"99999999999999999999999:"),
        (0, K::InvalidLength("not a decimal length"))
    );
    assert_eq!(
        err(b"18446744073709551616:x"),
        (0, K::InvalidLength("too large"))
    );
}

#[test]
fn structure_errors_carry_offsets() {
    assert!(matches!(err(b""), (0, K::UnexpectedEof { .. })));
    assert!(matches!(
        err(b"x"),
        (0, K::UnexpectedByte { found: b'x', .. })
    ));
    assert!(matches!(err(b"l"), (1, K::UnexpectedEof { .. })));
    assert!(matches!(err(b"li1e"), (4, K::UnexpectedEof { .. })));
    assert!(matches!(
        err(b"di1ei2ee"),
        (1, K::UnexpectedByte { found: b'i', .. })
    ));
    assert_eq!(err(b"i1ei2e"), (3, K::TrailingData));
    assert!(matches!(err(b"d1:a"), (4, K::UnexpectedEof { .. })));
}

#[test]
fn strict_refuses_unsorted_and_duplicate_keys_lenient_keeps_the_first() {
    assert_eq!(err(b"d1:bi1e1:ai2ee"), (7, K::UnsortedKey));
    assert_eq!(err(b"d1:ai1e1:ai2ee"), (7, K::DuplicateKey));

    let v = decode_lenient(b"d1:bi1e1:ai2e1:bi3ee").unwrap();
    let d = v.as_dict().unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d.get(b"b").and_then(Value::as_int), Some(1));
    assert_eq!(v.to_bytes(), b"d1:ai2e1:bi1ee");
}

#[test]
fn lenient_duplicate_detection_survives_many_unsorted_keys() {
    // 200k keys in descending order: quadratic duplicate checks would hang here.
    let mut input = b"d".to_vec();
    for i in (0..200_000u32).rev() {
        let k = format!("{i:08}");
        input.extend_from_slice(format!("{}:{k}i{i}e", k.len()).as_bytes());
    }
    // A repeat of an earlier key, with another value: the first one must win.
    input.extend_from_slice(b"8:00000007i-1ee");
    let v = decode_lenient(&input).unwrap();
    let d = v.as_dict().unwrap();
    assert_eq!(d.len(), 200_000);
    assert_eq!(d.get(b"00000007").and_then(Value::as_int), Some(7));
}

#[test]
fn limits_are_enforced_before_allocation() {
    let tight = Decoder::new(Mode::Strict).with_limits(Limits {
        max_depth: 3,
        max_bytes_len: 4,
        max_items: 5,
    });
    assert!(matches!(
        tight.decode(b"lllleeee").unwrap_err().kind,
        K::TooDeep { limit: 3 }
    ));
    assert!(tight.decode(b"llleee").is_ok());
    assert_eq!(
        tight.decode(b"5:abcde").unwrap_err().kind,
        K::StringTooLong { len: 5, limit: 4 }
    );
    assert!(matches!(
        tight.decode(b"li1ei2ei3ei4ei5ee").unwrap_err().kind,
        K::TooManyItems { limit: 5 }
    ));
    // A declared length far beyond the input is refused without allocating it.
    assert!(decode(b"4294967295:x").is_err());
    // Deep nesting with the default limit: an error, not a stack overflow.
    let deep = vec![b'l'; 1_000_000];
    assert!(matches!(
        decode(&deep).unwrap_err().kind,
        K::TooDeep { limit: 64 }
    ));
}

#[test]
fn raw_bytes_are_the_input_bytes() {
    let input = b"d8:announce3:url4:infod6:lengthi3e4:name1:xee";
    let v = decode_lenient(input).unwrap();
    let d = v.as_dict().unwrap();
    assert_eq!(d.raw(b"info"), Some(&b"d6:lengthi3e4:name1:xe"[..]));
    assert_eq!(d.raw(b"announce"), Some(&b"3:url"[..]));
    assert_eq!(d.raw(b"missing"), None);
}

#[test]
fn decode_prefix_reports_consumed_bytes() {
    let input = b"d8:msg_typei1e5:piecei0eeRAWDATA";
    let (v, used) = Decoder::new(Mode::Strict).decode_prefix(input).unwrap();
    assert_eq!(&input[used..], b"RAWDATA");
    assert_eq!(
        v.as_dict().unwrap().get(b"piece").and_then(Value::as_int),
        Some(0)
    );
}

#[test]
fn errors_display_offset_and_expectation() {
    let e = decode(b"d1:ai1e").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("byte 7"), "{msg}");
    assert!(msg.contains("expected a dictionary key or 'e'"), "{msg}");
}
