//! Rule 12: the DNS-template tests (spec §5.3): `tampering` split into verdict lists,
//! Twisted query and RR reprs parsed into fields.
//!
//! OONI's ooni/backend normalize.py built these lists from the map's keys taken as pairs
//! (spec §13); here they come from the map's entries, as the original pipeline did.

use std::sync::OnceLock;

use regex::Regex;

use crate::value::{Map, Value};

/// Tests that get rule 12.
pub const TESTS: &[&str] = &["dns_consistency", "dns_injection", "captive_portal"];

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).unwrap_or_else(|e| unreachable!("static regex: {e}")))
}

/// First capture of `pattern` in `text`, or `""`.
fn capture(re: &Regex, text: &str) -> String {
    re.captures(text).and_then(|c| c.get(1)).map(|m| m.as_str().to_string()).unwrap_or_default()
}

fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(other) => other.key_text(),
        None => String::new(),
    }
}

/// Applies rule 12 to an entry whose `test_keys` is a map.
pub fn apply(entry: &mut Map, test_name: &str) -> Result<(), String> {
    let Some(Value::Map(tk)) = entry.get_mut("test_keys") else { return Ok(()) };
    tk.remove("test_resolvers");
    match tk.remove("tampering") {
        Some(t) if t.truthy() => {
            let Value::Map(errors) = t else { return Err("tampering is not a mapping".into()) };
            let pick = |f: &dyn Fn(&Value) -> bool| {
                let mut keys: Vec<String> =
                    errors.iter().filter(|(_, v)| f(v)).map(|(k, _)| k.clone()).collect();
                keys.sort();
                Value::List(keys.into_iter().map(Value::Str).collect())
            };
            tk.insert("successful".into(), pick(&|v| *v == Value::Bool(false)));
            tk.insert("failed".into(), pick(&|v| *v != Value::Bool(true)));
            tk.insert("inconsistent".into(), pick(&|v| *v == Value::Bool(true)));
            tk.insert("errors".into(), Value::Map(errors));
        }
        _ if test_name == "dns_consistency" => {
            tk.insert("errors".into(), Value::Map(Map::new()));
            for k in ["successful", "failed", "inconsistent"] {
                tk.insert(k.into(), Value::List(Vec::new()));
            }
        }
        _ => {}
    }
    let queries = match tk.remove("queries") {
        Some(Value::List(q)) => q,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => return Err("queries is not a list".into()),
    };
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let Value::Map(mut q) = q else { return Err("query is not a mapping".into()) };
        out.push(Value::Map(query(&mut q)));
    }
    tk.insert("queries".into(), Value::List(out));
    Ok(())
}

fn query(q: &mut Map) -> Map {
    static QUERY: OnceLock<Regex> = OnceLock::new();
    let hostname = match q.remove("query") {
        Some(Value::Str(s)) => Value::Str(capture(re(&QUERY, r"\[Query\('(.+)'"), &s)),
        _ => Value::Null,
    };
    q.insert("hostname".into(), hostname);
    let (host, port) = match q.remove("resolver") {
        Some(Value::List(mut r)) if r.len() == 2 => {
            let port = r.swap_remove(1);
            (r.swap_remove(0), port)
        }
        _ => (Value::Null, Value::Null),
    };
    q.insert("resolver_hostname".into(), host);
    q.insert("resolver_port".into(), port);
    q.remove("addrs");
    let answers = match q.remove("answers") {
        Some(Value::List(a)) => a,
        _ => Vec::new(),
    };
    let answers: Vec<Value> = answers.iter().map(|a| Value::Map(answer(a))).collect();
    let failure = q.get("failure").cloned().unwrap_or(Value::Null);
    let failure = if !failure.truthy() && answers.is_empty() {
        Value::Str("no_answer".into())
    } else {
        failure
    };
    q.insert("answers".into(), Value::List(answers));
    q.insert("failure".into(), failure);
    std::mem::take(q)
}

