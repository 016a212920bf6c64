//! An open warehouse and its transactions.

use std::path::PathBuf;

use vantage_core::DataDir;

use crate::migrate::{self, Migration};
use crate::sql::{Backend, Sql};
use crate::{catalog, pg, sqlite, Rows, Value, WarehouseError};

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// Where a warehouse lives; kept so that a lock can open its own connection.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

/// An open warehouse: one connection, catalog migrations applied.
pub struct Warehouse {
    conn: Conn,
    target: Target,
}

impl std::fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Warehouse({})", self.describe())
    }
}

/// A URL with its password replaced, for messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

pub(crate) fn connect_postgres(url: &str) -> Result<postgres::Client, WarehouseError> {
    let client = postgres::Client::connect(url, postgres::NoTls).map_err(|e| {
        WarehouseError::Unavailable { target: redact_url(url), message: e.to_string() }
    })?;
    Ok(client)
}

impl Warehouse {
    /// Opens the warehouse `url` names (`postgres://...`), or the SQLite file in `data`
    /// when `url` is `None`, and applies the catalog's migrations.
    pub fn open(url: Option<&str>, data: &DataDir) -> Result<Warehouse, WarehouseError> {
        let target = match url {
            None => Target::Sqlite(data.db_path()),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Target::Postgres(u.to_string())
            }
            Some(u) if u.starts_with("sqlite://") => {
                Target::Sqlite(PathBuf::from(u.trim_start_matches("sqlite://")))
            }
            Some(u) => return Err(WarehouseError::BadUrl(u.to_string())),
        };
        Warehouse::open_target(target)
    }

    pub(crate) fn open_target(target: Target) -> Result<Warehouse, WarehouseError> {
        let conn = match &target {
            Target::Sqlite(path) => Conn::Sqlite(sqlite::open(path)?),
            Target::Postgres(url) => {
                let mut client = connect_postgres(url)?;
                pg::batch(&mut client, "SET client_min_messages = warning")?;
                Conn::Postgres(Box::new(client))
            }
        };
        let mut wh = Warehouse { conn, target };
        wh.migrate("catalog", catalog::MIGRATIONS)?;
        Ok(wh)
    }

    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The file or URL (password hidden), for messages.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Sqlite(p) => p.display().to_string(),
            Target::Postgres(u) => redact_url(u),
        }
    }

    /// Applies `owner`'s migrations that the database has not seen, each in its own
    /// transaction with its bookkeeping row. Kinds call this before their first use.
    pub fn migrate(&mut self, owner: &str, migrations: &[Migration]) -> Result<(), WarehouseError> {
        migrate::apply(self, owner, migrations)
    }

    /// Runs `f` in a transaction: committed when it returns `Ok`, rolled back on `Err`.
    ///
    /// On SQLite the transaction is `IMMEDIATE`, so two writers serialize at its start
    /// instead of failing at commit.
    pub fn transaction<T, E: From<WarehouseError>>(
        &mut self,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let tx = c
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(|e| sqlite::statement_error("BEGIN IMMEDIATE", e))?;
                let mut tx = Tx { inner: TxInner::Sqlite(tx) };
                let out = f(&mut tx)?;
                match tx.inner {
                    TxInner::Sqlite(t) => {
                        t.commit().map_err(|e| sqlite::statement_error("COMMIT", e))?
                    }
                    TxInner::Postgres(_) => unreachable!("sqlite connection gave a sqlite tx"),
                }
                Ok(out)
            }
            Conn::Postgres(c) => {
                let tx = c.transaction().map_err(|e| pg::statement_error("BEGIN", e))?;
                let mut tx = Tx { inner: TxInner::Postgres(tx) };
                let out = f(&mut tx)?;
                match tx.inner {
                    TxInner::Postgres(t) => {
                        t.commit().map_err(|e| pg::statement_error("COMMIT", e))?
                    }
                    TxInner::Sqlite(_) => unreachable!("postgres connection gave a postgres tx"),
                }
                Ok(out)
            }
        }
    }
}

impl Sql for Warehouse {
    fn backend(&self) -> Backend {
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, WarehouseError> {
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::execute(c, sql, params),
            Conn::Postgres(c) => pg::execute(c.as_mut(), sql, params),
        }
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, WarehouseError> {
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::query(c, sql, params),
            Conn::Postgres(c) => pg::query(c.as_mut(), sql, params),
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), WarehouseError> {
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::batch(c, sql),
            Conn::Postgres(c) => pg::batch(c.as_mut(), sql),
        }
    }

    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<u64, WarehouseError> {
        // A bulk load outside a transaction still commits all or nothing.
        self.transaction(|tx| tx.bulk_insert(table, columns, rows))
    }
}

enum TxInner<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres(postgres::Transaction<'a>),
}

/// An open transaction; see [`Warehouse::transaction`].
pub struct Tx<'a> {
    inner: TxInner<'a>,
}

impl Sql for Tx<'_> {
    fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Postgres(_) => Backend::Postgres,
        }
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, WarehouseError> {
        match &mut self.inner {
            TxInner::Sqlite(t) => sqlite::execute(t, sql, params),
            TxInner::Postgres(t) => pg::execute(t, sql, params),
        }
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Rows, WarehouseError> {
        match &mut self.inner {
            TxInner::Sqlite(t) => sqlite::query(t, sql, params),
            TxInner::Postgres(t) => pg::query(t, sql, params),
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), WarehouseError> {
        match &mut self.inner {
            TxInner::Sqlite(t) => sqlite::batch(t, sql),
            TxInner::Postgres(t) => pg::batch(t, sql),
        }
    }

    fn bulk_insert(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<u64, WarehouseError> {
        match &mut self.inner {
            TxInner::Sqlite(t) => sqlite::bulk_insert(t, table, columns, rows),
            TxInner::Postgres(t) => pg::bulk_insert(t, table, columns, rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("host=h user=u"), "host=h user=u");
    }
}
