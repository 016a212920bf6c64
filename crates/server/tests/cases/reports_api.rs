//! `/api/v1/reports/` over centrifuged tables (reports spec §10): the conformance
//! measurements centrifuged with the published fingerprints, then the `api_result` case of
//! expected.json (fields in Vantage's encoding, selected by `domain=yooz.ir`), every
//! listing filter, paging, one measurement by uid and the aggregations by country and by
//! day, each checked against the warehouse.

use std::path::Path;

use serde_json::Value as J;
use vantage_core::DataDir;
use vantage_reports::ReportsConfig;
use vantage_server::Server;
use vantage_testkit as testkit;
use vantage_warehouse::testing::ScratchPostgres;
use vantage_warehouse::{Sql, Warehouse};

use crate::fixture;
use crate::http::get;

/// The fastpath measurements as one-line reports and the synthetic reports, through
/// ingest, can, autoclave and centrifuge with both fingerprint files loaded.
fn centrifuged(conf: &Path, data: &Path, url: Option<&str>) {
    let staged = data.with_extension("in");
    let day = staged.join("2020-01-01");
    std::fs::create_dir_all(&day).unwrap();
    for file in testkit::files(&conf.join("fastpath"), "json") {
        let v = vantage_reports::json::parse(&std::fs::read(&file).unwrap()).unwrap();
        let mut line = vantage_reports::json::to_string(&v);
        line.push('\n');
        std::fs::write(day.join(file.file_name().unwrap()), line).unwrap();
    }
    let dd = DataDir::open(data).unwrap();
    let mut wh = Warehouse::open(url, &dd).unwrap();
    let cfg = ReportsConfig { min_free: 0, can_max_wait: 0, ..ReportsConfig::default() };
    for csv in ["fingerprints_dns.csv", "fingerprints_http.csv"] {
        vantage_reports::load_fingerprints(&mut wh, &conf.join("fingerprints").join(csv)).unwrap();
    }
    vantage_reports::ingest(&dd, &mut wh, &[staged], None).unwrap();
    vantage_reports::can(&dd, &mut wh, &cfg, None).unwrap();
    vantage_reports::autoclave(&dd, &mut wh, &cfg, None, false).unwrap();
    let s = vantage_reports::centrifuge(&dd, &mut wh, None, false).unwrap();
    assert!(s.measurements() >= 20, "{s:?}");
}

fn scalar(data: &Path, url: Option<&str>, sql: &str) -> i64 {
    let dd = DataDir::open(data).unwrap();
    let mut wh = Warehouse::open(url, &dd).unwrap();
    wh.query_i64(sql, &[]).unwrap().unwrap_or(0)
}

const COUNTED: &str = "SELECT COUNT(*) FROM reports_measurement m \
    JOIN reports_report r ON r.report_no = m.report_no \
    LEFT JOIN reports_input i ON i.input_no = m.input_no";

