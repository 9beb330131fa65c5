//! Flow Capture's wire protocol: every call is an HTTP POST of the request envelope
//! `{endpoint, data, request_id}` to `<host><endpoint>` with the token in `X-Token`, answered by
//! the response envelope `{data, request_id}`; failures carry one of the numeric error codes of
//! the seed document's "ERROR CODES" table.
//!
//! Two things the document leaves open are decided here, in one place each, so they are easy to
//! change after a test call against the real service:
//! * where the error code sits: read from `error.code`/`error.message`, else top-level
//!   `code`/`message` (or `error` as text), whatever the HTTP status; a body without a code
//!   falls back to the HTTP status classification of [`crate::http`];
//! * how long the rate codes ask us to wait (none is given): see [`code_wait`].
//!
//! Transport failures, `429`/`5xx` statuses and the platform's rate and server codes are retried
//! here with backoff within [`HttpConfig`](crate::http::HttpConfig)'s budget.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};

use crate::error::{ConnectorError, ErrorKind};
use crate::http::{HttpClient, Retry, classify_status, classify_transport};

/// The header the token travels in ("pass the authentication token using the X-Token header").
pub const TOKEN_HEADER: &str = "X-Token";

/// How long a rate or lockout code asks us to wait. The document gives words, not numbers:
/// 900 "try again in a few seconds", 423 "try again shortly", 409 "wait for 15 minutes".
pub fn code_wait(code: i64) -> Option<Duration> {
    match code {
        900 => Some(Duration::from_secs(2)),
        423 => Some(Duration::from_secs(5)),
        409 => Some(Duration::from_secs(15 * 60)),
        _ => None,
    }
}

/// Maps a Flow Capture error code onto what the caller should do about it.
pub fn kind_of_code(code: i64) -> ErrorKind {
    match code {
        // "Invalid security token": expired or revoked, refresh and retry.
        405 => ErrorKind::Unauthorized,
        // Lockout and request-rate codes.
        409 | 423 | 900 => ErrorKind::RateLimited,
        // Permission and policy refusals.
        402 | 403 | 410 | 411 | 413 | 415 | 452 | 453 | 457 | 459 | 715 | 800 | 801 | 802 => {
            ErrorKind::Forbidden
        }
        404 | 446 | 448 | 672 => ErrorKind::NotFound,
        // Still processing: try again later.
        449 | 451 | 650 => ErrorKind::Server,
        500 | 501 => ErrorKind::Server,
        // MFA, suspended, SSO, not activated, not added anywhere: a person must sign in again.
        700..=709 => ErrorKind::LoginRequired,
        // 400 "API endpoint does not exist": this host does not offer the call.
        400 | 408 => ErrorKind::Unsupported,
        _ => ErrorKind::Rejected,
    }
}

/// A Flow Capture error code as a [`ConnectorError`].
pub fn error_of_code(endpoint: &str, code: i64, message: &str) -> ConnectorError {
    let text = if message.is_empty() {
        format!("Flow Capture {endpoint}: error {code}")
    } else {
        format!("Flow Capture {endpoint}: {message} (error {code})")
    };
    let mut error = ConnectorError::new(kind_of_code(code), text);
    error.retry_after = code_wait(code);
    error
}

