//! One error line per failure, and the exit status that goes with it.

use std::fmt;
use std::process::ExitCode;

/// How a BitFountain program ends; the numbers are part of its interface (`--help` lists
/// them, scripts test them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Exit {
    /// 0: done.
    Success = 0,
    /// 1: an error of no class below (for example an output file that exists already).
    Failure = 1,
    /// 2: a bad command line: clap's own errors, and argument values checked later.
    Usage = 2,
    /// 3: an input file, folder or torrent is missing, unreadable or malformed.
    Input = 3,
    /// 4: the network or a tracker failed (cannot listen, tracker unreachable or refusing).
    Network = 4,
    /// 5: writing failed: an output or state file, downloaded data (disk full, permissions).
    Storage = 5,
}

impl Exit {
    /// Every status, in numeric order.
    pub const ALL: [Exit; 6] = [
        Exit::Success,
        Exit::Failure,
        Exit::Usage,
        Exit::Input,
        Exit::Network,
        Exit::Storage,
    ];

    /// The process exit code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// The text each program appends to its `--help` (clap's `after_help`).
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  success
  1  error (none of those below)
  2  bad command line
  3  bad input: a file, folder or torrent missing, unreadable or malformed
  4  network or tracker failure
  5  cannot write: output or state file, data on disk";

/// An error marked with the status the program should end with. Its message and causes
/// are the wrapped error's, so the mark adds nothing to the printed line.
struct Marked {
    exit: Exit,
    inner: anyhow::Error,
}

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

impl fmt::Debug for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({:?})", self.inner, self.exit)
    }
}

impl std::error::Error for Marked {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        (*self.inner).source()
    }
}

/// Marks errors with the [`Exit`] status they end the program with.
pub trait ResultExt<T> {
    /// The error, if any, ends the program with `exit` (the outermost mark wins).
    fn exit_with(self, exit: Exit) -> anyhow::Result<T>;
}

impl<T, E> ResultExt<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn exit_with(self, exit: Exit) -> anyhow::Result<T> {
        self.map_err(|e| mark(e, exit))
    }
}

/// `err`, marked to end the program with `exit` (for errors classified after the fact,
/// e.g. by matching a library's error enum).
pub fn mark(err: impl Into<anyhow::Error>, exit: Exit) -> anyhow::Error {
    anyhow::Error::new(Marked {
        exit,
        inner: err.into(),
    })
}

/// The status `err` was marked with by its outermost [`ResultExt::exit_with`];
/// [`Exit::Failure`] if none.
pub fn exit_status(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|e| e.downcast_ref::<Marked>().map(|m| m.exit))
        .unwrap_or(Exit::Failure)
}

/// `PROGRAM: error: message: cause: cause`, on one line: newlines become spaces, and a
/// cause whose text the line already holds is left out (errors that print their source
/// and also return it as `source()` would otherwise say it twice).
pub fn error_line(program: &str, err: &anyhow::Error) -> String {
    let mut line = format!("{program}: error:");
    let mut said = String::new();
    for cause in err.chain() {
        let text = cause.to_string().replace(['\r', '\n'], " ");
        let text = text.trim();
        if text.is_empty() || said.contains(text) {
            continue;
        }
        line.push_str(if said.is_empty() { " " } else { ": " });
        line.push_str(text);
        said.push_str(text);
        said.push('\n');
    }
    if said.is_empty() {
        line.push_str(" failed");
    }
    line
}

/// Prints [`error_line`] on stderr and returns the exit status for `main` to return.
///
/// Only the messages are printed (`Display`), never `Debug`, which is where anyhow puts a
/// backtrace when `RUST_BACKTRACE` is set: a user needs what failed, not where.
pub fn report(program: &str, err: &anyhow::Error) -> ExitCode {
    eprintln!("{}", error_line(program, err));
    exit_status(err).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[derive(Debug, thiserror::Error)]
    #[error("{path:?}: {source}")]
    struct Echoing {
        path: &'static str,
        source: std::io::Error,
    }

    fn not_found() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory")
    }

    #[test]
    fn each_cause_once_on_one_line() {
        let e = anyhow::Error::new(Echoing {
            path: "/x",
            source: not_found(),
        });
        assert_eq!(
            error_line("p", &e),
            "p: error: \"/x\": No such file or directory"
        );
        let e = Err::<(), _>(not_found())
            .context("reading\nthe torrent")
            .context("retrack")
            .unwrap_err();
        assert_eq!(
            error_line("p", &e),
            "p: error: retrack: reading the torrent: No such file or directory"
        );
        assert_eq!(error_line("p", &anyhow::anyhow!("")), "p: error: failed");
    }

    #[test]
    fn marks_set_the_status_and_leave_the_text_alone() {
        let plain = anyhow::anyhow!("x");
        assert_eq!(exit_status(&plain), Exit::Failure);
        let e = Err::<(), _>(not_found())
            .context("reading \"in\"")
            .exit_with(Exit::Input)
            .unwrap_err();
        assert_eq!(exit_status(&e), Exit::Input);
        assert_eq!(
            error_line("p", &e),
            "p: error: reading \"in\": No such file or directory"
        );
        let outer = Err::<(), _>(e)
            .context("making")
            .exit_with(Exit::Usage)
            .unwrap_err();
        assert_eq!(exit_status(&outer), Exit::Usage, "the outermost mark wins");
        let inner_only = Err::<(), _>(not_found())
            .exit_with(Exit::Storage)
            .context("saving")
            .unwrap_err();
        assert_eq!(exit_status(&inner_only), Exit::Storage);
        assert_eq!(
            exit_status(&mark(std::fmt::Error, Exit::Network)),
            Exit::Network
        );
        assert_eq!(
            error_line("p", &inner_only),
            "p: error: saving: No such file or directory"
        );
    }

    #[test]
    fn help_lists_every_status() {
        for e in Exit::ALL {
            let code = e.code();
            assert!(
                EXIT_CODES_HELP
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{code} "))),
                "{e:?}"
            );
        }
        assert_eq!(EXIT_CODES_HELP.lines().count(), Exit::ALL.len() + 1);
    }
}