fn answer(a: &Value) -> Map {
    static TTL: OnceLock<Regex> = OnceLock::new();
    static TYPE: OnceLock<Regex> = OnceLock::new();
    static ADDRESS: OnceLock<Regex> = OnceLock::new();
    static PREFERENCE: OnceLock<Regex> = OnceLock::new();
    static NAME: OnceLock<Regex> = OnceLock::new();
    static RNAME: OnceLock<Regex> = OnceLock::new();
    static MNAME: OnceLock<Regex> = OnceLock::new();
    static SERIAL: OnceLock<Regex> = OnceLock::new();
    static REFRESH: OnceLock<Regex> = OnceLock::new();
    static RETRY: OnceLock<Regex> = OnceLock::new();
    static MINIMUM: OnceLock<Regex> = OnceLock::new();
    static EXPIRE: OnceLock<Regex> = OnceLock::new();
    let items = a.as_list();
    let rr = text_of(items.and_then(|l| l.first()));
    let data = text_of(items.and_then(|l| l.get(1)));
    let mut m = Map::new();
    let s = |v: String| Value::Str(v);
    m.insert("ttl".into(), s(capture(re(&TTL, r"ttl=(\d+)"), &rr)));
    let kind = capture(re(&TYPE, r"type=([A-Z]+)"), &rr);
    let field = |cell: &'static OnceLock<Regex>, p: &str| s(capture(re(cell, p), &data));
    match kind.as_str() {
        "A" => {
            m.insert("ipv4".into(), field(&ADDRESS, r"address=([\d\.]+)"));
        }
        "MX" => {
            m.insert("hostname".into(), field(&ADDRESS, r"address=([\d\.]+)"));
            m.insert("preference".into(), field(&PREFERENCE, r"preference=(\d+)"));
        }
        "PTR" | "CNAME" => {
            m.insert("hostname".into(), field(&NAME, r"name=([a-zA-Z0-9\.\-]+)"));
        }
        "SOA" => {
            m.insert("responsible_name".into(), field(&RNAME, r"rname=([a-zA-Z0-9\.\-]+)"));
            m.insert("hostname".into(), field(&MNAME, r"mname=([a-zA-Z0-9\.\-]+)"));
            m.insert("serial_number".into(), field(&SERIAL, r"serial=(\d+)"));
            m.insert("refresh_interval".into(), field(&REFRESH, r"refresh=(\d+)"));
            m.insert("retry_interval".into(), field(&RETRY, r"retry=(\d+)"));
            m.insert("minimum_ttl".into(), field(&MINIMUM, r"minimum=(\d+)"));
            m.insert("expiration_limit".into(), field(&EXPIRE, r"expire=(\d+)"));
        }
        _ => {}
    }
    m.insert("answer_type".into(), s(kind));
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    #[test]
    fn soa_and_no_answer() {
        let mut m = match yaml::load(
            "test_keys:\n  tampering: {a: false, b: true, c: unknown}\n  queries:\n  - {query: x, answers: [['<RR type=SOA ttl=5s>', '<SOA mname=ns.x rname=h.x serial=7 refresh=1 retry=2 expire=3 minimum=4>']]}\n  - {query: \"[Query('a.b', 1, 1)]\", resolver: [1.2.3.4, 53]}\n",
        )
        .unwrap()
        {
            Value::Map(m) => m,
            _ => panic!(),
        };
        apply(&mut m, "dns_consistency").unwrap();
        let tk = m["test_keys"].as_map().unwrap();
        let names = |k: &str| crate::json::to_string(&tk[k]);
        assert_eq!(names("successful"), r#"["a"]"#);
        assert_eq!(names("failed"), r#"["a","c"]"#);
        assert_eq!(names("inconsistent"), r#"["b"]"#);
        let q = tk["queries"].as_list().unwrap();
        assert_eq!(
            crate::json::to_string(&q[0]),
            r#"{"answers":[{"answer_type":"SOA","expiration_limit":"3","hostname":"ns.x","minimum_ttl":"4","refresh_interval":"1","responsible_name":"h.x","retry_interval":"2","serial_number":"7","ttl":"5"}],"hostname":"","resolver_hostname":null,"resolver_port":null}"#
                .replace("}],", "}],\"failure\":null,")
        );
        assert_eq!(q[1].as_map().unwrap()["failure"], Value::Str("no_answer".into()));
        assert_eq!(q[1].as_map().unwrap()["hostname"], Value::Str("a.b".into()));
    }
}
