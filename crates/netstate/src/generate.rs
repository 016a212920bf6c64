//! The generator (spec §7): K simulated controllers writing flat files as NOX did, one
//! file per table per commit period, under `<out>/<source>/batch-NNN/`.
//!
//! Each controller runs its own switches (DP ids with bit 63 set) in a tree plus extra
//! links, hosts that are learned, move and carry OS fingerprints, Poisson TCP/UDP/ICMP
//! flows installed on every switch of their path and closed at an idle timeout with
//! heavy-tailed counters, link failures and restarts (`*` in every table, then
//! rediscovery). Everything is drawn from one seeded ChaCha stream per source and no
//! hash-map order reaches the output, so the same version and options write
//! byte-identical files and the same `MANIFEST.json`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Generator options (the CLI's flags).
#[derive(Debug, Clone, Serialize)]
pub struct GenerateOptions {
    /// Output directory (created).
    pub out: PathBuf,
    /// Seed of the random streams.
    pub seed: u64,
    /// Stop after about this many rows in all (default 100 000 unless `duration_s`).
    pub rows: Option<u64>,
    /// Or stop after this many simulated seconds.
    pub duration_s: Option<u64>,
    /// Start instant, µs.
    pub start_us: i64,
    /// Switches per controller.
    pub switches: u32,
    /// Hosts per controller.
    pub hosts: u32,
    /// New flows per second per controller.
    pub flows_per_s: f64,
    /// Commit period: one file per table per period, seconds.
    pub period_s: u64,
    /// A restart every this many seconds (0: never).
    pub restart_every_s: u64,
    /// Controllers (sources `ctl-0`, `ctl-1`, ...).
    pub sources: u32,
    /// Fraction of files moved to a later batch.
    pub late: f64,
    /// Batches per source.
    pub batches: u32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            out: PathBuf::from("netstate-generated"),
            seed: 1,
            rows: None,
            duration_s: None,
            start_us: 1_262_304_000_000_000,
            switches: 16,
            hosts: 200,
            flows_per_s: 200.0,
            period_s: 60,
            restart_every_s: 3600,
            sources: 1,
            late: 0.0,
            batches: 1,
        }
    }
}

/// Generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Bad options.
    #[error("netstate generate: {0}")]
    Options(String),
    /// Writing failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl vantage_core::HasExit for GenerateError {
    fn exit(&self) -> vantage_core::Exit {
        match self {
            GenerateError::Options(_) => vantage_core::Exit::Usage,
            GenerateError::Io { source, .. } => vantage_core::Exit::for_io(source),
        }
    }
}

/// One written file.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestFile {
    /// Path relative to the output directory.
    pub path: String,
    /// Source.
    pub source: String,
    /// Batch index.
    pub batch: u32,
    /// Records.
    pub rows: u64,
    /// SHA-256.
    pub sha256: String,
}

/// `MANIFEST.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Generator format.
    pub format: &'static str,
    /// The options.
    pub options: GenerateOptions,
    /// Rows per table.
    pub rows_per_table: BTreeMap<String, u64>,
    /// Rows in all.
    pub rows: u64,
    /// Sources, in order.
    pub sources: Vec<String>,
    /// Every file.
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    /// A short JSON summary for the CLI.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({"out": self.options.out, "rows": self.rows, "files": self.files.len(),
                           "rows_per_table": self.rows_per_table, "sources": self.sources})
    }

    /// The directory of one source's batch.
    pub fn batch_dir(&self, source: &str, batch: u32) -> PathBuf {
        self.options.out.join(source).join(format!("batch-{batch:03}"))
    }
}

const TABLES: [&str; 5] = ["FLOW", "FLOW_SETUP", "LEARNING", "LLDP_LINKS", "PF"];

fn header(table: &str) -> &'static str {
    match table {
        "FLOW" => "ID,TYPE,CREATED_DT,DP_ID,PORT_ID,ETH_VLAN,ETH_TYPE,SOURCE_MAC,DESTINATION_MAC,SOURCE_IP,SOURCE_IP_MASK,DESTINATION_IP,DESTINATION_IP_MASK,PROTOCOL_ID,SOURCE_PORT,DESTINATION_PORT,DURATION,PACKET_COUNT,BYTE_COUNT",
        "FLOW_SETUP" => "ID,TYPE,CREATED_DT,DP_ID,PORT_ID,REASON,BUFFER,TOTAL_LEN",
        "LEARNING" => "ID,TYPE,CREATED_DT,SWITCH_ID,MAC,PORT_ID",
        "LLDP_LINKS" => "ID,TYPE,CREATED_DT,DP1,PORT1,DP2,PORT2",
        _ => "ID,TYPE,CREATED_DT,MAC,IP,P0F_OS,P0F_DESCR,P0F_WSS_MISS,P0F_DF_MISS,P0F_ACC,PF_OS",
    }
}

