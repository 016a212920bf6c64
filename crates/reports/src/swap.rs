//! The `--reclean` directory swap (spec §5.5): a bucket rebuilt in
//! `clean/reports/<bucket>.new/` replaces `<bucket>/` after the transaction recording it.
//!
//! A crash can leave the swap half done. The warehouse, not the directory names, says
//! which tree is the recorded one: a crash just after the commit leaves the new tree
//! beside the old one, and throwing it away there would leave rows describing cans that
//! no longer exist (centrifuge would then read the old cans under the new rows). So the
//! new tree moves in exactly when every recorded clean can of the bucket is in it with
//! its recorded size and sha1.

use std::path::Path;

use vantage_warehouse::Sql;

use crate::error::ReportsError;

/// Completes or discards a half-done swap of `bucket` under `root`, before anything
/// reads or writes the bucket's clean cans.
pub(crate) fn finish_swap(db: &mut dyn Sql, root: &Path, bucket: &str) -> Result<(), ReportsError> {
    let (live, new, old) = paths(root, bucket);
    if new.exists() {
        let moved_out = old.exists() && !live.exists();
        if moved_out || records_match(db, &new, bucket)? {
            return swap(root, bucket);
        }
        std::fs::remove_dir_all(&new).map_err(ReportsError::io(&new))?;
    }
    if old.exists() {
        if live.exists() {
            std::fs::remove_dir_all(&old).map_err(ReportsError::io(&old))?;
        } else {
            std::fs::rename(&old, &live).map_err(ReportsError::io(&old))?;
        }
    }
    Ok(())
}

/// Replaces the live tree of `bucket` by its `.new` tree.
pub(crate) fn swap(root: &Path, bucket: &str) -> Result<(), ReportsError> {
    let (live, new, old) = paths(root, bucket);
    if live.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(ReportsError::io(&old))?;
        }
        std::fs::rename(&live, &old).map_err(ReportsError::io(&live))?;
    }
    std::fs::rename(&new, &live).map_err(ReportsError::io(&new))?;
    vantage_core::publish::sync_parent(&live).map_err(ReportsError::io(&live))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(ReportsError::io(&old))?;
    }
    Ok(())
}

fn paths(
    root: &Path,
    bucket: &str,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    (root.join(bucket), root.join(format!("{bucket}.new")), root.join(format!("{bucket}.old")))
}

/// True when `dir` holds every clean can the warehouse records for `bucket`, each with
/// the recorded size and sha1 (and the bucket has at least one).
fn records_match(db: &mut dyn Sql, dir: &Path, bucket: &str) -> Result<bool, ReportsError> {
    let rows = db.query(
        "SELECT filename, file_size, file_sha1 FROM reports_clean_can WHERE bucket = ?",
        &[bucket.into()],
    )?;
    if rows.rows.is_empty() {
        return Ok(false);
    }
    for r in &rows.rows {
        let filename = r[0].to_text();
        let can = dir.join(filename.rsplit('/').next().unwrap_or(&filename));
        let Ok(meta) = std::fs::metadata(&can) else { return Ok(false) };
        if r[1].as_i64() != i64::try_from(meta.len()).ok() {
            return Ok(false);
        }
        let bytes = std::fs::read(&can).map_err(ReportsError::io(&can))?;
        if vantage_core::hash::sha1_hex(&bytes) != r[2].to_text() {
            return Ok(false);
        }
    }
    Ok(true)
}
