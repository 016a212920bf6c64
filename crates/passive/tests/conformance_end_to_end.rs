//! `vectors/end_to_end.json`: two ingest rounds of real tarballs and an upload, each
//! followed by processing; outcomes, sessions and every table; then the same inputs in
//! one run must give the same final tables.

use std::path::Path;

use serde_json::{json, Value as Json};
use vantage_passive::anonymize::NodeIdHash;
use vantage_passive::{PassiveConfig, SourceReport};

use crate::common::{self, Store};

fn md5_config() -> PassiveConfig {
    PassiveConfig { node_id_hash: NodeIdHash::Md5, ..PassiveConfig::default() }
}

fn check_source(got: &SourceReport, want: &Json) {
    let status = got.status.as_str();
    assert_eq!(status, want["status"], "{}: {got:?}", got.name);
    if let Some(r) = want["reason"].as_str() {
        assert_eq!(got.reason.as_deref(), Some(r), "{}", got.name);
    }
    let members = want["members"].as_array().unwrap();
    assert_eq!(got.members.len(), members.len(), "{}: {:?}", got.name, got.members);
    for (g, w) in got.members.iter().zip(members) {
        check_member(g, w);
    }
}

fn check_member(g: &vantage_passive::MemberReport, w: &Json) {
    assert_eq!(g.member.rsplit('/').next().unwrap(), w["member"].as_str().unwrap());
    assert_eq!(g.outcome, w["outcome"], "{}", g.member);
    if let Some(k) = w.get("key") {
        let (n, c, s, q) = g.key.clone().unwrap();
        assert_eq!(json!([n, c, s, q]), *k, "{}", g.member);
    }
    if let Some(r) = w.get("reason") {
        assert_eq!(g.reason.map(str::to_string), r.as_str().map(str::to_string), "{}", g.member);
    }
    if let Some(s) = w.get("section") {
        assert_eq!(g.section, s.as_str(), "{}", g.member);
        assert_eq!(g.line, w["line"].as_u64(), "{}", g.member);
    }
}

fn ingest_round(store: &mut Store, dir: &Path, v: &Json, round: usize, check: bool) {
    let key = format!("round{round}");
    let rdir = dir.join("e2e").join(&key);
    let want = &v["rounds"][round - 1]["ingest"];
    let mut reports = Vec::new();
    for u in v["inputs"][format!("{key}_uploads")].as_array().into_iter().flatten() {
        let bytes = std::fs::read(dir.join(u["body_file"].as_str().unwrap())).unwrap();
        let r = vantage_passive::ingest_bytes(
            &store.env,
            &mut store.wh,
            u["name"].as_str().unwrap(),
            &bytes,
        )
        .unwrap();
        reports.push(r);
    }
    for name in v["inputs"][&key].as_array().unwrap() {
        let path = rdir.join(name.as_str().unwrap());
        let mut r =
            vantage_passive::ingest_paths(&store.env, &mut store.wh, &[path], |_| {}).unwrap();
        reports.append(&mut r);
    }
    if !check {
        return;
    }
    let want = want.as_array().unwrap();
    assert_eq!(reports.len(), want.len());
    for (g, w) in reports.iter().zip(want) {
        if w.get("upload").is_some() {
            assert_eq!(g.members.len(), 1);
            check_member(
                &g.members[0],
                &json!({"member": w["upload"], "outcome": w["outcome"], "key": w["key"]}),
            );
        } else {
            check_source(g, w);
        }
    }
}

fn check_sessions(store: &mut Store, want: &Json) {
    let got = vantage_passive::sessions(&mut store.wh, None, false).unwrap();
    let got: Vec<Json> = got
        .iter()
        .map(|s| {
            json!({"node_id": s.node_id, "anonymization_context": s.anonymization_context,
                   "session_id": s.session_id, "ranges": s.ranges, "gaps": s.gaps,
                   "missing_start": s.missing_start, "processed_through": s.processed_through})
        })
        .collect();
    let mut want = want.as_array().unwrap().clone();
    want.sort_by_key(|v| v.to_string());
    let mut got = got;
    got.sort_by_key(|v| v.to_string());
    assert_eq!(got, want);
}

fn check_table(store: &mut Store, name: &str, rows: &Json) {
    let want = common::normalize(rows.as_array().unwrap());
    let cols: Vec<String> = want
        .first()
        .map(|f| f.as_object().unwrap().keys().cloned().collect())
        .unwrap_or(vec!["node_id".into()]);
    let got = common::table(&mut store.wh, &format!("passive_{name}"), &cols);
    assert_eq!(got, want, "table {name}");
}

#[test]
fn two_rounds_then_one_run() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let v = vantage_testkit::read_json(&dir.join("vectors/end_to_end.json"));
    for backend in common::backends() {
        let Some(mut store) = Store::new(backend, md5_config()) else { continue };
        for round in [1, 2] {
            ingest_round(&mut store, &dir, &v, round, true);
            store.process();
            let r = &v["rounds"][round - 1];
            check_sessions(&mut store, &r["sessions_after"]);
            if r["bytes_per_minute_after"].is_array() {
                check_table(&mut store, "bytes_per_minute", &r["bytes_per_minute_after"]);
            }
        }
        for (name, rows) in v["expected_final"].as_object().unwrap() {
            check_table(&mut store, name, rows);
        }
        let incremental = common::all_tables(&mut store.wh);
        // The same inputs, processed once at the end.
        let Some(mut once) = Store::new(backend, md5_config()) else { continue };
        ingest_round(&mut once, &dir, &v, 1, false);
        ingest_round(&mut once, &dir, &v, 2, false);
        once.process();
        for (name, rows) in v["expected_final"].as_object().unwrap() {
            check_table(&mut once, name, rows);
        }
        let scratch = common::all_tables(&mut once.wh);
        assert_eq!(incremental.len(), scratch.len());
        for ((n1, r1), (n2, r2)) in incremental.iter().zip(&scratch) {
            assert_eq!(n1, n2);
            if n1 == "passive_sessions"
                || n1 == "passive_node_aliases"
                || n1 == "passive_session_spans"
            {
                continue;
            }
            assert_eq!(r1, r2, "{n1}: incremental differs from one run");
        }
    }
}
