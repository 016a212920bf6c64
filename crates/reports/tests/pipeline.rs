//! Ingest → can → autoclave → show on real report files, on SQLite and (when
//! `VANTAGE_TEST_PG` is set) PostgreSQL: one suite, two backends.

use std::path::{Path, PathBuf};

use vantage_core::{Bucket, DataDir};
use vantage_reports::{
    autoclave, can, centrifuge, ingest, kept_versions, redact, run, show, ReportsConfig,
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

impl Fixture {
    /// A second connection on the same data directory and database (a "re-run").
    fn reopen(&self) -> Warehouse {
        Warehouse::open(self.pg.as_ref().map(|p| p.url.as_str()), &self.data).unwrap()
    }
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
    synthetic_reports_round_trip,
    duplicates_are_skipped_and_clashes_quarantined,
    rerun_verifies_and_reclean_is_byte_identical,
    reclean_stopped_before_its_swap_is_finished_by_the_next_reader,
    small_cans_slice_by_the_greedy_rule,
    crash_after_publish_is_adopted,
    low_disk_is_refused_before_writing,
    redaction_round_trip,
    archives_and_compressed_inputs,
    run_takes_the_drop_directory_and_a_second_run_does_nothing,
);

fn cfg() -> ReportsConfig {
    ReportsConfig::default()
}

/// The synthetic report files, each copied under a bucket directory of the fixture.
fn stage_synthetic(f: &Fixture) -> Option<Vec<(String, PathBuf)>> {
    let dir = testkit::conformance("reports")?;
    let cases = testkit::read_json(&dir.join("expected.json"));
    let mut out = Vec::new();
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
            .unwrap_or("2020-01-01")
            .to_string();
        let d = f.dir.path().join("in").join(&bucket);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(&file, d.join(&name)).unwrap();
        out.push((bucket, d.join(&name)));
    }
    Some(out)
}

/// The synthetic reports staged, ingested, canned and autoclaved; the clean directory.
fn cleaned_synthetic(f: &mut Fixture) -> Option<PathBuf> {
    stage_synthetic(f)?;
    ingest(&f.data, &mut f.wh, &[f.dir.path().join("in")], None).unwrap();
    can(&f.data, &mut f.wh, &cfg(), None).unwrap();
    autoclave(&f.data, &mut f.wh, &cfg(), None, false).unwrap();
    Some(f.data.clean("reports").unwrap())
}

fn count(wh: &mut Warehouse, sql: &str) -> i64 {
    wh.query_i64(sql, &[]).unwrap().unwrap_or(-1)
}

fn tree_digest(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = testkit::files(dir, "lz4")
        .into_iter()
        .chain(testkit::files(dir, "jsonl"))
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().display().to_string(),
                vantage_core::hash::sha1_hex(&std::fs::read(&p).unwrap()),
            )
        })
        .collect();
    out.sort();
    out
}

