//! Importer behaviour beyond the vectors, on generated histories: order independence,
//! snapshot-based `at` equal to a scan, idempotency, the generic snapshot rule, recorded
//! flows.

use std::path::Path;

use vantage_netstate::generate::{generate, GenerateOptions, Manifest};
use vantage_netstate::query;
use vantage_warehouse::Sql;

use crate::common::{backends, copy_files, env, Env};

fn small(out: &Path, late: f64) -> GenerateOptions {
    GenerateOptions {
        out: out.to_path_buf(),
        seed: 11,
        rows: Some(20000),
        switches: 7,
        hosts: 30,
        flows_per_s: 25.0,
        period_s: 10,
        restart_every_s: 150,
        sources: 2,
        late,
        batches: 3,
        ..GenerateOptions::default()
    }
}

/// Imports batch by batch, sources interleaved; returns the canonical dump without the
/// load-log order (which depends on arrival).
fn import_all(e: &mut Env, m: &Manifest, every: u64, reverse: bool) {
    let loaded = e.path("loaded");
    let mut batches: Vec<u32> = (0..m.options.batches).collect();
    if reverse {
        batches.reverse();
    }
    for b in batches {
        import_batch(e, m, b, &loaded, every);
    }
}

/// Imports batch `b` of every source, sources in turn, moving files under `loaded`.
fn import_batch(e: &mut Env, m: &Manifest, b: u32, loaded: &Path, every: u64) {
    for s in &m.sources {
        let dir = e.path(&format!("in-{s}-{b}"));
        if m.batch_dir(s, b).exists() {
            copy_files(&m.batch_dir(s, b), &dir);
        }
        let src_loaded = loaded.join(s);
        std::fs::create_dir_all(&src_loaded).unwrap();
        let r = e.import(&dir, &src_loaded, s, every);
        assert!(r.rejection().is_none(), "{:?}", r.rejection());
    }
}

fn rows_only(dump: &str) -> Vec<String> {
    dump.lines().filter(|l| l.contains("\"kind\":\"row\"")).map(str::to_string).collect()
}

fn brute_at(e: &mut Env, table: &str, t: i64) -> Vec<String> {
    query::all_rows(&mut e.wh, table)
        .unwrap()
        .into_iter()
        .filter(|r| r.created <= t && r.deleted.is_none_or(|d| d > t))
        .map(|r| r.origin)
        .collect()
}

/// Checks that every FLOW C and `*` line is stored once: as a close event, or absorbed
/// into the row it closed (re-merges store those they reach as events again); returns
/// how many were absorbed.
fn lines_stored_once(e: &mut Env) -> i64 {
    let mut count = |sql: &str| e.wh.query_i64(sql, &[]).unwrap().unwrap_or(0);
    let absorbed = count("SELECT COUNT(*) FROM netstate_flow_row WHERE ns_close_line IS NOT NULL");
    let events = count("SELECT COUNT(*) FROM netstate_flow_close_event");
    let lines: i64 = query::log(&mut e.wh)
        .unwrap()
        .iter()
        .filter(|l| l.table == "FLOW")
        .map(|l| l.closes + l.close_alls)
        .sum();
    assert_eq!(absorbed + events, lines, "each C and * line stored once");
    absorbed
}

