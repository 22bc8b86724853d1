//! The HTTP front end: `/announce`, `/scrape`, `/` (or a redirect, or nothing),
//! `/file` (`--allow-get`), `/favicon.ico` and the web log.

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

use super::{index, unix_now, IndexPage, ServerError, Shared, FULL_SCRAPE_TTL};
use crate::allowed::MAX_TORRENT_FILE;
use crate::clf::LogEntry;
use crate::http_codec::{encode_announce, encode_failure, encode_scrape};
use crate::query::{parse_announce, parse_scrape};
use crate::types::{AnnounceResponse, PeerAddr, ScrapeResponse};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let r = Router::new()
        .route("/announce", get(announce))
        .route("/scrape", get(scrape))
        .route("/", get(index_page))
        .route("/file", get(torrent_file))
        .route("/favicon.ico", get(favicon))
        .fallback(not_found);
    // Without a web log the middleware would only cost a boxed future per request.
    let r = if shared.log.is_some() {
        r.layer(middleware::from_fn_with_state(shared.clone(), web_log))
    } else {
        r
    };
    r.with_state(shared)
}

fn bencoded(body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn raw_query(req: &Request) -> &[u8] {
    req.uri().query().map_or(&b""[..], str::as_bytes)
}

/// The bencoded answer to an announce with query string `query` from `peer`.
pub(super) fn announce_reply(st: &Shared, query: &[u8], peer: SocketAddr) -> Vec<u8> {
    let parsed = match parse_announce(query) {
        Ok(p) => p,
        Err(e) => return encode_failure(&e.to_string()),
    };
    let mut peers = Vec::new();
    let stats = match st.announce(&parsed, peer, &mut peers) {
        Ok(s) => s,
        Err(reason) => return encode_failure(reason),
    };
    let resp = AnnounceResponse {
        interval: st.cfg.interval,
        min_interval: Some(st.cfg.min_interval),
        complete: stats.complete,
        incomplete: stats.incomplete,
        peers: peers.into_iter().map(PeerAddr::from).collect(),
        warning: None,
    };
    encode_announce(&resp, parsed.compact, !parsed.no_peer_id)
}

/// The bencoded answer to a scrape with query string `query`.
pub(super) fn scrape_reply(st: &Shared, query: &[u8]) -> Bytes {
    let parsed = match parse_scrape(query) {
        Ok(p) => p,
        Err(e) => return encode_failure(&e.to_string()).into(),
    };
    if parsed.info_hashes.is_empty() && st.cfg.scrape == super::ScrapeMode::Full {
        return full_scrape_body(st);
    }
    match st.scrape(&parsed.info_hashes) {
        Ok(files) => encode_scrape(&ScrapeResponse { files }).into(),
        Err(reason) => encode_failure(reason).into(),
    }
}

/// The encoded full scrape, rebuilt at most once per [`FULL_SCRAPE_TTL`].
fn full_scrape_body(st: &Shared) -> Bytes {
    let mut cached = st.full_scrape.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((made, body)) = cached.as_ref() {
        if made.elapsed() < FULL_SCRAPE_TTL {
            return body.clone();
        }
    }
    let files = st.full_scrape_stats();
    let body = Bytes::from(encode_scrape(&ScrapeResponse { files }));
    *cached = Some((Instant::now(), body.clone()));
    body
}

async fn announce(
    State(st): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    bencoded(announce_reply(&st, raw_query(&req), peer))
}

async fn scrape(State(st): State<Arc<Shared>>, req: Request) -> Response {
    bencoded(scrape_reply(&st, raw_query(&req)))
}

async fn index_page(State(st): State<Arc<Shared>>) -> Response {
    match &st.cfg.index {
        IndexPage::Show => {}
        IndexPage::Hidden => return not_found().await,
        IndexPage::Redirect(url) => {
            let Ok(location) = HeaderValue::from_str(url) else {
                tracing::warn!("--index-redirect {url:?} is not a valid header value");
                return not_found().await;
            };
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            r.headers_mut().insert(header::LOCATION, location);
            return r;
        }
    }
    let html = index::render(&st);
    let mut r = Response::new(Body::from(html));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// Largest icon taken by `--favicon`.
pub const MAX_FAVICON: u64 = 1 << 20;

/// Reads the `--favicon` file (at most [`MAX_FAVICON`] bytes); the error names the path.
pub fn load_favicon(path: &Path) -> Result<Bytes, ServerError> {
    let named = |e: std::io::Error| {
        ServerError::Io(std::io::Error::new(
            e.kind(),
            format!("favicon {}: {e}", path.display()),
        ))
    };
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FAVICON + 1).read_to_end(&mut bytes))
        .map_err(named)?;
    if bytes.len() as u64 > MAX_FAVICON {
        return Err(named(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FAVICON} bytes"),
        )));
    }
    Ok(Bytes::from(bytes))
}

/// The icon's media type, from its first bytes.
fn icon_type(b: &[u8]) -> &'static str {
    if b.starts_with(b"\x89PNG") {
        "image/png"
    } else if b.starts_with(b"GIF8") {
        "image/gif"
    } else if b.starts_with(b"\xff\xd8") {
        "image/jpeg"
    } else if b.starts_with(b"<svg") || b.starts_with(b"<?xml") {
        "image/svg+xml"
    } else {
        "image/x-icon"
    }
}

async fn favicon(State(st): State<Arc<Shared>>) -> Response {
    let Some(icon) = st.favicon.clone() else {
        return not_found().await;
    };
    let mut r = Response::new(Body::from(icon.clone()));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(icon_type(&icon)),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=86400"),
    );
    r
}

