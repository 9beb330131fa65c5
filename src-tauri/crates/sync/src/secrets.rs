//! Where sessions (tokens) live: the OS keyring, or — where there is none (CI, a headless box, a
//! desktop without a Secret Service) — an explicit fallback file readable only by the user.
//!
//! The choice is made once per process and reported by [`SecretStore::status`], so the UI and the
//! CLI can say plainly "tokens are stored in a file at …, because …". Secrets never touch SQLite
//! and never reach a log: values are only ever handled as [`Session`]s, whose `Debug` redacts them.
//! `FRAMENOTE_SECRETS=keyring|file|auto` overrides the choice (tests and CI use `file`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use framenote_connectors::Session;
use framenote_core::AccountId;
use serde::Serialize;

use crate::{Result, SyncError};

/// The keyring service name entries are filed under.
const SERVICE: &str = "framenote";
/// Name of the fallback file in the data folder.
const FALLBACK_FILE: &str = "secrets.json";

/// Which storage to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPreference {
    /// The keyring if it works, else the fallback file.
    Auto,
    /// The keyring, or fail.
    Keyring,
    /// The fallback file.
    File,
}

impl SecretPreference {
    /// From `FRAMENOTE_SECRETS` (`keyring`, `file`, anything else = auto).
    pub fn from_env() -> Self {
        match std::env::var("FRAMENOTE_SECRETS").as_deref() {
            Ok("keyring") => SecretPreference::Keyring,
            Ok("file") => SecretPreference::File,
            _ => SecretPreference::Auto,
        }
    }
}

/// Where secrets are, for the UI and the CLI to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretsStatus {
    /// `keyring` or `file`.
    pub backend: &'static str,
    /// The fallback file, when used.
    pub path: Option<PathBuf>,
    /// Why the keyring is not used, when it is not.
    pub fallback_reason: Option<String>,
}

#[derive(Debug, Clone)]
enum Backend {
    Keyring,
    File(PathBuf),
}

/// Session storage for all accounts of one data folder.
#[derive(Debug, Clone)]
pub struct SecretStore {
    backend: Backend,
    status: SecretsStatus,
}

impl SecretStore {
    /// Chooses the storage for `data_dir`. With [`SecretPreference::Auto`], the keyring is tried
    /// with a write/read/delete round trip of a probe entry; any failure selects the file.
    pub async fn open(data_dir: &Path, preference: SecretPreference) -> Result<Self> {
        let file = data_dir.join(FALLBACK_FILE);
        let file_store = |reason: Option<String>| SecretStore {
            backend: Backend::File(file.clone()),
            status: SecretsStatus {
                backend: "file",
                path: Some(file.clone()),
                fallback_reason: reason,
            },
        };
        match preference {
            SecretPreference::File => Ok(file_store(Some("FRAMENOTE_SECRETS=file".into()))),
            SecretPreference::Keyring => match probe_keyring().await {
                Ok(()) => Ok(Self::keyring()),
                Err(reason) => Err(SyncError::Secrets(format!(
                    "the OS keyring is not usable: {reason}"
                ))),
            },
            SecretPreference::Auto => match probe_keyring().await {
                Ok(()) => Ok(Self::keyring()),
                Err(reason) => {
                    tracing::warn!(
                        %reason,
                        path = %file.display(),
                        "no usable OS keyring; tokens are kept in a file readable only by this user"
                    );
                    Ok(file_store(Some(reason)))
                }
            },
        }
    }

    fn keyring() -> Self {
        SecretStore {
            backend: Backend::Keyring,
            status: SecretsStatus {
                backend: "keyring",
                path: None,
                fallback_reason: None,
            },
        }
    }

    /// Where secrets are kept, and why.
    pub fn status(&self) -> &SecretsStatus {
        &self.status
    }

    /// Stores (or replaces) an account's session.
    pub async fn save_session(&self, account: &AccountId, session: &Session) -> Result<()> {
        let value = serde_json::to_string(session)
            .map_err(|e| SyncError::Secrets(format!("cannot encode the session: {e}")))?;
        self.save_secret(&account.0, value).await
    }

    /// The stored session of an account, if any.
    pub async fn load_session(&self, account: &AccountId) -> Result<Option<Session>> {
        self.load_secret(&account.0)
            .await?
            .map(|v| {
                serde_json::from_str(&v)
                    .map_err(|e| SyncError::Secrets(format!("stored session is unreadable: {e}")))
            })
            .transpose()
    }

    /// Forgets an account's session (sign-out, account removal).
    pub async fn delete_session(&self, account: &AccountId) -> Result<()> {
        self.delete_secret(&account.0).await
    }

