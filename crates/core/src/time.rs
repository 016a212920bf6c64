//! Nanosecond UTC timestamps and UTC date buckets.
//!
//! Every stored time is an `i64` of nanoseconds since the Unix epoch (DESIGN.md,
//! Conventions: Time): it sorts, subtracts and indexes as an integer in both warehouse
//! backends, and covers 1677–2262, which is every measurement anyone will bring.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Why a time or bucket string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text matched none of the accepted forms.
    #[error(
        "cannot read time {0:?}: use epoch seconds (1262304011 or 1262304011.5), \
         RFC 3339 (2010-01-01T00:00:11Z) or 'YYYY-MM-DD hh:mm:ss' (UTC)"
    )]
    Unparsable(String),
    /// The time is outside what nanoseconds in an i64 can hold.
    #[error("time {0:?} is out of range (years 1677 to 2262)")]
    OutOfRange(String),
    /// The bucket was not a `YYYY-MM-DD` date.
    #[error("cannot read bucket {0:?}: a bucket is a UTC date, YYYY-MM-DD")]
    BadBucket(String),
}

/// An instant, as integer nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From nanoseconds since the epoch.
    pub const fn from_nanos(ns: i64) -> Timestamp {
        Timestamp(ns)
    }

    /// From whole seconds since the epoch (saturating far outside the range).
    pub const fn from_secs(s: i64) -> Timestamp {
        Timestamp(s.saturating_mul(NANOS_PER_SEC))
    }

    /// From microseconds since the epoch, the unit of NOX's flat files.
    pub const fn from_micros(us: i64) -> Timestamp {
        Timestamp(us.saturating_mul(1_000))
    }

    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX))
    }

    /// Nanoseconds since the epoch.
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded toward negative infinity.
    pub const fn secs(self) -> i64 {
        self.0.div_euclid(NANOS_PER_SEC)
    }

    /// Microseconds since the epoch, rounded toward negative infinity.
    pub const fn micros(self) -> i64 {
        self.0.div_euclid(1_000)
    }

    /// The UTC date this instant falls on.
    pub fn bucket(self) -> Bucket {
        Bucket(self.to_datetime().date_naive())
    }

    fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// RFC 3339 in UTC with as many fractional digits as the value needs (0, 3, 6 or 9).
    pub fn to_rfc3339(self) -> String {
        self.to_datetime().to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    /// Parses any of the accepted forms: epoch seconds (integer or fractional), RFC 3339,
    /// `YYYY-MM-DD hh:mm:ss[.f]` in UTC, or a bare `YYYY-MM-DD` (its midnight).
    pub fn parse(text: &str) -> Result<Timestamp, TimeError> {
        let t = text.trim();
        if let Some(ts) = parse_epoch(t, text)? {
            return Ok(ts);
        }
        let from_dt = |dt: NaiveDateTime| {
            dt.and_utc()
                .timestamp_nanos_opt()
                .map(Timestamp)
                .ok_or_else(|| TimeError::OutOfRange(text.to_string()))
        };
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return from_dt(dt.naive_utc());
        }
        for pattern in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(dt) = NaiveDateTime::parse_from_str(t, pattern) {
                return from_dt(dt);
            }
        }
        if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return from_dt(d.and_hms_opt(0, 0, 0).unwrap_or_default());
        }
        Err(TimeError::Unparsable(text.to_string()))
    }
}

