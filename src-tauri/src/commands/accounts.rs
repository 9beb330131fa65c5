//! Signing in to platforms from the window: with a password or a key (`sign_in`), with a device
//! code approved in a browser (`sign_in_device`, finished in the background and announced with
//! [`SignInFinished`], cancellable), signing in again to an account whose session expired (the
//! same commands with its `account_id`, prefilled from `sign_in_details`), and signing out
//! (`sign_out`, refused while work written here still waits for the platform).
//!
//! What a person types only passes through: the password or key goes to the connector and is
//! dropped; only the session the platform gave back is kept, by the engine's secret store. Nothing
//! here logs a credential (the request types have no `Debug`). After a sign-in the account's
//! first sync starts at once, through the same task as "Sync now".
//!
//! Kitsu's optional events URL (socket.io served apart from the API) is an account setting kept
//! in the cache (`account-events-url:<id>`, not a secret); [`connector_factory`] builds Kitsu
//! connectors with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use framenote_cache::AccountRecord;
use framenote_connectors::local::Probe;
use framenote_connectors::{Credentials, ErrorKind};
use framenote_core::{AccountId, Platform};
use framenote_sync::{Cancellation, ConnectorFactory, SyncEngine, SyncError, standard_factory};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager, State};
use tauri_specta::Event;

use crate::error::{ErrorCode, IpcError, IpcResult};
use crate::state::{AppState, DEMO_ACCOUNT, cache_error, sync_error};

/// What the person typed to prove who they are. Never logged (no `Debug`), never stored.
#[derive(Deserialize, specta::Type)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum SignInCredentials {
    /// E-mail (or user name) and password: Kitsu, iconik, Sony Ci, Dalet Flex.
    Password {
        /// E-mail or user name.
        user: String,
        /// The password.
        password: String,
    },
    /// A key issued by the platform: iconik's App-ID and auth token, Flow Capture's API ID and
    /// API key.
    #[serde(rename_all = "camelCase")]
    ApiKey {
        /// The key's id (iconik App-ID, Flow Capture API ID).
        key_id: Option<String>,
        /// The token or key itself.
        secret: String,
    },
}

/// A sign-in with a password or a key.
#[derive(Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SignInRequest {
    /// Which platform.
    pub platform: Platform,
    /// The server's address (Kitsu: its API address, usually ending in `/api`).
    pub base_url: String,
    /// What the person typed.
    pub credentials: SignInCredentials,
    /// A name for the account list; the platform and the user's name when empty.
    pub label: Option<String>,
    /// Signs in again to this existing account instead of adding one.
    pub account_id: Option<String>,
    /// Kitsu only: where its live events (socket.io) are served, when not beside the API.
    pub events_url: Option<String>,
}

/// A finished sign-in.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SignedIn {
    /// The account (new, or the one signed in again).
    pub account_id: String,
    /// Its name in the account list.
    pub label: String,
    /// Who signed in, as the platform names them.
    pub user_name: Option<String>,
    /// The first sync, started right away (`None` if it could not start; "Sync now" can).
    pub sync_task_id: Option<String>,
}

/// A device-code sign-in waiting for the person to approve it in a browser.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSignIn {
    /// Names this sign-in in [`SignInFinished`] and `cancel_sign_in`.
    pub flow_id: String,
    /// The code to type on the page.
    pub user_code: String,
    /// The page.
    pub verification_uri: String,
    /// How long the code stays valid.
    pub expires_in_seconds: u32,
}

/// How a device-code sign-in ended.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignInOutcome {
    /// Approved: the account is added and its first sync started.
    Done {
        /// The account.
        account: SignedIn,
    },
    /// Refused, expired, or the platform failed.
    Failed {
        /// Why.
        error: IpcError,
    },
    /// The person cancelled it.
    Cancelled,
}

/// A device-code sign-in ended.
#[derive(Debug, Clone, Serialize, specta::Type, tauri_specta::Event)]
#[serde(rename_all = "camelCase")]
pub struct SignInFinished {
    /// The sign-in, as `sign_in_device` named it.
    pub flow_id: String,
    /// How it ended.
    pub outcome: SignInOutcome,
}

