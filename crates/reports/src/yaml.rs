//! YAML 0.1.0 documents into [`Value`]s, resolved as PyYAML's SafeLoader resolves them
//! (spec §3).
//!
//! yaml-rust2 supplies the syntax (events with their tags and scalar styles); the YAML 1.1
//! meaning is ours, because every YAML 1.2 loader resolves `yes`, `017`, `1:30` and bare
//! timestamps differently from the Python that wrote and read these reports. Tags: the
//! standard YAML 1.1 ones, `!!binary` → bytes, `!!python/unicode`/`!!python/str` → text,
//! `!!python/tuple` → list; any other tag is an error (a `yaml_error` badblob).

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine;
use regex::Regex;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::value::{Map, Value};

/// Why a YAML document could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(pub String);

/// Loads the first document of `text` (a frame `---\n … \n...\n`); an empty stream is null.
pub fn load(text: &str) -> Result<Value, YamlError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, false).map_err(|e| YamlError(e.to_string()))?;
    if let Some(e) = b.error {
        return Err(YamlError(e));
    }
    Ok(b.root.unwrap_or(Value::Null))
}

enum Open {
    Seq { anchor: usize, kind: SeqKind, items: Vec<Value> },
    Map { anchor: usize, kind: MapKind, pairs: Vec<(Value, Value)>, key: Option<Value> },
}

#[derive(Clone, Copy)]
enum SeqKind {
    List,
    /// `!!omap` / `!!pairs`: a sequence of one-pair maps, built as a list of pairs.
    Pairs,
}

#[derive(Clone, Copy)]
enum MapKind {
    Map,
    Set,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Value>,
    root: Option<Value>,
    error: Option<String>,
}

const STD: &str = "tag:yaml.org,2002:";

/// The tag's name: `binary` for `!!binary`, `!local` for a local tag, `""` for `!`.
fn tag_name(tag: &Tag) -> String {
    if tag.handle == STD || tag.handle == "!!" {
        tag.suffix.clone()
    } else if tag.handle == "!" {
        if tag.suffix.is_empty() {
            String::new()
        } else {
            format!("!{}", tag.suffix)
        }
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

impl Builder {
    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(msg);
        }
    }

    fn push_value(&mut self, v: Value, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(v);
                }
            }
            Some(Open::Seq { items, .. }) => items.push(v),
            Some(Open::Map { pairs, key, .. }) => match key.take() {
                None => *key = Some(v),
                Some(k) => pairs.push((k, v)),
            },
        }
    }

    fn scalar(
        &mut self,
        text: String,
        style: TScalarStyle,
        tag: Option<Tag>,
    ) -> Result<Value, String> {
        match tag.as_ref().map(tag_name) {
            None if style == TScalarStyle::Plain => Ok(resolve_plain(&text)),
            None => Ok(Value::Str(text)),
            Some(name) => match name.as_str() {
                "" | "str" | "python/unicode" | "python/str" => Ok(Value::Str(text)),
                "null" => Ok(Value::Null),
                "bool" => construct_bool(&text).ok_or_else(|| format!("bad !!bool {text:?}")),
                "int" => construct_int(&text).ok_or_else(|| format!("bad !!int {text:?}")),
                "float" => construct_float(&text).ok_or_else(|| format!("bad !!float {text:?}")),
                "timestamp" => {
                    construct_timestamp(&text).ok_or_else(|| format!("bad !!timestamp {text:?}"))
                }
                "binary" => decode_binary(&text).map(Value::Bytes),
                other => Err(format!("unsupported tag !!{other}")),
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, _mark: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => match self.scalar(text, style, tag) {
                Ok(v) => self.push_value(v, anchor),
                Err(e) => self.fail(e),
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(v) => self.push_value(v, 0),
                None => self.fail(format!("unknown alias {id}")),
            },
            Event::SequenceStart(anchor, tag) => {
                let kind = match tag.as_ref().map(tag_name).as_deref() {
                    None | Some("" | "seq" | "python/tuple") => SeqKind::List,
                    Some("omap" | "pairs") => SeqKind::Pairs,
                    Some(other) => {
                        self.fail(format!("unsupported tag !!{other}"));
                        return;
                    }
                };
                self.stack.push(Open::Seq { anchor, kind, items: Vec::new() });
            }
            Event::MappingStart(anchor, tag) => {
                let kind = match tag.as_ref().map(tag_name).as_deref() {
                    None | Some("" | "map") => MapKind::Map,
                    Some("set") => MapKind::Set,
                    Some(other) => {
                        self.fail(format!("unsupported tag !!{other}"));
                        return;
                    }
                };
                self.stack.push(Open::Map { anchor, kind, pairs: Vec::new(), key: None });
            }
            Event::SequenceEnd => match self.stack.pop() {
                Some(Open::Seq { anchor, kind, items }) => {
                    let v = match kind {
                        SeqKind::List => Value::List(items),
                        SeqKind::Pairs => Value::List(
                            items
                                .into_iter()
                                .map(|item| match item {
                                    Value::Map(m) => Value::List(
                                        m.into_iter()
                                            .flat_map(|(k, v)| [Value::Str(k), v])
                                            .collect(),
                                    ),
                                    other => other,
                                })
                                .collect(),
                        ),
                    };
                    self.push_value(v, anchor);
                }
                _ => self.fail("unbalanced sequence".into()),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Open::Map { anchor, kind, pairs, .. }) => {
                    let v = match kind {
                        MapKind::Set => Value::Set(pairs.into_iter().map(|(k, _)| k).collect()),
                        MapKind::Map => {
                            let mut m = Map::new();
                            let mut merged: Vec<Map> = Vec::new();
                            for (k, v) in pairs {
                                match (&k, v) {
                                    // SafeLoader's merge key: earlier explicit keys win.
                                    (Value::Str(s), Value::Map(src)) if s == "<<" => {
                                        merged.push(src)
                                    }
                                    (_, v) => {
                                        m.insert(k.key_text(), v);
                                    }
                                }
                            }
                            for src in merged {
                                for (k, v) in src {
                                    m.entry(k).or_insert(v);
                                }
                            }
                            Value::Map(m)
                        }
                    };
                    self.push_value(v, anchor);
                }
                _ => self.fail("unbalanced mapping".into()),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// `!!binary` content: base64 with whitespace (and other non-alphabet bytes) ignored, as
/// Python's `base64.decodebytes` reads it.
fn decode_binary(text: &str) -> Result<Vec<u8>, String> {
    let clean: Vec<u8> = text
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        .collect();
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(clean).map_err(|e| format!("bad !!binary: {e}"))
}

/// A plain scalar resolved by YAML 1.1's implicit resolvers, in PyYAML's order.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if let Some(b) = construct_bool(text) {
        return b;
    }
    let first = text.as_bytes().first().copied().unwrap_or(b' ');
    if matches!(first, b'-' | b'+' | b'0'..=b'9' | b'.') {
        if int_re().is_match(text) {
            if let Some(v) = construct_int(text) {
                return v;
            }
        }
        if float_re().is_match(text) {
            if let Some(v) = construct_float(text) {
                return v;
            }
        }
        if timestamp_re().is_match(text) {
            if let Some(v) = construct_timestamp(text) {
                return v;
            }
        }
    }
    Value::Str(text.to_string())
}

fn int_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
        )
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

