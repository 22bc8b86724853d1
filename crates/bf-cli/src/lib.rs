//! What `bf-tracker`, `bf-maketorrent` and `bf-console` share so that they behave alike:
//!
//! - errors: [`report`] prints one line, `PROGRAM: error: what: why`, each cause once and
//!   never a backtrace, and returns the [`Exit`] status the error was marked with
//!   ([`ResultExt::exit_with`]);
//! - exit statuses: [`Exit`], listed for `--help` by [`EXIT_CODES_HELP`];
//! - logging: [`init_logging`], colour only on a terminal;
//! - output files: [`write_file_atomically`] and [`write_new_file_atomically`], whole or not
//!   at all, with the mode the umask gives.
//!
//! ```no_run
//! use std::process::ExitCode;
//! use bf_cli::{Exit, ResultExt};
//!
//! fn run() -> anyhow::Result<()> {
//!     let bytes = std::fs::read("in.torrent").exit_with(Exit::Input)?;
//!     bf_cli::write_file_atomically("out.torrent".as_ref(), &bytes).exit_with(Exit::Storage)?;
//!     Ok(())
//! }
//!
//! fn main() -> ExitCode {
//!     let _ = bf_cli::init_logging(0);
//!     match run() {
//!         Ok(()) => ExitCode::SUCCESS,
//!         Err(e) => bf_cli::report("bf-example", &e),
//!     }
//! }
//! ```

mod error;
mod fs;
mod logging;

pub use error::{error_line, exit_status, mark, report, Exit, ResultExt, EXIT_CODES_HELP};
pub use fs::{write_file_atomically, write_new_file_atomically, WriteError};
pub use logging::{init_logging, LoggingError};
