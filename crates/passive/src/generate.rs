//! The seeded generator of realistic v5 updates (spec §9), for tests, benchmarks and the
//! demo: identical output per seed.
//!
//! It plays the routers' side. Each router has a random 16-byte key, a whitelist, the
//! router itself (192.168.1.1) and 2–4 LAN devices. Each 30 s update carries DNS
//! responses from the router (A records, CNAME chains of 0–2 levels, TTLs 20–3600 s, names
//! in and out of the whitelist), TCP flows to the resolved addresses in both directions,
//! a long-lived flow spanning the whole session, ARP and IPv6 packets, a flow-id reuse,
//! address-table entries with correct ids and cumulative pcap counters. Packets per update
//! follow a log-normal law (median about 1,000) cut at the 65,536-packet series limit.
//! Everything is hashed exactly as a big-endian router does.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use crate::anonymize::{parse_ipv4, whitelist_matches, ByteOrder, RouterKey};
use crate::error::{io, PassiveError};

/// How the generated updates are packaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GenLayout {
    /// `<node>_<date>_<time>_<md5>.tar` of `.gz` members (the routers' uploads).
    #[default]
    Tar,
    /// Go layout `<node>/<date>/<node>_<date>_<time>.tar.gz` of `.gz` members.
    TarGz,
    /// Single `<node>-<session>-<seq>.gz` files.
    Gz,
}

impl std::str::FromStr for GenLayout {
    type Err = String;
    fn from_str(s: &str) -> Result<GenLayout, String> {
        match s {
            "tar" => Ok(GenLayout::Tar),
            "targz" => Ok(GenLayout::TarGz),
            "gz" => Ok(GenLayout::Gz),
            o => Err(format!("unknown layout {o}; one of tar, targz, gz")),
        }
    }
}

/// Options of `vantage passive generate`.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Output directory.
    pub out: PathBuf,
    /// Routers.
    pub routers: usize,
    /// Sessions per router.
    pub sessions: usize,
    /// Updates per session.
    pub updates: usize,
    /// Seed.
    pub seed: u64,
    /// Start time, s since the epoch.
    pub start: i64,
    /// Packaging.
    pub layout: GenLayout,
    /// Updates per tarball.
    pub per_tarball: usize,
}

