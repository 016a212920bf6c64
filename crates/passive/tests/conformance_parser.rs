//! The parser against `data/passive/`: traces, expected parses and section vectors.

use std::path::Path;

use serde_json::Value;
use vantage_passive::{parse_update, parser, Section};

fn warnings_key(v: &Value) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|w| {
                    (
                        w["section"].as_str().unwrap_or("").to_string(),
                        w["line"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn read_trace(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).unwrap();
    vantage_passive::decode_member(&bytes).map_err(|e| e.to_string())
}

#[test]
fn traces_parse_as_expected() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let mut checked = 0;
    for expected in vantage_testkit::files(&dir.join("expected"), "json") {
        let stem = expected.file_stem().unwrap().to_str().unwrap().to_string();
        if stem == "index" {
            continue;
        }
        let want = vantage_testkit::read_json(&expected);
        let trace = ["txt", "txt.gz"]
            .iter()
            .map(|e| dir.join("traces").join(format!("{stem}.{e}")))
            .find(|p| p.exists());
        let trace = trace.unwrap_or_else(|| panic!("no trace for {stem}"));
        let text = read_trace(&trace);
        if want["error"]["class"] == "gzip" {
            assert!(text.is_err(), "{stem}: a damaged gzip must not decode");
            checked += 1;
            continue;
        }
        let text = text.unwrap_or_else(|e| panic!("{stem}: {e}"));
        if let Some(f) = want.get("frequent_update") {
            let got =
                vantage_passive::parse_frequent(&text).unwrap_or_else(|e| panic!("{stem}: {e}"));
            assert!(vantage_passive::is_frequent(&text));
            let got = serde_json::to_value(&got).unwrap();
            for k in ["version", "created_at", "router_mac", "devices"] {
                assert_eq!(got[k], f[k], "{stem}: {k}");
            }
            checked += 1;
            continue;
        }
        match (parse_update(&text), want["ok"].as_bool().unwrap()) {
            (Ok(u), true) => {
                let got = serde_json::to_value(&u).unwrap();
                let want = &want["update"];
                for (k, v) in want.as_object().unwrap() {
                    if k == "warnings" {
                        assert_eq!(
                            warnings_key(&got[k]),
                            warnings_key(v),
                            "{stem}: warnings {}",
                            got[k]
                        );
                    } else {
                        assert_eq!(&got[k], v, "{stem}: field {k}");
                    }
                }
            }
            (Err(e), false) => {
                assert_eq!(e.section.as_str(), want["error"]["section"], "{stem}: {e}");
                assert_eq!(e.line, want["error"]["line"].as_u64().unwrap(), "{stem}: {e}");
            }
            (got, _) => panic!("{stem}: got {got:?}, want {want}"),
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} traces checked");
}

#[test]
fn section_vectors() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let v = vantage_testkit::read_json(&dir.join("vectors/sections.json"));
    let mut checked = 0;
    for case in v["cases"].as_array().unwrap() {
        let name = &case["upstream_test"];
        if case["expect"] == "sections" {
            let lines: Vec<&str> =
                case["split"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
            let text = lines.join("\n");
            let got = parser::split_sections(&text);
            let want = case["sections"].as_array().unwrap();
            assert_eq!(got.len(), want.len(), "{name}");
            for (g, w) in got.iter().zip(want) {
                assert_eq!(g.first_line, w["first_line"].as_u64().unwrap(), "{name}");
                let wl: Vec<&str> =
                    w["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
                assert_eq!(g.lines, wl, "{name}");
            }
            checked += 1;
            continue;
        }
        let section = Section::parse(case["section"].as_str().unwrap()).unwrap();
        let lines: Vec<&str> =
            case["lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        let version = if section == Section::DropStatistics { 3 } else { 5 };
        match (parser::parse_section(section, &lines, version), case["expect"].as_str().unwrap()) {
            (Ok((u, _)), "ok") => {
                let got = serde_json::to_value(&u).unwrap();
                for (k, want) in case["fields"].as_object().unwrap() {
                    assert_eq!(&got[k], want, "{name} {section}: {k} of {lines:?}");
                }
            }
            (Err(e), "error") => {
                assert_eq!(
                    e.line,
                    case["line"].as_u64().unwrap(),
                    "{name} {section} {lines:?}: {e}"
                );
                assert_eq!(e.section, section);
            }
            (got, _) => panic!("{name} {section} {lines:?}: got {got:?}, want {case}"),
        }
        checked += 1;
    }
    assert_eq!(checked, v["cases"].as_array().unwrap().len());
}
