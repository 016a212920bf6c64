//! A deterministic generator of probe reports for the demo and the benches: realistic
//! web_connectivity, http_requests, dns_consistency, tcp_connect and vanilla_tor
//! measurements from several countries and networks, as JSON 0.2.0 and legacy YAML 0.1.0.
//!
//! Same seed, same bytes: benches compare runs on one corpus, and the demo's numbers are
//! reproducible.

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vantage_core::{Bucket, Timestamp};

use crate::json::write_str;

/// Vantage points: country, network.
pub const PROBES: &[(&str, &str)] = &[
    ("IT", "AS30722"),
    ("DE", "AS3320"),
    ("IR", "AS197207"),
    ("RU", "AS12389"),
    ("BR", "AS28573"),
    ("US", "AS7922"),
    ("IN", "AS55836"),
    ("ID", "AS7713"),
];

/// The tests generated, with their versions.
pub const TESTS: &[(&str, &str)] = &[
    ("web_connectivity", "0.4.1"),
    ("http_requests", "0.2.5"),
    ("dns_consistency", "0.7.0"),
    ("tcp_connect", "0.1.0"),
    ("vanilla_tor", "0.3.0"),
];

const SITES: &[&str] = &[
    "www.example.org",
    "news.example.com",
    "www.torproject.org",
    "twitter.com",
    "www.bbc.co.uk",
    "fa.wikipedia.org",
    "www.reddit.com",
    "archive.org",
    "www.hrw.org",
    "telegram.org",
];

fn q(s: &str) -> String {
    let mut out = Vec::new();
    write_str(&mut out, s);
    String::from_utf8_lossy(&out).into_owned()
}

fn ip(rng: &mut StdRng) -> String {
    format!(
        "{}.{}.{}.{}",
        rng.gen_range(1..224),
        rng.gen_range(0..256),
        rng.gen_range(0..256),
        rng.gen_range(1..255)
    )
}

fn html(rng: &mut StdRng, site: &str, blocked: bool) -> String {
    if blocked {
        return format!("<html><head><title>Access denied</title></head><body><iframe src=\"http://10.10.34.36/?{}\"></iframe></body></html>", rng.gen::<u32>());
    }
    let mut s = format!("<!DOCTYPE html><html><head><title>{site} home</title><meta charset=\"utf-8\"></head><body>");
    for i in 0..rng.gen_range(20..80) {
        s.push_str(&format!("<p id=\"p{i}\">Lorem ipsum dolor sit amet {} consectetur adipiscing elit, sed do eiusmod tempor.</p>\n", rng.gen::<u32>()));
    }
    s.push_str("</body></html>");
    s
}

