//! Flow records (spec §10): the `packets_flows` table and its idempotent insert.
//!
//! `flow_id` is the first 8 bytes (big-endian, signed) of SHA-256 over the sensor and the
//! flow's identity and first time, so re-recording the same input or a restart writes the
//! same keys, and `INSERT ... ON CONFLICT DO NOTHING` keeps the first row.

use sha2::{Digest, Sha256};
use vantage_warehouse::{Migration, Sql, Value, WarehouseError};

use crate::conn::Flow;
use crate::key::addr_text;

/// The schema of `packets_flows`.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "packets_flows",
    sql: "
CREATE TABLE packets_flows (
    sensor TEXT NOT NULL,
    flow_id BIGINT NOT NULL,
    proto BIGINT NOT NULL,
    orig_addr TEXT NOT NULL,
    orig_port BIGINT NOT NULL,
    resp_addr TEXT NOT NULL,
    resp_port BIGINT NOT NULL,
    first_ns BIGINT NOT NULL,
    last_ns BIGINT NOT NULL,
    removed_ns BIGINT NOT NULL,
    orig_pkts BIGINT NOT NULL,
    orig_bytes BIGINT NOT NULL,
    resp_pkts BIGINT NOT NULL,
    resp_bytes BIGINT NOT NULL,
    stored_pkts BIGINT NOT NULL,
    stored_bytes BIGINT NOT NULL,
    cut_pkts BIGINT NOT NULL,
    cut_bytes BIGINT NOT NULL,
    class TEXT,
    vlan BIGINT,
    orig_mac TEXT,
    resp_mac TEXT,
    eth_type BIGINT NOT NULL,
    if_index BIGINT NOT NULL,
    end_reason TEXT NOT NULL,
    community_id TEXT,
    PRIMARY KEY (sensor, flow_id)
);
CREATE INDEX packets_flows_first ON packets_flows (first_ns);
",
}];

/// The flow id of spec §10.
pub fn flow_id(sensor: &str, f: &Flow) -> i64 {
    let c = &f.conn;
    let mut h = Sha256::new();
    h.update(u32::try_from(sensor.len()).unwrap_or(u32::MAX).to_be_bytes());
    h.update(sensor.as_bytes());
    h.update([c.key.proto]);
    h.update(c.orig.0);
    h.update(c.orig.1.to_be_bytes());
    h.update(c.resp.0);
    h.update(c.resp.1.to_be_bytes());
    h.update(c.first_ns.to_be_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    i64::from_be_bytes(b)
}

fn mac(m: Option<[u8; 6]>) -> Value {
    match m {
        Some(m) => Value::Text(m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")),
        None => Value::Null,
    }
}

const COLUMNS: &str = "sensor, flow_id, proto, orig_addr, orig_port, resp_addr, resp_port, first_ns, last_ns, \
    removed_ns, orig_pkts, orig_bytes, resp_pkts, resp_bytes, stored_pkts, stored_bytes, cut_pkts, cut_bytes, \
    class, vlan, orig_mac, resp_mac, eth_type, if_index, end_reason, community_id";

/// Inserts flows idempotently; `class_name` maps a connection's class index to its name.
/// Returns rows written (existing keys are kept as they are).
pub fn insert(
    db: &mut dyn Sql,
    sensor: &str,
    flows: &[Flow],
    class_name: &dyn Fn(usize) -> Option<String>,
) -> Result<u64, WarehouseError> {
    let sql = format!(
        "INSERT INTO packets_flows ({COLUMNS}) VALUES ({}) ON CONFLICT (sensor, flow_id) DO NOTHING",
        vec!["?"; 26].join(", ")
    );
    let mut n = 0;
    let i = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
    for f in flows {
        let c = &f.conn;
        let row = vec![
            Value::Text(sensor.into()),
            Value::Int(flow_id(sensor, f)),
            Value::Int(i64::from(c.key.proto)),
            Value::Text(addr_text(&c.orig.0)),
            Value::Int(i64::from(c.orig.1)),
            Value::Text(addr_text(&c.resp.0)),
            Value::Int(i64::from(c.resp.1)),
            Value::Int(c.first_ns),
            Value::Int(c.last_ns),
            Value::Int(f.removed_ns),
            i(c.pkts[0]),
            i(c.bytes[0]),
            i(c.pkts[1]),
            i(c.bytes[1]),
            i(c.stored_pkts),
            i(c.stored_bytes),
            i(c.cut_pkts),
            i(c.cut_bytes),
            c.class.and_then(class_name).map_or(Value::Null, Value::Text),
            c.vlan.map_or(Value::Null, |v| Value::Int(i64::from(v))),
            mac(c.orig_mac),
            if c.pkts[1] == 0 { Value::Null } else { mac(c.resp_mac) },
            Value::Int(i64::from(c.eth_type)),
            Value::Int(i64::from(c.if_index)),
            Value::Text(f.reason.as_str().into()),
            Value::Null,
        ];
        n += db.execute(&sql, &row)?;
    }
    Ok(n)
}
