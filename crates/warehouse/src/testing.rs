//! Scratch PostgreSQL schemas for tests of every crate.
//!
//! Tables have fixed names (`catalog_arrivals`, ...), so parallel tests on one database
//! each get a schema of their own, selected through the connection's `search_path`.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::warehouse::connect_postgres;

/// A schema created for one test and dropped when this goes out of scope.
#[derive(Debug)]
pub struct ScratchPostgres {
    /// A connection string whose sessions use the scratch schema.
    pub url: String,
    base: String,
    schema: String,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl ScratchPostgres {
    /// A fresh schema in the database `VANTAGE_TEST_PG` names; `None` (with a printed
    /// notice) when it is unset, unless `VANTAGE_REQUIRE_PG` is set. Panics when it is set but unusable: a test that
    /// silently skips a backend it was asked to run proves nothing.
    pub fn new() -> Option<ScratchPostgres> {
        let base = match std::env::var("VANTAGE_TEST_PG") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                // CI sets VANTAGE_REQUIRE_PG so that a missing server fails loudly
                // instead of passing as a skip.
                if std::env::var_os("VANTAGE_REQUIRE_PG").is_some() {
                    panic!("VANTAGE_REQUIRE_PG is set but VANTAGE_TEST_PG is not");
                }
                eprintln!("notice: VANTAGE_TEST_PG is unset; PostgreSQL test skipped");
                return None;
            }
        };
        let schema = format!(
            "vt_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            vantage_core::Timestamp::now().nanos() % 1_000_000_007
        );
        let mut c = connect_postgres(&base).unwrap_or_else(|e| panic!("VANTAGE_TEST_PG: {e}"));
        c.batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap_or_else(|e| panic!("VANTAGE_TEST_PG: create schema: {e}"));
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-csearch_path%3D{schema}");
        Some(ScratchPostgres { url, base, schema })
    }
}

impl Drop for ScratchPostgres {
    fn drop(&mut self) {
        if let Ok(mut c) = connect_postgres(&self.base) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }
}
