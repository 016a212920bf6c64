//! The collector's rules without HTTP: lifecycle, checks, idempotency, limits, recovery.

use std::net::{IpAddr, Ipv4Addr};

use super::*;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const T0: i64 = 1_600_000_000_000_000_000; // 2020-09-13 12:26:40 UTC

fn open_body() -> Vec<u8> {
    br#"{"data_format_version":"0.2.0","format":"json","probe_asn":"AS3269","probe_cc":"IT",
        "software_name":"ooniprobe","software_version":"3.0.0","test_name":"Web_Connectivity",
        "test_version":"0.4.0","probe_ip":"1.2.3.4"}"#
        .to_vec()
}

fn post(c: &Collector, path: &str, body: &[u8], now: i64) -> (u16, serde_json::Value) {
    let r = c.handle(
        &Request {
            method: "POST",
            path,
            content_type: None,
            content_encoding: None,
            body,
            peer: PEER,
        },
        Timestamp(now),
    );
    (r.status, serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null))
}

fn measurement(rid: &str, input: &str) -> Vec<u8> {
    format!(
        r#"{{"format": "json", "content": {{"report_id": "{rid}", "probe_cc": "IT", "probe_asn": "AS3269",
            "test_name": "web_connectivity", "input": "{input}", "test_keys": {{"x": [1, 2.50]}}}}}}"#
    )
    .into_bytes()
}

fn fixture() -> (tempfile::TempDir, DataDir) {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(dir.path()).unwrap();
    (dir, data)
}

#[test]
fn open_submit_close_archives_one_file() {
    let (_d, data) = fixture();
    let c = Collector::open(&data, CollectorConfig::default(), None, Timestamp(T0)).unwrap();
    let (s, v) = post(&c, "/report", &open_body(), T0);
    assert_eq!(s, 200, "{v}");
    let rid = v["report_id"].as_str().unwrap().to_string();
    let parts: Vec<&str> = rid.split('_').collect();
    assert_eq!(parts.len(), 6, "{rid}");
    assert_eq!(&parts[..5], ["20200913T122640Z", "webconnectivity", "IT", "3269", "n1"]);
    assert_eq!(parts[5].len(), 43);
    assert_eq!(v["supported_formats"], serde_json::json!(["json"]));
    let (s, a) =
        post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://a.example"), T0 + 1_000);
    assert_eq!(s, 200, "{a}");
    let uid = a["measurement_uid"].as_str().unwrap().to_string();
    assert!(uid.starts_with("20200913122640.000001_IT_webconnectivity_"), "{uid}");
    assert_eq!(a["measurement_id"], a["measurement_uid"]);
    // Resubmitting the same content returns the same uid and stores nothing more.
    let (_, again) =
        post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://a.example"), T0 + 2_000);
    assert_eq!(again["measurement_uid"].as_str(), Some(uid.as_str()));
    post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://b.example"), T0 + 3_000);
    let (s, v) = post(&c, &format!("/report/{rid}/close"), b"", T0 + 4_000);
    assert_eq!((s, v["status"].as_str()), (200, Some("success")));
    // Idempotent close; submission after close is 409.
    assert_eq!(post(&c, &format!("/report/{rid}/close"), b"", T0 + 5_000).0, 200);
    assert_eq!(
        post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://c"), T0 + 6_000).0,
        409
    );
    let dir = data.inbox("reports").unwrap().join("2020-09-13");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1);
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(crate::names::test_name_of(&name), Some("web_connectivity"), "{name}");
    assert!(name.starts_with("20200913T122640Z-IT-AS3269-web_connectivity-"));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0],
        format!(
            r#"{{"report_id":"{rid}","probe_cc":"IT","probe_asn":"AS3269","test_name":"web_connectivity","input":"http://a.example","test_keys":{{"x":[1,2.50]}},"measurement_uid":"{uid}"}}"#
        )
    );
}

