//! The update parser (spec §2): decompressed text → [`Update`].
//!
//! The text is split into sections on empty lines (§2.1), each section parsed by one
//! function below, line numbers counted from 1 over the whole text. Unrecoverable
//! problems are a [`ParseError`] naming section and line; everything the spec tolerates
//! becomes a [`Warning`] kept with the update. Where the spec is silent the reference
//! model (`tools/refmodel.py` of the conformance data) decides, e.g. extra tokens on the
//! version line are an error.

use crate::section::{Section, MANDATORY, SECTIONS};
use crate::update::{
    ARecord, Address, CnameRecord, DroppedPackets, Flow, HttpUrl, Packet, Update, Warning,
};

/// An update that cannot be parsed: the section and 1-based line, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("section {section}, line {line}: {message}")]
pub struct ParseError {
    /// The section being parsed.
    pub section: Section,
    /// 1-based line over the decompressed text.
    pub line: u64,
    /// What is wrong, naming the token.
    pub message: String,
}

const KNOWN_VERSIONS: std::ops::RangeInclusive<i64> = 0..=5;
const U32: (i64, i64) = (0, u32::MAX as i64);
const I32: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);
const I64: (i64, i64) = (i64::MIN, i64::MAX);

/// One section's lines and the number of its first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSection<'a> {
    /// 1-based number of the section's first line.
    pub first_line: u64,
    /// The lines, as written (not trimmed).
    pub lines: Vec<&'a str>,
}

/// Splits text into sections on empty (or blank) lines; consecutive empty lines give
/// empty sections, and the empty string after a final newline opens none.
pub fn split_sections(text: &str) -> Vec<RawSection<'_>> {
    let mut sections = Vec::new();
    let mut current = RawSection { first_line: 1, lines: Vec::new() };
    for (idx, line) in text.split('\n').enumerate() {
        let number = idx as u64 + 1;
        if line.bytes().all(|b| b.is_ascii_whitespace()) {
            let next = RawSection { first_line: number + 1, lines: Vec::new() };
            sections.push(std::mem::replace(&mut current, next));
        } else {
            current.lines.push(line);
        }
    }
    if !current.lines.is_empty() {
        sections.push(current);
    }
    sections
}

/// Parser context: the section being read and the warnings gathered so far.
struct Cx {
    section: Section,
    warnings: Vec<Warning>,
    /// Extra-token warnings, reported after the others (as the reference model does).
    extra: Vec<Warning>,
}

impl Cx {
    fn new() -> Cx {
        Cx { section: Section::Intro, warnings: Vec::new(), extra: Vec::new() }
    }

    fn err(&self, line: u64, message: String) -> ParseError {
        ParseError { section: self.section, line, message }
    }

    fn warn(&mut self, line: u64, message: &str) {
        let w = Warning { section: self.section.as_str().into(), line, message: message.into() };
        self.warnings.push(w);
    }

    /// A number token within `lo..=hi`.
    fn int(
        &self,
        tok: Option<&str>,
        line: u64,
        what: &str,
        range: (i64, i64),
    ) -> Result<i64, ParseError> {
        let Some(tok) = tok else {
            return Err(self.err(line, format!("missing {what}")));
        };
        // One pass: syntax, then overflow, then the range (accumulated negatively so
        // that i64::MIN parses).
        let bytes = tok.as_bytes();
        let (neg, digits) = match bytes.first() {
            Some(b'-') => (true, &bytes[1..]),
            Some(b'+') => (false, &bytes[1..]),
            _ => (false, bytes),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(self.err(line, format!("invalid {what} '{tok}'")));
        }
        let mut acc: i64 = 0;
        for d in digits {
            acc = match acc.checked_mul(10).and_then(|a| a.checked_sub(i64::from(d - b'0'))) {
                Some(a) => a,
                None => return Err(self.err(line, format!("{what} '{tok}' out of range"))),
            };
        }
        let v = if neg { Some(acc) } else { acc.checked_neg() };
        match v {
            Some(v) if v >= range.0 && v <= range.1 => Ok(v),
            _ => Err(self.err(line, format!("{what} '{tok}' out of range"))),
        }
    }

