//! Section names of an update (spec §2.1), as errors, warnings and quarantine rows name
//! them.

use serde::Serialize;

/// One section of a regular update, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Section {
    /// §0: version, build, identity, pcap counters.
    Intro,
    /// §1: whitelisted domains.
    Whitelist,
    /// §2: the signature.
    Anonymization,
    /// §3: packets.
    PacketSeries,
    /// §4: flow table.
    FlowTable,
    /// §5: DNS A records.
    DnsA,
    /// §6: DNS CNAME records.
    DnsCname,
    /// §7: address table.
    AddressTable,
    /// §8: drop statistics (v≥2).
    DropStatistics,
    /// §9: HTTP URLs.
    HttpUrls,
}

/// Sections in file order; the first eight are mandatory.
pub const SECTIONS: [Section; 10] = [
    Section::Intro,
    Section::Whitelist,
    Section::Anonymization,
    Section::PacketSeries,
    Section::FlowTable,
    Section::DnsA,
    Section::DnsCname,
    Section::AddressTable,
    Section::DropStatistics,
    Section::HttpUrls,
];

/// How many sections every regular update has.
pub const MANDATORY: usize = 8;

impl Section {
    /// The name used in messages and in the conformance data.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Intro => "intro",
            Section::Whitelist => "whitelist",
            Section::Anonymization => "anonymization",
            Section::PacketSeries => "packet series",
            Section::FlowTable => "flow table",
            Section::DnsA => "DNS A records",
            Section::DnsCname => "DNS CNAME records",
            Section::AddressTable => "address table",
            Section::DropStatistics => "drop statistics",
            Section::HttpUrls => "HTTP URLs",
        }
    }

    /// The section named `name` (as [`Section::as_str`] spells it).
    pub fn parse(name: &str) -> Option<Section> {
        SECTIONS.iter().copied().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
