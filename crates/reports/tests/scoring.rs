//! Conformance against ../shared/data/reports/expected.json: the cases of the back half
//! (fingerprint matches, verdicts, scores, flags, vendors, helpers). Each file goes through
//! the real normalization first (one measurement as one JSON line, or a YAML report).

use std::path::Path;

use serde_json::Value as J;
use vantage_reports::fingerprint::{self, FingerprintSet};
use vantage_reports::report::{self, Format, Source};
use vantage_reports::{score, simhash, verdict};
use vantage_testkit as testkit;

fn same(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn fingerprints(dir: &Path) -> FingerprintSet {
    let mut rows = Vec::new();
    for f in ["fingerprints_dns.csv", "fingerprints_http.csv"] {
        let p = dir.join("fingerprints").join(f);
        rows.extend(fingerprint::parse_csv(&p, &std::fs::read(&p).unwrap()).unwrap());
    }
    FingerprintSet::from_rows(rows)
}

/// The normalized measurement of a case: a fastpath JSON document (minified to one line),
/// the first datum of a YAML report, or the inline input as given.
fn measurement(dir: &Path, case: &J) -> J {
    let Some(file) = case["file"].as_str() else { return case["input"].clone() };
    let bytes = std::fs::read(dir.join(file)).unwrap();
    let (bytes, bucket, name) = if file.ends_with(".json") {
        let v = vantage_reports::json::parse(&bytes).unwrap();
        let name = file.rsplit('/').next().unwrap().to_string();
        (vantage_reports::json::to_string(&v).into_bytes(), "2020-01-01".to_string(), name)
    } else {
        (
            bytes,
            case["call"]["bucket"].as_str().unwrap().to_string(),
            case["call"]["textname"].as_str().unwrap().to_string(),
        )
    };
    let out = report::autoclave(
        &bytes,
        Format::of_name(file),
        Source { bucket: &bucket, name: &name, bridge_db: None },
    );
    let v = serde_json::from_slice(&out.datums().next().expect("a datum").line).unwrap();
    v
}

fn scored(fps: &FingerprintSet, msm: &J) -> score::Scored {
    let tk = msm.get("test_keys").cloned().unwrap_or(J::Null);
    let blocking = verdict::stored_verdict(&tk).blocking;
    score::score(msm, &blocking, &fps.match_measurement(msm))
}

fn check(dir: &Path, fps: &FingerprintSet, case: &J) -> Option<J> {
    let field = case["field"].as_str().unwrap();
    let input = &case["input"];
    Some(match field {
        "scores" => scored(fps, &measurement(dir, case)).scores,
        "scores.msg" => scored(fps, &measurement(dir, case)).scores["msg"].clone(),
        "flags" => {
            let s = scored(fps, &measurement(dir, case));
            serde_json::json!({"anomaly": s.anomaly, "confirmed": s.confirmed, "failure": s.failure})
        }
        "fingerprint_matches" => {
            let msm = measurement(dir, case);
            J::from(
                fps.match_measurement(&msm)
                    .list
                    .iter()
                    .map(|m| m.fp.name.clone())
                    .collect::<Vec<_>>(),
            )
        }
        "recomputed_blocking" => {
            let mut msm = measurement(dir, case);
            if let Some(tk) = msm.get_mut("test_keys").and_then(J::as_object_mut) {
                tk.remove("blocking");
                tk.remove("accessible");
            }
            verdict::verdict(&msm["test_keys"]).blocking
        }
        "vendors" => J::from(score::vendors(&measurement(dir, case))),
        "is_confirmed" => {
            let fp = &input["fingerprint"];
            let ec: Vec<String> = fp["expected_countries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            J::Bool(fingerprint::is_confirmed(
                input["probe_cc"].as_str().unwrap(),
                &ec,
                fp["scope"].as_str().unwrap(),
            ))
        }
        "parsed_expected_countries" => J::from(fingerprint::parse_expected_countries(
            input["expected_countries"].as_str().unwrap(),
        )),
        "simhash_unsigned" => J::from(simhash::simhash(input["text"].as_str().unwrap())),
        _ => return None,
    })
}

#[test]
fn expected_json_back_half() {
    let Some(dir) = testkit::conformance("reports") else { return };
    let fps = fingerprints(&dir);
    let cases = testkit::read_json(&dir.join("expected.json"));
    let (mut passed, mut failed, mut other) = (0, Vec::new(), 0);
    for (i, case) in cases["cases"].as_array().unwrap().iter().enumerate() {
        match check(&dir, &fps, case) {
            None => other += 1,
            Some(got) if same(&got, &case["expected"]) => passed += 1,
            Some(got) => failed.push(format!(
                "case {i} {} {}: got {got}\n  want {}",
                case["file"], case["field"], case["expected"]
            )),
        }
    }
    eprintln!(
        "back-half cases: {passed} passed, {} failed; {other} are the front half's or the API's",
        failed.len()
    );
    assert!(passed > 90, "too few cases checked: {passed}");
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn fingerprint_files_load() {
    let Some(dir) = testkit::conformance("reports") else { return };
    let fps = fingerprints(&dir);
    assert_eq!((fps.dns.len(), fps.http.len()), (226, 1729));
    let disabled: Vec<&str> =
        fps.http.iter().filter(|f| !f.enabled).map(|f| f.name.as_str()).collect();
    assert!(disabled.len() <= 1, "regexps that do not compile: {disabled:?}");
}
