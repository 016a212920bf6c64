//! Every expectation of `shared/data/netstate/expected.json`, on each backend.

use std::path::Path;

use serde_json::{json, Value as Json};
use vantage_netstate::query::{self, ReplayItem, ReplayState};
use vantage_netstate::{parse_time, ImportReport, Outcome};
use vantage_warehouse::Warehouse;

use crate::common::{backends, copy_files, env, Env};

const TABLES: [&str; 5] = ["FLOW", "FLOW_SETUP", "LEARNING", "LLDP_LINKS", "PF"];

fn outcomes(r: &ImportReport) -> Json {
    Json::Array(
        r.files.iter().map(|f| json!({"file": f.file, "outcome": f.outcome.as_str()})).collect(),
    )
}

fn snapshots_json(wh: &mut Warehouse, table: &str) -> Json {
    let snaps = query::snapshots(wh, table).unwrap();
    Json::Array(
        snaps
            .into_iter()
            .map(|(ts, rows)| json!({"ts": ts, "members": rows.iter().map(|r| r.origin.clone()).collect::<Vec<_>>()}))
            .collect(),
    )
}

fn strs(v: &Json) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// Runs the main scenario's five runs, checking each run's outcomes and snapshots.
fn main_scenario(e: &mut Env, data: &Path, exp: &Json) {
    let scratch = e.path("import");
    let loaded = e.path("loaded");
    for run in exp["runs"].as_array().unwrap() {
        let dir = scratch.join(run["dir"].as_str().unwrap());
        copy_files(&data.join(run["dir"].as_str().unwrap()), &dir);
        let report = e.import(&dir, &loaded, run["source"].as_str().unwrap(), 0);
        assert!(report.rejection().is_none(), "run {}: {:?}", run["run"], report.rejection());
        assert_eq!(outcomes(&report), run["files"], "run {} outcomes", run["run"]);
        for f in run["files"].as_array().unwrap() {
            let name = f["file"].as_str().unwrap();
            assert!(loaded.join(name).exists(), "{name} moved to loaded/");
            assert!(!dir.join(name).exists(), "{name} gone from its run directory");
        }
        for (table, snaps) in run["snapshots_after"].as_object().unwrap() {
            assert_eq!(
                &snapshots_json(&mut e.wh, table),
                snaps,
                "run {} snapshots of {table}",
                run["run"]
            );
        }
    }
}

fn row_matches(got: &query::RowOut, def_json: Json, want: &Json, what: &str) {
    for k in ["origin", "created", "deleted", "closed_by", "values"] {
        if let Some(w) = want.get(k) {
            assert_eq!(&def_json[k], w, "{what}: {k} of {}", got.origin);
        }
    }
}

fn check_rows_and_queries(e: &mut Env, exp: &Json) {
    let wh = &mut e.wh;
    for table in TABLES {
        let rows = query::all_rows(wh, table).unwrap();
        let def = vantage_netstate::table_def(wh, table).unwrap().unwrap();
        let want = exp["final_rows"][table].as_array().unwrap();
        assert_eq!(rows.len(), want.len(), "final rows of {table}");
        for (g, w) in rows.iter().zip(want) {
            row_matches(g, g.to_json(&def, true), w, &format!("final {table}"));
        }
    }
    for probe in exp["states"].as_array().unwrap() {
        let t = probe["t"].as_i64().unwrap();
        for (table, want) in probe["tables"].as_object().unwrap() {
            let got: Vec<Json> = query::at(wh, table, t, None)
                .unwrap()
                .iter()
                .map(|r| json!({"origin": r.origin, "created": r.created, "deleted": r.deleted}))
                .collect();
            assert_eq!(&Json::Array(got), want, "at {table} {t} (T+{})", probe["t_offset_s"]);
        }
    }
    let change_json = |c: &query::Change| {
        json!({"time": c.time, "table": c.row.table, "kind": if c.kind == query::ChangeKind::Open {"open"} else {"close"},
               "row": c.row.origin, "cause": c.cause})
    };
    for case in exp["changes"].as_array().unwrap() {
        let tables = strs(&case["tables"]);
        let got: Vec<Json> = query::changes(
            wh,
            &tables,
            case["from"].as_i64().unwrap(),
            case["to"].as_i64().unwrap(),
        )
        .unwrap()
        .iter()
        .map(change_json)
        .collect();
        assert_eq!(Json::Array(got), case["changes"], "changes {tables:?}");
    }
    let r = &exp["replay"];
    let tables = strs(&r["tables"]);
    let items = query::replay(
        wh,
        &tables,
        r["from"].as_i64().unwrap(),
        r["to"].as_i64().unwrap(),
        ReplayState::Initial,
    )
    .unwrap();
    let mut initial = serde_json::Map::new();
    for t in &tables {
        initial.insert(t.clone(), json!([]));
    }
    let mut changes = Vec::new();
    for item in &items {
        match item {
            ReplayItem::State { row, .. } => initial
                .get_mut(&row.table)
                .unwrap()
                .as_array_mut()
                .unwrap()
                .push(row.origin.clone().into()),
            ReplayItem::Change(c) => changes.push(change_json(c)),
        }
    }
    assert_eq!(Json::Object(initial), r["initial_state"]);
    assert_eq!(Json::Array(changes), r["changes"]);
    for np in exp["next_prev"].as_array().unwrap() {
        let tables = strs(&np["tables"]);
        let t = np["t"].as_i64().unwrap();
        let got = if np["op"] == "next" {
            query::next_change(wh, &tables, t).unwrap()
        } else {
            query::prev_change(wh, &tables, t).unwrap()
        };
        assert_eq!(json!(got), np["result"], "{np}");
    }
    for (name, want) in exp["ranges"].as_object().unwrap() {
        let tables: Vec<String> = if name == "ALL" {
            TABLES.iter().map(|s| s.to_string()).collect()
        } else {
            vec![name.clone()]
        };
        let (a, b) = query::range(wh, &tables).unwrap();
        assert_eq!(json!({"earliest": a, "latest": b}), *want, "range {name}");
    }
}

