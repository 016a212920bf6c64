//! The live recorder: the bounded queue between capture and storage (overflow counted
//! and logged), wall-clock flushing, flows at shutdown; and a real AF_PACKET capture of
//! loopback inside a network namespace this test creates (skipped with a notice when not
//! root or without `ip`). Traffic goes to 127.0.0.1 of that namespace only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vantage_core::DataDir;
use vantage_packets::{run_live, Frame, PacketsConfig, Source};
use vantage_testkit as testkit;
use vantage_warehouse::{Sql, Warehouse};

use crate::console::frame;

fn count(wh: &mut Warehouse, sql: &str) -> i64 {
    wh.query(sql, &[]).unwrap().scalar_i64().unwrap()
}

/// Yields `batches` batches of 10 frames as fast as it can, then nothing.
struct Burst {
    made: Arc<AtomicUsize>,
    batches: usize,
}

impl Source for Burst {
    fn next_batch(&mut self, each: &mut dyn FnMut(&Frame)) -> std::io::Result<usize> {
        let i = self.made.load(Ordering::SeqCst);
        if i >= self.batches {
            std::thread::sleep(Duration::from_millis(20));
            return Ok(0);
        }
        let now = vantage_core::Timestamp::now().nanos();
        for j in 0..10u16 {
            each(&frame(now, 17, [10, 0, 0, 1], 1000 + j, [10, 0, 0, 2], 53, 50));
        }
        self.made.store(i + 1, Ordering::SeqCst);
        Ok(10)
    }
}

#[test]
fn queue_overflow_is_counted_and_logged_and_flows_end_at_shutdown() {
    let tmp = testkit::tempdir();
    let data = DataDir::open(tmp.path()).unwrap();
    let mut wh = Warehouse::open(None, &data).unwrap();
    let cfg = PacketsConfig {
        sensor: Some("live-test".into()),
        log_interval: vantage_packets::Duration::secs(1),
        ..Default::default()
    };
    let made = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let batches = vantage_packets::QUEUE_BATCHES + 36;
    let (m2, s2) = (Arc::clone(&made), Arc::clone(&stop));
    let report = run_live(
        &data,
        &mut wh,
        &cfg,
        "live:test",
        Burst { made: Arc::clone(&made), batches },
        Some("127.0.0.1:0"),
        &stop,
        move |_live, addr| {
            assert!(addr.is_some());
            // Storage is held back until capture has made every batch: the queue
            // takes QUEUE_BATCHES, the rest overflow.
            let t = Instant::now();
            while m2.load(Ordering::SeqCst) < batches && t.elapsed() < Duration::from_secs(10) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2500));
                s2.store(true, Ordering::SeqCst);
            });
        },
    )
    .unwrap();
    assert_eq!(report.queue_drops, 36 * 10);
    assert_eq!(report.packets, vantage_packets::QUEUE_BATCHES as u64 * 10);
    let st = vantage_packets::stats(&tmp.path().join("packets")).unwrap();
    assert_eq!(st.counters.queue_drops, 360);
    assert_eq!(st.counters.tot_pkts, report.packets);
    let log = std::fs::read_to_string(tmp.path().join("packets/logs/stats.log")).unwrap();
    let mut lines = log.lines();
    let header: Vec<&str> = lines.next().unwrap().split(' ').collect();
    let col = header.iter().position(|h| *h == "queue_drops").unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(' ').collect()).collect();
    assert!(rows.len() >= 2, "a row every log_interval and one at the end: {log}");
    assert!(rows.iter().all(|r| r.len() == header.len()));
    assert_eq!(rows.last().unwrap()[col], "360");
    // Ten connections, each one flow row, ended by the shutdown.
    assert_eq!(report.flows_written, 10);
    assert_eq!(
        count(&mut wh, "SELECT COUNT(*) FROM packets_flows WHERE sensor = 'live-test' AND end_reason = 'shutdown'"),
        10
    );
    assert_eq!(
        count(&mut wh, "SELECT COUNT(*) FROM catalog_partitions WHERE kind = 'packets' AND partition_key = 'live:test' AND state = 'done'"),
        1
    );
}

/// A network namespace of this test's own, deleted on drop.
struct Netns(String);

impl Netns {
    fn create() -> Option<Netns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("notice: live capture test skipped: not root");
            return None;
        }
        let name = format!("vtpk{}", std::process::id());
        let ok = std::process::Command::new("ip").args(["netns", "add", &name]).status();
        if !ok.is_ok_and(|s| s.success()) {
            eprintln!("notice: live capture test skipped: `ip netns add` unavailable");
            return None;
        }
        let ns = Netns(name);
        let up = std::process::Command::new("ip")
            .args(["-n", &ns.0, "link", "set", "lo", "up"])
            .status();
        assert!(up.unwrap().success());
        Some(ns)
    }

    /// Moves the calling thread into the namespace (threads it spawns follow).
    fn enter(&self) {
        let f = std::fs::File::open(format!("/run/netns/{}", self.0)).unwrap();
        use std::os::fd::AsRawFd;
        // SAFETY: setns on a namespace file we opened; affects this thread only.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn console_cmd(
    rd: &mut BufReader<TcpStream>,
    wr: &mut TcpStream,
    c: &str,
) -> (Vec<String>, String) {
    writeln!(wr, "{c}").unwrap();
    let mut data = Vec::new();
    loop {
        let mut l = String::new();
        rd.read_line(&mut l).unwrap();
        let l = l.trim_end().to_string();
        if l.starts_with("OK") || l.starts_with("ERROR") || l.is_empty() {
            return (data, l);
        }
        data.push(l);
    }
}

