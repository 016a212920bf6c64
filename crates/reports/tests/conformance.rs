//! Conformance against ../shared/data/reports/expected.json: the cases of the front half
//! (normalization, framing, index events, identifiers, packing). Scoring cases belong to
//! centrifugation and are counted as not handled here.

use std::path::Path;

use serde_json::Value as J;
use vantage_reports::report::{self, Format, Item, Source};
use vantage_reports::{ids, pack, slice, value::Map};
use vantage_testkit as testkit;

/// Numbers compare by value, objects without regard to key order.
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

/// `normalized[0].test_keys.requests[0].response.body` style paths.
fn at<'a>(mut v: &'a J, path: &str) -> Option<&'a J> {
    for part in path.split('.') {
        let (key, idx) = match part.find('[') {
            Some(i) => (&part[..i], Some(&part[i..])),
            None => (part, None),
        };
        if !key.is_empty() {
            v = v.get(key)?;
        }
        if let Some(idx) = idx {
            for n in idx.split(['[', ']']).filter(|s| !s.is_empty()) {
                v = v.get(n.parse::<usize>().ok()?)?;
            }
        }
    }
    Some(v)
}

fn autoclave_file(dir: &Path, case: &J) -> report::Autoclaved {
    let file = case["file"].as_str().unwrap();
    let bytes = std::fs::read(dir.join(file)).unwrap();
    let bucket = case["call"]["bucket"].as_str().unwrap();
    let name = case["call"]["textname"].as_str().unwrap();
    report::autoclave(&bytes, Format::of_name(file), Source { bucket, name, bridge_db: None })
}

fn datums_json(out: &report::Autoclaved) -> J {
    J::Array(out.datums().map(|d| serde_json::from_slice(&d.line).unwrap()).collect())
}

fn events(out: &report::Autoclaved) -> Vec<J> {
    let mut ev = Vec::new();
    if let Some((off, size)) = out.header {
        ev.push(serde_json::json!({"type": "header", "src_off": off, "src_size": size}));
    }
    for item in &out.items {
        ev.push(match item {
            Item::Datum(d) => serde_json::json!({"type": "datum", "src_off": d.src_off, "src_size": d.src_size,
                "src_sha1": hex::encode(d.src_sha1), "id": d.id}),
            Item::Badblob(b) => serde_json::json!({"type": "badblob", "src_off": b.src_off,
                "src_size": b.src_size, "src_sha1": hex::encode(b.src_sha1), "info": b.reason.as_str()}),
        });
    }
    let mut end = serde_json::json!({"type": "/report", "datums": out.datums().count(),
        "badblobs": out.badblob_count(), "nulls": out.nulls});
    if let Some(c) = out.src_cutoff {
        end["src_cutoff"] = c.into();
    }
    ev.push(end);
    ev
}

/// Keeps only the keys the expected event lists.
fn restrict(got: &J, want: &J) -> J {
    let mut o = serde_json::Map::new();
    for k in want.as_object().unwrap().keys() {
        if let Some(v) = got.get(k) {
            o.insert(k.clone(), v.clone());
        }
    }
    J::Object(o)
}

fn yaml_frames(text: &str) -> Vec<String> {
    slice::yaml(text.as_bytes())
        .into_iter()
        .filter_map(|p| match p {
            slice::Piece::Frame { off, len } => Some(text[off..off + len].to_string()),
            slice::Piece::Blob { .. } => None,
        })
        .collect()
}

