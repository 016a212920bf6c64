//! Load on the collector (issue 9, Load): concurrent probes on loopback submit
//! measurements for a while; prints sustained submissions/s and p99 latency, then checks
//! that every acknowledged measurement is in the warehouse after the reports tick.
//!
//! `cargo run -p vantage-server --example serve_collector_load -- [SECONDS] [CLIENTS]`
//! (defaults 60 and 8). Uses a fresh data directory of its own; the rate limit of the
//! collector is raised so that it measures throughput, not the limiter.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn post(addr: SocketAddr, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

fn field(body: &str, name: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v[name].as_str().map(str::to_string)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(60);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let dir = std::env::temp_dir().join(format!("vantage-load-{}", std::process::id()));
    // Nested sections cannot be set with --set (section.key only): a file of our own.
    std::fs::create_dir_all(&dir).expect("data directory");
    let file = dir.join("load.toml");
    std::fs::write(
        &file,
        "[reports.collector]\nrate = 1000000.0\nburst = 1000000.0\nmax_open = 100000\n",
    )
    .expect("config file");
    let g = vantage_core::GlobalArgs {
        data: Some(dir.clone()),
        config: Some(file),
        overrides: vec![
            "server.bind=127.0.0.1:0".into(),
            "server.tick_seconds=3600".into(),
            "reports.can_max_wait=0".into(),
        ],
        ..Default::default()
    };
    let config = vantage_core::Config::load_with_env(&g, |_| None, Vec::new()).expect("config");
    let server = vantage_server::Server::bind(&config).expect("bind").without_ticks();
    let addr = server.local_addr();
    let running = server.spawn();
    let open = r#"{"data_format_version":"0.2.0","format":"json","probe_asn":"AS3269","probe_cc":"IT","software_name":"load","software_version":"1.0","test_name":"web_connectivity","test_version":"0.4.0"}"#;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            std::thread::spawn(move || {
                let (mut lat, mut acked) = (Vec::new(), 0u64);
                let Some((200, b)) = post(addr, "/report", open) else { return (lat, acked) };
                let Some(rid) = field(&b, "report_id") else { return (lat, acked) };
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let m = format!(
                        r#"{{"format":"json","content":{{"report_id":"{rid}","probe_cc":"IT","probe_asn":"AS3269","test_name":"web_connectivity","input":"http://example.org/{c}/{n}","measurement_start_time":"2024-01-01 00:00:00","test_keys":{{}}}}}}"#
                    );
                    let t = Instant::now();
                    if let Some((200, _)) = post(addr, &format!("/report/{rid}"), &m) {
                        lat.push(t.elapsed());
                        acked += 1;
                    }
                }
                let _ = post(addr, &format!("/report/{rid}/close"), "");
                (lat, acked)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut acked = 0;
    for w in workers {
        let (l, a) = w.join().expect("client");
        lat.extend(l);
        acked += a;
    }
    lat.sort();
    let p = |q: f64| {
        lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    println!(
        "{clients} clients, {secs} s: {acked} acknowledged, {:.0} submissions/s, p50 {:.2} ms, p99 {:.2} ms",
        acked as f64 / secs as f64,
        p(0.50).as_secs_f64() * 1e3,
        p(0.99).as_secs_f64() * 1e3
    );
    let summary = running_tick(&config);
    running.stop().expect("stop");
    let data = vantage_core::DataDir::open(&dir).unwrap();
    let mut wh = vantage_warehouse::Warehouse::open(None, &data).unwrap();
    let stored = vantage_warehouse::Sql::query_i64(
        &mut wh,
        "SELECT COUNT(*) FROM reports_datum_locator",
        &[],
    )
    .unwrap()
    .unwrap_or(0);
    println!("after the reports tick ({summary}): {stored} measurements in the warehouse");
    let ok = stored as u64 == acked;
    println!("{}", if ok { "every acknowledged measurement is stored" } else { "MISMATCH" });
    let _ = std::fs::remove_dir_all(&dir);
    std::process::exit(if ok { 0 } else { 1 });
}

/// One reports tick over the data directory, as the server runs it.
fn running_tick(config: &vantage_core::Config) -> String {
    let server = vantage_server::Server::bind(&{
        let mut c = config.clone();
        c.server.bind = "127.0.0.1:0".into();
        c
    })
    .expect("bind for the tick");
    server.tick_now("reports").unwrap_or_else(|e| e)
}
