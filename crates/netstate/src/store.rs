//! Storage (spec §5): the shared tables as migrations, and per controller table the
//! insert-only trio `netstate_<t>_row`, `netstate_<t>_close_event`, `netstate_<t>_close`
//! plus the view `netstate_<t>`, created on first use inside the caller's transaction.
//!
//! Rows and close events carry their canonical-order fields (source, file FIRST, SERIAL,
//! name, ID-or-line, line) so that a re-merge can replay them; a close row holds the
//! closing event, DELETED_DT and the copied values, so a re-merge rewrites only closes.
//!
//! Two departures from the spec's layout, for import speed. First, a row closed by the
//! file that opened it (most flows live seconds, a file spans a minute) carries its close
//! inline, in the row's `ns_deleted_dt`, `ns_close_event` and `ns_closed_<copy>` columns,
//! instead of a row in `netstate_<t>_close`. A row has at most one close, inline or in the
//! close table; the view and every query read both. A close row cost a tuple and a
//! primary-key entry at a random place (replayed alone, the FLOW close COPY was ~29% of
//! the FLOW COPYs' cost on PostgreSQL). Second, when that close's C line closed only this
//! row and each of its cells but the copy-on-close ones is the row's or NULL (exporters
//! write the keys and counters), the line itself is not stored either: the row's
//! `ns_close_ikey` and `ns_close_line` keep its place in the canonical order,
//! `ns_close_nulls` has bit i set where column i was NULL in the line, and everything
//! else it held is the row's or the inline close's. Such
//! an absorbed event has the id `-row id` (unique: a row closes once; never a stored
//! event's). An O/C pair then costs one tuple and one primary-key entry, where a plain
//! COPY of the lines writes two tuples. A re-merge stores the absorbed events it reaches
//! as close events again, clears the inline closes it replays (an UPDATE of the few rows
//! it reaches) and writes all its closes to the close table. [`upgrade_all`], run by
//! every migration, brings tables of older layouts up to date.

use vantage_warehouse::{Backend, Migration, Sql, WarehouseError};

use crate::schema::{TableDef, TableKind};

/// MAX_LONG: DELETED_DT of a row still open.
pub const MAX_LONG: i64 = i64::MAX;

/// The shared tables.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "netstate shared tables",
        sql: "
CREATE TABLE netstate_table (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    builtin BIGINT NOT NULL
);
CREATE TABLE netstate_source (
    name TEXT PRIMARY KEY,
    retired BIGINT NOT NULL DEFAULT 0,
    registered_ns BIGINT NOT NULL
);
CREATE TABLE netstate_load_log (
    seq BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    table_name TEXT NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT,
    size BIGINT,
    rows_total BIGINT NOT NULL,
    opens BIGINT NOT NULL,
    closes BIGINT NOT NULL,
    close_alls BIGINT NOT NULL,
    oldest BIGINT,
    latest BIGINT,
    first_dt BIGINT NOT NULL,
    last_dt BIGINT NOT NULL,
    serial BIGINT NOT NULL,
    remerged_from BIGINT,
    snapshots_rebuilt BIGINT NOT NULL,
    snapshot_created BIGINT,
    loaded_ns BIGINT NOT NULL,
    UNIQUE (source, file)
);
CREATE INDEX netstate_load_log_table ON netstate_load_log (table_name, source);
CREATE TABLE netstate_file (
    id BIGINT PRIMARY KEY,
    source TEXT NOT NULL,
    file TEXT NOT NULL,
    first_dt BIGINT NOT NULL,
    serial BIGINT NOT NULL,
    UNIQUE (source, file)
);
CREATE TABLE netstate_snapshot (
    table_name TEXT NOT NULL,
    ts BIGINT NOT NULL,
    member_count BIGINT NOT NULL,
    members {blob} NOT NULL,
    PRIMARY KEY (table_name, ts)
);
CREATE TABLE netstate_reject (
    sha256 TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    file TEXT NOT NULL,
    reason TEXT NOT NULL,
    line BIGINT,
    created_ns BIGINT NOT NULL
);
",
    },
    Migration {
        version: 2,
        name: "netstate storage layout versions",
        // 1: closes only in the close table; 2: closes in the file of their row inline;
        // 3: also their C lines, when the row rebuilds them (module docs).
        sql: "ALTER TABLE netstate_table ADD COLUMN storage BIGINT NOT NULL DEFAULT 1;",
    },
    Migration {
        version: 3,
        name: "netstate open sets kept with their last file",
        sql: "
CREATE TABLE netstate_open_set (
    table_name TEXT NOT NULL,
    source TEXT NOT NULL,
    load_seq BIGINT NOT NULL,
    members {blob} NOT NULL,
    PRIMARY KEY (table_name, source)
);
",
    },
];

