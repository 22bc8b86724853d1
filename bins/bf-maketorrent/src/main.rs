//! `bf-maketorrent`: makes `.torrent` files, and changes the trackers of existing ones.

mod output;
mod trackers;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use bf_cli::{Exit, ResultExt};
use bf_metainfo::format::human_size;
use bf_metainfo::piece_size::{is_valid_piece_length, parse_piece_size};
use bf_metainfo::{CreateOptions, Magnet, Metainfo, Source};
use clap::{Args, Parser, Subcommand};

use crate::output::{already_exists, write_atomically};
use crate::trackers::{parse_node, parse_tiers};

const CREATED_BY: &str = concat!("BitFountain/", env!("CARGO_PKG_VERSION"));

/// Make a .torrent file from a file or a directory.
///
/// `bf-maketorrent PATH URL` writes PATH.torrent next to PATH. Each tracker URL argument
/// is one announce-list tier (BEP 12), tried in order; separate URLs with commas to put
/// several trackers in the same tier: `http://a/announce,http://b/announce http://c/announce`
/// makes two tiers. Without a tracker, give DHT nodes with --node (a trackerless torrent).
///
/// `bf-maketorrent retrack FILE.torrent URL...` replaces the trackers of an existing torrent
/// and keeps its info-hash.
#[derive(Parser, Debug)]
#[command(
    name = "bf-maketorrent",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = bf_cli::EXIT_CODES_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    make: MakeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Replace the trackers of FILE.torrent, keeping its info-hash (in place unless -o).
    #[command(after_help = bf_cli::EXIT_CODES_HELP)]
    Retrack(RetrackArgs),
}

#[derive(Args, Debug)]
struct MakeArgs {
    /// The file or directory to share.
    #[arg(required = true)]
    path: Option<PathBuf>,

    /// Tracker announce URLs: one tier per argument, commas between URLs of one tier.
    trackers: Vec<String>,

    /// Where to write the torrent [default: PATH.torrent next to PATH].
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    /// Piece size, a power of two from 16 KiB: 262144, 256K, 1M [default: chosen for the
    /// size, about 1000-2000 pieces, 16 KiB to 16 MiB].
    #[arg(long, value_name = "SIZE", value_parser = piece_size_arg)]
    piece_size: Option<u64>,

    /// Set the private flag (BEP 27): peers come from the trackers only.
    #[arg(long)]
    private: bool,

    /// A comment stored in the torrent.
    #[arg(long)]
    comment: Option<String>,

    /// A DHT bootstrap node host:port for trackerless torrents (repeatable).
    #[arg(long = "node", value_name = "HOST:PORT", value_parser = parse_node)]
    nodes: Vec<bf_metainfo::Node>,

    /// A web seed URL (BEP 19 url-list, repeatable).
    #[arg(long = "web-seed", value_name = "URL")]
    web_seeds: Vec<String>,

    /// Leave out the creation date (the output then depends on the input only).
    #[arg(long)]
    no_date: bool,

    /// Overwrite the output file if it exists.
    #[arg(long)]
    force: bool,

    /// Hashing threads [default: one per core].
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

#[derive(Args, Debug)]
struct RetrackArgs {
    /// The torrent to change.
    torrent: PathBuf,

    /// The new tracker URLs: one tier per argument, commas between URLs of one tier.
    #[arg(required = true)]
    trackers: Vec<String>,

