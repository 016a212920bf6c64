//! `vantage netstate ...`: the NOX data warehouse (netstate spec). Parses, calls
//! `vantage_netstate`, prints; exit codes come from the library's errors.

use std::io::Write;
use std::path::PathBuf;

use vantage_core::Exit;
use vantage_netstate::query::{self, ReplayItem, ReplayState, RowOut};
use vantage_netstate::{parse_time, ImportOptions, Importer, NetstateConfig, Outcome};
use vantage_warehouse::{Rows, Value, Warehouse};

use crate::context::{Coded, Context, Format, OrExit};
use crate::output::print_rows;

/// The netstate verbs.
#[derive(Debug, clap::Subcommand)]
pub enum NetstateCommand {
    /// Load controller flat files (TABLE-FIRST-LAST-SERIAL.sql) into the temporal tables
    #[command(after_help = "Examples:\n  vantage netstate import --source ctl-a\n  \
        vantage netstate import --import /var/nox/export --loaded /var/nox/loaded --source ctl-a\n\n\
        Exit 3 names the rejected file as FILE:LINE: CODE; it stays in the import directory.")]
    Import(ImportArgs),
    /// The rows of TABLE alive at TIME
    #[command(after_help = "Examples:\n  vantage netstate at FLOW 2010-01-01T00:00:30Z\n  \
        vantage netstate at LEARNING 1262304030s --format json\n\n\
        TIME: µs digits, <secs>s, <secs>.<frac>, RFC 3339 or 'YYYY-MM-DD hh:mm:ss' (UTC).")]
    At {
        /// Table (NOX name: FLOW, FLOW_SETUP, LLDP_LINKS, LEARNING, PF, ...)
        table: String,
        /// The instant
        time: String,
        /// Only this source's rows
        #[arg(long)]
        source: Option<String>,
    },
    /// Every open and close in (FROM, TO] of the comma-separated TABLES
    #[command(
        after_help = "Example:\n  vantage netstate changes FLOW,LEARNING 1262304020s 1262304030s"
    )]
    Changes {
        /// Comma-separated tables
        tables: String,
        /// Start (exclusive)
        from: String,
        /// End (inclusive)
        to: String,
    },
    /// Stream the changes of TABLES from --from to --to, optionally with the state
    #[command(
        after_help = "Example:\n  vantage netstate replay LLDP_LINKS,PF --from 1262304000s --to 1262304070s --state"
    )]
    Replay {
        /// Comma-separated tables
        tables: String,
        /// Start
        #[arg(long)]
        from: String,
        /// End
        #[arg(long)]
        to: String,
        /// Emit the state at FROM first
        #[arg(long, conflicts_with = "states")]
        state: bool,
        /// Emit the full state after each change time
        #[arg(long)]
        states: bool,
    },
    /// The next change strictly after TIME
    #[command(after_help = "Example:\n  vantage netstate next 1262304028s FLOW")]
    Next {
        /// The instant
        time: String,
        /// Comma-separated tables [default: all]
        tables: Option<String>,
    },
    /// The previous change strictly before TIME
    #[command(after_help = "Example:\n  vantage netstate prev 1262304060s PF")]
    Prev {
        /// The instant
        time: String,
        /// Comma-separated tables [default: all]
        tables: Option<String>,
    },
    /// Earliest and latest change
    #[command(after_help = "Example:\n  vantage netstate range FLOW")]
    Range {
        /// Comma-separated tables [default: all]
        tables: Option<String>,
    },
    /// The load log: one entry per loaded file
    #[command(after_help = "Example:\n  vantage netstate log --format json")]
    Log,
    /// The snapshots of TABLE: time and member origins
    #[command(after_help = "Example:\n  vantage netstate snapshots LEARNING")]
    Snapshots {
        /// Table
        table: String,
    },
    /// Dump rows, load log and snapshots; --canonical leaves out ids and wall-clock fields
    #[command(after_help = "Example:\n  vantage netstate dump --canonical > a.ndjson")]
    Dump {
        /// Byte-equal dumps iff the same data
        #[arg(long)]
        canonical: bool,
    },
    /// The table definitions, shipped and added
    #[command(after_help = "Example:\n  vantage netstate tables --show FLOW")]
    Tables {
        /// Show one table's columns
        #[arg(long)]
        show: Option<String>,
    },
    /// Table definitions: `add FILE` declares a new controller table (TOML)
    #[command(subcommand)]
    Table(TableCommand),
    /// Sources: `retire NAME` stops a dead source from holding snapshots back
    #[command(subcommand)]
    Source(SourceCommand),
    /// Write simulated controller flat files (seeded; byte-identical for the same options)
    #[command(
        after_help = "Example:\n  vantage netstate generate --out /tmp/nox --seed 7 --rows 100000 --sources 2"
    )]
    Generate(GenerateArgs),
    /// Merge the packet recorder's flows (table packets_flows) into FLOW and FLOW6
    #[command(after_help = "Example:\n  vantage netstate import-flows --sensor eth0")]
    ImportFlows {
        /// Only flows removed at or after this instant
        #[arg(long)]
        from: Option<String>,
        /// Only flows removed at or before this instant
        #[arg(long)]
        to: Option<String>,
        /// Only this sensor's flows
        #[arg(long)]
        sensor: Option<String>,
    },
}

