//! One report file in, its datums and badblobs out (spec §5.1, §5.2, §5.4).
//!
//! Pure: bytes and names in, values out, no I/O; the autoclave stage writes the results
//! into clean cans, indexes and tables, and the conformance tests call it directly.

use crate::ids;
use crate::json;
use crate::normalize::{self, BridgeDb, Origin};
use crate::slice::{self, BlobReason, Piece};
use crate::value::{Map, Value};
use crate::yaml;

/// The two report formats (spec §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML 0.1.0: header document, one document per entry.
    Yaml,
    /// JSON 0.2.0: one object per line.
    Jsonl,
}

impl Format {
    /// The format a report file name implies (`.yaml`, else JSON lines).
    pub fn of_name(name: &str) -> Format {
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else {
            Format::Jsonl
        }
    }
}

/// One normalized measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    /// Offset of its frame or line in the report file.
    pub src_off: u64,
    /// Size of its frame or line (JSON: without `\n`).
    pub src_size: u64,
    /// §5.4 src_sha1.
    pub src_sha1: [u8; 20],
    /// The datum's `id`.
    pub id: String,
    /// measurement_uid: the collector's, or the derived legacy one.
    pub uid: String,
    /// The normalized line, without its `\n`.
    pub line: Vec<u8>,
}

/// Bytes that gave no datum.
#[derive(Debug, Clone, PartialEq)]
pub struct Badblob {
    /// Offset in the report file.
    pub src_off: u64,
    /// Size in bytes.
    pub src_size: u64,
    /// sha1 of the bytes.
    pub src_sha1: [u8; 20],
    /// Why.
    pub reason: BlobReason,
}

/// One event of a report, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A measurement.
    Datum(Datum),
    /// A badblob.
    Badblob(Badblob),
}

/// What a report file gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Autoclaved {
    /// YAML: the header frame's `(src_off, src_size)`.
    pub header: Option<(u64, u64)>,
    /// Datums and badblobs in file order.
    pub items: Vec<Item>,
    /// YAML entries that parsed to null.
    pub nulls: u64,
    /// Offset of a trailing `truncated`/`broken_frame` badblob.
    pub src_cutoff: Option<u64>,
}

impl Autoclaved {
    /// The datums, in order.
    pub fn datums(&self) -> impl Iterator<Item = &Datum> {
        self.items.iter().filter_map(|i| match i {
            Item::Datum(d) => Some(d),
            Item::Badblob(_) => None,
        })
    }

    /// Number of badblobs.
    pub fn badblob_count(&self) -> usize {
        self.items.iter().filter(|i| matches!(i, Item::Badblob(_))).count()
    }
}

/// Inputs of [`autoclave`] besides the bytes.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The bucket, `YYYY-MM-DD`.
    pub bucket: &'a str,
    /// The report file name (without the bucket).
    pub name: &'a str,
    /// `reports.bridge_db`.
    pub bridge_db: Option<&'a BridgeDb>,
}

/// Range of `bytes`, clamped (offsets come from the slicer, which stays within bounds).
fn part(bytes: &[u8], off: usize, len: usize) -> &[u8] {
    bytes.get(off..off.saturating_add(len)).unwrap_or(&[])
}

/// UTF-8 with invalid sequences dropped (`Reykjav\xedk` → `Reykjavk`, §5.2).
fn utf8_dropping_invalid(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
    }
    s
}

struct Run<'a> {
    bytes: &'a [u8],
    textname: String,
    src: Source<'a>,
    out: Autoclaved,
}

