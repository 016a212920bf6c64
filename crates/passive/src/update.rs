//! The canonical parsed update (spec §2.6): one struct per section entry, fields named as
//! the spec's §2.2 table and the conformance data's `expected/*.json`, so that a parsed
//! update serializes to exactly that JSON.

use serde::{Deserialize, Serialize};

/// One packet of the packet series, with its time made absolute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    /// Absolute time in µs since the epoch (header time plus the running offsets).
    pub ts_us: i64,
    /// pcap length, 0..65535.
    pub size: u16,
    /// Flow id (−1: none).
    pub flow_id: i32,
}

/// One flow-table entry: a flow new since the previous update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// Flow id the packets refer to.
    pub flow_id: i32,
    /// Whether `src_ip` is a router hash (true) or the clear `%x` form.
    pub src_anonymized: bool,
    /// Source address token.
    pub src_ip: String,
    /// Whether `dst_ip` is a router hash.
    pub dst_anonymized: bool,
    /// Destination address token.
    pub dst_ip: String,
    /// IP protocol number.
    pub protocol: u8,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

/// One DNS A record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ARecord {
    /// Index into this update's packets (may be out of range, spec §2.4).
    pub packet_id: i32,
    /// Address-table id of the client.
    pub address_id: i32,
    /// Whether domain and IP are router hashes.
    pub anonymized: bool,
    /// Name or 40-hex hash.
    pub domain: String,
    /// Address token.
    pub ip: String,
    /// TTL in s (negative: used as 0).
    pub ttl: i32,
}

/// One DNS CNAME record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CnameRecord {
    /// Index into this update's packets.
    pub packet_id: i32,
    /// Address-table id of the client.
    pub address_id: i32,
    /// Whether `domain` (the alias) is hashed.
    pub domain_anonymized: bool,
    /// The alias.
    pub domain: String,
    /// Whether `cname` is hashed (v≤2: the same flag as the domain).
    pub cname_anonymized: bool,
    /// The target.
    pub cname: String,
    /// TTL in s.
    pub ttl: i32,
}

/// One address-table entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// 12 hex: OUI clear, low 24 bits hashed.
    pub mac: String,
    /// Hashed IP.
    pub ip: String,
}

/// One drop-statistics entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DroppedPackets {
    /// Packet size.
    pub size: u32,
    /// Packets of that size dropped (cumulative in practice, spec §2.4).
    pub count: u32,
}

/// One HTTP URL entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpUrl {
    /// Flow id.
    pub flow_id: i32,
    /// 40-hex URL hash.
    pub url_hash: String,
}

/// A warning: kept with the update, never blocking (spec §2.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Section name (`intro`, `packet series`, ...).
    pub section: String,
    /// 1-based line over the decompressed text.
    pub line: u64,
    /// Informative text.
    pub message: String,
}

/// A parsed regular update (spec §2.6), field for field the conformance JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// 0 = unversioned.
    pub file_format_version: i32,
    /// Usually `UNKNOWN`.
    pub build_id: String,
    /// Raw `OW`+MAC before §4, the pseudonym after.
    pub node_id: String,
    /// µs since the epoch (process start).
    pub session_id: i64,
    /// Sequence number within the session.
    pub sequence_number: i32,
    /// Router clock at write, s.
    pub created_at: i64,
    /// Cumulative pcap counter (None without the line).
    pub pcap_received: Option<u32>,
    /// Cumulative pcap drop counter.
    pub pcap_dropped: Option<u32>,
    /// Cumulative interface drop counter.
    pub iface_dropped: Option<u32>,
    /// Whitelisted domains (seq 0 only matters).
    pub whitelist: Vec<String>,
    /// Signature; None = UNANONYMIZED.
    pub anonymization_context: Option<String>,
    /// Packets dropped from the series in this update.
    pub packet_series_dropped: u32,
    /// The packet series.
    pub packets: Vec<Packet>,
    /// Flow table baseline, s.
    pub flow_table_baseline: i64,
    /// Flow table gauge.
    pub flow_table_size: u32,
    /// Cumulative expired flows.
    pub flow_table_expired: i32,
    /// Cumulative dropped flows.
    pub flow_table_dropped: i32,
    /// New flows.
    pub flows: Vec<Flow>,
    /// A records dropped in this update.
    pub a_records_dropped: i32,
    /// CNAME records dropped in this update.
    pub cname_records_dropped: i32,
    /// A records.
    pub a_records: Vec<ARecord>,
    /// CNAME records.
    pub cname_records: Vec<CnameRecord>,
    /// Id of the first new address entry.
    pub address_table_first_id: i32,
    /// Address table size (modulus of ids; 0: no modulo).
    pub address_table_size: i32,
    /// New address entries.
    pub addresses: Vec<Address>,
    /// Drop statistics (None without section 8).
    pub dropped_packets: Option<Vec<DroppedPackets>>,
    /// Dropped URL count of the HTTP block.
    pub http_urls_dropped: Option<i32>,
    /// HTTP URLs.
    pub http_urls: Vec<HttpUrl>,
    /// Warnings met while parsing.
    pub warnings: Vec<Warning>,
}

/// The session an update belongs to: (node_id, anonymization_context, session_id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionKey {
    /// Node id (pseudonym once ingested).
    pub node_id: String,
    /// Anonymization context (signature).
    pub anonymization_context: String,
    /// Session id, µs.
    pub session_id: i64,
}

impl std::fmt::Display for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.node_id, self.anonymization_context, self.session_id)
    }
}

impl Update {
    /// The session of this update (an UNANONYMIZED update has context "").
    pub fn session(&self) -> SessionKey {
        SessionKey {
            node_id: self.node_id.clone(),
            anonymization_context: self.anonymization_context.clone().unwrap_or_default(),
            session_id: self.session_id,
        }
    }
}
