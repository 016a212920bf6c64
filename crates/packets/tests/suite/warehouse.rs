//! `record_files` with the warehouse: catalog rows, idempotent flow rows, the demo; on
//! SQLite, and on PostgreSQL when `VANTAGE_TEST_PG` is set.

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