fn check(dir: &Path, case: &J) -> Option<Result<(), String>> {
    let field = case["field"].as_str().unwrap();
    let want = &case["expected"];
    let got: J = if field == "normalized.length" {
        J::from(autoclave_file(dir, case).datums().count())
    } else if let Some(path) = field.strip_prefix("normalized") {
        let all = datums_json(&autoclave_file(dir, case));
        let got = at(&all, path.trim_start_matches('.')).cloned().unwrap_or(J::Null);
        if let Some(file) = want.get("equals_file") {
            let mut expected = testkit::read_json(&dir.join(file.as_str().unwrap()));
            for (k, v) in want["except"].as_object().unwrap() {
                expected[k] = v.clone();
            }
            return Some(if same(&got, &expected) {
                Ok(())
            } else {
                Err(format!("got {got}\nwant {expected}"))
            });
        }
        got
    } else if let Some(rest) = field.strip_prefix("datum[") {
        let i: usize = rest.split(']').next().unwrap().parse().unwrap();
        J::from(autoclave_file(dir, case).datums().nth(i).map(|d| d.uid.clone()))
    } else if field == "events" {
        let got = events(&autoclave_file(dir, case));
        let want_list = want.as_array().unwrap();
        if got.len() != want_list.len() {
            return Some(Err(format!("{} events, want {}: {got:?}", got.len(), want_list.len())));
        }
        J::Array(got.iter().zip(want_list).map(|(g, w)| restrict(g, w)).collect())
    } else if field == "frames" {
        let input = &case["input"];
        if let Some(y) = input.get("yaml") {
            J::from(yaml_frames(y.as_str().unwrap()))
        } else {
            let text = input["jsonl"].as_str().unwrap();
            J::from(
                slice::jsonl(text.as_bytes())
                    .into_iter()
                    .filter_map(|p| match p {
                        slice::Piece::Frame { off, len } => Some(text[off..off + len].to_string()),
                        slice::Piece::Blob { .. } => None,
                    })
                    .collect::<Vec<_>>(),
            )
        }
    } else if field == "has_badblob" {
        let text = case["input"]["yaml_truncated_prefixes_of"].as_str().unwrap();
        let except: Vec<usize> = case["input"]["except_lengths"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        // Framing only (§5.1): the frames of this vector are not mappings, so parsing
        // would add bad_header/no_header badblobs that the upstream test does not mean.
        for n in 0..text.len() {
            let has = slice::yaml(&text.as_bytes()[..n])
                .iter()
                .any(|p| matches!(p, slice::Piece::Blob { .. }));
            if has == except.contains(&n) {
                return Some(Err(format!("prefix {n}: badblob {has}")));
            }
        }
        J::Bool(true)
    } else if field == "pack" {
        let files: Vec<(String, u64)> = case["input"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f[0].as_str().unwrap().to_string(), f[1].as_u64().unwrap()))
            .collect();
        let p = pack::plan(&files, pack::CAN_SIZE, |_| 0);
        if !p.unparsable.is_empty() {
            J::from("error: unparsable report file name")
        } else {
            let mut alone = p.alone.clone();
            alone.sort();
            let slices: serde_json::Map<String, J> = p
                .slices
                .iter()
                .map(|(n, m)| (n.trim_end_matches(".lz4").to_string(), J::from(m.clone())))
                .collect();
            let mut want_alone: Vec<String> = want
                .get("alone")
                .and_then(J::as_array)
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            want_alone.sort();
            if want.is_string() {
                J::Null
            } else {
                return Some(
                    if J::from(alone) == J::from(want_alone)
                        && J::Object(slices.clone()) == want["slices"]
                    {
                        Ok(())
                    } else {
                        Err(format!("slices {slices:?} alone {:?}", p.alone))
                    },
                );
            }
        }
    } else if field == "generated_report_id" {
        let header: Map =
            match vantage_reports::json::parse(case["input"]["header"].to_string().as_bytes())
                .unwrap()
            {
                vantage_reports::value::Value::Map(m) => m,
                _ => unreachable!(),
            };
        J::from(ids::generated_report_id(&header))
    } else if field == "legacy_measurement_uid" {
        let raw = hex::decode(case["input"]["raw_hex"].as_str().unwrap()).unwrap();
        J::from(ids::legacy_measurement_uid(&raw, case["input"]["measurement_start_time"].as_str()))
    } else {
        return None;
    };
    Some(if same(&got, want) { Ok(()) } else { Err(format!("got {got}, want {want}")) })
}

#[test]
fn expected_json_front_half() {
    let Some(dir) = testkit::conformance("reports") else { return };
    let cases = testkit::read_json(&dir.join("expected.json"));
    let (mut passed, mut failed, mut other) = (0, Vec::new(), 0);
    for (i, case) in cases["cases"].as_array().unwrap().iter().enumerate() {
        match check(&dir, case) {
            None => other += 1,
            Some(Ok(())) => passed += 1,
            Some(Err(e)) => {
                failed.push(format!("case {i} {} {}: {e}", case["file"], case["field"]))
            }
        }
    }
    eprintln!(
        "front-half cases: {passed} passed, {} failed; {other} belong to centrifugation",
        failed.len()
    );
    assert!(passed > 50, "too few cases checked: {passed}");
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// Every fastpath measurement (one JSON document each, spec §5.3 0.2.0 path) normalizes:
/// schema keys present, number text kept, nothing but rules 1–6 and 17 applied.
#[test]
fn fastpath_measurements_normalize() {
    let Some(dir) = testkit::conformance("reports") else { return };
    let mut n = 0;
    for file in testkit::files(&dir.join("fastpath"), "json") {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        // One document, possibly pretty-printed: minified into one line first.
        let v = vantage_reports::json::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let line = vantage_reports::json::to_string(&v);
        let out = report::autoclave(
            line.as_bytes(),
            Format::Jsonl,
            Source { bucket: "2020-01-01", name: &name, bridge_db: None },
        );
        assert_eq!((out.datums().count(), out.badblob_count()), (1, 0), "{name}: {:?}", out.items);
        let got: J = serde_json::from_slice(&out.datums().next().unwrap().line).unwrap();
        let orig: J = serde_json::from_slice(&bytes).unwrap();
        for k in vantage_reports::normalize::SCHEMA {
            assert!(got.get(k).is_some(), "{name}: {k} missing");
        }
        assert_eq!(got["report_filename"], J::from(format!("2020-01-01/{name}")));
        if orig.get("test_keys").is_some_and(|t| !t.is_null()) {
            assert!(same(&got["test_keys"], &orig["test_keys"]), "{name}: test_keys changed");
        }
        n += 1;
    }
    assert!(n >= 20, "only {n} fastpath files");
}