fn synthetic_reports_round_trip(f: &mut Fixture) {
    let Some(staged) = stage_synthetic(f) else { return };
    let s = ingest(&f.data, &mut f.wh, &[f.dir.path().join("in")], None).unwrap();
    assert_eq!(s.accepted(), staged.len(), "{:?}", s.files);
    // Buckets come from the directory names.
    for (bucket, path) in &staged {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(f.data.inbox("reports").unwrap().join(bucket).join(&name).is_file());
    }
    let c = can(&f.data, &mut f.wh, &cfg(), None).unwrap();
    assert_eq!(c.cans.len(), staged.len(), "one small report per test name per bucket: each alone");
    assert!(testkit::files(&f.data.inbox("reports").unwrap(), "yaml").is_empty(), "inbox emptied");
    let a = autoclave(&f.data, &mut f.wh, &cfg(), None, false).unwrap();
    // 2016 and 2017 files: 1 datum each; the 2015 one: 2 datums, 2 badblobs; JSON: 2 + 2.
    assert_eq!(a.datums(), 6, "{:?}", a.cans);
    assert_eq!(a.badblobs(), 4);
    assert_eq!(count(&mut f.wh, "SELECT COUNT(*) FROM reports_badblob"), 4);
    let infos =
        f.wh.query("SELECT info FROM reports_badblob ORDER BY textname, src_off", &[]).unwrap();
    let infos: Vec<String> = infos.rows.iter().map(|r| r[0].to_text()).collect();
    assert_eq!(infos, ["broken_frame", "truncated", "broken_frame", "truncated"]);
    // Every datum reads back with show, equal to the clean can's record.
    let locs =
        f.wh.query("SELECT uid, id, bucket, can FROM reports_datum_locator ORDER BY uid", &[])
            .unwrap();
    assert_eq!(locs.rows.len(), 6);
    for r in &locs.rows {
        let line = show(&f.data, &mut f.wh, &r[0].to_text()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["id"].as_str(), Some(r[1].to_text().as_str()));
        assert_eq!(v["bucket_date"].as_str(), Some(r[2].to_text().as_str()));
    }
    // The two JSON datums share their client id: show by id lists both uids.
    let shared =
        f.wh.query("SELECT id FROM reports_datum_locator GROUP BY id HAVING COUNT(*) > 1", &[])
            .unwrap();
    assert_eq!(shared.rows.len(), 1);
    let e = show(&f.data, &mut f.wh, &shared.rows[0][0].to_text()).unwrap_err().to_string();
    assert!(e.contains("shared by 2"), "{e}");
    assert!(show(&f.data, &mut f.wh, "nope").is_err());
    // Raw and clean cans verify.
    for can in testkit::files(&f.data.root().join("archive"), "lz4")
        .into_iter()
        .chain(testkit::files(&f.data.root().join("clean"), "lz4"))
    {
        vantage_can::verify(&can).unwrap_or_else(|e| panic!("{e}"));
    }
    // The manifest lists each can with its reports.
    for (bucket, _) in &staged {
        let m = std::fs::read_to_string(
            f.data.archive("reports").unwrap().join(bucket).join("index.jsonl"),
        )
        .unwrap();
        let line: serde_json::Value = serde_json::from_str(m.lines().next().unwrap()).unwrap();
        assert_eq!(line["canned"].as_array().unwrap().len(), 1);
        assert!(line["filename"].as_str().unwrap().starts_with(bucket.as_str()));
    }
}

fn duplicates_are_skipped_and_clashes_quarantined(f: &mut Fixture) {
    let d = f.dir.path().join("in/2021-03-04");
    std::fs::create_dir_all(&d).unwrap();
    let name = "20210304T000000Z-IT-AS3269-ndt-20210304T000000Z_ndt_IT_3269_n1_x-0.2.0-probe.json";
    std::fs::write(d.join(name), b"{\"test_name\":\"ndt\"}\n").unwrap();
    let s = ingest(&f.data, &mut f.wh, &[d.join(name)], None).unwrap();
    assert_eq!(s.accepted(), 1);
    let again = ingest(&f.data, &mut f.wh, &[d.join(name)], None).unwrap();
    assert_eq!(again.files[0].status, "duplicate");
    // Same name, other content, same bucket: name clash.
    let other = f.dir.path().join("in/other/2021-03-04");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join(name), b"{\"test_name\":\"ndt\",\"x\":1}\n").unwrap();
    let clash = ingest(&f.data, &mut f.wh, &[other.join(name)], None).unwrap();
    assert_eq!(clash.quarantined(), 1);
    assert!(clash.files[0].reason.as_deref().unwrap().contains("name clash"));
    assert_eq!(
        count(&mut f.wh, "SELECT COUNT(*) FROM catalog_quarantine WHERE reason = 'name_clash'"),
        1
    );
    // A corrupt gzip is quarantined; the rest of the batch goes on.
    let bad = f.dir.path().join("in/2021-03-05");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("x.json.gz"), b"not gzip").unwrap();
    std::fs::write(
        bad.join("plain.json"),
        b"{\"test_name\":\"web_connectivity\",\"probe_cc\":\"DE\"}\n",
    )
    .unwrap();
    let s = ingest(&f.data, &mut f.wh, &[bad], None).unwrap();
    assert_eq!((s.accepted(), s.quarantined()), (1, 1), "{:?}", s.files);
    let renamed = s.files.iter().find(|l| l.status == "accepted").unwrap().name.clone().unwrap();
    assert!(
        renamed.contains("-DE-AS0-web_connectivity-no_report_id-0.2.0-probe.json"),
        "{renamed}"
    );
    // --bucket wins over the directory.
    let b = Bucket::parse("2000-01-01").unwrap();
    let n = f.dir.path().join("in/2021-03-06");
    std::fs::create_dir_all(&n).unwrap();
    std::fs::write(n.join("y.json"), b"{\"test_name\":\"dash\"}\n").unwrap();
    let s = ingest(&f.data, &mut f.wh, &[n], Some(b)).unwrap();
    assert_eq!(s.files[0].bucket.as_deref(), Some("2000-01-01"));
}