/// Quotes text or bytes in the writer form (spec §2): escaping only NUL, TAB, LF, CR,
/// 0x1A, `"` and `\`.
pub fn quote(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            0 => out.extend_from_slice(b"\\0"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x1a => out.extend_from_slice(b"\\Z"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            other => out.push(other),
        }
    }
    out.push(b'"');
}

/// A field of a generated line.
enum F<'a> {
    N,
    I(u64),
    B(&'a [u8]),
}

struct Buffer {
    lines: Vec<u8>,
    count: u64,
    first: i64,
    last: i64,
}

#[derive(Clone)]
struct Host {
    mac: u64,
    ip: u32,
    sw: usize,
    port: u16,
}

#[derive(Clone)]
struct Link {
    a: (usize, u16),
    b: (usize, u16),
}

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    FlowArrival,
    FlowClose {
        gen: u32,
        hops: Vec<(usize, u16)>,
        key: [u64; 7],
        packets: u64,
        bytes: u64,
        dur: u32,
    },
    LinkFailure,
    LinkUp(usize),
    HostMove(usize),
    Restart,
    Flush,
}

struct Sim<'o> {
    o: &'o GenerateOptions,
    rng: ChaCha8Rng,
    source: String,
    dpids: Vec<u64>,
    links: Vec<Link>,
    up: Vec<bool>,
    hosts: Vec<Host>,
    now: i64,
    gen: u32,
    queue: BinaryHeap<Reverse<(i64, u64, Event)>>,
    seq: u64,
    buffers: BTreeMap<&'static str, Buffer>,
    serials: BTreeMap<&'static str, u64>,
    rows: u64,
    /// Largest CREATED_DT written: time never goes back, so files never overlap.
    high: i64,
    rows_per_table: BTreeMap<String, u64>,
    files: Vec<(String, u64, Vec<u8>, u64)>,
}

