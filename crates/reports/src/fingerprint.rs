//! Blockpage fingerprints (reports spec §7.2, §7.3): the ooni/blocking-fingerprints CSV,
//! parsed and checked row by row, and the matcher run over DNS answers, bodies and headers.
//!
//! All four pattern types are evaluated on bytes, case-sensitively (the fastpath tried body
//! rows as substrings and header rows of type full/prefix only). A file replaces the loaded
//! set of its kind; [`FingerprintSet::digest`] (sha256 of the sorted rows) is what
//! centrifugation compares to decide whether the fingerprint feeders must run again.

use std::path::{Path, PathBuf};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{json, Value as J};
use sha2::{Digest, Sha256};

/// The two sets a file can replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `location_found` = `dns`.
    Dns,
    /// Body and header rows.
    Http,
}

impl Kind {
    /// The `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Dns => "dns",
            Kind::Http => "http",
        }
    }

    /// From the `kind` column.
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "dns" => Some(Kind::Dns),
            "http" => Some(Kind::Http),
            _ => None,
        }
    }
}

/// How a pattern is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternType {
    /// Equal.
    Full,
    /// Starts with.
    Prefix,
    /// Substring.
    Contains,
    /// Unanchored regular expression search.
    Regexp,
}

impl PatternType {
    /// The CSV spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            PatternType::Full => "full",
            PatternType::Prefix => "prefix",
            PatternType::Contains => "contains",
            PatternType::Regexp => "regexp",
        }
    }

    fn parse(s: &str) -> Option<PatternType> {
        Some(match s {
            "full" => PatternType::Full,
            "prefix" => PatternType::Prefix,
            "contains" => PatternType::Contains,
            "regexp" => PatternType::Regexp,
            _ => return None,
        })
    }
}

const SCOPES: &[&str] = &["nat", "isp", "prod", "inst", "vbw", "fp", "injb", "prov"];

/// One fingerprint row.
#[derive(Debug, Clone)]
pub struct Fingerprint {
    /// `fingerprint_no`, kept per kind and name across loads (0 until stored).
    pub no: i64,
    /// Unique within its file.
    pub name: String,
    /// Which set.
    pub kind: Kind,
    /// nat, isp, prod, ...
    pub scope: String,
    /// Other names.
    pub other_names: String,
    /// `body`, `dns` or `header.<name>`.
    pub location_found: String,
    /// How the pattern compares.
    pub pattern_type: PatternType,
    /// The pattern text.
    pub pattern: String,
    /// Confidence without a fingerprint.
    pub confidence_no_fp: i64,
    /// Parsed countries (§7.2).
    pub expected_countries: Vec<String>,
    /// Source.
    pub source: String,
    /// Example URL.
    pub exp_url: String,
    /// Notes.
    pub notes: String,
    /// False for a regexp that does not compile.
    pub enabled: bool,
    regex: Option<regex::bytes::Regex>,
}

