//! Report file names (spec §2.3): `<T>-<CC>-AS<n>-<test_name>-<report_id>-<dfv>-probe.<ext>`.

use std::sync::OnceLock;

use regex::Regex;

use crate::value::{Map, Value};

fn name_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^\d{8}T\d{6}Z-[A-Z]{2}-AS\d+-(?P<test_name>[^-]+)-[^-]+-[.0-9]+-probe\.(yaml|json)$",
        )
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

/// The test name a conventional report file name carries; `None` if it does not match.
pub fn test_name_of(name: &str) -> Option<&str> {
    name_re().captures(name).and_then(|c| c.name("test_name")).map(|m| m.as_str())
}

/// A file-name part: `-` (the field separator) becomes `_`, and so does anything outside
/// a conservative set, so the result always matches the pattern.
fn part(text: &str, keep_dot: bool) -> String {
    text.chars()
        .map(
            |c| {
                if c.is_ascii_alphanumeric() || c == '_' || (keep_dot && c == '.') {
                    c
                } else {
                    '_'
                }
            },
        )
        .collect()
}

/// Builds a conventional name from a report's first record (§2.5): T from
/// `start_time`/`test_start_time`, CC, ASN, mapped test name, report_id or `no_report_id`.
pub fn from_record(first: &Map, yaml: bool) -> String {
    let secs = match first.get("start_time").or_else(|| first.get("test_start_time")) {
        Some(Value::Str(s)) => {
            vantage_core::Timestamp::parse(s).map(|t| t.0.div_euclid(1_000_000_000)).ok()
        }
        Some(Value::Time(t)) => Some(*t),
        Some(v) => v.as_f64().map(|f| f.floor() as i64),
        None => None,
    }
    .unwrap_or(0);
    let stamp =
        chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default().format("%Y%m%dT%H%M%SZ");
    let cc = first
        .get("probe_cc")
        .and_then(Value::as_str)
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        .unwrap_or("ZZ");
    let asn: String = first
        .get("probe_asn")
        .map(Value::key_text)
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let asn = if asn.is_empty() { "0".to_string() } else { asn };
    let test = part(&crate::normalize::testname::canonical(first.get("test_name")), false);
    let rid = match first.get("report_id") {
        Some(v) if v.truthy() => part(&v.key_text(), false),
        _ => "no_report_id".into(),
    };
    let (dfv, ext) = if yaml { ("0.1.0", "yaml") } else { ("0.2.0", "json") };
    format!("{stamp}-{cc}-AS{asn}-{test}-{rid}-{dfv}-probe.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern() {
        assert_eq!(
            test_name_of(
                "20130505T065614Z-VN-AS24173-dns_consistency-no_report_id-0.1.0-probe.yaml"
            ),
            Some("dns_consistency")
        );
        assert_eq!(
            test_name_of("2013-05-05/20130505T065614Z-VN-AS24173-x-y-0.1.0-probe.yaml"),
            None
        );
        assert_eq!(test_name_of("foo"), None);
    }

    #[test]
    fn built_names_match_the_pattern() {
        let mut m = Map::new();
        m.insert("test_start_time".into(), Value::Str("2020-01-02 03:04:05".into()));
        m.insert("probe_cc".into(), Value::Str("IT".into()));
        m.insert("probe_asn".into(), Value::Str("AS3269".into()));
        m.insert("test_name".into(), Value::Str("web-connectivity".into()));
        m.insert("report_id".into(), Value::Str("20200102T030405Z_a-b".into()));
        let n = from_record(&m, false);
        assert_eq!(
            n,
            "20200102T030405Z-IT-AS3269-web_connectivity-20200102T030405Z_a_b-0.2.0-probe.json"
        );
        assert_eq!(test_name_of(&n), Some("web_connectivity"));
        assert!(test_name_of(&from_record(&Map::new(), true)).is_some());
    }
}
