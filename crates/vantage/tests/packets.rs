//! `vantage packets ...` end to end: the real binary on generated traces.

use std::path::Path;
use std::process::{Command, Output};

use vantage_packets::synth::{write_pcap, SynthOptions};

fn vantage(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vantage"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("VANTAGE_CONFIG")
        .env_remove("VANTAGE_WAREHOUSE")
        .output()
        .expect("run vantage")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn record_query_stats_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let trace = tmp.path().join("t.pcap");
    write_pcap(
        &trace,
        &SynthOptions {
            short_conns: 30,
            bulk_conns: 1,
            bulk_bytes: 50_000,
            dns: 10,
            ..Default::default()
        },
    )
    .unwrap();
    let good = trace.to_str().unwrap();
    let o = vantage(&data, &["packets", "record", "--read", good]);
    assert!(o.status.success(), "{}", text(&o));

    let rows = vantage(&data, &["--format", "csv", "sql", "SELECT proto, orig_addr, orig_port, resp_addr, resp_port, stored_pkts FROM packets_flows WHERE proto = 6 ORDER BY stored_pkts DESC, flow_id LIMIT 1"]);
    let line = String::from_utf8_lossy(&rows.stdout).lines().last().unwrap().to_string();
    let f: Vec<&str> = line.split(',').collect();
    let end =
        |a: &str, p: &str| if a.contains(':') { format!("[{a}]:{p}") } else { format!("{a}:{p}") };
    let key = format!("tcp {} {}", end(f[1], f[2]), end(f[3], f[4]));
    let out = tmp.path().join("q.pcap");
    let o = vantage(
        &data,
        &["packets", "query", "--index", "connection4", "--key", &key, "-w", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    let got = vantage_packets::read_all(&out).unwrap();
    assert_eq!(got.len().to_string(), f[5], "query returns the flow's stored packets");
    assert!(got.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    if let Ok(td) = Command::new("tcpdump").arg("-nr").arg(&out).output() {
        assert!(
            td.status.success(),
            "tcpdump reads the result: {}",
            String::from_utf8_lossy(&td.stderr)
        );
    } else {
        eprintln!("notice: tcpdump absent; result checked with our reader only");
    }
    let o = vantage(&data, &["packets", "query", "--filter", "udp port 53", "-w", "-"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(&o.stdout[..4], &0xa1b2_3c4du32.to_ne_bytes());

    let o = vantage(&data, &["--format", "json", "packets", "stats"]);
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(st["classes"][0]["stored_pkts"].as_u64().unwrap() > 0);

    // Bad input: named with the byte offset, earlier packets kept, a quarantine row, exit 3.
    let bytes = std::fs::read(&trace).unwrap();
    let cut = tmp.path().join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
    let bad = tmp.path().join("bad.pcap");
    std::fs::write(&bad, b"this is not a capture file").unwrap();
    let o = vantage(
        &data,
        &["packets", "record", "--read", cut.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let msg = text(&o);
    assert!(msg.contains("truncated record") && msg.contains("offset"), "{msg}");
    assert!(msg.contains("bad.pcap: offset 0: bad magic"), "{msg}");
    let q = vantage(
        &data,
        &["--format", "csv", "sql", "SELECT reason FROM catalog_quarantine ORDER BY id"],
    );
    assert_eq!(
        String::from_utf8_lossy(&q.stdout).lines().skip(1).collect::<Vec<_>>(),
        vec!["truncated", "bad_magic"]
    );

    // Usage errors: exit 1.
    let o = vantage(&data, &["packets", "record", "--interface", "eth0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = vantage(&data, &["packets", "query", "--index", "conn5", "--key", "x", "-w", "-"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let cfg = tmp.path().join("vantage.toml");
    std::fs::write(&cfg, "[packets]\nconn_timout = 5\n").unwrap();
    let o = vantage(&data, &["--config", cfg.to_str().unwrap(), "packets", "stats"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("conn_timout"));
}

#[test]
fn kill_9_twenty_times_loses_only_unwritten_packets() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let trace = tmp.path().join("big.pcap");
    write_pcap(
        &trace,
        &SynthOptions {
            short_conns: 3000,
            bulk_conns: 20,
            bulk_bytes: 400_000,
            dns: 1000,
            ..Default::default()
        },
    )
    .unwrap();
    let cfg = tmp.path().join("vantage.toml");
    std::fs::write(&cfg, "[packets]\n[[packets.class]]\nname = \"all\"\ncutoff = false\nfilesize = \"2m\"\ndisk = \"unlimited\"\n").unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vantage"))
            .arg("--data")
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .args(["-q", "packets", "record", "--read"])
            .arg(&trace)
            .spawn()
            .unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(std::time::Duration::from_millis(30 + seed % 400));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    // The next run recovers whatever the kills left.
    let tiny = tmp.path().join("tiny.pcap");
    write_pcap(
        &tiny,
        &SynthOptions { short_conns: 1, bulk_conns: 0, dns: 0, ..Default::default() },
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_vantage"))
        .arg("--data")
        .arg(&data)
        .arg("--config")
        .arg(&cfg)
        .args(["packets", "record", "--read"])
        .arg(&tiny)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("recovered: "), "the kills left segments to recover: {}", text(&o));
    let mut on_disk = 0;
    let mut segments = 0;
    for entry in walk(&data.join("packets")) {
        let name = entry.to_string_lossy().to_string();
        assert!(!name.ends_with(".open"), "left open: {name}");
        if name.ends_with(".vidx") {
            vantage_packets::Vidx::read(&entry).unwrap_or_else(|e| panic!("{e}"));
        }
        if name.ends_with(".pcap") && name.contains("/classes/") {
            on_disk += vantage_packets::read_all(&entry).unwrap_or_else(|e| panic!("{e}")).len();
            segments += 1;
        }
    }
    assert!(segments > 1, "{segments} segments");
    let out = tmp.path().join("all.pcap");
    let o = vantage(
        &data,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "packets",
            "query",
            "--filter",
            "",
            "-w",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        vantage_packets::read_all(&out).unwrap().len(),
        on_disk,
        "every packet that reached disk is returned"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn segments_and_results_read_with_tcpdump_and_tshark_and_a_second_recorder_is_busy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let trace = tmp.path().join("t.pcap");
    write_pcap(
        &trace,
        &SynthOptions { short_conns: 50, bulk_conns: 1, dns: 20, ..Default::default() },
    )
    .unwrap();
    let o = vantage(&data, &["packets", "record", "--read", trace.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let out = tmp.path().join("q.pcap");
    let o = vantage(
        &data,
        &["packets", "query", "--filter", "tcp or udp", "--pcapng", "-w", out.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut files: Vec<_> = walk(&data.join("packets"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.push(out);
    for tool in ["tcpdump", "tshark"] {
        if Command::new(tool).arg("--version").output().is_err() {
            eprintln!("notice: {tool} absent; its part of the check skipped");
            continue;
        }
        for f in &files {
            let o = Command::new(tool).arg("-n").arg("-r").arg(f).output().unwrap();
            assert!(
                o.status.success(),
                "{tool} -r {}: {}",
                f.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(!o.stdout.is_empty());
        }
    }
    // A recorder holding the directory: a second one exits 2.
    let root = data.join("packets");
    let held =
        vantage_packets::Recorder::open(&root, &vantage_packets::PacketsConfig::default()).unwrap();
    let o = vantage(&data, &["packets", "record", "--read", trace.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    drop(held);
}
