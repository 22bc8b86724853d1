//! The index page of the original tracker: per torrent its info-hash, name (with
//! `--show-names`, for torrents of `--allowed-dir`; a link to its `.torrent` with
//! `--allow-get`), size, seeds, downloaders, completed count and bytes transferred
//! (size × completed), with totals; the version, the server time and the uptime.

use std::fmt::Write;

use bf_metainfo::format::{human_size, UtcDateTime};

use super::{unix_now, Shared};

/// Rows shown at most (the busiest torrents first); the totals always count everything.
const MAX_ROWS: usize = 1000;

fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m {s}s")
    } else {
        format!("{h}h {m}m {s}s")
    }
}

pub(super) fn render(st: &Shared) -> String {
    let stats = st.all_stats();
    let allowed = st.allowed();
    let names = st.cfg.show_names && allowed.is_some();
    let links = st.cfg.allow_get && allowed.is_some();
    let mut rows: Vec<_> = stats.into_iter().collect();
    rows.sort_by(|a, b| {
        let pa = a.1.complete + a.1.incomplete;
        let pb = b.1.complete + b.1.incomplete;
        pb.cmp(&pa).then(a.0.cmp(&b.0))
    });
    let (mut seeds, mut leechers, mut completed) = (0u64, 0u64, 0u64);
    let (mut size, mut transferred) = (0u64, 0u64);
    let mut body = String::with_capacity(256 + rows.len().min(MAX_ROWS) * 300);
    for (i, (h, s)) in rows.iter().enumerate() {
        let info = allowed.as_ref().and_then(|a| a.get(h));
        let len = info.map(|i| i.total_length);
        let moved = len.map(|l| l.saturating_mul(u64::from(s.downloaded)));
        seeds += u64::from(s.complete);
        leechers += u64::from(s.incomplete);
        completed += u64::from(s.downloaded);
        size = size.saturating_add(len.unwrap_or(0));
        transferred = transferred.saturating_add(moved.unwrap_or(0));
        if i >= MAX_ROWS {
            continue;
        }
        let hex = h.to_hex();
        let link = |text: &str| {
            if links && info.is_some() {
                format!("<a href=\"/file?info_hash={hex}\">{text}</a>")
            } else {
                text.to_string()
            }
        };
        let _ = write!(
            body,
            "<tr><td class=hash><code>{}</code></td>",
            if names { hex.clone() } else { link(&hex) }
        );
        if names {
            let name =
                info.map_or_else(|| "<i>unknown</i>".to_string(), |i| link(&escape(&i.name)));
            let _ = write!(body, "<td class=name>{name}</td>");
        }
        let size_or_dash = |v: Option<u64>| v.map_or_else(|| "-".to_string(), human_size);
        let _ = writeln!(
            body,
            "<td class=\"n size\">{}</td><td class=\"n seeds\">{}</td>\
             <td class=\"n downloading\">{}</td><td class=\"n completed\">{}</td>\
             <td class=\"n transferred\">{}</td></tr>",
            size_or_dash(len),
            s.complete,
            s.incomplete,
            s.downloaded,
            size_or_dash(moved),
        );
    }
    let more = if rows.len() > MAX_ROWS {
        format!("<p>{} more torrents not listed.</p>", rows.len() - MAX_ROWS)
    } else {
        String::new()
    };
    let name_th = if names { "<th>name</th>" } else { "" };
    let name_td = if names {
        format!("<td class=name>{} torrents</td>", rows.len())
    } else {
        String::new()
    };
    let first_td = if names {
        "totals".to_string()
    } else {
        format!("totals: {} torrents", rows.len())
    };
    format!(
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\
         <title>BitFountain tracker</title><style>\
         body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:4px 8px}}th{{background:#eee}}\
         .n{{text-align:right}}tfoot td{{font-weight:bold}}</style></head><body>\n\
         <h1>BitFountain tracker</h1>\n\
         <p id=about>bf-tracker version {ver}. Server time <span id=time>{now}</span>, \
         up <span id=uptime>{up}</span>. {n} torrents. HTTP connections: {conns} open, at most \
         {max_conns}.</p>\n\
         <table id=torrents><thead><tr><th>info-hash</th>{name_th}<th>size</th>\
         <th>complete</th><th>downloading</th><th>downloaded</th><th>transferred</th>\
         </tr></thead>\n<tbody>\n{body}</tbody>\n\
         <tfoot><tr id=totals><td class=hash>{first_td}</td>{name_td}\
         <td class=\"n size\">{tsize}</td><td class=\"n seeds\">{seeds}</td>\
         <td class=\"n downloading\">{leechers}</td><td class=\"n completed\">{completed}</td>\
         <td class=\"n transferred\">{tmoved}</td></tr></tfoot></table>\n{more}\
         <p>Announce URL: <code>/announce</code>; scrape: <code>/scrape</code>.</p>\n\
         </body></html>\n",
        ver = env!("CARGO_PKG_VERSION"),
        now = UtcDateTime::from_unix(i64::try_from(unix_now()).unwrap_or(i64::MAX)),
        up = uptime(st.started.elapsed().as_secs()),
        n = rows.len(),
        conns = st.conns.open(),
        max_conns = st.conns.max(),
        tsize = human_size(size),
        tmoved = human_size(transferred),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(escape("<a&'\">"), "&lt;a&amp;&#39;&quot;&gt;");
        assert_eq!(uptime(90_061), "1d 1h 1m 1s");
    }
}
