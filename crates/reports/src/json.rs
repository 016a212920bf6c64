//! JSON in and out for report lines (spec §3 JSON 0.2.0, §5.3 rule 19).
//!
//! The reader keeps every number's source text ([`Value::Number`]), accepts Python's
//! `NaN`/`Infinity` extensions (rule 18 writes them as `null`), and bounds nesting so that
//! hostile input cannot overflow the stack. The writer is the one canonical form: compact,
//! keys in byte order, only `"`, `\` and U+0000–U+001F escaped, non-ASCII raw, floats in
//! Rust's shortest round-trip form (what serde_json writes for an `f64`).

use base64::Engine;

use crate::value::{sort_order, Map, Value};

/// Deepest nesting accepted; deeper input is a `json_error`, not a stack overflow.
const MAX_DEPTH: usize = 256;

/// Why a line is not JSON, with the byte offset inside the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("offset {offset}: {message}")]
pub struct JsonError {
    /// Byte offset in the parsed text.
    pub offset: usize,
    /// What was wrong.
    pub message: &'static str,
}

/// Parses one JSON document (surrounding whitespace allowed).
pub fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut p = Parser { b: bytes, i: 0 };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.i != bytes.len() {
        return Err(p.err("trailing characters"));
    }
    Ok(v)
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn err(&self, message: &'static str) -> JsonError {
        JsonError { offset: self.i, message }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, word: &[u8]) -> bool {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek() {
            None => Err(self.err("unexpected end")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't') if self.eat(b"true") => Ok(Value::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Value::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Value::Null),
            Some(b'N') if self.eat(b"NaN") => Ok(Value::Float(f64::NAN)),
            Some(b'I') if self.eat(b"Infinity") => Ok(Value::Float(f64::INFINITY)),
            Some(b'-') if self.eat(b"-Infinity") => Ok(Value::Float(f64::NEG_INFINITY)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.err("unexpected character")),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.i += 1;
        let mut map = Map::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Map(map));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.err("expected a string key"));
            }
            let key = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':'"));
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1)?;
            map.insert(key, v); // duplicate keys: the last wins, as in Python
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Value::Map(map));
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::List(items));
        }
        loop {
            self.ws();
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::List(items));
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while let Some(b'0'..=b'9') = p.peek() {
                p.i += 1;
            }
            p.i - s
        };
        if digits(self) == 0 {
            return Err(self.err("bad number"));
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return Err(self.err("bad number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if digits(self) == 0 {
                return Err(self.err("bad number"));
            }
        }
        // ASCII by construction: every byte taken above is a digit, sign, '.' or 'e'.
        let text = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
        Ok(Value::Number(text))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut n = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err("bad \\u escape")),
            };
            n = n * 16 + u32::from(d);
            self.i += 1;
        }
        Ok(n)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let start = self.i;
            let rest = &self.b[start.min(self.b.len())..];
            self.i = start + memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
            out.extend_from_slice(&self.b[start..self.i]);
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| self.err("invalid UTF-8"));
                }
                Some(_) => {
                    self.i += 1;
                    let esc = self.peek().ok_or_else(|| self.err("unterminated string"))?;
                    self.i += 1;
                    let c = match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) && self.eat(b"\\u") {
                                let save = self.i;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    char::from_u32(cp).unwrap_or('\u{FFFD}')
                                } else {
                                    // A lone high surrogate: replaced; the next escape is read again.
                                    self.i = save - 2;
                                    '\u{FFFD}'
                                }
                            } else {
                                char::from_u32(hi).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return Err(self.err("bad escape")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
}

/// Appends the canonical JSON text of `v` to `out` (rule 19).
pub fn write(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(t) => out.extend_from_slice(t.as_bytes()),
        Value::Float(f) => write_float(out, *f),
        Value::Str(s) => write_str(out, s),
        Value::Bytes(b) => match std::str::from_utf8(b) {
            Ok(s) => write_str(out, s),
            Err(_) => write(out, &base64_object(b)),
        },
        Value::List(items) => write_list(out, items.iter()),
        Value::Set(items) => {
            let mut sorted: Vec<&Value> = items.iter().collect();
            sorted.sort_by(|a, b| sort_order(a, b));
            write_list(out, sorted.into_iter());
        }
        Value::Map(m) => {
            out.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write(out, v);
            }
            out.push(b'}');
        }
        Value::Time(secs) => write_str(out, &crate::normalize::times::format_secs(*secs)),
    }
}

