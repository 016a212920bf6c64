//! The commit side of `process` (spec §5: "workers decode and process; one writer
//! commits"). A worker that has computed a chunk hands a [`Batch`] to the [`Committer`]:
//! the chunk's statements, the session's new state and positions and its partition rows,
//! all built outside any lock, so committing is only executing them.
//!
//! On SQLite, which admits one writer at a time, batches queue up and one shared writer
//! connection commits them in submission order, one transaction per batch. Whichever
//! worker finds the writer free drains the queue; the others go on with their next chunk
//! and wait only when the queue is full. Commits therefore overlap with decoding and
//! processing, no thread exists only to write, and with one worker the run is the plain
//! sequence compute, commit, compute, commit. Only that connection writes, so its page
//! cache stays valid between transactions; the WAL is checkpointed by the writer between
//! two commits, so that the checkpoint catches up and the WAL starts over (see
//! [`Committer::checkpoint`]).
//!
//! On PostgreSQL every worker commits its own batches on its own connection, in parallel;
//! rows are sorted by key ([`crate::sink`]) so concurrent sessions of one node never
//! deadlock on their shared rows.
//!
//! Each batch's transaction first rechecks the session's stored position: a session that
//! another run moved meanwhile is left to it, and its later batches are dropped.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Instant;

use vantage_warehouse::catalog::{self, Partition};
use vantage_warehouse::{Sql, Value, Warehouse, WarehouseError};

use crate::error::PassiveError;
use crate::sink::{self, Statement};
use crate::SessionKey;

/// What a session's committed chunks did, credited when they commit.
#[derive(Debug, Default, Clone)]
pub(crate) struct SessionResult {
    /// Updates consumed per processor.
    pub advanced: BTreeMap<String, u64>,
    /// Rows written.
    pub rows: u64,
}

impl SessionResult {
    fn add(&mut self, other: SessionResult) {
        for (p, n) in other.advanced {
            *self.advanced.entry(p).or_default() += n;
        }
        self.rows += other.rows;
    }
}

/// One chunk of one session, ready to commit.
#[derive(Debug)]
pub(crate) struct Batch {
    /// The session.
    pub key: SessionKey,
    /// The correlation position the warehouse must still hold when this commits.
    pub expect: i64,
    /// Rows, positions and dirty marks, in order.
    pub statements: Vec<Statement>,
    /// `catalog_partitions` rows.
    pub partitions: Vec<Partition>,
    /// What the chunk did.
    pub result: SessionResult,
}

/// Committed batches between two WAL checkpoints: a page changed by several batches is
/// copied into the database once per checkpoint, so rarer checkpoints write less (the WAL
/// grows to some tens of MiB in between).
const CHECKPOINT_EVERY: u64 = 32;

/// Takes batches from the workers and commits them; see the module documentation.
pub(crate) struct Committer {
    /// The shared writer connection (SQLite); `None`: workers commit on their own.
    writer: Option<Mutex<Warehouse>>,
    queue: Mutex<VecDeque<Batch>>,
    /// Queued batches beyond which a submitting worker waits for the writer.
    limit: usize,
    results: Mutex<HashMap<SessionKey, SessionResult>>,
    moved: Mutex<HashSet<SessionKey>>,
    commits: AtomicU64,
    checkpointed_at: AtomicU64,
    crash_after: Option<u64>,
    stop: AtomicBool,
    /// Nanoseconds waiting for the writer, inside commits, and checkpointing.
    wait_ns: AtomicU64,
    commit_ns: AtomicU64,
    checkpoint_ns: AtomicU64,
}

