//! A fault-injecting HTTP proxy on loopback, shared by every platform's conformance fixture.
//!
//! It forwards each request to a real upstream server (a real Zou, a platform's local server)
//! unchanged, except for requests that match an injected [`Fault`]: those get a 429 with
//! `Retry-After`, a 5xx, a malformed body, a delay long enough to time out, or a body cut short.
//! That is how the suite checks retry, rate-limit and error classification against the real
//! server without the server misbehaving on its own. Every request is logged with its arrival
//! time, so a test can check that a retry waited as long as `Retry-After` asked.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What to do instead of (or before) forwarding.
#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with this status, headers and body; the upstream never sees the request.
    Respond {
        /// HTTP status.
        status: u16,
        /// Extra headers (e.g. `Retry-After`).
        headers: Vec<(String, String)>,
        /// Body.
        body: String,
    },
    /// Forward, but answer 200 with a body that is not JSON.
    Malformed,
    /// Wait this long, then forward (long enough for the client to time out).
    Delay(Duration),
    /// Forward, then send only the first `bytes` of the body and drop the connection.
    CutBody {
        /// Bytes sent before the connection drops.
        bytes: usize,
    },
}

/// A rule: the next `times` requests whose path contains `path_contains` (and method matches)
/// get `action`.
#[derive(Debug, Clone)]
pub struct Fault {
    /// `GET`, `POST`, … or `None` for any.
    pub method: Option<String>,
    /// Substring of the path (no query).
    pub path_contains: String,
    /// What happens.
    pub action: FaultAction,
    /// How many matching requests it applies to.
    pub times: usize,
}

impl Fault {
    /// `times` answers of `status` to requests on `path_contains`.
    pub fn status(path_contains: &str, status: u16, times: usize) -> Self {
        Self {
            method: None,
            path_contains: path_contains.to_owned(),
            action: FaultAction::Respond {
                status,
                headers: Vec::new(),
                body: format!("{{\"error\": true, \"message\": \"injected {status}\"}}"),
            },
            times,
        }
    }

    /// One 429 with `Retry-After: seconds`.
    pub fn rate_limit(path_contains: &str, seconds: u64) -> Self {
        Self {
            method: None,
            path_contains: path_contains.to_owned(),
            action: FaultAction::Respond {
                status: 429,
                headers: vec![("Retry-After".to_owned(), seconds.to_string())],
                body: "{\"message\": \"Too many requests\"}".to_owned(),
            },
            times: 1,
        }
    }

    /// Restricts the rule to one method.
    pub fn on(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path, without query.
    pub path: String,
    /// When it arrived.
    pub at: Instant,
    /// Whether a fault was applied.
    pub faulted: bool,
}

#[derive(Default)]
struct State {
    faults: Vec<Fault>,
    seen: Vec<Seen>,
}

/// The running proxy. Dropping it stops accepting connections.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type ProxyBody = BoxBody<Bytes, std::io::Error>;

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (free port) forwarding to `upstream` (scheme://host:port).
    pub async fn start(upstream: &str) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let upstream = upstream.trim_end_matches('/').to_owned();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&shared);
                let client = client.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(req, Arc::clone(&state), client.clone(), upstream.clone())
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule (rules are tried in the order added).
    pub fn inject(&self, fault: Fault) {
        if let Ok(mut state) = self.state.lock() {
            state.faults.push(fault);
        }
    }

    /// Removes every rule not used up yet.
    pub fn clear(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.faults.clear();
        }
    }

    /// Every request seen so far whose path contains `path_contains`.
    pub fn seen(&self, path_contains: &str) -> Vec<Seen> {
        match self.state.lock() {
            Ok(state) => state
                .seen
                .iter()
                .filter(|s| s.path.contains(path_contains))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn full(status: u16, headers: &[(String, String)], body: Bytes) -> Response<ProxyBody> {
    let mut response = Response::new(Full::new(body).map_err(|never| match never {}).boxed());
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            hyper::header::HeaderName::from_bytes(name.as_bytes()),
            hyper::header::HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<Mutex<State>>,
    client: reqwest::Client,
    upstream: String,
) -> Result<Response<ProxyBody>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let action = {
        let mut guard = match state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let index = guard.faults.iter().position(|f| {
            f.times > 0
                && path.contains(&f.path_contains)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(&method))
        });
        let action = index.map(|i| {
            guard.faults[i].times -= 1;
            guard.faults[i].action.clone()
        });
        guard.faults.retain(|f| f.times > 0);
        guard.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            at: Instant::now(),
            faulted: action.is_some(),
        });
        action
    };
    if let Some(FaultAction::Respond {
        status,
        headers,
        body,
    }) = &action
    {
        return Ok(full(*status, headers, Bytes::from(body.clone())));
    }
    if let Some(FaultAction::Delay(delay)) = &action {
        tokio::time::sleep(*delay).await;
    }
    let headers = req.headers().clone();
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(full(
                400,
                &[],
                Bytes::from_static(b"unreadable request body"),
            ));
        }
    };
    let mut forward = client.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
        format!("{upstream}{path_and_query}"),
    );
    for (name, value) in &headers {
        if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
            forward = forward.header(name.as_str(), value.as_bytes());
        }
    }
    let answer = match forward.body(body).send().await {
        Ok(answer) => answer,
        Err(e) => {
            return Ok(full(
                502,
                &[],
                Bytes::from(format!("proxy: upstream failed: {e}")),
            ));
        }
    };
    let status = answer.status().as_u16();
    let mut out_headers: Vec<(String, String)> = Vec::new();
    for (name, value) in answer.headers() {
        let skip = [
            hyper::header::TRANSFER_ENCODING,
            hyper::header::CONNECTION,
            hyper::header::CONTENT_LENGTH,
        ];
        if !skip.contains(name)
            && let Ok(value) = value.to_str()
        {
            out_headers.push((name.as_str().to_owned(), value.to_owned()));
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    match action {
        Some(FaultAction::Malformed) => {
            out_headers.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
            out_headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
            Ok(full(
                200,
                &out_headers,
                Bytes::from_static(b"{\"data\": [ {\"id\": <html>oops"),
            ))
        }
        Some(FaultAction::CutBody { bytes: keep }) => {
            let total = bytes.len();
            let head = bytes.slice(..keep.min(total));
            let frames: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
                Ok(Frame::data(head)),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "cut by the fault proxy",
                )),
            ];
            let body = StreamBody::new(futures::stream::iter(frames)).boxed();
            let mut response = Response::new(body);
            *response.status_mut() =
                hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
            for (name, value) in &out_headers {
                if let (Ok(name), Ok(value)) = (
                    hyper::header::HeaderName::from_bytes(name.as_bytes()),
                    hyper::header::HeaderValue::from_str(value),
                ) {
                    response.headers_mut().append(name, value);
                }
            }
            // Promise the whole body, deliver part of it: what a dropped connection looks like.
            response.headers_mut().insert(
                hyper::header::CONTENT_LENGTH,
                hyper::header::HeaderValue::from(total),
            );
            Ok(response)
        }
        _ => Ok(full(status, &out_headers, bytes)),
    }
}
