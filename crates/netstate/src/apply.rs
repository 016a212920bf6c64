//! Storing one file's lines and merging them into their (table, source) (spec §3.1 step 5,
//! §3.2, §3.3), inside the caller's transaction.
//!
//! The common case — a file newer than everything its source sent for the table — only
//! appends: its lines go through the in-memory open set and add close rows. A late file
//! (a line at or before the largest CREATED_DT already applied) re-merges the pair from
//! its oldest entry t0: the source's closes at or after t0 are deleted and every line
//! from t0 on is replayed with the new ones. Rows keep their identity; only closes change.

use std::collections::HashMap;

use vantage_warehouse::{Backend, Sql, Value, WarehouseError};

use crate::cell::Cell;
use crate::itemize::{itemize, FileOrder, Itemized};
use crate::merge::{self, Action, Item, OpenSet, OrderKey};
use crate::parse::{Line, LineType};
use crate::schema::{TableDef, TableKind};
use crate::store::{self, Names, ORDER_COLS};

/// Where a batch of lines comes from: its file's part of the canonical order.
#[derive(Debug, Clone)]
pub struct Batch<'a> {
    /// Source.
    pub source: &'a str,
    /// File name (origins are `SOURCE/FILE:LINE`).
    pub file: &'a str,
    /// The file's FIRST.
    pub first: i64,
    /// The file's SERIAL.
    pub serial: u64,
}

/// What applying a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Oldest CREATED_DT of the batch.
    pub oldest: Option<i64>,
    /// Latest CREATED_DT.
    pub latest: Option<i64>,
    /// Set when the pair was re-merged from this instant.
    pub remerged_from: Option<i64>,
    /// O, C and `*` lines.
    pub opens: i64,
    /// C lines.
    pub closes: i64,
    /// `*` lines.
    pub close_alls: i64,
    /// Rows closed by this batch's merge.
    pub rows_closed: usize,
}

/// Rows waiting for one bulk insert. Their value vectors are reused from chunk to chunk,
/// so a stored line costs no allocation of its own here.
struct Pending {
    rows: Vec<Vec<Value>>,
    len: usize,
    chunk: usize,
}

impl Pending {
    fn new(chunk: usize) -> Pending {
        Pending { rows: Vec::new(), len: 0, chunk }
    }

    /// An empty row to fill; the caller then checks [`Pending::full`].
    fn slot(&mut self) -> &mut Vec<Value> {
        if self.len == self.rows.len() {
            self.rows.push(Vec::new());
        }
        let row = &mut self.rows[self.len];
        row.clear();
        self.len += 1;
        row
    }

    /// True when a chunk is complete.
    fn full(&self) -> bool {
        self.len >= self.chunk
    }

    /// Inserts the rows here.
    fn flush(
        &mut self,
        db: &mut dyn Sql,
        table: &str,
        cols: &[&str],
    ) -> Result<(), WarehouseError> {
        if self.len > 0 {
            db.bulk_insert(table, cols, &self.rows[..self.len])?;
            self.len = 0;
        }
        Ok(())
    }

    /// Hands the rows over as a chunk, going on with `spare` (a chunk's vectors back from
    /// the warehouse, or empty).
    fn take(&mut self, to: Target, spare: Vec<Vec<Value>>) -> Option<Chunk> {
        if self.len == 0 {
            return None;
        }
        let len = std::mem::replace(&mut self.len, 0);
        Some(Chunk { to, rows: std::mem::replace(&mut self.rows, spare), len })
    }
}

/// Stored values on their way from the staging thread to the warehouse.
struct Chunk {
    /// Its table.
    to: Target,
    /// The values; the first `len` are the chunk's.
    rows: Vec<Vec<Value>>,
    len: usize,
}

/// Which of a table's trio a chunk goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Rows,
    Events,
    Closes,
}

/// What staging a file needs to know besides its lines.
struct Stage<'a> {
    file_id: i64,
    row_base: i64,
    event_base: i64,
    copies: &'a [usize],
    chunk: usize,
    backend: Backend,
}