    fn flag(&self, tok: Option<&str>, line: u64, what: &str) -> Result<bool, ParseError> {
        match tok {
            Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(t) => Err(self.err(line, format!("invalid {what} flag '{t}'"))),
            None => Err(self.err(line, format!("missing {what} flag"))),
        }
    }

    /// [`Cx::need`] for a line read with [`fields`].
    fn need_n(
        &mut self,
        n: usize,
        extra: bool,
        line: u64,
        names: &[&str],
    ) -> Result<(), ParseError> {
        if let Some(missing) = names.get(n) {
            return Err(self.err(line, format!("missing {missing}")));
        }
        if extra {
            let w = Warning {
                section: self.section.as_str().into(),
                line,
                message: "extra tokens ignored".into(),
            };
            self.extra.push(w);
        }
        Ok(())
    }

    /// Checks that a line has at least `names.len()` tokens; more is a warning.
    fn need(&mut self, words: &[&str], line: u64, names: &[&str]) -> Result<(), ParseError> {
        if let Some(missing) = names.get(words.len()) {
            return Err(self.err(line, format!("missing {missing}")));
        }
        if words.len() > names.len() {
            let w = Warning {
                section: self.section.as_str().into(),
                line,
                message: "extra tokens ignored".into(),
            };
            self.extra.push(w);
        }
        Ok(())
    }
}

fn words(line: &str) -> Vec<&str> {
    line.split_ascii_whitespace().collect()
}

/// The first `N` tokens of a line without allocating (the packet series has up to 65,536
/// lines per update), how many there were (at most `N`), and whether more follow.
fn fields<const N: usize>(line: &str) -> ([&str; N], usize, bool) {
    let mut out = [""; N];
    let mut it = line.split_ascii_whitespace();
    let mut n = 0;
    for slot in out.iter_mut() {
        match it.next() {
            Some(t) => {
                *slot = t;
                n += 1;
            }
            None => return (out, n, false),
        }
    }
    (out, n, it.next().is_some())
}

