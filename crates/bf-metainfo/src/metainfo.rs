//! A parsed, validated v1 torrent: [`Metainfo::from_bytes`] and [`Metainfo::to_bytes`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bf_bencode::{Decoder, Dict, Mode, Value};

use crate::error::MetainfoError;
use crate::ids::InfoHash;
use crate::safe_path::check_components;

/// Largest piece length accepted when reading (libtorrent refuses above 128 MiB to 256 MiB;
/// anything larger is an attack on the reader's memory, not a real torrent).
pub const MAX_PIECE_LENGTH: u64 = 256 << 20;
/// Largest total content length accepted: 1 PiB.
pub const MAX_TOTAL_LENGTH: u64 = 1 << 50;
/// Largest `.torrent` file [`Metainfo::from_file`] reads: the pieces of a 1 PiB torrent at
/// 16 MiB pieces take 1.3 MiB, so this is far above any real one.
pub const MAX_TORRENT_FILE: u64 = 256 << 20;
/// Most files (padding files included) one torrent may list.
pub const MAX_FILES: usize = 1 << 20;

/// One file of a torrent's content, in piece-layout order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components relative to the content root: the single component `name` for a
    /// single-file torrent, the `path` list (under the directory `name`) for a multi-file one.
    pub path: Vec<String>,
    /// Length in bytes.
    pub length: u64,
    /// Offset of the file's first byte in the concatenated content.
    pub offset: u64,
    /// A BEP 47 padding file (`attr` contains `p`): part of the piece layout, all zeros, never
    /// written to disk.
    pub padding: bool,
}

impl FileEntry {
    /// The path components joined into a relative path.
    pub fn relative_path(&self) -> PathBuf {
        self.path.iter().collect()
    }

    /// The path components joined with `/`, for display.
    pub fn display_path(&self) -> String {
        self.path.join("/")
    }
}

/// A DHT bootstrap node from the `nodes` field (BEP 5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// Host name or IP literal.
    pub host: String,
    /// UDP port, never 0.
    pub port: u16,
}

/// A validated v1 torrent.
///
/// Keeps the `info` dictionary's bytes exactly as they were in the file, so the info-hash
/// and any re-encoding ([`Metainfo::to_bytes`]) never depend on how this crate would have
/// encoded them. Hybrid v1+v2 torrents are read as v1: their v2 fields are kept as opaque
/// bytes and ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    info_bytes: Vec<u8>,
    info_hash: InfoHash,
    name: String,
    piece_length: u64,
    pieces: Vec<u8>,
    files: Vec<FileEntry>,
    single_file: bool,
    total_length: u64,
    private: bool,
    source: Option<String>,
    announce: Option<String>,
    announce_list: Vec<Vec<String>>,
    nodes: Vec<Node>,
    url_list: Vec<String>,
    comment: Option<String>,
    created_by: Option<String>,
    creation_date: Option<i64>,
    /// Top-level keys this crate does not interpret (e.g. `piece layers`, `encoding`),
    /// kept so that re-encoding loses nothing.
    extra: Vec<(Vec<u8>, Value<'static>)>,
}

const KNOWN_TOP_KEYS: [&[u8]; 8] = [
    b"announce",
    b"announce-list",
    b"comment",
    b"created by",
    b"creation date",
    b"info",
    b"nodes",
    b"url-list",
];

impl Metainfo {
    /// Parses and validates a `.torrent` file.
    ///
    /// Decoding is lenient (unsorted or duplicate keys are accepted, as in real files), but
    /// every field this crate uses must have the right type and a sane value, and every
    /// file path must be safe (see [`crate::safe_path`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, MetainfoError> {
        let top = Decoder::new(Mode::Lenient).decode(bytes)?;
        let top = match &top {
            Value::Dict(d) => d,
            other => return Err(MetainfoError::NotADict(other.kind())),
        };
        let info_value = top
            .get(b"info")
            .ok_or_else(|| MetainfoError::Missing("info".into()))?;
        let info = dict_of(info_value, "info")?;
        let info_bytes = top
            .raw(b"info")
            .ok_or_else(|| MetainfoError::Missing("info".into()))?
            .to_vec();
        let parsed = parse_info(info)?;

