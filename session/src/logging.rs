//! Logging for pvflow's binaries: `tracing` events on stderr, as text for people or as JSON
//! lines for log collectors (`PVFLOW_LOG_FORMAT=json`).

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// The variable that picks the log format: `text` (the default) or `json`.
pub const FORMAT_VARIABLE: &str = "PVFLOW_LOG_FORMAT";

/// Installs the global subscriber: `RUST_LOG` if set, else `default_filter`. Text is coloured
/// only on a terminal and without `NO_COLOR`, so files and log collectors get plain lines. An
/// unknown format is reported on stderr and text is used: logging must not stop a process.
pub fn init(default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match std::env::var(FORMAT_VARIABLE).as_deref() {
        Ok("json") => builder.json().init(),
        format => {
            if let Ok(other) = format
                && other != "text"
            {
                eprintln!("{FORMAT_VARIABLE}={other} is not text or json: logging text");
            }
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).init()
        }
    }
}
