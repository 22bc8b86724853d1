//! Human-readable sizes and UTC dates, as the programs print a torrent's length and
//! `creation date` (and the tracker its log lines): one implementation for every program.

/// `n` in binary units with two decimals: `"5 B"`, `"1.50 KiB"`, `"1.00 GiB"`.
///
/// ```
/// assert_eq!(bf_metainfo::format::human_size(1536), "1.50 KiB");
/// ```
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[unit])
    }
}

/// A Unix time broken into its UTC calendar date and time of day (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// Year, e.g. 2026 (negative before year 0).
    pub year: i64,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59.
    pub second: u8,
}

impl UtcDateTime {
    /// The UTC date and time of `secs` seconds after 1970-01-01 00:00:00 UTC; any `i64`,
    /// even a hostile `creation date`, gives a value and never overflows.
    pub fn from_unix(secs: i64) -> Self {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        // Days to civil date in 400-year eras (H. Hinnant's "chrono-compatible low-level date
        // algorithms"); i64 days from an i64 of seconds leave ample room for the arithmetic.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        UtcDateTime {
            year: yoe + era * 400 + i64::from(month <= 2),
            month: month as u8,
            day: day as u8,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// The month's English three-letter abbreviation, as in HTTP and log dates.
    pub fn month_abbrev(&self) -> &'static str {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        MONTHS[usize::from(self.month.clamp(1, 12) - 1)]
    }
}

impl std::fmt::Display for UtcDateTime {
    /// `YYYY-MM-DD HH:MM:SS UTC`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.50 KiB");
        assert_eq!(human_size(1 << 30), "1.00 GiB");
        assert_eq!(human_size(u64::MAX), "16384.00 PiB");
    }

    #[test]
    fn dates() {
        let s = |t| UtcDateTime::from_unix(t).to_string();
        assert_eq!(s(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(s(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(s(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(s(-1), "1969-12-31 23:59:59 UTC");
        assert_eq!(UtcDateTime::from_unix(971_186_136).month_abbrev(), "Oct");
        let _ = (s(i64::MAX), s(i64::MIN));
    }
}
