//! One column value of a netstate row, hashable so that keys can be looked up in the open
//! set. Integers are kept as i64, u64 bit-cast (spec §5), and converted back for output.

use vantage_warehouse::Value;

use crate::schema::{ColType, Display};

/// One column value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer (u64 bit-cast).
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
}

impl Cell {
    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }

    /// The warehouse value.
    pub fn to_value(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(i) => Value::Int(*i),
            Cell::Text(s) => Value::Text(s.clone()),
            Cell::Bytes(b) => Value::Blob(b.clone()),
        }
    }

    /// The warehouse value, moving text and bytes instead of copying them.
    pub fn into_value(self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(i) => Value::Int(i),
            Cell::Text(s) => Value::Text(s),
            Cell::Bytes(b) => Value::Blob(b),
        }
    }

    /// From a warehouse value (text and blob as stored; reals never occur in our tables).
    pub fn from_value(v: &Value) -> Cell {
        match v {
            Value::Null | Value::Real(_) => Cell::Null,
            Value::Int(i) => Cell::Int(*i),
            Value::Text(s) => Cell::Text(s.clone()),
            Value::Blob(b) => Cell::Bytes(b.clone()),
        }
    }

    /// JSON as the spec's row objects want it: integers exact (u64 un-cast), bytes hex.
    pub fn to_json(&self, ty: ColType) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            // The bit-cast back is the inverse of how u64 values were stored.
            Cell::Int(i) if ty == ColType::U64 => serde_json::Value::from(*i as u64),
            Cell::Int(i) => serde_json::Value::from(*i),
            Cell::Text(s) => serde_json::Value::from(s.clone()),
            Cell::Bytes(b) => serde_json::Value::from(hex::encode(b)),
        }
    }

    /// Text for the table format: MACs, IPv4, DP ids in hex, bytes as hex.
    pub fn to_display(&self, ty: ColType, display: Display) -> String {
        match self {
            Cell::Null => String::new(),
            Cell::Int(i) => {
                let u = *i as u64;
                match display {
                    Display::Mac => {
                        let b = u.to_be_bytes();
                        b[2..].iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(":")
                    }
                    Display::Ipv4 => {
                        let b = u.to_be_bytes();
                        format!("{}.{}.{}.{}", b[4], b[5], b[6], b[7])
                    }
                    Display::Dpid | Display::Hex => format!("{u:#x}"),
                    _ if ty == ColType::U64 => u.to_string(),
                    _ => i.to_string(),
                }
            }
            Cell::Text(s) => s.clone(),
            Cell::Bytes(b) if display == Display::Ipv6 && b.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                std::net::Ipv6Addr::from(a).to_string()
            }
            Cell::Bytes(b) => hex::encode(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_unsigned_values_round_trip_through_i64() {
        let big = 0x8000_0000_0000_0003_u64;
        let c = Cell::Int(big as i64);
        assert_eq!(c.to_json(ColType::U64), serde_json::json!(9223372036854775811_u64));
        assert_eq!(c.to_display(ColType::U64, Display::Dpid), "0x8000000000000003");
        assert_eq!(
            Cell::Int(116521586433).to_display(ColType::U64, Display::Mac),
            "00:1b:21:3a:4f:01"
        );
        assert_eq!(Cell::Int(167772161).to_display(ColType::U32, Display::Ipv4), "10.0.0.1");
        assert_eq!(
            Cell::Bytes(vec![0xde, 0xad]).to_json(ColType::Bytes(4)),
            serde_json::json!("dead")
        );
    }
}
