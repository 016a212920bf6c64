//! A per-address rate limit on `/api/v1` (issue 9, Security). The collector has its own
//! (reports spec §2.4); this one keeps a single client from monopolising the blocking
//! threads with queries. A token bucket per address: `[server] rate` requests per second,
//! bursts of `[server] burst`; beyond, 429 `rate_limited` with `Retry-After`. A rate of
//! 0 turns the limit off.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Addresses remembered before idle ones are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// The buckets.
#[derive(Debug)]
pub struct RateLimit {
    /// Sustained requests per second per address (0: no limit).
    pub rate: f64,
    /// Requests allowed at once per address.
    pub burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimit {
    /// A limit of `rate` per second with bursts of `burst` (at least one request).
    pub fn new(rate: f64, burst: f64) -> RateLimit {
        RateLimit { rate: rate.max(0.0), burst: burst.max(1.0), buckets: Mutex::default() }
    }

    /// Takes one token for `addr` at `now`; `Err(seconds)` to wait when none is left.
    pub fn check(&self, addr: IpAddr, now: Instant) -> Result<(), u64> {
        let (rate, burst) = (self.rate, self.burst);
        if rate == 0.0 {
            return Ok(());
        }
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.len() >= MAX_ADDRESSES {
            // Full buckets are the default state: forgetting them changes nothing.
            b.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = b.entry(addr).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let r = RateLimit::new(100.0, 500.0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..500 {
            assert!(r.check(a, t0).is_ok());
        }
        assert_eq!(r.check(a, t0), Err(1));
        assert!(r.check(b, t0).is_ok(), "another address has its own bucket");
        assert!(r.check(a, t0 + std::time::Duration::from_millis(50)).is_ok());
        let off = RateLimit::new(0.0, 1.0);
        assert!((0..10_000).all(|_| off.check(a, t0).is_ok()), "rate 0 is no limit");
    }
}
