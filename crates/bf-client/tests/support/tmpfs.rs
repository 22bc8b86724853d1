//! A small tmpfs mounted on a temporary folder, to fill a disk on purpose. Also used by
//! bf-console's tests (through `#[path]`).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// A tmpfs of a given size on a fresh temporary folder, unmounted and removed when dropped.
pub struct Tmpfs {
    dir: PathBuf,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=`, e.g. `2m`). Where that is impossible
    /// (not root, no mount) it prints a loud SKIP line and returns `None`, unless
    /// `BF_REQUIRE_TOOLS=1`, where it fails the test.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!(
            "bf-tmpfs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                let _ = std::fs::remove_dir(&dir);
                if bf_testkit::tools_required() {
                    panic!("cannot mount a tmpfs (BF_REQUIRE_TOOLS=1): {why}");
                }
                eprintln!("\n*** SKIPPED: cannot mount a tmpfs ({why}); run as root ***\n");
                None
            }
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Grows (or shrinks) the filesystem, keeping its files.
    pub fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount to {size} failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a file still open (a process killed by a failing test) must not keep it.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