fn is_int(tok: &str) -> bool {
    let digits = tok.strip_prefix(['+', '-']).unwrap_or(tok);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Narrows a value the range check of [`Cx::int`] already bounded.
fn narrow<T: TryFrom<i64> + Default>(v: i64) -> T {
    T::try_from(v).unwrap_or_default()
}

/// Parses one decompressed update.
pub fn parse_update(text: &str) -> Result<Update, ParseError> {
    let mut cx = Cx::new();
    let owned;
    let text = if text.contains('\r') {
        owned = text.replace("\r\n", "\n");
        cx.warn(1, "CRLF line ends");
        owned.as_str()
    } else {
        text
    };
    let secs = split_sections(text);
    if secs.len() < MANDATORY {
        let nlines = text.bytes().filter(|&b| b == b'\n').count() as u64 + 1;
        cx.section = SECTIONS[secs.len()];
        return Err(cx.err(nlines, "missing section".into()));
    }
    let mut u = Update::default();
    parse_intro(&mut cx, &secs[0].lines, secs[0].first_line, &mut u)?;
    cx.section = Section::Whitelist;
    u.whitelist = secs[1].lines.iter().map(|l| l.trim().to_string()).collect();
    if !u.whitelist.is_empty() && u.sequence_number != 0 {
        cx.warn(secs[1].first_line, "whitelist in an update with sequence number > 0 ignored");
    }
    cx.section = Section::Anonymization;
    parse_anonymization(&cx, &secs[2].lines, secs[2].first_line, &mut u, true)?;
    parse_packets(&mut cx, &secs[3].lines, secs[3].first_line, &mut u)?;
    parse_flows(&mut cx, &secs[4].lines, secs[4].first_line, &mut u)?;
    parse_a(&mut cx, &secs[5].lines, secs[5].first_line, &mut u)?;
    parse_cname(&mut cx, &secs[6].lines, secs[6].first_line, &mut u)?;
    parse_addresses(&mut cx, &secs[7].lines, secs[7].first_line, &mut u)?;
    if let Some(s) = secs.get(8) {
        parse_drops(&mut cx, &s.lines, s.first_line, &mut u)?;
    }
    if let Some(s) = secs.get(9).filter(|s| !s.lines.is_empty()) {
        parse_http(&mut cx, &s.lines, s.first_line, &mut u);
    }
    if secs.len() > 10 && secs[10..].iter().any(|s| !s.lines.is_empty()) {
        cx.section = Section::HttpUrls;
        cx.warn(secs[10].first_line, "extra sections ignored");
    }
    cx.warnings.append(&mut cx.extra);
    u.warnings = cx.warnings;
    Ok(u)
}

/// Parses one section on its own, its lines numbered from 1 (the section vectors);
/// `version` stands for the intro's (drop statistics depend on it). Returns the update
/// with only that section's fields set, and the warnings.
pub fn parse_section(
    section: Section,
    lines: &[&str],
    version: i32,
) -> Result<(Update, Vec<Warning>), ParseError> {
    let mut cx = Cx::new();
    cx.section = section;
    let mut u = Update { file_format_version: version, ..Update::default() };
    match section {
        Section::Intro => parse_intro(&mut cx, lines, 1, &mut u)?,
        Section::Whitelist => u.whitelist = lines.iter().map(|l| l.to_string()).collect(),
        Section::Anonymization => parse_anonymization(&cx, lines, 1, &mut u, false)?,
        Section::PacketSeries => parse_packets(&mut cx, lines, 1, &mut u)?,
        Section::FlowTable => parse_flows(&mut cx, lines, 1, &mut u)?,
        Section::DnsA => parse_a(&mut cx, lines, 1, &mut u)?,
        Section::DnsCname => parse_cname(&mut cx, lines, 1, &mut u)?,
        Section::AddressTable => parse_addresses(&mut cx, lines, 1, &mut u)?,
        Section::DropStatistics => parse_drops(&mut cx, lines, 1, &mut u)?,
        Section::HttpUrls => parse_http(&mut cx, lines, 1, &mut u),
    }
    cx.warnings.append(&mut cx.extra);
    Ok((u, cx.warnings))
}

fn parse_intro(cx: &mut Cx, lines: &[&str], start: u64, u: &mut Update) -> Result<(), ParseError> {
    cx.section = Section::Intro;
    let first = match lines.first() {
        Some(l) if !l.is_empty() => words(l),
        _ => return Err(cx.err(start, "missing file format version".into())),
    };
    let ident_idx;
    if first.len() == 4 && !is_int(first[0]) {
        // Unversioned layout (router before 085fbe4): the identity line comes first.
        u.file_format_version = 0;
        u.build_id = "UNKNOWN".into();
        ident_idx = 0;
        cx.warn(start, "unversioned update");
    } else {
        if first.len() != 1 {
            return Err(cx.err(start, format!("invalid file format version '{}'", lines[0])));
        }
        let v = cx.int(first.first().copied(), start, "file format version", (0, I32.1))?;
        u.file_format_version = narrow(v);
        if !KNOWN_VERSIONS.contains(&v) {
            let m = format!("unknown file format version {v}, read with the version 5 layout");
            cx.warn(start, &m);
        }
        match lines.get(1).map(|l| l.trim()) {
            Some(b) if !b.is_empty() => u.build_id = b.to_string(),
            _ => return Err(cx.err(start + 1, "missing build id".into())),
        }
        ident_idx = 2;
    }
    let ln = start + ident_idx as u64;
    let Some(ident) = lines.get(ident_idx) else {
        return Err(cx.err(ln, "missing node id".into()));
    };
    let w = words(ident);
    cx.need(&w, ln, &["node id", "session id", "sequence number", "creation timestamp"])?;
    u.node_id = w[0].to_string();
    u.session_id = cx.int(w.get(1).copied(), ln, "session id", I64)?;
    u.sequence_number = narrow(cx.int(w.get(2).copied(), ln, "sequence number", (0, I32.1))?);
    u.created_at = cx.int(w.get(3).copied(), ln, "creation timestamp", I64)?;
    u.pcap_received = None;
    u.pcap_dropped = None;
    u.iface_dropped = None;
    if let Some(pcap) = lines.get(ident_idx + 1) {
        let ln = ln + 1;
        let w = words(pcap);
        cx.need(&w, ln, &["pcap received", "pcap dropped", "interface dropped"])?;
        u.pcap_received = Some(narrow(cx.int(w.first().copied(), ln, "pcap received", U32)?));
        u.pcap_dropped = Some(narrow(cx.int(w.get(1).copied(), ln, "pcap dropped", U32)?));
        u.iface_dropped = Some(narrow(cx.int(w.get(2).copied(), ln, "interface dropped", U32)?));
    }
    if lines.len() > ident_idx + 2 {
        cx.warn(start + ident_idx as u64 + 2, "extra lines ignored");
    }
    Ok(())
}

fn parse_anonymization(
    cx: &Cx,
    lines: &[&str],
    start: u64,
    u: &mut Update,
    trim: bool,
) -> Result<(), ParseError> {
    let Some(first) = lines.first() else {
        return Err(cx.err(start, "missing anonymization signature".into()));
    };
    let sig = if trim { first.trim() } else { first };
    u.anonymization_context = if sig == "UNANONYMIZED" { None } else { Some(sig.to_string()) };
    Ok(())
}

fn parse_packets(
    cx: &mut Cx,
    lines: &[&str],
    start: u64,
    u: &mut Update,
) -> Result<(), ParseError> {
    cx.section = Section::PacketSeries;
    let Some(header) = lines.first() else {
        return Err(cx.err(start, "missing first packet timestamp".into()));
    };
    let w = words(header);
    cx.need(&w, start, &["first packet timestamp", "packets dropped"])?;
    let mut ts = cx.int(w.first().copied(), start, "first packet timestamp", I64)?;
    u.packet_series_dropped = narrow(cx.int(w.get(1).copied(), start, "packets dropped", U32)?);
    u.packets = Vec::with_capacity(lines.len().saturating_sub(1));
    for (i, line) in lines.iter().enumerate().skip(1) {
        let ln = start + i as u64;
        let (w, n, extra) = fields::<3>(line);
        cx.need_n(n, extra, ln, &["offset", "size", "flow id"])?;
        let offset = cx.int(w.first().copied(), ln, "offset", I64)?;
        ts = ts
            .checked_add(offset)
            .ok_or_else(|| cx.err(ln, format!("offset '{}' overflows the packet time", w[0])))?;
        let size = narrow(cx.int(w.get(1).copied(), ln, "size", (0, 65535))?);
        let flow_id = narrow(cx.int(w.get(2).copied(), ln, "flow id", I32)?);
        u.packets.push(Packet { ts_us: ts, size, flow_id });
    }
    Ok(())
}

fn parse_flows(cx: &mut Cx, lines: &[&str], start: u64, u: &mut Update) -> Result<(), ParseError> {
    cx.section = Section::FlowTable;
    let Some(header) = lines.first() else {
        return Err(cx.err(start, "missing baseline timestamp".into()));
    };
    let w = words(header);
    cx.need(&w, start, &["baseline timestamp", "table size", "expired count", "dropped count"])?;
    u.flow_table_baseline = cx.int(w.first().copied(), start, "baseline timestamp", I64)?;
    u.flow_table_size = narrow(cx.int(w.get(1).copied(), start, "table size", U32)?);
    u.flow_table_expired = narrow(cx.int(w.get(2).copied(), start, "expired count", I32)?);
    u.flow_table_dropped = narrow(cx.int(w.get(3).copied(), start, "dropped count", I32)?);
    const NAMES: [&str; 8] = [
        "flow id",
        "source anonymized",
        "source ip",
        "destination anonymized",
        "destination ip",
        "transport protocol",
        "source port",
        "destination port",
    ];
    u.flows = Vec::with_capacity(lines.len().saturating_sub(1));
    for (i, line) in lines.iter().enumerate().skip(1) {
        let ln = start + i as u64;
        let (w, n, extra) = fields::<8>(line);
        cx.need_n(n, extra, ln, &NAMES)?;
        u.flows.push(Flow {
            flow_id: narrow(cx.int(w.first().copied(), ln, "flow id", I32)?),
            src_anonymized: cx.flag(w.get(1).copied(), ln, "source anonymized")?,
            src_ip: w[2].to_string(),
            dst_anonymized: cx.flag(w.get(3).copied(), ln, "destination anonymized")?,
            dst_ip: w[4].to_string(),
            protocol: narrow(cx.int(w.get(5).copied(), ln, "transport protocol", (0, 255))?),
            src_port: narrow(cx.int(w.get(6).copied(), ln, "source port", (0, 65535))?),
            dst_port: narrow(cx.int(w.get(7).copied(), ln, "destination port", (0, 65535))?),
        });
    }
    Ok(())
}

fn parse_a(cx: &mut Cx, lines: &[&str], start: u64, u: &mut Update) -> Result<(), ParseError> {
    cx.section = Section::DnsA;
    let Some(header) = lines.first() else {
        return Err(cx.err(start, "missing dropped A records count".into()));
    };
    let w = words(header);
    cx.need(&w, start, &["dropped A records count", "dropped CNAME records count"])?;
    u.a_records_dropped =
        narrow(cx.int(w.first().copied(), start, "dropped A records count", I32)?);
    u.cname_records_dropped =
        narrow(cx.int(w.get(1).copied(), start, "dropped CNAME records count", I32)?);
    const NAMES: [&str; 6] = ["packet id", "address id", "anonymized", "domain", "ip", "ttl"];
    for (i, line) in lines.iter().enumerate().skip(1) {
        let ln = start + i as u64;
        let (w, n, extra) = fields::<6>(line);
        cx.need_n(n, extra, ln, &NAMES)?;
        u.a_records.push(ARecord {
            packet_id: narrow(cx.int(w.first().copied(), ln, "packet id", I32)?),
            address_id: narrow(cx.int(w.get(1).copied(), ln, "address id", I32)?),
            anonymized: cx.flag(w.get(2).copied(), ln, "anonymized")?,
            domain: w[3].to_string(),
            ip: w[4].to_string(),
            ttl: narrow(cx.int(w.get(5).copied(), ln, "ttl", I32)?),
        });
    }
    Ok(())
}

fn parse_cname(cx: &mut Cx, lines: &[&str], start: u64, u: &mut Update) -> Result<(), ParseError> {
    cx.section = Section::DnsCname;
    const NAMES: [&str; 6] = [
        "packet id",
        "address id",
        "domain anonymized",
        "domain",
        "cname anonymized or cname",
        "cname or ttl",
    ];
    for (i, line) in lines.iter().enumerate() {
        let ln = start + i as u64;
        let w = words(line);
        if let Some(missing) = NAMES.get(w.len()) {
            return Err(cx.err(ln, format!("missing {missing}")));
        }
        if w.len() > 7 {
            return Err(cx.err(ln, "too many tokens".into()));
        }
        let domain_anonymized = cx.flag(w.get(2).copied(), ln, "domain anonymized")?;
        // v≤2 wrote one flag for both names (6 tokens), v≥3 one each (7 tokens).
        let cname_anonymized = if w.len() == 6 {
            domain_anonymized
        } else {
            cx.flag(w.get(4).copied(), ln, "cname anonymized")?
        };
        let n = w.len();
        u.cname_records.push(CnameRecord {
            packet_id: narrow(cx.int(w.first().copied(), ln, "packet id", I32)?),
            address_id: narrow(cx.int(w.get(1).copied(), ln, "address id", I32)?),
            domain_anonymized,
            domain: w[3].to_string(),
            cname_anonymized,
            cname: w[n - 2].to_string(),
            ttl: narrow(cx.int(w.get(n - 1).copied(), ln, "ttl", I32)?),
        });
    }
    Ok(())
}

fn parse_addresses(
    cx: &mut Cx,
    lines: &[&str],
    start: u64,
    u: &mut Update,
) -> Result<(), ParseError> {
    cx.section = Section::AddressTable;
    let Some(header) = lines.first() else {
        return Err(cx.err(start, "missing first address id".into()));
    };
    let w = words(header);
    cx.need(&w, start, &["first address id", "table size"])?;
    u.address_table_first_id =
        narrow(cx.int(w.first().copied(), start, "first address id", I32)?);
    u.address_table_size = narrow(cx.int(w.get(1).copied(), start, "table size", (0, I32.1))?);
    for (i, line) in lines.iter().enumerate().skip(1) {
        let ln = start + i as u64;
        let w = words(line);
        cx.need(&w, ln, &["MAC address", "IP address"])?;
        u.addresses.push(Address { mac: w[0].to_string(), ip: w[1].to_string() });
    }
    Ok(())
}

fn parse_drops(cx: &mut Cx, lines: &[&str], start: u64, u: &mut Update) -> Result<(), ParseError> {
    cx.section = Section::DropStatistics;
    let mut drops = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let ln = start + i as u64;
        if line.ends_with(' ') {
            // The HTTP block written without a separating empty line (v≤3; the router
            // ends those lines with a space).
            if u.file_format_version > 3 {
                cx.warn(ln, "HTTP block inside drop statistics in a version >= 4 update");
            }
            u.dropped_packets = Some(drops);
            parse_http(cx, &lines[i..], ln, u);
            return Ok(());
        }
        let w = words(line);
        cx.need(&w, ln, &["size", "count"])?;
        drops.push(DroppedPackets {
            size: narrow(cx.int(w.first().copied(), ln, "size", U32)?),
            count: narrow(cx.int(w.get(1).copied(), ln, "count", U32)?),
        });
    }
    u.dropped_packets = Some(drops);
    Ok(())
}

