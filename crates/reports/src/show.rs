//! `vantage reports show ID` (spec §5.7): one normalized measurement, one seek.
//!
//! The locator row names the clean can and the frame run; the foundation's `read_at`
//! reads `frame_size` bytes at `frame_off`, checks and decodes the frame and returns the
//! record. Works as soon as autoclaving committed, before centrifugation.

use vantage_can::Locator;
use vantage_core::DataDir;
use vantage_warehouse::{Sql, Warehouse};

use crate::error::ReportsError;

/// The normalized line (without `\n`) of a measurement, by measurement_uid or `id` UUID
/// (`msm:<n>` needs centrifugation's numbering and is refused until then).
pub fn show(data: &DataDir, wh: &mut Warehouse, id: &str) -> Result<Vec<u8>, ReportsError> {
    if id.starts_with("msm:") {
        return Err(ReportsError::Usage(format!(
            "{id}: msm:<n> numbers are given by centrifugation, not yet run here; use the measurement_uid or id"
        )));
    }
    let cols = "uid, bucket, can, frame_off, frame_size, intra_off, intra_size";
    let by_uid = format!("SELECT {cols} FROM reports_datum_locator WHERE uid = ?");
    // A cold process per call (spec §12: < 5 ms): migrate only when the table is missing.
    let mut rows = match wh.query(&by_uid, &[id.into()]) {
        Ok(r) => r,
        Err(_) => {
            wh.migrate("reports", crate::schema::MIGRATIONS)?;
            wh.query(&by_uid, &[id.into()])?
        }
    };
    if rows.rows.is_empty() {
        rows = wh.query(
            &format!("SELECT {cols} FROM reports_datum_locator WHERE id = ? ORDER BY uid"),
            &[id.into()],
        )?;
    }
    match rows.rows.len() {
        0 => return Err(ReportsError::NotFound(id.to_string())),
        1 => {}
        _ => {
            return Err(ReportsError::Ambiguous {
                id: id.to_string(),
                uids: rows.rows.iter().map(|r| r[0].to_text()).collect(),
            })
        }
    }
    let r = &rows.rows[0];
    let n = |i: usize| r[i].as_i64().unwrap_or(0).max(0) as u64;
    let path = crate::autoclave::clean_path(data, &r[1].to_text(), &r[2].to_text())?;
    let loc = Locator { frame_off: n(3), frame_size: n(4), intra_off: n(5), intra_size: n(6) };
    Ok(vantage_can::read_at(&path, &loc)?)
}
