//! The acceptance tour (issue 9): the real `vantage serve` binary on a free loopback
//! port with a configuration file; a probe's report through the collector protocol,
//! `vantage passive generate` tarballs and `vantage netstate generate` files uploaded
//! with the token, a pcap's frames replayed into the recorder (capturing on one end of a
//! veth pair in a namespace of the test's own); the ticks awaited; every endpoint's
//! answer compared with the warehouse (`vantage sql`, `vantage status`, `vantage netstate
//! at`, a reference `packets record --read` of the same pcap); SIGTERM then, and the
//! recorder's flows checked in `packets_flows`.
//!
//! Without root or `ip netns`, everything but the recorder runs, after a notice.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::http::{eventually, get, request, Answer};
use crate::netns::{self, Netns};
use crate::process::{at, run_ok, scalar, sql, vantage, Serve};

const TOKEN: &str = "serve-e2e-token";
const AUTH: (&str, &str) = ("Authorization", "Bearer serve-e2e-token");
const SENSOR: &str = "serve-e2e";
/// One SSH connection of 54 packets, 17 of them beyond the default 10,000-byte cutoff.
const PCAP: &str = "ssh.pcap";

fn shared_pcap() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/packets").join(PCAP);
    p.is_file().then_some(p)
}

fn ok(a: &Answer, what: &str) -> serde_json::Value {
    assert_eq!(a.status, 200, "{what}: {}", String::from_utf8_lossy(&a.body));
    a.json()
}

#[test]
fn serve_as_a_process_answers_every_endpoint_as_the_warehouse_says() {
    in_namespace("sv", None);
}

#[test]
fn serve_as_a_process_on_postgres() {
    let Some(pg) = vantage_warehouse::testing::ScratchPostgres::new() else { return };
    in_namespace("svpg", Some(&pg.url));
}

/// Runs the tour, from inside a namespace of its own when one can be made (SQLite).
fn in_namespace(tag: &str, url: Option<&str>) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let pcap = shared_pcap();
    if pcap.is_none() {
        eprintln!("notice: ../shared/data/packets/{PCAP} absent: the recorder part is skipped");
    }
    // PostgreSQL listens outside any namespace of ours: there the recorder part is left
    // to the SQLite run.
    let ns = match url {
        Some(_) => {
            eprintln!("notice: on PostgreSQL the tour runs without the recorder (SQLite's has it)");
            None
        }
        None => pcap.as_ref().and_then(|_| Netns::with_veth(tag)),
    };
    // Everything talks to the server from inside the namespace, where it listens.
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(ns) = &ns {
                ns.enter();
            }
            tour(&root, url, ns.as_ref(), pcap.as_deref());
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p));
    });
}