fn api(url: Option<&str>) {
    let Some(conf) = testkit::conformance("reports") else { return };
    let cases = testkit::read_json(&conf.join("expected.json"));
    let case = cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["field"] == "api_result")
        .expect("expected.json has an api_result case")
        .clone();
    let want = &case["expected"];
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    centrifuged(&conf, &data, url);
    let server = Server::bind(&fixture::config(&data, url, &[])).expect("bind");
    let running = server.spawn();
    let addr = running.addr;
    let list = |q: &str| {
        let a = get(addr, &format!("/api/v1/reports/measurements?{q}"));
        assert_eq!(a.status, 200, "{q}: {}", String::from_utf8_lossy(&a.body));
        a.json()
    };
    let count = |q: &str| list(q)["metadata"]["count"].as_i64().unwrap();
    let sql = |w: &str| scalar(&data, url, &format!("{COUNTED} WHERE {w}"));

    // The api_result case: domain=yooz.ir selects it, with the listed fields as expected.
    let got = list("domain=yooz.ir");
    let results = got["results"].as_array().unwrap();
    assert_eq!(results.len(), 1, "{got}");
    let row = &results[0];
    for (k, v) in want.as_object().unwrap() {
        assert_eq!(&row[k], v, "{k} of {row}");
    }
    assert_eq!(count("domain=example.invalid"), 0);

    // Each filter selects what the same condition selects in SQL.
    let total = scalar(&data, url, COUNTED);
    assert!(total >= 20);
    assert_eq!(count("limit=1"), total);
    assert_eq!(count("probe_cc=IR"), sql("r.probe_cc = 'IR'"));
    assert_eq!(count("probe_asn=AS197207"), sql("r.probe_asn = 197207"));
    assert_eq!(count("probe_asn=197207"), count("probe_asn=AS197207"));
    assert_eq!(count("test_name=web_connectivity"), sql("r.test_name = 'web_connectivity'"));
    assert_eq!(count("input=https%3A%2F%2Fyooz.ir%2F"), sql("i.input = 'https://yooz.ir/'"));
    let n = |w: &str| sql(w);
    assert_eq!(count("anomaly=true"), n("m.anomaly = 1"));
    assert_eq!(count("confirmed=true"), n("m.confirmed = 1"));
    assert_eq!(count("failure=true"), n("m.msm_failure = 1"));
    assert_eq!(count("anomaly=true") + count("anomaly=false"), total);
    assert!(count("confirmed=true") >= 2, "the IR and ID blockpages are confirmed");
    // since inclusive, until exclusive, on measurement_start_time.
    let t = want["measurement_start_time"].as_str().unwrap();
    assert!(count(&format!("since={t}")) >= 1);
    assert_eq!(count(&format!("domain=yooz.ir&since={t}")), 1);
    assert_eq!(count(&format!("domain=yooz.ir&until={t}")), 0);
    assert_eq!(
        count(&format!("since={t}")) + count(&format!("until={t}")),
        total - sql("m.measurement_start_time IS NULL")
    );
    assert_eq!(count("since=2022-08-15&until=2022-08-16"), n("m.measurement_start_time >= '2022-08-15 00:00:00' AND m.measurement_start_time < '2022-08-16 00:00:00'"));

    // Paging: pages of 7 cover every measurement once, newest first, next_url chained.
    let mut seen = Vec::new();
    let mut q = "limit=7".to_string();
    loop {
        let page = list(&q);
        let rs = page["results"].as_array().unwrap();
        assert!(rs.len() <= 7);
        seen.extend(rs.iter().map(|r| r["measurement_uid"].as_str().unwrap().to_string()));
        match page["metadata"]["next_url"].as_str() {
            Some(next) => q = next.split_once('?').unwrap().1.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len() as i64, total);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "a measurement on two pages");
    let asc = list(&format!("order=asc&limit={total}"));
    let mut asc_uids: Vec<String> = asc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["measurement_uid"].as_str().unwrap().to_string())
        .collect();
    asc_uids.reverse();
    assert_eq!(asc_uids, seen);

    // One measurement by uid: the normalized line of that measurement.
    let uid = row["measurement_uid"].as_str().unwrap();
    let one = get(addr, row["measurement_url"].as_str().unwrap());
    assert_eq!(one.status, 200);
    let m = one.json();
    assert_eq!(m["measurement_uid"].as_str().unwrap_or(uid), uid);
    assert_eq!(m["report_id"], want["report_id"]);
    assert_eq!(m["input"], want["input"]);

    // Aggregation by country and by day: the SQL counts per group.
    let agg = get(addr, "/api/v1/reports/aggregation?axis_x=probe_cc").json();
    assert_eq!(agg["dimension_count"], 1);
    let groups = agg["result"].as_array().unwrap();
    let mut sum = 0;
    for g in groups {
        let cc = g["probe_cc"].as_str().unwrap();
        let c = g["measurement_count"].as_i64().unwrap();
        assert_eq!(c, sql(&format!("r.probe_cc = '{cc}'")), "{g}");
        let parts: i64 = ["anomaly_count", "confirmed_count", "failure_count", "ok_count"]
            .iter()
            .map(|k| g[*k].as_i64().unwrap())
            .sum();
        assert_eq!(parts, c, "each measurement in exactly one class: {g}");
        sum += c;
    }
    assert_eq!(sum, total);
    let ir = groups.iter().find(|g| g["probe_cc"] == "IR").expect("an IR group");
    assert_eq!(
        ir["confirmed_count"].as_i64().unwrap(),
        sql("r.probe_cc = 'IR' AND m.confirmed = 1 AND m.msm_failure = 0")
    );
    let days =
        get(addr, "/api/v1/reports/aggregation?axis_x=measurement_start_day&probe_cc=IR").json();
    let day = days["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["measurement_start_day"] == "2022-08-15")
        .cloned()
        .unwrap_or(J::Null);
    assert_eq!(
        day["measurement_count"].as_i64(),
        Some(sql("r.probe_cc = 'IR' AND m.measurement_start_time >= '2022-08-15 00:00:00' AND m.measurement_start_time < '2022-08-16 00:00:00'")),
        "{days}"
    );
    let two = get(addr, "/api/v1/reports/aggregation?axis_x=probe_cc&axis_y=measurement_start_day")
        .json();
    assert_eq!(two["dimension_count"], 2);
    let n2: i64 = two["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["measurement_count"].as_i64().unwrap())
        .sum();
    assert_eq!(n2, total);
}

#[test]
fn reports_api_sqlite() {
    api(None);
}

#[test]
fn reports_api_postgres() {
    let Some(pg) = ScratchPostgres::new() else { return };
    api(Some(&pg.url));
}
