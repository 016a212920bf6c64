//! The load log (spec §3.4 "Load log"): one entry per loaded file, unique (source, name),
//! in load order. It is the importer's position: a file whose (source, name, sha256) is
//! in it is done, so a crash between commit and move only costs the move.

use serde_json::json;
use vantage_warehouse::{Sql, Value, WarehouseError};

/// One load-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadEntry {
    /// Load order, from 1.
    pub seq: i64,
    /// Source.
    pub source: String,
    /// Table (NOX name).
    pub table: String,
    /// File name.
    pub file: String,
    /// SHA-256 of the bytes (NULL for recorded flows).
    pub sha256: Option<String>,
    /// Size in bytes (NULL for recorded flows).
    pub size: Option<i64>,
    /// Records.
    pub rows: i64,
    /// O records.
    pub opens: i64,
    /// C records.
    pub closes: i64,
    /// `*` records.
    pub close_alls: i64,
    /// Oldest CREATED_DT (NULL for a header-only file).
    pub oldest: Option<i64>,
    /// Latest CREATED_DT.
    pub latest: Option<i64>,
    /// FIRST of the name.
    pub first: i64,
    /// LAST of the name.
    pub last: i64,
    /// SERIAL of the name.
    pub serial: u64,
    /// Set when the (table, source) was re-merged from this instant.
    pub remerged_from: Option<i64>,
    /// Snapshots rebuilt in this file's transaction.
    pub snapshots_rebuilt: i64,
    /// The snapshot taken in it, if any.
    pub snapshot_created: Option<i64>,
    /// Wall clock of the load, ns.
    pub loaded_ns: i64,
}

const COLS: &str = "seq, source, table_name, file, sha256, size, rows_total, opens, closes, close_alls, \
    oldest, latest, first_dt, last_dt, serial, remerged_from, snapshots_rebuilt, snapshot_created, loaded_ns";

impl LoadEntry {
    /// The JSON object, field names as the vectors' `expected.json`; `wall_clock` adds
    /// `loaded_at` (left out of canonical dumps).
    pub fn to_json(&self, wall_clock: bool) -> serde_json::Value {
        let mut v = json!({
            "seq": self.seq, "source": self.source, "table": self.table, "file": self.file,
            "sha256": self.sha256, "size": self.size, "rows": self.rows, "opens": self.opens,
            "closes": self.closes, "close_alls": self.close_alls, "oldest": self.oldest,
            "latest": self.latest, "first": self.first, "last": self.last, "serial": self.serial,
            "remerged_from": self.remerged_from, "snapshots_rebuilt": self.snapshots_rebuilt,
            "snapshot_created": self.snapshot_created,
        });
        if wall_clock {
            v["loaded_at"] = vantage_core::Timestamp(self.loaded_ns).to_rfc3339().into();
        }
        v
    }

    fn from_row(r: &[Value]) -> LoadEntry {
        let i = |k: usize| r.get(k).and_then(Value::as_i64);
        let s = |k: usize| r.get(k).and_then(Value::as_str).map(str::to_string);
        LoadEntry {
            seq: i(0).unwrap_or(0),
            source: s(1).unwrap_or_default(),
            table: s(2).unwrap_or_default(),
            file: s(3).unwrap_or_default(),
            sha256: s(4),
            size: i(5),
            rows: i(6).unwrap_or(0),
            opens: i(7).unwrap_or(0),
            closes: i(8).unwrap_or(0),
            close_alls: i(9).unwrap_or(0),
            oldest: i(10),
            latest: i(11),
            first: i(12).unwrap_or(0),
            last: i(13).unwrap_or(0),
            // Stored bit-cast from u64 by `insert`.
            serial: i(14).unwrap_or(0) as u64,
            remerged_from: i(15),
            snapshots_rebuilt: i(16).unwrap_or(0),
            snapshot_created: i(17),
            loaded_ns: i(18).unwrap_or(0),
        }
    }
}

/// Appends `e` with the next sequence number; returns it.
pub fn insert(db: &mut dyn Sql, e: &LoadEntry) -> Result<i64, WarehouseError> {
    let seq =
        db.query_i64("SELECT COALESCE(MAX(seq), 0) + 1 FROM netstate_load_log", &[])?.unwrap_or(1);
    db.execute(
        &format!("INSERT INTO netstate_load_log ({COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        &[
            seq.into(),
            e.source.as_str().into(),
            e.table.as_str().into(),
            e.file.as_str().into(),
            e.sha256.clone().into(),
            e.size.into(),
            e.rows.into(),
            e.opens.into(),
            e.closes.into(),
            e.close_alls.into(),
            e.oldest.into(),
            e.latest.into(),
            e.first.into(),
            e.last.into(),
            Value::Int(e.serial as i64),
            e.remerged_from.into(),
            e.snapshots_rebuilt.into(),
            e.snapshot_created.into(),
            e.loaded_ns.into(),
        ],
    )?;
    Ok(seq)
}

/// The entry of (source, file), if loaded.
pub fn find(
    db: &mut dyn Sql,
    source: &str,
    file: &str,
) -> Result<Option<LoadEntry>, WarehouseError> {
    let rows = db.query(
        &format!("SELECT {COLS} FROM netstate_load_log WHERE source = ? AND file = ?"),
        &[source.into(), file.into()],
    )?;
    Ok(rows.rows.first().map(|r| LoadEntry::from_row(r)))
}

/// Every entry in load order.
pub fn all(db: &mut dyn Sql) -> Result<Vec<LoadEntry>, WarehouseError> {
    let rows = db.query(&format!("SELECT {COLS} FROM netstate_load_log ORDER BY seq"), &[])?;
    Ok(rows.rows.iter().map(|r| LoadEntry::from_row(r)).collect())
}