/// The numeric error code and message in a response body, if it carries one.
pub fn error_in(body: &Value) -> Option<(i64, String)> {
    let message_of = |v: &Value| -> String {
        v.get("message")
            .or_else(|| v.get("error_message"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if let Some(err) = body.get("error") {
        if let Some(code) = err.get("code").and_then(code_number) {
            return Some((code, message_of(err)));
        }
        if let Some(code) = code_number(err) {
            return Some((code, message_of(body)));
        }
    }
    let code = body.get("code").and_then(code_number)?;
    let mut message = message_of(body);
    if message.is_empty()
        && let Some(text) = body.get("error").and_then(Value::as_str)
    {
        message = text.to_owned();
    }
    Some((code, message))
}

fn code_number(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The payload of a successful response: the envelope's `data` when the body is an envelope,
/// else the body itself (public clients have been seen reading both forms).
pub fn payload_of(body: Value) -> Value {
    match body {
        Value::Object(mut map)
            if map.contains_key("data") && (map.contains_key("request_id") || map.len() == 1) =>
        {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// One call: posts the envelope and returns `data`, retrying transient failures.
pub async fn call(
    http: &HttpClient,
    base: &str,
    endpoint: &str,
    token: Option<&str>,
    data: &Value,
    retry: Retry,
) -> crate::Result<Value> {
    let url = format!("{}{}", base.trim_end_matches('/'), endpoint);
    let config = http.config();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let request_id = uuid::Uuid::new_v4().to_string();
        let envelope = json!({ "endpoint": endpoint, "data": data, "request_id": request_id });
        let mut builder = http
            .client()
            .post(&url)
            .timeout(config.timeout)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .json(&envelope);
        if let Some(token) = token {
            builder = builder.header(TOKEN_HEADER, token);
        }
        let what = format!("POST {endpoint}");
        let error = match builder.send().await {
            Err(e) => classify_transport(&what, &e),
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                match response.bytes().await {
                    Err(e) => classify_transport(&what, &e),
                    Ok(bytes) => {
                        let parsed: Option<Value> = serde_json::from_slice(&bytes).ok();
                        match parsed.as_ref().and_then(error_in) {
                            Some((code, message)) => error_of_code(endpoint, code, &message),
                            None if status.is_success() => match parsed {
                                Some(body) => return Ok(payload_of(body)),
                                None => ConnectorError::bad_response(format!(
                                    "Flow Capture {endpoint}: the answer is not JSON"
                                )),
                            },
                            None => classify_status(&what, status, &headers, &bytes),
                        }
                    }
                }
            }
        };
        let may_retry = match error.kind {
            ErrorKind::RateLimited => true,
            ErrorKind::Server => retry == Retry::Idempotent,
            ErrorKind::Offline => {
                retry == Retry::Idempotent || error.message.contains("could not connect")
            }
            _ => false,
        };
        if !may_retry || attempt >= config.max_attempts {
            return Err(error);
        }
        let delay = match error.retry_after {
            Some(wait) if wait > config.max_inline_wait => return Err(error),
            Some(wait) => wait,
            None => backoff(config.base_backoff, config.max_backoff, attempt),
        };
        tracing::debug!(endpoint, attempt, ?delay, kind = ?error.kind, "Flow Capture call retried");
        tokio::time::sleep(delay).await;
    }
}

/// Doubling backoff, capped.
fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_the_caller_should_do() {
        assert_eq!(kind_of_code(405), ErrorKind::Unauthorized);
        assert_eq!(kind_of_code(900), ErrorKind::RateLimited);
        assert_eq!(kind_of_code(423), ErrorKind::RateLimited);
        assert_eq!(kind_of_code(409), ErrorKind::RateLimited);
        assert_eq!(kind_of_code(800), ErrorKind::Forbidden);
        assert_eq!(kind_of_code(801), ErrorKind::Forbidden);
        assert_eq!(kind_of_code(404), ErrorKind::NotFound);
        assert_eq!(kind_of_code(500), ErrorKind::Server);
        assert_eq!(kind_of_code(702), ErrorKind::LoginRequired);
        assert_eq!(kind_of_code(600), ErrorKind::Rejected);
        assert_eq!(kind_of_code(430), ErrorKind::Rejected);
        let lockout = error_of_code("/authenticate/api", 409, "wait");
        assert_eq!(lockout.retry_after, Some(Duration::from_secs(900)));
        assert!(lockout.message.contains("409"));
    }

    #[test]
    fn error_codes_are_found_in_each_reading() {
        let nested = json!({"request_id": "1", "error": {"code": 900, "message": "slow down"}});
        assert_eq!(error_in(&nested), Some((900, "slow down".into())));
        let flat = json!({"code": "405", "message": "Invalid security token"});
        assert_eq!(
            error_in(&flat),
            Some((405, "Invalid security token".into()))
        );
        let bare = json!({"error": 800, "message": "Permission denied"});
        assert_eq!(error_in(&bare), Some((800, "Permission denied".into())));
        assert_eq!(
            error_in(&json!({"request_id": "1", "data": {"id": 3}})),
            None
        );
        assert_eq!(error_in(&json!([{"code": 1}])), None);
    }

    #[test]
    fn payload_is_the_envelope_data_or_the_body() {
        assert_eq!(
            payload_of(json!({"request_id": "x", "data": [1, 2]})),
            json!([1, 2])
        );
        assert_eq!(payload_of(json!({"data": {"a": 1}})), json!({"a": 1}));
        assert_eq!(payload_of(json!([1])), json!([1]));
        // An object that merely has a `data` field among others is a payload, not an envelope.
        let obj = json!({"id": 1, "data": "x", "name": "n"});
        assert_eq!(payload_of(obj.clone()), obj);
    }
}
