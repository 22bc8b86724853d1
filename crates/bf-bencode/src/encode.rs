//! Canonical encoding through bendy's encoder: keys sorted, each key once.

use bendy::encoding::{Error as BendyError, SingleItemEncoder, ToBencode};

use crate::value::Value;

/// The canonical encoding of `value`.
///
/// ```
/// use bf_bencode::{Dict, Value};
/// let mut d = Dict::new();
/// d.insert(&b"b"[..], 2i64);
/// d.insert(&b"a"[..], "x");
/// assert_eq!(bf_bencode::to_vec(&Value::Dict(d)), b"d1:a1:x1:bi2ee");
/// ```
pub fn to_vec(value: &Value<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len_hint(value));
    write_value(value, &mut out);
    out
}

/// Appends the canonical encoding of `value` to `out`.
pub fn write_value(value: &Value<'_>, out: &mut Vec<u8>) {
    // Depth is bounded by how the tree was built: decoded trees by the decoder's limit, and a
    // program's own trees by that program. bendy's encoder cannot fail on a well-formed tree
    // with sorted keys, which is what `Canonical` hands it.
    let mut encoder = bendy::encoding::Encoder::new().with_max_depth(usize::MAX);
    match encoder.emit(Canonical(value)) {
        Ok(()) => match encoder.get_output() {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(e) => unreachable_encoding(e),
        },
        Err(e) => unreachable_encoding(e),
    }
}

#[cold]
fn unreachable_encoding(e: BendyError) -> ! {
    // Keys are sorted and deduplicated before bendy sees them, so this is a bug in this crate.
    panic!("bendy refused a canonical tree: {e}")
}

struct Canonical<'v, 'a>(&'v Value<'a>);

impl ToBencode for Canonical<'_, '_> {
    const MAX_DEPTH: usize = usize::MAX;

    fn encode(&self, encoder: SingleItemEncoder) -> Result<(), BendyError> {
        match self.0 {
            Value::Int(i) => encoder.emit_int(*i),
            Value::Bytes(b) => encoder.emit_bytes(b),
            Value::List(l) => encoder.emit_list(|e| {
                for item in l {
                    e.emit(Canonical(item))?;
                }
                Ok(())
            }),
            Value::Dict(d) => {
                let mut entries = d.iter().collect::<Vec<_>>();
                // Stable: of repeated keys (possible via `Dict::append`) the first is kept.
                entries.sort_by(|a, b| a.0.cmp(b.0));
                entries.dedup_by(|later, earlier| later.0 == earlier.0);
                encoder.emit_dict(|mut e| {
                    for (k, v) in entries {
                        e.emit_pair(k, Canonical(v))?;
                    }
                    Ok(())
                })
            }
        }
    }
}

fn encoded_len_hint(value: &Value<'_>) -> usize {
    match value {
        Value::Int(_) => 22,
        Value::Bytes(b) => b.len() + 21,
        Value::List(l) => 2 + l.iter().map(encoded_len_hint).sum::<usize>(),
        Value::Dict(d) => {
            2 + d
                .iter()
                .map(|(k, v)| k.len() + 21 + encoded_len_hint(v))
                .sum::<usize>()
        }
    }
}