/// `vantage netstate table ...`.
#[derive(Debug, clap::Subcommand)]
pub enum TableCommand {
    /// Store a TOML table definition in the warehouse, so every importer knows the table;
    /// re-adding it with extra nullable columns at the end extends it
    #[command(after_help = "Example:\n  vantage netstate table add flow7.toml\n\n\
        flow7.toml:\n  name = \"FLOW7\"\n  kind = \"state\"      # or \"event\"\n  \
        [[column]]\n  name = \"DP_ID\"\n  type = \"u64\"        # u16 i16 u32 i32 u64 i64 text(N) bytes(N)\n  \
        key = true          # compared by C rows (also: copy_on_close = true)\n  \
        required = true     # non-NULL in O rows (also: display = \"mac|ipv4|ipv6|dpid|hex\")\n\n\
        Exit 1 says which rule a refused definition breaks.")]
    Add {
        /// The definition file
        file: PathBuf,
    },
}

/// `vantage netstate source ...`.
#[derive(Debug, clap::Subcommand)]
pub enum SourceCommand {
    /// Stop a source that no longer sends files from holding snapshot watermarks back
    Retire {
        /// Source name
        name: String,
    },
}

/// Arguments of `vantage netstate generate` (netstate spec §7).
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    /// Output directory: <out>/<source>/batch-NNN/*.sql and MANIFEST.json
    #[arg(long)]
    out: PathBuf,
    /// Seed (same seed and options: byte-identical files)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Stop after about this many rows in all [default: 100000 unless --duration]
    #[arg(long)]
    rows: Option<u64>,
    /// Or stop after this many simulated seconds
    #[arg(long)]
    duration: Option<u64>,
    /// Start instant [default: 2010-01-01T00:00:00Z]
    #[arg(long)]
    start: Option<String>,
    /// Switches per controller
    #[arg(long, default_value_t = 16)]
    switches: u32,
    /// Hosts per controller
    #[arg(long, default_value_t = 200)]
    hosts: u32,
    /// New flows per second per controller
    #[arg(long, default_value_t = 200.0)]
    flows_per_s: f64,
    /// Commit period in seconds: one file per table per period
    #[arg(long, default_value_t = 60)]
    period: u64,
    /// A controller restart every this many seconds (0: never)
    #[arg(long, default_value_t = 3600)]
    restart_every: u64,
    /// Controllers (sources ctl-0, ctl-1, ...)
    #[arg(long, default_value_t = 1)]
    sources: u32,
    /// Fraction of files delivered in a later batch
    #[arg(long, default_value_t = 0.0)]
    late: f64,
    /// Batches per source
    #[arg(long, default_value_t = 1)]
    batches: u32,
}

