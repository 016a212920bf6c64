//! Temporal queries (spec §4): `at`, `changes`, `replay`, `next`/`prev`, `range`, the load
//! log, snapshots and the canonical dump, on either backend.
//!
//! Fast `at`: the newest snapshot at or before t, minus its members closed by t, plus rows
//! created since and still open, fetched by id in batches; cost ∝ alive set + rows created
//! since the snapshot, not the history.

use serde_json::{json, Map, Value as Json};
use vantage_warehouse::{Sql, Value, WarehouseError};

use crate::cell::Cell;
use crate::loadlog::{self, LoadEntry};
use crate::merge::OrderKey;
use crate::schema::{TableDef, TableKind};
use crate::snapshot;
use crate::store::{self, names, Names};
use crate::tables;
use crate::time::format_us;

/// A query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The table is not defined.
    #[error("unknown table {0}; `vantage netstate tables` lists them")]
    UnknownTable(String),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

impl vantage_core::HasExit for QueryError {
    fn exit(&self) -> vantage_core::Exit {
        match self {
            QueryError::UnknownTable(_) => vantage_core::Exit::Usage,
            QueryError::Warehouse(_) => vantage_core::Exit::Storage,
        }
    }
}

/// One row as the queries return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowOut {
    /// Table (NOX name).
    pub table: String,
    /// Warehouse row id.
    pub id: i64,
    /// Source.
    pub source: String,
    /// `SOURCE/FILE:LINE`.
    pub origin: String,
    /// CREATED_DT.
    pub created: i64,
    /// DELETED_DT, `None` while open.
    pub deleted: Option<i64>,
    /// Origin of the closing line.
    pub closed_by: Option<String>,
    /// Values with copies applied, in column order.
    pub values: Vec<Cell>,
    /// Canonical order of the opening line.
    pub order: OrderKey,
    /// Canonical order of the closing line.
    pub close_order: Option<OrderKey>,
}

impl RowOut {
    /// The spec's row object; `with_id` false leaves out the storage id (canonical dump).
    pub fn to_json(&self, def: &TableDef, with_id: bool) -> Json {
        let mut values = Map::new();
        for (c, v) in def.columns.iter().zip(&self.values) {
            values.insert(c.name.clone(), v.to_json(c.ty));
        }
        let mut o = json!({
            "table": self.table, "source": self.source, "origin": self.origin,
            "created": self.created, "deleted": self.deleted, "closed_by": self.closed_by,
            "values": values,
        });
        if with_id {
            o["id"] = self.id.into();
        }
        o
    }

    /// Cells for the table format: times RFC 3339, MACs, IPv4, DP ids as the columns say.
    pub fn to_display(&self, def: &TableDef) -> Vec<String> {
        let mut out = vec![
            self.origin.clone(),
            format_us(self.created),
            self.deleted.map(format_us).unwrap_or_default(),
        ];
        out.extend(
            def.columns.iter().zip(&self.values).map(|(c, v)| v.to_display(c.ty, c.display)),
        );
        out
    }

    fn sort_key(&self) -> (i64, &[u8], &OrderKey) {
        (self.created, self.source.as_bytes(), &self.order)
    }
}

/// The table-format header matching [`RowOut::to_display`].
pub fn display_header(def: &TableDef) -> Vec<String> {
    let mut h = vec!["ORIGIN".to_string(), "CREATED_DT".into(), "DELETED_DT".into()];
    h.extend(def.columns.iter().map(|c| c.name.clone()));
    h
}

/// The definition of `table`, or [`QueryError::UnknownTable`].
pub fn def(db: &mut dyn Sql, table: &str) -> Result<TableDef, QueryError> {
    crate::import::migrate_sql(db)?;
    tables::lookup(db, table)?.ok_or_else(|| QueryError::UnknownTable(table.to_string()))
}

/// `netstate_file`, read once per query: rows carry only a file id.
#[derive(Debug, Default)]
struct Files(std::collections::HashMap<i64, (String, std::sync::Arc<str>, i64, u64)>);

impl Files {
    fn load(db: &mut dyn Sql) -> Result<Files, WarehouseError> {
        let rows = db.query("SELECT id, source, file, first_dt, serial FROM netstate_file", &[])?;
        Ok(Files(
            rows.rows
                .iter()
                .map(|r| {
                    let i = |k: usize| r.get(k).and_then(Value::as_i64).unwrap_or(0);
                    let s = |k: usize| r.get(k).and_then(Value::as_str).unwrap_or_default();
                    // SERIAL is stored bit-cast from u64.
                    (i(0), (s(1).to_string(), s(2).into(), i(3), i(4) as u64))
                })
                .collect(),
        ))
    }

