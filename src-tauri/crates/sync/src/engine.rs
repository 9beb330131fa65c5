//! The engine: one per data folder. It owns the cache, the secret store, one connector per account
//! (built on demand by a [`ConnectorFactory`] and given its session from the secret store) and the
//! progress channel; pull, push and offline work are its methods (see `pull.rs`, `push.rs`,
//! `offline.rs`).
//!
//! The shell keeps one `Arc<SyncEngine>`; the CLI opens one per command. Both use the same data
//! folder layout: `framenote.db`, `media/<account>/…`, `local/<account>/…`, and the secret
//! fallback file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use framenote_cache::{AccountRecord, Cache, NewAccount};
use framenote_connectors::local::{LocalConnector, Probe};
use framenote_connectors::{Connector, ConnectorError, Credentials, ErrorKind, Session};
use framenote_core::{AccountId, Platform};
use tokio::sync::broadcast;

use crate::events::SyncEvent;
use crate::secrets::{SecretPreference, SecretStore, SecretsStatus};
use crate::{Result, SyncError};

/// Builds the connector for an account. The shell supplies one (it knows the player's probe and
/// any platform developer keys); [`standard_factory`] covers the platforms that need nothing more.
pub type ConnectorFactory = Arc<
    dyn Fn(&AccountRecord, &Path) -> std::result::Result<Arc<dyn Connector>, ConnectorError>
        + Send
        + Sync,
>;

/// Connectors for every platform: the local library, Kitsu, iconik, Flow Capture (Moxion), Dalet
/// Flex, and Sony Ci (whose API client comes from the environment). `data_dir` is the
/// engine's data folder (the local library keeps its notes under it).
pub fn standard_factory(probe: Probe) -> ConnectorFactory {
    Arc::new(move |account: &AccountRecord, data_dir: &Path| {
        let connector: Arc<dyn Connector> = match account.platform {
            Platform::Local => Arc::new(LocalConnector::new(
                PathBuf::from(&account.base_url),
                data_dir.join("local").join(safe_file_name(&account.id.0)),
                probe.clone(),
            )),
            Platform::Kitsu => Arc::new(framenote_connectors::kitsu::KitsuConnector::new(
                framenote_connectors::kitsu::KitsuConfig::new(account.base_url.clone()),
            )?),
            Platform::Iconik => Arc::new(framenote_connectors::iconik::IconikConnector::new(
                framenote_connectors::iconik::IconikConfig::new(account.base_url.clone()),
            )?),
            Platform::Moxion => Arc::new(framenote_connectors::moxion::MoxionConnector::new(
                framenote_connectors::moxion::MoxionConfig {
                    host: account.base_url.clone(),
                    ..Default::default()
                },
            )?),
            Platform::Flex => Arc::new(framenote_connectors::flex::FlexConnector::new(
                framenote_connectors::flex::FlexConfig::new(account.base_url.clone()),
            )?),
            Platform::SonyCi => {
                // Ci's password grant also needs the studio's API client: a developer key the
                // deployment provides, never typed by the reviewer and never stored in SQLite.
                let id = std::env::var("FRAMENOTE_SONYCI_CLIENT_ID").unwrap_or_default();
                let secret = std::env::var("FRAMENOTE_SONYCI_CLIENT_SECRET").unwrap_or_default();
                if id.is_empty() {
                    return Err(ConnectorError::unsupported(
                        "Sony Ci needs the studio's API client: set FRAMENOTE_SONYCI_CLIENT_ID and FRAMENOTE_SONYCI_CLIENT_SECRET",
                    ));
                }
                let config = if account.base_url.contains("cimediacloud.com") {
                    framenote_connectors::sonyci::SonyCiConfig::new(id, secret)
                } else {
                    // A private deployment (or the test server) serves API and uploads on one host.
                    framenote_connectors::sonyci::SonyCiConfig::with_hosts(
                        account.base_url.clone(),
                        account.base_url.clone(),
                        id,
                        secret,
                    )
                };
                Arc::new(framenote_connectors::sonyci::SonyCiConnector::new(config)?)
            }
        };
        Ok(connector)
    })
}

