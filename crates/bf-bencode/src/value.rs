//! The bencode value tree: borrowed from the input where it can be, owned where it is built.

use std::borrow::Cow;
use std::fmt;

/// A bencode value.
///
/// Decoded values borrow their strings from the input buffer; values built by a program
/// may own them (`Cow::Owned`). [`Value::into_owned`] detaches a tree from its buffer.
#[derive(Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i…e`: a signed 64-bit integer.
    Int(i64),
    /// `N:…`: a byte string (not necessarily UTF-8).
    Bytes(Cow<'a, [u8]>),
    /// `l…e`: a list.
    List(Vec<Value<'a>>),
    /// `d…e`: a dictionary.
    Dict(Dict<'a>),
}

/// The kind of a [`Value`], used in error messages ("expected integer, found list").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer.
    Int,
    /// A byte string.
    Bytes,
    /// A list.
    List,
    /// A dictionary.
    Dict,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Int => "integer",
            Kind::Bytes => "byte string",
            Kind::List => "list",
            Kind::Dict => "dictionary",
        })
    }
}

impl<'a> Value<'a> {
    /// A byte-string value borrowing `b`.
    pub fn bytes(b: &'a [u8]) -> Self {
        Value::Bytes(Cow::Borrowed(b))
    }

    /// A byte-string value owning `b`.
    pub fn owned_bytes(b: impl Into<Vec<u8>>) -> Value<'static> {
        Value::Bytes(Cow::Owned(b.into()))
    }

    /// A byte-string value holding the UTF-8 bytes of `s`.
    pub fn string(s: &'a str) -> Self {
        Value::Bytes(Cow::Borrowed(s.as_bytes()))
    }

    /// What kind of value this is.
    pub fn kind(&self) -> Kind {
        match self {
            Value::Int(_) => Kind::Int,
            Value::Bytes(_) => Kind::Bytes,
            Value::List(_) => Kind::List,
            Value::Dict(_) => Kind::Dict,
        }
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The byte string, if this is one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a byte string holding valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// A copy of this tree that owns all of its bytes.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Int(i) => Value::Int(i),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::List(l) => Value::List(l.into_iter().map(Value::into_owned).collect()),
            Value::Dict(d) => Value::Dict(d.into_owned()),
        }
    }

    /// The canonical encoding of this value (dictionary keys sorted, duplicates dropped).
    pub fn to_bytes(&self) -> Vec<u8> {
        crate::encode::to_vec(self)
    }
}

impl From<i64> for Value<'_> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(b: &'a [u8]) -> Self {
        Value::bytes(b)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::string(s)
    }
}

impl From<Vec<u8>> for Value<'static> {
    fn from(b: Vec<u8>) -> Self {
        Value::Bytes(Cow::Owned(b))
    }
}

impl From<String> for Value<'static> {
    fn from(s: String) -> Self {
        Value::Bytes(Cow::Owned(s.into_bytes()))
    }
}

impl<'a> From<Vec<Value<'a>>> for Value<'a> {
    fn from(l: Vec<Value<'a>>) -> Self {
        Value::List(l)
    }
}

impl<'a> From<Dict<'a>> for Value<'a> {
    fn from(d: Dict<'a>) -> Self {
        Value::Dict(d)
    }
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Bytes(b) => fmt_bytes(b, f),
            Value::List(l) => f.debug_list().entries(l).finish(),
            Value::Dict(d) => fmt::Debug::fmt(d, f),
        }
    }
}

/// Shows printable strings as text and anything else as hex, so hashes stay readable.
fn fmt_bytes(b: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => write!(f, "{s:?}"),
        _ => {
            f.write_str("0x")?;
            for byte in b.iter().take(64) {
                write!(f, "{byte:02x}")?;
            }
            if b.len() > 64 {
                write!(f, "…({} bytes)", b.len())?;
            }
            Ok(())
        }
    }
}

/// One dictionary entry: key, value, and for decoded entries the value's exact bytes.
#[derive(Clone)]
struct Entry<'a> {
    key: Cow<'a, [u8]>,
    value: Value<'a>,
    raw: Option<&'a [u8]>,
}