#[test]
fn live_capture_of_loopback_tcp_and_udp_is_recorded_queryable_and_counted() {
    let Some(ns) = Netns::create() else { return };
    let ns = Arc::new(ns);
    let ns2 = Arc::clone(&ns);
    let tmp = testkit::tempdir();
    let root = tmp.path().to_path_buf();
    let handle = std::thread::spawn(move || {
        ns2.enter();
        let data = DataDir::open(&root).unwrap();
        let mut wh = Warehouse::open(None, &data).unwrap();
        let cfg = PacketsConfig { sensor: Some("ns-test".into()), ..Default::default() };
        let cap = vantage_packets::open_interface(&cfg, "lo").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = Arc::clone(&stop);
        let checks = Arc::new(std::sync::Mutex::new(None));
        let c2 = Arc::clone(&checks);
        let report = run_live(
            &data,
            &mut wh,
            &cfg,
            "live:lo",
            cap,
            Some("127.0.0.1:0"),
            &stop,
            move |_live, addr| {
                let addr = addr.unwrap();
                std::thread::spawn(move || {
                    // Whatever happens, the recorder stops: a failed check must not hang.
                    let r = std::panic::catch_unwind(|| traffic_and_console(addr));
                    *c2.lock().unwrap() = Some(r);
                    s2.store(true, Ordering::SeqCst);
                });
            },
        )
        .unwrap();
        let checks = match checks.lock().unwrap().take().unwrap() {
            Ok(c) => c,
            Err(p) => std::panic::resume_unwind(p),
        };
        let flows = count(&mut wh, "SELECT COUNT(*) FROM packets_flows WHERE sensor = 'ns-test'");
        let udp_pkts = count(&mut wh, "SELECT COALESCE(SUM(orig_pkts + resp_pkts), 0) FROM packets_flows WHERE sensor = 'ns-test' AND proto = 17 AND resp_port = 9999");
        (report, checks, flows, udp_pkts)
    });
    let (report, checks, flows, udp_pkts) = handle.join().unwrap();
    let (stats, udp_query, tcp_query) = checks;
    assert!(report.packets >= 60, "{report:?}");
    assert!(report.kernel.recv >= report.packets, "{report:?}");
    assert_eq!(report.kernel.drop + report.queue_drops, 0);
    assert!(stats.iter().any(|l| l.starts_with("totPkts ")), "{stats:?}");
    assert_eq!(udp_query, 50, "the UDP connection's packets, from memory");
    assert!(tcp_query >= 6, "handshake, data, FIN: {tcp_query}");
    assert!(flows >= 2);
    assert_eq!(udp_pkts, 50);
    let st = vantage_packets::stats(&tmp.path().join("packets")).unwrap();
    assert_eq!(st.counters.tot_pkts, report.packets);
}

/// Inside the namespace: 50 UDP datagrams and one TCP exchange on 127.0.0.1, then the
/// console: stats, and a memory query per connection (returns packet counts).
fn traffic_and_console(console: std::net::SocketAddr) -> (Vec<String>, usize, usize) {
    let sink = UdpSocket::bind("127.0.0.1:9999").unwrap();
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uport = tx.local_addr().unwrap().port();
    for i in 0..50u8 {
        tx.send_to(&[i; 100], "127.0.0.1:9999").unwrap();
    }
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let tport = l.local_addr().unwrap().port();
    let mut c = TcpStream::connect(("127.0.0.1", tport)).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.write_all(b"hello over loopback").unwrap();
    let mut buf = [0u8; 19];
    s.read_exact(&mut buf).unwrap();
    drop(c);
    drop(s);
    drop(sink);
    let ucase = format!("udp 127.0.0.1:{uport} 127.0.0.1:9999");
    let s = TcpStream::connect(console).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rd = BufReader::new(s.try_clone().unwrap());
    let mut wr = s;
    let mut greet = String::new();
    rd.read_line(&mut greet).unwrap();
    // Wait until storage has taken all 50 datagrams.
    let t = Instant::now();
    loop {
        let (d, st) = console_cmd(&mut rd, &mut wr, &format!("show conn \"{ucase}\""));
        if st == "OK" && d.first().is_some_and(|l| l.contains(" pkts 50/0 ")) {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{d:?} {st}");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (stats, _) = console_cmd(&mut rd, &mut wr, "show stats");
    let n = |st: &str| -> usize {
        st.split_whitespace().nth(3).and_then(|x| x.parse().ok()).unwrap_or(usize::MAX)
    };
    let (_, st) = console_cmd(
        &mut rd,
        &mut wr,
        &format!("query to_file \"u.pcap\" index conn4 \"{ucase}\" mem_only"),
    );
    let udp = n(&st);
    let (_, st) =
        console_cmd(&mut rd, &mut wr, &format!("query to_file \"t.pcap\" index port \"{tport}\""));
    let tcp = n(&st);
    (stats, udp, tcp)
}