impl Run<'_> {
    fn blob(&mut self, off: usize, len: usize, reason: BlobReason) {
        let b = part(self.bytes, off, len);
        self.out.items.push(Item::Badblob(Badblob {
            src_off: off as u64,
            src_size: len as u64,
            src_sha1: ids::src_sha1(&[b]),
            reason,
        }));
    }

    /// Normalizes an entry map; pushes a datum or a `normalize_error` badblob.
    fn entry(&mut self, m: Map, off: usize, len: usize, sha: [u8; 20], raw_uid: Option<String>) {
        let origin = Origin {
            bucket: self.src.bucket,
            textname: &self.textname,
            src_sha1: &sha,
            bridge_db: self.src.bridge_db,
        };
        match normalize::normalize(m, &origin) {
            Ok(m) => {
                let id = m.get("id").map(Value::key_text).unwrap_or_default();
                let uid = raw_uid.unwrap_or_else(|| {
                    ids::legacy_measurement_uid(
                        part(self.bytes, off, len),
                        m.get("measurement_start_time").and_then(Value::as_str),
                    )
                });
                let mut line = Vec::with_capacity(len + 256);
                json::write(&mut line, &Value::Map(m));
                self.out.items.push(Item::Datum(Datum {
                    src_off: off as u64,
                    src_size: len as u64,
                    src_sha1: sha,
                    id,
                    uid,
                    line,
                }));
            }
            Err(reason) => self.blob(off, len, BlobReason::NormalizeError(reason)),
        }
    }

    fn yaml(&mut self) {
        let mut header: Option<(Map, ids::PrefixSha1)> = None;
        let mut bad_header = false;
        for (i, piece) in slice::yaml(self.bytes).into_iter().enumerate() {
            let (off, len) = match piece {
                Piece::Blob { off, len, reason } => {
                    self.blob(off, len, reason);
                    continue;
                }
                Piece::Frame { off, len } => (off, len),
            };
            let frame = part(self.bytes, off, len);
            let parsed = std::str::from_utf8(frame)
                .map_err(|e| e.to_string())
                .and_then(|t| yaml::load(t).map_err(|e| e.0));
            if header.is_none() && !bad_header {
                let _ = i;
                match parsed {
                    Ok(Value::Map(mut h)) => {
                        if !h.get("report_id").is_some_and(Value::truthy) {
                            h.insert("report_id".into(), Value::Str(ids::generated_report_id(&h)));
                        }
                        for v in h.values_mut() {
                            if let Value::Bytes(b) = v {
                                *v = Value::Str(utf8_dropping_invalid(b));
                            }
                        }
                        self.out.header = Some((off as u64, len as u64));
                        header = Some((h, ids::PrefixSha1::new(frame)));
                    }
                    _ => {
                        bad_header = true;
                        self.blob(off, len, BlobReason::BadHeader);
                    }
                }
                continue;
            }
            let Some((h, hsha)) = header.as_mut() else {
                self.blob(off, len, BlobReason::NoHeader);
                continue;
            };
            let sha = hsha.with(frame);
            match parsed {
                Err(_) => self.blob(off, len, BlobReason::YamlError),
                Ok(Value::Null) => self.out.nulls += 1,
                Ok(Value::Map(mut m)) => {
                    if m.contains_key("test_start_time") && h.contains_key("test_start_time") {
                        h.remove("test_start_time");
                    }
                    for (k, v) in h.iter() {
                        m.insert(k.clone(), v.clone());
                    }
                    self.entry(m, off, len, sha, None);
                }
                Ok(_) => {
                    self.blob(off, len, BlobReason::NormalizeError("entry is not a mapping".into()))
                }
            }
        }
    }

    fn jsonl(&mut self) {
        for piece in slice::jsonl(self.bytes) {
            let (off, len) = match piece {
                Piece::Blob { off, len, reason } => {
                    self.blob(off, len, reason);
                    continue;
                }
                Piece::Frame { off, len } => (off, len),
            };
            let line = part(self.bytes, off, len);
            match json::parse(line) {
                Ok(Value::Map(m)) => {
                    let uid = m.get("measurement_uid").and_then(Value::as_str).map(str::to_string);
                    self.entry(m, off, len, ids::src_sha1(&[line]), uid);
                }
                _ if slice::is_unterminated(self.bytes, off, len) => {
                    self.blob(off, len, BlobReason::Truncated)
                }
                _ => self.blob(off, len, BlobReason::JsonError),
            }
        }
    }
}

