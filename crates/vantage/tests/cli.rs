//! The foundation's command line, run as a user runs it: status, sql, global options,
//! help texts and exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn vantage(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vantage"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("VANTAGE_WAREHOUSE")
        .env_remove("VANTAGE_CONFIG")
        .output()
        .expect("run vantage")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn status_lists_every_kind_in_every_format() {
    let dir = vantage_testkit::tempdir();
    let data = dir.path().join("d");
    let o = vantage(&data, &["status"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for kind in ["packets", "reports", "passive", "netstate"] {
        assert!(stdout(&o).contains(kind), "{}", stdout(&o));
    }
    assert!(data.join("vantage.db").is_file());
    let o = vantage(&data, &["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(4));
    assert_eq!(v[0]["arrivals"], 0);
    let o = vantage(&data, &["--format", "csv", "status"]);
    assert!(stdout(&o).starts_with("kind,arrivals,bytes,"), "{}", stdout(&o));
}

#[test]
fn sql_prints_table_csv_and_json() {
    let dir = vantage_testkit::tempdir();
    let q = "SELECT 1 AS n, 'a,b' AS t, NULL AS z";
    let o = vantage(dir.path(), &["sql", q]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "n  t    z\n-  ---  -\n1  a,b\n");
    let o = vantage(dir.path(), &["sql", "--format", "csv", q]);
    assert_eq!(stdout(&o), "n,t,z\n1,\"a,b\",\n");
    let o = vantage(dir.path(), &["sql", "--format", "json", q]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v, serde_json::json!([{"n": 1, "t": "a,b", "z": null}]));
}

#[test]
fn bad_query_is_a_one_line_usage_error() {
    let dir = vantage_testkit::tempdir();
    let o = vantage(dir.path(), &["sql", "SELECT nope FROM catalog_cans"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("error: ") && err.contains("nope"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn bad_config_names_the_file() {
    let dir = vantage_testkit::tempdir();
    let cfg = dir.path().join("vantage.toml");
    std::fs::write(&cfg, "[netstat]\nx = 1\n").unwrap();
    let o = vantage(dir.path(), &["--config", cfg.to_str().unwrap(), "status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains(&cfg.display().to_string()), "{}", stderr(&o));
    let o = vantage(dir.path(), &["--config", "/nonexistent/vantage.toml", "status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/vantage.toml"), "{}", stderr(&o));
}

#[test]
fn unreachable_warehouse_is_storage_error() {
    let dir = vantage_testkit::tempdir();
    let o = vantage(dir.path(), &["--warehouse", "postgres://nobody@127.0.0.1:1/none", "status"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot connect"), "{}", stderr(&o));
}

#[test]
fn data_directory_that_cannot_be_created_is_storage_error() {
    let dir = vantage_testkit::tempdir();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let o = vantage(&file.join("sub"), &["status"]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("plain-file"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let dir = vantage_testkit::tempdir();
    assert_eq!(vantage(dir.path(), &["no-such-verb"]).status.code(), Some(1));
    assert_eq!(vantage(dir.path(), &["sql"]).status.code(), Some(1));
    let o = vantage(dir.path(), &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Examples:"));
}

#[test]
fn every_command_has_help_with_an_example() {
    let dir = vantage_testkit::tempdir();
    let top = stdout(&vantage(dir.path(), &["--help"]));
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        // a wrapped description continues on a line indented further; skip those
        .filter(|l| !l[2..].starts_with(' '))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 5, "{top}");
    let mut missing = Vec::new();
    let mut check = |args: Vec<String>| {
        let mut full = args.clone();
        full.push("--help".into());
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let text = stdout(&vantage(dir.path(), &refs));
        let subs: Vec<String> = text
            .lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter(|l| !l[2..].starts_with(' '))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .filter(|c| c != "help")
            .collect();
        if subs.is_empty() && !text.contains("Example") {
            missing.push(args.join(" "));
        }
        subs
    };
    for c in &commands {
        for s in check(vec![c.clone()]) {
            check(vec![c.clone(), s]);
        }
    }
    assert!(missing.is_empty(), "commands without an example in --help: {missing:?}");
}

#[test]
fn verify_checks_every_can_in_the_data_directory() {
    let dir = vantage_testkit::tempdir();
    let data = dir.path().join("d");
    let input = dir.path().join("in");
    std::fs::create_dir_all(input.join("a")).unwrap();
    for i in 0..40 {
        let body: String = (0..2000).map(|j| char::from(b'a' + ((i * 7 + j) % 26) as u8)).collect();
        std::fs::write(input.join("a").join(format!("m{i}.json")), body).unwrap();
    }
    let can = data.join("archive/demo/2016-05-03/x.tar.lz4");
    std::fs::create_dir_all(can.parent().unwrap()).unwrap();
    let o = vantage(&data, &["can", "write", input.to_str().unwrap(), "-o", can.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = vantage(&data, &["verify"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("x.tar.lz4") && stdout(&o).contains("ok"), "{}", stdout(&o));

    let mut bytes = std::fs::read(&can).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    let mut perms = std::fs::metadata(&can).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&can, perms).unwrap();
    std::fs::write(&can, &bytes).unwrap();
    let o = vantage(&data, &["verify"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&can.display().to_string()) && err.contains("offset"), "{err}");
    assert!(stdout(&o).contains("FAILED"), "{}", stdout(&o));
}

#[test]
fn log_format_json_writes_one_object_per_event() {
    let dir = vantage_testkit::tempdir();
    let bad = dir.path().join("bad.gz");
    std::fs::write(&bad, b"not an update\n").unwrap();
    let bad = bad.to_str().unwrap();
    for (run, args) in [
        vec!["--log-format", "json", "passive", "ingest", bad],
        vec!["passive", "ingest", "--log-format=json", bad],
    ]
    .into_iter()
    .enumerate()
    {
        let o = vantage(&dir.path().join(format!("d{run}")), &args);
        let events: Vec<serde_json::Value> = stderr(&o)
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("every JSON log line parses"))
            .collect();
        let quarantined = events.iter().find(|e| e["message"] == "Update quarantined.");
        let event = quarantined.unwrap_or_else(|| {
            panic!("no quarantine event: {:?} {} {}", o.status, stdout(&o), stderr(&o))
        });
        assert_eq!(event["level"], "WARN");
        assert_eq!(event["source"], bad);
        assert!(event["timestamp"].is_string());
    }
    let o = vantage(&dir.path().join("d"), &["--log-format", "xml", "status"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
}
