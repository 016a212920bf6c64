//! Executing console commands on a running recorder.
//!
//! The recorder sits behind one mutex, taken by the storage loop per batch of packets
//! and by a console per command. A query and its subscription are made under the same
//! hold, so a subscribed file gets every packet exactly once: what was stored before is
//! in the result, what comes after goes to the subscription.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::parse::{help_lines, parse_line, Command, ConsoleError, Dest, Spec, Suspend};
use crate::key::{addr_text, proto_name, ConnKey, IndexKind};
use crate::pcapout::pcap_record_header;
use crate::query::{Deadline, Query, Selector};
use crate::recorder::{Recorder, SubEvent, SubscribeError};

/// A client's output, shared with its `feed` subscriptions.
pub type SharedOut = Arc<Mutex<Box<dyn Write + Send>>>;

/// A running recorder as the consoles see it.
pub struct Live {
    rec: Mutex<Recorder>,
    query_dir: PathBuf,
    token: Option<String>,
    max_queries: usize,
    query_timeout: std::time::Duration,
    queries: AtomicUsize,
    query_seq: AtomicU64,
}

/// What the client loop does after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Read the next line.
    Continue,
    /// Close the connection (quit, or too many failed `auth`).
    Close,
}

impl Live {
    /// Wraps a recorder; `token`: the console token (required off loopback).
    pub fn new(rec: Recorder, token: Option<String>) -> Arc<Live> {
        let cfg = rec.config();
        let query_dir = rec.store().root().join(&cfg.query_dir);
        let max_queries = usize::try_from(cfg.console.max_queries.max(1)).unwrap_or(usize::MAX);
        let query_timeout = std::time::Duration::from_nanos(
            u64::try_from(cfg.console.query_timeout.0.max(1)).unwrap_or(u64::MAX),
        );
        Arc::new(Live {
            rec: Mutex::new(rec),
            query_dir,
            token: token.filter(|t| !t.is_empty()),
            max_queries,
            query_timeout,
            queries: AtomicUsize::new(0),
            query_seq: AtomicU64::new(0),
        })
    }

    /// The recorder, locked. A panic elsewhere poisons nothing we cannot use: the
    /// recorder's state is updated packet by packet, so the guard is taken back.
    pub fn recorder(&self) -> MutexGuard<'_, Recorder> {
        self.rec.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the recorder back (shutdown), once every session is gone; `None` while
    /// other holders remain.
    pub fn into_recorder(self: Arc<Self>) -> Option<Recorder> {
        Arc::try_unwrap(self).ok().map(|l| l.rec.into_inner().unwrap_or_else(|p| p.into_inner()))
    }

    /// The directory `to_file` writes to.
    pub fn query_dir(&self) -> &std::path::Path {
        &self.query_dir
    }

    /// Queries running now (at most `max_queries`; one more is answered `BUSY`).
    pub fn running_queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// Whether clients must `auth` first.
    pub fn needs_auth(&self) -> bool {
        self.token.is_some()
    }

    /// A new client's session writing to `out`.
    pub fn session(self: &Arc<Self>, out: SharedOut) -> Session {
        Session { live: Arc::clone(self), out, authed: self.token.is_none(), failures: 0 }
    }
}

/// One client.
pub struct Session {
    live: Arc<Live>,
    out: SharedOut,
    authed: bool,
    failures: u32,
}

fn secs(ns: i64) -> String {
    let sign = if ns < 0 { "-" } else { "" };
    let a = ns.unsigned_abs();
    format!("{sign}{}.{:09}", a / 1_000_000_000, a % 1_000_000_000)
}

fn end_text(a: &[u8; 16], port: u16) -> String {
    let t = addr_text(a);
    if t.contains(':') {
        format!("[{t}]:{port}")
    } else {
        format!("{t}:{port}")
    }
}

/// The conn4 key text of a connection, as queries take it.
pub fn key_text(k: &ConnKey) -> String {
    format!("{} {} {}", proto_name(k.proto), end_text(&k.a, k.ap), end_text(&k.b, k.bp))
}

/// Constant-time comparison, so that the time an `auth` takes says nothing of the token.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

struct QueryGuard<'a>(&'a AtomicUsize);
impl Drop for QueryGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Session {
    /// The greeting line.
    pub fn greeting() -> String {
        format!("# vantage-packets {}", env!("CARGO_PKG_VERSION"))
    }

    fn write_lines(&self, lines: &[String]) {
        let mut o = self.out.lock().unwrap_or_else(|p| p.into_inner());
        for l in lines {
            let _ = o.write_all(l.as_bytes()).and_then(|_| o.write_all(b"\n"));
        }
        let _ = o.flush();
    }

