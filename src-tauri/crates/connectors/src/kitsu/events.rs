//! Kitsu's live change feed: socket.io (Engine.IO v4) namespace `/events` on the event-stream
//! host, spoken over the long-polling transport with the same reqwest client as everything else
//! (no websocket crate, no second TLS stack).
//!
//! Zou broadcasts every event to every connected client and sends ids only, so events become
//! [`RemoteEvent`]s that tell `sync` what to re-list. Unknown events pass through as
//! [`RemoteEvent::Other`]; identical events arriving within two seconds are dropped (Zou can emit
//! one change twice). Subscribing fails when the feed cannot be opened at all, and `sync` then
//! polls instead. When an open feed drops, the task reconnects with backoff and sends
//! [`RemoteEvent::Resync`], because events may have been missed meanwhile.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::http::HttpClient;
use crate::{ConnectorError, ErrorKind, RemoteEvent, RemoteId, Result, Subscription};

/// The socket.io namespace Zou publishes on.
const NAMESPACE: &str = "/events";
/// Engine.IO packet separator in polling payloads.
const SEPARATOR: char = '\u{1e}';

/// One Engine.IO packet, with the socket.io layer decoded for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// `0{...}`: handshake with the session id and ping timing.
    Open {
        /// Session id.
        sid: String,
        /// Server ping interval.
        ping_interval: Duration,
        /// How long the server waits for a pong.
        ping_timeout: Duration,
    },
    /// `1`: the server closed the session.
    Close,
    /// `2`: answer with a pong.
    Ping,
    /// `40/events,...`: namespace joined.
    Connected,
    /// `44/events,...`: namespace refused.
    ConnectError(String),
    /// `42/events,["name", data]`.
    Event {
        /// Event name.
        name: String,
        /// Payload.
        data: Value,
    },
    /// Anything else (noop, pong, other namespaces, acks).
    Other,
}

/// Splits a polling payload into packets.
pub fn parse_payload(payload: &str) -> Vec<Packet> {
    payload
        .split(SEPARATOR)
        .filter(|p| !p.is_empty())
        .map(parse_packet)
        .collect()
}

fn parse_packet(packet: &str) -> Packet {
    let mut chars = packet.chars();
    match chars.next() {
        Some('0') => {
            let Ok(open) = serde_json::from_str::<Value>(chars.as_str()) else {
                return Packet::Other;
            };
            let ms = |key: &str, default: u64| {
                Duration::from_millis(open.get(key).and_then(Value::as_u64).unwrap_or(default))
            };
            match open.get("sid").and_then(Value::as_str) {
                Some(sid) => Packet::Open {
                    sid: sid.to_owned(),
                    ping_interval: ms("pingInterval", 25_000),
                    ping_timeout: ms("pingTimeout", 20_000),
                },
                None => Packet::Other,
            }
        }
        Some('1') => Packet::Close,
        Some('2') => Packet::Ping,
        Some('4') => parse_socketio(chars.as_str()),
        _ => Packet::Other,
    }
}

fn parse_socketio(message: &str) -> Packet {
    let mut chars = message.chars();
    let kind = chars.next();
    let rest = chars.as_str();
    // Only our namespace; the default namespace has no prefix.
    let Some(body) = rest.strip_prefix(NAMESPACE) else {
        return Packet::Other;
    };
    let body = body.strip_prefix(',').unwrap_or(body);
    match kind {
        Some('0') => Packet::Connected,
        Some('4') => Packet::ConnectError(body.chars().take(200).collect()),
        Some('2') => {
            // An event may carry an ack id before the array: digits, then '['.
            let array = body.trim_start_matches(|c: char| c.is_ascii_digit());
            match serde_json::from_str::<Value>(array) {
                Ok(Value::Array(items)) => match items.first().and_then(Value::as_str) {
                    Some(name) => Packet::Event {
                        name: name.to_owned(),
                        data: items.get(1).cloned().unwrap_or(Value::Null),
                    },
                    None => Packet::Other,
                },
                _ => Packet::Other,
            }
        }
        _ => Packet::Other,
    }
}