/// Best effort: a malformed HTTP block is a warning and is ignored whole.
fn parse_http(cx: &mut Cx, lines: &[&str], start: u64, u: &mut Update) {
    let saved = cx.section;
    cx.section = Section::HttpUrls;
    match http_block(cx, lines, start) {
        Ok(Some((dropped, urls))) => {
            u.http_urls_dropped = Some(dropped);
            u.http_urls = urls;
        }
        Ok(None) => {}
        Err(e) => {
            let w = Warning {
                section: e.section.as_str().into(),
                line: e.line,
                message: format!("{}; HTTP block ignored", e.message),
            };
            cx.warnings.push(w);
        }
    }
    cx.section = saved;
}

fn http_block(
    cx: &Cx,
    lines: &[&str],
    start: u64,
) -> Result<Option<(i32, Vec<HttpUrl>)>, ParseError> {
    let Some(first) = lines.first() else { return Ok(None) };
    let w = words(first);
    if w.len() != 1 {
        return Err(cx.err(start, "bad dropped count".into()));
    }
    let dropped = narrow(cx.int(w.first().copied(), start, "dropped URL count", I32)?);
    let mut urls = Vec::with_capacity(lines.len().saturating_sub(1));
    for (i, line) in lines.iter().enumerate().skip(1) {
        let ln = start + i as u64;
        let w = words(line);
        if w.len() != 3 {
            return Err(cx.err(ln, "bad URL entry".into()));
        }
        let flow_id = narrow(cx.int(w.first().copied(), ln, "flow id", I32)?);
        urls.push(HttpUrl { flow_id, url_hash: w[2].to_string() });
    }
    Ok(Some((dropped, urls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_split_on_empty_lines() {
        let s = split_sections("a\nb\n\n\nc\n");
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].first_line, s[0].lines.clone()), (1, vec!["a", "b"]));
        assert_eq!((s[1].first_line, s[1].lines.len()), (4, 0));
        assert_eq!((s[2].first_line, s[2].lines.clone()), (5, vec!["c"]));
    }

    #[test]
    fn numbers_are_checked_for_syntax_and_range() {
        let cx = Cx::new();
        let cases: &[(&str, (i64, i64), Option<i64>)] = &[
            ("12", U32, Some(12)),
            ("+7", U32, Some(7)),
            ("-1", U32, None),
            ("-1", I32, Some(-1)),
            ("4294967296", U32, None),
            ("1x", I64, None),
            ("", I64, None),
            ("99999999999999999999", I64, None),
            ("-9223372036854775808", I64, Some(i64::MIN)),
            ("9223372036854775807", I64, Some(i64::MAX)),
            ("9223372036854775808", I64, None),
            ("-0", I32, Some(0)),
            ("+", I64, None),
        ];
        for (tok, range, want) in cases {
            assert_eq!(cx.int(Some(tok), 1, "x", *range).ok(), *want, "{tok}");
        }
    }

    #[test]
    fn missing_sections_name_the_first_missing_one() {
        let e = parse_update("5\nUNKNOWN\nOW1 1 0 1\n\n\nsig\n").unwrap_err();
        assert_eq!(e.section, Section::PacketSeries);
    }

    #[test]
    fn no_panic_on_arbitrary_text() {
        for text in ["", "\n\n\n\n\n\n\n\n", "x\n\n\n\n\n\n\n\n\n", "1\n\n\n\n\n\n\n\n 1\n"] {
            let _ = parse_update(text);
        }
    }
}