/// The storage layout [`ensure_table`] creates and [`upgrade_all`] brings older tables to.
const STORAGE_VERSION: i64 = 3;

/// The canonical-order and origin columns both rows and close events carry; the file
/// (source, name, FIRST, SERIAL) is one integer into `netstate_file`, so a row stores no
/// text of its own but its values.
pub const ORDER_COLS: &[&str] = &["ns_id", "ns_file_id", "ns_ikey", "ns_line", "created_dt"];

/// The id of (source, file) in `netstate_file`, registered on first use (inside the
/// caller's transaction, so a rolled-back file leaves none).
pub fn file_id(
    db: &mut dyn Sql,
    source: &str,
    file: &str,
    first: i64,
    serial: u64,
) -> Result<i64, WarehouseError> {
    let find = |db: &mut dyn Sql| {
        db.query_i64(
            "SELECT id FROM netstate_file WHERE source = ? AND file = ?",
            &[source.into(), file.into()],
        )
    };
    if let Some(id) = find(db)? {
        return Ok(id);
    }
    db.execute(
        "INSERT INTO netstate_file (id, source, file, first_dt, serial)
         SELECT COALESCE(MAX(id), 0) + 1, ?, ?, ?, ? FROM netstate_file",
        &[source.into(), file.into(), first.into(), vantage_warehouse::Value::Int(serial as i64)],
    )?;
    find(db)?.ok_or_else(|| {
        WarehouseError::Conversion(format!("netstate_file: {source}/{file} not registered"))
    })
}

/// Replaces the `{blob}` stand-in, as [`Migration::render`] does for migrations, and
/// `{id}`, the 64-bit primary key: on SQLite `INTEGER PRIMARY KEY` makes it the rowid, so
/// lookups by id take one B-tree descent and the secondary indexes (CREATED_DT,
/// DELETED_DT) cover the id (`BIGINT PRIMARY KEY` there would add a hidden rowid and a
/// second index to every insert). `{time_index}` is the access method of the CREATED_DT
/// and DELETED_DT indexes: on PostgreSQL a BRIN index (block ranges; rows arrive nearly in
/// time order), since a B-tree there doubles the cost of the bulk load; SQLite has only
/// B-trees, whose inserts at the end are cheap. `{closed_only}` makes SQLite's index of
/// the inline DELETED_DT partial: only closed rows have one.
fn render(sql: &str, backend: Backend) -> String {
    let (blob, id, time_index, closed_only) = match backend {
        Backend::Sqlite => ("BLOB", "INTEGER PRIMARY KEY", "", " WHERE ns_deleted_dt IS NOT NULL"),
        Backend::Postgres => ("BYTEA", "BIGINT PRIMARY KEY", "USING brin ", ""),
    };
    sql.replace("{blob}", blob)
        .replace("{id}", id)
        .replace("{time_index}", time_index)
        .replace("{closed_only}", closed_only)
}

/// Names of one controller table's storage.
#[derive(Debug, Clone)]
pub struct Names {
    /// `netstate_<t>_row`.
    pub row: String,
    /// `netstate_<t>_close_event`.
    pub event: String,
    /// `netstate_<t>_close`.
    pub close: String,
    /// The view `netstate_<t>`.
    pub view: String,
}

