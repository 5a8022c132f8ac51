//! Where and how weir logs: on stderr, as text for people (coloured only on
//! a terminal, never with NO_COLOR) or as JSON lines for log shippers; at
//! the level `--log-level` asks, else WEIR_LOG, else RUST_LOG, else `info`.

use crate::observe::progress::LogWriter;
use anyhow::Context;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// The logging flags, global to every command.
#[derive(clap::Args)]
pub(super) struct LogArgs {
    /// `text` for people, `json` (one object a line) for log shippers.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// What to log: a level (error, warn, info, debug, trace) or filter
    /// directives as RUST_LOG takes them (`info,weir=debug`). It wins over
    /// the WEIR_LOG variable, which wins over RUST_LOG; the default is `info`.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Installs the log subscriber the flags and the environment ask for.
pub(super) fn init(args: &LogArgs) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (directives, from) = if let Some(level) = &args.log_level {
        (level.clone(), "--log-level")
    } else if let Some(value) = env("WEIR_LOG") {
        (value, "WEIR_LOG")
    } else if let Some(value) = env("RUST_LOG") {
        (value, "RUST_LOG")
    } else {
        ("info".to_string(), "the default")
    };
    // A bare word is a target to tracing (`loud` logs target `loud` at
    // every level); on the flag it is far more likely a mistyped level.
    if from == "--log-level"
        && let Some(word) = directives
            .split(',')
            .find(|d| !d.contains('=') && d.parse::<LevelFilter>().is_err())
    {
        anyhow::bail!(
            "--log-level {directives:?}: {word:?} is not a level (off, error, warn, info, debug, trace); a target takes one as TARGET=LEVEL"
        );
    }
    let filter = EnvFilter::try_new(&directives).with_context(|| {
        format!(
            "{from} {directives:?} is not a log level (error, warn, info, debug, trace) nor filter directives"
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(LogWriter)
        .with_target(false);
    match args.log_format {
        LogFormat::Text => builder.with_ansi(colour()).init(),
        LogFormat::Json => builder.json().flatten_event(true).with_ansi(false).init(),
    }
    Ok(())
}

/// Colour on a terminal only, and never when NO_COLOR is set (no-color.org).
fn colour() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    std::io::stderr().is_terminal() && !no_color
}