    /// (source, order key) of a line from its file id, ID-or-line, line and CREATED_DT.
    fn order(&self, fid: i64, ikey: i64, line: i64, created: i64) -> (&str, OrderKey) {
        let (source, file, first, serial) = match self.0.get(&fid) {
            Some((s, f, first, serial)) => (s.as_str(), f.clone(), *first, *serial),
            None => ("?", std::sync::Arc::from("?"), 0, 0),
        };
        // ikey and line are stored bit-cast from u64.
        (source, OrderKey { created, first, serial, file, ikey: ikey as u64, line: line as u64 })
    }
}

/// Rows of `def` matching `cond` (over aliases r, c, e), unordered.
fn fetch(
    db: &mut dyn Sql,
    files: &Files,
    def: &TableDef,
    n: &Names,
    cond: &str,
    params: &[Value],
) -> Result<Vec<RowOut>, WarehouseError> {
    let cols: String = def.columns.iter().map(|c| format!(", r.{}", c.sql_name())).collect();
    let copies: Vec<usize> = def.copies();
    // A row's close is its close table row's or its inline one (crate::store).
    let copy_cols: String = copies
        .iter()
        .map(|&i| {
            let n = def.columns[i].sql_name();
            format!(", COALESCE(c.{n}, r.ns_closed_{n})")
        })
        .collect();
    let sql = format!(
        "SELECT r.ns_id, r.ns_file_id, r.ns_ikey, r.ns_line, r.created_dt,
                COALESCE(c.deleted_dt, r.ns_deleted_dt), COALESCE(c.ns_file_id, r.ns_file_id),
                COALESCE(e.ns_ikey, r.ns_close_ikey), COALESCE(e.ns_line, r.ns_close_line){cols}{copy_cols}
         FROM {row} r LEFT JOIN {close} c ON c.row_id = r.ns_id
             LEFT JOIN {event} e ON r.ns_close_line IS NULL AND e.ns_id = COALESCE(c.event_id, r.ns_close_event)
         WHERE {cond}",
        row = n.row,
        close = n.close,
        event = n.event
    );
    let rows = db.query(&sql, params)?;
    let ncols = def.columns.len();
    // A close row holds its event's file and time (DELETED_DT = the event's CREATED_DT),
    // so only the event's ID and line come from the join, or from the row when it
    // absorbed its close event (crate::store).
    const V: usize = 9;
    Ok(rows
        .rows
        .iter()
        .map(|r| {
            let i = |k: usize| r.get(k).and_then(Value::as_i64).unwrap_or(0);
            let (source, order) = files.order(i(1), i(2), i(3), i(4));
            let source = source.to_string();
            // Lines are stored bit-cast; recorded flows use signed flow ids there.
            let origin = format!("{source}/{}:{}", order.file, order.line as i64);
            let mut values: Vec<Cell> =
                (V..V + ncols).map(|k| r.get(k).map_or(Cell::Null, Cell::from_value)).collect();
            for (j, &ci) in copies.iter().enumerate() {
                let copied = r.get(V + ncols + j).map_or(Cell::Null, Cell::from_value);
                if !copied.is_null() {
                    values[ci] = copied;
                }
            }
            let (deleted, closed_by, close_order) = match def.kind {
                TableKind::Event => {
                    (Some(order.created), Some(origin.clone()), Some(order.clone()))
                }
                TableKind::State => match r.get(5).and_then(Value::as_i64) {
                    Some(d) => {
                        let (csource, co) = files.order(i(6), i(7), i(8), d);
                        let by = format!("{csource}/{}:{}", co.file, co.line as i64);
                        (Some(d), Some(by), Some(co))
                    }
                    None => (None, None, None),
                },
            };
            RowOut {
                table: def.name.clone(),
                id: i(0),
                source,
                origin,
                created: order.created,
                deleted,
                closed_by,
                values,
                order,
                close_order,
            }
        })
        .collect())
}

/// Ids per fetch statement (one `IN` list).
const FETCH_CHUNK: usize = 2000;

fn fetch_ids(
    db: &mut dyn Sql,
    files: &Files,
    def: &TableDef,
    n: &Names,
    ids: &[i64],
) -> Result<Vec<RowOut>, WarehouseError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(FETCH_CHUNK) {
        let marks = vec!["?"; chunk.len()].join(",");
        let params: Vec<Value> = chunk.iter().map(|&i| Value::Int(i)).collect();
        out.extend(fetch(db, files, def, n, &format!("r.ns_id IN ({marks})"), &params)?);
    }
    Ok(out)
}

