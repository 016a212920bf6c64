//! Identifiers and names the collector gives (spec §2.1, §2.3).

use std::sync::OnceLock;

use rand::RngCore;
use regex::Regex;
use sha2::{Digest, Sha512};
use vantage_core::Timestamp;

use crate::value::{Map, Value};

/// The fields of an open request, checked.
pub struct OpenFields {
    pub probe_cc: String,
    pub probe_asn: String,
    pub test_name: String,
    pub software_name: String,
    pub software_version: String,
    pub test_version: String,
    pub data_format_version: String,
}

fn token_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[0-9A-Za-z_.+-]+$").unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

/// Checks the required fields of `POST /report` (and of a single-shot measurement).
pub fn validate_open(v: &Map) -> Result<OpenFields, (&'static str, String)> {
    let text = |k: &str| -> Result<String, (&'static str, String)> {
        match v.get(k) {
            Some(Value::Str(s)) => Ok(s.clone()),
            Some(_) => Err(("bad_field", format!("{k} must be a string"))),
            None => Err(("missing_field", format!("{k} is required"))),
        }
    };
    let dfv = text("data_format_version")?;
    let asn = text("probe_asn")?;
    let digits = asn.strip_prefix("AS").unwrap_or("");
    let asn_ok = !digits.is_empty()
        && digits.len() <= 10
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.parse::<u64>().is_ok_and(|n| n <= u64::from(u32::MAX));
    if !asn_ok {
        return Err(("bad_field", "probe_asn must be AS<number> below 2^32".into()));
    }
    let cc = text("probe_cc")?;
    if !(cc.len() == 2 && cc.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(("bad_field", "probe_cc must be two upper-case letters".into()));
    }
    let mut tokens = Vec::new();
    for k in ["software_name", "software_version", "test_name", "test_version"] {
        let t = text(k)?;
        if !token_re().is_match(&t) {
            return Err(("bad_field", format!("{k} has characters outside [0-9A-Za-z_.+-]")));
        }
        tokens.push(t);
    }
    if tokens[2].len() > 30 {
        return Err(("bad_field", "test_name is longer than 30 characters".into()));
    }
    Ok(OpenFields {
        probe_cc: cc,
        probe_asn: asn,
        test_name: tokens[2].to_lowercase(),
        software_name: tokens[0].clone(),
        software_version: tokens[1].clone(),
        test_version: tokens[3].clone(),
        data_format_version: dfv,
    })
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// 32 CSPRNG bytes as 43 base62 characters (≥ 256 bits, bk-003).
fn random_base62() -> String {
    let mut n = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut n);
    let mut digits = Vec::with_capacity(43);
    for _ in 0..43 {
        // n := n / 62, remainder is the next digit (big-endian long division).
        let mut rem = 0u32;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 62) as u8;
            rem = cur % 62;
        }
        digits.push(BASE62[rem as usize]);
    }
    digits.reverse();
    String::from_utf8_lossy(&digits).into_owned()
}

fn utc(ts: Timestamp, fmt: &str) -> String {
    let secs = ts.0.div_euclid(1_000_000_000);
    let nanos = ts.0.rem_euclid(1_000_000_000) as u32;
    chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default().format(fmt).to_string()
}

/// `<UTC YYYYMMDDThhmmssZ>_<test_name without _>_<CC>_<ASN digits>_n<id>_<rand>`; a `-`
/// in the test name is dropped too, since the file name uses `-` as its separator.
pub fn report_id(now: Timestamp, test_name: &str, cc: &str, asn: &str, collector: u32) -> String {
    let t: String = test_name.chars().filter(|c| *c != '_' && *c != '-').collect();
    let digits = asn.trim_start_matches("AS");
    format!("{}_{t}_{cc}_{digits}_n{collector}_{}", utc(now, "%Y%m%dT%H%M%SZ"), random_base62())
}

/// `<UTC YYYYMMDDhhmmss.ffffff>_<CC>_<test_name without _>_<16 hex of sha512(body)>`.
pub fn measurement_uid(now: Timestamp, cc: &str, test_name: &str, body: &[u8]) -> String {
    let t: String = test_name.chars().filter(|c| *c != '_').collect();
    let h = hex::encode(&Sha512::digest(body)[..8]);
    format!("{}_{cc}_{t}_{h}", utc(now, "%Y%m%d%H%M%S%.6f"))
}

/// The receipt time a measurement_uid starts with.
pub fn uid_time(uid: &str) -> Option<Timestamp> {
    let stamp = uid.split('_').next()?;
    let dt = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S%.f").ok()?;
    dt.and_utc().timestamp_nanos_opt().map(Timestamp)
}

/// `<T>-<CC>-AS<n>-<test_name>-<report_id>-0.2.0-probe.json` (§2.3).
pub fn file_name(
    cc: &str,
    asn: &str,
    test_name: &str,
    report_id: &str,
    first: Timestamp,
) -> String {
    let digits = asn.trim_start_matches("AS");
    let test = test_name.replace('-', "_");
    format!("{}-{cc}-AS{digits}-{test}-{report_id}-0.2.0-probe.json", utc(first, "%Y%m%dT%H%M%SZ"))
}