/// What a Zou event means for Framenote.
pub fn to_remote_event(name: &str, data: &Value) -> RemoteEvent {
    let id = |key: &str| data.get(key).and_then(Value::as_str).map(RemoteId::new);
    let (object, _action) = name.split_once(':').unwrap_or((name, ""));
    match object {
        "comment" => match id("task_id") {
            Some(asset) => RemoteEvent::NotesChanged { asset },
            None => RemoteEvent::Other {
                name: name.to_owned(),
            },
        },
        "preview-file" if name == "preview-file:annotation-update" => match id("preview_file_id") {
            Some(version) => RemoteEvent::DrawingsChanged { version },
            None => RemoteEvent::Other {
                name: name.to_owned(),
            },
        },
        "preview-file" | "task" | "shot" | "asset" | "sequence" | "episode" => {
            RemoteEvent::AssetsChanged {
                node: id("project_id"),
            }
        }
        _ => RemoteEvent::Other {
            name: name.to_owned(),
        },
    }
}

/// Connects (handshake and namespace join) and then feeds events from a background task. A feed
/// that cannot be opened at all is an error, so that the caller polls instead of waiting for
/// events that will never come.
pub async fn subscribe(http: HttpClient, base: String, token: String) -> Result<Subscription> {
    let first = connect(&http, &base, &token).await?;
    let (tx, rx) = mpsc::channel(256);
    let task = tokio::spawn(run(http, base, token, tx, first));
    Ok(Subscription::new(rx, task))
}

