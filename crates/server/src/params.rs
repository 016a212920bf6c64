//! Query-string values parsed once, with errors that name the parameter: times in the
//! forms of DESIGN.md Conventions (epoch seconds, RFC 3339, `YYYY-MM-DD hh:mm:ss`),
//! paging (`offset`, `limit` with a ceiling) and booleans.

use vantage_core::Timestamp;

use crate::error::ApiError;

/// A time parameter as nanoseconds since the epoch; a bare date (`YYYY-MM-DD`, OONI's
/// form) is its UTC midnight.
pub fn time_ns(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) if t.len() == 10 && vantage_core::Bucket::parse(t).is_ok() => {
            Ok(vantage_core::Bucket::parse(t).ok().map(|b| b.start().nanos()))
        }
        Some(t) => Timestamp::parse(t)
            .map(|ts| Some(ts.nanos()))
            .map_err(|e| ApiError::bad_parameter(format!("{name}={t:?}: {e}"))),
    }
}

/// `offset` and `limit`: limit defaults to `default` and may not exceed `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows skipped.
    pub offset: u64,
    /// Rows returned at most.
    pub limit: u64,
}

impl Page {
    /// Parses the two parameters.
    pub fn parse(
        offset: Option<&str>,
        limit: Option<&str>,
        default: u64,
        max: u64,
    ) -> Result<Page, ApiError> {
        let offset = uint("offset", offset)?.unwrap_or(0);
        let limit = uint("limit", limit)?.unwrap_or(default);
        if limit == 0 || limit > max {
            return Err(ApiError::bad_parameter(format!(
                "limit={limit}: must be between 1 and {max}"
            )));
        }
        Ok(Page { offset, limit })
    }
}

/// An unsigned integer parameter.
pub fn uint(name: &str, text: Option<&str>) -> Result<Option<u64>, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse::<u64>().map(Some).map_err(|_| {
            ApiError::bad_parameter(format!("{name}={t:?}: expected a non-negative integer"))
        }),
    }
}

/// A boolean parameter: `true`/`false`/`1`/`0`.
pub fn boolean(name: &str, text: Option<&str>) -> Result<Option<bool>, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some("true" | "1") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(t) => Err(ApiError::bad_parameter(format!("{name}={t:?}: expected true or false"))),
    }
}

/// One value of a closed set.
pub fn one_of<'a>(
    name: &str,
    text: Option<&'a str>,
    allowed: &[&'a str],
    default: &'a str,
) -> Result<&'a str, ApiError> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(default),
        Some(t) if allowed.contains(&t) => Ok(t),
        Some(t) => Err(ApiError::bad_parameter(format!(
            "{name}={t:?}: expected one of {}",
            allowed.join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form() {
        let want = Some(1_700_000_000_000_000_000);
        assert_eq!(time_ns("t", Some("1700000000")).unwrap(), want);
        assert_eq!(time_ns("t", Some("2023-11-14T22:13:20Z")).unwrap(), want);
        assert_eq!(time_ns("t", Some("2023-11-14 22:13:20")).unwrap(), want);
        assert_eq!(time_ns("t", None).unwrap(), None);
        assert_eq!(time_ns("t", Some("2023-11-14")).unwrap(), Some(1_699_920_000_000_000_000));
        let e = time_ns("since", Some("yesterday")).unwrap_err();
        assert_eq!(e.code, "bad_parameter");
        assert!(e.message.starts_with("since=\"yesterday\""), "{}", e.message);
    }

    #[test]
    fn paging_has_a_ceiling() {
        assert_eq!(Page::parse(None, None, 100, 10_000).unwrap(), Page { offset: 0, limit: 100 });
        assert_eq!(
            Page::parse(Some("5"), Some("7"), 100, 10).unwrap(),
            Page { offset: 5, limit: 7 }
        );
        assert!(Page::parse(None, Some("10001"), 100, 10_000).is_err());
        assert!(Page::parse(None, Some("0"), 100, 10_000).is_err());
        assert!(Page::parse(Some("-1"), None, 100, 10_000).is_err());
    }

    #[test]
    fn closed_sets_and_booleans() {
        assert_eq!(one_of("by", Some("port"), &["total", "port"], "total").unwrap(), "port");
        assert_eq!(one_of("by", None, &["total", "port"], "total").unwrap(), "total");
        assert!(one_of("by", Some("x"), &["total"], "total").is_err());
        assert_eq!(boolean("b", Some("true")).unwrap(), Some(true));
        assert!(boolean("b", Some("yes")).is_err());
    }
}
