//! Centrifugation on real and generated report files, on SQLite and (when
//! `VANTAGE_TEST_PG` is set) PostgreSQL: flags, fingerprints and vendors stored as
//! expected.json says, views equal to their defining queries, re-runs that change nothing,
//! a failed bucket that leaves no trace, version bumps and fingerprint changes that
//! reprocess exactly their tables, and reingest that keeps the numbers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as J;
use sha2::{Digest, Sha256};
use vantage_core::{Bucket, DataDir};
use vantage_reports::centrifuge::{centrifuge_with, view_definitions, Versions, VIEWS};
use vantage_reports::{
    autoclave, can, centrifuge, ingest, load_fingerprints, run, show, ReportsConfig,
};
use vantage_testkit as testkit;
use vantage_warehouse::testing::ScratchPostgres;
use vantage_warehouse::{Sql, Warehouse};

struct Fixture {
    wh: Warehouse,
    data: DataDir,
    dir: tempfile::TempDir,
    pg: Option<ScratchPostgres>,
}

fn sqlite() -> Option<Fixture> {
    let dir = testkit::tempdir();
    let data = DataDir::open(&dir.path().join("data")).unwrap();
    let wh = Warehouse::open(None, &data).unwrap();
    Some(Fixture { wh, data, dir, pg: None })
}

fn postgres() -> Option<Fixture> {
    let pg = ScratchPostgres::new()?;
    let dir = testkit::tempdir();
    let data = DataDir::open(&dir.path().join("data")).unwrap();
    let wh = Warehouse::open(Some(&pg.url), &data).unwrap();
    Some(Fixture { wh, data, dir, pg: Some(pg) })
}

/// A second fixture of the same backend (for comparing two histories).
fn twin(f: &Fixture) -> Fixture {
    if f.pg.is_some() {
        postgres().unwrap()
    } else {
        sqlite().unwrap()
    }
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite_backend {
            $(#[test] fn $name() { if let Some(mut f) = super::sqlite() { super::$name(&mut f) } })*
        }
        mod postgres_backend {
            $(#[test] fn $name() { if let Some(mut f) = super::postgres() { super::$name(&mut f) } })*
        }
    };
}

on_both_backends!(
    fastpath_flags_fingerprints_and_vendors_are_stored,
    second_run_does_nothing_and_show_takes_msm_numbers,
    failed_bucket_then_rerun_gives_identical_tables,
    version_bump_reprocesses_only_the_feeders_tables,
    fingerprint_change_reprocesses_matching_and_scores,
    reingest_keeps_numbers,
);

fn cfg() -> ReportsConfig {
    ReportsConfig { min_free: 0, ..ReportsConfig::default() }
}

/// Tables centrifugation writes, compared whole.
const TABLES: &[&str] = &[
    "reports_autoclaved",
    "reports_report",
    "reports_measurement",
    "reports_input",
    "reports_software",
    "reports_domain",
    "reports_residual",
    "reports_tcp",
    "reports_dns_a",
    "reports_vanilla_tor",
    "reports_http_control",
    "reports_http_request",
    "reports_http_request_fp",
    "reports_http_verdict",
    "reports_vendor",
    "reports_badmeta",
    "reports_badrow",
    "reports_counter",
    "reports_blockpage_count",
    "reports_blockpage_urls",
    "reports_country_counts",
    "reports_identified_vendors",
];

/// Row count and content hash (rows as text, sorted) of a query.
fn digest_of(wh: &mut Warehouse, sql: &str) -> (usize, String) {
    let r = wh.query(sql, &[]).unwrap();
    let mut rows: Vec<String> = r
        .rows
        .iter()
        .map(|row| row.iter().map(|v| v.to_text()).collect::<Vec<_>>().join("\u{1f}"))
        .collect();
    rows.sort();
    let mut h = Sha256::new();
    for row in &rows {
        h.update(row.as_bytes());
        h.update(b"\n");
    }
    (rows.len(), hex::encode(h.finalize()))
}

fn digests(wh: &mut Warehouse) -> BTreeMap<&'static str, (usize, String)> {
    TABLES.iter().map(|t| (*t, digest_of(wh, &format!("SELECT * FROM {t}")))).collect()
}

