//! `vantage netstate import-flows` (spec §6): the packet recorder's `packets_flows`, read
//! through SQL only, merged into FLOW (IPv4) and FLOW6 (IPv6) as if a controller had
//! exported them: an O at the first packet, a C at removal that closes only that flow's
//! own row (two flows with equal keys stay two rows), one load-log row per run, table and
//! source, snapshots maintained as for files. A flow already merged is skipped, so
//! running twice applies each flow once.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;

use vantage_core::{DataDir, Exit, HasExit, Timestamp};
use vantage_warehouse::catalog::{self, Partition, PartitionState};
use vantage_warehouse::{Backend, Lock, LockError, Sql, Value, Warehouse, WarehouseError};

use crate::cell::Cell;
use crate::loadlog::{self, LoadEntry};
use crate::schema::{builtin, TableDef};
use crate::snapshot;
use crate::store::{self, names, ORDER_COLS};

/// The file name every recorded flow's origin carries.
pub const FLOWS_FILE: &str = "packets_flows";

/// What `import-flows` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct FlowOptions {
    /// Only flows removed at or after this instant, µs.
    pub from: Option<i64>,
    /// Only flows removed at or before this instant, µs.
    pub to: Option<i64>,
    /// Only this sensor.
    pub sensor: Option<String>,
    /// DP_ID of recorded flows (`recorder_dp_id` of `[netstate]`).
    pub dp_id: u64,
    /// `--snapshot-every`.
    pub snapshot_every: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct FlowReport {
    /// Load-log rows added, one per table and source changed.
    pub entries: Vec<LoadEntry>,
    /// Flows merged now.
    pub merged: u64,
    /// Flows skipped as merged before.
    pub skipped: u64,
}

/// `import-flows` failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The recorder's table is not there.
    #[error("the warehouse has no packets_flows table: record traffic first (`vantage packets record`), then run import-flows")]
    NoTable,
    /// A row of packets_flows could not be read as a flow.
    #[error("packets_flows: sensor {sensor:?} flow_id {flow_id}: {why}")]
    BadFlow {
        /// Sensor.
        sensor: String,
        /// Flow id.
        flow_id: i64,
        /// What is wrong.
        why: String,
    },
    /// The lock is held or failed.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

impl HasExit for FlowError {
    fn exit(&self) -> Exit {
        match self {
            FlowError::NoTable => Exit::Usage,
            FlowError::BadFlow { .. } => Exit::Rejected,
            FlowError::Lock(e) => e.exit(),
            FlowError::Warehouse(_) => Exit::Storage,
        }
    }
}

/// The source of a sensor's flows (spec §6 "Source").
pub fn source_for(sensor: &str) -> String {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=60).contains(&sensor.len()) && sensor.chars().all(ok) {
        return format!("rec-{sensor}");
    }
    let p: String = sensor.chars().take(43).map(|c| if ok(c) { c } else { '_' }).collect();
    let h = vantage_core::hash::sha256_hex(sensor.as_bytes());
    format!("rec-{p}-{}", h.get(..16).unwrap_or(&h))
}

fn table_exists(db: &mut dyn Sql) -> Result<bool, WarehouseError> {
    let n = match db.backend() {
        Backend::Sqlite => db.query_i64(
            "SELECT COUNT(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = 'packets_flows'",
            &[],
        )?,
        Backend::Postgres => db.query_i64(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'packets_flows'
             AND table_schema = current_schema()",
            &[],
        )?,
    };
    Ok(n.unwrap_or(0) > 0)
}

fn mac(text: Option<&str>) -> Cell {
    let Some(t) = text else { return Cell::Null };
    let parts: Vec<&str> = t.split(':').collect();
    if parts.len() != 6 {
        return Cell::Null;
    }
    let mut v = 0u64;
    for p in parts {
        match u8::from_str_radix(p, 16) {
            Ok(b) => v = (v << 8) | u64::from(b),
            Err(_) => return Cell::Null,
        }
    }
    Cell::Int(v as i64) // 48 bits: fits
}