impl Default for GenerateOptions {
    fn default() -> GenerateOptions {
        GenerateOptions {
            out: PathBuf::from("generated"),
            routers: 2,
            sessions: 2,
            updates: 6,
            seed: 1,
            start: 1_346_479_358,
            layout: GenLayout::Tar,
            per_tarball: 20,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GenerateReport {
    /// Files written (tarballs or updates).
    pub files: u64,
    /// Updates.
    pub updates: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes of uncompressed update text.
    pub uncompressed_bytes: u64,
    /// Bytes written.
    pub compressed_bytes: u64,
}

/// A device of the truth file.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceTruth {
    /// Clear IP.
    pub ip: String,
    /// Clear MAC.
    pub mac: String,
    /// The router's hash of the MAC.
    pub hashed_mac: String,
    /// The router's hash of the IP.
    pub hashed_ip: String,
}

/// A router of the truth file.
#[derive(Debug, Clone, Serialize)]
pub struct RouterTruth {
    /// Raw node id (`OW` + MAC).
    pub raw_node_id: String,
    /// Key, hex.
    pub key_hex: String,
    /// Signature = anonymization context.
    pub anonymization_context: String,
    /// Devices, the router first.
    pub devices: Vec<DeviceTruth>,
}

/// Whitelist every router carries.
pub const WHITELIST: [&str; 10] = [
    "google.com",
    "facebook.com",
    "youtube.com",
    "yahoo.com",
    "amazon.com",
    "wikipedia.org",
    "ebay.com",
    "twitter.com",
    "netflix.com",
    "apple.com",
];

/// Names resolved: (name, CNAME chain, addresses).
const NAMES: [(&str, &[&str], &[&str]); 10] = [
    ("www.google.com", &["www.l.google.com"], &["74.125.224.72", "74.125.224.80"]),
    ("m.youtube.com", &["youtube-ui.l.google.com"], &["74.125.224.9"]),
    ("www.facebook.com", &["star.c10r.facebook.com"], &["69.171.229.11"]),
    ("en.wikipedia.org", &["text-lb.eqiad.wikimedia.org"], &["208.80.154.225"]),
    ("www.ebay.com", &["www.ebay.com.edgekey.net", "e2050.b.akamaiedge.net"], &["23.62.99.139"]),
    ("www.example.org", &[], &["93.184.216.119"]),
    ("api.twitter.com", &[], &["199.59.148.20"]),
    ("www.amazon.com", &[], &["72.21.215.232", "72.21.194.1"]),
    ("news.example.net", &["cdn.example.net"], &["203.0.113.7"]),
    ("movies.netflix.com", &["netflix-lb.amazonaws.com"], &["54.243.10.2"]),
];

const OUIS: [[u8; 3]; 5] = [
    [0x64, 0xa7, 0x69],
    [0x00, 0x90, 0x4b],
    [0xc4, 0x3d, 0xc7],
    [0x28, 0xcf, 0xe9],
    [0x00, 0x1e, 0xc2],
];
const ROUTER_IP: [u8; 4] = [192, 168, 1, 1];
const LONG_LIVED: [u8; 4] = [74, 125, 142, 188];

struct Router {
    key: RouterKey,
    node: String,
    devices: Vec<([u8; 4], [u8; 6])>,
    hashed_ip: HashMap<[u8; 4], String>,
}

impl Router {
    fn new(rng: &mut StdRng, index: usize) -> Router {
        let mut key = vec![0u8; 16];
        rng.fill(&mut key[..]);
        let mac = [0xc4, 0x3d, 0xc7, rng.gen(), rng.gen(), (index % 256) as u8];
        let node = format!("OW{}", hex::encode_upper(mac));
        let mut devices = vec![(ROUTER_IP, mac)];
        for i in 0..rng.gen_range(2..=4u8) {
            let oui = OUIS[rng.gen_range(0..OUIS.len())];
            devices.push((
                [192, 168, 1, 100 + i],
                [oui[0], oui[1], oui[2], rng.gen(), rng.gen(), rng.gen()],
            ));
        }
        Router { key: RouterKey(key), node, devices, hashed_ip: HashMap::new() }
    }

    fn hip(&mut self, ip: [u8; 4]) -> String {
        let key = &self.key;
        self.hashed_ip.entry(ip).or_insert_with(|| key.ip(ip, ByteOrder::Big)).clone()
    }

    fn truth(&self) -> RouterTruth {
        RouterTruth {
            raw_node_id: self.node.clone(),
            key_hex: hex::encode(&self.key.0),
            anonymization_context: self.key.signature(),
            devices: self
                .devices
                .iter()
                .map(|(ip, mac)| DeviceTruth {
                    ip: std::net::Ipv4Addr::from(*ip).to_string(),
                    mac: mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"),
                    hashed_mac: self.key.mac(*mac),
                    hashed_ip: self.key.ip(*ip, ByteOrder::Big),
                })
                .collect(),
        }
    }
}

type Tuple = ([u8; 4], [u8; 4], u8, u16, u16);

/// Router-side state of one bismark-passive process.
struct Session {
    start_us: i64,
    seq: i64,
    now_us: i64,
    addr: Vec<([u8; 4], [u8; 6])>,
    addr_new: Vec<usize>,
    flows: HashMap<Tuple, i32>,
    used: HashMap<i32, Tuple>,
    flow_new: Vec<(i32, Tuple)>,
    pcap_received: u64,
    pcap_dropped: u64,
    sport: u16,
}

fn slot(t: &Tuple) -> i32 {
    let mut h: u32 = 2_166_136_261;
    for b in
        t.0.iter().chain(&t.1).chain(&[t.2]).chain(&t.3.to_be_bytes()).chain(&t.4.to_be_bytes())
    {
        h = (h ^ u32::from(*b)).wrapping_mul(16_777_619);
    }
    (h % 65_529) as i32 + 7
}

impl Session {
    fn new(start_us: i64) -> Session {
        Session {
            start_us,
            seq: 0,
            now_us: start_us + 2_000_000,
            addr: Vec::new(),
            addr_new: Vec::new(),
            flows: HashMap::new(),
            used: HashMap::new(),
            flow_new: Vec::new(),
            pcap_received: 0,
            pcap_dropped: 0,
            sport: 32768,
        }
    }

    fn address_id(&mut self, ip: [u8; 4], mac: [u8; 6]) -> Option<usize> {
        if ip[0] != 192 || ip[1] != 168 {
            return None;
        }
        if let Some(i) = self.addr.iter().position(|e| *e == (ip, mac)) {
            return Some(i % 256);
        }
        self.addr.push((ip, mac));
        self.addr_new.push(self.addr.len() - 1);
        Some((self.addr.len() - 1) % 256)
    }

    fn flow_id(&mut self, t: Tuple) -> i32 {
        if let Some(f) = self.flows.get(&t) {
            return *f;
        }
        let mut fid = slot(&t);
        while self.used.contains_key(&fid) {
            fid = if fid >= 65_535 { 7 } else { fid + 1 };
        }
        self.used.insert(fid, t);
        self.flows.insert(t, fid);
        self.flow_new.push((fid, t));
        fid
    }

    fn next_port(&mut self) -> u16 {
        self.sport = if self.sport >= 60_999 { 32768 } else { self.sport + 1 };
        self.sport
    }
}

/// Heavy-tailed packet count: log-normal with median 1,000, cut to 20..=65,536.
fn packets_per_update(rng: &mut StdRng) -> usize {
    let (u1, u2): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    let n = (1000f64.ln() + 1.1 * z).exp();
    (n as usize).clamp(20, 65_536)
}

/// The packet series being built: times advance by random gaps.
struct Series {
    packets: Vec<(i64, u16, i32)>,
    t: i64,
    gap: i64,
}

impl Series {
    fn push(&mut self, rng: &mut StdRng, size: u16, fid: i32) -> usize {
        self.t += rng.gen_range(1..=self.gap * 2);
        self.packets.push((self.t, size, fid));
        self.packets.len() - 1
    }
}

/// One update's text.
fn make_update(rng: &mut StdRng, r: &mut Router, s: &mut Session, reuse: bool) -> (String, u64) {
    let budget = packets_per_update(rng);
    let gap = (29_000_000 / budget as i64).max(2);
    let mut ser = Series { packets: Vec::with_capacity(budget + 64), t: s.now_us, gap };
    let mut a_recs: Vec<(usize, usize, bool, String, String, i32)> = Vec::new();
    let mut c_recs: Vec<(usize, usize, bool, String, bool, String, i32)> = Vec::new();
    let router_mac = r.devices[0].1;
    let name_field = |r: &Router, n: &str| -> (bool, String) {
        let wl: Vec<String> = WHITELIST.iter().map(|w| w.to_string()).collect();
        if whitelist_matches(&wl, n).is_empty() {
            (true, r.key.domain(n))
        } else {
            (false, n.to_string())
        }
    };
    // DNS lookups and the flows to what they resolved.
    let mut conversations: Vec<(Tuple, Tuple)> = Vec::new();
    let lan: Vec<([u8; 4], [u8; 6])> = r.devices[1..].to_vec();
    for (ip, mac) in &lan {
        if rng.gen_bool(0.2) {
            continue;
        }
        let (name, chain, addrs) = NAMES[rng.gen_range(0..NAMES.len())];
        let ttl = rng.gen_range(20..=3600);
        let cport = s.next_port();
        let q = s.flow_id((*ip, ROUTER_IP, 17, cport, 53));
        s.address_id(*ip, *mac);
        s.address_id(ROUTER_IP, router_mac);
        ser.push(rng, 74, q);
        let resp = s.flow_id((ROUTER_IP, *ip, 17, 53, cport));
        let pid = ser.push(rng, 180 + 16 * chain.len() as u16, resp);
        let Some(aid) = s.address_id(*ip, *mac) else { continue };
        let names: Vec<&str> = std::iter::once(name).chain(chain.iter().copied()).collect();
        for w in names.windows(2) {
            let (da, d) = name_field(r, w[0]);
            let (ca, c) = name_field(r, w[1]);
            c_recs.push((pid, aid, da, d, ca, c, ttl));
        }
        let last = names.last().copied().unwrap_or(name);
        for a in addrs.iter() {
            let addr = parse_ipv4(a).unwrap_or([0; 4]);
            let (an, n) = name_field(r, last);
            a_recs.push((pid, aid, an, n, r.hip(addr), ttl));
        }
        let remote = parse_ipv4(addrs[rng.gen_range(0..addrs.len())]).unwrap_or([0; 4]);
        let sport = s.next_port();
        conversations.push(((*ip, remote, 6, sport, 443), (remote, *ip, 6, 443, sport)));
    }
    // The long-lived connection (push notifications) spanning every update.
    let (ip1, _) = lan[0];
    let long = ((ip1, LONG_LIVED, 6, 50123, 5228), (LONG_LIVED, ip1, 6, 5228, 50123));
    let lf = (s.flow_id(long.0), s.flow_id(long.1));
    ser.push(rng, 66, lf.0);
    ser.push(rng, 97, lf.1);
    // Spend the rest of the budget on the conversations, both ways.
    let ids: Vec<(i32, i32)> =
        conversations.iter().map(|(o, i)| (s.flow_id(*o), s.flow_id(*i))).collect();
    while ser.packets.len() < budget {
        if ids.is_empty() {
            ser.push(rng, 66, lf.0);
            continue;
        }
        let (o, i) = ids[rng.gen_range(0..ids.len())];
        let n = rng.gen_range(2..40).min(budget - ser.packets.len());
        for k in 0..n {
            if k % 2 == 0 {
                let size = [66u16, 74, 583, 1514][rng.gen_range(0..4)];
                ser.push(rng, size, o);
            } else {
                let size = [66u16, 1514, 1514, 1200][rng.gen_range(0..4)];
                ser.push(rng, size, i);
            }
        }
    }
    if rng.gen_bool(0.5) {
        ser.push(rng, 60, 2); // ARP
    }
    if rng.gen_bool(0.3) {
        ser.push(rng, 86, 4); // IPv6
    }
    if reuse {
        // The long-lived flow's reverse slot expires and a new flow lands in it.
        let new: Tuple = (ip1, [8, 8, 4, 4], 17, 53001, 53);
        if let Some(fid) = s.flows.remove(&long.1) {
            s.flows.insert(new, fid);
            s.used.insert(fid, new);
            s.flow_new.push((fid, new));
            ser.push(rng, 77, fid);
        }
    }
    let created = (s.now_us + 30_000_000) / 1_000_000;
    s.pcap_received += ser.packets.len() as u64 + rng.gen_range(0..3);
    if rng.gen_ratio(1, 4) {
        s.pcap_dropped += 1;
    }
    // Render.
    let mut out = String::with_capacity(ser.packets.len() * 18 + 4096);
    let _ = writeln!(out, "5\nUNKNOWN\n{} {} {} {created}", r.node, s.start_us, s.seq);
    let _ = writeln!(out, "{} {} 0\n", s.pcap_received, s.pcap_dropped);
    if s.seq == 0 {
        for w in WHITELIST {
            let _ = writeln!(out, "{w}");
        }
    }
    let _ = writeln!(out, "\n{}\n", r.key.signature());
    let packets = ser.packets;
    let first = packets.first().map_or(0, |p| p.0);
    let _ = writeln!(out, "{first} 0");
    let mut prev = first;
    for (ts, size, fid) in &packets {
        let _ = writeln!(out, "{} {size} {fid}", ts - prev);
        prev = *ts;
    }
    let _ = writeln!(out, "\n{} {} 0 0", s.start_us / 1_000_000, s.flows.len());
    let flow_new = std::mem::take(&mut s.flow_new);
    for (fid, (src, dst, proto, sp, dp)) in flow_new {
        let (hs, hd) = (r.hip(src), r.hip(dst));
        let _ = writeln!(out, "{fid} 1 {hs} 1 {hd} {proto} {sp} {dp}");
    }
    let _ = writeln!(out, "\n0 0");
    for (pid, aid, an, d, ip, ttl) in &a_recs {
        let _ = writeln!(out, "{pid} {aid} {} {d} {ip} {ttl}", u8::from(*an));
    }
    out.push('\n');
    for (pid, aid, da, d, ca, c, ttl) in &c_recs {
        let _ = writeln!(out, "{pid} {aid} {} {d} {} {c} {ttl}", u8::from(*da), u8::from(*ca));
    }
    let addr_new = std::mem::take(&mut s.addr_new);
    let first_id = addr_new.first().copied().unwrap_or(s.addr.len()) % 256;
    let _ = writeln!(out, "\n{first_id} 256");
    for i in addr_new {
        let (ip, mac) = s.addr[i];
        let _ = writeln!(out, "{} {}", r.key.mac(mac), r.hip(ip));
    }
    out.push_str("\n\n");
    s.seq += 1;
    s.now_us += 30_000_000;
    (out, packets.len() as u64)
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 4),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(text);
    enc.finish().unwrap_or_default()
}

fn tar_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_cksum();
        // Appending to an in-memory builder cannot fail for these short names.
        let _ = b.append_data(&mut h, name, bytes.as_slice());
    }
    b.into_inner().unwrap_or_default()
}