/// What the sign-in form is prefilled with to sign in again to an account.
#[derive(Debug, Clone, Serialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub struct SignInDetails {
    /// The account.
    pub account_id: String,
    /// Its platform.
    pub platform: Platform,
    /// The server it signed in to.
    pub base_url: String,
    /// Who signed in last (the login name where the platform gave it).
    pub user_name: Option<String>,
    /// Its name in the account list.
    pub label: String,
    /// Kitsu's events URL, when one was given.
    pub events_url: Option<String>,
}

/// Signs in with a password or a key, adds the account (or renews the session of
/// `request.account_id`) and starts its first sync.
#[tauri::command]
#[specta::specta]
pub async fn sign_in(
    app: AppHandle,
    state: State<'_, AppState>,
    request: SignInRequest,
) -> IpcResult<SignedIn> {
    let platform = signable(request.platform)?;
    let base_url = normalise_url(&request.base_url, "server address")?;
    let events_url = match (&request.events_url, platform) {
        (Some(url), Platform::Kitsu) if !url.trim().is_empty() => {
            Some(normalise_url(url, "events address")?)
        }
        _ => None,
    };
    let credentials = credentials(platform, request.credentials)?;
    let existing = existing_account(&state, request.account_id.as_deref(), platform).await?;
    let label = label_for(request.label, existing.as_ref());
    if platform == Platform::Kitsu {
        // Before the sign-in builds its connector, so the live events use it from the start.
        remember_events_url(existing.as_ref().map(|a| &a.id), events_url.as_deref());
    }
    let record = state
        .engine
        .login(
            platform,
            &base_url,
            &credentials,
            label.as_deref(),
            existing.map(|a| a.id),
        )
        .await
        .map_err(|e| sign_in_error(platform, &base_url, &credentials, e))?;
    // The credentials are not needed any more; dropping them here keeps their lifetime short.
    drop(credentials);
    if platform == Platform::Kitsu {
        keep_events_url(&state.engine, &record.id, events_url.as_deref()).await?;
    }
    tracing::info!(account = %record.id.0, platform = platform.key(), url = %base_url, "signed in");
    Ok(signed_in(&app, record).await)
}

/// Starts a device-code sign-in (Flow Capture): returns the code and the page at once, then waits
/// for the approval in the background and announces the end with [`SignInFinished`].
#[tauri::command]
#[specta::specta]
pub async fn sign_in_device(
    app: AppHandle,
    state: State<'_, AppState>,
    platform: Platform,
    base_url: String,
    label: Option<String>,
    account_id: Option<String>,
) -> IpcResult<DeviceSignIn> {
    let platform = signable(platform)?;
    let base_url = normalise_url(&base_url, "server address")?;
    let existing = existing_account(&state, account_id.as_deref(), platform).await?;
    let label = label_for(label, existing.as_ref());
    let flow_id = format!("sign-in-{}", uuid::Uuid::new_v4().simple());
    let cancel = Cancellation::new();
    if let Ok(mut tasks) = state.tasks.lock() {
        tasks.insert(flow_id.clone(), cancel.clone());
    }
    // The code reaches this command through `shown`; an error before any code was shown
    // reaches it the same way, and is then the command's error instead of an event.
    type Shown = tokio::sync::oneshot::Sender<IpcResult<DeviceSignIn>>;
    let (shown_tx, shown_rx) = tokio::sync::oneshot::channel();
    let shown: Arc<Mutex<Option<Shown>>> = Arc::new(Mutex::new(Some(shown_tx)));
    let engine = state.engine.clone();
    let task_app = app.clone();
    let flow = flow_id.clone();
    let show_slot = shown.clone();
    tauri::async_runtime::spawn(async move {
        let show_flow = flow.clone();
        let login = engine.login_with_device(
            platform,
            &base_url,
            label.as_deref(),
            existing.map(|a| a.id),
            move |login| {
                let info = DeviceSignIn {
                    flow_id: show_flow,
                    user_code: login.user_code.clone(),
                    verification_uri: login.verification_uri.clone(),
                    expires_in_seconds: u32::try_from(
                        login
                            .expires_at
                            .saturating_duration_since(std::time::Instant::now())
                            .as_secs(),
                    )
                    .unwrap_or(u32::MAX),
                };
                if let Some(tx) = take(&show_slot) {
                    let _ = tx.send(Ok(info));
                }
            },
        );
        let outcome = tokio::select! {
            result = login => Some(result),
            () = cancel.cancelled() => None,
        };
        if let Ok(mut tasks) = task_app.state::<AppState>().tasks.lock() {
            tasks.remove(&flow);
        }
        let outcome = match outcome {
            None => SignInOutcome::Cancelled,
            Some(Ok(record)) => {
                tracing::info!(account = %record.id.0, platform = platform.key(), "signed in by device code");
                SignInOutcome::Done {
                    account: signed_in(&task_app, record).await,
                }
            }
            Some(Err(e)) => SignInOutcome::Failed {
                error: sign_in_error(platform, &base_url, &Credentials::None, e),
            },
        };
        // Not shown yet: the command is still waiting and answers with this instead.
        if let Some(tx) = take(&shown) {
            let error = match outcome {
                SignInOutcome::Failed { error } => error,
                _ => IpcError::new(ErrorCode::Internal, "the sign-in ended before it began"),
            };
            let _ = tx.send(Err(error));
            return;
        }
        let finished = SignInFinished {
            flow_id: flow,
            outcome,
        };
        if let Err(err) = finished.emit(&task_app) {
            tracing::warn!(%err, "announcing the end of a device sign-in");
        }
    });
    match shown_rx.await {
        Ok(answer) => answer,
        Err(_) => Err(IpcError::new(
            ErrorCode::Internal,
            "the sign-in stopped before showing a code",
        )),
    }
}