impl Fingerprint {
    /// Builds a row from its columns (used by the loader and by reading the table back).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: String,
        kind: Kind,
        scope: String,
        other_names: String,
        location_found: String,
        pattern_type: PatternType,
        pattern: String,
        confidence_no_fp: i64,
        expected_countries: Vec<String>,
        source: String,
        exp_url: String,
        notes: String,
    ) -> Fingerprint {
        // Substrings are searched with an escaped regex too: its literal search (memchr,
        // SIMD) is far faster than a byte-window scan over 1,300 body rows.
        let regex = match pattern_type {
            PatternType::Regexp => regex::bytes::Regex::new(&python_braces(&pattern)).ok(),
            PatternType::Contains => regex::bytes::Regex::new(&regex::escape(&pattern)).ok(),
            _ => None,
        };
        let enabled = pattern_type != PatternType::Regexp || regex.is_some();
        Fingerprint {
            no: 0,
            name,
            kind,
            scope,
            other_names,
            location_found,
            pattern_type,
            pattern,
            confidence_no_fp,
            expected_countries,
            source,
            exp_url,
            notes,
            enabled,
            regex,
        }
    }

    /// Whether `value` matches the pattern (§7.3).
    pub fn matches(&self, value: &[u8]) -> bool {
        let p = self.pattern.as_bytes();
        match self.pattern_type {
            PatternType::Full => value == p,
            PatternType::Prefix => value.starts_with(p),
            PatternType::Contains => match &self.regex {
                Some(r) => r.is_match(value),
                None => !p.is_empty() && value.windows(p.len()).any(|w| w == p),
            },
            PatternType::Regexp => self.regex.as_ref().is_some_and(|r| r.is_match(value)),
        }
    }

    /// The lower-case header name of a `header.<name>` row.
    pub fn header(&self) -> Option<&str> {
        self.location_found.strip_prefix("header.")
    }

    /// The entry of `scores.fingerprints`.
    pub fn score_entry(&self) -> J {
        json!({"name": self.name, "scope": self.scope, "location_found": self.location_found,
            "confidence_no_fp": self.confidence_no_fp, "expected_countries": self.expected_countries})
    }

    /// Whether a match in a measurement from `probe_cc` confirms blocking (§7.4).
    pub fn confirms(&self, probe_cc: &str) -> bool {
        is_confirmed(probe_cc, &self.expected_countries, &self.scope)
    }

    /// The canonical text of the row, for [`FingerprintSet::digest`].
    fn digest_line(&self) -> String {
        json!([
            self.kind.as_str(),
            self.name,
            self.scope,
            self.other_names,
            self.location_found,
            self.pattern_type.as_str(),
            self.pattern,
            self.confidence_no_fp,
            self.expected_countries,
            self.source,
            self.exp_url,
            self.notes
        ])
        .to_string()
    }
}

/// Whether a match confirms: the probe's country is expected, or the scope is isp or nat.
pub fn is_confirmed(probe_cc: &str, expected_countries: &[String], scope: &str) -> bool {
    let cc = probe_cc.to_uppercase();
    (cc != "ZZ" && expected_countries.contains(&cc)) || scope == "isp" || scope == "nat"
}

/// §7.2: trim, split on `,`, upper-case, drop empty and `ZZ`, sort.
pub fn parse_expected_countries(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .trim()
        .split(',')
        .map(|c| c.trim().to_uppercase())
        .filter(|c| !c.is_empty() && c != "ZZ")
        .collect();
    v.sort();
    v
}

