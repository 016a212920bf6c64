//! `vantage packets ...`: the Time Machine (packets spec). Parses, calls
//! `vantage_packets`, prints; exit codes come from the library's errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use vantage_core::{Exit, Timestamp};
use vantage_packets::console::Data;
use vantage_packets::query::{Hit, QueryResult};
use vantage_packets::{query, CaptureReader, PacketsConfig, Query};

use super::console;
use crate::context::{progress_bar, Coded, Context, Format, OrExit};
use crate::output::write_table;

/// The packets verbs.
#[derive(Debug, clap::Subcommand)]
pub enum PacketsCommand {
    /// Record capture files into per-class segments with cutoff and indexes
    #[command(after_help = "Examples:\n  vantage packets record --read trace.pcap\n  \
        vantage --config vantage.toml packets record --read a.pcap b.pcapng\n  \
        sudo vantage packets record --interface eth0     (console on 127.0.0.1:42042: vantage console)\n  \
        sudo vantage packets record --interface eth0 --console 127.0.0.1:4000   (and a local console on the terminal)\n\n\
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
        IPv6 in brackets with ports, fields separated by blanks. While a recorder runs on the \
        data directory the query goes through its console, so packets still in memory are \
        included (--mem-only: only those)."
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
    /// Start the console on ADDR (default [packets.console] listen, 127.0.0.1:42042) even
    /// if `remote = false`; on a terminal, also a local console on stdin (quit stops)
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "", requires = "interface")]
    pub console: Option<String>,
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
    /// Ask the recorder's console at ADDR (default: the running recorder of the data
    /// directory, noted in recorder.lock), so packets still in memory are included
    #[arg(long, value_name = "ADDR")]
    pub console: Option<String>,
    /// File holding the console token (default [packets.console] token_file)
    #[arg(long, value_name = "F")]
    pub token_file: Option<PathBuf>,
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
        return record_live(ctx, iface, a.console.as_deref());
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

