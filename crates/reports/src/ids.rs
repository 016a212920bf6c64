//! Identifiers derived from a report's bytes (spec §5.4).
//!
//! All are functions of the raw bytes and of UTC times only, so re-runs on any machine and
//! in any time zone give the same values (OONI's report_id once depended on the local zone).

use sha1::{Digest, Sha1};
use sha2::Sha512;
use sha3::digest::{ExtendableOutput, Update, XofReader};
use sha3::Shake128;

use crate::value::{Map, Value};

/// sha1 of the given pieces, concatenated (header frame + entry frame, or a JSON line).
pub fn src_sha1(pieces: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in pieces {
        Digest::update(&mut h, p);
    }
    h.finalize().into()
}

/// The sha1 state after a prefix (a YAML report's header frame), so each entry's
/// [`src_sha1`] hashes only the entry frame instead of the header again.
#[derive(Clone)]
pub struct PrefixSha1(Sha1);

impl PrefixSha1 {
    /// Hashes `prefix` once.
    pub fn new(prefix: &[u8]) -> PrefixSha1 {
        let mut h = Sha1::new();
        Digest::update(&mut h, prefix);
        PrefixSha1(h)
    }

    /// sha1 of the prefix followed by `rest`: equal to `src_sha1(&[prefix, rest])`.
    pub fn with(&self, rest: &[u8]) -> [u8; 20] {
        let mut h = self.0.clone();
        Digest::update(&mut h, rest);
        h.finalize().into()
    }
}

/// The first 16 bytes of a digest as a lower-case 8-4-4-4-12 UUID (the derived `id`).
pub fn uuid_of(digest: &[u8; 20]) -> String {
    let h = hex::encode(&digest[..16]);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// A legacy measurement_uid: `01` + `YYYYMMDD` of measurement_start_time (`00000000` if
/// unparsable) + hex shake128 (15 bytes) of the raw entry frame or line.
pub fn legacy_measurement_uid(raw: &[u8], measurement_start_time: Option<&str>) -> String {
    let day = measurement_start_time
        .and_then(|t| {
            let d = t.get(0..10)?;
            let ok = d.len() == 10
                && d.bytes().enumerate().all(|(i, b)| {
                    if i == 4 || i == 7 {
                        b == b'-'
                    } else {
                        b.is_ascii_digit()
                    }
                });
            ok.then(|| d.replace('-', ""))
        })
        .unwrap_or_else(|| "00000000".into());
    let mut h = Shake128::default();
    h.update(raw);
    let mut out = [0u8; 15];
    h.finalize_xof().read(&mut out);
    format!("01{day}{}", hex::encode(out))
}

const ASCII_LETTERS: &[u8; 52] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Bytes of a header value for hashing as the original pipeline did (`str(value)`, raw
/// bytes for `!!binary`, `None` for null).
fn header_bytes(header: &Map, key: &str, default: &str) -> Vec<u8> {
    match header.get(key) {
        None => default.as_bytes().to_vec(),
        Some(Value::Bytes(b)) => b.clone(),
        Some(Value::Null) if key == "probe_city" => b"None".to_vec(),
        Some(Value::Null) => default.as_bytes().to_vec(),
        Some(v) => v.key_text().into_bytes(),
    }
}

/// The report_id of a YAML header that has none.
pub fn generated_report_id(header: &Map) -> String {
    let secs = header.get("start_time").and_then(Value::as_f64).unwrap_or(0.0);
    let stamp = chrono::DateTime::from_timestamp(secs.floor() as i64, 0)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ")
        .to_string();
    let mut h = Sha512::new();
    for (key, default) in [
        ("probe_cc", "ZZ"),
        ("probe_asn", "AS0"),
        ("test_name", "invalid"),
        ("software_version", "0.0.0"),
        ("probe_city", "None"),
    ] {
        Digest::update(&mut h, header_bytes(header, key, default));
    }
    let digest = h.finalize();
    let suffix: String =
        digest.iter().take(50).map(|b| char::from(ASCII_LETTERS[usize::from(*b) % 52])).collect();
    format!("{stamp}_{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_layout() {
        let d = [0xabu8; 20];
        assert_eq!(uuid_of(&d), "abababab-abab-abab-abab-abababababab");
    }

    #[test]
    fn prefix_sha1_is_sha1_of_both() {
        let p = PrefixSha1::new(b"---\nheader\n...\n");
        for rest in [&b""[..], b"x", &[7u8; 200][..]] {
            assert_eq!(p.with(rest), src_sha1(&[b"---\nheader\n...\n", rest]));
        }
    }

    #[test]
    fn legacy_uid_with_bad_time() {
        assert!(legacy_measurement_uid(b"", Some("garbage")).starts_with("0100000000"));
        assert_eq!(legacy_measurement_uid(b"x", None).len(), 2 + 8 + 30);
    }
}
