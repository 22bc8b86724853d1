//! `--torrent-dir`: every .torrent in a folder, downloaded and seeded; new files are picked
//! up and removed ones dropped while running (the original's launchmany).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bf_client::{AddTorrent, Session, TorrentState};
use bf_metainfo::InfoHash;

use crate::download::{add_error, session, stop_signal};
use crate::progress::{event_json, status_line};
use crate::units::rate;
use crate::RunArgs;
use bf_cli::{mark, Exit};

/// How often the folder is scanned.
const RESCAN: Duration = Duration::from_secs(5);
/// How often a summary is printed.
const SUMMARY: Duration = Duration::from_secs(10);

struct Launcher {
    session: Session,
    save_in: PathBuf,
    peers: Vec<std::net::SocketAddr>,
    running: HashMap<PathBuf, InfoHash>,
    /// Files that could not be added, with the mtime they had: retried once changed.
    refused: HashMap<PathBuf, Option<SystemTime>>,
    json: bool,
}

fn torrent_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "torrent") && p.is_file())
        .collect();
    v.sort();
    Ok(v)
}

impl Launcher {
    async fn rescan(&mut self, dir: &Path) {
        let files = match torrent_files(dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("{}: {e}", dir.display());
                return;
            }
        };
        let gone: Vec<PathBuf> = self
            .running
            .keys()
            .filter(|p| !files.contains(p))
            .cloned()
            .collect();
        for p in gone {
            if let Some(h) = self.running.remove(&p) {
                self.say(&format!("{}: removed, stopping it", p.display()));
                self.session.remove(&h).await;
            }
        }
        self.refused.retain(|p, _| files.contains(p));
        for p in files {
            if self.running.contains_key(&p) {
                continue;
            }
            let mtime = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            if self.refused.get(&p).is_some_and(|t| *t == mtime) {
                continue;
            }
            let mut add = AddTorrent::file(&p).save_in(&self.save_in);
            for a in &self.peers {
                add = add.peer(*a);
            }
            match self.session.add_torrent(add).await {
                Ok(h) => {
                    self.say(&format!("{}: added {}", p.display(), h.metainfo().name()));
                    self.running.insert(p, h.info_hash());
                }
                Err(e) => {
                    let e = add_error(e);
                    self.say(&bf_cli::error_line(&p.display().to_string(), &e));
                    self.refused.insert(p, mtime);
                }
            }
        }
    }

    fn say(&self, text: &str) {
        if self.json {
            println!("{}", serde_json::json!({"event": "note", "text": text}));
        } else {
            println!("{text}");
        }
    }

    fn summary(&self) {
        let all = self.session.torrents();
        if self.json {
            for h in &all {
                let st = h.status();
                if let Some(v) = event_json(&bf_client::TorrentEvent::Status(Box::new(st))) {
                    println!("{v}");
                }
            }
            return;
        }
        let (mut down, mut up, mut seeding, mut errors) = (0, 0, 0, 0);
        for h in &all {
            let st = h.status();
            down += st.down_rate;
            up += st.up_rate;
            match st.state {
                TorrentState::Seeding => seeding += 1,
                TorrentState::Error(_) => errors += 1,
                _ => {
                    if st.peers > 0 {
                        println!("  {}: {}", st.name, status_line(&st));
                    }
                }
            }
        }
        println!(
            "{} torrents, {seeding} seeding, {errors} stopped by errors; down {} up {}",
            all.len(),
            rate(down),
            rate(up)
        );
    }
}

/// Runs every torrent of `--torrent-dir` until stopped.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let Some(dir) = args.torrent_dir.clone() else {
        return Err(mark(anyhow::anyhow!("no --torrent-dir"), Exit::Usage));
    };
    if !dir.is_dir() {
        return Err(mark(
            anyhow::anyhow!("--torrent-dir {}: not a folder", dir.display()),
            Exit::Input,
        ));
    }
    let mut l = Launcher {
        session: session(&args).await?,
        save_in: args.save_in.clone().unwrap_or_else(|| dir.clone()),
        peers: args.peers.clone(),
        running: HashMap::new(),
        refused: HashMap::new(),
        json: args.json,
    };
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut rescan = tokio::time::interval(RESCAN);
    let mut summary = tokio::time::interval(SUMMARY);
    summary.tick().await;
    // Bounded by the user: runs until a signal.
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = rescan.tick() => l.rescan(&dir).await,
            _ = summary.tick() => l.summary(),
        }
    }
    l.say("stopping: telling the trackers and saving resume data");
    l.session.shutdown().await;
    Ok(())
}
