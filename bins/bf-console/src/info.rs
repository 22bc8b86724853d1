//! `bf-console info`: a torrent's contents for a person, or as JSON for a program; its file
//! tree alone (`--files`), or its magnet link alone (`--magnet`, imdl's `torrent link`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use bf_cli::{Exit, ResultExt};
use bf_metainfo::format::{human_size, UtcDateTime};
use bf_metainfo::{Magnet, Metainfo};
use serde_json::json;

/// Arguments of `bf-console info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// The .torrent file.
    torrent: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long, conflicts_with_all = ["files", "magnet"])]
    json: bool,
    /// Print only the file tree: every folder and file with its size, in torrent order
    /// (padding files left out).
    #[arg(long, conflicts_with = "magnet")]
    files: bool,
    /// Print only the magnet link, for scripts.
    #[arg(long)]
    magnet: bool,
}

/// Reads the torrent and prints it.
pub fn run(args: &InfoArgs) -> Result<()> {
    let m = Metainfo::from_file(&args.torrent)?;
    let text = if args.json {
        to_json(&m).to_string()
    } else if args.magnet {
        Magnet::from_metainfo(&m).to_string()
    } else if args.files {
        file_tree(&m)
    } else {
        to_text(&m, &args.torrent)
    };
    print_stdout(&format!("{text}\n"))
}

/// Writes `text` to standard output. A reader that went away (`| head`) ends the output
/// quietly, as for any Unix filter, where `println!` would panic.
pub(crate) fn print_stdout(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to standard output"))
                .exit_with(Exit::Storage)
        }
        _ => Ok(()),
    }
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
        "source": m.source(),
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
    if let Some(src) = m.source() {
        line("source", &clean(src));
    }
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
        line(
            "creation date",
            &format!("{} ({d})", UtcDateTime::from_unix(d)),
        );
    }
    line("magnet", &Magnet::from_metainfo(m).to_string());
    o.pop(); // the last newline; run() adds one
    o
}

/// One folder or file of [`file_tree`]'s tree.
struct TreeNode {
    name: String,
    size: u64,
    dir: bool,
    children: Vec<usize>,
    /// Child folders by name, so that a torrent of many files is built in linear time.
    by_name: HashMap<String, usize>,
}

impl TreeNode {
    fn new(name: &str, dir: bool) -> Self {
        TreeNode {
            name: name.to_owned(),
            size: 0,
            dir,
            children: Vec::new(),
            by_name: HashMap::new(),
        }
    }
}

/// The files as a tree drawn like tree(1): the torrent's name on top, folders with a `/`
/// and the size of all below them. Built and drawn without recursion: a torrent's paths
/// can be as deep as it likes.
fn file_tree(m: &Metainfo) -> String {
    if m.is_single_file() {
        return format!("{}  {}", clean(m.name()), size(m.total_length()));
    }
    let mut nodes = vec![TreeNode::new(m.name(), true)];
    for f in m.files().iter().filter(|f| !f.padding) {
        let mut at = 0;
        nodes[0].size += f.length;
        for (i, comp) in f.path.iter().enumerate() {
            let is_dir = i + 1 < f.path.len();
            // Only folders are shared between paths; a file is always its own entry
            // (a hostile torrent may name one twice, or a file like a folder).
            let found = if is_dir {
                nodes[at].by_name.get(comp).copied()
            } else {
                None
            };
            let child = match found {
                Some(c) => c,
                None => {
                    nodes.push(TreeNode::new(comp, is_dir));
                    let c = nodes.len() - 1;
                    nodes[at].children.push(c);
                    if is_dir {
                        nodes[at].by_name.insert(comp.clone(), c);
                    }
                    c
                }
            };
            nodes[child].size += f.length;
            at = child;
        }
    }
    let mut o = String::new();
    let label = |n: &TreeNode| {
        let slash = if n.dir { "/" } else { "" };
        format!("{}{slash}  {}", clean(&n.name), size(n.size))
    };
    let _ = write!(o, "{}", label(&nodes[0]));
    // (node, the prefix drawn before it, whether it is its folder's last entry)
    let mut stack: Vec<(usize, String, bool)> = Vec::new();
    let push_children = |stack: &mut Vec<(usize, String, bool)>, node: &TreeNode, prefix: &str| {
        let last = node.children.len().saturating_sub(1);
        for (i, &c) in node.children.iter().enumerate().rev() {
            stack.push((c, prefix.to_owned(), i == last));
        }
    };
    push_children(&mut stack, &nodes[0], "");
    while let Some((idx, prefix, last)) = stack.pop() {
        let branch = if last { "└── " } else { "├── " };
        let _ = write!(o, "\n{prefix}{branch}{}", label(&nodes[idx]));
        let below = format!("{prefix}{}", if last { "    " } else { "│   " });
        push_children(&mut stack, &nodes[idx], &below);
    }
    o
}

/// Control characters from a hostile torrent must not reach the terminal as escapes.
pub(crate) fn clean(s: &str) -> String {
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
    if n == 1 {
        "1 byte".into()
    } else if n < 1024 {
        format!("{n} bytes")
    } else {
        format!("{} ({n} bytes)", human_size(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean("a\x1b[31mb\n"), "a\\u{1b}[31mb\\n");
    }
}