/// `url`: the warehouse (None: SQLite in the data directory). Every comparison reads it
/// through the configuration file, as an operator's `vantage --config` would.
fn tour(root: &Path, url: Option<&str>, ns: Option<&Netns>, pcap: Option<&Path>) {
    let data = root.join("data");
    let config = root.join("vantage.toml");
    let warehouse = url.map_or(String::new(), |u| format!("[warehouse]\nurl = {u:?}\n"));
    let recorder = if ns.is_some() {
        format!("interface = \"{}\"\n[packets.console]\nlisten = \"127.0.0.1:0\"\n", netns::CAPTURE)
    } else {
        String::new()
    };
    std::fs::write(
        &config,
        format!(
            "data = \"{}\"\n[server]\nbind = \"127.0.0.1:0\"\ntoken = \"{TOKEN}\"\ntick_seconds = 1\n\
             [reports]\ncan_max_wait = 0\n[packets]\nsensor = \"{SENSOR}\"\n{recorder}{warehouse}",
            data.display()
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_vantage");
    let mut cmd = match ns {
        Some(ns) => ns.exec(bin),
        None => vantage(),
    };
    cmd.arg("--config").arg(&config).arg("serve");
    let server = Serve::start(cmd);
    let addr = server.addr;
    assert!(addr.ip().is_loopback());
    let health = ok(&get(addr, "/healthz"), "healthz");
    assert_eq!(health["status"], "ok");
    if ns.is_some() {
        assert_eq!(health["recorder"]["interface"], netns::CAPTURE, "{health}");
    }

    let rid = probe(addr);
    let wh = config.as_path();
    reports(addr, wh, &rid);
    passive(addr, root, wh);
    netstate(addr, root, wh);
    let replayed = match (ns, pcap) {
        (Some(_), Some(p)) => Some(packets_live(addr, server.console, p)),
        _ => None,
    };
    status_and_metrics(addr, wh);

    let (code, log) = server.term();
    assert_eq!(code, Some(0), "serve after SIGTERM:\n{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(std::net::TcpStream::connect(addr).is_err(), "still accepting after SIGTERM");
    if let (Some(stored), Some(pcap)) = (replayed, pcap) {
        flows_after_shutdown(root, wh, pcap, stored);
    }
}

/// A probe's session at the collector's root paths: open, two measurements, close.
fn probe(addr: SocketAddr) -> String {
    let open = br#"{"data_format_version":"0.2.0","format":"json","probe_asn":"AS3269","probe_cc":"IT",
        "software_name":"ooniprobe","software_version":"3.0.0","test_name":"web_connectivity","test_version":"0.4.0"}"#;
    let a = request(addr, "POST", "/report", &[("Content-Type", "application/json")], open);
    let rid = ok(&a, "POST /report")["report_id"].as_str().unwrap().to_string();
    for (i, input) in ["http://example.org/", "http://blocked.example/"].iter().enumerate() {
        let m = format!(
            r#"{{"format":"json","content":{{"report_id":"{rid}","probe_cc":"IT","probe_asn":"AS3269",
            "test_name":"web_connectivity","input":"{input}","measurement_start_time":"2024-01-0{} 10:00:00",
            "test_start_time":"2024-01-01 10:00:00","data_format_version":"0.2.0","test_keys":{{"n":{i}}}}}}}"#,
            i + 1
        );
        let a = request(addr, "POST", &format!("/report/{rid}"), &[], m.as_bytes());
        assert!(ok(&a, "POST /report/{id}")["measurement_uid"].is_string());
    }
    let a = request(addr, "POST", &format!("/report/{rid}/close"), &[], b"");
    assert_eq!(ok(&a, "close")["status"], "success");
    rid
}

fn reports(addr: SocketAddr, wh: &Path, rid: &str) {
    let path = format!("/api/v1/reports/measurements?report_id={rid}");
    assert!(
        eventually(90, || get(addr, &path).json()["metadata"]["count"] == 2),
        "the reports ticks never made the two measurements visible: {}",
        get(addr, &path).json()
    );
    let list = ok(&get(addr, &format!("{path}&order=asc")), "measurements");
    let join = "FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no";
    let want = scalar(wh, &format!("SELECT COUNT(*) {join} WHERE r.report_id = '{rid}'"));
    assert_eq!(list["metadata"]["count"], want, "API and reports_measurement disagree");
    let mut inputs = Vec::new();
    for m in list["results"].as_array().unwrap() {
        let uid = m["measurement_uid"].as_str().unwrap();
        let n =
            scalar(wh, &format!("SELECT COUNT(*) FROM reports_datum_locator WHERE uid = '{uid}'"));
        assert_eq!(n, 1, "{uid} not located in the warehouse");
        let full = ok(&get(addr, m["measurement_url"].as_str().unwrap()), "measurement");
        assert_eq!(full["report_id"], rid);
        inputs.push(full["input"].as_str().unwrap().to_string());
    }
    assert_eq!(inputs, ["http://example.org/", "http://blocked.example/"]);
    for flag in ["anomaly", "confirmed"] {
        let api = ok(&get(addr, &format!("{path}&{flag}=true")), flag)["metadata"]["count"].clone();
        let want = scalar(
            wh,
            &format!("SELECT COUNT(*) {join} WHERE r.report_id = '{rid}' AND m.{flag} = 1"),
        );
        assert_eq!(api, want, "{flag}=true");
    }
    let agg =
        ok(&get(addr, "/api/v1/reports/aggregation?axis_x=probe_cc&probe_cc=IT"), "aggregation");
    let want = scalar(wh, &format!("SELECT COUNT(*) {join} WHERE r.probe_cc = 'IT'"));
    assert_eq!(agg["result"][0]["measurement_count"], want);

    // Publish: every listed clean can, its sha1, and a range.
    let cans = ok(&get(addr, "/api/v1/reports/cans"), "cans")["cans"].as_array().unwrap().clone();
    assert_eq!(cans.len() as i64, scalar(wh, "SELECT COUNT(*) FROM reports_clean_can"));
    assert!(!cans.is_empty());
    for c in &cans {
        let body = get(addr, c["url"].as_str().unwrap());
        assert_eq!(body.status, 200);
        assert_eq!(body.body.len() as i64, c["size"].as_i64().unwrap());
        assert_eq!(vantage_core::hash::sha1_hex(&body.body), c["sha1"].as_str().unwrap());
        let r = request(addr, "GET", c["url"].as_str().unwrap(), &[("Range", "bytes=5-20")], b"");
        assert_eq!((r.status, &r.body[..]), (206, &body.body[5..21]));
    }
}

