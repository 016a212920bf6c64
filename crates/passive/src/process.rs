//! Processing (spec §5): every session strictly in sequence order from 0, in parallel
//! across sessions, exactly once per processor and update.
//!
//! Each processor has a code version and, per session, a row in `passive_positions`
//! (`last_seq`). The shared [`SessionState`] is stored with the `correlation` row. A pass
//! over a session starts at the smallest position any selected processor needs; when the
//! stored state is past that point (a processor was reset or newly selected), the state is
//! rebuilt by replaying from 0, and only processors behind an update get its rows. Per
//! chunk (`chunk_updates`, and the end of the contiguous run) one transaction writes the
//! rows, the state, the positions, the dirty marks and the `catalog_partitions` rows, after
//! rechecking that no other run moved the session meanwhile.
//!
//! Sessions run on `workers` threads (rayon), each reading and decoding with its own
//! warehouse connection; finished chunks go to the [`crate::commit`] pipeline, which
//! commits them while the workers go on (SQLite: one writer connection, taken in turn by
//! the workers; PostgreSQL: in parallel). After the sessions, one coordinator transaction rolls the dirty minutes up into hours
//! and days, and recomputes availability ranges and uptime intervals where they changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::Serialize;
use vantage_warehouse::catalog::{self, Partition, PartitionState};
use vantage_warehouse::{Sql, Value, Warehouse, WarehouseError};

use crate::commit::{key_params, Batch, Committer, SessionResult};
use crate::config::PassiveEnv;
use crate::error::PassiveError;
use crate::schema::{self, FAMILIES};
use crate::sink::Statement;
use crate::state::{step, Emit, Outputs, SessionState};
use crate::{codec, index, rollup, SessionKey};

/// Registered processors and their code versions (spec §8 names). Raising a version
/// reprocesses exactly what that processor produced.
pub const PROCESSORS: [(&str, u32); 10] = [
    ("correlation", 1),
    ("flow_properties", 1),
    ("domains_per_flow", 1),
    ("bytes", 1),
    ("flow_statistics", 1),
    ("ip_counts", 1),
    ("packet_sizes", 1),
    ("update_statistics", 1),
    ("availability", 1),
    ("lookups", 1),
];

/// The stages whose product is the shared state (they run together).
const STATE_STAGES: [&str; 3] = ["correlation", "flow_properties", "domains_per_flow"];

fn version_of(name: &str) -> u32 {
    PROCESSORS.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v)
}

/// The output tables of a processor, deleted when it is reset.
fn tables_of(name: &str) -> Vec<String> {
    match name {
        "bytes" => {
            let mut t: Vec<String> = FAMILIES
                .iter()
                .flat_map(|f| schema::GRANULARITIES.iter().map(move |(g, _)| f.table(g)))
                .collect();
            t.push("passive_dirty".into());
            t
        }
        "flow_statistics" => vec!["passive_flow_statistics".into()],
        "ip_counts" => vec!["passive_ip_counts".into()],
        "packet_sizes" => {
            vec!["passive_packet_sizes_per_port".into(), "passive_packet_sizes_unmatched".into()]
        }
        "update_statistics" => vec!["passive_update_statistics".into()],
        "availability" => vec![
            "passive_session_spans".into(),
            "passive_uptime_intervals".into(),
            "passive_availability_ranges".into(),
        ],
        "lookups" => {
            vec!["passive_lookups_per_device_per_hour".into(), "passive_domains_accessed".into()]
        }
        _ => Vec::new(),
    }
}

/// Options of `vantage passive process`.
#[derive(Debug, Clone, Default)]
pub struct ProcessOptions {
    /// Processors to run (empty: all).
    pub processors: Vec<String>,
    /// Nodes to run (pseudonyms or raw ids; empty: all).
    pub nodes: Vec<String>,
    /// Delete the selected processors' rows and replay them.
    pub reprocess: bool,
    /// Worker threads (default: configuration, then cores).
    pub workers: Option<usize>,
    /// The warehouse URL, for the workers' own connections (None: the SQLite file).
    pub warehouse_url: Option<String>,
    /// Stop after this many session commits (the `VANTAGE_PASSIVE_CRASH_AFTER` hook).
    pub crash_after: Option<u64>,
}

