//! Normalization of one report entry into a datum (spec §5.3, rules 1–19 in order).
//!
//! Each rule family has its own file; this one applies them in the spec's order. Rule 18
//! (bytes, sets, timestamps, non-finite floats) and rule 19 (the canonical text) are
//! realized by [`crate::json::write`], so every path through here ends in one writer.

mod dnst;
mod httpt;
mod other;
pub mod sanitize;
pub mod testname;
pub mod times;

use crate::value::{Map, Value};

pub use sanitize::{Bridge, BridgeDb};

/// The 22 keys every datum has (spec §3).
pub const SCHEMA: [&str; 22] = [
    "id",
    "input",
    "input_hashes",
    "report_id",
    "report_filename",
    "options",
    "probe_cc",
    "probe_asn",
    "probe_ip",
    "probe_city",
    "backend_version",
    "data_format_version",
    "test_name",
    "test_version",
    "test_start_time",
    "measurement_start_time",
    "test_runtime",
    "test_helpers",
    "software_name",
    "software_version",
    "bucket_date",
    "test_keys",
];

/// Where an entry comes from: what rules 3, 4 and 17 need.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The bucket, `YYYY-MM-DD`.
    pub bucket: &'a str,
    /// `<bucket>/<file name>`.
    pub textname: &'a str,
    /// §5.4 src_sha1 of the entry, for a derived `id`.
    pub src_sha1: &'a [u8; 20],
    /// `reports.bridge_db`, when configured.
    pub bridge_db: Option<&'a BridgeDb>,
}

/// True when a `data_format_version` is 0.2.0 or later (numeric, dotted).
pub fn is_modern(dfv: Option<&Value>) -> bool {
    let Some(Value::Str(v)) = dfv else { return false };
    let parts: Vec<u64> = v.split('.').map(|p| p.trim().parse().unwrap_or(0)).collect();
    let get = |i: usize| parts.get(i).copied().unwrap_or(0);
    (get(0), get(1), get(2)) >= (0, 2, 0)
}

/// Rule 10: `test_keys` := `{}` if null; every non-schema top-level key moves into it.
fn nest(m: &mut Map) -> Result<(), String> {
    let mut tk = match m.remove("test_keys") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Map(tk)) => tk,
        Some(_) => return Err("test_keys is not a mapping".into()),
    };
    let extra: Vec<String> = m.keys().filter(|k| !SCHEMA.contains(&k.as_str())).cloned().collect();
    for k in extra {
        if let Some(v) = m.remove(&k) {
            tk.insert(k, v);
        }
    }
    m.insert("test_keys".into(), Value::Map(tk));
    Ok(())
}

/// Normalizes one entry (already merged with its YAML header, §5.2). The error is the
/// reason of a `normalize_error` badblob.
pub fn normalize(mut m: Map, origin: &Origin<'_>) -> Result<Map, String> {
    // 1. A `report` object's keys merged into the top level.
    if let Some(Value::Map(report)) = m.get("report").cloned() {
        m.remove("report");
        m.extend(report);
    }
    // 2. Test name.
    let test_name = testname::canonical(m.get("test_name"));
    m.insert("test_name".into(), Value::Str(test_name.clone()));
    // 3. Bucket and file.
    m.insert("bucket_date".into(), Value::Str(origin.bucket.to_string()));
    m.insert("report_filename".into(), Value::Str(origin.textname.to_string()));
    // 4. id.
    if !m.get("id").is_some_and(Value::truthy) {
        m.insert("id".into(), Value::Str(crate::ids::uuid_of(origin.src_sha1)));
    }
    // 5. Schema keys.
    for k in SCHEMA {
        m.entry(k.to_string()).or_insert(Value::Null);
    }
    // 6. Modern formats: only nesting of a null test_keys, then sanitization.
    if is_modern(m.get("data_format_version")) {
        if m.get("test_keys").is_some_and(Value::is_null) {
            nest(&mut m)?;
        }
        sanitize::apply(&mut m, &test_name, origin.bridge_db);
        return Ok(m);
    }
    // 7. Times. 8. Format version. 9. Options.
    times::apply(&mut m);
    m.insert("data_format_version".into(), Value::Str("0.2.0".into()));
    if let Some(Value::Map(opts)) = m.get("options") {
        let sub = opts.get("subargs").cloned().unwrap_or(Value::List(Vec::new()));
        m.insert("options".into(), sub);
    }
    // 10. Nesting.
    nest(&mut m)?;
    // 11–16. Per-test rewrites.
    let name = test_name.as_str();
    if httpt::TESTS.contains(&name) {
        httpt::apply(&mut m);
    }
    if dnst::TESTS.contains(&name) {
        dnst::apply(&mut m, name)?;
    }
    if let Some(Value::Map(tk)) = m.get_mut("test_keys") {
        if other::SCAPYT.contains(&name) {
            other::scapyt(tk);
        }
        match name {
            "tls_handshake" => other::tls_handshake(tk)?,
            "captive_portal" => other::captive_portal(tk),
            "website_probe" => other::website_probe(tk),
            _ => {}
        }
    }
    // 17. Sanitization.
    sanitize::apply(&mut m, name, origin.bridge_db);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(sha: &[u8; 20]) -> Origin<'_> {
        Origin {
            bucket: "2020-01-01",
            textname: "2020-01-01/x.json",
            src_sha1: sha,
            bridge_db: None,
        }
    }

    #[test]
    fn versions_compare_numerically() {
        let v = |s: &str| is_modern(Some(&Value::Str(s.into())));
        assert!(v("0.2.0") && v("0.10.0") && v("1.0") && !v("0.1.0") && !v("0.1.9"));
        assert!(!is_modern(None));
    }

    #[test]
    fn modern_entries_keep_their_keys_and_get_the_schema() {
        let sha = [7u8; 20];
        let mut m = Map::new();
        m.insert("data_format_version".into(), Value::Str("0.2.0".into()));
        m.insert("extra".into(), Value::Int(1));
        m.insert("test_keys".into(), Value::Null);
        let out = normalize(m, &origin(&sha)).unwrap();
        assert_eq!(out["test_keys"].as_map().unwrap()["extra"], Value::Int(1));
        assert_eq!(out["id"], Value::Str(crate::ids::uuid_of(&sha)));
        assert_eq!(out.len(), 22);
    }

    #[test]
    fn legacy_entries_are_nested() {
        let sha = [1u8; 20];
        let mut m = Map::new();
        m.insert("test_name".into(), Value::Str("DNS tamper".into()));
        m.insert("queries".into(), Value::List(vec![]));
        m.insert("options".into(), {
            let mut o = Map::new();
            o.insert("subargs".into(), Value::List(vec![Value::Str("-f".into())]));
            Value::Map(o)
        });
        let out = normalize(m, &origin(&sha)).unwrap();
        assert_eq!(out["test_name"], Value::Str("dns_consistency".into()));
        assert_eq!(crate::json::to_string(&out["options"]), r#"["-f"]"#);
        let tk = out["test_keys"].as_map().unwrap();
        assert_eq!(tk["queries"], Value::List(vec![]));
        assert_eq!(tk["errors"], Value::Map(Map::new()));
        assert_eq!(out["data_format_version"], Value::Str("0.2.0".into()));
        assert_eq!(out["test_start_time"], Value::Str("1970-01-01 00:00:00".into()));
    }
}