/// Python's `re` reads a `{` that does not open `{n}`, `{n,}` or `{n,m}` as a literal;
/// Rust's `regex` refuses it, so such braces are escaped first.
fn python_braces(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = String::with_capacity(p.len() + 4);
    let mut i = 0;
    let mut escaped = false;
    for (pos, ch) in p.char_indices() {
        if pos < i {
            continue;
        }
        if escaped {
            escaped = false;
            out.push(ch);
            continue;
        }
        if ch == '\\' {
            escaped = true;
            out.push(ch);
            continue;
        }
        if ch == '{' {
            let rest = &b[pos + 1..];
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            let quant = digits > 0 && {
                let after = &rest[digits..];
                after.first() == Some(&b'}')
                    || (after.first() == Some(&b',') && {
                        let d2 = after[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        after.get(1 + d2) == Some(&b'}')
                    })
            };
            if !quant {
                out.push_str("\\{");
                i = pos + 1;
                continue;
            }
        }
        out.push(ch);
        i = pos + ch.len_utf8();
    }
    out
}

/// A CSV file that cannot be loaded, with its line.
#[derive(Debug, thiserror::Error)]
#[error("{}:{line}: {reason}", .path.display())]
pub struct FingerprintError {
    /// The file.
    pub path: PathBuf,
    /// The line the bad record starts on (1-based).
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// A CSV record with the line it starts on.
type Record = (usize, Vec<String>);

/// RFC 4180 records with the line each starts on; quoted fields may span lines.
fn csv_records(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let mut out = Vec::new();
    let mut rec = Vec::new();
    let mut field = String::new();
    let (mut line, mut start) = (1usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => {
                quoted = true;
                any = true;
            }
            ',' => {
                rec.push(std::mem::take(&mut field));
                any = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if any || !field.is_empty() {
                    rec.push(std::mem::take(&mut field));
                    out.push((start, std::mem::take(&mut rec)));
                }
                any = false;
                line += 1;
                start = line;
            }
            _ => {
                field.push(c);
                any = true;
            }
        }
    }
    if quoted {
        return Err((start, "unterminated quoted field".into()));
    }
    if any || !field.is_empty() {
        rec.push(field);
        out.push((start, rec));
    }
    Ok(out)
}

const HEADER: &[&str] = &[
    "name",
    "scope",
    "other_names",
    "location_found",
    "pattern_type",
    "pattern",
    "confidence_no_fp",
    "expected_countries",
    "source",
    "exp_url",
    "notes",
];

/// Parses and checks a whole file; one bad row rejects it (`file:line: reason`).
pub fn parse_csv(path: &Path, bytes: &[u8]) -> Result<Vec<Fingerprint>, FingerprintError> {
    let fail = |line: usize, reason: String| FingerprintError { path: path.into(), line, reason };
    // A few upstream names hold bytes that are not UTF-8; they are kept, replaced.
    let text = String::from_utf8_lossy(bytes);
    let records = csv_records(&text).map_err(|(l, r)| fail(l, r))?;
    let mut it = records.into_iter();
    let Some((hl, header)) = it.next() else { return Err(fail(1, "empty file".into())) };
    if header.iter().map(|s| s.trim()).ne(HEADER.iter().copied()) {
        return Err(fail(hl, format!("header must be {}", HEADER.join(","))));
    }
    let mut names = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (line, r) in it {
        if r.len() != HEADER.len() {
            return Err(fail(line, format!("{} fields, expected {}", r.len(), HEADER.len())));
        }
        let scope = r[1].trim();
        if !SCOPES.contains(&scope) {
            return Err(fail(line, format!("scope {scope:?} is not one of {}", SCOPES.join(", "))));
        }
        let loc = r[3].trim();
        let kind = match loc {
            "dns" => Kind::Dns,
            "body" => Kind::Http,
            h if h
                .strip_prefix("header.")
                .is_some_and(|n| !n.is_empty() && n.to_lowercase() == n) =>
            {
                Kind::Http
            }
            _ => {
                return Err(fail(
                    line,
                    format!("location_found {loc:?} is not body, dns or header.<lower-case name>"),
                ))
            }
        };
        let Some(pt) = PatternType::parse(r[4].trim()) else {
            return Err(fail(
                line,
                format!("pattern_type {:?} is not full, prefix, contains or regexp", r[4]),
            ));
        };
        if r[5].is_empty() {
            return Err(fail(line, "empty pattern".into()));
        }
        let conf: i64 = r[6]
            .trim()
            .parse()
            .map_err(|_| fail(line, format!("confidence_no_fp {:?} is not an integer", r[6])))?;
        let ec = r[7].as_str();
        let ok_cc = ec
            .split(',')
            .map(str::trim)
            .all(|c| c.is_empty() || (c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic())));
        if !ok_cc {
            return Err(fail(line, format!("expected_countries {ec:?} is not CCs joined by ','")));
        }
        let name = r[0].clone();
        if !names.insert(name.clone()) {
            return Err(fail(line, format!("name {name:?} appears twice")));
        }
        out.push(Fingerprint::new(
            name,
            kind,
            scope.into(),
            r[2].clone(),
            loc.into(),
            pt,
            r[5].clone(),
            conf,
            parse_expected_countries(ec),
            r[8].clone(),
            r[9].clone(),
            r[10].clone(),
        ));
    }
    Ok(out)
}

/// The loaded fingerprints of both kinds, in file order.
#[derive(Debug, Clone, Default)]
pub struct FingerprintSet {
    /// DNS rows.
    pub dns: Vec<Fingerprint>,
    /// Body and header rows.
    pub http: Vec<Fingerprint>,
    /// Built on the first match from `http` (the rows do not change after loading).
    body: std::sync::OnceLock<BodyIndex>,
}

/// The body rows of `http` arranged so one pass over a body finds every substring row
/// (§7.3 tries some 1,300 of them on every body).
#[derive(Debug, Clone)]
struct BodyIndex {
    /// Every non-empty `contains` body pattern in one automaton.
    contains: aho_corasick::AhoCorasick,
    /// The automaton's pattern i is `http[contains_rows[i]]`.
    contains_rows: Vec<usize>,
    /// The other body rows (full, prefix, regexp, empty contains), tried one by one.
    others: Vec<usize>,
}