fn rerun_verifies_and_reclean_is_byte_identical(f: &mut Fixture) {
    let Some(clean) = cleaned_synthetic(f) else { return };
    let before = tree_digest(&clean);
    let rows_before = count(&mut f.wh, "SELECT COUNT(*) FROM reports_datum_locator");
    // A second run has nothing to do.
    let mut wh2 = f.reopen();
    assert!(can(&f.data, &mut wh2, &cfg(), None).unwrap().cans.is_empty());
    assert!(autoclave(&f.data, &mut wh2, &cfg(), None, false).unwrap().cans.is_empty());
    // --reclean rebuilds every bucket: same bytes, same rows.
    let r = autoclave(&f.data, &mut wh2, &cfg(), None, true).unwrap();
    assert_eq!(r.recleaned.len(), 4);
    assert_eq!(tree_digest(&clean), before);
    assert_eq!(count(&mut wh2, "SELECT COUNT(*) FROM reports_datum_locator"), rows_before);
    assert!(!clean.read_dir().unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".new")));
}

/// A reclean that committed its rows but stopped before swapping directories leaves the
/// recorded cans in `<bucket>.new`: the next reader (centrifuge here) moves them in
/// instead of reading the live tree the rows no longer describe; a `.new` the rows do
/// not describe is thrown away.
fn reclean_stopped_before_its_swap_is_finished_by_the_next_reader(f: &mut Fixture) {
    let Some(clean) = cleaned_synthetic(f) else { return };
    let recorded = tree_digest(&clean);
    let bucket = clean.read_dir().unwrap().next().unwrap().unwrap().file_name();
    let bucket = bucket.to_string_lossy().into_owned();
    let (live, new) = (clean.join(&bucket), clean.join(format!("{bucket}.new")));
    // The recorded tree waits in .new; the live tree is one the rows do not describe.
    std::fs::create_dir_all(&new).unwrap();
    for e in live.read_dir().unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, new.join(p.file_name().unwrap())).unwrap();
    }
    let cans = testkit::files(&live, "lz4");
    std::fs::write(&cans[0], b"not the recorded can").unwrap();
    centrifuge(&f.data, &mut f.wh, None, false).unwrap();
    assert!(!new.exists(), "the recorded tree was moved in");
    assert_eq!(tree_digest(&clean), recorded);
    // A .new that the rows do not describe (unrecorded work) goes, the live tree stays.
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(new.join(cans[0].file_name().unwrap()), b"unrecorded").unwrap();
    let mut wh2 = f.reopen();
    let only = Bucket::parse(&bucket).unwrap();
    autoclave(&f.data, &mut wh2, &cfg(), Some(only), false).unwrap();
    assert!(!new.exists());
    assert_eq!(tree_digest(&clean), recorded);
}

