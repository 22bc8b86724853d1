//! One torrent: download it, then seed until stopped or a seeding goal is met.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bf_client::{AddError, AddTorrent, Session, TorrentEvent, TorrentHandle, TorrentState};
use tokio::sync::broadcast::error::RecvError;

use crate::progress::Progress;
use crate::{exit, Failure, RunArgs};

/// The exit code for an error adding a torrent.
pub fn add_error(e: AddError) -> Failure {
    let code = match e {
        AddError::Metainfo(_) | AddError::Fetch { .. } => exit::BAD_TORRENT,
        AddError::Storage(_) => exit::STORAGE,
        AddError::Duplicate(_) | AddError::NoPath => exit::FAILURE,
    };
    Failure::new(code, e)
}

/// Starts a session for `args`.
pub async fn session(args: &RunArgs) -> Result<Session, Failure> {
    Session::new(args.session_config())
        .await
        .map_err(Failure::from)
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
pub async fn run(args: RunArgs) -> Result<(), Failure> {
    let session = session(&args).await?;
    let mut add = match (&args.torrent, &args.url) {
        (Some(p), _) => AddTorrent::file(p),
        (None, Some(u)) => AddTorrent::url(u),
        (None, None) => {
            return Err(Failure::new(
                exit::USAGE,
                anyhow::anyhow!("give a .torrent file or --url"),
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

async fn watch(args: &RunArgs, handle: &TorrentHandle) -> Result<(), Failure> {
    let goal = SeedGoal::new(args);
    let mut progress = Progress::new(args.json, handle);
    let mut events = handle.events();
    let mut complete_since: Option<Instant> = None;
    let stop = stop_signal();
    tokio::pin!(stop);
    let size = handle.metainfo().total_length();
    // Bounded by the user (a signal) or a goal; every pass consumes one event.
    loop {
        let ev = tokio::select! {
            _ = &mut stop => {
                progress.note("stopping: telling the trackers and saving resume data");
                break;
            }
            ev = events.recv() => ev,
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => break,
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
                return Err(Failure::new(exit::STORAGE, anyhow::anyhow!("{e}")));
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
    progress.finish();
    Ok(())
}
