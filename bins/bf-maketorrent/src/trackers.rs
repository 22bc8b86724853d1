//! Tracker and node arguments as users type them.

use anyhow::{bail, Result};
use bf_metainfo::Node;
use bf_tracker::client::validate_tracker_url;

/// One tier per argument; commas separate the URLs of a tier.
pub fn parse_tiers(args: &[String]) -> Result<Vec<Vec<String>>> {
    let mut tiers = Vec::new();
    for arg in args {
        let tier: Vec<String> = arg
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        for url in &tier {
            // Also catches `bf-maketorrent dir1 dir2`, where the second path was meant as
            // input: a torrent with a broken announce URL is only found out by its users.
            if let Err(why) = validate_tracker_url(url) {
                bail!("{url:?} is not a tracker URL: {why}");
            }
        }
        if !tier.is_empty() {
            tiers.push(tier);
        }
    }
    Ok(tiers)
}

/// `host:port` or `[v6]:port` into a BEP 5 node.
pub fn parse_node(s: &str) -> Result<Node, String> {
    let bad = || format!("{s:?} is not HOST:PORT");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok(Node {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_and_nodes() {
        let t = parse_tiers(&["http://a/x,udp://b:1".into(), "http://c/".into()]).unwrap();
        assert_eq!(t, vec![vec!["http://a/x", "udp://b:1"], vec!["http://c/"]]);
        for bad in [
            "somedir",
            "ftp://host/announce",
            "http:///announce",
            "http://host:99999/announce",
            "udp://host/announce",
            "http://a/x,http://b:0/x",
        ] {
            let e = parse_tiers(&[bad.into()]).map_err(|e| e.to_string());
            assert!(
                matches!(&e, Err(m) if m.contains("is not a tracker URL")),
                "{bad}: {e:?}"
            );
        }
        assert_eq!(parse_node("[::1]:6881").unwrap().host, "::1");
        assert_eq!(parse_node("router.example:6881").unwrap().port, 6881);
        assert!(parse_node("x:0").is_err());
        assert!(parse_node("x").is_err());
    }
}
