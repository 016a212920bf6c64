//! Reading a whole can member for the pipeline's own stages (autoclave reads raw members,
//! centrifugation clean ones).
//!
//! The bytes are checked against the member's size and crc32 from the can's index, which
//! covers every byte handed on: a member read through its locator decodes only up to its
//! last byte, so the content checksum of a frame it shares with the next member is never
//! reached. The member's sha1 is left to `vantage verify` (spec §11): a crc32 catches the
//! damage a disk or a decoder does at a small part of the cost of a sha1 of every member
//! on every stage.

use std::path::Path;

use vantage_can::index::MemberEntry;
use vantage_can::Can;

use crate::error::ReportsError;

/// The bytes of `entry`, checked against its size and crc32.
pub(crate) fn read(can: &Can, path: &Path, entry: &MemberEntry) -> Result<Vec<u8>, ReportsError> {
    let bytes = can.read_locator(&entry.locator)?;
    if bytes.len() as u64 != entry.size {
        return Err(ReportsError::Mismatch {
            path: path.into(),
            message: format!(
                "{}: {} bytes read for a member of {}",
                entry.name,
                bytes.len(),
                entry.size
            ),
        });
    }
    let crc = vantage_core::hash::crc32(&bytes);
    if crc != entry.crc32 {
        return Err(ReportsError::Mismatch {
            path: path.into(),
            message: format!(
                "{}: crc32 {crc:08x}, the can's index says {:08x}",
                entry.name, entry.crc32
            ),
        });
    }
    Ok(bytes)
}
