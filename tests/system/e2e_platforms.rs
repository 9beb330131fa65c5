//! End to end, in the real window: one review desk for every platform. The four closed
//! platforms' document-faithful servers are started, a reviewer signs in to each with the
//! headless CLI (same binary, same data folder), syncs, and the app then lists all of them side by
//! side with the demo library, each with its own capabilities; a screenshot goes to `target/e2e/`.

use std::path::Path;
use std::time::Duration;

use framenote_tests::e2e::{App, app_cli};

const CI_CLIENT: (&str, &str) = ("FRAMENOTE_SONYCI_CLIENT_ID", "framenote-test-client");
const CI_SECRET: (&str, &str) = ("FRAMENOTE_SONYCI_CLIENT_SECRET", "framenote-test-secret");

/// `framenote <args>` in CLI mode on `data`, with a password in the environment.
fn cli(data: &Path, args: &[&str], password: Option<&str>) -> anyhow::Result<String> {
    let mut env = vec![CI_CLIENT, CI_SECRET];
    if let Some(p) = password {
        env.push(("E2E_PASSWORD", p));
    }
    app_cli(data, args, &env)
}

fn sign_in_and_sync(
    data: &Path,
    platform: &str,
    url: &str,
    user: &str,
    password: &str,
    extra: &[&str],
) -> anyhow::Result<()> {
    let mut args = vec![
        "login",
        "--platform",
        platform,
        "--url",
        url,
        "--user",
        user,
        "--password-env",
        "E2E_PASSWORD",
    ];
    args.extend_from_slice(extra);
    cli(data, &args, Some(password))?;
    let accounts: serde_json::Value =
        serde_json::from_str(&cli(data, &["accounts", "--json"], None)?)?;
    // `accounts --json`: {"accounts": [{"account": {"id", "platform", …}, "outbox": …}], …}
    let id = accounts["accounts"]
        .as_array()
        .and_then(|list| {
            list.iter()
                .map(|row| &row["account"])
                .find(|a| a["platform"].as_str() == Some(platform))
                .and_then(|a| a["id"].as_str().map(str::to_string))
        })
        .ok_or_else(|| anyhow::anyhow!("no {platform} account after login: {accounts}"))?;
    cli(data, &["sync", "--account", &id], None)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_platform_is_listed_side_by_side() -> anyhow::Result<()> {
    let iconik = crate::iconik::start(&[])?;
    let ci = crate::sonyci::start(&[])?;
    let moxion = crate::moxion::start()?;
    let flex = crate::flex::start()?;
    let data = tempfile::tempdir()?;
    let d = data.path();
    sign_in_and_sync(
        d,
        "iconik",
        &iconik.server.url,
        "ana@example.com",
        "ana-pass",
        &[],
    )?;
    sign_in_and_sync(
        d,
        "sony_ci",
        &ci.server.url,
        "ana@example.com",
        "ana-pass",
        &[],
    )?;
    sign_in_and_sync(
        d,
        "moxion",
        &moxion.server.url,
        "framenote-test",
        "k3y-for-tests-only",
        &["--api-key"],
    )?;
    sign_in_and_sync(
        d,
        "flex",
        &format!("{}/api", flex.server.url),
        "rita",
        "flex-pass-1",
        &[],
    )?;

    let app =
        App::launch_with_env(d, &[CI_CLIENT, CI_SECRET, ("FRAMENOTE_SECRETS", "file")]).await?;
    let outcome = async {
        let long = Duration::from_secs(30);
        app.wait_for("[data-testid=account]", long).await?;
        let deadline = std::time::Instant::now() + long;
        let mut platforms = serde_json::Value::Null;
        while std::time::Instant::now() < deadline {
            platforms = app
                .js("return [...document.querySelectorAll('[data-testid=account]')].map(e => e.textContent);")
                .await?;
            if platforms.as_array().is_some_and(|a| a.len() >= 5) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let listed = platforms.to_string();
        for name in ["Demo library", "iconik", "Sony Ci", "Flow Capture", "Dalet Flex"] {
            assert!(listed.contains(name), "{name} is listed: {listed}");
        }
        // Let the demo clip's first frame and the thumbnails arrive before the picture is taken.
        app.wait_for_text("[data-testid=frame-counter]", long, |t| t.trim() == "1001")
            .await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        app.screenshot("platforms-side-by-side").await?;
        anyhow::Ok(())
    }
    .await;
    if outcome.is_err() {
        let _ = app.screenshot("platforms-failure").await;
    }
    app.close().await;
    outcome
}