fn conformance_on(backend: &str) {
    let Some(data) = vantage_testkit::conformance("netstate") else { return };
    let exp = vantage_testkit::read_json(&data.join("expected.json"));
    let mut e = env(backend);
    main_scenario(&mut e, &data, &exp);
    let log: Vec<Json> = query::log(&mut e.wh).unwrap().iter().map(|l| l.to_json(true)).collect();
    let want = exp["load_log"].as_array().unwrap();
    assert_eq!(log.len(), want.len(), "load log length");
    for (g, w) in log.iter().zip(want) {
        for (k, v) in w.as_object().unwrap() {
            assert_eq!(&g[k], v, "load log seq {} field {k}", w["seq"]);
        }
    }
    for (table, snaps) in exp["snapshots"].as_object().unwrap() {
        assert_eq!(&snapshots_json(&mut e.wh, table), snaps, "snapshots of {table}");
    }
    check_rows_and_queries(&mut e, &exp);
    // Snapshot invariant: members are exactly the rows alive at the snapshot's time.
    for table in TABLES {
        for (ts, rows) in query::snapshots(&mut e.wh, table).unwrap() {
            let alive: Vec<String> = query::all_rows(&mut e.wh, table)
                .unwrap()
                .into_iter()
                .filter(|r| r.created <= ts && r.deleted.is_none_or(|d| d > ts))
                .map(|r| r.origin)
                .collect();
            assert_eq!(
                rows.iter().map(|r| r.origin.clone()).collect::<Vec<_>>(),
                alive,
                "{table}@{ts}"
            );
        }
    }
    let main_dump = query::dump_canonical(&mut e.wh).unwrap();

    // name-conflict runs after the main scenario, as ctl-a.
    for case in exp["rejects"].as_array().unwrap().iter().filter(|c| c["setup"] == "after-main") {
        reject_case(&mut e, &data, case);
        assert_eq!(
            query::dump_canonical(&mut e.wh).unwrap(),
            main_dump,
            "warehouse unchanged by {}",
            case["case"]
        );
    }

    // Order independence: ctl-a's files in one run, then ctl-b's.
    let mut alt = env(backend);
    let oi = &exp["order_independence"];
    let loaded = alt.path("loaded");
    for (k, run) in oi["runs"].as_array().unwrap().iter().enumerate() {
        let dir = alt.path(&format!("alt{k}"));
        for d in run["dirs"].as_array().unwrap() {
            copy_files(&data.join(d.as_str().unwrap()), &dir);
        }
        let report = alt.import(&dir, &loaded, run["source"].as_str().unwrap(), 0);
        assert!(report.rejection().is_none(), "{:?}", report.rejection());
    }
    let files: Vec<Json> = query::log(&mut alt.wh).unwrap().iter().map(|l| json!(l.file)).collect();
    assert_eq!(Json::Array(files), oi["load_log_files"]);
    let remerged: serde_json::Map<String, Json> = query::log(&mut alt.wh)
        .unwrap()
        .iter()
        .filter_map(|l| l.remerged_from.map(|r| (l.file.clone(), json!(r))))
        .collect();
    assert_eq!(Json::Object(remerged), oi["remerged_from"]);
    for (table, snaps) in oi["snapshots"].as_object().unwrap() {
        assert_eq!(
            &snapshots_json(&mut alt.wh, table),
            snaps,
            "order-independent snapshots of {table}"
        );
    }
    check_rows_and_queries(&mut alt, &exp);

    for case in exp["time_syntax"].as_array().unwrap() {
        assert_eq!(
            json!(parse_time(case["input"].as_str().unwrap()).unwrap()),
            case["us"],
            "{case}"
        );
    }
}

