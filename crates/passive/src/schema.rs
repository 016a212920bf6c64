//! The passive tables (spec §3, §5, §7), as one set of portable migrations.
//!
//! The byte-count tables come in six families × three granularities with the same shape,
//! so their DDL is generated from [`FAMILIES`] once; everything else is written out.

use std::sync::OnceLock;

use vantage_warehouse::Migration;

/// One byte-count family (spec §6.2): its name and the key columns besides node and bin.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// Table stem: `passive_<name>_per_<granularity>`.
    pub name: &'static str,
    /// Whether the key carries `anonymization_context` (per-device families).
    pub per_context: bool,
    /// Key columns after the time bin.
    pub keys: &'static [&'static str],
}

/// The six families, in the order the processor fills them.
pub const FAMILIES: [Family; 6] = [
    Family { name: "bytes", per_context: false, keys: &[] },
    Family { name: "bytes_per_port", per_context: false, keys: &["port"] },
    Family { name: "bytes_per_domain", per_context: false, keys: &["domain"] },
    Family { name: "bytes_per_device", per_context: true, keys: &["mac_address"] },
    Family { name: "bytes_per_device_per_port", per_context: true, keys: &["mac_address", "port"] },
    Family {
        name: "bytes_per_device_per_domain",
        per_context: true,
        keys: &["mac_address", "domain"],
    },
];

/// Time-bin granularities and their widths in s.
pub const GRANULARITIES: [(&str, i64); 3] = [("minute", 60), ("hour", 3600), ("day", 86400)];

impl Family {
    /// The table of this family at a granularity.
    pub fn table(&self, granularity: &str) -> String {
        format!("passive_{}_per_{granularity}", self.name)
    }

    /// Key columns in order: node, [context], bin, keys.
    pub fn key_columns(&self, granularity: &str) -> Vec<&'static str> {
        let bin: &'static str = match granularity {
            "hour" => "hour",
            "day" => "day",
            _ => "minute",
        };
        let mut cols = vec!["node_id"];
        if self.per_context {
            cols.push("anonymization_context");
        }
        cols.push(bin);
        cols.extend_from_slice(self.keys);
        cols
    }
}

fn column_type(col: &str) -> &'static str {
    match col {
        "port" | "minute" | "hour" | "day" => "BIGINT NOT NULL",
        _ => "TEXT NOT NULL",
    }
}

fn bytes_ddl() -> String {
    let mut out = String::new();
    for f in FAMILIES {
        for (g, _) in GRANULARITIES {
            let cols = f.key_columns(g);
            let defs: Vec<String> =
                cols.iter().map(|c| format!("    {c} {}", column_type(c))).collect();
            out.push_str(&format!(
                "CREATE TABLE {} (\n{},\n    bytes BIGINT NOT NULL,\n    PRIMARY KEY ({})\n);\n",
                f.table(g),
                defs.join(",\n"),
                cols.join(", ")
            ));
        }
    }
    out
}

