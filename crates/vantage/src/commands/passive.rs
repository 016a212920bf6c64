//! `vantage passive ...`: Bismark passive router updates (passive spec). Parses, calls
//! `vantage_passive`, prints; exit codes come from the library's errors (3 when an input
//! was rejected or quarantined, or a session failed).

use std::io::Write;
use std::path::PathBuf;

use vantage_core::{Exit, Timestamp};
use vantage_passive::anonymize::{hash_values, ByteOrder, RouterKey};
use vantage_passive::{
    GenLayout, GenerateOptions, PassiveConfig, PassiveEnv, PassiveError, ProcessOptions,
    ProcessReport, RunOptions, SourceReport,
};
use vantage_warehouse::{Rows, Value, Warehouse};

use crate::context::{progress_bar, Coded, Context, Format, OrExit};
use crate::output::print_rows;

/// The passive verbs.
#[derive(Debug, clap::Subcommand)]
pub enum PassiveCommand {
    /// Ingest tarballs (.tar, .tar.gz), single updates (.gz or plain) and directories
    #[command(after_help = "Examples:\n  vantage passive ingest uploads/\n  \
        vantage passive ingest OW0123456789AB_2012-09-01_06-03-08_<md5>.tar\n\n\
        Raw files are archived unchanged under archive/passive/<date>/; bad updates are\n\
        quarantined (quarantine/passive/) and the rest goes on; exit 3 when anything was.")]
    Ingest {
        /// Threads decoding and parsing members [default: cores]
        #[arg(long)]
        workers: Option<usize>,
        /// Files or directories (recursive)
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Run the processors over every session with new contiguous updates
    #[command(after_help = "Examples:\n  vantage passive process\n  \
        vantage passive process --processor bytes --reprocess --workers 2\n\n\
        Processors: correlation, flow_properties, domains_per_flow, bytes, flow_statistics,\n\
        ip_counts, packet_sizes, update_statistics, availability, lookups.")]
    Process(ProcessArgs),
    /// One tick: ingest the spool directories (default inbox/passive/), then process
    #[command(
        after_help = "Examples:\n  vantage passive run\n  vantage passive run --watch /srv/uploads --interval 60"
    )]
    Run {
        /// Spool directories [default: inbox/passive/ in the data directory]
        #[arg(long, value_name = "DIR")]
        watch: Vec<PathBuf>,
        /// Repeat every S seconds (until interrupted)
        #[arg(long, value_name = "S")]
        interval: Option<u64>,
        /// Worker threads of ingest and process [default: cores]
        #[arg(long)]
        workers: Option<usize>,
    },
    /// List sessions: ranges, gaps, processed-through, state
    #[command(
        after_help = "Examples:\n  vantage passive sessions\n  vantage passive sessions --blocked --format json"
    )]
    Sessions {
        /// Only this node (pseudonym or raw id)
        #[arg(long)]
        node: Option<String>,
        /// Only sessions that wait or failed
        #[arg(long)]
        blocked: bool,
    },
    /// Write realistic v5 updates of generated routers (same seed, same bytes)
    #[command(
        after_help = "Example:\n  vantage passive generate --out /tmp/corpus --routers 50 --sessions 4 --updates 240 --seed 1"
    )]
    Generate {
        /// Output directory
        #[arg(long)]
        out: PathBuf,
        /// Routers
        #[arg(long, default_value_t = 2)]
        routers: usize,
        /// Sessions per router
        #[arg(long, default_value_t = 2)]
        sessions: usize,
        /// Updates per session
        #[arg(long, default_value_t = 6)]
        updates: usize,
        /// Seed
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Start time (epoch s, RFC 3339 or 'YYYY-MM-DD hh:mm:ss')
        #[arg(long)]
        start: Option<String>,
        /// tar (routers' uploads), targz (Go layout) or gz (single updates)
        #[arg(long, default_value = "tar")]
        layout: GenLayout,
    },
    /// Print a router's hashes of values (dotted quad: IP, aa:bb:..: MAC, else domain)
    #[command(
        after_help = "Examples:\n  vantage passive hash --key passive.key 192.168.1.100 www.google.com\n  \
        vantage passive hash --key passive.key --signature --byte-order little 10.0.0.1"
    )]
    Hash {
        /// The router's 16-byte key file (/etc/bismark/passive.key)
        #[arg(long)]
        key: PathBuf,
        /// Byte order of the router (MIPS routers: big)
        #[arg(long, default_value = "big", value_parser = ["big", "little"])]
        byte_order: String,
        /// Also print the signature (the anonymization context)
        #[arg(long)]
        signature: bool,
        /// Hash every value as a domain
        #[arg(long)]
        domain: bool,
        /// Values
        values: Vec<String>,
    },
    /// The kind's quarantine: list the rows, show one, export its stored bytes
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
}

