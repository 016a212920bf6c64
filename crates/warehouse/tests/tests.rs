//! One suite, two backends: every test below runs on SQLite and, when `VANTAGE_TEST_PG`
//! is set, on PostgreSQL, and `same_results_on_both_backends` compares their answers.

use std::path::Path;

use vantage_core::{Bucket, DataDir};
use vantage_warehouse::catalog::{
    self, Arrival, ArrivalState, PartitionState, QuarantineMode, Recorded,
};
use vantage_warehouse::testing::ScratchPostgres;
use vantage_warehouse::{Lock, LockError, Migration, Rows, Sql, Value, Warehouse, WarehouseError};

/// An open warehouse with what keeps it alive (temporary directory, scratch schema).
struct Fixture {
    wh: Warehouse,
    data: DataDir,
    _dir: tempfile::TempDir,
    _pg: Option<ScratchPostgres>,
}

fn sqlite() -> Option<Fixture> {
    let dir = vantage_testkit::tempdir();
    let data = DataDir::open(dir.path()).unwrap();
    let wh = Warehouse::open(None, &data).unwrap();
    Some(Fixture { wh, data, _dir: dir, _pg: None })
}

fn postgres() -> Option<Fixture> {
    let pg = ScratchPostgres::new()?;
    let dir = vantage_testkit::tempdir();
    let data = DataDir::open(dir.path()).unwrap();
    let wh = Warehouse::open(Some(&pg.url), &data).unwrap();
    Some(Fixture { wh, data, _dir: dir, _pg: Some(pg) })
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
    values_round_trip,
    bulk_insert_matches_row_inserts,
    transactions_commit_or_roll_back,
    migrations_apply_once,
    newer_schema_is_refused,
    arrivals_detect_duplicates,
    partitions_and_versions,
    quarantine_moves_file_and_logs_row,
    status_counts_per_kind,
    lock_excludes_and_recovers,
    bad_statement_names_it,
);

const DEMO: &[Migration] = &[Migration {
    version: 1,
    name: "demo table",
    sql: "CREATE TABLE demo_values (id {serial_pk}, i BIGINT, r {real}, t TEXT, b {blob})",
}];

fn tricky_rows() -> Vec<Vec<Value>> {
    vec![
        vec![Value::Int(i64::MAX), Value::Real(0.1), "plain".into(), Value::Blob(vec![0, 1, 255])],
        vec![
            Value::Int(i64::MIN),
            Value::Real(-1e300),
            "tab\there\nnewline\\back".into(),
            Value::Blob(vec![]),
        ],
        vec![Value::Null, Value::Null, Value::Null, Value::Null],
        vec![
            Value::Int(0),
            Value::Real(1.5),
            "ünïcode ✓ 'quote' \"dq\" ?".into(),
            Value::Blob(b"\\x00".to_vec()),
        ],
    ]
}

fn select_demo(db: &mut dyn Sql) -> Rows {
    db.query("SELECT i, r, t, b FROM demo_values ORDER BY id", &[]).unwrap()
}

fn values_round_trip(f: &mut Fixture) {
    f.wh.migrate("demo", DEMO).unwrap();
    for row in tricky_rows() {
        f.wh.execute("INSERT INTO demo_values (i, r, t, b) VALUES (?, ?, ?, ?)", &row).unwrap();
    }
    let got = select_demo(&mut f.wh);
    assert_eq!(got.columns, ["i", "r", "t", "b"]);
    assert_eq!(got.rows, tricky_rows());
    let n =
        f.wh.query_i64("SELECT COUNT(*) FROM demo_values WHERE t = ?", &["plain".into()]).unwrap();
    assert_eq!(n, Some(1));
}

fn bulk_insert_matches_row_inserts(f: &mut Fixture) {
    f.wh.migrate("demo", DEMO).unwrap();
    let mut rows = tricky_rows();
    // Enough rows to cross the multi-row statement and COPY buffer sizes.
    for i in 0..5000i64 {
        rows.push(vec![
            i.into(),
            (i as f64 / 7.0).into(),
            format!("row {i}").into(),
            vec![i as u8].into(),
        ]);
    }
    let n =
        f.wh.transaction(|tx| tx.bulk_insert("demo_values", &["i", "r", "t", "b"], &rows)).unwrap();
    assert_eq!(n, rows.len() as u64);
    assert_eq!(select_demo(&mut f.wh).rows, rows);
    let mismatched = vec![vec![Value::Int(1)]];
    let e = f.wh.bulk_insert("demo_values", &["i", "r"], &mismatched).unwrap_err();
    assert!(e.to_string().contains("1 values for 2 columns"), "{e}");
}