const CORE_DDL: &str = "
CREATE TABLE passive_tarballs (
    tarball_id {serial_pk},
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    md5_in_name TEXT,
    size BIGINT NOT NULL,
    archive_path TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    members BIGINT NOT NULL,
    indexed BIGINT NOT NULL,
    duplicates BIGINT NOT NULL,
    quarantined BIGINT NOT NULL,
    ingested_at BIGINT NOT NULL
);
CREATE TABLE passive_updates (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    sequence_number BIGINT NOT NULL,
    file_format_version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    source_id BIGINT NOT NULL,
    member_name TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    raw_size BIGINT NOT NULL,
    body {blob} NOT NULL,
    warnings TEXT NOT NULL,
    ingested_at BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, session_id, sequence_number)
);
CREATE TABLE passive_member_quarantine (
    source_id BIGINT NOT NULL,
    member TEXT NOT NULL,
    reason TEXT NOT NULL,
    section TEXT,
    line BIGINT,
    message TEXT NOT NULL,
    stored_path TEXT NOT NULL
);
CREATE TABLE passive_sessions (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    updates BIGINT NOT NULL,
    max_seq BIGINT NOT NULL,
    contiguous_through BIGINT NOT NULL,
    first_created BIGINT,
    last_created BIGINT,
    ranges_updates BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, session_id)
);
CREATE TABLE passive_node_aliases (
    node_id TEXT PRIMARY KEY,
    raw_node_id TEXT NOT NULL
);
CREATE TABLE passive_frequent (
    node_id TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    frequent_seq BIGINT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT,
    router_mac TEXT,
    PRIMARY KEY (node_id, session_id, frequent_seq)
);
CREATE TABLE passive_frequent_devices (
    node_id TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    frequent_seq BIGINT NOT NULL,
    mac_address TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (node_id, session_id, frequent_seq, mac_address)
);
CREATE TABLE passive_positions (
    processor TEXT NOT NULL,
    version BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    state {blob},
    PRIMARY KEY (processor, node_id, anonymization_context, session_id)
);
CREATE TABLE passive_dirty (
    node_id TEXT NOT NULL,
    from_minute BIGINT NOT NULL,
    to_minute BIGINT NOT NULL
);
CREATE TABLE passive_flow_statistics (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    flow_id BIGINT NOT NULL,
    defined_seq BIGINT NOT NULL,
    start_us BIGINT,
    end_us BIGINT,
    protocol BIGINT NOT NULL,
    port BIGINT NOT NULL,
    devices TEXT NOT NULL,
    domains TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    packets BIGINT NOT NULL,
    closed BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, session_id, flow_id, defined_seq)
);
CREATE TABLE passive_ip_counts (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    remote_ip TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    packets BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, remote_ip)
);
CREATE TABLE passive_packet_sizes_per_port (
    node_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    port BIGINT NOT NULL,
    packet_size BIGINT NOT NULL,
    inbound BIGINT NOT NULL,
    outbound BIGINT NOT NULL,
    PRIMARY KEY (node_id, protocol, port, packet_size)
);
CREATE TABLE passive_packet_sizes_unmatched (
    node_id TEXT NOT NULL,
    packet_size BIGINT NOT NULL,
    packets BIGINT NOT NULL,
    PRIMARY KEY (node_id, packet_size)
);
CREATE TABLE passive_update_statistics (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    sequence_number BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    file_format_version BIGINT NOT NULL,
    packets BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    new_flows BIGINT NOT NULL,
    flow_table_size BIGINT NOT NULL,
    packet_series_dropped BIGINT NOT NULL,
    a_records BIGINT NOT NULL,
    cname_records BIGINT NOT NULL,
    a_records_dropped BIGINT NOT NULL,
    cname_records_dropped BIGINT NOT NULL,
    dns_bad_packet_ids BIGINT NOT NULL,
    pcap_dropped BIGINT,
    iface_dropped BIGINT,
    flow_table_dropped BIGINT NOT NULL,
    flow_table_expired BIGINT NOT NULL,
    pcap_dropped_delta BIGINT NOT NULL,
    iface_dropped_delta BIGINT NOT NULL,
    flow_table_dropped_delta BIGINT NOT NULL,
    flow_table_expired_delta BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, session_id, sequence_number)
);
CREATE TABLE passive_availability_ranges (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    start BIGINT NOT NULL,
    \"end\" BIGINT NOT NULL,
    consistent BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, session_id, first_seq)
);
CREATE TABLE passive_session_spans (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    session_id BIGINT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, session_id)
);
CREATE TABLE passive_uptime_intervals (
    node_id TEXT NOT NULL,
    start_us BIGINT NOT NULL,
    end_us BIGINT NOT NULL,
    PRIMARY KEY (node_id, start_us)
);
CREATE TABLE passive_lookups_per_device_per_hour (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    domain TEXT NOT NULL,
    hour BIGINT NOT NULL,
    lookups BIGINT NOT NULL,
    is_mobile BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, mac_address, domain, hour)
);
CREATE TABLE passive_domains_accessed (
    node_id TEXT NOT NULL,
    anonymization_context TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    domain TEXT NOT NULL,
    day BIGINT NOT NULL,
    PRIMARY KEY (node_id, anonymization_context, mac_address, domain, day)
);
CREATE VIEW passive_node_statistics AS
SELECT node_id,
       COUNT(*) AS updates,
       SUM(packets) AS packets,
       SUM(packet_series_dropped + pcap_dropped_delta + iface_dropped_delta) AS dropped_packets,
       SUM(new_flows) AS flows,
       SUM(flow_table_dropped_delta) AS dropped_flows,
       SUM(bytes) AS bytes
FROM passive_update_statistics GROUP BY node_id;
";

/// The migrations of the `passive` owner.
pub fn migrations() -> &'static [Migration] {
    static DDL: OnceLock<String> = OnceLock::new();
    static MIGRATIONS: OnceLock<[Migration; 1]> = OnceLock::new();
    let ddl = DDL.get_or_init(|| format!("{CORE_DDL}{}", bytes_ddl()));
    MIGRATIONS.get_or_init(|| [Migration { version: 1, name: "passive tables", sql: ddl.as_str() }])
}

/// Applies the passive migrations (idempotent; every stage calls it first).
pub fn migrate(
    wh: &mut vantage_warehouse::Warehouse,
) -> Result<(), vantage_warehouse::WarehouseError> {
    wh.migrate("passive", migrations())
}