fn stamp(s: i64) -> (String, String) {
    let ts = vantage_core::Timestamp(s.saturating_mul(1_000_000_000)).to_rfc3339();
    let date = ts.get(..10).unwrap_or("1970-01-01").to_string();
    let time = ts.get(11..19).unwrap_or("00:00:00").replace(':', "-");
    (date, time)
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PassiveError> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(io(p))?;
    }
    std::fs::write(path, bytes).map_err(io(path))
}

/// Generates the corpus under `opts.out`: the packaged updates, `keys/<node>.key` and
/// `truth.json`.
pub fn generate(opts: &GenerateOptions) -> Result<GenerateReport, PassiveError> {
    if opts.routers == 0 || opts.sessions == 0 || opts.updates == 0 {
        return Err(PassiveError::Usage(
            "generate: routers, sessions and updates must be at least 1".into(),
        ));
    }
    std::fs::create_dir_all(&opts.out).map_err(io(&opts.out))?;
    let per_router: Vec<Result<(RouterTruth, GenerateReport), PassiveError>> =
        (0..opts.routers).into_par_iter().map(|i| generate_router(opts, i)).collect();
    let mut report = GenerateReport::default();
    let mut truth = Vec::new();
    for r in per_router {
        let (t, g) = r?;
        truth.push(t);
        report.files += g.files;
        report.updates += g.updates;
        report.packets += g.packets;
        report.uncompressed_bytes += g.uncompressed_bytes;
        report.compressed_bytes += g.compressed_bytes;
    }
    let json =
        serde_json::to_vec_pretty(&serde_json::json!({ "seed": opts.seed, "routers": truth }))
            .unwrap_or_default();
    write(&opts.out.join("truth.json"), &json)?;
    Ok(report)
}

