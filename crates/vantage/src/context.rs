//! What every command gets: the resolved configuration, the data directory, the
//! warehouse, the output format; and how errors become exit codes.

use std::error::Error as StdError;
use std::fmt;

use vantage_core::{Config, DataDir, Exit, HasExit};
use vantage_warehouse::Warehouse;

/// `--format`: how commands that print data print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for programs.
    Json,
    /// CSV for spreadsheets.
    Csv,
}

/// `--log-format`: text for a person at a terminal, JSON lines for a log collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// One readable line per event, fields as `key=value`.
    #[default]
    Text,
    /// One JSON object per event (timestamp, level, target, fields), e.g. for `vantage serve`.
    Json,
}

/// The state shared by all commands of one run.
#[derive(Debug)]
pub struct Context {
    /// The resolved configuration.
    pub config: Config,
    /// `--format`.
    pub format: Format,
    /// `-v` count minus `-q` count.
    pub verbosity: i8,
}

impl Context {
    /// The data directory, created on first use.
    pub fn data_dir(&self) -> anyhow::Result<DataDir> {
        DataDir::open(&self.config.data).coded()
    }

    /// The warehouse (SQLite in the data directory unless configured otherwise).
    pub fn warehouse(&self, data: &DataDir) -> anyhow::Result<Warehouse> {
        Warehouse::open(self.config.warehouse.url.as_deref(), data).coded()
    }

    /// True when progress bars and summaries for people should be shown.
    pub fn interactive(&self) -> bool {
        self.verbosity >= 0 && std::io::IsTerminal::is_terminal(&std::io::stderr())
    }

    /// True unless `-q` was given.
    pub fn chatty(&self) -> bool {
        self.verbosity >= 0
    }
}

/// An error that knows its exit code; its message is the inner error's.
#[derive(Debug)]
pub struct Coded {
    exit: Exit,
    inner: Box<dyn StdError + Send + Sync>,
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

/// No `source`: Vantage's errors already print their cause in their message (`path:
/// offset N: cause`), and `{:#}` would print it a second time.
impl StdError for Coded {}

impl Coded {
    /// An error with an explicit exit code, for conditions the binary itself finds
    /// (e.g. "3 inputs rejected"). Returns the `anyhow::Error` callers propagate, not
    /// `Coded` itself, because that is all any caller does with it.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(exit: Exit, message: impl Into<String>) -> anyhow::Error {
        let message: String = message.into();
        anyhow::Error::new(Coded { exit, inner: message.into() })
    }
}

/// Turns a library error into an `anyhow::Error` that keeps its exit code.
pub trait OrExit<T> {
    /// Wraps the error, remembering [`HasExit::exit`].
    fn coded(self) -> anyhow::Result<T>;
}

impl<T, E: HasExit + StdError + Send + Sync + 'static> OrExit<T> for Result<T, E> {
    fn coded(self) -> anyhow::Result<T> {
        self.map_err(|e| anyhow::Error::new(Coded { exit: e.exit(), inner: Box::new(e) }))
    }
}

/// The exit code for an error: the first [`Coded`] in its chain, an I/O error's kind,
/// else 1 (usage).
pub fn exit_code(e: &anyhow::Error) -> Exit {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.exit;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Exit::for_io(io);
        }
    }
    Exit::Usage
}

/// A write to a closed pipe (`vantage sql ... | head`) is how the reader says "enough".
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let pipe = Some(std::io::ErrorKind::BrokenPipe);
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == pipe
            || c.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)
                == pipe
    })
}

/// Logs go to stderr: `RUST_LOG` when set, else warn (`-q`: error; `-v`: info; `-vv`: debug),
/// as text or as JSON lines (`--log-format json`) so a daemon's logs can be collected as data.
pub fn init_logging(verbose: u8, quiet: u8, format: LogFormat) {
    let level = match i16::from(verbose) - i16::from(quiet) {
        i16::MIN..=-1 => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// A progress bar on stderr when it is a terminal; hidden otherwise (and under `-q`).
pub fn progress_bar(ctx: &Context, len: u64, what: &str) -> indicatif::ProgressBar {
    if !ctx.interactive() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style =
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({eta} left)")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}
