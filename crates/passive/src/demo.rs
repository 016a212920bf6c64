//! The passive part of `vantage demo`: a few routers' generated updates, ingested and
//! processed, summarized as bytes per hour per router and the top domains.

use vantage_warehouse::{Rows, Sql, Warehouse};

use crate::config::PassiveEnv;
use crate::error::PassiveError;
use crate::generate::{generate, GenLayout, GenerateOptions};
use crate::ingest::ingest_paths;
use crate::process::{process, ProcessOptions};

/// What the demo did and the summary tables it prints.
#[derive(Debug)]
pub struct DemoSummary {
    /// One line of what happened.
    pub headline: String,
    /// (title, rows) pairs to print.
    pub tables: Vec<(String, Rows)>,
}

/// Generates 3 routers × 2 sessions × 12 updates under `<data>/demo/passive`, ingests
/// and processes them (`warehouse_url` for the workers' connections), and returns bytes
/// per hour per router and the top ten whitelisted domains.
pub fn demo(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    warehouse_url: Option<&str>,
) -> Result<DemoSummary, PassiveError> {
    let out = env.data.ensure(&env.data.root().join("demo").join("passive"))?;
    let opts = GenerateOptions {
        out: out.clone(),
        routers: 3,
        sessions: 2,
        updates: 12,
        seed: 7,
        layout: GenLayout::Tar,
        ..GenerateOptions::default()
    };
    let g = generate(&opts)?;
    let tarballs: Vec<_> = crate::ingest::expand(&[out])?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tar"))
        .collect();
    let reports = ingest_paths(env, wh, &tarballs, |_| {})?;
    let indexed: u64 = reports.iter().map(|r| r.indexed).sum();
    let p = process(
        env,
        wh,
        &ProcessOptions {
            warehouse_url: warehouse_url.map(str::to_string),
            ..ProcessOptions::default()
        },
    )?;
    let hourly = wh.query(
        "SELECT SUBSTR(node_id, 1, 12) AS router, hour, bytes FROM passive_bytes_per_hour ORDER BY node_id, hour",
        &[],
    )?;
    let domains = wh.query(
        "SELECT domain, SUM(bytes) AS bytes FROM passive_bytes_per_domain_per_hour GROUP BY domain
         ORDER BY SUM(bytes) DESC, domain LIMIT 10",
        &[],
    )?;
    let consumed = p.processors.iter().map(|r| r.updates_consumed).max().unwrap_or(0);
    Ok(DemoSummary {
        headline: format!(
            "passive: {} routers, {} updates ({} MB of update text) in {} tarballs; {indexed} indexed, {consumed} processed",
            opts.routers,
            g.updates,
            g.uncompressed_bytes / 1_000_000,
            reports.len()
        ),
        tables: vec![("bytes per hour per router".into(), hourly), ("top domains".into(), domains)],
    })
}