fn passive(addr: SocketAddr, root: &Path, wh: &Path) {
    let gen = root.join("passive-gen");
    run_ok(
        vantage()
            .args(["passive", "generate", "--routers", "2", "--sessions", "2", "--out"])
            .arg(&gen),
    );
    let tarballs = vantage_testkit::files(&gen, "tar");
    assert!(tarballs.len() >= 2, "{tarballs:?}");
    for t in &tarballs {
        let name = t.file_name().unwrap().to_str().unwrap();
        let body = std::fs::read(t).unwrap();
        let up = format!("/api/v1/passive/upload?name={name}");
        let a = request(addr, "POST", &up, &[], &body);
        assert_eq!((a.status, a.error_code().as_str()), (401, "unauthorized"));
        let a = request(addr, "POST", &up, &[AUTH, ("Content-Type", "application/x-tar")], &body);
        assert_eq!(a.status, 200, "{name}: {}", String::from_utf8_lossy(&a.body));
        let sha = vantage_core::hash::sha256_hex(&body);
        let n =
            scalar(wh, &format!("SELECT COUNT(*) FROM passive_tarballs WHERE sha256 = '{sha}'"));
        assert_eq!(n, 1, "{name} is not in passive_tarballs");
    }
    let sum = |a: &Answer| -> i64 {
        a.json()["rows"].as_array().unwrap().iter().map(|r| r["bytes"].as_i64().unwrap()).sum()
    };
    let total = "/api/v1/passive/bytes?by=total&granularity=hour&limit=100000";
    let settled = eventually(90, || {
        let want = scalar(wh, "SELECT COALESCE(SUM(bytes), 0) FROM passive_bytes_per_hour");
        let pending = scalar(
            wh,
            "SELECT COUNT(*) FROM catalog_partitions WHERE kind = 'passive' AND state = 'pending'",
        );
        // Settled means every upload is ingested (both routers have sessions) and
        // processed through the rollup (availability ranges current), so no later tick
        // changes what the checks below compare; a tick between an answer and its SQL
        // check would make them disagree.
        let routers = scalar(wh, "SELECT COUNT(DISTINCT node_id) FROM passive_sessions");
        let unranged =
            scalar(wh, "SELECT COUNT(*) FROM passive_sessions WHERE ranges_updates <> updates");
        want > 0 && pending == 0 && routers == 2 && unranged == 0 && sum(&get(addr, total)) == want
    });
    assert!(settled, "the passive ticks never processed the uploads");
    let by_domain = ok(
        &get(addr, "/api/v1/passive/bytes?by=domain&granularity=hour&limit=100000"),
        "by domain",
    );
    let rows = by_domain["rows"].as_array().unwrap();
    assert_eq!(
        rows.len() as i64,
        scalar(wh, "SELECT COUNT(*) FROM passive_bytes_per_domain_per_hour")
    );
    assert_eq!(
        rows.iter().map(|r| r["bytes"].as_i64().unwrap()).sum::<i64>(),
        scalar(wh, "SELECT COALESCE(SUM(bytes), 0) FROM passive_bytes_per_domain_per_hour")
    );
    let nodes: Vec<String> = ok(&get(addr, "/api/v1/passive/nodes"), "nodes")["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> =
        sql(wh, "SELECT DISTINCT node_id FROM passive_sessions ORDER BY node_id")
            .iter()
            .map(|r| r["node_id"].as_str().unwrap().to_string())
            .collect();
    assert_eq!(nodes, want);
    assert_eq!(nodes.len(), 2, "two routers generated");
    let sessions = ok(&get(addr, "/api/v1/passive/sessions"), "sessions");
    assert_eq!(
        sessions["sessions"].as_array().unwrap().len() as i64,
        scalar(wh, "SELECT COUNT(*) FROM passive_sessions")
    );
    let stats = ok(&get(addr, "/api/v1/passive/statistics"), "statistics");
    assert_eq!(
        stats["nodes"].as_array().unwrap().len() as i64,
        scalar(wh, "SELECT COUNT(*) FROM passive_node_statistics")
    );
    let node = &nodes[0];
    let avail =
        ok(&get(addr, &format!("/api/v1/passive/availability?node={node}")), "availability");
    assert_eq!(
        avail["ranges"].as_array().unwrap().len() as i64,
        scalar(
            wh,
            &format!("SELECT COUNT(*) FROM passive_availability_ranges WHERE node_id = '{node}'")
        )
    );
}

fn netstate(addr: SocketAddr, root: &Path, wh: &Path) {
    let gen = root.join("netstate-gen");
    run_ok(vantage().args(["netstate", "generate", "--rows", "3000", "--out"]).arg(&gen));
    let files = vantage_testkit::files(&gen, "sql");
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        let source = f.parent().and_then(|b| b.parent()).and_then(|s| s.file_name()).unwrap();
        let (source, name) = (source.to_str().unwrap(), f.file_name().unwrap().to_str().unwrap());
        let up = format!("/api/v1/netstate/upload?source={source}&name={name}");
        let body = std::fs::read(f).unwrap();
        assert_eq!(request(addr, "POST", &up, &[], &body).status, 401);
        let a = request(addr, "POST", &up, &[AUTH], &body);
        assert_eq!(a.status, 202, "{name}: {}", String::from_utf8_lossy(&a.body));
    }
    let imported = eventually(90, || {
        get(addr, "/api/v1/netstate/load-log").json()["log"].as_array().map_or(0, Vec::len)
            >= files.len()
    });
    assert!(imported, "the netstate ticks never imported the uploads");
    let log = ok(&get(addr, "/api/v1/netstate/load-log"), "load-log");
    assert_eq!(
        log["log"].as_array().unwrap().len() as i64,
        scalar(wh, "SELECT COUNT(*) FROM netstate_load_log")
    );
    let tables = ok(&get(addr, "/api/v1/netstate/tables"), "tables");
    let (lo, hi) = (tables["earliest"].as_i64().unwrap(), tables["latest"].as_i64().unwrap());
    assert!(lo < hi, "{tables}");
    let range = ok(&get(addr, "/api/v1/netstate/range"), "range");
    assert_eq!((range["earliest"].as_i64(), range["latest"].as_i64()), (Some(lo), Some(hi)));
    let mid = lo + (hi - lo) / 2;
    for table in ["FLOW", "FLOW_SETUP", "LEARNING", "LLDP_LINKS", "PF"] {
        let api = ok(&get(addr, &format!("/api/v1/netstate/at?table={table}&t={mid}")), table);
        let cli = run_ok(vantage().args(at(wh)).args([
            "--format",
            "json",
            "netstate",
            "at",
            table,
            &mid.to_string(),
        ]));
        let cli: Vec<serde_json::Value> =
            cli.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(api["rows"].as_array().unwrap(), &cli, "{table} at {mid}: API and CLI differ");
        assert!(table != "LLDP_LINKS" || !cli.is_empty(), "no link alive at {mid}");
    }
    let changes = ok(
        &get(addr, &format!("/api/v1/netstate/changes?tables=FLOW&from={lo}&to={mid}")),
        "changes",
    );
    assert!(!changes["changes"].as_array().unwrap().is_empty());
    let next = ok(&get(addr, &format!("/api/v1/netstate/next?t={lo}")), "next");
    assert!(next["time"].as_i64().unwrap() > lo);
    let prev = ok(&get(addr, &format!("/api/v1/netstate/prev?t={hi}")), "prev");
    assert!(prev["time"].as_i64().unwrap() < hi);
}

