//! Rule 17: sanitization of bridge addresses (spec §5.5).
//!
//! Tor bridges are secret by design: a report naming one would burn it. Inputs that are
//! bridges become the sha1 of the bridge's fingerprint bytes (the "hashed fingerprint"
//! Tor's own metrics publish), and `tor_log` lines that leak a bridge are redacted.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;
use sha1::{Digest, Sha1};

use crate::value::{Map, Value};

/// One bridge of `reports.bridge_db`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Bridge {
    /// 40 hex digits.
    pub fingerprint: String,
    /// How the bridge is handed out (e.g. `https`, `email`).
    #[serde(default)]
    pub distributor: Option<String>,
    /// Pluggable transport, if any.
    #[serde(default)]
    pub transport: Option<String>,
}

/// `{"<address or bridge line>": Bridge}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeDb {
    bridges: HashMap<String, Bridge>,
    /// sha256 of the file, so a change of database can call for `--reclean`.
    pub digest: String,
}

/// A bridge database that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}; fix the file or remove reports.bridge_db", .path.display())]
pub struct BridgeDbError {
    /// The file.
    pub path: std::path::PathBuf,
    /// What was wrong.
    pub message: String,
}

impl BridgeDb {
    /// Reads the JSON file.
    pub fn load(path: &Path) -> Result<BridgeDb, BridgeDbError> {
        let err = |message: String| BridgeDbError { path: path.to_path_buf(), message };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let bridges: HashMap<String, Bridge> =
            serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
        Ok(BridgeDb { bridges, digest: vantage_core::hash::sha256_hex(&bytes) })
    }

    /// A database from entries (tests, the demo).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, Bridge)>) -> BridgeDb {
        BridgeDb { bridges: entries.into_iter().collect(), digest: String::new() }
    }

    fn get(&self, key: &str) -> Option<&Bridge> {
        self.bridges.get(key)
    }
}

/// Hex sha1 of the 20 bytes a 40-hex fingerprint stands for.
fn hashed(fingerprint: &str) -> Option<String> {
    let bytes = hex::decode(fingerprint.trim()).ok()?;
    Some(hex::encode(Sha1::digest(bytes)))
}

/// `tor_log` with bridge fingerprints and addresses replaced by `[REDACTED]`.
pub fn redact_tor_log(log: &str) -> String {
    static LEARNED: OnceLock<Regex> = OnceLock::new();
    static DESCRIPTOR: OnceLock<Regex> = OnceLock::new();
    let learned = LEARNED.get_or_init(|| {
        Regex::new(r"Learned fingerprint [A-Fa-f0-9]+\s+for bridge (?:[0-9]+\.){3}[0-9]+:\d+")
            .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    });
    let descriptor = DESCRIPTOR.get_or_init(|| {
        Regex::new(r"new bridge descriptor .+? at (?:[0-9]+\.){3}[0-9]+")
            .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    });
    let log = learned.replace_all(log, "Learned fingerprint [REDACTED] for bridge [REDACTED]");
    descriptor.replace_all(&log, "new bridge descriptor [REDACTED] at [REDACTED]").into_owned()
}

/// Rule 17 for `tcp_connect` and `bridge_reachability`; other tests are untouched.
pub fn apply(entry: &mut Map, test_name: &str, db: Option<&BridgeDb>) {
    let empty = BridgeDb::default();
    let db = db.unwrap_or(&empty);
    match test_name {
        "tcp_connect" => tcp_connect(entry, db),
        "bridge_reachability" => bridge_reachability(entry, db),
        _ => {}
    }
}

fn tcp_connect(entry: &mut Map, db: &BridgeDb) {
    let Some(input) = entry.get("input").and_then(Value::as_str).map(|s| s.trim().to_string())
    else {
        return;
    };
    let Some(h) = db.get(&input).and_then(|b| hashed(&b.fingerprint)) else { return };
    if let Some(Value::Map(tk)) = entry.get_mut("test_keys") {
        tk.insert("bridge_hashed_fingerprint".into(), Value::Str(h.clone()));
    }
    entry.insert("input".into(), Value::Str(h));
}