/// `vantage passive quarantine ...`.
#[derive(Debug, clap::Subcommand)]
pub enum QuarantineCommand {
    /// Every quarantined passive input, oldest first
    #[command(after_help = "Example:\n  vantage passive quarantine list --format json")]
    List,
    /// One row and its .reason file
    #[command(after_help = "Example:\n  vantage passive quarantine show 3")]
    Show {
        /// Row id (from list)
        id: i64,
    },
    /// Copy the quarantined bytes to FILE
    #[command(after_help = "Example:\n  vantage passive quarantine export 3 bad-update.gz")]
    Export {
        /// Row id (from list)
        id: i64,
        /// Destination
        file: PathBuf,
    },
}

/// Arguments of `vantage passive process`.
#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// Only these processors (repeatable)
    #[arg(long = "processor", value_name = "NAME")]
    pub processors: Vec<String>,
    /// Only these nodes (pseudonyms or raw ids)
    #[arg(long = "node", value_name = "ID")]
    pub nodes: Vec<String>,
    /// Delete the selected processors' rows and replay every session
    #[arg(long)]
    pub reprocess: bool,
    /// Worker threads [default: cores]
    #[arg(long)]
    pub workers: Option<usize>,
}

fn env(ctx: &Context) -> anyhow::Result<(PassiveEnv, Warehouse)> {
    let data = ctx.data_dir()?;
    let config: PassiveConfig = ctx.config.section("passive").coded()?;
    let env = PassiveEnv::new(data, config).coded()?;
    let mut wh = ctx.warehouse(&env.data)?;
    vantage_passive::schema::migrate(&mut wh).coded()?;
    Ok((env, wh))
}

/// A crash requested by the test hook: no destructor, no cleanup, like a kill.
fn or_crash<T>(r: Result<T, PassiveError>) -> anyhow::Result<T> {
    if let Err(PassiveError::Crash(n)) = &r {
        eprintln!("crash: VANTAGE_PASSIVE_CRASH_AFTER reached after {n} commits");
        std::process::abort();
    }
    r.coded()
}

