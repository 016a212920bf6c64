//! The value tree a report entry is parsed into and normalized in.
//!
//! One type serves both formats: JSON 0.2.0 lines (whose numbers must be written back with
//! their source text, spec §5.3 rule 19) and YAML 0.1.0 documents (which add bytes, sets,
//! timestamps and non-finite floats). Maps are `BTreeMap<String, _>`, so iteration order is
//! byte order of the keys, which is exactly the output order rule 19 asks for. serde_json's
//! `Value` is not used because keeping number text would need `arbitrary_precision`, a
//! feature that would leak into every crate of the workspace.

use std::cmp::Ordering;
use std::collections::BTreeMap;

/// A map of a normalized measurement: keys in byte order.
pub type Map = BTreeMap<String, Value>;

/// One node of a parsed report entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, YAML `~`.
    Null,
    /// A boolean (YAML 1.1 forms resolved).
    Bool(bool),
    /// An integer that fits 64 bits.
    Int(i64),
    /// A number kept as its source text (JSON input, or a YAML integer beyond 64 bits).
    Number(String),
    /// A float (YAML); NaN and infinities are written as `null` (rule 18).
    Float(f64),
    /// Text.
    Str(String),
    /// Raw bytes (YAML `!!binary`); written as text when UTF-8, else a base64 object.
    Bytes(Vec<u8>),
    /// A sequence.
    List(Vec<Value>),
    /// A YAML `!!set`: written as a sorted list.
    Set(Vec<Value>),
    /// A mapping.
    Map(Map),
    /// A YAML timestamp, as whole seconds since the epoch in UTC (fractions truncated).
    Time(i64),
}

impl Value {
    /// The text when this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The map when this is a mapping.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The mutable map when this is a mapping.
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The items when this is a list (or a set).
    pub fn as_list(&self) -> Option<&Vec<Value>> {
        match self {
            Value::List(l) | Value::Set(l) => Some(l),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The numeric value, for numbers of any representation.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Number(t) => t.parse().ok(),
            _ => None,
        }
    }

    /// Python truthiness, as the OONI code tests values (`if x:`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Number(t) => t.parse::<f64>().map(|f| f != 0.0).unwrap_or(true),
            Value::Str(s) => !s.is_empty(),
            Value::Bytes(b) => !b.is_empty(),
            Value::List(l) | Value::Set(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Time(_) => true,
        }
    }

    /// The string a value becomes when used as a JSON object key (as Python's
    /// `json.dumps` turns `1`, `True`, `None` keys into `"1"`, `"true"`, `"null"`).
    pub fn key_text(&self) -> String {
        match self {
            Value::Str(s) => s.clone(),
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Number(t) => t.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Value::Float(_) | Value::Time(_) | Value::List(_) | Value::Set(_) | Value::Map(_) => {
                let mut out = Vec::new();
                crate::json::write(&mut out, self);
                String::from_utf8_lossy(&out).into_owned()
            }
        }
    }
}

/// A total order used to sort sets (rule 18) and lists rule 11g/15 sort: numbers by
/// value, strings by bytes, other kinds by kind then by their JSON text.
pub fn sort_order(a: &Value, b: &Value) -> Ordering {
    fn rank(v: &Value) -> u8 {
        match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) | Value::Number(_) => 2,
            Value::Str(_) | Value::Bytes(_) => 3,
            Value::Time(_) => 4,
            Value::List(_) | Value::Set(_) => 5,
            Value::Map(_) => 6,
        }
    }
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Time(x), Value::Time(y)) => x.cmp(y),
        _ if rank(a) == 2 && rank(b) == 2 => a
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&b.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        _ if rank(a) != rank(b) => rank(a).cmp(&rank(b)),
        _ => {
            let (mut x, mut y) = (Vec::new(), Vec::new());
            crate::json::write(&mut x, a);
            crate::json::write(&mut y, b);
            x.cmp(&y)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_python_json_dumps() {
        assert_eq!(Value::Int(1).key_text(), "1");
        assert_eq!(Value::Bool(true).key_text(), "true");
        assert_eq!(Value::Null.key_text(), "null");
    }

    #[test]
    fn sets_sort_numbers_by_value_and_strings_by_bytes() {
        let mut v =
            vec![Value::Int(10), Value::Int(9), Value::Str("b".into()), Value::Str("a".into())];
        v.sort_by(sort_order);
        assert_eq!(
            v,
            vec![Value::Int(9), Value::Int(10), Value::Str("a".into()), Value::Str("b".into())]
        );
    }

    #[test]
    fn truthiness_is_pythons() {
        assert!(!Value::Str(String::new()).truthy());
        assert!(Value::Str("x".into()).truthy());
        assert!(!Value::Number("0".into()).truthy());
        assert!(!Value::Map(Map::new()).truthy());
    }
}
