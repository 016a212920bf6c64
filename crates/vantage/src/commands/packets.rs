//! `vantage packets ...`: the Time Machine (packets spec). Parses, calls
//! `vantage_packets`, prints; exit codes come from the library's errors.

use std::io::Write;
use std::path::PathBuf;

use vantage_core::{Exit, Timestamp};
use vantage_packets::{query, PacketsConfig, Query};

use crate::context::{progress_bar, Coded, Context, Format, OrExit};
use crate::output::write_table;

/// The packets verbs.
#[derive(Debug, clap::Subcommand)]
pub enum PacketsCommand {
    /// Record capture files into per-class segments with cutoff and indexes
    #[command(after_help = "Examples:\n  vantage packets record --read trace.pcap\n  \
        vantage --config vantage.toml packets record --read a.pcap b.pcapng\n  \
        sudo vantage packets record --interface eth0     (console on 127.0.0.1:42042: vantage console)\n\n\
        Classes, cutoff and budgets come from [packets] of vantage.toml. A rejected file \
        (truncated, bad magic, absurd caplen) is named with its byte offset, gets a \
        catalog_quarantine row, and the next file is read; exit 3.")]
    Record(RecordArgs),
    /// Write every stored packet of a connection, host, port or filter to a pcap
    #[command(
        after_help = "Examples:\n  vantage packets query --index conn4 --key \"tcp 1.2.3.4:80 5.6.7.8:1025\" -w conn.pcap\n  \
        vantage packets query --index ip --key 2001:db8::1 --start \"2024-05-01 10:00:00\" -w - | tcpdump -r -\n  \
        vantage packets query --filter \"udp and port 53\" -w dns.pcap\n\n\
        Index kinds: conn4 (connection4), conn3, conn2, ip, port. Keys as the Time Machine: \
        IPv6 in brackets with ports, fields separated by blanks."
    )]
    Query(QueryArgs),
    /// Per class stored and cut packets, retention span, index sizes, drops
    #[command(
        after_help = "Examples:\n  vantage packets stats\n  vantage packets stats --format json"
    )]
    Stats,
    /// Rebuild every segment's index from the segment (after an index format change)
    #[command(after_help = "Example:\n  vantage packets reindex")]
    Reindex,
    /// Delete one class's segments and indexes (a class no longer configured)
    #[command(after_help = "Example:\n  vantage packets prune --class old_http")]
    Prune {
        /// The class directory under classes/
        #[arg(long)]
        class: String,
    },
}

/// `record` arguments.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// pcap or pcapng files, read in order
    #[arg(long = "read", value_name = "FILE", num_args = 1.., required_unless_present = "interface")]
    pub read: Vec<PathBuf>,
    /// Live capture interface (AF_PACKET; needs root or CAP_NET_RAW); runs until SIGINT or SIGTERM
    #[arg(long, value_name = "IF", conflicts_with = "read")]
    pub interface: Option<String>,
}

/// `query` arguments.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Index kind: conn4, conn3, conn2, ip, port (connection4 ... accepted)
    #[arg(long, requires = "key", conflicts_with = "filter")]
    pub index: Option<String>,
    /// Key text, e.g. "tcp 1.2.3.4:80 5.6.7.8:1025"
    #[arg(long, requires = "index")]
    pub key: Option<String>,
    /// Filter expression (tcpdump subset), e.g. "host 10.0.0.1 and tcp port 80"
    #[arg(long, required_unless_present = "index")]
    pub filter: Option<String>,
    /// Start (inclusive): epoch seconds, RFC 3339 or "YYYY-MM-DD hh:mm:ss" UTC
    #[arg(long, value_name = "T")]
    pub start: Option<String>,
    /// End (inclusive)
    #[arg(long, value_name = "T")]
    pub end: Option<String>,
    /// Only packets still in a running recorder's memory
    #[arg(long)]
    pub mem_only: bool,
    /// Output file; - for stdout
    #[arg(short = 'w', value_name = "OUT")]
    pub write: PathBuf,
    /// Microsecond timestamps instead of nanoseconds
    #[arg(long)]
    pub micro: bool,
    /// Write pcapng even for one link type
    #[arg(long)]
    pub pcapng: bool,
}

fn config(ctx: &Context) -> anyhow::Result<PacketsConfig> {
    ctx.config.section::<PacketsConfig>("packets").coded()
}