/// Per-processor counts of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProcessorReport {
    /// Processor name.
    pub processor: String,
    /// Sessions it advanced.
    pub sessions_advanced: u64,
    /// Updates it consumed.
    pub updates_consumed: u64,
    /// Sessions that wait (gap or missing seq 0).
    pub blocked: u64,
}

/// What `process` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessReport {
    /// Per processor.
    pub processors: Vec<ProcessorReport>,
    /// Rows written (upserts counted once per row per commit).
    pub rows_written: u64,
    /// Sessions that failed, with the message naming session and update.
    pub failed: Vec<String>,
}

/// A session with work.
#[derive(Debug, Clone)]
struct Job {
    key: SessionKey,
    target: i64,
    max_seq: i64,
    backlog: i64,
}

/// Runs the selected processors over every session with work. Takes the `passive` lock.
pub fn process(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    opts: &ProcessOptions,
) -> Result<ProcessReport, PassiveError> {
    let _lock = vantage_warehouse::Lock::acquire(wh, &env.data, crate::LOCK)?;
    schema::migrate(wh)?;
    process_locked(env, wh, opts)
}

/// [`process`] for a caller that holds the lock (`run`).
pub(crate) fn process_locked(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    opts: &ProcessOptions,
) -> Result<ProcessReport, PassiveError> {
    for p in &opts.processors {
        if !PROCESSORS.iter().any(|(n, _)| n == p) {
            let names: Vec<&str> = PROCESSORS.iter().map(|(n, _)| *n).collect();
            return Err(PassiveError::Usage(format!(
                "unknown processor {p}; one of {}",
                names.join(", ")
            )));
        }
    }
    let selected: Vec<&'static str> = PROCESSORS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| {
            opts.processors.is_empty()
                || opts.processors.iter().any(|p| p == n)
                || STATE_STAGES.contains(n)
        })
        .collect();
    let nodes = resolve_nodes(env, wh, &opts.nodes)?;
    apply_versions(wh, &selected, opts.reprocess, &nodes)?;
    let (jobs, blocked) = plan(wh, &selected, &nodes)?;
    let workers = env.workers(opts.workers);
    let chunk = env.config.chunk_updates.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .map_err(|e| PassiveError::Usage(format!("worker threads: {e}")))?;
    let started = std::time::Instant::now();
    let writer = match wh.backend() {
        vantage_warehouse::Backend::Sqlite => Some(writer_connection(opts, env)?),
        vantage_warehouse::Backend::Postgres => None,
    };
    let committer = Committer::new(writer, workers, opts.crash_after);
    let compute_ns = AtomicU64::new(0);
    let ctx = Ctx { selected: &selected, chunk, committer: &committer, compute_ns: &compute_ns };
    let outcomes: Vec<(SessionKey, Result<(), PassiveError>)> = pool.install(|| {
        jobs.par_iter()
            .map_init(
                || Warehouse::open(opts.warehouse_url.as_deref(), &env.data),
                |conn, job| {
                    let r = match conn {
                        Ok(c) => run_session(c, job, &ctx),
                        Err(e) => Err(PassiveError::Warehouse(clone_wh_error(e))),
                    };
                    (job.key.clone(), r)
                },
            )
            .collect()
    });
    if !committer.stopped() {
        // Chunks still queued when the last worker finished.
        committer.finish()?;
    }
    let (lock_wait, commit, checkpoint) = committer.seconds();
    tracing::info!(
        compute = compute_ns.load(Ordering::Relaxed) as f64 / 1e9,
        lock_wait,
        commit,
        checkpoint,
        sessions = jobs.len(),
        workers,
        seconds = started.elapsed().as_secs_f64(),
        "Sessions processed."
    );
    let results = committer.results();
    let mut report = ProcessReport::default();
    let mut per: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (_, s) in results {
        report.rows_written += s.rows;
        for (p, n) in s.advanced {
            let e = per.entry(p).or_default();
            e.0 += 1;
            e.1 += n;
        }
    }
    if let Some(n) = outcomes.iter().find_map(|(_, r)| match r {
        Err(PassiveError::Crash(n)) => Some(*n),
        _ => None,
    }) {
        return Err(PassiveError::Crash(n));
    }
    for (key, r) in outcomes {
        match r {
            Ok(()) => {}
            Err(e @ PassiveError::Stored { .. }) => {
                let msg = e.to_string();
                mark_failed(wh, &key, &selected, &msg)?;
                report.failed.push(msg);
            }
            Err(e) => return Err(e),
        }
    }
    report.processors = selected
        .iter()
        .map(|p| {
            let (s, u) = per.get(*p).copied().unwrap_or_default();
            ProcessorReport {
                processor: p.to_string(),
                sessions_advanced: s,
                updates_consumed: u,
                blocked,
            }
        })
        .collect();
    let availability = selected.contains(&"availability");
    let bytes = selected.contains(&"bytes");
    let sessions_done = started.elapsed().as_secs_f64();
    let rolled = if bytes {
        rollup::compute(wh, &pool, || Warehouse::open(opts.warehouse_url.as_deref(), &env.data))?
    } else {
        Vec::new()
    };
    let rollups_computed = started.elapsed().as_secs_f64();
    wh.transaction(|tx| {
        if bytes {
            rollup::apply(tx, &rolled)?;
        }
        if availability {
            availability_ranges(tx, &nodes)?;
            uptime(tx)?;
        }
        Ok::<(), WarehouseError>(())
    })?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        rollup_sums = rollups_computed - sessions_done,
        coordinator = seconds - rollups_computed,
        seconds,
        "Rollups, availability and uptime done."
    );
    Ok(report)
}