/// Exact decimal parsing of epoch seconds: no float rounding, so `1262304011.000001`
/// is exactly 1262304011000001000 ns.
fn parse_epoch(t: &str, original: &str) -> Result<Option<Timestamp>, TimeError> {
    let (negative, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, frac) = match body.split_once('.') {
        Some((w, f)) => (w, f),
        None => (body, ""),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(frac)
        || (body.contains('.') && frac.is_empty())
    {
        return Ok(None);
    }
    let out_of_range = || TimeError::OutOfRange(original.to_string());
    let secs: i64 = whole.parse().map_err(|_| out_of_range())?;
    let mut frac_ns: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        frac_ns += i64::from(b - b'0') * 10_i64.pow(8 - i as u32);
    }
    let ns = secs
        .checked_mul(NANOS_PER_SEC)
        .and_then(|n| n.checked_add(frac_ns))
        .ok_or_else(out_of_range)?;
    Ok(Some(Timestamp(if negative { -ns } else { ns })))
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl FromStr for Timestamp {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Float(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(s) => Ok(Timestamp::from_secs(s)),
            Raw::Float(f) => Timestamp::parse(&f.to_string()).map_err(serde::de::Error::custom),
            Raw::Text(t) => Timestamp::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

/// A UTC date, the partition unit of every kind (`YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bucket(NaiveDate);

impl Bucket {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<Bucket, TimeError> {
        let t = text.trim();
        if t.len() != 10 {
            return Err(TimeError::BadBucket(text.to_string()));
        }
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Bucket)
            .map_err(|_| TimeError::BadBucket(text.to_string()))
    }

    /// From a calendar date; `None` when the date does not exist.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Bucket> {
        NaiveDate::from_ymd_opt(year, month, day).map(Bucket)
    }

    /// The first instant of the day.
    pub fn start(self) -> Timestamp {
        Timestamp(
            self.0
                .and_hms_opt(0, 0, 0)
                .unwrap_or_default()
                .and_utc()
                .timestamp_nanos_opt()
                .unwrap_or(i64::MIN),
        )
    }

    /// The first instant of the next day (exclusive end of this bucket).
    pub fn end(self) -> Timestamp {
        Timestamp(self.start().0.saturating_add(86_400 * NANOS_PER_SEC))
    }

    /// The next day.
    pub fn next(self) -> Bucket {
        Bucket(self.0.succ_opt().unwrap_or(self.0))
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for Bucket {
    type Err = TimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Bucket::parse(s)
    }
}

impl Serialize for Bucket {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Bucket {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Bucket::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_accepted_form() {
        let want = Timestamp(1_262_304_011_000_000_000);
        for text in [
            "1262304011",
            "1262304011.0",
            "2010-01-01T00:00:11Z",
            "2010-01-01T01:00:11+01:00",
            "2010-01-01 00:00:11",
            "2010-01-01T00:00:11",
            " 2010-01-01 00:00:11 ",
        ] {
            assert_eq!(Timestamp::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn fractional_epoch_is_exact() {
        assert_eq!(
            Timestamp::parse("1262304011.000001").unwrap().nanos(),
            1_262_304_011_000_001_000
        );
        assert_eq!(Timestamp::parse("1.123456789123").unwrap().nanos(), 1_123_456_789);
        assert_eq!(Timestamp::parse("-1.5").unwrap().nanos(), -1_500_000_000);
        assert_eq!(
            Timestamp::parse("2010-01-01 00:00:11.25").unwrap().nanos(),
            1_262_304_011_250_000_000
        );
    }

    #[test]
    fn refuses_garbage_with_advice() {
        for text in ["", "yesterday", "12.", ".5", "2010-13-01 00:00:00", "1e9"] {
            let e = Timestamp::parse(text).unwrap_err();
            assert!(matches!(e, TimeError::Unparsable(_)), "{text}: {e:?}");
        }
        assert!(Timestamp::parse("99999999999999999999").is_err());
        assert!(matches!(Timestamp::parse("9999999999999"), Err(TimeError::OutOfRange(_))));
    }

    #[test]
    fn prints_rfc3339_with_needed_precision() {
        assert_eq!(Timestamp(1_262_304_011_000_000_000).to_rfc3339(), "2010-01-01T00:00:11Z");
        assert_eq!(Timestamp(1_262_304_011_500_000_000).to_rfc3339(), "2010-01-01T00:00:11.500Z");
        assert_eq!(
            Timestamp(1_262_304_011_000_000_001).to_rfc3339(),
            "2010-01-01T00:00:11.000000001Z"
        );
    }

    #[test]
    fn round_trips_through_text() {
        for ns in [0, 1, -1, 1_262_304_011_123_456_789, -86_400_000_000_001] {
            let ts = Timestamp(ns);
            assert_eq!(Timestamp::parse(&ts.to_rfc3339()), Ok(ts));
        }
    }

    #[test]
    fn buckets_are_utc_dates() {
        let b = Timestamp::parse("2016-05-03 23:59:59.999999999").unwrap().bucket();
        assert_eq!(b.to_string(), "2016-05-03");
        assert_eq!(b.next().to_string(), "2016-05-04");
        assert_eq!(b.end(), b.next().start());
        assert_eq!(Timestamp(-1).bucket().to_string(), "1969-12-31");
        assert_eq!(Bucket::parse("2016-05-03").unwrap(), b);
        assert!(Bucket::parse("2016-5-3").is_err());
        assert!(Bucket::parse("2016-02-30").is_err());
    }
}