/// Runs a packets verb.
pub fn run(ctx: &Context, cmd: &PacketsCommand) -> anyhow::Result<()> {
    match cmd {
        PacketsCommand::Record(a) => record(ctx, a),
        PacketsCommand::Query(a) => run_query(ctx, a),
        PacketsCommand::Stats => stats(ctx),
        PacketsCommand::Reindex => {
            let cfg = config(ctx)?;
            let data = ctx.data_dir()?;
            let wh = ctx.warehouse(&data)?;
            let n = vantage_packets::reindex(&data, &wh, &cfg).coded()?;
            if ctx.chatty() {
                eprintln!("{n} segments reindexed");
            }
            Ok(())
        }
        PacketsCommand::Prune { class } => {
            let cfg = config(ctx)?;
            let data = ctx.data_dir()?;
            let wh = ctx.warehouse(&data)?;
            let n = vantage_packets::prune(&data, &wh, &cfg, class).coded()?;
            if ctx.chatty() {
                eprintln!("class {class}: {n} segments deleted");
            }
            Ok(())
        }
    }
}

fn record(ctx: &Context, a: &RecordArgs) -> anyhow::Result<()> {
    if let Some(iface) = &a.interface {
        return record_live(ctx, iface);
    }
    let cfg = config(ctx)?;
    cfg.build().coded()?;
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    let bar = progress_bar(ctx, a.read.len() as u64, "record");
    let report = vantage_packets::record_files(&data, &mut wh, &cfg, &a.read, |p| {
        bar.set_message(p.display().to_string());
        bar.inc(1);
    })
    .coded()?;
    bar.finish_and_clear();
    let r = &report.recovery;
    if ctx.chatty() && (r.reopened + r.reindexed + r.removed) > 0 {
        eprintln!(
            "recovered: {} open segments closed, {} indexes rebuilt, {} orphan files removed",
            r.reopened, r.reindexed, r.removed
        );
    }
    let mut rejected = 0;
    for f in &report.files {
        for w in &f.warnings {
            eprintln!("warning: {w}");
        }
        match &f.error {
            Some(e) => {
                rejected += 1;
                eprintln!("error: {e} ({} packets before it kept)", f.packets);
            }
            None if ctx.chatty() => eprintln!("{}: {} packets", f.path.display(), f.packets),
            None => {}
        }
    }
    if ctx.chatty() {
        let c = &report.counters;
        let (sp, sb, cp, cb) = c.classes.values().fold((0, 0, 0, 0), |t, x| {
            (t.0 + x.stored_pkts, t.1 + x.stored_bytes, t.2 + x.cut_pkts, t.3 + x.cut_bytes)
        });
        eprintln!(
            "stored {sp} packets ({sb} bytes), cut {cp} ({cb} bytes), unclassified {}, {} flows written (totals of this directory)",
            c.unclassified, report.flows_written
        );
    }
    if rejected > 0 {
        return Err(Coded::new(
            Exit::Rejected,
            format!("{rejected} of {} files rejected", report.files.len()),
        ));
    }
    Ok(())
}