fn generate_router(
    opts: &GenerateOptions,
    index: usize,
) -> Result<(RouterTruth, GenerateReport), PassiveError> {
    let mut rng =
        StdRng::seed_from_u64(opts.seed.wrapping_mul(1_000_003).wrapping_add(index as u64));
    let mut r = Router::new(&mut rng, index);
    write(&opts.out.join("keys").join(format!("{}.key", r.node)), &r.key.0)?;
    let mut report = GenerateReport::default();
    let mut start_s = opts.start + rng.gen_range(0..60);
    let mut batch: Vec<(String, Vec<u8>)> = Vec::new();
    let node = r.node.clone();
    let flush = |batch: &mut Vec<(String, Vec<u8>)>,
                 last_created: i64,
                 report: &mut GenerateReport|
     -> Result<(), PassiveError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (date, time) = stamp(last_created);
        match opts.layout {
            GenLayout::Gz => {
                for (name, bytes) in batch.iter() {
                    write(&opts.out.join("updates").join(name), bytes)?;
                    report.files += 1;
                    report.compressed_bytes += bytes.len() as u64;
                }
            }
            GenLayout::Tar => {
                let tar = tar_of(batch);
                let md5 = vantage_core::hash::md5_hex(&tar);
                write(&opts.out.join(format!("{node}_{date}_{time}_{md5}.tar")), &tar)?;
                report.files += 1;
                report.compressed_bytes += tar.len() as u64;
            }
            GenLayout::TarGz => {
                let tgz = gzip(&tar_of(batch));
                let name = format!("{node}_{date}_{time}.tar.gz");
                write(&opts.out.join(&node).join(&date).join(name), &tgz)?;
                report.files += 1;
                report.compressed_bytes += tgz.len() as u64;
            }
        }
        batch.clear();
        Ok(())
    };
    for _ in 0..opts.sessions {
        let mut s = Session::new(start_s * 1_000_000);
        let mut created = start_s;
        for u in 0..opts.updates {
            let (text, packets) = make_update(&mut rng, &mut r, &mut s, u == 2);
            report.updates += 1;
            report.packets += packets;
            report.uncompressed_bytes += text.len() as u64;
            created = s.now_us / 1_000_000;
            batch.push((
                format!("{}-{}-{}.gz", r.node, s.start_us, s.seq - 1),
                gzip(text.as_bytes()),
            ));
            if batch.len() >= opts.per_tarball.max(1) {
                flush(&mut batch, created, &mut report)?;
            }
        }
        flush(&mut batch, created, &mut report)?;
        // The next process starts 10 s or 15 min later.
        start_s = created + if rng.gen_bool(0.5) { 10 } else { 900 };
    }
    Ok((r.truth(), report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_parse_and_are_identical_per_seed() {
        let mut texts = Vec::new();
        for _ in 0..2 {
            let mut rng = StdRng::seed_from_u64(9);
            let mut r = Router::new(&mut rng, 0);
            let mut s = Session::new(1_346_479_358_000_000);
            let mut v = Vec::new();
            for i in 0..4 {
                let (text, _) = make_update(&mut rng, &mut r, &mut s, i == 2);
                let u = crate::parse_update(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
                assert_eq!(u.sequence_number, i);
                assert!(u.warnings.is_empty(), "{:?}", u.warnings);
                assert_eq!(u.anonymization_context.as_deref(), Some(r.key.signature().as_str()));
                v.push(text);
            }
            texts.push(v);
        }
        assert_eq!(texts[0], texts[1]);
    }

    #[test]
    fn packet_counts_are_heavy_tailed_and_bounded() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut n: Vec<usize> = (0..2001).map(|_| packets_per_update(&mut rng)).collect();
        n.sort_unstable();
        let median = n[1000];
        assert!((600..1600).contains(&median), "median {median}");
        assert!(n[2000] > 10 * median && n[2000] <= 65_536);
    }
}
