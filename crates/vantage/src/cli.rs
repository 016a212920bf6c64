//! The command line's shape: global options and one subcommand per verb.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::context::{Format, LogFormat};

/// A warehouse for network measurements from many vantage points.
///
/// Vantage records, archives, cleans, processes and serves four kinds of data: packets
/// (a Time Machine), reports (an OONI pipeline), passive (Bismark router updates) and
/// netstate (a NOX data warehouse). Everything it keeps lives in one data directory.
#[derive(Debug, Parser)]
#[command(name = "vantage", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Examples:
  vantage demo                      generate data for every kind and run the pipeline
  vantage --data /srv/vantage status
  vantage sql \"SELECT kind, COUNT(*) FROM catalog_arrivals GROUP BY kind\"")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts (precedence: flag > environment > vantage.toml > default).
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Data directory: everything Vantage keeps [env: VANTAGE_DATA] [default: ./vantage-data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Warehouse: postgres://user@host/db for PostgreSQL [env: VANTAGE_WAREHOUSE]
    /// [default: vantage.db in the data directory]
    #[arg(long, global = true, value_name = "URL")]
    pub warehouse: Option<String>,
    /// Configuration file [env: VANTAGE_CONFIG] [default: ./vantage.toml when present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one configuration value, e.g. --set netstate.snapshot_interval=1000
    #[arg(long = "set", global = true, value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Output format of commands that print data
    #[arg(long, global = true, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// More output (-v: info, -vv: debug); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: errors only
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// How logs on stderr are written: text, or JSON lines for a log collector
    #[arg(long, global = true, value_enum, env = "VANTAGE_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate synthetic data for every kind, run the full pipeline, print a summary
    #[command(
        after_help = "Examples:\n  vantage demo\n  vantage --data /tmp/demo demo --serve     \
        (then open http://127.0.0.1:8080/)\n\n\
        Writes into ./vantage-demo unless --data names a directory; a previous demo's directory \
        is started afresh, any other non-empty directory is refused."
    )]
    Demo(commands::demo::DemoArgs),
    /// What is stored, what is pending, what failed, per kind
    #[command(after_help = "Examples:\n  vantage status\n  vantage status --format json")]
    Status,
    /// Re-check every can and index in the data directory against its checksums
    #[command(
        after_help = "Example:\n  vantage verify    (exit 3 and the file and offset on a mismatch)"
    )]
    Verify,
    /// Run one SQL query against the warehouse and print the rows
    #[command(after_help = "Examples:\n  vantage sql \"SELECT * FROM catalog_cans\"\n  \
        vantage sql --format csv \"SELECT kind, state, COUNT(*) FROM catalog_partitions GROUP BY 1, 2\"")]
    Sql(commands::sql::SqlArgs),
    /// Write, read and verify cans (LZ4-framed tar archives with an index)
    #[command(subcommand)]
    Can(commands::can::CanCommand),
    /// OONI pipeline: ingest probe reports, can them, autoclave them into clean measurements
    #[command(subcommand)]
    Reports(commands::reports::ReportsCommand),
    /// NOX data warehouse: import controller flat files, time travel over flows, links, hosts
    #[command(subcommand)]
    Netstate(commands::netstate::NetstateCommand),
    /// Time Machine: record pcaps with per-connection cutoff, query connections to pcap
    #[command(subcommand)]
    Packets(commands::packets::PacketsCommand),
    /// Time Machine command console: connect to a running recorder over TCP
    #[command(after_help = "Examples:\n  vantage console                                  \
        (the running recorder of --data, else 127.0.0.1:42042)\n  \
        vantage console 127.0.0.1:42042 -c \"show stats\"\n  \
        echo 'query to_file \"web.pcap\" index conn4 \"tcp 10.0.0.1:80 10.0.0.2:1025\"' | vantage console\n\n\
        Type help for the commands, help <command> for its grammar and an example. With -c, \
        exit 0 when the command answers OK, 1 on ERROR.")]
    Console(commands::console::ConsoleArgs),
    /// Bismark passive: ingest router updates, process sessions into traffic statistics
    #[command(subcommand)]
    Passive(commands::passive::PassiveCommand),
    /// One daemon for every kind: collector, uploads, pipeline ticks, HTTP API, web UI, metrics
    #[command(after_help = "Examples:\n  vantage --data /srv/vantage serve                 \
        http://127.0.0.1:8080/ (UI), /api/v1/openapi.json, /metrics\n  \
        VANTAGE_SERVER_TOKEN=s3cret vantage serve --bind 0.0.0.0:8080 --tick-seconds 30\n\n\
        Uploads and other writes need the token (Authorization: Bearer TOKEN); a non-loopback \
        --bind refuses to start without one. SIGTERM or SIGINT stops it after the current tick.")]
    Serve(commands::serve::ServeArgs),
}