/// What staging produced besides the chunks.
#[derive(Default)]
struct Staged {
    items: Vec<Item>,
    opens: i64,
    closes: i64,
    close_alls: i64,
    /// When staging was given the open set: the set after the merge, and the number of
    /// rows it closed (their close rows were sent as chunks).
    merged: Option<(OpenSet, usize)>,
}

/// On the staging thread: turns `lines` into stored values, sent in chunks to the
/// warehouse thread (which sends their vectors back for reuse); `itemized` are their
/// merge items, ids still counted in the file. When given `set`, the lines are merged
/// into it first, so that each row this file closes is sent with its close inline and,
/// where the row rebuilds it, with its C line absorbed ([`crate::store`]); then go the
/// close events still stored, the rows, and the closes of older rows as close rows.
/// Stops early when the warehouse thread stops taking chunks (it failed).
fn stage(
    mut lines: Vec<Line>,
    mut itemized: Itemized,
    st: &Stage<'_>,
    set: Option<OpenSet>,
    out: &std::sync::mpsc::SyncSender<Chunk>,
    spare: &std::sync::mpsc::Receiver<Vec<Vec<Value>>>,
) -> Staged {
    let started = std::time::Instant::now();
    itemized.offset(st.row_base, st.event_base);
    let Itemized { items, opens, events, closes, close_alls } = itemized;
    // Row base+k is the O line lines[opens[k]], event base+j the line lines[events[j]].
    let mut done =
        Staged { items, opens: opens.len() as i64, closes, close_alls, ..Staged::default() };
    // Rows this file opens and closes get their close inline; the others' go after.
    // Per inline close, the NULL cells of its C line when the row absorbs it.
    let mut inline: Vec<Option<(merge::Closed, Option<i64>)>> = Vec::new();
    let mut absorbed = vec![false; events.len()];
    let mut older = Vec::new();
    if let Some(mut set) = set {
        let closed = merge::apply(&mut set, std::mem::take(&mut done.items));
        done.merged = Some((set, closed.len()));
        let mut rows_closed_by = vec![0u32; events.len()];
        for c in &closed {
            if let Some(n) = slot(&mut rows_closed_by, c.event - st.event_base) {
                *n += 1;
            }
        }
        inline.resize_with(opens.len(), || None);
        for c in closed {
            let (k, j) = (c.row - st.row_base, c.event - st.event_base);
            let Some(place) = slot(&mut inline, k) else {
                older.push(c);
                continue;
            };
            let only_this = slot(&mut rows_closed_by, j).is_some_and(|n| *n == 1);
            let e = usize::try_from(j).ok().and_then(|j| events.get(j)).copied();
            let rebuilds = match e {
                Some(e) if only_this && lines[e].ty == LineType::Close => {
                    nulls_of_rebuilt(&lines[opens[k as usize]].cells, &lines[e].cells, st.copies)
                }
                _ => None,
            };
            if rebuilds.is_some() {
                absorbed[j as usize] = true;
            }
            *place = Some((c, rebuilds));
        }
    }
    let order_values = |id: i64, l: &Line| {
        [
            Value::Int(id),
            Value::Int(st.file_id),
            Value::Int(l.ikey as i64), // bit-cast, read back the same way
            Value::Int(l.line as i64),
            Value::Int(l.created),
        ]
    };
    let send = |p: &mut Pending, to: Target| -> bool {
        match p.take(to, spare.try_recv().unwrap_or_default()) {
            Some(c) => out.send(c).is_ok(),
            None => true,
        }
    };
    tracing::debug!(merge_ms = started.elapsed().as_secs_f64() * 1e3, "Lines merged.");
    let mut event_values = Pending::new(st.chunk);
    for (j, &e) in events.iter().enumerate() {
        if absorbed[j] {
            continue;
        }
        let l = &mut lines[e];
        let values = event_values.slot();
        values.extend(order_values(st.event_base + j as i64, l));
        values.push(l.ty.as_str().into());
        values.extend(std::mem::take(&mut l.cells).into_iter().map(Cell::into_value));
        if event_values.full() && !send(&mut event_values, Target::Events) {
            return done;
        }
    }
    if !send(&mut event_values, Target::Events) {
        return done;
    }
    let mut row_values = event_values;
    let mut inline = inline.into_iter();
    for (k, &o) in opens.iter().enumerate() {
        let id = st.row_base + k as i64;
        let close = inline.next().flatten();
        let l = &mut lines[o];
        let values = row_values.slot();
        values.extend(order_values(id, l));
        values.extend(std::mem::take(&mut l.cells).into_iter().map(Cell::into_value));
        match close {
            Some((c, rebuilds)) => {
                let event = c.event;
                close_values(values, c, st.copies.len());
                match rebuilds {
                    Some(nulls) => {
                        let e = &lines[events[(event - st.event_base) as usize]];
                        values.extend([-id, e.ikey as i64, e.line as i64, nulls].map(Value::Int));
                    }
                    None => values.extend([event.into(), Value::Null, Value::Null, Value::Null]),
                }
            }
            None => values.extend((0..5 + st.copies.len()).map(|_| Value::Null)),
        }
        if row_values.full() && !send(&mut row_values, Target::Rows) {
            return done;
        }
    }
    if !send(&mut row_values, Target::Rows) {
        return done;
    }
    sort_closes(&mut older, st.backend);
    let mut close_values = row_values;
    for c in older {
        close_row(close_values.slot(), c, st.file_id, st.copies.len());
        if close_values.full() && !send(&mut close_values, Target::Closes) {
            return done;
        }
    }
    send(&mut close_values, Target::Closes);
    done
}