fn stamp(t: Timestamp) -> String {
    let secs = t.0.div_euclid(1_000_000_000);
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// One JSON 0.2.0 measurement (a JSON object on one line, no `\n`).
pub fn measurement(
    rng: &mut StdRng,
    test: usize,
    probe: usize,
    report_id: &str,
    at: Timestamp,
    start: Timestamp,
) -> String {
    let (test_name, test_version) = TESTS[test % TESTS.len()];
    let (cc, asn) = PROBES[probe % PROBES.len()];
    let site = SITES[rng.gen_range(0..SITES.len())];
    let blocked = cc == "IR" && rng.gen_bool(0.4);
    let input = match test_name {
        "web_connectivity" | "http_requests" => format!("\"http://{site}/\""),
        "dns_consistency" => format!("\"{site}\""),
        "tcp_connect" => format!("\"{}:443\"", ip(rng)),
        _ => "null".into(),
    };
    let addr = if blocked { "10.10.34.36".to_string() } else { ip(rng) };
    let test_keys = match test_name {
        "web_connectivity" => {
            let body = html(rng, site, blocked);
            format!(
                r#"{{"agent":"redirect","client_resolver":"{}","retries":0,"socksproxy":null,"queries":[{{"answers":[{{"answer_type":"A","ipv4":"{addr}","ttl":null}}],"engine":"system","failure":null,"hostname":"{site}","query_type":"A","resolver_hostname":null,"resolver_port":null}}],"tcp_connect":[{{"ip":"{addr}","port":80,"status":{{"blocked":false,"failure":null,"success":true}}}}],"requests":[{{"failure":null,"request":{{"body":"","headers":{{"Accept":"text/html","User-Agent":"Mozilla/5.0"}},"method":"GET","tor":{{"exit_ip":null,"exit_name":null,"is_tor":false}},"url":"http://{site}/"}},"response":{{"body":{},"code":200,"headers":{{"Content-Type":"text/html; charset=utf-8","Server":"nginx"}}}}}}],"control_failure":null,"control":{{"http_request":{{"body_length":{},"failure":null,"headers":{{"Content-Type":"text/html"}},"status_code":200,"title":"{site} home"}}}},"dns_consistency":"{}","http_experiment_failure":null,"body_length_match":{},"body_proportion":{:.3},"status_code_match":true,"headers_match":true,"title_match":{},"accessible":{},"blocking":{}}}"#,
                ip(rng),
                q(&body),
                body.len() + rng.gen_range(0..40),
                if blocked { "inconsistent" } else { "consistent" },
                !blocked,
                if blocked { 0.05 } else { 0.98 },
                !blocked,
                !blocked,
                if blocked { "\"dns\"" } else { "false" },
            )
        }
        "http_requests" => {
            let body = html(rng, site, blocked);
            format!(
                r#"{{"agent":"agent","socksproxy":null,"requests":[{{"failure":null,"request":{{"body":"","headers":{{"User-Agent":"Mozilla/5.0"}},"method":"GET","tor":{{"exit_ip":null,"exit_name":null,"is_tor":false}},"url":"http://{site}/"}},"response":{{"body":{},"code":200,"headers":{{"Content-Type":"text/html"}}}}}}],"body_length_match":{},"headers_match":true,"factor":0.8}}"#,
                q(&body),
                !blocked
            )
        }
        "dns_consistency" => format!(
            r#"{{"control_resolver":"8.8.8.8:53","errors":{{"{0}":{1}}},"failed":[],"inconsistent":{2},"successful":{3},"queries":[{{"answers":[{{"answer_type":"A","ipv4":"{addr}","ttl":"300"}}],"failure":null,"hostname":"{site}","query_type":"A","resolver_hostname":"{0}","resolver_port":53}}]}}"#,
            ip(rng),
            if blocked { "\"inconsistent\"" } else { "false" },
            if blocked { "[\"x\"]" } else { "[]" },
            if blocked { "[]" } else { "[\"x\"]" },
        ),
        "tcp_connect" => format!(
            r#"{{"connection":{}}}"#,
            if rng.gen_bool(0.9) { "\"success\"" } else { "\"generic_timeout_error\"" }
        ),
        _ => {
            let progress = if rng.gen_bool(0.8) { 100 } else { rng.gen_range(5..90) };
            format!(
                r#"{{"error":null,"success":{},"timeout":300,"tor_progress":{progress},"tor_progress_tag":"done","tor_progress_summary":"Done","tor_version":"0.4.5.7","tor_log":"Jan 01 00:00:01.000 [notice] Bootstrapped {progress}%"}}"#,
                progress == 100
            )
        }
    };
    format!(
        r#"{{"annotations":{{"platform":"linux"}},"data_format_version":"0.2.0","input":{input},"measurement_start_time":"{}","probe_asn":"{asn}","probe_cc":"{cc}","probe_ip":"127.0.0.1","report_id":"{report_id}","resolver_asn":"{asn}","resolver_ip":"{}","software_name":"ooniprobe-cli","software_version":"3.10.1","test_keys":{test_keys},"test_name":"{test_name}","test_runtime":{:.4},"test_start_time":"{}","test_version":"{test_version}"}}"#,
        stamp(at),
        ip(rng),
        rng.gen_range(0.1..5.0),
        stamp(start),
    )
}

/// One report file: its §2.3 name and bytes.
#[derive(Debug, Clone)]
pub struct GeneratedReport {
    /// The bucket it belongs to.
    pub bucket: Bucket,
    /// Its file name.
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// A JSON 0.2.0 report of `n` measurements of `test` from `probe`, started at `start`.
pub fn json_report(
    rng: &mut StdRng,
    test: usize,
    probe: usize,
    start: Timestamp,
    n: usize,
) -> GeneratedReport {
    let (test_name, _) = TESTS[test % TESTS.len()];
    let (cc, asn) = PROBES[probe % PROBES.len()];
    let t =
        chrono::DateTime::from_timestamp(start.0.div_euclid(1_000_000_000), 0).unwrap_or_default();
    let rid = format!(
        "{}_{}_{cc}_{}_n1_{:016x}",
        t.format("%Y%m%dT%H%M%SZ"),
        test_name.replace('_', ""),
        &asn[2..],
        rng.gen::<u64>()
    );
    let mut bytes = Vec::new();
    for i in 0..n {
        let at = Timestamp(start.0 + (i as i64) * 2_000_000_000);
        bytes.extend_from_slice(measurement(rng, test, probe, &rid, at, start).as_bytes());
        bytes.push(b'\n');
    }
    let name =
        format!("{}-{cc}-{asn}-{test_name}-{rid}-0.2.0-probe.json", t.format("%Y%m%dT%H%M%SZ"));
    GeneratedReport { bucket: start.bucket(), name, bytes }
}

/// A legacy YAML 0.1.0 report (header document, one document per entry), as ooniprobe
/// 1.x wrote them: a banner, epoch times, `!!binary` bodies, Twisted DNS reprs.
pub fn yaml_report(
    rng: &mut StdRng,
    dns: bool,
    probe: usize,
    start: Timestamp,
    n: usize,
) -> GeneratedReport {
    let (cc, asn) = PROBES[probe % PROBES.len()];
    let test_name = if dns { "dns_consistency" } else { "http_requests" };
    let secs = start.0.div_euclid(1_000_000_000);
    let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    let rid: String = (0..64)
        .map(|_| {
            char::from(
                b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    [rng.gen_range(0..62)],
            )
        })
        .collect();
    let mut s = format!(
        "###########################################\n# OONI Probe Report for {test_name} test\n###########################################\n---\ninput_hashes: []\noptions: [-f, urls.txt]\nprobe_asn: {asn}\nprobe_cc: {cc}\nprobe_city: null\nprobe_ip: 127.0.0.1\nreport_id: {rid}\nsoftware_name: ooniprobe\nsoftware_version: 1.3.2\nstart_time: {secs}.0\ntest_helpers: {{backend: '8.8.8.8:53'}}\ntest_name: {test_name}\ntest_version: '0.6'\n...\n"
    );
    for i in 0..n {
        let site = SITES[rng.gen_range(0..SITES.len())];
        let a = ip(rng);
        if dns {
            s.push_str(&format!(
                "---\ncontrol_resolver: '8.8.8.8:53'\ninput: {site}\nqueries:\n- addrs: [{a}]\n  answers:\n  - ['<RR name={site} type=A class=IN ttl=300s auth=False>', '<A address={a} ttl=300>']\n  failure: null\n  query: '[Query(''{site}'', 1, 1)]'\n  query_type: A\n  resolver: [8.8.8.8, 53]\ntampering: {{8.8.8.8: {}}}\ntest_resolvers: [8.8.8.8]\ntest_runtime: 0.{}\ntest_start_time: {}.0\n...\n",
                rng.gen_bool(0.1),
                rng.gen_range(100..999),
                secs + i as i64
            ));
        } else {
            let body = base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                html(rng, site, false).as_bytes(),
            );
            s.push_str(&format!(
                "---\nagent: agent\nbody_length_match: true\nbody_proportion: 1.0\ncontrol_failure: null\nexperiment_failure: null\nfactor: 0.8\nheaders_diff: !!set {{}}\nheaders_match: true\ninput: http://{site}\nrequests:\n- request:\n    body: null\n    headers:\n    - - User-Agent\n      - ['Mozilla/5.0']\n    method: GET\n    tor: {{is_tor: false}}\n    url: http://{site}\n  response:\n    body: !!binary |\n      {body}\n    code: 200\n    headers:\n    - - Content-Type\n      - [text/html]\nsocksproxy: null\ntest_runtime: 0.5\ntest_start_time: {}.0\n...\n",
                secs + i as i64
            ));
        }
    }
    let name =
        format!("{}-{cc}-{asn}-{test_name}-{rid}-0.1.0-probe.yaml", t.format("%Y%m%dT%H%M%SZ"));
    GeneratedReport { bucket: start.bucket(), name, bytes: s.into_bytes() }
}

/// A seeded generator.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Writes a corpus of at least `bytes` bytes of reports under `dir/<bucket>/`, mostly
/// web_connectivity (as OONI's: 99 % of bytes), some of every other test and some YAML.
/// Returns the files written.
pub fn corpus(dir: &Path, bytes: u64, seed: u64, day: Bucket) -> std::io::Result<Vec<PathBuf>> {
    let mut r = rng(seed);
    let mut written = 0u64;
    let mut out = Vec::new();
    let mut k = 0usize;
    while written < bytes {
        let start = Timestamp(day.start().0 + (k as i64 % 80_000) * 1_000_000_000);
        let probe = r.gen_range(0..PROBES.len());
        let rep = match k % 20 {
            0 => yaml_report(&mut r, k.is_multiple_of(40), probe, start, 20),
            1..=4 => json_report(&mut r, 1 + k % 4, probe, start, 50),
            _ => json_report(&mut r, 0, probe, start, 200),
        };
        let d = dir.join(rep.bucket.to_string());
        std::fs::create_dir_all(&d)?;
        let p = d.join(&rep.name);
        std::fs::File::create(&p)?.write_all(&rep.bytes)?;
        written += rep.bytes.len() as u64;
        out.push(p);
        k += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{autoclave, Format, Source};

    #[test]
    fn generated_reports_parse_and_normalize_without_badblobs() {
        let mut r = rng(7);
        let day = Bucket::parse("2021-06-01").unwrap();
        for test in 0..TESTS.len() {
            let rep = json_report(&mut r, test, test, day.start(), 3);
            assert!(crate::names::test_name_of(&rep.name).is_some(), "{}", rep.name);
            let out = autoclave(
                &rep.bytes,
                Format::Jsonl,
                Source { bucket: "2021-06-01", name: &rep.name, bridge_db: None },
            );
            assert_eq!((out.datums().count(), out.badblob_count()), (3, 0), "{}", rep.name);
        }
        for dns in [true, false] {
            let rep = yaml_report(&mut r, dns, 2, day.start(), 4);
            assert!(crate::names::test_name_of(&rep.name).is_some(), "{}", rep.name);
            let out = autoclave(
                &rep.bytes,
                Format::Yaml,
                Source { bucket: "2021-06-01", name: &rep.name, bridge_db: None },
            );
            assert_eq!(
                (out.datums().count(), out.badblob_count()),
                (4, 0),
                "{:?}",
                out.items.first()
            );
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let day = Bucket::parse("2021-06-01").unwrap();
        let a = json_report(&mut rng(1), 0, 0, day.start(), 2);
        let b = json_report(&mut rng(1), 0, 0, day.start(), 2);
        assert_eq!(a.bytes, b.bytes);
    }
}
