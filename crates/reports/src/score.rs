//! Scores and flags (reports spec §7.4), after ooni/backend fastpath `core.py`, plus the
//! vendor rules of §7.5.
//!
//! Scores are a JSON object (`blocking_*` floats, and `accuracy`, `fingerprints`,
//! `confirmed`, `analysis`, `extra`, `msg` where a rule sets them); "fail" sets
//! `accuracy` 0. Flags derive from them: anomaly = general > 0.5, failure = accuracy < 0.5,
//! confirmed = `scores.confirmed`.

use serde_json::{json, Map, Value as J};

use crate::fingerprint::{bytes_of, is_tor, Matches};

/// Scores, flags and blocking type of one measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The scores object.
    pub scores: J,
    /// general > 0.5.
    pub anomaly: bool,
    /// `scores.confirmed`.
    pub confirmed: bool,
    /// accuracy < 0.5.
    pub failure: bool,
    /// `scores.analysis.blocking_type`.
    pub blocking_type: Option<String>,
}

type S = Map<String, J>;

fn init() -> S {
    let mut s = Map::new();
    for k in [
        "blocking_general",
        "blocking_global",
        "blocking_country",
        "blocking_isp",
        "blocking_local",
    ] {
        s.insert(k.into(), J::from(0.0));
    }
    s
}

fn fail(s: &mut S) {
    s.insert("accuracy".into(), J::from(0.0));
}

fn getf(s: &S, k: &str) -> f64 {
    s.get(k).and_then(J::as_f64).unwrap_or(0.0)
}

fn setf(s: &mut S, k: &str, v: f64) {
    s.insert(k.into(), J::from(v));
}

fn tk_of(msm: &J) -> &J {
    static EMPTY: std::sync::OnceLock<J> = std::sync::OnceLock::new();
    match msm.get("test_keys") {
        Some(t) if t.is_object() => t,
        _ => EMPTY.get_or_init(|| J::Object(Map::new())),
    }
}

/// Python truthiness of a JSON value.
fn truthy(v: Option<&J>) -> bool {
    match v {
        None | Some(J::Null) => false,
        Some(J::Bool(b)) => *b,
        Some(J::Number(n)) => n.as_f64() != Some(0.0),
        Some(J::String(s)) => !s.is_empty(),
        Some(J::Array(a)) => !a.is_empty(),
        Some(J::Object(o)) => !o.is_empty(),
    }
}

/// Scores a normalized measurement. `blocking` is the web_connectivity verdict stored for
/// it (the probe's, else §7.1's); `matches` its fingerprint matches (§7.3).
pub fn score(msm: &J, blocking: &J, matches: &Matches<'_>) -> Scored {
    let test = msm.get("test_name").and_then(J::as_str).unwrap_or("");
    let mut s = match test {
        "web_connectivity" => web_connectivity(msm, blocking, matches),
        "http_requests" => http_requests(msm, matches),
        "telegram" => telegram(msm),
        "facebook_messenger" => facebook_messenger(msm),
        "http_header_field_manipulation" => hhfm(msm),
        "http_invalid_request_line" => hirl(msm),
        "whatsapp" => whatsapp(msm),
        "vanilla_tor" => vanilla_tor(msm),
        "tcp_connect" => tcp_connect(msm),
        "meek_fronted_requests_test" => meek(msm),
        "tor" => tor(msm),
        "signal" => signal(msm),
        "psiphon" => psiphon(msm),
        "dash" => dash(msm),
        "stunreachability" => stun(msm),
        "torsf" => torsf(msm),
        "openvpn" => openvpn(msm),
        "browser_web" => browser_web(msm),
        "ndt" | "riseupvpn" => Map::new(),
        "dns_consistency" => init(),
        _ => {
            let mut s = init();
            fail(&mut s);
            s
        }
    };
    check_time(msm, &mut s);
    flags(J::Object(s))
}

/// The flags of a scores object.
pub fn flags(scores: J) -> Scored {
    let general = scores.get("blocking_general").and_then(J::as_f64).unwrap_or(0.0);
    let accuracy = scores.get("accuracy").and_then(J::as_f64).unwrap_or(1.0);
    let confirmed = scores.get("confirmed").and_then(J::as_bool).unwrap_or(false);
    let blocking_type =
        scores.pointer("/analysis/blocking_type").and_then(J::as_str).map(str::to_string);
    Scored { anomaly: general > 0.5, confirmed, failure: accuracy < 0.5, blocking_type, scores }
}