fn small_cans_slice_by_the_greedy_rule(f: &mut Fixture) {
    let d = f.dir.path().join("in/2022-02-02");
    std::fs::create_dir_all(&d).unwrap();
    for i in 0..5 {
        let name = format!("20220202T00000{i}Z-IT-AS3269-web_connectivity-20220202T000000Z_wc_IT_3269_n1_r{i}-0.2.0-probe.json");
        let line = format!(
            "{{\"test_name\":\"web_connectivity\",\"input\":\"http://e{i}.com\",\"pad\":\"{}\"}}\n",
            "x".repeat(300)
        );
        std::fs::write(d.join(name), line).unwrap();
    }
    ingest(&f.data, &mut f.wh, std::slice::from_ref(&d), None).unwrap();
    let config = ReportsConfig { can_size: 800, ..cfg() };
    let c = can(&f.data, &mut f.wh, &config, None).unwrap();
    let names: Vec<&str> = c.cans.iter().map(|c| c.filename.as_str()).collect();
    // ~350 bytes each, 800 per slice: [0,1] [2,3] then 4 alone.
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"2022-02-02/web_connectivity.0.tar.lz4"));
    assert!(names.contains(&"2022-02-02/web_connectivity.1.tar.lz4"));
    let a = autoclave(&f.data, &mut f.wh, &config, None, false).unwrap();
    assert_eq!(a.datums(), 5);
    // tar -I lz4 can extract a can when lz4 is installed.
    if std::process::Command::new("lz4").arg("--version").output().is_ok() {
        let out = f.dir.path().join("x");
        std::fs::create_dir_all(&out).unwrap();
        for can in testkit::files(&f.data.root().join("clean"), "lz4") {
            let st = std::process::Command::new("tar")
                .args(["-I", "lz4", "-xf"])
                .arg(&can)
                .arg("-C")
                .arg(&out)
                .status()
                .unwrap();
            assert!(st.success(), "{}", can.display());
        }
        assert_eq!(testkit::files(&out, "json").len(), 5);
        // Raw cans give back the reports byte for byte.
        let raw = f.dir.path().join("raw");
        std::fs::create_dir_all(&raw).unwrap();
        for can in testkit::files(&f.data.root().join("archive"), "lz4") {
            let st = std::process::Command::new("tar")
                .args(["-I", "lz4", "-xf"])
                .arg(&can)
                .arg("-C")
                .arg(&raw)
                .status()
                .unwrap();
            assert!(st.success(), "{}", can.display());
        }
        for p in testkit::files(&d, "json") {
            let name = p.file_name().unwrap();
            assert_eq!(
                std::fs::read(raw.join("2022-02-02").join(name)).unwrap(),
                std::fs::read(&p).unwrap()
            );
        }
    }
}

fn crash_after_publish_is_adopted(f: &mut Fixture) {
    let Some(_) = stage_synthetic(f) else { return };
    ingest(&f.data, &mut f.wh, &[f.dir.path().join("in")], None).unwrap();
    can(&f.data, &mut f.wh, &cfg(), None).unwrap();
    let archive = f.data.archive("reports").unwrap();
    let cans_before = tree_digest(&archive);
    // Simulate "published but not recorded": forget the rows and put the inbox back.
    let files = f.wh.query("SELECT bucket, name FROM reports_file", &[]).unwrap();
    for r in &files.rows {
        let (bucket, name) = (r[0].to_text(), r[1].to_text());
        let can = archive.join(&bucket).join(format!("{name}.tar.lz4"));
        let bytes =
            vantage_can::Can::open(&can).unwrap().read_member(&format!("{bucket}/{name}")).unwrap();
        let d = f.data.inbox("reports").unwrap().join(&bucket);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(&name), bytes).unwrap();
    }
    f.wh.batch("DELETE FROM reports_can; UPDATE reports_file SET state = 'inbox', can = NULL")
        .unwrap();
    let c = can(&f.data, &mut f.wh, &cfg(), None).unwrap();
    assert!(c.cans.iter().all(|l| l.action == "adopted"), "{:?}", c.cans);
    assert_eq!(tree_digest(&archive), cans_before);
}

