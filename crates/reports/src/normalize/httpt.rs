//! Rule 11: the HTTP-template tests (spec §5.3): input from options, request/response
//! pairs, headers as maps, bodies as text or base64, Tor detection, response_length,
//! request order, headers_diff as a sorted list.

use crate::json::base64_object;
use crate::value::{sort_order, Map, Value};

/// Tests that get rule 11.
pub const TESTS: &[&str] = &[
    "http_requests",
    "meek_fronted_requests",
    "domclass_collector",
    "http_keyword_filtering",
    "http_uk_mobile_networks",
    "http_header_field_manipulation",
    "http_url_list",
    "http_host",
    "squid",
    "captive_portal",
    "psiphon",
    "tor_http_requests_test",
];

/// A body or header value: text without NUL; bytes that are UTF-8 without NUL as text;
/// other bytes as a base64 object (11c).
pub fn body(v: Value) -> Value {
    match v {
        Value::Str(s) if s.contains('\0') => Value::Str(s.replace('\0', "")),
        Value::Bytes(b) => match String::from_utf8(b) {
            Ok(s) if !s.contains('\0') => Value::Str(s),
            Ok(s) => base64_object(s.as_bytes()),
            Err(e) => base64_object(e.as_bytes()),
        },
        other => other,
    }
}

/// `[[name, [values]]…]` → name → first value (11c); a map keeps its names.
fn headers(v: Value) -> Value {
    let first = |v: Value| match v {
        Value::List(mut l) if !l.is_empty() => match l.swap_remove(0) {
            Value::List(mut inner) if !inner.is_empty() => inner.swap_remove(0),
            Value::List(_) => Value::Null,
            x => x,
        },
        Value::List(_) => Value::Null,
        x => x,
    };
    let mut out = Map::new();
    match v {
        Value::List(pairs) => {
            for pair in pairs {
                if let Value::List(mut p) = pair {
                    if p.len() >= 2 {
                        let values = p.swap_remove(1);
                        let name = p.swap_remove(0).key_text();
                        out.insert(name, body(first(values)));
                    }
                }
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                out.insert(k, body(first(v)));
            }
        }
        _ => {}
    }
    Value::Map(out)
}

fn empty_side() -> Value {
    let mut m = Map::new();
    m.insert("body".into(), Value::Null);
    m.insert("headers".into(), Value::Map(Map::new()));
    Value::Map(m)
}

fn side(v: Option<Value>) -> Value {
    match v {
        Some(Value::Map(mut m)) => {
            let b = m.remove("body").unwrap_or(Value::Null);
            m.insert("body".into(), body(b));
            let h = m.remove("headers").unwrap_or(Value::Null);
            m.insert("headers".into(), headers(h));
            Value::Map(m)
        }
        _ => empty_side(),
    }
}