/// The info-hash named by `info_hash=` in `query`: 20 bytes percent-encoded, or 40 hex
/// digits.
fn info_hash_param(query: &[u8]) -> Option<bf_metainfo::InfoHash> {
    let value = query
        .split(|&b| b == b'&')
        .find_map(|kv| kv.strip_prefix(b"info_hash="))?;
    let raw = crate::query::percent_decode(value).ok()?;
    match raw.len() {
        20 => <[u8; 20]>::try_from(raw.as_slice())
            .ok()
            .map(bf_metainfo::InfoHash),
        40 => bf_metainfo::InfoHash::from_hex(std::str::from_utf8(&raw).ok()?).ok(),
        _ => None,
    }
}

/// Reads of `.torrent` files at once (each up to 64 MiB, on the blocking pool).
static FILE_READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);

/// The `.torrent` file at `path`, if it is still the torrent `want` (the folder may have
/// changed since it was scanned).
fn read_torrent(path: &Path, want: &bf_metainfo::InfoHash) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_TORRENT_FILE + 1)
        .read_to_end(&mut bytes)?;
    let same = bytes.len() as u64 <= MAX_TORRENT_FILE
        && bf_metainfo::Metainfo::from_bytes(&bytes).is_ok_and(|m| m.info_hash() == *want);
    if !same {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no longer this torrent",
        ));
    }
    Ok(bytes)
}

/// `Content-Disposition` for a file called `name`: an ASCII `filename` and the exact
/// UTF-8 one in `filename*` (RFC 6266).
fn disposition(name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    let mut v = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''");
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            v.push(char::from(b));
        } else {
            v.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// `/file?info_hash=…` (`--allow-get`): the allowed torrent's `.torrent` file.
async fn torrent_file(State(st): State<Arc<Shared>>, req: Request) -> Response {
    if !st.cfg.allow_get {
        return not_found().await;
    }
    let Some(hash) = info_hash_param(raw_query(&req)) else {
        let mut r = bencoded(encode_failure(
            "info_hash: 20 bytes percent-encoded or 40 hex digits",
        ));
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return r;
    };
    let Some(path) = st
        .allowed()
        .and_then(|a| a.get(&hash).map(|i| i.path.clone()))
    else {
        return not_found().await;
    };
    let Ok(_permit) = FILE_READS.acquire().await else {
        return not_found().await;
    };
    let p = path.clone();
    let bytes = match tokio::task::spawn_blocking(move || read_torrent(&p, &hash)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            tracing::debug!("/file {}: {e}", path.display());
            return not_found().await;
        }
        Err(e) => {
            tracing::warn!("/file {}: {e}", path.display());
            return not_found().await;
        }
    };
    let name = path
        .file_name()
        .map_or_else(|| "file.torrent".into(), |n| n.to_string_lossy());
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-bittorrent"),
    );
    h.insert(header::CONTENT_DISPOSITION, disposition(&name));
    r
}

/// What an address over `--max-requests-per-ip` is told on the hyper path: the tracker's
/// failure for an announce or scrape, 429 for anything else; the connection closes.
pub(super) fn too_many_requests(path: &str) -> Response {
    let mut r = bencoded(encode_failure(TOO_MANY));
    if path != "/announce" && path != "/scrape" {
        *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// The failure reason given to an address over `--max-requests-per-ip`.
pub(super) const TOO_MANY: &str = "too many requests";

async fn not_found() -> Response {
    let mut r = bencoded(encode_failure("not found: use /announce or /scrape"));
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

async fn web_log(State(st): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let Some(log) = st.log.clone() else {
        return next.run(req).await;
    };
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| {
            c.0.ip().to_canonical()
        });
    let request = format!("{} {} {:?}", req.method(), req.uri(), req.version());
    let resp = next.run(req).await;
    let bytes = resp
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or_else(|| {
            axum::body::HttpBody::size_hint(resp.body())
                .exact()
                .map(|n| n as usize)
        })
        .unwrap_or(0);
    log.log(LogEntry {
        ip,
        time: unix_now(),
        request,
        status: resp.status().as_u16(),
        bytes,
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_codec::decode_scrape;
    use crate::types::AnnounceRequest;
    use crate::ServerConfig;
    use bf_metainfo::{InfoHash, PeerId};

    #[test]
    fn full_scrape_is_served_from_its_cache_named_scrapes_are_fresh() {
        let sh = Shared::new(ServerConfig::default(), None);
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap_or_else(|_| unreachable!());
        let announce = |h: u8| {
            let req = AnnounceRequest::new(InfoHash([h; 20]), PeerId([h; 20]), 7000, 0);
            let _ = sh.announce(&req, peer, &mut Vec::new());
        };
        let files = |body: Bytes| decode_scrape(&body).map(|r| r.files.len()).ok();
        announce(1);
        assert_eq!(files(scrape_reply(&sh, b"")), Some(1));
        announce(2);
        assert_eq!(files(scrape_reply(&sh, b"")), Some(1), "cached");
        let mut q = String::from("info_hash=");
        crate::query::percent_encode(&[2; 20], &mut q);
        assert_eq!(
            files(scrape_reply(&sh, q.as_bytes())),
            Some(1),
            "named: fresh"
        );
        // Once the cached body is older than the TTL it is rebuilt.
        if let Some((made, _)) = sh
            .full_scrape
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
        {
            *made = made.checked_sub(FULL_SCRAPE_TTL).unwrap_or(*made);
        }
        assert_eq!(files(scrape_reply(&sh, b"")), Some(2));
    }
}
