//! Rule 2: OONI's historical test names mapped to today's (spec §5.3).

use crate::value::Value;

/// The canonical test name for a raw `test_name` value; `invalid` when absent.
pub fn canonical(raw: Option<&Value>) -> String {
    let text = match raw {
        None | Some(Value::Null) => return "invalid".into(),
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Bytes(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(other) => other.key_text(),
    };
    let mapped = match text.as_str() {
        "HTTP Host" => "http_host",
        "http_requests_test" | "HTTP Requests Test" => "http_requests",
        "bridgereachability" => "bridge_reachability",
        "TCP Connect" => "tcp_connect",
        "DNS tamper" | "dnstamper" => "dns_consistency",
        "HTTP Invalid Request Line"
        | "test_random_big_request_method"
        | "test_random_invalid_field_count" => "http_invalid_request_line",
        "HTTP Header Field Manipulation"
        | "test_get_random_capitalization"
        | "test_put_random_capitalization"
        | "test_post_random_capitalization" => "http_header_field_manipulation",
        "Multi Protocol Traceroute Test" | "multi_protocol_traceroute_test" | "traceroute" => {
            "multi_protocol_traceroute"
        }
        "parasitic_traceroute_test" | "parasitic_tcp_traceroute_test" => "parasitic_traceroute",
        "tls-handshake" => "tls_handshake",
        "captivep" | "captiveportal" => "captive_portal",
        "HTTPFilteringBypass" | "httpfilteringbypass" => "http_filtering_bypass",
        "HTTPTrix" | "httptrix" => "http_trix",
        "netalyzrwrapper" => "netalyzr_wrapper",
        "summary" | "test_get" | "test_post" | "test_put" | "test_send_host_header" => "invalid",
        other => return other.to_lowercase(),
    };
    mapped.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let s = |t: &str| canonical(Some(&Value::Str(t.into())));
        assert_eq!(s("DNS tamper"), "dns_consistency");
        assert_eq!(s("test_put_random_capitalization"), "http_header_field_manipulation");
        assert_eq!(s("Web_Connectivity"), "web_connectivity");
        assert_eq!(s("summary"), "invalid");
        assert_eq!(canonical(None), "invalid");
    }
}
