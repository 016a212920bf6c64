//! Flat-file names (spec §2 "Names"): `<TABLE>-<FIRST>-<LAST>-<SERIAL>.sql`, and the run
//! order that decides where a failing run stops.

use std::cmp::Ordering;

/// The largest CREATED_DT a file may hold: MAX_LONG − 1 (MAX_LONG means "still open").
pub const MAX_CREATED: i64 = i64::MAX - 1;

/// A parsed file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The whole name.
    pub name: String,
    /// TABLE.
    pub table: String,
    /// FIRST, µs.
    pub first: i64,
    /// LAST, µs.
    pub last: i64,
    /// SERIAL.
    pub serial: u64,
}

/// True when `table` has the form `[A-Z][A-Z0-9_]*`.
pub fn valid_table_name(table: &str) -> bool {
    let mut b = table.bytes();
    matches!(b.next(), Some(b'A'..=b'Z'))
        && b.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl FileName {
    /// Parses a name; `None` is the `bad-name` reject.
    pub fn parse(name: &str) -> Option<FileName> {
        let stem = name.strip_suffix(".sql")?;
        let mut parts = stem.rsplitn(4, '-');
        let serial = parts.next()?;
        let last = parts.next()?;
        let first = parts.next()?;
        let table = parts.next()?;
        if !valid_table_name(table) || !digits(serial) || !digits(last) || !digits(first) {
            return None;
        }
        let first: i64 = first.parse().ok()?;
        let last: i64 = last.parse().ok()?;
        let serial: u64 = serial.parse().ok()?;
        if first > last || last > MAX_CREATED {
            return None;
        }
        Some(FileName { name: name.to_string(), table: table.to_string(), first, last, serial })
    }

    /// This file's part of the canonical order of lines (spec §3.2: file by FIRST, SERIAL,
    /// name).
    pub fn order_key(&self) -> (i64, u64, &str) {
        (self.first, self.serial, &self.name)
    }
}

/// Run order (spec §2): parsed names by (FIRST, TABLE bytewise, SERIAL, name); names that
/// do not parse after all others, by name.
pub fn run_order(a: &str, b: &str) -> Ordering {
    match (FileName::parse(a), FileName::parse(b)) {
        (Some(x), Some(y)) => (x.first, x.table.as_bytes(), x.serial, x.name.as_bytes()).cmp(&(
            y.first,
            y.table.as_bytes(),
            y.serial,
            y.name.as_bytes(),
        )),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.as_bytes().cmp(b.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_or_are_bad() {
        let n = FileName::parse("FLOW_SETUP-1262304019000000-1262304019500000-0.sql").unwrap();
        assert_eq!(
            (n.table.as_str(), n.first, n.last, n.serial),
            ("FLOW_SETUP", 1262304019000000, 1262304019500000, 0)
        );
        for bad in [
            "LEARNING-1262304011000000-0.sql",
            "learning-1-2-0.sql",
            "LEARNING-2-1-0.sql",
            "LEARNING-1-2-0.txt",
            "LEARNING-1-2-x.sql",
            "LEARNING-1-99999999999999999999-0.sql",
            "LEARNING-1-9223372036854775807-0.sql",
            "-1-2-0.sql",
        ] {
            assert!(FileName::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn run_order_puts_unparsable_last() {
        let mut names =
            vec!["zz.sql", "PF-5-6-0.sql", "FLOW-5-9-1.sql", "FLOW-5-9-0.sql", "A-1-1-0.sql"];
        names.sort_by(|a, b| run_order(a, b));
        assert_eq!(
            names,
            ["A-1-1-0.sql", "FLOW-5-9-0.sql", "FLOW-5-9-1.sql", "PF-5-6-0.sql", "zz.sql"]
        );
    }
}
