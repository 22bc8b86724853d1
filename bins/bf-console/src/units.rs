//! Rates and sizes as users type them.

/// Parses a rate: a number of KiB/s (as the original's `--max_upload_rate`), or a number
/// with a unit `K`, `M` or `G` (powers of 1024, per second; `B` for bytes); 0 is no limit.
/// Returns bytes per second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("/s").unwrap_or(t);
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        None => (t, 1024u64),
        Some((i, _)) => {
            let unit = t[i..].to_ascii_uppercase();
            // "K", "KB" and "KiB" alike; "B" alone is bytes.
            let base = unit
                .strip_suffix("IB")
                .or_else(|| unit.strip_suffix('B'))
                .unwrap_or(&unit);
            let m = match base {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                _ => return Err(format!("{s:?}: unknown unit (use K, M or G)")),
            };
            (&t[..i], m)
        }
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?}: not a rate (e.g. 500K, 2M, or a number of KiB/s)"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("{s:?}: must be a positive number"));
    }
    let v = n * mult as f64;
    if v > u64::MAX as f64 / 2.0 {
        return Err(format!("{s:?}: too large"));
    }
    Ok(v as u64)
}

/// Bytes per second for a person: `12.3 MiB/s`.
pub fn rate(bytes_per_sec: u64) -> String {
    format!("{}/s", bf_metainfo::format::human_size(bytes_per_sec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("50"), Ok(50 * 1024));
        assert_eq!(parse_rate("500K"), Ok(500 * 1024));
        assert_eq!(parse_rate("2M"), Ok(2 << 20));
        assert_eq!(parse_rate("2MiB/s"), Ok(2 << 20));
        assert_eq!(parse_rate("1.5g"), Ok(3 << 29));
        assert_eq!(parse_rate("100B"), Ok(100));
        assert_eq!(parse_rate("0"), Ok(0));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("-1").is_err());
        assert!(parse_rate("5X").is_err());
    }
}
