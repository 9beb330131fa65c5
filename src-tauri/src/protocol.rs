//! The `framenote://` URI scheme: thumbnails for the UI, served from the data folder without JSON.
//! On Linux the webview fetches `framenote://localhost/thumb/<version key>?w=<width>`.
//!
//! Thumbnails are made once by the player (`framenote_player::thumbnail`, a real decode) and kept
//! under `derived/thumbs/`, keyed by version and width, so the library scrolls without decoding.

use std::path::PathBuf;

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tauri::http::{Request, Response, StatusCode};
use tauri::{Manager, UriSchemeContext, UriSchemeResponder};

use crate::state::AppState;

/// Widths a thumbnail may be asked in; others are rounded up to the next one, so a resized
/// sidebar does not fill the disk with near-identical pictures.
const WIDTHS: [u32; 4] = [160, 320, 640, 1280];

/// The URL the UI uses for a version's thumbnail.
pub fn thumbnail_url(version_key: &str, width: u32) -> String {
    format!(
        "framenote://localhost/thumb/{}?w={width}",
        utf8_percent_encode(version_key, NON_ALPHANUMERIC)
    )
}

/// The URL of one frame's picture (a note's frame, under its drawing).
pub fn frame_thumbnail_url(version_key: &str, index: i64, width: u32) -> String {
    format!("{}&frame={index}", thumbnail_url(version_key, width))
}

/// Handles one request on a worker task so that decoding a thumbnail never blocks the webview.
pub fn handle(
    ctx: UriSchemeContext<'_, tauri::Wry>,
    request: Request<Vec<u8>>,
    responder: UriSchemeResponder,
) {
    let app = ctx.app_handle().clone();
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let uri = request.uri();
        let response = route(&state, uri.path(), uri.query().unwrap_or("")).await;
        responder.respond(response);
    });
}

async fn route(state: &AppState, path: &str, query: &str) -> Response<Vec<u8>> {
    match path.strip_prefix("/thumb/") {
        Some(key) => {
            let key = percent_decode_str(key).decode_utf8_lossy().into_owned();
            let asked = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("w="))
                .and_then(|w| w.parse::<u32>().ok())
                .unwrap_or(320);
            let width = WIDTHS.into_iter().find(|w| *w >= asked).unwrap_or(1280);
            let frame = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("frame="))
                .and_then(|f| f.parse::<i64>().ok())
                .filter(|f| *f >= 0);
            match thumbnail(state, &key, width, frame).await {
                Ok(jpeg_or_png) => respond(StatusCode::OK, "image/png", jpeg_or_png),
                Err(message) => {
                    tracing::warn!(version = %key, %message, "thumbnail");
                    respond(StatusCode::NOT_FOUND, "text/plain", message.into_bytes())
                }
            }
        }
        None => respond(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("nothing at {path}").into_bytes(),
        ),
    }
}

/// A version's representative picture, or the picture of media frame `frame` when given.
async fn thumbnail(
    state: &AppState,
    key: &str,
    width: u32,
    frame: Option<i64>,
) -> Result<Vec<u8>, String> {
    let cached = cache_path(state, key, width, frame);
    if let Ok(bytes) = tokio::fs::read(&cached).await {
        return Ok(bytes);
    }
    let media = state.media_path(key).await.map_err(|e| e.message)?;
    let bytes = tokio::task::spawn_blocking(move || match frame {
        Some(index) => framenote_player::snapshot(
            &media,
            framenote_player::FrameTarget::Index(index),
            Some((width, u32::MAX / 4)),
        ),
        None => framenote_player::thumbnail(&media, width),
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    if let Some(dir) = cached.parent() {
        let _ = tokio::fs::create_dir_all(dir).await;
    }
    // Write-then-rename: a half-written file is never served.
    let tmp = cached.with_extension("tmp");
    if tokio::fs::write(&tmp, &bytes).await.is_ok() {
        let _ = tokio::fs::rename(&tmp, &cached).await;
    }
    Ok(bytes)
}

fn cache_path(state: &AppState, key: &str, width: u32, frame: Option<i64>) -> PathBuf {
    let safe = utf8_percent_encode(key, NON_ALPHANUMERIC).to_string();
    let name = match frame {
        Some(index) => format!("{safe}-{width}-f{index}.png"),
        None => format!("{safe}-{width}.png"),
    };
    state.dirs.derived.join("thumbs").join(name)
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("Content-Type", content_type)
        // The webview's origin is tauri://localhost; allow it to read these in a canvas too.
        .header("Access-Control-Allow-Origin", "*")
        .header("Cache-Control", "max-age=3600")
        .body(body)
        .unwrap_or_default()
}