/// `YYYYMMDDhhmmss.ffffff_...` uids carry the collector's receipt time: a measurement
/// claiming to start more than an hour after it, or a year before it, is suspect.
fn check_time(msm: &J, s: &mut S) {
    let uid = msm.get("measurement_uid").and_then(J::as_str).unwrap_or("");
    let Some(stamp) = uid.get(..14).filter(|_| uid.as_bytes().get(14) == Some(&b'.')) else {
        return;
    };
    let Ok(received) = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d%H%M%S") else { return };
    let Some(start) = msm
        .get("measurement_start_time")
        .and_then(J::as_str)
        .and_then(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").ok())
    else {
        return;
    };
    let delta = received.signed_duration_since(start);
    if delta < -chrono::Duration::hours(1) {
        fail(s);
        s.insert("msg".into(), J::from("Measurement start time from the future"));
    } else if delta > chrono::Duration::days(365) {
        fail(s);
        s.insert("msg".into(), J::from("Measurement start time too old"));
    }
}

/// Applies fingerprint matches: listed, and confirming ones set `blocking_<loc>`.
fn apply_matches(msm: &J, s: &mut S, matches: &Matches<'_>) -> bool {
    if matches.list.is_empty() {
        return false;
    }
    let cc = msm.get("probe_cc").and_then(J::as_str).unwrap_or("ZZ");
    s.insert(
        "fingerprints".into(),
        J::Array(matches.list.iter().map(|m| m.fp.score_entry()).collect()),
    );
    for m in &matches.list {
        if m.fp.confirms(cc) {
            let loc = match m.fp.scope.as_str() {
                "inst" => "blocking_local",
                "isp" => "blocking_isp",
                "nat" => "blocking_country",
                _ => "blocking_general",
            };
            setf(s, loc, 1.0);
            s.insert("confirmed".into(), J::Bool(true));
        }
    }
    true
}

fn add_locals(s: &mut S) {
    let g = getf(s, "blocking_general")
        + getf(s, "blocking_country")
        + getf(s, "blocking_global")
        + getf(s, "blocking_isp")
        + getf(s, "blocking_local");
    setf(s, "blocking_general", g);
}

fn web_connectivity(msm: &J, blocking: &J, matches: &Matches<'_>) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    if matches.decode_error {
        fail(&mut s);
        return s;
    }
    let matched = apply_matches(msm, &mut s, matches);
    if !matches!(tk.get("title_match"), None | Some(J::Null) | Some(J::Bool(_))) {
        fail(&mut s);
        return s;
    }
    match blocking {
        J::String(b) if ["tcp_ip", "dns", "http-diff", "http-failure"].contains(&b.as_str()) => {
            setf(&mut s, "blocking_general", 1.0);
            s.insert("analysis".into(), json!({"blocking_type": b}));
        }
        J::Bool(false) => {}
        J::Null => {
            if !matched {
                fail(&mut s);
            }
        }
        _ => {
            fail(&mut s);
            s.insert("analysis".into(), json!({"msg": "Unsupported blocking type"}));
        }
    }
    let unknown = tk.as_object().into_iter().flatten().any(|(k, v)| {
        k.ends_with("_failure") && v.as_str().is_some_and(|f| f.starts_with("unknown_failure"))
    });
    if unknown {
        fail(&mut s);
    }
    add_locals(&mut s);
    if tk.get("accessible").is_some_and(J::is_null) && !matched {
        fail(&mut s);
    }
    s
}

fn http_requests(msm: &J, matches: &Matches<'_>) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let (bl, hm) = (tk.get("body_length_match"), tk.get("headers_match"));
    if bl.is_none_or(J::is_null) || hm.is_none_or(J::is_null) {
        fail(&mut s);
        return s;
    }
    if !(truthy(bl) && truthy(hm)) {
        setf(&mut s, "blocking_general", 1.0);
    }
    if matches.decode_error {
        fail(&mut s);
        return s;
    }
    apply_matches(msm, &mut s, matches);
    add_locals(&mut s);
    s
}

