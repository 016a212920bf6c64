//! Stop during a tick, then restart: no loss, no duplicate. Passive tarballs dropped in
//! the spool are ingested and processed by the server's ticks across a stop in the
//! middle; the resulting tables equal those of a clean run over the same files.

use std::path::Path;

use vantage_core::DataDir;
use vantage_server::Server;
use vantage_warehouse::{Sql, Warehouse};

use crate::fixture;
use crate::http::eventually;

const TABLES: &[&str] = &[
    "SELECT COUNT(*), COALESCE(SUM(raw_size), 0) FROM passive_updates",
    "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM passive_bytes_per_minute",
    "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM passive_bytes_per_domain_per_hour",
    "SELECT COUNT(*), COALESCE(SUM(updates), 0) FROM passive_sessions",
];

fn figures(data: &Path) -> Vec<(i64, i64)> {
    let d = DataDir::open(data).unwrap();
    let mut wh = Warehouse::open(None, &d).unwrap();
    TABLES
        .iter()
        .map(|q| {
            let r = wh.query(q, &[]).unwrap();
            (r.rows[0][0].as_i64().unwrap_or(0), r.rows[0][1].as_i64().unwrap_or(0))
        })
        .collect()
}

fn tarballs(dir: &Path) -> Vec<std::path::PathBuf> {
    let opts = vantage_passive::GenerateOptions {
        out: dir.to_path_buf(),
        routers: 3,
        sessions: 2,
        updates: 6,
        seed: 7,
        ..Default::default()
    };
    vantage_passive::generate(&opts).expect("generate");
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "tar") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn stop_during_a_tick_then_restart_loses_and_doubles_nothing() {
    let gen = tempfile::tempdir().unwrap();
    let files = tarballs(gen.path());
    assert!(files.len() >= 3);

    // The clean run: the library, once, over the same files.
    let clean = tempfile::tempdir().unwrap();
    {
        let d = DataDir::open(clean.path()).unwrap();
        let env = vantage_passive::PassiveEnv::new(d.clone(), Default::default()).unwrap();
        let mut wh = Warehouse::open(None, &d).unwrap();
        vantage_passive::schema::migrate(&mut wh).unwrap();
        vantage_passive::ingest_paths(&env, &mut wh, &files, |_| {}).unwrap();
        vantage_passive::process(&env, &mut wh, &Default::default()).unwrap();
    }
    let want = figures(clean.path());
    assert!(want[0].0 > 0);

    // The served run: drop the files, stop as soon as the first tick is under way.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let spool = DataDir::open(data).unwrap().inbox("passive").unwrap();
    // Same secret as the clean run, so that pseudonyms (and so the rows) compare.
    std::fs::copy(clean.path().join("secret.key"), data.join("secret.key")).unwrap();
    for f in &files {
        std::fs::copy(f, spool.join(f.file_name().unwrap())).unwrap();
    }
    let cfg = fixture::config(data, None, &[]);
    let running = Server::bind(&cfg).unwrap().spawn();
    // The first tick starts at once; stop while the spool still holds files.
    let _ = eventually(10, || {
        std::fs::read_dir(&spool).map(|d| d.count() < files.len()).unwrap_or(false)
    });
    running.stop().expect("clean stop");
    // Restart and let the ticks finish the rest.
    let running = Server::bind(&cfg).unwrap().spawn();
    let done = eventually(60, || {
        std::fs::read_dir(&spool).map(|d| d.count() == 0).unwrap_or(false) && figures(data) == want
    });
    running.stop().unwrap();
    assert!(done, "after restart: {:?}, clean run: {want:?}", figures(data));
}
