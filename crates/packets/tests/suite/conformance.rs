//! Conformance against `../shared/data/packets` (skipped with a notice when absent).

use std::path::Path;

use vantage_packets::{read_all, Filter, PacketRef};
use vantage_testkit as testkit;

fn ts_text(ns: i64) -> String {
    format!("{}.{:09}", ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000))
}

#[test]
fn reader_yields_expected_packets() {
    let Some(dir) = testkit::conformance("packets") else { return };
    let mut files = 0;
    for expected in testkit::files(&dir.join("expected"), "json") {
        let name =
            expected.file_name().unwrap().to_string_lossy().trim_end_matches(".json").to_string();
        let capture = dir.join(&name);
        let want = testkit::read_json(&expected);
        let got = read_all(&capture).unwrap_or_else(|e| panic!("{e}"));
        let rows = want["packets"].as_array().unwrap();
        assert_eq!(got.len(), rows.len(), "{name}");
        for (i, (f, row)) in got.iter().zip(rows).enumerate() {
            assert_eq!(ts_text(f.ts_ns), row[0].as_str().unwrap(), "{name} packet {i} time");
            assert_eq!(u64::from(f.caplen()), row[1].as_u64().unwrap(), "{name} packet {i} caplen");
            assert_eq!(u64::from(f.wirelen), row[2].as_u64().unwrap(), "{name} packet {i} wirelen");
            assert_eq!(u64::from(f.ifid), row[3].as_u64().unwrap(), "{name} packet {i} interface");
        }
        files += 1;
    }
    assert!(files >= 27, "only {files} expected files");
}

#[test]
fn filters_match_tcpdump() {
    let Some(dir) = testkit::conformance("packets") else { return };
    let spec = testkit::read_json(&dir.join("filters.json"));
    let mut cases = 0;
    let mut bad = Vec::new();
    let mut captures = std::collections::HashMap::new();
    for entry in spec["filters"].as_array().unwrap() {
        let text = entry["filter"].as_str().unwrap();
        let filter = Filter::parse(text).unwrap_or_else(|e| panic!("{e}"));
        for (file, res) in entry["results"].as_object().unwrap() {
            let frames = captures
                .entry(file.clone())
                .or_insert_with(|| read_all(&dir.join(file)).unwrap_or_else(|e| panic!("{e}")));
            let got: Vec<u64> = frames
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    filter.matches(&PacketRef {
                        linktype: f.linktype,
                        data: &f.data,
                        wirelen: f.wirelen,
                        big_endian: f.big_endian,
                    })
                })
                .map(|(i, _)| i as u64)
                .collect();
            let want: Vec<u64> =
                res["match"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            if got != want {
                bad.push(format!("{text:?} on {file}: tcpdump {want:?}, ours {got:?}"));
            }
            cases += 1;
        }
    }
    assert!(bad.is_empty(), "{} of {cases} differ:\n{}", bad.len(), bad.join("\n"));
    assert!(cases >= 1998, "{cases}");
    let _ = Path::new("");
}
