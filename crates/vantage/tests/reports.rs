//! `vantage reports` as users run it: exit codes, show, verify after a flipped byte, and
//! crash safety (can and autoclave killed with SIGKILL at several points, then re-run,
//! give the same cans, indexes and rows as an uninterrupted run).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn vantage(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vantage"));
    c.arg("--data").arg(data);
    c.env_remove("VANTAGE_CONFIG").env_remove("VANTAGE_WAREHOUSE").env_remove("VANTAGE_DATA");
    c
}

fn run(data: &Path, args: &[&str]) -> Output {
    vantage(data).args(args).output().expect("vantage runs")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// (relative path, sha1) of every can and index under `dir`.
fn digest(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vantage_testkit::files(dir, "lz4")
        .into_iter()
        .chain(vantage_testkit::files(dir, "jsonl"))
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            (rel, vantage_core::hash::sha1_hex(&std::fs::read(&p).unwrap()))
        })
        .collect();
    out.sort();
    out
}

fn sql(data: &Path, q: &str) -> String {
    let o = run(data, &["--format", "csv", "sql", q]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

fn corpus(dir: &Path, size: &str) -> PathBuf {
    let out = dir.join("corpus");
    let o = run(
        &dir.join("unused"),
        &["reports", "generate", "--out", out.to_str().unwrap(), "--size", size, "--seed", "3"],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    out
}

#[test]
fn ingest_can_autoclave_show_verify() {
    let dir = vantage_testkit::tempdir();
    let data = dir.path().join("d");
    let input = corpus(dir.path(), "2000000");
    // A corrupt gzip among good files: quarantined, the rest accepted, exit 3.
    std::fs::write(input.join("2021-06-01").join("bad.json.gz"), b"not gzip").unwrap();
    let o = run(&data, &["reports", "ingest", input.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("quarantined") && text(&o.stdout).contains("accepted"));
    assert!(text(&o.stderr).contains("quarantined"), "{}", text(&o.stderr));
    // The same files again: duplicates, and the corrupt one quarantined again.
    let o = run(&data, &["--format", "json", "reports", "ingest", input.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dups = v["files"].as_array().unwrap().iter().filter(|f| f["status"] == "duplicate").count();
    assert!(dups > 1, "{v}");
    let o = run(&data, &["reports", "can"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = run(&data, &["--format", "json", "reports", "autoclave"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!v["cans"].as_array().unwrap().is_empty());
    let uid = sql(&data, "SELECT uid FROM reports_datum_locator ORDER BY uid LIMIT 1");
    let uid = uid.lines().nth(1).unwrap();
    let o = run(&data, &["reports", "show", uid]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let line: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(line["data_format_version"], "0.2.0");
    assert_eq!(code(&run(&data, &["reports", "show", "no-such-uid"])), 1);
    // verify passes, then fails naming the can after one byte changes.
    let o = run(&data, &["verify"]);
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let can = vantage_testkit::files(&data.join("clean"), "lz4").into_iter().next().unwrap();
    let mut bytes = std::fs::read(&can).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    let mut perm = std::fs::metadata(&can).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&can, perm).unwrap();
    std::fs::write(&can, bytes).unwrap();
    let o = run(&data, &["verify"]);
    assert_eq!(code(&o), 3, "{}{}", text(&o.stdout), text(&o.stderr));
    let name = can.file_name().unwrap().to_string_lossy().into_owned();
    let all = text(&o.stdout) + &text(&o.stderr);
    assert!(all.contains(&name), "{all}");
}

/// Runs `args` and kills it after `delay`; true when it had already finished.
fn run_killed(data: &Path, args: &[&str], delay: Duration) -> bool {
    let mut child =
        vantage(data).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    std::thread::sleep(delay);
    let done = child.try_wait().unwrap().is_some();
    if !done {
        let _ = child.kill();
    }
    let _ = child.wait();
    done
}

#[test]
fn crash_at_any_point_then_rerun_gives_the_same_cans_and_rows() {
    let dir = vantage_testkit::tempdir();
    let input = corpus(dir.path(), "6000000");
    let reference = dir.path().join("ref");
    for args in [
        &["reports", "ingest", input.to_str().unwrap()][..],
        &["reports", "can"],
        &["reports", "autoclave"],
    ] {
        let o = run(&reference, args);
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let rows = "SELECT uid, id, bucket, can, textname, src_off, frame_off, frame_size, intra_off, intra_size FROM reports_datum_locator ORDER BY uid";
    let want_rows = sql(&reference, rows);
    let want_blobs =
        sql(&reference, "SELECT * FROM reports_badblob ORDER BY filename, textname, src_off");
    let want_archive = digest(&reference.join("archive"));
    let want_clean = digest(&reference.join("clean"));
    assert!(want_rows.lines().count() > 100);
    let mut killed = 0;
    for (i, ms) in [30u64, 120, 250, 400, 700].into_iter().enumerate() {
        let data = dir.path().join(format!("crash{i}"));
        let o = run(&data, &["reports", "ingest", input.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        let delay = Duration::from_millis(ms);
        killed += usize::from(!run_killed(&data, &["reports", "can"], delay));
        let o = run(&data, &["reports", "can"]);
        assert!(o.status.success(), "after a kill at {ms} ms: {}", text(&o.stderr));
        killed += usize::from(!run_killed(&data, &["reports", "autoclave"], delay));
        let o = run(&data, &["reports", "autoclave"]);
        assert!(o.status.success(), "after a kill at {ms} ms: {}", text(&o.stderr));
        assert_eq!(digest(&data.join("archive")), want_archive, "raw cans after a kill at {ms} ms");
        assert_eq!(digest(&data.join("clean")), want_clean, "clean cans after a kill at {ms} ms");
        assert_eq!(sql(&data, rows), want_rows, "locators after a kill at {ms} ms");
        assert_eq!(
            sql(&data, "SELECT * FROM reports_badblob ORDER BY filename, textname, src_off"),
            want_blobs
        );
        // Nothing left behind: no inbox files, no temporaries.
        let inbox = data.join("inbox/reports/2021-06-01");
        assert!(!inbox.exists() || std::fs::read_dir(&inbox).unwrap().next().is_none());
    }
    // The kills must have hit running stages, or this proves nothing.
    assert!(killed >= 5, "only {killed} of 10 runs were still running when killed");
}

#[test]
fn held_lock_is_exit_2() {
    let dir = vantage_testkit::tempdir();
    let data = dir.path().join("d");
    let input = corpus(dir.path(), "3000000");
    assert!(run(&data, &["reports", "ingest", input.to_str().unwrap()]).status.success());
    let mut child = vantage(&data)
        .args(["reports", "can"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let o = run(&data, &["reports", "autoclave"]);
    let finished = child.try_wait().unwrap().is_some();
    let _ = child.wait();
    if !finished {
        assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    }
}

/// Every table centrifugation writes, as CSV sorted by all its columns.
fn centrifuged_tables(data: &Path) -> Vec<(String, String)> {
    [
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
    ]
    .iter()
    .map(|t| {
        let mut lines: Vec<String> =
            sql(data, &format!("SELECT * FROM {t}")).lines().map(str::to_string).collect();
        lines.sort();
        (t.to_string(), lines.join("\n"))
    })
    .collect()
}

#[test]
fn centrifuge_killed_then_rerun_gives_the_same_tables() {
    let dir = vantage_testkit::tempdir();
    let input = corpus(dir.path(), "6000000");
    let fps = vantage_testkit::conformance("reports").map(|d| d.join("fingerprints"));
    let prepare = |data: &Path| {
        for args in [
            &["reports", "ingest", input.to_str().unwrap()][..],
            &["reports", "can"],
            &["reports", "autoclave"],
        ] {
            let o = run(data, args);
            assert!(o.status.success(), "{}", text(&o.stderr));
        }
        if let Some(fps) = &fps {
            for csv in ["fingerprints_dns.csv", "fingerprints_http.csv"] {
                let f = fps.join(csv);
                let o = run(data, &["reports", "fingerprints", "load", f.to_str().unwrap()]);
                assert!(o.status.success(), "{}", text(&o.stderr));
            }
        }
    };
    let reference = dir.path().join("ref");
    prepare(&reference);
    let o = run(&reference, &["--format", "json", "reports", "centrifuge"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(!v["files"].as_array().unwrap().is_empty(), "{v}");
    let want = centrifuged_tables(&reference);
    assert!(want.iter().find(|(t, _)| t == "reports_measurement").unwrap().1.lines().count() > 100);
    // A second centrifuge does nothing; show takes msm numbers.
    let o = run(&reference, &["--format", "json", "reports", "centrifuge"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["files"].as_array().unwrap().is_empty(), "{v}");
    let o = run(&reference, &["reports", "show", "msm:1"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(serde_json::from_slice::<serde_json::Value>(&o.stdout).is_ok());
    let mut killed = 0;
    for (i, ms) in [60u64, 300, 900].into_iter().enumerate() {
        let data = dir.path().join(format!("crash{i}"));
        prepare(&data);
        killed +=
            usize::from(!run_killed(&data, &["reports", "centrifuge"], Duration::from_millis(ms)));
        let o = run(&data, &["reports", "run"]);
        assert!(o.status.success(), "after a kill at {ms} ms: {}", text(&o.stderr));
        assert_eq!(centrifuged_tables(&data), want, "tables after a kill at {ms} ms");
    }
    assert!(killed >= 1, "no centrifuge was still running when killed");
}

#[test]
fn bad_fingerprints_file_is_exit_3_with_its_line() {
    let dir = vantage_testkit::tempdir();
    let data = dir.path().join("d");
    let csv = dir.path().join("fp.csv");
    std::fs::write(
        &csv,
        "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,expected_countries,source,exp_url,notes\n\
         a,nat,,body,contains,x,5,,s,,\nb,nat,,body,sideways,x,5,,s,,\n",
    )
    .unwrap();
    let o = run(&data, &["reports", "fingerprints", "load", csv.to_str().unwrap()]);
    assert_eq!(code(&o), 3, "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("fp.csv:3: pattern_type"), "{}", text(&o.stderr));
}
