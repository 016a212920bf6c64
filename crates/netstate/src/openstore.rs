//! The open rows of each (table, source), stored by the transaction of the file that left
//! them so (spec §5: the importer keeps them in memory). An import run starts with them
//! in one read instead of rebuilding them from the newest snapshot and the rows since
//! (two range scans and a look-up of every open row: ~90 ms per FLOW file on 2M rows,
//! each run, where a run is often one file per table). The stored set names the load-log
//! entry it follows; when another entry of the pair came since (`import-flows`, or a
//! warehouse written by an older Vantage), it is not used and the set is rebuilt.

use vantage_warehouse::{Sql, Value, WarehouseError};

use crate::cell::Cell;
use crate::merge::OpenSet;

/// Stores `set` as (table, source)'s open rows after load-log entry `seq`.
pub fn save(
    db: &mut dyn Sql,
    table: &str,
    source: &str,
    seq: i64,
    set: &OpenSet,
) -> Result<(), WarehouseError> {
    db.execute(
        "INSERT INTO netstate_open_set (table_name, source, load_seq, members) VALUES (?, ?, ?, ?)
         ON CONFLICT (table_name, source) DO UPDATE SET load_seq = excluded.load_seq, members = excluded.members",
        &[table.into(), source.into(), seq.into(), Value::Blob(compress(&encode(set)))],
    )?;
    Ok(())
}

/// (table, source)'s stored open rows, when they follow the pair's latest load-log entry.
pub fn load(
    db: &mut dyn Sql,
    table: &str,
    source: &str,
) -> Result<Option<OpenSet>, WarehouseError> {
    let stored = db.query(
        "SELECT o.load_seq, o.members, (SELECT MAX(seq) FROM netstate_load_log l
                 WHERE l.table_name = o.table_name AND l.source = o.source)
         FROM netstate_open_set o WHERE o.table_name = ? AND o.source = ?",
        &[table.into(), source.into()],
    )?;
    let Some(r) = stored.rows.first() else { return Ok(None) };
    let (seq, latest) = (r.first().and_then(Value::as_i64), r.get(2).and_then(Value::as_i64));
    if seq.is_none() || seq != latest {
        return Ok(None);
    }
    let bytes = match r.get(1) {
        Some(Value::Blob(b)) => b.as_slice(),
        _ => return Ok(None),
    };
    lz4_flex::block::decompress_size_prepended(bytes)
        .ok()
        .and_then(|b| decode(&b))
        .map(Some)
        .ok_or_else(|| {
            WarehouseError::Conversion(format!(
                "netstate_open_set: {table}/{source} does not decode"
            ))
        })
}

/// LZ4 (block, size first): an open set is a few hundred kB per file on long histories,
/// which PostgreSQL otherwise compressed itself, at ~30 ms per FLOW file.
fn compress(encoded: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(encoded)
}

const NULL: u8 = 0;
const INT: u8 = 1;
const TEXT: u8 = 2;
const BYTES: u8 = 3;

/// Per row in id order: id (i64 LE), cell count (u8), then per cell a tag and its value
/// (i64 LE; or u32 LE length and the bytes).
fn encode(set: &OpenSet) -> Vec<u8> {
    let rows = set.rows_by_id();
    let mut out = Vec::with_capacity(rows.len() * 96);
    for (id, keys) in rows {
        out.extend_from_slice(&id.to_le_bytes());
        out.push(u8::try_from(keys.len()).unwrap_or(u8::MAX));
        for k in keys.iter().take(u8::MAX as usize) {
            match k {
                Cell::Null => out.push(NULL),
                Cell::Int(i) => {
                    out.push(INT);
                    out.extend_from_slice(&i.to_le_bytes());
                }
                Cell::Text(t) => bytes_cell(&mut out, TEXT, t.as_bytes()),
                Cell::Bytes(b) => bytes_cell(&mut out, BYTES, b),
            }
        }
    }
    out
}

fn bytes_cell(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(b);
}

/// The inverse of [`encode`]; `None` on bytes it did not write.
fn decode(mut b: &[u8]) -> Option<OpenSet> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (b.get(..n)?, b.get(n..)?);
        *b = rest;
        Some(head)
    }
    let int = |b: &mut &[u8]| Some(i64::from_le_bytes(take(b, 8)?.try_into().ok()?));
    let mut set = OpenSet::default();
    while !b.is_empty() {
        let id = int(&mut b)?;
        let n = take(&mut b, 1)?[0];
        let mut keys = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let tag = take(&mut b, 1)?[0];
            keys.push(match tag {
                NULL => Cell::Null,
                INT => Cell::Int(int(&mut b)?),
                TEXT | BYTES => {
                    let len = u32::from_le_bytes(take(&mut b, 4)?.try_into().ok()?);
                    let bytes = take(&mut b, usize::try_from(len).ok()?)?.to_vec();
                    match tag {
                        TEXT => Cell::Text(String::from_utf8(bytes).ok()?),
                        _ => Cell::Bytes(bytes),
                    }
                }
                _ => return None,
            });
        }
        set.insert(id, keys);
    }
    Some(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_sets_round_trip() {
        let mut set = OpenSet::default();
        set.insert(7, vec![Cell::Int(-1), Cell::Null, Cell::Text("é".into())]);
        set.insert(3, vec![Cell::Bytes(vec![0, 255]), Cell::Int(i64::MAX)]);
        let back = decode(&encode(&set)).unwrap();
        let rows = |s: &OpenSet| -> Vec<(i64, Vec<Cell>)> {
            s.rows_by_id().into_iter().map(|(id, k)| (id, k.to_vec())).collect()
        };
        assert_eq!(rows(&back), rows(&set));
        assert!(decode(&encode(&set)[..5]).is_none(), "truncated bytes refused");
    }
}