/// The storage names of `def`.
pub fn names(def: &TableDef) -> Names {
    let s = def.stem();
    Names {
        row: format!("{s}_row"),
        event: format!("{s}_close_event"),
        close: format!("{s}_close"),
        view: s,
    }
}

/// The row table's inline-close columns ([module docs](self)), each with its SQL type:
/// DELETED_DT, one per copy-on-close column, the closing event, then the absorbed
/// event's ID-or-line, line and NULL columns ([`ABSORBED_COLS`] of them; NULL when the
/// event is stored).
pub fn inline_close_cols(def: &TableDef) -> Vec<(String, &'static str)> {
    let mut cols = vec![("ns_deleted_dt".to_string(), "BIGINT")];
    cols.extend(
        def.columns
            .iter()
            .filter(|c| c.copy_on_close)
            .map(|c| (format!("ns_closed_{}", c.sql_name()), c.ty.sql())),
    );
    cols.push(("ns_close_event".into(), "BIGINT"));
    cols.extend(
        ["ns_close_ikey", "ns_close_line", "ns_close_nulls"].map(|c| (c.to_string(), "BIGINT")),
    );
    cols
}

/// How many of [`inline_close_cols`], at its end, describe an absorbed close event (the
/// columns layout 3 added).
pub const ABSORBED_COLS: usize = 3;

/// The index of the inline DELETED_DT: BRIN on PostgreSQL like the other time indexes;
/// on SQLite a B-tree over the closed rows only (open rows and event tables add nothing).
fn inline_index_sql(n: &Names) -> String {
    format!(
        "CREATE INDEX IF NOT EXISTS {row}_deleted ON {row} {{time_index}}(ns_deleted_dt){{closed_only}};",
        row = n.row
    )
}

/// The view over `def`'s storage: a row's close is the close table's or its inline one.
fn view_sql(def: &TableDef, n: &Names) -> String {
    let deleted = match def.kind {
        TableKind::State => format!("COALESCE(c.deleted_dt, r.ns_deleted_dt, {MAX_LONG})"),
        TableKind::Event => "r.created_dt".to_string(),
    };
    let view_cols: String = def
        .columns
        .iter()
        .map(|c| {
            let n = c.sql_name();
            if c.copy_on_close {
                format!(", COALESCE(c.{n}, r.ns_closed_{n}, r.{n}) AS {n}")
            } else {
                format!(", r.{n} AS {n}")
            }
        })
        .collect();
    format!(
        "CREATE VIEW {view} AS SELECT r.ns_id AS id, r.created_dt AS created_dt, {deleted} AS deleted_dt{view_cols},
    f.source AS ns_source, f.source || '/' || f.file || ':' || CAST(r.ns_line AS TEXT) AS ns_origin
    FROM {row} r JOIN netstate_file f ON f.id = r.ns_file_id LEFT JOIN {close} c ON c.row_id = r.ns_id;
",
        row = n.row,
        close = n.close,
        view = n.view,
    )
}

/// Runs `changes` (statements with the [`render`] stand-ins) on `def`'s storage, then
/// redefines its view, which must follow every change of the tables under it.
fn alter_storage(db: &mut dyn Sql, def: &TableDef, changes: &str) -> Result<(), WarehouseError> {
    let n = names(def);
    let sql = format!("{changes}\nDROP VIEW {};\n{}", n.view, view_sql(def, &n));
    db.batch(&render(&sql, db.backend()))
}

/// Brings a table stored in layout `from` up to [`STORAGE_VERSION`]: adds the inline
/// close columns it lacks (NULL: every close and close event stays where it is) and
/// their index, and redefines the view.
fn upgrade_table(db: &mut dyn Sql, def: &TableDef, from: i64) -> Result<(), WarehouseError> {
    let n = names(def);
    let cols = inline_close_cols(def);
    let missing = if from < 2 { &cols[..] } else { &cols[cols.len() - ABSORBED_COLS..] };
    let mut sql: String = missing
        .iter()
        .map(|(col, ty)| format!("ALTER TABLE {} ADD COLUMN {col} {ty};\n", n.row))
        .collect();
    sql.push_str(&inline_index_sql(&n));
    alter_storage(db, def, &sql)?;
    db.execute(
        "UPDATE netstate_table SET storage = ? WHERE name = ?",
        &[STORAGE_VERSION.into(), def.name.as_str().into()],
    )?;
    Ok(())
}

