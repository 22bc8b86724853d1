//! Tracker URLs as given by users and torrents: `http://`, `https://` or `udp://`, a host,
//! and a port that fits in 16 bits (required for UDP, which has no default port).

use std::net::Ipv6Addr;

/// Why a string is not a usable tracker URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerUrlError {
    /// There is no `scheme://` part.
    #[error("no scheme (expected e.g. http://host:6969/announce or udp://host:6969)")]
    NoScheme,
    /// The scheme is not one a tracker speaks.
    #[error("unsupported scheme {0:?} (expected http, https or udp)")]
    Scheme(String),
    /// Nothing between `://` and the port or path.
    #[error("no host")]
    NoHost,
    /// The host is not a name, an IPv4 address or a bracketed IPv6 address.
    #[error("bad host {0:?}")]
    BadHost(String),
    /// The port is empty, not a number, 0 or above 65535.
    #[error("bad port {0:?} (expected 1-65535)")]
    BadPort(String),
    /// A `udp://` URL without a port.
    #[error("a udp:// tracker URL needs a port (e.g. udp://host:6969)")]
    UdpNeedsPort,
    /// Whitespace or a control character somewhere in the URL.
    #[error("contains whitespace or control characters")]
    BadChar,
}

/// The protocols a tracker URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
    Udp,
}

/// The parts of a tracker URL the client needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrackerUrl<'a> {
    pub scheme: Scheme,
    /// A name or an address; an IPv6 address without its brackets.
    pub host: &'a str,
    pub port: Option<u16>,
}

/// Checks that `url` is an `http`, `https` or `udp` tracker URL with a host and, where one
/// is given (always for `udp`), a port from 1 to 65535.
///
/// ```
/// use bf_tracker::client::{validate_tracker_url, TrackerUrlError};
/// assert!(validate_tracker_url("udp://tracker.example:6969/announce").is_ok());
/// assert_eq!(validate_tracker_url("http:///announce"), Err(TrackerUrlError::NoHost));
/// ```
pub fn validate_tracker_url(url: &str) -> Result<(), TrackerUrlError> {
    parse(url).map(|_| ())
}

pub(crate) fn parse(url: &str) -> Result<TrackerUrl<'_>, TrackerUrlError> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(TrackerUrlError::BadChar);
    }
    let (scheme, rest) = url.split_once("://").ok_or(TrackerUrlError::NoScheme)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        "udp" => Scheme::Udp,
        "" => return Err(TrackerUrlError::NoScheme),
        _ => return Err(TrackerUrlError::Scheme(scheme.to_owned())),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials (`user:pass@`) are legal in HTTP URLs; the host comes after the last `@`.
    let hostport = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| TrackerUrlError::BadHost(hostport.to_owned()))?;
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(TrackerUrlError::BadHost(format!("[{addr}]")));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| TrackerUrlError::BadHost(hostport.to_owned()))?,
            ),
        };
        (addr, port)
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(TrackerUrlError::NoHost);
    }
    if !hostport.starts_with('[') && !host.chars().all(is_host_char) {
        return Err(TrackerUrlError::BadHost(host.to_owned()));
    }
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    if scheme == Scheme::Udp && port.is_none() {
        return Err(TrackerUrlError::UdpNeedsPort);
    }
    Ok(TrackerUrl { scheme, host, port })
}

/// Letters (any script: names may be internationalised), digits, `-`, `.`, `_`, `~` and
/// percent escapes; a second `:` (an unbracketed IPv6 address) is refused here.
fn is_host_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '%')
}

fn parse_port(p: &str) -> Result<u16, TrackerUrlError> {
    let bad = || TrackerUrlError::BadPort(p.to_owned());
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(n) => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_tracker_urls() {
        for (url, host, port) in [
            ("http://tracker.example/announce", "tracker.example", None),
            (
                "https://t.example:443/a/announce?k=1",
                "t.example",
                Some(443),
            ),
            ("udp://127.0.0.1:6969", "127.0.0.1", Some(6969)),
            ("udp://[::1]:6969/announce", "::1", Some(6969)),
            ("http://[2001:db8::1]/announce", "2001:db8::1", None),
            (
                "HTTP://Tracker.Example:80/announce",
                "Tracker.Example",
                Some(80),
            ),
            ("http://user:pw@host:8080/announce", "host", Some(8080)),
            ("http://bücher.example/announce", "bücher.example", None),
            ("http://host:65535", "host", Some(65535)),
        ] {
            let u = parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!((u.host, u.port), (host, port), "{url}");
        }
        assert_eq!(parse("udp://a:1").map(|u| u.scheme), Ok(Scheme::Udp));
        assert_eq!(parse("https://a").map(|u| u.scheme), Ok(Scheme::Https));
    }

    #[test]
    fn refuses_what_is_not_a_tracker_url() {
        use TrackerUrlError::*;
        for (url, want) in [
            ("ftp://host/announce", Scheme("ftp".into())),
            ("file:///etc/passwd", Scheme("file".into())),
            ("somedir", NoScheme),
            ("://host/announce", NoScheme),
            ("http://", NoHost),
            ("http:///announce", NoHost),
            ("http://:6969/announce", NoHost),
            ("http://host:99999/announce", BadPort("99999".into())),
            ("http://host:0/announce", BadPort("0".into())),
            ("http://host:/announce", BadPort("".into())),
            ("http://host:-1/announce", BadPort("-1".into())),
            ("http://host:+80/announce", BadPort("+80".into())),
            ("udp://host:6969:1", BadPort("6969:1".into())),
            ("udp://tracker.example/announce", UdpNeedsPort),
            ("udp://[::1]/announce", UdpNeedsPort),
            ("http://[::1/announce", BadHost("[::1".into())),
            ("http://[nope]:80/", BadHost("[nope]".into())),
            ("http://[::1]x/", BadHost("[::1]x".into())),
            ("http://ho<st/announce", BadHost("ho<st".into())),
            ("http://host/ann ounce", BadChar),
            ("http://host/\nannounce", BadChar),
        ] {
            assert_eq!(validate_tracker_url(url), Err(want), "{url}");
        }
    }
}