fn bridge_reachability(entry: &mut Map, db: &BridgeDb) {
    let input = entry.get("input").cloned().unwrap_or(Value::Null);
    let Some(Value::Map(tk)) = entry.get_mut("test_keys") else { return };
    if !tk.get("bridge_address").is_some_and(Value::truthy) {
        tk.insert("bridge_address".into(), input);
    }
    let log = match tk.get("tor_log") {
        Some(Value::Str(s)) if !s.is_empty() => redact_tor_log(s),
        Some(Value::Bytes(b)) if !b.is_empty() => redact_tor_log(&String::from_utf8_lossy(b)),
        _ => String::new(),
    };
    tk.insert("tor_log".into(), Value::Str(log));
    let address = tk.get("bridge_address").and_then(Value::as_str).unwrap_or("").trim().to_string();
    let fingerprint = match db.get(&address) {
        Some(b) => {
            tk.insert("distributor".into(), b.distributor.clone().map_or(Value::Null, Value::Str));
            tk.insert("transport".into(), b.transport.clone().map_or(Value::Null, Value::Str));
            tk.insert("bridge_address".into(), Value::Null);
            Some(b.fingerprint.clone())
        }
        None => {
            let tokens: Vec<&str> = address.split(' ').collect();
            tk.insert("distributor".into(), Value::Null);
            match (tokens.get(2), tokens.get(1)) {
                (Some(t), _) if t.len() == 40 => Some(t.to_string()),
                (_, Some(t)) if t.len() == 40 => Some(t.to_string()),
                _ => None,
            }
        }
    };
    let h = fingerprint.as_deref().and_then(hashed);
    tk.insert("bridge_hashed_fingerprint".into(), h.clone().map_or(Value::Null, Value::Str));
    if let Some(h) = h {
        entry.insert("input".into(), Value::Str(h));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

    fn entry(test_name: &str, input: &str, tk: Map) -> Map {
        let mut m = Map::new();
        m.insert("input".into(), Value::Str(input.into()));
        m.insert("test_keys".into(), Value::Map(tk));
        m.insert("test_name".into(), Value::Str(test_name.into()));
        m
    }

    #[test]
    fn tcp_connect_bridge_input_is_hashed() {
        let db = BridgeDb::from_entries([(
            "1.2.3.4:443".to_string(),
            Bridge { fingerprint: FP.into(), distributor: Some("https".into()), transport: None },
        )]);
        let mut e = entry("tcp_connect", " 1.2.3.4:443 ", Map::new());
        apply(&mut e, "tcp_connect", Some(&db));
        let h = hashed(FP).unwrap();
        assert_eq!(e["input"], Value::Str(h.clone()));
        assert_eq!(e["test_keys"].as_map().unwrap()["bridge_hashed_fingerprint"], Value::Str(h));
        let mut other = entry("tcp_connect", "8.8.8.8:53", Map::new());
        apply(&mut other, "tcp_connect", Some(&db));
        assert_eq!(other["input"], Value::Str("8.8.8.8:53".into()));
    }

    #[test]
    fn bridge_line_fingerprint_and_log_redaction() {
        let mut tk = Map::new();
        tk.insert(
            "tor_log".into(),
            Value::Str(format!("x Learned fingerprint {FP} for bridge 1.2.3.4:443 y; new bridge descriptor 'a' at 1.2.3.4 z")),
        );
        let mut e = entry("bridge_reachability", &format!("obfs4 1.2.3.4:443 {FP} cert=x"), tk);
        apply(&mut e, "bridge_reachability", None);
        let tk = e["test_keys"].as_map().unwrap();
        assert_eq!(
            tk["tor_log"],
            Value::Str("x Learned fingerprint [REDACTED] for bridge [REDACTED] y; new bridge descriptor [REDACTED] at [REDACTED] z".into())
        );
        assert_eq!(tk["distributor"], Value::Null);
        assert_eq!(e["input"], Value::Str(hashed(FP).unwrap()));
        assert!(tk["bridge_address"].as_str().unwrap().contains(FP));
    }
}