fn float_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        )
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

fn timestamp_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$",
        )
        .unwrap_or_else(|e| unreachable!("static regex: {e}"))
    })
}

fn construct_bool(text: &str) -> Option<Value> {
    match text {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Some(Value::Bool(true))
        }
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Some(Value::Bool(false))
        }
        _ => None,
    }
}

fn split_sign(text: &str) -> (i128, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    }
}

/// PyYAML's `construct_yaml_int`: `_` ignored, `0b`, `0x`, leading-zero octal, base 60.
fn construct_int(text: &str) -> Option<Value> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
    let (sign, body) = split_sign(&cleaned);
    let n: i128 = if body == "0" {
        0
    } else if let Some(b) = body.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(h) = body.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if body.starts_with('0') {
        i128::from_str_radix(body, 8).ok()?
    } else if body.contains(':') {
        let mut n: i128 = 0;
        for part in body.split(':') {
            n = n.checked_mul(60)?.checked_add(part.parse::<i128>().ok()?)?;
        }
        n
    } else {
        return match body.parse::<i128>() {
            Ok(n) => Some(int_value(sign * n)),
            // Beyond 128 bits: Python keeps it exact; so does the number's text.
            Err(_) if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) => {
                Some(Value::Number(format!("{}{}", if sign < 0 { "-" } else { "" }, body)))
            }
            Err(_) => None,
        };
    };
    Some(int_value(sign * n))
}

fn int_value(n: i128) -> Value {
    match i64::try_from(n) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::Number(n.to_string()),
    }
}

/// PyYAML's `construct_yaml_float`.
fn construct_float(text: &str) -> Option<Value> {
    let cleaned: String = text.chars().filter(|&c| c != '_').collect::<String>().to_lowercase();
    let (sign, body) = split_sign(&cleaned);
    let sign = sign as f64;
    let f = if body == ".inf" {
        f64::INFINITY
    } else if body == ".nan" {
        f64::NAN
    } else if body.contains(':') {
        let mut n = 0.0;
        for part in body.split(':') {
            n = n * 60.0 + part.parse::<f64>().ok()?;
        }
        n
    } else {
        body.parse::<f64>().ok()?
    };
    Some(Value::Float(sign * f))
}