fn telegram(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let reqs = tk.get("requests").and_then(J::as_array).cloned().unwrap_or_default();
    let (mut http_ok, mut http_fail) = (0u32, 0u32);
    let mut web_failure = J::Null;
    for r in &reqs {
        let Some(url) = r.pointer("/request/url").and_then(J::as_str) else {
            fail(&mut s);
            return s;
        };
        let failed = truthy(r.get("failure"));
        if url == "http://web.telegram.org/" || url == "https://web.telegram.org/" {
            if failed {
                web_failure = r.get("failure").cloned().unwrap_or(J::Null);
            }
            continue;
        }
        if failed {
            http_fail += 1;
        } else {
            http_ok += 1;
        }
    }
    let tcp = tk.get("tcp_connect").and_then(J::as_array).cloned().unwrap_or_default();
    let (mut reach, mut unreach) = (0u32, 0u32);
    for t in &tcp {
        if t.pointer("/status/success").and_then(J::as_bool) == Some(true) {
            reach += 1;
        } else {
            unreach += 1;
        }
    }
    let tcp_part =
        if reach + unreach == 0 { 0.5 } else { f64::from(unreach) / f64::from(reach + unreach) };
    let http_part = if http_ok + http_fail == 0 {
        0.5
    } else {
        f64::from(http_fail) / f64::from(http_ok + http_fail)
    };
    let mut g = tcp_part + http_part;
    if tk.get("telegram_web_status").and_then(J::as_str) == Some("blocked") {
        g += 1.0;
    }
    setf(&mut s, "blocking_general", g);
    s.insert("web_failure".into(), web_failure.clone());
    s.insert("accessible_endpoints".into(), J::from(reach));
    s.insert("unreachable_endpoints".into(), J::from(unreach));
    s.insert("http_success_cnt".into(), J::from(http_ok));
    s.insert("http_failure_cnt".into(), J::from(http_fail));
    if let Some(f) = web_failure.as_str() {
        s.insert("msg".into(), J::from(format!("failure: {f}")));
    }
    s
}

fn facebook_messenger(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let b = |k: &str| tk.get(k).and_then(J::as_bool);
    let mut all = true;
    for svc in ["b_api", "b_graph", "edge", "star"] {
        for what in ["dns_consistent", "reachable"] {
            all &= b(&format!("facebook_{svc}_{what}")) == Some(true);
        }
    }
    all &= b("facebook_stun_dns_consistent") == Some(true);
    all &= b("facebook_dns_blocking") == Some(true) || b("facebook_dns_blocking").is_none();
    all &= b("facebook_tcp_blocking") == Some(false);
    if all {
        return s;
    }
    let mut g = 0.0;
    for svc in ["b_api", "b_graph", "edge", "external_cdn", "scontent_cdn", "star"] {
        for what in ["dns_consistent", "reachable"] {
            if b(&format!("facebook_{svc}_{what}")) == Some(false) {
                g += 0.5;
            }
        }
    }
    if b("facebook_stun_dns_consistent") == Some(false) {
        g += 0.5;
    }
    for k in ["facebook_tcp_blocking", "facebook_dns_blocking"] {
        if b(k) == Some(true) {
            g += 0.5;
        }
    }
    setf(&mut s, "blocking_general", g);
    s
}

fn hhfm(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let Some(resp) = tk
        .get("requests")
        .and_then(J::as_array)
        .and_then(|r| r.first())
        .and_then(|r| r.get("response"))
        .filter(|r| r.is_object())
    else {
        fail(&mut s);
        return s;
    };
    let Some(body) = resp.get("body").filter(|b| !b.is_null()) else {
        setf(&mut s, "blocking_general", 1.0);
        s.insert("total_tampering".into(), J::Bool(true));
        s.insert("msg".into(), J::from("Empty body"));
        return s;
    };
    let parsed: Option<J> = body.as_str().and_then(|t| serde_json::from_str(t).ok());
    let Some(echo) = parsed.as_ref().and_then(|p| p.get("headers_dict")).and_then(J::as_object)
    else {
        setf(&mut s, "blocking_general", 1.0);
        s.insert("msg".into(), J::from("Malformed ctrl_headers"));
        return s;
    };
    let first = |v: &J| match v {
        J::Array(a) => a.first().and_then(J::as_str).map(str::to_string),
        J::String(t) => Some(t.clone()),
        _ => None,
    };
    let sent: std::collections::BTreeSet<(String, String)> = tk
        .pointer("/requests/0/request/headers")
        .and_then(J::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| first(v).map(|v| (k.clone(), v)))
        .collect();
    let got: std::collections::BTreeSet<(String, String)> =
        echo.iter().filter_map(|(k, v)| first(v).map(|v| (k.clone(), v))).collect();
    let conn = ("Connection".to_string(), "close".to_string());
    let diff = sent.symmetric_difference(&got).filter(|p| **p != conn).count();
    if diff > 0 {
        setf(&mut s, "blocking_general", 1.1);
        s.insert("msg".into(), J::from(format!("{diff} unexpected header change")));
    }
    s
}