fn sort_rows(rows: &mut [RowOut]) {
    rows.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

fn has_storage(db: &mut dyn Sql, def: &TableDef) -> Result<bool, WarehouseError> {
    store::table_exists(db, &def.name)
}

/// at(T, t): rows alive at `t` (CREATED_DT ≤ t < DELETED_DT), ordered by (CREATED_DT,
/// source, canonical order); only `source`'s when given.
pub fn at(
    db: &mut dyn Sql,
    table: &str,
    t: i64,
    source: Option<&str>,
) -> Result<Vec<RowOut>, QueryError> {
    let def = def(db, table)?;
    if def.kind == TableKind::Event || !has_storage(db, &def)? {
        return Ok(Vec::new());
    }
    let n = names(&def);
    if db.backend() == vantage_warehouse::Backend::Sqlite {
        // A long-lived reader (the server, repeated queries) keeps the pages of recent
        // instants in its own cache instead of re-reading them through the OS per query.
        db.batch("PRAGMA cache_size = -65536")?;
        // Pages read through a memory map instead of a read(2) copy each: an answer
        // touches pages all over the history, most of them in the OS cache already.
        db.batch("PRAGMA mmap_size = 17179869184")?;
    }
    let base = snapshot::newest_at_or_before(db, &def.name, t)?;
    let ids = snapshot::alive_ids(db, &n, base.as_ref(), t)?;
    let files = Files::load(db)?;
    let mut rows = fetch_ids(db, &files, &def, &n, &ids)?;
    if let Some(s) = source {
        rows.retain(|r| r.source == s);
    }
    sort_rows(&mut rows);
    Ok(rows)
}

/// Every row of `table` in `at` order.
pub fn all_rows(db: &mut dyn Sql, table: &str) -> Result<Vec<RowOut>, QueryError> {
    let def = def(db, table)?;
    if !has_storage(db, &def)? {
        return Ok(Vec::new());
    }
    let files = Files::load(db)?;
    let mut rows = fetch(db, &files, &def, &names(&def), "1 = 1", &[])?;
    sort_rows(&mut rows);
    Ok(rows)
}

/// Open or close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// A row's CREATED_DT.
    Open,
    /// A row's finite DELETED_DT.
    Close,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// When.
    pub time: i64,
    /// Open or close.
    pub kind: ChangeKind,
    /// Origin of the causing line.
    pub cause: String,
    /// The row.
    pub row: RowOut,
    cause_order: OrderKey,
}

impl Change {
    /// `{"time","table","kind","cause","row"}`.
    pub fn to_json(&self, def: &TableDef) -> Json {
        json!({
            "time": self.time, "table": self.row.table,
            "kind": if self.kind == ChangeKind::Open { "open" } else { "close" },
            "cause": self.cause, "row": self.row.to_json(def, true),
        })
    }
}

fn change_order(a: &Change, b: &Change) -> std::cmp::Ordering {
    (a.time, a.row.table.as_bytes(), a.row.source.as_bytes(), &a.cause_order, a.kind, &a.row.order)
        .cmp(&(
            b.time,
            b.row.table.as_bytes(),
            b.row.source.as_bytes(),
            &b.cause_order,
            b.kind,
            &b.row.order,
        ))
}

/// changes(T…, t1, t2): every open and close with t1 < time ≤ t2, ordered by time,
/// table, source, canonical order of the causing line, open before close, row order.
pub fn changes(
    db: &mut dyn Sql,
    tables: &[String],
    t1: i64,
    t2: i64,
) -> Result<Vec<Change>, QueryError> {
    let mut out = Vec::new();
    for table in tables {
        let def = def(db, table)?;
        if !has_storage(db, &def)? {
            continue;
        }
        let n = names(&def);
        let range = [Value::Int(t1), Value::Int(t2)];
        let files = Files::load(db)?;
        for row in fetch(db, &files, &def, &n, "r.created_dt > ? AND r.created_dt <= ?", &range)? {
            if def.kind == TableKind::Event {
                out.push(Change {
                    time: row.created,
                    kind: ChangeKind::Close,
                    cause: row.origin.clone(),
                    cause_order: row.order.clone(),
                    row: row.clone(),
                });
            }
            out.push(Change {
                time: row.created,
                kind: ChangeKind::Open,
                cause: row.origin.clone(),
                cause_order: row.order.clone(),
                row,
            });
        }
        let closes: &[&str] = match def.kind {
            TableKind::State => &[
                "c.deleted_dt > ? AND c.deleted_dt <= ?",
                "r.ns_deleted_dt > ? AND r.ns_deleted_dt <= ?",
            ],
            TableKind::Event => &[],
        };
        for cond in closes {
            for row in fetch(db, &files, &def, &n, cond, &range)? {
                let (Some(time), Some(cause), Some(cause_order)) =
                    (row.deleted, row.closed_by.clone(), row.close_order.clone())
                else {
                    continue;
                };
                out.push(Change { time, kind: ChangeKind::Close, cause, cause_order, row });
            }
        }
    }
    out.sort_by(change_order);
    Ok(out)
}

