//! The updates index (spec §3): `passive_updates` keyed by (node, context, session, seq)
//! and `passive_sessions`, maintained in the transaction that adds the updates.

use std::collections::BTreeSet;

use vantage_core::Timestamp;
use vantage_warehouse::{Sql, Value, WarehouseError};

use crate::{codec, SessionKey, Update};

/// What indexing one update did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Indexed {
    /// A new key: the update is in the index.
    New,
    /// The same key with the same text: ignored.
    Duplicate,
    /// The same key with another text: the first one wins, this one is quarantined.
    Conflict,
}

/// Where an indexed update came from.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    /// `passive_tarballs.tarball_id` of the source.
    pub source_id: i64,
    /// Member name inside the source (or the file name of a single update).
    pub member: &'a str,
    /// sha256 of the decompressed text.
    pub text_sha256: &'a str,
    /// Size of the decompressed text.
    pub raw_size: u64,
}

fn key_params(k: &SessionKey, seq: i64) -> Vec<Value> {
    vec![
        k.node_id.as_str().into(),
        k.anonymization_context.as_str().into(),
        k.session_id.into(),
        seq.into(),
    ]
}

/// Adds an update (already anonymized server-side) to the index, unless its key is there.
pub fn index_update(
    db: &mut dyn Sql,
    u: &Update,
    origin: &Origin<'_>,
) -> Result<Indexed, WarehouseError> {
    index_encoded(db, u, codec::encode(u), origin)
}

/// [`index_update`] with the body already encoded (ingest encodes on its workers).
pub fn index_encoded(
    db: &mut dyn Sql,
    u: &Update,
    body: Vec<u8>,
    origin: &Origin<'_>,
) -> Result<Indexed, WarehouseError> {
    let key = u.session();
    let seq = i64::from(u.sequence_number);
    let existing = db.query(
        "SELECT text_sha256 FROM passive_updates WHERE node_id = ? AND anonymization_context = ?
         AND session_id = ? AND sequence_number = ?",
        &key_params(&key, seq),
    )?;
    if let Some(row) = existing.rows.first() {
        let same = row.first().and_then(Value::as_str) == Some(origin.text_sha256);
        return Ok(if same { Indexed::Duplicate } else { Indexed::Conflict });
    }
    let warnings = serde_json::to_string(&u.warnings).unwrap_or_else(|_| "[]".into());
    let mut params = key_params(&key, seq);
    params.extend([
        i64::from(u.file_format_version).into(),
        u.created_at.into(),
        origin.source_id.into(),
        origin.member.into(),
        origin.text_sha256.into(),
        origin.raw_size.into(),
        body.into(),
        warnings.into(),
        Timestamp::now().nanos().into(),
    ]);
    db.execute(
        "INSERT INTO passive_updates (node_id, anonymization_context, session_id, sequence_number,
             file_format_version, created_at, source_id, member_name, text_sha256, raw_size, body,
             warnings, ingested_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &params,
    )?;
    Ok(Indexed::New)
}

/// Contiguous ranges of sorted, distinct sequence numbers: `[[0, 3], [5, 5]]`.
pub fn ranges(seqs: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &s in seqs {
        match out.last_mut() {
            Some(last) if s == last.1 + 1 => last.1 = s,
            _ => out.push((s, s)),
        }
    }
    out
}

/// The largest s with 0..=s all present, −1 without seq 0.
pub fn contiguous_through(seqs: &[i64]) -> i64 {
    match ranges(seqs).first() {
        Some(&(0, last)) => last,
        _ => -1,
    }
}

/// Recomputes the `passive_sessions` rows of the given sessions from the index.
pub fn refresh_sessions(
    db: &mut dyn Sql,
    sessions: &BTreeSet<SessionKey>,
) -> Result<(), WarehouseError> {
    for k in sessions {
        let rows = db.query(
            "SELECT sequence_number, created_at FROM passive_updates WHERE node_id = ?
             AND anonymization_context = ? AND session_id = ? ORDER BY sequence_number",
            &[
                k.node_id.as_str().into(),
                k.anonymization_context.as_str().into(),
                k.session_id.into(),
            ],
        )?;
        let seqs: Vec<i64> =
            rows.rows.iter().filter_map(|r| r.first().and_then(Value::as_i64)).collect();
        let created: Vec<i64> =
            rows.rows.iter().filter_map(|r| r.get(1).and_then(Value::as_i64)).collect();
        db.execute(
            "INSERT INTO passive_sessions (node_id, anonymization_context, session_id, updates, max_seq,
                 contiguous_through, first_created, last_created, ranges_updates)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, -1)
             ON CONFLICT (node_id, anonymization_context, session_id) DO UPDATE SET
                 updates = excluded.updates, max_seq = excluded.max_seq,
                 contiguous_through = excluded.contiguous_through,
                 first_created = excluded.first_created, last_created = excluded.last_created",
            &[
                k.node_id.as_str().into(),
                k.anonymization_context.as_str().into(),
                k.session_id.into(),
                seqs.len().into(),
                seqs.last().copied().unwrap_or(-1).into(),
                contiguous_through(&seqs).into(),
                created.iter().min().copied().into(),
                created.iter().max().copied().into(),
            ],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_contiguity() {
        assert_eq!(ranges(&[0, 1, 3, 4, 5, 7]), vec![(0, 1), (3, 5), (7, 7)]);
        assert_eq!(contiguous_through(&[0, 1, 3]), 1);
        assert_eq!(contiguous_through(&[1, 2]), -1);
        assert_eq!(contiguous_through(&[]), -1);
    }
}
