//! Snapshots (spec §3.4): the sorted row ids alive in a state table at an instant, stored
//! as one blob (LEB128 count, then LEB128 deltas), so `at` reads one blob plus what
//! changed since instead of the whole history.
//!
//! Invariant (tested against the reference vectors): a snapshot's members are exactly the
//! rows of its table, all sources, alive at its time. Every snapshot at or after the oldest
//! entry of a newly loaded file is rebuilt in that file's transaction, so late files and
//! new sources never leave a stale snapshot (NOX's did).

use vantage_warehouse::{Backend, Sql, Value, WarehouseError};

use crate::store::Names;

/// Encodes sorted ids: LEB128 count, then LEB128 deltas from the previous id (from 0).
pub fn encode(ids: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 2 + 4);
    leb(&mut out, ids.len() as u64);
    let mut prev = 0i64;
    for &id in ids {
        leb(&mut out, id.wrapping_sub(prev) as u64);
        prev = id;
    }
    out
}

fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Decodes [`encode`]'s blob; `None` when it is truncated or malformed.
pub fn decode(bytes: &[u8]) -> Option<Vec<i64>> {
    let mut pos = 0;
    let n = read_leb(bytes, &mut pos)?;
    let mut ids = Vec::with_capacity(usize::try_from(n).ok()?.min(bytes.len()));
    let mut prev = 0i64;
    for _ in 0..n {
        prev = prev.wrapping_add(read_leb(bytes, &mut pos)? as i64);
        ids.push(prev);
    }
    (pos == bytes.len()).then_some(ids)
}

/// One stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Its instant, µs.
    pub ts: i64,
    /// Sorted member row ids.
    pub members: Vec<i64>,
}

fn corrupt(table: &str, ts: i64) -> WarehouseError {
    WarehouseError::Conversion(format!(
        "netstate_snapshot {table}@{ts}: members blob is malformed; re-import to rebuild it"
    ))
}

fn from_row(table: &str, r: &[Value]) -> Result<Snapshot, WarehouseError> {
    let ts = r.first().and_then(Value::as_i64).unwrap_or(0);
    let members =
        r.get(1).and_then(Value::as_blob).and_then(decode).ok_or_else(|| corrupt(table, ts))?;
    Ok(Snapshot { ts, members })
}

/// Every snapshot of `table`, oldest first.
pub fn list(db: &mut dyn Sql, table: &str) -> Result<Vec<Snapshot>, WarehouseError> {
    let rows = db.query(
        "SELECT ts, members FROM netstate_snapshot WHERE table_name = ? ORDER BY ts",
        &[table.into()],
    )?;
    rows.rows.iter().map(|r| from_row(table, r)).collect()
}

/// The newest snapshot of `table` at or before `t`.
pub fn newest_at_or_before(
    db: &mut dyn Sql,
    table: &str,
    t: i64,
) -> Result<Option<Snapshot>, WarehouseError> {
    let rows = db.query(
        "SELECT ts, members FROM netstate_snapshot WHERE table_name = ? AND ts <= ? ORDER BY ts DESC LIMIT 1",
        &[table.into(), t.into()],
    )?;
    rows.rows.first().map(|r| from_row(table, r)).transpose()
}

/// The newest snapshot of `table` strictly before `t`.
fn newest_before(
    db: &mut dyn Sql,
    table: &str,
    t: i64,
) -> Result<Option<Snapshot>, WarehouseError> {
    match t.checked_sub(1) {
        Some(t) => newest_at_or_before(db, table, t),
        None => Ok(None),
    }
}

/// The integer column `col` of the rows `from` (a `FROM ... WHERE ...` clause) selects, fetched as one aggregated text
/// (`group_concat` / `string_agg`) instead of a result row per id: a range of a snapshot
/// interval holds up to ~10^5 ids, and a row each costs more than the scan.
pub(crate) fn id_list(
    db: &mut dyn Sql,
    col: &str,
    from: &str,
    params: &[Value],
) -> Result<Vec<i64>, WarehouseError> {
    let sql = match db.backend() {
        Backend::Sqlite => format!("SELECT group_concat({col}) {from}"),
        Backend::Postgres => format!("SELECT string_agg(CAST({col} AS TEXT), ',') {from}"),
    };
    let rows = db.query(&sql, params)?;
    let Some(text) = rows.rows.first().and_then(|r| r.first()).and_then(Value::as_str) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|x| {
            x.parse::<i64>()
                .map_err(|_| WarehouseError::Conversion(format!("id list: {x:?} is not an id")))
        })
        .collect()
}

/// Ids of the rows alive at `t`, from `base` (a snapshot at or before `t`, or none:
/// empty at −∞): (members ∪ rows created in (base, t]) − rows closed in (base, t].
///
/// A row created after the base and closed by `t` was closed after the base too, so
/// index range scans (CREATED_DT of rows, DELETED_DT of closes and of inline closes)
/// suffice: no join.
pub fn alive_ids(
    db: &mut dyn Sql,
    n: &Names,
    base: Option<&Snapshot>,
    t: i64,
) -> Result<Vec<i64>, WarehouseError> {
    let created = created_ids(db, n, base, t)?;
    alive_from(db, n, base, t, created)
}