fn low_disk_is_refused_before_writing(f: &mut Fixture) {
    let Some(_) = stage_synthetic(f) else { return };
    ingest(&f.data, &mut f.wh, &[f.dir.path().join("in")], None).unwrap();
    let config = ReportsConfig { min_free: u64::MAX / 4, ..cfg() };
    let e = can(&f.data, &mut f.wh, &config, None).unwrap_err();
    assert_eq!(vantage_core::HasExit::exit(&e), vantage_core::Exit::Storage, "{e}");
    assert!(testkit::files(&f.data.root().join("archive"), "lz4").is_empty(), "nothing written");
    // Pending work is visible to `vantage status`.
    let pending =
        f.wh.query_i64(
            "SELECT COUNT(*) FROM catalog_partitions WHERE kind = 'reports' AND state = 'pending'",
            &[],
        )
        .unwrap();
    assert_eq!(pending, Some(4));
    can(&f.data, &mut f.wh, &cfg(), None).unwrap();
    let e = autoclave(&f.data, &mut f.wh, &config, None, false).unwrap_err();
    assert_eq!(vantage_core::HasExit::exit(&e), vantage_core::Exit::Storage);
    autoclave(&f.data, &mut f.wh, &cfg(), None, false).unwrap();
    let done =
        f.wh.query_i64(
            "SELECT COUNT(*) FROM catalog_partitions WHERE kind = 'reports' AND state = 'done'",
            &[],
        )
        .unwrap();
    assert_eq!(done, Some(8), "can and autoclave done for 4 buckets");
}

fn redaction_round_trip(f: &mut Fixture) {
    let d = f.dir.path().join("in/2022-02-03");
    std::fs::create_dir_all(&d).unwrap();
    let mut names = Vec::new();
    for i in 0..3 {
        let name = format!("20220203T00000{i}Z-IT-AS3269-web_connectivity-20220203T000000Z_wc_IT_3269_n1_r{i}-0.2.0-probe.json");
        std::fs::write(
            d.join(&name),
            format!(
                "{{\"test_name\":\"web_connectivity\",\"input\":\"http://secret{i}.example/\"}}\n"
            ),
        )
        .unwrap();
        names.push(format!("2022-02-03/{name}"));
    }
    ingest(&f.data, &mut f.wh, &[d], None).unwrap();
    can(&f.data, &mut f.wh, &cfg(), None).unwrap();
    autoclave(&f.data, &mut f.wh, &cfg(), None, false).unwrap();
    let archive = f.data.archive("reports").unwrap().join("2022-02-03");
    let slice = archive.join("web_connectivity.0.tar.lz4");
    let old_sha1 = vantage_core::hash::sha1_hex(&std::fs::read(&slice).unwrap());
    let s = redact(&f.data, &mut f.wh, &cfg(), &names[1..2], "PII in input", false).unwrap();
    assert_eq!(s.redacted.len(), 1);
    assert_eq!(s.redacted[0].old_sha1, old_sha1);
    // The old version's checksums are in the audit log; the old file is kept.
    assert_eq!(
        f.wh.query("SELECT old_file_sha1, reason FROM reports_redaction", &[]).unwrap().rows[0][0]
            .to_text(),
        old_sha1
    );
    assert_eq!(kept_versions(&archive).len(), 1);
    // The new raw can verifies and lacks the member; the clean data lack its datum.
    vantage_can::verify(&slice).unwrap();
    let members: Vec<String> =
        vantage_can::Can::open(&slice).unwrap().members().map(|m| m.name.clone()).collect();
    assert_eq!(members, [names[0].clone(), names[2].clone()]);
    assert_eq!(count(&mut f.wh, "SELECT COUNT(*) FROM reports_datum_locator"), 2);
    for can in testkit::files(&f.data.clean("reports").unwrap(), "lz4") {
        let c = vantage_can::Can::open(&can).unwrap();
        for m in c.members() {
            assert_ne!(m.name, names[1]);
        }
    }
    // --purge deletes the old version.
    redact(&f.data, &mut f.wh, &cfg(), &names[0..1], "PII", true).unwrap();
    assert_eq!(kept_versions(&archive).len(), 1, "only the first redaction's old version remains");
    assert_eq!(count(&mut f.wh, "SELECT COUNT(*) FROM reports_datum_locator"), 1);
    assert!(redact(&f.data, &mut f.wh, &cfg(), &["nope/x".to_string()], "r", false).is_err());
}