/// Each view table equals its defining query.
fn assert_views_current(wh: &mut Warehouse) {
    for (table, sql) in view_definitions() {
        let kept = digest_of(wh, &format!("SELECT * FROM {table}"));
        let defined = digest_of(wh, &sql);
        assert_eq!(kept, defined, "{table} differs from its defining query");
    }
    assert_eq!(VIEWS.len(), 4);
}

fn count(wh: &mut Warehouse, sql: &str) -> i64 {
    wh.query_i64(sql, &[]).unwrap().unwrap_or(-1)
}

fn load_csvs(f: &mut Fixture, dir: &Path) {
    for csv in ["fingerprints_dns.csv", "fingerprints_http.csv"] {
        let s = load_fingerprints(&mut f.wh, &dir.join("fingerprints").join(csv)).unwrap();
        assert!(s.rows > 200, "{s:?}");
    }
}

/// Every fastpath measurement as a one-line report file in bucket 2020-01-01 (ingest
/// names it from its first record), plus the synthetic reports under their buckets.
fn stage_conformance(f: &Fixture) -> Option<PathBuf> {
    let dir = testkit::conformance("reports")?;
    let inbox = f.dir.path().join("in");
    let day = inbox.join("2020-01-01");
    std::fs::create_dir_all(&day).unwrap();
    for file in testkit::files(&dir.join("fastpath"), "json") {
        let v = vantage_reports::json::parse(&std::fs::read(&file).unwrap()).unwrap();
        let mut line = vantage_reports::json::to_string(&v);
        line.push('\n');
        std::fs::write(day.join(file.file_name().unwrap()), line).unwrap();
    }
    let cases = testkit::read_json(&dir.join("expected.json"));
    for file in testkit::files(&dir.join("synthetic"), "yaml")
        .into_iter()
        .chain(testkit::files(&dir.join("synthetic"), "json"))
    {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let bucket = cases["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["file"].as_str().is_some_and(|p| p.ends_with(&name)))
            .and_then(|c| c["call"]["bucket"].as_str())
            .unwrap_or("2019-07-20")
            .to_string();
        std::fs::create_dir_all(inbox.join(&bucket)).unwrap();
        std::fs::copy(&file, inbox.join(&bucket).join(&name)).unwrap();
    }
    Some(dir)
}

fn front_half(f: &mut Fixture, paths: &[PathBuf]) {
    ingest(&f.data, &mut f.wh, paths, None).unwrap();
    can(&f.data, &mut f.wh, &cfg(), None).unwrap();
    autoclave(&f.data, &mut f.wh, &cfg(), None, false).unwrap();
}

/// A generated corpus over two days (seeded: the same bytes every time).
fn stage_generated(f: &Fixture, bytes: u64) -> PathBuf {
    let out = f.dir.path().join("gen");
    for (seed, day) in [(3, "2021-06-01"), (4, "2021-06-02")] {
        vantage_reports::generate::corpus(&out, bytes, seed, Bucket::parse(day).unwrap()).unwrap();
    }
    out
}

/// The stored flags, matches and vendors of the measurement from a fastpath file.
fn stored(f: &mut Fixture, file: &str) -> Option<(J, Vec<String>, Vec<String>)> {
    let r = f
        .wh
        .query(
            "SELECT m.msm_no, m.anomaly, m.confirmed, m.msm_failure FROM reports_file x
             JOIN reports_report r ON r.textname = x.textname JOIN reports_measurement m ON m.report_no = r.report_no
             WHERE x.original LIKE ?",
            &[format!("%/{file}").into()],
        )
        .unwrap();
    let row = r.rows.first()?;
    let no = row[0].as_i64().unwrap();
    let b = |i: usize| J::Bool(row[i].as_i64() == Some(1));
    let flags = serde_json::json!({"anomaly": b(1), "confirmed": b(2), "failure": b(3)});
    let names = f
        .wh
        .query(
            "SELECT f.name FROM reports_http_request_fp p JOIN reports_fingerprint f ON f.fingerprint_no = p.fingerprint_no WHERE p.msm_no = ? ORDER BY f.name",
            &[no.into()],
        )
        .unwrap();
    let vendors = f
        .wh
        .query("SELECT vendor FROM reports_vendor WHERE msm_no = ? ORDER BY vendor", &[no.into()])
        .unwrap();
    Some((
        flags,
        names.rows.iter().map(|r| r[0].to_text()).collect(),
        vendors.rows.iter().map(|r| r[0].to_text()).collect(),
    ))
}

fn fastpath_flags_fingerprints_and_vendors_are_stored(f: &mut Fixture) {
    let Some(dir) = stage_conformance(f) else { return };
    load_csvs(f, &dir);
    front_half(f, &[f.dir.path().join("in")]);
    let s = centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    assert!(s.measurements() >= 30, "{s:?}");
    let cases = testkit::read_json(&dir.join("expected.json"));
    let (mut checked, mut failed) = (0, Vec::new());
    for case in cases["cases"].as_array().unwrap() {
        let (Some(file), Some(field)) = (case["file"].as_str(), case["field"].as_str()) else {
            continue;
        };
        if !file.starts_with("fastpath/") || !file.ends_with(".json") {
            continue;
        }
        let name = file.trim_start_matches("fastpath/");
        let Some((flags, fps, vendors)) = stored(f, name) else {
            failed.push(format!("{file}: no measurement row"));
            continue;
        };
        let got = match field {
            "flags" => flags,
            "fingerprint_matches" => {
                let mut want: Vec<String> = case["expected"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect();
                want.sort();
                want.dedup();
                checked += 1;
                if fps != want {
                    failed.push(format!("{file}: matches {fps:?}, want {want:?}"));
                }
                continue;
            }
            "vendors" => J::from(vendors),
            _ => continue,
        };
        checked += 1;
        if got != case["expected"] {
            failed.push(format!("{file} {field}: got {got}, want {}", case["expected"]));
        }
    }
    assert!(checked >= 30, "only {checked} cases");
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    // yaml16_0.json and its synthetic rebuild each have one Tor request: http_control rows.
    assert_eq!(count(&mut f.wh, "SELECT COUNT(*) FROM reports_http_control WHERE is_tor = 1"), 2);
    // Every web_connectivity measurement has a verdict row; probes' verdicts say so.
    let wc = count(&mut f.wh, "SELECT COUNT(*) FROM reports_measurement m JOIN reports_report r ON r.report_no = m.report_no WHERE r.test_name = 'web_connectivity'");
    assert_eq!(count(&mut f.wh, "SELECT COUNT(*) FROM reports_http_verdict"), wc);
    assert!(
        count(
            &mut f.wh,
            "SELECT COUNT(*) FROM reports_http_verdict WHERE blocking_source = 'probe'"
        ) > 10
    );
    // The two confirmed IR/ID measurements are blocked in the views.
    assert!(count(&mut f.wh, "SELECT COUNT(*) FROM reports_blockpage_urls") >= 3);
    assert_views_current(&mut f.wh);
    // Badblobs are only read: centrifugation leaves them as autoclave wrote them.
    assert_eq!(count(&mut f.wh, "SELECT COUNT(*) FROM reports_badblob"), 4);
}

fn second_run_does_nothing_and_show_takes_msm_numbers(f: &mut Fixture) {
    let gen = stage_generated(f, 1 << 20);
    let drop = f.data.inbox("reports").unwrap().join("drop");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::rename(&gen, drop.join("gen")).unwrap();
    let first = run(&f.data, &mut f.wh, &cfg()).unwrap();
    assert!(first.centrifuge.measurements() > 100, "{:?}", first.centrifuge);
    assert_eq!(first.centrifuge.buckets, ["2021-06-01", "2021-06-02"]);
    let before = digests(&mut f.wh);
    let second = run(&f.data, &mut f.wh, &cfg()).unwrap();
    assert!(second.centrifuge.files.is_empty(), "{:?}", second.centrifuge);
    assert_eq!(digests(&mut f.wh), before);
    assert_views_current(&mut f.wh);
    // msm:<n> shows the measurement whose number it is.
    let r =
        f.wh.query("SELECT msm_no, measurement_uid FROM reports_measurement ORDER BY msm_no", &[])
            .unwrap();
    assert_eq!(r.rows[0][0].as_i64(), Some(1), "numbers start at 1");
    let last = r.rows.last().unwrap();
    assert_eq!(last[0].as_i64(), Some(r.rows.len() as i64), "numbers are dense");
    let line = show(&f.data, &mut f.wh, &format!("msm:{}", last[0].to_text())).unwrap();
    let by_uid = show(&f.data, &mut f.wh, &last[1].to_text()).unwrap();
    assert_eq!(line, by_uid);
    assert!(show(&f.data, &mut f.wh, "msm:999999999").is_err());
    assert!(show(&f.data, &mut f.wh, "msm:x").is_err());
}

fn failed_bucket_then_rerun_gives_identical_tables(f: &mut Fixture) {
    let gen = stage_generated(f, 1 << 20);
    front_half(f, std::slice::from_ref(&gen));
    // A clean run elsewhere gives the reference tables.
    let mut g = twin(f);
    front_half(&mut g, &[gen]);
    centrifuge(&g.data, &mut g.wh, None, false).unwrap();
    let want = digests(&mut g.wh);
    // Here the second bucket fails half-way (an unreadable clean can): the first commits,
    // the second leaves nothing.
    let day2 = f.data.clean("reports").unwrap().join("2021-06-02");
    let victim = testkit::files(&day2, "lz4").into_iter().last().unwrap();
    let saved = std::fs::read(&victim).unwrap();
    let mut perms = std::fs::metadata(&victim).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&victim, perms.clone()).unwrap();
    std::fs::write(&victim, &saved[..saved.len() / 2]).unwrap();
    assert!(centrifuge(&f.data, &mut f.wh, None, false).is_err());
    assert_eq!(
        count(
            &mut f.wh,
            "SELECT COUNT(*) FROM reports_autoclaved WHERE bucket_date = '2021-06-02'"
        ),
        0
    );
    assert!(
        count(
            &mut f.wh,
            "SELECT COUNT(*) FROM reports_autoclaved WHERE bucket_date = '2021-06-01'"
        ) > 0
    );
    std::fs::write(&victim, &saved).unwrap();
    centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    assert_eq!(digests(&mut f.wh), want);
    assert_views_current(&mut f.wh);
}

fn version_bump_reprocesses_only_the_feeders_tables(f: &mut Fixture) {
    let gen = stage_generated(f, 1 << 20);
    front_half(f, &[gen]);
    centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    let clean = digests(&mut f.wh);
    assert!(clean["reports_tcp"].0 > 0 && clean["reports_dns_a"].0 > 0, "{clean:?}");
    // Damage one row of each of two feeders' tables: only the bumped feeder repairs its own.
    f.wh.execute("UPDATE reports_tcp SET ip = 'damaged'", &[]).unwrap();
    f.wh.execute("UPDATE reports_dns_a SET resolver_hostname = 'damaged'", &[]).unwrap();
    let damaged = digests(&mut f.wh);
    let mut v = Versions { code_ver: 2, ..Versions::default() };
    v.min_compat.insert("tcp", 2);
    let s = centrifuge_with(&f.data, &mut f.wh, None, false, &v).unwrap();
    assert!(!s.files.is_empty());
    assert!(
        s.files.iter().all(|l| l.action == "reprocess" && l.feeders == ["tcp"]),
        "{:?}",
        s.files
    );
    let after = digests(&mut f.wh);
    for t in TABLES {
        match *t {
            "reports_tcp" => assert_eq!(after[t], clean[t], "tcp rebuilt"),
            "reports_autoclaved" => assert_ne!(after[t], damaged[t], "code_ver recorded"),
            _ => assert_eq!(after[t], damaged[t], "{t} untouched"),
        }
    }
    assert_eq!(count(&mut f.wh, "SELECT COUNT(*) FROM reports_autoclaved WHERE code_ver <> 2"), 0);
    // Once recorded, nothing more to do; an older vantage refuses the newer files.
    assert!(centrifuge_with(&f.data, &mut f.wh, None, false, &v).unwrap().files.is_empty());
    let e = centrifuge(&f.data, &mut f.wh, Some(Bucket::parse("2021-06-01").unwrap()), false)
        .unwrap_err();
    assert!(e.to_string().contains("newer than this vantage"), "{e}");
    // --reprocess at version 2 runs every feeder and repairs dns_a too.
    centrifuge_with(&f.data, &mut f.wh, None, true, &v).unwrap();
    let full = digests(&mut f.wh);
    for t in TABLES.iter().filter(|t| **t != "reports_autoclaved") {
        assert_eq!(full[t], clean[t], "{t} after --reprocess");
    }
    assert_views_current(&mut f.wh);
}

fn fingerprint_change_reprocesses_matching_and_scores(f: &mut Fixture) {
    let Some(dir) = stage_conformance(f) else { return };
    load_csvs(f, &dir);
    front_half(f, &[f.dir.path().join("in")]);
    centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    let before = digests(&mut f.wh);
    let confirmed =
        count(&mut f.wh, "SELECT COUNT(*) FROM reports_measurement WHERE confirmed = 1");
    assert!(confirmed >= 3);
    // A dns file without the IR fingerprints: two measurements lose their confirmation.
    let src = std::fs::read_to_string(dir.join("fingerprints/fingerprints_dns.csv")).unwrap();
    let kept: Vec<&str> = src.lines().filter(|l| !l.starts_with("ooni.ir_")).collect();
    let csv = f.dir.path().join("dns_without_ir.csv");
    std::fs::write(&csv, kept.join("\n") + "\n").unwrap();
    load_fingerprints(&mut f.wh, &csv).unwrap();
    let s = centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    assert!(
        s.files
            .iter()
            .all(|l| l.action == "reprocess" && l.feeders == ["http_request_fp", "score"]),
        "{:?}",
        s.files
    );
    assert_eq!(
        count(&mut f.wh, "SELECT COUNT(*) FROM reports_measurement WHERE confirmed = 1"),
        confirmed - 2
    );
    let after = digests(&mut f.wh);
    for t in [
        "reports_tcp",
        "reports_dns_a",
        "reports_http_request",
        "reports_http_verdict",
        "reports_vendor",
        "reports_report",
    ] {
        assert_eq!(after[t], before[t], "{t} untouched by a fingerprint change");
    }
    assert_views_current(&mut f.wh);
    // The original file back: the tables return to what they were.
    load_fingerprints(&mut f.wh, &dir.join("fingerprints/fingerprints_dns.csv")).unwrap();
    centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    let back = digests(&mut f.wh);
    for t in TABLES.iter().filter(|t| **t != "reports_autoclaved") {
        assert_eq!(back[t], before[t], "{t}");
    }
    // A bad file is refused with its line and changes nothing.
    let bad = f.dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        format!("{}\nx,bogus,,dns,full,1.2.3.4,5,,s,,\n", src.lines().next().unwrap()),
    )
    .unwrap();
    let e = load_fingerprints(&mut f.wh, &bad).unwrap_err().to_string();
    assert!(e.contains("bad.csv:2: scope"), "{e}");
}

