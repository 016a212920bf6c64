//! `vectors/sessions.json`: contiguous ranges across ingest rounds, distinct sessions.

use vantage_passive::Update;

use crate::common::{self, Store};

fn update(k: &serde_json::Value) -> Update {
    Update {
        node_id: k[0].as_str().unwrap().into(),
        anonymization_context: Some(k[1].as_str().unwrap().into()),
        session_id: k[2].as_i64().unwrap(),
        sequence_number: k[3].as_i64().unwrap() as i32,
        file_format_version: 5,
        build_id: "UNKNOWN".into(),
        address_table_size: 256,
        ..Update::default()
    }
}

#[test]
fn ranges_and_sessions() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let v = vantage_testkit::read_json(&dir.join("vectors/sessions.json"));
    for case in v["cases"].as_array().unwrap() {
        let mut store = Store::new(common::Backend::Sqlite, common::raw_ids()).unwrap();
        let rounds: Vec<serde_json::Value> = match case.get("rounds") {
            Some(r) => r.as_array().unwrap().clone(),
            None => vec![case["keys"].clone()],
        };
        for (i, round) in rounds.iter().enumerate() {
            let updates: Vec<Update> = round.as_array().unwrap().iter().map(update).collect();
            vantage_passive::ingest_updates(&mut store.wh, &format!("r{i}"), &updates).unwrap();
        }
        let list = vantage_passive::sessions(&mut store.wh, None, false).unwrap();
        if let Some(want) = case.get("expected_ranges") {
            let mut got: Vec<(String, String)> = Vec::new();
            for s in &list {
                for (a, b) in &s.ranges {
                    let k = |q: i64| {
                        format!("{},{},{},{q}", s.node_id, s.anonymization_context, s.session_id)
                    };
                    got.push((k(*a), k(*b)));
                }
            }
            let want: Vec<(String, String)> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
                .collect();
            assert_eq!(got, want, "{}", case["name"]);
        }
        if let Some(want) = case.get("expected_sessions") {
            let got: Vec<String> = list
                .iter()
                .map(|s| format!("{},{},{}", s.node_id, s.anonymization_context, s.session_id))
                .collect();
            let want: Vec<String> =
                want.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
            assert_eq!(got, want, "{}", case["name"]);
        }
    }
}
