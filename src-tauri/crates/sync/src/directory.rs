//! What a note can say besides its text: the review statuses it can set and the people it can
//! @mention. Asked of the platform when it can be reached and remembered in the cache, so the
//! status picker and the mention list keep working on a plane.

use framenote_connectors::Person;
use framenote_core::AccountId;

use crate::{Result, SyncEngine, SyncError};

impl SyncEngine {
    /// The statuses a note on this account can set (empty where the platform has none).
    pub async fn review_statuses(&self, account: &AccountId) -> Result<Vec<String>> {
        let fresh = match self.connector(account).await {
            Ok(connector) => connector
                .list_statuses()
                .await
                .map_err(|e| SyncError::connector(connector.platform(), e)),
            Err(e) => Err(e),
        };
        self.remembered(account, "statuses", fresh).await
    }

    /// The people a note on this account can mention (empty where the platform has none).
    pub async fn people(&self, account: &AccountId) -> Result<Vec<Person>> {
        let fresh = match self.connector(account).await {
            Ok(connector) => connector
                .list_people()
                .await
                .map_err(|e| SyncError::connector(connector.platform(), e)),
            Err(e) => Err(e),
        };
        self.remembered(account, "people", fresh).await
    }

    /// Keeps a fresh answer; when the platform could not be reached, the last answer kept.
    async fn remembered<T>(
        &self,
        account: &AccountId,
        what: &str,
        fresh: Result<Vec<T>>,
    ) -> Result<Vec<T>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let key = format!("{what}:{}", account.0);
        match fresh {
            Ok(list) => {
                if let Ok(value) = serde_json::to_value(&list) {
                    self.cache.set_setting(&key, &value).await?;
                }
                Ok(list)
            }
            Err(error) => match self.cache.setting(&key).await? {
                Some(value) => {
                    tracing::info!(account = %account.0, %error, "{what}: using the remembered list");
                    Ok(serde_json::from_value(value).unwrap_or_default())
                }
                None => Err(error),
            },
        }
    }
}
