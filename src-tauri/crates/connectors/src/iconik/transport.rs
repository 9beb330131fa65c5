//! A "not before" gate shared by all concurrent calls of one connector, wrapped around the
//! workspace HTTP helper (`crate::http`). The helper retries one request (5xx, network, 429 with
//! `Retry-After`); the gate makes the *other* requests of the same connector wait too, after a
//! 429 that outlasted the helper's in-line wait, or when a platform says its window is spent
//! (Sony Ci's `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset`). Used by iconik and Ci.

use std::sync::Mutex;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use crate::http::{HttpClient, Retry};
use crate::{ErrorKind, Result};

/// The instant before which no request may leave.
#[derive(Debug, Default)]
pub struct RateGate {
    not_before: Mutex<Option<Instant>>,
}

impl RateGate {
    fn get(&self) -> Option<Instant> {
        match self.not_before.lock() {
            Ok(g) => *g,
            // Poisoned only if a holder panicked; the instant inside is still meaningful.
            Err(p) => *p.into_inner(),
        }
    }
    /// Waits until the gate is open.
    pub async fn wait(&self) {
        if let Some(t) = self.get()
            && t > Instant::now()
        {
            tokio::time::sleep_until(t).await;
        }
    }
    /// Keeps the gate closed until at least `when`.
    pub fn hold_until(&self, when: Instant) {
        let mut g = match self.not_before.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if g.is_none_or(|t| t < when) {
            *g = Some(when);
        }
    }
}

/// Whether the call runs for long (a body upload or download): no whole-request timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// An API call.
    Call,
    /// A transfer.
    Transfer,
}

/// Sends through the helper once the gate is open. `observe` sees a successful response's
/// headers (rate-window bookkeeping); a rate-limit error closes the gate for its delay.
pub async fn send<F>(
    gate: &RateGate,
    http: &HttpClient,
    retry: Retry,
    length: Length,
    observe: &(dyn Fn(&HeaderMap) + Send + Sync),
    build: F,
) -> Result<reqwest::Response>
where
    F: Fn(&reqwest::Client) -> reqwest::RequestBuilder,
{
    gate.wait().await;
    let out = match length {
        Length::Call => http.send(retry, build).await,
        Length::Transfer => http.send_streaming(retry, build).await,
    };
    match &out {
        Ok(resp) => observe(resp.headers()),
        // Longer waits than the in-line budget go back to the outbox with the delay instead of
        // blocking every call of the connector for that long.
        Err(e) if e.kind == ErrorKind::RateLimited => {
            if let Some(wait) = e
                .retry_after
                .filter(|w| *w <= http.config().max_inline_wait)
            {
                gate.hold_until(Instant::now() + wait);
            }
        }
        Err(_) => {}
    }
    out
}

/// A URL with its query string removed, for messages (signed URLs carry signatures).
pub fn redact_url(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn gate_holds_the_latest_instant() {
        let gate = RateGate::default();
        let now = Instant::now();
        gate.hold_until(now + Duration::from_millis(30));
        gate.hold_until(now + Duration::from_millis(5));
        gate.wait().await;
        assert!(Instant::now() >= now + Duration::from_millis(30));
        assert_eq!(redact_url("https://x/y?Signature=s"), "https://x/y");
    }
}