/// Stops waiting for a device-code approval (unknown ids are ignored: it already ended).
#[tauri::command]
#[specta::specta]
pub fn cancel_sign_in(state: State<'_, AppState>, flow_id: String) -> IpcResult<()> {
    if let Some(token) = state
        .tasks
        .lock()
        .ok()
        .and_then(|t| t.get(&flow_id).cloned())
    {
        token.cancel();
    }
    Ok(())
}

/// What to prefill the sign-in form with to sign in again to `account_id`.
#[tauri::command]
#[specta::specta]
pub async fn sign_in_details(
    state: State<'_, AppState>,
    account_id: String,
) -> IpcResult<SignInDetails> {
    let account = AccountId(account_id);
    let record = state.account_record(&account).await?;
    let events_url = events_url_setting(&state.engine, &account).await?;
    Ok(SignInDetails {
        account_id: record.id.0,
        platform: record.platform,
        base_url: record.base_url,
        user_name: record.user_name,
        label: record.label,
        events_url,
    })
}

/// Signs out of an account: its session leaves the secret store and the account leaves this
/// machine. Refused while notes, note changes or uploads of the account still wait to be sent.
#[tauri::command]
#[specta::specta]
pub async fn sign_out(state: State<'_, AppState>, account_id: String) -> IpcResult<()> {
    if account_id == DEMO_ACCOUNT {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            "the demo library is built in; there is nothing to sign out of",
        ));
    }
    let account = AccountId(account_id);
    match state.engine.sign_out(&account).await {
        Ok(()) => {
            forget_events_url(&account);
            // Not a secret, but it belongs to the account that is gone.
            let key = events_url_key(&account);
            if let Err(err) = state
                .engine
                .cache()
                .set_setting(&key, &serde_json::Value::Null)
                .await
            {
                tracing::info!(%err, "forgetting the events URL of a removed account");
            }
            tracing::info!(account = %account.0, "signed out");
            Ok(())
        }
        Err(SyncError::Invalid(message)) => Err(IpcError::new(ErrorCode::InvalidInput, message)),
        Err(e) => Err(sync_error(e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Kitsu events URL: an account setting the connector factory reads
// ---------------------------------------------------------------------------------------------

/// Events URLs by account id. The factory is called synchronously (no cache access), so the
/// settings it needs are mirrored here from the cache: at start-up by [`load_account_settings`],
/// and at each sign-in.
fn events_urls() -> &'static RwLock<HashMap<String, String>> {
    static URLS: OnceLock<RwLock<HashMap<String, String>>> = OnceLock::new();
    URLS.get_or_init(|| RwLock::new(HashMap::new()))
}

/// The events URL of the account signing in now, before it has an id (a new account), under
/// this key; moved under the account's id once the sign-in has made it.
const SIGNING_IN: &str = "";

fn remember_events_url(account: Option<&AccountId>, url: Option<&str>) {
    let key = account.map_or(SIGNING_IN, |a| a.0.as_str()).to_string();
    if let Ok(mut urls) = events_urls().write() {
        match url {
            Some(url) => urls.insert(key, url.to_string()),
            None => urls.remove(&key),
        };
    }
}

fn forget_events_url(account: &AccountId) {
    if let Ok(mut urls) = events_urls().write() {
        urls.remove(&account.0);
    }
}

fn events_url_key(account: &AccountId) -> String {
    format!("account-events-url:{}", account.0)
}

async fn keep_events_url(
    engine: &SyncEngine,
    account: &AccountId,
    url: Option<&str>,
) -> IpcResult<()> {
    if let Ok(mut urls) = events_urls().write() {
        urls.remove(SIGNING_IN);
    }
    remember_events_url(Some(account), url);
    let value = url.map_or(serde_json::Value::Null, serde_json::Value::from);
    engine
        .cache()
        .set_setting(&events_url_key(account), &value)
        .await
        .map_err(cache_error)
}

async fn events_url_setting(engine: &SyncEngine, account: &AccountId) -> IpcResult<Option<String>> {
    Ok(engine
        .cache()
        .setting(&events_url_key(account))
        .await
        .map_err(cache_error)?
        .and_then(|v| v.as_str().map(str::to_string)))
}

/// Reads the account settings the connector factory needs (Kitsu events URLs) from the cache;
/// called once after the engine opens, before any connector is built.
pub async fn load_account_settings(engine: &SyncEngine) -> IpcResult<()> {
    for account in engine.cache().accounts().await.map_err(cache_error)? {
        if account.platform == Platform::Kitsu {
            let url = events_url_setting(engine, &account.id).await?;
            remember_events_url(Some(&account.id), url.as_deref());
        }
    }
    Ok(())
}

/// The standard connectors, with each Kitsu account's events URL where one was given.
pub fn connector_factory(probe: Probe) -> ConnectorFactory {
    let standard = standard_factory(probe);
    Arc::new(move |account: &AccountRecord, data_dir: &std::path::Path| {
        if account.platform == Platform::Kitsu {
            let events = events_urls().read().ok().and_then(|urls| {
                urls.get(&account.id.0)
                    .or_else(|| urls.get(SIGNING_IN))
                    .cloned()
            });
            if let Some(events_url) = events {
                let mut config =
                    framenote_connectors::kitsu::KitsuConfig::new(account.base_url.clone());
                config.events_url = Some(events_url);
                let connector = framenote_connectors::kitsu::KitsuConnector::new(config)?;
                return Ok(Arc::new(connector) as Arc<dyn framenote_connectors::Connector>);
            }
        }
        standard(account, data_dir)
    })
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn take<T>(slot: &Mutex<Option<T>>) -> Option<T> {
    // A poisoned slot only means a panic elsewhere; the value inside is still whole.
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// The local library is added from a folder, not signed in to.
fn signable(platform: Platform) -> IpcResult<Platform> {
    if platform == Platform::Local {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            "a local library is a folder on this machine; there is no sign-in",
        ));
    }
    Ok(platform)
}

/// A server address as the connectors want it: `http(s)://host…`, without a trailing slash.
pub(crate) fn normalise_url(text: &str, what: &str) -> IpcResult<String> {
    let url = text.trim().trim_end_matches('/');
    if url.is_empty() {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            format!("type the {what}"),
        ));
    }
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            format!("the {what} must start with https:// (or http://), e.g. https://{url}"),
        ));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            format!("{url:?} is not a valid {what}"),
        ));
    }
    Ok(url.to_string())
}

