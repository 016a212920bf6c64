//! TM's three logs in `logs/` (spec §9): `stats.log`, `classes.log`, `indexes.log`, a
//! header line then space-separated rows, TM's columns in TM's order and Vantage's
//! appended. File input writes one row per run, at its end; the live recorder (issue 4)
//! writes one every `log_interval`. Columns without meaning for file input are 0.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use crate::counters::Counters;
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

/// Appends this run's rows. `conns`: connections in the table at the end; `span_s`: the
/// packet-time span of the run; `rings`: (class, packets, bytes, span ns) in memory.
pub fn write(
    root: &Path,
    c: &Counters,
    st: &Stats,
    conns: u64,
    span_s: f64,
    rings: &[(String, u64, u64, i64)],
) -> std::io::Result<()> {
    let dir = root.join("logs");
    std::fs::create_dir_all(&dir)?;
    let now = vantage_core::Timestamp::now().nanos() as f64 / 1e9;
    let (sp, sb) =
        c.classes.values().fold((0, 0), |t, x| (t.0 + x.stored_pkts, t.1 + x.stored_bytes));
    let rate = |bytes: u64| if span_s > 0.0 { bytes as f64 * 8.0 / span_s / 1e6 } else { 0.0 };
    let free = crate::store::free_space(root).map_or(0, |f| f.0);
    let stats = format!(
        "{now:.6} {conns} 0 {} 0 0 0 {} {} {:.3} {sp} {sb} {:.3} 0 0 0 0 0 0 0 {} {} {} {} {} {} {} {} {free} {} {}",
        c.tot_pkts,
        c.tot_pkts,
        c.tot_bytes,
        rate(c.tot_bytes),
        rate(sb),
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
            let (mp, mb, mdt) = rings
                .iter()
                .find(|r| r.0 == k.class)
                .map_or((0, 0, 0.0), |r| (r.1, r.2, r.3 as f64 / 1e9));
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
