//! The reports part of `vantage demo`: generated probes submit through the collector,
//! legacy YAML files (one broken on purpose) arrive through ingest, then canning,
//! autoclaving and one `show`; then a two-row fingerprint file of our own, centrifugation,
//! and the top blocked inputs per country and the vendors found, read from the views.

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
    /// Measurements centrifugation loaded.
    pub measurements: u64,
    /// Of them, anomalies, confirmed blockings and failures.
    pub anomalies: i64,
    /// Confirmed blockings.
    pub confirmed: i64,
    /// Failures.
    pub failures: i64,
    /// web_connectivity verdicts by blocking value (`blocking_source` in brackets).
    pub verdicts: Vec<(String, i64)>,
    /// Top blocked inputs per country (`reports_blockpage_urls`): country, input, count.
    pub blocked: Vec<(String, String, i64)>,
    /// Vendors found (`reports_identified_vendors`): country, vendor, reports.
    pub vendors: Vec<(String, String, i64)>,
}

impl DemoSummary {
    /// The centrifugation part as lines to print.
    pub fn view_lines(&self) -> Vec<String> {
        let mut out = vec![format!(
            "reports: {} measurements centrifuged: {} anomalies, {} confirmed, {} failures",
            self.measurements, self.anomalies, self.confirmed, self.failures
        )];
        let v: Vec<String> = self.verdicts.iter().map(|(b, n)| format!("{b} {n}")).collect();
        out.push(format!("reports: web_connectivity verdicts: {}", v.join(", ")));
        for (cc, input, n) in &self.blocked {
            out.push(format!("reports: blocked in {cc}: {input} ({n} measurements)"));
        }
        for (cc, vendor, n) in &self.vendors {
            out.push(format!("reports: vendor {vendor} seen in {cc} ({n} reports)"));
        }
        out
    }
}

/// The demo's own fingerprints (not upstream's file): the IR national blockpage the
/// generator imitates, by its DNS answer and by its iframe.
const DEMO_FINGERPRINTS: &str = "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,expected_countries,source,exp_url,notes
demo.ir_dns,nat,,dns,full,10.10.34.36,5,IR,vantage demo,,
demo.ir_iframe,nat,,body,contains,\"<iframe src=\"\"http://10.10.34.36\",5,IR,vantage demo,,
";

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
    // Each probe runs one test; the IR probe also runs web_connectivity, where the
    // generator serves its national blockpage, so the views have something to show.
    let wc = TESTS.iter().position(|t| t.0 == "web_connectivity").unwrap_or(0);
    let ir = PROBES.iter().position(|p| p.0 == "IR").unwrap_or(0);
    let runs = (0..PROBES.len()).map(|p| (p, p)).chain([(ir, wc)]);
    for (p, t) in runs {
        let (cc, asn) = PROBES[p];
        let (test_name, test_version) = TESTS[t % TESTS.len()];
        let open = serde_json::json!({
            "data_format_version": "0.2.0", "format": "json", "probe_asn": asn, "probe_cc": cc,
            "software_name": "ooniprobe-cli", "software_version": "3.10.1",
            "test_name": test_name, "test_version": test_version,
        });
        let v = post(&collector, "/report", open.to_string().as_bytes())?;
        let rid = v["report_id"].as_str().unwrap_or_default().to_string();
        let start = Timestamp::now();
        for _ in 0..6 {
            let m = generate::measurement(&mut rng, t, p, &rid, Timestamp::now(), start);
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
    let fp = data.inbox("reports")?.join("demo-fingerprints.csv");
    std::fs::write(&fp, DEMO_FINGERPRINTS).map_err(ReportsError::io(&fp))?;
    let loaded = crate::load_fingerprints(wh, &fp);
    std::fs::remove_file(&fp).map_err(ReportsError::io(&fp))?;
    loaded?;
    let cf = crate::centrifuge(data, wh, None, false)?;
    let n = |wh: &mut Warehouse, sql: &str| -> Result<i64, ReportsError> {
        Ok(wh.query_i64(sql, &[])?.unwrap_or(0))
    };
    let anomalies = n(wh, "SELECT COUNT(*) FROM reports_measurement WHERE anomaly = 1")?;
    let confirmed = n(wh, "SELECT COUNT(*) FROM reports_measurement WHERE confirmed = 1")?;
    let failures = n(wh, "SELECT COUNT(*) FROM reports_measurement WHERE msm_failure = 1")?;
    let r = wh.query(
        "SELECT COALESCE(blocking, 'null') || ' [' || blocking_source || ']', COUNT(*) FROM reports_http_verdict GROUP BY 1 ORDER BY 2 DESC, 1",
        &[],
    )?;
    let verdicts = r.rows.iter().map(|r| (r[0].to_text(), r[1].as_i64().unwrap_or(0))).collect();
    let r = wh.query(
        "SELECT probe_cc, COALESCE(input, ''), COUNT(*) FROM reports_blockpage_urls GROUP BY probe_cc, input ORDER BY probe_cc, 3 DESC, 2",
        &[],
    )?;
    let mut blocked: Vec<(String, String, i64)> = Vec::new();
    for row in &r.rows {
        let cc = row[0].to_text();
        // The top three per country.
        if blocked.iter().filter(|b| b.0 == cc).count() < 3 {
            blocked.push((cc, row[1].to_text(), row[2].as_i64().unwrap_or(0)));
        }
    }
    let r = wh.query(
        "SELECT probe_cc, vendor, COUNT(DISTINCT report_id) FROM reports_identified_vendors GROUP BY probe_cc, vendor ORDER BY probe_cc, vendor",
        &[],
    )?;
    let vendors = r
        .rows
        .iter()
        .map(|r| (r[0].to_text(), r[1].to_text(), r[2].as_i64().unwrap_or(0)))
        .collect();
    Ok(DemoSummary {
        measurements: cf.measurements(),
        anomalies,
        confirmed,
        failures,
        verdicts,
        blocked,
        vendors,
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
        // Six measurements per probe and one more IR report.
        assert_eq!(s.collector_measurements, 6 * (PROBES.len() + 1));
        // Collector datums + 10 intact YAML + 4 of the cut one.
        assert_eq!(s.datums as usize, s.collector_measurements + 10 + 4, "{s:?}");
        assert_eq!(s.badblobs, 1);
        assert!(s.sample_bytes > 100);
        assert_eq!(s.measurements, s.datums, "every datum centrifuged");
        assert!(s.confirmed > 0 && !s.blocked.is_empty(), "{s:?}");
        assert!(s.blocked.iter().all(|b| b.0 == "IR"), "only IR fingerprints: {:?}", s.blocked);
        assert!(s.view_lines().len() >= 3);
    }
}
