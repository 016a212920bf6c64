//! `vantage passive` as users run it: exit codes (0, 1, 3), hashes from a key file, the
//! end-to-end tarballs, and crash safety (the process aborted by
//! `VANTAGE_PASSIVE_CRASH_AFTER` mid-run, then re-run, gives the tables of a clean run),
//! on SQLite and, when `VANTAGE_TEST_PG` is set, PostgreSQL.

use std::path::Path;
use std::process::{Command, Output};

use vantage_warehouse::testing::ScratchPostgres;

fn vantage(data: &Path, warehouse: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vantage"));
    c.arg("--data").arg(data).arg("-q");
    if let Some(w) = warehouse {
        c.arg("--warehouse").arg(w);
    }
    c.env_remove("VANTAGE_CONFIG")
        .env_remove("VANTAGE_WAREHOUSE")
        .env_remove("VANTAGE_DATA")
        .env_remove("VANTAGE_PASSIVE_CRASH_AFTER");
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("vantage runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn hash_reproduces_the_router_vectors() {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let v = vantage_testkit::read_json(&dir.join("vectors/anonymization.json"));
    let tmp = tempfile::tempdir().unwrap();
    for (i, k) in v["keys"].as_array().unwrap().iter().enumerate() {
        let key = tmp.path().join(format!("{i}.key"));
        let hex = k["key_hex"].as_str().unwrap();
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|j| u8::from_str_radix(&hex[2 * j..2 * j + 2], 16).unwrap())
            .collect();
        std::fs::write(&key, bytes).unwrap();
        let mut values = Vec::new();
        let mut want = vec![k["signature"].as_str().unwrap().to_string()];
        for ip in k["ips"].as_array().unwrap() {
            values.push(ip["ip"].as_str().unwrap().to_string());
            want.push(ip["big_endian_router"].as_str().unwrap().to_string());
        }
        for d in k["domains"].as_array().unwrap() {
            values.push(d["domain"].as_str().unwrap().to_string());
            want.push(d["hash"].as_str().unwrap().to_string());
        }
        for m in k["macs"].as_array().unwrap() {
            values.push(m["mac"].as_str().unwrap().to_string());
            want.push(m["hash"].as_str().unwrap().to_string());
        }
        let o = run(vantage(tmp.path(), None)
            .args(["--format", "csv", "passive", "hash", "--signature", "--key"])
            .arg(&key)
            .args(&values));
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        let got: Vec<String> = text(&o.stdout)
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect();
        assert_eq!(got, want);
        // Little-endian routers.
        let o = run(vantage(tmp.path(), None)
            .args(["--format", "csv", "passive", "hash", "--byte-order", "little", "--key"])
            .arg(&key)
            .arg("10.0.0.1"));
        let want = k["ips"][1]["little_endian_router"].as_str().unwrap();
        assert!(text(&o.stdout).contains(want), "{}", text(&o.stdout));
    }
}

#[test]
fn usage_errors_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(vantage(tmp.path(), None).args(["passive", "process", "--processor", "nonesuch"]));
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("unknown processor nonesuch"));
    let o = run(vantage(tmp.path(), None)
        .args(["passive", "ingest"])
        .arg(tmp.path().join("missing.tar")));
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("missing.tar"));
}

fn end_to_end(warehouse: Option<&str>) {
    let Some(dir) = vantage_testkit::conformance("passive") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let md5 = ["--set", "passive.node_id_hash=md5"];
    let round1 = dir.join("e2e/round1");
    let o = run(vantage(&data, warehouse)
        .args(md5)
        .args(["--format", "json", "passive", "ingest"])
        .arg(&round1));
    // The wrong-md5 tarball and the truncated one: exit 3, the rest ingested.
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("source(s) with rejected input"), "{}", text(&o.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let statuses: Vec<&str> =
        reports.as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "rejected").count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == "partial").count(), 1, "{statuses:?}");
    let o = run(vantage(&data, warehouse).args(md5).args(["passive", "process"]));
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let o = run(vantage(&data, warehouse).args(md5).args([
        "--format",
        "json",
        "passive",
        "sessions",
        "--blocked",
    ]));
    let blocked: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(blocked.as_array().unwrap().len(), 1, "{blocked}");
    assert_eq!(blocked[0]["state"], "waiting(gap 4)");
    // Again: everything is skipped, nothing rejected anew... except that a skipped source
    // is not an error.
    let o = run(vantage(&data, warehouse)
        .args(md5)
        .args(["--format", "json", "passive", "ingest"])
        .arg(&round1));
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("already ingested"));
    // The raw tarballs are in the archive, unchanged.
    let archived: Vec<_> = vantage_testkit::all_files(&data.join("archive/passive"));
    assert_eq!(archived.len(), 4, "{archived:?}");
}

