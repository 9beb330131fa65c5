//! The IPC commands and events, one file per domain, and the tauri-specta registry that exports
//! them to `ui/src/ipc/bindings.ts`. Commands are thin: parse, call a library crate, map the error.

pub mod accounts;
pub mod app;
pub mod library;
pub mod notes;
pub mod player;
pub mod sync;
pub mod uploads;

use tauri_specta::{Builder, collect_commands, collect_events};

/// Every command and event the UI can use. The TypeScript bindings are generated from this.
pub fn specta_builder() -> Builder<tauri::Wry> {
    Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            app::app_info,
            library::list_accounts,
            accounts::sign_in,
            accounts::sign_in_device,
            accounts::cancel_sign_in,
            accounts::sign_in_details,
            accounts::sign_out,
            library::list_nodes,
            library::list_assets,
            notes::list_notes,
            notes::create_note,
            notes::set_note_status,
            notes::retry_note,
            notes::discard_note,
            notes::list_statuses,
            notes::list_people,
            notes::export_notes,
            sync::sync_now,
            sync::cancel_task,
            sync::pin,
            sync::unpin,
            player::open_player,
            player::player_command,
            player::player_frame_drawn,
            player::close_player,
            player::save_snapshot,
            uploads::plan_upload,
            uploads::queue_upload,
            uploads::list_transfers,
            uploads::pause_transfer,
            uploads::resume_transfer,
            uploads::cancel_transfer,
            uploads::retry_transfer,
            uploads::clear_finished_transfers,
            uploads::transfer_settings,
            uploads::set_transfer_settings,
            uploads::list_watch_folders,
            uploads::add_watch_folder,
            uploads::set_watch_folder_enabled,
            uploads::remove_watch_folder,
        ])
        .events(collect_events![
            player::PlayerNews,
            accounts::SignInFinished,
            sync::TaskProgress,
            sync::SyncProgress,
            sync::OutboxChanged,
            sync::OfflineChanged,
            sync::ConnectionChanged,
            uploads::Transfer,
            uploads::WatchFolder,
            uploads::DragDropEvent,
        ])
        // Frame indices and byte counts fit in 2^53; the UI reads them as numbers.
        .dangerously_cast_bigints_to_number()
}

/// Path of the generated bindings, relative to the repository root.
#[cfg(test)]
const BINDINGS_PATH: &str = "ui/src/ipc/bindings.ts";

#[cfg(test)]
mod tests {
    use super::*;

    /// The UI compiles against `ui/src/ipc/bindings.ts`; it must be what the commands say.
    /// Set `FRAMENOTE_WRITE_BINDINGS=1` to regenerate it.
    #[test]
    fn typescript_bindings_are_current() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let committed = root.join(BINDINGS_PATH);
        let fresh =
            std::env::temp_dir().join(format!("framenote-bindings-{}.ts", std::process::id()));
        specta_builder()
            .export(specta_typescript::Typescript::default(), &fresh)
            .expect("bindings export");
        let fresh_text = std::fs::read_to_string(&fresh).expect("read exported bindings");
        let _ = std::fs::remove_file(&fresh);
        if std::env::var_os("FRAMENOTE_WRITE_BINDINGS").is_some() {
            std::fs::create_dir_all(committed.parent().expect("bindings folder")).expect("mkdir");
            std::fs::write(&committed, &fresh_text).expect("write bindings");
        }
        let committed_text = std::fs::read_to_string(&committed).unwrap_or_default();
        assert!(
            committed_text == fresh_text,
            "{BINDINGS_PATH} is stale: run `FRAMENOTE_WRITE_BINDINGS=1 cargo test --lib typescript_bindings` and commit it"
        );
    }
}