/// The connection every SQLite commit of a run goes through. Its WAL is not checkpointed
/// at commit time (the workers checkpoint outside the writer, see [`crate::commit`]), and
/// its page cache is larger than the default: being the only writer, it stays valid.
fn writer_connection(opts: &ProcessOptions, env: &PassiveEnv) -> Result<Warehouse, PassiveError> {
    let mut wh = Warehouse::open(opts.warehouse_url.as_deref(), &env.data)?;
    wh.batch("PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = -16384")?;
    Ok(wh)
}

/// The warehouse error type is not Clone; a worker that cannot connect reports its text.
fn clone_wh_error(e: &WarehouseError) -> WarehouseError {
    WarehouseError::Unavailable { target: "worker connection".into(), message: e.to_string() }
}

/// Node ids as stored: a given id that is not a stored pseudonym is pseudonymized.
fn resolve_nodes(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    given: &[String],
) -> Result<Vec<String>, PassiveError> {
    let mut out = Vec::new();
    for n in given {
        let known = wh.query_i64(
            "SELECT COUNT(*) FROM passive_sessions WHERE node_id = ?",
            &[n.as_str().into()],
        )?;
        out.push(if known.unwrap_or(0) > 0 { n.clone() } else { env.anonymizer.node_id(n) });
    }
    Ok(out)
}

fn node_filter(nodes: &[String]) -> (String, Vec<Value>) {
    if nodes.is_empty() {
        return (String::new(), Vec::new());
    }
    let marks = vec!["?"; nodes.len()].join(", ");
    (format!(" WHERE node_id IN ({marks})"), nodes.iter().map(|n| n.as_str().into()).collect())
}

