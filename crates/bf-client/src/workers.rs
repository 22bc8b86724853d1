//! A small fixed pool of threads for hashing, disk I/O and (later) fountain decoding, so that
//! no such work runs on the async threads and its parallelism stays bounded.
//!
//! Fixed threads rather than tokio's blocking pool: the blocking pool grows to hundreds of
//! threads under load, and the fountain solver keeps its working memory per thread, which
//! only pays if the same few threads do the work.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// N threads taking jobs from one queue.
#[derive(Debug)]
pub struct WorkerPool {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    size: usize,
}

impl WorkerPool {
    /// `threads` worker threads (at least one), named `name-N`.
    pub fn new(threads: usize, name: &str) -> std::io::Result<Arc<Self>> {
        let size = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let mut handles = Vec::with_capacity(size);
        for i in 0..size {
            let rx = rx.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || loop {
                        let job = {
                            let guard = rx.lock().unwrap_or_else(|e| e.into_inner());
                            guard.recv()
                        };
                        match job {
                            // A panicking job must not take its thread with it: the pool
                            // would shrink until work stalled.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    })?,
            );
        }
        Ok(Arc::new(WorkerPool {
            tx: Mutex::new(Some(tx)),
            threads: Mutex::new(handles),
            size,
        }))
    }

    /// One thread per core.
    pub fn per_core(name: &str) -> std::io::Result<Arc<Self>> {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(n, name)
    }

    /// Number of threads.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Queues `job`; dropped silently once the pool is shut down.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(Box::new(job));
        }
    }

    /// Lets queued jobs finish, then stops the threads.
    pub fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn runs_every_job_on_its_threads() {
        let pool = WorkerPool::new(3, "t").unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..100 {
            let c = count.clone();
            pool.submit(move || {
                c.fetch_add(1, Ordering::SeqCst);
            });
        }
        pool.shutdown();
        assert_eq!(count.load(Ordering::SeqCst), 100);
        pool.submit(|| panic!("not run after shutdown"));
    }
}
