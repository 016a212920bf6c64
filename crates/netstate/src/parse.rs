//! The flat-file parser (spec §2 "Dialect"): MySQL `LOAD DATA … FIELDS TERMINATED BY ','
//! OPTIONALLY ENCLOSED BY '"' LINES TERMINATED BY '\n'` with escape `\`, read as bytes.
//!
//! Records are split and validated one after the other, so the first error in the file
//! wins, whichever rule it breaks; a file is accepted whole or not at all. Every index
//! into the input is bounds-checked (`get`), so no byte sequence can panic the parser.

use std::collections::HashSet;

use crate::cell::Cell;
use crate::name::MAX_CREATED;
use crate::schema::{ColType, TableDef};

/// Why a file is rejected: the spec's reason codes (§2, §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Header without TYPE or CREATED_DT, duplicate or malformed names.
    BadHeader,
    /// Header names a column the table does not have.
    UnknownColumn,
    /// A record with another number of fields than the header.
    ColumnCount,
    /// TYPE is not O, C or `*`.
    BadType,
    /// An integer field that is not `-?[0-9]+`.
    BadNumber,
    /// An integer outside its type.
    OutOfRange,
    /// Text that is not UTF-8.
    BadUtf8,
    /// Text or bytes longer than the column allows.
    TooLong,
    /// A NULL where a value is required.
    NullRequired,
    /// Two records with the same ID.
    DuplicateId,
    /// A closing quote followed by something other than `,`, LF or CR LF.
    BadQuote,
    /// End of file inside a quoted field.
    UnterminatedQuote,
    /// The file does not end with LF.
    NoFinalNewline,
    /// The name is not `TABLE-FIRST-LAST-SERIAL.sql`.
    BadName,
    /// The name's table is not defined.
    UnknownTable,
    /// A file of this name was loaded before with other bytes.
    NameConflict,
}

impl Reason {
    /// The code printed and stored (`bad-quote`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadHeader => "bad-header",
            Reason::UnknownColumn => "unknown-column",
            Reason::ColumnCount => "column-count",
            Reason::BadType => "bad-type",
            Reason::BadNumber => "bad-number",
            Reason::OutOfRange => "out-of-range",
            Reason::BadUtf8 => "bad-utf8",
            Reason::TooLong => "too-long",
            Reason::NullRequired => "null-required",
            Reason::DuplicateId => "duplicate-id",
            Reason::BadQuote => "bad-quote",
            Reason::UnterminatedQuote => "unterminated-quote",
            Reason::NoFinalNewline => "no-final-newline",
            Reason::BadName => "bad-name",
            Reason::UnknownTable => "unknown-table",
            Reason::NameConflict => "name-conflict",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected file's place and reason (the file is named by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Physical line where the offending record starts (header = 1).
    pub line: u64,
    /// The reason code.
    pub reason: Reason,
    /// What was wrong, for people.
    pub detail: String,
}

/// A line's TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineType {
    /// O: opens a row.
    Open,
    /// C: closes the matching open rows.
    Close,
    /// `*`: closes every open row of the source.
    CloseAll,
}

impl LineType {
    /// The letter as in the files.
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Open => "O",
            LineType::Close => "C",
            LineType::CloseAll => "*",
        }
    }
}

/// One validated record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// TYPE.
    pub ty: LineType,
    /// CREATED_DT, µs.
    pub created: i64,
    /// ID when the header has it, else the line number: orders equal CREATED_DT.
    pub ikey: u64,
    /// Physical line of the record's start.
    pub line: u64,
    /// One cell per table column, in definition order (NULL when absent from the header).
    pub cells: Vec<Cell>,
}

/// A field as split: `None` is SQL NULL, else the unescaped bytes and whether quoted.
type Field = Option<(Vec<u8>, bool)>;

fn escape(b: u8) -> u8 {
    match b {
        b'0' => 0,
        b'b' => 8,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'Z' => 0x1a,
        other => other,
    }
}

/// One split field: its unescaped bytes are `buf[start..end]` of the [`Splitter`].
#[derive(Debug, Clone, Copy)]
struct FieldRef {
    start: usize,
    end: usize,
    quoted: bool,
    null: bool,
}

