//! Collector latency under load (spec §12, stretch: p99 < 50 ms at 200 submissions/s
//! with fsync): a collector on 127.0.0.1, probes submitting at a fixed rate over HTTP.
//!
//! `cargo run --release -p vantage-reports --example collector_load -- [RATE] [SECONDS]`

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vantage_core::{DataDir, Timestamp};
use vantage_reports::collector::{http, Collector};
use vantage_reports::{generate, CollectorConfig};

fn post(addr: SocketAddr, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    write!(s, "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let text = String::from_utf8_lossy(&resp);
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.as_bytes().to_vec()).unwrap_or_default();
    Ok((status, body))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let rate: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200.0);
    let secs: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let dir = tempfile::tempdir()?;
    let data = DataDir::open(dir.path())?;
    // Limits off: one address sends everything here.
    let config = CollectorConfig { rate: 1e9, burst: 1e9, ..CollectorConfig::default() };
    let c = Arc::new(Collector::open(&data, config, None, Timestamp::now())?);
    let server = http::spawn(c, "127.0.0.1:0".parse()?)?;
    let addr = server.addr;
    let probes = 8usize;
    let mut rids = Vec::new();
    for p in 0..probes {
        let (cc, asn) = generate::PROBES[p % generate::PROBES.len()];
        let open = format!(
            r#"{{"data_format_version":"0.2.0","format":"json","probe_asn":"{asn}","probe_cc":"{cc}","software_name":"bench","software_version":"1","test_name":"web_connectivity","test_version":"0.4.1"}}"#
        );
        let (_, body) = post(addr, "/report", open.as_bytes())?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        rids.push((p, v["report_id"].as_str().unwrap_or_default().to_string()));
    }
    let total = (rate * secs) as usize;
    let per_thread = total / probes;
    let interval = Duration::from_secs_f64(probes as f64 / rate);
    let handles: Vec<_> = rids
        .into_iter()
        .map(|(p, rid)| {
            std::thread::spawn(move || {
                let mut rng = generate::rng(p as u64);
                let mut lat = Vec::with_capacity(per_thread);
                let start = Instant::now();
                for i in 0..per_thread {
                    let due = start + interval * i as u32;
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let m = generate::measurement(
                        &mut rng,
                        0,
                        p,
                        &rid,
                        Timestamp::now(),
                        Timestamp::now(),
                    );
                    let body = format!("{{\"format\":\"json\",\"content\":{m}}}");
                    let t = Instant::now();
                    let ok = matches!(
                        post(addr, &format!("/report/{rid}"), body.as_bytes()),
                        Ok((200, _))
                    );
                    lat.push((t.elapsed(), ok));
                }
                lat
            })
        })
        .collect();
    let mut all: Vec<(Duration, bool)> =
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect();
    server.stop();
    let failed = all.iter().filter(|(_, ok)| !ok).count();
    all.sort();
    let q = |f: f64| {
        all.get(((all.len() as f64 * f) as usize).min(all.len().saturating_sub(1)))
            .map(|x| x.0)
            .unwrap_or_default()
    };
    println!(
        "collector: {} submissions at {rate}/s with fsync, {failed} failed: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (stretch: p99 < 50 ms)",
        all.len(),
        q(0.5).as_secs_f64() * 1e3,
        q(0.99).as_secs_f64() * 1e3,
        all.last().map(|x| x.0).unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}
