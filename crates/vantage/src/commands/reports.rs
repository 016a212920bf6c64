//! `vantage reports ...`: the OONI pipeline (reports spec §9). Parses, takes the `reports`
//! lock, calls `vantage_reports`, prints; exit codes come from the library's errors
//! (3 when an input was quarantined; badblobs are counts, not rejections).

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use vantage_core::{Bucket, Exit};
use vantage_reports::ReportsConfig;
use vantage_warehouse::{Rows, Value};

use crate::context::{Coded, Context, Format, OrExit};
use crate::output::print_rows;

/// The reports verbs.
#[derive(Debug, clap::Subcommand)]
pub enum ReportsCommand {
    /// Accept report files (YAML 0.1.0, JSON 0.2.0; .gz/.lz4/.zst; .tar archives) into the inbox
    #[command(after_help = "Examples:\n  vantage reports ingest ~/ooni/2016-07-07/\n  \
        vantage reports ingest r.json.gz --bucket 2020-01-02\n\n\
        Bucket: --bucket, else the nearest directory named YYYY-MM-DD, else the file's mtime (UTC).\n\
        Duplicates (same sha1) are skipped; exit 3 if anything was quarantined.")]
    Ingest {
        /// Files or directories (searched recursively)
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Put everything in this bucket
        #[arg(long, value_name = "YYYY-MM-DD")]
        bucket: Option<Bucket>,
    },
    /// Pack each bucket's uncanned reports into raw cans (~64 MiB slices per test name)
    #[command(
        after_help = "Examples:\n  vantage reports can\n  vantage reports can --bucket 2016-07-07"
    )]
    Can {
        /// Only this bucket [default: every bucket with uncanned reports]
        #[arg(long, value_name = "YYYY-MM-DD")]
        bucket: Option<Bucket>,
    },
    /// Normalize and sanitize raw cans into clean cans of JSON lines
    #[command(after_help = "Examples:\n  vantage reports autoclave\n  \
        vantage reports autoclave --bucket 2016-07-07 --reclean    (rebuild after a rule change)")]
    Autoclave {
        /// Only this bucket [default: every bucket with new raw cans]
        #[arg(long, value_name = "YYYY-MM-DD")]
        bucket: Option<Bucket>,
        /// Rebuild the bucket's clean cans from scratch and swap them in atomically
        #[arg(long)]
        reclean: bool,
    },
    /// Load clean cans into the warehouse tables: feeders, verdicts, scores, views
    #[command(after_help = "Examples:\n  vantage reports centrifuge\n  \
        vantage reports centrifuge --bucket 2016-07-07 --reprocess    (every feeder again)\n\n\
        Per clean can: new -> ingest; changed sha1 -> reingest (numbers kept); older code version or\n\
        other fingerprints -> reprocess the feeders that need it; else skipped. One transaction per bucket.")]
    Centrifuge {
        /// Only this bucket [default: every bucket with new or outdated clean cans]
        #[arg(long, value_name = "YYYY-MM-DD")]
        bucket: Option<Bucket>,
        /// Run every feeder again (sets the bucket's code_ver to 0 first)
        #[arg(long)]
        reprocess: bool,
    },
    /// Blockpage fingerprints (ooni/blocking-fingerprints CSV)
    #[command(subcommand)]
    Fingerprints(FingerprintsCommand),
    /// One tick: ingest inbox/reports/drop/, then can, autoclave and centrifuge every bucket with new work
    #[command(after_help = "Example:\n  vantage reports run    (a second run does nothing)")]
    Run,
    /// Remove reports from the raw cans (personal data), keeping an audit log; then re-clean
    #[command(
        after_help = "Example:\n  vantage reports redact 2016-07-07/20160706T000046Z-GB-AS9105-http_requests-X-0.1.0-probe.yaml \\\n    --reason \"probe IP in a header\" --purge\n\n\
        The old can is kept beside the new one (its checksums in reports_redaction) unless --purge."
    )]
    Redact {
        /// Reports as <bucket>/<file name>
        #[arg(required = true)]
        textnames: Vec<String>,
        /// Why (kept in the audit log)
        #[arg(long)]
        reason: String,
        /// Delete the old version of each rewritten can
        #[arg(long)]
        purge: bool,
    },
    /// Write a seeded corpus of synthetic report files (for benches and trials)
    #[command(
        after_help = "Example:\n  vantage reports generate --out /tmp/corpus --size 1073741824 --seed 7\n\n\
        Files land in OUT/<bucket>/ under pipeline names; same seed, same bytes."
    )]
    Generate {
        /// Output directory
        #[arg(long)]
        out: PathBuf,
        /// Bytes of report text to write (at least)
        #[arg(long, default_value_t = 64 << 20)]
        size: u64,
        /// Random seed
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The day the reports are from
        #[arg(long, value_name = "YYYY-MM-DD", default_value = "2021-06-01")]
        day: Bucket,
    },
    /// Print one normalized measurement by measurement_uid, id or msm:<n>
    #[command(
        after_help = "Examples:\n  vantage reports show 0120151105e6e97af9dabb462dc4066ae2fd58a5\n  \
        vantage reports show d0552436-0a70-21f9-4587-796eec0cf019\n  \
        vantage reports show msm:42    (the msm_no centrifugation gave it)"
    )]
    Show {
        /// measurement_uid, the `id` UUID, or msm:<n>
        id: String,
    },
}