impl<'o> Sim<'o> {
    fn new(o: &'o GenerateOptions, index: u32) -> Sim<'o> {
        let mut rng = ChaCha8Rng::seed_from_u64(
            o.seed ^ (u64::from(index) + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let n = o.switches.max(1) as usize;
        let dpids: Vec<u64> =
            (0..n).map(|i| (1u64 << 63) | (u64::from(index) << 32) | (i as u64 + 1)).collect();
        // A tree (switch i hangs off (i-1)/2 on port 1; its parent uses port 2+child slot)
        // plus about n/4 extra links on high ports.
        let mut links = Vec::new();
        for i in 1..n {
            links.push(Link { a: ((i - 1) / 2, 2 + (i % 2) as u16), b: (i, 1) });
        }
        for k in 0..n / 4 {
            let (x, y) = (rng.gen_range(0..n), rng.gen_range(0..n));
            if x != y {
                links.push(Link { a: (x, 40 + k as u16), b: (y, 41 + k as u16) });
            }
        }
        let hosts = (0..o.hosts.max(2))
            .map(|h| Host {
                mac: 0x0200_0000_0000 | (u64::from(index) << 24) | u64::from(h),
                ip: 0x0a00_0000 | (index << 16) | (h + 1),
                sw: rng.gen_range(0..n),
                port: 10 + rng.gen_range(0..30),
            })
            .collect();
        Sim {
            o,
            rng,
            source: format!("ctl-{index}"),
            dpids,
            up: vec![true; links.len()],
            links,
            hosts,
            now: o.start_us,
            gen: 0,
            queue: BinaryHeap::new(),
            seq: 0,
            buffers: BTreeMap::new(),
            serials: BTreeMap::new(),
            rows: 0,
            high: i64::MIN,
            rows_per_table: BTreeMap::new(),
            files: Vec::new(),
        }
    }

    fn at(&mut self, t: i64, e: Event) {
        self.seq += 1;
        self.queue.push(Reverse((t, self.seq, e)));
    }

    fn line(&mut self, table: &'static str, ty: &str, t: i64, fields: &[F<'_>]) {
        let b = self.buffers.entry(table).or_insert(Buffer {
            lines: Vec::new(),
            count: 0,
            first: t,
            last: t,
        });
        b.count += 1;
        b.first = b.first.min(t);
        b.last = b.last.max(t);
        let mut s = String::new();
        let _ = write!(s, "{},{ty},{t}", b.count);
        b.lines.extend_from_slice(s.as_bytes());
        for f in fields {
            b.lines.push(b',');
            match f {
                F::N => b.lines.extend_from_slice(b"\\N"),
                F::I(v) => b.lines.extend_from_slice(v.to_string().as_bytes()),
                F::B(bytes) => quote(bytes, &mut b.lines),
            }
        }
        b.lines.push(b'\n');
        self.rows += 1;
        self.high = self.high.max(t);
        *self.rows_per_table.entry(table.to_string()).or_default() += 1;
    }

    fn exp(&mut self, mean_s: f64) -> i64 {
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        ((-u.ln()) * mean_s * 1e6).max(1.0) as i64
    }

    fn discover(&mut self) {
        let t = self.now;
        for k in 0..self.links.len() {
            self.link_open(k, t + 1000 + k as i64);
        }
        for h in 0..self.hosts.len() {
            let host = self.hosts[h].clone();
            let t = t + 5000 + h as i64 * 10;
            self.learn(&host, t);
            self.fingerprint(&host, t);
        }
    }

    fn link_open(&mut self, k: usize, t: i64) {
        let l = self.links[k].clone();
        let (da, db) = (self.dpids[l.a.0], self.dpids[l.b.0]);
        self.line(
            "LLDP_LINKS",
            "O",
            t,
            &[F::I(da), F::I(l.a.1.into()), F::I(db), F::I(l.b.1.into())],
        );
        self.line(
            "LLDP_LINKS",
            "O",
            t,
            &[F::I(db), F::I(l.b.1.into()), F::I(da), F::I(l.a.1.into())],
        );
    }

    fn learn(&mut self, h: &Host, t: i64) {
        let dp = self.dpids[h.sw];
        self.line("LEARNING", "O", t, &[F::I(dp), F::I(h.mac), F::I(h.port.into())]);
    }

    fn fingerprint(&mut self, h: &Host, t: i64) {
        const OS: [(&str, &str); 4] = [
            ("Linux", "2.6, \"generic\" kernel"),
            ("Windows", "XP SP2, \"Pro\""),
            ("FreeBSD", "8.x, \"release\""),
            ("MacOS", "10.6, \"Snow Leopard\""),
        ];
        let (os, descr) = OS[(h.mac % 4) as usize];
        let pf = format!("{os} \"{descr}\"");
        self.line(
            "PF",
            "O",
            t,
            &[
                F::I(h.mac),
                F::I(h.ip.into()),
                F::B(os.as_bytes()),
                F::B(descr.as_bytes()),
                F::I(0),
                F::I(0),
                F::I(1),
                F::B(pf.as_bytes()),
            ],
        );
    }

    /// Switches from `a` up to the common ancestor and down to `b` in the tree.
    fn path(&self, a: usize, b: usize) -> Vec<usize> {
        let up = |mut x: usize| {
            let mut v = vec![x];
            while x > 0 {
                x = (x - 1) / 2;
                v.push(x);
            }
            v
        };
        let (pa, pb) = (up(a), up(b));
        let mut out = Vec::new();
        for &x in &pa {
            out.push(x);
            if let Some(pos) = pb.iter().position(|&y| y == x) {
                out.extend(pb[..pos].iter().rev());
                break;
            }
        }
        out.truncate(3);
        out
    }

    fn frame(&mut self, src: &Host, dst: &Host, proto: u16, sport: u16, dport: u16) -> Vec<u8> {
        let mut f = Vec::with_capacity(64);
        f.extend_from_slice(&dst.mac.to_be_bytes()[2..]);
        f.extend_from_slice(&src.mac.to_be_bytes()[2..]);
        f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
        let l4 = if proto == 6 { 20u16 } else { 8 };
        f.extend_from_slice(&(20 + l4).to_be_bytes());
        let id: u16 = self.rng.gen();
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&[0x40, 0x00, 64, proto as u8, 0, 0]);
        f.extend_from_slice(&src.ip.to_be_bytes());
        f.extend_from_slice(&dst.ip.to_be_bytes());
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&dport.to_be_bytes());
        let rest: Vec<u8> = (0..l4 - 4).map(|_| self.rng.gen()).collect();
        f.extend_from_slice(&rest);
        f
    }

