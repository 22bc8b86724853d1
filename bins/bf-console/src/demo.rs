//! `bf-console demo`: a whole fountain swarm in one process, on loopback, needing nothing but
//! the build: an in-process tracker, a generated file, a seeder, a slow seeder, a peer that
//! stalls without closing, and several downloaders; live progress, then what the fountain
//! exchange did.

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bf_cli::{Exit, ResultExt};
use bf_client::testpeer::StallingPeer;
use bf_client::{AddTorrent, Session, SessionConfig, TorrentHandle, TorrentSource, TorrentStatus};
use bf_metainfo::{CreateOptions, Source};
use bf_tracker::{ServerConfig, Tracker};

use crate::units::{parse_rate, rate};

/// Arguments of `bf-console demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Size of the generated file, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 48)]
    size: u64,
    /// Number of downloaders.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=16))]
    downloaders: u16,
    /// Piece size (e.g. 256K, 1M).
    #[arg(long, value_name = "SIZE", default_value = "256K", value_parser = parse_size)]
    piece_size: u64,
    /// Upload limit of the seeder.
    #[arg(long, value_name = "RATE", default_value = "8M", value_parser = parse_rate)]
    seed_rate: u64,
    /// Upload limit of each downloader (peers upload less than a seeder, as users do).
    #[arg(long, value_name = "RATE", default_value = "2M", value_parser = parse_rate)]
    peer_rate: u64,
    /// Upload limit of the slow seeder.
    #[arg(long, value_name = "RATE", default_value = "512K", value_parser = parse_rate)]
    slow_rate: u64,
    /// No slow seeder.
    #[arg(long)]
    no_slow: bool,
    /// No stalling peer.
    #[arg(long)]
    no_staller: bool,
    /// Blocks only, as between ordinary clients, to compare.
    #[arg(long)]
    no_fountain: bool,
    /// Keep the files in this folder instead of a temporary one.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let bytes = parse_rate(s)?;
    if bytes < 16 * 1024 || !bytes.is_power_of_two() || bytes > 64 << 20 {
        return Err(format!("{s:?}: a power of two from 16K to 64M"));
    }
    Ok(bytes)
}

/// Deterministic content that compresses badly (xorshift64).
fn generate(path: &Path, len: u64) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut left = len;
    let mut chunk = vec![0u8; 1 << 20];
    while left > 0 {
        for w in chunk.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.flush()
}

fn session_config(fountain: bool, upload: Option<u64>) -> SessionConfig {
    let mut cfg = SessionConfig {
        port: 0,
        port_tries: 1,
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        max_upload_rate: upload,
        resume_dir: None,
        worker_threads: 2,
        ..SessionConfig::default()
    };
    cfg.core.fountain = fountain;
    cfg.tracker.http_timeout = Duration::from_secs(5);
    cfg
}

