//! Output files written whole or not at all: a temporary file beside the target, flushed to
//! disk, then moved into place.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Why an output file was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// [`write_new_file_atomically`] found the file there already.
    #[error("{0:?} already exists")]
    Exists(PathBuf),
    /// A system call failed; `path` is the file or folder it was about.
    #[error("cannot write {path:?}: {source}")]
    Io {
        /// The target, its temporary file or its folder.
        path: PathBuf,
        /// The system's error.
        source: io::Error,
    },
}

/// Writes `bytes` to `path` so that readers see the old file or the whole new one, never a
/// part: a temporary file in the same folder, fsynced, renamed over `path`, and the folder
/// fsynced. A new file gets mode `0666 & !umask`, as `open(2)` would give it; a file that
/// is replaced keeps its mode (rewriting a file in place must not widen who may read it).
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write(path, bytes, true)
}

/// [`write_file_atomically`], but an existing `path` is left alone and is
/// [`WriteError::Exists`]. The final step is a hard link, which fails if the name is
/// taken; where the file system has no hard links, an existence check and a rename (a
/// small race) stand in for it.
pub fn write_new_file_atomically(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write(path, bytes, false)
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn write(path: &Path, bytes: &[u8], replace: bool) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| WriteError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    if !replace && fs::symlink_metadata(path).is_ok() {
        return Err(WriteError::Exists(path.to_path_buf()));
    }
    let (tmp, mut file) = create_temp(dir, name)?;
    let result = (|| {
        file.write_all(bytes).map_err(io_err(&tmp))?;
        if replace {
            if let Ok(old) = fs::metadata(path) {
                if old.is_file() {
                    file.set_permissions(old.permissions())
                        .map_err(io_err(&tmp))?;
                }
            }
        }
        file.sync_all().map_err(io_err(&tmp))?;
        drop(file);
        if replace {
            fs::rename(&tmp, path).map_err(io_err(path))?;
        } else {
            publish_new(&tmp, path)?;
        }
        // The rename is durable only once the folder is; some file systems cannot fsync a
        // folder, and the data is safe either way, so a failure here is not reported.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() || !replace {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Links `tmp` as `path` unless `path` exists.
fn publish_new(tmp: &Path, path: &Path) -> Result<(), WriteError> {
    match fs::hard_link(tmp, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(WriteError::Exists(path.to_path_buf()))
        }
        Err(_) => {
            if fs::symlink_metadata(path).is_ok() {
                return Err(WriteError::Exists(path.to_path_buf()));
            }
            fs::rename(tmp, path).map_err(io_err(path))
        }
    }
}

/// `.NAME.PID.N.tmp` beside the target, created new with mode 0666 for the kernel to mask
/// with the umask (reading the umask itself would need `unsafe` or a race with `umask(2)`).
fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> Result<(PathBuf, File), WriteError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut last = None;
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{n}.tmp", std::process::id()));
        let tmp = dir.join(tmp_name);
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o666);
        }
        match opts.open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_err(dir)(e)),
        }
    }
    Err(io_err(dir)(last.unwrap_or_else(|| {
        io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name")
    })))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).map_or(0, |m| m.permissions().mode() & 0o777)
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|r| {
                r.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn writes_replaces_and_refuses_to_clobber() {
        let d = bf_testkit::temp_dir();
        let p = d.path().join("a.torrent");
        write_new_file_atomically(&p, b"one").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fs::read(&p).ok().as_deref(), Some(&b"one"[..]));
        assert!(matches!(
            write_new_file_atomically(&p, b"two"),
            Err(WriteError::Exists(_))
        ));
        assert_eq!(fs::read(&p).ok().as_deref(), Some(&b"one"[..]));
        write_file_atomically(&p, b"three").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fs::read(&p).ok().as_deref(), Some(&b"three"[..]));
        assert_eq!(listing(d.path()), ["a.torrent"], "no temporary file left");
    }

    #[test]
    fn a_new_file_gets_the_mode_the_umask_gives() {
        let d = bf_testkit::temp_dir();
        let plain = d.path().join("plain");
        File::create(&plain).unwrap_or_else(|e| panic!("{e}"));
        let ours = d.path().join("ours");
        write_new_file_atomically(&ours, b"x").unwrap_or_else(|e| panic!("{e}"));
        let replaced = d.path().join("replaced");
        write_file_atomically(&replaced, b"x").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(mode(&plain), 0);
        assert_eq!(mode(&ours), mode(&plain), "as open(2) with 0666 gives");
        assert_eq!(mode(&replaced), mode(&plain));
    }

    #[test]
    fn a_replaced_file_keeps_its_mode() {
        let d = bf_testkit::temp_dir();
        let p = d.path().join("state");
        fs::write(&p, b"old").unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{e}"));
        write_file_atomically(&p, b"new").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn failures_name_the_path_and_leave_nothing() {
        let d = bf_testkit::temp_dir();
        let p = d.path().join("missing-dir/x.torrent");
        let e = write_file_atomically(&p, b"x").map_err(|e| e.to_string());
        assert!(matches!(&e, Err(m) if m.contains("missing-dir")), "{e:?}");
        assert!(write_file_atomically(Path::new("/"), b"x").is_err());
        assert!(listing(d.path()).is_empty());
    }
}