#[test]
fn checks_and_errors() {
    let (_d, data) = fixture();
    let c = Collector::open(&data, CollectorConfig::default(), None, Timestamp(T0)).unwrap();
    let bad = |body: &str| post(&c, "/report", body.as_bytes(), T0);
    assert_eq!(bad("not json").0, 400);
    assert_eq!(bad("[1]").0, 400);
    let with = |k: &str, v: &str| {
        let mut m: serde_json::Value = serde_json::from_slice(&open_body()).unwrap();
        m[k] = serde_json::Value::String(v.into());
        m.to_string()
    };
    for (k, v) in [
        ("format", "yaml"),
        ("probe_asn", "3269"),
        ("probe_asn", "AS99999999999"),
        ("probe_cc", "it"),
        ("test_name", "web connectivity"),
        ("test_name", &"x".repeat(31)),
    ] {
        let (s, e) = bad(&with(k, v));
        assert_eq!(s, 400, "{k}={v}: {e}");
        assert!(e["error"].is_string() && e["detail"].is_string());
    }
    assert_eq!(post(&c, "/report/nope", &measurement("nope", "x"), T0).0, 404);
    assert_eq!(post(&c, "/report/nope/close", b"", T0).0, 404);
    let (_, v) = post(&c, "/report", &open_body(), T0);
    let rid = v["report_id"].as_str().unwrap();
    // Inconsistent metadata and a report_id that is not the URL's.
    let m = String::from_utf8(measurement(rid, "x")).unwrap();
    assert_eq!(
        post(&c, &format!("/report/{rid}"), m.replace("\"IT\"", "\"DE\"").as_bytes(), T0).0,
        400
    );
    assert_eq!(post(&c, &format!("/report/{rid}"), m.replace(rid, "other").as_bytes(), T0).0, 400);
    assert_eq!(
        post(&c, &format!("/report/{rid}"), br#"{"format":"json","content":[1]}"#, T0).0,
        400
    );
    // Unknown encoding and a non-JSON content type.
    let r = c.handle(
        &Request {
            method: "POST",
            path: "/report",
            content_type: None,
            content_encoding: Some("br"),
            body: b"{}",
            peer: PEER,
        },
        Timestamp(T0),
    );
    assert_eq!(r.status, 415);
    let r = c.handle(
        &Request {
            method: "POST",
            path: "/report",
            content_type: Some("text/yaml"),
            content_encoding: None,
            body: b"{}",
            peer: PEER,
        },
        Timestamp(T0),
    );
    assert_eq!(r.status, 415);
}

#[test]
fn size_and_rate_limits() {
    let (_d, data) = fixture();
    let config =
        CollectorConfig { max_body: 100, rate: 1.0, burst: 3.0, ..CollectorConfig::default() };
    let c = Collector::open(&data, config, None, Timestamp(T0)).unwrap();
    assert_eq!(post(&c, "/report", &[b' '; 101], T0).0, 413);
    assert_eq!(post(&c, "/report", b"{}", T0).0, 400);
    assert_eq!(post(&c, "/report", b"{}", T0).0, 400);
    let r = c.handle(
        &Request {
            method: "POST",
            path: "/report",
            content_type: None,
            content_encoding: None,
            body: b"{}",
            peer: PEER,
        },
        Timestamp(T0),
    );
    assert_eq!(r.status, 429);
    assert!(r.retry_after.is_some_and(|s| s >= 1));
    // One token a second.
    assert_eq!(post(&c, "/report", b"{}", T0 + 1_000_000_000).0, 400);
}

#[test]
fn single_shot_measurement() {
    let (_d, data) = fixture();
    let c = Collector::open(&data, CollectorConfig::default(), None, Timestamp(T0)).unwrap();
    let body = br#"{"data_format_version":"0.2.0","probe_asn":"AS1","probe_cc":"DE","software_name":"x","software_version":"1","test_name":"ndt","test_version":"0.1","test_keys":{}}"#;
    let (s, v) = post(&c, "/measurement", body, T0);
    assert_eq!(s, 200, "{v}");
    assert!(v["report_id"].is_string() && v["measurement_uid"].is_string());
    let dir = data.inbox("reports").unwrap().join("2020-09-13");
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
}

#[test]
fn restart_cuts_unacknowledged_tails_and_archives_idle_segments() {
    let (_d, data) = fixture();
    let rid;
    {
        let c = Collector::open(&data, CollectorConfig::default(), None, Timestamp(T0)).unwrap();
        let (_, v) = post(&c, "/report", &open_body(), T0);
        rid = v["report_id"].as_str().unwrap().to_string();
        assert_eq!(post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://a"), T0).0, 200);
    }
    // A crash mid-write: half a line after the acknowledged one.
    let seg = data.inbox("reports").unwrap().join("staging").join(format!("{rid}.0.jsonl"));
    let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(b"{\"half").unwrap();
    drop(f);
    let c = Collector::open(&data, CollectorConfig::default(), None, Timestamp(T0 + 1)).unwrap();
    assert!(std::fs::read(&seg).unwrap().ends_with(b"}\n"));
    // The report is still known; the same content is still recognized.
    let (s, v) = post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://a"), T0 + 2);
    assert_eq!(s, 200, "{v}");
    assert_eq!(std::fs::read_to_string(&seg).unwrap().lines().count(), 1);
    // An hour later the segment is archived; a later submission opens segment 1.
    let hour = 3_600_000_000_000;
    assert_eq!(c.tick(Timestamp(T0 + hour + 2)).unwrap().len(), 1);
    assert!(!seg.exists());
    assert_eq!(
        post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://b"), T0 + hour + 3).0,
        200
    );
    assert!(data.inbox("reports").unwrap().join("staging").join(format!("{rid}.1.jsonl")).exists());
}

#[test]
fn segments_never_cross_midnight() {
    let (_d, data) = fixture();
    let c = Collector::open(&data, CollectorConfig::default(), None, Timestamp(T0)).unwrap();
    let (_, v) = post(&c, "/report", &open_body(), T0);
    let rid = v["report_id"].as_str().unwrap().to_string();
    post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://a"), T0);
    let next_day = T0 + 86_400_000_000_000;
    post(&c, &format!("/report/{rid}"), &measurement(&rid, "http://b"), next_day);
    post(&c, &format!("/report/{rid}/close"), b"", next_day);
    let inbox = data.inbox("reports").unwrap();
    assert!(inbox.join("2020-09-13").read_dir().unwrap().count() == 1);
    assert!(inbox.join("2020-09-14").read_dir().unwrap().count() == 1);
}