impl BodyIndex {
    fn new(http: &[Fingerprint]) -> BodyIndex {
        let mut contains_rows = Vec::new();
        let mut others = Vec::new();
        for (i, fp) in http.iter().enumerate().filter(|(_, f)| f.location_found == "body") {
            if fp.pattern_type == PatternType::Contains && !fp.pattern.is_empty() {
                contains_rows.push(i);
            } else {
                others.push(i);
            }
        }
        let patterns = contains_rows.iter().map(|i| http[*i].pattern.as_bytes());
        // A full DFA: overlapping search is one table step per byte (the default
        // contiguous NFA was a third of matching time).
        let contains = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(patterns)
            .expect("an automaton of a few thousand literals fits the default limits");
        BodyIndex { contains, contains_rows, others }
    }

    /// Which rows of `http` match `body`, by row index.
    fn hits(&self, http: &[Fingerprint], body: &[u8]) -> Vec<bool> {
        let mut hit = vec![false; http.len()];
        for m in self.contains.find_overlapping_iter(body) {
            hit[self.contains_rows[m.pattern().as_usize()]] = true;
        }
        for &i in &self.others {
            hit[i] = http[i].matches(body);
        }
        hit
    }
}

/// One fingerprint matched, in match order.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    /// The row.
    pub fp: &'a Fingerprint,
    /// Index of the request in `test_keys.requests` (None for DNS).
    pub request: Option<usize>,
}

/// What matching found.
#[derive(Debug, Default)]
pub struct Matches<'a> {
    /// In match order, duplicates included.
    pub list: Vec<Match<'a>>,
    /// A base64 body failed to decode: no matches, accuracy 0 (§7.3).
    pub decode_error: bool,
}

/// Decodes an OONI base64 object's `data` (standard alphabet, other characters ignored,
/// padding required, trailing bits ignored, as Python's `b64decode`).
pub fn decode_b64(data: &str) -> Option<Vec<u8>> {
    let clean: String = data
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/' || *c == '=')
        .collect();
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    engine.decode(clean.as_bytes()).ok()
}

/// A base64 object whose `data` does not decode (§7.3: matching stops, accuracy 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBase64;

/// Text, or a base64 object's bytes; `Err` on a base64 object that does not decode,
/// `Ok(None)` for anything else.
pub fn bytes_of(v: &J) -> Result<Option<Vec<u8>>, BadBase64> {
    match v {
        J::String(s) => Ok(Some(s.as_bytes().to_vec())),
        J::Object(o) if o.get("format").and_then(J::as_str) == Some("base64") => {
            match o.get("data").and_then(J::as_str).and_then(decode_b64) {
                Some(b) => Ok(Some(b)),
                None => Err(BadBase64),
            }
        }
        _ => Ok(None),
    }
}

/// Whether a request went over Tor (normalized `request.tor.is_tor`, rule 11d).
pub fn is_tor(req: &J) -> bool {
    req.pointer("/request/tor/is_tor").and_then(J::as_bool).unwrap_or(false)
}

/// The lower-cased headers of a response: `headers`, then every `headers_list` value.
pub fn response_headers(resp: &J) -> Result<Vec<(String, Vec<u8>)>, BadBase64> {
    let mut out = Vec::new();
    if let Some(h) = resp.get("headers").and_then(J::as_object) {
        for (k, v) in h {
            if let Some(b) = bytes_of(v)? {
                out.push((k.to_lowercase(), b));
            }
        }
    }
    if let Some(l) = resp.get("headers_list").and_then(J::as_array) {
        for pair in l {
            if let (Some(k), Some(v)) = (pair.get(0).and_then(J::as_str), pair.get(1)) {
                if let Some(b) = bytes_of(v)? {
                    out.push((k.to_lowercase(), b));
                }
            }
        }
    }
    Ok(out)
}

impl FingerprintSet {
    /// sha256 of the sorted rows of both kinds (hex); `""` hashes as the empty set.
    pub fn digest(&self) -> String {
        let mut lines: Vec<String> =
            self.dns.iter().chain(&self.http).map(Fingerprint::digest_line).collect();
        lines.sort();
        let mut h = Sha256::new();
        for l in lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    }

