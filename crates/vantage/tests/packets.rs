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
    // (live capture is tested in a namespace of its own below, never on a real interface)
    let o = vantage(&data, &["packets", "record", "--read", "x.pcap", "--interface", "lo"]);
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
    let record_trace = || {
        Command::new(env!("CARGO_BIN_EXE_vantage"))
            .arg("--data")
            .arg(&data)
            .arg("--config")
            .arg(&cfg)
            .args(["-q", "packets", "record", "--read"])
            .arg(&trace)
            .spawn()
            .unwrap()
    };
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20 {
        let mut child = record_trace();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(std::time::Duration::from_millis(30 + seed % 400));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    // A random instant may fall before the first segment opens or after the trace is
    // done (a quiet machine records it in well under the longest sleep), so the last kill
    // waits until this run has opened a segment of its own: there is then always something to
    // recover.
    let open_segments = || -> std::collections::BTreeSet<std::path::PathBuf> {
        vantage_testkit::all_files(&data.join("packets"))
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".open"))
            .collect()
    };
    let mut killed_open = false;
    for _ in 0..20 {
        // Segments the earlier kills left open; this run recovers them first.
        let before = open_segments();
        let mut child = record_trace();
        let opened_one = || open_segments().difference(&before).next().is_some();
        while child.try_wait().unwrap().is_none() && !opened_one() {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        killed_open = child.try_wait().unwrap().is_none();
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if killed_open {
            break;
        }
    }
    assert!(killed_open, "no run was caught with a segment open");
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
    for entry in vantage_testkit::all_files(&data.join("packets")) {
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
    let mut files = vantage_testkit::files(&data.join("packets"), "pcap");
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

#[test]
fn live_record_errors_and_console_without_recorder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let o = vantage(&data, &["packets", "record", "--interface", "nosuchif0"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("interface nosuchif0: no such interface"), "{}", text(&o));
    // Port 1 on loopback: nothing listens there.
    let o = vantage(&data, &["console", "127.0.0.1:1", "-c", "nop"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("is a recorder running"), "{}", text(&o));
}

/// `vantage packets record --interface lo` inside a network namespace of this test's
/// own, with `vantage console -c` talking to it there; SIGTERM stops it with exit 0.
/// Skipped with a notice when not root or without `ip`.
#[test]
fn live_record_and_console_in_a_network_namespace() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc_geteuid() } != 0 {
        eprintln!("notice: live CLI test skipped: not root");
        return;
    }
    let ns = format!("vtcli{}", std::process::id());
    if !Command::new("ip").args(["netns", "add", &ns]).status().is_ok_and(|s| s.success()) {
        eprintln!("notice: live CLI test skipped: `ip netns add` unavailable");
        return;
    }
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _del = Del(ns.clone());
    assert!(Command::new("ip")
        .args(["-n", &ns, "link", "set", "lo", "up"])
        .status()
        .unwrap()
        .success());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let bin = env!("CARGO_BIN_EXE_vantage");
    let rec = Command::new("ip")
        .args(["netns", "exec", &ns, bin, "--data"])
        .arg(&data)
        .args(["packets", "record", "--interface", "lo"])
        .env_remove("VANTAGE_CONFIG")
        .env_remove("VANTAGE_WAREHOUSE")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let console = |cmd: &str| {
        Command::new("ip")
            .args(["netns", "exec", &ns, bin, "--data"])
            .arg(&data)
            .args(["console", "-c", cmd])
            .env_remove("VANTAGE_CONFIG")
            .output()
            .unwrap()
    };
    let t = std::time::Instant::now();
    let stats = loop {
        let o = console("show stats");
        if o.status.success() {
            break text(&o);
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(15), "{}", text(&o));
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(stats.contains("totPkts "), "{stats}");
    assert!(stats.trim_end().ends_with("OK"), "{stats}");
    let o = console("show conn \"tcp 1.2.3.4:1 5.6.7.8:2\"");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("ERROR NOT IN CONNECTION TABLE"));
    let o = console("help query");
    assert!(text(&o).contains("example: query"), "{}", text(&o));
    let err = stop_recorder(rec);
    assert!(err.contains("packets recorded; kernel received"), "{err}");
}

/// SIGTERM to a recorder started with `ip netns exec` (which runs it as its own child:
/// that child is signalled); asserts exit 0 and returns its stderr.
fn stop_recorder(rec: std::process::Child) -> String {
    let pid = rec.id().to_string();
    let child = Command::new("pgrep").args(["-P", &pid]).output().unwrap();
    let target = String::from_utf8_lossy(&child.stdout).trim().to_string();
    let target = if target.is_empty() { pid } else { target };
    assert!(Command::new("kill").args(["-TERM", &target]).status().unwrap().success());
    let out = rec.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{err}");
    err
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// A network namespace of a test's own (deleted when dropped); None (with a notice) when
/// not root or without `ip`.
struct Netns(String);

impl Netns {
    fn create(tag: &str) -> Option<Netns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc_geteuid() } != 0 {
            eprintln!("notice: {tag} skipped: not root");
            return None;
        }
        let name = format!("vt{tag}{}", std::process::id());
        if !Command::new("ip").args(["netns", "add", &name]).status().is_ok_and(|s| s.success()) {
            eprintln!("notice: {tag} skipped: `ip netns add` unavailable");
            return None;
        }
        let ns = Netns(name);
        let up = Command::new("ip").args(["-n", &ns.0, "link", "set", "lo", "up"]).status();
        assert!(up.unwrap().success());
        Some(ns)
    }

    /// `vantage --data DATA ARGS` inside the namespace, stdin from `input`.
    fn vantage(&self, data: &Path, args: &[&str], input: &str) -> Output {
        use std::io::Write;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.0, env!("CARGO_BIN_EXE_vantage"), "--data"])
            .arg(data)
            .args(args)
            .env_remove("VANTAGE_CONFIG")
            .env_remove("VANTAGE_WAREHOUSE")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }

    /// A shell command inside the namespace.
    fn sh(&self, script: &str) {
        let ok = Command::new("ip")
            .args(["netns", "exec", &self.0, "bash", "-c", script])
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// `record --interface lo --console` (default 127.0.0.1:42042) in a namespace; the
/// piped console answers every line up to `quit`; `packets query` goes through the
/// recorder's console (so packets still in memory come back, `--mem-only` too), and
/// reads the directory once the recorder is gone.
#[test]
fn record_console_piped_console_and_query_through_the_recorder() {
    let Some(ns) = Netns::create("rq") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    // A long flush interval keeps the packets in memory: only the console sees them all.
    let cfg = tmp.path().join("vantage.toml");
    std::fs::write(&cfg, "[packets]\nflush_interval = 3600\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    let rec = Command::new("ip")
        .args(["netns", "exec", &ns.0, env!("CARGO_BIN_EXE_vantage"), "--config", cfg, "--data"])
        .arg(&data)
        .args(["packets", "record", "--interface", "lo", "--console"])
        .env_remove("VANTAGE_CONFIG")
        .env_remove("VANTAGE_WAREHOUSE")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    loop {
        let o = ns.vantage(&data, &["console", "127.0.0.1:42042", "-c", "nop"], "");
        if o.status.success() {
            break;
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(15), "{}", text(&o));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // 20 UDP datagrams to port 9999 and a refused TCP connection (SYN, RST) to 9998.
    ns.sh("for i in $(seq 20); do echo hello$i > /dev/udp/127.0.0.1/9999; done; (echo x > /dev/tcp/127.0.0.1/9998) 2>/dev/null; true");
    let udp = |o: &Output| -> usize {
        let p = tmp.path().join("out.pcap");
        std::fs::write(&p, &o.stdout).unwrap();
        vantage_packets::read_all(&p).unwrap().len()
    };
    let t = std::time::Instant::now();
    let q = loop {
        let q =
            ns.vantage(&data, &["packets", "query", "--filter", "udp port 9999", "-w", "-"], "");
        assert!(q.status.success(), "{}", text(&q));
        if udp(&q) == 20 {
            break q;
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(15), "{}", text(&q));
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let err = String::from_utf8_lossy(&q.stderr);
    assert!(err.contains("from the recorder at 127.0.0.1:42042, memory included"), "{err}");
    let q = ns.vantage(
        &data,
        &["packets", "query", "--filter", "udp port 9999", "--mem-only", "-w", "-"],
        "",
    );
    assert!(q.status.success(), "{}", text(&q));
    assert_eq!(udp(&q), 20, "--mem-only through the console");
    let q = ns.vantage(
        &data,
        &["packets", "query", "--filter", "tcp port 9998", "--micro", "-w", "-"],
        "",
    );
    assert!(q.status.success(), "{}", text(&q));
    assert_eq!(&q.stdout[..4], &0xa1b2_c3d4u32.to_le_bytes(), "--micro rewrites the feed");
    assert!(udp(&q) >= 2, "SYN and RST");
    // An explicit --console that nobody serves is an error (exit 4), not a silent fallback.
    let q = ns.vantage(
        &data,
        &[
            "packets",
            "query",
            "--index",
            "ip",
            "--key",
            "1.2.3.4",
            "--console",
            "127.0.0.1:1",
            "-w",
            "-",
        ],
        "",
    );
    assert_eq!(q.status.code(), Some(4), "an explicit console that is not there: {}", text(&q));

    // The piped console: one answer per line, up to quit; nothing after it is sent.
    let o = ns.vantage(
        &data,
        &["console"],
        "show stats\nshow conn \"udp 9.9.9.9:1 8.8.8.8:2\"\nhelp set_dyn_class\nfrobnicate\nquit\nshow stats\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let status: Vec<&str> =
        out.lines().filter(|l| l.starts_with("OK") || l.starts_with("ERROR")).collect();
    assert_eq!(status.len(), 5, "{out}");
    assert_eq!(status[0], "OK");
    assert_eq!(status[1], "ERROR NOT IN CONNECTION TABLE");
    assert_eq!(status[2], "OK");
    assert!(status[3].starts_with("ERROR PARSER ERROR - unknown command"), "{out}");
    assert_eq!(status[4], "OK bye");
    assert!(out.lines().any(|l| l.starts_with("totPkts ")), "{out}");
    assert!(out.contains("set_dyn_class"), "{out}");
    assert!(o.stderr.is_empty(), "no prompt or banner when piped: {}", text(&o));

    let err = stop_recorder(rec);
    assert!(err.contains("console on 127.0.0.1:42042"), "{err}");
    // No recorder: the directory answers (flushed at shutdown); --mem-only cannot.
    let q = vantage(
        &data,
        &["--config", cfg, "packets", "query", "--filter", "udp port 9999", "-w", "-"],
    );
    assert!(q.status.success(), "{}", text(&q));
    assert_eq!(udp(&q), 20);
    let q = vantage(
        &data,
        &["--config", cfg, "packets", "query", "--filter", "udp", "--mem-only", "-w", "-"],
    );
    assert_eq!(q.status.code(), Some(1), "{}", text(&q));
    assert!(text(&q).contains("no recorder running"), "{}", text(&q));
}
