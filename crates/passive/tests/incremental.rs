//! Incrementality over generated data, every processor, both backends: split runs, a gap
//! then its fill, a crash then a rerun, other worker counts, processor subsets and
//! `--reprocess` all give the tables of one run over everything.

use std::path::{Path, PathBuf};

use vantage_passive::{GenLayout, GenerateOptions, PassiveConfig, ProcessOptions};

use crate::common::{self, Backend, Store};

fn corpus(dir: &Path) -> Vec<PathBuf> {
    let opts = GenerateOptions {
        out: dir.to_path_buf(),
        routers: 2,
        sessions: 2,
        updates: 7,
        seed: 11,
        layout: GenLayout::Gz,
        ..GenerateOptions::default()
    };
    vantage_passive::generate(&opts).unwrap();
    vantage_passive::expand(&[dir.join("updates")]).unwrap()
}

fn seq_of(p: &Path) -> i64 {
    let name = p.file_name().unwrap().to_str().unwrap().trim_end_matches(".gz");
    name.rsplit('-').next().unwrap().parse().unwrap()
}

/// Small chunks, so that sessions commit several times per run.
fn config() -> PassiveConfig {
    PassiveConfig { chunk_updates: 3, ..PassiveConfig::default() }
}

fn store(backend: Backend, key_from: Option<&Store>) -> Option<Store> {
    let mut s = Store::new(backend, config())?;
    // Same secret in every store, so that pseudonyms agree.
    if let Some(other) = key_from {
        let from = other.env.data.root().join("secret.key");
        let to = s.env.data.root().join("secret.key");
        std::fs::copy(from, to).unwrap();
        s.env = vantage_passive::PassiveEnv::new(s.env.data.clone(), config()).unwrap();
    }
    Some(s)
}

fn ingest(s: &mut Store, files: &[PathBuf]) {
    let r = vantage_passive::ingest_paths(&s.env, &mut s.wh, files, |_| {}).unwrap();
    assert!(r.iter().all(|r| !r.rejected_anything()), "{r:?}");
}

fn tables(s: &mut Store) -> Vec<(String, Vec<Vec<vantage_warehouse::Value>>)> {
    let mut t = common::all_tables(&mut s.wh);
    t.retain(|(n, _)| n != "passive_sessions");
    t
}

fn assert_same(
    a: &[(String, Vec<Vec<vantage_warehouse::Value>>)],
    b: &[(String, Vec<Vec<vantage_warehouse::Value>>)],
    what: &str,
) {
    assert_eq!(a.len(), b.len(), "{what}");
    let mut nonempty = 0;
    for ((n1, r1), (n2, r2)) in a.iter().zip(b) {
        assert_eq!(n1, n2);
        assert_eq!(r1.len(), r2.len(), "{what}: {n1} row count");
        assert_eq!(r1, r2, "{what}: {n1}");
        nonempty += usize::from(!r1.is_empty());
    }
    assert!(nonempty >= 20, "{what}: only {nonempty} tables have rows");
}

fn check(backend: Backend) {
    let tmp = vantage_testkit::tempdir();
    let files = corpus(tmp.path());
    let Some(mut whole) = store(backend, None) else { return };
    ingest(&mut whole, &files);
    whole.process();
    let want = tables(&mut whole);

    // 0..k, then k+1..n.
    let mut split = store(backend, Some(&whole)).unwrap();
    let (early, late): (Vec<PathBuf>, Vec<PathBuf>) =
        files.iter().cloned().partition(|f| seq_of(f) <= 3);
    ingest(&mut split, &early);
    split.process();
    ingest(&mut split, &late);
    split.process();
    assert_same(&tables(&mut split), &want, "0..k then k+1..n");

    // A gap at seq 2, then its fill.
    let mut gap = store(backend, Some(&whole)).unwrap();
    let (hole, rest): (Vec<PathBuf>, Vec<PathBuf>) =
        files.iter().cloned().partition(|f| seq_of(f) == 2);
    ingest(&mut gap, &rest);
    gap.process();
    let list = vantage_passive::sessions(&mut gap.wh, None, true).unwrap();
    assert!(
        !list.is_empty() && list.iter().all(|s| s.state.starts_with("waiting(gap 2)")),
        "{list:?}"
    );
    assert!(list.iter().all(|s| s.processed_through == 1));
    ingest(&mut gap, &hole);
    gap.process();
    assert_same(&tables(&mut gap), &want, "gap then fill");

    // Crash after n commits, then rerun, for several n. With one worker the sessions
    // commit in plan order, so 6 commits (3 chunks each) are exactly the first node's two
    // sessions: the rerun has nothing left to do for that node, and its uptime intervals
    // must still be written (with two workers, a starved second thread does the same).
    for (n, workers) in [(1, 2), (3, 2), (6, 2), (6, 1)] {
        let mut crash = store(backend, Some(&whole)).unwrap();
        ingest(&mut crash, &files);
        let opts =
            ProcessOptions { crash_after: Some(n), workers: Some(workers), ..crash.options() };
        let e = vantage_passive::process(&crash.env, &mut crash.wh, &opts).unwrap_err();
        assert!(e.to_string().contains("VANTAGE_PASSIVE_CRASH_AFTER"), "{e}");
        crash.process();
        let what = format!("crash after {n} commits with {workers} workers, rerun");
        assert_same(&tables(&mut crash), &want, &what);
    }

    // One worker instead of the cores.
    let mut one = store(backend, Some(&whole)).unwrap();
    ingest(&mut one, &files);
    let opts = ProcessOptions { workers: Some(1), ..one.options() };
    vantage_passive::process(&one.env, &mut one.wh, &opts).unwrap();
    assert_same(&tables(&mut one), &want, "one worker");

    // Processors one at a time, then a reprocess of two of them.
    let mut subsets = store(backend, Some(&whole)).unwrap();
    ingest(&mut subsets, &files);
    for (p, _) in vantage_passive::PROCESSORS.iter().rev() {
        let opts = ProcessOptions { processors: vec![p.to_string()], ..subsets.options() };
        vantage_passive::process(&subsets.env, &mut subsets.wh, &opts).unwrap();
    }
    assert_same(&tables(&mut subsets), &want, "processors one at a time");
    let opts = ProcessOptions {
        processors: vec!["bytes".into(), "flow_statistics".into()],
        reprocess: true,
        ..subsets.options()
    };
    vantage_passive::process(&subsets.env, &mut subsets.wh, &opts).unwrap();
    assert_same(&tables(&mut subsets), &want, "reprocess");

    // Nothing new: nothing changes, nothing advances.
    let again = whole.process();
    assert!(again.processors.iter().all(|p| p.updates_consumed == 0), "{again:?}");
    assert_same(&tables(&mut whole), &want, "idle run");
}

#[test]
fn incremental_equals_one_run_sqlite() {
    check(Backend::Sqlite);
}

#[test]
fn incremental_equals_one_run_postgres() {
    check(Backend::Postgres);
}
