//! The test vectors of docs/fountain-extension.md §4.6: they pin the wire meaning of an ESI
//! (systematic source symbols, RFC 6330 repair symbols numbered from K) against any change of
//! the RaptorQ implementation underneath.
#![allow(clippy::unwrap_used)]

use bf_fountain::{sha1_digest, Bytes, PieceEncoder, PlanCache};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn check(len: usize, vectors: &[(u32, &str, &str)]) {
    let piece: Bytes = (0..len)
        .map(|n| (n % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let mut enc = PieceEncoder::new(0, piece, &mut PlanCache::new()).unwrap();
    for &(esi, first8, sha1) in vectors {
        let s = enc.symbol(esi).unwrap();
        assert_eq!(hex(&s[..8]), first8, "ESI {esi} of a {len}-byte piece");
        assert_eq!(
            hex(&sha1_digest(&s)),
            sha1,
            "ESI {esi} of a {len}-byte piece"
        );
    }
}

#[test]
fn short_piece_vectors() {
    check(
        40000,
        &[
            (
                0,
                "0001020304050607",
                "68f3b81a11de1e1629e81555b4e70aed955d1140",
            ),
            (
                1,
                "45464748494a4b4c",
                "de9ee0222cd528efc5e01227e4bf16cf6ac6836a",
            ),
            (
                2,
                "8a8b8c8d8e8f9091",
                "360f932f617e5929e5a7b39e39f81653b6f7006e",
            ),
            (
                3,
                "42f1a0c3b4079a92",
                "f94e009b05a93bf0642702073024ada0f11dd928",
            ),
            (
                4,
                "1ec844d861b7eff4",
                "2124017f5040e07060e44aaa1c1c7cdd0ffde764",
            ),
            (
                5,
                "dcdee39ed4d68f53",
                "eaf58843638929928aa9577d378b8803955873f9",
            ),
        ],
    );
}

#[test]
fn one_mib_piece_vectors() {
    let piece: Vec<u8> = (0..1 << 20).map(|n| (n % 251) as u8).collect();
    assert_eq!(
        hex(&sha1_digest(&piece)),
        "c2fc4cb20f1301a6b0dd211c19e69a13925dbe40"
    );
    check(
        1 << 20,
        &[
            (
                63,
                "5051525354555657",
                "7e675ce815c116243a9990183883252eacb897ea",
            ),
            (
                64,
                "885fe00dffa68f2c",
                "d9bc1a4ff552c427f65e4e80013dd92c1fab3846",
            ),
            (
                65,
                "e13640688e715f2c",
                "42cd7da1d12bb3ab309aca661f0aa0331aac89db",
            ),
            (
                66,
                "369ae32da8809d21",
                "eb7e13cb447233bcb7c9d9bab3711ca73a0d3c54",
            ),
        ],
    );
}
