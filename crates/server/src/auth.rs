//! The server token (DESIGN.md Conventions): uploads and every other write need it, as
//! does everything on a non-loopback bind (checked at start-up: no token, no start).
//!
//! Accepted as `Authorization: Bearer <token>` or `X-Vantage-Token: <token>`; compared
//! in constant time so that response timing does not leak a prefix.

use axum::http::HeaderMap;

use crate::error::ApiError;

/// Checks a request's token against the server's. Without a configured token, writes
/// are refused outright: a loopback bind without a token is read-only.
pub fn require(expected: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "no_token_configured",
            "this server has no token, so it accepts no writes; set [server] token or VANTAGE_SERVER_TOKEN",
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| headers.get("x-vantage-token").and_then(|v| v.to_str().ok()));
    match given {
        Some(g) if equal(g.trim().as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::unauthorized()),
    }
}

/// Constant-time for equal lengths; the length itself is not secret.
fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn bearer_or_header_and_nothing_else() {
        assert!(require(Some("s3"), &headers(&[("authorization", "Bearer s3")])).is_ok());
        assert!(require(Some("s3"), &headers(&[("x-vantage-token", "s3")])).is_ok());
        let e = require(Some("s3"), &headers(&[("authorization", "Bearer s4")])).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code.as_str()), (401, "unauthorized"));
        assert!(require(Some("s3"), &headers(&[])).is_err());
        let e = require(None, &headers(&[("authorization", "Bearer s3")])).unwrap_err();
        assert_eq!(e.status.as_u16(), 403);
    }
}
