//! Ingest (spec §3): tarballs of gzips, `.tar.gz` with gz or plain members, single
//! updates; archived unchanged, indexed, bad members quarantined while the rest goes on.
//!
//! One transaction per source: its `passive_tarballs` and `catalog_arrivals` rows, every
//! indexed update, the session rows and the quarantine rows commit together, so a crash
//! leaves the source either wholly ingested or not at all (a rerun redoes it; the archive
//! copy, written before, is reused when its bytes are the same).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use serde::Serialize;
use vantage_core::hash::{md5_hex, sha256_hex};
use vantage_core::{publish, Timestamp};
use vantage_warehouse::catalog::{self, ArrivalState};
use vantage_warehouse::{Sql, Value, Warehouse};

use crate::config::PassiveEnv;
use crate::error::{io, PassiveError};
use crate::index::{self, Indexed, Origin};
use crate::{decode_member, frequent, parse_update, SessionKey, Warning};

/// What became of a source (tarball or single update).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Every member read (some may be quarantined).
    Ingested,
    /// The tar is damaged: the members before the damage are indexed.
    Partial,
    /// Refused whole (md5 mismatch): nothing indexed, the file quarantined.
    Rejected,
    /// Already ingested (same sha256).
    Skipped,
}

impl SourceStatus {
    /// The `passive_tarballs.status` text.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Ingested => "ingested",
            SourceStatus::Partial => "partial",
            SourceStatus::Rejected => "rejected",
            SourceStatus::Skipped => "skipped",
        }
    }
}

/// What became of one member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberReport {
    /// Member name.
    pub member: String,
    /// `indexed`, `duplicate`, `quarantined` or `frequent`.
    pub outcome: &'static str,
    /// The key of an indexed update: node (pseudonym), context, session, seq.
    pub key: Option<(String, String, i64, i64)>,
    /// Quarantine reason code: `gzip`, `parse`, `unanonymized`, `conflicting_duplicate`.
    pub reason: Option<&'static str>,
    /// Section of a parse error.
    pub section: Option<&'static str>,
    /// Line of a parse error.
    pub line: Option<u64>,
    /// The message, naming source and member.
    pub message: Option<String>,
}

/// The outcome of one source, as `ingest` prints it and the upload endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    /// Source name (file path or upload name).
    pub name: String,
    /// Status.
    pub status: SourceStatus,
    /// Why rejected or partial (`md5_mismatch`, `truncated_tar`), or why skipped.
    pub reason: Option<String>,
    /// Updates indexed.
    pub indexed: u64,
    /// Duplicates ignored.
    pub duplicates: u64,
    /// Members quarantined.
    pub quarantined: u64,
    /// Per member.
    pub members: Vec<MemberReport>,
}

impl SourceReport {
    /// Whether something was rejected or quarantined (exit 3).
    pub fn rejected_anything(&self) -> bool {
        self.quarantined > 0
            || matches!(self.status, SourceStatus::Rejected | SourceStatus::Partial)
    }

    /// The HTTP answer of `POST /api/v1/passive/upload` for this report (spec §3): 200
    /// with `{status, indexed, duplicates, quarantined: [{member, reason, section, line}]}`;
    /// 409 `md5_mismatch`; 400 when a single update was quarantined (unparseable).
    pub fn upload_response(&self) -> (u16, serde_json::Value) {
        if self.status == SourceStatus::Rejected {
            let message = format!("{}: the md5 in the name is not the md5 of the body", self.name);
            return (
                409,
                serde_json::json!({"error": {"code": "md5_mismatch", "message": message}}),
            );
        }
        let quarantined: Vec<serde_json::Value> = self
            .members
            .iter()
            .filter(|m| m.outcome == "quarantined")
            .map(|m| serde_json::json!({"member": m.member, "reason": m.reason, "section": m.section, "line": m.line}))
            .collect();
        let single = layout(&self.name) == Layout::Single;
        if single && !quarantined.is_empty() {
            let first = self.members.first();
            let code = first.and_then(|m| m.reason).unwrap_or("parse");
            let message = first.and_then(|m| m.message.clone()).unwrap_or_default();
            return (400, serde_json::json!({"error": {"code": code, "message": message}}));
        }
        let body = serde_json::json!({
            "status": self.status.as_str(),
            "indexed": self.indexed,
            "duplicates": self.duplicates,
            "quarantined": quarantined,
        });
        (200, body)
    }
}