/// Resets processors whose code version changed (or all selected ones with
/// `--reprocess`): their rows deleted, their positions gone, the version recorded.
fn apply_versions(
    wh: &mut Warehouse,
    selected: &[&str],
    reprocess: bool,
    nodes: &[String],
) -> Result<(), PassiveError> {
    let mut reset = BTreeSet::new();
    for (name, version) in PROCESSORS {
        let registered = catalog::processor_version(wh, "passive", name)?;
        let changed = registered.is_some_and(|v| v != version);
        let asked = reprocess && selected.contains(&name) && !STATE_STAGES.contains(&name);
        if changed || asked {
            reset.insert(name);
        }
    }
    // A state stage changed: every processor's output came from it.
    if reset.iter().any(|n| STATE_STAGES.contains(n)) {
        reset.extend(PROCESSORS.iter().map(|(n, _)| *n));
    }
    let nodes = if reset.iter().any(|n| !selected.contains(n)) { &[][..] } else { nodes };
    let (filter, params) = node_filter(nodes);
    wh.transaction(|tx| {
        for name in &reset {
            for t in tables_of(name) {
                tx.execute(&format!("DELETE FROM {t}{filter}"), &params)?;
            }
            if *name == "availability" {
                tx.execute(
                    &format!("UPDATE passive_sessions SET ranges_updates = -1{filter}"),
                    &params,
                )?;
            }
            let pf = if filter.is_empty() {
                " WHERE processor = ?".to_string()
            } else {
                format!("{filter} AND processor = ?")
            };
            let mut p = params.clone();
            p.push((*name).into());
            tx.execute(&format!("DELETE FROM passive_positions{pf}"), &p)?;
            tracing::info!(processor = name, "Processor reset; its sessions are replayed.");
        }
        for (name, version) in PROCESSORS {
            catalog::set_processor_version(tx, "passive", name, version)?;
        }
        Ok::<(), PassiveError>(())
    })
}

/// Sessions with work (largest backlog first) and how many are blocked.
fn plan(
    wh: &mut Warehouse,
    selected: &[&str],
    nodes: &[String],
) -> Result<(Vec<Job>, u64), PassiveError> {
    let (filter, params) = node_filter(nodes);
    let sessions = wh.query(
        &format!(
            "SELECT node_id, anonymization_context, session_id, contiguous_through, max_seq FROM passive_sessions{filter}"
        ),
        &params,
    )?;
    let positions = wh.query("SELECT processor, node_id, anonymization_context, session_id, last_seq FROM passive_positions", &[])?;
    let mut pos: HashMap<(String, String, i64), HashMap<String, i64>> = HashMap::new();
    for r in &positions.rows {
        let key = (r[1].to_text(), r[2].to_text(), r[3].as_i64().unwrap_or(0));
        pos.entry(key).or_default().insert(r[0].to_text(), r[4].as_i64().unwrap_or(-1));
    }
    let mut jobs = Vec::new();
    let mut blocked = 0;
    for r in &sessions.rows {
        let key = SessionKey {
            node_id: r[0].to_text(),
            anonymization_context: r[1].to_text(),
            session_id: r[2].as_i64().unwrap_or(0),
        };
        let target = r[3].as_i64().unwrap_or(-1);
        let max_seq = r[4].as_i64().unwrap_or(-1);
        if target < max_seq {
            blocked += 1;
        }
        let p = pos.get(&(key.node_id.clone(), key.anonymization_context.clone(), key.session_id));
        let least = selected
            .iter()
            .map(|s| p.and_then(|m| m.get(*s)).copied().unwrap_or(-1))
            .min()
            .unwrap_or(-1);
        if target > least {
            jobs.push(Job { key, target, max_seq, backlog: target - least });
        }
    }
    jobs.sort_by(|a, b| b.backlog.cmp(&a.backlog).then_with(|| a.key.cmp(&b.key)));
    Ok((jobs, blocked))
}

/// What every session pass shares.
struct Ctx<'a> {
    selected: &'a [&'static str],
    chunk: usize,
    committer: &'a Committer,
    /// Nanoseconds spent loading, decoding, processing and building statements.
    compute_ns: &'a AtomicU64,
}

