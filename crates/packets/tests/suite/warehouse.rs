//! `record_files` with the warehouse: catalog rows, idempotent flow rows, the demo; on
//! SQLite, and on PostgreSQL when `VANTAGE_TEST_PG` is set.

use std::collections::HashMap;

use vantage_core::DataDir;
use vantage_packets::synth::{write_pcap, SynthOptions};
use vantage_packets::{record_files, PacketsConfig};
use vantage_testkit as testkit;
use vantage_warehouse::{Sql, Warehouse};

fn count(wh: &mut Warehouse, sql: &str) -> i64 {
    wh.query(sql, &[]).unwrap().scalar_i64().unwrap()
}

fn flows_are_idempotent(url: Option<&str>) {
    let tmp = testkit::tempdir();
    let data = DataDir::open(tmp.path()).unwrap();
    let mut wh = Warehouse::open(url, &data).unwrap();
    let trace = tmp.path().join("t.pcap");
    write_pcap(
        &trace,
        &SynthOptions { short_conns: 40, bulk_conns: 1, dns: 10, ..Default::default() },
    )
    .unwrap();
    let cfg = PacketsConfig {
        sensor: Some(format!("test-{}", std::process::id())),
        ..Default::default()
    };
    let r = record_files(&data, &mut wh, &cfg, std::slice::from_ref(&trace), |_| {}).unwrap();
    assert!(!r.rejected());
    let sensor = cfg.sensor.clone().unwrap();
    let q = format!("SELECT COUNT(*) FROM packets_flows WHERE sensor = '{sensor}'");
    let first = count(&mut wh, &q);
    assert_eq!(first as u64, r.flows_written);
    assert_eq!(first, 40 + 1 + 10);
    // Re-recording the same input writes no second row (the first row wins).
    let r2 = record_files(&data, &mut wh, &cfg, std::slice::from_ref(&trace), |_| {}).unwrap();
    assert_eq!(r2.flows_written, 0);
    assert_eq!(count(&mut wh, &q), first);
    let done = count(
        &mut wh,
        "SELECT COUNT(*) FROM catalog_partitions WHERE kind = 'packets' AND state = 'done' AND processor = 'record'",
    );
    assert!(done >= 1);
    let ends = count(&mut wh, &format!("SELECT COUNT(*) FROM packets_flows WHERE sensor = '{sensor}' AND end_reason = 'end_of_input'"));
    assert_eq!(ends, first);
    wh.execute(&format!("DELETE FROM packets_flows WHERE sensor = '{sensor}'"), &[]).unwrap();
}

#[test]
fn flows_are_idempotent_on_sqlite() {
    flows_are_idempotent(None);
}

#[test]
fn flows_are_idempotent_on_postgres() {
    let Some(url) = testkit::postgres_url() else { return };
    flows_are_idempotent(Some(&url));
}

#[test]
fn demo_records_queries_and_summarizes() {
    let tmp = testkit::tempdir();
    let data = DataDir::open(tmp.path()).unwrap();
    let mut wh = Warehouse::open(None, &data).unwrap();
    let mut out = Vec::new();
    let s = vantage_packets::demo(&data, &mut wh, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("class dns") && text.contains("class rest"), "{text}");
    let rest = s.classes.iter().find(|c| c.0 == "rest").unwrap();
    assert!(rest.3 > 0, "the bulk transfers are cut at 15k");
    assert!(s.query_packets > 0);
    let got = vantage_packets::read_all(&s.query_file).unwrap();
    assert_eq!(got.len() as u64, s.query_packets);
}

#[test]
fn reindex_rebuilds_and_prune_deletes() {
    let tmp = testkit::tempdir();
    let data = DataDir::open(tmp.path()).unwrap();
    let mut wh = Warehouse::open(None, &data).unwrap();
    let trace = tmp.path().join("t.pcap");
    write_pcap(
        &trace,
        &SynthOptions { short_conns: 40, bulk_conns: 1, dns: 10, ..Default::default() },
    )
    .unwrap();
    let cfg = PacketsConfig::default();
    record_files(&data, &mut wh, &cfg, std::slice::from_ref(&trace), |_| {}).unwrap();
    let root = vantage_packets::packets_root(&data, &cfg).unwrap();
    let q = vantage_packets::Query::filter("tcp").unwrap();
    let before = vantage_packets::query::run(&root, &[], &q).unwrap().hits;
    for v in testkit::files(&root, "vidx") {
        std::fs::write(&v, b"damaged").unwrap();
    }
    assert!(vantage_packets::reindex(&data, &wh, &cfg).unwrap() >= 1);
    for v in testkit::files(&root, "vidx") {
        vantage_packets::Vidx::read(&v).unwrap();
    }
    let after = vantage_packets::query::run(&root, &[], &q).unwrap().hits;
    assert_eq!(before, after);
    assert!(vantage_packets::prune(&data, &wh, &cfg, "default").unwrap() >= 1);
    assert!(testkit::files(&root, "pcap").is_empty());
    assert!(vantage_packets::prune(&data, &wh, &cfg, "default").is_err());
}

/// Text of a JSON number or string field.
fn field(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), String::from)
}

/// "942356776.463334000" → nanoseconds.
fn ns(text: &str) -> i64 {
    let (s, f) = text.split_once('.').unwrap_or((text, "0"));
    s.parse::<i64>().unwrap() * 1_000_000_000 + format!("{f:0<9}")[..9].parse::<i64>().unwrap()
}