/// Applies rule 11 to an entry whose `test_keys` is a map.
pub fn apply(entry: &mut Map) {
    // a) input from --url / -u (the later option in this list wins).
    if entry.get("input").is_none_or(Value::is_null) {
        let mut found = None;
        if let Some(Value::List(opts)) = entry.get("options") {
            for name in ["--url", "-u"] {
                if let Some(i) = opts.iter().position(|o| o.as_str() == Some(name)) {
                    if let Some(v) = opts.get(i + 1) {
                        found = Some(v.clone());
                    }
                }
            }
        }
        if let Some(v) = found {
            entry.insert("input".into(), v);
        }
    }
    let Some(Value::Map(tk)) = entry.get_mut("test_keys") else { return };
    // b) a lone request/response pair joins `requests`.
    if tk.get("request").is_some_and(Value::truthy) && tk.get("response").is_some_and(Value::truthy)
    {
        let mut pair = Map::new();
        pair.insert("request".into(), tk.remove("request").unwrap_or(Value::Null));
        pair.insert("response".into(), tk.remove("response").unwrap_or(Value::Null));
        match tk.get_mut("requests") {
            Some(Value::List(l)) => l.push(Value::Map(pair)),
            _ => {
                tk.insert("requests".into(), Value::List(vec![Value::Map(pair)]));
            }
        }
    }
    let sessions = match tk.remove("requests") {
        Some(Value::List(l)) => l,
        _ => Vec::new(),
    };
    let (mut plain, mut tor) = (Vec::new(), Vec::new());
    for s in sessions {
        let mut s = match s {
            Value::Map(m) => m,
            _ => Map::new(),
        };
        let response = side(s.remove("response"));
        let mut request = side(s.remove("request"));
        // d) Tor.
        let (mut is_tor, mut exit_ip, mut exit_name) = (false, Value::Null, Value::Null);
        if let Some(req) = request.as_map_mut() {
            let url = req.get("url").and_then(Value::as_str).map(str::to_string);
            match (url, req.get("tor")) {
                (Some(u), _) if u.starts_with("shttp") => {
                    req.insert("url".into(), Value::Str(u.replacen("shttp://", "http://", 1)));
                    is_tor = true;
                }
                (_, Some(Value::Bool(true))) => is_tor = true,
                (_, Some(Value::Map(t))) if t.get("is_tor") == Some(&Value::Bool(true)) => {
                    is_tor = true;
                    exit_ip = t.get("exit_ip").cloned().unwrap_or(Value::Null);
                    exit_name = t.get("exit_name").cloned().unwrap_or(Value::Null);
                }
                _ => {}
            }
            let mut t = Map::new();
            t.insert("is_tor".into(), Value::Bool(is_tor));
            t.insert("exit_ip".into(), exit_ip);
            t.insert("exit_name".into(), exit_name);
            req.insert("tor".into(), Value::Map(t));
        }
        // e) response_length from Content-Length (any case; the last such header wins).
        let mut length = Value::Null;
        if let Some(Value::Map(h)) = response.as_map().and_then(|r| r.get("headers")) {
            for (k, v) in h {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.clone();
                }
            }
        }
        s.insert("request".into(), request);
        s.insert("response".into(), response);
        s.insert("response_length".into(), length);
        if is_tor {
            tor.push(Value::Map(s));
        } else {
            plain.push(Value::Map(s));
        }
    }
    // f) first non-Tor, first Tor, other non-Tor, other Tor.
    let mut requests = Vec::with_capacity(plain.len() + tor.len());
    let mut plain = plain.into_iter();
    let mut tor = tor.into_iter();
    requests.extend(plain.next());
    requests.extend(tor.next());
    requests.extend(plain);
    requests.extend(tor);
    tk.insert("requests".into(), Value::List(requests));
    // g) headers_diff as a sorted list.
    if let Some(Value::Set(items)) = tk.get_mut("headers_diff") {
        let mut items = std::mem::take(items);
        items.sort_by(sort_order);
        tk.insert("headers_diff".into(), Value::List(items));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn run(text: &str) -> Map {
        let mut m = match yaml::load(text).unwrap() {
            Value::Map(m) => m,
            _ => panic!(),
        };
        apply(&mut m);
        m
    }

    #[test]
    fn tor_requests_go_second_and_headers_become_maps() {
        let m = run(
            "input: null\noptions: [-u, http://a, --url, http://b]\ntest_keys:\n  requests:\n  - request: {url: 'shttp://x', headers: [[A, [b]]]}\n    response: {body: !!binary AAE=, headers: [[Content-Length, ['3']]]}\n  - request: {url: 'http://y', tor: {is_tor: false}}\n    response: null\n",
        );
        assert_eq!(m["input"], Value::Str("http://a".into()));
        let tk = m["test_keys"].as_map().unwrap();
        let reqs = tk["requests"].as_list().unwrap();
        let first = reqs[0].as_map().unwrap();
        assert_eq!(first["request"].as_map().unwrap()["url"], Value::Str("http://y".into()));
        assert_eq!(first["response"].as_map().unwrap()["headers"], Value::Map(Map::new()));
        let second = reqs[1].as_map().unwrap();
        let req = second["request"].as_map().unwrap();
        assert_eq!(req["url"], Value::Str("http://x".into()));
        assert_eq!(req["tor"].as_map().unwrap()["is_tor"], Value::Bool(true));
        assert_eq!(req["headers"].as_map().unwrap()["A"], Value::Str("b".into()));
        assert_eq!(second["response_length"], Value::Str("3".into()));
        assert_eq!(second["response"].as_map().unwrap()["body"], base64_object(&[0, 1]));
    }

    #[test]
    fn text_bodies_drop_nul() {
        assert_eq!(body(Value::Str("a\0b".into())), Value::Str("ab".into()));
        assert_eq!(body(Value::Bytes(b"ab".to_vec())), Value::Str("ab".into()));
    }
}