/// Adds `extra` (nullable columns `def` ends with) to a stored table's rows and close
/// events, redefines its view over them and records `def` as its definition.
pub fn add_columns(
    db: &mut dyn Sql,
    def: &TableDef,
    extra: &[crate::schema::Column],
) -> Result<(), WarehouseError> {
    let n = names(def);
    let sql: String = extra
        .iter()
        .flat_map(|c| {
            [&n.row, &n.event].map(|table| {
                format!("ALTER TABLE {table} ADD COLUMN {} {};\n", c.sql_name(), c.ty.sql())
            })
        })
        .collect();
    alter_storage(db, def, &sql)?;
    db.execute(
        "UPDATE netstate_table SET definition = ? WHERE name = ?",
        &[serde_json::to_string(def).unwrap_or_default().into(), def.name.as_str().into()],
    )?;
    Ok(())
}

/// Creates `def`'s storage and view when absent, and records its definition (a stored
/// table of an older layout was upgraded by the migration every entry point runs).
pub fn ensure_table(db: &mut dyn Sql, def: &TableDef) -> Result<(), WarehouseError> {
    if table_exists(db, &def.name)? {
        return Ok(());
    }
    let n = names(def);
    let cols: String =
        def.columns.iter().map(|c| format!(",\n    {} {}", c.sql_name(), c.ty.sql())).collect();
    let copies: String = def
        .columns
        .iter()
        .filter(|c| c.copy_on_close)
        .map(|c| format!(",\n    {} {}", c.sql_name(), c.ty.sql()))
        .collect();
    let inline: String =
        inline_close_cols(def).iter().map(|(col, ty)| format!(",\n    {col} {ty}")).collect();
    let order = "ns_id {id},
    ns_file_id BIGINT NOT NULL,
    ns_ikey BIGINT NOT NULL,
    ns_line BIGINT NOT NULL,
    created_dt BIGINT NOT NULL";
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {row} (
    {order}{cols}{inline}
);
CREATE INDEX IF NOT EXISTS {row}_created ON {row} {{time_index}}(created_dt);
{inline_index}
CREATE TABLE IF NOT EXISTS {event} (
    {order},
    ns_type TEXT NOT NULL{cols}
);
CREATE TABLE IF NOT EXISTS {close} (
    row_id {{id}},
    event_id BIGINT NOT NULL,
    ns_file_id BIGINT NOT NULL,
    deleted_dt BIGINT NOT NULL{copies}
);
CREATE INDEX IF NOT EXISTS {close}_deleted ON {close} {{time_index}}(deleted_dt);
{view}",
        row = n.row,
        event = n.event,
        close = n.close,
        inline_index = inline_index_sql(&n),
        view = view_sql(def, &n),
    );
    db.batch(&render(&sql, db.backend()))?;
    let definition = serde_json::to_string(def).unwrap_or_default();
    db.execute(
        "INSERT INTO netstate_table (name, definition, builtin, storage) VALUES (?, ?, ?, ?)",
        &[
            def.name.as_str().into(),
            definition.into(),
            crate::schema::builtin(&def.name).is_some().into(),
            STORAGE_VERSION.into(),
        ],
    )?;
    Ok(())
}

/// Registers `source` on first use; an error names a retired source.
pub fn register_source(db: &mut dyn Sql, source: &str) -> Result<bool, WarehouseError> {
    db.execute(
        "INSERT INTO netstate_source (name, retired, registered_ns) VALUES (?, 0, ?) ON CONFLICT (name) DO NOTHING",
        &[source.into(), vantage_core::Timestamp::now().nanos().into()],
    )?;
    let retired =
        db.query_i64("SELECT retired FROM netstate_source WHERE name = ?", &[source.into()])?;
    Ok(retired.unwrap_or(0) != 0)
}