fn generated_on(backend: &str, period_s: u64) {
    let gen_dir = tempfile::tempdir().unwrap();
    let m =
        generate(&GenerateOptions { period_s, batches: 4, ..small(gen_dir.path(), 0.3) }).unwrap();
    let mut a = env(backend);
    import_all(&mut a, &m, 50, false);
    let total: u64 = query::log(&mut a.wh).unwrap().iter().map(|l| l.rows as u64).sum();
    assert_eq!(total, m.rows, "every generated row loaded once");
    assert!(
        query::log(&mut a.wh).unwrap().iter().any(|l| l.remerged_from.is_some()),
        "late files re-merged"
    );
    let absorbed = lines_stored_once(&mut a);
    // Reverse batch order, other snapshot spacing: same rows.
    let mut b = env(backend);
    import_all(&mut b, &m, 0, true);
    lines_stored_once(&mut b);
    if period_s >= 30 {
        // Flows close in the file that opened them: C lines absorbed; in reverse order the
        // earlier batches, late, re-merge over them and store them as close events again.
        let restored =
            b.wh.query_i64("SELECT COUNT(*) FROM netstate_flow_close_event WHERE ns_id < 0", &[]);
        assert!(absorbed > 0, "C lines absorbed");
        assert!(restored.unwrap().unwrap_or(0) > 0, "absorbed lines stored again by re-merges");
    }
    let (da, db) =
        (query::dump_canonical(&mut a.wh).unwrap(), query::dump_canonical(&mut b.wh).unwrap());
    assert_eq!(rows_only(&da), rows_only(&db), "rows independent of arrival order");
    // Snapshot-based at equals a scan, at snapshot times and between them.
    for table in ["FLOW", "LEARNING", "LLDP_LINKS", "PF"] {
        let snaps = query::snapshots(&mut a.wh, table).unwrap();
        if table == "FLOW" {
            assert!(!snaps.is_empty(), "{table} has snapshots");
        }
        let (lo, hi) = query::range(&mut a.wh, &[table.to_string()]).unwrap();
        let (lo, hi) = (lo.unwrap(), hi.unwrap());
        let mut probes: Vec<i64> = snaps.iter().map(|s| s.0).collect();
        probes.extend((0..12).map(|k| lo + (hi - lo) / 12 * k + 777));
        for t in probes {
            let got: Vec<String> = query::at(&mut a.wh, table, t, None)
                .unwrap()
                .into_iter()
                .map(|r| r.origin)
                .collect();
            let mut want = brute_at(&mut a, table, t);
            // `at` order is (created, source, canonical); all_rows is the same order.
            assert_eq!(got.len(), want.len(), "{table} at {t}");
            assert_eq!(got, std::mem::take(&mut want), "{table} at {t}");
        }
        for (ts, members) in snaps {
            let origins: Vec<String> = members.into_iter().map(|r| r.origin).collect();
            assert_eq!(origins, brute_at(&mut a, table, ts), "{table} snapshot at {ts}");
        }
    }
    // changes identity: at(t2) = at(t1) - closes + opens.
    let (lo, hi) = query::range(&mut a.wh, &["FLOW".to_string()]).unwrap();
    let (t1, t2) = (
        lo.unwrap() + (hi.unwrap() - lo.unwrap()) / 3,
        lo.unwrap() + (hi.unwrap() - lo.unwrap()) / 2,
    );
    let mut state: std::collections::BTreeSet<String> =
        query::at(&mut a.wh, "FLOW", t1, None).unwrap().into_iter().map(|r| r.origin).collect();
    for c in query::changes(&mut a.wh, &["FLOW".to_string()], t1, t2).unwrap() {
        match c.kind {
            query::ChangeKind::Open => assert!(state.insert(c.row.origin.clone())),
            query::ChangeKind::Close => assert!(state.remove(&c.row.origin)),
        }
    }
    let at2: std::collections::BTreeSet<String> =
        query::at(&mut a.wh, "FLOW", t2, None).unwrap().into_iter().map(|r| r.origin).collect();
    assert_eq!(state, at2);
}

#[test]
fn generated_histories_merge_the_same_whatever_the_order() {
    for b in backends() {
        // Files of 10 s hold no closes of their own rows (10 s idle timeout); of 30 s many.
        for period_s in [10, 30] {
            generated_on(b, period_s);
        }
    }
}

fn twice_on(backend: &str) {
    let gen_dir = tempfile::tempdir().unwrap();
    let m = generate(&small(gen_dir.path(), 0.0)).unwrap();
    let mut e = env(backend);
    import_all(&mut e, &m, 100, false);
    let before = query::dump_canonical(&mut e.wh).unwrap();
    // The same files delivered again (e.g. restored from a backup): all duplicates.
    let loaded = e.path("again");
    for s in &m.sources {
        let dir = e.path(&format!("again-{s}"));
        for b in 0..m.options.batches {
            if m.batch_dir(s, b).exists() {
                copy_files(&m.batch_dir(s, b), &dir);
            }
        }
        let r = e.import(&dir, &loaded, s, 100);
        assert!(r.files.iter().all(|f| f.outcome.as_str() == "duplicate"), "{s}");
        assert_eq!(r.rows, 0);
    }
    assert_eq!(
        query::dump_canonical(&mut e.wh).unwrap(),
        before,
        "a file imported twice is applied once"
    );
}

#[test]
fn files_imported_twice_are_applied_once() {
    for b in backends() {
        twice_on(b);
    }
}