    /// Stores (or replaces) a secret under `key` (an account id, or `transfer:<uuid>` for the
    /// secret part of an upload checkpoint).
    pub(crate) async fn save_secret(&self, key: &str, value: String) -> Result<()> {
        let key = key.to_string();
        match &self.backend {
            Backend::Keyring => {
                blocking(move || {
                    keyring::Entry::new(SERVICE, &key)
                        .and_then(|entry| entry.set_password(&value))
                        .map_err(|e| SyncError::Secrets(format!("keyring write failed: {e}")))
                })
                .await
            }
            Backend::File(path) => {
                let path = path.clone();
                blocking(move || {
                    let mut all = read_file(&path)?;
                    all.insert(key, value);
                    write_file(&path, &all)
                })
                .await
            }
        }
    }

    /// The secret stored under `key`, if any.
    pub(crate) async fn load_secret(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_string();
        match &self.backend {
            Backend::Keyring => {
                blocking(move || {
                    let entry = keyring::Entry::new(SERVICE, &key)
                        .map_err(|e| SyncError::Secrets(format!("keyring: {e}")))?;
                    match entry.get_password() {
                        Ok(value) => Ok(Some(value)),
                        Err(keyring::Error::NoEntry) => Ok(None),
                        Err(e) => Err(SyncError::Secrets(format!("keyring read failed: {e}"))),
                    }
                })
                .await
            }
            Backend::File(path) => {
                let path = path.clone();
                blocking(move || Ok(read_file(&path)?.remove(&key))).await
            }
        }
    }

    /// Forgets the secret under `key`.
    pub(crate) async fn delete_secret(&self, key: &str) -> Result<()> {
        let key = key.to_string();
        match &self.backend {
            Backend::Keyring => {
                blocking(move || {
                    let entry = keyring::Entry::new(SERVICE, &key)
                        .map_err(|e| SyncError::Secrets(format!("keyring: {e}")))?;
                    match entry.delete_credential() {
                        Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
                        Err(e) => Err(SyncError::Secrets(format!("keyring delete failed: {e}"))),
                    }
                })
                .await
            }
            Backend::File(path) => {
                let path = path.clone();
                blocking(move || {
                    let mut all = read_file(&path)?;
                    if all.remove(&key).is_some() {
                        write_file(&path, &all)?;
                    }
                    Ok(())
                })
                .await
            }
        }
    }
}

/// Keyring calls block on D-Bus (or the platform API): keep them off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| SyncError::Secrets(format!("secret storage task failed: {e}")))?
}

/// A write/read/delete round trip on a probe entry: the only reliable test that a keyring is
/// present, unlocked and writable.
async fn probe_keyring() -> std::result::Result<(), String> {
    let outcome = tokio::task::spawn_blocking(|| -> std::result::Result<(), String> {
        let entry = keyring::Entry::new(SERVICE, "framenote-probe").map_err(|e| e.to_string())?;
        let marker = uuid::Uuid::new_v4().to_string();
        entry.set_password(&marker).map_err(|e| e.to_string())?;
        let read = entry.get_password().map_err(|e| e.to_string())?;
        let _ = entry.delete_credential();
        if read == marker {
            Ok(())
        } else {
            Err("the keyring returned a different value than was stored".into())
        }
    })
    .await;
    match outcome {
        Ok(result) => result,
        Err(e) => Err(format!("keyring probe failed: {e}")),
    }
}

fn read_file(path: &Path) -> Result<BTreeMap<String, String>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| SyncError::Secrets(format!("{} is not readable: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(SyncError::io(format!("reading {}", path.display()), e)),
    }
}

/// Writes the whole map atomically (temporary file created 0600, fsync, rename): a crash leaves
/// the old file or the new one, and the secrets are never readable by other users.
fn write_file(path: &Path, all: &BTreeMap<String, String>) -> Result<()> {
    use std::io::Write;
    let bytes = serde_json::to_vec_pretty(all)
        .map_err(|e| SyncError::Secrets(format!("cannot encode secrets: {e}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| SyncError::io(format!("creating {}", dir.display()), e))?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&tmp)
        .map_err(|e| SyncError::io(format!("writing {}", tmp.display()), e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| SyncError::io(format!("writing {}", tmp.display()), e))?;
    drop(file);
    std::fs::rename(&tmp, path)
        .map_err(|e| SyncError::io(format!("replacing {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_fallback_file_is_private_and_round_trips_sessions() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SecretStore::open(dir.path(), SecretPreference::File)
            .await
            .expect("open");
        assert_eq!(store.status().backend, "file");
        let account = AccountId("a1".into());
        let session = Session {
            access_token: Some("secret-access".into()),
            refresh_token: Some("secret-refresh".into()),
            user_name: Some("sue".into()),
            user_id: None,
            client_id: None,
        };
        store.save_session(&account, &session).await.expect("save");
        assert_eq!(
            store.load_session(&account).await.expect("load"),
            Some(session.clone())
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FALLBACK_FILE))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "only the user may read the fallback file"
            );
        }
        assert!(
            !format!("{session:?}").contains("secret-access"),
            "Debug never prints a token"
        );
        store.delete_session(&account).await.expect("delete");
        assert_eq!(store.load_session(&account).await.expect("load"), None);
    }
}
