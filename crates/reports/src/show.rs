//! `vantage reports show ID` (spec §5.7): one normalized measurement, one seek.
//!
//! The locator row names the clean can and the frame run; the foundation's `read_at`
//! reads `frame_size` bytes at `frame_off`, checks and decodes the frame and returns the
//! record. Works as soon as autoclaving committed, before centrifugation.

use vantage_can::Locator;
use vantage_core::DataDir;
use vantage_warehouse::{Sql, Warehouse};

use crate::error::ReportsError;

/// The normalized line (without `\n`) of a measurement, by measurement_uid, `id` UUID,
/// or `msm:<n>` (centrifugation's number, found through `reports_measurement`).
pub fn show(data: &DataDir, wh: &mut Warehouse, id: &str) -> Result<Vec<u8>, ReportsError> {
    if let Some(n) = id.strip_prefix("msm:") {
        let n: i64 = n.parse().map_err(|_| {
            ReportsError::Usage(format!("{id}: msm:<n> takes a measurement number, e.g. msm:42"))
        })?;
        let uid = match wh
            .query("SELECT measurement_uid FROM reports_measurement WHERE msm_no = ?", &[n.into()])
        {
            Ok(r) => r.rows.first().map(|r| r[0].to_text()),
            // No centrifugation tables yet: no numbers given.
            Err(_) => None,
        };
        let Some(uid) = uid else { return Err(ReportsError::NotFound(id.to_string())) };
        return show(data, wh, &uid);
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