const PACKETS_FLOWS: &str = "CREATE TABLE packets_flows (
    sensor TEXT NOT NULL, flow_id BIGINT NOT NULL, proto BIGINT NOT NULL,
    orig_addr TEXT NOT NULL, orig_port BIGINT NOT NULL, resp_addr TEXT NOT NULL, resp_port BIGINT NOT NULL,
    first_ns BIGINT NOT NULL, last_ns BIGINT NOT NULL, removed_ns BIGINT NOT NULL,
    orig_pkts BIGINT NOT NULL, orig_bytes BIGINT NOT NULL, resp_pkts BIGINT NOT NULL, resp_bytes BIGINT NOT NULL,
    stored_pkts BIGINT NOT NULL, stored_bytes BIGINT NOT NULL, cut_pkts BIGINT NOT NULL, cut_bytes BIGINT NOT NULL,
    class TEXT, vlan BIGINT, orig_mac TEXT, resp_mac TEXT, eth_type BIGINT NOT NULL, if_index BIGINT NOT NULL,
    end_reason TEXT NOT NULL, community_id TEXT, PRIMARY KEY (sensor, flow_id))";

struct F {
    sensor: &'static str,
    id: i64,
    proto: i64,
    orig: &'static str,
    oport: i64,
    resp: &'static str,
    rport: i64,
    first: i64,
    last: i64,
    removed: i64,
}

fn insert(e: &mut Env, f: &F) {
    e.wh.execute(
        "INSERT INTO packets_flows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 3, 300, 2, 200, 0, 0, 0, 0, NULL, NULL,
         '00:1b:21:3a:4f:01', '00:1b:21:3a:4f:02', ?, 1, 'timeout', NULL)",
        &[
            f.sensor.into(), f.id.into(), f.proto.into(), f.orig.into(), f.oport.into(), f.resp.into(),
            f.rport.into(), f.first.into(), f.last.into(), f.removed.into(),
            (if f.orig.contains(':') { 0x86dd_i64 } else { 0x0800 }).into(),
        ],
    )
    .unwrap();
}

fn flows_on(backend: &str) {
    let mut e = env(backend);
    let opts = vantage_netstate::flows::FlowOptions { snapshot_every: 0, ..Default::default() };
    let err = vantage_netstate::flows::import_flows(&mut e.wh, &e.data, &opts).unwrap_err();
    assert!(matches!(err, vantage_netstate::flows::FlowError::NoTable), "{err}");
    assert_eq!(vantage_core::HasExit::exit(&err), vantage_core::Exit::Usage);
    e.wh.batch(PACKETS_FLOWS).unwrap();
    let s = 1_262_304_000_000_000_000_i64; // ns
    let flows = [
        // Two flows with equal keys (a connection split by conn_timeout): two rows.
        F {
            sensor: "eth0",
            id: 17,
            proto: 6,
            orig: "10.0.0.1",
            oport: 40000,
            resp: "10.0.0.2",
            rport: 80,
            first: s + 1_000_000_500,
            last: s + 4_000_000_000,
            removed: s + 9_000_000_000,
        },
        F {
            sensor: "eth0",
            id: -5,
            proto: 6,
            orig: "10.0.0.1",
            oport: 40000,
            resp: "10.0.0.2",
            rport: 80,
            first: s + 10_000_000_000,
            last: s + 12_500_000_000,
            removed: s + 20_000_000_000,
        },
        F {
            sensor: "eth0",
            id: 3,
            proto: 17,
            orig: "2001:db8::1",
            oport: 5353,
            resp: "2001:db8::2",
            rport: 53,
            first: s + 2_000_000_000,
            last: s + 2_000_000_000,
            removed: s + 2_000_000_000,
        },
        F {
            sensor: "tap 1",
            id: 9,
            proto: 1,
            orig: "10.0.0.3",
            oport: 0,
            resp: "10.0.0.4",
            rport: 0,
            first: s + 5_000_000_000,
            last: s + 6_000_000_000,
            removed: s + 15_000_000_000,
        },
    ];
    for f in &flows[..3] {
        insert(&mut e, f);
    }
    let first = vantage_netstate::flows::import_flows(&mut e.wh, &e.data, &opts).unwrap();
    assert_eq!((first.merged, first.skipped), (3, 0));
    insert(&mut e, &flows[3]);
    let second = vantage_netstate::flows::import_flows(&mut e.wh, &e.data, &opts).unwrap();
    assert_eq!((second.merged, second.skipped), (1, 3), "each flow applied once");
    let third = vantage_netstate::flows::import_flows(&mut e.wh, &e.data, &opts).unwrap();
    assert_eq!((third.merged, third.skipped), (0, 4));

    let rows = query::all_rows(&mut e.wh, "FLOW").unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].origin, "rec-eth0/packets_flows:17");
    assert_eq!(rows[0].created, (s + 1_000_000_500) / 1000);
    assert_eq!(rows[0].deleted, Some((s + 9_000_000_000) / 1000));
    assert_eq!(rows[0].closed_by.as_deref(), Some("rec-eth0/packets_flows:17"));
    let def = vantage_netstate::table_def(&mut e.wh, "FLOW").unwrap().unwrap();
    let v = rows[0].to_json(&def, false);
    assert_eq!(v["values"]["DURATION"], 2, "whole seconds, rounded down");
    assert_eq!(v["values"]["PACKET_COUNT"], 5);
    assert_eq!(v["values"]["BYTE_COUNT"], 500);
    assert_eq!(v["values"]["SOURCE_IP"], 167772161);
    assert_eq!(v["values"]["SOURCE_MAC"], 116521586433_u64);
    assert_eq!(rows[2].origin, "rec-eth0/packets_flows:-5", "equal keys, separate rows");
    assert!(rows[1].source.starts_with("rec-tap_1-"));
    let six = query::all_rows(&mut e.wh, "FLOW6").unwrap();
    assert_eq!(six.len(), 1);
    let def6 = vantage_netstate::table_def(&mut e.wh, "FLOW6").unwrap().unwrap();
    assert_eq!(
        six[0].to_json(&def6, false)["values"]["SOURCE_IP"],
        "20010db8000000000000000000000001"
    );
    assert_eq!(six[0].deleted, Some(six[0].created), "zero-length flow opens then closes");
    // at and changes over recorded traffic.
    let at: Vec<String> = query::at(&mut e.wh, "FLOW", (s + 11_000_000_000) / 1000, None)
        .unwrap()
        .into_iter()
        .map(|r| r.origin)
        .collect();
    assert_eq!(at.len(), 2);
    let ch = query::changes(&mut e.wh, &["FLOW".into(), "FLOW6".into()], 0, i64::MAX - 1).unwrap();
    assert_eq!(ch.len(), 8, "an open and a close per flow");
    let log = query::log(&mut e.wh).unwrap();
    assert!(log.iter().all(|l| l.file.ends_with(".flows") && l.sha256.is_none()));
    let eth0_flow: Vec<&str> = log
        .iter()
        .filter(|l| l.source == "rec-eth0" && l.table == "FLOW")
        .map(|l| l.file.as_str())
        .collect();
    assert_eq!(eth0_flow.len(), 1);
    assert!(eth0_flow[0].starts_with("FLOW-") && eth0_flow[0].ends_with("-0.flows"));
}

