//! The web_connectivity verdict (reports spec §7.1), for probes that sent no `blocking`
//! key: probe-cli's httpanalysis for the missing sub-keys, then summary.go's rules in
//! order. Sub-keys the probe gave are used as given.

use std::collections::BTreeSet;

use serde_json::Value as J;

use crate::fingerprint::bytes_of;

/// The verdict row of one web_connectivity measurement (`reports_http_verdict`).
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// `false`, `"dns"`, `"tcp_ip"`, `"http-failure"`, `"http-diff"` or null (as JSON).
    pub blocking: J,
    /// Where `blocking` came from: `probe` or `vantage`.
    pub source: &'static str,
    /// true for false, false for a string, null for null (or the probe's).
    pub accessible: J,
    /// Shorter/longer body length.
    pub body_proportion: J,
    /// body_proportion > 0.7.
    pub body_length_match: J,
    /// Status codes agree.
    pub status_code_match: J,
    /// Header names agree.
    pub headers_match: J,
    /// Title words agree.
    pub title_match: J,
}

/// Failures of the first request that mean HTTP blocking (rule 8).
const HTTP_FAILURES: &[&str] = &[
    "connection_refused",
    "connection_reset",
    "eof_error",
    "generic_timeout_error",
    "ssl_invalid_hostname",
    "ssl_invalid_certificate",
    "ssl_unknown_authority",
];

/// Header names too common to tell two responses apart (probe-cli httpanalysis).
const COMMON_HEADERS: &[&str] = &[
    "date",
    "content-type",
    "server",
    "cache-control",
    "vary",
    "set-cookie",
    "location",
    "expires",
    "x-powered-by",
    "content-encoding",
    "last-modified",
    "accept-ranges",
    "pragma",
    "x-frame-options",
    "etag",
    "x-content-type-options",
    "age",
    "via",
    "p3p",
    "x-xss-protection",
    "content-language",
    "cf-ray",
    "strict-transport-security",
    "link",
    "x-varnish",
];

fn given<'a>(tk: &'a J, key: &str) -> Option<&'a J> {
    tk.as_object().and_then(|o| o.get(key))
}

fn code(v: Option<&J>) -> i64 {
    v.and_then(|c| c.as_i64().or_else(|| c.as_f64().map(|f| f as i64))).unwrap_or(0)
}

/// The first `<title>` (any case, across lines), as the http feeders store it too.
pub fn title(body: &[u8]) -> Option<String> {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::bytes::Regex::new(r"(?is)<title>(.*?)</title>").expect("constant regex")
    });
    re.captures(body)
        .and_then(|c| c.get(1))
        .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
}

fn header_names(h: Option<&J>) -> BTreeSet<String> {
    h.and_then(J::as_object)
        .map(|o| o.keys().map(|k| k.to_lowercase()).collect())
        .unwrap_or_default()
}

/// Computes the verdict of a web_connectivity `test_keys` (null → `{}`).
pub fn verdict(tk: &J) -> Verdict {
    let empty = J::Object(Default::default());
    let tk = if tk.is_object() { tk } else { &empty };
    let req0 = given(tk, "requests").and_then(J::as_array).and_then(|r| r.first());
    let resp0 = req0.and_then(|r| r.get("response")).unwrap_or(&J::Null);
    let ctrl = tk.pointer("/control/http_request").unwrap_or(&J::Null);
    let exp_code = code(resp0.get("code"));
    let ctrl_code = code(ctrl.get("status_code"));
    let body = bytes_of(resp0.get("body").unwrap_or(&J::Null)).ok().flatten();
    let truncated = resp0.get("body_is_truncated").and_then(J::as_bool).unwrap_or(false);

    let body_proportion = match given(tk, "body_proportion") {
        Some(v) => v.clone(),
        None => {
            let a = body.as_ref().map_or(0, |b| b.len() as i64);
            let b = code(ctrl.get("body_length"));
            if a <= 0 || b <= 0 || truncated {
                J::Null
            } else {
                let (lo, hi) = (a.min(b) as f64, a.max(b) as f64);
                serde_json::Number::from_f64(lo / hi).map_or(J::Null, J::Number)
            }
        }
    };
    let body_length_match = match given(tk, "body_length_match") {
        Some(v) => v.clone(),
        None => body_proportion.as_f64().map_or(J::Null, |p| J::Bool(p > 0.7)),
    };
    let status_code_match = match given(tk, "status_code_match") {
        Some(v) => v.clone(),
        None if exp_code <= 0 || ctrl_code <= 0 => J::Null,
        None if exp_code == ctrl_code => J::Bool(true),
        None if ctrl_code / 100 == 5 => J::Null,
        None => J::Bool(false),
    };
    let headers_match = match given(tk, "headers_match") {
        Some(v) => v.clone(),
        None if exp_code <= 0 || ctrl_code <= 0 => J::Null,
        None => {
            let (a, b) = (header_names(resp0.get("headers")), header_names(ctrl.get("headers")));
            if a == b {
                J::Bool(true)
            } else {
                J::Bool(a.intersection(&b).any(|n| !COMMON_HEADERS.contains(&n.as_str())))
            }
        }
    };
    let title_match = match given(tk, "title_match") {
        Some(v) => v.clone(),
        None => match body.as_deref().and_then(title) {
            Some(t) if exp_code > 0 && ctrl_code > 0 => {
                let ct = ctrl.get("title").and_then(J::as_str).unwrap_or("").to_lowercase();
                let cwords: BTreeSet<&str> = ct.split(' ').collect();
                let t = t.to_lowercase();
                J::Bool(t.split(' ').filter(|w| w.len() >= 5).all(|w| cwords.contains(w)))
            }
            _ => J::Null,
        },
    };
    let blocking =
        blocking(tk, req0, &status_code_match, &body_length_match, &headers_match, &title_match);
    let accessible = match &blocking {
        J::Bool(false) => J::Bool(true),
        J::String(_) => J::Bool(false),
        _ => J::Null,
    };
    Verdict {
        blocking,
        source: "vantage",
        accessible,
        body_proportion,
        body_length_match,
        status_code_match,
        headers_match,
        title_match,
    }
}