/// Slices, parses and normalizes one report file.
pub fn autoclave(bytes: &[u8], format: Format, src: Source<'_>) -> Autoclaved {
    let mut run = Run {
        bytes,
        textname: format!("{}/{}", src.bucket, src.name),
        src,
        out: Autoclaved::default(),
    };
    match format {
        Format::Yaml => run.yaml(),
        Format::Jsonl => run.jsonl(),
    }
    if let Some(Item::Badblob(b)) = run.out.items.last() {
        if matches!(b.reason, BlobReason::Truncated | BlobReason::BrokenFrame) {
            run.out.src_cutoff = Some(b.src_off);
        }
    }
    run.out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, format: Format) -> Autoclaved {
        autoclave(
            text.as_bytes(),
            format,
            Source { bucket: "2020-01-01", name: "r.yaml", bridge_db: None },
        )
    }

    #[test]
    fn bad_header_makes_every_entry_no_header() {
        let out = run("---\n[1\n...\n---\na: 1\n...\n", Format::Yaml);
        let reasons: Vec<String> = out
            .items
            .iter()
            .map(|i| match i {
                Item::Badblob(b) => b.reason.as_str().into_owned(),
                Item::Datum(_) => "datum".into(),
            })
            .collect();
        assert_eq!(reasons, ["bad_header", "no_header"]);
    }

    #[test]
    fn null_entries_are_counted_not_blobbed() {
        let out = run("---\ntest_name: x\n...\n---\nnull\n...\n---\na: 1\n...\n", Format::Yaml);
        assert_eq!((out.nulls, out.datums().count(), out.badblob_count()), (1, 1, 0));
    }

    #[test]
    fn json_lines_errors_and_truncation() {
        let out = run("{\"a\":1}\n[1]\n{bad}\n{\"b\":", Format::Jsonl);
        let infos: Vec<String> = out
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Badblob(b) => Some(b.reason.as_str().into_owned()),
                Item::Datum(_) => None,
            })
            .collect();
        assert_eq!(infos, ["broken_frame", "json_error", "truncated"]);
        assert_eq!(out.src_cutoff, Some(18));
    }

    #[test]
    fn header_test_start_time_yields_to_the_entrys() {
        let out = run(
            "---\nstart_time: 100.0\ntest_start_time: '1970-01-01 00:10:00'\ntest_name: x\n...\n---\ntest_start_time: 200.0\n...\n---\nk: 1\n...\n",
            Format::Yaml,
        );
        let lines: Vec<String> =
            out.datums().map(|d| String::from_utf8(d.line.clone()).unwrap()).collect();
        assert!(
            lines[0].contains(r#""measurement_start_time":"1970-01-01 00:03:20""#),
            "{}",
            lines[0]
        );
        // The header's test_start_time is gone for the rest of the report.
        assert!(lines[1].contains(r#""test_start_time":"1970-01-01 00:01:40""#), "{}", lines[1]);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    const SEED: &str = "# banner\n---\nprobe_cc: IT\nreport_id: r\nstart_time: 1.0\ntest_name: http_requests\n...\n---\ninput: x\nrequests:\n- request: {url: 'http://x', headers: [[A, [b]]]}\n  response: {body: !!binary AAE=, code: 200}\nheaders_diff: !!set {a}\n...\n---\nq: [1, 2\n...\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn no_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300), yaml in any::<bool>()) {
            let f = if yaml { Format::Yaml } else { Format::Jsonl };
            let out = autoclave(&bytes, f, Source { bucket: "2020-01-01", name: "x", bridge_db: None });
            // Every byte range reported lies inside the input.
            for item in &out.items {
                let (off, size) = match item {
                    Item::Datum(d) => (d.src_off, d.src_size),
                    Item::Badblob(b) => (b.src_off, b.src_size),
                };
                prop_assert!(off + size <= bytes.len() as u64);
            }
        }

        #[test]
        fn no_panic_on_mutated_reports(pos in 0usize..SEED.len(), byte in any::<u8>(), cut in 0usize..SEED.len()) {
            let mut b = SEED.as_bytes().to_vec();
            b[pos] = byte;
            b.truncate(cut.max(pos + 1));
            let out = autoclave(&b, Format::Yaml, Source { bucket: "2020-01-01", name: "x.yaml", bridge_db: None });
            prop_assert!(out.items.len() <= SEED.lines().count());
        }
    }
}
