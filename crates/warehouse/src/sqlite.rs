//! The embedded backend: one SQLite file in WAL mode.

use std::path::Path;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::error::short_sql;
use crate::{Rows, Value, WarehouseError};

/// Most parameters one SQLite statement may bind (SQLITE_MAX_VARIABLE_NUMBER since 3.32).
const MAX_PARAMS: usize = 32_766;
/// Rows per multi-row INSERT: beyond this, statement preparation costs more than it saves.
const MAX_ROWS_PER_INSERT: usize = 256;

/// Opens (creating) the database file with the settings Vantage relies on.
pub(crate) fn open(path: &Path) -> Result<Connection, WarehouseError> {
    let unavailable = |e: rusqlite::Error| WarehouseError::Unavailable {
        target: path.display().to_string(),
        message: e.to_string(),
    };
    let conn = Connection::open(path).map_err(unavailable)?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(unavailable)?;
    // WAL: readers never block the writer; NORMAL sync is durable against process crashes
    // and keeps the database consistent on power loss.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(unavailable)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(unavailable)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

pub(crate) fn statement_error(sql: &str, e: rusqlite::Error) -> WarehouseError {
    let storage = matches!(
        e.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::SystemIoFailure
                | rusqlite::ErrorCode::ReadOnly
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::PermissionDenied
                | rusqlite::ErrorCode::DatabaseCorrupt
                | rusqlite::ErrorCode::NotADatabase
        )
    );
    WarehouseError::Statement { sql: short_sql(sql), message: e.to_string(), storage }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(r) => ToSqlOutput::Borrowed(ValueRef::Real(*r)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn from_ref(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

pub(crate) fn execute(
    conn: &Connection,
    sql: &str,
    params: &[Value],
) -> Result<u64, WarehouseError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| statement_error(sql, e))?;
    let n =
        stmt.execute(rusqlite::params_from_iter(params)).map_err(|e| statement_error(sql, e))?;
    Ok(n as u64)
}

pub(crate) fn query(
    conn: &Connection,
    sql: &str,
    params: &[Value],
) -> Result<Rows, WarehouseError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| statement_error(sql, e))?;
    let columns: Vec<String> = stmt.column_names().iter().map(|c| c.to_string()).collect();
    let width = columns.len();
    let mut rows = Vec::new();
    let mut it =
        stmt.query(rusqlite::params_from_iter(params)).map_err(|e| statement_error(sql, e))?;
    while let Some(row) = it.next().map_err(|e| statement_error(sql, e))? {
        let mut out = Vec::with_capacity(width);
        for i in 0..width {
            out.push(from_ref(row.get_ref(i).map_err(|e| statement_error(sql, e))?));
        }
        rows.push(out);
    }
    Ok(Rows { columns, rows })
}

pub(crate) fn batch(conn: &Connection, sql: &str) -> Result<(), WarehouseError> {
    conn.execute_batch(sql).map_err(|e| statement_error(sql, e))
}

fn insert_sql(table: &str, columns: &[&str], nrows: usize) -> String {
    let one = format!("({})", vec!["?"; columns.len()].join(","));
    format!("INSERT INTO {table} ({}) VALUES {}", columns.join(","), vec![one; nrows].join(","))
}

pub(crate) fn bulk_insert(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
) -> Result<u64, WarehouseError> {
    if columns.is_empty() || rows.is_empty() {
        return Ok(0);
    }
    let per = (MAX_PARAMS / columns.len()).clamp(1, MAX_ROWS_PER_INSERT);
    let mut written = 0;
    for chunk in rows.chunks(per) {
        let sql = insert_sql(table, columns, chunk.len());
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| statement_error(&sql, e))?;
        for row in chunk {
            if row.len() != columns.len() {
                return Err(WarehouseError::Conversion(format!(
                    "bulk insert into {table}: a row has {} values for {} columns",
                    row.len(),
                    columns.len()
                )));
            }
        }
        let params = chunk.iter().flatten();
        written += stmt
            .execute(rusqlite::params_from_iter(params))
            .map_err(|e| statement_error(&sql, e))? as u64;
    }
    Ok(written)
}