/// PyYAML's `construct_yaml_timestamp`, converted to UTC whole seconds.
fn construct_timestamp(text: &str) -> Option<Value> {
    use chrono::NaiveDate;
    let t = text.trim();
    // The date part may use one-digit month/day in the long form: split on the separator.
    let (date, rest) = match t.find(['T', 't', ' ', '\t']) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    };
    let mut parts = date.split('-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    let day = NaiveDate::from_ymd_opt(y, m, d)?;
    let rest = rest.trim_start_matches(['T', 't', ' ', '\t']);
    if rest.is_empty() {
        return Some(Value::Time(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp()));
    }
    // hh:mm:ss[.frac][ ][Z|±hh[:mm]]
    let tz_at = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (clock, tz) = rest.split_at(tz_at);
    let clock = clock.trim_end();
    let clock = clock.split('.').next()?;
    let mut c = clock.split(':');
    let hh: u32 = c.next()?.parse().ok()?;
    let mm: u32 = c.next()?.parse().ok()?;
    let ss: u32 = c.next()?.parse().ok()?;
    let mut secs = day.and_hms_opt(hh, mm, ss)?.and_utc().timestamp();
    if let Some(off) = tz.strip_prefix(['+', '-']) {
        let mut o = off.split(':');
        let oh: i64 = o.next()?.parse().ok()?;
        let om: i64 = o.next().map(|m| m.parse().ok()).unwrap_or(Some(0))?;
        let delta = oh * 3600 + om * 60;
        secs -= if tz.starts_with('-') { -delta } else { delta };
    }
    Some(Value::Time(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Value {
        load(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    #[test]
    fn yaml_1_1_scalars_resolve_as_safeloader() {
        let cases: &[(&str, Value)] = &[
            ("yes", Value::Bool(true)),
            ("Off", Value::Bool(false)),
            ("y", Value::Str("y".into())),
            ("n", Value::Str("n".into())),
            ("017", Value::Int(15)),
            ("1:30", Value::Int(90)),
            ("0x1f", Value::Int(31)),
            ("1_000", Value::Int(1000)),
            ("1.5", Value::Float(1.5)),
            ("1e5", Value::Str("1e5".into())),
            ("1.0e+5", Value::Float(100000.0)),
            ("0.2.4", Value::Str("0.2.4".into())),
            ("127.0.0.1", Value::Str("127.0.0.1".into())),
            ("~", Value::Null),
            ("2016-07-06", Value::Time(1467763200)),
            ("2001-12-14t21:59:43.10-05:00", Value::Time(1008385183)),
            ("2001-12-14 21:59:43.10 -5", Value::Time(1008385183)),
            ("2001-12-15 2:59:43.10", Value::Time(1008385183)),
            ("99999999999999999999", Value::Number("99999999999999999999".into())),
        ];
        for (text, want) in cases {
            assert_eq!(&resolve_plain(text), want, "{text}");
        }
        assert!(matches!(resolve_plain(".inf"), Value::Float(f) if f.is_infinite()));
        assert!(matches!(resolve_plain(".NaN"), Value::Float(f) if f.is_nan()));
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        assert_eq!(doc("a: '0.1'\nb: \"yes\"\n"), doc("a: !!str 0.1\nb: !!python/unicode yes\n"));
    }

    #[test]
    fn tags() {
        let v = doc("b: !!binary |\n  UmV5a2phdu1r\ns: !!set {a, b}\nt: !!python/tuple [1, 2]\n");
        let m = v.as_map().unwrap();
        assert_eq!(m["b"], Value::Bytes(b"Reykjav\xedk".to_vec()));
        assert_eq!(m["s"], Value::Set(vec![Value::Str("a".into()), Value::Str("b".into())]));
        assert_eq!(m["t"], Value::List(vec![Value::Int(1), Value::Int(2)]));
        assert!(load("a: !!python/object:foo.Bar {}\n").is_err());
        assert!(load("a: !custom 1\n").is_err());
    }

    #[test]
    fn non_string_keys_become_json_keys() {
        let v = doc("{1: a, true: b, 127.0.1.1: c, ~: d}");
        let keys: Vec<&String> = v.as_map().unwrap().keys().collect();
        assert_eq!(keys, ["1", "127.0.1.1", "null", "true"]);
    }

    #[test]
    fn anchors_aliases_and_merge() {
        let v = doc("a: &x {k: 1}\nb: *x\nc:\n  <<: *x\n  j: 2\n");
        let m = v.as_map().unwrap();
        assert_eq!(m["a"], m["b"]);
        assert_eq!(m["c"].as_map().unwrap().len(), 2);
    }

    #[test]
    fn frames_load_and_null_document() {
        assert_eq!(doc("---\nnull\n...\n"), Value::Null);
        assert!(load("---\na: [\n...\n").is_err());
    }
}
