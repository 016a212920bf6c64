//! uCap frequent updates (spec §2.5): uncompressed, every 5 s, two or three sections.
//! Node, session and sequence come from the file name `<node>-<session>-<seq>`.

use serde::Serialize;

use crate::parser::{split_sections, ParseError};
use crate::section::Section;

/// One device's byte count in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrequentDevice {
    /// Hashed MAC.
    pub mac: String,
    /// Bytes sent or received in the period.
    pub bytes: i64,
}

/// A parsed frequent update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FrequentUpdate {
    /// Format version 1, 2 or 3.
    pub version: i64,
    /// Router clock at write, s (None in v1, which has none).
    pub created_at: Option<i64>,
    /// Hashed router MAC (v3).
    pub router_mac: Option<String>,
    /// Devices.
    pub devices: Vec<FrequentDevice>,
}

/// Whether text looks like a frequent update: two or three sections (a regular update
/// has at least eight).
pub fn is_frequent(text: &str) -> bool {
    let n = split_sections(text).len();
    (2..=3).contains(&n)
}

fn err(line: u64, message: String) -> ParseError {
    ParseError { section: Section::Intro, line, message }
}

fn int(tok: Option<&str>, line: u64, what: &str) -> Result<i64, ParseError> {
    let tok = tok.ok_or_else(|| err(line, format!("missing {what}")))?;
    tok.parse().map_err(|_| err(line, format!("invalid {what} '{tok}'")))
}

/// Parses a frequent update of version 1, 2 or 3.
pub fn parse_frequent(text: &str) -> Result<FrequentUpdate, ParseError> {
    let secs = split_sections(text);
    let Some(head) = secs.first() else { return Err(err(1, "empty frequent update".into())) };
    let version =
        int(head.lines.first().map(|l| l.trim()), head.first_line, "frequent update version")?;
    let (created_at, router_mac) = match version {
        3 => {
            let c = int(
                head.lines.get(1).map(|l| l.trim()),
                head.first_line + 1,
                "creation timestamp",
            )?;
            (Some(c), head.lines.get(2).map(|l| l.trim().to_string()))
        }
        2 => {
            let line = head.lines.get(1).copied().unwrap_or_default();
            let w: Vec<&str> = line.split_ascii_whitespace().collect();
            (Some(int(w.get(1).copied(), head.first_line + 1, "creation timestamp")?), None)
        }
        1 => (None, None),
        v => return Err(err(head.first_line, format!("unknown frequent update version {v}"))),
    };
    // v2 has the signature section between the header and the device block.
    let block_idx = if version == 2 { 2 } else { 1 };
    let block =
        secs.get(block_idx).ok_or_else(|| err(head.first_line, "missing device block".into()))?;
    let count = int(block.lines.first().map(|l| l.trim()), block.first_line, "device count")?;
    let mut devices = Vec::new();
    for (i, line) in block.lines.iter().enumerate().skip(1) {
        let ln = block.first_line + i as u64;
        let w: Vec<&str> = line.split_ascii_whitespace().collect();
        let mac = w.first().ok_or_else(|| err(ln, "missing device MAC".into()))?;
        devices.push(FrequentDevice {
            mac: mac.to_string(),
            bytes: int(w.get(1).copied(), ln, "byte count")?,
        });
    }
    if usize::try_from(count).ok() != Some(devices.len()) {
        return Err(err(
            block.first_line,
            format!("device count {count} but {} devices", devices.len()),
        ));
    }
    Ok(FrequentUpdate { version, created_at, router_mac, devices })
}

/// Node, session and frequent sequence from a name `<node>-<session>-<seq>`.
pub fn frequent_name(name: &str) -> Option<(String, i64, i64)> {
    let base = name.rsplit('/').next()?;
    let mut parts = base.rsplitn(3, '-');
    let seq = parts.next()?.parse().ok()?;
    let session = parts.next()?.parse().ok()?;
    Some((parts.next()?.to_string(), session, seq))
}