/// The element `k` of `v`, when `k` is an index of it.
fn slot<T>(v: &mut [T], k: i64) -> Option<&mut T> {
    usize::try_from(k).ok().and_then(|k| v.get_mut(k))
}

/// When a C line is rebuilt from its row and inline close ([`crate::store`]): each of its
/// cells but the copy-on-close ones (which the close keeps) is the row's or NULL. Returns
/// the NULL cells as a bit per column (a column past bit 62 must equal the row's).
fn nulls_of_rebuilt(row: &[Cell], close: &[Cell], copies: &[usize]) -> Option<i64> {
    if row.len() != close.len() {
        return None;
    }
    let mut nulls = 0i64;
    for (i, (r, c)) in row.iter().zip(close).enumerate() {
        if r == c || copies.contains(&i) {
            continue;
        }
        if !c.is_null() || i > 62 {
            return None;
        }
        nulls |= 1 << i;
    }
    Some(nulls)
}

/// Puts the closes in the order they are stored in. SQLite keeps the close table in row
/// order (row_id is its rowid): inserted in row order, they append instead of splitting
/// pages all over it. PostgreSQL keeps a heap in insertion order, and its DELETED_DT
/// index is BRIN (block ranges): inserted in DELETED_DT order, each file's closes fill
/// blocks of a narrow time range, so the range scans of snapshots and `at` read those
/// blocks only. In row order every block range spanned the whole history, and each of
/// those scans read the whole table.
fn sort_closes(closed: &mut [merge::Closed], backend: Backend) {
    if backend == Backend::Postgres {
        closed.sort_unstable_by_key(|c| (c.deleted, c.row));
    } else {
        closed.sort_unstable_by_key(|c| c.row);
    }
}

/// Fills `v` with the close row of `c`, recorded by file `fid`: row, event, file, then
/// [`close_values`].
fn close_row(v: &mut Vec<Value>, c: merge::Closed, fid: i64, copies: usize) {
    v.extend([c.row.into(), c.event.into(), fid.into()]);
    close_values(v, c, copies);
}

/// Appends what a close records, in the order of a close row's tail and of a row's inline
/// close columns: DELETED_DT, then one value per copy-on-close column (NULL: keep the
/// row's).
fn close_values(v: &mut Vec<Value>, c: merge::Closed, copies: usize) {
    v.push(c.deleted.into());
    let mut cells = c.copies.into_iter();
    v.extend((0..copies).map(|_| cells.next().map_or(Value::Null, Cell::into_value)));
}