    /// Write the result here instead of replacing FILE.torrent.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    /// Overwrite OUT if it exists.
    #[arg(long)]
    force: bool,
}

fn piece_size_arg(s: &str) -> Result<u64, String> {
    match parse_piece_size(s) {
        Some(n) if is_valid_piece_length(n) => Ok(n),
        _ => Err(format!(
            "{s:?} is not a power of two from 16K to 256M (e.g. 262144, 256K, 1M)"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Retrack(args)) => retrack(&args),
        None => make(&cli.make),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => bf_cli::report("bf-maketorrent", &e),
    }
}

fn make(args: &MakeArgs) -> Result<()> {
    let Some(path) = &args.path else {
        return Err(anyhow!("give the file or directory to share")).exit_with(Exit::Usage);
    };
    let tiers = parse_tiers(&args.trackers).exit_with(Exit::Usage)?;
    if tiers.is_empty() && args.nodes.is_empty() {
        return Err(anyhow!(
            "give a tracker URL, or --node HOST:PORT for a trackerless torrent"
        ))
        .exit_with(Exit::Usage);
    }
    let source = Source::scan(path).exit_with(Exit::Input)?;
    let out = match &args.output {
        Some(o) => o.clone(),
        None => default_output(path, source.name()).exit_with(Exit::Input)?,
    };
    if !args.force && out.exists() {
        return already_exists(&out);
    }
    let creation_date = if args.no_date {
        None
    } else {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Some(i64::try_from(now.as_secs()).unwrap_or(i64::MAX))
    };
    let opts = CreateOptions {
        piece_length: args.piece_size,
        threads: args.threads.unwrap_or(0),
        private: args.private,
        trackers: tiers,
        nodes: args.nodes.clone(),
        url_list: args.web_seeds.clone(),
        comment: args.comment.clone(),
        created_by: Some(CREATED_BY.to_owned()),
        creation_date,
    };

    let total = source.total_length();
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "hashing {bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let metainfo = bf_metainfo::create(&source, &opts, &mut |done| bar.set_position(done));
    bar.finish_and_clear();
    // What can fail while hashing is reading the input (or its size, for the piece count).
    let metainfo = metainfo.exit_with(Exit::Input)?;
    let secs = started.elapsed().as_secs_f64();

    write_atomically(&out, &metainfo.to_bytes(), args.force)?;
    eprintln!(
        "hashed {} in {secs:.2} s ({:.0} MiB/s)",
        human_size(total),
        total as f64 / (1 << 20) as f64 / secs.max(1e-9)
    );
    print_summary(&metainfo, &out);
    Ok(())
}

fn retrack(args: &RetrackArgs) -> Result<()> {
    let tiers = parse_tiers(&args.trackers).exit_with(Exit::Usage)?;
    if tiers.is_empty() {
        return Err(anyhow!("give at least one tracker URL")).exit_with(Exit::Usage);
    }
    let mut metainfo = Metainfo::from_file(&args.torrent).exit_with(Exit::Input)?;
    let before = metainfo.info_hash();
    metainfo.set_trackers(tiers);
    let bytes = metainfo.to_bytes();
    let after = Metainfo::from_bytes(&bytes)
        .context("re-reading the changed torrent")?
        .info_hash();
    if after != before {
        bail!("info-hash would change ({before} -> {after}); nothing written");
    }
    let (out, force) = match &args.output {
        Some(o) => (o.clone(), args.force),
        None => (args.torrent.clone(), true),
    };
    if !force && out.exists() {
        return already_exists(&out);
    }
    write_atomically(&out, &bytes, force)?;
    println!("info-hash:  {after} (unchanged)");
    for (i, tier) in metainfo.trackers().iter().enumerate() {
        println!("tier {}:     {}", i + 1, tier.join(", "));
    }
    println!("written:    {}", out.display());
    Ok(())
}

/// `PATH.torrent` next to PATH: `dir/` and `.` name the directory itself.
fn default_output(path: &Path, name: &str) -> Result<PathBuf> {
    let full = if path.file_name().is_some() && !path.ends_with("..") {
        path.to_path_buf()
    } else {
        std::fs::canonicalize(path).with_context(|| format!("{path:?}"))?
    };
    let parent = full.parent().unwrap_or(Path::new("."));
    Ok(parent.join(format!("{name}.torrent")))
}

fn print_summary(m: &Metainfo, out: &Path) {
    println!("name:       {}", m.name());
    println!(
        "size:       {} ({} bytes in {} file{})",
        human_size(m.total_length()),
        m.total_length(),
        m.files().len(),
        if m.files().len() == 1 { "" } else { "s" }
    );
    println!(
        "pieces:     {} x {}",
        m.piece_count(),
        human_size(m.piece_length())
    );
    println!("info-hash:  {}", m.info_hash());
    println!("magnet:     {}", Magnet::from_metainfo(m));
    println!("written:    {}", out.display());
}