    fn flow(&mut self) {
        let n = self.hosts.len();
        let (a, mut b) = (self.rng.gen_range(0..n), self.rng.gen_range(0..n));
        if a == b {
            b = (b + 1) % n;
        }
        let (src, dst) = (self.hosts[a].clone(), self.hosts[b].clone());
        let (proto, sport, dport) = match self.rng.gen_range(0..10) {
            0..=6 => (
                6u16,
                self.rng.gen_range(32768..61000),
                [80u16, 443, 22, 25][self.rng.gen_range(0..4)],
            ),
            7..=8 => {
                (17, self.rng.gen_range(1024..65535), [53u16, 123, 5353][self.rng.gen_range(0..3)])
            }
            _ => (1, 8, 0),
        };
        let sw = self.path(src.sw, dst.sw);
        let t = self.now;
        let mut hops = Vec::new();
        for (k, &s) in sw.iter().enumerate() {
            let port = if k == 0 { src.port } else { 1 };
            hops.push((s, port));
            let dp = self.dpids[s];
            self.line(
                "FLOW",
                "O",
                t + k as i64,
                &[
                    F::I(dp),
                    F::I(port.into()),
                    F::N,
                    F::I(0x0800),
                    F::I(src.mac),
                    F::I(dst.mac),
                    F::I(src.ip.into()),
                    F::I(0xffff_ffff),
                    F::I(dst.ip.into()),
                    F::I(0xffff_ffff),
                    F::I(proto.into()),
                    F::I(sport.into()),
                    F::I(dport.into()),
                    F::N,
                    F::N,
                    F::N,
                ],
            );
        }
        let frame = self.frame(&src, &dst, proto, sport, dport);
        let total = u64::from(u16::from_be_bytes([frame[16], frame[17]]));
        let dp0 = self.dpids[src.sw];
        self.line(
            "FLOW_SETUP",
            "O",
            t,
            &[F::I(dp0), F::I(src.port.into()), F::I(0), F::B(&frame), F::I(total)],
        );
        // Heavy-tailed lifetime (Pareto, alpha 1.5, min 1 s) plus the idle timeout.
        let u: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let life = (u.powf(-1.0 / 1.5)).min(3600.0);
        let packets = (life * self.rng.gen_range(1.0..50.0)) as u64 + 1;
        let bytes = packets * self.rng.gen_range(60..1500);
        let key = [
            src.mac,
            dst.mac,
            src.ip.into(),
            dst.ip.into(),
            proto.into(),
            sport.into(),
            dport.into(),
        ];
        let close = t + (life * 1e6) as i64 + 10_000_000; // idle timeout 10 s
        self.at(
            close,
            Event::FlowClose { gen: self.gen, hops, key, packets, bytes, dur: life as u32 },
        );
    }