fn blocking(tk: &J, req0: Option<&J>, status: &J, body_len: &J, headers: &J, title: &J) -> J {
    let s = |k: &str| given(tk, k).and_then(J::as_str);
    let failure0 = req0.and_then(|r| r.get("failure")).filter(|f| !f.is_null());
    // 1: an https final request that succeeded cannot have been tampered with.
    if let Some(r) = req0 {
        let url = r.pointer("/request/url").and_then(J::as_str).unwrap_or("");
        if failure0.is_none() && url.starts_with("https://") {
            return J::Bool(false);
        }
    }
    if given(tk, "control_failure").is_some_and(|v| !v.is_null()) {
        return J::Null;
    }
    let consistency = s("dns_consistency");
    let dns_failure = s("dns_experiment_failure");
    if matches!(dns_failure, Some("dns_nxdomain_error") | Some("android_dns_cache_no_data"))
        && consistency == Some("consistent")
    {
        return J::Bool(false);
    }
    if consistency == Some("inconsistent") {
        return J::from("dns");
    }
    let tcp = given(tk, "tcp_connect").and_then(J::as_array);
    if let Some(tcp) = tcp.filter(|t| !t.is_empty()) {
        let ok =
            tcp.iter().any(|t| t.pointer("/status/success").and_then(J::as_bool) == Some(true));
        if !ok && consistency.is_some() {
            return if consistency == Some("consistent") { J::from("tcp_ip") } else { J::Null };
        }
    }
    if tk.pointer("/control/http_request/failure").is_some_and(|f| !f.is_null()) {
        return J::Null;
    }
    let Some(_) = req0 else { return J::Null };
    if let Some(f) = failure0 {
        let f = f.as_str().unwrap_or("");
        return if HTTP_FAILURES.contains(&f) {
            J::from("http-failure")
        } else if f == "dns_nxdomain_error" {
            J::from("dns")
        } else {
            J::Null
        };
    }
    let t = |v: &J| v.as_bool() == Some(true);
    if t(status) && (t(body_len) || t(headers) || t(title)) {
        return J::Bool(false);
    }
    J::from("http-diff")
}

/// The verdict stored for a measurement: the probe's `blocking` (and sub-keys) when it
/// sent one, else [`verdict`].
pub fn stored_verdict(tk: &J) -> Verdict {
    let mut v = verdict(tk);
    if let Some(b) = tk.as_object().and_then(|o| o.get("blocking")) {
        v.blocking = b.clone();
        v.source = "probe";
        v.accessible = tk.get("accessible").cloned().unwrap_or(J::Null);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_in_order() {
        let cases = [
            (json!({}), J::Null),
            (json!({"control_failure": "x", "dns_consistency": "inconsistent"}), J::Null),
            (json!({"dns_consistency": "inconsistent"}), json!("dns")),
            (
                json!({"dns_consistency": "consistent", "tcp_connect": [{"status": {"success": false}}]}),
                json!("tcp_ip"),
            ),
            (
                json!({"dns_consistency": "consistent", "requests": [{"failure": "connection_reset"}]}),
                json!("http-failure"),
            ),
            (
                json!({"requests": [{"failure": null, "request": {"url": "https://x/"}}]}),
                J::Bool(false),
            ),
            (
                json!({"dns_consistency": "consistent", "requests": [{"failure": null, "response": {"code": 200}}],
                "status_code_match": false}),
                json!("http-diff"),
            ),
        ];
        for (tk, want) in cases {
            assert_eq!(verdict(&tk).blocking, want, "{tk}");
        }
    }

    #[test]
    fn title_is_first_any_case() {
        assert_eq!(title(b"<TITLE>a\nb</title><title>c</title>").as_deref(), Some("a\nb"));
        assert_eq!(title(b"none"), None);
    }
}