/// `vantage reports fingerprints ...`.
#[derive(Debug, clap::Subcommand)]
pub enum FingerprintsCommand {
    /// Load a fingerprints CSV; it replaces the loaded set of its kind (dns, or http)
    #[command(
        after_help = "Example:\n  vantage reports fingerprints load fingerprints_http.csv\n\n\
        Columns: name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,\n\
        expected_countries,source,exp_url,notes. One bad row rejects the file (exit 3, file:line).\n\
        The next centrifuge re-runs matching and scoring where the set changed."
    )]
    Load {
        /// The CSV file
        file: PathBuf,
    },
}

/// Clears the spinner before anything is printed on the way out.
struct ClearOnDrop(indicatif::ProgressBar);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn config(ctx: &Context) -> anyhow::Result<ReportsConfig> {
    ctx.config.section::<ReportsConfig>("reports").coded()
}

fn print_json(v: &impl Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn table(columns: &[&str], rows: Vec<Vec<Value>>) -> Rows {
    Rows { columns: columns.iter().map(|c| c.to_string()).collect(), rows }
}

fn print_ingest(ctx: &Context, s: &vantage_reports::IngestSummary) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        return print_json(s);
    }
    let rows = s
        .files
        .iter()
        .map(|l| {
            vec![
                l.input.as_str().into(),
                l.status.into(),
                l.bucket.clone().into(),
                l.name.clone().into(),
                l.reason.clone().into(),
            ]
        })
        .collect();
    print_rows(&table(&["input", "status", "bucket", "name", "reason"], rows), ctx.format)?;
    Ok(())
}

fn print_can(ctx: &Context, s: &vantage_reports::CanSummary) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        return print_json(s);
    }
    let rows = s
        .cans
        .iter()
        .map(|c| {
            vec![
                c.filename.as_str().into(),
                c.action.into(),
                (c.members as u64).into(),
                c.text_size.into(),
                c.file_size.into(),
            ]
        })
        .collect();
    print_rows(&table(&["can", "action", "reports", "text_size", "file_size"], rows), ctx.format)?;
    Ok(())
}

fn print_autoclave(ctx: &Context, s: &vantage_reports::AutoclaveSummary) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        return print_json(s);
    }
    let rows = s
        .cans
        .iter()
        .map(|c| {
            vec![
                c.filename.as_str().into(),
                c.reports.into(),
                c.datums.into(),
                c.badblobs.into(),
                c.src_bytes.into(),
            ]
        })
        .collect();
    print_rows(
        &table(&["clean_can", "reports", "datums", "badblobs", "src_bytes"], rows),
        ctx.format,
    )?;
    Ok(())
}

fn print_centrifuge(ctx: &Context, s: &vantage_reports::CentrifugeSummary) -> anyhow::Result<()> {
    if ctx.format == Format::Json {
        return print_json(s);
    }
    let rows = s
        .files
        .iter()
        .map(|f| {
            vec![
                f.filename.as_str().into(),
                f.action.as_str().into(),
                f.reports.into(),
                f.measurements.into(),
                f.badmeta.into(),
                f.badrows.into(),
            ]
        })
        .collect();
    print_rows(
        &table(&["clean_can", "action", "reports", "measurements", "badmeta", "badrows"], rows),
        ctx.format,
    )?;
    Ok(())
}