/// Replays the pcap's frames into the recorder; checks stats, queries (pcap downloads),
/// the console; returns the packets the recorder stored.
fn packets_live(addr: SocketAddr, console: Option<SocketAddr>, pcap: &Path) -> usize {
    let frames: Vec<Vec<u8>> =
        vantage_packets::read_all(pcap).unwrap().into_iter().map(|f| f.data).collect();
    assert_eq!(netns::inject(netns::INJECT, &frames), frames.len());
    let wire: u64 = frames.iter().map(|f| f.len() as u64).sum();
    // Stored packets, then the kernel's counters (read every 200 ms by capture).
    let seen = eventually(30, || {
        let r = get(addr, "/api/v1/packets/stats").json()["recorder"].clone();
        r["counters"]["tot_pkts"] == frames.len()
            && r["kernel"]["recv"].as_u64().is_some_and(|n| n >= frames.len() as u64)
    });
    let st = ok(&get(addr, "/api/v1/packets/stats"), "packets stats");
    assert!(seen, "the recorder did not see the {} frames: {st}", frames.len());
    assert_eq!(st["recorder"]["interface"], netns::CAPTURE);
    assert_eq!(st["counters"]["tot_bytes"], wire);
    assert_eq!(st["recorder"]["conns"], 1, "{st}");
    let class = &st["classes"][0];
    let stored = class["stored_pkts"].as_u64().unwrap() as usize;
    assert_eq!(stored + class["cut_pkts"].as_u64().unwrap() as usize, frames.len());
    assert!(class["cut_pkts"].as_u64().unwrap() > 0, "the cutoff cut nothing: {st}");

    // Queries answer from the running recorder: the stored packets, as pcap downloads.
    for q in ["filter=tcp", "filter=tcp&mem_only=true", "index=port&key=22"] {
        let a = get(addr, &format!("/api/v1/packets/query?{q}"));
        assert_eq!(a.status, 200, "{q}: {}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.header("content-type"), Some("application/vnd.tcpdump.pcap"));
        let got = pcap_frames(&a.body);
        assert_eq!(got.len(), stored, "{q}");
        // The first packets are below the cutoff: the same bytes as written.
        assert_eq!(got[0], frames[0], "{q}");
    }
    assert_eq!(get(addr, "/api/v1/packets/query?filter=udp").status, 200);
    assert_eq!(pcap_frames(&get(addr, "/api/v1/packets/query?filter=udp").body).len(), 0);

    let text = String::from_utf8(get(addr, "/metrics").body).unwrap();
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
            .parse()
            .unwrap()
    };
    assert_eq!(value("vantage_packets_tot_pkts_total") as usize, frames.len());
    assert!(value("vantage_packets_pcap_recv_total") as usize >= frames.len());
    assert_eq!(value("vantage_packets_pcap_drop_total"), 0.0);
    assert_eq!(value("vantage_packets_conns"), 1.0);
    assert!(value("vantage_packets_query_pkts_total") as usize >= 3 * stored);

    // The console listener runs beside the API, on the same recorder.
    let console = console.expect("serve printed its packet console address");
    let out = run_ok(vantage().args(["console", &console.to_string(), "-c", "show stats"]));
    assert!(out.lines().any(|l| l == format!("totPkts {}", frames.len())), "{out}");
    stored
}