fn reject_case(e: &mut Env, data: &Path, case: &Json) {
    let name = case["case"].as_str().unwrap();
    let dir = e.path(&format!("reject-{name}"));
    copy_files(&data.join(case["dir"].as_str().unwrap()), &dir);
    let loaded = e.path(&format!("reject-{name}-loaded"));
    let before = query::log(&mut e.wh).unwrap().len();
    let report = e.import(&dir, &loaded, case["source"].as_str().unwrap(), 0);
    assert_eq!(case["exit"], 3);
    let r = report.rejection().unwrap_or_else(|| panic!("{name}: nothing rejected"));
    assert_eq!(
        json!({"file": r.file, "line": r.line, "reason": r.reason.as_str()}),
        case["error"],
        "{name}"
    );
    assert_eq!(outcomes(&report), case["files"], "{name} outcomes");
    let added: Vec<Json> =
        query::log(&mut e.wh).unwrap()[before..].iter().map(|l| json!(l.file)).collect();
    assert_eq!(Json::Array(added), case["load_log_added"], "{name} load log");
    let mut stopped = false;
    for f in case["files"].as_array().unwrap() {
        let file = f["file"].as_str().unwrap();
        stopped |= f["outcome"] == "rejected";
        if stopped {
            assert!(dir.join(file).exists(), "{name}: {file} left in place");
        }
    }
}

fn rejects_and_accepts_on(backend: &str) {
    let Some(data) = vantage_testkit::conformance("netstate") else { return };
    let exp = vantage_testkit::read_json(&data.join("expected.json"));
    for case in exp["rejects"].as_array().unwrap().iter().filter(|c| c["setup"] == "fresh") {
        let mut e = env(backend);
        reject_case(&mut e, &data, case);
        // A later run rejecting the same bytes adds no second quarantine row.
        let dir = e.path(&format!("reject-{}", case["case"].as_str().unwrap()));
        let loaded = e.path("again-loaded");
        let again = e.import(&dir, &loaded, "default", 0);
        assert!(again.rejection().is_some());
        let n = vantage_warehouse::Sql::query_i64(
            &mut e.wh,
            "SELECT COUNT(*) FROM catalog_quarantine WHERE kind = 'netstate'",
            &[],
        )
        .unwrap();
        assert_eq!(n, Some(1), "{}: one quarantine row", case["case"]);
    }
    for case in exp["accepts"].as_array().unwrap() {
        let mut e = env(backend);
        let name = case["case"].as_str().unwrap();
        let dir = e.path(&format!("accept-{name}"));
        copy_files(&data.join(case["dir"].as_str().unwrap()), &dir);
        let loaded = e.path("loaded");
        let report = e.import(&dir, &loaded, "default", 0);
        assert!(report.rejection().is_none(), "{name}");
        let mut got = outcomes(&report).as_array().unwrap().clone();
        got.sort_by_key(|v| v["file"].as_str().unwrap().to_string());
        let mut want = case["files"].as_array().unwrap().clone();
        want.sort_by_key(|v| v["file"].as_str().unwrap().to_string());
        assert_eq!(got, want, "{name} outcomes");
        for f in &want {
            if f["outcome"] == "skipped-empty" {
                assert!(dir.join(f["file"].as_str().unwrap()).exists(), "{name}: empty file left");
            }
        }
        if name == "stale-lock" {
            assert!(report.recovered_stale_lock.is_some(), "stale lock recovered");
        }
        let t = case["state_at"]["t"].as_i64().unwrap();
        let def = vantage_netstate::table_def(&mut e.wh, "LEARNING").unwrap().unwrap();
        let got: Vec<Json> = query::at(&mut e.wh, "LEARNING", t, None)
            .unwrap()
            .iter()
            .map(|r| r.to_json(&def, false))
            .collect();
        let want = case["state_at"]["LEARNING"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{name} state");
        for (g, w) in got.iter().zip(want) {
            for k in ["origin", "created", "deleted", "closed_by", "values"] {
                assert_eq!(g[k], w[k], "{name} {k}");
            }
        }
        assert!(matches!(
            report.files.first().map(|f| &f.outcome),
            Some(Outcome::Loaded { .. } | Outcome::SkippedEmpty)
        ));
    }
}

#[test]
fn expected_json_holds() {
    for b in backends() {
        conformance_on(b);
    }
}

#[test]
fn rejects_and_accepts() {
    for b in backends() {
        rejects_and_accepts_on(b);
    }
}