    fn handle(&mut self, e: Event) {
        match e {
            Event::FlowArrival => {
                self.flow();
                let dt = self.exp(1.0 / self.o.flows_per_s.max(0.001));
                self.at(self.now + dt, Event::FlowArrival);
            }
            Event::FlowClose { gen, hops, key, packets, bytes, dur } => {
                if gen != self.gen {
                    return; // the switch state died with a restart
                }
                for (k, (s, port)) in hops.into_iter().enumerate() {
                    let dp = self.dpids[s];
                    self.line(
                        "FLOW",
                        "C",
                        self.now + k as i64,
                        &[
                            F::I(dp),
                            F::I(port.into()),
                            F::N,
                            F::N,
                            F::I(key[0]),
                            F::I(key[1]),
                            F::I(key[2]),
                            F::N,
                            F::I(key[3]),
                            F::N,
                            F::I(key[4]),
                            F::I(key[5]),
                            F::I(key[6]),
                            F::I(dur.into()),
                            F::I(packets),
                            F::I(bytes),
                        ],
                    );
                }
            }
            Event::LinkFailure => {
                // Both directions closed by DP/PORT wildcard (the far end NULL).
                let k = self.rng.gen_range(0..self.links.len().max(1));
                if self.up.get(k) == Some(&true) {
                    self.up[k] = false;
                    let l = self.links[k].clone();
                    for (sw, port) in [l.a, l.b] {
                        let dp = self.dpids[sw];
                        self.line(
                            "LLDP_LINKS",
                            "C",
                            self.now,
                            &[F::I(dp), F::I(port.into()), F::N, F::N],
                        );
                    }
                    let back = self.exp(2.0);
                    self.at(self.now + back, Event::LinkUp(k));
                }
                let next = self.exp(1.0 / (self.o.flows_per_s * 0.033));
                self.at(self.now + next, Event::LinkFailure);
            }
            Event::LinkUp(k) => {
                if self.up.get(k) == Some(&false) {
                    self.up[k] = true;
                    self.link_open(k, self.now);
                }
            }
            Event::HostMove(h) => {
                let old = self.hosts[h].clone();
                self.line(
                    "LEARNING",
                    "C",
                    self.now,
                    &[F::I(self.dpids[old.sw]), F::I(old.mac), F::N],
                );
                let sw = self.rng.gen_range(0..self.dpids.len());
                let port = 10 + self.rng.gen_range(0..30);
                self.hosts[h].sw = sw;
                self.hosts[h].port = port;
                let new = self.hosts[h].clone();
                self.learn(&new, self.now + 1);
                if self.rng.gen_bool(0.6) {
                    self.line(
                        "PF",
                        "C",
                        self.now,
                        &[F::I(new.mac), F::N, F::N, F::N, F::N, F::N, F::N, F::N],
                    );
                    self.fingerprint(&new, self.now + 2);
                }
                let next = self.exp(1.0 / (self.o.flows_per_s * 0.27));
                let h2 = self.rng.gen_range(0..self.hosts.len());
                self.at(self.now + next, Event::HostMove(h2));
            }
            Event::Restart => {
                for table in TABLES {
                    let nulls: Vec<F<'_>> =
                        (0..header(table).split(',').count() - 3).map(|_| F::N).collect();
                    self.line(table, "*", self.now, &nulls);
                }
                self.gen += 1;
                self.up.iter_mut().for_each(|u| *u = true);
                self.now += 1_000_000;
                self.discover();
                self.at(self.now + self.o.restart_every_s as i64 * 1_000_000, Event::Restart);
            }
            Event::Flush => {
                self.flush();
                self.at(self.now + self.o.period_s.max(1) as i64 * 1_000_000, Event::Flush);
            }
        }
    }

    fn flush(&mut self) {
        let buffers = std::mem::take(&mut self.buffers);
        for (table, b) in buffers {
            let serial = self.serials.entry(table).or_insert(0);
            let name = format!("{table}-{}-{}-{serial}.sql", b.first, b.last);
            *serial += 1;
            let mut bytes = header(table).as_bytes().to_vec();
            bytes.push(b'\n');
            bytes.extend_from_slice(&b.lines);
            let period = (b.first - self.o.start_us).max(0) as u64;
            self.files.push((name, b.count, bytes, period));
        }
    }

    fn run(&mut self, target_rows: Option<u64>, end: Option<i64>) {
        self.discover();
        let t = self.now;
        let dt = self.exp(1.0 / self.o.flows_per_s.max(0.001));
        self.at(t + dt, Event::FlowArrival);
        if !self.links.is_empty() {
            let dt = self.exp(1.0 / (self.o.flows_per_s * 0.033));
            self.at(t + dt, Event::LinkFailure);
        }
        let dt = self.exp(1.0 / (self.o.flows_per_s * 0.27));
        let h = self.rng.gen_range(0..self.hosts.len());
        self.at(t + dt, Event::HostMove(h));
        if self.o.restart_every_s > 0 {
            self.at(t + self.o.restart_every_s as i64 * 1_000_000, Event::Restart);
        }
        self.at(t + self.o.period_s.max(1) as i64 * 1_000_000, Event::Flush);
        while let Some(Reverse((when, _, e))) = self.queue.pop() {
            let done =
                target_rows.is_some_and(|n| self.rows >= n) || end.is_some_and(|end| when > end);
            if done {
                break;
            }
            self.now = self.now.max(when).max(self.high.saturating_add(1));
            self.handle(e);
        }
        self.flush();
    }
}