/// Splits records one at a time, counting physical lines. The current record's fields
/// are ranges into one reused buffer, so splitting allocates nothing per field.
struct Splitter<'a> {
    data: &'a [u8],
    pos: usize,
    line: u64,
    buf: Vec<u8>,
    fields: Vec<FieldRef>,
}

enum End {
    Field,
    Record,
}

fn fail(line: u64, reason: Reason, detail: &str) -> ParseError {
    ParseError { line, reason, detail: detail.to_string() }
}

impl<'a> Splitter<'a> {
    /// Splits the next record into `self.fields`; returns its first line, `None` at the
    /// end of the data.
    fn next_record(&mut self) -> Option<Result<u64, ParseError>> {
        if self.pos >= self.data.len() {
            return None;
        }
        let start = self.line;
        self.buf.clear();
        self.fields.clear();
        loop {
            match self.field(start) {
                Ok(End::Field) => {}
                Ok(End::Record) => return Some(Ok(start)),
                Err(e) => return Some(Err(e)),
            }
        }
    }

    /// The current record's fields in the owned form (the header only).
    fn owned(&self) -> Vec<Field> {
        self.fields.iter().map(|f| (!f.null).then(|| (self.bytes(f).to_vec(), f.quoted))).collect()
    }

    fn bytes(&self, f: &FieldRef) -> &[u8] {
        self.buf.get(f.start..f.end).unwrap_or_default()
    }

    fn field(&mut self, start: u64) -> Result<End, ParseError> {
        let d = self.data;
        // Only the raw form's length and whether it began with `\N` are needed (to tell
        // NULL from text), so the raw bytes are not copied.
        let mut raw_len = 0usize;
        let mut starts_escaped_n = false;
        let first = self.buf.len();
        let val = &mut self.buf;
        let quoted = d.get(self.pos) == Some(&b'"');
        let end;
        if quoted {
            self.pos += 1;
            loop {
                let Some(&c) = d.get(self.pos) else {
                    return Err(fail(
                        start,
                        Reason::UnterminatedQuote,
                        "end of file inside quotes",
                    ));
                };
                if c == b'\\' {
                    let Some(&e) = d.get(self.pos + 1) else {
                        return Err(fail(
                            start,
                            Reason::UnterminatedQuote,
                            "end of file inside quotes",
                        ));
                    };
                    if e == b'\n' {
                        self.line += 1;
                    }
                    starts_escaped_n |= raw_len == 0 && e == b'N';
                    raw_len += 2;
                    val.push(escape(e));
                    self.pos += 2;
                } else if c == b'"' {
                    match d.get(self.pos + 1) {
                        Some(b'"') => {
                            raw_len += 2;
                            val.push(b'"');
                            self.pos += 2;
                        }
                        Some(b',') => {
                            self.pos += 2;
                            end = End::Field;
                            break;
                        }
                        Some(b'\n') => {
                            self.pos += 2;
                            self.line += 1;
                            end = End::Record;
                            break;
                        }
                        Some(b'\r') if d.get(self.pos + 2) == Some(&b'\n') => {
                            self.pos += 3;
                            self.line += 1;
                            end = End::Record;
                            break;
                        }
                        None => {
                            return Err(fail(
                                start,
                                Reason::NoFinalNewline,
                                "the file does not end with LF",
                            ))
                        }
                        Some(other) => {
                            return Err(fail(
                                start,
                                Reason::BadQuote,
                                &format!("byte 0x{other:02x} after a closing quote"),
                            ))
                        }
                    }
                } else {
                    if c == b'\n' {
                        self.line += 1;
                    }
                    raw_len += 1;
                    val.push(c);
                    self.pos += 1;
                }
            }
        } else {
            let mut last_raw_cr = false;
            loop {
                // Plain bytes up to the next byte with a meaning are copied as one run.
                let rest = d.get(self.pos..).unwrap_or_default();
                let run = rest
                    .iter()
                    .position(|&c| matches!(c, b',' | b'\n' | b'\\'))
                    .unwrap_or(rest.len());
                if run > 0 {
                    let plain = rest.get(..run).unwrap_or_default();
                    val.extend_from_slice(plain);
                    raw_len += run;
                    last_raw_cr = plain.last() == Some(&b'\r');
                    self.pos += run;
                }
                let Some(&c) = d.get(self.pos) else {
                    return Err(fail(
                        start,
                        Reason::NoFinalNewline,
                        "the file does not end with LF",
                    ));
                };
                match c {
                    b'\\' => {
                        let Some(&e) = d.get(self.pos + 1) else {
                            return Err(fail(
                                start,
                                Reason::NoFinalNewline,
                                "the file does not end with LF",
                            ));
                        };
                        if e == b'\n' {
                            self.line += 1;
                        }
                        starts_escaped_n |= raw_len == 0 && e == b'N';
                        raw_len += 2;
                        val.push(escape(e));
                        self.pos += 2;
                        last_raw_cr = false;
                    }
                    b',' => {
                        self.pos += 1;
                        end = End::Field;
                        break;
                    }
                    _ => {
                        // LF: the only other byte the run stops at.
                        self.pos += 1;
                        self.line += 1;
                        if last_raw_cr {
                            val.pop();
                            raw_len -= 1;
                        }
                        end = End::Record;
                        break;
                    }
                }
            }
        }
        let text = val.get(first..).unwrap_or_default();
        let null =
            (raw_len == 2 && starts_escaped_n) || (!quoted && raw_len == 4 && text == b"NULL");
        let end_at = val.len();
        self.fields.push(FieldRef { start: first, end: end_at, quoted, null });
        Ok(end)
    }
}

