//! Pulling metadata: the browse tree, assets with versions, and notes, into the cache.
//!
//! The walk is breadth-first with a bounded number of connector calls in flight. Assets are listed
//! incrementally (`list_assets_changes` with a per-node cursor on the platform's own clock, so
//! client clock skew does not matter: the server's time of the listing when the connector can
//! tell it, else the newest `updated_at` seen) except on the first pull and every
//! [`SyncConfig::full_listing_every`](crate::SyncConfig), when full listings also detect deletions.
//! Notes are fetched only for assets whose fingerprint changed since their notes were last fetched,
//! and written in batches of many versions per transaction. A no-change re-sync therefore costs
//! the tree and the incremental listings, and writes nothing.

use std::sync::Arc;

use framenote_cache::{FrameDrawingRecord, RemoteNoteData, VersionNotes};
use framenote_connectors::{AssetListing, Connector, ConnectorError, ErrorKind, RemoteNote};
use framenote_core::{AccountId, NodeKind, RemoteId, Version};
use futures::StreamExt;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::engine::SyncEngine;
use crate::events::{PullPhase, SyncEvent};
use crate::{Result, SyncError};

/// Versions whose notes are written per transaction.
const NOTES_BATCH: usize = 500;
/// Cursor key prefix for a node's incremental asset listing.
const ASSETS_CURSOR: &str = "assets_since:";
/// Cursor key of the last full listing (RFC 3339).
const FULL_LISTING_CURSOR: &str = "last_full_listing";

/// What to pull.
#[derive(Debug, Clone, Copy, Default)]
pub struct PullOptions {
    /// List everything (detects deletions), ignoring incremental cursors.
    pub full: bool,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PullReport {
    /// Nodes listed.
    pub nodes: u64,
    /// Node listings that changed the cache.
    pub nodes_changed: u64,
    /// Assets received.
    pub assets: u64,
    /// Assets new or changed.
    pub assets_changed: u64,
    /// Versions whose notes were fetched.
    pub versions_noted: u64,
    /// Notes received.
    pub notes: u64,
    /// Whether asset listings were full (deletions detected) or incremental.
    pub full_listing: bool,
    /// Connector calls made.
    pub requests: u64,
}

impl SyncEngine {
    /// Pulls the account's library and notes into the cache.
    pub async fn pull(
        &self,
        account: &AccountId,
        options: PullOptions,
        cancel: &CancellationToken,
    ) -> Result<PullReport> {
        let connector = self.connector(account).await?;
        let result = self
            .pull_with(account, connector.clone(), options, cancel)
            .await;
        self.persist_session(account, connector.as_ref()).await?;
        result
    }