/// Which way [`nearest`] looks from its instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Toward {
    /// The least time strictly after.
    Later,
    /// The greatest time strictly before.
    Earlier,
}

/// Bounds of every CREATED_DT and DELETED_DT of `table`: each is the CREATED_DT of a
/// line (or a recorded flow's removal), and the load log holds every load's oldest and
/// latest, so no scan of the table is needed.
fn time_bounds(db: &mut dyn Sql, table: &str) -> Result<Option<(i64, i64)>, WarehouseError> {
    let rows = db.query(
        "SELECT MIN(oldest), MAX(latest) FROM netstate_load_log WHERE table_name = ?",
        &[table.into()],
    )?;
    let r = rows.rows.first();
    let get = |k: usize| r.and_then(|r| r.get(k)).and_then(Value::as_i64);
    Ok(get(0).zip(get(1)))
}

/// The nearest value of `col` in `table` strictly after or before `t`, searched in
/// windows growing fourfold from one second: each window is one range scan of the time
/// index (a B-tree on SQLite, BRIN on PostgreSQL, where MIN/MAX over the whole table
/// would read it all), and the search stops at the table's time bounds.
fn nearest(
    db: &mut dyn Sql,
    table: &str,
    col: &str,
    t: i64,
    toward: Toward,
    (lo, hi): (i64, i64),
) -> Result<Option<i64>, WarehouseError> {
    let (agg, cond) = match toward {
        Toward::Later => ("MIN", format!("{col} > ? AND {col} <= ?")),
        Toward::Earlier => ("MAX", format!("{col} >= ? AND {col} < ?")),
    };
    let sql = format!("SELECT {agg}({col}) FROM {table} WHERE {cond}");
    // Nothing lies outside the bounds: start at them.
    let mut edge = match toward {
        Toward::Later => t.max(lo.saturating_sub(1)),
        Toward::Earlier => t.min(hi.saturating_add(1)),
    };
    let mut width: i64 = 1_000_000;
    loop {
        let (from, to, done) = match toward {
            Toward::Later => {
                let to = edge.saturating_add(width);
                (edge, to, to >= hi)
            }
            Toward::Earlier => {
                let from = edge.saturating_sub(width);
                (from, edge, from <= lo)
            }
        };
        if let Some(v) = db.query_i64(&sql, &[from.into(), to.into()])? {
            return Ok(Some(v));
        }
        if done {
            return Ok(None);
        }
        edge = if toward == Toward::Later { to } else { from };
        width = width.saturating_mul(4);
    }
}

fn extreme(
    db: &mut dyn Sql,
    tables: &[String],
    toward: Toward,
    t: i64,
) -> Result<Option<i64>, QueryError> {
    let mut best: Option<i64> = None;
    for table in tables {
        let def = def(db, table)?;
        if !has_storage(db, &def)? {
            continue;
        }
        let Some(bounds) = time_bounds(db, &def.name)? else { continue };
        let n = names(&def);
        let mut found = vec![nearest(db, &n.row, "created_dt", t, toward, bounds)?];
        if def.kind == TableKind::State {
            found.push(nearest(db, &n.close, "deleted_dt", t, toward, bounds)?);
            found.push(nearest(db, &n.row, "ns_deleted_dt", t, toward, bounds)?);
        }
        for v in found.into_iter().flatten() {
            best = Some(match best {
                None => v,
                Some(b) if toward == Toward::Later => b.min(v),
                Some(b) => b.max(v),
            });
        }
    }
    Ok(best)
}

/// The nearest CREATED_DT or finite DELETED_DT strictly after `t`.
pub fn next_change(db: &mut dyn Sql, tables: &[String], t: i64) -> Result<Option<i64>, QueryError> {
    extreme(db, tables, Toward::Later, t)
}