fn hirl(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let sent = tk.get("sent").and_then(J::as_array).cloned().unwrap_or_default();
    let received = tk.get("received").and_then(J::as_array).cloned().unwrap_or_default();
    if sent.is_empty() && received.is_empty() {
        fail(&mut s);
        return s;
    }
    if sent.iter().zip(&received).any(|(a, b)| a != b) || sent.len() != received.len() {
        setf(&mut s, "blocking_general", 1.0);
    }
    s
}

fn whatsapp(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    if tk.to_string().contains("unknown_failure") {
        fail(&mut s);
    }
    let web_failure = tk.get("whatsapp_web_failure");
    if web_failure.and_then(J::as_str).is_some_and(|f| f.contains("unknown_failure 'ascii' co")) {
        fail(&mut s);
        return s;
    }
    let reqs = tk.get("requests").and_then(J::as_array).cloned().unwrap_or_default();
    let find =
        |u: &str| reqs.iter().find(|r| r.pointer("/request/url").and_then(J::as_str) == Some(u));
    let (web, reg) =
        (find("https://web.whatsapp.com/"), find("https://v.whatsapp.net/v2/register"));
    if reqs.is_empty() || (web.is_none() && reg.is_none()) {
        fail(&mut s);
        return s;
    }
    let web_failed = web.is_some_and(|r| truthy(r.get("failure")));
    let reg_failed = reg.is_some_and(|r| r.get("failure").is_some_and(|f| !f.is_null()));
    if web_failed || reg_failed {
        setf(&mut s, "blocking_general", 1.0);
        return s;
    }
    let tcp = tk.get("tcp_connect").and_then(J::as_array).cloned().unwrap_or_default();
    if tcp.is_empty() {
        fail(&mut s);
    } else if !tcp.iter().any(|t| t.pointer("/status/success").and_then(J::as_bool) == Some(true)) {
        setf(&mut s, "blocking_general", 1.0);
    }
    s.insert(
        "analysis".into(),
        json!({"registration_server_accessible": !reg_failed, "whatsapp_web_accessible": !web_failed,
            "whatsapp_endpoints_accessible": tcp.iter().any(|t| t.pointer("/status/success").and_then(J::as_bool) == Some(true))}),
    );
    s
}