/// How a source's bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Tar,
    TarGz,
    Single,
}

fn layout(name: &str) -> Layout {
    if name.ends_with(".tar") {
        Layout::Tar
    } else if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        Layout::TarGz
    } else {
        Layout::Single
    }
}

fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// The md5 a tarball name carries as its 4th `_` token, if any.
pub fn md5_in_name(name: &str) -> Option<String> {
    let base = base_name(name);
    let stem = base
        .strip_suffix(".tar.gz")
        .or_else(|| base.strip_suffix(".tgz"))
        .or_else(|| base.strip_suffix(".tar"))?;
    let tok = stem.split('_').nth(3)?;
    (tok.len() == 32 && tok.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| tok.to_ascii_lowercase())
}

/// Members of a tar, read up to any damage; the second value says what was damaged.
fn tar_members(reader: impl Read) -> (Vec<(String, Vec<u8>)>, Option<String>) {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(reader);
    let entries = match archive.entries() {
        Ok(e) => e,
        Err(e) => return (out, Some(e.to_string())),
    };
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => return (out, Some(e.to_string())),
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = match entry.path() {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(e) => return (out, Some(e.to_string())),
        };
        let size = entry.header().size().unwrap_or(0);
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(64 << 20));
        if let Err(e) = entry.read_to_end(&mut bytes) {
            return (out, Some(format!("{name}: {e}")));
        }
        if (bytes.len() as u64) < size {
            return (out, Some(format!("{name}: {} of {size} bytes", bytes.len())));
        }
        out.push((name, bytes));
    }
    (out, None)
}

/// Ingests files and directories (recursively, in name order). Takes the `passive` lock.
pub fn ingest_paths(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    paths: &[PathBuf],
    progress: impl FnMut(&SourceReport),
) -> Result<Vec<SourceReport>, PassiveError> {
    ingest_paths_with(env, wh, paths, None, progress)
}

/// The worker pool members are prepared on (None: one worker, no pool).
pub(crate) fn pool(workers: usize) -> Result<Option<rayon::ThreadPool>, PassiveError> {
    if workers <= 1 {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(workers)
        .build()
        .map(Some)
        .map_err(|e| PassiveError::Usage(format!("worker threads: {e}")))
}

/// [`ingest_paths`] with members decoded and parsed on `workers` threads (default:
/// configuration, then cores); the warehouse writes stay one transaction per source.
pub fn ingest_paths_with(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    paths: &[PathBuf],
    workers: Option<usize>,
    mut progress: impl FnMut(&SourceReport),
) -> Result<Vec<SourceReport>, PassiveError> {
    let files = expand(paths)?;
    let _lock = vantage_warehouse::Lock::acquire(wh, &env.data, crate::LOCK)?;
    crate::schema::migrate(wh)?;
    let pool = pool(env.workers(workers))?;
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(io(&f))?;
        let r = ingest_source(env, wh, &f.display().to_string(), &bytes, false, pool.as_ref())?;
        progress(&r);
        out.push(r);
    }
    Ok(out)
}

/// Ingests one upload (the HTTP endpoint's entry point): `name` is the update's
/// (`<node>-<session>-<seq>.gz`) or the tarball's name; archived as
/// `archive/passive/<bucket>/<sha256>.<ext>`. Takes the `passive` lock.
pub fn ingest_bytes(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    name: &str,
    bytes: &[u8],
) -> Result<SourceReport, PassiveError> {
    let _lock = vantage_warehouse::Lock::acquire(wh, &env.data, crate::LOCK)?;
    crate::schema::migrate(wh)?;
    let pool = pool(env.workers(None))?;
    ingest_source(env, wh, name, bytes, true, pool.as_ref())
}