/// Tunables. Defaults suit a desktop; tests shorten the retry delays.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Connector calls in flight at once while pulling (listings and notes).
    pub pull_concurrency: usize,
    /// Offline downloads at once.
    pub download_concurrency: usize,
    /// Most bytes offline copies may take (all accounts); `None` = no limit.
    pub disk_budget: Option<u64>,
    /// First outbox retry delay; doubled per attempt, with full jitter.
    pub retry_base: Duration,
    /// Longest outbox retry delay.
    pub retry_max: Duration,
    /// Longest a single outbox operation may take before it counts as a timeout.
    pub op_timeout: Duration,
    /// A full listing (which detects deletions) at least this often; in between, listings are
    /// incremental where the platform supports it.
    pub full_listing_every: Duration,
    /// Which secret storage to use.
    pub secrets: SecretPreference,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            pull_concurrency: 8,
            download_concurrency: 3,
            disk_budget: None,
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(600),
            op_timeout: Duration::from_secs(120),
            full_listing_every: Duration::from_secs(6 * 3600),
            secrets: SecretPreference::from_env(),
        }
    }
}

/// The sync engine of one data folder.
pub struct SyncEngine {
    pub(crate) cache: Cache,
    pub(crate) secrets: SecretStore,
    pub(crate) data_dir: PathBuf,
    pub(crate) config: SyncConfig,
    factory: ConnectorFactory,
    connectors: Mutex<HashMap<AccountId, Arc<dyn Connector>>>,
    events: broadcast::Sender<SyncEvent>,
    /// Wakes the upload queue (new transfers, resumed ones, changed settings).
    pub(crate) uploads_wake: tokio::sync::Notify,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("data_dir", &self.data_dir)
            .field("secrets", self.secrets.status())
            .finish_non_exhaustive()
    }
}

/// The name of the database file inside a data folder.
pub const DATABASE_FILE: &str = "framenote.db";

