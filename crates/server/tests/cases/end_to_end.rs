//! Every endpoint against a filled data directory: a probe's report through the
//! collector and the reports tick, a passive upload, a netstate upload imported by the
//! tick, a pcap dropped for the recorder, and the answers checked against the warehouse.

use std::net::SocketAddr;
use std::path::Path;

use vantage_core::DataDir;
use vantage_server::Server;
use vantage_warehouse::{Sql, Warehouse};

use crate::fixture;
use crate::http::{eventually, get, request};

const AUTH: (&str, &str) = ("Authorization", "Bearer test-token-0123");

fn scalar(data: &Path, url: Option<&str>, sql: &str) -> i64 {
    let data = DataDir::open(data).unwrap();
    let mut wh = Warehouse::open(url, &data).unwrap();
    wh.query_i64(sql, &[]).unwrap().unwrap_or(0)
}

fn collector_round_trip(addr: SocketAddr) -> String {
    let open = br#"{"data_format_version":"0.2.0","format":"json","probe_asn":"AS3269","probe_cc":"IT",
        "software_name":"ooniprobe","software_version":"3.0.0","test_name":"web_connectivity","test_version":"0.4.0"}"#;
    let a = request(addr, "POST", "/report", &[("Content-Type", "application/json")], open);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    let rid = v["report_id"].as_str().unwrap().to_string();
    assert_eq!(v["supported_formats"], serde_json::json!(["json"]));
    for (i, input) in ["http://example.org/", "http://blocked.example/"].iter().enumerate() {
        let m = format!(
            r#"{{"format":"json","content":{{"report_id":"{rid}","probe_cc":"IT","probe_asn":"AS3269",
            "test_name":"web_connectivity","input":"{input}","measurement_start_time":"2024-01-0{} 10:00:00",
            "test_start_time":"2024-01-01 10:00:00","data_format_version":"0.2.0","test_keys":{{"n":{i}}}}}}}"#,
            i + 1
        );
        let a = request(addr, "POST", &format!("/report/{rid}"), &[], m.as_bytes());
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert!(a.json()["measurement_uid"].is_string());
    }
    let a = request(addr, "POST", &format!("/report/{rid}/close"), &[], b"");
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("success")));
    // OONI's error shape at the collector, not ours.
    let a =
        request(addr, "POST", "/report/no-such-report", &[], br#"{"format":"json","content":{}}"#);
    assert_eq!(a.status, 404);
    assert!(a.json()["error"].is_string());
    rid
}