async fn run(
    http: HttpClient,
    base: String,
    token: String,
    tx: mpsc::Sender<RemoteEvent>,
    first: Connection,
) {
    let mut backoff = Duration::from_secs(1);
    let mut connection = Some(first);
    loop {
        let outcome = match connection.take() {
            Some(open) => poll(&http, &token, &tx, open).await,
            None => match connect(&http, &base, &token).await {
                Ok(open) => {
                    backoff = Duration::from_secs(1);
                    // Events may have been missed while the feed was down.
                    if tx.send(RemoteEvent::Resync).await.is_err() {
                        return;
                    }
                    poll(&http, &token, &tx, open).await
                }
                Err(e) => Err(e),
            },
        };
        match outcome {
            // The receiver is gone: nobody listens any more.
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, "Kitsu event feed interrupted; reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// An open Engine.IO session joined to `/events`.
struct Connection {
    url: String,
    poll_timeout: Duration,
}

async fn get_text(http: &HttpClient, url: &str, token: &str, timeout: Duration) -> Result<String> {
    let what = "GET /socket.io";
    let response = http
        .client()
        .get(url)
        .bearer_auth(token)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| crate::http::classify_transport(what, &e))?;
    if !response.status().is_success() {
        return Err(crate::http::error_from_response(what, response).await);
    }
    response
        .text()
        .await
        .map_err(|e| crate::http::classify_transport(what, &e))
}

async fn post_text(http: &HttpClient, url: &str, token: &str, body: String) -> Result<()> {
    let what = "POST /socket.io";
    let response = http
        .client()
        .post(url)
        .bearer_auth(token)
        .header("Content-Type", "text/plain;charset=UTF-8")
        .body(body)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| crate::http::classify_transport(what, &e))?;
    if !response.status().is_success() {
        return Err(crate::http::error_from_response(what, response).await);
    }
    Ok(())
}

/// Engine.IO handshake, then the socket.io join of `/events` with the access token.
async fn connect(http: &HttpClient, base: &str, token: &str) -> Result<Connection> {
    let endpoint = format!("{base}/socket.io/?EIO=4&transport=polling");
    let handshake = get_text(http, &endpoint, token, Duration::from_secs(20)).await?;
    let Some(Packet::Open {
        sid,
        ping_interval,
        ping_timeout,
    }) = parse_payload(&handshake).into_iter().next()
    else {
        return Err(ConnectorError::bad_response(
            "Kitsu event stream: no Engine.IO handshake",
        ));
    };
    let url = format!("{endpoint}&sid={sid}");
    let auth = serde_json::json!({ "token": token }).to_string();
    post_text(http, &url, token, format!("40{NAMESPACE},{auth}")).await?;
    Ok(Connection {
        url,
        poll_timeout: ping_interval + ping_timeout + Duration::from_secs(5),
    })
}

struct Dedup {
    recent: VecDeque<(String, Instant)>,
}

impl Dedup {
    fn fresh(&mut self, key: String) -> bool {
        let now = Instant::now();
        self.recent
            .retain(|(_, at)| now.duration_since(*at) < Duration::from_secs(2));
        if self.recent.iter().any(|(k, _)| *k == key) {
            return false;
        }
        self.recent.push_back((key, now));
        true
    }
}

/// Long-polls an open connection until an error. `Ok(())` only when the receiver was dropped.
async fn poll(
    http: &HttpClient,
    token: &str,
    tx: &mpsc::Sender<RemoteEvent>,
    open: Connection,
) -> Result<()> {
    let mut dedup = Dedup {
        recent: VecDeque::new(),
    };
    loop {
        let payload = get_text(http, &open.url, token, open.poll_timeout).await?;
        for packet in parse_payload(&payload) {
            match packet {
                Packet::Ping => post_text(http, &open.url, token, "3".to_owned()).await?,
                Packet::Close => {
                    return Err(ConnectorError::new(
                        ErrorKind::Offline,
                        "Kitsu event stream closed",
                    ));
                }
                Packet::ConnectError(why) => {
                    return Err(ConnectorError::new(
                        ErrorKind::Unauthorized,
                        format!("Kitsu event stream refused: {why}"),
                    ));
                }
                Packet::Event { name, data } => {
                    if !dedup.fresh(format!("{name}{data}")) {
                        continue;
                    }
                    if tx.send(to_remote_event(&name, &data)).await.is_err() {
                        return Ok(());
                    }
                }
                Packet::Connected | Packet::Open { .. } | Packet::Other => {}
            }
        }
        if tx.is_closed() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_parse() {
        let payload = "0{\"sid\":\"abc\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}";
        assert_eq!(
            parse_payload(payload),
            vec![Packet::Open {
                sid: "abc".into(),
                ping_interval: Duration::from_secs(25),
                ping_timeout: Duration::from_secs(20)
            }]
        );
        let many = "40/events,{\"sid\":\"x\"}\u{1e}2\u{1e}42/events,[\"comment:new\",{\"task_id\":\"t1\"}]\u{1e}42/events,12[\"x:y\",null]\u{1e}6\u{1e}42[\"default\",1]";
        let packets = parse_payload(many);
        assert_eq!(packets[0], Packet::Connected);
        assert_eq!(packets[1], Packet::Ping);
        assert_eq!(
            packets[2],
            Packet::Event {
                name: "comment:new".into(),
                data: json!({"task_id": "t1"})
            }
        );
        assert_eq!(
            packets[3],
            Packet::Event {
                name: "x:y".into(),
                data: Value::Null
            }
        );
        assert_eq!(packets[4], Packet::Other);
        assert_eq!(packets[5], Packet::Other, "default namespace is not ours");
        assert_eq!(
            parse_payload("44/events,{\"message\":\"no\"}"),
            vec![Packet::ConnectError("{\"message\":\"no\"}".into())]
        );
        assert_eq!(parse_payload("42/events,[garbage"), vec![Packet::Other]);
        assert_eq!(parse_payload("0not json"), vec![Packet::Other]);
        assert!(parse_payload("").is_empty());
    }

    #[test]
    fn events_map_to_what_to_relist() {
        assert_eq!(
            to_remote_event("comment:new", &json!({"comment_id": "c", "task_id": "t"})),
            RemoteEvent::NotesChanged {
                asset: RemoteId::new("t")
            }
        );
        assert_eq!(
            to_remote_event(
                "preview-file:annotation-update",
                &json!({"preview_file_id": "p"})
            ),
            RemoteEvent::DrawingsChanged {
                version: RemoteId::new("p")
            }
        );
        assert_eq!(
            to_remote_event("task:status-changed", &json!({"project_id": "pr"})),
            RemoteEvent::AssetsChanged {
                node: Some(RemoteId::new("pr"))
            }
        );
        assert_eq!(
            to_remote_event("preview-room:join", &json!({})),
            RemoteEvent::Other {
                name: "preview-room:join".into()
            }
        );
        assert_eq!(
            to_remote_event("comment:new", &Value::Null),
            RemoteEvent::Other {
                name: "comment:new".into()
            }
        );
    }

    #[test]
    fn duplicates_within_two_seconds_are_dropped() {
        let mut d = Dedup {
            recent: VecDeque::new(),
        };
        assert!(d.fresh("a".into()));
        assert!(!d.fresh("a".into()));
        assert!(d.fresh("b".into()));
    }
}