/// The connector's credentials from what was typed, checked for what the platform needs.
fn credentials(platform: Platform, typed: SignInCredentials) -> IpcResult<Credentials> {
    let missing = |what: &str| IpcError::new(ErrorCode::InvalidInput, format!("type the {what}"));
    match typed {
        SignInCredentials::Password { user, password } => {
            if matches!(platform, Platform::Moxion) {
                return Err(IpcError::new(
                    ErrorCode::Unsupported,
                    "Flow Capture signs in with a device code or an API key, not a password",
                ));
            }
            let user = user.trim().to_string();
            if user.is_empty() {
                return Err(missing(match platform {
                    Platform::Kitsu | Platform::Iconik => "e-mail address",
                    _ => "user name",
                }));
            }
            if password.is_empty() {
                return Err(missing("password"));
            }
            Ok(Credentials::Password { user, password })
        }
        SignInCredentials::ApiKey { key_id, secret } => {
            if !matches!(platform, Platform::Iconik | Platform::Moxion) {
                return Err(IpcError::new(
                    ErrorCode::Unsupported,
                    format!(
                        "{} signs in with a user name and password, not a key",
                        platform.display_name()
                    ),
                ));
            }
            let key_id = key_id
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty());
            if key_id.is_none() {
                return Err(missing(if platform == Platform::Iconik {
                    "App-ID"
                } else {
                    "API ID"
                }));
            }
            let secret = secret.trim().to_string();
            if secret.is_empty() {
                return Err(missing(if platform == Platform::Iconik {
                    "auth token"
                } else {
                    "API key"
                }));
            }
            Ok(Credentials::ApiKey { id: key_id, secret })
        }
    }
}