/// tshark's conversation of the flow (a row of `tshark_conversations`), oriented
/// orig → resp: (frames, bytes) each way.
fn tshark_conversation(want: &serde_json::Value, flow: &serde_json::Value) -> Option<[i64; 4]> {
    let proto = match flow["proto"].as_u64()? {
        6 => "tcp",
        17 => "udp",
        _ => return None,
    };
    let (o, op) = (field(&flow["orig"]), field(&flow["orig_port"]));
    let (r, rp) = (field(&flow["resp"]), field(&flow["resp_port"]));
    let rows = want["tshark_conversations"][proto].as_array()?;
    rows.iter().find_map(|c| {
        let (a, ap, b, bp) =
            (field(&c["a"]), field(&c["a_port"]), field(&c["b"]), field(&c["b_port"]));
        let n = |k: &str| c[k].as_i64().unwrap();
        if (a.as_str(), ap.as_str(), b.as_str(), bp.as_str()) == (&o, &op, &r, &rp) {
            Some([n("frames_a_to_b"), n("bytes_a_to_b"), n("frames_b_to_a"), n("bytes_b_to_a")])
        } else if (a.as_str(), ap.as_str(), b.as_str(), bp.as_str()) == (&r, &rp, &o, &op) {
            Some([n("frames_b_to_a"), n("bytes_b_to_a"), n("frames_a_to_b"), n("bytes_a_to_b")])
        } else {
            None
        }
    })
}

/// `record` of every conformance capture: the `packets_flows` rows equal the reference
/// model's flows (`vantage.flows`: packets and bytes each way, times, stored and cut),
/// and equal tshark's conversation table wherever `tshark.equal` says they should; where
/// it says they differ (fragments reassembled, routing headers, a cut TCP header), they do.
#[test]
fn packets_flows_rows_equal_the_reference_flows_and_tsharks_conversations() {
    let Some(dir) = testkit::conformance("packets") else { return };
    let (mut rows_checked, mut tshark_equal, mut tshark_differs) = (0, 0, 0);
    for (name, capture, want) in crate::record::captures(&dir) {
        let tmp = testkit::tempdir();
        let data = DataDir::open(tmp.path()).unwrap();
        let mut wh = Warehouse::open(None, &data).unwrap();
        let cfg = crate::record::conformance_config(&dir, vantage_packets::Cutoff::Bytes(10_000));
        let r = record_files(&data, &mut wh, &cfg, std::slice::from_ref(&capture), |_| {}).unwrap();
        assert!(!r.rejected(), "{name}");
        let rows = wh
            .query(
                "SELECT proto, orig_addr, orig_port, resp_addr, resp_port, first_ns, last_ns, \
                 orig_pkts, orig_bytes, resp_pkts, resp_bytes, stored_pkts, stored_bytes, \
                 cut_pkts, cut_bytes, end_reason FROM packets_flows",
                &[],
            )
            .unwrap();
        let expected = want["vantage"]["flows"].as_array().unwrap();
        assert_eq!(rows.rows.len(), expected.len(), "{name}: one row per flow");
        let key = |p: String, o: String, op: String, r: String, rp: String, first: i64| {
            format!("{p} {o} {op} {r} {rp} {first}")
        };
        let mut by_key: HashMap<String, &serde_json::Value> = HashMap::new();
        for e in expected {
            let k = key(
                field(&e["proto"]),
                field(&e["orig"]),
                field(&e["orig_port"]),
                field(&e["resp"]),
                field(&e["resp_port"]),
                ns(e["first_ts"].as_str().unwrap()),
            );
            by_key.insert(k, e);
        }
        for row in &rows.rows {
            let int = |i: usize| row[i].as_i64().unwrap();
            let text = |i: usize| match &row[i] {
                vantage_warehouse::Value::Text(t) => t.clone(),
                v => panic!("{name}: column {i} is {v:?}"),
            };
            let k = key(
                int(0).to_string(),
                text(1),
                int(2).to_string(),
                text(3),
                int(4).to_string(),
                int(5),
            );
            let e =
                by_key.get(&k).unwrap_or_else(|| panic!("{name}: row {k} not a reference flow"));
            let got: Vec<i64> = (6..15).map(int).collect();
            let exp: Vec<i64> = std::iter::once(ns(e["last_ts"].as_str().unwrap()))
                .chain(
                    [
                        "pkts_orig",
                        "bytes_orig",
                        "pkts_resp",
                        "bytes_resp",
                        "stored_pkts",
                        "stored_bytes",
                        "cut_pkts",
                        "cut_bytes",
                    ]
                    .iter()
                    .map(|f| e[*f].as_i64().unwrap()),
                )
                .collect();
            assert_eq!(got, exp, "{name}: {k}");
            // Idle past conn_timeout inside the file, or still open at its end.
            assert!(["timeout", "end_of_input"].contains(&text(15).as_str()), "{name}: {k}");
            rows_checked += 1;
            let Some(equal) = e["tshark"]["equal"].as_bool() else { continue };
            let conv = tshark_conversation(&want, e)
                .unwrap_or_else(|| panic!("{name}: {k}: no tshark conversation"));
            if equal {
                assert_eq!(got[1..5], conv, "{name}: {k}: tshark's conversation");
                tshark_equal += 1;
            } else {
                assert_ne!(got[1..5], conv, "{name}: {k}: a listed difference from tshark");
                tshark_differs += 1;
            }
        }
    }
    eprintln!(
        "{rows_checked} packets_flows rows equal vantage.flows; {tshark_equal} equal tshark's conversations, {tshark_differs} differ where listed"
    );
    assert!(rows_checked > 50 && tshark_equal > 30 && tshark_differs >= 3);
}
