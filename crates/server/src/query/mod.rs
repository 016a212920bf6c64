//! Read-side adapters over the kinds' tables, for the API where a kind offers no library
//! function of its own: SQL over the tables the specs name, portable across SQLite and
//! PostgreSQL. Each module is one kind's; none writes.

pub mod passive;
pub mod reports;

use vantage_warehouse::{Backend, Sql, WarehouseError};

/// True when `table` exists (a kind that never ran has created none of its tables).
pub fn table_exists(db: &mut dyn Sql, table: &str) -> Result<bool, WarehouseError> {
    let sql = match db.backend() {
        Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?",
        Backend::Postgres => {
            "SELECT COUNT(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n \
             ON n.oid = c.relnamespace WHERE c.relname = ? AND n.nspname = ANY (current_schemas(false))"
        }
    };
    Ok(db.query_i64(sql, &[table.into()])?.unwrap_or(0) > 0)
}