/// The account signed in again, checked to be of the platform the form was for.
async fn existing_account(
    state: &AppState,
    account_id: Option<&str>,
    platform: Platform,
) -> IpcResult<Option<AccountRecord>> {
    let Some(id) = account_id else {
        return Ok(None);
    };
    let record = state
        .engine
        .cache()
        .account(&AccountId(id.to_string()))
        .await
        .map_err(cache_error)?;
    if record.platform != platform {
        return Err(IpcError::new(
            ErrorCode::InvalidInput,
            format!(
                "this account is on {}, not {}",
                record.platform.display_name(),
                platform.display_name()
            ),
        ));
    }
    Ok(Some(record))
}

/// The label typed, else the existing account's own (signing in again keeps its name), else the
/// engine's default (platform and user).
fn label_for(typed: Option<String>, existing: Option<&AccountRecord>) -> Option<String> {
    typed
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .or_else(|| existing.map(|a| a.label.clone()))
}

/// After a sign-in: the account's first sync starts through the "Sync now" task.
async fn signed_in(app: &AppHandle, record: AccountRecord) -> SignedIn {
    let sync_task_id = match super::sync::sync_now(
        app.clone(),
        app.state::<AppState>(),
        record.id.0.clone(),
    )
    .await
    {
        Ok(task) => Some(task),
        Err(err) => {
            tracing::warn!(%err, account = %record.id.0, "the first sync did not start");
            None
        }
    };
    SignedIn {
        account_id: record.id.0,
        label: record.label,
        user_name: record.user_name,
        sync_task_id,
    }
}

