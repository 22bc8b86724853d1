//! `bf-console info`: a torrent's contents for a person, or as JSON for a program.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use bf_metainfo::{Magnet, Metainfo};
use serde_json::json;

/// Larger than any real torrent file; refusing early keeps a wrong argument out of memory.
const MAX_TORRENT_FILE: u64 = 256 << 20;

/// Arguments of `bf-console info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// The .torrent file.
    torrent: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Reads the torrent and prints it.
pub fn run(args: &InfoArgs) -> Result<()> {
    let m = read_torrent(&args.torrent)?;
    let text = if args.json {
        to_json(&m).to_string()
    } else {
        to_text(&m, &args.torrent)
    };
    println!("{text}");
    Ok(())
}

fn read_torrent(path: &Path) -> Result<Metainfo> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {path:?}"))?;
    if !meta.is_file() {
        bail!("{path:?} is not a file");
    }
    if meta.len() > MAX_TORRENT_FILE {
        bail!(
            "{path:?} is {} bytes, too large for a torrent file",
            meta.len()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {path:?}"))?;
    Metainfo::from_bytes(&bytes).with_context(|| format!("{path:?}"))
}

fn to_json(m: &Metainfo) -> serde_json::Value {
    let files: Vec<_> = m
        .files()
        .iter()
        .map(|f| json!({"path": f.path, "length": f.length, "offset": f.offset, "padding": f.padding}))
        .collect();
    let nodes: Vec<_> = m
        .nodes()
        .iter()
        .map(|n| json!({"host": n.host, "port": n.port}))
        .collect();
    json!({
        "info_hash": m.info_hash().to_hex(),
        "name": m.name(),
        "single_file": m.is_single_file(),
        "total_length": m.total_length(),
        "piece_length": m.piece_length(),
        "piece_count": m.piece_count(),
        "private": m.is_private(),
        "files": files,
        "trackers": m.trackers(),
        "nodes": nodes,
        "url_list": m.url_list(),
        "comment": m.comment(),
        "created_by": m.created_by(),
        "creation_date": m.creation_date(),
        "magnet": Magnet::from_metainfo(m).to_string(),
    })
}

fn to_text(m: &Metainfo, path: &Path) -> String {
    let mut o = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let mut line = |label: &str, value: &str| {
        let label = if label.is_empty() {
            String::new()
        } else {
            format!("{label}:")
        };
        let _ = writeln!(o, "{label:<16}{}", clean(value));
    };
    line("metainfo file", &path.display().to_string());
    line("info-hash", &m.info_hash().to_hex());
    if m.is_single_file() {
        line("file name", m.name());
        line("file size", &size(m.total_length()));
    } else {
        line("directory name", m.name());
        let real: Vec<_> = m.files().iter().filter(|f| !f.padding).collect();
        let pads = m.files().len() - real.len();
        let pad_note = if pads > 0 {
            format!(", {pads} padding files not shown")
        } else {
            String::new()
        };
        let real_total: u64 = real.iter().map(|f| f.length).sum();
        line(
            "files",
            &format!("{} ({}{pad_note})", real.len(), size(real_total)),
        );
        for f in real {
            line("", &format!("  {:>14}  {}", f.length, f.display_path()));
        }
    }
    line(
        "piece size",
        &format!(
            "{}, {} piece{}",
            size(m.piece_length()),
            m.piece_count(),
            if m.piece_count() == 1 { "" } else { "s" }
        ),
    );
    line("private", if m.is_private() { "yes" } else { "no" });
    let trackers = m.trackers();
    if trackers.is_empty() {
        line("trackers", "none (trackerless)");
    }
    for (i, tier) in trackers.iter().enumerate() {
        let label = if i == 0 { "trackers" } else { "" };
        line(label, &format!("tier {}: {}", i + 1, tier.join(", ")));
    }
    for (i, n) in m.nodes().iter().enumerate() {
        line(
            if i == 0 { "nodes" } else { "" },
            &format!("{}:{}", n.host, n.port),
        );
    }
    for (i, u) in m.url_list().iter().enumerate() {
        line(if i == 0 { "web seeds" } else { "" }, u);
    }
    if let Some(c) = m.comment() {
        line("comment", c);
    }
    if let Some(c) = m.created_by() {
        line("created by", c);
    }
    if let Some(d) = m.creation_date() {
        line("creation date", &format!("{} ({d})", utc_date(d)));
    }
    line("magnet", &Magnet::from_metainfo(m).to_string());
    o.pop(); // the last newline; println! adds one
    o
}

/// Control characters from a hostile torrent must not reach the terminal as escapes.
fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let esc: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            esc
        })
        .collect()
}

fn size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} bytes")
    } else {
        format!("{v:.2} {} ({n} bytes)", UNITS[u])
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (proleptic Gregorian calendar).
fn utc_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days to civil date: the algorithm of H. Hinnant's "chrono-compatible low-level date
    // algorithms", in 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_cleaning() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_date(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_date(-1), "1969-12-31 23:59:59 UTC");
        // Extreme values must not overflow.
        let _ = (utc_date(i64::MAX), utc_date(i64::MIN));
        assert_eq!(clean("a\x1b[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}