/// Arguments of `vantage netstate import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Import directory [default: inbox/netstate/<source>/ in the data directory]
    #[arg(long = "import", value_name = "DIR")]
    import_dir: Option<PathBuf>,
    /// Where loaded files move [default: archive/netstate/<source>/]
    #[arg(long = "loaded", value_name = "DIR")]
    loaded_dir: Option<PathBuf>,
    /// Source name (one import directory per source)
    #[arg(long, default_value = "default")]
    source: String,
    /// Snapshot after this many rows created (0: on every watermark advance)
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// Seconds to wait for another import's warehouse lock
    #[arg(long, default_value_t = 0)]
    wait: u64,
}

fn time(text: &str) -> anyhow::Result<i64> {
    parse_time(text).map_err(|e| Coded::new(Exit::Usage, e))
}

fn table_list(ctx_tables: Option<&str>, wh: &mut Warehouse) -> anyhow::Result<Vec<String>> {
    match ctx_tables {
        Some(t) => Ok(t
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect()),
        None => Ok(vantage_netstate::all_tables(wh).coded()?.into_iter().map(|d| d.name).collect()),
    }
}

fn open(ctx: &Context) -> anyhow::Result<(vantage_core::DataDir, Warehouse)> {
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    vantage_netstate::migrate(&mut wh).coded()?;
    Ok((data, wh))
}

fn print_json_lines(values: impl IntoIterator<Item = serde_json::Value>) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for v in values {
        writeln!(out, "{v}")?;
    }
    out.flush()?;
    Ok(())
}

fn print_text(format: Format, header: Vec<String>, rows: Vec<Vec<String>>) -> anyhow::Result<()> {
    let rows = Rows {
        columns: header,
        rows: rows.into_iter().map(|r| r.into_iter().map(Value::Text).collect()).collect(),
    };
    print_rows(&rows, format)?;
    Ok(())
}

fn print_row_set(
    ctx: &Context,
    wh: &mut Warehouse,
    table: &str,
    rows: &[RowOut],
) -> anyhow::Result<()> {
    let def = query::def(wh, table).coded()?;
    match ctx.format {
        Format::Json => print_json_lines(rows.iter().map(|r| r.to_json(&def, true))),
        f => print_text(
            f,
            query::display_header(&def),
            rows.iter().map(|r| r.to_display(&def)).collect(),
        ),
    }
}

fn print_changes(ctx: &Context, wh: &mut Warehouse, items: &[ReplayItem]) -> anyhow::Result<()> {
    let mut defs = std::collections::HashMap::new();
    let mut def_of = |wh: &mut Warehouse, t: &str| -> anyhow::Result<vantage_netstate::TableDef> {
        if let Some(d) = defs.get(t) {
            return Ok(std::clone::Clone::clone(d));
        }
        let d = query::def(wh, t).coded()?;
        defs.insert(t.to_string(), d.clone());
        Ok(d)
    };
    match ctx.format {
        Format::Json => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(match item {
                    ReplayItem::State { time, row } => {
                        let def = def_of(wh, &row.table)?;
                        serde_json::json!({"kind": "state", "time": time, "row": row.to_json(&def, true)})
                    }
                    ReplayItem::Change(c) => c.to_json(&def_of(wh, &c.row.table)?),
                });
            }
            print_json_lines(out)
        }
        f => {
            let header = ["time", "table", "kind", "row", "cause"].map(String::from).to_vec();
            let rows = items
                .iter()
                .map(|item| match item {
                    ReplayItem::State { time, row } => vec![
                        vantage_netstate::time::format_us(*time),
                        row.table.clone(),
                        "state".into(),
                        row.origin.clone(),
                        String::new(),
                    ],
                    ReplayItem::Change(c) => vec![
                        vantage_netstate::time::format_us(c.time),
                        c.row.table.clone(),
                        if c.kind == query::ChangeKind::Open { "open" } else { "close" }.into(),
                        c.row.origin.clone(),
                        c.cause.clone(),
                    ],
                })
                .collect();
            print_text(f, header, rows)
        }
    }
}

