//! The decoder: strict (canonical) or lenient, with limits checked before allocating.

use crate::error::{DecodeError, DecodeErrorKind as K};
use crate::value::{Dict, Value};

/// How much structure a decoder accepts before refusing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of lists and dictionaries (the top-level value is depth 1).
    pub max_depth: usize,
    /// Longest byte string, in bytes.
    pub max_bytes_len: usize,
    /// Most values (of any kind) in the whole input.
    pub max_items: usize,
}

impl Default for Limits {
    /// Enough for any real `.torrent` file (hundreds of thousands of files), small enough
    /// that a hostile input cannot make the decoder allocate more than a few hundred MiB.
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_bytes_len: 256 << 20,
            max_items: 4 << 20,
        }
    }
}

/// What a decoder tolerates beyond canonical bencode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Canonical bencode only: dictionary keys sorted and unique.
    Strict,
    /// Also accept unsorted dictionary keys and duplicate keys (the first occurrence wins),
    /// as found in real-world `.torrent` files. Integers and lengths must still be well-formed.
    Lenient,
}

/// A configured bencode decoder.
///
/// ```
/// use bf_bencode::{Decoder, Mode};
/// let v = Decoder::new(Mode::Lenient).decode(b"d1:bi1e1:ai2ee").unwrap();
/// assert_eq!(v.as_dict().unwrap().get(b"a").unwrap().as_int(), Some(2));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Decoder {
    mode: Mode,
    limits: Limits,
}

impl Decoder {
    /// A decoder in `mode` with the default [`Limits`].
    pub fn new(mode: Mode) -> Self {
        Decoder {
            mode,
            limits: Limits::default(),
        }
    }

    /// The same decoder with other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Decodes exactly one value that spans all of `input`.
    pub fn decode<'a>(&self, input: &'a [u8]) -> Result<Value<'a>, DecodeError> {
        let (value, used) = self.decode_prefix(input)?;
        if used != input.len() {
            return Err(DecodeError::new(used, K::TrailingData));
        }
        Ok(value)
    }

    /// Decodes one value at the start of `input` and returns it with the number of bytes it
    /// took; what follows is left to the caller (a BEP 9 data message carries raw bytes after
    /// its dictionary).
    pub fn decode_prefix<'a>(&self, input: &'a [u8]) -> Result<(Value<'a>, usize), DecodeError> {
        let mut p = Parser {
            input,
            pos: 0,
            items: 0,
            decoder: self,
        };
        let v = p.value(1)?;
        Ok((v, p.pos))
    }
}

/// Decodes `input` strictly with the default limits.
pub fn decode(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    Decoder::new(Mode::Strict).decode(input)
}

/// Decodes `input` leniently (unsorted and duplicate keys allowed) with the default limits.
pub fn decode_lenient(input: &[u8]) -> Result<Value<'_>, DecodeError> {
    Decoder::new(Mode::Lenient).decode(input)
}

struct Parser<'a, 'd> {
    input: &'a [u8],
    pos: usize,
    items: usize,
    decoder: &'d Decoder,
}

