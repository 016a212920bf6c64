//! The collector over HTTP on 127.0.0.1, driven like a probe (open, several submissions,
//! close), then canning and autoclaving, and every submitted measurement read back with
//! `show`, byte-for-byte its normalized form.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

use vantage_core::{DataDir, Timestamp};
use vantage_reports::collector::{http, Collector};
use vantage_reports::report::{self, Format, Source};
use vantage_reports::{autoclave, can, show, CollectorConfig, ReportsConfig};
use vantage_warehouse::Warehouse;

/// One HTTP/1.1 request; returns status and body.
fn post(addr: SocketAddr, path: &str, body: &[u8], gzip: bool) -> (u16, serde_json::Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let (body, enc) = if gzip {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(body).unwrap();
        (e.finish().unwrap(), "Content-Encoding: gzip\r\n")
    } else {
        (body.to_vec(), "")
    };
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{enc}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body).unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let text = String::from_utf8_lossy(&resp);
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.to_ascii_lowercase().contains("cache-control: no-store"), "{head}");
    (status, serde_json::from_str(body).unwrap_or(serde_json::Value::Null))
}

#[test]
fn probe_session_then_can_autoclave_show() {
    let dir = vantage_testkit::tempdir();
    let data = DataDir::open(dir.path()).unwrap();
    let collector = Arc::new(
        Collector::open(&data, CollectorConfig::default(), None, Timestamp::now()).unwrap(),
    );
    let server = http::spawn(collector, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = server.addr;
    assert!(addr.ip().is_loopback());

    let open = br#"{"data_format_version":"0.2.0","format":"json","probe_asn":"AS30722","probe_cc":"IT","software_name":"ooniprobe-cli","software_version":"3.10.0","test_name":"web_connectivity","test_version":"0.4.0"}"#;
    let (s, v) = post(addr, "/report", open, false);
    assert_eq!(s, 200, "{v}");
    let rid = v["report_id"].as_str().unwrap().to_string();
    let mut uids = Vec::new();
    let mut contents = Vec::new();
    for i in 0..5 {
        let content = format!(
            r#"{{"annotations": {{}}, "data_format_version": "0.2.0", "input": "http://site{i}.example/", "measurement_start_time": "2021-01-01 00:00:0{i}", "probe_asn": "AS30722", "probe_cc": "IT", "report_id": "{rid}", "test_keys": {{"blocking": false, "accessible": true, "n": 1.0e1}}, "test_name": "web_connectivity", "test_runtime": 0.5, "test_start_time": "2021-01-01 00:00:00", "test_version": "0.4.0"}}"#
        );
        let body = format!(r#"{{"format": "json", "content": {content}}}"#);
        let (s, v) = post(addr, &format!("/report/{rid}"), body.as_bytes(), i % 2 == 1);
        assert_eq!(s, 200, "{v}");
        uids.push(v["measurement_uid"].as_str().unwrap().to_string());
        contents.push(content);
    }
    let (s, _) = post(addr, &format!("/report/{rid}/close"), b"{}", false);
    assert_eq!(s, 200);
    assert_eq!(post(addr, "/report/unknown/close", b"{}", false).0, 404);
    server.stop();

    let config = ReportsConfig::default();
    let mut wh = Warehouse::open(None, &data).unwrap();
    let c = can(&data, &mut wh, &config, None).unwrap();
    assert_eq!(c.cans.len(), 1);
    let a = autoclave(&data, &mut wh, &config, None, false).unwrap();
    assert_eq!(a.datums(), 5);
    assert_eq!(a.badblobs(), 0);
    let textname = c.cans[0].filename.trim_end_matches(".tar.lz4").to_string();
    let (bucket, name) = textname.split_once('/').unwrap();
    for (i, uid) in uids.iter().enumerate() {
        let got = show(&data, &mut wh, uid).unwrap();
        // The normalized form of the stored line: the minified content with the uid.
        let minified = vantage_reports::collector::minify(contents[i].as_bytes());
        let mut line = minified[..minified.len() - 1].to_vec();
        line.extend_from_slice(format!(",\"measurement_uid\":\"{uid}\"}}\n").as_bytes());
        let want =
            report::autoclave(&line, Format::Jsonl, Source { bucket, name, bridge_db: None });
        let want = &want.datums().next().unwrap().line;
        assert_eq!(&got, want, "measurement {i}");
        let v: serde_json::Value = serde_json::from_slice(&got).unwrap();
        assert_eq!(v["measurement_uid"].as_str(), Some(uid.as_str()));
        assert_eq!(v["report_filename"].as_str(), Some(textname.as_str()));
        // Number text as the probe sent it.
        assert!(String::from_utf8_lossy(&got).contains("\"n\":1.0e1"));
    }
}