    async fn pull_with(
        &self,
        account: &AccountId,
        connector: Arc<dyn Connector>,
        options: PullOptions,
        cancel: &CancellationToken,
    ) -> Result<PullReport> {
        let platform = connector.platform();
        let started = chrono::Utc::now();
        let full = options.full || self.full_listing_due(account).await?;
        let mut report = PullReport {
            full_listing: full,
            ..PullReport::default()
        };
        let concurrency = self.config.pull_concurrency.max(1);
        let progress = |report: &PullReport, phase| SyncEvent::Pull {
            account: account.clone(),
            phase,
            nodes: report.nodes,
            assets: report.assets,
            versions: report.versions_noted,
            notes: report.notes,
        };

        // 1. The tree, level by level.
        let mut level: Vec<Option<RemoteId>> = vec![None];
        let mut asset_nodes: Vec<RemoteId> = Vec::new();
        while !level.is_empty() {
            let listings: Vec<(
                Option<RemoteId>,
                std::result::Result<Vec<_>, ConnectorError>,
            )> = futures::stream::iter(level.drain(..))
                .map(|parent| {
                    let connector = connector.clone();
                    async move {
                        let nodes = connector.list_nodes(parent.as_ref()).await;
                        (parent, nodes)
                    }
                })
                .buffer_unordered(concurrency)
                .collect()
                .await;
            check_cancel(cancel)?;
            for (parent, nodes) in listings {
                report.requests += 1;
                let nodes = nodes.map_err(|e| self.classify(account, platform, e))?;
                report.nodes_changed += u64::from(
                    self.cache
                        .replace_child_nodes(account, parent.as_ref(), &nodes)
                        .await?
                        > 0,
                );
                report.nodes += nodes.len() as u64;
                for node in nodes {
                    level.push(Some(node.id.clone()));
                    asset_nodes.push(node.id);
                }
            }
            self.emit(progress(&report, PullPhase::Tree));
        }

        // 2. Assets of every node that can hold them: leaves, and containers that are not mere
        //    groupings (a Kitsu project only groups its "to check" / "to do" folders).
        let mut listable = Vec::new();
        for node in asset_nodes {
            let record = self.cache.node(account, &node).await?;
            let grouping = matches!(record.node.kind, NodeKind::Workspace | NodeKind::Project);
            if !record.has_children || !grouping {
                listable.push(node);
            }
        }
        let mut cursors = Vec::with_capacity(listable.len());
        for node in &listable {
            let since = if full {
                None
            } else {
                self.cache
                    .cursor(account, &format!("{ASSETS_CURSOR}{}", node.0))
                    .await?
            };
            cursors.push((node.clone(), since));
        }
        let mut listings = futures::stream::iter(cursors)
            .map(|(node, since)| {
                let connector = connector.clone();
                async move {
                    let listing = connector.list_assets_changes(&node, since.as_deref()).await;
                    (node, since.is_some(), listing)
                }
            })
            .buffer_unordered(concurrency);
        while let Some((node, incremental, listing)) = listings.next().await {
            check_cancel(cancel)?;
            report.requests += 1;
            let AssetListing { assets, next_since } = match listing {
                Ok(listing) => listing,
                // A node that holds no assets on this platform.
                Err(e) if e.kind == ErrorKind::Unsupported => continue,
                Err(e) => return Err(self.classify(account, platform, e)),
            };
            let changes = if incremental {
                self.cache
                    .apply_asset_changes(account, &node, &assets)
                    .await?
            } else {
                self.cache
                    .apply_asset_listing(account, &node, &assets)
                    .await?
            };
            report.assets += assets.len() as u64;
            report.assets_changed += changes.changed.len() as u64;
            // The platform's own next start when it gave one, else the newest stamp seen.
            let next = next_since.or_else(|| {
                assets
                    .iter()
                    .filter_map(|a| a.updated_at.as_deref())
                    .filter_map(|t| framenote_connectors::parse_timestamp(t).map(|p| (p, t)))
                    .max_by_key(|(parsed, _)| *parsed)
                    .map(|(_, text)| text.to_string())
            });
            // An incremental listing that found nothing may leave a recent cursor where it is:
            // still correct (nothing changed since), and a no-change pull then writes nothing.
            // An old one moves on, so that the next listing's window does not keep growing.
            let found_nothing = incremental && assets.is_empty();
            if let Some(newest) = next {
                let key = format!("{ASSETS_CURSOR}{}", node.0);
                let move_on = match self.cache.cursor(account, &key).await? {
                    Some(old) => {
                        framenote_connectors::timestamp_at_or_after(&newest, &old)
                            && !(found_nothing && cursor_is_recent(&old, &newest))
                    }
                    None => true,
                };
                if move_on {
                    self.cache.set_cursor(account, &key, &newest).await?;
                }
            }
            self.emit(progress(&report, PullPhase::Assets));
        }
        drop(listings);
        if full {
            self.cache
                .set_cursor(account, FULL_LISTING_CURSOR, &started.to_rfc3339())
                .await?;
        }

        // 3. Notes of assets whose notes are not current (all of them when asked for a full
        //    pull: drawings made in a platform's own player do not always change the asset).
        if options.full {
            self.cache.invalidate_all_notes(account).await?;
        }
        if connector.capabilities().notes {
            let stale = self.cache.assets_needing_notes(account).await?;
            let grouped = self.cache.versions_of_assets(account, &stale).await?;
            // One batch is written while the next one is fetched: the cache's writer and the
            // network then work at the same time.
            let mut unwritten: Option<(Vec<VersionNotes>, Vec<RemoteId>)> = None;
            for chunk in chunk_by_versions(grouped, NOTES_BATCH) {
                check_cancel(cancel)?;
                let work: Vec<(RemoteId, Version)> = chunk
                    .iter()
                    .flat_map(|(asset, versions)| {
                        versions.iter().map(move |v| (asset.clone(), v.clone()))
                    })
                    .collect();
                let fetch = futures::stream::iter(work)
                    .map(|(asset, version)| {
                        let connector = connector.clone();
                        async move {
                            let fetched = notes_and_drawings(connector.as_ref(), &version).await;
                            (asset, version, fetched)
                        }
                    })
                    .buffer_unordered(concurrency)
                    .collect::<Vec<(RemoteId, Version, NotesAndDrawings)>>();
                let write = async {
                    match unwritten.take() {
                        Some((batch, synced)) => {
                            self.cache
                                .apply_remote_notes(account, &batch, &synced)
                                .await?;
                            self.emit(progress(&report, PullPhase::Notes));
                            Ok::<(), SyncError>(())
                        }
                        None => Ok(()),
                    }
                };
                let (fetched, written) = futures::join!(fetch, write);
                written?;
                let mut batch = Vec::new();
                let mut failed_assets = std::collections::HashSet::new();
                for (asset, version, notes) in fetched {
                    report.requests += 1;
                    match notes {
                        Ok((notes, free_drawings)) => {
                            report.versions_noted += 1;
                            report.notes += notes.len() as u64;
                            batch.push(VersionNotes {
                                version: version.id.clone(),
                                notes: notes.into_iter().map(remote_note_data).collect(),
                                free_drawings,
                            });
                        }
                        // A version the platform no longer has: its asset re-lists next time.
                        Err(e) if e.kind == ErrorKind::NotFound => {
                            failed_assets.insert(asset);
                        }
                        Err(e) => return Err(self.classify(account, platform, e)),
                    }
                }
                let synced: Vec<RemoteId> = chunk
                    .iter()
                    .map(|(asset, _)| asset.clone())
                    .filter(|asset| !failed_assets.contains(asset))
                    .collect();
                unwritten = Some((batch, synced));
            }
            if let Some((batch, synced)) = unwritten.take() {
                self.cache
                    .apply_remote_notes(account, &batch, &synced)
                    .await?;
                self.emit(progress(&report, PullPhase::Notes));
            }
        }
        self.emit(progress(&report, PullPhase::Done));
        Ok(report)
    }

