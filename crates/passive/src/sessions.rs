//! `vantage passive sessions` (spec §8): per session its contiguous ranges, gaps,
//! processed-through position and state.

use std::collections::HashMap;

use serde::Serialize;
use vantage_warehouse::{Rows, Sql, Value, WarehouseError};

use crate::index;

/// One session as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionInfo {
    /// Node (pseudonym).
    pub node_id: String,
    /// Anonymization context.
    pub anonymization_context: String,
    /// Session id (µs).
    pub session_id: i64,
    /// Updates indexed.
    pub updates: i64,
    /// Contiguous ranges of sequence numbers.
    pub ranges: Vec<(i64, i64)>,
    /// Missing sequence numbers between the ranges, as ranges.
    pub gaps: Vec<(i64, i64)>,
    /// Whether seq 0 is missing.
    pub missing_start: bool,
    /// Last sequence number every processor has consumed (−1: none).
    pub processed_through: i64,
    /// `ok`, `waiting(gap N)`, `missing_start` or `failed(msg)`.
    pub state: String,
}

fn render_ranges(r: &[(i64, i64)]) -> String {
    r.iter()
        .map(|(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
        .collect::<Vec<_>>()
        .join(",")
}

/// Lists sessions (optionally of one node, optionally only blocked ones).
pub fn sessions(
    db: &mut dyn Sql,
    node: Option<&str>,
    blocked_only: bool,
) -> Result<Vec<SessionInfo>, WarehouseError> {
    let rows = db.query(
        "SELECT node_id, anonymization_context, session_id, sequence_number FROM passive_updates
         WHERE CAST(? AS TEXT) IS NULL OR node_id = ? ORDER BY node_id, anonymization_context, session_id, sequence_number",
        &[node.into(), node.into()],
    )?;
    let mut seqs: Vec<((String, String, i64), Vec<i64>)> = Vec::new();
    for r in &rows.rows {
        let key = (r[0].to_text(), r[1].to_text(), r[2].as_i64().unwrap_or(0));
        let s = r[3].as_i64().unwrap_or(0);
        match seqs.last_mut() {
            Some((k, v)) if *k == key => v.push(s),
            _ => seqs.push((key, vec![s])),
        }
    }
    let pos = db.query(
        "SELECT node_id, anonymization_context, session_id, MIN(last_seq) FROM passive_positions
         GROUP BY node_id, anonymization_context, session_id",
        &[],
    )?;
    let pos: HashMap<(String, String, i64), i64> = pos
        .rows
        .iter()
        .map(|r| {
            (
                (r[0].to_text(), r[1].to_text(), r[2].as_i64().unwrap_or(0)),
                r[3].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    let failed = db.query(
        "SELECT partition_key, MAX(error) FROM catalog_partitions WHERE kind = 'passive' AND state = 'failed'
         GROUP BY partition_key",
        &[],
    )?;
    let failed: HashMap<String, String> =
        failed.rows.iter().map(|r| (r[0].to_text(), r[1].to_text())).collect();
    let mut out = Vec::new();
    for ((n, c, s), v) in seqs {
        let ranges = index::ranges(&v);
        let gaps: Vec<(i64, i64)> = ranges.windows(2).map(|w| (w[0].1 + 1, w[1].0 - 1)).collect();
        let missing_start = v.first() != Some(&0);
        let processed_through = pos.get(&(n.clone(), c.clone(), s)).copied().unwrap_or(-1);
        let pkey = format!("{n}/{c}/{s}");
        let state = if let Some(msg) = failed.get(&pkey) {
            format!("failed({msg})")
        } else if missing_start {
            "missing_start".to_string()
        } else if let Some(g) = gaps.first() {
            format!("waiting(gap {})", render_ranges(&[*g]))
        } else {
            "ok".to_string()
        };
        let info = SessionInfo {
            node_id: n,
            anonymization_context: c,
            session_id: s,
            updates: v.len() as i64,
            ranges,
            gaps,
            missing_start,
            processed_through,
            state,
        };
        if !blocked_only || info.state != "ok" {
            out.push(info);
        }
    }
    Ok(out)
}

/// The listing as printable rows (context cut to 8 characters, session time in UTC).
pub fn sessions_rows(list: &[SessionInfo]) -> Rows {
    let columns = [
        "node_id",
        "context",
        "session_id",
        "session_time",
        "updates",
        "ranges",
        "gaps",
        "processed_through",
        "state",
    ];
    Rows {
        columns: columns.iter().map(|c| c.to_string()).collect(),
        rows: list
            .iter()
            .map(|s| {
                let ctx: String = s.anonymization_context.chars().take(8).collect();
                let time = vantage_core::Timestamp(s.session_id.saturating_mul(1000)).to_rfc3339();
                let gaps = render_ranges(&s.gaps);
                vec![
                    s.node_id.as_str().into(),
                    ctx.into(),
                    s.session_id.into(),
                    time.into(),
                    s.updates.into(),
                    render_ranges(&s.ranges).into(),
                    gaps.into(),
                    s.processed_through.into(),
                    Value::from(s.state.as_str()),
                ]
            })
            .collect(),
    }
}