#[test]
fn recorded_flows_merge_once() {
    for b in backends() {
        flows_on(b);
    }
}

/// Turns the warehouse's tables back into storage layout `to`, as a warehouse of an
/// earlier Vantage has them: 2 stores every close event in the close-event table (none
/// absorbed into its row), 1 also every close in the close table (no inline closes).
fn downgrade(e: &mut Env, to: i64) {
    for def in vantage_netstate::builtin_tables() {
        let stem = format!("netstate_{}", def.name.to_ascii_lowercase());
        let exists =
            e.wh.query_i64(
                "SELECT COUNT(*) FROM netstate_table WHERE name = ?",
                &[def.name.as_str().into()],
            )
            .unwrap();
        if exists != Some(1) {
            continue;
        }
        let names: Vec<String> = def.columns.iter().map(|c| c.name.to_ascii_lowercase()).collect();
        let event_values: String = def
            .columns
            .iter()
            .zip(&names)
            .enumerate()
            .map(|(i, (c, n))| match c.copy_on_close {
                true => format!(", ns_closed_{n}"),
                false => {
                    format!(", CASE WHEN (ns_close_nulls >> {i}) & 1 = 1 THEN NULL ELSE {n} END")
                }
            })
            .collect();
        let mut sql = format!(
            "INSERT INTO {stem}_close_event (ns_id, ns_file_id, ns_ikey, ns_line, created_dt, ns_type{cols})
             SELECT ns_close_event, ns_file_id, ns_close_ikey, ns_close_line, ns_deleted_dt, 'C'{event_values}
             FROM {stem}_row WHERE ns_close_line IS NOT NULL;
             ALTER TABLE {stem}_row DROP COLUMN ns_close_ikey; ALTER TABLE {stem}_row DROP COLUMN ns_close_line;
             ALTER TABLE {stem}_row DROP COLUMN ns_close_nulls;",
            cols = names.iter().map(|n| format!(", {n}")).collect::<String>(),
        );
        if to == 1 {
            let copies: Vec<String> = def
                .columns
                .iter()
                .filter(|c| c.copy_on_close)
                .map(|c| c.name.to_ascii_lowercase())
                .collect();
            let list =
                |prefix: &str| copies.iter().map(|c| format!(", {prefix}{c}")).collect::<String>();
            let mut inline = vec!["ns_deleted_dt".to_string()];
            inline.extend(copies.iter().map(|c| format!("ns_closed_{c}")));
            inline.push("ns_close_event".into());
            sql.push_str(&format!(
                "INSERT INTO {stem}_close (row_id, event_id, ns_file_id, deleted_dt{to})
                 SELECT ns_id, ns_close_event, ns_file_id, ns_deleted_dt{from} FROM {stem}_row WHERE ns_deleted_dt IS NOT NULL;
                 DROP VIEW {stem}; DROP INDEX {stem}_row_deleted;",
                to = list(""),
                from = list("ns_closed_"),
            ));
            for c in &inline {
                sql.push_str(&format!("ALTER TABLE {stem}_row DROP COLUMN {c};"));
            }
            // A stand-in: the upgrade replaces the view whatever it was.
            sql.push_str(&format!("CREATE VIEW {stem} AS SELECT ns_id AS id FROM {stem}_row;"));
        }
        e.wh.batch(&sql).unwrap();
    }
    e.wh.execute("UPDATE netstate_table SET storage = ?", &[to.into()]).unwrap();
}

