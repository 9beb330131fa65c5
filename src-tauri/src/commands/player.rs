//! Playback commands: open a version in a player, drive it, close it. Frames go to the webview as
//! binary messages on a Tauri channel (see `frames.rs`); state changes go as a typed event.
//!
//! Flow control: while playing, the forwarder never lets more than [`MAX_IN_FLIGHT`] frames wait
//! in the webview. The UI acknowledges each frame it has drawn (`player_frame_drawn`); when the
//! window is full, newer frames replace the one waiting to be sent, so the picture on screen is
//! always the newest one and nothing queues up behind a slow renderer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use framenote_player::{
    OpenOptions, Player, PlayerCommand as EngineCommand, PlayerEvent, PlayerState,
};
use serde::{Deserialize, Serialize};
use tauri::ipc::{Channel, InvokeResponseBody, IpcResponse};
use tauri::{AppHandle, Manager, State};
use tauri_specta::Event;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::frames::{self, FrameHeader};
use crate::state::AppState;

/// Frames the webview may hold undrawn before the forwarder starts replacing them.
const MAX_IN_FLIGHT: u32 = 2;

/// One binary frame message; the UI receives it as an `ArrayBuffer`.
pub struct FrameMessage(Vec<u8>);

impl IpcResponse for FrameMessage {
    fn body(self) -> tauri::Result<InvokeResponseBody> {
        Ok(InvokeResponseBody::Raw(self.0))
    }
}

impl specta::Type for FrameMessage {
    fn definition(types: &mut specta::Types) -> specta::datatype::DataType {
        // An ArrayBuffer at run time; TypeScript sees `unknown` and the UI's frame parser checks it.
        <specta_typescript::Unknown as specta::Type>::definition(types)
    }
}

/// The open players, by id.
#[derive(Default)]
pub struct Players {
    next_id: AtomicU64,
    open: Mutex<HashMap<String, Arc<OpenPlayer>>>,
}

struct OpenPlayer {
    player: Player,
    in_flight: AtomicU32,
}

/// Frame rate as the UI reads it.
#[derive(Debug, Clone, Copy, Serialize, specta::Type)]
pub struct Rate {
    num: u32,
    den: u32,
}

/// What the UI needs to know about an opened clip.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct MediaFacts {
    frame_rate: Rate,
    first_frame: i64,
    frame_count: u64,
    start_timecode: Option<String>,
    drop_frame: bool,
    width: u32,
    height: u32,
    has_audio: bool,
}

/// Answer of `open_player`.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct OpenedPlayer {
    player_id: String,
    media: MediaFacts,
}

/// What the UI asks a player to do (frame numbers are 0-based media indices).
#[derive(Debug, Clone, Deserialize, specta::Type)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum PlayerCommand {
    /// Play forwards at 1×.
    Play,
    /// Stop on the frame on screen.
    Pause,
    /// Show a frame.
    Seek {
        /// Media index.
        frame: i64,
    },
    /// Pause and move by `delta` frames.
    Step {
        /// Frames, negative backwards.
        delta: i64,
    },
    /// Play at a signed rate (J/K/L shuttle speeds are ±1, ±2, ±4, ±8).
    #[serde(rename = "setRate")]
    SetRate {
        /// Speed and direction.
        rate: f64,
    },
    /// Loop between two frames, inclusive.
    #[serde(rename = "setLoop")]
    SetLoop {
        /// First frame of the loop.
        #[serde(rename = "in")]
        start: i64,
        /// Last frame of the loop.
        out: i64,
    },
    /// Stop looping.
    #[serde(rename = "clearLoop")]
    ClearLoop,
    /// 0..1.
    #[serde(rename = "setVolume")]
    SetVolume {
        /// Volume.
        volume: f64,
    },
    /// Mute or unmute.
    #[serde(rename = "setMuted")]
    SetMuted {
        /// Muted.
        muted: bool,
    },
    /// The viewport in device pixels; frames are fitted into it.
    #[serde(rename = "setViewport")]
    SetViewport {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
}

