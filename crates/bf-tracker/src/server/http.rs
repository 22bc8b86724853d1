//! The HTTP front end: `/announce`, `/scrape`, `/` and the web log.

use std::net::SocketAddr;
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

use super::{index, unix_now, Shared, FULL_SCRAPE_TTL};
use crate::clf::LogEntry;
use crate::http_codec::{encode_announce, encode_failure, encode_scrape};
use crate::query::{parse_announce, parse_scrape};
use crate::types::{AnnounceResponse, PeerAddr, ScrapeResponse};

pub(super) fn router(shared: Arc<Shared>) -> Router {
    let r = Router::new()
        .route("/announce", get(announce))
        .route("/scrape", get(scrape))
        .route("/", get(index_page))
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
    let html = index::render(&st);
    let mut r = Response::new(Body::from(html));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
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
