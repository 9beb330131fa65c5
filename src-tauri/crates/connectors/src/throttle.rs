//! The upload bandwidth limit: one token bucket shared by every upload in flight, so that "at
//! most 5 MB/s" holds for the whole queue, not per file. Senders ask for their bytes before
//! they send them and wait when the bucket is empty. The limit can change while uploads run (a
//! settings change takes effect on the next chunk); `None` means unlimited.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A shared bandwidth limit in bytes per second.
#[derive(Debug)]
pub struct Bandwidth {
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    limit: Option<u64>,
    /// Bytes that may be sent now; negative when senders are ahead of the limit.
    tokens: f64,
    refilled: Instant,
}

impl Bandwidth {
    /// A limit of `bytes_per_second` (`None` = unlimited).
    pub fn new(bytes_per_second: Option<u64>) -> Self {
        Self {
            state: Mutex::new(Bucket {
                limit: bytes_per_second.filter(|l| *l > 0),
                tokens: 0.0,
                refilled: Instant::now(),
            }),
        }
    }

    /// Changes the limit; uploads in flight follow it from their next chunk.
    pub fn set_limit(&self, bytes_per_second: Option<u64>) {
        let mut bucket = self.lock();
        bucket.limit = bytes_per_second.filter(|l| *l > 0);
        bucket.tokens = 0.0;
        bucket.refilled = Instant::now();
    }

    /// The current limit.
    pub fn limit(&self) -> Option<u64> {
        self.lock().limit
    }

    /// Waits until `bytes` may be sent under the limit (at once when unlimited).
    pub async fn take(&self, bytes: u64) {
        let wait = {
            let mut bucket = self.lock();
            let Some(limit) = bucket.limit else {
                return;
            };
            let now = Instant::now();
            let rate = limit as f64;
            // At most a quarter second of burst, so a pause does not turn into a flood.
            let burst = rate / 4.0;
            let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
            bucket.refilled = now;
            bucket.tokens -= bytes as f64;
            if bucket.tokens >= 0.0 {
                return;
            }
            Duration::from_secs_f64(-bucket.tokens / rate)
        };
        tokio::time::sleep(wait).await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        // The bucket holds plain numbers; a panic elsewhere cannot leave them inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::Bandwidth;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn unlimited_never_waits() {
        let bandwidth = Bandwidth::new(None);
        let start = Instant::now();
        for _ in 0..1000 {
            bandwidth.take(1 << 20).await;
        }
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_limit_spreads_bytes_over_time() {
        // 2 MB/s: 600 kB must take at least about 0.3 s (minus the quarter-second burst the
        // bucket allows, so 0.2 s). Only the lower bound is a property; a slow machine is slower.
        let bandwidth = Bandwidth::new(Some(2_000_000));
        let start = Instant::now();
        for _ in 0..6 {
            bandwidth.take(100_000).await;
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(200), "{took:?}");
    }
}