/// The last `Bootstrapped N%` progress of a Tor log.
fn tor_progress(log: &str) -> (f64, bool) {
    let mut progress = 0.0;
    for line in log.lines() {
        if let Some(i) = line.find("Bootstrapped ") {
            let rest = &line[i + 13..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<f64>() {
                progress = n;
                if n >= 100.0 && rest[digits.len()..].starts_with('%') {
                    return (100.0, true);
                }
            }
        }
    }
    (progress, false)
}

fn vanilla_tor(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    // Older probes wrote one `tor_log` text, newer ones a `tor_logs` list of lines.
    let log = match (tk.get("tor_log"), tk.get("tor_logs")) {
        (Some(J::String(t)), _) => t.clone(),
        (_, Some(J::Array(l))) => l.iter().filter_map(J::as_str).collect::<Vec<_>>().join("\n"),
        _ => {
            fail(&mut s);
            return s;
        }
    };
    let (parsed, done) = tor_progress(&log);
    if !done {
        let progress = tk.get("tor_progress").and_then(J::as_f64).unwrap_or(parsed);
        setf(&mut s, "blocking_general", 1.0 - progress.clamp(0.0, 100.0) * 0.004);
    }
    s
}

fn tcp_connect(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let conn = tk.get("connection");
    if conn.and_then(J::as_str) == Some("success") {
        return s;
    }
    let soft = [
        "generic_timeout_error",
        "connection_refused_error",
        "connect_error",
        "tcp_timed_out_error",
    ];
    let g = if conn.and_then(J::as_str).is_some_and(|c| soft.contains(&c)) { 0.8 } else { 1.0 };
    setf(&mut s, "blocking_general", g);
    s
}

fn meek(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let reqs = tk.get("requests").and_then(J::as_array).cloned().unwrap_or_default();
    if reqs.is_empty() {
        setf(&mut s, "blocking_general", 1.0);
        fail(&mut s);
        return s;
    }
    for r in &reqs {
        let resp = r.get("response").filter(|r| !r.is_null());
        let code = resp.and_then(|r| r.get("code")).and_then(J::as_i64);
        if resp.is_none() || code != Some(200) {
            setf(&mut s, "blocking_general", 1.0);
            continue;
        }
        let server = resp.and_then(|r| r.pointer("/headers/Server")).and_then(J::as_str);
        if server.is_none_or(|v| !v.starts_with("ECAcc ")) {
            let g = getf(&s, "blocking_general") + 0.5;
            setf(&mut s, "blocking_general", g);
        }
    }
    s
}

fn tor(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let Some(targets) = tk.get("targets").and_then(J::as_object) else {
        fail(&mut s);
        return s;
    };
    let (mut blocked, mut ok) = (0u32, 0u32);
    for t in targets.values() {
        let (Some(f), Some(_)) = (t.get("failure"), t.get("network_events")) else {
            fail(&mut s);
            return s;
        };
        match f {
            J::Bool(false) => {}
            J::Null => ok += 1,
            _ => blocked += 1,
        }
    }
    if blocked + ok == 0 {
        fail(&mut s);
    } else {
        setf(&mut s, "blocking_general", f64::from(blocked) / f64::from(blocked + ok));
    }
    s.insert(
        "extra".into(),
        json!({"test_runtime": msm.get("test_runtime").cloned().unwrap_or(J::Null)}),
    );
    s
}

fn version_lt(a: &str, b: &str) -> bool {
    let p = |v: &str| v.split('.').map(|x| x.parse::<u64>().unwrap_or(0)).collect::<Vec<_>>();
    p(a) < p(b)
}

fn signal(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    if truthy(tk.get("failed_operation"))
        || truthy(tk.get("failure"))
        || tk.get("failed_operation").is_none()
        || tk.get("failure").is_none()
    {
        fail(&mut s);
    }
    let Some(start) =
        msm.get("measurement_start_time").and_then(J::as_str).filter(|t| t.len() >= 10)
    else {
        fail(&mut s);
        return s;
    };
    let day = &start[..10];
    let tv = msm.get("test_version").and_then(J::as_str).unwrap_or("");
    let ev = msm.pointer("/annotations/engine_version").and_then(J::as_str);
    let bad = tv == "0.2.4"
        || (day >= "2023-11-07" && !version_lt("0.2.3", tv))
        || (day >= "2022-10-19" && version_lt(tv, "0.2.2"))
        || (day >= "2023-05-02" && ev.is_some_and(|e| version_lt(e, "3.17.2")));
    if bad {
        fail(&mut s);
        return s;
    }
    match tk.get("signal_backend_status").and_then(J::as_str) {
        Some("ok") => {}
        Some("blocked") => {
            setf(&mut s, "blocking_general", 1.0);
            s.insert("analysis".into(), json!({"signal_backend_failure": tk.get("signal_backend_failure").cloned().unwrap_or(J::Null)}));
        }
        _ => fail(&mut s),
    }
    s
}

fn psiphon(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let bt = tk.get("bootstrap_time").cloned().unwrap_or(J::Null);
    if tk.get("failure").is_none_or(J::is_null) {
        if bt.as_f64() == Some(0.0) {
            fail(&mut s);
        } else {
            s.insert("accuracy".into(), J::from(1.0));
        }
    } else {
        s.insert("accuracy".into(), J::from(1.0));
        setf(&mut s, "blocking_general", 1.0);
    }
    if msm.get("resolver_ip").is_none() {
        fail(&mut s);
    }
    s.insert("extra".into(), json!({"test_runtime": msm.get("test_runtime").cloned().unwrap_or(J::Null), "bootstrap_time": bt}));
    s
}

fn dash(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    if tk.as_object().is_none_or(|o| o.is_empty()) {
        fail(&mut s);
        return s;
    }
    let soft = [
        "connection_aborted",
        "json_parse_error",
        "eof_error",
        "json_processing_error",
        "http_request_failed",
        "connect_error",
        "generic_timeout_error",
        "broken_pipe",
        "connection_refused",
    ];
    match tk.get("failure") {
        None | Some(J::Null) => {}
        Some(f) => {
            let f = f.as_str().unwrap_or("");
            if soft.contains(&f) || f.starts_with("ssl_error") {
                setf(&mut s, "blocking_general", 0.1);
                fail(&mut s);
            } else {
                fail(&mut s);
                s.insert("msg".into(), J::from("Probe error"));
            }
        }
    }
    s
}

fn stun(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let mut extra = json!({"endpoint": tk.get("endpoint").cloned().unwrap_or(J::Null)});
    if let Some(f) = tk.get("failure").filter(|f| !f.is_null()) {
        setf(&mut s, "blocking_general", 1.0);
        extra["failure"] = f.clone();
    }
    s.insert("extra".into(), extra);
    s
}

fn torsf(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    let sw = msm.get("software_name").and_then(J::as_str).unwrap_or("");
    let sv = msm.get("software_version").and_then(J::as_str).unwrap_or("");
    if sw.starts_with("ooniprobe-android") && sv == "3.8.3" {
        fail(&mut s);
        return s;
    }
    if tk.get("failure").is_some_and(|f| !f.is_null()) {
        setf(&mut s, "blocking_general", 1.0);
        return s;
    }
    s.insert(
        "extra".into(),
        json!({"bootstrap_time": tk.get("bootstrap_time").cloned().unwrap_or(J::Null),
        "test_runtime": msm.get("test_runtime").cloned().unwrap_or(J::Null)}),
    );
    s
}

fn openvpn(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    match tk.get("success") {
        Some(J::Bool(false)) => setf(&mut s, "blocking_general", 1.0),
        None | Some(J::Null) => fail(&mut s),
        _ => {}
    }
    s.insert(
        "extra".into(),
        json!({"test_runtime": msm.get("test_runtime").cloned().unwrap_or(J::Null)}),
    );
    s
}

fn browser_web(msm: &J) -> S {
    let mut s = init();
    let tk = tk_of(msm);
    match tk.get("result").and_then(J::as_str) {
        Some("ok") => {}
        Some("error") => setf(&mut s, "blocking_general", 1.0),
        _ => fail(&mut s),
    }
    s.insert(
        "extra".into(),
        json!({"browser_name": tk.get("browser_name").cloned().unwrap_or(J::Null),
        "load_time_ms": tk.get("load_time_ms").cloned().unwrap_or(J::Null)}),
    );
    s
}

/// Middlebox vendors of §7.5, sorted and distinct.
pub fn vendors(msm: &J) -> Vec<&'static str> {
    let tk = tk_of(msm);
    let mut out = Vec::new();
    match msm.get("test_name").and_then(J::as_str) {
        Some("http_header_field_manipulation") => {
            let d = tk.pointer("/tampering/header_name_diff").and_then(J::as_array);
            if d.is_some_and(|d| d.len() == 1 && d[0].as_str() == Some("X-BlueCoat-Via")) {
                out.push("bluecoat");
            }
        }
        Some("http_invalid_request_line") if tk.get("tampering") == Some(&J::Bool(true)) => {
            let recv = tk.get("received").and_then(J::as_array).cloned().unwrap_or_default();
            for r in recv.iter().take(4) {
                let Ok(Some(b)) = bytes_of(r) else { continue };
                let has = |p: &[u8]| b.windows(p.len()).any(|w| w == p);
                if has(b"squid") && !out.contains(&"squid") {
                    out.push("squid");
                }
                if has(b"Privoxy") && !out.contains(&"privoxy") {
                    out.push("privoxy");
                }
            }
        }
        _ => {}
    }
    out.sort();
    out
}

/// Whether a request is one fingerprint matching skips for http_requests (Tor).
pub fn skipped_request(test: &str, req: &J) -> bool {
    test == "http_requests" && is_tor(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_connect_levels() {
        let m = |c: &str| json!({"test_name": "tcp_connect", "test_keys": {"connection": c}});
        let none = Matches::default();
        let g = |c| score(&m(c), &J::Null, &none).scores["blocking_general"].as_f64();
        assert_eq!(g("success"), Some(0.0));
        assert_eq!(g("connect_error"), Some(0.8));
        assert_eq!(g("x"), Some(1.0));
    }

    #[test]
    fn tor_progress_parses() {
        assert_eq!(tor_progress("Jan 1 [notice] Bootstrapped 5%: x\n"), (5.0, false));
        assert_eq!(tor_progress("Bootstrapped 100%: Done"), (100.0, true));
    }
}
