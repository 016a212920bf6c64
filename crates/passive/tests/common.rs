//! Helpers shared by the integration tests: a data directory and warehouse per backend,
//! table snapshots as sorted JSON rows.

use serde_json::Value as Json;
use vantage_core::DataDir;
use vantage_passive::{PassiveConfig, PassiveEnv};
use vantage_warehouse::testing::ScratchPostgres;
use vantage_warehouse::{Sql, Value, Warehouse};

/// One test's storage: a temporary data directory and a warehouse on one backend.
pub struct Store {
    pub env: PassiveEnv,
    pub wh: Warehouse,
    pub url: Option<String>,
    _tmp: tempfile::TempDir,
    _pg: Option<ScratchPostgres>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Both backends, PostgreSQL only when VANTAGE_TEST_PG is set.
pub fn backends() -> Vec<Backend> {
    vec![Backend::Sqlite, Backend::Postgres]
}

impl Store {
    /// A fresh store, or None when the backend is not available (notice printed).
    pub fn new(backend: Backend, config: PassiveConfig) -> Option<Store> {
        let tmp = vantage_testkit::tempdir();
        let data = DataDir::open(&tmp.path().join("data")).unwrap();
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(ScratchPostgres::new()?),
        };
        let url = pg.as_ref().map(|p| p.url.clone());
        let mut wh = Warehouse::open(url.as_deref(), &data).unwrap();
        vantage_passive::schema::migrate(&mut wh).unwrap();
        let env = PassiveEnv::new(data, config).unwrap();
        Some(Store { env, wh, url, _tmp: tmp, _pg: pg })
    }

    pub fn options(&self) -> vantage_passive::ProcessOptions {
        vantage_passive::ProcessOptions { warehouse_url: self.url.clone(), ..Default::default() }
    }

    pub fn process(&mut self) -> vantage_passive::ProcessReport {
        let opts = self.options();
        vantage_passive::process(&self.env, &mut self.wh, &opts).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Raw node ids as given (the processor vectors sit after pseudonymization).
pub fn raw_ids() -> PassiveConfig {
    PassiveConfig { pseudonymize_node_ids: false, ..PassiveConfig::default() }
}

pub fn to_json(v: &Value) -> Json {
    match v {
        Value::Text(s) if s.starts_with('[') => {
            serde_json::from_str(s).unwrap_or(Json::String(s.clone()))
        }
        other => other.to_json(),
    }
}

/// The rows of `table`, only the given columns, as sorted JSON (booleans as 0/1).
pub fn table(db: &mut dyn Sql, table: &str, columns: &[String]) -> Vec<Json> {
    let cols: Vec<String> =
        columns.iter().map(|c| if c == "end" { "\"end\"".into() } else { c.clone() }).collect();
    let rows = db.query(&format!("SELECT {} FROM {table}", cols.join(", ")), &[]).unwrap();
    let mut out: Vec<Json> = rows
        .rows
        .iter()
        .map(|r| Json::Object(columns.iter().cloned().zip(r.iter().map(to_json)).collect()))
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

/// Expected rows normalized like [`table`]: booleans become 0/1.
pub fn normalize(rows: &[Json]) -> Vec<Json> {
    let mut out: Vec<Json> = rows
        .iter()
        .map(|r| {
            let obj = r.as_object().unwrap().iter().map(|(k, v)| {
                let v = match v {
                    Json::Bool(b) => Json::from(i64::from(*b)),
                    other => other.clone(),
                };
                (k.clone(), v)
            });
            Json::Object(obj.collect())
        })
        .collect();
    out.sort_by_key(|v| v.to_string());
    out
}

/// Every table the processors fill, whole, for comparing two runs.
pub fn all_tables(db: &mut dyn Sql) -> Vec<(String, Vec<Vec<Value>>)> {
    let names = db
        .query(
            "SELECT name FROM (SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()) t
             WHERE name LIKE 'passive_%'",
            &[],
        )
        .ok();
    let names: Vec<String> = match names {
        Some(n) => n.rows.iter().map(|r| r[0].to_text()).collect(),
        None => db
            .query("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name LIKE 'passive_%'", &[])
            .unwrap()
            .rows
            .iter()
            .map(|r| r[0].to_text())
            .collect(),
    };
    let skip = [
        "passive_tarballs",
        "passive_updates",
        "passive_positions",
        "passive_dirty",
        "passive_member_quarantine",
    ];
    let mut out = Vec::new();
    let mut names: Vec<String> =
        names.into_iter().filter(|n| !skip.contains(&n.as_str())).collect();
    names.sort();
    for n in names {
        let rows = db.query(&format!("SELECT * FROM {n}"), &[]).unwrap();
        let mut rows = rows.rows;
        rows.sort_by_key(|r| format!("{r:?}"));
        out.push((n, rows));
    }
    out
}
