//! One torrent: download it, then seed until stopped or a seeding goal is met.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bf_client::{AddError, AddTorrent, Session, TorrentEvent, TorrentHandle, TorrentState};
use tokio::sync::broadcast::error::RecvError;

use bf_cli::{mark, Exit};

use crate::progress::Progress;
use crate::RunArgs;

/// An error adding a torrent, marked with its exit status.
pub fn add_error(e: AddError) -> anyhow::Error {
    let exit = match e {
        AddError::Metainfo(_) => Exit::Input,
        AddError::Fetch { .. } => Exit::Network,
        AddError::Storage(_) => Exit::Storage,
        AddError::Duplicate(_) | AddError::NoPath => Exit::Failure,
        AddError::Magnet(_) => Exit::Usage,
        AddError::Metadata(_) => Exit::Network,
    };
    mark(e, exit)
}

/// Starts a session for `args` (a port that cannot be bound is a network failure).
pub async fn session(args: &RunArgs) -> anyhow::Result<Session> {
    Session::new(args.session_config())
        .await
        .map_err(|e| mark(e, Exit::Network))
}

/// Resolves when ctrl-c or SIGTERM arrives.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// When a completed torrent has seeded enough.
pub struct SeedGoal {
    ratio: Option<f64>,
    time: Option<Duration>,
    exit_on_complete: bool,
}

impl SeedGoal {
    /// From the command line.
    pub fn new(args: &RunArgs) -> Self {
        SeedGoal {
            ratio: args.seed_ratio,
            time: args.seed_time.map(Duration::from_secs),
            exit_on_complete: args.exit_on_complete,
        }
    }

    /// Whether any goal is set at all (otherwise seeding goes on until stopped).
    pub fn any(&self) -> bool {
        self.exit_on_complete || self.ratio.is_some() || self.time.is_some()
    }

    /// Whether a torrent complete since `since` that uploaded `uploaded` of `size` bytes
    /// is done seeding.
    pub fn reached(&self, since: Instant, uploaded: u64, size: u64) -> bool {
        if self.exit_on_complete {
            return true;
        }
        let by_ratio = self
            .ratio
            .is_some_and(|r| uploaded as f64 >= r * size as f64);
        let by_time = self.time.is_some_and(|t| since.elapsed() >= t);
        by_ratio || by_time
    }
}

/// Runs the one torrent of the command line.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let session = session(&args).await?;
    let mut add = match (&args.torrent, &args.url) {
        // A magnet link in place of the file: its metadata comes from peers first.
        (Some(p), _) if p.to_string_lossy().starts_with("magnet:") => {
            if !args.json {
                println!("fetching the metadata of {}", p.display());
            }
            AddTorrent::magnet(p.to_string_lossy())
        }
        (Some(p), _) => AddTorrent::file(p),
        (None, Some(u)) => AddTorrent::url(u),
        (None, None) => {
            return Err(mark(
                anyhow::anyhow!("give a .torrent file or --url"),
                Exit::Usage,
            ))
        }
    };
    add = match &args.saveas {
        Some(p) => add.save_as(p),
        None => add.save_in(args.save_in.clone().unwrap_or_else(|| PathBuf::from("."))),
    };
    for p in &args.peers {
        add = add.peer(*p);
    }
    let handle = match session.add_torrent(add).await {
        Ok(h) => h,
        Err(e) => {
            session.shutdown().await;
            return Err(add_error(e));
        }
    };
    let result = watch(&args, &handle).await;
    session.shutdown().await;
    result
}

async fn watch(args: &RunArgs, handle: &TorrentHandle) -> anyhow::Result<()> {
    let goal = SeedGoal::new(args);
    let mut progress = Progress::new(args.json, handle);
    let mut events = handle.events();
    let mut status = handle.watch();
    let mut complete_since: Option<Instant> = None;
    let stop = stop_signal();
    tokio::pin!(stop);
    let size = handle.metainfo().total_length();
    // Bounded by the user (a signal) or a goal; every pass consumes one event.
    loop {
        let ev = tokio::select! {
            biased;
            _ = &mut stop => {
                progress.note("stopping: telling the trackers and saving resume data");
                break;
            }
            ev = events.recv() => match ev {
                Ok(ev) => ev,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            },
            // The status keeps the latest state: a torrent that failed or completed before
            // `events` was subscribed (its events missed) is noticed all the same.
            Ok(()) = status.changed() => {
                let state = status.borrow_and_update().state.clone();
                match state {
                    TorrentState::Error(e) => TorrentEvent::Error(e),
                    TorrentState::Seeding if complete_since.is_none() => {
                        TorrentEvent::State(TorrentState::Seeding)
                    }
                    _ => continue,
                }
            }
        };
        progress.on_event(&ev);
        // A download that just finished announces State(Seeding), then Completed: the goal
        // is checked from the event after the state change on, or a program reading
        // --json would never see the completion of an --exit-on-complete run. (A torrent
        // complete at start sends no Completed: its next status, within a second, does.)
        let just_seeding = matches!(ev, TorrentEvent::State(TorrentState::Seeding));
        match &ev {
            TorrentEvent::State(TorrentState::Seeding) | TorrentEvent::Completed => {
                complete_since.get_or_insert_with(Instant::now);
            }
            TorrentEvent::State(TorrentState::Error(e)) | TorrentEvent::Error(e) => {
                progress.finish();
                return Err(mark(anyhow::anyhow!("{e}"), Exit::Storage));
            }
            _ => {}
        }
        if let Some(since) = complete_since.filter(|_| !just_seeding) {
            let st = handle.status();
            if goal.any() && goal.reached(since, st.uploaded, size) {
                progress.note("seeding goal reached");
                break;
            }
        }
    }
    if args.json {
        // The last word for programs: the counters when the program stops.
        progress.on_event(&TorrentEvent::Status(Box::new(handle.status())));
    }
    progress.finish();
    Ok(())
}