/// Whether a file met in a directory walk can be an input: a tarball, a gzip, or a plain
/// update named `<node>-<session>-<seq>` (the generator's `keys/` and `truth.json`, and
/// any other file, are left alone). Files named explicitly are always taken.
fn looks_like_input(p: &std::path::Path) -> bool {
    let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let plain = name
        .rsplitn(3, '-')
        .take(2)
        .all(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        && name.matches('-').count() >= 2;
    [".tar", ".tar.gz", ".tgz", ".gz"].iter().any(|e| name.ends_with(e)) || plain
}

/// Files under the given paths, directories expanded recursively in name order.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, PassiveError> {
    let mut out = Vec::new();
    expand_into(paths, true, &mut out)?;
    Ok(out)
}

fn expand_into(
    paths: &[PathBuf],
    explicit: bool,
    out: &mut Vec<PathBuf>,
) -> Result<(), PassiveError> {
    for p in paths {
        let meta = std::fs::metadata(p).map_err(io(p))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(io(p))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            let names: Vec<PathBuf> = entries
                .into_iter()
                .filter(|e| !e.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                .collect();
            expand_into(&names, false, out)?;
        } else if meta.is_file() {
            if explicit || looks_like_input(p) {
                out.push(p.clone());
            }
        } else {
            return Err(PassiveError::NotAnInput(p.clone()));
        }
    }
    Ok(())
}

/// Copies the raw bytes to the archive, unchanged; returns the archive path.
fn archive(
    env: &PassiveEnv,
    name: &str,
    bytes: &[u8],
    sha: &str,
    upload: bool,
) -> Result<PathBuf, PassiveError> {
    let bucket = Timestamp::now().bucket().to_string();
    let dir = env.data.ensure(&env.data.archive("passive")?.join(&bucket))?;
    let file = if upload {
        let ext = match layout(name) {
            Layout::Tar => "tar",
            Layout::TarGz => "tar.gz",
            Layout::Single if crate::is_gzip(bytes) => "gz",
            Layout::Single => "txt",
        };
        format!("{sha}.{ext}")
    } else {
        base_name(name).to_string()
    };
    let mut dest = dir.join(&file);
    if dest.exists() {
        let same = std::fs::read(&dest).map(|b| b == bytes).unwrap_or(false);
        if same {
            return Ok(dest);
        }
        dest = dir.join(format!("{file}.{}", &sha[..12]));
        if dest.exists() {
            return Ok(dest);
        }
    }
    publish::write_atomic(&dest, bytes, true).map_err(io(&dest))?;
    Ok(dest)
}

