//! Hour and day rows of the byte families, recomputed from the minute rows for the dirty
//! (node, whole hours and days) only (spec §5, coordinator).
//!
//! The sums are the expensive part, and they only read: [`compute`] runs them on the
//! worker threads, each with its own connection, once every session has committed (the
//! `passive` lock keeps other runs out meanwhile). The coordinator's transaction then only
//! replaces the rows ([`apply`]), together with the deletion of the dirty marks.

use std::collections::BTreeMap;

use rayon::prelude::*;
use vantage_warehouse::{Sql, Value, Warehouse, WarehouseError};

use crate::error::PassiveError;
use crate::schema::{Family, FAMILIES, GRANULARITIES};
use crate::sink::{self, Merge, Statement};

/// One key part of a byte row besides node and time bin: a port, or a context, MAC or
/// domain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Int(i64),
    Text(String),
}

impl Part {
    fn of(v: &Value) -> Part {
        match v {
            Value::Int(i) => Part::Int(*i),
            _ => Part::Text(v.to_text()),
        }
    }

    fn value(&self) -> Value {
        match self {
            Part::Int(i) => (*i).into(),
            Part::Text(s) => s.as_str().into(),
        }
    }
}

/// (parts before the bin, bin, parts after the bin) → bytes.
type Sums = BTreeMap<(Vec<Part>, i64, Vec<Part>), i64>;

/// One node's dirty minutes, `lo..=hi` (epoch s).
#[derive(Debug, Clone)]
struct Dirty {
    node: String,
    lo: i64,
    hi: i64,
}

/// The statements that replace the hour and day rows of every dirty node, computed on
/// `pool` with connections opened by `open`.
pub(crate) fn compute(
    wh: &mut Warehouse,
    pool: &rayon::ThreadPool,
    open: impl Fn() -> Result<Warehouse, WarehouseError> + Sync,
) -> Result<Vec<Statement>, PassiveError> {
    let marks = wh.query(
        "SELECT node_id, MIN(from_minute), MAX(to_minute) FROM passive_dirty GROUP BY node_id",
        &[],
    )?;
    let tasks: Vec<(Dirty, &Family)> = marks
        .rows
        .iter()
        .flat_map(|r| {
            let d = Dirty {
                node: r[0].to_text(),
                lo: r[1].as_i64().unwrap_or(0),
                hi: r[2].as_i64().unwrap_or(0),
            };
            FAMILIES.iter().map(move |f| (d.clone(), f))
        })
        .collect();
    let parts: Vec<Result<Vec<Statement>, WarehouseError>> = pool.install(|| {
        tasks
            .par_iter()
            .map_init(&open, |conn, (d, f)| match conn {
                Ok(c) => family_statements(c, d, f),
                Err(e) => Err(WarehouseError::Unavailable {
                    target: "rollup connection".into(),
                    message: e.to_string(),
                }),
            })
            .collect()
    });
    let mut out = Vec::new();
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

/// Executes the statements of [`compute`] and deletes the dirty marks.
pub(crate) fn apply(db: &mut dyn Sql, statements: &[Statement]) -> Result<(), WarehouseError> {
    sink::execute(db, statements)?;
    db.execute("DELETE FROM passive_dirty", &[])?;
    Ok(())
}

/// Reads one family's minute rows over the whole days around `d` and returns the
/// statements that replace its hour rows (dirty hours) and day rows (dirty days).
fn family_statements(
    db: &mut dyn Sql,
    d: &Dirty,
    f: &Family,
) -> Result<Vec<Statement>, WarehouseError> {
    let [(_, _), (hour, hour_w), (day, day_w)] = GRANULARITIES;
    let (hlo, hhi) = (d.lo.div_euclid(hour_w) * hour_w, d.hi.div_euclid(hour_w) * hour_w);
    let (dlo, dhi) = (d.lo.div_euclid(day_w) * day_w, d.hi.div_euclid(day_w) * day_w);
    let cols = f.key_columns("minute");
    let bin_at = cols.iter().position(|c| *c == "minute").unwrap_or(1);
    let rows = db.query(
        &format!(
            "SELECT {}, bytes FROM {} WHERE node_id = ? AND minute >= ? AND minute < ?",
            cols[1..].join(", "),
            f.table("minute")
        ),
        &[d.node.as_str().into(), dlo.into(), (dhi + day_w).into()],
    )?;
    let mut hours = Sums::new();
    let mut days = Sums::new();
    for r in &rows.rows {
        // r: the key columns after node_id, then bytes.
        let minute = r[bin_at - 1].as_i64().unwrap_or(0);
        let before: Vec<Part> = r[..bin_at - 1].iter().map(Part::of).collect();
        let after: Vec<Part> = r[bin_at..r.len() - 1].iter().map(Part::of).collect();
        let bytes = r[r.len() - 1].as_i64().unwrap_or(0);
        let h = minute.div_euclid(hour_w) * hour_w;
        if (hlo..=hhi).contains(&h) {
            *hours.entry((before.clone(), h, after.clone())).or_insert(0) += bytes;
        }
        *days.entry((before, minute.div_euclid(day_w) * day_w, after)).or_insert(0) += bytes;
    }
    let mut out = Vec::new();
    for (g, lo, hi, sums) in [(hour, hlo, hhi, hours), (day, dlo, dhi, days)] {
        out.push(Statement {
            sql: format!("DELETE FROM {} WHERE node_id = ? AND {g} >= ? AND {g} <= ?", f.table(g)),
            params: vec![d.node.as_str().into(), lo.into(), hi.into()],
        });
        let rows = sums
            .into_iter()
            .map(|((before, bin, after), bytes)| {
                let mut row: Vec<Value> = vec![d.node.as_str().into()];
                row.extend(before.iter().map(Part::value));
                row.push(bin.into());
                row.extend(after.iter().map(Part::value));
                row.push(bytes.into());
                row
            })
            .collect();
        sink::upsert(&mut out, &f.table(g), &f.key_columns(g), &["bytes"], rows, Merge::Replace);
    }
    Ok(out)
}