fn print_instant(ctx: &Context, what: &str, t: Option<i64>) -> anyhow::Result<()> {
    match ctx.format {
        Format::Json => print_json_lines([serde_json::json!({ what: t })]),
        f => print_text(
            f,
            vec![what.into()],
            vec![vec![t.map(vantage_netstate::time::format_us).unwrap_or_else(|| "null".into())]],
        ),
    }
}

/// Runs one netstate verb.
pub fn run(ctx: &Context, cmd: &NetstateCommand) -> anyhow::Result<()> {
    let config: NetstateConfig = ctx.config.section("netstate").coded()?;
    match cmd {
        NetstateCommand::Import(a) => import(ctx, &config, a),
        NetstateCommand::At { table, time: t, source } => {
            let (_data, mut wh) = open(ctx)?;
            let table = table.to_ascii_uppercase();
            let rows = query::at(&mut wh, &table, time(t)?, source.as_deref()).coded()?;
            print_row_set(ctx, &mut wh, &table, &rows)
        }
        NetstateCommand::Changes { tables, from, to } => {
            let (_data, mut wh) = open(ctx)?;
            let tables = table_list(Some(tables), &mut wh)?;
            let items: Vec<ReplayItem> = query::changes(&mut wh, &tables, time(from)?, time(to)?)
                .coded()?
                .into_iter()
                .map(ReplayItem::Change)
                .collect();
            print_changes(ctx, &mut wh, &items)
        }
        NetstateCommand::Replay { tables, from, to, state, states } => {
            let (_data, mut wh) = open(ctx)?;
            let tables = table_list(Some(tables), &mut wh)?;
            let mode = match (state, states) {
                (_, true) => ReplayState::Every,
                (true, _) => ReplayState::Initial,
                _ => ReplayState::None,
            };
            let items = query::replay(&mut wh, &tables, time(from)?, time(to)?, mode).coded()?;
            print_changes(ctx, &mut wh, &items)
        }
        NetstateCommand::Next { time: t, tables } | NetstateCommand::Prev { time: t, tables } => {
            let (_data, mut wh) = open(ctx)?;
            let tables = table_list(tables.as_deref(), &mut wh)?;
            let t = time(t)?;
            let next = matches!(cmd, NetstateCommand::Next { .. });
            let found = if next {
                query::next_change(&mut wh, &tables, t)
            } else {
                query::prev_change(&mut wh, &tables, t)
            }
            .coded()?;
            print_instant(ctx, if next { "next" } else { "prev" }, found)
        }
        NetstateCommand::Range { tables } => {
            let (_data, mut wh) = open(ctx)?;
            let tables = table_list(tables.as_deref(), &mut wh)?;
            let (a, b) = query::range(&mut wh, &tables).coded()?;
            match ctx.format {
                Format::Json => print_json_lines([serde_json::json!({"earliest": a, "latest": b})]),
                f => {
                    let show = |t: Option<i64>| {
                        t.map(vantage_netstate::time::format_us).unwrap_or_else(|| "null".into())
                    };
                    print_text(
                        f,
                        vec!["earliest".into(), "latest".into()],
                        vec![vec![show(a), show(b)]],
                    )
                }
            }
        }
        NetstateCommand::Log => {
            let (_data, mut wh) = open(ctx)?;
            let log = query::log(&mut wh).coded()?;
            let json: Vec<serde_json::Value> = log.iter().map(|e| e.to_json(true)).collect();
            match ctx.format {
                Format::Json => print_json_lines(json),
                f => {
                    let keys = [
                        "seq",
                        "source",
                        "table",
                        "file",
                        "rows",
                        "opens",
                        "closes",
                        "close_alls",
                        "oldest",
                        "latest",
                        "remerged_from",
                        "snapshots_rebuilt",
                        "snapshot_created",
                        "loaded_at",
                    ];
                    let rows = json
                        .iter()
                        .map(|o| {
                            keys.iter()
                                .map(|k| match &o[*k] {
                                    serde_json::Value::String(s) => s.clone(),
                                    serde_json::Value::Null => String::new(),
                                    v => v.to_string(),
                                })
                                .collect()
                        })
                        .collect();
                    print_text(f, keys.map(String::from).to_vec(), rows)
                }
            }
        }
        NetstateCommand::Snapshots { table } => {
            let (_data, mut wh) = open(ctx)?;
            let snaps = query::snapshots(&mut wh, &table.to_ascii_uppercase()).coded()?;
            match ctx.format {
                Format::Json => print_json_lines(snaps.iter().map(|(ts, rows)| {
                    serde_json::json!({"ts": ts, "members": rows.iter().map(|r| r.origin.clone()).collect::<Vec<_>>()})
                })),
                f => print_text(
                    f,
                    vec!["time".into(), "members".into(), "origins".into()],
                    snaps
                        .iter()
                        .map(|(ts, rows)| {
                            vec![
                                vantage_netstate::time::format_us(*ts),
                                rows.len().to_string(),
                                rows.iter().map(|r| r.origin.as_str()).collect::<Vec<_>>().join(" "),
                            ]
                        })
                        .collect(),
                ),
            }
        }
        NetstateCommand::Dump { canonical } => {
            if !canonical {
                return Err(Coded::new(
                    Exit::Usage,
                    "netstate dump: only --canonical is available",
                ));
            }
            let (_data, mut wh) = open(ctx)?;
            let text = query::dump_canonical(&mut wh).coded()?;
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            Ok(())
        }
        NetstateCommand::Tables { show } => {
            let (_data, mut wh) = open(ctx)?;
            let defs = vantage_netstate::all_tables(&mut wh).coded()?;
            match show {
                Some(name) => {
                    let name = name.to_ascii_uppercase();
                    let def = defs
                        .into_iter()
                        .find(|d| d.name == name)
                        .ok_or_else(|| Coded::new(Exit::Usage, format!("unknown table {name}")))?;
                    match ctx.format {
                        Format::Json => print_json_lines([serde_json::to_value(&def)?]),
                        f => print_text(
                            f,
                            ["column", "type", "key", "required", "copy_on_close"]
                                .map(String::from)
                                .to_vec(),
                            def.columns
                                .iter()
                                .map(|c| {
                                    vec![
                                        c.name.clone(),
                                        format!("{:?}", c.ty).to_lowercase(),
                                        c.key.to_string(),
                                        c.required.to_string(),
                                        c.copy_on_close.to_string(),
                                    ]
                                })
                                .collect(),
                        ),
                    }
                }
                None => match ctx.format {
                    Format::Json => {
                        print_json_lines(defs.iter().filter_map(|d| serde_json::to_value(d).ok()))
                    }
                    f => print_text(
                        f,
                        vec!["table".into(), "kind".into(), "columns".into()],
                        defs.iter()
                            .map(|d| {
                                vec![
                                    d.name.clone(),
                                    format!("{:?}", d.kind).to_lowercase(),
                                    d.columns.len().to_string(),
                                ]
                            })
                            .collect(),
                    ),
                },
            }
        }
        NetstateCommand::Table(TableCommand::Add { file }) => {
            use vantage_netstate::define::{self, DefineError, Defined};
            let text = std::fs::read_to_string(file)
                .map_err(|e| Coded::new(Exit::for_io(&e), format!("{}: {e}", file.display())))?;
            let refused = |e: DefineError| match e {
                DefineError::Warehouse(w) => Coded::new(Exit::Storage, w.to_string()),
                other => Coded::new(Exit::Usage, format!("{}: {other}", file.display())),
            };
            let def = define::parse(&text).map_err(refused)?;
            let (_data, mut wh) = open(ctx)?;
            let done = wh.transaction(|tx| define::add(tx, &def)).map_err(refused)?;
            if ctx.chatty() {
                match done {
                    Defined::Created(d) => {
                        println!("added {} ({} columns)", d.name, d.columns.len())
                    }
                    Defined::Extended(d, cols) => {
                        println!("extended {} with {}", d.name, cols.join(", "))
                    }
                    Defined::Unchanged(d) => println!("{} is already defined as given", d.name),
                }
            }
            Ok(())
        }
        NetstateCommand::Source(SourceCommand::Retire { name }) => {
            let (_data, mut wh) = open(ctx)?;
            let n = vantage_netstate::retire_source(&mut wh, name).coded()?;
            if n == 0 {
                return Err(Coded::new(Exit::Usage, format!("no source {name}")));
            }
            if ctx.chatty() {
                println!("retired {name}");
            }
            Ok(())
        }
        NetstateCommand::Generate(a) => {
            let defaults = vantage_netstate::generate::GenerateOptions::default();
            let opts = vantage_netstate::generate::GenerateOptions {
                out: a.out.clone(),
                seed: a.seed,
                rows: a.rows,
                duration_s: a.duration,
                start_us: a.start.as_deref().map(time).transpose()?.unwrap_or(defaults.start_us),
                switches: a.switches,
                hosts: a.hosts,
                flows_per_s: a.flows_per_s,
                period_s: a.period,
                restart_every_s: a.restart_every,
                sources: a.sources,
                late: a.late,
                batches: a.batches,
            };
            let manifest = vantage_netstate::generate::generate(&opts).coded()?;
            if ctx.chatty() {
                println!("{}", serde_json::to_string(&manifest.summary())?);
            }
            Ok(())
        }
        NetstateCommand::ImportFlows { from, to, sensor } => {
            let (data, mut wh) = open(ctx)?;
            let range =
                (from.as_deref().map(time).transpose()?, to.as_deref().map(time).transpose()?);
            let opts = vantage_netstate::flows::FlowOptions {
                from: range.0,
                to: range.1,
                sensor: sensor.clone(),
                dp_id: config.recorder_dp_id,
                snapshot_every: config
                    .snapshot_every
                    .unwrap_or(vantage_netstate::DEFAULT_SNAPSHOT_EVERY),
            };
            let report = vantage_netstate::flows::import_flows(&mut wh, &data, &opts).coded()?;
            if ctx.chatty() {
                for e in &report.entries {
                    println!("loaded {} {} rows={}", e.source, e.file, e.rows);
                }
                println!("{} flows merged, {} already merged", report.merged, report.skipped);
            }
            Ok(())
        }
    }
}

