//! The index page of the original tracker: a table of the torrents served with totals, the
//! version and the uptime.

use std::fmt::Write;

use bf_metainfo::format::human_size;

use super::Shared;

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
    let mut rows: Vec<_> = stats.into_iter().collect();
    rows.sort_by(|a, b| {
        let pa = a.1.complete + a.1.incomplete;
        let pb = b.1.complete + b.1.incomplete;
        pb.cmp(&pa).then(a.0.cmp(&b.0))
    });
    let (mut ts, mut tl, mut tc, mut tsize) = (0u64, 0u64, 0u64, 0u64);
    let mut body = String::with_capacity(256 + rows.len().min(MAX_ROWS) * 200);
    for (i, (h, s)) in rows.iter().enumerate() {
        let info = allowed.as_ref().and_then(|a| a.get(h));
        ts += u64::from(s.complete);
        tl += u64::from(s.incomplete);
        tc += u64::from(s.downloaded);
        tsize += info.map_or(0, |i| i.total_length);
        if i >= MAX_ROWS {
            continue;
        }
        let _ = writeln!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td class=n>{}</td><td class=n>{}</td>\
             <td class=n>{}</td><td class=n>{}</td></tr>",
            h.to_hex(),
            info.map_or_else(|| "<i>unknown</i>".to_string(), |i| escape(&i.name)),
            s.complete,
            s.incomplete,
            s.downloaded,
            info.map_or_else(|| "-".to_string(), |i| human_size(i.total_length)),
        );
    }
    let more = if rows.len() > MAX_ROWS {
        format!("<p>{} more torrents not listed.</p>", rows.len() - MAX_ROWS)
    } else {
        String::new()
    };
    format!(
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\
         <title>BitFountain tracker</title><style>\
         body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #999;padding:4px 8px}}th{{background:#eee}}\
         .n{{text-align:right}}tfoot td{{font-weight:bold}}</style></head><body>\n\
         <h1>BitFountain tracker</h1>\n\
         <p>bf-tracker version {ver}, up {up}. {n} torrents.</p>\n\
         <table id=torrents><thead><tr><th>info-hash</th><th>name</th><th>seeds</th>\
         <th>leechers</th><th>completed</th><th>size</th></tr></thead>\n<tbody>\n{body}</tbody>\n\
         <tfoot><tr><td>totals</td><td>{n} torrents</td><td class=n>{ts}</td><td class=n>{tl}</td>\
         <td class=n>{tc}</td><td class=n>{tsz}</td></tr></tfoot></table>\n{more}\
         <p>Announce URL: <code>/announce</code>; scrape: <code>/scrape</code>.</p>\n\
         </body></html>\n",
        ver = env!("CARGO_PKG_VERSION"),
        up = uptime(st.started.elapsed().as_secs()),
        n = rows.len(),
        tsz = human_size(tsize),
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