/// Writes the files and `MANIFEST.json`; returns the manifest.
pub fn generate(o: &GenerateOptions) -> Result<Manifest, GenerateError> {
    if o.sources == 0 || o.batches == 0 || !(0.0..=1.0).contains(&o.late) || o.flows_per_s <= 0.0 {
        return Err(GenerateError::Options(
            "--sources and --batches must be at least 1, --late within 0..1, --flows-per-s positive".into(),
        ));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| GenerateError::Io { path, source }
    };
    std::fs::create_dir_all(&o.out).map_err(io(&o.out))?;
    let target = match (o.rows, o.duration_s) {
        (None, None) => Some(100_000),
        (r, _) => r,
    };
    let per_source = target.map(|n| n.div_ceil(u64::from(o.sources)));
    let end = o.duration_s.map(|d| o.start_us + d as i64 * 1_000_000);
    let mut manifest = Manifest {
        format: "vantage-netstate-generate/1",
        options: o.clone(),
        rows_per_table: BTreeMap::new(),
        rows: 0,
        sources: Vec::new(),
        files: Vec::new(),
    };
    for index in 0..o.sources {
        let mut sim = Sim::new(o, index);
        sim.run(per_source, end);
        let span = sim.now.saturating_sub(o.start_us).max(1) as u64;
        let mut late_rng =
            ChaCha8Rng::seed_from_u64(o.seed.wrapping_add(0x1a7e) ^ u64::from(index));
        for (name, rows, bytes, offset) in std::mem::take(&mut sim.files) {
            let mut batch =
                ((u128::from(offset) * u128::from(o.batches)) / u128::from(span + 1)) as u32;
            batch = batch.min(o.batches - 1);
            if batch + 1 < o.batches && late_rng.gen_bool(o.late) {
                batch = late_rng.gen_range(batch + 1..o.batches);
            }
            let dir = o.out.join(&sim.source).join(format!("batch-{batch:03}"));
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
            let path = dir.join(&name);
            std::fs::write(&path, &bytes).map_err(io(&path))?;
            manifest.files.push(ManifestFile {
                path: format!("{}/batch-{batch:03}/{name}", sim.source),
                source: sim.source.clone(),
                batch,
                rows,
                sha256: vantage_core::hash::sha256_hex(&bytes),
            });
        }
        for (t, n) in &sim.rows_per_table {
            *manifest.rows_per_table.entry(t.clone()).or_default() += n;
        }
        manifest.rows += sim.rows;
        manifest.sources.push(sim.source.clone());
    }
    manifest.files.sort_by(|a, b| a.path.cmp(&b.path));
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    let path = o.out.join("MANIFEST.json");
    std::fs::write(&path, text + "\n").map_err(io(&path))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::FileName;
    use crate::parse::parse_file;
    use crate::schema::builtin;

    fn small(out: &Path, seed: u64) -> GenerateOptions {
        GenerateOptions {
            out: out.to_path_buf(),
            seed,
            rows: Some(4000),
            switches: 6,
            hosts: 20,
            flows_per_s: 20.0,
            period_s: 30,
            restart_every_s: 200,
            sources: 2,
            late: 0.2,
            batches: 3,
            ..GenerateOptions::default()
        }
    }

    #[test]
    fn same_seed_same_bytes_and_every_file_parses() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let ma = generate(&small(a.path(), 7)).unwrap();
        let mb = generate(&small(b.path(), 7)).unwrap();
        let sums = |m: &Manifest| {
            m.files.iter().map(|f| (f.path.clone(), f.sha256.clone())).collect::<Vec<_>>()
        };
        assert_eq!(sums(&ma), sums(&mb));
        assert!(ma.rows >= 4000);
        for t in TABLES {
            assert!(ma.rows_per_table.get(t).copied().unwrap_or(0) > 0, "{t} generated");
        }
        for f in &ma.files {
            let path = a.path().join(&f.path);
            let name = FileName::parse(path.file_name().unwrap().to_str().unwrap())
                .expect("generated names parse");
            let lines = parse_file(&std::fs::read(&path).unwrap(), &builtin(&name.table).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e:?}", f.path));
            assert_eq!(lines.len() as u64, f.rows);
            assert!(lines.iter().all(|l| (name.first..=name.last).contains(&l.created)));
        }
        let other = tempfile::tempdir().unwrap();
        assert_ne!(sums(&generate(&small(other.path(), 8)).unwrap()), sums(&ma));
    }

    #[test]
    fn writer_quoting_reads_back() {
        let mut out = Vec::new();
        quote(b"a\0b\t\"c\\\n\r\x1a,", &mut out);
        assert_eq!(out, b"\"a\\0b\\t\\\"c\\\\\\n\\r\\Z,\"");
    }
}
