//! Vantage's tables behind one interface, on embedded SQLite or on PostgreSQL.
//!
//! - [`Warehouse`]: an open connection; [`Warehouse::transaction`] gives a [`Tx`] in which
//!   a stage commits its output rows and its bookkeeping together.
//! - [`Sql`]: what both a warehouse and a transaction can do — execute, query, bulk
//!   insert (`COPY` on PostgreSQL, multi-row prepared inserts on SQLite) — with `?`
//!   placeholders and [`Value`]s, so kinds write one query for both backends.
//! - [`Migration`]: versioned schema changes per owner (`catalog`, `netstate`, ...),
//!   applied on open, with `{serial_pk}`, `{real}` and `{blob}` standing for the column
//!   types that differ between the backends.
//! - [`catalog`]: the `catalog_*` tables every kind uses: arrivals, cans, partitions,
//!   processor versions, quarantine.
//! - [`Lock`]: the named lock of each kind (flock'ed file + lock row; PostgreSQL advisory
//!   lock), held for a stage's lifetime.
//!
//! Types: integers are `BIGINT` everywhere, so both backends return the same values for
//! the same query.
#![deny(missing_docs)]

pub mod catalog;
mod error;
mod lock;
mod migrate;
mod pg;
mod sql;
mod sqlite;
pub mod testing;
mod value;
mod warehouse;

pub use crate::{
    error::WarehouseError,
    lock::{Lock, LockError},
    migrate::Migration,
    sql::{Backend, Sql},
    value::{Rows, Value},
    warehouse::{Tx, Warehouse},
};