    /// Answers one line: data lines, then the status line.
    pub fn handle(&mut self, line: &str) -> Next {
        let (mut lines, status, next) = match parse_line(line) {
            Err(e) => (Vec::new(), Err(e), Next::Continue),
            Ok(cmd) => self.run(cmd),
        };
        lines.push(match status {
            Ok(None) => "OK".into(),
            Ok(Some(s)) => format!("OK {s}"),
            Err(e) => e.to_string(),
        });
        self.write_lines(&lines);
        next
    }

    /// Reports an over-long line.
    pub fn line_too_long(&self) {
        self.write_status(&ConsoleError::LineTooLong);
    }

    /// Writes an error status line outside a command (timeout, bad bytes).
    pub fn write_status(&self, e: &ConsoleError) {
        self.write_lines(&[e.to_string()]);
    }

    #[allow(clippy::type_complexity)]
    fn run(&mut self, cmd: Command) -> (Vec<String>, Result<Option<String>, ConsoleError>, Next) {
        match cmd {
            Command::Auth(t) => {
                let Some(token) = &self.live.token else {
                    return (vec![], Ok(None), Next::Continue);
                };
                if same(t.as_bytes(), token.as_bytes()) {
                    self.authed = true;
                    return (vec![], Ok(Some("authenticated".into())), Next::Continue);
                }
                self.failures += 1;
                let next = if self.failures >= 3 { Next::Close } else { Next::Continue };
                (vec![], Err(ConsoleError::AuthFailed), next)
            }
            Command::Quit => (vec![], Ok(Some("bye".into())), Next::Close),
            _ if !self.authed => (vec![], Err(ConsoleError::AuthRequired), Next::Continue),
            Command::Nop => (vec![], Ok(None), Next::Continue),
            Command::Help(topic) => match help_lines(topic.as_deref()) {
                Ok(l) => (l, Ok(None), Next::Continue),
                Err(e) => (vec![], Err(e), Next::Continue),
            },
            other => {
                let mut lines = Vec::new();
                let r = self.act(other, &mut lines);
                (lines, r, Next::Continue)
            }
        }
    }

    fn act(
        &mut self,
        cmd: Command,
        lines: &mut Vec<String>,
    ) -> Result<Option<String>, ConsoleError> {
        match cmd {
            Command::ShowStats => {
                let snap = self.live.recorder().snapshot();
                lines.extend(snap.lines().into_iter().map(|(k, v)| format!("{k} {v}")));
                Ok(None)
            }
            Command::ShowClasses => {
                let snap = self.live.recorder().snapshot();
                for c in &snap.classes {
                    lines.push(format!(
                        "class {} stored {}/{} cut {}/{} mem {}/{} mem_dt {:.3} dyn_timeout {}",
                        c.name,
                        c.stored_pkts,
                        c.stored_bytes,
                        c.cut_pkts,
                        c.cut_bytes,
                        c.mem_pkts,
                        c.mem_bytes,
                        c.mem_dt_s,
                        c.dyn_timeout_s
                    ));
                }
                Ok(None)
            }
            Command::ShowIndexes => {
                let rec = self.live.recorder();
                let kinds: Vec<&str> = rec.enabled_indexes().iter().map(|k| k.as_str()).collect();
                lines.push(format!("indexes {} l2", kinds.join(" ")));
                let root = rec.store().root().to_path_buf();
                drop(rec);
                let st = crate::stats::stats(&root)
                    .map_err(|e| ConsoleError::Internal(e.to_string()))?;
                for c in &st.classes {
                    lines.push(format!(
                        "class {} files {} bytes {} segment_bytes {}",
                        c.class, c.segments, c.index_bytes, c.disk_bytes
                    ));
                }
                lines.push(format!("pct_of_stored {:.3}", st.index_pct_of_stored));
                Ok(None)
            }
            Command::ShowConn(key) => {
                let rec = self.live.recorder();
                let c = rec.table().lookup(&key).ok_or(ConsoleError::NotInConnectionTable)?;
                lines.push(conn_line(&rec, c));
                Ok(None)
            }
            Command::ShowConnSample(n) => {
                let rec = self.live.recorder();
                for c in rec.table().iter().take(n) {
                    lines.push(conn_line(&rec, c));
                }
                Ok(Some(format!("{} of {} connections", lines.len(), rec.table().len())))
            }
            Command::Suspend { what, on, key } => {
                let mut rec = self.live.recorder();
                let c =
                    rec.table_mut().lookup_mut(&key).ok_or(ConsoleError::NotInConnectionTable)?;
                match what {
                    Suspend::Cutoff => c.suspend_cutoff = on,
                    Suspend::Timeout => c.suspend_timeout = on,
                }
                Ok(None)
            }
            Command::SetDynClass { addr, class, end } => {
                let mut rec = self.live.recorder();
                if !rec.set_dyn_class(addr, &class, end) {
                    return Err(ConsoleError::NoSuchClass(class));
                }
                Ok(None)
            }
            Command::UnsetDynClass(addr) => {
                self.live.recorder().unset_dyn_class(&addr);
                Ok(None)
            }
            Command::Query { dest, spec, start, end, mem_only, subscribe } => {
                self.query(dest, spec, start, end, mem_only, subscribe)
            }
            Command::Help(_) | Command::Auth(_) | Command::Nop | Command::Quit => Ok(None),
        }
    }