/// The nearest CREATED_DT or finite DELETED_DT strictly before `t`.
pub fn prev_change(db: &mut dyn Sql, tables: &[String], t: i64) -> Result<Option<i64>, QueryError> {
    extreme(db, tables, Toward::Earlier, t)
}

/// range(T…): earliest CREATED_DT; latest CREATED_DT or finite DELETED_DT.
pub fn range(
    db: &mut dyn Sql,
    tables: &[String],
) -> Result<(Option<i64>, Option<i64>), QueryError> {
    let mut earliest: Option<i64> = None;
    for table in tables {
        let def = def(db, table)?;
        if !has_storage(db, &def)? {
            continue;
        }
        let Some(bounds) = time_bounds(db, &def.name)? else { continue };
        let from = bounds.0.saturating_sub(1);
        let v = nearest(db, &names(&def).row, "created_dt", from, Toward::Later, bounds)?;
        earliest = match (earliest, v) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok((earliest, extreme(db, tables, Toward::Earlier, i64::MAX)?))
}

/// One replay item: the state at FROM (or after a change time), or a change.
#[derive(Debug, Clone)]
pub enum ReplayItem {
    /// `{"kind":"state","time","row"}`.
    State {
        /// The instant.
        time: i64,
        /// A row alive then.
        row: RowOut,
    },
    /// A change.
    Change(Change),
}

/// How much state `replay` interleaves with the changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayState {
    /// Changes only.
    None,
    /// The state at FROM first.
    Initial,
    /// The full state after each change time too (api.py's loop).
    Every,
}

/// replay(T…, from, to): changes in order, with state as `mode` asks.
pub fn replay(
    db: &mut dyn Sql,
    tables: &[String],
    from: i64,
    to: i64,
    mode: ReplayState,
) -> Result<Vec<ReplayItem>, QueryError> {
    let mut out = Vec::new();
    let state = |db: &mut dyn Sql, t: i64, out: &mut Vec<ReplayItem>| -> Result<(), QueryError> {
        for table in tables {
            for row in at(db, table, t, None)? {
                out.push(ReplayItem::State { time: t, row });
            }
        }
        Ok(())
    };
    if mode != ReplayState::None {
        state(db, from, &mut out)?;
    }
    let all = changes(db, tables, from, to)?;
    let mut i = 0;
    while i < all.len() {
        let time = all[i].time;
        while i < all.len() && all[i].time == time {
            out.push(ReplayItem::Change(all[i].clone()));
            i += 1;
        }
        if mode == ReplayState::Every {
            state(db, time, &mut out)?;
        }
    }
    Ok(out)
}

/// The load log in load order.
pub fn log(db: &mut dyn Sql) -> Result<Vec<LoadEntry>, QueryError> {
    crate::import::migrate_sql(db)?;
    Ok(loadlog::all(db)?)
}

/// Snapshots of `table`: time and members in `at` order.
pub fn snapshots(db: &mut dyn Sql, table: &str) -> Result<Vec<(i64, Vec<RowOut>)>, QueryError> {
    let def = def(db, table)?;
    if !has_storage(db, &def)? {
        return Ok(Vec::new());
    }
    let n = names(&def);
    let files = Files::load(db)?;
    let mut out = Vec::new();
    for s in snapshot::list(db, &def.name)? {
        let mut rows = fetch_ids(db, &files, &def, &n, &s.members)?;
        sort_rows(&mut rows);
        out.push((s.ts, rows));
    }
    Ok(out)
}

/// `dump --canonical`: every row (no storage ids), the load log without wall-clock
/// fields, snapshots as member origins; one JSON object per line. Two warehouses hold
/// the same data iff their dumps are byte-equal.
pub fn dump_canonical(db: &mut dyn Sql) -> Result<String, QueryError> {
    let mut out = String::new();
    let mut defs = tables::all(db)?;
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    for def in &defs {
        for row in all_rows(db, &def.name)? {
            let mut o = row.to_json(def, false);
            o["kind"] = "row".into();
            out.push_str(&o.to_string());
            out.push('\n');
        }
    }
    for e in log(db)? {
        let mut o = e.to_json(false);
        o["kind"] = "load_log".into();
        out.push_str(&o.to_string());
        out.push('\n');
    }
    for def in &defs {
        for (ts, rows) in snapshots(db, &def.name)? {
            let members: Vec<&str> = rows.iter().map(|r| r.origin.as_str()).collect();
            out.push_str(
                &json!({"kind": "snapshot", "table": def.name, "ts": ts, "members": members})
                    .to_string(),
            );
            out.push('\n');
        }
    }
    Ok(out)
}