/// The whole tour, on the warehouse `url` (None: SQLite).
pub fn tour(url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    fixture::fill(data, url);
    let cfg = fixture::config(data, url, &[]);
    let server = Server::bind(&cfg).expect("bind");
    let running = server.spawn();
    let addr = running.addr;

    // Health, status, OpenAPI.
    assert_eq!(get(addr, "/healthz").json()["status"], "ok");
    let st = get(addr, "/api/v1/status").json();
    let kinds: Vec<&str> =
        st["kinds"].as_array().unwrap().iter().map(|k| k["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["packets", "reports", "passive", "netstate"]);
    let netstate_done = st["kinds"][3]["done"].as_i64().unwrap();
    let want = scalar(
        data,
        url,
        "SELECT COUNT(*) FROM catalog_partitions WHERE kind = 'netstate' AND state = 'done'",
    );
    assert_eq!(netstate_done, want);
    let doc = get(addr, "/api/v1/openapi.json").json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    // Reports: a probe's report, then the ticks can and autoclave it.
    let rid = collector_round_trip(addr);
    let path = format!("/api/v1/reports/measurements?report_id={rid}");
    assert!(
        eventually(60, || get(addr, &path).json()["metadata"]["count"] == 2),
        "the reports tick never made the two measurements visible: {}",
        get(addr, &path).json()
    );
    let list = get(addr, &format!("{path}&limit=1&order=asc")).json();
    assert_eq!(list["results"].as_array().unwrap().len(), 1);
    assert!(list["metadata"]["next_url"].as_str().unwrap().contains("offset=1"));
    let m = &list["results"][0];
    assert_eq!((m["probe_cc"].as_str(), m["probe_asn"].as_str()), (Some("IT"), Some("AS3269")));
    let uid = m["measurement_uid"].as_str().unwrap();
    let want = scalar(
        data,
        url,
        &format!("SELECT COUNT(*) FROM reports_datum_locator WHERE uid = '{uid}'"),
    );
    assert_eq!(want, 1);
    let full = get(addr, m["measurement_url"].as_str().unwrap());
    assert_eq!(full.status, 200);
    assert_eq!(full.json()["report_id"], rid.as_str());
    let raw = get(addr, &format!("/api/v1/reports/raw_measurement?measurement_uid={uid}"));
    assert_eq!(raw.body, full.body);
    let count = |q: &str| {
        let a = get(addr, &format!("{path}{q}"));
        assert_eq!(a.status, 200, "{q}: {}", String::from_utf8_lossy(&a.body));
        a.json()["metadata"]["count"].as_i64().unwrap()
    };
    assert_eq!(count("&anomaly=true") + count("&anomaly=false"), 2);
    assert_eq!(
        count("&confirmed=false&failure=false&since=2000-01-01&until=2200-01-01"),
        count("&confirmed=false&failure=false")
    );
    assert_eq!(count("&probe_cc=IT&probe_asn=AS3269&test_name=web_connectivity"), 2);
    assert_eq!(count("&probe_cc=DE"), 0);
    assert_eq!(get(addr, "/api/v1/reports/measurement/nope").error_code(), "not_found");
    let agg = get(addr, "/api/v1/reports/aggregation?axis_x=probe_cc&probe_cc=IT").json();
    assert_eq!(agg["dimension_count"], 1);
    assert_eq!(agg["result"][0]["probe_cc"], "IT");
    assert!(agg["result"][0]["measurement_count"].as_i64().unwrap() >= 2);
    assert_eq!(
        get(addr, "/api/v1/reports/aggregation?axis_x=colour").error_code(),
        "bad_parameter"
    );
    assert_eq!(
        get(addr, "/api/v1/reports/measurements?since=yesterday").error_code(),
        "bad_parameter"
    );

    publish(addr, data, url);

    // Passive: the demo's byte counts, then an upload (token required).
    let nodes = get(addr, "/api/v1/passive/nodes").json()["nodes"].as_array().unwrap().clone();
    assert!(!nodes.is_empty());
    let bytes = get(addr, "/api/v1/passive/bytes?by=total&granularity=hour&limit=100000").json();
    let sum: i64 =
        bytes["rows"].as_array().unwrap().iter().map(|r| r["bytes"].as_i64().unwrap()).sum();
    assert_eq!(
        sum,
        scalar(data, url, "SELECT COALESCE(SUM(bytes), 0) FROM passive_bytes_per_hour")
    );
    assert!(sum > 0);
    let one = nodes[0].as_str().unwrap();
    let by_domain = get(addr, &format!("/api/v1/passive/bytes?by=domain&node={one}")).json();
    assert!(by_domain["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["node_id"] == one && r["domain"].is_string()));
    assert!(get(addr, &format!("/api/v1/passive/availability?node={one}")).json()["ranges"]
        .as_array()
        .is_some());
    assert!(!get(addr, "/api/v1/passive/sessions").json()["sessions"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(get(addr, "/api/v1/passive/statistics").json()["nodes"].is_array());
    assert_eq!(get(addr, "/api/v1/passive/bytes?by=colour").error_code(), "bad_parameter");

    let gen = tempfile::tempdir().unwrap();
    let report = vantage_passive::generate(&vantage_passive::GenerateOptions {
        out: gen.path().to_path_buf(),
        routers: 1,
        sessions: 1,
        updates: 3,
        seed: 99,
        ..Default::default()
    })
    .expect("generate");
    let _ = report;
    let tarball = vantage_testkit::all_files(gen.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "tar"))
        .expect("a tarball");
    let name = tarball.file_name().unwrap().to_str().unwrap().to_string();
    let body = std::fs::read(&tarball).unwrap();
    let up = format!("/api/v1/passive/upload?name={name}");
    let a = request(addr, "POST", &up, &[("Content-Type", "application/x-tar")], &body);
    assert_eq!((a.status, a.error_code().as_str()), (401, "unauthorized"));
    let a = request(addr, "POST", &up, &[AUTH, ("Content-Type", "application/x-tar")], &body);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(a.json()["indexed"].as_i64().unwrap() > 0, "{}", a.json());
    let sha = vantage_core::hash::sha256_hex(&body);
    let want =
        scalar(data, url, &format!("SELECT COUNT(*) FROM passive_tarballs WHERE sha256 = '{sha}'"));
    assert_eq!(want, 1, "the uploaded tarball is not in passive_tarballs");

    // Netstate: at, changes, replay, next/prev/range, snapshots, log; then an upload.
    let tables = get(addr, "/api/v1/netstate/tables").json();
    let (lo, hi) = (tables["earliest"].as_i64().unwrap(), tables["latest"].as_i64().unwrap());
    let mid = lo + (hi - lo) / 2;
    let at = get(addr, &format!("/api/v1/netstate/at?table=LLDP_LINKS&t={mid}")).json();
    let alive = at["rows"].as_array().unwrap().len() as i64;
    let want = {
        let d = DataDir::open(data).unwrap();
        let mut wh = Warehouse::open(url, &d).unwrap();
        vantage_netstate::query::at(&mut wh, "LLDP_LINKS", mid, None).unwrap().len() as i64
    };
    assert_eq!(alive, want);
    assert!(alive > 0);
    let ch =
        get(addr, &format!("/api/v1/netstate/changes?tables=LLDP_LINKS&from={lo}&to={mid}")).json();
    assert!(!ch["changes"].as_array().unwrap().is_empty());
    let rp = get(
        addr,
        &format!("/api/v1/netstate/replay?tables=LLDP_LINKS&from={lo}&to={mid}&state=true"),
    );
    assert_eq!(rp.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<serde_json::Value> = String::from_utf8(rp.body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= ch["changes"].as_array().unwrap().len());
    assert!(
        get(addr, &format!("/api/v1/netstate/next?t={lo}")).json()["time"].as_i64().unwrap() > lo
    );
    assert!(
        get(addr, &format!("/api/v1/netstate/prev?t={hi}")).json()["time"].as_i64().unwrap() < hi
    );
    assert_eq!(get(addr, "/api/v1/netstate/range").json()["earliest"], lo);
    assert!(get(addr, "/api/v1/netstate/snapshots?table=FLOW").json()["snapshots"].is_array());
    let log = get(addr, "/api/v1/netstate/load-log").json()["log"].as_array().unwrap().len() as i64;
    assert_eq!(log, scalar(data, url, "SELECT COUNT(*) FROM netstate_load_log"));
    let e = get(addr, "/api/v1/netstate/at?table=NO_SUCH&t=1");
    assert_eq!((e.status, e.error_code().as_str()), (404, "not_found"));
    assert_eq!(get(addr, "/api/v1/netstate/at?table=FLOW").error_code(), "bad_parameter");

    let flat = vantage_testkit::all_files(&data.join("archive/netstate/ctl-1"))
        .into_iter()
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with("LLDP_LINKS"))
        .expect("a loaded LLDP_LINKS file");
    let fname = flat.file_name().unwrap().to_str().unwrap().to_string();
    let body = std::fs::read(&flat).unwrap();
    let up = format!("/api/v1/netstate/upload?source=uploaded&name={fname}");
    assert_eq!(request(addr, "POST", &up, &[], &body).status, 401);
    let bad = request(
        addr,
        "POST",
        "/api/v1/netstate/upload?source=uploaded&name=..%2Fx",
        &[AUTH],
        &body,
    );
    assert_eq!(bad.error_code(), "bad_parameter");
    let a = request(addr, "POST", &up, &[AUTH], &body);
    assert_eq!(a.status, 202, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.json()["status"], "accepted");
    assert!(
        eventually(60, || get(addr, "/api/v1/netstate/load-log").json()["log"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "uploaded" && e["file"] == fname.as_str())),
        "the netstate tick never imported the upload"
    );
    let again = request(addr, "POST", &up, &[AUTH], &body);
    assert_eq!((again.status, again.json()["status"].as_str()), (200, Some("duplicate")));
    let other = request(addr, "POST", &up, &[AUTH], b"different bytes\n");
    assert_eq!((other.status, other.error_code().as_str()), (409, "name_conflict"));

    // Packets: a pcap download readable as pcap, stats, errors; a dropped pcap recorded.
    let st = get(addr, "/api/v1/packets/stats").json();
    let stored: i64 =
        st["classes"].as_array().unwrap().iter().map(|c| c["disk_pkts"].as_i64().unwrap()).sum();
    assert!(stored > 0);
    let q = get(addr, "/api/v1/packets/query?filter=tcp");
    assert_eq!(q.status, 200);
    assert_eq!(q.header("content-type"), Some("application/vnd.tcpdump.pcap"));
    let n = pcap_records(&q.body);
    assert!(n > 0);
    let root =
        vantage_packets::packets_root(&DataDir::open(data).unwrap(), &Default::default()).unwrap();
    let order: Vec<String> = vantage_packets::PacketsConfig::default()
        .build()
        .unwrap()
        .iter()
        .map(|c| c.dir_name().to_string())
        .collect();
    let direct =
        vantage_packets::query::run(&root, &order, &vantage_packets::Query::filter("tcp").unwrap())
            .unwrap();
    assert_eq!(n, direct.hits.len());
    assert_eq!(get(addr, "/api/v1/packets/query?filter=tcp%20and").error_code(), "parser_error");
    assert_eq!(get(addr, "/api/v1/packets/query?index=conn9&key=1").error_code(), "no_such_index");
    assert_eq!(get(addr, "/api/v1/packets/query").error_code(), "bad_parameter");
    let trace = data.join("inbox/packets/demo-trace.pcap");
    if trace.is_file() {
        std::fs::create_dir_all(data.join("inbox/packets/drop")).unwrap();
        std::fs::copy(&trace, data.join("inbox/packets/drop/replay.pcap")).unwrap();
        assert!(
            eventually(60, || data.join("inbox/packets/done/replay.pcap").is_file()),
            "the packets tick never recorded the dropped pcap"
        );
    }

    // Metrics parse; ticks counted; unknown endpoints and methods.
    let text = String::from_utf8(get(addr, "/metrics").body).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {line:?}"));
        value.parse::<f64>().unwrap_or_else(|_| panic!("bad value in {line:?}"));
        let name = series.split('{').next().unwrap();
        assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{line}");
        names.insert(name.to_string());
    }
    for want in [
        "vantage_arrivals_total",
        "vantage_partitions",
        "vantage_quarantined_total",
        "vantage_ticks_total",
        "vantage_tick_seconds_total",
        "vantage_http_requests_total",
        "vantage_packets_tot_pkts",
    ] {
        assert!(names.contains(want), "{want} missing from /metrics");
    }
    assert!(text.contains("vantage_ticks_total{kind=\"reports\",outcome=\"ok\"}"), "{text}");
    assert_eq!(get(addr, "/api/v1/nothing/here").error_code(), "not_found");
    let ui = get(addr, "/");
    assert!(String::from_utf8_lossy(&ui.body).contains("/ui/app.js"));
    assert_eq!(get(addr, "/ui/app.js").status, 200);

    // Graceful stop: returns cleanly and the port closes.
    running.stop().expect("clean stop");
    assert!(std::net::TcpStream::connect(addr).is_err(), "still accepting after stop");
}

/// Every listed clean can downloads with its sha1 and extracts with `tar -I lz4`; a range
/// request returns exactly the asked bytes; nothing unlisted is served.
fn publish(addr: SocketAddr, data: &Path, url: Option<&str>) {
    let list = get(addr, "/api/v1/reports/cans").json();
    let cans = list["cans"].as_array().unwrap();
    let want = scalar(data, url, "SELECT COUNT(*) FROM reports_clean_can");
    assert_eq!(cans.len() as i64, want);
    assert!(want > 0);
    let out = tempfile::tempdir().unwrap();
    for c in cans {
        let a = get(addr, c["url"].as_str().unwrap());
        assert_eq!(a.status, 200);
        assert_eq!(a.body.len() as i64, c["size"].as_i64().unwrap());
        assert_eq!(vantage_core::hash::sha1_hex(&a.body), c["sha1"].as_str().unwrap());
        let file = out.path().join("can.tar.lz4");
        std::fs::write(&file, &a.body).unwrap();
        let x = out.path().join("x");
        std::fs::create_dir_all(&x).unwrap();
        let ok = std::process::Command::new("tar")
            .args(["-I", "lz4", "-xf", file.to_str().unwrap(), "-C", x.to_str().unwrap()])
            .status()
            .map(|s| s.success());
        if let Ok(ok) = ok {
            assert!(ok, "tar -I lz4 -xf failed on {}", c["filename"]);
        }
        let idx = get(addr, c["index_url"].as_str().unwrap());
        assert_eq!(idx.status, 200);
        assert!(String::from_utf8_lossy(&idx.body)
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
        let r = request(addr, "GET", c["url"].as_str().unwrap(), &[("Range", "bytes=10-41")], b"");
        assert_eq!(r.status, 206);
        assert_eq!(r.body, a.body[10..42]);
        assert_eq!(r.header("content-range").unwrap(), format!("bytes 10-41/{}", a.body.len()));
        let r =
            request(addr, "GET", c["url"].as_str().unwrap(), &[("Range", "bytes=999999999-")], b"");
        assert_eq!((r.status, r.error_code().as_str()), (416, "range_not_satisfiable"));
    }
    let bucket = cans[0]["bucket"].as_str().unwrap();
    for bad in ["..%2F..%2Fvantage.db", "secret.key", "nothing.tar.lz4"] {
        let a = get(addr, &format!("/api/v1/reports/cans/{bucket}/{bad}"));
        assert_eq!(a.status, 404, "{bad}");
    }
    let t = cans[0]["test_name"].as_str().unwrap();
    let some = get(addr, &format!("/api/v1/reports/cans?test_name={t}")).json();
    assert!(some["cans"].as_array().unwrap().iter().all(|c| c["test_name"] == t));
    let none = get(addr, "/api/v1/reports/cans?since=2200-01-01").json();
    assert!(none["cans"].as_array().unwrap().is_empty());
}

/// Counts the records of a pcap (either byte order, µs or ns magic), checking lengths.
fn pcap_records(b: &[u8]) -> usize {
    assert!(b.len() >= 24, "short pcap");
    let magic = u32::from_le_bytes(b[..4].try_into().unwrap());
    let le = match magic {
        0xa1b2c3d4 | 0xa1b23c4d => true,
        0xd4c3b2a1 | 0x4d3cb2a1 => false,
        m => panic!("not a pcap: magic {m:#x}"),
    };
    let u32at = |o: usize| {
        let x: [u8; 4] = b[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(x)
        } else {
            u32::from_be_bytes(x)
        }
    };
    let (mut off, mut n) = (24, 0);
    while off < b.len() {
        assert!(off + 16 <= b.len(), "truncated record header at {off}");
        let incl = u32at(off + 8) as usize;
        assert!(incl <= u32at(off + 12) as usize || incl <= 262144);
        off += 16 + incl;
        assert!(off <= b.len(), "truncated record at {off}");
        n += 1;
    }
    n
}

#[test]
fn every_endpoint_on_sqlite() {
    tour(None);
}

#[test]
fn every_endpoint_on_postgres() {
    let Some(pg) = vantage_warehouse::testing::ScratchPostgres::new() else { return };
    tour(Some(&pg.url));
}