fn record_live(ctx: &Context, iface: &str) -> anyhow::Result<()> {
    let cfg = config(ctx)?;
    cfg.build().coded()?;
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    #[cfg(target_os = "linux")]
    {
        let cap = vantage_packets::open_interface(&cfg, iface).coded()?;
        let stop = vantage_packets::stop_on_signals();
        let session = format!("live:{iface}:{}", Timestamp::now().to_rfc3339());
        let chatty = ctx.chatty();
        let report = vantage_packets::run_live(
            &data,
            &mut wh,
            &cfg,
            &session,
            cap,
            None,
            stop,
            |_, addr| {
                if chatty {
                    match addr {
                        Some(a) => {
                            eprintln!("recording {iface}; console on {a}; SIGINT or SIGTERM stops")
                        }
                        None => eprintln!("recording {iface}; SIGINT or SIGTERM stops"),
                    }
                }
            },
        )
        .coded()?;
        if chatty {
            let k = report.kernel;
            eprintln!(
                "{} packets recorded; kernel received {} dropped {}; queue drops {}; {} flows written",
                report.packets, k.recv, k.drop, report.queue_drops, report.flows_written
            );
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (&mut wh, iface);
        Err(Coded::new(Exit::Usage, "live capture needs Linux (AF_PACKET); use --read FILE"))
    }
}

fn time(text: &Option<String>) -> anyhow::Result<Option<i64>> {
    match text {
        None => Ok(None),
        Some(t) => Timestamp::parse(t)
            .map(|ts| Some(ts.nanos()))
            .map_err(|e| Coded::new(Exit::Usage, format!("{t:?}: {e}"))),
    }
}

fn run_query(ctx: &Context, a: &QueryArgs) -> anyhow::Result<()> {
    let cfg = config(ctx)?;
    let classes = cfg.build().coded()?;
    let order: Vec<String> = classes.iter().map(|c| c.dir_name().to_string()).collect();
    let mut q = match (&a.index, &a.key, &a.filter) {
        (Some(i), Some(k), None) => Query::index(i, k).coded()?,
        (None, None, Some(f)) => Query::filter(f).coded()?,
        _ => return Err(Coded::new(Exit::Usage, "give --index KIND --key KEY, or --filter EXPR")),
    };
    q.start = time(&a.start)?;
    q.end = time(&a.end)?;
    q.mem_only = a.mem_only;
    let data = ctx.data_dir()?;
    let root = vantage_packets::packets_root(&data, &cfg).coded()?;
    let result = query::run(&root, &order, &q).coded()?;
    if a.write.as_os_str() == "-" {
        let out = std::io::BufWriter::new(std::io::stdout().lock());
        query::write_result(&result, out, a.micro, a.pcapng)?;
    } else {
        let f = std::fs::File::create(&a.write)
            .map_err(|e| Coded::new(Exit::for_io(&e), format!("{}: {e}", a.write.display())))?;
        query::write_result(&result, std::io::BufWriter::new(f), a.micro, a.pcapng)
            .map_err(|e| Coded::new(Exit::Storage, format!("{}: {e}", a.write.display())))?;
    }
    if ctx.chatty() {
        eprintln!("{}", result.summary(&q));
    }
    Ok(())
}

fn ts_text(ns: Option<i64>) -> String {
    ns.map(|n| Timestamp::from_nanos(n).to_rfc3339()).unwrap_or_default()
}

fn stats(ctx: &Context) -> anyhow::Result<()> {
    let cfg = config(ctx)?;
    let data = ctx.data_dir()?;
    let root = vantage_packets::packets_root(&data, &cfg).coded()?;
    let st = vantage_packets::stats(&root).coded()?;
    let mut out = std::io::stdout().lock();
    if ctx.format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &st)?;
        writeln!(out)?;
        return Ok(());
    }
    let header: Vec<String> = [
        "class",
        "stored_pkts",
        "stored_bytes",
        "cut_pkts",
        "cut_bytes",
        "segments",
        "disk_pkts",
        "disk_bytes",
        "index_bytes",
        "oldest",
        "newest",
        "disk_dt",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = st
        .classes
        .iter()
        .map(|c| {
            vec![
                c.class.clone(),
                c.stored_pkts.to_string(),
                c.stored_bytes.to_string(),
                c.cut_pkts.to_string(),
                c.cut_bytes.to_string(),
                c.segments.to_string(),
                c.disk_pkts.to_string(),
                c.disk_bytes.to_string(),
                c.index_bytes.to_string(),
                ts_text(c.oldest_ns),
                ts_text(c.newest_ns),
                format!("{:.3}", c.disk_dt),
            ]
        })
        .collect();
    if ctx.format == Format::Csv {
        let table = vantage_warehouse::Rows {
            columns: header,
            rows: rows.into_iter().map(|r| r.into_iter().map(Into::into).collect()).collect(),
        };
        crate::output::write_rows(&mut out, &table, Format::Csv)?;
        return Ok(());
    }
    write_table(&mut out, &header, &rows)?;
    let c = &st.counters;
    writeln!(
        out,
        "index bytes {:.2}% of stored packet bytes; totPkts {} totBytes {} nonip {} undecodable {} unclassified {} \
         frag_unattributed {} conn_evictions {} flows_out {} ring_drops {} queue_drops {} caplen_gt_len {} \
         caplen_capped {} segments_evicted {}",
        st.index_pct_of_stored,
        c.tot_pkts,
        c.tot_bytes,
        c.nonip,
        c.undecodable,
        c.unclassified,
        c.frag_unattributed,
        c.conn_evictions,
        c.flows_out,
        c.ring_drops,
        c.queue_drops,
        c.caplen_gt_len,
        c.caplen_capped,
        c.segments_evicted
    )?;
    Ok(())
}