/// A player's news for the UI (frames go on the channel instead).
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PlayerNews {
    /// After every state change.
    #[serde(rename_all = "camelCase")]
    State {
        /// Which player.
        player_id: String,
        /// Playing or still.
        playing: bool,
        /// Signed speed (0 when paused).
        rate: f64,
    },
    /// Playback reached an end by itself.
    #[serde(rename_all = "camelCase")]
    Ended {
        /// Which player.
        player_id: String,
    },
    /// Something failed in this player; other players are unaffected.
    #[serde(rename_all = "camelCase")]
    Error {
        /// Which player.
        player_id: String,
        /// What failed.
        error: IpcError,
    },
}

/// Opens a version in a new player; its frames arrive on `channel`.
#[tauri::command]
#[specta::specta]
pub async fn open_player(
    app: AppHandle,
    state: State<'_, AppState>,
    version_key: String,
    viewport_w: u32,
    viewport_h: u32,
    channel: Channel<FrameMessage>,
) -> IpcResult<OpenedPlayer> {
    let path = state.media_path(&version_key).await?;
    let options = OpenOptions {
        output_size: Some((viewport_w.max(16), viewport_h.max(16))),
        frame_events: true,
        // The viewer converts YUV on its GPU; RGBA on the CPU would halve the frame rate.
        output_format: framenote_player::OutputFormat::I420,
        ..OpenOptions::default()
    };
    let player = Player::open(path.display().to_string(), options);

    // The first events are `Opened` then the first `Frame`, or an error: wait for the first.
    let events = player.events().clone();
    let opened = tauri::async_runtime::spawn_blocking(move || {
        loop {
            match events.recv() {
                Ok(PlayerEvent::Opened(info)) => return Ok(info),
                Ok(PlayerEvent::Error(err)) => {
                    return Err(IpcError::new(ErrorCode::MediaError, err.to_string()));
                }
                Ok(_) => continue,
                Err(_) => return Err(IpcError::new(ErrorCode::MediaError, "the player stopped")),
            }
        }
    })
    .await
    .map_err(|e| IpcError::internal("opening the player", e))??;

    let id = format!(
        "p{}",
        state.players.next_id.fetch_add(1, Ordering::Relaxed) + 1
    );
    let open = Arc::new(OpenPlayer {
        player,
        in_flight: AtomicU32::new(0),
    });
    if let Ok(mut map) = state.players.open.lock() {
        map.insert(id.clone(), open.clone());
    }
    spawn_forwarder(app.clone(), id.clone(), open.clone(), channel);

    // Long-GOP media gets a scrub proxy: used at once when made before, else made in the
    // background and handed to this player if it is still open then.
    if let Some(proxy) = state.scrub.existing(&path) {
        let _ = open.player.send(EngineCommand::UseScrubProxy(proxy));
    } else if opened.wants_scrub_proxy() {
        let player_id = id.clone();
        state.scrub.request(
            &path,
            Box::new(move |proxy| {
                let state = app.state::<AppState>();
                if let Ok(open) = state.players.get(&player_id) {
                    let _ = open.player.send(EngineCommand::UseScrubProxy(proxy));
                }
            }),
        );
    }

    let media = &opened.media;
    let start = media.start_timecode;
    Ok(OpenedPlayer {
        player_id: id,
        media: MediaFacts {
            frame_rate: Rate {
                num: media.frame_rate.num,
                den: media.frame_rate.den,
            },
            first_frame: media.first_frame,
            frame_count: media.frame_count.unwrap_or(0),
            start_timecode: start.map(|tc| tc.to_string()),
            drop_frame: start.is_some_and(|tc| tc.drop_frame),
            width: media.width.unwrap_or(opened.output_size.0),
            height: media.height.unwrap_or(opened.output_size.1),
            has_audio: opened.has_audio,
        },
    })
}

