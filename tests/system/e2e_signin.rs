//! End to end, in the real window: signing in to a real Zou (Kitsu) from the app, starting from an
//! empty data folder. "Add account", Kitsu, the server address and the seeded supervisor's e-mail
//! with a wrong password: the dialog shows the refusal. Then the right password: the dialog
//! closes, the account appears, its first sync fills the project tree and the seeded task is
//! listed; signing out (confirmed) then removes it. Screenshots go to `target/e2e/signin-*.png`.

use std::time::{Duration, Instant};

use anyhow::Context;
use framenote_tests::e2e::{App, scenario};

use crate::zou::{SUPERVISOR, asset_name, zou};

/// WebDriver's code point for the Enter key.
const ENTER: &str = "\u{E007}";

/// Types `text` into the element `css`, replacing what it held.
async fn type_into(app: &App, css: &str, text: &str) -> anyhow::Result<()> {
    let field = app.wait_for(css, Duration::from_secs(10)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

/// A screenshot once the page has painted what the DOM already says (WebKit paints a frame
/// later than the DOM changes; a screenshot taken at once can show the previous state).
async fn shot(app: &App, name: &str) -> anyhow::Result<()> {
    app.js("return new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))));")
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.screenshot(name).await?;
    Ok(())
}

/// Waits until `script` (JavaScript returning a boolean) is true.
async fn wait_until(app: &App, script: &str, within: Duration, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if app.js(script).await? == serde_json::Value::Bool(true) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    anyhow::bail!("timed out waiting for {what}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kitsu_account_is_added_from_the_window_after_a_wrong_password() -> anyhow::Result<()> {
    let zou = zou().await;
    let project = zou.seed.project("24")?;
    let data = tempfile::tempdir()?;

    scenario("signin", data.path(), async |app: &App| {
        let long = Duration::from_secs(30);
        app.wait_for("[data-testid=add-account]", long).await?.click().await?;
        app.wait_for("[data-testid=signin-dialog]", long).await?;
        app.wait_for(r#"[data-testid=signin-platform][data-platform=kitsu]"#, long)
            .await?
            .click()
            .await?;
        type_into(app, "[data-testid=signin-url]", &zou.api).await?;
        type_into(app, "[data-testid=signin-user]", SUPERVISOR.0).await?;
        type_into(app, "[data-testid=signin-password]", "not-the-password").await?;
        shot(app, "signin-form").await?;
        // Enter in the password field signs in.
        app.wait_for("[data-testid=signin-password]", long)
            .await?
            .send_keys(ENTER)
            .await?;
        let refused = app
            .wait_for_text("[data-testid=signin-error]", long, |t| !t.trim().is_empty())
            .await?;
        anyhow::ensure!(
            refused.contains("did not accept"),
            "the dialog says the password was refused: {refused:?}"
        );
        shot(app, "signin-wrong-password").await?;
        let accounts = r#"return document.querySelectorAll('[data-testid="account"][data-account-id^="kitsu-"]').length;"#;
        anyhow::ensure!(app.js(accounts).await? == 0, "no account after a refused sign-in");

        type_into(app, "[data-testid=signin-password]", SUPERVISOR.1).await?;
        app.wait_for("[data-testid=signin-submit]", long).await?.click().await?;
        wait_until(
            app,
            "return document.querySelector('[data-testid=signin-dialog]') === null;",
            long,
            "the dialog to close after signing in",
        )
        .await?;
        let account = r#"[data-testid="account"][data-account-id^="kitsu-"]"#;
        app.wait_for(account, long).await?;
        app.wait_for_text(&format!("{account} .acc-title"), long, |t| t.contains("Kitsu"))
            .await?;
        shot(app, "signin-account-added").await?;

        // The first sync fills the tree; open nodes until the one listing the seeded task.
        let asset = format!(r#"[data-testid="asset"][data-asset-id="{}"]"#, project.task_id);
        let open_next = format!(
            r#"if (document.querySelector('{asset}')) return 'found';
const acc = document.querySelector('{account}');
window.__opened = window.__opened || new Set();
const next = acc && [...acc.querySelectorAll('[data-testid="tree-node"]')].find(b => !window.__opened.has(b.dataset.nodeId));
if (!next) return null;
window.__opened.add(next.dataset.nodeId);
next.click();
return next.dataset.nodeId;"#
        );
        let started = Instant::now();
        loop {
            if app.js(&open_next).await? == "found" {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(90),
                "the seeded task never appeared in the synced tree"
            );
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        let name = app
            .wait_for_text(&format!("{asset} .name"), long, |t| !t.is_empty())
            .await?;
        anyhow::ensure!(
            name.contains(&asset_name("24")) || name.contains("SH024"),
            "the seeded task is listed by its name: {name:?}"
        );
        let state = app
            .js(&format!(
                "return document.querySelector('{account} [data-testid=account-connection]').dataset.state;"
            ))
            .await?;
        anyhow::ensure!(state == "online", "the account is online after its sync: {state}");
        shot(app, "signin-project-synced").await?;

        // Signing out (nothing waits to be sent): confirmed, then the account leaves the list.
        app.js(&format!("document.querySelector('{account} [data-testid=account-menu]').click(); return true;"))
            .await?;
        app.wait_for("[data-testid=account-menu-signout]", long).await?.click().await?;
        app.wait_for_text("[data-testid=signout-dialog]", long, |t| {
            t.contains("Notes still in the outbox are kept")
        })
        .await?;
        shot(app, "signin-sign-out").await?;
        app.wait_for("[data-testid=signout-confirm]", long).await?.click().await?;
        wait_until(
            app,
            &format!("return document.querySelector('{account}') === null;"),
            long,
            "the account to leave the list after signing out",
        )
        .await?;
        Ok(())
    })
    .await
    .context("sign-in scenario")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_capture_account_is_added_by_a_device_code_approved_in_the_browser()
-> anyhow::Result<()> {
    let running = crate::moxion::start()?;
    let base = running.server.url.clone();
    let data = tempfile::tempdir()?;

    scenario("signin-device", data.path(), async |app: &App| {
        let long = Duration::from_secs(30);
        app.wait_for("[data-testid=add-account]", long)
            .await?
            .click()
            .await?;
        app.wait_for(
            r#"[data-testid=signin-platform][data-platform=moxion]"#,
            long,
        )
        .await?
        .click()
        .await?;
        type_into(app, "[data-testid=signin-url]", &base).await?;
        app.wait_for("[data-testid=signin-submit]", long)
            .await?
            .click()
            .await?;
        let code = app
            .wait_for_text("[data-testid=signin-device-code]", long, |t| {
                !t.trim().is_empty()
            })
            .await?;
        let page = app
            .wait_for_text("[data-testid=signin-device-page]", long, |t| !t.is_empty())
            .await?;
        anyhow::ensure!(page.starts_with(&base), "the page to approve on: {page}");
        shot(app, "signin-device-code").await?;
        // Nothing is added until the person approves.
        tokio::time::sleep(Duration::from_millis(800)).await;
        let account = r#"[data-testid="account"][data-account-id^="moxion-"]"#;
        anyhow::ensure!(
            app.js(&format!(
                "return document.querySelectorAll('{account}').length;"
            ))
            .await?
                == 0,
            "no account before the approval"
        );
        crate::moxion::approve_device_code(&base, code.trim()).await?;
        app.wait_for(account, long).await?;
        wait_until(
            app,
            "return document.querySelector('[data-testid=signin-dialog]') === null;",
            long,
            "the dialog to close once approved",
        )
        .await?;
        app.wait_for_text(&format!("{account} .acc-title"), long, |t| {
            t.contains("Otto Other")
        })
        .await?;
        shot(app, "signin-device-approved").await?;
        Ok(())
    })
    .await
    .context("device sign-in scenario")
}
