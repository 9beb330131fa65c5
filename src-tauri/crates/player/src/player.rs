//! The caller's handle on one clip: [`Player::open`] starts the clip's own thread and returns at
//! once; the shell sends [`PlayerCommand`]s and reads [`PlayerEvent`]s. Several players may be
//! open at once; each has its own pipelines and thread, so one failing leaves the others alone.
//!
//! Driving it from a shell:
//! ```text
//! let player = Player::open("/path/clip.mov", OpenOptions::default());
//! // a forwarding thread: for ev in player.events().iter() { … send to the webview … }
//! player.send(PlayerCommand::Seek(137))?;          // a Frame event with index 137 follows
//! player.send(PlayerCommand::Shuttle(ShuttleKey::L))?;
//! let f = player.latest_frame();                    // newest picture, any time
//! ```
//! The shell packs each [`crate::Frame`]'s RGBA rows into its own binary message for the webview.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::engine::{OpenOptions, PlayerCommand, PlayerEvent, PlayerStats, Shared, run};
use crate::{Frame, PlayerError};

/// One open clip.
pub struct Player {
    commands: Sender<PlayerCommand>,
    events: Receiver<PlayerEvent>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Player {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Player").finish_non_exhaustive()
    }
}

impl Player {
    /// Opens `media` (a path or a URI) on a new thread. Returns at once; `Opened` and the first
    /// `Frame` follow on [`Player::events`], or `Error` and `State(Failed)`.
    pub fn open(media: impl Into<String>, options: OpenOptions) -> Player {
        let media = media.into();
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded();
        let (ev_tx, ev_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared::default());
        let shared_thread = shared.clone();
        let name = format!("player {}", media.rsplit('/').next().unwrap_or(""));
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(media, options, cmd_rx, ev_tx, shared_thread));
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                // No thread: report it through the same channel the caller reads.
                let (tx, rx) = crossbeam_channel::unbounded();
                let _ = tx.send(PlayerEvent::Error(PlayerError::Pipeline(format!(
                    "cannot start the player thread: {e}"
                ))));
                return Player {
                    commands: cmd_tx,
                    events: rx,
                    shared,
                    thread: None,
                };
            }
        };
        Player {
            commands: cmd_tx,
            events: ev_rx,
            shared,
            thread,
        }
    }

    /// Sends a command; `Err(Closed)` when the player's thread has ended.
    pub fn send(&self, command: PlayerCommand) -> Result<(), PlayerError> {
        if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
            return Err(PlayerError::Closed);
        }
        self.commands.send(command).map_err(|_| PlayerError::Closed)
    }

    /// The player's events, in order. Clone the receiver to read it from another thread.
    pub fn events(&self) -> &Receiver<PlayerEvent> {
        &self.events
    }

    /// The frame on screen now (the newest shown), if any.
    pub fn latest_frame(&self) -> Option<Frame> {
        self.shared.latest.lock().ok().and_then(|l| l.clone())
    }

    /// Counters: cache use, frames decoded, shown and dropped.
    pub fn stats(&self) -> PlayerStats {
        self.shared.stats.lock().map(|s| *s).unwrap_or_default()
    }

    /// Closes the clip and waits for its thread to end.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.commands.send(PlayerCommand::Close);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Player {
    fn drop(&mut self) {
        self.shutdown();
    }
}