/// After SIGTERM: one flow row for the connection, ended by the shutdown, equal in every
/// count to what `packets record --read` of the same pcap writes.
fn flows_after_shutdown(root: &Path, wh: &Path, pcap: &Path, stored: usize) {
    let cols = "proto, orig_addr, orig_port, resp_addr, resp_port, orig_pkts, orig_bytes, \
                resp_pkts, resp_bytes, stored_pkts, stored_bytes, cut_pkts, cut_bytes, class, \
                orig_mac, resp_mac, eth_type";
    let live =
        sql(wh, &format!("SELECT {cols}, end_reason FROM packets_flows WHERE sensor = '{SENSOR}'"));
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0]["end_reason"], "shutdown");
    assert_eq!(live[0]["stored_pkts"].as_u64(), Some(stored as u64));
    let reference = root.join("reference");
    run_ok(
        vantage()
            .arg("--data")
            .arg(&reference)
            .args(["--set", &format!("packets.sensor={SENSOR}"), "packets", "record", "--read"])
            .arg(pcap),
    );
    let want = sql(&reference, &format!("SELECT {cols} FROM packets_flows"));
    let mut got = live[0].clone();
    got.as_object_mut().unwrap().remove("end_reason");
    assert_eq!(vec![got], want, "live flow and the file's flow differ");
    let sessions = scalar(wh, "SELECT COUNT(*) FROM catalog_partitions WHERE kind = 'packets' AND partition_key LIKE 'live:vsa:%' AND state = 'done'");
    assert_eq!(sessions, 1, "the live session's partition is not done");
}