    async fn full_listing_due(&self, account: &AccountId) -> Result<bool> {
        let Some(last) = self.cache.cursor(account, FULL_LISTING_CURSOR).await? else {
            return Ok(true);
        };
        let Some(last) = framenote_connectors::parse_timestamp(&last) else {
            return Ok(true);
        };
        let age = chrono::Utc::now().signed_duration_since(last);
        Ok(age
            .to_std()
            .map_or(true, |age| age >= self.config.full_listing_every))
    }
}

/// A version's notes, and the drawings on it that belong to no note (`None` when the platform
/// has no drawings or cannot list them apart from notes).
type NotesAndDrawings =
    std::result::Result<(Vec<RemoteNote>, Option<Vec<FrameDrawingRecord>>), ConnectorError>;

async fn notes_and_drawings(connector: &dyn Connector, version: &Version) -> NotesAndDrawings {
    let (notes, drawings) = connector.list_notes_and_drawings(version).await?;
    let free = drawings.map(|drawings| {
        drawings
            .into_iter()
            .filter(|d| d.note_client_id.is_none())
            .filter(|d| !notes.iter().any(|n| n.drawing.as_ref() == Some(&d.drawing)))
            .map(|d| FrameDrawingRecord {
                frames: d.frames,
                drawing: d.drawing,
            })
            .collect()
    });
    Ok((notes, free))
}

/// How long a cursor may stay put while incremental listings find nothing.
const CURSOR_KEPT_AT_MOST: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Whether cursor `old` is within [`CURSOR_KEPT_AT_MOST`] of `newest` (unparsable: not recent).
fn cursor_is_recent(old: &str, newest: &str) -> bool {
    match (
        framenote_connectors::parse_timestamp(old),
        framenote_connectors::parse_timestamp(newest),
    ) {
        (Some(old), Some(newest)) => newest.signed_duration_since(old) < CURSOR_KEPT_AT_MOST,
        _ => false,
    }
}

fn check_cancel(cancel: &CancellationToken) -> Result<()> {
    if cancel.is_cancelled() {
        Err(SyncError::Cancelled)
    } else {
        Ok(())
    }
}

/// Splits assets into chunks of about `max_versions` versions, never splitting an asset (its
/// notes are marked current only when all its versions are in).
fn chunk_by_versions(
    assets: Vec<(RemoteId, Vec<Version>)>,
    max_versions: usize,
) -> Vec<Vec<(RemoteId, Vec<Version>)>> {
    let mut chunks = Vec::new();
    let mut current = Vec::new();
    let mut count = 0;
    for (asset, versions) in assets {
        count += versions.len().max(1);
        current.push((asset, versions));
        if count >= max_versions {
            chunks.push(std::mem::take(&mut current));
            count = 0;
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

pub(crate) fn remote_note_data(note: RemoteNote) -> RemoteNoteData {
    RemoteNoteData {
        remote_id: note.id,
        parent: note.parent,
        author: note.author,
        created_at: note.created_at,
        text: note.text,
        frames: note.frames,
        status: note.status,
        drawing: note.drawing,
        client_id: note.client_id,
    }
}

#[cfg(test)]
mod tests {
    use super::cursor_is_recent;

    #[test]
    fn a_cursor_stays_put_only_while_it_is_recent() {
        assert!(cursor_is_recent(
            "2026-11-22T10:00:00+00:00",
            "2026-11-22T10:59:00+00:00"
        ));
        assert!(!cursor_is_recent(
            "2026-11-22T10:00:00+00:00",
            "2026-11-22T11:00:01+00:00"
        ));
        // Zou's naive UTC stamps against a server-time cursor.
        assert!(cursor_is_recent(
            "2026-11-22T10:00:00",
            "2026-11-22T10:30:00+00:00"
        ));
        assert!(!cursor_is_recent("not a time", "2026-11-22T10:30:00+00:00"));
    }
}
