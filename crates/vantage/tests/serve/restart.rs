//! SIGTERM during a tick, then a restart, with the real binary: passive tarballs in the
//! spool and netstate files in an import directory, taken by `vantage serve`'s ticks; the
//! process is signalled while the first tick is under way (`shutdown_grace` 0, so the
//! tick is cut in the middle of its work, as a crash would), restarted, and once the ticks
//! are done every compared table equals a clean run of `vantage passive run` and
//! `vantage netstate import` over the same files — nothing lost, nothing doubled.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::process::{run_ok, scalar, try_sql, vantage, Serve};

/// The tables compared, without the columns that name when or from where a file was
/// taken (`ingested_at`, `loaded_ns`, paths).
fn queries() -> Vec<String> {
    let mut q: Vec<String> = [
        "SELECT node_id, minute, bytes FROM passive_bytes_per_minute ORDER BY 1, 2",
        "SELECT node_id, domain, hour, bytes FROM passive_bytes_per_domain_per_hour ORDER BY 1, 2, 3",
        "SELECT node_id, session_id, sequence_number, text_sha256 FROM passive_updates ORDER BY 1, 2, 3",
        "SELECT * FROM passive_sessions ORDER BY node_id, session_id",
        "SELECT * FROM passive_availability_ranges ORDER BY node_id, session_id, first_seq",
        "SELECT sha256, status, members, indexed, duplicates, quarantined FROM passive_tarballs ORDER BY 1",
        "SELECT source, table_name, file, rows_total, opens, closes, sha256 FROM netstate_load_log ORDER BY 3",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for t in ["flow", "flow_setup", "learning", "lldp_links", "pf"] {
        q.push(format!("SELECT * FROM netstate_{t}_row"));
        q.push(format!("SELECT COUNT(*) AS n FROM netstate_{t}_close"));
    }
    q
}

/// Each query's rows as a sorted multiset (the comparison is of content, not order); a
/// table not made yet reads as one `<absent>` row.
fn tables(data: &Path) -> Vec<Vec<String>> {
    queries()
        .iter()
        .map(|q| {
            let Some(rows) = try_sql(data, q) else { return vec!["<absent>".to_string()] };
            let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
            rows.sort();
            rows
        })
        .collect()
}

/// Files waiting in `dir` (not the importer's dot lock file).
fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_file() && !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

fn copy_all(files: &[PathBuf], to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in files {
        std::fs::copy(f, to.join(f.file_name().unwrap())).unwrap();
    }
}

fn generated(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let pg = root.join("passive-gen");
    run_ok(
        vantage()
            .args(["passive", "generate", "--routers", "4", "--sessions", "3"])
            .args(["--updates", "40", "--out"])
            .arg(&pg),
    );
    let ng = root.join("netstate-gen");
    run_ok(vantage().args(["netstate", "generate", "--rows", "20000", "--out"]).arg(&ng));
    (vantage_testkit::files(&pg, "tar"), vantage_testkit::files(&ng.join("ctl-0"), "sql"))
}

/// `vantage serve` on the data directory; `grace`: `[server] shutdown_grace`.
fn serve(data: &Path, grace: u64) -> Serve {
    let mut cmd = vantage();
    cmd.arg("--data").arg(data).args(["serve", "--bind", "127.0.0.1:0", "--tick-seconds", "1"]);
    cmd.env("VANTAGE_SERVER_SHUTDOWN_GRACE", grace.to_string());
    Serve::start(cmd)
}

#[test]
fn sigterm_during_a_tick_then_restart_loses_and_doubles_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (tarballs, flat) = generated(root);
    assert!(
        tarballs.len() >= 20 && flat.len() >= 5,
        "{} tarballs, {} files",
        tarballs.len(),
        flat.len()
    );

    // The clean run: each kind's own command, once, over the same files.
    let clean = root.join("clean");
    copy_all(&tarballs, &clean.join("inbox/passive"));
    run_ok(vantage().arg("--data").arg(&clean).args(["passive", "run"]));
    let import = clean.join("inbox/netstate/ctl-0");
    copy_all(&flat, &import);
    run_ok(
        vantage()
            .arg("--data")
            .arg(&clean)
            .args(["netstate", "import", "--source", "ctl-0", "--import"])
            .arg(&import),
    );
    let want = tables(&clean);
    assert!(!want[0].is_empty() && !want[7].is_empty(), "the clean run wrote nothing");

    // The served run, with the same secret (so that pseudonyms compare).
    let data = root.join("served");
    let spool = data.join("inbox/passive");
    let inbox = data.join("inbox/netstate/ctl-0");
    copy_all(&tarballs, &spool);
    copy_all(&flat, &inbox);
    std::fs::copy(clean.join("secret.key"), data.join("secret.key")).unwrap();
    // No grace: SIGTERM abandons the tick in the middle of its work.
    let first = serve(&data, 0);
    let t = Instant::now();
    while count(&spool) == tarballs.len() {
        assert!(t.elapsed() < Duration::from_secs(60), "no tick took a tarball");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, log) = first.term();
    assert_eq!(code, Some(0), "first serve after SIGTERM:\n{log}");
    let (left, waiting) = (count(&spool), count(&inbox));
    let stopped_early = left > 0 || waiting > 0 || tables(&data) != want;
    eprintln!("stopped with {left} tarballs and {waiting} netstate files still waiting");
    assert!(
        stopped_early,
        "the first tick finished everything before SIGTERM: nothing was interrupted"
    );

    let second = serve(&data, 30);
    let t = Instant::now();
    let mut got;
    let done = loop {
        got = tables(&data);
        if count(&spool) == 0 && count(&inbox) == 0 && got == want {
            break true;
        }
        if t.elapsed() > Duration::from_secs(180) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let (code, log) = second.term();
    assert_eq!(code, Some(0), "second serve after SIGTERM:\n{log}");
    if !done {
        for (i, q) in queries().iter().enumerate() {
            let (g, w) = (got.get(i).map_or(0, Vec::len), want[i].len());
            if got.get(i) != Some(&want[i]) {
                eprintln!("differs: {q}: {g} rows served, {w} rows clean");
            }
        }
        panic!(
            "after the restart the tables differ from the clean run (spool {}, inbox {})",
            count(&spool),
            count(&inbox)
        );
    }
    assert_eq!(scalar(&data, "SELECT COUNT(*) FROM catalog_quarantine"), 0);
}
