//! Turns a session's [`Outputs`] into the statements of its transaction: add-upserts into
//! the counting tables, replace-upserts for flow rows and spans, inserts for update
//! statistics, and the dirty marks the coordinator rolls up (spec §5).
//!
//! The statements are built by the worker that computed the rows, outside the commit, so
//! the writer only executes them. Rows are sorted by key: every transaction then touches
//! shared rows (a node's per-minute and per-port rows, written by each of its sessions) in
//! the same order, so PostgreSQL sessions committing in parallel wait for each other but
//! never deadlock, and SQLite inserts walk its B-trees in order.

use vantage_warehouse::{Sql, Value, WarehouseError};

use crate::schema::FAMILIES;
use crate::state::{Outputs, STATS_COLUMNS};
use crate::SessionKey;

/// How a conflicting row is merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// Value columns are added.
    Add,
    /// Value columns are replaced.
    Replace,
    /// The existing row stays.
    Ignore,
}

/// One statement of a prepared write.
#[derive(Debug, Clone)]
pub struct Statement {
    /// SQL with `?` placeholders.
    pub sql: String,
    /// Its parameters.
    pub params: Vec<Value>,
}

/// Rows per multi-row statement, largest first. The remainder of a table's rows is split
/// into the smaller sizes, so that a table needs at most three statement texts and
/// SQLite's prepared-statement cache keeps them all.
const BATCHES: [usize; 3] = [200, 16, 1];

/// Appends the statements that upsert rows (key columns then value columns) into `table`.
pub fn upsert(
    out: &mut Vec<Statement>,
    table: &str,
    keys: &[&str],
    values: &[&str],
    rows: Vec<Vec<Value>>,
    merge: Merge,
) {
    if rows.is_empty() {
        return;
    }
    let cols: Vec<&str> = keys.iter().chain(values).copied().collect();
    let one = format!("({})", vec!["?"; cols.len()].join(", "));
    let tail = match merge {
        Merge::Ignore => format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")),
        Merge::Add | Merge::Replace if values.is_empty() => {
            format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", "))
        }
        Merge::Add => format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            values
                .iter()
                .map(|v| match *v {
                    // A property of the key, not a count.
                    "is_mobile" => format!("{v} = excluded.{v}"),
                    _ => format!("{v} = {table}.{v} + excluded.{v}"),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Merge::Replace => format!(
            " ON CONFLICT ({}) DO UPDATE SET {}",
            keys.join(", "),
            values.iter().map(|v| format!("{v} = excluded.{v}")).collect::<Vec<_>>().join(", ")
        ),
    };
    let sql_for = |n: usize| {
        format!(
            "INSERT INTO {table} ({}) VALUES {}{tail}",
            cols.join(", "),
            vec![one.as_str(); n].join(", ")
        )
    };
    let mut rest = rows.as_slice();
    for size in BATCHES {
        if rest.len() < size {
            continue;
        }
        let sql = sql_for(size);
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            out.push(Statement {
                sql: sql.clone(),
                params: chunk.iter().flatten().cloned().collect(),
            });
            rest = tail;
        }
    }
}

/// Executes prepared statements in order.
pub fn execute(db: &mut dyn Sql, statements: &[Statement]) -> Result<(), WarehouseError> {
    for s in statements {
        db.execute(&s.sql, &s.params)?;
    }
    Ok(())
}