fn transactions_commit_or_roll_back(f: &mut Fixture) {
    f.wh.migrate("demo", DEMO).unwrap();
    let r: Result<(), WarehouseError> = f.wh.transaction(|tx| {
        tx.execute("INSERT INTO demo_values (i) VALUES (?)", &[1.into()])?;
        tx.execute("INSERT INTO no_such_table (i) VALUES (?)", &[2.into()])?;
        Ok(())
    });
    assert!(r.is_err());
    assert_eq!(f.wh.query_i64("SELECT COUNT(*) FROM demo_values", &[]).unwrap(), Some(0));
    f.wh.transaction(|tx| {
        tx.execute("INSERT INTO demo_values (i) VALUES (?)", &[1.into()])?;
        tx.execute("INSERT INTO demo_values (i) VALUES (?)", &[2.into()])?;
        Ok::<_, WarehouseError>(())
    })
    .unwrap();
    assert_eq!(f.wh.query_i64("SELECT SUM(i) FROM demo_values", &[]).unwrap(), Some(3));
}

fn migrations_apply_once(f: &mut Fixture) {
    f.wh.migrate("demo", DEMO).unwrap();
    f.wh.migrate("demo", DEMO).unwrap();
    let more = [
        DEMO[0],
        Migration {
            version: 2,
            name: "column",
            sql: "ALTER TABLE demo_values ADD COLUMN extra TEXT",
        },
    ];
    f.wh.migrate("demo", &more).unwrap();
    f.wh.migrate("demo", &more).unwrap();
    let n =
        f.wh.query_i64("SELECT COUNT(*) FROM catalog_migrations WHERE owner = 'demo'", &[])
            .unwrap();
    assert_eq!(n, Some(2));
    f.wh.execute("INSERT INTO demo_values (extra) VALUES ('x')", &[]).unwrap();
}

fn newer_schema_is_refused(f: &mut Fixture) {
    let more = [
        DEMO[0],
        Migration {
            version: 2,
            name: "column",
            sql: "ALTER TABLE demo_values ADD COLUMN extra TEXT",
        },
    ];
    f.wh.migrate("demo", &more).unwrap();
    let e = f.wh.migrate("demo", DEMO).unwrap_err();
    assert!(matches!(e, WarehouseError::TooNew { found: 2, known: 1, .. }), "{e}");
    assert!(e.to_string().contains("upgrade vantage"));
}

fn arrival<'a>(path: &'a str, sha: &'a str) -> Arrival<'a> {
    Arrival {
        kind: "reports",
        path,
        sha256: sha,
        size: 10,
        bucket: Bucket::parse("2016-05-03").ok(),
        state: ArrivalState::Received,
    }
}

fn arrivals_detect_duplicates(f: &mut Fixture) {
    let Recorded::New(id) = catalog::record_arrival(&mut f.wh, &arrival("a", "h1")).unwrap() else {
        panic!("first arrival must be new")
    };
    let again = catalog::record_arrival(&mut f.wh, &arrival("b", "h1")).unwrap();
    assert_eq!(again, Recorded::Duplicate { id, path: "a".into() });
    // The same content for another kind is not a duplicate.
    let other = Arrival { kind: "passive", ..arrival("c", "h1") };
    assert!(matches!(catalog::record_arrival(&mut f.wh, &other).unwrap(), Recorded::New(_)));
    catalog::update_arrival(&mut f.wh, id, ArrivalState::Archived, Some("archive/a"), None)
        .unwrap();
    let rows =
        f.wh.query("SELECT path, state, bucket FROM catalog_arrivals WHERE id = ?", &[id.into()])
            .unwrap();
    assert_eq!(
        rows.rows[0],
        vec![Value::from("archive/a"), "archived".into(), "2016-05-03".into()]
    );
}