struct Downloader {
    name: String,
    handle: TorrentHandle,
    out: PathBuf,
    done: Option<Duration>,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let tmp;
    let dir = match &args.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d.clone()
        }
        None => {
            tmp = TempDir::new()?;
            tmp.0.clone()
        }
    };
    let fountain = !args.no_fountain;
    let size = args.size.max(1) << 20;
    println!(
        "BitFountain demo: a {} file, {} pieces, downloaders uploading at most {}, fountain {}",
        bf_metainfo::format::human_size(size),
        bf_metainfo::format::human_size(args.piece_size),
        rate(args.peer_rate),
        if fountain {
            "on"
        } else {
            "off (--no-fountain)"
        }
    );

    // The tracker, in this process.
    let tracker = Tracker::bind(ServerConfig {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        interval: 10,
        min_interval: 2,
        log_requests: false,
        udp: false,
        ..ServerConfig::default()
    })
    .await
    .exit_with(Exit::Network)?;
    let announce = format!("http://{}/announce", tracker.http_addr()?);
    let (stop_tracker, stopped) = tokio::sync::oneshot::channel::<()>();
    let tracker_task = tokio::spawn(tracker.run(async {
        let _ = stopped.await;
    }));

    // The file and its torrent.
    let file = dir.join("demo.bin");
    generate(&file, size).exit_with(Exit::Storage)?;
    let source = Source::scan(&file).exit_with(Exit::Input)?;
    let opts = CreateOptions {
        piece_length: Some(args.piece_size),
        trackers: vec![vec![announce.clone()]],
        ..CreateOptions::default()
    };
    let meta = Arc::new(bf_metainfo::create(&source, &opts, &mut |_| {}).exit_with(Exit::Input)?);

    // Seeders: one at --seed-rate, one slow; and a staller.
    let mut sessions = Vec::new();
    let seed = |rate: u64| {
        let meta = meta.clone();
        let file = file.clone();
        async move {
            let s = Session::new(session_config(fountain, Some(rate))).await?;
            let h = s
                .add_torrent(AddTorrent::new(TorrentSource::Metainfo(meta)).save_as(&file))
                .await?;
            h.wait_complete().await.map_err(anyhow::Error::msg)?;
            anyhow::Ok((s, h))
        }
    };
    let mut seeders = Vec::new();
    let (s, h) = seed(args.seed_rate).await?;
    println!(
        "  seeder       {}  uploads at most {}",
        s.listen_addr(),
        rate(args.seed_rate)
    );
    sessions.push(s);
    seeders.push(("seeder", h));
    if !args.no_slow {
        let (s, h) = seed(args.slow_rate).await?;
        println!(
            "  slow seeder  {}  uploads at most {}",
            s.listen_addr(),
            rate(args.slow_rate)
        );
        sessions.push(s);
        seeders.push(("slow seeder", h));
    }
    let staller = if args.no_staller {
        None
    } else {
        let p = StallingPeer::start(meta.clone()).await?;
        println!(
            "  staller      {}  has everything, takes requests, answers none, never closes",
            p.addr()
        );
        Some(p)
    };

    // Downloaders.
    let start = Instant::now();
    let mut downloaders = Vec::new();
    for i in 1..=args.downloaders {
        let s = Session::new(session_config(fountain, Some(args.peer_rate))).await?;
        let out = dir.join(format!("downloader-{i}")).join("demo.bin");
        let mut add = AddTorrent::new(TorrentSource::Metainfo(meta.clone())).save_as(&out);
        if let Some(p) = &staller {
            add = add.peer(p.addr());
        }
        let handle = s.add_torrent(add).await?;
        downloaders.push(Downloader {
            name: format!("downloader {i}"),
            handle,
            out,
            done: None,
        });
        sessions.push(s);
    }

    // Live progress until everyone is done (at most five minutes).
    let terminal = std::io::stdout().is_terminal();
    let deadline = start + Duration::from_secs(300);
    let mut shown_lines = 0;
    let mut last_plain = Instant::now() - Duration::from_secs(10);
    // Bounded by the deadline.
    while downloaders.iter().any(|d| d.done.is_none()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        for d in &mut downloaders {
            if d.done.is_none() && d.handle.status().is_complete() {
                d.done = Some(start.elapsed());
            }
        }
        let lines: Vec<String> = downloaders
            .iter()
            .map(|d| progress_line(d, start))
            .collect();
        if terminal {
            if shown_lines > 0 {
                print!("\x1b[{shown_lines}A");
            }
            for l in &lines {
                println!("\x1b[2K{l}");
            }
            shown_lines = lines.len();
        } else if last_plain.elapsed() >= Duration::from_secs(2) {
            last_plain = Instant::now();
            for l in &lines {
                println!("{l}");
            }
        }
    }
    let all_done = downloaders.iter().all(|d| d.done.is_some());

    // What happened.
    println!();
    println!(
        "{:<13} {:>7} {:>10} {:>7} {:>7} {:>10} {:>8} {:>9} {:>6}",
        "", "time", "received", "blocks", "repair", "duplicate", "decoded", "held up", "data"
    );
    for d in &downloaders {
        let st: TorrentStatus = d.handle.status();
        let same = files_equal(&file, &d.out).unwrap_or(false);
        println!(
            "{:<13} {:>7} {:>10} {:>7} {:>7} {:>10} {:>8} {:>9} {:>6}",
            d.name,
            d.done
                .map_or("-".into(), |t| format!("{:.1} s", t.as_secs_f64())),
            bf_metainfo::format::human_size(st.downloaded),
            st.stats.blocks_received,
            st.stats.repair_received,
            bf_metainfo::format::human_size(st.redundant),
            st.stats.pieces_decoded,
            st.stats.pieces_held_up,
            if same { "same" } else { "WRONG" },
        );
    }
    for (name, h) in &seeders {
        let st = h.status();
        println!(
            "{name} sent {} ({:.2} copies), {} of them repair symbols",
            bf_metainfo::format::human_size(st.uploaded),
            st.uploaded as f64 / size as f64,
            st.stats.repair_served
        );
    }
    println!();
    println!(
        "blocks: 16 KiB source symbols; repair: RaptorQ repair symbols; duplicate: bytes received\n\
         twice or after their piece was complete; decoded: pieces rebuilt with repair symbols;\n\
         held up: pieces finished although a request of theirs went to a peer that stopped\n\
         answering; data: the download compared byte for byte with the original."
    );
    if staller.is_some() && fountain {
        println!(
            "The staller holds no piece hostage: its requests are given up within seconds and\n\
             fresh repair symbols from the other peers finish those pieces (try --no-fountain)."
        );
    }

    for s in &sessions {
        s.shutdown().await;
    }
    let _ = stop_tracker.send(());
    let _ = tracker_task.await;
    let wrong = downloaders
        .iter()
        .any(|d| !files_equal(&file, &d.out).unwrap_or(false));
    if !all_done || wrong {
        anyhow::bail!(if wrong {
            "a download differs from the original"
        } else {
            "not every downloader finished within five minutes"
        });
    }
    Ok(())
}

fn progress_line(d: &Downloader, start: Instant) -> String {
    let st = d.handle.status();
    let state = match d.done {
        Some(t) => format!("done in {:.1} s", t.as_secs_f64()),
        None => format!("{:.1} s", start.elapsed().as_secs_f64()),
    };
    format!(
        "{:<13} {:5.1}%  {:>12}  peers {:>2}  blocks {:>6}  repair {:>5}  {}",
        d.name,
        st.progress() * 100.0,
        rate(st.down_rate),
        st.peers,
        st.stats.blocks_received,
        st.stats.repair_received,
        state
    )
}

fn files_equal(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    if fa.metadata()?.len() != fb.metadata()?.len() {
        return Ok(false);
    }
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    // Bounded by the file length.
    loop {
        let n = fa.read(&mut ba)?;
        if n == 0 {
            return Ok(true);
        }
        fb.read_exact(&mut bb[..n])?;
        if ba[..n] != bb[..n] {
            return Ok(false);
        }
    }
}

/// A temporary folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let p = base.join(format!("bf-demo-{:016x}", rand_u64()));
            if std::fs::create_dir(&p).is_ok() {
                return Ok(TempDir(p));
            }
        }
        Err(std::io::Error::other("cannot create a temporary folder"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()).rotate_left(32)
}