fn upgraded_on(backend: &str, from: i64) {
    let gen_dir = tempfile::tempdir().unwrap();
    // Files of a minute: flows opened and closed in one file (10 s idle timeout), so some
    // closes are inline and some C lines absorbed before the downgrade.
    let m = generate(&GenerateOptions { period_s: 60, ..small(gen_dir.path(), 0.0) }).unwrap();
    let mut clean = env(backend);
    import_all(&mut clean, &m, 100, false);
    assert!(lines_stored_once(&mut clean) > 0, "closes in the file of their row absorbed");
    // The first batch into the older layout, the rest after the upgrade.
    let mut old = env(backend);
    let loaded = old.path("loaded");
    for b in 0..m.options.batches {
        if b == 1 {
            downgrade(&mut old, from);
            let err = query::at(&mut old.wh, "FLOW", 0, None).unwrap_err().to_string();
            assert!(err.contains("vantage netstate import"), "{err}");
        }
        import_batch(&mut old, &m, b, &loaded, 100);
    }
    let stored = old.wh.query_i64("SELECT MIN(storage) FROM netstate_table", &[]).unwrap();
    assert_eq!(stored, Some(3), "every table upgraded");
    assert_eq!(
        rows_only(&query::dump_canonical(&mut old.wh).unwrap()),
        rows_only(&query::dump_canonical(&mut clean.wh).unwrap()),
        "an upgraded warehouse holds what a new one does"
    );
}

#[test]
fn older_storage_layout_is_upgraded_in_place() {
    for b in backends() {
        for from in [1, 2] {
            upgraded_on(b, from);
        }
    }
}

fn open_sets_on(backend: &str) {
    let gen_dir = tempfile::tempdir().unwrap();
    let m = generate(&GenerateOptions { period_s: 30, batches: 4, ..small(gen_dir.path(), 0.3) })
        .unwrap();
    // Each batch is a run of its own: runs after the first start from the stored open sets.
    let mut stored = env(backend);
    import_all(&mut stored, &m, 50, false);
    let kept = stored.wh.query_i64("SELECT COUNT(*) FROM netstate_open_set", &[]).unwrap();
    assert_eq!(kept, Some(8), "one open set per state table and source");
    // The same runs, each rebuilding its open sets from snapshots and rows.
    let mut rebuilt = env(backend);
    let loaded = rebuilt.path("loaded");
    for b in 0..m.options.batches {
        rebuilt.wh.execute("DELETE FROM netstate_open_set", &[]).ok();
        import_batch(&mut rebuilt, &m, b, &loaded, 50);
    }
    assert_eq!(
        query::dump_canonical(&mut stored.wh).unwrap(),
        query::dump_canonical(&mut rebuilt.wh).unwrap(),
        "stored open sets merge as rebuilt ones"
    );
}

#[test]
fn stored_open_sets_merge_as_rebuilt_ones() {
    for b in backends() {
        open_sets_on(b);
    }
}