fn write_list<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a Value>) {
    out.push(b'[');
    for (i, v) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write(out, v);
    }
    out.push(b']');
}

/// A float as serde_json writes an `f64` (shortest round trip); non-finite → null.
pub fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        // serde_json's own float formatting, so that the spec's reference is exact.
        if serde_json::to_writer(&mut *out, &f).is_err() {
            out.extend_from_slice(b"null");
        }
    } else {
        out.extend_from_slice(b"null");
    }
}

/// A JSON string with only `"`, `\` and control characters escaped.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        i += plain_prefix(&bytes[i..]);
        let Some(&c) = bytes.get(i) else { break };
        let at = i;
        i += 1;
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..at]);
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
                start = i;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..at]);
        out.extend_from_slice(esc);
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// How many leading bytes of `b` need no escape (not `"`, `\\`, or below 0x20): eight at a
/// time while no byte of a word is a candidate (strings are mostly plain).
#[inline]
fn plain_prefix(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut i = 0;
    while let Some(w) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        // Any byte < 0x20, == '"' or == '\\' (exact: a zero test per class).
        let low = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        if low | has_zero(w ^ (ONES * 0x22)) | has_zero(w ^ (ONES * 0x5c)) != 0 {
            break;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c < 0x20 || c == b'"' || c == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

/// `{"data": <base64>, "format": "base64"}`, OONI's form for bytes that are not text.
pub fn base64_object(bytes: &[u8]) -> Value {
    let mut m = Map::new();
    m.insert("data".into(), Value::Str(base64::engine::general_purpose::STANDARD.encode(bytes)));
    m.insert("format".into(), Value::Str("base64".into()));
    Value::Map(m)
}

/// The canonical text of a value as a `String`.
pub fn to_string(v: &Value) -> String {
    let mut out = Vec::new();
    write(&mut out, v);
    // The writer emits only UTF-8: strings are `String`s, bytes are checked or base64'd.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(text: &str) -> String {
        to_string(&parse(text.as_bytes()).unwrap())
    }

    #[test]
    fn numbers_keep_their_source_text() {
        assert_eq!(round(r#"{"b": 1.50, "a": 1e400, "c": -0}"#), r#"{"a":1e400,"b":1.50,"c":-0}"#);
    }

    #[test]
    fn keys_are_sorted_by_bytes_and_non_ascii_stays_raw() {
        assert_eq!(
            round(r#"{"é":"\u00e9","Z":1,"a":"\u001f\/"}"#),
            "{\"Z\":1,\"a\":\"\\u001f/\",\"é\":\"é\"}"
        );
    }

    #[test]
    fn surrogate_pairs_and_lone_surrogates() {
        assert_eq!(round(r#""\ud83d\ude00""#), "\"😀\"");
        assert_eq!(round(r#""\ud83dx""#), "\"\u{FFFD}x\"");
    }

    #[test]
    fn nan_and_infinity_become_null() {
        assert_eq!(round("[NaN, Infinity, -Infinity]"), "[null,null,null]");
    }

    #[test]
    fn floats_as_serde_json_writes_them() {
        for f in [1.0, 0.5647940635681152, 1e20, 1.5e-7, 0.8] {
            let mut out = Vec::new();
            write_float(&mut out, f);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&f).unwrap());
        }
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in ["{", "{foobar}", "[1,]", "\"abc", "01x", "{\"a\" 1}", "-", "1.", "\"\\u12\""] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = "[".repeat(10_000);
        assert!(parse(deep.as_bytes()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = parse(&bytes);
        }
    }

    proptest::proptest! {
        #[test]
        fn strings_escape_as_rule_19_says(text in "(?s)[a-z\"\\\\\u{0}-\u{1f}\u{e9}\u{4e2d} ]{0,40}") {
            let mut want = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => want.push_str("\\\""),
                    '\\' => want.push_str("\\\\"),
                    '\n' => want.push_str("\\n"),
                    '\r' => want.push_str("\\r"),
                    '\t' => want.push_str("\\t"),
                    '\u{8}' => want.push_str("\\b"),
                    '\u{c}' => want.push_str("\\f"),
                    c if (c as u32) < 0x20 => want.push_str(&format!("\\u{:04x}", c as u32)),
                    c => want.push(c),
                }
            }
            want.push('"');
            let mut out = Vec::new();
            write_str(&mut out, &text);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), want.clone());
            // Parsed back to the same text.
            let back = parse(want.as_bytes()).unwrap();
            proptest::prop_assert_eq!(back, Value::Str(text));
        }
    }
}