fn nanos(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent, so a poisoned lock is usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Committer {
    /// A committer for `workers` workers; `writer` is the shared connection on SQLite.
    pub fn new(writer: Option<Warehouse>, workers: usize, crash_after: Option<u64>) -> Self {
        Committer {
            writer: writer.map(Mutex::new),
            queue: Mutex::new(VecDeque::new()),
            limit: 2 * workers.max(1),
            results: Mutex::new(HashMap::new()),
            moved: Mutex::new(HashSet::new()),
            commits: AtomicU64::new(0),
            checkpointed_at: AtomicU64::new(0),
            crash_after,
            stop: AtomicBool::new(false),
            wait_ns: AtomicU64::new(0),
            commit_ns: AtomicU64::new(0),
            checkpoint_ns: AtomicU64::new(0),
        }
    }

    /// Whether the run is stopping (the crash hook fired, or a commit failed).
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Whether another run moved the session (its batches are dropped).
    pub fn moved(&self, k: &SessionKey) -> bool {
        lock(&self.moved).contains(k)
    }

    /// Hands over a batch. `own` is the worker's connection: it commits there on
    /// PostgreSQL.
    pub fn submit(&self, own: &mut Warehouse, batch: Batch) -> Result<(), PassiveError> {
        let r = match &self.writer {
            None => self.commit(own, batch),
            Some(writer) => {
                let full = {
                    let mut q = lock(&self.queue);
                    q.push_back(batch);
                    q.len() > self.limit
                };
                self.drain(writer, full)
            }
        };
        if r.is_err() {
            // The run fails; the other workers stop at their next chunk.
            self.stop.store(true, Ordering::SeqCst);
        }
        r
    }

    /// Commits whatever is still queued (after the workers are done).
    pub fn finish(&self) -> Result<(), PassiveError> {
        match &self.writer {
            Some(w) => self.drain(w, true),
            None => Ok(()),
        }
    }

    /// Per-session results of the committed batches.
    pub fn results(&self) -> HashMap<SessionKey, SessionResult> {
        std::mem::take(&mut *lock(&self.results))
    }

    /// Seconds waited for the writer, spent committing and checkpointing, summed over
    /// threads.
    pub fn seconds(&self) -> (f64, f64, f64) {
        let s = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64 / 1e9;
        (s(&self.wait_ns), s(&self.commit_ns), s(&self.checkpoint_ns))
    }

    /// Drains the queue if the writer is free (or, with `wait`, once it is).
    fn drain(&self, writer: &Mutex<Warehouse>, wait: bool) -> Result<(), PassiveError> {
        loop {
            let mut guard = if wait {
                let t = Instant::now();
                let g = lock(writer);
                self.wait_ns.fetch_add(nanos(t), Ordering::Relaxed);
                g
            } else {
                match writer.try_lock() {
                    Ok(g) => g,
                    Err(TryLockError::Poisoned(p)) => p.into_inner(),
                    // The holder drains what we queued.
                    Err(TryLockError::WouldBlock) => return Ok(()),
                }
            };
            loop {
                let next = lock(&self.queue).pop_front();
                let Some(b) = next else { break };
                self.commit(&mut guard, b)?;
            }
            self.checkpoint(&mut guard);
            drop(guard);
            // A batch queued while we were releasing the writer would wait for the next
            // submit; take it now unless somebody else already holds the writer.
            if lock(&self.queue).is_empty() || self.stopped() {
                return Ok(());
            }
        }
    }

    /// Commits one batch in its own transaction.
    fn commit(&self, wh: &mut Warehouse, b: Batch) -> Result<(), PassiveError> {
        if self.stopped() || self.moved(&b.key) {
            return Ok(());
        }
        let t = Instant::now();
        let committed = wh.transaction(|tx| {
            // Another run may have moved this session since we read it.
            let now = tx.query_i64(
                "SELECT last_seq FROM passive_positions WHERE processor = 'correlation'
                 AND node_id = ? AND anonymization_context = ? AND session_id = ?",
                &key_params(&b.key),
            )?;
            if now.unwrap_or(-1) != b.expect {
                return Ok(false);
            }
            sink::execute(tx, &b.statements)?;
            for p in &b.partitions {
                catalog::set_partition(tx, p)?;
            }
            Ok::<bool, WarehouseError>(true)
        })?;
        self.commit_ns.fetch_add(nanos(t), Ordering::Relaxed);
        if !committed {
            tracing::warn!(session = %b.key, "Session moved by another run; left to it.");
            lock(&self.moved).insert(b.key);
            return Ok(());
        }
        lock(&self.results).entry(b.key).or_default().add(b.result);
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if self.crash_after.is_some_and(|limit| n >= limit) {
            self.stop.store(true, Ordering::SeqCst);
            return Err(PassiveError::Crash(n));
        }
        Ok(())
    }

    /// A passive checkpoint of the WAL every [`CHECKPOINT_EVERY`] commits, run by the
    /// writer between two commits. No frame can be appended while it runs, so it copies
    /// the whole WAL back and the next commit starts the WAL over from its beginning. A
    /// checkpoint beside the writer never caught up with it: the WAL then only grew (to
    /// most of a GiB per run), every commit wrote into new file pages, and the commit time
    /// doubled with a second worker.
    fn checkpoint(&self, writer: &mut Warehouse) {
        let n = self.commits.load(Ordering::SeqCst);
        if n < self.checkpointed_at.load(Ordering::SeqCst) + CHECKPOINT_EVERY {
            return;
        }
        let t = Instant::now();
        if let Err(e) = writer.query("PRAGMA wal_checkpoint(PASSIVE)", &[]) {
            tracing::warn!(error = %e, "WAL checkpoint failed; the next one retries.");
        }
        self.checkpoint_ns.fetch_add(nanos(t), Ordering::Relaxed);
        self.checkpointed_at.store(n, Ordering::SeqCst);
    }
}

/// The session key as statement parameters.
pub(crate) fn key_params(k: &SessionKey) -> Vec<Value> {
    vec![k.node_id.as_str().into(), k.anonymization_context.as_str().into(), k.session_id.into()]
}
