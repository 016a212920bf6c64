//! The processor vectors: ingest each run's canonical updates, process, compare tables.

use serde_json::Value as Json;
use vantage_passive::Update;

use crate::common::{self, Store};

fn run_file(file: &str) {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let v = vantage_testkit::read_json(&dir.join("vectors").join(file));
    for backend in common::backends() {
        let mut checked = 0;
        for case in v["cases"].as_array().unwrap() {
            let Some(mut store) = Store::new(backend, common::raw_ids()) else { break };
            let name = case["name"].as_str().unwrap();
            for (i, run) in case["runs"].as_array().unwrap().iter().enumerate() {
                let updates: Vec<Update> = serde_json::from_value(run.clone()).unwrap();
                vantage_passive::ingest_updates(&mut store.wh, &format!("run{i}"), &updates)
                    .unwrap();
                store.process();
            }
            let tables: Vec<(String, Json)> = match &case["expected"] {
                Json::Object(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                rows => vec![(case["compare"].as_str().unwrap().to_string(), rows.clone())],
            };
            for (t, rows) in tables {
                let want = common::normalize(rows.as_array().unwrap());
                let table = format!("passive_{t}");
                let got = match want.first() {
                    Some(first) => {
                        let cols: Vec<String> =
                            first.as_object().unwrap().keys().cloned().collect();
                        common::table(&mut store.wh, &table, &cols)
                    }
                    None => common::table(&mut store.wh, &table, &["node_id".to_string()]),
                };
                assert_eq!(
                    serde_json::to_string_pretty(&got).unwrap(),
                    serde_json::to_string_pretty(&want).unwrap(),
                    "{file} {name} {t} on {backend:?}"
                );
            }
            checked += 1;
        }
        if checked > 0 {
            assert_eq!(checked, v["cases"].as_array().unwrap().len());
        }
    }
}

#[test]
fn bytes_per_minute() {
    run_file("bytes_per_minute.json");
}

#[test]
fn bytes_per_device() {
    run_file("bytes_per_device.json");
}

#[test]
fn bytes_per_domain() {
    run_file("bytes_per_domain.json");
}

#[test]
fn lookups_per_device() {
    run_file("lookups_per_device.json");
}

#[test]
fn statistics() {
    run_file("statistics.json");
}

#[test]
fn availability() {
    run_file("availability.json");
}
