//! `vantage demo`: synthetic data for every kind through the whole pipeline, then a summary.
//!
//! The demo writes into a data directory of its own (`./vantage-demo` unless `--data`
//! names one), marked with a `.vantage-demo` file so that a re-run may start it afresh
//! without ever wiping a directory that holds real data.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use vantage_core::{DataDir, Exit};
use vantage_warehouse::Warehouse;

use crate::context::{Coded, Context, OrExit};

/// Arguments of `vantage demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Then serve the demo directory (UI, API, collector) until SIGTERM or SIGINT
    #[arg(long)]
    pub serve: bool,
    /// With --serve: listen address [default: the [server] bind, 127.0.0.1:8080]
    #[arg(long, value_name = "HOST:PORT", requires = "serve")]
    pub bind: Option<String>,
}

const MARKER: &str = ".vantage-demo";

/// Empties a previous demo's directory; refuses a directory that holds anything else.
fn fresh_demo_dir(root: &Path) -> anyhow::Result<()> {
    let has_entries = std::fs::read_dir(root).map(|mut d| d.next().is_some()).unwrap_or(false);
    if has_entries {
        if !root.join(MARKER).is_file() {
            return Err(Coded::new(
                Exit::Usage,
                format!(
                    "{}: not empty and not a previous demo's directory; the demo writes synthetic \
                     data, so give it an empty or new directory with --data",
                    root.display()
                ),
            ));
        }
        std::fs::remove_dir_all(root)
            .map_err(|e| Coded::new(Exit::Storage, format!("{}: {e}", root.display())))?;
    }
    std::fs::create_dir_all(root)
        .map_err(|e| Coded::new(Exit::Storage, format!("{}: {e}", root.display())))?;
    std::fs::write(root.join(MARKER), b"written by vantage demo; safe to delete\n")
        .map_err(|e| Coded::new(Exit::Storage, format!("{}: {e}", root.display())))?;
    Ok(())
}

/// Runs every kind's demo in a fresh demo directory, then prints `vantage status`.
pub fn run(ctx: &Context, args: &DemoArgs, data_given: bool) -> anyhow::Result<()> {
    let root = if data_given { ctx.config.data.clone() } else { PathBuf::from("vantage-demo") };
    fresh_demo_dir(&root)?;
    let data = DataDir::open(&root).coded()?;
    let mut wh = Warehouse::open(ctx.config.warehouse.url.as_deref(), &data).coded()?;
    let started = Instant::now();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(out, "Vantage demo in {} (warehouse {})\n", root.display(), wh.describe())?;

    section(&mut out, "cans")?;
    can_demo(&data, &mut out)?;
    section(&mut out, "reports")?;
    reports_demo(ctx, &data, &mut wh, &mut out)?;
    section(&mut out, "passive")?;
    passive_demo(ctx, &data, &mut wh, &mut out)?;
    section(&mut out, "packets")?;
    vantage_packets::demo(&data, &mut wh, &mut out).coded()?;
    section(&mut out, "netstate")?;
    vantage_netstate::demo(&data, &mut wh, &mut out).coded()?;

    section(&mut out, "status")?;
    drop(out);
    super::status::run(&Context {
        config: demo_config(ctx, &root),
        format: ctx.format,
        verbosity: ctx.verbosity,
    })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nDone in {:.1} s. Look around:", started.elapsed().as_secs_f64())?;
    let d = root.display();
    writeln!(out, "  vantage --data {d} status")?;
    writeln!(out, "  vantage --data {d} sql \"SELECT * FROM catalog_partitions\"")?;
    writeln!(out, "  vantage --data {d} verify")?;
    if !args.serve {
        writeln!(out, "  vantage --data {d} serve        (or run the demo with --serve)")?;
        return Ok(());
    }
    drop(out);
    let serve_ctx =
        Context { config: demo_config(ctx, &root), format: ctx.format, verbosity: ctx.verbosity };
    let serve_args = super::serve::ServeArgs { bind: args.bind.clone(), tick_seconds: None };
    super::serve::run(&serve_ctx, &serve_args)
}