/// Stages `lines` on a thread of its own ([`stage`]) while this one stores the chunks,
/// so the warehouse stores one chunk while the next is built; returns what staging made.
fn store_lines(
    db: &mut dyn Sql,
    n: &Names,
    cols: [&[&str]; 3],
    lines: Vec<Line>,
    itemized: Itemized,
    st: &Stage<'_>,
    set: Option<OpenSet>,
) -> Result<Staged, WarehouseError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(1);
    let (spare_tx, spare_rx) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let staging = scope.spawn(move || stage(lines, itemized, st, set, &tx, &spare_rx));
        let stored = (|| {
            for c in rx.iter() {
                let (table, columns) = match c.to {
                    Target::Rows => (&n.row, cols[0]),
                    Target::Events => (&n.event, cols[1]),
                    Target::Closes => (&n.close, cols[2]),
                };
                db.bulk_insert(table, columns, &c.rows[..c.len])?;
                // Staging may be done: then the vectors are simply dropped.
                let _ = spare_tx.send(c.rows);
            }
            Ok(())
        })();
        // On failure staging finds the channel closed and stops.
        drop(rx);
        let staged = staging.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        stored.map(|()| staged)
    })
}

fn next_id(db: &mut dyn Sql, table: &str) -> Result<i64, WarehouseError> {
    Ok(db.query_i64(&format!("SELECT COALESCE(MAX(ns_id), 0) + 1 FROM {table}"), &[])?.unwrap_or(1))
}

/// The largest CREATED_DT applied for (table, source): the load log's latest entries
/// cover every stored line and are indexed, unlike a scan of the lines.
fn max_created(db: &mut dyn Sql, table: &str, source: &str) -> Result<Option<i64>, WarehouseError> {
    db.query_i64(
        "SELECT MAX(latest) FROM netstate_load_log WHERE source = ? AND table_name = ?",
        &[source.into(), table.into()],
    )
}

fn key_sql(def: &TableDef, idx: &[usize], alias: &str) -> String {
    idx.iter().map(|&i| format!(", {alias}{}", def.columns[i].sql_name())).collect()
}

fn order_from(r: &[Value]) -> OrderKey {
    let i = |k: usize| r.get(k).and_then(Value::as_i64).unwrap_or(0);
    OrderKey {
        created: i(6),
        first: i(2),
        // Stored bit-cast from u64.
        serial: i(3) as u64,
        file: r.get(1).and_then(Value::as_str).unwrap_or_default().into(),
        ikey: i(4) as u64,
        line: i(5) as u64,
    }
}

fn cells(r: &[Value], from: usize, n: usize) -> Vec<Cell> {
    (from..from + n).map(|k| r.get(k).map_or(Cell::Null, Cell::from_value)).collect()
}

/// Open rows of `source` created before `before` and without a close, from the database.
fn load_open(
    db: &mut dyn Sql,
    def: &TableDef,
    n: &Names,
    source: &str,
    before: i64,
) -> Result<OpenSet, WarehouseError> {
    let keys = def.keys();
    let rows = db.query(
        &format!(
            "SELECT r.ns_id{k} FROM {row} r JOIN netstate_file f ON f.id = r.ns_file_id
             LEFT JOIN {close} c ON c.row_id = r.ns_id
             WHERE f.source = ? AND r.created_dt < ? AND c.row_id IS NULL AND r.ns_deleted_dt IS NULL",
            k = key_sql(def, &keys, "r."),
            row = n.row,
            close = n.close
        ),
        &[source.into(), before.into()],
    )?;
    let mut open = OpenSet::default();
    for r in &rows.rows {
        open.insert(r.first().and_then(Value::as_i64).unwrap_or(0), cells(r, 1, keys.len()));
    }
    Ok(open)
}

/// `ids` as a PostgreSQL array literal, `{1,2}`.
fn pg_array(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 8 + 2);
    out.push('{');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push('}');
    out
}