/// The IDs of a file so far, to refuse a duplicate. Writers number lines in order, so
/// while IDs only increase no set is needed; the first one that does not starts a set
/// of every ID seen.
#[derive(Default)]
struct SeenIds {
    all: Vec<u64>,
    set: Option<HashSet<u64, foldhash::fast::FixedState>>,
}

impl SeenIds {
    /// False when `id` was seen before.
    fn insert(&mut self, id: u64) -> bool {
        if let Some(set) = &mut self.set {
            return set.insert(id);
        }
        if self.all.last().is_none_or(|&last| id > last) {
            self.all.push(id);
            return true;
        }
        let mut set: HashSet<u64, foldhash::fast::FixedState> = self.all.drain(..).collect();
        let fresh = set.insert(id);
        self.set = Some(set);
        fresh
    }
}

/// Converts one non-NULL field to a cell of type `ty`.
pub fn convert(bytes: &[u8], ty: ColType) -> Result<Cell, (Reason, String)> {
    match ty {
        ColType::Text(limit) => {
            let s = std::str::from_utf8(bytes)
                .map_err(|e| (Reason::BadUtf8, format!("not UTF-8: {e}")))?;
            let n = s.chars().count();
            if n > limit {
                return Err((Reason::TooLong, format!("{n} characters, at most {limit}")));
            }
            Ok(Cell::Text(s.to_string()))
        }
        ColType::Bytes(limit) => {
            if bytes.len() > limit {
                return Err((Reason::TooLong, format!("{} bytes, at most {limit}", bytes.len())));
            }
            Ok(Cell::Bytes(bytes.to_vec()))
        }
        _ => {
            let body = bytes.strip_prefix(b"-").unwrap_or(bytes);
            if body.is_empty() || !body.iter().all(u8::is_ascii_digit) {
                let shown = String::from_utf8_lossy(bytes);
                return Err((Reason::BadNumber, format!("{shown:?} is not an integer")));
            }
            let shown = || String::from_utf8_lossy(bytes).into_owned();
            if ty.unsigned() && bytes.first() == Some(&b'-') {
                return Err((
                    Reason::OutOfRange,
                    format!("{} is negative for an unsigned column", shown()),
                ));
            }
            let (lo, hi) = ty.int_range().unwrap_or((0, 0));
            let mut v: i128 = if body.len() <= 18 {
                // At most 18 digits: below 10^18, so no overflow check is needed.
                i128::from(body.iter().fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0')))
            } else {
                // Digits accumulate in i128; beyond 39 digits it cannot be in any range.
                let mut v: i128 = 0;
                for &d in body {
                    v = v
                        .checked_mul(10)
                        .and_then(|x| x.checked_add(i128::from(d - b'0')))
                        .ok_or_else(|| {
                            (Reason::OutOfRange, format!("{} is out of range", shown()))
                        })?;
                }
                v
            };
            if bytes.first() == Some(&b'-') {
                v = -v;
            }
            if v < lo || v > hi {
                return Err((Reason::OutOfRange, format!("{} is outside [{lo}, {hi}]", shown())));
            }
            // In range of the type, so within i64 or u64; u64 is stored bit-cast.
            let stored = if v > i128::from(i64::MAX) { (v as u64) as i64 } else { v as i64 };
            Ok(Cell::Int(stored))
        }
    }
}

/// A header column: one of the reserved ones, or a table column by index.
#[derive(Debug, Clone, Copy)]
enum HeaderCol {
    Id,
    Type,
    Created,
    Col(usize),
}

fn valid_column_name(name: &[u8]) -> bool {
    matches!(name.first(), Some(b) if b.is_ascii_alphabetic() || *b == b'_')
        && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

fn parse_header(fields: &[Field], def: &TableDef) -> Result<Vec<HeaderCol>, ParseError> {
    let bad = |reason: Reason, detail: String| ParseError { line: 1, reason, detail };
    let mut names = Vec::with_capacity(fields.len());
    for f in fields {
        match f {
            Some((bytes, false)) if valid_column_name(bytes) => {
                names.push(String::from_utf8_lossy(bytes).to_ascii_uppercase())
            }
            _ => {
                return Err(bad(
                    Reason::BadHeader,
                    "a header field is not a plain column name".into(),
                ))
            }
        }
    }
    let unique: HashSet<&String> = names.iter().collect();
    if unique.len() != names.len() {
        return Err(bad(Reason::BadHeader, "a column is named twice".into()));
    }
    if !names.iter().any(|n| n == "TYPE") || !names.iter().any(|n| n == "CREATED_DT") {
        return Err(bad(Reason::BadHeader, "the header needs TYPE and CREATED_DT".into()));
    }
    names
        .iter()
        .map(|n| match n.as_str() {
            "ID" => Ok(HeaderCol::Id),
            "TYPE" => Ok(HeaderCol::Type),
            "CREATED_DT" => Ok(HeaderCol::Created),
            other => def.column(other).map(|(i, _)| HeaderCol::Col(i)).ok_or_else(|| {
                bad(Reason::UnknownColumn, format!("{} has no column {other}", def.name))
            }),
        })
        .collect()
}

/// Parses and validates a whole file of table `def`.
pub fn parse_file(data: &[u8], def: &TableDef) -> Result<Vec<Line>, ParseError> {
    let mut split = Splitter { data, pos: 0, line: 1, buf: Vec::new(), fields: Vec::new() };
    let header = match split.next_record() {
        None => {
            return Err(ParseError {
                line: 1,
                reason: Reason::BadHeader,
                detail: "no header".into(),
            })
        }
        Some(r) => {
            r?;
            split.owned()
        }
    };
    let cols = parse_header(&header, def)?;
    let has_id = cols.iter().any(|c| matches!(c, HeaderCol::Id));
    let mut ids = SeenIds::default();
    // Lines are at least ~2 bytes each; real files' are ~100: reserve for that.
    let mut lines = Vec::with_capacity(data.len() / 64);
    while let Some(rec) = split.next_record() {
        let line = rec?;
        let fields = split.fields.iter().map(|f| (!f.null).then(|| split.bytes(f)));
        let fail = |reason: Reason, detail: String| ParseError { line, reason, detail };
        if fields.len() != cols.len() {
            return Err(fail(
                Reason::ColumnCount,
                format!("{} fields, the header has {}", fields.len(), cols.len()),
            ));
        }
        let ty = cols
            .iter()
            .zip(fields.clone())
            .find(|(c, _)| matches!(c, HeaderCol::Type))
            .and_then(|(_, f)| f)
            .and_then(|b| match b {
                b"O" => Some(LineType::Open),
                b"C" => Some(LineType::Close),
                b"*" => Some(LineType::CloseAll),
                _ => None,
            })
            .ok_or_else(|| fail(Reason::BadType, "TYPE must be O, C or *".into()))?;
        let mut cells = vec![Cell::Null; def.columns.len()];
        let mut created = None;
        let mut id = None;
        for (col, field) in cols.iter().zip(fields) {
            match col {
                HeaderCol::Type => {}
                HeaderCol::Created | HeaderCol::Id => {
                    let Some(bytes) = field else {
                        return Err(fail(
                            Reason::NullRequired,
                            "CREATED_DT and ID may not be NULL".into(),
                        ));
                    };
                    let ty = if matches!(col, HeaderCol::Id) { ColType::U64 } else { ColType::I64 };
                    let Cell::Int(v) = convert(bytes, ty).map_err(|(r, d)| fail(r, d))? else {
                        return Err(fail(Reason::BadNumber, "not an integer".into()));
                    };
                    if matches!(col, HeaderCol::Id) {
                        id = Some(v as u64); // bit-cast back: stored so by convert
                    } else {
                        if !(0..=MAX_CREATED).contains(&v) {
                            return Err(fail(
                                Reason::OutOfRange,
                                format!("CREATED_DT {v} outside [0, 2^63-2]"),
                            ));
                        }
                        created = Some(v);
                    }
                }
                HeaderCol::Col(i) => {
                    let c = &def.columns[*i];
                    cells[*i] = match field {
                        None if ty == LineType::Open && c.required => {
                            return Err(fail(
                                Reason::NullRequired,
                                format!("{} is required in O rows", c.name),
                            ))
                        }
                        None => Cell::Null,
                        Some(bytes) => convert(bytes, c.ty)
                            .map_err(|(r, d)| fail(r, format!("{}: {d}", c.name)))?,
                    };
                }
            }
        }
        if ty == LineType::Open {
            if let Some(c) = def.columns.iter().zip(&cells).find(|(c, v)| c.required && v.is_null())
            {
                return Err(fail(
                    Reason::NullRequired,
                    format!("{} is required in O rows", c.0.name),
                ));
            }
        }
        if let Some(id) = id {
            if !ids.insert(id) {
                return Err(fail(Reason::DuplicateId, format!("ID {id} appears twice")));
            }
        }
        let created = created.ok_or_else(|| fail(Reason::NullRequired, "no CREATED_DT".into()))?;
        lines.push(Line {
            ty,
            created,
            ikey: if has_id { id.unwrap_or(line) } else { line },
            line,
            cells,
        });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin;

    fn learning(body: &str) -> Result<Vec<Line>, ParseError> {
        parse_file(body.as_bytes(), &builtin("LEARNING").unwrap())
    }

    fn err(body: &[u8], table: &str) -> (u64, Reason) {
        let e = parse_file(body, &builtin(table).unwrap()).unwrap_err();
        (e.line, e.reason)
    }

    #[test]
    fn quoting_escapes_and_nulls() {
        let pf = builtin("PF").unwrap();
        let body = b"ID,TYPE,CREATED_DT,MAC,IP,P0F_OS,P0F_DESCR,PF_OS\n\
            1,O,5,1,2,\"Li,\nnux\",\"say \"\"hi\"\"\",\"NULL\"\n\
            2,O,6,1,2,NULL,\\N,\"a\\\"b\\tc\\\\\"\n";
        let lines = parse_file(body, &pf).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, 2);
        assert_eq!(lines[1].line, 4);
        assert_eq!(lines[0].cells[2], Cell::Text("Li,\nnux".into()));
        assert_eq!(lines[0].cells[3], Cell::Text("say \"hi\"".into()));
        assert_eq!(lines[0].cells[7], Cell::Text("NULL".into()));
        assert_eq!(lines[1].cells[2], Cell::Null);
        assert_eq!(lines[1].cells[3], Cell::Null);
        assert_eq!(lines[1].cells[7], Cell::Text("a\"b\tc\\".into()));
    }

    #[test]
    fn bytes_escapes_all_decode() {
        let fs = builtin("FLOW_SETUP").unwrap();
        let body = b"TYPE,CREATED_DT,DP_ID,PORT_ID,REASON,BUFFER\nO,1,1,1,0,\"\\0\\b\\n\\r\\t\\Z\\@,\x01\"\n";
        let lines = parse_file(body, &fs).unwrap();
        assert_eq!(lines[0].cells[3], Cell::Bytes(vec![0, 8, 10, 13, 9, 0x1a, b'@', b',', 1]));
    }

    #[test]
    fn crlf_is_dropped_and_ids_order() {
        let l = learning(
            "ID,TYPE,CREATED_DT,SWITCH_ID,MAC,PORT_ID\r\n9,O,1,1,2,\"3\"\r\n4,C,2,1,2,\\N\r\n",
        )
        .unwrap();
        assert_eq!((l[0].ikey, l[1].ikey), (9, 4));
        assert_eq!(l[0].cells[2], Cell::Int(3));
        let l = learning("TYPE,CREATED_DT,SWITCH_ID,MAC,PORT_ID\n*,1,\\N,\\N,\\N\n").unwrap();
        assert_eq!((l[0].ty, l[0].ikey), (LineType::CloseAll, 2));
    }

    #[test]
    fn every_reason_with_its_line() {
        let h = "ID,TYPE,CREATED_DT,SWITCH_ID,MAC,PORT_ID\n";
        let cases: Vec<(String, &str, (u64, Reason))> = vec![
            (format!("{h}1,O,1,1,2,3\n2,O,1,1,2\n"), "LEARNING", (3, Reason::ColumnCount)),
            (format!("{h}1,O,1,1,2,4x\n"), "LEARNING", (2, Reason::BadNumber)),
            (format!("{h}1,O,1,1,2,\n"), "LEARNING", (2, Reason::BadNumber)),
            (format!("{h}1,O,1,1,2,3\n2,X,1,1,2,3\n"), "LEARNING", (3, Reason::BadType)),
            (format!("{h}1,O,1,1,2,3\n2,O,1,1,2,3"), "LEARNING", (3, Reason::NoFinalNewline)),
            ("ID,TYPE,CREATED_DT,VLAN\n".to_string(), "LEARNING", (1, Reason::UnknownColumn)),
            ("ID,TYPE,SWITCH_ID\n".to_string(), "LEARNING", (1, Reason::BadHeader)),
            ("ID,TYPE,type,CREATED_DT\n".to_string(), "LEARNING", (1, Reason::BadHeader)),
            (format!("{h}1,O,1,1,2,3\n1,O,1,1,2,3\n"), "LEARNING", (3, Reason::DuplicateId)),
            (format!("{h}1,O,1,1,2,70000\n"), "LEARNING", (2, Reason::OutOfRange)),
            (format!("{h}1,O,1,-1,2,7\n"), "LEARNING", (2, Reason::OutOfRange)),
            (format!("{h}1,O,9223372036854775807,1,2,7\n"), "LEARNING", (2, Reason::OutOfRange)),
            (format!("{h}1,O,1,1,\\N,7\n"), "LEARNING", (2, Reason::NullRequired)),
            (format!("{h}\\N,O,1,1,1,7\n"), "LEARNING", (2, Reason::NullRequired)),
            (
                "TYPE,CREATED_DT,SWITCH_ID,MAC\nO,1,1,1\n".to_string(),
                "LEARNING",
                (2, Reason::NullRequired),
            ),
            (
                "TYPE,CREATED_DT,MAC,IP,P0F_OS\nO,1,1,2,\"Lin\"ux\n".to_string(),
                "PF",
                (2, Reason::BadQuote),
            ),
            (
                "TYPE,CREATED_DT,MAC,IP,P0F_OS\nO,1,1,2,\"Linux\n".to_string(),
                "PF",
                (2, Reason::UnterminatedQuote),
            ),
            (
                format!("TYPE,CREATED_DT,MAC,IP,P0F_OS\nO,1,1,2,{}\n", "x".repeat(1025)),
                "PF",
                (2, Reason::TooLong),
            ),
        ];
        for (body, table, want) in cases {
            assert_eq!(err(body.as_bytes(), table), want, "{body:?}");
        }
        let mut utf = b"TYPE,CREATED_DT,MAC,IP,P0F_OS\nO,1,1,2,ok\nO,1,1,2,\xff\n".to_vec();
        assert_eq!(err(&utf, "PF"), (3, Reason::BadUtf8));
        utf.clear();
        assert_eq!(err(&utf, "PF"), (1, Reason::BadHeader));
    }

    #[test]
    fn no_bytes_panic_the_parser() {
        let def = builtin("PF").unwrap();
        let seed =
            b"ID,TYPE,CREATED_DT,MAC,IP,P0F_OS\n1,O,1,1,2,\"a\\\"\"\n2,C,\\N,NULL,\"\",x\r\n";
        for n in 0..seed.len() {
            let _ = parse_file(&seed[..n], &def);
            let mut flipped = seed.to_vec();
            flipped[n] ^= 0x55;
            let _ = parse_file(&flipped, &def);
        }
    }
}