/// Marks `source` retired: it no longer holds snapshot watermarks back (spec §3.4).
pub fn retire_source(db: &mut dyn Sql, source: &str) -> Result<u64, WarehouseError> {
    db.execute("UPDATE netstate_source SET retired = 1 WHERE name = ?", &[source.into()])
}

/// True when `table`'s storage exists (a table never imported has none); an error when
/// it is in an older layout than the queries read (any import upgrades it).
pub fn table_exists(db: &mut dyn Sql, table: &str) -> Result<bool, WarehouseError> {
    match db.query_i64("SELECT storage FROM netstate_table WHERE name = ?", &[table.into()])? {
        None => Ok(false),
        Some(v) if v >= STORAGE_VERSION => Ok(true),
        Some(v) => Err(WarehouseError::Conversion(format!(
            "netstate table {table} is stored in layout {v} of an older Vantage; run \
             `vantage netstate import` once (any source, even an empty directory) to upgrade it"
        ))),
    }
}

/// Upgrades every table stored in an older layout, each in the caller's transaction, so
/// that any import brings the whole warehouse up to date, not only the tables it loads.
/// On PostgreSQL the rows are locked first: a second importer waits, then finds them done.
pub fn upgrade_all(db: &mut dyn Sql) -> Result<(), WarehouseError> {
    let lock = if db.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
    let rows = db.query(
        &format!("SELECT definition, storage FROM netstate_table WHERE storage < ?{lock}"),
        &[STORAGE_VERSION.into()],
    )?;
    for r in &rows.rows {
        let text = r.first().and_then(vantage_warehouse::Value::as_str).unwrap_or_default();
        let def: TableDef = serde_json::from_str(text).map_err(|e| {
            WarehouseError::Conversion(format!("netstate_table: a definition does not parse: {e}"))
        })?;
        let from = r.get(1).and_then(vantage_warehouse::Value::as_i64).unwrap_or(1);
        upgrade_table(db, &def, from)?;
    }
    Ok(())
}

/// Stores the absorbed close events ([module docs](self)) of `source`'s rows closed at
/// or after `t0` as close events again, rebuilt from their rows: a re-merge from `t0` is
/// about to clear those inline closes and replays the lines it finds stored.
pub fn restore_absorbed_events(
    db: &mut dyn Sql,
    def: &TableDef,
    source: &str,
    t0: i64,
) -> Result<u64, WarehouseError> {
    let n = names(def);
    let cols: String = def.columns.iter().map(|c| format!(", {}", c.sql_name())).collect();
    let values: String = absorbed_event_cells(def).iter().map(|v| format!(", {v}")).collect();
    db.execute(
        &format!(
            "INSERT INTO {event} (ns_id, ns_file_id, ns_ikey, ns_line, created_dt, ns_type{cols})
             SELECT ns_close_event, ns_file_id, ns_close_ikey, ns_close_line, ns_deleted_dt, 'C'{values}
             FROM {row} WHERE ns_close_line IS NOT NULL AND ns_deleted_dt >= ?
             AND ns_file_id IN (SELECT id FROM netstate_file WHERE source = ?)",
            event = n.event,
            row = n.row,
        ),
        &[t0.into(), source.into()],
    )
}

/// Per column of `def`, the SQL that rebuilds an absorbed close event's cell from its row
/// ([module docs](self)): the inline copy, NULL where the line had NULL, else the row's.
pub fn absorbed_event_cells(def: &TableDef) -> Vec<String> {
    def.columns
        .iter()
        .enumerate()
        .map(|(i, c)| match c.copy_on_close {
            true => format!("ns_closed_{}", c.sql_name()),
            false => format!(
                "CASE WHEN (ns_close_nulls >> {i}) & 1 = 1 THEN NULL ELSE {} END",
                c.sql_name()
            ),
        })
        .collect()
}