fn status_and_metrics(addr: SocketAddr, wh: &Path) {
    let api = ok(&get(addr, "/api/v1/status"), "status");
    let cli: serde_json::Value =
        serde_json::from_str(&run_ok(vantage().args(at(wh)).args(["--format", "json", "status"])))
            .unwrap();
    let kinds = api["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), 4);
    for (a, c) in kinds.iter().zip(cli.as_array().unwrap()) {
        for f in ["kind", "arrivals", "arrival_bytes", "cans", "done", "failed", "quarantined"] {
            assert_eq!(a[f], c[f], "status {f} of {}", a["kind"]);
        }
    }
    let text = String::from_utf8(get(addr, "/metrics").body).unwrap();
    for k in kinds {
        let line = format!(
            "vantage_arrivals_total{{kind=\"{}\"}} {}",
            k["kind"].as_str().unwrap(),
            k["arrivals"]
        );
        assert!(text.lines().any(|l| l == line), "{line} missing from /metrics");
    }
    for kind in ["reports", "passive", "netstate", "packets"] {
        assert!(
            text.contains(&format!("vantage_ticks_total{{kind=\"{kind}\",outcome=\"ok\"}}")),
            "{kind} ticks"
        );
    }
    let doc = ok(&get(addr, "/api/v1/openapi.json"), "openapi");
    for p in [
        "/api/v1/packets/query",
        "/api/v1/passive/upload",
        "/api/v1/netstate/upload",
        "/report",
        "/metrics",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing from the OpenAPI document");
    }
}

/// The records of a pcap answer (little-endian, µs or ns magic).
fn pcap_frames(b: &[u8]) -> Vec<Vec<u8>> {
    assert!(b.len() >= 24, "short pcap");
    let magic = u32::from_le_bytes(b[..4].try_into().unwrap());
    assert!(matches!(magic, 0xa1b2c3d4 | 0xa1b23c4d), "not a little-endian pcap: {magic:#x}");
    let mut out = Vec::new();
    let mut off = 24;
    while off < b.len() {
        let incl = u32::from_le_bytes(b[off + 8..off + 12].try_into().unwrap()) as usize;
        out.push(b[off + 16..off + 16 + incl].to_vec());
        off += 16 + incl;
    }
    out
}
