//! `--allowed-ips FILE`: the addresses and networks that may announce, one per line
//! (`192.0.2.7`, `10.0.0.0/8`, `2001:db8::/32`), `#` starting a comment. IPv4-mapped IPv6
//! sources match IPv4 entries.
//!
//! ```
//! use bf_tracker::ip_list::IpList;
//!
//! let list: IpList = "10.0.0.0/8  # the LAN\n192.0.2.7\n".parse().unwrap();
//! assert!(list.contains("10.1.2.3".parse().unwrap()));
//! assert!(list.contains("::ffff:192.0.2.7".parse().unwrap()));
//! assert!(!list.contains("192.0.2.8".parse().unwrap()));
//! ```

use std::net::IpAddr;
use std::str::FromStr;

/// Most entries read from one file.
pub const MAX_ENTRIES: usize = 1_000_000;

/// A line that is not an address or a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}: {text:?}")]
pub struct IpListError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub what: &'static str,
    /// The line's text (cut to 80 bytes).
    pub text: String,
}

/// A set of networks, kept as (network, prefix length) with host bits cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpList {
    v4: Vec<(u32, u8)>,
    v6: Vec<(u128, u8)>,
}

fn mask4(bits: u8) -> u32 {
    if bits == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(bits))
    }
}

fn mask6(bits: u8) -> u128 {
    if bits == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(bits))
    }
}

impl IpList {
    /// Entries in the list.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether the list is empty (then nobody may announce).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().any(|&(n, b)| a & mask4(b) == n)
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().any(|&(n, b)| a & mask6(b) == n)
            }
        }
    }
}

impl FromStr for IpList {
    type Err = IpListError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut list = IpList::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let err = |what| IpListError {
                line: i + 1,
                what,
                text: raw.chars().take(80).collect(),
            };
            if list.len() >= MAX_ENTRIES {
                return Err(err("too many entries"));
            }
            let (addr, bits) = match line.split_once('/') {
                Some((a, b)) => (a.trim(), Some(b.trim())),
                None => (line, None),
            };
            let ip: IpAddr = addr.parse().map_err(|_| err("not an IP address"))?;
            match ip.to_canonical() {
                IpAddr::V4(a) => {
                    let bits = match bits {
                        None => 32,
                        Some(b) => b
                            .parse::<u8>()
                            .ok()
                            .filter(|&b| b <= 32)
                            .ok_or_else(|| err("an IPv4 prefix length is 0 to 32"))?,
                    };
                    // A mapped address with an IPv6 prefix length counts its last 32 bits.
                    let bits = if ip.is_ipv6() {
                        bits.saturating_sub(96)
                    } else {
                        bits
                    };
                    list.v4.push((u32::from(a) & mask4(bits), bits));
                }
                IpAddr::V6(a) => {
                    let bits = match bits {
                        None => 128,
                        Some(b) => b
                            .parse::<u8>()
                            .ok()
                            .filter(|&b| b <= 128)
                            .ok_or_else(|| err("an IPv6 prefix length is 0 to 128"))?,
                    };
                    list.v6.push((u128::from(a) & mask6(bits), bits));
                }
            }
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn networks_and_hosts_match_and_nothing_else() {
        let l: IpList =
            "# comment only\n\n10.0.0.0/8\n192.168.1.5\n2001:db8::/32 # docs\n0.0.0.0/0 \n"
                .parse()
                .unwrap_or_default();
        assert_eq!(l.len(), 4);
        assert!(l.contains(ip("8.8.8.8")), "0.0.0.0/0 is everyone");
        let l: IpList = "10.0.0.0/8\n192.168.1.5\n2001:db8::/32\n"
            .parse()
            .unwrap_or_default();
        assert!(l.contains(ip("10.255.0.1")));
        assert!(l.contains(ip("192.168.1.5")));
        assert!(!l.contains(ip("192.168.1.6")));
        assert!(l.contains(ip("2001:db8:1::7")));
        assert!(!l.contains(ip("2001:db9::7")));
        assert!(l.contains(ip("::ffff:10.1.1.1")));
        assert!(!l.contains(ip("11.0.0.1")));
        assert!(IpList::default().is_empty());
    }

    #[test]
    fn bad_lines_are_named() {
        for (text, line) in [
            ("10.0.0.1\nbanana\n", 2),
            ("10.0.0.0/33", 1),
            ("\n\n::/129", 3),
            ("10.0.0.0/x", 1),
        ] {
            let e = text.parse::<IpList>().unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }
}
