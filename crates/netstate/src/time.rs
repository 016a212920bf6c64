//! TIME arguments (spec §4): digits = µs; `<digits>s` = seconds; `<digits>.<1–6 digits>`
//! = seconds as an exact decimal; RFC 3339 or `YYYY-MM-DD hh:mm:ss[.ffffff]` UTC.

/// Parses a TIME into µs since the epoch.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let too_big = || format!("time {text:?} is out of range");
    if digits(t) {
        return t.parse().map_err(|_| too_big());
    }
    if let Some(secs) = t.strip_suffix('s') {
        if digits(secs) {
            let s: i64 = secs.parse().map_err(|_| too_big())?;
            return s.checked_mul(1_000_000).ok_or_else(too_big);
        }
    }
    if let Some((whole, frac)) = t.split_once('.') {
        if digits(whole) && digits(frac) && frac.len() <= 6 {
            let s: i64 = whole.parse().map_err(|_| too_big())?;
            let mut us: i64 = frac.parse().map_err(|_| too_big())?;
            for _ in frac.len()..6 {
                us *= 10;
            }
            return s.checked_mul(1_000_000).and_then(|x| x.checked_add(us)).ok_or_else(too_big);
        }
    }
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(t) {
        return Ok(dt.timestamp_micros());
    }
    for pattern in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(t, pattern) {
            return Ok(dt.and_utc().timestamp_micros());
        }
    }
    Err(format!(
        "time {text:?}: use µs digits, <secs>s, <secs>.<frac>, RFC 3339 or YYYY-MM-DD hh:mm:ss[.ffffff] (UTC)"
    ))
}

/// µs as RFC 3339 UTC, for the table format.
pub fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| us.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form() {
        let t = 1_262_304_030_000_000;
        assert_eq!(parse_time("1262304030000000"), Ok(t));
        assert_eq!(parse_time("1262304030s"), Ok(t));
        assert_eq!(parse_time("1262304030.5"), Ok(t + 500_000));
        assert_eq!(parse_time("1262304030.000001"), Ok(t + 1));
        assert_eq!(parse_time("2010-01-01T00:00:30Z"), Ok(t));
        assert_eq!(parse_time("2010-01-01T00:00:30.000250Z"), Ok(t + 250));
        assert_eq!(parse_time("2010-01-01 00:00:30"), Ok(t));
        assert_eq!(parse_time("2010-01-01 00:00:30.25"), Ok(t + 250_000));
        assert!(parse_time("1262304030.0000001").is_err());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(format_us(t), "2010-01-01T00:00:30Z");
    }
}
