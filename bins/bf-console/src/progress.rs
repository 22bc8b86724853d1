//! What the user sees: a live bar on a terminal, a plain line every few seconds otherwise, or
//! one JSON object per line for programs.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bf_client::{TorrentEvent, TorrentHandle, TorrentState, TorrentStatus};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::units::rate;

/// How often a plain status line is printed when stdout is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

enum Mode {
    Bar(ProgressBar),
    Plain { last: Option<Instant> },
    Json,
}

/// The display of one torrent.
pub struct Progress {
    mode: Mode,
    name: String,
}

impl Progress {
    /// A bar if stdout is a terminal, else plain lines, or JSON when asked.
    pub fn new(json: bool, handle: &TorrentHandle) -> Self {
        let name = handle.metainfo().name().to_string();
        let mode = if json {
            Mode::Json
        } else if std::io::stdout().is_terminal() {
            let bar = ProgressBar::with_draw_target(
                Some(handle.metainfo().total_length()),
                ProgressDrawTarget::stdout(),
            );
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {percent:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(name.clone());
            Mode::Bar(bar)
        } else {
            Mode::Plain { last: None }
        };
        Progress { mode, name }
    }

    /// A line for the user (after the bar, or plain), not in JSON mode.
    pub fn note(&self, text: &str) {
        match &self.mode {
            Mode::Bar(b) => b.println(text),
            Mode::Plain { .. } => println!("{text}"),
            Mode::Json => println!("{}", json!({"event": "note", "text": text})),
        }
    }

    /// Updates the display with one event.
    pub fn on_event(&mut self, ev: &TorrentEvent) {
        if let Mode::Json = self.mode {
            if let Some(v) = event_json(ev) {
                println!("{v}");
            }
            return;
        }
        match ev {
            TorrentEvent::Status(st) => self.status(st),
            TorrentEvent::Completed => {
                self.note(&format!("{}: download complete, seeding", self.name))
            }
            TorrentEvent::PeerBanned { addr, reason } => {
                self.note(&format!("banned {addr}: {reason}"))
            }
            TorrentEvent::HashFailed { piece } => {
                self.note(&format!("piece {piece} failed its hash, fetching it again"))
            }
            TorrentEvent::TrackerFailed(e) => self.note(&format!("tracker: {e}")),
            TorrentEvent::Error(e) => self.note(&format!("error: {e}")),
            TorrentEvent::State(TorrentState::Checking { checked, total }) => {
                if let Mode::Bar(b) = &self.mode {
                    b.set_message(format!("checking {checked}/{total}"));
                }
            }
            _ => {}
        }
    }

    fn status(&mut self, st: &TorrentStatus) {
        let line = status_line(st);
        match &mut self.mode {
            Mode::Bar(b) => {
                b.set_position(st.bytes_have);
                b.set_message(line);
            }
            Mode::Plain { last } => {
                if last.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
                    *last = Some(Instant::now());
                    println!("{}: {:5.1}% {line}", self.name, st.progress() * 100.0);
                }
            }
            Mode::Json => {}
        }
    }

    /// Leaves the bar on screen as it is.
    pub fn finish(&self) {
        if let Mode::Bar(b) = &self.mode {
            b.abandon();
        }
    }
}

fn state_word(s: &TorrentState) -> String {
    match s {
        TorrentState::Checking { checked, total } => format!("checking {checked}/{total}"),
        TorrentState::Downloading => "downloading".into(),
        TorrentState::Seeding => "seeding".into(),
        TorrentState::Paused => "paused".into(),
        TorrentState::Error(e) => format!("error: {e}"),
        TorrentState::Stopped => "stopped".into(),
    }
}

/// `downloading ↓ 12.0 MiB/s ↑ 1.0 MiB/s peers 4 (1 seed) ETA 0:42`.
pub fn status_line(st: &TorrentStatus) -> String {
    let eta = match st.eta {
        Some(d) if !st.is_complete() => {
            let s = d.as_secs();
            format!(" ETA {}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        }
        _ => String::new(),
    };
    format!(
        "{} down {} up {} peers {} ({} seeds){eta}",
        state_word(&st.state),
        rate(st.down_rate),
        rate(st.up_rate),
        st.peers,
        st.seeds
    )
}

/// One event as a JSON object (`None` for events programs do not need).
pub fn event_json(ev: &TorrentEvent) -> Option<serde_json::Value> {
    Some(match ev {
        TorrentEvent::Status(st) => json!({
            "event": "status",
            "info_hash": st.info_hash.to_hex(),
            "name": st.name,
            "state": state_word(&st.state),
            "pieces_have": st.pieces_have,
            "pieces_total": st.pieces_total,
            "bytes_have": st.bytes_have,
            "bytes_total": st.bytes_total,
            "progress": st.progress(),
            "down_rate": st.down_rate,
            "up_rate": st.up_rate,
            "downloaded": st.downloaded,
            "uploaded": st.uploaded,
            "redundant": st.redundant,
            "duplicate": st.stats.duplicate,
            "late": st.stats.late,
            "hash_failures": st.hash_failures,
            "peers": st.peers,
            "seeds": st.seeds,
            "fountain_peers": st.peer_list.iter().filter(|p| p.fountain).count(),
            "eta_secs": st.eta.map(|d| d.as_secs()),
            "active_secs": st.active_for.as_secs_f64(),
            "blocks_received": st.stats.blocks_received,
            "repair_received": st.stats.repair_received,
            "repair_requested": st.stats.repair_requested,
            "pieces_decoded": st.stats.pieces_decoded,
            "raced": st.stats.raced,
            "endgame_requests": st.stats.endgame_requests,
            "repair_served": st.stats.repair_served,
            "hash_secs": st.stats.hash_time.as_secs_f64(),
            "decode_secs": st.stats.decode_time.as_secs_f64(),
        }),
        TorrentEvent::State(s) => json!({"event": "state", "state": state_word(s)}),
        TorrentEvent::Completed => json!({"event": "completed"}),
        TorrentEvent::HashFailed { piece } => json!({"event": "hash_failed", "piece": piece}),
        TorrentEvent::PeerBanned { addr, reason } => {
            json!({"event": "peer_banned", "addr": addr.to_string(), "reason": reason})
        }
        TorrentEvent::PeerConnected(a) => json!({"event": "peer_connected", "addr": a.to_string()}),
        TorrentEvent::PeerDisconnected(a) => {
            json!({"event": "peer_disconnected", "addr": a.to_string()})
        }
        TorrentEvent::TrackerAnnounced { url, peers } => {
            json!({"event": "tracker_announced", "url": url, "peers": peers})
        }
        TorrentEvent::TrackerFailed(e) => json!({"event": "tracker_failed", "error": e}),
        TorrentEvent::Error(e) => json!({"event": "error", "error": e}),
        TorrentEvent::PieceVerified(_) => return None,
    })
}
