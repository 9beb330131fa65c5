//! End to end, in the real window: files dropped onto the library. WebDriver cannot drag files
//! from the OS, so the test delivers what the shell forwards for an OS drop — the
//! `drag-drop-event` messages (enter over a tree row, over, drop), emitted on Tauri's event bus
//! from the page — and everything after is real: the UI resolves the row under the pointer, the
//! shell plans the upload (a text file refused with its reason), the dialog sends, the transfer
//! queue copies the file into the library folder, and the new clip is listed. The shell's own
//! translation of Tauri's `DragDropEvent` is tested in `src-tauri/src/commands/uploads.rs`.
//! Screenshots go to `target/e2e/`.

use std::time::Duration;

use framenote_tests::e2e::{App, app_cli, scenario};

/// Emits one drag-drop message as the shell does for an OS drag.
async fn drag_event(app: &App, payload: serde_json::Value) -> anyhow::Result<()> {
    let script = format!(
        "return window.__TAURI_INTERNALS__.invoke('plugin:event|emit', {{event: 'drag-drop-event', payload: {payload}}}).then(() => true);"
    );
    app.js(&script).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_dropped_on_a_library_folder_are_checked_sent_and_listed() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let library = tempfile::tempdir()?;
    framenote_tests::platform_server::make_clip(
        &library.path().join("sh010.mp4"),
        "24",
        1.0,
        "01:00:00:00",
    )?;
    app_cli(
        data.path(),
        &[
            "login",
            "--platform",
            "local",
            "--url",
            &library.path().display().to_string(),
            "--label",
            "Cutting room",
        ],
        &[],
    )?;
    app_cli(data.path(), &["sync"], &[])?;
    let drops = tempfile::tempdir()?;
    let render = drops.path().join("sh020_comp_v003.mp4");
    framenote_tests::platform_server::make_clip(&render, "24", 1.0, "01:00:00:00")?;
    let notes = drops.path().join("notes.txt");
    std::fs::write(&notes, "not media")?;
    let paths = serde_json::json!([render.display().to_string(), notes.display().to_string()]);

    scenario("uploads-drop", data.path(), async |app: &App| {
        let long = Duration::from_secs(30);
        // The library folder of the "Cutting room" account: the drop target.
        let account = r#"[data-testid="account"][data-account-id^="local-"]:not([data-account-id="local-demo"])"#;
        app.wait_for(account, long).await?;
        app.js(&format!(
            "document.querySelector('{} .acc-name').click(); return true;",
            account.replace('\'', "\\'")
        ))
        .await?;
        // The tree row carries the account and node a drop resolves to.
        let row = r#".row[data-account-id^="local-"]:not([data-account-id="local-demo"])"#;
        app.wait_for(row, long).await?;
        let at = app
            .js(&format!(
                "const r = document.querySelector('{}').getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2];",
                row.replace('\'', "\\'")
            ))
            .await?;
        let (x, y) = (at[0].as_f64().unwrap_or(0.0), at[1].as_f64().unwrap_or(0.0));
        drag_event(app, serde_json::json!({"kind": "enter", "paths": paths, "x": x, "y": y})).await?;
        drag_event(app, serde_json::json!({"kind": "over", "x": x, "y": y})).await?;
        let title = app
            .wait_for_text(r#"[data-testid="drop-overlay-title"]"#, long, |t| t.contains("Drop"))
            .await?;
        // Let the overlay paint before the picture is taken.
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.screenshot("uploads-1-drag-over-folder").await?;
        drag_event(app, serde_json::json!({"kind": "drop", "paths": paths, "x": x, "y": y})).await?;

        app.wait_for(r#"[data-testid="upload-dialog"]"#, long).await?;
        app.wait_for(r#"[data-testid="upload-file"][data-accepted="true"]"#, long).await?;
        let refused = app
            .wait_for_text(r#"[data-testid="upload-file-reason"]"#, long, |t| !t.is_empty())
            .await?;
        assert!(refused.contains("not a movie"), "notes.txt is refused with its reason: {refused}");
        let destination = app
            .wait_for_text(r#"[data-testid="upload-destination"]"#, long, |t| !t.is_empty())
            .await?;
        assert!(destination.contains("Cutting room"), "{destination} (overlay said {title})");
        app.screenshot("uploads-2-dialog").await?;
        app.js(r#"document.querySelector('[data-testid="upload-send"]').click(); return true;"#)
            .await?;

        app.wait_for(r#"[data-testid="transfer"][data-state="done"]"#, Duration::from_secs(60))
            .await?;
        app.screenshot("uploads-3-transfer-done").await?;
        let copied = library.path().join("sh020_comp_v003.mp4");
        assert_eq!(std::fs::read(&copied)?, std::fs::read(&render)?);
        // "Done" is announced once the library lists it: open the folder, the clip is there.
        app.js(r#"const p = document.querySelector('[data-testid="transfer-panel-close"]'); if (p) p.click(); return true;"#)
            .await?;
        app.js(&format!(
            "document.querySelector('{} [data-testid=\"tree-node\"]').click(); return true;",
            row.replace('\'', "\\'")
        ))
        .await?;
        app.wait_for_text(r#"[data-testid="asset-list"]"#, long, |t| t.contains("sh020_comp_v003"))
            .await?;
        app.screenshot("uploads-4-listed").await?;
        Ok(())
    })
    .await
}