/// Open rows of `source` now (no close), without reading the history: a row still open
/// and created by the table's newest snapshot is one of its members (a snapshot's members
/// are exactly the rows alive at its time), and a row closed since was closed after it,
/// so the open rows are those of the snapshot's alive set at +∞ (two range scans) that
/// belong to `source`. No join: PostgreSQL would plan the anti-join against the close
/// table as a scan of all of it. Without a snapshot, the whole table is read.
fn load_open_now(
    db: &mut dyn Sql,
    def: &TableDef,
    n: &Names,
    source: &str,
) -> Result<OpenSet, WarehouseError> {
    let Some(snap) = crate::snapshot::newest_at_or_before(db, &def.name, i64::MAX)? else {
        return load_open(db, def, n, source, i64::MAX);
    };
    let ids = crate::snapshot::alive_ids(db, n, Some(&snap), i64::MAX)?;
    let files: std::collections::HashSet<i64> = db
        .query("SELECT id FROM netstate_file WHERE source = ?", &[source.into()])?
        .rows
        .iter()
        .filter_map(|r| r.first().and_then(Value::as_i64))
        .collect();
    let keys = def.keys();
    let mut open = OpenSet::default();
    // PostgreSQL: the ids go as one text parameter, read as an array by an InitPlan the
    // planner cannot look into. An IN list of 2,000 placeholders (or an array it can see)
    // cost ~11 ms of planning each, per-element estimates, against ~2 ms to run; hidden,
    // the plan stays the primary-key index scan and takes ~1 ms. SQLite plans IN lists
    // cheaply: they stay.
    let (sql, chunk) = match db.backend() {
        Backend::Postgres => (
            format!(
                "SELECT r.ns_id, r.ns_file_id{k} FROM {row} r
                 WHERE r.ns_id = ANY(CAST((SELECT CAST(CAST(? AS TEXT) AS BIGINT[])) AS BIGINT[]))",
                k = key_sql(def, &keys, "r."),
                row = n.row
            ),
            100_000,
        ),
        Backend::Sqlite => (String::new(), 2000),
    };
    for chunk in ids.chunks(chunk) {
        let rows = match db.backend() {
            Backend::Postgres => db.query(&sql, &[pg_array(chunk).into()])?,
            Backend::Sqlite => {
                let marks = vec!["?"; chunk.len()].join(",");
                let params: Vec<Value> = chunk.iter().map(|&i| Value::Int(i)).collect();
                db.query(
                    &format!(
                        "SELECT r.ns_id, r.ns_file_id{k} FROM {row} r WHERE r.ns_id IN ({marks})",
                        k = key_sql(def, &keys, "r."),
                        row = n.row
                    ),
                    &params,
                )?
            }
        };
        for r in &rows.rows {
            if r.get(1).and_then(Value::as_i64).is_some_and(|f| files.contains(&f)) {
                open.insert(
                    r.first().and_then(Value::as_i64).unwrap_or(0),
                    cells(r, 2, keys.len()),
                );
            }
        }
    }
    Ok(open)
}

/// Stored lines of `source` from `t0` on, as merge items, with each close event's file
/// id (closes record it, so a later re-merge finds them by source).
fn load_replay(
    db: &mut dyn Sql,
    def: &TableDef,
    n: &Names,
    source: &str,
    t0: i64,
) -> Result<(Vec<Item>, HashMap<i64, i64>), WarehouseError> {
    let keys = def.keys();
    let copies = def.copies();
    let order = "f.source, f.file, f.first_dt, f.serial, x.ns_ikey, x.ns_line, x.created_dt";
    let mut items = Vec::new();
    let mut event_files = HashMap::new();
    let rows = db.query(
        &format!(
            "SELECT x.ns_id, {order}{k} FROM {row} x JOIN netstate_file f ON f.id = x.ns_file_id
             WHERE f.source = ? AND x.created_dt >= ?",
            k = key_sql(def, &keys, "x."),
            row = n.row
        ),
        &[source.into(), t0.into()],
    )?;
    for r in &rows.rows {
        let id = r.first().and_then(Value::as_i64).unwrap_or(0);
        let rest = r.get(1..).unwrap_or_default();
        items.push(Item {
            order: order_from(rest),
            action: Action::Open { id, keys: cells(r, 8, keys.len()) },
        });
    }
    let events = db.query(
        &format!(
            "SELECT x.ns_id, {order}, x.ns_type{k}{c}, x.ns_file_id FROM {event} x
             JOIN netstate_file f ON f.id = x.ns_file_id WHERE f.source = ? AND x.created_dt >= ?",
            k = key_sql(def, &keys, "x."),
            c = key_sql(def, &copies, "x."),
            event = n.event
        ),
        &[source.into(), t0.into()],
    )?;
    for r in &events.rows {
        let event = r.first().and_then(Value::as_i64).unwrap_or(0);
        let rest = r.get(1..).unwrap_or_default();
        if let Some(fid) = r.last().and_then(Value::as_i64) {
            event_files.insert(event, fid);
        }
        let action = if r.get(8).and_then(Value::as_str) == Some("*") {
            Action::CloseAll { event }
        } else {
            Action::Close {
                event,
                keys: cells(r, 9, keys.len()),
                copies: cells(r, 9 + keys.len(), copies.len()),
            }
        };
        items.push(Item { order: order_from(rest), action });
    }
    Ok((items, event_files))
}