/// Ingests one source's bytes in one transaction.
pub(crate) fn ingest_source(
    env: &PassiveEnv,
    wh: &mut Warehouse,
    name: &str,
    bytes: &[u8],
    upload: bool,
    pool: Option<&rayon::ThreadPool>,
) -> Result<SourceReport, PassiveError> {
    let sha = sha256_hex(bytes);
    let mut report = SourceReport {
        name: name.to_string(),
        status: SourceStatus::Ingested,
        reason: None,
        indexed: 0,
        duplicates: 0,
        quarantined: 0,
        members: Vec::new(),
    };
    let known =
        wh.query("SELECT status FROM passive_tarballs WHERE sha256 = ?", &[sha.as_str().into()])?;
    if let Some(row) = known.rows.first() {
        report.status = SourceStatus::Skipped;
        report.reason = Some(format!(
            "already ingested ({})",
            row.first().map(Value::to_text).unwrap_or_default()
        ));
        return Ok(report);
    }
    let lay = layout(name);
    let named_md5 = if lay == Layout::Single { None } else { md5_in_name(name) };
    let md5_bad = named_md5.as_deref().is_some_and(|m| m != md5_hex(bytes));
    let (members, damage) = if md5_bad {
        (Vec::new(), None)
    } else {
        match lay {
            Layout::Tar => tar_members(bytes),
            Layout::TarGz => tar_members(flate2::read::GzDecoder::new(bytes)),
            Layout::Single => (vec![(base_name(name).to_string(), bytes.to_vec())], None),
        }
    };
    let prepare = || -> Vec<Prepared> {
        match pool {
            Some(pool) if members.len() > 1 => pool.install(|| {
                use rayon::prelude::*;
                members.par_iter().map(|(m, b)| prepare_member(env, name, m, b)).collect()
            }),
            _ => members.iter().map(|(m, b)| prepare_member(env, name, m, b)).collect(),
        }
    };
    let mut prepared = if md5_bad { Vec::new() } else { prepare() };
    let archived = if md5_bad { None } else { Some(archive(env, name, bytes, &sha, upload)?) };
    wh.transaction(|tx| {
        let archive_path = archived.as_ref().map(|p| p.display().to_string());
        let state = if md5_bad { ArrivalState::Rejected } else { ArrivalState::Done };
        catalog::record_arrival(
            tx,
            &catalog::Arrival {
                kind: "passive",
                path: archive_path.as_deref().unwrap_or(name),
                sha256: &sha,
                size: bytes.len() as u64,
                bucket: Some(Timestamp::now().bucket()),
                state,
            },
        )?;
        let rows = tx.query(
            "INSERT INTO passive_tarballs (name, sha256, md5_in_name, size, archive_path, status, reason,
                 members, indexed, duplicates, quarantined, ingested_at)
             VALUES (?, ?, ?, ?, ?, 'ingested', NULL, 0, 0, 0, 0, ?) RETURNING tarball_id",
            &[
                name.into(),
                sha.as_str().into(),
                named_md5.clone().into(),
                bytes.len().into(),
                archive_path.clone().unwrap_or_default().into(),
                Timestamp::now().nanos().into(),
            ],
        )?;
        let source_id = rows.scalar_i64().unwrap_or(0);
        if md5_bad {
            report.status = SourceStatus::Rejected;
            report.reason = Some("md5_mismatch".into());
            let msg = format!("{name}: md5 in the name is not the md5 of the bytes ({})", md5_hex(bytes));
            quarantine_bytes(env, tx, name, None, bytes, "md5_mismatch", &msg)?;
        } else {
            let mut touched = BTreeSet::new();
            for ((member, body), p) in members.iter().zip(prepared.drain(..)) {
                let r = ingest_member(env, tx, name, source_id, member, body, p, &mut touched)?;
                match r.outcome {
                    "indexed" => report.indexed += 1,
                    "duplicate" => report.duplicates += 1,
                    "quarantined" => report.quarantined += 1,
                    _ => {}
                }
                report.members.push(r);
            }
            index::refresh_sessions(tx, &touched)?;
            if let Some(d) = &damage {
                report.status = SourceStatus::Partial;
                report.reason = Some("truncated_tar".into());
                tracing::warn!(source = name, damage = %d, "Tarball truncated; members before the damage indexed.");
                tx.execute(
                    "INSERT INTO catalog_quarantine (kind, original_path, stored_path, reason, message, created_ns)
                     VALUES ('passive', ?, ?, 'truncated_tar', ?, ?)",
                    &[
                        name.into(),
                        archive_path.clone().unwrap_or_default().into(),
                        format!("{name}: truncated or unreadable tar: {d}").into(),
                        Timestamp::now().nanos().into(),
                    ],
                )?;
            }
        }
        tx.execute(
            "UPDATE passive_tarballs SET status = ?, reason = ?, members = ?, indexed = ?, duplicates = ?,
                 quarantined = ? WHERE tarball_id = ?",
            &[
                report.status.as_str().into(),
                report.reason.clone().into(),
                report.members.len().into(),
                report.indexed.into(),
                report.duplicates.into(),
                report.quarantined.into(),
                source_id.into(),
            ],
        )?;
        Ok::<(), PassiveError>(())
    })?;
    Ok(report)
}

