//! `bf-maketorrent`: makes `.torrent` files, and changes the trackers of existing ones.

mod glob;
mod output;
mod trackers;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use bf_cli::{Exit, ResultExt};
use bf_metainfo::create::ScanOptions;
use bf_metainfo::format::human_size;
use bf_metainfo::piece_size::{
    format_piece_size, is_valid_piece_length, lint_piece_length, parse_piece_size,
};
use bf_metainfo::safe_path::component_problem;
use bf_metainfo::{CreateOptions, Magnet, Metainfo, Source};
use clap::{Args, Parser, Subcommand};

use crate::glob::Glob;
use crate::output::{already_exists, to_stdout, write_atomically};
use crate::trackers::{parse_node, parse_tiers};

const CREATED_BY: &str = concat!("BitFountain/", env!("CARGO_PKG_VERSION"));

/// Make a .torrent file from a file or a directory.
///
/// `bf-maketorrent PATH URL` writes PATH.torrent next to PATH (NAME.torrent with --name),
/// or to standard output with `-o -`. Each tracker URL argument
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

    /// Where to write the torrent; `-` writes it to standard output, and the summary to
    /// standard error [default: PATH.torrent next to PATH, NAME.torrent with --name].
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,

    /// The torrent's name, which downloaders get as its file or top folder name [default:
    /// the name of PATH].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Put TEXT in the info dictionary as `source`: private trackers require their own so
    /// that a torrent cross-seeded elsewhere gets its own info-hash (the info-hash changes).
    #[arg(long, value_name = "TEXT")]
    source: Option<String>,

    /// Leave out files and folders matching GLOB (repeatable), besides names starting with
    /// a dot, CVS, core, Thumbs.db and desktop.ini. `*`, `?` and `[a-z]` match within a
    /// name and `**` any number of folders; a GLOB without `/` matches names at any depth,
    /// one with `/` paths from the top folder, and a trailing `/` folders only. Quote it.
    #[arg(long, value_name = "GLOB", value_parser = glob_arg)]
    exclude: Vec<Glob>,

    /// Keep files and folders whose names start with a dot (left out by default).
    #[arg(long)]
    include_hidden: bool,

    /// Follow symbolic links to files and folders (left out by default, and counted); a
    /// link back to a folder being scanned is an error.
    #[arg(long)]
    follow_symlinks: bool,

    /// Hash and print the summary (info-hash, magnet link), but write no torrent.
    #[arg(long)]
    dry_run: bool,

    /// Piece size, a power of two from 16 KiB: 262144, 256K, 1M. One that makes over
    /// 100000 pieces, or pieces above 16 MiB where 16 MiB would do, is warned about with a
    /// better size [default: chosen for the size, about 1000-2000 pieces, 16 KiB to 16 MiB].
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

fn glob_arg(s: &str) -> Result<Glob, String> {
    Glob::new(s).map_err(|why| format!("{s:?} is not a usable pattern: {why}"))
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

/// Where the torrent goes.
enum Dest {
    File(PathBuf),
    Stdout,
    /// `--dry-run`: where it would have gone.
    Nowhere(String),
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
    if let Some(name) = &args.name {
        if let Some(why) = component_problem(name) {
            return Err(anyhow!("--name {name:?} cannot be a file name: {why}"))
                .exit_with(Exit::Usage);
        }
    }
    if args.source.as_deref() == Some("") {
        return Err(anyhow!("--source needs a non-empty TEXT")).exit_with(Exit::Usage);
    }
    let onto_stdout = args.output.as_deref() == Some(Path::new("-"));
    if onto_stdout && !args.dry_run && std::io::stdout().is_terminal() {
        return Err(anyhow!(
            "-o - writes binary data; redirect standard output to a file or a pipe"
        ))
        .exit_with(Exit::Usage);
    }
    let exclude = |p: &str, is_dir: bool| args.exclude.iter().any(|g| g.matches(p, is_dir));
    let scan = ScanOptions {
        include_hidden: args.include_hidden,
        follow_symlinks: args.follow_symlinks,
        exclude: &exclude,
    };
    let source = Source::scan_with(path, &scan).exit_with(Exit::Input)?;
    let name = args.name.as_deref().unwrap_or(source.name());
    let out = match &args.output {
        Some(_) if onto_stdout => None,
        Some(o) => Some(o.clone()),
        None => Some(default_output(path, name).exit_with(Exit::Input)?),
    };
    let dest = match out {
        None if args.dry_run => Dest::Nowhere("standard output".into()),
        None => Dest::Stdout,
        Some(o) if args.dry_run => Dest::Nowhere(o.display().to_string()),
        Some(o) => Dest::File(o),
    };
    if let Dest::File(out) = &dest {
        if !args.force && out.exists() {
            return already_exists(out);
        }
    }
    let n = source.skipped_symlinks();
    if n > 0 {
        eprintln!(
            "left out {n} symbolic link{} (--follow-symlinks takes them in)",
            if n == 1 { "" } else { "s" }
        );
    }
    let total = source.total_length();
    if let Some(lint) = args.piece_size.and_then(|pl| lint_piece_length(total, pl)) {
        eprintln!(
            "bf-maketorrent: warning: {lint} (--piece-size {})",
            format_piece_size(lint.better())
        );
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
        name: args.name.clone(),
        source: args.source.clone(),
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

    let written = match &dest {
        Dest::File(out) => {
            write_atomically(out, &metainfo.to_bytes(), args.force)?;
            out.display().to_string()
        }
        Dest::Stdout => {
            to_stdout(&metainfo.to_bytes())?;
            "standard output".to_owned()
        }
        Dest::Nowhere(out) => format!("nothing (--dry-run; would write {out})"),
    };
    eprintln!(
        "hashed {} in {secs:.2} s ({:.0} MiB/s)",
        human_size(total),
        total as f64 / (1 << 20) as f64 / secs.max(1e-9)
    );
    let summary = summary(&metainfo, &written);
    // With the torrent on standard output, the words for people go to standard error.
    if matches!(dest, Dest::Stdout) {
        eprint!("{summary}");
    } else {
        to_stdout(summary.as_bytes())?;
    }
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
    let mut text = format!("info-hash:  {after} (unchanged)\n");
    for (i, tier) in metainfo.trackers().iter().enumerate() {
        text += &format!("tier {}:     {}\n", i + 1, tier.join(", "));
    }
    text += &format!("written:    {}\n", out.display());
    to_stdout(text.as_bytes())
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

fn summary(m: &Metainfo, written: &str) -> String {
    let n = m.files().len();
    format!(
        "name:       {}\n\
         size:       {} ({} bytes in {n} file{})\n\
         pieces:     {} x {}\n\
         info-hash:  {}\n\
         magnet:     {}\n\
         written:    {written}\n",
        m.name(),
        human_size(m.total_length()),
        m.total_length(),
        if n == 1 { "" } else { "s" },
        m.piece_count(),
        human_size(m.piece_length()),
        m.info_hash(),
        Magnet::from_metainfo(m),
    )
}
