//! tracing on stderr, coloured only for a person watching.

use std::io::IsTerminal;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::EnvFilter;

/// The global subscriber was set already.
#[derive(Debug, thiserror::Error)]
#[error("logging was set up already")]
pub struct LoggingError(#[source] Box<dyn std::error::Error + Send + Sync>);

/// Sends tracing events to stderr: `RUST_LOG` decides what is shown when it is set and
/// valid, otherwise `verbosity` (-2 and below: errors, -1: warnings, 0: info, 1: debug, 2
/// and above: trace), so `-q`/`-v` counts map onto it. ANSI colour only when stderr is a
/// terminal and `NO_COLOR` is unset or empty: escape codes in a log file are noise.
pub fn init_logging(verbosity: i8) -> Result<(), LoggingError> {
    let level = match verbosity {
        i8::MIN..=-2 => LevelFilter::ERROR,
        -1 => LevelFilter::WARN,
        0 => LevelFilter::INFO,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env()
        .unwrap_or_else(|_| EnvFilter::new(level.to_string()));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(colour(std::io::stderr().is_terminal()))
        .with_env_filter(filter)
        .try_init()
        .map_err(LoggingError)
}

fn colour(terminal: bool) -> bool {
    terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_colour_without_a_terminal() {
        assert!(!super::colour(false));
    }
}