        let announce = opt_string(top, b"announce", "announce")?;
        let announce_list = parse_announce_list(top)?;
        let nodes = parse_nodes(top)?;
        let url_list = parse_url_list(top)?;
        let comment = match top.get(b"comment.utf-8").and_then(Value::as_str) {
            Some(s) => Some(s.to_owned()),
            None => opt_string(top, b"comment", "comment")?,
        };
        let created_by = opt_string(top, b"created by", "created by")?;
        let creation_date = match top.get(b"creation date") {
            None => None,
            Some(v) => Some(int_of(v, "creation date")?),
        };
        let mut extra: Vec<_> = top
            .iter()
            .filter(|(k, _)| !KNOWN_TOP_KEYS.contains(k))
            .map(|(k, v)| (k.to_vec(), v.clone().into_owned()))
            .collect();
        // In encoding order, so that a torrent equals its own re-encoding.
        extra.sort_by(|a, b| a.0.cmp(&b.0));

        Ok(Metainfo {
            info_hash: InfoHash::of(&info_bytes),
            info_bytes,
            name: parsed.name,
            piece_length: parsed.piece_length,
            pieces: parsed.pieces,
            files: parsed.files,
            single_file: parsed.single_file,
            total_length: parsed.total_length,
            private: parsed.private,
            source: parsed.source,
            announce,
            announce_list,
            nodes,
            url_list,
            comment,
            created_by,
            creation_date,
            extra,
        })
    }

    /// Reads and validates the `.torrent` file at `path`.
    ///
    /// Anything that is not a regular file, or is larger than [`MAX_TORRENT_FILE`], is refused
    /// before it is read, so a wrong argument (a device, a huge data file) never fills memory.
    pub fn from_file(path: &Path) -> Result<Metainfo, MetainfoError> {
        let fail = |reason: String| MetainfoError::Read {
            path: path.to_owned(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
        if !meta.is_file() {
            return Err(fail("not a regular file".into()));
        }
        if meta.len() > MAX_TORRENT_FILE {
            return Err(fail(format!(
                "{} bytes, too large for a torrent file (limit {MAX_TORRENT_FILE})",
                meta.len()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        Metainfo::from_bytes(&bytes)
    }

    /// The `.torrent` file: top-level fields re-encoded canonically around the `info`
    /// bytes exactly as read, so the info-hash never changes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut entries: Vec<(&[u8], Vec<u8>)> = Vec::new();
        let s = |x: &str| Value::string(x).to_bytes();
        if let Some(a) = &self.announce {
            entries.push((b"announce", s(a)));
        }
        if !self.announce_list.is_empty() {
            let tiers = self
                .announce_list
                .iter()
                .map(|t| Value::List(t.iter().map(|u| Value::string(u)).collect()))
                .collect();
            entries.push((b"announce-list", Value::List(tiers).to_bytes()));
        }
        if let Some(c) = &self.comment {
            entries.push((b"comment", s(c)));
        }
        if let Some(c) = &self.created_by {
            entries.push((b"created by", s(c)));
        }
        if let Some(d) = self.creation_date {
            entries.push((b"creation date", Value::Int(d).to_bytes()));
        }
        entries.push((b"info", self.info_bytes.clone()));
        if !self.nodes.is_empty() {
            let nodes = self
                .nodes
                .iter()
                .map(|n| Value::List(vec![Value::string(&n.host), Value::Int(n.port.into())]))
                .collect();
            entries.push((b"nodes", Value::List(nodes).to_bytes()));
        }
        if !self.url_list.is_empty() {
            let urls = self.url_list.iter().map(|u| Value::string(u)).collect();
            entries.push((b"url-list", Value::List(urls).to_bytes()));
        }
        for (k, v) in &self.extra {
            entries.push((k, v.to_bytes()));
        }
        entries.sort_by(|a, b| a.0.cmp(b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);

        let mut out = Vec::with_capacity(self.info_bytes.len() + 256);
        out.push(b'd');
        for (k, v) in entries {
            out.extend_from_slice(k.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(k);
            out.extend_from_slice(&v);
        }
        out.push(b'e');
        out
    }

    /// SHA-1 of the `info` dictionary's bytes as they are in the file.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// The `info` dictionary's exact bytes (what BEP 9 metadata exchange serves).
    pub fn info_bytes(&self) -> &[u8] {
        &self.info_bytes
    }

    /// The suggested name: the file name of a single-file torrent, the directory name of a
    /// multi-file one (`name.utf-8` preferred when present). Always a safe path component.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Total content length in bytes, padding files included.
    pub fn total_length(&self) -> u64 {
        self.total_length
    }

    /// Whether the torrent is single-file (content saved as a file named [`Self::name`])
    /// rather than multi-file (a directory of that name).
    pub fn is_single_file(&self) -> bool {
        self.single_file
    }

    /// Nominal piece length in bytes (every piece but the last has it).
    pub fn piece_length(&self) -> u64 {
        self.piece_length
    }

    /// Number of pieces.
    pub fn piece_count(&self) -> u32 {
        // Bounded by the bencode string limit: at most 256 MiB / 20 pieces.
        u32::try_from(self.pieces.len() / 20).unwrap_or(u32::MAX)
    }

    /// Length of piece `index` (the last one may be shorter), or `None` past the end.
    pub fn piece_size(&self, index: u32) -> Option<u64> {
        if index >= self.piece_count() {
            return None;
        }
        let start = u64::from(index) * self.piece_length;
        Some(self.piece_length.min(self.total_length - start))
    }

    /// The expected SHA-1 of piece `index`, or `None` past the end.
    pub fn piece_hash(&self, index: u32) -> Option<[u8; 20]> {
        let i = usize::try_from(index).ok()?.checked_mul(20)?;
        self.pieces.get(i..i + 20)?.try_into().ok()
    }

    /// All piece hashes, 20 bytes each, concatenated.
    pub fn piece_hashes(&self) -> &[u8] {
        &self.pieces
    }

    /// The files in piece-layout order, padding files included (see [`FileEntry::padding`]).
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Whether the torrent is private (BEP 27): peers only from its trackers.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// The info dictionary's `source` key (a private tracker's tag), if it is text.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The `announce` URL, if any.
    pub fn announce(&self) -> Option<&str> {
        self.announce.as_deref()
    }

    /// Trackers as tiers (BEP 12): `announce-list` when present, else `announce` alone.
    pub fn trackers(&self) -> Vec<Vec<String>> {
        if !self.announce_list.is_empty() {
            return self.announce_list.clone();
        }
        self.announce.iter().map(|a| vec![a.clone()]).collect()
    }

    /// Replaces the trackers, leaving the info-hash alone: `announce` becomes the first URL,
    /// and `announce-list` holds the tiers when there is more than one URL. Empty tiers and
    /// empty URLs are dropped; no tiers at all makes the torrent trackerless.
    pub fn set_trackers(&mut self, tiers: Vec<Vec<String>>) {
        let tiers: Vec<Vec<String>> = tiers
            .into_iter()
            .map(|t| t.into_iter().filter(|u| !u.is_empty()).collect::<Vec<_>>())
            .filter(|t| !t.is_empty())
            .collect();
        self.announce = tiers.first().and_then(|t| t.first()).cloned();
        let count: usize = tiers.iter().map(Vec::len).sum();
        self.announce_list = if count > 1 { tiers } else { Vec::new() };
    }

    /// DHT bootstrap nodes (BEP 5).
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Replaces the DHT bootstrap nodes.
    pub fn set_nodes(&mut self, nodes: Vec<Node>) {
        self.nodes = nodes;
    }

    /// Web seeds (BEP 19 `url-list`).
    pub fn url_list(&self) -> &[String] {
        &self.url_list
    }

    /// The comment, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The program that made the torrent, if recorded.
    pub fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    /// Creation time in seconds since the Unix epoch, if recorded.
    pub fn creation_date(&self) -> Option<i64> {
        self.creation_date
    }

    /// Sets the top-level descriptive fields (outside `info`, so the info-hash stays).
    pub fn set_description(
        &mut self,
        comment: Option<String>,
        created_by: Option<String>,
        creation_date: Option<i64>,
    ) {
        self.comment = comment;
        self.created_by = created_by;
        self.creation_date = creation_date;
    }

    /// Sets the web seeds.
    pub fn set_url_list(&mut self, urls: Vec<String>) {
        self.url_list = urls;
    }
}

struct ParsedInfo {
    name: String,
    piece_length: u64,
    pieces: Vec<u8>,
    files: Vec<FileEntry>,
    single_file: bool,
    total_length: u64,
    private: bool,
    source: Option<String>,
}

fn parse_info(info: &Dict<'_>) -> Result<ParsedInfo, MetainfoError> {
    let name = utf8_preferred(info, b"name.utf-8", b"name", "info.name")?;
    check_components(std::slice::from_ref(&name)).map_err(|_| {
        let reason = crate::safe_path::component_problem(&name).unwrap_or("unsafe name");
        MetainfoError::UnsafePath {
            path: name.clone(),
            reason,
        }
    })?;

    let piece_length = required(info, b"piece length", "info.piece length")?;
    let piece_length = int_of(piece_length, "info.piece length")?;
    if piece_length <= 0 || piece_length as u64 > MAX_PIECE_LENGTH {
        return Err(MetainfoError::invalid(
            "info.piece length",
            format!("{piece_length} is not between 1 and {MAX_PIECE_LENGTH}"),
        ));
    }
    let piece_length = piece_length as u64;

    let pieces = required(info, b"pieces", "info.pieces")?;
    let pieces = bytes_of(pieces, "info.pieces")?.to_vec();

    let private = match info.get(b"private") {
        None => false,
        Some(v) => int_of(v, "info.private")? != 0,
    };
    // Informational (private trackers' cross-seeding tag): a key that is not text is kept in
    // the info-hash but not shown.
    let source = info
        .get(b"source")
        .and_then(|v| v.as_bytes())
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(str::to_string);

    let (files, single_file) = match (info.get(b"files"), info.get(b"length")) {
        (Some(_), Some(_)) => {
            return Err(MetainfoError::invalid(
                "info",
                "has both `length` (single file) and `files` (multi-file)",
            ))
        }
        (None, None) => return Err(MetainfoError::Missing("info.length or info.files".into())),
        (None, Some(len)) => {
            let length = length_of(len, "info.length")?;
            let file = FileEntry {
                path: vec![name.clone()],
                length,
                offset: 0,
                padding: false,
            };
            (vec![file], true)
        }
        (Some(list), None) => (parse_files(list)?, false),
    };

    let total_length = files.last().map_or(0, |f| f.offset + f.length);
    if total_length == 0 {
        return Err(MetainfoError::invalid(
            "info",
            "the torrent holds no data (total length 0)",
        ));
    }
    let piece_count = total_length.div_ceil(piece_length);
    let expected = piece_count.saturating_mul(20);
    if pieces.len() as u64 != expected {
        return Err(MetainfoError::PiecesMismatch {
            len: pieces.len(),
            expected,
            pieces: piece_count,
            piece_length,
            total: total_length,
        });
    }

    Ok(ParsedInfo {
        name,
        piece_length,
        pieces,
        files,
        single_file,
        total_length,
        private,
        source,
    })
}

fn parse_files(list: &Value<'_>) -> Result<Vec<FileEntry>, MetainfoError> {
    let list = list_of(list, "info.files")?;
    if list.is_empty() {
        return Err(MetainfoError::invalid("info.files", "empty file list"));
    }
    if list.len() > MAX_FILES {
        return Err(MetainfoError::invalid(
            "info.files",
            format!("{} files, more than the limit of {MAX_FILES}", list.len()),
        ));
    }
    let mut files = Vec::with_capacity(list.len());
    let mut offset: u64 = 0;
    for (i, f) in list.iter().enumerate() {
        let field = format!("info.files[{i}]");
        let d = dict_of(f, &field)?;
        let length = length_of(
            required(d, b"length", &format!("{field}.length"))?,
            &format!("{field}.length"),
        )?;
        let padding = match d.get(b"attr") {
            None => false,
            Some(a) => bytes_of(a, &format!("{field}.attr"))?.contains(&b'p'),
        };
        let path = parse_path(d, &field)?;
        check_components(&path)?;
        let file_offset = offset;
        offset = offset
            .checked_add(length)
            .filter(|&t| t <= MAX_TOTAL_LENGTH)
            .ok_or_else(|| {
                MetainfoError::invalid(
                    "info.files",
                    format!("total length exceeds the limit of {MAX_TOTAL_LENGTH} bytes"),
                )
            })?;
        files.push(FileEntry {
            path,
            length,
            offset: file_offset,
            padding,
        });
    }
    check_conflicts(&files)?;
    Ok(files)
}

/// `path.utf-8` when it is a list of UTF-8 strings, else `path` (non-UTF-8 bytes replaced).
fn parse_path(d: &Dict<'_>, field: &str) -> Result<Vec<String>, MetainfoError> {
    if let Some(list) = d.get(b"path.utf-8").and_then(Value::as_list) {
        let utf8: Option<Vec<String>> =
            list.iter().map(|c| c.as_str().map(str::to_owned)).collect();
        if let Some(p) = utf8 {
            return Ok(p);
        }
    }
    let pfield = format!("{field}.path");
    let list = list_of(required(d, b"path", &pfield)?, &pfield)?;
    list.iter()
        .enumerate()
        .map(|(j, c)| {
            bytes_of(c, &format!("{pfield}[{j}]")).map(|b| String::from_utf8_lossy(b).into_owned())
        })
        .collect()
}

/// Refuses duplicate paths and a path that is also a directory of another; padding files
/// (which share names like `.pad/16384` and are never written) are left out.
fn check_conflicts(files: &[FileEntry]) -> Result<(), MetainfoError> {
    let mut seen: HashSet<&[String]> = HashSet::with_capacity(files.len());
    for f in files.iter().filter(|f| !f.padding) {
        if !seen.insert(&f.path) {
            return Err(MetainfoError::PathConflict(
                f.display_path(),
                "appears twice",
            ));
        }
    }
    for f in files.iter().filter(|f| !f.padding) {
        for n in 1..f.path.len() {
            if seen.contains(&f.path[..n]) {
                return Err(MetainfoError::PathConflict(
                    f.path[..n].join("/"),
                    "is both a file and a directory",
                ));
            }
        }
    }
    Ok(())
}

fn parse_announce_list(top: &Dict<'_>) -> Result<Vec<Vec<String>>, MetainfoError> {
    let Some(v) = top.get(b"announce-list") else {
        return Ok(Vec::new());
    };
    let mut tiers = Vec::new();
    for (i, tier) in list_of(v, "announce-list")?.iter().enumerate() {
        let field = format!("announce-list[{i}]");
        let urls = list_of(tier, &field)?
            .iter()
            .enumerate()
            .map(|(j, u)| string_of(u, &format!("{field}[{j}]")))
            .filter(|u| !matches!(u, Ok(s) if s.is_empty()))
            .collect::<Result<Vec<_>, _>>()?;
        if !urls.is_empty() {
            tiers.push(urls);
        }
    }
    Ok(tiers)
}

fn parse_nodes(top: &Dict<'_>) -> Result<Vec<Node>, MetainfoError> {
    let Some(v) = top.get(b"nodes") else {
        return Ok(Vec::new());
    };
    let mut nodes = Vec::new();
    for (i, n) in list_of(v, "nodes")?.iter().enumerate() {
        let field = format!("nodes[{i}]");
        let pair = list_of(n, &field)?;
        let [host, port] = pair else {
            return Err(MetainfoError::invalid(
                field,
                "expected a [host, port] pair",
            ));
        };
        let host = string_of(host, &format!("{field}[0]"))?;
        let port = int_of(port, &format!("{field}[1]"))?;
        let port = u16::try_from(port)
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| MetainfoError::invalid(&field, format!("bad port {port}")))?;
        if host.is_empty() {
            return Err(MetainfoError::invalid(field, "empty host"));
        }
        nodes.push(Node { host, port });
    }
    Ok(nodes)
}

fn parse_url_list(top: &Dict<'_>) -> Result<Vec<String>, MetainfoError> {
    match top.get(b"url-list") {
        None => Ok(Vec::new()),
        Some(Value::Bytes(b)) if b.is_empty() => Ok(Vec::new()),
        Some(v @ Value::Bytes(_)) => Ok(vec![string_of(v, "url-list")?]),
        Some(Value::List(l)) => l
            .iter()
            .enumerate()
            .map(|(i, u)| string_of(u, &format!("url-list[{i}]")))
            .filter(|u| !matches!(u, Ok(s) if s.is_empty()))
            .collect(),
        Some(other) => Err(MetainfoError::WrongType {
            field: "url-list".into(),
            expected: "a byte string or a list",
            found: other.kind(),
        }),
    }
}

fn required<'v, 'a>(
    d: &'v Dict<'a>,
    key: &[u8],
    field: &str,
) -> Result<&'v Value<'a>, MetainfoError> {
    d.get(key)
        .ok_or_else(|| MetainfoError::Missing(field.to_owned()))
}

fn wrong(field: &str, expected: &'static str, v: &Value<'_>) -> MetainfoError {
    MetainfoError::WrongType {
        field: field.to_owned(),
        expected,
        found: v.kind(),
    }
}

fn dict_of<'v, 'a>(v: &'v Value<'a>, field: &str) -> Result<&'v Dict<'a>, MetainfoError> {
    v.as_dict().ok_or_else(|| wrong(field, "a dictionary", v))
}

fn list_of<'v, 'a>(v: &'v Value<'a>, field: &str) -> Result<&'v [Value<'a>], MetainfoError> {
    v.as_list().ok_or_else(|| wrong(field, "a list", v))
}

fn bytes_of<'v>(v: &'v Value<'_>, field: &str) -> Result<&'v [u8], MetainfoError> {
    v.as_bytes().ok_or_else(|| wrong(field, "a byte string", v))
}

fn int_of(v: &Value<'_>, field: &str) -> Result<i64, MetainfoError> {
    v.as_int().ok_or_else(|| wrong(field, "an integer", v))
}

/// A text field; bytes that are not UTF-8 are replaced rather than refused, since old
/// torrents carry Latin-1 comments and names.
fn string_of(v: &Value<'_>, field: &str) -> Result<String, MetainfoError> {
    bytes_of(v, field).map(|b| String::from_utf8_lossy(b).into_owned())
}

fn opt_string(d: &Dict<'_>, key: &[u8], field: &str) -> Result<Option<String>, MetainfoError> {
    d.get(key).map(|v| string_of(v, field)).transpose()
}

fn utf8_preferred(
    d: &Dict<'_>,
    utf8_key: &[u8],
    key: &[u8],
    field: &str,
) -> Result<String, MetainfoError> {
    if let Some(s) = d.get(utf8_key).and_then(Value::as_str) {
        return Ok(s.to_owned());
    }
    string_of(required(d, key, field)?, field)
}

fn length_of(v: &Value<'_>, field: &str) -> Result<u64, MetainfoError> {
    let n = int_of(v, field)?;
    u64::try_from(n)
        .ok()
        .filter(|&n| n <= MAX_TOTAL_LENGTH)
        .ok_or_else(|| {
            MetainfoError::invalid(
                field,
                format!("length {n} is not between 0 and {MAX_TOTAL_LENGTH}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(entries: Vec<(&'static str, Value<'static>)>) -> Value<'static> {
        let mut d = Dict::new();
        for (k, v) in entries {
            d.insert(k.as_bytes(), v);
        }
        Value::Dict(d)
    }

    fn s(x: &str) -> Value<'static> {
        Value::from(x.to_owned())
    }

    fn file(len: i64, path: &[&str]) -> Value<'static> {
        d(vec![
            ("length", Value::Int(len)),
            ("path", Value::List(path.iter().map(|c| s(c)).collect())),
        ])
    }

    fn multi(files: Vec<Value<'static>>, total: u64, pl: u64) -> Value<'static> {
        let n = total.div_ceil(pl) as usize;
        d(vec![
            ("announce", s("http://t/a")),
            (
                "info",
                d(vec![
                    ("files", Value::List(files)),
                    ("name", s("dir")),
                    ("piece length", Value::Int(pl as i64)),
                    ("pieces", Value::from(vec![1u8; n * 20])),
                ]),
            ),
        ])
    }

    #[test]
    fn multi_file_layout_and_lookups() {
        let t = multi(
            vec![file(10, &["a"]), file(0, &["e"]), file(30, &["s", "b"])],
            40,
            16,
        );
        let m = Metainfo::from_bytes(&t.to_bytes()).unwrap();
        assert!(!m.is_single_file());
        assert_eq!(m.total_length(), 40);
        assert_eq!(m.piece_count(), 3);
        assert_eq!(m.piece_size(2), Some(8));
        assert_eq!(m.piece_size(3), None);
        assert_eq!(m.piece_hash(2), Some([1; 20]));
        assert_eq!(m.piece_hash(3), None);
        assert_eq!(m.files()[2].offset, 10);
        assert_eq!(m.files()[2].relative_path(), PathBuf::from("s/b"));
        let spans = m.piece_file_slices(0);
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[1].file_index, spans[1].file_offset, spans[1].len),
            (2, 0, 6)
        );
        assert_eq!(m.trackers(), vec![vec!["http://t/a".to_string()]]);
    }

    #[test]
    fn padding_files_are_flagged_and_may_repeat() {
        let pad = |len| {
            d(vec![
                ("attr", s("p")),
                ("length", Value::Int(len)),
                ("path", Value::List(vec![s(".pad"), s("6")])),
            ])
        };
        let t = multi(
            vec![
                file(10, &["a"]),
                pad(6),
                file(10, &["b"]),
                pad(6),
                file(1, &["c"]),
            ],
            33,
            16,
        );
        let m = Metainfo::from_bytes(&t.to_bytes()).unwrap();
        let flags: Vec<bool> = m.files().iter().map(|f| f.padding).collect();
        assert_eq!(flags, [false, true, false, true, false]);
        assert_eq!(m.files()[2].offset, 16);
    }

    #[test]
    fn utf8_variants_are_preferred() {
        let t = d(vec![(
            "info",
            d(vec![
                (
                    "files",
                    Value::List(vec![d(vec![
                        ("length", Value::Int(1)),
                        ("path", Value::List(vec![Value::from(vec![0xe9u8])])),
                        ("path.utf-8", Value::List(vec![s("é")])),
                    ])]),
                ),
                ("name", Value::from(vec![0xffu8])),
                ("name.utf-8", s("ñame")),
                ("piece length", Value::Int(16384)),
                ("pieces", Value::from(vec![0u8; 20])),
            ]),
        )]);
        let m = Metainfo::from_bytes(&t.to_bytes()).unwrap();
        assert_eq!(m.name(), "ñame");
        assert_eq!(m.files()[0].path, ["é"]);
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases: Vec<(Value<'static>, &str)> = vec![
            (multi(vec![file(1, &["a", "..", "b"])], 1, 16), "a/../b"),
            (
                multi(vec![file(1, &["a"]), file(1, &["a"])], 2, 16),
                "appears twice",
            ),
            (
                multi(vec![file(1, &["a"]), file(1, &["a", "b"])], 2, 16),
                "both a file and a directory",
            ),
            (multi(vec![file(-1, &["a"])], 1, 16), "info.files[0].length"),
            (
                multi(vec![file(1 << 51, &["a"])], 1, 16),
                "info.files[0].length",
            ),
            (
                multi(vec![file(1 << 50, &["a"]), file(1 << 50, &["b"])], 1, 16),
                "limit",
            ),
            (multi(vec![], 1, 16), "empty file list"),
            (multi(vec![file(0, &["a"])], 1, 16), "no data"),
            (multi(vec![file(40, &["a"])], 10, 16), "info.pieces"),
            (
                multi(vec![file(1, &["a"])], 1, 0x7fff_ffff_ffff),
                "piece length",
            ),
            (d(vec![("info", s("x"))]), "field `info` is a byte string"),
            (s("x"), "top-level value is a byte string"),
            (d(vec![]), "missing field `info`"),
        ];
        for (t, needle) in cases {
            let e = Metainfo::from_bytes(&t.to_bytes()).unwrap_err().to_string();
            assert!(e.contains(needle), "{e:?} lacks {needle:?}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn optional_fields_read_and_survive_re_encoding() {
        let Value::Dict(mut top) = multi(vec![file(20, &["a"])], 20, 16) else {
            unreachable!()
        };
        top.insert(
            &b"announce-list"[..],
            Value::List(vec![
                Value::List(vec![s("http://a"), s("")]),
                Value::List(vec![]),
                Value::List(vec![s("udp://b:1")]),
            ]),
        );
        top.insert(
            &b"nodes"[..],
            Value::List(vec![Value::List(vec![
                s("router.example"),
                Value::Int(6881),
            ])]),
        );
        top.insert(&b"url-list"[..], s("http://w/"));
        top.insert(&b"comment"[..], s("c"));
        top.insert(&b"created by"[..], s("me"));
        top.insert(&b"creation date"[..], Value::Int(1_700_000_000));
        top.insert(&b"piece layers"[..], d(vec![]));
        let m = Metainfo::from_bytes(&Value::Dict(top).to_bytes()).unwrap();
        assert_eq!(
            m.trackers(),
            vec![vec!["http://a".to_string()], vec!["udp://b:1".to_string()]]
        );
        assert_eq!(
            m.nodes(),
            [Node {
                host: "router.example".into(),
                port: 6881
            }]
        );
        assert_eq!(m.url_list(), ["http://w/"]);
        assert_eq!(
            (m.comment(), m.created_by(), m.creation_date()),
            (Some("c"), Some("me"), Some(1_700_000_000))
        );
        let again = Metainfo::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(again, m);
        assert!(m.to_bytes().windows(14).any(|w| w == b"12:piece layer"));
    }

    #[test]
    fn unknown_keys_in_any_order_survive_re_encoding() {
        let mut raw =
            b"d1:zi1e4:infod6:lengthi3e4:name1:x12:piece lengthi16384e6:pieces20:".to_vec();
        raw.extend_from_slice(&[2; 20]);
        raw.extend_from_slice(b"e1:ai2e8:encoding5:UTF-8e");
        let m = Metainfo::from_bytes(&raw).unwrap();
        let again = Metainfo::from_bytes(&m.to_bytes()).unwrap();
        assert_eq!(again, m);
        let bytes = m.to_bytes();
        let top = bf_bencode::decode(&bytes).unwrap();
        assert_eq!(
            top.as_dict().unwrap().get(b"z").and_then(Value::as_int),
            Some(1)
        );
    }

    #[test]
    fn unsorted_info_keeps_its_bytes_and_hash() {
        let mut raw = b"d4:infod4:name1:x12:piece lengthi16384e6:pieces20:".to_vec();
        raw.extend_from_slice(&[2; 20]);
        raw.extend_from_slice(b"6:lengthi3eee");
        let m = Metainfo::from_bytes(&raw).unwrap();
        let info = &raw[7..raw.len() - 1];
        assert_eq!(m.info_bytes(), info);
        assert_eq!(m.info_hash(), InfoHash::of(info));
        let mut m2 = m.clone();
        m2.set_trackers(vec![vec![
            "http://x/announce".into(),
            "http://y/announce".into(),
        ]]);
        let back = Metainfo::from_bytes(&m2.to_bytes()).unwrap();
        assert_eq!(back.info_hash(), m.info_hash());
        assert_eq!(back.announce(), Some("http://x/announce"));
        assert_eq!(back.trackers().len(), 1);
        assert_eq!(back.trackers()[0].len(), 2);
    }

    fn arb_metainfo() -> impl Strategy<Value = Vec<u8>> {
        let comp = "[a-zA-Z0-9 _-]{1,8}";
        let files =
            proptest::collection::vec((proptest::collection::vec(comp, 1..3), 0u64..5000), 1..6);
        (
            files,
            prop_oneof![Just(16384u64), Just(32768)],
            any::<bool>(),
            proptest::collection::vec(proptest::collection::vec("http://[a-z]{1,5}/a", 1..3), 0..3),
            proptest::option::of(".{0,20}"),
            proptest::option::of(any::<i64>()),
        )
            .prop_map(|(files, pl, private, tiers, comment, date)| {
                let mut seen = HashSet::new();
                let files: Vec<_> = files
                    .into_iter()
                    .enumerate()
                    .filter(|(_, (p, _))| seen.insert(p[0].clone()))
                    .map(|(i, (mut p, l))| {
                        p[0] = format!("{i}{}", p[0]);
                        (p, l + 1)
                    })
                    .collect();
                let total: u64 = files.iter().map(|f| f.1).sum();
                let list = files
                    .iter()
                    .map(|(p, l)| {
                        let comps: Vec<&str> = p.iter().map(String::as_str).collect();
                        file(*l as i64, &comps)
                    })
                    .collect();
                let Value::Dict(mut top) = multi(list, total, pl) else {
                    unreachable!()
                };
                if private {
                    let mut info = top
                        .get(b"info")
                        .and_then(Value::as_dict)
                        .cloned()
                        .unwrap_or_default();
                    info.insert(&b"private"[..], Value::Int(1));
                    top.insert(&b"info"[..], Value::Dict(info));
                }
                let tiers = tiers
                    .into_iter()
                    .map(|t| Value::List(t.into_iter().map(Value::from).collect()))
                    .collect();
                top.insert(&b"announce-list"[..], Value::List(tiers));
                if let Some(c) = comment {
                    top.insert(&b"comment"[..], Value::from(c));
                }
                if let Some(date) = date {
                    top.insert(&b"creation date"[..], Value::Int(date));
                }
                Value::Dict(top).to_bytes()
            })
    }

    proptest! {
        #[test]
        fn to_bytes_then_from_bytes_round_trips(bytes in arb_metainfo()) {
            let m = Metainfo::from_bytes(&bytes).unwrap();
            let again = Metainfo::from_bytes(&m.to_bytes()).unwrap();
            prop_assert_eq!(again.info_hash(), m.info_hash());
            prop_assert_eq!(again, m);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Metainfo::from_bytes(&bytes);
        }

        #[test]
        fn mutated_torrents_never_panic(bytes in arb_metainfo(), at in any::<prop::sample::Index>(), b in any::<u8>()) {
            let mut bytes = bytes;
            let i = at.index(bytes.len());
            bytes[i] = b;
            if let Ok(m) = Metainfo::from_bytes(&bytes) {
                let _ = (m.piece_file_slices(0), m.to_bytes());
            }
        }
    }
}
