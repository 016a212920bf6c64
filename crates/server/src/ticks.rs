//! Periodic pipeline ticks, one loop per kind.
//!
//! Each tick runs on a blocking thread with its own warehouse connection and takes the
//! kind's named lock (DESIGN.md Conventions: `reports`, `passive`, `netstate-import`,
//! `packets`); when another run holds it the tick is skipped and logged, never queued.
//! A loop awaits its tick before sleeping again, so a tick never overlaps itself. On
//! shutdown the loops stop at once between ticks; a tick in progress finishes its
//! current transaction — the stages commit per partition — and the loop then ends.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, info_span, warn};
use vantage_core::{Exit, HasExit, Timestamp};
use vantage_warehouse::Warehouse;

use crate::metrics::TickOutcome;
use crate::state::AppState;

/// The kinds with a tick, in the order their loops start.
pub const KINDS: [&str; 4] = ["reports", "passive", "netstate", "packets"];

/// Why a tick did not run to the end.
#[derive(Debug)]
pub enum TickError {
    /// The kind's lock is held by another run.
    Busy(String),
    /// Anything else; logged.
    Failed(String),
}

fn classify<E: HasExit + std::fmt::Display>(e: E) -> TickError {
    if e.exit() == Exit::Busy {
        TickError::Busy(e.to_string())
    } else {
        TickError::Failed(e.to_string())
    }
}

/// Runs one tick of `kind` to completion (blocking). Returns a one-line summary.
pub fn run_once(state: &AppState, kind: &str) -> Result<String, TickError> {
    let mut wh = Warehouse::open(state.warehouse_url.as_deref(), &state.data).map_err(classify)?;
    match kind {
        "reports" => reports(state, &mut wh),
        "passive" => passive(state, &mut wh),
        "netstate" => netstate(state, &mut wh),
        "packets" => packets(state, &mut wh),
        other => Err(TickError::Failed(format!("no tick for kind {other:?}"))),
    }
}

/// The collector's idle and midnight closes, then ingest of the drop directory, can,
/// autoclave for every bucket with new work (`vantage reports run`).
fn reports(state: &AppState, wh: &mut Warehouse) -> Result<String, TickError> {
    state.collector.tick(Timestamp::now()).map_err(classify)?;
    let _lock = vantage_reports::lock(wh, &state.data).map_err(classify)?;
    let s = vantage_reports::run(&state.data, wh, &state.reports).map_err(classify)?;
    Ok(serde_json::to_string(&s).unwrap_or_default())
}

/// Spool ingest and processing (`vantage passive run`); takes the lock itself.
fn passive(state: &AppState, wh: &mut Warehouse) -> Result<String, TickError> {
    let env = vantage_passive::PassiveEnv::new(state.data.clone(), state.passive.clone())
        .map_err(|e| TickError::Failed(e.to_string()))?;
    let opts = vantage_passive::RunOptions {
        watch: Vec::new(),
        process: vantage_passive::ProcessOptions {
            warehouse_url: state.warehouse_url.clone(),
            workers: state.passive.workers,
            ..Default::default()
        },
    };
    let (sources, report) = vantage_passive::run(&env, wh, &opts).map_err(classify)?;
    Ok(format!("{} sources ingested, {} processors run", sources.len(), report.processors.len()))
}

/// Imports each subdirectory of `inbox/netstate/` as the source of that name (netstate
/// spec §3); the importer takes the `netstate-import` lock itself.
fn netstate(state: &AppState, wh: &mut Warehouse) -> Result<String, TickError> {
    let inbox = state.data.inbox("netstate").map_err(classify)?;
    let mut sources: Vec<String> = std::fs::read_dir(&inbox)
        .map_err(|e| TickError::Failed(format!("{}: {e}", inbox.display())))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| vantage_netstate::valid_source(n))
        .collect();
    sources.sort();
    let mut loaded = 0;
    for source in &sources {
        let opts = vantage_netstate::ImportOptions {
            source: source.clone(),
            snapshot_every: state
                .netstate
                .snapshot_every
                .unwrap_or(vantage_netstate::DEFAULT_SNAPSHOT_EVERY),
            ..Default::default()
        };
        match vantage_netstate::Importer::new(wh, &state.data, opts).run() {
            Ok(r) => loaded += r.files.len(),
            // A rejected file stops its source's batch (NOX's rule) but not the others.
            Err(e) if e.exit() == Exit::Rejected => {
                warn!(source = %source, error = %e, "Netstate file rejected.");
            }
            Err(e) => return Err(classify(e)),
        }
    }
    Ok(format!("{} sources, {loaded} files seen", sources.len()))
}

/// Records pcaps dropped into `inbox/packets/drop/` (as `packets record --read`), then
/// moves each into `inbox/packets/done/` so that the next tick does not record it again.
/// (A drop directory of its own: `inbox/packets/` itself holds the demo's trace.)
///
/// While the live recorder of `[packets] interface` runs, it owns the packets directory
/// and its lock, and its own loop flushes and writes flows; the drop directory then
/// waits for a serve without an interface.
fn packets(state: &AppState, wh: &mut Warehouse) -> Result<String, TickError> {
    if let Some(l) = &state.live {
        return Ok(format!("live recorder on {} (the drop directory waits)", l.interface));
    }
    let base = state.data.inbox("packets").map_err(classify)?;
    let inbox = base.join("drop");
    std::fs::create_dir_all(&inbox)
        .map_err(|e| TickError::Failed(format!("{}: {e}", inbox.display())))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&inbox)
        .map_err(|e| TickError::Failed(format!("{}: {e}", inbox.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !n.starts_with('.') && (n.ends_with(".pcap") || n.ends_with(".pcapng"))
        })
        .collect();
    if files.is_empty() {
        return Ok("nothing to record".into());
    }
    files.sort();
    let report = vantage_packets::record_files(&state.data, wh, &state.packets, &files, |_| {})
        .map_err(classify)?;
    let done = base.join("done");
    std::fs::create_dir_all(&done)
        .map_err(|e| TickError::Failed(format!("{}: {e}", done.display())))?;
    for f in &files {
        if let Some(name) = f.file_name() {
            let _ = std::fs::rename(f, done.join(name));
        }
    }
    Ok(format!("{} files recorded, {} flows written", report.files.len(), report.flows_written))
}

/// The loop of one kind: tick, wait `tick_seconds` (or until shutdown), repeat.
pub async fn run_loop(state: Arc<AppState>, kind: &'static str, mut stop: watch::Receiver<bool>) {
    let period = Duration::from_secs(state.tick_seconds);
    loop {
        if *stop.borrow() {
            break;
        }
        let s = state.clone();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let _span = info_span!("tick", kind).entered();
            run_once(&s, kind)
        })
        .await;
        let secs = started.elapsed().as_secs_f64();
        let outcome = match result {
            Ok(Ok(summary)) => {
                info!(kind, seconds = secs, summary = %summary, "Tick done.");
                TickOutcome::Ok
            }
            Ok(Err(TickError::Busy(why))) => {
                info!(kind, reason = %why, "Tick skipped: lock held.");
                TickOutcome::Busy
            }
            Ok(Err(TickError::Failed(why))) => {
                warn!(kind, error = %why, "Tick failed.");
                TickOutcome::Error
            }
            Err(e) => {
                warn!(kind, error = %e, "Tick worker failed.");
                TickOutcome::Error
            }
        };
        state.metrics.tick(kind, outcome, secs);
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => break,
        }
    }
}