const KEY_WHERE: &str = "node_id = ? AND anonymization_context = ? AND session_id = ?";

fn partition_key(k: &SessionKey) -> String {
    k.to_string()
}

/// Processes one session's backlog, chunk by chunk, each chunk handed to the committer as
/// one batch (one transaction).
fn run_session(wh: &mut Warehouse, job: &Job, ctx: &Ctx<'_>) -> Result<(), PassiveError> {
    let k = &job.key;
    let rows = wh.query(
        &format!("SELECT processor, last_seq, state FROM passive_positions WHERE {KEY_WHERE}"),
        &key_params(k),
    )?;
    let mut pos: HashMap<String, i64> = HashMap::new();
    let mut stored_state = None;
    for r in &rows.rows {
        let name = r[0].to_text();
        if name == "correlation" {
            stored_state = r[2].as_blob().map(<[u8]>::to_vec);
        }
        pos.insert(name, r[1].as_i64().unwrap_or(-1));
    }
    let p = |pos: &HashMap<String, i64>, n: &str| pos.get(n).copied().unwrap_or(-1);
    let committed_state_pos = p(&pos, "correlation");
    let need_from = ctx.selected.iter().map(|s| p(&pos, s)).min().unwrap_or(-1) + 1;
    let mut state = match stored_state.as_deref().and_then(SessionState::decode) {
        Some(s) if s.last_seq == committed_state_pos && committed_state_pos < need_from => s,
        _ => SessionState::new(),
    };
    // The correlation position the warehouse holds once the batches handed over commit.
    let mut db_state_pos = committed_state_pos;
    loop {
        let from = state.last_seq + 1;
        if from > job.target || ctx.committer.stopped() || ctx.committer.moved(k) {
            break;
        }
        let t_load = std::time::Instant::now();
        let span = i64::try_from(ctx.chunk).unwrap_or(120);
        let to = (from + span - 1).min(job.target);
        let mut params = key_params(k);
        params.extend([from.into(), to.into()]);
        let bodies = wh.query(
            &format!(
                "SELECT sequence_number, body FROM passive_updates WHERE {KEY_WHERE}
                 AND sequence_number BETWEEN ? AND ? ORDER BY sequence_number"
            ),
            &params,
        )?;
        let mut out = Outputs::default();
        let mut result = SessionResult::default();
        let mut expect = from;
        for r in &bodies.rows {
            let seq = r[0].as_i64().unwrap_or(-1);
            let stored =
                |message: String| PassiveError::Stored { session: k.to_string(), seq, message };
            if seq != expect {
                return Err(stored(format!("expected update {expect} in the index")));
            }
            let body = r[1].as_blob().ok_or_else(|| stored("body is not a blob".into()))?;
            let u = codec::decode(body).map_err(|e| stored(e.to_string()))?;
            let on = |n: &str| ctx.selected.contains(&n) && p(&pos, n) < seq;
            let emit = Emit {
                bytes: on("bytes"),
                flow_statistics: on("flow_statistics"),
                ip_counts: on("ip_counts"),
                packet_sizes: on("packet_sizes"),
                update_statistics: on("update_statistics"),
                availability: on("availability"),
                lookups: on("lookups"),
            };
            step(&mut state, &u, emit, &mut out);
            for n in ctx.selected {
                if p(&pos, n) < seq {
                    *result.advanced.entry(n.to_string()).or_default() += 1;
                }
            }
            expect += 1;
        }
        if expect != to + 1 {
            return Err(PassiveError::Stored {
                session: k.to_string(),
                seq: expect,
                message: "missing from the index although the session says it is there".into(),
            });
        }
        let done_state = if to >= job.max_seq {
            PartitionState::Done
        } else if to >= job.target {
            PartitionState::Waiting
        } else {
            PartitionState::Pending
        };
        let waiting =
            (done_state == PartitionState::Waiting).then(|| format!("gap {}", job.target + 1));
        let mut statements = crate::sink::statements(k, &out);
        statements.push(positions_statement(k, ctx.selected, &pos, to, state.encode()));
        let partitions = ctx
            .selected
            .iter()
            .map(|name| Partition {
                kind: "passive".into(),
                key: partition_key(k),
                processor: (*name).into(),
                code_version: version_of(name),
                state: done_state,
                error: waiting.clone(),
            })
            .collect();
        result.rows = out.rows() as u64;
        drop(out);
        let batch = Batch { key: k.clone(), expect: db_state_pos, statements, partitions, result };
        ctx.compute_ns.fetch_add(
            u64::try_from(t_load.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        ctx.committer.submit(wh, batch)?;
        db_state_pos = to;
        for name in ctx.selected {
            let e = pos.entry(name.to_string()).or_insert(-1);
            *e = (*e).max(to);
        }
    }
    Ok(())
}

/// One multi-row upsert of the session's positions after a chunk ending at `to`: the
/// state stages at `to` (the state blob with `correlation`), the others at the larger of
/// their position and `to`.
fn positions_statement(
    k: &SessionKey,
    selected: &[&str],
    pos: &HashMap<String, i64>,
    to: i64,
    blob: Vec<u8>,
) -> Statement {
    let mut params = Vec::new();
    let mut state_blob = Some(blob);
    for name in selected.iter().copied() {
        let before = pos.get(name).copied().unwrap_or(-1);
        let last = if STATE_STAGES.contains(&name) { to } else { before.max(to) };
        let state = match name {
            "correlation" => state_blob.take().map_or(Value::Null, Value::from),
            _ => Value::Null,
        };
        params.extend([name.into(), version_of(name).into()]);
        params.extend(key_params(k));
        params.extend([last.into(), state]);
    }
    let one = "(?, ?, ?, ?, ?, ?, ?)";
    Statement {
        sql: format!(
            "INSERT INTO passive_positions (processor, version, node_id, anonymization_context,
                 session_id, last_seq, state) VALUES {}
             ON CONFLICT (processor, node_id, anonymization_context, session_id) DO UPDATE SET
                 version = excluded.version, last_seq = excluded.last_seq, state = excluded.state",
            vec![one; selected.len()].join(", ")
        ),
        params,
    }
}

fn mark_failed(
    wh: &mut Warehouse,
    k: &SessionKey,
    selected: &[&str],
    msg: &str,
) -> Result<(), PassiveError> {
    wh.transaction(|tx| {
        for name in selected {
            catalog::set_partition(
                tx,
                &Partition {
                    kind: "passive".into(),
                    key: partition_key(k),
                    processor: name.to_string(),
                    code_version: version_of(name),
                    state: PartitionState::Failed,
                    error: Some(msg.to_string()),
                },
            )?;
        }
        Ok::<(), WarehouseError>(())
    })?;
    tracing::error!(session = %k, message = msg, "Session failed.");
    Ok(())
}

/// Recomputes the availability ranges of sessions whose update count changed.
fn availability_ranges(db: &mut dyn Sql, nodes: &[String]) -> Result<(), WarehouseError> {
    let (filter, params) = node_filter(nodes);
    let cond = if filter.is_empty() {
        " WHERE ranges_updates <> updates".to_string()
    } else {
        format!("{filter} AND ranges_updates <> updates")
    };
    let sessions = db.query(
        &format!("SELECT node_id, anonymization_context, session_id FROM passive_sessions{cond}"),
        &params,
    )?;
    for r in &sessions.rows {
        let kp = vec![r[0].clone(), r[1].clone(), r[2].clone()];
        let rows = db.query(
            &format!("SELECT sequence_number, created_at FROM passive_updates WHERE {KEY_WHERE} ORDER BY sequence_number"),
            &kp,
        )?;
        let seqs: Vec<i64> = rows.rows.iter().map(|r| r[0].as_i64().unwrap_or(0)).collect();
        let created: HashMap<i64, i64> = rows
            .rows
            .iter()
            .map(|r| (r[0].as_i64().unwrap_or(0), r[1].as_i64().unwrap_or(0)))
            .collect();
        db.execute(&format!("DELETE FROM passive_availability_ranges WHERE {KEY_WHERE}"), &kp)?;
        for (first, last) in index::ranges(&seqs) {
            let mut p = kp.clone();
            p.extend([
                first.into(),
                last.into(),
                created.get(&first).copied().unwrap_or(0).into(),
                created.get(&last).copied().unwrap_or(0).into(),
                (first == 0).into(),
            ]);
            db.execute(
                "INSERT INTO passive_availability_ranges (node_id, anonymization_context, session_id, first_seq,
                     last_seq, start, \"end\", consistent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &p,
            )?;
        }
        db.execute(
            &format!("UPDATE passive_sessions SET ranges_updates = updates WHERE {KEY_WHERE}"),
            &kp,
        )?;
    }
    Ok(())
}

/// Intervals closer than this merge (spec §6.7).
const OUTAGE_TOLERANCE_US: i64 = 35 * 1_000_000;

/// Merges sorted spans whose gap is below the tolerance.
pub fn merge_spans(mut spans: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    spans.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (lo, hi) in spans {
        match out.last_mut() {
            Some(last) if lo < last.1 + OUTAGE_TOLERANCE_US => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// Rewrites the uptime intervals of every node whose stored intervals differ from those
/// its stored session spans merge into. Derived from the tables, not from what this run
/// wrote: a run that stopped after committing a node's last spans (a crash, a failed
/// commit) leaves that node's intervals behind, and a later run that has nothing left to
/// do for the node must still bring them up to date.
fn uptime(db: &mut dyn Sql) -> Result<(), WarehouseError> {
    type Intervals = BTreeMap<String, Vec<(i64, i64)>>;
    let read = |db: &mut dyn Sql, sql: &str| -> Result<Intervals, WarehouseError> {
        let mut out = Intervals::new();
        for r in db.query(sql, &[])?.rows {
            let (lo, hi) = (r[1].as_i64().unwrap_or(0), r[2].as_i64().unwrap_or(0));
            out.entry(r[0].to_text()).or_default().push((lo, hi));
        }
        Ok(out)
    };
    let spans = read(db, "SELECT node_id, start_us, end_us FROM passive_session_spans")?;
    let mut stored = read(db, "SELECT node_id, start_us, end_us FROM passive_uptime_intervals")?;
    let mut nodes: BTreeSet<&String> = spans.keys().collect();
    nodes.extend(stored.keys());
    let nodes: Vec<String> = nodes.into_iter().cloned().collect();
    for n in nodes {
        let want = merge_spans(spans.get(&n).cloned().unwrap_or_default());
        let mut have = stored.remove(&n).unwrap_or_default();
        have.sort_unstable();
        if want == have {
            continue;
        }
        db.execute("DELETE FROM passive_uptime_intervals WHERE node_id = ?", &[n.as_str().into()])?;
        for (lo, hi) in want {
            db.execute(
                "INSERT INTO passive_uptime_intervals (node_id, start_us, end_us) VALUES (?, ?, ?)",
                &[n.as_str().into(), lo.into(), hi.into()],
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_merge_within_the_tolerance_only() {
        let s = 1_000_000;
        assert_eq!(
            merge_spans(vec![(100 * s, 200 * s), (0, 10 * s)]),
            vec![(0, 10 * s), (100 * s, 200 * s)]
        );
        assert_eq!(merge_spans(vec![(0, 10 * s), (44 * s, 50 * s)]), vec![(0, 50 * s)]);
        assert_eq!(
            merge_spans(vec![(0, 10 * s), (45 * s, 50 * s)]),
            vec![(0, 10 * s), (45 * s, 50 * s)]
        );
    }
}