fn u16_cell(v: Option<i64>) -> Cell {
    v.filter(|x| (0..=i64::from(u16::MAX)).contains(x)).map_or(Cell::Null, Cell::Int)
}

/// One flow as merged.
struct Flow {
    table: &'static str,
    source: String,
    flow_id: i64,
    created: i64,
    removed: i64,
    open: Vec<Cell>,
    close: Vec<Cell>,
}

fn flow_from(r: &[Value], dp_id: u64) -> Result<Flow, FlowError> {
    let i = |k: usize| r.get(k).and_then(Value::as_i64);
    let s = |k: usize| r.get(k).and_then(Value::as_str);
    let sensor = s(0).unwrap_or_default().to_string();
    let flow_id = i(1).unwrap_or(0);
    let bad = |why: &str| FlowError::BadFlow { sensor: sensor.clone(), flow_id, why: why.into() };
    let addr = |k: usize| -> Result<IpAddr, FlowError> {
        s(k).and_then(|a| a.parse().ok()).ok_or_else(|| bad("address is not an IP address"))
    };
    let (orig, resp) = (addr(3)?, addr(5)?);
    let first_ns = i(7).ok_or_else(|| bad("first_ns is NULL"))?;
    let last_ns = i(8).unwrap_or(first_ns);
    let removed_ns = i(9).ok_or_else(|| bad("removed_ns is NULL"))?;
    let pkts = i(10).unwrap_or(0).saturating_add(i(12).unwrap_or(0));
    let bytes = i(11).unwrap_or(0).saturating_add(i(13).unwrap_or(0));
    let dur = ((last_ns - first_ns).max(0) / 1_000_000_000).min(i64::from(u32::MAX));
    let common = |ip_cells: (Cell, Cell), v4: bool| -> Vec<Cell> {
        let mut c = vec![
            Cell::Int(dp_id as i64), // u64 stored bit-cast
            u16_cell(i(18)),
            u16_cell(i(14)),
            u16_cell(i(17)),
            mac(s(15)),
            mac(s(16)),
        ];
        if v4 {
            c.extend([ip_cells.0, Cell::Null, ip_cells.1, Cell::Null]);
        } else {
            c.extend([ip_cells.0, ip_cells.1]);
        }
        c.extend([u16_cell(i(2)), u16_cell(i(4)), u16_cell(i(6))]);
        c
    };
    let (table, ips, v4) = match (orig, resp) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            ("FLOW", (Cell::Int(i64::from(u32::from(a))), Cell::Int(i64::from(u32::from(b)))), true)
        }
        (a, b) => {
            let v6 = |x: IpAddr| match x {
                IpAddr::V4(v) => v.to_ipv6_mapped().octets().to_vec(),
                IpAddr::V6(v) => v.octets().to_vec(),
            };
            ("FLOW6", (Cell::Bytes(v6(a)), Cell::Bytes(v6(b))), false)
        }
    };
    let mut open = common(ips.clone(), v4);
    open.extend([Cell::Null, Cell::Null, Cell::Null]);
    let mut close = common(ips, v4);
    if v4 {
        close[7] = Cell::Null; // masks NULL in C too
        close[9] = Cell::Null;
    }
    close.extend([Cell::Int(dur), Cell::Int(pkts), Cell::Int(bytes)]);
    Ok(Flow {
        table,
        source: source_for(&sensor),
        flow_id,
        created: first_ns.div_euclid(1000),
        removed: removed_ns.div_euclid(1000).max(first_ns.div_euclid(1000)),
        open,
        close,
    })
}

/// Order-preserving map of a signed flow id onto u64 (the canonical order's ID part).
fn ikey(flow_id: i64) -> u64 {
    (flow_id as u64) ^ (1 << 63)
}

