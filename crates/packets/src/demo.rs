//! This kind's part of `vantage demo`: a synthetic trace recorded with a two-class
//! configuration and cutoff, one bulk connection queried back to a pcap, and a summary.

use std::io::Write;
use std::path::PathBuf;

use serde::Serialize;
use vantage_core::DataDir;
use vantage_warehouse::{Sql, Warehouse};

use crate::config::{ByteSize, ClassConfig, Cutoff, PacketsConfig};
use crate::error::StoreError;
use crate::query::{self, Query};
use crate::record::{packets_root, record_files};
use crate::synth::{write_pcap, SynthOptions};

/// What the demo did.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// The generated trace.
    pub trace: PathBuf,
    /// Packets in it.
    pub packets: u64,
    /// Per class: (name, stored packets, stored bytes, cut packets, cut bytes).
    pub classes: Vec<(String, u64, u64, u64, u64)>,
    /// Flow rows written.
    pub flows: u64,
    /// The connection queried.
    pub query_key: String,
    /// Packets it returned.
    pub query_packets: u64,
    /// Where the result was written.
    pub query_file: PathBuf,
    /// Index bytes as a share of stored packet bytes, percent.
    pub index_pct: f64,
}

/// Runs the demo in `data`, printing a few lines to `out`.
pub fn demo(
    data: &DataDir,
    wh: &mut Warehouse,
    out: &mut dyn Write,
) -> Result<DemoSummary, StoreError> {
    let inbox = data.inbox("packets")?;
    let trace = inbox.join("demo-trace.pcap");
    let opts = SynthOptions::default();
    write_pcap(&trace, &opts).map_err(|e| StoreError::io(&trace, e))?;
    let mut dns = ClassConfig::new("dns", "port 53");
    dns.precedence = 5;
    dns.cutoff = Cutoff::Off;
    let mut rest = ClassConfig::new("rest", "");
    rest.cutoff = Cutoff::Bytes(15 * 1024);
    rest.filesize = ByteSize(1 << 20);
    let cfg =
        PacketsConfig { class: vec![dns, rest], sensor: Some("demo".into()), ..Default::default() };
    let report = record_files(data, wh, &cfg, std::slice::from_ref(&trace), |_| {})?;
    let packets: u64 = report.files.iter().map(|f| f.packets).sum();
    let rows = wh.query(
        "SELECT proto, orig_addr, orig_port, resp_addr, resp_port FROM packets_flows \
         WHERE sensor = 'demo' ORDER BY orig_bytes + resp_bytes DESC, flow_id LIMIT 1",
        &[],
    )?;
    let key = rows
        .rows
        .first()
        .map(|r| {
            let end = |a: String, p: String| {
                if a.contains(':') {
                    format!("[{a}]:{p}")
                } else {
                    format!("{a}:{p}")
                }
            };
            let proto = if r[0].to_text() == "17" { "udp" } else { "tcp" };
            format!(
                "{proto} {} {}",
                end(r[1].to_text(), r[2].to_text()),
                end(r[3].to_text(), r[4].to_text())
            )
        })
        .unwrap_or_default();
    let root = packets_root(data, &cfg)?;
    let order: Vec<String> = vec!["dns".into(), "rest".into()];
    let q = Query::index("conn4", &key)?;
    let result = query::run(&root, &order, &q)?;
    let qdir = root.join("queries");
    std::fs::create_dir_all(&qdir).map_err(|e| StoreError::io(&qdir, e))?;
    let qfile = qdir.join("demo-bulk-connection.pcap");
    let f = std::fs::File::create(&qfile).map_err(|e| StoreError::io(&qfile, e))?;
    query::write_result(&result, std::io::BufWriter::new(f), false, false)
        .map_err(|e| StoreError::io(&qfile, e))?;
    let st = crate::stats::stats(&root)?;
    let classes: Vec<(String, u64, u64, u64, u64)> = st
        .classes
        .iter()
        .map(|c| (c.class.clone(), c.stored_pkts, c.stored_bytes, c.cut_pkts, c.cut_bytes))
        .collect();
    let w = |out: &mut dyn Write, s: String| {
        writeln!(out, "{s}").map_err(|e| StoreError::io("<stdout>", e))
    };
    w(out, format!("packets: recorded {packets} synthetic packets ({} flows) with classes dns (no cutoff) and rest (cutoff 15k)", report.flows_written))?;
    for (n, sp, sb, cp, cb) in &classes {
        w(out, format!("packets:   class {n}: stored {sp} packets / {sb} bytes, cut {cp} packets / {cb} bytes"))?;
    }
    w(
        out,
        format!(
            "packets: query conn4 \"{key}\" -> {} packets in {}",
            result.hits.len(),
            qfile.display()
        ),
    )?;
    w(out, format!("packets: index size {:.1}% of stored packet bytes", st.index_pct_of_stored))?;
    Ok(DemoSummary {
        trace,
        packets,
        classes,
        flows: report.flows_written,
        query_key: key,
        query_packets: result.hits.len() as u64,
        query_file: qfile,
        index_pct: st.index_pct_of_stored,
    })
}
