//! The client half used by `bf-client`: announce and scrape over HTTP (reqwest) and UDP
//! (BEP 15, with retransmission), and BEP 12 tiers.

mod tiers;
mod udp;
mod url;

use std::sync::Arc;
use std::time::Duration;

use bf_metainfo::InfoHash;

pub use tiers::{TrackerTiers, BACKOFF_MAX, BACKOFF_MIN};
pub use url::{validate_tracker_url, TrackerUrlError};

use crate::http_codec::{self, ResponseError, MAX_RESPONSE_LEN};
use crate::query::{announce_query, scrape_query};
use crate::types::{AnnounceRequest, AnnounceResponse, ScrapeRequest, ScrapeResponse};
use crate::udp_codec::UdpError;
use url::Scheme;

/// Tunables of a [`TrackerClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Whole-request timeout for HTTP trackers.
    pub http_timeout: Duration,
    /// BEP 15 base timeout: attempt `n` waits `base * 2^n` (15 s in the BEP; tests shorten it).
    /// A connection id is reused for a minute, across requests and clones.
    pub udp_base_timeout: Duration,
    /// Retransmissions after the first try (BEP 15: up to 8).
    pub udp_max_retries: u32,
    /// Base timeout of a UDP tracker's turn in a [`TrackerTiers`] walk (3 s): a dead
    /// tracker must not hold up the next one for BEP 15's full two hours.
    pub udp_walk_timeout: Duration,
    /// Retransmissions of a UDP tracker's turn in a walk (2: 3 + 6 + 12 = 21 s at most).
    pub udp_walk_retries: u32,
    /// `User-Agent` header for HTTP.
    pub user_agent: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            http_timeout: Duration::from_secs(30),
            udp_base_timeout: Duration::from_secs(15),
            udp_max_retries: 8,
            udp_walk_timeout: Duration::from_secs(3),
            udp_walk_retries: 2,
            user_agent: format!("BitFountain/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// Why a tracker request failed.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The URL is not a usable `http(s)://` or `udp://` tracker URL.
    #[error("bad tracker URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: TrackerUrlError,
    },
    /// A scrape was asked of a tracker whose announce URL has no BEP 48 scrape URL (its
    /// last path segment does not start with `announce`).
    #[error("tracker {0:?} has no scrape URL")]
    NoScrape(String),
    /// The HTTP request failed (connection, TLS, timeout).
    #[error("HTTP request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The HTTP tracker answered with a non-200 status.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The response could not be understood, or was a `failure reason`.
    #[error(transparent)]
    Response(#[from] ResponseError),
    /// A UDP packet could not be understood.
    #[error("UDP tracker: {0}")]
    Udp(#[from] UdpError),
    /// The UDP tracker answered with an error packet.
    #[error("tracker refused: {0}")]
    Refused(String),
    /// The UDP tracker gave an answer of the wrong kind.
    #[error("unexpected UDP response")]
    Unexpected,
    /// No answer after every retransmission.
    #[error("tracker did not answer")]
    Timeout,
    /// A socket operation failed.
    #[error("network I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Every tracker of every tier failed; the last error is kept.
    #[error("all trackers failed; last: {0}")]
    AllFailed(Box<TrackerError>),
    /// The tier list is empty.
    #[error("no trackers")]
    NoTrackers,
}

/// Talks to trackers of any kind; cheap to clone.
///
/// Clones share an HTTP client, one UDP socket per address family (bound on the first UDP
/// request, on the runtime running it) and the BEP 15 connection ids received in the last
/// minute, by tracker address.
#[derive(Clone)]
pub struct TrackerClient {
    http: reqwest::Client,
    cfg: ClientConfig,
    udp: Arc<udp::UdpShared>,
}

/// The BEP 48 scrape URL of an announce URL: the last path segment `announce…` becomes
/// `scrape…`; `None` if the tracker has no scrape by that convention.
pub fn scrape_url(announce: &str) -> Option<String> {
    let (base, query) = match announce.find('?') {
        Some(i) => (&announce[..i], &announce[i..]),
        None => (announce, ""),
    };
    let slash = base.rfind('/')?;
    let last = &base[slash + 1..];
    let rest = last.strip_prefix("announce")?;
    Some(format!("{}scrape{rest}{query}", &base[..=slash]))
}

fn join_query(url: &str, q: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{q}")
}

impl TrackerClient {
    /// A client with these settings.
    pub fn new(cfg: ClientConfig) -> Result<Self, TrackerError> {
        let http = reqwest::Client::builder()
            .timeout(cfg.http_timeout)
            .user_agent(cfg.user_agent.clone())
            // Announces are minutes apart and trackers such as opentracker close after every
            // answer: a pooled connection would only be a stale one, reset on reuse.
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(TrackerClient {
            http,
            cfg,
            udp: Arc::default(),
        })
    }

    /// Its settings.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// Announces to one tracker (`http://`, `https://` or `udp://`), over UDP with BEP 15's
    /// whole retransmission schedule.
    pub async fn announce(
        &self,
        url: &str,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        self.announce_with(url, req, udp::Retry::full(&self.cfg))
            .await
    }

    /// A tracker's turn in a tier walk: UDP gets `udp_walk_*` instead of the full schedule.
    pub(crate) async fn announce_in_walk(
        &self,
        url: &str,
        req: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        self.announce_with(url, req, udp::Retry::walk(&self.cfg))
            .await
    }

    async fn announce_with(
        &self,
        url: &str,
        req: &AnnounceRequest,
        retry: udp::Retry,
    ) -> Result<AnnounceResponse, TrackerError> {
        if check_url(url)? == Scheme::Udp {
            return self.udp.announce(url, retry, req).await;
        }
        let body = self.get(&join_query(url, &announce_query(req))).await?;
        Ok(http_codec::decode_announce(&body)?)
    }

    /// Scrapes one tracker about `hashes` (given its announce URL).
    pub async fn scrape(
        &self,
        announce_url: &str,
        hashes: &[InfoHash],
    ) -> Result<ScrapeResponse, TrackerError> {
        if check_url(announce_url)? == Scheme::Udp {
            return self
                .udp
                .scrape(announce_url, udp::Retry::full(&self.cfg), hashes)
                .await;
        }
        let url =
            scrape_url(announce_url).ok_or_else(|| TrackerError::NoScrape(announce_url.into()))?;
        let q = scrape_query(&ScrapeRequest {
            info_hashes: hashes.to_vec(),
        });
        let body = self.get(&join_query(&url, &q)).await?;
        Ok(http_codec::decode_scrape(&body)?)
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, TrackerError> {
        let mut resp = self.http.get(url).send().await?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(TrackerError::Status(resp.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > MAX_RESPONSE_LEN {
                return Err(ResponseError::TooLarge.into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn check_url(url: &str) -> Result<Scheme, TrackerError> {
    url::parse(url)
        .map(|u| u.scheme)
        .map_err(|reason| TrackerError::BadUrl {
            url: url.into(),
            reason,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrape_urls_per_bep48() {
        assert_eq!(
            scrape_url("http://a/announce").as_deref(),
            Some("http://a/scrape")
        );
        assert_eq!(
            scrape_url("http://a/x/announce.php?k=1").as_deref(),
            Some("http://a/x/scrape.php?k=1")
        );
        assert_eq!(scrape_url("http://a/a"), None);
    }

    #[tokio::test]
    async fn bad_urls_are_refused_before_any_network_use() {
        let c = TrackerClient::new(ClientConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        let req = AnnounceRequest::new(InfoHash([1; 20]), bf_metainfo::PeerId([1; 20]), 1, 0);
        for (url, want) in [
            ("ftp://x/announce", TrackerUrlError::Scheme("ftp".into())),
            ("http:///announce", TrackerUrlError::NoHost),
            (
                "http://x:99999/announce",
                TrackerUrlError::BadPort("99999".into()),
            ),
            ("udp://x/announce", TrackerUrlError::UdpNeedsPort),
        ] {
            match c.announce(url, &req).await {
                Err(TrackerError::BadUrl { url: u, reason }) => {
                    assert_eq!((u.as_str(), reason), (url, want.clone()))
                }
                other => panic!("{url}: {other:?}"),
            }
            assert!(
                matches!(c.scrape(url, &[req.info_hash]).await, Err(TrackerError::BadUrl { reason, .. }) if reason == want),
                "{url}"
            );
        }
        assert!(matches!(
            c.scrape("http://x/tracker", &[req.info_hash]).await,
            Err(TrackerError::NoScrape(_))
        ));
    }
}