/// A bencode dictionary.
///
/// Entries keep the order they had in the input (a leniently decoded file may have them
/// unsorted); the encoder sorts them. Decoded entries remember the exact input bytes of their
/// value ([`Dict::raw`]), which is what an info-hash must be computed over.
#[derive(Clone, Default)]
pub struct Dict<'a> {
    entries: Vec<Entry<'a>>,
}

impl PartialEq for Dict<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, v)| other.get(k).is_some_and(|ov| ov == v))
    }
}

impl Eq for Dict<'_> {}

impl<'a> Dict<'a> {
    /// An empty dictionary.
    pub fn new() -> Self {
        Dict::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value stored under `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entry(key).map(|e| &e.value)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.entry(key).is_some()
    }

    /// The exact bytes the value under `key` had in the decoded input.
    ///
    /// `None` when the key is absent or the entry was inserted by a program rather than decoded.
    pub fn raw(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.entry(key).and_then(|e| e.raw)
    }

    /// Inserts or replaces the value under `key`, returning the previous one.
    pub fn insert(
        &mut self,
        key: impl Into<Cow<'a, [u8]>>,
        value: impl Into<Value<'a>>,
    ) -> Option<Value<'a>> {
        let key = key.into();
        let value = value.into();
        if let Some(e) = self.entries.iter_mut().find(|e| *e.key == *key) {
            e.raw = None;
            return Some(std::mem::replace(&mut e.value, value));
        }
        self.entries.push(Entry {
            key,
            value,
            raw: None,
        });
        None
    }

    /// Appends an entry without looking for an existing one: O(1), for building large
    /// dictionaries whose keys the caller knows to be distinct. Should a key repeat, lookups
    /// and the encoder see only its first occurrence.
    pub fn append(&mut self, key: impl Into<Cow<'a, [u8]>>, value: impl Into<Value<'a>>) {
        self.entries.push(Entry {
            key: key.into(),
            value: value.into(),
            raw: None,
        });
    }

    /// Removes the value under `key`.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value<'a>> {
        let pos = self.entries.iter().position(|e| *e.key == *key)?;
        Some(self.entries.remove(pos).value)
    }

    /// Entries in their stored order (input order for decoded dictionaries).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Value<'a>)> {
        self.entries.iter().map(|e| (&*e.key, &e.value))
    }

    /// Entries sorted by key, as they are encoded.
    pub fn sorted(&self) -> Vec<(&[u8], &Value<'a>)> {
        let mut v: Vec<_> = self.iter().collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// A copy that owns all of its bytes (the raw spans are dropped with the input).
    pub fn into_owned(self) -> Dict<'static> {
        Dict {
            entries: self
                .entries
                .into_iter()
                .map(|e| Entry {
                    key: Cow::Owned(e.key.into_owned()),
                    value: e.value.into_owned(),
                    raw: None,
                })
                .collect(),
        }
    }

    /// Appends a decoded entry; the decoder has already checked order and duplicates.
    pub(crate) fn push_decoded(&mut self, key: &'a [u8], value: Value<'a>, raw: &'a [u8]) {
        self.entries.push(Entry {
            key: Cow::Borrowed(key),
            value,
            raw: Some(raw),
        });
    }

    /// Keys of decoded entries, borrowed from the input.
    pub(crate) fn iter_keys_borrowed(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        self.entries.iter().filter_map(|e| match e.key {
            Cow::Borrowed(k) => Some(k),
            Cow::Owned(_) => None,
        })
    }

    fn entry(&self, key: &[u8]) -> Option<&Entry<'a>> {
        self.entries.iter().find(|e| *e.key == *key)
    }
}

impl fmt::Debug for Dict<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Key<'k>(&'k [u8]);
        impl fmt::Debug for Key<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_bytes(self.0, f)
            }
        }
        f.debug_map()
            .entries(self.iter().map(|(k, v)| (Key(k), v)))
            .finish()
    }
}

impl<'a, K: Into<Cow<'a, [u8]>>, V: Into<Value<'a>>> FromIterator<(K, V)> for Dict<'a> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut d = Dict::new();
        for (k, v) in iter {
            d.insert(k, v);
        }
        d
    }
}