impl SyncEngine {
    /// Opens the engine for `data_dir` (created if needed): the database, the secret store.
    pub async fn open(
        data_dir: &Path,
        factory: ConnectorFactory,
        config: SyncConfig,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| SyncError::io(format!("creating {}", data_dir.display()), e))?;
        let cache = Cache::open(&data_dir.join(DATABASE_FILE)).await?;
        let secrets = SecretStore::open(data_dir, config.secrets).await?;
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            cache,
            secrets,
            data_dir: data_dir.to_path_buf(),
            config,
            factory,
            connectors: Mutex::new(HashMap::new()),
            events,
            uploads_wake: tokio::sync::Notify::new(),
        })
    }

    /// The cache, for reads and local writes (notes, pins) by the shell.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where secrets are kept.
    pub fn secrets_status(&self) -> &SecretsStatus {
        self.secrets.status()
    }

    /// Progress events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }

    pub(crate) fn events_sender(&self) -> broadcast::Sender<SyncEvent> {
        self.events.clone()
    }

    pub(crate) fn emit(&self, event: SyncEvent) {
        // No listener is fine: progress is advisory.
        let _ = self.events.send(event);
    }

    /// Signs in to a platform and adds (or updates) the account. The session goes to the secret
    /// store, the account row (no secrets) to the cache. `id` reuses an existing account.
    pub async fn login(
        &self,
        platform: Platform,
        base_url: &str,
        credentials: &Credentials,
        label: Option<&str>,
        id: Option<AccountId>,
    ) -> Result<AccountRecord> {
        let id = id.unwrap_or_else(|| new_account_id(platform));
        let connector = self.build_connector(&unsaved_account(&id, platform, base_url))?;
        let session = connector
            .authenticate(credentials)
            .await
            .map_err(|e| SyncError::connector(platform, e))?;
        self.keep_login(id, platform, base_url, label, connector, session)
            .await
    }

    /// Signs in by device code (Flow Capture): `show` gets the code and the page for the person
    /// (who approves it in a browser), then this waits for the approval and adds the account.
    pub async fn login_with_device(
        &self,
        platform: Platform,
        base_url: &str,
        label: Option<&str>,
        id: Option<AccountId>,
        show: impl FnOnce(&framenote_connectors::DeviceLogin),
    ) -> Result<AccountRecord> {
        let id = id.unwrap_or_else(|| new_account_id(platform));
        let connector = self.build_connector(&unsaved_account(&id, platform, base_url))?;
        let login = connector
            .start_device_login()
            .await
            .map_err(|e| SyncError::connector(platform, e))?;
        show(&login);
        let session = connector
            .finish_device_login(&login)
            .await
            .map_err(|e| SyncError::connector(platform, e))?;
        self.keep_login(id, platform, base_url, label, connector, session)
            .await
    }

    /// After a sign-in: the session to the secret store, the account row (no secrets) to the
    /// cache, the connector kept.
    async fn keep_login(
        &self,
        id: AccountId,
        platform: Platform,
        base_url: &str,
        label: Option<&str>,
        connector: Arc<dyn Connector>,
        session: Session,
    ) -> Result<AccountRecord> {
        // The secret first: an account row without its session would look signed in.
        self.secrets.save_session(&id, &session).await?;
        let label = label
            .map(str::to_string)
            .unwrap_or_else(|| match &session.user_name {
                Some(user) => format!("{} — {user}", platform.display_name()),
                None => platform.display_name().to_string(),
            });
        let record = self
            .cache
            .upsert_account(&NewAccount {
                id: id.clone(),
                platform,
                base_url: base_url.to_string(),
                user_name: session.user_name.clone(),
                label,
            })
            .await?;
        self.lock_connectors().insert(id, connector);
        Ok(record)
    }

    /// Forgets an account's session; its cached data and queued work stay.
    pub async fn logout(&self, account: &AccountId) -> Result<()> {
        self.lock_connectors().remove(account);
        self.secrets.delete_session(account).await
    }

    /// Removes an account, its cache and its session. Refused while notes are unsent unless
    /// `force`.
    pub async fn remove_account(&self, account: &AccountId, force: bool) -> Result<()> {
        self.cache.remove_account(account, force).await?;
        self.lock_connectors().remove(account);
        self.secrets.delete_session(account).await?;
        let media = self.media_dir(account);
        match std::fs::remove_dir_all(&media) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SyncError::io(format!("removing {}", media.display()), e)),
        }
    }

    /// Signs out of an account for good: its session leaves the secret store, and its row, cached
    /// library and offline copies leave this machine. Refused, with nothing removed, while work
    /// written here still waits for the platform (unsent notes, note changes in the outbox,
    /// unfinished uploads): [`SyncEngine::remove_account`] would drop outbox operations of notes
    /// that are already sent (a status change, an edit) and leave uploads without an account.
    pub async fn sign_out(&self, account: &AccountId) -> Result<()> {
        let notes = self.cache.unsent_notes(account).await?.len() as u64;
        let changes = self.cache.outbox_summary(Some(account)).await?.open();
        let uploads = self
            .cache
            .list_transfers()
            .await?
            .iter()
            .filter(|t| {
                &t.account == account
                    && !matches!(
                        t.state,
                        framenote_cache::TransferState::Done
                            | framenote_cache::TransferState::Cancelled
                    )
            })
            .count() as u64;
        if notes > 0 || changes > 0 || uploads > 0 {
            let mut waiting = Vec::new();
            if notes > 0 {
                waiting.push(plural(notes, "note"));
            }
            // A new note has one operation of its own; count only the changes beyond those.
            if changes > notes {
                waiting.push(plural(changes - notes, "note change"));
            }
            if uploads > 0 {
                waiting.push(plural(uploads, "upload"));
            }
            return Err(SyncError::Invalid(format!(
                "{} still waiting to be sent from this account; signing out would lose them. \
                 Sync (or discard them) first, then sign out.",
                waiting.join(", ")
            )));
        }
        self.remove_account(account, false).await
    }

    /// The connector of an account, with its stored session installed.
    pub async fn connector(&self, account: &AccountId) -> Result<Arc<dyn Connector>> {
        if let Some(connector) = self.lock_connectors().get(account) {
            return Ok(connector.clone());
        }
        let record = self.cache.account(account).await?;
        let connector = self.build_connector(&record)?;
        match self.secrets.load_session(account).await? {
            Some(session) => connector.set_session(session),
            None if record.platform == Platform::Local => {}
            None => {
                return Err(SyncError::LoginRequired {
                    account: account.0.clone(),
                    message: "no stored session; sign in again".into(),
                });
            }
        }
        Ok(self
            .lock_connectors()
            .entry(account.clone())
            .or_insert(connector)
            .clone())
    }

    /// A fresh connector for an account, without its session.
    pub(crate) fn build_connector(&self, record: &AccountRecord) -> Result<Arc<dyn Connector>> {
        (self.factory)(record, &self.data_dir).map_err(|e| SyncError::connector(record.platform, e))
    }

    /// Stores the connector's session if it changed (the connector refreshes tokens by itself).
    pub(crate) async fn persist_session(
        &self,
        account: &AccountId,
        connector: &dyn Connector,
    ) -> Result<()> {
        let Some(current) = connector.session() else {
            return Ok(());
        };
        let stored = self.secrets.load_session(account).await?;
        if stored.as_ref() != Some(&current) {
            self.secrets.save_session(account, &current).await?;
        }
        Ok(())
    }

    /// Maps a connector error to the engine's: sign-in problems become [`SyncError::LoginRequired`]
    /// (and an event), the rest stay connector errors.
    pub(crate) fn classify(
        &self,
        account: &AccountId,
        platform: Platform,
        error: ConnectorError,
    ) -> SyncError {
        if error.kind == ErrorKind::LoginRequired {
            self.emit(SyncEvent::LoginRequired {
                account: account.clone(),
                message: error.message.clone(),
            });
            return SyncError::LoginRequired {
                account: account.0.clone(),
                message: error.message,
            };
        }
        SyncError::connector(platform, error)
    }

    /// Tries one explicit refresh after an `Unauthorized` that the connector did not handle.
    pub(crate) async fn refresh_session(
        &self,
        account: &AccountId,
        connector: &dyn Connector,
    ) -> Result<()> {
        let session: Session = match connector.session() {
            Some(session) => session,
            None => self
                .secrets
                .load_session(account)
                .await?
                .unwrap_or_default(),
        };
        match connector.refresh(&session).await {
            Ok(fresh) => self.secrets.save_session(account, &fresh).await,
            Err(e) => Err(self.classify(
                account,
                connector.platform(),
                ConnectorError::new(ErrorKind::LoginRequired, e.message),
            )),
        }
    }

    /// Takes an exclusive OS lock on the file `name` in the data folder, for work only one
    /// process may do at a time (posting the outbox, running the upload queue); `busy` makes the
    /// error when another process holds it. The lock lasts as long as the returned file.
    pub(crate) fn lock_data_folder(
        &self,
        name: &str,
        busy: fn(String) -> SyncError,
    ) -> Result<std::fs::File> {
        let path = self.data_dir.join(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| SyncError::io(format!("opening {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {
                Err(busy(self.data_dir.display().to_string()))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                Err(SyncError::io(format!("locking {}", path.display()), e))
            }
        }
    }

    /// Where an account's offline proxies go.
    pub fn media_dir(&self, account: &AccountId) -> PathBuf {
        self.data_dir.join("media").join(safe_file_name(&account.0))
    }

    fn lock_connectors(&self) -> std::sync::MutexGuard<'_, HashMap<AccountId, Arc<dyn Connector>>> {
        // A poisoned map only means a panic elsewhere mid-insert; the map itself is intact.
        self.connectors.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The account row a connector is built from before sign-in has made it real.
fn unsaved_account(id: &AccountId, platform: Platform, base_url: &str) -> AccountRecord {
    AccountRecord {
        id: id.clone(),
        platform,
        base_url: base_url.to_string(),
        user_name: None,
        label: String::new(),
        created_at: String::new(),
        last_sync_at: None,
        last_sync_error: None,
    }
}

/// "1 note", "3 notes".
fn plural(count: u64, what: &str) -> String {
    if count == 1 {
        format!("1 {what}")
    } else {
        format!("{count} {what}s")
    }
}

/// A fresh account id: the platform's key and a random suffix.
fn new_account_id(platform: Platform) -> AccountId {
    AccountId(format!(
        "{}-{}",
        platform.key(),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ))
}

/// A platform id made safe as a file name: unsafe characters replaced, and a hash of the original
/// appended when anything was replaced, so two ids never share a file.
pub fn safe_file_name(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    if cleaned == id {
        cleaned
    } else {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(id.as_bytes());
        let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("{cleaned}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine over `dir` whose local library sees every file as a 24 fps clip of 48 frames.
    async fn engine(dir: &Path) -> SyncEngine {
        let probe: Probe = Arc::new(|_: &Path| {
            Ok(framenote_core::MediaInfo {
                frame_rate: framenote_core::FrameRate { num: 24, den: 1 },
                start_timecode: None,
                first_frame: 0,
                frame_count: Some(48),
                width: Some(64),
                height: Some(36),
                bytes: Some(1),
            })
        });
        let config = SyncConfig {
            secrets: crate::SecretPreference::File,
            ..SyncConfig::default()
        };
        SyncEngine::open(&dir.join("data"), standard_factory(probe), config)
            .await
            .expect("engine")
    }

    #[tokio::test]
    async fn signing_out_removes_the_account_but_never_while_its_notes_wait() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine(dir.path()).await;
        let folder = dir.path().join("library");
        std::fs::create_dir_all(&folder).expect("library folder");
        std::fs::write(folder.join("sh010_v001.mov"), b"x").expect("clip");
        let url = folder.display().to_string();
        let busy = engine
            .login(
                Platform::Local,
                &url,
                &Credentials::None,
                Some("Busy"),
                None,
            )
            .await
            .expect("login");
        let idle = engine
            .login(
                Platform::Local,
                &url,
                &Credentials::None,
                Some("Idle"),
                None,
            )
            .await
            .expect("login");
        let cancel = crate::cancellation();
        engine
            .sync_account(&busy.id, crate::PullOptions { full: true }, &cancel)
            .await
            .expect("sync");
        let version = engine
            .cache
            .all_versions(&busy.id)
            .await
            .expect("versions")
            .pop()
            .expect("the clip is listed");
        engine
            .cache
            .create_local_note(&framenote_cache::NewLocalNote {
                account: busy.id.clone(),
                version: version.id.clone(),
                parent: None,
                author: "me".into(),
                text: "the arm pops".into(),
                frames: None,
                drawing: None,
                platform_status: None,
            })
            .await
            .expect("note");

        let refused = engine.sign_out(&busy.id).await;
        match refused {
            Err(SyncError::Invalid(message)) => {
                assert!(message.contains("1 note"), "{message}");
                assert!(message.contains("would lose them"), "{message}");
            }
            other => panic!("sign-out with a note waiting must be refused, got {other:?}"),
        }
        assert_eq!(
            engine
                .cache
                .unsent_notes(&busy.id)
                .await
                .expect("notes")
                .len(),
            1,
            "the note is kept"
        );
        assert!(
            engine.cache.account(&busy.id).await.is_ok(),
            "the account is kept"
        );

        engine.sign_out(&idle.id).await.expect("sign-out");
        assert!(
            engine.cache.account(&idle.id).await.is_err(),
            "the account is gone"
        );
        assert_eq!(
            engine
                .secrets
                .load_session(&idle.id)
                .await
                .expect("secrets"),
            None
        );
    }

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(safe_file_name("abc-123"), "abc-123");
        let a = safe_file_name("/media/a b.mov");
        let b = safe_file_name("/media/a_b.mov");
        assert!(!a.contains('/') && !a.contains(' '));
        assert_ne!(
            a, b,
            "ids that clean to the same text still get different names"
        );
    }
}
