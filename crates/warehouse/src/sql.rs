//! The operations both a warehouse and a transaction offer.

use crate::{Rows, Value, WarehouseError};

/// Which database is behind a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Statements with `?` placeholders and [`Value`] parameters, on either backend.
///
/// Write SQL both backends accept: `INSERT ... ON CONFLICT (...) DO UPDATE SET x =
/// excluded.x`, `COALESCE`, `CAST(x AS BIGINT)`; where they differ, branch on
/// [`Sql::backend`].
pub trait Sql {
    /// The backend, for the rare statement that must differ.
    fn backend(&self) -> Backend;

    /// Runs one statement; returns the rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, WarehouseError>;

    /// Runs a query and collects its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, WarehouseError>;

    /// Runs several statements without parameters (schema changes).
    fn batch(&mut self, sql: &str) -> Result<(), WarehouseError>;

    /// Appends rows to a table, the fastest way the backend has: `COPY ... FROM STDIN`
    /// on PostgreSQL, multi-row prepared inserts on SQLite. Returns rows written.
    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<u64, WarehouseError>;

    /// The first column of the first row as an integer.
    fn query_i64(&mut self, sql: &str, params: &[Value]) -> Result<Option<i64>, WarehouseError> {
        Ok(self.query(sql, params)?.scalar_i64())
    }
}
