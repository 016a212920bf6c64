//! Which tables exist: the shipped ones, plus generic definitions stored in
//! `netstate_table` so that every importer of a warehouse agrees (spec §2 "Generic
//! tables").

use vantage_warehouse::{Sql, Value, WarehouseError};

use crate::schema::{builtin, builtin_tables, TableDef};

/// The definition of `name`: shipped, or stored in the warehouse.
pub fn lookup(db: &mut dyn Sql, name: &str) -> Result<Option<TableDef>, WarehouseError> {
    if let Some(def) = builtin(name) {
        return Ok(Some(def));
    }
    let rows = db.query("SELECT definition FROM netstate_table WHERE name = ?", &[name.into()])?;
    Ok(rows
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(Value::as_str)
        .and_then(|s| serde_json::from_str(s).ok()))
}

/// Every defined table, shipped ones first, then stored ones by name.
pub fn all(db: &mut dyn Sql) -> Result<Vec<TableDef>, WarehouseError> {
    let mut out = builtin_tables();
    let rows =
        db.query("SELECT definition FROM netstate_table WHERE builtin = 0 ORDER BY name", &[])?;
    for r in &rows.rows {
        if let Some(def) =
            r.first().and_then(Value::as_str).and_then(|s| serde_json::from_str::<TableDef>(s).ok())
        {
            out.push(def);
        }
    }
    Ok(out)
}
