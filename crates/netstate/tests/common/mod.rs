//! Helpers shared by the suites: a warehouse on either backend, directory copies.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vantage_core::DataDir;
use vantage_netstate::{ImportOptions, ImportReport, Importer};
use vantage_warehouse::testing::ScratchPostgres;
use vantage_warehouse::Warehouse;

/// A fresh warehouse with its data directory, kept alive with its guards.
pub struct Env {
    pub wh: Warehouse,
    pub data: DataDir,
    pub url: Option<String>,
    pub dir: tempfile::TempDir,
    _pg: Option<ScratchPostgres>,
}

/// The backends to run on: always SQLite, PostgreSQL when configured.
pub fn backends() -> Vec<&'static str> {
    let mut b = vec!["sqlite"];
    if std::env::var("VANTAGE_TEST_PG").is_ok_and(|v| !v.is_empty()) {
        b.push("postgres");
    } else {
        eprintln!("notice: VANTAGE_TEST_PG is unset; PostgreSQL test skipped");
    }
    b
}

pub fn env(backend: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = DataDir::open(&dir.path().join("data")).unwrap();
    let (pg, url) = if backend == "postgres" {
        let pg = ScratchPostgres::new().expect("VANTAGE_TEST_PG set");
        let url = pg.url.clone();
        (Some(pg), Some(url))
    } else {
        (None, None)
    };
    let mut wh = Warehouse::open(url.as_deref(), &data).unwrap();
    vantage_netstate::migrate(&mut wh).unwrap();
    Env { wh, data, url, dir, _pg: pg }
}

impl Env {
    /// A second connection to the same warehouse.
    pub fn reopen(&self) -> Warehouse {
        Warehouse::open(self.url.as_deref(), &self.data).unwrap()
    }

    pub fn import(&mut self, dir: &Path, loaded: &Path, source: &str, every: u64) -> ImportReport {
        let opts = ImportOptions {
            import_dir: Some(dir.to_path_buf()),
            loaded_dir: Some(loaded.to_path_buf()),
            source: source.into(),
            snapshot_every: every,
            wait_secs: 0,
        };
        Importer::new(&mut self.wh, &self.data, opts).run().unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn path(&self, p: &str) -> PathBuf {
        let out = self.dir.path().join(p);
        std::fs::create_dir_all(&out).unwrap();
        out
    }
}

/// Copies the files (not directories) of `from` into `to`, dot-files included.
pub fn copy_files(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