    fn query(
        &mut self,
        dest: Dest,
        spec: Spec,
        start: Option<i64>,
        end: Option<i64>,
        mem_only: bool,
        subscribe: bool,
    ) -> Result<Option<String>, ConsoleError> {
        let live = Arc::clone(&self.live);
        // The limit counts from the command's arrival: waiting for the recorder is part
        // of the query's time.
        let mut deadline = Deadline::at(Instant::now() + live.query_timeout);
        if live.queries.fetch_add(1, Ordering::SeqCst) >= live.max_queries {
            live.queries.fetch_sub(1, Ordering::SeqCst);
            return Err(ConsoleError::Busy);
        }
        let _guard = QueryGuard(&live.queries);
        let (selector, sub_key) = match spec {
            Spec::Index { kind, key } => {
                let ck = (kind == IndexKind::Conn4)
                    .then(|| ConnKey::from_conn4(key.as_bytes()))
                    .flatten();
                (Selector::Index { kind, key }, ck)
            }
            Spec::Filter(f) => (Selector::Filter(f), None),
        };
        let q = Query { selector, start, end, mem_only };
        // Create the file before the recorder is held: a name clash costs nothing.
        let file = match &dest {
            Dest::ToFile(name) => {
                std::fs::create_dir_all(&live.query_dir).map_err(|e| {
                    ConsoleError::Internal(format!("{}: {e}", live.query_dir.display()))
                })?;
                let path = live.query_dir.join(name);
                let f =
                    OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
                        if e.kind() == std::io::ErrorKind::AlreadyExists {
                            ConsoleError::FileExists
                        } else {
                            ConsoleError::Internal(format!("{}: {e}", path.display()))
                        }
                    })?;
                Some((path, f))
            }
            Dest::Feed { .. } => None,
        };
        let mut rec = live.recorder();
        let n = live.query_seq.fetch_add(1, Ordering::SeqCst) + 1;
        if subscribe {
            let key = sub_key.ok_or(ConsoleError::SubscriptionNeedsConn4)?;
            if rec.table().lookup(&key).is_none() {
                drop(rec);
                if let Some((path, _)) = &file {
                    let _ = std::fs::remove_file(path);
                }
                return Err(ConsoleError::NotInConnectionTable);
            }
            if rec.subscription_count() as u64 >= rec.config().max_subscriptions {
                drop(rec);
                if let Some((path, _)) = &file {
                    let _ = std::fs::remove_file(path);
                }
                return Err(ConsoleError::TooManySubscriptions);
            }
        }
        let searched = if subscribe || q.mem_only {
            // Memory alone is quick; a subscription must start where the result ends,
            // so both run with the recorder held.
            rec.query_within(&q, &mut deadline)
        } else {
            // The disk search runs without the recorder held: storage goes on meanwhile.
            match rec.disk_snapshot() {
                Ok(snap) => {
                    drop(rec);
                    let r = snap.run(&q, &mut deadline);
                    rec = live.recorder();
                    r
                }
                Err(e) => Err(e),
            }
        };
        let result = match searched {
            Ok(r) if r.timed_out => {
                // A part of an answer is never passed off as the whole: no file, no feed.
                drop(rec);
                if let Some((path, _)) = &file {
                    let _ = std::fs::remove_file(path);
                }
                return Err(ConsoleError::Timeout);
            }
            Ok(r) => r,
            Err(e) => {
                drop(rec);
                if let Some((path, _)) = &file {
                    let _ = std::fs::remove_file(path);
                }
                return Err(ConsoleError::Internal(e.to_string()));
            }
        };
        let pkts = result.hits.len() as u64;
        let bytes: u64 = result.hits.iter().map(|h| 16 + h.data.len() as u64).sum();
        rec.count_query(pkts, bytes);
        let linktype = result.hits.first().map_or(1, |h| h.linktype);
        let one_lt = result.hits.iter().all(|h| h.linktype == linktype);
        let secs_taken = result.elapsed_ns as f64 / 1e9;
        let summary = |sub: bool| {
            format!(
                "query {n}: {pkts} packets, {bytes} bytes, {secs_taken:.6} s{}",
                if sub { ", subscribed" } else { "" }
            )
        };
        match dest {
            Dest::ToFile(_) => {
                let Some((path, f)) = file else {
                    return Err(ConsoleError::Internal("no file".into()));
                };
                let mut w = BufWriter::new(f);
                crate::query::write_result(&result, &mut w, false, false)
                    .and_then(|_| w.flush())
                    .map_err(|e| ConsoleError::Internal(format!("{}: {e}", path.display())))?;
                if subscribe {
                    let key = sub_key.ok_or(ConsoleError::SubscriptionNeedsConn4)?;
                    // Later packets are appended as pcap records of the file's link type
                    // (a pcapng result, of mixed link types, takes no subscription).
                    let mut f = match w.into_inner() {
                        Ok(f) => f,
                        Err(e) => return Err(ConsoleError::Internal(e.to_string())),
                    };
                    let sink = Box::new(move |ev: SubEvent<'_>| match ev {
                        SubEvent::Packet { ts_ns, wirelen, linktype: lt, data } => {
                            if !one_lt || lt != linktype {
                                return true;
                            }
                            let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
                            let h = pcap_record_header(ts_ns, caplen, wirelen, true);
                            write_record(&mut f, &h, data)
                        }
                        SubEvent::End => {
                            let _ = f.sync_data();
                            false
                        }
                    });
                    rec.subscribe(key, sink).map_err(sub_error)?;
                }
                Ok(Some(summary(subscribe)))
            }
            Dest::Feed { tag, .. } => {
                let mut buf = Vec::new();
                crate::query::write_result(&result, &mut buf, false, false)
                    .map_err(|e| ConsoleError::Internal(e.to_string()))?;
                {
                    let mut o = self.out.lock().unwrap_or_else(|p| p.into_inner());
                    for chunk in buf.chunks(1 << 20) {
                        let _ = writeln!(o, "FEED {tag} {}", chunk.len());
                        let _ = o.write_all(chunk);
                    }
                    let _ = o.flush();
                }
                if subscribe {
                    let key = sub_key.ok_or(ConsoleError::SubscriptionNeedsConn4)?;
                    let out = Arc::clone(&self.out);
                    let tag2 = tag.clone();
                    let sink = Box::new(move |ev: SubEvent<'_>| {
                        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
                        match ev {
                            SubEvent::Packet { ts_ns, wirelen, linktype: lt, data } => {
                                if !one_lt || lt != linktype {
                                    return true;
                                }
                                let caplen = u32::try_from(data.len()).unwrap_or(u32::MAX);
                                let h = pcap_record_header(ts_ns, caplen, wirelen, true);
                                writeln!(o, "FEED {tag2} {}", 16 + data.len())
                                    .and_then(|_| o.write_all(&h))
                                    .and_then(|_| o.write_all(data))
                                    .and_then(|_| o.flush())
                                    .is_ok()
                            }
                            SubEvent::End => {
                                let _ = writeln!(o, "FEED {tag2} END").and_then(|_| o.flush());
                                false
                            }
                        }
                    });
                    rec.subscribe(key, sink).map_err(sub_error)?;
                }
                Ok(Some(summary(subscribe)))
            }
        }
    }
}