fn import(ctx: &Context, config: &NetstateConfig, a: &ImportArgs) -> anyhow::Result<()> {
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    let opts = ImportOptions {
        import_dir: a.import_dir.clone(),
        loaded_dir: a.loaded_dir.clone(),
        source: a.source.clone(),
        snapshot_every: a
            .snapshot_every
            .or(config.snapshot_every)
            .unwrap_or(vantage_netstate::DEFAULT_SNAPSHOT_EVERY),
        wait_secs: a.wait,
    };
    let chatty = ctx.chatty();
    let importer = Importer::new(&mut wh, &data, opts).on_file(move |f| {
        if !chatty {
            return;
        }
        match &f.outcome {
            Outcome::Loaded { rows } => println!("loaded {} rows={rows}", f.file),
            Outcome::Rejected(_) => {}
            other => println!("{} {}", other.as_str(), f.file),
        }
    });
    let report = importer.run().coded()?;
    if let Some(prev) = &report.recovered_stale_lock {
        if chatty {
            eprintln!("warning: recovered stale lock (left by {prev})");
        }
    }
    if chatty {
        let rate = if report.seconds > 0.0 { report.rows as f64 / report.seconds } else { 0.0 };
        println!("{} rows in {:.3}s ({:.0} rows/s)", report.rows, report.seconds, rate);
    }
    if let Some(r) = report.rejection() {
        return Err(Coded::new(Exit::Rejected, format!("netstate import: {r}")));
    }
    Ok(())
}