/// A map's entries sorted by key.
fn sorted<K: Ord, V>(map: impl IntoIterator<Item = (K, V)>) -> Vec<(K, V)> {
    let mut v: Vec<(K, V)> = map.into_iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The statements that write everything `out` holds for session `k`.
pub fn statements(k: &SessionKey, out: &Outputs) -> Vec<Statement> {
    let mut st = Vec::new();
    let db = &mut st;
    let node: Value = k.node_id.as_str().into();
    let ctx: Value = k.anonymization_context.as_str().into();
    // Byte families, per minute.
    let mut per_family: Vec<Vec<Vec<Value>>> = vec![Vec::new(); FAMILIES.len()];
    for ((fam, m, port, mac, domain), bytes) in sorted(&out.minute) {
        let f = &FAMILIES[usize::from(*fam)];
        let mut row = vec![node.clone()];
        if f.per_context {
            row.push(ctx.clone());
        }
        row.push((*m).into());
        for key in f.keys {
            row.push(match *key {
                "port" => (*port).into(),
                "mac_address" => mac.as_str().into(),
                _ => domain.as_str().into(),
            });
        }
        row.push((*bytes).into());
        per_family[usize::from(*fam)].push(row);
    }
    for (f, rows) in FAMILIES.iter().zip(per_family) {
        upsert(db, &f.table("minute"), &f.key_columns("minute"), &["bytes"], rows, Merge::Add);
    }
    if let Some((lo, hi)) = out.dirty {
        db.push(Statement {
            sql: "INSERT INTO passive_dirty (node_id, from_minute, to_minute) VALUES (?, ?, ?)"
                .into(),
            params: vec![node.clone(), lo.into(), hi.into()],
        });
    }
    let rows: Vec<Vec<Value>> = sorted(&out.ip_counts)
        .into_iter()
        .map(|(ip, (b, p))| {
            vec![node.clone(), ctx.clone(), ip.as_str().into(), (*b).into(), (*p).into()]
        })
        .collect();
    upsert(
        db,
        "passive_ip_counts",
        &["node_id", "anonymization_context", "remote_ip"],
        &["bytes", "packets"],
        rows,
        Merge::Add,
    );
    let rows: Vec<Vec<Value>> = sorted(&out.sizes)
        .into_iter()
        .map(|((tcp, port, size), (i, o))| {
            let proto = if *tcp { "tcp" } else { "udp" };
            vec![
                node.clone(),
                proto.into(),
                (*port).into(),
                (*size).into(),
                (*i).into(),
                (*o).into(),
            ]
        })
        .collect();
    upsert(
        db,
        "passive_packet_sizes_per_port",
        &["node_id", "protocol", "port", "packet_size"],
        &["inbound", "outbound"],
        rows,
        Merge::Add,
    );
    let rows: Vec<Vec<Value>> = sorted(&out.unmatched)
        .into_iter()
        .map(|(s, n)| vec![node.clone(), (*s).into(), (*n).into()])
        .collect();
    upsert(
        db,
        "passive_packet_sizes_unmatched",
        &["node_id", "packet_size"],
        &["packets"],
        rows,
        Merge::Add,
    );
    let rows: Vec<Vec<Value>> = sorted(&out.lookups)
        .into_iter()
        .map(|((mac, name, hour), n)| {
            vec![
                node.clone(),
                ctx.clone(),
                mac.as_str().into(),
                name.as_str().into(),
                (*hour).into(),
                (*n).into(),
                crate::state::is_mobile(name).into(),
            ]
        })
        .collect();
    upsert(
        db,
        "passive_lookups_per_device_per_hour",
        &["node_id", "anonymization_context", "mac_address", "domain", "hour"],
        &["lookups", "is_mobile"],
        rows,
        Merge::Add,
    );
    let mut accessed: Vec<&(String, String, i64)> = out.accessed.iter().collect();
    accessed.sort_unstable();
    let rows: Vec<Vec<Value>> = accessed
        .into_iter()
        .map(|(mac, name, day)| {
            vec![
                node.clone(),
                ctx.clone(),
                mac.as_str().into(),
                name.as_str().into(),
                (*day).into(),
            ]
        })
        .collect();
    upsert(
        db,
        "passive_domains_accessed",
        &["node_id", "anonymization_context", "mac_address", "domain", "day"],
        &[],
        rows,
        Merge::Ignore,
    );
    let rows: Vec<Vec<Value>> = out
        .stats
        .iter()
        .map(|s| {
            let mut r = vec![node.clone(), ctx.clone(), k.session_id.into(), s.seq.into()];
            r.extend(s.values.iter().map(|v| Value::from(*v)));
            r
        })
        .collect();
    upsert(
        db,
        "passive_update_statistics",
        &["node_id", "anonymization_context", "session_id", "sequence_number"],
        &STATS_COLUMNS,
        rows,
        Merge::Replace,
    );
    let rows: Vec<Vec<Value>> = sorted(&out.flows)
        .into_iter()
        .map(|((fid, dseq), f)| {
            vec![
                node.clone(),
                ctx.clone(),
                k.session_id.into(),
                (*fid).into(),
                (*dseq).into(),
                f.start_us.into(),
                f.end_us.into(),
                f.protocol.into(),
                f.port.into(),
                serde_json::to_string(&f.devices).unwrap_or_default().into(),
                serde_json::to_string(&f.domains).unwrap_or_default().into(),
                f.bytes.into(),
                f.packets.into(),
                f.closed.into(),
            ]
        })
        .collect();
    upsert(
        db,
        "passive_flow_statistics",
        &["node_id", "anonymization_context", "session_id", "flow_id", "defined_seq"],
        &[
            "start_us", "end_us", "protocol", "port", "devices", "domains", "bytes", "packets",
            "closed",
        ],
        rows,
        Merge::Replace,
    );
    if let Some((s, e)) = out.span {
        upsert(
            db,
            "passive_session_spans",
            &["node_id", "anonymization_context", "session_id"],
            &["start_us", "end_us"],
            vec![vec![node.clone(), ctx.clone(), k.session_id.into(), s.into(), e.into()]],
            Merge::Replace,
        );
    }
    st
}