/// Sends a command to a player.
#[tauri::command]
#[specta::specta]
pub fn player_command(
    state: State<'_, AppState>,
    player_id: String,
    cmd: PlayerCommand,
) -> IpcResult<()> {
    let open = state.players.get(&player_id)?;
    let command = match cmd {
        PlayerCommand::Play => EngineCommand::Play,
        PlayerCommand::Pause => EngineCommand::Pause,
        PlayerCommand::Seek { frame } => EngineCommand::Seek(frame),
        PlayerCommand::Step { delta } => EngineCommand::Step(delta),
        PlayerCommand::SetRate { rate } => {
            if !rate.is_finite() || rate == 0.0 || rate.abs() > 16.0 {
                return Err(IpcError::new(
                    ErrorCode::InvalidInput,
                    format!("rate {rate} is not a playback speed"),
                ));
            }
            EngineCommand::SetRate(rate)
        }
        PlayerCommand::SetLoop { start, out } => {
            if out < start {
                return Err(IpcError::new(
                    ErrorCode::InvalidInput,
                    "the loop's out point is before its in point",
                ));
            }
            EngineCommand::SetLoop(Some((start, out)))
        }
        PlayerCommand::ClearLoop => EngineCommand::SetLoop(None),
        PlayerCommand::SetVolume { volume } => EngineCommand::SetVolume(volume.clamp(0.0, 1.0)),
        PlayerCommand::SetMuted { muted } => EngineCommand::SetMute(muted),
        PlayerCommand::SetViewport { width, height } => {
            EngineCommand::SetOutputSize(width.max(16), height.max(16))
        }
    };
    open.player
        .send(command)
        .map_err(|e| IpcError::new(ErrorCode::MediaError, e.to_string()))
}

/// The UI drew a frame it received; frees a slot in the flow-control window.
#[tauri::command]
#[specta::specta]
pub fn player_frame_drawn(state: State<'_, AppState>, player_id: String) -> IpcResult<()> {
    if let Ok(open) = state.players.get(&player_id) {
        let _ = open
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
    }
    Ok(())
}

/// Closes a player (closing an unknown id is not an error).
#[tauri::command]
#[specta::specta]
pub fn close_player(state: State<'_, AppState>, player_id: String) -> IpcResult<()> {
    let removed = state
        .players
        .open
        .lock()
        .ok()
        .and_then(|mut m| m.remove(&player_id));
    if let Some(open) = removed {
        let _ = open.player.send(EngineCommand::Close);
    }
    Ok(())
}

impl Players {
    fn get(&self, id: &str) -> IpcResult<Arc<OpenPlayer>> {
        self.open
            .lock()
            .ok()
            .and_then(|m| m.get(id).cloned())
            .ok_or_else(|| IpcError::new(ErrorCode::NotFound, "that player is closed"))
    }
}

fn spawn_forwarder(
    app: AppHandle,
    id: String,
    open: Arc<OpenPlayer>,
    channel: Channel<FrameMessage>,
) {
    let events = open.player.events().clone();
    let spawned = std::thread::Builder::new()
        .name(format!("frames {id}"))
        .spawn(move || {
            let mut playing = false;
            for event in events.iter() {
                match event {
                    PlayerEvent::Frame(frame) => {
                        // While playing, skip frames the webview has no room for; a still frame
                        // (seek, step) is always sent, since it is the answer to a request.
                        if playing && open.in_flight.load(Ordering::Acquire) >= MAX_IN_FLIGHT {
                            continue;
                        }
                        let header = FrameHeader {
                            width: frame.width,
                            height: frame.height,
                            flags: frames::layout_flags(frame.layout)
                                | if playing { frames::FLAG_PLAYING } else { 0 }
                                | if frame.from_proxy {
                                    frames::FLAG_PROXY
                                } else {
                                    0
                                },
                            index: frame.index.max(0) as u64,
                            display_number: frame.number,
                            timecode: frame.timecode.to_string(),
                        };
                        let message = frames::pack(&header, &tight_rows(&frame));
                        open.in_flight.fetch_add(1, Ordering::AcqRel);
                        if channel.send(FrameMessage(message)).is_err() {
                            break; // The webview is gone.
                        }
                    }
                    PlayerEvent::State(s) => {
                        let (is_playing, rate) = match s {
                            PlayerState::Playing { rate } => (true, rate),
                            _ => (false, 0.0),
                        };
                        playing = is_playing;
                        if !playing {
                            open.in_flight.store(0, Ordering::Release);
                        }
                        let _ = PlayerNews::State {
                            player_id: id.clone(),
                            playing,
                            rate,
                        }
                        .emit(&app);
                        if matches!(s, PlayerState::Closed) {
                            break;
                        }
                    }
                    PlayerEvent::Ended(_) => {
                        let _ = PlayerNews::Ended {
                            player_id: id.clone(),
                        }
                        .emit(&app);
                    }
                    PlayerEvent::Error(err) => {
                        let _ = PlayerNews::Error {
                            player_id: id.clone(),
                            error: IpcError::new(ErrorCode::MediaError, err.to_string()),
                        }
                        .emit(&app);
                    }
                    PlayerEvent::Opened(_) | PlayerEvent::Buffering(_) => {}
                }
            }
        });
    if let Err(err) = spawned {
        tracing::error!(%err, "cannot start the frame forwarder");
    }
}