fn write_record(f: &mut File, h: &[u8], data: &[u8]) -> bool {
    // Unbuffered on purpose: a reader of the file sees each packet when it arrives.
    f.write_all(h).and_then(|_| f.write_all(data)).is_ok()
}

fn sub_error(e: SubscribeError) -> ConsoleError {
    match e {
        SubscribeError::NotInTable => ConsoleError::NotInConnectionTable,
        SubscribeError::TooMany => ConsoleError::TooManySubscriptions,
    }
}

fn conn_line(rec: &Recorder, c: &crate::conn::Conn) -> String {
    let class =
        c.class.and_then(|i| rec.class_names().get(i).cloned()).unwrap_or_else(|| "-".into());
    format!(
        "conn {} class {class} first {} last {} pkts {}/{} bytes {}/{} stored {}/{} cut {}/{} suspend_cutoff {} suspend_timeout {} subscriptions {}",
        key_text(&c.key),
        secs(c.first_ns),
        secs(c.last_ns),
        c.pkts[0],
        c.pkts[1],
        c.bytes[0],
        c.bytes[1],
        c.stored_pkts,
        c.stored_bytes,
        c.cut_pkts,
        c.cut_bytes,
        u8::from(c.suspend_cutoff),
        u8::from(c.suspend_timeout),
        rec.subscriptions_of(&c.key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_with_nine_decimals() {
        assert_eq!(secs(1_500_000_000), "1.500000000");
        assert_eq!(secs(-1), "-0.000000001");
    }

    #[test]
    fn constant_time_compare() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