/// Writes rejected bytes to `quarantine/passive/` beside a `.reason`, and records the
/// `catalog_quarantine` row naming source and member.
fn quarantine_bytes(
    env: &PassiveEnv,
    db: &mut dyn Sql,
    source: &str,
    member: Option<&str>,
    bytes: &[u8],
    reason: &str,
    message: &str,
) -> Result<String, PassiveError> {
    let qdir = env.data.quarantine("passive")?;
    let staging = env.data.ensure(&qdir.join(format!(".incoming-{}", std::process::id())))?;
    let file_name = base_name(member.unwrap_or(source)).to_string();
    let staged = staging.join(&file_name);
    std::fs::write(&staged, bytes).map_err(io(&staged))?;
    let stored =
        env.data.quarantine_file("passive", &staged, &format!("{reason}: {message}"), false)?;
    let _ = std::fs::remove_dir(&staging);
    let original = match member {
        Some(m) => format!("{source}:{m}"),
        None => source.to_string(),
    };
    let stored = stored.display().to_string();
    db.execute(
        "INSERT INTO catalog_quarantine (kind, original_path, stored_path, reason, message, created_ns)
         VALUES ('passive', ?, ?, ?, ?, ?)",
        &[original.into(), stored.as_str().into(), reason.into(), message.into(), Timestamp::now().nanos().into()],
    )?;
    tracing::warn!(source, member, reason, "Update quarantined.");
    Ok(stored)
}

fn quarantined(member: &str, reason: &'static str, message: String) -> MemberReport {
    MemberReport {
        member: member.to_string(),
        outcome: "quarantined",
        key: None,
        reason: Some(reason),
        section: None,
        line: None,
        message: Some(message),
    }
}

/// A member made ready outside the transaction: decoded, parsed, anonymized, encoded.
/// Pure work, so members are prepared in parallel (`--workers`).
enum Prepared {
    Update {
        u: Box<crate::Update>,
        raw_node: String,
        text_sha: String,
        raw_size: u64,
        body: Vec<u8>,
    },
    Frequent(String),
    Failed(MemberReport),
}

fn place_of(source: &str, member: &str) -> String {
    if member == base_name(source) {
        source.to_string()
    } else {
        format!("{source}:{member}")
    }
}

/// Decodes, parses and anonymizes one member (no warehouse access).
fn prepare_member(env: &PassiveEnv, source: &str, member: &str, bytes: &[u8]) -> Prepared {
    let place = place_of(source, member);
    let text = match decode_member(bytes) {
        Ok(t) => t,
        Err(e) => return Prepared::Failed(quarantined(member, "gzip", format!("{place}: {e}"))),
    };
    if frequent::is_frequent(&text) {
        return Prepared::Frequent(text);
    }
    let mut u = match parse_update(&text) {
        Ok(u) => u,
        Err(e) => {
            let mut r = quarantined(member, "parse", format!("{place}: {e}"));
            r.section = Some(e.section.as_str());
            r.line = Some(e.line);
            return Prepared::Failed(r);
        }
    };
    if u.anonymization_context.is_none() {
        let msg = format!("{place}: UNANONYMIZED update; only anonymized updates are kept");
        return Prepared::Failed(quarantined(member, "unanonymized", msg));
    }
    let expected_name = format!("{}-{}-{}", u.node_id, u.session_id, u.sequence_number);
    let stem = member.rsplit('/').next().unwrap_or(member);
    if stem.trim_end_matches(".gz") != expected_name {
        u.warnings.push(Warning {
            section: "intro".into(),
            line: 1,
            message: format!("member name {stem} differs from the key {expected_name}"),
        });
    }
    let raw_node = u.node_id.clone();
    env.anonymizer.apply(&mut u);
    let body = crate::codec::encode(&u);
    Prepared::Update {
        u: Box::new(u),
        raw_node,
        text_sha: sha256_hex(text.as_bytes()),
        raw_size: text.len() as u64,
        body,
    }
}