fn record_live(ctx: &Context, iface: &str, console: Option<&str>) -> anyhow::Result<()> {
    let mut cfg = config(ctx)?;
    cfg.build().coded()?;
    // The local console is a client of the recorder's own listener: one language, one
    // code path. Without a remote console it listens on an ephemeral loopback port.
    let local = (console.is_some() || cfg.console.local) && console::foreground_terminal();
    let mut listen = None;
    if let Some(addr) = console {
        cfg.console.remote = true;
        if !addr.is_empty() {
            cfg.console.listen = addr.to_string();
        }
    } else if local && !cfg.console.remote {
        listen = Some("127.0.0.1:0");
    }
    let data = ctx.data_dir()?;
    let mut wh = ctx.warehouse(&data)?;
    #[cfg(target_os = "linux")]
    {
        let cap = vantage_packets::open_interface(&cfg, iface).coded()?;
        let token = vantage_packets::console_token(&cfg).coded()?;
        let stop = vantage_packets::stop_on_signals();
        let session = format!("live:{iface}:{}", Timestamp::now().to_rfc3339());
        let chatty = ctx.chatty();
        let _terminal = local.then(console::TerminalRestore::save);
        let report = vantage_packets::run_live(
            &data,
            &mut wh,
            &cfg,
            &session,
            cap,
            listen,
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
                if let (true, Some(addr)) = (local, addr) {
                    local_console(addr.to_string(), token, stop);
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
        let _ = (&mut wh, iface, listen);
        Err(Coded::new(Exit::Usage, "live capture needs Linux (AF_PACKET); use --read FILE"))
    }
}

/// Runs the local console on stdin in its own thread; leaving it stops recording.
fn local_console(addr: String, token: Option<String>, stop: &'static AtomicBool) {
    let spawned = std::thread::Builder::new().name("local-console".into()).spawn(move || {
        let r = console::connect(&addr, token.as_deref())
            .and_then(|mut c| console::session(&mut c, &addr, "quit or Ctrl-D stops recording"));
        if let Err(e) = r {
            eprintln!("error: local console: {e}");
        }
        stop.store(true, Ordering::SeqCst);
    });
    if let Err(e) = spawned {
        eprintln!("error: local console: {e}");
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
    // A running recorder answers from memory and disk; without one, the directory does.
    let via = match &a.console {
        Some(addr) => Some((addr.clone(), true)),
        None => vantage_packets::Store::running_console(&root).map(|addr| (addr, false)),
    };
    let mut answered = None;
    if let Some((addr, explicit)) = via {
        let token = console::token(a.token_file.as_ref(), &cfg)?;
        match console::connect(&addr, token.as_deref()) {
            Ok(mut c) => answered = Some(query_console(&mut c, &addr, a, &q)?),
            Err(e) if !explicit && !q.mem_only => {
                eprintln!(
                    "warning: {e}; reading the directory instead (packets in the recorder's memory are not included)"
                );
            }
            Err(e) => return Err(e),
        }
    }
    let (result, summary) = match answered {
        Some(x) => x,
        None => {
            let r = query::run(&root, &order, &q).coded()?;
            let s = r.summary(&q);
            (r, s)
        }
    };
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
        eprintln!("{summary}");
    }
    Ok(())
}

/// Epoch seconds with nine decimals, as the console reads times.
fn console_time(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    format!("{sign}{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)
}

/// The `query feed` line of `a` (already checked by [`Query`] parsing).
fn console_line(a: &QueryArgs, q: &Query) -> anyhow::Result<String> {
    let quoted = |what: &str, s: &str| {
        if s.contains('"') {
            Err(Coded::new(Exit::Usage, format!("{what} {s:?}: a console string cannot hold '\"'")))
        } else {
            Ok(format!("\"{s}\""))
        }
    };
    let mut line = String::from("query feed 0 tag cli ");
    match (&a.index, &a.key, &a.filter) {
        (Some(i), Some(k), None) => line.push_str(&format!("index {i} {}", quoted("--key", k)?)),
        (None, None, Some(f)) => line.push_str(&format!("filter {}", quoted("--filter", f)?)),
        _ => return Err(Coded::new(Exit::Usage, "give --index KIND --key KEY, or --filter EXPR")),
    }
    if let Some(s) = q.start {
        line.push_str(&format!(" start {}", console_time(s)));
    }
    if let Some(e) = q.end {
        line.push_str(&format!(" end {}", console_time(e)));
    }
    if q.mem_only {
        line.push_str(" mem_only");
    }
    Ok(line)
}

/// Runs the query as a console `feed` and reads the packets back from the pcap it
/// streams; the summary is the console's status line.
fn query_console(
    c: &mut vantage_packets::console::Client,
    addr: &str,
    a: &QueryArgs,
    q: &Query,
) -> anyhow::Result<(QueryResult, String)> {
    let line = console_line(a, q)?;
    let mut pcap = Vec::new();
    let st = c
        .command(&line, |d| {
            if let Data::Feed { bytes, .. } = d {
                pcap.extend_from_slice(bytes);
            }
            Ok(())
        })
        .map_err(|e| Coded::new(Exit::Storage, format!("console {addr}: {e}")))?;
    if let Some(err) = st.strip_prefix("ERROR ") {
        let exit = match err.split(" - ").next().unwrap_or(err) {
            "BUSY" => Exit::Busy,
            "INTERNAL" | "TIMEOUT" => Exit::Storage,
            _ => Exit::Usage,
        };
        return Err(Coded::new(exit, format!("console {addr}: {st}")));
    }
    let mut result = QueryResult::default();
    if !pcap.is_empty() {
        let label = Path::new(addr);
        let mut rd = CaptureReader::new(label, std::io::Cursor::new(pcap))
            .map_err(|e| Coded::new(Exit::Storage, format!("console {addr}: {e}")))?;
        let mut n = 0u64;
        while let Some(f) = rd
            .next_frame()
            .map_err(|e| Coded::new(Exit::Storage, format!("console {addr}: {e}")))?
        {
            result.hits.push(Hit {
                ts_ns: f.ts_ns,
                rank: 0,
                segid: 0,
                offset: n,
                linktype: f.linktype,
                wirelen: f.wirelen,
                data: f.data,
            });
            n += 1;
        }
    }
    let summary = st.strip_prefix("OK ").unwrap_or(&st).to_string();
    Ok((result, format!("{summary} (from the recorder at {addr}, memory included)")))
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