/// Runs a passive verb.
pub fn run(ctx: &Context, cmd: &PassiveCommand) -> anyhow::Result<()> {
    match cmd {
        PassiveCommand::Ingest { workers, paths } => {
            let (env, mut wh) = env(ctx)?;
            let files = vantage_passive::expand(paths).coded()?;
            let bar = progress_bar(ctx, files.len() as u64, "ingest");
            let reports =
                vantage_passive::ingest_paths_with(&env, &mut wh, paths, *workers, |_| bar.inc(1))
                    .coded()?;
            bar.finish_and_clear();
            print_sources(ctx, &reports)?;
            rejected(&reports)
        }
        PassiveCommand::Process(a) => {
            let (env, mut wh) = env(ctx)?;
            let opts = ProcessOptions {
                processors: a.processors.clone(),
                nodes: a.nodes.clone(),
                reprocess: a.reprocess,
                workers: a.workers,
                warehouse_url: ctx.config.warehouse.url.clone(),
                crash_after: env.config.crash_after,
            };
            let report = or_crash(vantage_passive::process(&env, &mut wh, &opts))?;
            print_process(ctx, &report)?;
            failed(&report)
        }
        PassiveCommand::Run { watch, interval, workers } => {
            let (env, mut wh) = env(ctx)?;
            let opts = RunOptions {
                watch: watch.clone(),
                process: ProcessOptions {
                    workers: *workers,
                    warehouse_url: ctx.config.warehouse.url.clone(),
                    crash_after: env.config.crash_after,
                    ..ProcessOptions::default()
                },
            };
            loop {
                let (sources, report) = or_crash(vantage_passive::run(&env, &mut wh, &opts))?;
                print_sources(ctx, &sources)?;
                print_process(ctx, &report)?;
                match interval {
                    None => {
                        rejected(&sources)?;
                        return failed(&report);
                    }
                    Some(s) => std::thread::sleep(std::time::Duration::from_secs(*s)),
                }
            }
        }
        PassiveCommand::Sessions { node, blocked } => {
            let (env, mut wh) = env(ctx)?;
            let node = node.as_ref().map(|n| {
                let known = vantage_warehouse::Sql::query_i64(
                    &mut wh,
                    "SELECT COUNT(*) FROM passive_sessions WHERE node_id = ?",
                    &[n.as_str().into()],
                );
                if known.ok().flatten().unwrap_or(0) > 0 {
                    n.clone()
                } else {
                    env.anonymizer.node_id(n)
                }
            });
            let list = vantage_passive::sessions(&mut wh, node.as_deref(), *blocked).coded()?;
            if ctx.format == Format::Json {
                let mut out = std::io::stdout().lock();
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
                return Ok(());
            }
            print_rows(&vantage_passive::sessions_rows(&list), ctx.format)?;
            Ok(())
        }
        PassiveCommand::Generate { out, routers, sessions, updates, seed, start, layout } => {
            let start = match start {
                Some(t) => Timestamp::parse(t)
                    .map_err(|e| Coded::new(Exit::Usage, format!("--start: {e}")))?
                    .nanos()
                    .div_euclid(1_000_000_000),
                None => GenerateOptions::default().start,
            };
            let opts = GenerateOptions {
                out: out.clone(),
                routers: *routers,
                sessions: *sessions,
                updates: *updates,
                seed: *seed,
                start,
                layout: *layout,
                ..GenerateOptions::default()
            };
            let r = vantage_passive::generate(&opts).coded()?;
            let rows = Rows {
                columns: ["files", "updates", "packets", "uncompressed_bytes", "compressed_bytes"]
                    .map(String::from)
                    .to_vec(),
                rows: vec![vec![
                    r.files.into(),
                    r.updates.into(),
                    r.packets.into(),
                    r.uncompressed_bytes.into(),
                    r.compressed_bytes.into(),
                ]],
            };
            print_rows(&rows, ctx.format)?;
            Ok(())
        }
        PassiveCommand::Hash { key, byte_order, signature, domain, values } => {
            let bytes = std::fs::read(key)
                .map_err(|e| Coded::new(Exit::for_io(&e), format!("{}: {e}", key.display())))?;
            let order = if byte_order == "little" { ByteOrder::Little } else { ByteOrder::Big };
            let hashed = hash_values(&RouterKey(bytes), order, values, *domain, *signature);
            let rows = Rows {
                columns: ["value", "kind", "hash"].map(String::from).to_vec(),
                rows: hashed
                    .iter()
                    .map(|h| vec![h.value.as_str().into(), h.kind.into(), h.hash.as_str().into()])
                    .collect(),
            };
            print_rows(&rows, ctx.format)?;
            Ok(())
        }
        PassiveCommand::Quarantine(q) => {
            let (_env, mut wh) = env(ctx)?;
            let id = match q {
                QuarantineCommand::List => None,
                QuarantineCommand::Show { id } | QuarantineCommand::Export { id, .. } => Some(*id),
            };
            let rows = vantage_warehouse::Sql::query(
                &mut wh,
                "SELECT id, original_path, reason, message, stored_path FROM catalog_quarantine
                 WHERE kind = 'passive' AND (CAST(? AS BIGINT) IS NULL OR id = ?) ORDER BY id",
                &[id.into(), id.into()],
            )
            .coded()?;
            if id.is_some() && rows.rows.is_empty() {
                return Err(Coded::new(
                    Exit::Usage,
                    format!("no passive quarantine row {}", id.unwrap_or(0)),
                ));
            }
            match q {
                QuarantineCommand::Export { file, .. } => {
                    let stored = PathBuf::from(rows.rows[0][4].to_text());
                    std::fs::copy(&stored, file).map_err(|e| {
                        Coded::new(Exit::for_io(&e), format!("{}: {e}", stored.display()))
                    })?;
                    Ok(())
                }
                QuarantineCommand::Show { .. } => {
                    print_rows(&rows, ctx.format)?;
                    let reason = format!("{}.reason", rows.rows[0][4].to_text());
                    if let Ok(text) = std::fs::read_to_string(&reason) {
                        println!("{reason}: {}", text.trim_end());
                    }
                    Ok(())
                }
                QuarantineCommand::List => {
                    print_rows(&rows, ctx.format)?;
                    Ok(())
                }
            }
        }
    }
}