/// Indexes one prepared member in the source's transaction; bad ones are quarantined.
#[allow(clippy::too_many_arguments)]
fn ingest_member(
    env: &PassiveEnv,
    tx: &mut dyn Sql,
    source: &str,
    source_id: i64,
    member: &str,
    bytes: &[u8],
    prepared: Prepared,
    touched: &mut BTreeSet<SessionKey>,
) -> Result<MemberReport, PassiveError> {
    let place = place_of(source, member);
    let fail = |tx: &mut dyn Sql, r: MemberReport| -> Result<MemberReport, PassiveError> {
        let m = r.message.clone().unwrap_or_default();
        let reason = r.reason.unwrap_or("parse");
        let stored = quarantine_bytes(env, tx, source, Some(member), bytes, reason, &m)?;
        tx.execute(
            "INSERT INTO passive_member_quarantine (source_id, member, reason, section, line, message, stored_path)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            &[
                source_id.into(),
                member.into(),
                reason.into(),
                r.section.into(),
                r.line.into(),
                m.into(),
                stored.into(),
            ],
        )?;
        Ok(r)
    };
    let (u, raw_node, text_sha, raw_size, body) = match prepared {
        Prepared::Failed(r) => return fail(tx, r),
        Prepared::Frequent(text) => {
            return ingest_frequent(env, tx, &place, member, &text).or_else(|r| fail(tx, *r))
        }
        Prepared::Update { u, raw_node, text_sha, raw_size, body } => {
            (u, raw_node, text_sha, raw_size, body)
        }
    };
    if u.node_id != raw_node {
        tx.execute(
            "INSERT INTO passive_node_aliases (node_id, raw_node_id) VALUES (?, ?) ON CONFLICT (node_id) DO NOTHING",
            &[u.node_id.as_str().into(), raw_node.into()],
        )?;
    }
    let origin = Origin { source_id, member, text_sha256: &text_sha, raw_size };
    let plain = |outcome: &'static str, key| MemberReport {
        member: member.to_string(),
        outcome,
        key,
        reason: None,
        section: None,
        line: None,
        message: None,
    };
    match index::index_encoded(tx, &u, body, &origin)? {
        Indexed::New => {
            let k = u.session();
            let key = (
                k.node_id.clone(),
                k.anonymization_context.clone(),
                k.session_id,
                i64::from(u.sequence_number),
            );
            touched.insert(k);
            Ok(plain("indexed", Some(key)))
        }
        Indexed::Duplicate => Ok(plain("duplicate", None)),
        Indexed::Conflict => {
            let msg = format!(
                "{place}: key {}-{}-{} already indexed with another text; the first one is kept",
                raw_node_or(&u.node_id),
                u.session_id,
                u.sequence_number
            );
            fail(tx, quarantined(member, "conflicting_duplicate", msg))
        }
    }
}

/// Messages name the pseudonym: the raw id stays in the alias table.
fn raw_node_or(node: &str) -> &str {
    node
}

/// Stores a frequent update (spec §2.5); its key comes from the member name.
fn ingest_frequent(
    env: &PassiveEnv,
    tx: &mut dyn Sql,
    place: &str,
    member: &str,
    text: &str,
) -> Result<MemberReport, Box<MemberReport>> {
    let stem = member.rsplit('/').next().unwrap_or(member).trim_end_matches(".gz");
    let parse_fail = |line: Option<u64>, message: String| {
        let mut r = quarantined(member, "parse", message);
        r.section = Some("intro");
        r.line = line;
        Box::new(r)
    };
    let Some((node, session, seq)) = frequent::frequent_name(stem) else {
        return Err(parse_fail(
            None,
            format!("{place}: frequent update not named <node>-<session>-<seq>"),
        ));
    };
    let f = frequent::parse_frequent(text)
        .map_err(|e| parse_fail(Some(e.line), format!("{place}: {e}")))?;
    let node = env.anonymizer.node_id(&node);
    let store = |tx: &mut dyn Sql| -> Result<(), vantage_warehouse::WarehouseError> {
        let key: Vec<Value> = vec![node.as_str().into(), session.into(), seq.into()];
        let mut params = key.clone();
        params.extend([f.version.into(), f.created_at.into(), f.router_mac.clone().into()]);
        tx.execute(
            "INSERT INTO passive_frequent (node_id, session_id, frequent_seq, version, created_at, router_mac)
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (node_id, session_id, frequent_seq) DO NOTHING",
            &params,
        )?;
        for d in &f.devices {
            let mut p = key.clone();
            p.extend([d.mac.as_str().into(), d.bytes.into()]);
            tx.execute(
                "INSERT INTO passive_frequent_devices (node_id, session_id, frequent_seq, mac_address, bytes)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (node_id, session_id, frequent_seq, mac_address) DO NOTHING",
                &p,
            )?;
        }
        Ok(())
    };
    store(tx).map_err(|e| parse_fail(None, format!("{place}: {e}")))?;
    Ok(MemberReport {
        member: member.to_string(),
        outcome: "frequent",
        key: None,
        reason: None,
        section: None,
        line: None,
        message: None,
    })
}