    /// Splits rows into their kinds, keeping order.
    pub fn from_rows(rows: Vec<Fingerprint>) -> FingerprintSet {
        let mut s = FingerprintSet::default();
        for f in rows {
            match f.kind {
                Kind::Dns => s.dns.push(f),
                Kind::Http => s.http.push(f),
            }
        }
        s
    }

    /// Matches a normalized measurement (§7.3): web_connectivity DNS answers and all
    /// requests; http_requests non-Tor requests; other tests nothing. A measurement
    /// without a test name (inline vectors) is matched like web_connectivity.
    pub fn match_measurement(&self, msm: &J) -> Matches<'_> {
        let test = msm.get("test_name").and_then(J::as_str);
        let skip_tor = match test {
            None | Some("web_connectivity") => false,
            Some("http_requests") => true,
            Some(_) => return Matches::default(),
        };
        let tk = msm.get("test_keys").unwrap_or(&J::Null);
        let mut m = Matches::default();
        if !skip_tor {
            for q in tk.get("queries").and_then(J::as_array).into_iter().flatten() {
                for a in q.get("answers").and_then(J::as_array).into_iter().flatten() {
                    let v = ["ipv4", "hostname", "ipv6"]
                        .iter()
                        .find_map(|k| a.get(*k).and_then(J::as_str));
                    if let Some(v) = v {
                        for fp in self.dns.iter().filter(|f| f.matches(v.as_bytes())) {
                            m.list.push(Match { fp, request: None });
                        }
                    }
                }
            }
        }
        for (i, req) in tk.get("requests").and_then(J::as_array).into_iter().flatten().enumerate() {
            if skip_tor && is_tor(req) {
                continue;
            }
            let resp = req.get("response").unwrap_or(&J::Null);
            let body = match bytes_of(resp.get("body").unwrap_or(&J::Null)) {
                Ok(b) => b,
                Err(BadBase64) => return Matches { list: Vec::new(), decode_error: true },
            };
            let headers = match response_headers(resp) {
                Ok(h) => h,
                Err(BadBase64) => return Matches { list: Vec::new(), decode_error: true },
            };
            if let Some(body) = &body {
                let index = self.body.get_or_init(|| BodyIndex::new(&self.http));
                let hit = index.hits(&self.http, body);
                for (fp, _) in self.http.iter().zip(hit).filter(|(_, h)| *h) {
                    m.list.push(Match { fp, request: Some(i) });
                }
            }
            for fp in &self.http {
                let Some(h) = fp.header() else { continue };
                if headers.iter().any(|(k, v)| k == h && fp.matches(v)) {
                    m.list.push(Match { fp, request: Some(i) });
                }
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_become_literal_unless_quantifiers() {
        assert_eq!(python_braces(r#"{"msg":.*"id":"#), r#"\{"msg":.*"id":"#);
        assert_eq!(python_braces("a{2}b{1,}c{1,3}"), "a{2}b{1,}c{1,3}");
        assert_eq!(python_braces(r"\{x"), r"\{x");
    }

    #[test]
    fn csv_fields_span_lines() {
        let r = csv_records("a,b\n\"x\ny\",\"q\"\"\"\n").unwrap();
        assert_eq!(
            r,
            vec![(1, vec!["a".into(), "b".into()]), (2, vec!["x\ny".into(), "q\"".into()])]
        );
    }

    #[test]
    fn bad_row_names_its_line() {
        let csv = "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,expected_countries,source,exp_url,notes\n\
                   a,nat,,body,contains,x,5,,s,,\nb,bogus,,body,contains,x,5,,s,,\n";
        let e = parse_csv(Path::new("f.csv"), csv.as_bytes()).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().starts_with("f.csv:3: scope"), "{e}");
    }

    #[test]
    fn base64_needs_padding() {
        assert_eq!(decode_b64("aGk="), Some(b"hi".to_vec()));
        assert_eq!(decode_b64("aGk"), None);
        assert_eq!(decode_b64("aG\nk="), Some(b"hi".to_vec()));
    }
}
