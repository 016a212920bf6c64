//! Per-address token buckets (spec §2.4: 20 requests/s, burst 100).

use std::collections::HashMap;
use std::net::IpAddr;

use vantage_core::Timestamp;

/// Token buckets by client address.
#[derive(Debug, Default)]
pub struct RateLimits {
    buckets: HashMap<IpAddr, (f64, i64)>,
}

impl RateLimits {
    /// Takes one token for `peer`, or returns the seconds to wait (Retry-After).
    pub fn check(
        &mut self,
        peer: IpAddr,
        now: Timestamp,
        rate: f64,
        burst: f64,
    ) -> Result<(), u64> {
        if self.buckets.len() > 100_000 {
            // Forget full buckets so that many addresses cannot grow this without bound.
            self.buckets.retain(|_, (tokens, _)| *tokens < burst);
        }
        let (tokens, last) = self.buckets.entry(peer).or_insert((burst, now.0));
        let elapsed = (now.0 - *last).max(0) as f64 / 1e9;
        *tokens = (*tokens + elapsed * rate).min(burst);
        *last = now.0;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate.max(1e-9)).ceil().max(1.0) as u64)
        }
    }
}