fn rejected(n: usize) -> anyhow::Result<()> {
    if n > 0 {
        return Err(Coded::new(
            Exit::Rejected,
            format!("{n} input(s) quarantined (see the lines above)"),
        ));
    }
    Ok(())
}

/// Runs one reports verb.
pub fn run(ctx: &Context, cmd: &ReportsCommand) -> anyhow::Result<()> {
    if let ReportsCommand::Generate { out, size, seed, day } = cmd {
        let files = vantage_reports::generate::corpus(out, *size, *seed, *day)
            .map_err(|e| Coded::new(Exit::for_io(&e), format!("{}: {e}", out.display())))?;
        if ctx.chatty() {
            eprintln!("{} report files written under {}", files.len(), out.display());
        }
        return Ok(());
    }
    let cfg = config(ctx)?;
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    if let ReportsCommand::Show { id } = cmd {
        // Read-only: no lock, so `show` works while a stage runs.
        let line = vantage_reports::show(&data, &mut wh, id).coded()?;
        let mut out = std::io::stdout().lock();
        out.write_all(&line)?;
        out.write_all(b"\n")?;
        return Ok(());
    }
    let _lock = vantage_reports::lock(&wh, &data).coded()?;
    // The stages report per can at the end; meanwhile a spinner shows they are alive.
    let spinner = crate::context::progress_bar(ctx, 0, "reports");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let _clear = ClearOnDrop(spinner);
    match cmd {
        ReportsCommand::Ingest { paths, bucket } => {
            let s = vantage_reports::ingest(&data, &mut wh, paths, *bucket).coded()?;
            print_ingest(ctx, &s)?;
            rejected(s.quarantined())
        }
        ReportsCommand::Can { bucket } => {
            let s = vantage_reports::can(&data, &mut wh, &cfg, *bucket).coded()?;
            print_can(ctx, &s)?;
            for q in &s.quarantined {
                eprintln!("quarantined: {q}");
            }
            rejected(s.quarantined.len())
        }
        ReportsCommand::Autoclave { bucket, reclean } => {
            let s = vantage_reports::autoclave(&data, &mut wh, &cfg, *bucket, *reclean).coded()?;
            print_autoclave(ctx, &s)
        }
        ReportsCommand::Centrifuge { bucket, reprocess } => {
            let s = vantage_reports::centrifuge(&data, &mut wh, *bucket, *reprocess).coded()?;
            print_centrifuge(ctx, &s)
        }
        ReportsCommand::Fingerprints(FingerprintsCommand::Load { file }) => {
            let s = vantage_reports::load_fingerprints(&mut wh, file).coded()?;
            if ctx.format == Format::Json {
                return print_json(&s);
            }
            let row = vec![
                s.file.as_str().into(),
                s.kinds.join(",").into(),
                s.rows.into(),
                s.disabled.len().into(),
                s.fp_digest.as_str().into(),
            ];
            print_rows(
                &table(&["file", "kinds", "rows", "disabled", "fp_digest"], vec![row]),
                ctx.format,
            )?;
            for d in &s.disabled {
                eprintln!("disabled (regexp does not compile): {d}");
            }
            Ok(())
        }
        ReportsCommand::Run => {
            let s = vantage_reports::run(&data, &mut wh, &cfg).coded()?;
            if ctx.format == Format::Json {
                print_json(&s)?;
            } else {
                print_ingest(ctx, &s.ingest)?;
                print_can(ctx, &s.can)?;
                print_autoclave(ctx, &s.autoclave)?;
                print_centrifuge(ctx, &s.centrifuge)?;
            }
            rejected(s.ingest.quarantined() + s.can.quarantined.len())
        }
        ReportsCommand::Redact { textnames, reason, purge } => {
            let s =
                vantage_reports::redact(&data, &mut wh, &cfg, textnames, reason, *purge).coded()?;
            if ctx.format == Format::Json {
                return print_json(&s);
            }
            let rows = s
                .redacted
                .iter()
                .map(|r| {
                    vec![
                        r.textname.as_str().into(),
                        r.can.as_str().into(),
                        r.old_sha1.as_str().into(),
                        r.old_path.clone().into(),
                    ]
                })
                .collect();
            print_rows(&table(&["textname", "can", "old_sha1", "old_version"], rows), ctx.format)?;
            Ok(())
        }
        ReportsCommand::Show { .. } | ReportsCommand::Generate { .. } => Ok(()),
    }
}