/// Probes through the collector, legacy YAML ingested, canned and autoclaved.
fn reports_demo(
    ctx: &Context,
    data: &DataDir,
    wh: &mut Warehouse,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let config: vantage_reports::ReportsConfig = ctx.config.section("reports").coded()?;
    let s = vantage_reports::demo(data, wh, ctx.config.warehouse.url.as_deref(), &config, 2016)
        .coded()?;
    writeln!(
        out,
        "reports: {} reports with {} measurements submitted through the collector, {} legacy YAML reports ingested",
        s.collector_reports, s.collector_measurements, s.yaml_reports
    )?;
    writeln!(
        out,
        "reports: {} raw cans, {} clean cans, {} normalized measurements, {} badblobs; countries {}",
        s.raw_cans,
        s.clean_cans,
        s.datums,
        s.badblobs,
        s.countries.join(" ")
    )?;
    for line in s.view_lines() {
        writeln!(out, "{line}")?;
    }
    if let Some(uid) = &s.sample_uid {
        writeln!(
            out,
            "reports: try `vantage --data {} reports show {uid}` ({} bytes)",
            data.root().display(),
            s.sample_bytes
        )?;
    }
    Ok(())
}

/// Routers' updates generated, ingested and processed into traffic statistics.
fn passive_demo(
    ctx: &Context,
    data: &DataDir,
    wh: &mut Warehouse,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let config: vantage_passive::PassiveConfig = ctx.config.section("passive").coded()?;
    let env = vantage_passive::PassiveEnv::new(data.clone(), config).coded()?;
    vantage_passive::schema::migrate(wh).coded()?;
    let s = vantage_passive::demo(&env, wh, ctx.config.warehouse.url.as_deref()).coded()?;
    writeln!(out, "passive: {}", s.headline.trim_start_matches("passive: "))?;
    for (title, rows) in &s.tables {
        writeln!(out, "passive: {title}")?;
        crate::output::write_rows(out, rows, crate::context::Format::Table)?;
    }
    Ok(())
}

fn demo_config(ctx: &Context, root: &Path) -> vantage_core::Config {
    let mut c = ctx.config.clone();
    c.data = root.to_path_buf();
    c
}

fn section(out: &mut dyn Write, name: &str) -> std::io::Result<()> {
    writeln!(out, "\n== {name}")
}

/// The foundation's part: a directory of JSON measurements canned, verified, and one member
/// read back by its index.
fn can_demo(data: &DataDir, out: &mut dyn Write) -> anyhow::Result<()> {
    let source = data.ensure(&data.root().join("demo").join("measurements")).coded()?;
    let mut bytes = 0u64;
    let files = 400;
    for i in 0..files {
        let cc = ["IT", "BR", "IN", "US", "DE"][i % 5];
        let test = ["web_connectivity", "dns_consistency", "http_requests"][i % 3];
        let body = serde_json::json!({
            "id": format!("demo-{i:05}"),
            "probe_cc": cc,
            "test_name": test,
            "input": format!("http://example-{}.org/", i % 37),
            "test_keys": {"blocking": if i % 11 == 0 { "dns" } else { "false" }, "requests": (0..(i % 7)).map(|r| format!("GET /{r}")).collect::<Vec<_>>()},
        });
        let text = serde_json::to_vec_pretty(&body)?;
        bytes += text.len() as u64;
        let name = source.join(format!("{:02}", i % 8)).join(format!("msm-{i:05}.json"));
        data.ensure(name.parent().unwrap_or(&source)).coded()?;
        std::fs::write(&name, &text)
            .map_err(|e| Coded::new(Exit::Storage, format!("{}: {e}", name.display())))?;
    }
    let bucket = vantage_core::Timestamp::now().bucket();
    let dir =
        data.ensure(&data.root().join("archive").join("demo").join(bucket.to_string())).coded()?;
    let can = dir.join("measurements.tar.lz4");
    let t = Instant::now();
    let outcome =
        vantage_can::write_dir(&source, &can, vantage_can::WriterOptions::default()).coded()?;
    let write_ms = t.elapsed().as_secs_f64() * 1e3;
    let s = outcome.summary();
    writeln!(
        out,
        "can: {files} JSON files, {bytes} bytes -> {} ({} bytes, {:.1}x smaller, {} frames) in {write_ms:.1} ms",
        can.display(),
        s.file_size,
        bytes as f64 / s.file_size.max(1) as f64,
        s.frames
    )?;
    let opened = vantage_can::Can::open(&can).coded()?;
    let member = "07/msm-00399.json";
    let t = Instant::now();
    let back = opened.read_member(member).coded()?;
    let read_us = t.elapsed().as_secs_f64() * 1e6;
    writeln!(
        out,
        "can: read {member} ({} bytes) by its index in {read_us:.0} µs, checksums checked",
        back.len()
    )?;
    let v = vantage_can::verify(&can).coded()?;
    writeln!(
        out,
        "can: verify: {} members, sha1 {} ok; also readable with `tar -I lz4 -tf {}`",
        v.members,
        v.file_sha1,
        can.display()
    )?;
    Ok(())
}
