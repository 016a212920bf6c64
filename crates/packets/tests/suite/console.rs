//! The console over TCP (spec §8) on a recorder fed frames built here: every command,
//! subscriptions growing a file and a feed, two clients, malformed and over-long lines,
//! tokens, and dynamic classes expiring by packet time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use vantage_packets::console::{serve, Live, ServerHandle};
use vantage_packets::{
    read_all, ClassConfig, Cutoff, Duration as Dur, Frame, PacketsConfig, Recorder,
};
use vantage_testkit as testkit;

const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

/// An Ethernet/IPv4 frame: UDP (proto 17) or TCP (6, ACK only) with `payload` bytes.
pub fn frame(
    ts_ns: i64,
    proto: u8,
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    payload: usize,
) -> Frame {
    let l4 = if proto == 6 { 20 } else { 8 };
    let mut d = vec![0u8; 14 + 20 + l4 + payload];
    d[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    d[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    d[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (20 + l4 + payload) as u16;
    d[14] = 0x45;
    d[16..18].copy_from_slice(&ip_len.to_be_bytes());
    d[22] = 64;
    d[23] = proto;
    d[26..30].copy_from_slice(&src);
    d[30..34].copy_from_slice(&dst);
    d[34..36].copy_from_slice(&sport.to_be_bytes());
    d[36..38].copy_from_slice(&dport.to_be_bytes());
    if proto == 6 {
        d[46] = 0x50;
        d[47] = 0x10;
    } else {
        d[38..40].copy_from_slice(&((8 + payload) as u16).to_be_bytes());
    }
    Frame { ts_ns, wirelen: d.len() as u32, linktype: 1, data: d, ..Default::default() }
}

const A: [u8; 4] = [10, 0, 0, 1];
const B: [u8; 4] = [10, 0, 0, 2];
const C: [u8; 4] = [10, 0, 0, 3];
const KEY: &str = "udp 10.0.0.1:5000 10.0.0.2:53";

fn config() -> PacketsConfig {
    let mut main = ClassConfig::new("main", "");
    main.cutoff = Cutoff::Bytes(300);
    let mut full = ClassConfig::new("full", "port 9");
    full.cutoff = Cutoff::Off;
    full.precedence = 5;
    full.dyn_timeout = Dur::secs(10);
    PacketsConfig { class: vec![main, full], ..Default::default() }
}

struct Client {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
}

impl Client {
    fn connect(h: &ServerHandle) -> Client {
        let s = TcpStream::connect(h.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut c = Client { rd: BufReader::new(s.try_clone().unwrap()), wr: s };
        let g = c.line();
        assert!(g.starts_with("# vantage-packets "), "{g}");
        c
    }
    fn line(&mut self) -> String {
        let mut l = String::new();
        self.rd.read_line(&mut l).unwrap();
        l.trim_end_matches('\n').to_string()
    }
    /// Sends a command; returns (data lines, status line).
    fn cmd(&mut self, c: &str) -> (Vec<String>, String) {
        writeln!(self.wr, "{c}").unwrap();
        let mut data = Vec::new();
        loop {
            let l = self.line();
            if l.starts_with("OK") || l.starts_with("ERROR") {
                return (data, l);
            }
            assert!(!l.is_empty(), "connection closed after {c}");
            data.push(l);
        }
    }
    fn ok(&mut self, c: &str) -> Vec<String> {
        let (d, s) = self.cmd(c);
        assert!(s.starts_with("OK"), "{c}: {s}");
        d
    }
    /// Reads one `FEED <tag> <n>` chunk (or END): its bytes, or None at END.
    fn feed_chunk(&mut self, tag: &str) -> Option<Vec<u8>> {
        let l = self.line();
        let rest = l.strip_prefix(&format!("FEED {tag} ")).unwrap_or_else(|| panic!("{l}"));
        if rest == "END" {
            return None;
        }
        let n: usize = rest.parse().unwrap();
        let mut b = vec![0; n];
        self.rd.read_exact(&mut b).unwrap();
        Some(b)
    }
}

fn pcap_count(bytes: &[u8]) -> usize {
    let mut off = 24;
    let mut n = 0;
    while off + 16 <= bytes.len() {
        let cap = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + cap;
        n += 1;
    }
    assert_eq!(off, bytes.len(), "whole records");
    n
}

fn start(token: Option<&str>) -> (tempfile::TempDir, Arc<Live>, ServerHandle) {
    let tmp = testkit::tempdir();
    let mut rec = Recorder::open(tmp.path(), &config()).unwrap();
    for i in 0..5 {
        rec.record(&frame(T0 + i * SEC / 10, 17, A, 5000, B, 53, 100)).unwrap();
    }
    let live = Live::new(rec, token.map(String::from));
    let h = serve(Arc::clone(&live), "127.0.0.1:0", 4, Duration::from_secs(30)).unwrap();
    (tmp, live, h)
}

#[test]
fn every_command_through_the_remote_console() {
    let (tmp, live, h) = start(None);
    let mut c = Client::connect(&h);

    let help = c.ok("help");
    for w in [
        "query",
        "show",
        "suspend_cutoff",
        "unsuspend_cutoff",
        "suspend_timeout",
        "unsuspend_timeout",
        "set_dyn_class",
        "unset_dyn_class",
    ] {
        assert!(help.iter().any(|l| l.starts_with(w)), "help lacks {w}");
    }
    assert!(c.ok("help query").iter().any(|l| l.starts_with("example: query")));
    assert!(c.ok("nop").is_empty());

    let stats = c.ok("show stats");
    assert!(stats.contains(&"totPkts 5".to_string()), "{stats:?}");
    assert!(stats.contains(&"conns 1".to_string()));
    let conn = c.ok(&format!("show conn \"{KEY}\""));
    assert_eq!(conn.len(), 1);
    assert!(
        conn[0].starts_with(&format!(
            "conn {KEY} class main first 1700000000.000000000 last 1700000000.400000000 pkts 5/0"
        )),
        "{}",
        conn[0]
    );
    // 5 packets of 142 bytes, cutoff 300: two stored, three cut.
    assert!(
        conn[0]
            .contains("stored 2/284 cut 3/426 suspend_cutoff 0 suspend_timeout 0 subscriptions 0"),
        "{}",
        conn[0]
    );
    assert_eq!(c.ok("show conn sample 5").len(), 1);
    assert!(c
        .ok("show classes")
        .iter()
        .any(|l| l.starts_with("class main stored 2/284 cut 3/426")));
    assert!(c.ok("show indexes")[0].starts_with("indexes conn4"));
    assert_eq!(c.cmd("show conn \"udp 1.1.1.1:1 2.2.2.2:2\"").1, "ERROR NOT IN CONNECTION TABLE");

    // suspend_cutoff: the next packets are stored past the cutoff.
    c.ok(&format!("suspend_cutoff \"{KEY}\""));
    live.recorder().record(&frame(T0 + SEC, 17, B, 53, A, 5000, 100)).unwrap();
    assert!(c.ok(&format!("sh conn \"{KEY}\""))[0]
        .contains("pkts 5/1 bytes 710/142 stored 3/426 cut 3/426 suspend_cutoff 1"));
    c.ok(&format!("unsuspend_cutoff \"{KEY}\""));
    live.recorder().record(&frame(T0 + 2 * SEC, 17, B, 53, A, 5000, 100)).unwrap();
    assert!(
        c.ok(&format!("sh conn \"{KEY}\""))[0].contains("stored 3/426 cut 4/568 suspend_cutoff 0")
    );

    // suspend_timeout: idle past conn_timeout (1800 s), still in the table.
    c.ok(&format!("suspend_timeout \"{KEY}\""));
    live.recorder().record(&frame(T0 + 2000 * SEC, 17, C, 1, B, 2, 10)).unwrap();
    assert!(c.ok(&format!("sh conn \"{KEY}\""))[0].contains("suspend_timeout 1"));
    c.ok(&format!("unsuspend_timeout \"{KEY}\""));
    live.recorder().record(&frame(T0 + 4000 * SEC, 17, C, 1, B, 2, 10)).unwrap();
    assert_eq!(c.cmd(&format!("sh conn \"{KEY}\"")).1, "ERROR NOT IN CONNECTION TABLE");
    for w in ["suspend_cutoff", "unsuspend_cutoff", "suspend_timeout", "unsuspend_timeout"] {
        assert_eq!(c.cmd(&format!("{w} \"{KEY}\"")).1, "ERROR NOT IN CONNECTION TABLE");
    }

    // Queries: to_file over disk and memory, mem_only, feed, errors.
    let s = c.cmd("query to_file \"all.pcap\" index ip \"10.0.0.2\"").1;
    assert!(s.starts_with("OK query 1: 5 packets, "), "{s}");
    let frames = read_all(&tmp.path().join("queries/all.pcap")).unwrap();
    assert_eq!(frames.len(), 5);
    assert!(frames.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns));
    assert_eq!(c.cmd("query to_file \"all.pcap\" index ip \"10.0.0.2\"").1, "ERROR FILE EXISTS");
    assert_eq!(c.cmd("query to_file \"../x\" index ip \"10.0.0.2\"").1, "ERROR BAD FILE NAME");
    let s =
        c.cmd("query to_file \"mem.pcap\" index conn4 \"udp 10.0.0.3:1 10.0.0.2:2\" mem_only").1;
    assert!(s.starts_with("OK query 2: 2 packets"), "{s}");
    let s = c
        .cmd(&format!(
            "query to_file \"r.pcap\" filter \"udp and port 53\" start {} end {}",
            T0 / SEC,
            T0 / SEC + 1
        ))
        .1;
    assert!(s.starts_with("OK query 3: 3 packets"), "{s}");
    writeln!(c.wr, "query feed 1 tag t9 index port \"53\"").unwrap();
    let chunk = c.feed_chunk("t9").unwrap();
    assert_eq!(pcap_count(&chunk), 3);
    assert!(c.line().starts_with("OK query 4: 3 packets"));
    assert_eq!(c.cmd("query to_file \"y\" index mac \"1\"").1, "ERROR NO SUCH INDEX - mac");
    assert_eq!(c.cmd("query index ip \"1.2.3.4\"").1, "ERROR QUERY RESULT DESTINATION UNDEFINED");
    assert_eq!(c.cmd("query to_file \"y\" index ip").1, "ERROR QUERY KEY UNDEFINED");
    assert_eq!(
        c.cmd("query to_file \"y\" index port \"53\" subscribe").1,
        "ERROR SUBSCRIPTION NEEDS CONN4"
    );
    assert_eq!(
        c.cmd("query to_file \"y\" index conn4 \"udp 9.9.9.9:1 8.8.8.8:2\" subscribe").1,
        "ERROR NOT IN CONNECTION TABLE"
    );
    assert!(!tmp.path().join("queries/y").exists(), "a refused query leaves no file");

    // Dynamic classes.
    assert_eq!(c.cmd("set_dyn_class 10.0.0.7 nosuch").1, "ERROR NO SUCH CLASS - nosuch");
    assert!(c
        .cmd("set_dyn_class 10.0.0.300 full")
        .1
        .starts_with("ERROR PARSER ERROR - bad address"));
    c.ok("set_dyn_class 10.0.0.7 full orig");
    c.ok("set_dyn_class 2001:db8::7 full");
    assert!(c.ok("show stats").contains(&"dyn_class 2".to_string()));
    c.ok("unset_dyn_class 2001:db8::7");
    assert!(c.ok("show stats").contains(&"dyn_class 1".to_string()));

    // Malformed and over-long lines, then the session goes on.
    assert!(c
        .cmd("show conn \"tcp")
        .1
        .starts_with("ERROR PARSER ERROR - unterminated string, column 11"));
    assert!(c.cmd("frobnicate 1 2").1.starts_with("ERROR PARSER ERROR - unknown command"));
    assert_eq!(c.cmd(&"x".repeat(10_000)).1, "ERROR LINE TOO LONG");
    c.wr.write_all(b"\xff\xfe\n").unwrap();
    assert!(c.line().starts_with("ERROR PARSER ERROR - the line is not UTF-8"));
    c.ok("nop");
    assert_eq!(c.cmd("quit").1, "OK bye");
    h.stop();
}

#[test]
fn subscriptions_keep_a_file_and_a_feed_growing() {
    let (tmp, live, h) = start(None);
    let mut a = Client::connect(&h);
    let mut b = Client::connect(&h);
    let s = a.cmd(&format!("query to_file \"sub.pcap\" index conn4 \"{KEY}\" subscribe")).1;
    assert!(s.starts_with("OK query 1: 2 packets") && s.ends_with(", subscribed"), "{s}");
    writeln!(b.wr, "query feed 0 tag f index connection4 \"{KEY}\" subscribe").unwrap();
    assert_eq!(pcap_count(&b.feed_chunk("f").unwrap()), 2);
    assert!(b.line().ends_with(", subscribed"));
    assert!(a.ok(&format!("show conn \"{KEY}\""))[0].ends_with("subscriptions 2"));
    let path = tmp.path().join("queries/sub.pcap");
    for i in 0..3 {
        // Cut packets (past the cutoff) are delivered too; other connections are not.
        live.recorder().record(&frame(T0 + (10 + i) * SEC, 17, B, 53, A, 5000, 100)).unwrap();
        live.recorder().record(&frame(T0 + (10 + i) * SEC, 17, C, 53, A, 5000, 100)).unwrap();
        assert_eq!(read_all(&path).unwrap().len(), 3 + i as usize, "the file grows");
        let chunk = b.feed_chunk("f").unwrap();
        assert_eq!(chunk.len(), 16 + 142);
    }
    // The connection times out: the feed ends, the file stops growing.
    live.recorder().record(&frame(T0 + 3000 * SEC, 17, C, 1, B, 2, 10)).unwrap();
    assert_eq!(b.feed_chunk("f"), None);
    live.recorder().record(&frame(T0 + 3001 * SEC, 17, A, 5000, B, 53, 10)).unwrap();
    assert_eq!(read_all(&path).unwrap().len(), 5);
    // Both clients answered while the other was subscribed.
    a.ok("nop");
    b.ok("nop");
    assert!(a.ok("show stats").contains(&"subscriptions 0".to_string()));
    h.stop();
}

#[test]
fn dynamic_class_applies_to_new_connections_until_dyn_timeout_of_packet_time() {
    let (_tmp, live, h) = start(None);
    let mut c = Client::connect(&h);
    c.ok("set_dyn_class 10.0.0.3 full orig");
    // Existing connections keep their class; a new one from C is `full` (no cutoff).
    live.recorder().record(&frame(T0 + SEC, 17, C, 7, B, 8, 500)).unwrap();
    live.recorder().record(&frame(T0 + 2 * SEC, 17, C, 7, B, 8, 500)).unwrap();
    assert!(c.ok("show conn \"udp 10.0.0.3:7 10.0.0.2:8\"")[0].contains("class full first"));
    assert!(c.ok(&format!("show conn \"{KEY}\""))[0].contains("class main"));
    // C as responder does not match `orig`.
    live.recorder().record(&frame(T0 + 3 * SEC, 17, B, 9000, C, 9001, 10)).unwrap();
    assert!(c.ok("show conn \"udp 10.0.0.3:9001 10.0.0.2:9000\"")[0].contains("class main"));
    // After dyn_timeout (10 s of packet time) new connections are classified by filter.
    live.recorder().record(&frame(T0 + 20 * SEC, 17, C, 11, B, 12, 10)).unwrap();
    assert!(c.ok("show conn \"udp 10.0.0.3:11 10.0.0.2:12\"")[0].contains("class main"));
    assert!(c.ok("show stats").contains(&"dyn_class 0".to_string()));
    // IPv6, either end.
    c.ok("set_dyn_class 2001:db8::7 full");
    let mut f6 = frame(T0 + 21 * SEC, 17, A, 1, B, 2, 10);
    let mut d = f6.data[..14].to_vec();
    d[12..14].copy_from_slice(&[0x86, 0xdd]);
    let mut ip6 = vec![0u8; 40];
    ip6[0] = 0x60;
    ip6[4..6].copy_from_slice(&18u16.to_be_bytes());
    ip6[6] = 17;
    ip6[7] = 64;
    ip6[8..24].copy_from_slice(&"2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    ip6[24..40].copy_from_slice(&"2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap().octets());
    d.extend_from_slice(&ip6);
    d.extend_from_slice(&[0, 1, 0, 2, 0, 18, 0, 0]);
    d.extend_from_slice(&[0; 10]);
    f6.wirelen = d.len() as u32;
    f6.data = d;
    live.recorder().record(&f6).unwrap();
    assert!(c.ok("show conn \"udp [2001:db8::1]:1 [2001:db8::7]:2\"")[0].contains("class full"));
    h.stop();
}

#[test]
fn tokens_and_non_loopback_binds() {
    let tmp = testkit::tempdir();
    let live = Live::new(Recorder::open(tmp.path(), &config()).unwrap(), None);
    let e = serve(Arc::clone(&live), "0.0.0.0:0", 4, Duration::from_secs(5)).err().unwrap();
    assert!(e.contains("token"), "{e}");
    drop(live);
    let (_tmp, _live, h) = start(Some("s3cret"));
    let mut c = Client::connect(&h);
    assert_eq!(c.cmd("show stats").1, "ERROR AUTH REQUIRED");
    assert_eq!(c.cmd("auth wrong").1, "ERROR AUTH FAILED");
    assert_eq!(c.cmd("auth s3cret").1, "OK authenticated");
    c.ok("show stats");
    let mut d = Client::connect(&h);
    assert_eq!(d.cmd("auth a").1, "ERROR AUTH FAILED");
    assert_eq!(d.cmd("auth b").1, "ERROR AUTH FAILED");
    assert_eq!(d.cmd("auth c").1, "ERROR AUTH FAILED");
    assert_eq!(d.line(), "", "closed after three failures");
    h.stop();
}

#[test]
fn every_removal_reason_gives_one_flow() {
    let tmp = testkit::tempdir();
    let cfg = PacketsConfig { conn_timeout: Dur::secs(10), max_conns: 2, ..config() };
    let mut rec = Recorder::open(tmp.path(), &cfg).unwrap();
    rec.record(&frame(T0, 17, A, 1, B, 2, 10)).unwrap();
    rec.record(&frame(T0 + SEC, 17, A, 3, B, 4, 10)).unwrap();
    // A third connection at max_conns evicts the least recently active (A:1).
    rec.record(&frame(T0 + 2 * SEC, 17, A, 5, B, 6, 10)).unwrap();
    // Idle past conn_timeout: the sweep removes A:3 and A:5.
    rec.record(&frame(T0 + 30 * SEC, 17, C, 7, B, 8, 10)).unwrap();
    let mut flows = rec.take_flows();
    flows.extend(rec.finish(vantage_packets::EndReason::EndOfInput).unwrap());
    let got: Vec<(u16, &str)> = flows.iter().map(|f| (f.conn.orig.1, f.reason.as_str())).collect();
    assert_eq!(got, vec![(1, "evicted"), (3, "timeout"), (5, "timeout"), (7, "end_of_input")]);
}

fn start_with(
    cfg: PacketsConfig,
    max_clients: usize,
    idle: Duration,
) -> (tempfile::TempDir, Arc<Live>, ServerHandle) {
    let tmp = testkit::tempdir();
    let mut rec = Recorder::open(tmp.path(), &cfg).unwrap();
    for i in 0..5 {
        rec.record(&frame(T0 + i * SEC / 10, 17, A, 5000, B, 53, 100)).unwrap();
    }
    let live = Live::new(rec, None);
    let h = serve(Arc::clone(&live), "127.0.0.1:0", max_clients, idle).unwrap();
    (tmp, live, h)
}

#[test]
fn busy_at_max_queries_and_max_clients() {
    let mut cfg = config();
    cfg.console.max_queries = 1;
    let (tmp, live, h) = start_with(cfg, 2, Duration::from_secs(30));
    let mut a = Client::connect(&h);
    let mut b = Client::connect(&h);
    // The recorder is held here, so client a's query waits for it while it counts as
    // running: b's query is then one over max_queries = 1.
    let held = live.recorder();
    writeln!(a.wr, "query to_file \"a.pcap\" index ip \"10.0.0.2\"").unwrap();
    let t = std::time::Instant::now();
    while live.running_queries() == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "the query never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(b.cmd("query to_file \"b.pcap\" index ip \"10.0.0.2\"").1, "ERROR BUSY");
    assert!(!tmp.path().join("queries/b.pcap").exists(), "a BUSY query leaves no file");
    // Other commands still answer while the query waits (nop needs no recorder).
    b.ok("nop");
    drop(held);
    let s = a.line();
    assert!(s.starts_with("OK query 1: 2 packets"), "{s}");
    assert_eq!(live.running_queries(), 0);
    assert!(b
        .cmd("query to_file \"b.pcap\" index ip \"10.0.0.2\"")
        .1
        .starts_with("OK query 2: 2 packets"));

    // A third client over max_clients = 2 gets the greeting and BUSY, then the close.
    let s = TcpStream::connect(h.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut rd = BufReader::new(s);
    let mut text = String::new();
    rd.read_to_string(&mut text).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("# vantage-packets "));
    assert_eq!(lines[1], "ERROR BUSY");
    // The two clients are unharmed.
    a.ok("nop");
    b.ok("show stats");
    h.stop();
}

#[test]
fn timeout_at_query_timeout_and_idle_timeout() {
    let mut cfg = config();
    // One nanosecond: every query that reads a packet or a segment passes it.
    cfg.console.query_timeout = Dur(1);
    let (tmp, live, h) = start_with(cfg, 4, Duration::from_millis(800));
    let mut c = Client::connect(&h);
    assert_eq!(c.cmd("query to_file \"t.pcap\" index ip \"10.0.0.2\"").1, "ERROR TIMEOUT");
    assert!(!tmp.path().join("queries/t.pcap").exists(), "a timed-out query leaves no file");
    assert_eq!(c.cmd("query to_file \"m.pcap\" filter \"udp\" mem_only").1, "ERROR TIMEOUT");
    // A feed that timed out sends no chunk: the status line comes first.
    assert_eq!(c.cmd("query feed 1 tag x index port \"53\"").1, "ERROR TIMEOUT");
    assert_eq!(live.running_queries(), 0);
    // Not a query: answered as usual.
    assert!(c.ok("show stats").contains(&"totPkts 5".to_string()));
    // A client silent for idle_timeout is told TIMEOUT and closed.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(c.line(), "ERROR TIMEOUT");
    assert_eq!(c.line(), "", "closed after the idle timeout");
    let mut d = Client::connect(&h);
    assert_eq!(d.cmd("nop").1, "OK");
    h.stop();
}

#[test]
fn every_index_kind_aliases_times_comments_and_the_subscription_limit() {
    let mut cfg = config();
    cfg.max_subscriptions = 1;
    let (tmp, _live, h) = start_with(cfg, 4, Duration::from_secs(30));
    let mut c = Client::connect(&h);
    let count = |name: &str| read_all(&tmp.path().join("queries").join(name)).unwrap().len();
    // Two of the connection's five packets are stored (cutoff 300): every index kind, in
    // either spelling and either order of its ends, finds those two.
    for (i, (kind, key)) in [
        ("conn4", KEY),
        ("connection4", "udp 10.0.0.2:53 10.0.0.1:5000"),
        ("conn3", "udp 10.0.0.1 10.0.0.2:53"),
        ("connection3", "udp 10.0.0.2 10.0.0.1:5000"),
        ("conn2", "10.0.0.1 10.0.0.2"),
        ("connection2", "10.0.0.2 10.0.0.1"),
        ("ip", "10.0.0.1"),
        ("port", "5000"),
    ]
    .iter()
    .enumerate()
    {
        let s = c.cmd(&format!("query to_file \"k{i}\" index {kind} \"{key}\"")).1;
        assert!(s.starts_with(&format!("OK query {}: 2 packets", i + 1)), "{kind}: {s}");
        assert_eq!(count(&format!("k{i}")), 2, "{kind}");
    }
    // Keys that match nothing answer OK with no packets.
    assert!(c
        .cmd("query to_file \"none\" index conn3 \"udp 10.0.0.1 10.0.0.2:54\"")
        .1
        .contains(": 0 packets"));
    // Times: epoch with decimals, RFC 3339, quoted "YYYY-MM-DD hh:mm:ss"; bounds inclusive.
    // T0 = 2023-11-14 22:13:20 UTC; the stored packets are at T0 and T0 + 0.1 s.
    for (i, range) in [
        "start 1700000000.1".to_string(),
        "start 2023-11-14T22:13:20.1Z".to_string(),
        "end \"2023-11-14 22:13:20\"".to_string(),
        format!("start {} end {}", T0 / SEC, T0 / SEC),
    ]
    .iter()
    .enumerate()
    {
        let s = c.cmd(&format!("query to_file \"t{i}\" index ip \"10.0.0.1\" {range}")).1;
        assert!(s.contains(": 1 packets"), "{range}: {s}");
    }
    assert!(c
        .cmd("query to_file \"bad\" index ip \"10.0.0.1\" start yesterday")
        .1
        .starts_with("ERROR PARSER ERROR"));
    // Keywords in any case, `sh`, comments, the set_class / unset_class aliases.
    assert!(c.ok("SHOW STATS # a comment").contains(&"conns 1".to_string()));
    c.ok("# only a comment");
    c.ok("Set_Class 10.0.0.9 full resp");
    assert!(c.ok("sh stats").contains(&"dyn_class 1".to_string()));
    c.ok("unset_class 10.0.0.9");
    assert!(c.ok("sh stats").contains(&"dyn_class 0".to_string()));
    // max_subscriptions = 1: a second subscription is refused and leaves no file.
    let s = c.cmd(&format!("query to_file \"s1\" index conn4 \"{KEY}\" subscribe")).1;
    assert!(s.ends_with(", subscribed"), "{s}");
    assert_eq!(
        c.cmd(&format!("query to_file \"s2\" index conn4 \"{KEY}\" subscribe")).1,
        "ERROR TOO MANY SUBSCRIPTIONS"
    );
    assert!(!tmp.path().join("queries/s2").exists());
    h.stop();
}