/// The frame's pixels without row padding, as the UI's `ImageData` and textures expect (I420
/// planes come tight from the player).
fn tight_rows(frame: &framenote_player::Frame) -> std::borrow::Cow<'_, [u8]> {
    if frame.layout != framenote_player::PixelLayout::Rgba {
        return std::borrow::Cow::Borrowed(&frame.data);
    }
    let row = frame.width as usize * 4;
    if frame.stride as usize == row {
        return std::borrow::Cow::Borrowed(&frame.data[..row * frame.height as usize]);
    }
    let mut out = Vec::with_capacity(row * frame.height as usize);
    for y in 0..frame.height as usize {
        let start = y * frame.stride as usize;
        out.extend_from_slice(&frame.data[start..start + row]);
    }
    std::borrow::Cow::Owned(out)
}

/// Where a saved frame went.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct SnapshotResult {
    path: String,
}

/// Saves frame `frame` (media index) of a version at full resolution as PNG, with the reviewer's
/// drawing (`drawing_png`: base64 of a transparent PNG, any size, scaled to the frame) on top.
/// Files go to the user's Pictures folder under `Framenote/`.
#[tauri::command]
#[specta::specta]
pub async fn save_snapshot(
    state: State<'_, AppState>,
    version_key: String,
    frame: i64,
    drawing_png: Option<String>,
) -> IpcResult<SnapshotResult> {
    use base64::Engine as _;
    let media = state.media_path(&version_key).await?;
    let overlay = match drawing_png {
        Some(b64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| {
                    IpcError::new(ErrorCode::InvalidInput, "the drawing is not base64 PNG")
                })?,
        ),
        None => None,
    };
    let media_for_name = media.clone();
    let png = tauri::async_runtime::spawn_blocking(move || -> IpcResult<Vec<u8>> {
        let frame_png =
            framenote_player::snapshot(&media, framenote_player::FrameTarget::Index(frame), None)
                .map_err(|e| IpcError::new(ErrorCode::MediaError, e.to_string()))?;
        match overlay {
            Some(overlay) => crate::snapshot::composite(&frame_png, &overlay)
                .map_err(|e| IpcError::new(ErrorCode::InvalidInput, e)),
            None => Ok(frame_png),
        }
    })
    .await
    .map_err(|e| IpcError::internal("saving the frame", e))??;
    let folder = dirs::picture_dir()
        .unwrap_or_else(|| state.dirs.data.clone())
        .join("Framenote");
    std::fs::create_dir_all(&folder).map_err(|e| {
        IpcError::new(
            ErrorCode::Storage,
            format!("cannot create {}: {e}", folder.display()),
        )
    })?;
    let stem = media_for_name
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "frame".into());
    let path = folder.join(format!("{stem}_{frame:06}.png"));
    std::fs::write(&path, png).map_err(|e| {
        IpcError::new(
            ErrorCode::Storage,
            format!("cannot write {}: {e}", path.display()),
        )
    })?;
    Ok(SnapshotResult {
        path: path.display().to_string(),
    })
}
