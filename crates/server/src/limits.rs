//! A per-address rate limit on `/api/v1` (issue 9, Security). The collector has its own
//! (reports spec §2.4); this one keeps a single client from monopolising the blocking
//! threads with queries. A token bucket per address: `RATE` requests per second, bursts
//! of `BURST`; beyond, 429 `rate_limited` with `Retry-After`.
//!
//! Constants until `[server]` grows options for them.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Sustained requests per second per address.
pub const RATE: f64 = 100.0;
/// Requests allowed at once per address.
pub const BURST: f64 = 500.0;
/// Addresses remembered before idle ones are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// The buckets.
#[derive(Debug, Default)]
pub struct RateLimit {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimit {
    /// Takes one token for `addr` at `now`; `Err(seconds)` to wait when none is left.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() >= MAX_ADDRESSES {
            // Full buckets are the default state: forgetting them changes nothing.
            b.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * RATE < BURST
            });
        }
        let (tokens, at) = b.entry(addr).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * RATE).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / RATE).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let r = RateLimit::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..BURST as usize {
            assert!(r.check(a, t0).is_ok());
        }
        assert_eq!(r.check(a, t0), Err(1));
        assert!(r.check(b, t0).is_ok(), "another address has its own bucket");
        assert!(r.check(a, t0 + std::time::Duration::from_millis(50)).is_ok());
    }
}