fn archives_and_compressed_inputs(f: &mut Fixture) {
    use std::io::Write;
    let name = |i: u32| {
        format!("20190102T00000{i}Z-BR-AS28573-tcp_connect-20190102T000000Z_tcp_BR_28573_n1_t{i}-0.2.0-probe.json")
    };
    let body = |i: u32| {
        format!("{{\"test_name\":\"tcp_connect\",\"input\":\"1.2.3.{i}:443\"}}\n").into_bytes()
    };
    let dir = f.dir.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    // A .tar.gz whose members sit in a bucket directory.
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join("slice.tar.gz")).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for i in 0..2 {
        let b = body(i);
        let mut h = tar::Header::new_gnu();
        h.set_size(b.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("2019-01-02/{}", name(i)), &b[..]).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    // A lone .lz4 and a .zst under a bucket directory.
    let d = dir.join("2019-01-03");
    std::fs::create_dir_all(&d).unwrap();
    let mut lz = lz4_flex::frame::FrameEncoder::new(
        std::fs::File::create(d.join(format!("{}.lz4", name(3)))).unwrap(),
    );
    lz.write_all(&body(3)).unwrap();
    lz.finish().unwrap();
    let zst = std::process::Command::new("zstd")
        .arg("-q")
        .arg("-o")
        .arg(d.join(format!("{}.zst", name(4))))
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .spawn();
    let have_zstd = match zst {
        Ok(mut child) => {
            child.stdin.take().unwrap().write_all(&body(4)).unwrap();
            child.wait().unwrap().success()
        }
        Err(_) => false,
    };
    let s = ingest(&f.data, &mut f.wh, &[dir], None).unwrap();
    assert_eq!(s.accepted(), 3 + usize::from(have_zstd), "{:?}", s.files);
    let inbox = f.data.inbox("reports").unwrap();
    for i in 0..2 {
        // Decompressed bytes are kept as they are, under the member's bucket.
        assert_eq!(std::fs::read(inbox.join("2019-01-02").join(name(i))).unwrap(), body(i));
    }
    assert_eq!(std::fs::read(inbox.join("2019-01-03").join(name(3))).unwrap(), body(3));
    if have_zstd {
        assert_eq!(std::fs::read(inbox.join("2019-01-03").join(name(4))).unwrap(), body(4));
    }
}

fn run_takes_the_drop_directory_and_a_second_run_does_nothing(f: &mut Fixture) {
    let Some(dir) = testkit::conformance("reports") else { return };
    let drop = f.data.inbox("reports").unwrap().join("drop");
    std::fs::create_dir_all(drop.join("2015-11-05")).unwrap();
    let src = testkit::files(&dir.join("synthetic"), "yaml")
        .into_iter()
        .find(|p| p.to_string_lossy().contains("20151105T"))
        .unwrap();
    std::fs::copy(&src, drop.join("2015-11-05").join(src.file_name().unwrap())).unwrap();
    let s = run(&f.data, &mut f.wh, &cfg()).unwrap();
    assert_eq!((s.ingest.accepted(), s.can.cans.len(), s.autoclave.datums()), (1, 1, 2));
    assert!(std::fs::read_dir(&drop).unwrap().next().is_none(), "drop directory emptied");
    let again = run(&f.data, &mut f.wh, &cfg()).unwrap();
    assert!(
        again.ingest.files.is_empty()
            && again.can.cans.is_empty()
            && again.autoclave.cans.is_empty()
    );
}
