//! Ingest behaviour beyond the vectors: no raw identifier reaches a table, frequent
//! updates are stored, a plain update and a damaged member in one directory, the demo.

use std::io::Write;

use vantage_passive::{GenLayout, GenerateOptions, PassiveConfig};
use vantage_warehouse::Sql;

use crate::common::{self, Backend, Store};

#[test]
fn no_raw_identifier_reaches_a_table() {
    let tmp = vantage_testkit::tempdir();
    let opts = GenerateOptions {
        out: tmp.path().join("c"),
        routers: 2,
        sessions: 1,
        updates: 3,
        seed: 5,
        layout: GenLayout::TarGz,
        ..GenerateOptions::default()
    };
    vantage_passive::generate(&opts).unwrap();
    let mut s = Store::new(Backend::Sqlite, PassiveConfig::default()).unwrap();
    let r =
        vantage_passive::ingest_paths(&s.env, &mut s.wh, std::slice::from_ref(&opts.out), |_| {})
            .unwrap();
    assert_eq!(r.iter().map(|r| r.indexed).sum::<u64>(), 6, "{r:?}");
    s.process();
    let truth = vantage_testkit::read_json(&opts.out.join("truth.json"));
    let mut secrets = Vec::new();
    for router in truth["routers"].as_array().unwrap() {
        secrets.push(router["raw_node_id"].as_str().unwrap().to_string());
        for d in router["devices"].as_array().unwrap() {
            secrets.push(d["ip"].as_str().unwrap().to_string());
            secrets.push(d["mac"].as_str().unwrap().to_string());
            secrets.push(d["mac"].as_str().unwrap().replace(':', ""));
        }
    }
    let mut rows = 0;
    for (table, content) in common::all_tables(&mut s.wh) {
        if table == "passive_node_aliases" {
            continue;
        }
        for row in content {
            rows += 1;
            let text = format!("{row:?}").to_lowercase();
            for secret in &secrets {
                assert!(!text.contains(&secret.to_lowercase()), "{table} holds {secret}: {text}");
            }
        }
    }
    assert!(rows > 100);
    // The aliases keep the raw ids, privately.
    let n = s.wh.query_i64("SELECT COUNT(*) FROM passive_node_aliases", &[]).unwrap();
    assert_eq!(n, Some(2));
}

#[test]
fn frequent_plain_and_damaged_members_in_one_directory() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let tmp = vantage_testkit::tempdir();
    let inbox = tmp.path().join("in");
    std::fs::create_dir_all(&inbox).unwrap();
    // A frequent update, named as the router names it.
    std::fs::copy(
        dir.join("traces/frequent_v3.txt"),
        inbox.join("OW0123456789AB-1332441000000000-40"),
    )
    .unwrap();
    // A valid update, gzipped, and a truncated gzip.
    std::fs::copy(
        dir.join("traces/go_v5_valid.txt.gz"),
        inbox.join("OWC43DC78EE081-1346479358582428-0.gz"),
    )
    .unwrap();
    std::fs::copy(
        dir.join("traces/corrupt_truncated.txt.gz"),
        inbox.join("OWC43DC78EE081-1346479358582428-1.gz"),
    )
    .unwrap();
    // An update with a bad packet-series header, plain.
    std::fs::copy(
        dir.join("traces/go_v5_invalid_packet_header.txt"),
        inbox.join("OWC43DC78EE081-1346479358582428-2"),
    )
    .unwrap();
    let mut s = Store::new(Backend::Sqlite, PassiveConfig::default()).unwrap();
    let r = vantage_passive::ingest_paths(&s.env, &mut s.wh, &[inbox], |_| {}).unwrap();
    let outcomes: Vec<(&str, Option<&str>)> =
        r.iter().map(|r| (r.members[0].outcome, r.members[0].reason)).collect();
    assert_eq!(
        outcomes,
        vec![
            ("frequent", None),
            ("indexed", None),
            ("quarantined", Some("gzip")),
            ("quarantined", Some("parse"))
        ]
    );
    let bad = &r[3].members[0];
    assert_eq!((bad.section, bad.line), (Some("packet series"), Some(17)));
    assert!(bad
        .message
        .as_deref()
        .unwrap()
        .contains("OWC43DC78EE081-1346479358582428-2: section packet series, line 17"));
    let devices = s.wh.query_i64("SELECT COUNT(*) FROM passive_frequent_devices", &[]).unwrap();
    assert_eq!(devices, Some(3));
    let q =
        s.wh.query_i64("SELECT COUNT(*) FROM catalog_quarantine WHERE kind = 'passive'", &[])
            .unwrap();
    assert_eq!(q, Some(2));
    let qdir = s.env.data.quarantine("passive").unwrap();
    let reasons = std::fs::read_dir(&qdir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "reason"))
        .count();
    assert_eq!(reasons, 2);
}

#[test]
fn single_gzip_upload_is_archived_under_its_hash() {
    let mut s = Store::new(Backend::Sqlite, PassiveConfig::default()).unwrap();
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let bytes = std::fs::read(dir.join("traces/go_v5_valid.txt.gz")).unwrap();
    let r = vantage_passive::ingest_bytes(
        &s.env,
        &mut s.wh,
        "OWC43DC78EE081-1346479358582428-0.gz",
        &bytes,
    )
    .unwrap();
    assert_eq!(r.indexed, 1);
    let sha = vantage_core::hash::sha256_hex(&bytes);
    let path =
        s.wh.query("SELECT archive_path FROM passive_tarballs", &[]).unwrap().rows[0][0].to_text();
    assert!(path.ends_with(&format!("{sha}.gz")), "{path}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    // The same bytes again: skipped.
    let again = vantage_passive::ingest_bytes(&s.env, &mut s.wh, "x.gz", &bytes).unwrap();
    assert_eq!(again.status, vantage_passive::SourceStatus::Skipped);
}

#[test]
fn demo_summarizes() {
    let mut s = Store::new(Backend::Sqlite, PassiveConfig::default()).unwrap();
    let d = vantage_passive::demo(&s.env, &mut s.wh, None).unwrap();
    assert!(d.headline.contains("3 routers"), "{}", d.headline);
    assert_eq!(d.tables.len(), 2);
    assert!(!d.tables[0].1.rows.is_empty() && !d.tables[1].1.rows.is_empty());
    let _ = std::io::stdout().flush();
}
