//! Per-key request budgets: a token bucket per key, refilled continuously
//! at the key's rate and holding ten seconds' worth of requests.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How many seconds of requests a bucket holds (the allowed burst).
const BURST_SECONDS: f64 = 10.0;

#[derive(Default)]
pub struct RateLimits {
    buckets: Mutex<HashMap<i64, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimits {
    /// Spends one request of key `key_id`'s budget; `Err(wait)` when the
    /// budget is spent, with the time until one more request is allowed.
    /// A rate of 0 means unlimited.
    pub fn try_acquire(&self, key_id: i64, per_minute: u32) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let per_second = f64::from(per_minute) / 60.0;
        let capacity = (per_second * BURST_SECONDS).max(1.0);
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        let bucket = buckets.entry(key_id).or_insert(Bucket {
            tokens: capacity,
            refilled_at: now,
        });
        let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.refilled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second)
                .max(Duration::from_secs(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_and_keys_are_independent() {
        let limits = RateLimits::default();
        for _ in 0..100 {
            assert!(limits.try_acquire(1, 600).is_ok());
        }
        let wait = limits.try_acquire(1, 600).expect_err("burst spent");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(
            limits.try_acquire(2, 600).is_ok(),
            "another key has its own bucket"
        );
        assert!(limits.try_acquire(3, 0).is_ok(), "0 = unlimited");
    }
}