fn partitions_and_versions(f: &mut Fixture) {
    let mut p = catalog::Partition {
        kind: "passive".into(),
        key: "OWabc/123".into(),
        processor: "bytes".into(),
        code_version: 1,
        state: PartitionState::Pending,
        error: None,
    };
    f.wh.transaction(|tx| catalog::set_partition(tx, &p)).unwrap();
    p.state = PartitionState::Waiting;
    p.error = Some("missing update 4".into());
    p.code_version = 2;
    catalog::set_partition(&mut f.wh, &p).unwrap();
    assert_eq!(
        catalog::partition(&mut f.wh, "passive", "OWabc/123", "bytes").unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        catalog::partitions(&mut f.wh, "passive", Some(PartitionState::Done)).unwrap(),
        vec![]
    );
    assert_eq!(catalog::partitions(&mut f.wh, "passive", None).unwrap(), vec![p]);
    assert_eq!(catalog::processor_version(&mut f.wh, "passive", "bytes").unwrap(), None);
    catalog::set_processor_version(&mut f.wh, "passive", "bytes", 3).unwrap();
    catalog::set_processor_version(&mut f.wh, "passive", "bytes", 4).unwrap();
    assert_eq!(catalog::processor_version(&mut f.wh, "passive", "bytes").unwrap(), Some(4));
}

fn quarantine_moves_file_and_logs_row(f: &mut Fixture) {
    let inbox = f.data.inbox("passive").unwrap();
    let bad = inbox.join("bad.gz");
    std::fs::write(&bad, b"not gzip").unwrap();
    let q = catalog::quarantine(
        &mut f.wh,
        &f.data,
        "passive",
        &bad,
        "bad_gzip",
        "bad.gz: offset 0: not gzip",
        QuarantineMode::Move,
    )
    .unwrap();
    assert!(!bad.exists());
    assert_eq!(std::fs::read(&q.stored_path).unwrap(), b"not gzip");
    let reason = std::fs::read_to_string(format!("{}.reason", q.stored_path)).unwrap();
    assert_eq!(reason, "bad_gzip: bad.gz: offset 0: not gzip\n");
    let kept = inbox.join("kept.sql");
    std::fs::write(&kept, b"x").unwrap();
    catalog::quarantine(
        &mut f.wh,
        &f.data,
        "netstate",
        &kept,
        "bad-quote",
        "kept.sql: line 2: bad quote",
        QuarantineMode::InPlace,
    )
    .unwrap();
    assert!(kept.exists());
    let all = catalog::quarantined(&mut f.wh, None).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].stored_path, kept.display().to_string());
    assert_eq!(catalog::quarantined(&mut f.wh, Some("passive")).unwrap(), vec![q]);
}

fn status_counts_per_kind(f: &mut Fixture) {
    catalog::record_arrival(&mut f.wh, &arrival("a", "h1")).unwrap();
    catalog::record_arrival(&mut f.wh, &arrival("b", "h2")).unwrap();
    catalog::record_can(
        &mut f.wh,
        &catalog::CanRecord {
            kind: "reports".into(),
            bucket: Some("2016-05-03".into()),
            path: "x.tar.lz4".into(),
            size: 100,
            sha1: "ab".into(),
            crc32: 7,
        },
    )
    .unwrap();
    for (key, state) in [
        ("b1", PartitionState::Done),
        ("b2", PartitionState::Failed),
        ("b3", PartitionState::Pending),
    ] {
        let p = catalog::Partition {
            kind: "reports".into(),
            key: key.into(),
            processor: "autoclave".into(),
            code_version: 1,
            state,
            error: Some(format!("{key} broke")).filter(|_| state == PartitionState::Failed),
        };
        catalog::set_partition(&mut f.wh, &p).unwrap();
    }
    let s = catalog::status(&mut f.wh).unwrap();
    let r = s.iter().find(|s| s.kind == "reports").unwrap();
    assert_eq!((r.arrivals, r.arrival_bytes, r.cans, r.can_bytes), (2, 20, 1, 100));
    assert_eq!((r.pending, r.done, r.failed, r.waiting), (1, 1, 1, 0));
    assert_eq!(r.last_error.as_deref(), Some("b2 broke"));
    assert_eq!(catalog::cans(&mut f.wh, Some("reports")).unwrap().len(), 1);
    let p = s.iter().find(|s| s.kind == "packets").unwrap();
    assert_eq!(p.arrivals, 0);
}

