//! Rule 7: legacy time fields to `YYYY-MM-DD hh:mm:ss` UTC (spec §5.3).

use crate::value::{Map, Value};

/// Whole seconds since the epoch as `YYYY-MM-DD hh:mm:ss` (UTC).
pub fn format_secs(secs: i64) -> String {
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(dt) => dt.format("%Y-%m-%d %H:%M:%S").to_string(),
        None => "1970-01-01 00:00:00".into(),
    }
}

/// Epoch seconds (fractions truncated toward the past) as the output form.
fn from_epoch(f: f64) -> Value {
    if f.is_finite() && f.abs() < 1e15 {
        Value::Str(format_secs(f.floor() as i64))
    } else {
        Value::Null
    }
}

/// A time given as text or a YAML timestamp, in the output form when it can be read.
fn from_text(v: &Value) -> Value {
    match v {
        Value::Time(secs) => Value::Str(format_secs(*secs)),
        Value::Str(s) => match vantage_core::Timestamp::parse(s) {
            Ok(ts) => Value::Str(format_secs(ts.0.div_euclid(1_000_000_000))),
            Err(_) => Value::Str(s.clone()),
        },
        other => other.clone(),
    }
}

/// Pops `start_time` (T) and writes `test_start_time` and `measurement_start_time`.
pub fn apply(m: &mut Map) {
    let t = m.remove("start_time").and_then(|v| v.as_f64()).unwrap_or(0.0);
    let entry = m.get("test_start_time").cloned().unwrap_or(Value::Null);
    let (test_start, msm_start) = match &entry {
        Value::Null => (from_epoch(t), from_epoch(t)),
        v if v.as_f64().is_some() => (from_epoch(t), from_epoch(v.as_f64().unwrap_or(0.0))),
        v => {
            let msm = m.get("measurement_start_time").map(from_text).unwrap_or(Value::Null);
            (from_text(v), msm)
        }
    };
    m.insert("test_start_time".into(), test_start);
    m.insert("measurement_start_time".into(), msm_start);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_entry_time_is_the_measurement_start() {
        let mut m = Map::new();
        m.insert("start_time".into(), Value::Float(1532619434.0));
        m.insert("test_start_time".into(), Value::Float(1532620222.9));
        apply(&mut m);
        assert_eq!(m["test_start_time"], Value::Str("2018-07-26 15:37:14".into()));
        assert_eq!(m["measurement_start_time"], Value::Str("2018-07-26 15:50:22".into()));
        assert!(!m.contains_key("start_time"));
    }

    #[test]
    fn text_entry_time_keeps_measurement_start_time() {
        let mut m = Map::new();
        m.insert("test_start_time".into(), Value::Str("2018-07-26 23:37:23".into()));
        apply(&mut m);
        assert_eq!(m["test_start_time"], Value::Str("2018-07-26 23:37:23".into()));
        assert_eq!(m["measurement_start_time"], Value::Null);
    }
}