fn print_sources(ctx: &Context, reports: &[SourceReport]) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, reports)?;
        writeln!(out)?;
        return Ok(());
    }
    if reports.is_empty() {
        return Ok(());
    }
    let rows = Rows {
        columns: ["source", "status", "indexed", "duplicates", "quarantined", "reason"]
            .map(String::from)
            .to_vec(),
        rows: reports
            .iter()
            .map(|r| {
                vec![
                    r.name.as_str().into(),
                    r.status.as_str().into(),
                    r.indexed.into(),
                    r.duplicates.into(),
                    r.quarantined.into(),
                    Value::from(r.reason.clone()),
                ]
            })
            .collect(),
    };
    print_rows(&rows, ctx.format)?;
    for r in reports {
        for m in r.members.iter().filter(|m| m.outcome == "quarantined") {
            eprintln!(
                "quarantined: {} ({})",
                m.message.as_deref().unwrap_or(&m.member),
                m.reason.unwrap_or("parse")
            );
        }
    }
    Ok(())
}

fn print_process(ctx: &Context, report: &ProcessReport) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, report)?;
        writeln!(out)?;
        return Ok(());
    }
    let rows = Rows {
        columns: ["processor", "sessions_advanced", "updates_consumed", "blocked"]
            .map(String::from)
            .to_vec(),
        rows: report
            .processors
            .iter()
            .map(|p| {
                vec![
                    p.processor.as_str().into(),
                    p.sessions_advanced.into(),
                    p.updates_consumed.into(),
                    p.blocked.into(),
                ]
            })
            .collect(),
    };
    print_rows(&rows, ctx.format)?;
    if ctx.chatty() {
        eprintln!("rows written: {}", report.rows_written);
    }
    Ok(())
}

fn rejected(reports: &[SourceReport]) -> anyhow::Result<()> {
    let bad: Vec<&SourceReport> = reports.iter().filter(|r| r.rejected_anything()).collect();
    match bad.first() {
        None => Ok(()),
        Some(first) => {
            let detail = first
                .members
                .iter()
                .find(|m| m.outcome == "quarantined")
                .and_then(|m| m.message.clone())
                .unwrap_or_else(|| {
                    format!("{}: {}", first.name, first.reason.clone().unwrap_or_default())
                });
            Err(Coded::new(
                Exit::Rejected,
                format!("{} source(s) with rejected input; first: {detail}", bad.len()),
            ))
        }
    }
}

fn failed(report: &ProcessReport) -> anyhow::Result<()> {
    match report.failed.first() {
        None => Ok(()),
        Some(first) => Err(Coded::new(
            Exit::Rejected,
            format!("{} session(s) failed; first: {first}", report.failed.len()),
        )),
    }
}