/// Runs `import-flows` in one transaction.
pub fn import_flows(
    wh: &mut Warehouse,
    data: &DataDir,
    o: &FlowOptions,
) -> Result<FlowReport, FlowError> {
    crate::import::migrate(wh)?;
    if !table_exists(wh)? {
        return Err(FlowError::NoTable);
    }
    let _lock = Lock::acquire(wh, data, crate::import::LOCK_NAME)?;
    let mut conds = vec!["1 = 1".to_string()];
    let mut params: Vec<Value> = Vec::new();
    if let Some(f) = o.from {
        conds.push("removed_ns >= ?".into());
        params.push(f.saturating_mul(1000).into());
    }
    if let Some(t) = o.to {
        conds.push("removed_ns <= ?".into());
        params.push(t.saturating_mul(1000).saturating_add(999).into());
    }
    if let Some(s) = &o.sensor {
        conds.push("sensor = ?".into());
        params.push(s.as_str().into());
    }
    let sql = format!(
        "SELECT sensor, flow_id, proto, orig_addr, orig_port, resp_addr, resp_port, first_ns, last_ns, removed_ns,
                orig_pkts, orig_bytes, resp_pkts, resp_bytes, vlan, orig_mac, resp_mac, eth_type, if_index
         FROM packets_flows WHERE {} ORDER BY sensor, flow_id",
        conds.join(" AND ")
    );
    let every = o.snapshot_every;
    wh.transaction(|tx| -> Result<FlowReport, FlowError> {
        let rows = tx.query(&sql, &params)?;
        let mut groups: BTreeMap<(String, &'static str), Vec<Flow>> = BTreeMap::new();
        for r in &rows.rows {
            let f = flow_from(r, o.dp_id)?;
            groups.entry((f.source.clone(), f.table)).or_default().push(f);
        }
        let mut report = FlowReport::default();
        for ((source, table), mut flows) in groups {
            let Some(def) = builtin(table) else { continue };
            if store::register_source(tx, &source)? {
                continue; // retired: no longer imports
            }
            store::ensure_table(tx, &def)?;
            let n = names(&def);
            let fid = store::file_id(tx, &source, FLOWS_FILE, 0, 0)?;
            let done: HashSet<i64> = tx
                .query(
                    &format!("SELECT ns_line FROM {} WHERE ns_file_id = ?", n.row),
                    &[fid.into()],
                )?
                .rows
                .iter()
                .filter_map(|r| r.first().and_then(Value::as_i64))
                .collect();
            let before = flows.len();
            flows.retain(|f| !done.contains(&f.flow_id));
            report.skipped += (before - flows.len()) as u64;
            if flows.is_empty() {
                continue;
            }
            flows.sort_by_key(|f| (f.created, ikey(f.flow_id)));
            report.merged += flows.len() as u64;
            report.entries.push(merge_group(tx, &def, &source, fid, &flows, every)?);
        }
        Ok(report)
    })
}

fn merge_group(
    tx: &mut dyn Sql,
    def: &TableDef,
    source: &str,
    file_id: i64,
    flows: &[Flow],
    every: u64,
) -> Result<LoadEntry, WarehouseError> {
    let n = names(def);
    let applied_max = tx.query_i64(
        "SELECT MAX(latest) FROM netstate_load_log WHERE source = ? AND table_name = ?",
        &[source.into(), def.name.as_str().into()],
    )?;
    let row_base = tx
        .query_i64(&format!("SELECT COALESCE(MAX(ns_id), 0) + 1 FROM {}", n.row), &[])?
        .unwrap_or(1);
    let ev_base = tx
        .query_i64(&format!("SELECT COALESCE(MAX(ns_id), 0) + 1 FROM {}", n.event), &[])?
        .unwrap_or(1);
    let mut rows = Vec::with_capacity(flows.len());
    let mut events = Vec::with_capacity(flows.len());
    let mut closes = Vec::with_capacity(flows.len());
    for (k, f) in flows.iter().enumerate() {
        let (rid, eid) = (row_base + k as i64, ev_base + k as i64);
        let order = |id: i64, created: i64| -> Vec<Value> {
            vec![
                id.into(),
                file_id.into(),
                Value::Int(ikey(f.flow_id) as i64), // bit-cast, read back the same way
                f.flow_id.into(),
                created.into(),
            ]
        };
        let mut r = order(rid, f.created);
        r.extend(f.open.iter().map(Cell::to_value));
        rows.push(r);
        let mut e = order(eid, f.removed);
        e.push("F".into());
        e.extend(f.close.iter().map(Cell::to_value));
        events.push(e);
        let mut c: Vec<Value> = vec![rid.into(), eid.into(), file_id.into(), f.removed.into()];
        c.extend(def.copies().iter().map(|&i| f.close.get(i).map_or(Value::Null, Cell::to_value)));
        closes.push(c);
    }
    let col_names: Vec<String> = def.columns.iter().map(|c| c.sql_name()).collect();
    let mut row_cols: Vec<&str> = ORDER_COLS.to_vec();
    row_cols.extend(col_names.iter().map(String::as_str));
    tx.bulk_insert(&n.row, &row_cols, &rows)?;
    let mut ev_cols: Vec<&str> = ORDER_COLS.to_vec();
    ev_cols.push("ns_type");
    ev_cols.extend(col_names.iter().map(String::as_str));
    tx.bulk_insert(&n.event, &ev_cols, &events)?;
    let copy_names: Vec<String> = def.copies().iter().map(|&i| def.columns[i].sql_name()).collect();
    let mut close_cols: Vec<&str> = vec!["row_id", "event_id", "ns_file_id", "deleted_dt"];
    close_cols.extend(copy_names.iter().map(String::as_str));
    tx.bulk_insert(&n.close, &close_cols, &closes)?;

    let oldest = flows.iter().map(|f| f.created).min();
    let latest = flows.iter().map(|f| f.created.max(f.removed)).max();
    let serial = tx
        .query_i64(
            "SELECT COUNT(*) FROM netstate_load_log WHERE source = ? AND table_name = ? AND sha256 IS NULL",
            &[source.into(), def.name.as_str().into()],
        )?
        .unwrap_or(0);
    let (first, last) = (oldest.unwrap_or(0), latest.unwrap_or(0));
    let mut entry = LoadEntry {
        seq: 0,
        source: source.into(),
        table: def.name.clone(),
        file: format!("{}-{first}-{last}-{serial}.flows", def.name),
        sha256: None,
        size: None,
        rows: (flows.len() * 2) as i64,
        opens: flows.len() as i64,
        closes: flows.len() as i64,
        close_alls: 0,
        oldest,
        latest,
        first,
        last,
        serial: serial as u64, // a count: never negative
        remerged_from: match (oldest, applied_max) {
            (Some(t0), Some(m)) if m >= t0 => Some(t0),
            _ => None,
        },
        snapshots_rebuilt: 0,
        snapshot_created: None,
        loaded_ns: Timestamp::now().nanos(),
    };
    let seq = loadlog::insert(tx, &entry)?;
    let done = snapshot::maintain(tx, &def.name, &n, oldest, every)?;
    entry.seq = seq;
    entry.snapshots_rebuilt = done.rebuilt as i64;
    entry.snapshot_created = done.created;
    tx.execute(
        "UPDATE netstate_load_log SET snapshots_rebuilt = ?, snapshot_created = ? WHERE seq = ?",
        &[entry.snapshots_rebuilt.into(), entry.snapshot_created.into(), seq.into()],
    )?;
    catalog::set_partition(
        tx,
        &Partition {
            kind: "netstate".into(),
            key: format!("{source}/{}", entry.file),
            processor: "import-flows".into(),
            code_version: crate::import::CODE_VERSION,
            state: PartitionState::Done,
            error: None,
        },
    )?;
    catalog::set_processor_version(tx, "netstate", "import-flows", crate::import::CODE_VERSION)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_follow_the_rule() {
        assert_eq!(source_for("eth0"), "rec-eth0");
        let odd = source_for("my sensor/α");
        assert!(odd.starts_with("rec-my_sensor__-"), "{odd}");
        assert!(odd.len() <= 64);
        let long = source_for(&"x".repeat(61));
        assert_eq!(long.len(), 4 + 43 + 1 + 16);
        assert_eq!(mac(Some("00:1b:21:3a:4f:01")), Cell::Int(116521586433));
        assert_eq!(mac(Some("zz")), Cell::Null);
        assert!(ikey(-1) < ikey(0) && ikey(0) < ikey(i64::MAX));
    }
}
