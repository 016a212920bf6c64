//! Rules 13–16: scapy packets, TLS handshakes, captive portal and website_probe sets
//! (spec §5.3).

use crate::json::base64_object;
use crate::value::{sort_order, Map, Value};

/// Tests that get rule 13.
pub const SCAPYT: &[&str] = &[
    "chinatrigger",
    "keyword_filtering",
    "parasitic_traceroute",
    "multi_protocol_traceroute",
    "dns_spoof",
];

fn raw_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b.clone(),
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Null => Vec::new(),
        other => other.key_text().into_bytes(),
    }
}

/// Rule 13: each packet item → `{"raw_packet": <base64 object>, "summary"}` of its first
/// element; items without a first element are dropped (as OONI's IndexError path).
pub fn scapyt(tk: &mut Map) {
    for key in ["answered_packets", "sent_packets"] {
        let items = match tk.remove(key) {
            Some(Value::List(l)) => l,
            _ => Vec::new(),
        };
        let mut out = Vec::new();
        for item in items {
            let Some(first) = item.as_list().and_then(|l| l.first()) else { continue };
            let Some(p) = first.as_map() else { continue };
            let mut m = Map::new();
            m.insert(
                "raw_packet".into(),
                base64_object(&raw_bytes(p.get("raw_packet").unwrap_or(&Value::Null))),
            );
            m.insert("summary".into(), p.get("summary").cloned().unwrap_or(Value::Null));
            out.push(Value::Map(m));
        }
        tk.insert(key.into(), Value::List(out));
    }
}

/// Rule 14: `cert_serial_no` as Python's `hex()`, `session_key` as a base64 object,
/// subject and issuer pairs kept with their values (OONI emptied them, spec §13).
pub fn tls_handshake(tk: &mut Map) -> Result<(), String> {
    let serial = match tk.get("cert_serial_no") {
        None => 0i128,
        Some(Value::Int(i)) => i128::from(*i),
        Some(Value::Number(t)) => {
            t.parse::<i128>().map_err(|_| "cert_serial_no is not an integer")?
        }
        Some(_) => return Err("cert_serial_no is not an integer".into()),
    };
    let hex = if serial < 0 { format!("-0x{:x}", -serial) } else { format!("0x{serial:x}") };
    tk.insert("cert_serial_no".into(), Value::Str(hex));
    let key = raw_bytes(tk.get("session_key").unwrap_or(&Value::Null));
    tk.insert("session_key".into(), base64_object(&key));
    for k in ["cert_subject", "cert_issuer"] {
        if let Some(Value::List(pairs)) = tk.get_mut(k) {
            for p in pairs.iter_mut() {
                if let Value::List(kv) = p {
                    for v in kv.iter_mut() {
                        *v = super::httpt::body(std::mem::replace(v, Value::Null));
                    }
                }
            }
        }
    }
    Ok(())
}

fn sorted_list(v: &mut Value) {
    if let Value::Set(items) = v {
        let mut items = std::mem::take(items);
        items.sort_by(sort_order);
        *v = Value::List(items);
    }
}

/// Rule 15: `google_dns_cp` (or its `addresses`) set → sorted list.
pub fn captive_portal(tk: &mut Map) {
    if let Some(v) = tk.get_mut("google_dns_cp") {
        sorted_list(v);
        if let Some(a) = v.as_map_mut().and_then(|m| m.get_mut("addresses")) {
            sorted_list(a);
        }
    }
}

/// Rule 16: website_probe's `headers_diff` → list.
pub fn website_probe(tk: &mut Map) {
    if let Some(v) = tk.get_mut("headers_diff") {
        sorted_list(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_serial_is_python_hex() {
        let mut tk = Map::new();
        tk.insert("cert_serial_no".into(), Value::Int(255));
        tls_handshake(&mut tk).unwrap();
        assert_eq!(tk["cert_serial_no"], Value::Str("0xff".into()));
        assert_eq!(tk["session_key"], base64_object(b""));
        tk.insert("cert_serial_no".into(), Value::Str("x".into()));
        assert!(tls_handshake(&mut tk).is_err());
    }

    #[test]
    fn packets_take_the_first_element() {
        let mut tk = Map::new();
        let mut p = Map::new();
        p.insert("raw_packet".into(), Value::Bytes(vec![1, 2]));
        p.insert("summary".into(), Value::Str("s".into()));
        tk.insert(
            "sent_packets".into(),
            Value::List(vec![Value::List(vec![Value::Map(p)]), Value::List(vec![])]),
        );
        scapyt(&mut tk);
        assert_eq!(
            crate::json::to_string(&tk["sent_packets"]),
            r#"[{"raw_packet":{"data":"AQI=","format":"base64"},"summary":"s"}]"#
        );
        assert_eq!(tk["answered_packets"], Value::List(vec![]));
    }
}
