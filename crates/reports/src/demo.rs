//! The reports part of `vantage demo`: generated probes submit through the collector,
//! legacy YAML files (one broken on purpose) arrive through ingest, then canning,
//! autoclaving and one `show`.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;
use vantage_core::{DataDir, Timestamp};
use vantage_warehouse::{Sql, Warehouse};

use crate::collector::{Collector, Request};
use crate::generate::{self, PROBES, TESTS};
use crate::{autoclave, can, ingest, ReportsConfig, ReportsError};

/// What the demo did, for its summary.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// Reports opened and closed through the collector.
    pub collector_reports: usize,
    /// Measurements submitted through the collector.
    pub collector_measurements: usize,
    /// Legacy YAML report files ingested.
    pub yaml_reports: usize,
    /// Raw cans written.
    pub raw_cans: usize,
    /// Clean cans written.
    pub clean_cans: usize,
    /// Normalized measurements.
    pub datums: u64,
    /// Badblobs (the broken YAML report's).
    pub badblobs: u64,
    /// Countries seen.
    pub countries: Vec<String>,
    /// A measurement_uid to try `vantage reports show` with.
    pub sample_uid: Option<String>,
    /// Bytes of its normalized line.
    pub sample_bytes: usize,
}

fn post(c: &Collector, path: &str, body: &[u8]) -> Result<serde_json::Value, ReportsError> {
    let req = Request {
        method: "POST",
        path,
        content_type: Some("application/json"),
        content_encoding: None,
        body,
        peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let r = c.handle(&req, Timestamp::now());
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    if r.status != 200 {
        return Err(ReportsError::Usage(format!("collector answered {} to {path}: {v}", r.status)));
    }
    Ok(v)
}

/// Runs the reports demo in `data` (the caller holds no `reports` lock; this takes it).
/// `warehouse` is the URL the collector records arrivals in (None: SQLite in `data`).
pub fn demo(
    data: &DataDir,
    wh: &mut Warehouse,
    warehouse: Option<&str>,
    config: &ReportsConfig,
    seed: u64,
) -> Result<DemoSummary, ReportsError> {
    let _lock = crate::lock(wh, data)?;
    wh.migrate("reports", crate::schema::MIGRATIONS)?;
    let mut rng = generate::rng(seed);
    // The collector, as probes use it: open, submit, close.
    let collector = Collector::open(
        data,
        config.collector.clone(),
        warehouse.map(str::to_string),
        Timestamp::now(),
    )?;
    let (mut reports, mut measurements) = (0, 0);
    for (p, (cc, asn)) in PROBES.iter().enumerate() {
        let (test_name, test_version) = TESTS[p % TESTS.len()];
        let open = serde_json::json!({
            "data_format_version": "0.2.0", "format": "json", "probe_asn": asn, "probe_cc": cc,
            "software_name": "ooniprobe-cli", "software_version": "3.10.1",
            "test_name": test_name, "test_version": test_version,
        });
        let v = post(&collector, "/report", open.to_string().as_bytes())?;
        let rid = v["report_id"].as_str().unwrap_or_default().to_string();
        let start = Timestamp::now();
        for _ in 0..6 {
            let m = generate::measurement(&mut rng, p, p, &rid, Timestamp::now(), start);
            let body = format!("{{\"format\":\"json\",\"content\":{m}}}");
            post(&collector, &format!("/report/{rid}"), body.as_bytes())?;
            measurements += 1;
        }
        post(&collector, &format!("/report/{rid}/close"), b"{}")?;
        reports += 1;
    }
    // Legacy YAML files from 2016, one cut short mid-entry.
    let drop = data.inbox("reports")?.join("demo-yaml");
    let day = vantage_core::Bucket::parse("2016-07-07")
        .map_err(|e| ReportsError::Usage(e.to_string()))?;
    let mut yaml = 0;
    for (i, dns) in [true, false, true].into_iter().enumerate() {
        let mut rep = generate::yaml_report(
            &mut rng,
            dns,
            i + 1,
            Timestamp(day.start().0 + 3_600_000_000_000 * i as i64),
            5,
        );
        if i == 2 {
            let cut = rep.bytes.len() - 40;
            rep.bytes.truncate(cut);
        }
        let dir = drop.join(rep.bucket.to_string());
        std::fs::create_dir_all(&dir).map_err(ReportsError::io(&dir))?;
        let p = dir.join(&rep.name);
        std::fs::write(&p, &rep.bytes).map_err(ReportsError::io(&p))?;
        yaml += 1;
    }
    ingest(data, wh, std::slice::from_ref(&drop), None)?;
    std::fs::remove_dir_all(&drop).map_err(ReportsError::io(&drop))?;
    let c = can(data, wh, config, None)?;
    let a = autoclave(data, wh, config, None, false)?;
    let sample = wh.query("SELECT uid FROM reports_datum_locator ORDER BY uid LIMIT 1", &[])?;
    let sample_uid = sample.rows.first().map(|r| r[0].to_text());
    let sample_bytes = match &sample_uid {
        Some(uid) => crate::show(data, wh, uid)?.len(),
        None => 0,
    };
    Ok(DemoSummary {
        collector_reports: reports,
        collector_measurements: measurements,
        yaml_reports: yaml,
        raw_cans: c.cans.len(),
        clean_cans: a.cans.len(),
        datums: a.datums(),
        badblobs: a.badblobs(),
        countries: PROBES.iter().map(|(cc, _)| cc.to_string()).collect(),
        sample_uid,
        sample_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_runs_end_to_end() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let mut wh = Warehouse::open(None, &data).unwrap();
        let s = demo(&data, &mut wh, None, &ReportsConfig::default(), 1).unwrap();
        assert_eq!(s.collector_measurements, 48);
        // 48 collector datums + 10 intact YAML + 4 of the cut one.
        assert_eq!(s.datums, 48 + 10 + 4, "{s:?}");
        assert_eq!(s.badblobs, 1);
        assert!(s.sample_bytes > 100);
    }
}