fn reingest_keeps_numbers(f: &mut Fixture) {
    let gen = stage_generated(f, 1 << 20);
    front_half(f, &[gen]);
    centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    let before = digests(&mut f.wh);
    // A clean can whose sha1 differs from the one centrifuged (as after a re-clean).
    let r = f.wh.query("SELECT filename FROM reports_autoclaved ORDER BY filename", &[]).unwrap();
    let victim = r.rows[0][0].to_text();
    f.wh.execute(
        "UPDATE reports_autoclaved SET file_sha1 = 'old' WHERE filename = ?",
        &[victim.as_str().into()],
    )
    .unwrap();
    let s = centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    assert_eq!(s.files.len(), 1);
    assert_eq!(s.files[0].action, "reingest");
    assert_eq!(digests(&mut f.wh), before, "same numbers, same rows, no duplicates");
    // Redacting one report rewrites its can: the others keep their msm_no.
    let nos = |wh: &mut Warehouse| -> BTreeMap<String, i64> {
        let r = wh.query("SELECT measurement_uid, msm_no FROM reports_measurement", &[]).unwrap();
        r.rows.iter().map(|r| (r[0].to_text(), r[1].as_i64().unwrap())).collect()
    };
    let old = nos(&mut f.wh);
    let r = f
        .wh
        .query(
            "SELECT textname FROM reports_report WHERE autoclaved_no IN
             (SELECT autoclaved_no FROM reports_report GROUP BY autoclaved_no HAVING COUNT(*) > 1) ORDER BY textname",
            &[],
        )
        .unwrap();
    let gone = r.rows[0][0].to_text();
    vantage_reports::redact(&f.data, &mut f.wh, &cfg(), std::slice::from_ref(&gone), "test", false)
        .unwrap();
    let s = centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    assert!(s.files.iter().any(|l| l.action == "reingest"), "{:?}", s.files);
    let new = nos(&mut f.wh);
    assert!(new.len() < old.len());
    for (uid, no) in &new {
        assert_eq!(old.get(uid), Some(no), "{uid} renumbered");
    }
    assert_eq!(
        count(&mut f.wh, &format!("SELECT COUNT(*) FROM reports_report WHERE textname = '{gone}'")),
        0
    );
    assert_views_current(&mut f.wh);
}