/// Ids of the rows created in (base, t] (base: a snapshot, or none: −∞), one range scan.
fn created_ids(
    db: &mut dyn Sql,
    n: &Names,
    base: Option<&Snapshot>,
    t: i64,
) -> Result<Vec<i64>, WarehouseError> {
    let since = base.map_or(i64::MIN, |s| s.ts);
    id_list(
        db,
        "ns_id",
        &format!("FROM {} WHERE created_dt > ? AND created_dt <= ?", n.row),
        &[Value::Int(since), Value::Int(t)],
    )
}

/// [`alive_ids`] given `created`, the [`created_ids`] of the same (base, t]: the caller
/// that also needs their count scans the range once.
fn alive_from(
    db: &mut dyn Sql,
    n: &Names,
    base: Option<&Snapshot>,
    t: i64,
    created: Vec<i64>,
) -> Result<Vec<i64>, WarehouseError> {
    let since = base.map_or(i64::MIN, |s| s.ts);
    let range = [Value::Int(since), Value::Int(t)];
    // Closes in the close table, and inline ones (crate::store): two range scans.
    let mut removed = id_list(
        db,
        "row_id",
        &format!("FROM {} WHERE deleted_dt > ? AND deleted_dt <= ?", n.close),
        &range,
    )?;
    removed.extend(id_list(
        db,
        "ns_id",
        &format!("FROM {} WHERE ns_deleted_dt > ? AND ns_deleted_dt <= ?", n.row),
        &range,
    )?);
    removed.sort_unstable();
    let mut alive: Vec<i64> = base.map(|s| s.members.clone()).unwrap_or_default();
    alive.extend(created);
    alive.sort_unstable();
    alive.dedup();
    alive.retain(|id| removed.binary_search(id).is_err());
    Ok(alive)
}

/// Stores (or replaces) a snapshot.
pub fn store(db: &mut dyn Sql, table: &str, s: &Snapshot) -> Result<(), WarehouseError> {
    db.execute(
        "INSERT INTO netstate_snapshot (table_name, ts, member_count, members) VALUES (?, ?, ?, ?)
         ON CONFLICT (table_name, ts) DO UPDATE SET member_count = excluded.member_count, members = excluded.members",
        &[table.into(), s.ts.into(), s.members.len().into(), Value::Blob(encode(&s.members))],
    )?;
    Ok(())
}

/// Watermark W(T): the least, over non-retired sources with a non-empty file of `table`,
/// of each source's largest latest entry; `None` when no such source.
pub fn watermark(db: &mut dyn Sql, table: &str) -> Result<Option<i64>, WarehouseError> {
    db.query_i64(
        "SELECT MIN(m) FROM (SELECT MAX(l.latest) AS m FROM netstate_load_log l
             JOIN netstate_source s ON s.name = l.source
             WHERE l.table_name = ? AND l.rows_total > 0 AND s.retired = 0 GROUP BY l.source) w",
        &[table.into()],
    )
}

/// What [`maintain`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Maintained {
    /// Snapshots rebuilt because the file reaches back before them.
    pub rebuilt: u64,
    /// The snapshot taken at the new watermark, if any.
    pub created: Option<i64>,
}

/// In a file's transaction (spec §3.4): rebuilds every snapshot at or after `t0` (the
/// file's oldest entry), then takes one at the watermark when it advanced past the newest
/// and at least `every` rows were created in between.
pub fn maintain(
    db: &mut dyn Sql,
    table: &str,
    n: &Names,
    t0: Option<i64>,
    every: u64,
) -> Result<Maintained, WarehouseError> {
    let mut done = Maintained::default();
    // Only the snapshots a file can affect are read: those at or after t0, from the one
    // before them (unchanged, the base of the first rebuild); never the whole list.
    let mut newest: Option<Snapshot> = None;
    if let Some(t0) = t0 {
        let mut prev = newest_before(db, table, t0)?;
        let rows = db.query(
            "SELECT ts, members FROM netstate_snapshot WHERE table_name = ? AND ts >= ? ORDER BY ts",
            &[table.into(), t0.into()],
        )?;
        for r in &rows.rows {
            let mut s = from_row(table, r)?;
            s.members = alive_ids(db, n, prev.as_ref(), s.ts)?;
            store(db, table, &s)?;
            done.rebuilt += 1;
            prev = Some(s);
        }
        if done.rebuilt > 0 {
            newest = prev;
        }
    }
    if newest.is_none() {
        newest = newest_at_or_before(db, table, i64::MAX)?;
    }
    let newest = newest.as_ref();
    let Some(w) = watermark(db, table)? else { return Ok(done) };
    if newest.is_some_and(|s| w <= s.ts) {
        return Ok(done);
    }
    // The rows created since the newest snapshot are both the count the rule asks for
    // and the new snapshot's additions: one range scan, not a COUNT and then the ids.
    let created = created_ids(db, n, newest, w)?;
    if created.len() as u64 >= every {
        let snap = Snapshot { ts: w, members: alive_from(db, n, newest, w, created)? };
        store(db, table, &snap)?;
        done.created = Some(w);
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_and_truncation_is_refused() {
        for ids in [vec![], vec![1], vec![1, 2, 300, 70_000, 1 << 40]] {
            let blob = encode(&ids);
            assert_eq!(decode(&blob), Some(ids.clone()));
            for n in 0..blob.len() {
                assert_eq!(decode(&blob[..n]), None, "{ids:?} cut at {n}");
            }
        }
        assert_eq!(encode(&[1, 2, 300]), vec![3, 1, 1, 0xaa, 0x02]);
    }
}