impl<'a> Parser<'a, '_> {
    fn err(&self, kind: K) -> DecodeError {
        DecodeError::new(self.pos, kind)
    }

    fn peek(&self, expected: &'static str) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err(K::UnexpectedEof { expected }))
    }

    fn count_item(&mut self) -> Result<(), DecodeError> {
        self.items += 1;
        if self.items > self.decoder.limits.max_items {
            return Err(self.err(K::TooManyItems {
                limit: self.decoder.limits.max_items,
            }));
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, DecodeError> {
        self.count_item()?;
        match self.peek("a value")? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.bytes().map(Value::bytes),
            b'l' => {
                self.enter(depth)?;
                let mut list = Vec::new();
                while self.peek("a list item or 'e'")? != b'e' {
                    list.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(list))
            }
            b'd' => {
                self.enter(depth)?;
                self.dict(depth).map(Value::Dict)
            }
            found => Err(self.err(K::UnexpectedByte {
                found,
                expected: "a value ('i', 'l', 'd' or a digit)",
            })),
        }
    }

    fn enter(&mut self, depth: usize) -> Result<(), DecodeError> {
        if depth > self.decoder.limits.max_depth {
            return Err(self.err(K::TooDeep {
                limit: self.decoder.limits.max_depth,
            }));
        }
        self.pos += 1;
        Ok(())
    }

    fn dict(&mut self, depth: usize) -> Result<Dict<'a>, DecodeError> {
        let mut dict = Dict::new();
        let mut last: Option<&'a [u8]> = None;
        // Built only once a lenient input goes out of order, so duplicate detection stays
        // linear even for a hostile dictionary with millions of unsorted keys.
        let mut seen: Option<std::collections::HashSet<&'a [u8]>> = None;
        loop {
            match self.peek("a dictionary key or 'e'")? {
                b'e' => {
                    self.pos += 1;
                    return Ok(dict);
                }
                b'0'..=b'9' => {}
                found => {
                    return Err(self.err(K::UnexpectedByte {
                        found,
                        expected: "a byte-string dictionary key or 'e'",
                    }))
                }
            }
            let key_pos = self.pos;
            let key = self.bytes()?;
            let order = last.map(|l| l.cmp(key));
            let duplicate = match (self.decoder.mode, order) {
                (_, None) | (_, Some(std::cmp::Ordering::Less)) => false,
                (Mode::Strict, Some(std::cmp::Ordering::Equal)) => {
                    return Err(DecodeError::new(key_pos, K::DuplicateKey))
                }
                (Mode::Strict, Some(std::cmp::Ordering::Greater)) => {
                    return Err(DecodeError::new(key_pos, K::UnsortedKey))
                }
                (Mode::Lenient, _) => {
                    let seen = seen.get_or_insert_with(|| dict.iter_keys_borrowed().collect());
                    !seen.insert(key)
                }
            };
            if let (Some(seen), None | Some(std::cmp::Ordering::Less)) = (&mut seen, order) {
                seen.insert(key);
            }
            let start = self.pos;
            let value = self.value(depth + 1)?;
            if !duplicate {
                dict.push_decoded(key, value, &self.input[start..self.pos]);
            }
            if self.decoder.mode == Mode::Strict || last.is_none_or(|l| l < key) {
                last = Some(key);
            }
        }
    }

    /// `i<digits>e`, canonical form only: no leading zeros, no `-0`, fits in an i64.
    fn int(&mut self) -> Result<i64, DecodeError> {
        let start = self.pos;
        self.pos += 1;
        let rest = &self.input[self.pos..];
        let Some(len) = rest.iter().position(|&b| b == b'e') else {
            return Err(DecodeError::new(
                self.input.len(),
                K::UnexpectedEof {
                    expected: "an integer ending in 'e'",
                },
            ));
        };
        let text = &rest[..len];
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        let bad = |why| DecodeError::new(start, K::InvalidInteger(why));
        if digits.is_empty() {
            return Err(bad("no digits"));
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad("not a decimal number"));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(bad("leading zero"));
        }
        if digits == b"0" && text.len() != digits.len() {
            return Err(bad("negative zero"));
        }
        let n = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| bad("out of the 64-bit range"))?;
        self.pos += len + 1;
        Ok(n)
    }

    /// `<len>:<bytes>`; the length is checked against the limit and the input before use.
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let rest = &self.input[self.pos..];
        let Some(colon) = rest.iter().take(21).position(|&b| b == b':') else {
            return Err(
                if rest.iter().take(21).all(u8::is_ascii_digit) && rest.len() < 21 {
                    DecodeError::new(
                        self.input.len(),
                        K::UnexpectedEof {
                            expected: "':' after a string length",
                        },
                    )
                } else {
                    DecodeError::new(start, K::InvalidLength("not a decimal length"))
                },
            );
        };
        let digits = &rest[..colon];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(DecodeError::new(
                start,
                K::InvalidLength("not a decimal length"),
            ));
        }
        if digits.len() > 1 && digits[0] == b'0' {
            return Err(DecodeError::new(start, K::InvalidLength("leading zero")));
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| DecodeError::new(start, K::InvalidLength("too large")))?;
        if len > self.decoder.limits.max_bytes_len {
            return Err(DecodeError::new(
                start,
                K::StringTooLong {
                    len,
                    limit: self.decoder.limits.max_bytes_len,
                },
            ));
        }
        let body = self.pos + colon + 1;
        let available = self.input.len() - body;
        if len > available {
            return Err(DecodeError::new(
                start,
                K::Truncated {
                    needed: len,
                    available,
                },
            ));
        }
        self.pos = body + len;
        Ok(&self.input[body..self.pos])
    }
}
