//! `vantage packets record --read FILE...` as a library call: the named lock, the
//! recorder, the catalog rows (partition per file, quarantine row per rejected file,
//! deduplicated by content hash) and the flow rows, each file's committed together.

use std::path::{Path, PathBuf};

use vantage_core::DataDir;
use vantage_warehouse::catalog::{
    self, Arrival, ArrivalState, Partition, PartitionState, QuarantineMode, Recorded,
};
use vantage_warehouse::{Lock, Warehouse};

use crate::config::PacketsConfig;
use crate::conn::{EndReason, Flow};
use crate::counters::Counters;
use crate::error::StoreError;
use crate::recorder::Recorder;
use crate::store::Recovery;

/// The processor name and code version in `catalog_partitions`.
pub const PROCESSOR: &str = "record";
/// Raised when recording changes what it stores.
pub const CODE_VERSION: u32 = 1;

/// One file's result.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Packets read.
    pub packets: u64,
    /// The rejection message (`<file>: offset <n>: <problem>`), if rejected.
    pub error: Option<String>,
    /// Warnings (unknown pcapng blocks).
    pub warnings: Vec<String>,
}

/// What a `record` run did.
#[derive(Debug, Clone)]
pub struct RecordReport {
    /// Per file, in order.
    pub files: Vec<FileReport>,
    /// Totals of the directory after the run.
    pub counters: Counters,
    /// What the restart recovered.
    pub recovery: Recovery,
    /// Flow rows written.
    pub flows_written: u64,
}

impl RecordReport {
    /// True when a file was rejected (exit 3).
    pub fn rejected(&self) -> bool {
        self.files.iter().any(|f| f.error.is_some())
    }
}

/// The packets directory of a configuration.
pub fn packets_root(data: &DataDir, cfg: &PacketsConfig) -> Result<PathBuf, StoreError> {
    match &cfg.data_dir {
        Some(d) if d.is_absolute() => Ok(d.clone()),
        Some(d) => Ok(data.root().join(d)),
        None => Ok(data.packets()?),
    }
}

/// The sensor name of flow rows.
pub fn sensor(cfg: &PacketsConfig) -> String {
    cfg.sensor.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .map(|s| s.trim().to_string())
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "localhost".into())
    })
}

/// Flows of one batch into `packets_flows` in one transaction; the batch loops of a trace
/// and of live capture both write through here, so a flow is stored exactly once either way.
pub(crate) fn write_flows(
    wh: &mut Warehouse,
    sensor: &str,
    flows: &[Flow],
    names: &[String],
) -> Result<u64, StoreError> {
    if flows.is_empty() {
        return Ok(0);
    }
    let n = wh.transaction(|tx| {
        crate::flows::insert(tx, sensor, flows, &|i| names.get(i).cloned())
            .map_err(StoreError::from)
    })?;
    Ok(n)
}

/// The content hash that deduplicates quarantine rows, streamed (captures may be huge).
fn file_sha256(path: &Path) -> (String, u64) {
    use sha2::Digest;
    use std::io::Read;
    let mut h = sha2::Sha256::new();
    let mut size = 0u64;
    if let Ok(f) = std::fs::File::open(path) {
        let mut r = std::io::BufReader::with_capacity(1 << 20, f);
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            h.update(buf.get(..n).unwrap_or_default());
            size += n as u64;
        }
    }
    (hex_lower(&h.finalize()), size)
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Records `files` in order into the packets directory, then flushes, emits every flow
/// (`end_of_input`) and closes the segments. A rejected file is reported (with a
/// quarantine row) and the next one read; its earlier packets are kept.
pub fn record_files(
    data: &DataDir,
    wh: &mut Warehouse,
    cfg: &PacketsConfig,
    files: &[PathBuf],
    mut progress: impl FnMut(&Path),
) -> Result<RecordReport, StoreError> {
    let root = packets_root(data, cfg)?;
    wh.migrate("packets", crate::flows::MIGRATIONS)?;
    let _lock = Lock::acquire(wh, data, "packets")?;
    let mut rec = Recorder::open(&root, cfg)?;
    let names = rec.class_names();
    let sensor = sensor(cfg);
    catalog::set_processor_version(wh, "packets", PROCESSOR, CODE_VERSION)?;
    let mut report = RecordReport {
        files: Vec::new(),
        counters: Counters::default(),
        recovery: rec.store().recovery,
        flows_written: 0,
    };
    for path in files {
        progress(path);
        let key = path.display().to_string();
        let part = |state, error| Partition {
            kind: "packets".into(),
            key: key.clone(),
            processor: PROCESSOR.into(),
            code_version: CODE_VERSION,
            state,
            error,
        };
        catalog::set_partition(wh, &part(PartitionState::Pending, None))?;
        let out = match rec.read_file(path) {
            Ok(out) => out,
            Err(e @ StoreError::DiskFull { .. }) => {
                // Recording stopped (§12): what reached the disk is closed and indexed;
                // the flows seen so far are written; the partition is failed; exit 4.
                let flows = rec.finish(EndReason::Shutdown).unwrap_or_default();
                let _ = write_flows(wh, &sensor, &flows, &names);
                catalog::set_partition(wh, &part(PartitionState::Failed, Some(e.to_string())))?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let flows = rec.take_flows();
        report.flows_written += write_flows(wh, &sensor, &flows, &names)?;
        let error = out.error.as_ref().map(|e| e.to_string());
        if let Some(e) = &out.error {
            tracing::warn!(file = %path.display(), error = %e, "Capture file rejected.");
            let (sha, size) = file_sha256(path);
            let reason = e.reason();
            let msg = e.to_string();
            wh.transaction(|tx| -> Result<(), StoreError> {
                let arrival = Arrival {
                    kind: "packets",
                    path: &key,
                    sha256: &sha,
                    size,
                    bucket: None,
                    state: ArrivalState::Rejected,
                };
                if let Recorded::New(_) = catalog::record_arrival(tx, &arrival)? {
                    catalog::quarantine(
                        tx,
                        data,
                        "packets",
                        path,
                        reason,
                        &msg,
                        QuarantineMode::InPlace,
                    )
                    .map_err(|e| StoreError::Query(e.to_string()))?;
                }
                catalog::set_partition(tx, &part(PartitionState::Failed, Some(msg.clone())))?;
                Ok(())
            })?;
        } else {
            catalog::set_partition(wh, &part(PartitionState::Done, None))?;
        }
        report.files.push(FileReport {
            path: path.clone(),
            packets: out.packets,
            error,
            warnings: out.warnings,
        });
    }
    let flows = rec.finish(EndReason::EndOfInput)?;
    report.flows_written += write_flows(wh, &sensor, &flows, &names)?;
    report.counters = Counters::load(&root);
    Ok(report)
}