/// Stores `lines` of one file and merges them, consuming them (each line's cells move
/// into its stored values, so a file's memory is reused as it is stored). `itemized`:
/// their merge items when built ahead ([`crate::itemize`]; `None`: built here). `open` is
/// the pair's open set cached by the caller for the run (`None`: read from the
/// database); it is left up to date.
pub(crate) fn apply_lines(
    db: &mut dyn Sql,
    def: &TableDef,
    n: &Names,
    batch: &Batch<'_>,
    lines: Vec<Line>,
    itemized: Option<Itemized>,
    open: &mut Option<OpenSet>,
) -> Result<Applied, WarehouseError> {
    let mut out = Applied {
        oldest: lines.iter().map(|l| l.created).min(),
        latest: lines.iter().map(|l| l.created).max(),
        ..Applied::default()
    };
    let applied_max = max_created(db, &def.name, batch.source)?;
    let file_id = store::file_id(db, batch.source, batch.file, batch.first, batch.serial)?;
    let late = matches!((out.oldest, applied_max), (Some(t0), Some(m)) if m >= t0);
    if late {
        out.remerged_from = out.oldest;
    }
    // Read before the batch's rows are stored, so they are not in it twice.
    let started = std::time::Instant::now();
    let preloaded = match (def.kind, late, open.is_none()) {
        (TableKind::State, false, true) => {
            Some(match crate::openstore::load(db, &def.name, batch.source)? {
                Some(set) => set,
                None => load_open_now(db, def, n, batch.source)?,
            })
        }
        _ => None,
    };
    let row_base = next_id(db, &n.row)?;
    let event_base = next_id(db, &n.event)?;
    let keys = def.keys();
    let copies = def.copies();
    let col_names: Vec<String> = def.columns.iter().map(|c| c.sql_name()).collect();
    let inline_cols = store::inline_close_cols(def);
    let mut row_cols: Vec<&str> = ORDER_COLS.to_vec();
    row_cols.extend(col_names.iter().map(String::as_str));
    row_cols.extend(inline_cols.iter().map(|(c, _)| c.as_str()));
    let mut event_cols: Vec<&str> = ORDER_COLS.to_vec();
    event_cols.push("ns_type");
    event_cols.extend(col_names.iter().map(String::as_str));
    // Inserted in chunks: a whole file's values at once would cost fresh pages per file;
    // PostgreSQL's COPY pays a round trip per chunk, so its chunks are larger.
    let chunk: usize =
        if db.backend() == vantage_warehouse::Backend::Postgres { 32_768 } else { 2048 };
    // In the common case the open set is known before the lines are stored, so staging
    // merges them too, while the warehouse stores the last chunks; a late file's merge
    // needs the lines stored first and is done below.
    let given = match (def.kind, late) {
        (TableKind::State, false) => Some(preloaded.or(open.take()).unwrap_or_default()),
        _ => None,
    };
    let mut close_cols: Vec<String> =
        vec!["row_id".into(), "event_id".into(), "ns_file_id".into(), "deleted_dt".into()];
    close_cols.extend(copies.iter().map(|&i| def.columns[i].sql_name()));
    let close_cols: Vec<&str> = close_cols.iter().map(String::as_str).collect();
    let itemized = itemized.unwrap_or_else(|| {
        let file = FileOrder { name: batch.file.into(), first: batch.first, serial: batch.serial };
        itemize(&lines, &file, &keys, &copies)
    });
    let st = Stage { file_id, row_base, event_base, copies: &copies, chunk, backend: db.backend() };
    let storing = std::time::Instant::now();
    let cols = [&row_cols[..], &event_cols[..], &close_cols[..]];
    let staged = store_lines(db, n, cols, lines, itemized, &st, given)?;
    tracing::debug!(
        file = batch.file,
        open_set_ms = (storing - started).as_secs_f64() * 1e3,
        store_ms = storing.elapsed().as_secs_f64() * 1e3,
        "Lines stored."
    );
    out.opens = staged.opens;
    out.closes = staged.closes;
    out.close_alls = staged.close_alls;
    if def.kind == TableKind::Event {
        summarize_time_indexes(db, n, false)?;
        return Ok(out);
    }
    let set = match staged.merged {
        Some((set, count)) => {
            out.rows_closed = count;
            set
        }
        None => {
            // Only a late file gets here, and it has an oldest entry: the re-merge's start.
            let t0 = out.oldest.unwrap_or(i64::MIN);
            let source_files = "ns_file_id IN (SELECT id FROM netstate_file WHERE source = ?)";
            db.execute(
                &format!("DELETE FROM {} WHERE deleted_dt >= ? AND {source_files}", n.close),
                &[t0.into(), batch.source.into()],
            )?;
            // Inline closes are their row's file's, so of the same source; the replay
            // reads their absorbed lines from the close events and writes the closes it
            // finds again, to the close table.
            store::restore_absorbed_events(db, def, batch.source, t0)?;
            let cleared: String = inline_cols
                .iter()
                .map(|(c, _)| format!("{c} = NULL"))
                .collect::<Vec<_>>()
                .join(", ");
            db.execute(
                &format!(
                    "UPDATE {} SET {cleared} WHERE ns_deleted_dt >= ? AND {source_files}",
                    n.row
                ),
                &[t0.into(), batch.source.into()],
            )?;
            let mut set = load_open(db, def, n, batch.source, t0)?;
            let (mut replay, event_files) = load_replay(db, def, n, batch.source, t0)?;
            // The batch's own lines were just stored: keep the in-memory items instead.
            replay.retain(|it| match &it.action {
                Action::Open { id, .. } => *id < row_base,
                Action::Close { event, .. } | Action::CloseAll { event } => *event < event_base,
            });
            let mut items = staged.items;
            items.extend(replay);
            let mut closed = merge::apply(&mut set, items);
            out.rows_closed = closed.len();
            sort_closes(&mut closed, db.backend());
            let mut close_values = Pending::new(chunk);
            for c in closed {
                let fid = event_files.get(&c.event).copied().unwrap_or(file_id);
                close_row(close_values.slot(), c, fid, copies.len());
                if close_values.full() {
                    close_values.flush(db, &n.close, &close_cols)?;
                }
            }
            close_values.flush(db, &n.close, &close_cols)?;
            set
        }
    };
    summarize_time_indexes(db, n, true)?;
    *open = Some(set);
    Ok(out)
}

/// On PostgreSQL, brings the BRIN indexes of CREATED_DT and DELETED_DT (inline and in
/// the close table) up to date with the rows just stored. A BRIN index leaves block ranges filled after its last summary
/// unsummarized, and a range scan must read every such block: without this, each
/// snapshot's and `at`'s range scans read the whole history appended since the last
/// VACUUM. Summarizing reads only the new ranges, inside the file's transaction.
fn summarize_time_indexes(db: &mut dyn Sql, n: &Names, closes: bool) -> Result<(), WarehouseError> {
    if db.backend() != vantage_warehouse::Backend::Postgres {
        return Ok(());
    }
    let mut sql = format!("SELECT brin_summarize_new_values('{}_created'::regclass)", n.row);
    if closes {
        sql.push_str(&format!(
            " + brin_summarize_new_values('{}_deleted'::regclass) + brin_summarize_new_values('{}_deleted'::regclass)",
            n.row, n.close
        ));
    }
    db.query_i64(&sql, &[])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_arrays_are_postgres_array_literals() {
        assert_eq!(pg_array(&[1, -2, 300]), "{1,-2,300}");
        assert_eq!(pg_array(&[]), "{}");
    }
}
