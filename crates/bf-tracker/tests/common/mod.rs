//! Shared by the in-process server tests: run a bound tracker until told to stop.
#![allow(dead_code, clippy::unwrap_used)]

use bf_tracker::Tracker;

/// Runs `t` on the test's runtime; sending on the returned channel shuts it down, and the
/// handle completes once `run` has returned (state saved, listener closed).
pub fn spawn(
    t: Tracker,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let h = tokio::spawn(async move {
        t.run(async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    (tx, h)
}
