//! TM's three logs in `logs/` (spec §9): `stats.log`, `classes.log`, `indexes.log`, a
//! header line then space-separated rows, TM's columns in TM's order and Vantage's
//! appended. File input writes one row per run, at its end; the live recorder writes
//! one every `log_interval`. Columns without meaning for file input are 0.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::counters::Counters;
use crate::metrics::Snapshot;
use crate::stats::Stats;

const STATS: &str = "timestamp conns dyn_class pcap_recv pcap_drop drop_ratio d_drop totPkts totBytes \
link_rate_mbit uncutPkts uncutBytes uncut_rate_mbit utime stime mem_os mem queryPkts queryBytes p_ifdrop \
ring_drops queue_drops nonip undecodable unclassified frag_unattributed conn_evictions flows_out disk_free \
caplen_gt_len caplen_capped";
const CLASSES: &str =
    "timestamp class stored_bytes stored_pkts cut_bytes cut_pkts mem_bytes mem_pkts mem_dt \
disk_bytes disk_pkts disk_dt segments oldest newest";
const INDEXES: &str = "timestamp index entries_mem qlen files bytes pct_of_stored";

fn append(path: &Path, header: &str, rows: &[String]) -> std::io::Result<()> {
    let new = !path.exists();
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    if new {
        writeln!(f, "{header}")?;
    }
    for r in rows {
        writeln!(f, "{r}")?;
    }
    Ok(())
}

/// Appends one row to each log from `snap` (every live figure) and `st` (what is on
/// disk); `span_s`: the time the totals cover, for the rates.
pub fn write(root: &Path, snap: &Snapshot, st: &Stats, span_s: f64) -> std::io::Result<()> {
    let dir = root.join("logs");
    std::fs::create_dir_all(&dir)?;
    let c: &Counters = &snap.counters;
    let k = snap.kernel;
    let now = vantage_core::Timestamp::now().nanos() as f64 / 1e9;
    let (sp, sb) =
        c.classes.values().fold((0, 0), |t, x| (t.0 + x.stored_pkts, t.1 + x.stored_bytes));
    let rate = |bytes: u64| if span_s > 0.0 { bytes as f64 * 8.0 / span_s / 1e6 } else { 0.0 };
    let free = crate::store::free_space(root).map_or(0, |f| f.0);
    // File input has no kernel: everything read was "received", nothing dropped.
    let recv = if k.recv == 0 { c.tot_pkts } else { k.recv };
    let ratio = if recv + k.drop == 0 { 0.0 } else { k.drop as f64 / (recv + k.drop) as f64 };
    let (utime, stime) = cpu_times();
    let mem: u64 = snap.classes.iter().map(|x| x.mem_bytes).sum();
    let stats = format!(
        "{now:.6} {} {} {recv} {} {ratio:.6} {} {} {} {:.3} {sp} {sb} {:.3} {utime:.2} {stime:.2} {} {mem} {} {} {} {} {} {} {} {} {} {} {} {free} {} {}",
        snap.conns,
        snap.dyn_class,
        k.drop,
        k.drop,
        c.tot_pkts,
        c.tot_bytes,
        rate(c.tot_bytes),
        rate(sb),
        rss_bytes(),
        snap.query_pkts,
        snap.query_bytes,
        k.ifdrop,
        c.ring_drops,
        c.queue_drops,
        c.nonip,
        c.undecodable,
        c.unclassified,
        c.frag_unattributed,
        c.conn_evictions,
        c.flows_out,
        c.caplen_gt_len,
        c.caplen_capped
    );
    append(&dir.join("stats.log"), STATS, &[stats])?;
    let rows: Vec<String> = st
        .classes
        .iter()
        .map(|k| {
            let (mp, mb, mdt) = snap
                .classes
                .iter()
                .find(|r| r.name == k.class)
                .map_or((0, 0, 0.0), |r| (r.mem_pkts, r.mem_bytes, r.mem_dt_s));
            format!(
                "{now:.6} {} {} {} {} {} {mb} {mp} {mdt:.3} {} {} {:.3} {} {} {}",
                k.class,
                k.stored_bytes,
                k.stored_pkts,
                k.cut_bytes,
                k.cut_pkts,
                k.disk_bytes,
                k.disk_pkts,
                k.disk_dt,
                k.segments,
                k.oldest_ns.map_or(0.0, |t| t as f64 / 1e9),
                k.newest_ns.map_or(0.0, |t| t as f64 / 1e9),
            )
        })
        .collect();
    append(&dir.join("classes.log"), CLASSES, &rows)?;
    let files: u64 = st.classes.iter().map(|k| k.segments).sum();
    let bytes: u64 = st.classes.iter().map(|k| k.index_bytes).sum();
    let row = format!("{now:.6} all 0 0 {files} {bytes} {:.3}", st.index_pct_of_stored);
    append(&dir.join("indexes.log"), INDEXES, &[row])
}

/// User and system CPU seconds of this process (TM's `utime stime`).
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// Resident memory of this process (TM's `mem_os`), 0 where /proc is absent.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}