/// A failed sign-in in words a person can act on: wrong password, server unreachable, not the
/// platform's server. The connector's own message follows for the details.
fn sign_in_error(
    platform: Platform,
    url: &str,
    credentials: &Credentials,
    error: SyncError,
) -> IpcError {
    let name = platform.display_name();
    let Some(kind) = error.connector_kind() else {
        tracing::warn!(%error, platform = platform.key(), "sign-in failed");
        return sync_error(error);
    };
    let detail = match &error {
        SyncError::Connector { source, .. } => source.message.clone(),
        other => other.to_string(),
    };
    tracing::info!(%detail, platform = platform.key(), %url, "sign-in refused or failed");
    let (code, message) = match kind {
        ErrorKind::LoginRequired | ErrorKind::Unauthorized => (
            ErrorCode::LoginRequired,
            match credentials {
                Credentials::Password { .. } => format!(
                    "{name} did not accept this {} and password. Check them and try again.",
                    match platform {
                        Platform::Kitsu | Platform::Iconik => "e-mail",
                        _ => "user name",
                    }
                ),
                Credentials::ApiKey { .. } => {
                    format!("{name} did not accept this key. Check both parts and try again.")
                }
                Credentials::None => format!("{name} did not sign you in: {detail}"),
            },
        ),
        ErrorKind::Offline => (
            ErrorCode::Offline,
            format!(
                "Cannot reach {url}. Check the address and your network connection. ({detail})"
            ),
        ),
        ErrorKind::Server | ErrorKind::RateLimited => (
            ErrorCode::Offline,
            format!("{url} had a problem answering; try again in a moment. ({detail})"),
        ),
        ErrorKind::NotFound | ErrorKind::BadResponse | ErrorKind::Rejected => (
            ErrorCode::InvalidInput,
            format!(
                "{url} does not answer like a {name} server. Check the address{}. ({detail})",
                match platform {
                    Platform::Kitsu => " (a Kitsu API address usually ends in /api)",
                    Platform::Flex => " (a Dalet Flex API address usually ends in /api)",
                    _ => "",
                }
            ),
        ),
        ErrorKind::Forbidden => (
            ErrorCode::Forbidden,
            format!("{name} refused this account access. ({detail})"),
        ),
        ErrorKind::Unsupported => (ErrorCode::Unsupported, detail),
        ErrorKind::Io => (
            ErrorCode::Internal,
            format!("signing in to {name} failed on this machine: {detail}"),
        ),
    };
    IpcError::new(code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use framenote_connectors::ConnectorError;

    #[test]
    fn addresses_are_checked_and_tidied() {
        assert_eq!(
            normalise_url("  https://kitsu.example.com/api/ ", "server address").ok(),
            Some("https://kitsu.example.com/api".to_string())
        );
        assert_eq!(
            normalise_url("http://127.0.0.1:5000", "server address").ok(),
            Some("http://127.0.0.1:5000".to_string())
        );
        for bad in [
            "",
            "   ",
            "kitsu.example.com/api",
            "https://",
            "https:///api",
            "https://a b",
        ] {
            let error = normalise_url(bad, "server address").err();
            assert!(
                error.is_some_and(|e| e.code == ErrorCode::InvalidInput),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn credentials_match_what_the_platform_needs() {
        let password = |user: &str, password: &str| SignInCredentials::Password {
            user: user.into(),
            password: password.into(),
        };
        assert!(credentials(Platform::Kitsu, password("sup@example.com", "pw")).is_ok());
        let refused = |platform, typed| credentials(platform, typed).err().map(|e| e.message);
        assert_eq!(
            refused(Platform::Kitsu, password(" ", "pw")).as_deref(),
            Some("type the e-mail address")
        );
        assert_eq!(
            refused(Platform::Flex, password("ann", "")).as_deref(),
            Some("type the password")
        );
        assert!(credentials(Platform::Moxion, password("ann", "pw")).is_err());
        let key = |id: Option<&str>, secret: &str| SignInCredentials::ApiKey {
            key_id: id.map(str::to_string),
            secret: secret.into(),
        };
        assert!(credentials(Platform::Iconik, key(Some("app-id"), "token")).is_ok());
        assert_eq!(
            refused(Platform::Iconik, key(None, "token")).as_deref(),
            Some("type the App-ID")
        );
        assert_eq!(
            refused(Platform::Moxion, key(Some("id"), " ")).as_deref(),
            Some("type the API key")
        );
        assert!(credentials(Platform::Kitsu, key(Some("id"), "k")).is_err());
    }

    #[test]
    fn sign_in_failures_say_what_to_do_and_never_echo_the_password() {
        let typed = Credentials::Password {
            user: "sup@example.com".into(),
            password: "hunter2-secret".into(),
        };
        let fail = |kind, message: &str| {
            sign_in_error(
                Platform::Kitsu,
                "http://127.0.0.1:9/api",
                &typed,
                SyncError::Connector {
                    platform: "Kitsu",
                    source: ConnectorError::new(kind, message),
                },
            )
        };
        let wrong = fail(ErrorKind::LoginRequired, "Kitsu refused the sign-in: 400");
        assert_eq!(wrong.code, ErrorCode::LoginRequired);
        assert!(
            wrong.message.contains("did not accept"),
            "{}",
            wrong.message
        );
        let unreachable = fail(ErrorKind::Offline, "connection refused");
        assert_eq!(unreachable.code, ErrorCode::Offline);
        assert!(
            unreachable
                .message
                .contains("Cannot reach http://127.0.0.1:9/api")
        );
        let other = fail(ErrorKind::BadResponse, "expected JSON");
        assert_eq!(other.code, ErrorCode::InvalidInput);
        assert!(
            other
                .message
                .contains("does not answer like a Kitsu server")
        );
        for e in [wrong, unreachable, other] {
            assert!(!e.message.contains("hunter2"), "{}", e.message);
        }
    }

    #[test]
    fn labels_typed_win_and_signing_in_again_keeps_the_name() {
        let record = AccountRecord {
            id: AccountId("kitsu-1".into()),
            platform: Platform::Kitsu,
            base_url: "https://k/api".into(),
            user_name: None,
            label: "Studio Kitsu".into(),
            created_at: String::new(),
            last_sync_at: None,
            last_sync_error: None,
        };
        assert_eq!(
            label_for(Some(" Mine ".into()), Some(&record)).as_deref(),
            Some("Mine")
        );
        assert_eq!(
            label_for(Some("  ".into()), Some(&record)).as_deref(),
            Some("Studio Kitsu")
        );
        assert_eq!(label_for(None, None), None);
    }
}