#[test]
fn end_to_end_sqlite() {
    end_to_end(None);
}

#[test]
fn end_to_end_postgres() {
    let Some(pg) = ScratchPostgres::new() else { return };
    end_to_end(Some(&pg.url));
}

const TABLES: [&str; 8] = [
    "passive_bytes_per_minute",
    "passive_bytes_per_hour",
    "passive_bytes_per_device_per_domain_per_day",
    "passive_flow_statistics",
    "passive_update_statistics",
    "passive_lookups_per_device_per_hour",
    "passive_uptime_intervals",
    "passive_availability_ranges",
];

fn dump(data: &Path, warehouse: Option<&str>) -> String {
    let mut out = String::new();
    for t in TABLES {
        let o = run(vantage(data, warehouse)
            .args(["--format", "csv", "sql"])
            .arg(format!("SELECT * FROM {t}")));
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        let mut lines: Vec<String> = text(&o.stdout).lines().map(str::to_string).collect();
        lines.sort();
        out.push_str(&format!("{t}\n{}\n", lines.join("\n")));
    }
    out
}

fn crash_then_rerun(warehouse: &dyn Fn() -> Option<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    let o = run(vantage(tmp.path(), None)
        .args([
            "passive",
            "generate",
            "--routers",
            "2",
            "--sessions",
            "2",
            "--updates",
            "5",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&corpus));
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let clean = tmp.path().join("clean");
    let wc = warehouse();
    assert_eq!(
        code(&run(vantage(&clean, wc.as_deref()).args(["passive", "ingest"]).arg(&corpus))),
        0
    );
    assert_eq!(code(&run(vantage(&clean, wc.as_deref()).args(["passive", "process"]))), 0);
    let want = dump(&clean, wc.as_deref());
    assert!(want.lines().count() > 50, "{want}");
    for n in [1, 2, 3] {
        let data = tmp.path().join(format!("crash{n}"));
        std::fs::create_dir_all(&data).unwrap();
        std::fs::copy(clean.join("secret.key"), data.join("secret.key")).unwrap();
        let w = warehouse();
        let set = ["--set", "passive.chunk_updates=2"];
        assert_eq!(
            code(&run(vantage(&data, w.as_deref()).args(["passive", "ingest"]).arg(&corpus))),
            0
        );
        let o = run(vantage(&data, w.as_deref())
            .args(set)
            .args(["passive", "process", "--workers", "1"])
            .env("VANTAGE_PASSIVE_CRASH_AFTER", n.to_string()));
        assert!(!o.status.success(), "the hook must kill the run");
        assert!(text(&o.stderr).contains("VANTAGE_PASSIVE_CRASH_AFTER"), "{}", text(&o.stderr));
        let o = run(vantage(&data, w.as_deref()).args(["passive", "process"]));
        assert_eq!(code(&o), 0, "{}", text(&o.stderr));
        assert_eq!(dump(&data, w.as_deref()), want, "crash after {n} commits");
    }
}

#[test]
fn crash_then_rerun_sqlite() {
    crash_then_rerun(&|| None);
}

#[test]
fn crash_then_rerun_postgres() {
    if ScratchPostgres::new().is_none() {
        return;
    }
    let schemas = std::sync::Mutex::new(Vec::new());
    crash_then_rerun(&|| {
        let pg = ScratchPostgres::new()?;
        let url = pg.url.clone();
        schemas.lock().unwrap().push(pg);
        Some(url)
    });
}

#[test]
fn held_lock_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let data = vantage_core::DataDir::open(&tmp.path().join("data")).unwrap();
    let wh = vantage_warehouse::Warehouse::open(None, &data).unwrap();
    let _held = vantage_warehouse::Lock::acquire(&wh, &data, "passive").unwrap();
    let o = run(vantage(data.root(), None).args(["passive", "process"]));
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("passive"), "{}", text(&o.stderr));
}