/// Indexes already-parsed, already-anonymized updates (the processor vectors, tests, the
/// generator's fast path) as one source named `name`, in one transaction. Returns how many
/// were new.
pub fn ingest_updates(
    wh: &mut Warehouse,
    name: &str,
    updates: &[crate::Update],
) -> Result<u64, PassiveError> {
    crate::schema::migrate(wh)?;
    wh.transaction(|tx| {
        let rows = tx.query(
            "INSERT INTO passive_tarballs (name, sha256, md5_in_name, size, archive_path, status, reason,
                 members, indexed, duplicates, quarantined, ingested_at)
             VALUES (?, ?, NULL, 0, '', 'ingested', NULL, ?, 0, 0, 0, ?) RETURNING tarball_id",
            &[
                name.into(),
                format!("updates:{}:{}", name, Timestamp::now().nanos()).into(),
                updates.len().into(),
                Timestamp::now().nanos().into(),
            ],
        )?;
        let source_id = rows.scalar_i64().unwrap_or(0);
        let mut touched = BTreeSet::new();
        let mut new = 0;
        for u in updates {
            let text = crate::codec::encode(u);
            let sha = sha256_hex(&text);
            let member = format!("{}-{}-{}", u.node_id, u.session_id, u.sequence_number);
            let origin = Origin { source_id, member: &member, text_sha256: &sha, raw_size: text.len() as u64 };
            if index::index_update(tx, u, &origin)? == Indexed::New {
                touched.insert(u.session());
                new += 1;
            }
        }
        index::refresh_sessions(tx, &touched)?;
        Ok::<u64, PassiveError>(new)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_answers() {
        let mut r = SourceReport {
            name: "OW1-2-3.gz".into(),
            status: SourceStatus::Ingested,
            reason: None,
            indexed: 0,
            duplicates: 0,
            quarantined: 1,
            members: vec![quarantined(
                "OW1-2-3.gz",
                "parse",
                "OW1-2-3.gz: section intro, line 1: x".into(),
            )],
        };
        assert_eq!(r.upload_response().0, 400);
        r.name = "OW1_2012-09-01_06-00-00.tar".into();
        let (code, body) = r.upload_response();
        assert_eq!(code, 200);
        assert_eq!(body["quarantined"][0]["reason"], "parse");
        r.status = SourceStatus::Rejected;
        assert_eq!(r.upload_response().0, 409);
    }

    #[test]
    fn md5_token_and_layouts() {
        assert_eq!(
            md5_in_name("d/OW1_2012-09-01_06-03-08_13561a69c38cc63f936049ded7734634.tar")
                .as_deref(),
            Some("13561a69c38cc63f936049ded7734634")
        );
        assert_eq!(md5_in_name("OW1_2012-09-01_06-03-08.tar"), None);
        assert_eq!(layout("a.tar"), Layout::Tar);
        assert_eq!(layout("a.tgz"), Layout::TarGz);
        assert_eq!(layout("OW-1-2.gz"), Layout::Single);
        assert!(looks_like_input(std::path::Path::new("d/OW0123-1346479358582428-12")));
        assert!(looks_like_input(std::path::Path::new("d/x.tgz")));
        assert!(!looks_like_input(std::path::Path::new("d/keys/OW0123.key")));
        assert!(!looks_like_input(std::path::Path::new("d/truth.json")));
    }
}