fn lock_excludes_and_recovers(f: &mut Fixture) {
    let held = Lock::acquire(&f.wh, &f.data, "reports").unwrap();
    assert!(!held.recovered_stale());
    let busy = Lock::acquire(&f.wh, &f.data, "reports").unwrap_err();
    assert!(
        matches!(&busy, LockError::Busy { holder, .. } if holder.contains(&format!("pid={}", std::process::id()))),
        "{busy}"
    );
    assert_eq!(vantage_core::HasExit::exit(&busy), vantage_core::Exit::Busy);
    // Another name is independent.
    let other = Lock::acquire(&f.wh, &f.data, "passive").unwrap();
    drop(other);
    drop(held);
    let again = Lock::acquire(&f.wh, &f.data, "reports").unwrap();
    assert!(!again.recovered_stale());
    drop(again);
    // A crash leaves the file naming a holder that no longer holds the flock.
    std::fs::write(f.data.lock_file("reports"), "pid=999999 host=x started=2010-01-01T00:00:00Z\n")
        .unwrap();
    let recovered = Lock::acquire(&f.wh, &f.data, "reports").unwrap();
    assert!(recovered.recovered_stale());
    let rows = f.wh.query("SELECT pid FROM catalog_locks WHERE name = 'reports'", &[]).unwrap();
    assert_eq!(rows.scalar_i64(), Some(i64::from(std::process::id())));
    drop(recovered);
    assert_eq!(f.wh.query_i64("SELECT COUNT(*) FROM catalog_locks", &[]).unwrap(), Some(0));
}

fn bad_statement_names_it(f: &mut Fixture) {
    let e = f.wh.query("SELECT nope FROM catalog_cans", &[]).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("nope") && msg.contains("SELECT nope FROM catalog_cans"), "{msg}");
}

/// The queries a report or status page runs, asked of both backends: the answers must
/// be identical, value for value.
#[test]
fn same_results_on_both_backends() {
    let (Some(mut a), Some(mut b)) = (sqlite(), postgres()) else { return };
    let queries = [
        "SELECT i, r, t, b FROM demo_values ORDER BY id",
        "SELECT COUNT(*), SUM(i), MIN(t), MAX(r) FROM demo_values WHERE i BETWEEN 0 AND 1000",
        "SELECT i % 7 AS k, COUNT(*) AS n, SUM(i) AS s FROM demo_values WHERE i BETWEEN 0 AND 100000 GROUP BY i % 7 ORDER BY k",
        "SELECT SUM(r) FROM demo_values WHERE i BETWEEN 0 AND 100000",
        "SELECT t FROM demo_values WHERE t LIKE 'row 1%' ORDER BY t LIMIT 5",
        "SELECT COALESCE(t, 'none') FROM demo_values WHERE i IS NULL",
    ];
    let mut answers = Vec::new();
    for f in [&mut a, &mut b] {
        f.wh.migrate("demo", DEMO).unwrap();
        let mut rows = tricky_rows();
        for i in 0..2000i64 {
            rows.push(vec![
                i.into(),
                (i as f64 * 0.25).into(),
                format!("row {i}").into(),
                Value::Null,
            ]);
        }
        f.wh.bulk_insert("demo_values", &["i", "r", "t", "b"], &rows).unwrap();
        let got: Vec<Rows> = queries.iter().map(|q| f.wh.query(q, &[]).unwrap()).collect();
        answers.push(got);
    }
    for (q, (x, y)) in queries.iter().zip(answers[0].iter().zip(&answers[1])) {
        assert_eq!(x.rows, y.rows, "{q}");
    }
}

#[test]
fn unknown_url_is_a_usage_error() {
    let dir = vantage_testkit::tempdir();
    let data = DataDir::open(dir.path()).unwrap();
    let e = Warehouse::open(Some("mysql://x"), &data).unwrap_err();
    assert_eq!(vantage_core::HasExit::exit(&e), vantage_core::Exit::Usage);
    let e = Warehouse::open(Some("postgres://nobody@127.0.0.1:1/none"), &data).unwrap_err();
    assert_eq!(vantage_core::HasExit::exit(&e), vantage_core::Exit::Storage);
    assert!(e.to_string().contains("cannot connect"), "{e}");
    let _ = Path::new("");
}
