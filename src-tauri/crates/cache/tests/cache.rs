//! The cache against a real SQLite file: schema, merges, the outbox's ordering and durability
//! rules, and offline plans.

use framenote_cache::{
    Cache, CacheError, MediaState, NewAccount, NewLocalNote, NoteSyncState, OpKind, OpState,
    PinScope, RemoteNoteData, VersionNotes, now_millis,
};
use framenote_core::{
    AccountId, Asset, Drawing, FrameRate, FrameSpan, MediaInfo, Node, NodeKind, NoteStatus,
    OfflinePolicy, Platform, Point, RemoteId, Shape, ShapeKind, Stroke, Timecode, Version,
};

fn rid(id: &str) -> RemoteId {
    RemoteId::new(id)
}

fn version(asset: &str, id: &str, number: u32) -> Version {
    Version {
        id: rid(id),
        asset: rid(asset),
        number,
        label: format!("v{number:03}"),
        media: MediaInfo {
            frame_rate: FrameRate::new(24000, 1001),
            start_timecode: Some(Timecode {
                frames: 86400,
                rate: FrameRate::new(24, 1),
                drop_frame: false,
            }),
            first_frame: 1001,
            frame_count: Some(96),
            width: Some(640),
            height: Some(360),
            bytes: Some(1000),
        },
    }
}

fn asset(node: &str, id: &str, versions: u32) -> Asset {
    Asset {
        id: rid(id),
        parent: rid(node),
        name: format!("asset {id}"),
        status: Some("wip".into()),
        updated_at: Some("2026-01-01T00:00:00Z".into()),
        offline: OfflinePolicy::ALLOWED,
        versions: (1..=versions)
            .map(|n| version(id, &format!("{id}-v{n}"), n))
            .collect(),
    }
}

fn node(id: &str, kind: NodeKind) -> Node {
    Node {
        id: rid(id),
        parent: None,
        kind,
        name: id.to_string(),
        status: None,
    }
}

fn arrow() -> Drawing {
    Drawing::from_shapes(vec![Shape {
        id: "shape-1".into(),
        kind: ShapeKind::Arrow {
            from: Point { x: 0.1, y: 0.2 },
            to: Point { x: 0.5, y: 0.5 },
        },
        stroke: Stroke {
            color: "#ff0000".into(),
            width: 0.005,
        },
    }])
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    cache: Cache,
    account: AccountId,
}

/// A database with one account, a project → task tree and two assets (a1 with two versions).
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("framenote.db");
    let cache = Cache::open(&path).await.expect("open");
    let account = AccountId("acc-1".into());
    cache
        .upsert_account(&NewAccount {
            id: account.clone(),
            platform: Platform::Kitsu,
            base_url: "http://127.0.0.1:1/api".into(),
            user_name: Some("sup@example.com".into()),
            label: "Kitsu test".into(),
        })
        .await
        .expect("account");
    cache
        .replace_child_nodes(&account, None, &[node("p1", NodeKind::Project)])
        .await
        .expect("roots");
    cache
        .replace_child_nodes(&account, Some(&rid("p1")), &[node("t1", NodeKind::Task)])
        .await
        .expect("children");
    cache
        .apply_asset_listing(
            &account,
            &rid("t1"),
            &[asset("t1", "a1", 2), asset("t1", "a2", 1)],
        )
        .await
        .expect("assets");
    Fixture {
        _dir: dir,
        path,
        cache,
        account,
    }
}

fn new_note(account: &AccountId, version: &str, text: &str) -> NewLocalNote {
    NewLocalNote {
        account: account.clone(),
        version: rid(version),
        parent: None,
        author: "me".into(),
        text: text.into(),
        frames: Some(FrameSpan::frame(12)),
        drawing: Some(arrow()),
        platform_status: None,
    }
}

#[tokio::test]
async fn database_is_a_wal_file_and_reopens_with_its_data() {
    let f = fixture().await;
    let wal = f.path.with_file_name("framenote.db-wal");
    assert!(
        wal.exists(),
        "WAL mode keeps a -wal file beside the database"
    );
    f.cache.close().await;
    let reopened = Cache::open(&f.path)
        .await
        .expect("reopen runs migrations idempotently");
    let accounts = reopened.accounts().await.expect("accounts");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].platform, Platform::Kitsu);
    assert_eq!(accounts[0].user_name.as_deref(), Some("sup@example.com"));
}

#[tokio::test]
async fn listings_are_applied_as_differences() {
    let f = fixture().await;
    let (c, a) = (&f.cache, &f.account);
    // Same listing again: nothing changes, nothing to fetch once notes are marked current.
    let again = c
        .apply_asset_listing(a, &rid("t1"), &[asset("t1", "a1", 2), asset("t1", "a2", 1)])
        .await
        .expect("re-apply");
    assert!(
        again.changed.is_empty(),
        "unchanged assets are not rewritten"
    );
    assert_eq!(again.needs_notes.len(), 2, "notes were never fetched yet");
    c.apply_remote_notes(a, &[], &[rid("a1"), rid("a2")])
        .await
        .expect("mark synced");
    let third = c
        .apply_asset_listing(a, &rid("t1"), &[asset("t1", "a1", 3), asset("t1", "a2", 1)])
        .await
        .expect("new version");
    assert_eq!(
        third.changed,
        vec![rid("a1")],
        "a new version changes the asset"
    );
    assert_eq!(
        third.needs_notes,
        vec![rid("a1")],
        "only the changed asset needs notes"
    );
    assert_eq!(
        c.versions_of(a, &rid("a1")).await.expect("versions").len(),
        3
    );

    let summaries = c.assets_in_node(a, &rid("t1")).await.expect("summaries");
    assert_eq!(summaries.len(), 2);
    let v = &summaries[0].asset.versions[0].media;
    assert_eq!(
        v.frame_rate,
        FrameRate::new(24000, 1001),
        "rationals survive the round trip"
    );
    assert_eq!(v.first_frame, 1001);
    assert_eq!(v.start_timecode.map(|tc| tc.frames), Some(86400));

    // Dropping the task removes its subtree links; the project stays.
    assert!(
        c.replace_child_nodes(a, Some(&rid("p1")), &[])
            .await
            .expect("drop")
            > 0
    );
    assert!(
        c.nodes(a, Some(&rid("p1")))
            .await
            .expect("nodes")
            .is_empty()
    );
    assert!(
        c.assets_in_node(a, &rid("t1"))
            .await
            .expect("assets")
            .is_empty()
    );
    assert_eq!(c.nodes(a, None).await.expect("roots").len(), 1);
}

#[tokio::test]
async fn a_note_and_its_outbox_operation_are_written_together() {
    let f = fixture().await;
    let (c, a) = (&f.cache, &f.account);
    let note = c
        .create_local_note(&new_note(a, "a1-v2", "Fix the arm"))
        .await
        .expect("note");
    assert_eq!(note.sync_state, NoteSyncState::Pending);
    assert_eq!(note.outbox_state, Some(OpState::Queued));
    assert_eq!(
        note.note.drawing,
        Some(arrow()),
        "the drawing is stored exactly"
    );
    assert_eq!(note.asset, rid("a1"));
    let ops = c.ops_for_note(&note.note.id).await.expect("ops");
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].kind, OpKind::CreateNote);

    // Bad input is refused with a typed error and writes nothing.
    let mut empty = new_note(a, "a1-v2", "  ");
    empty.drawing = None;
    assert!(matches!(
        c.create_local_note(&empty).await,
        Err(CacheError::Invalid(_))
    ));
    assert!(matches!(
        c.create_local_note(&new_note(a, "no-such-version", "x"))
            .await,
        Err(CacheError::NotFound { .. })
    ));
    assert_eq!(c.outbox_summary(Some(a)).await.expect("summary").queued, 1);
}

#[tokio::test]
async fn the_outbox_runs_in_order_per_asset_and_survives_a_restart_mid_attempt() {
    let f = fixture().await;
    let (c, a) = (&f.cache, &f.account);
    let first = c
        .create_local_note(&new_note(a, "a1-v2", "first"))
        .await
        .expect("n1");
    let mut reply = new_note(a, "a1-v2", "a reply");
    reply.parent = Some(first.note.id.clone());
    let reply = c.create_local_note(&reply).await.expect("reply");
    let other = c
        .create_local_note(&new_note(a, "a2-v1", "other asset"))
        .await
        .expect("n3");

    let due = c.due_ops(a, now_millis()).await.expect("due");
    let due_notes: Vec<_> = due.iter().filter_map(|op| op.note.clone()).collect();
    assert_eq!(
        due_notes,
        vec![first.note.id.clone(), other.note.id.clone()],
        "one head per asset; the reply waits behind its note"
    );

    // An attempt starts, then the process dies before the outcome is recorded.
    let started = c
        .begin_attempt(due[0].id)
        .await
        .expect("begin")
        .expect("runnable");
    assert_eq!(started.state, OpState::InFlight);
    assert_eq!(started.attempts, 1);
    c.close().await;
    let c = Cache::open(&f.path).await.expect("restart");
    let due = c.due_ops(a, now_millis()).await.expect("due after restart");
    assert_eq!(
        due[0].state,
        OpState::InFlight,
        "an interrupted attempt is still due"
    );
    assert_eq!(
        due[0].attempts, 1,
        "and says it may already have reached the platform"
    );

    // The platform had it: link, which closes the operation and lets the reply through.
    c.link_posted_note(a, &first.note.id, &rid("r-1"))
        .await
        .expect("link");
    let posted = c.note(&first.note.id).await.expect("note");
    assert_eq!(posted.sync_state, NoteSyncState::Sent);
    assert_eq!(posted.note.remote_id, Some(rid("r-1")));
    assert_eq!(posted.outbox_state, None);
    let due = c.due_ops(a, now_millis()).await.expect("due");
    assert!(
        due.iter()
            .any(|op| op.note.as_ref() == Some(&reply.note.id))
    );

    // Transient failure: rescheduled, not due before its time.
    let head = due
        .iter()
        .find(|op| op.kind == OpKind::Reply)
        .expect("reply op");
    c.begin_attempt(head.id).await.expect("begin");
    c.reschedule_op(head.id, now_millis() + 60_000, "HTTP 503", "server")
        .await
        .expect("reschedule");
    assert!(
        !c.due_ops(a, now_millis())
            .await
            .expect("due")
            .iter()
            .any(|op| op.id == head.id)
    );
    assert!(c.next_due_at(a).await.expect("next").is_some());
}

#[tokio::test]
async fn permanent_failures_keep_the_text_block_the_asset_and_can_be_retried_or_discarded() {
    let f = fixture().await;
    let (c, a) = (&f.cache, &f.account);
    let note = c
        .create_local_note(&new_note(a, "a1-v1", "forbidden"))
        .await
        .expect("n");
    let behind = c
        .set_local_note_status(&note.note.id, NoteStatus::Resolved)
        .await
        .expect("s");
    assert_eq!(behind.note.status, NoteStatus::Resolved);
    let ops = c.ops_for_note(&note.note.id).await.expect("ops");
    assert_eq!(ops.len(), 2);

    c.begin_attempt(ops[0].id).await.expect("begin");
    c.fail_op(ops[0].id, "HTTP 403: not allowed", "forbidden")
        .await
        .expect("fail");
    let failed = c.note(&note.note.id).await.expect("note");
    assert_eq!(failed.sync_state, NoteSyncState::Failed);
    assert_eq!(failed.note.text, "forbidden", "the text is kept");
    assert_eq!(failed.last_error.as_deref(), Some("HTTP 403: not allowed"));
    assert!(
        c.due_ops(a, now_millis()).await.expect("due").is_empty(),
        "a failed head holds the work behind it"
    );

    c.retry_op(ops[0].id).await.expect("retry");
    assert_eq!(
        c.note(&note.note.id).await.expect("n").sync_state,
        NoteSyncState::Pending
    );
    assert_eq!(c.due_ops(a, now_millis()).await.expect("due").len(), 1);

    c.discard_op(ops[0].id).await.expect("discard");
    let discarded = c.note(&note.note.id).await.expect("n");
    assert_eq!(discarded.sync_state, NoteSyncState::Discarded);
    assert_eq!(
        discarded.note.text, "forbidden",
        "discarded notes are kept locally"
    );
    assert_eq!(c.outbox_summary(Some(a)).await.expect("sum").open(), 0);
    assert!(
        matches!(
            c.remove_account(a, false).await,
            Err(CacheError::Invalid(_))
        ),
        "an account with unposted notes is not removed silently"
    );
}

#[tokio::test]
async fn remote_listings_link_our_notes_thread_replies_and_never_clobber_pending_work() {
    let f = fixture().await;
    let (c, a) = (&f.cache, &f.account);
    let ours = c
        .create_local_note(&new_note(a, "a1-v2", "ours"))
        .await
        .expect("n");
    let remote =
        |id: &str, text: &str, client: Option<&str>, parent: Option<&str>| RemoteNoteData {
            remote_id: rid(id),
            parent: parent.map(rid),
            author: "Sue".into(),
            created_at: "2026-01-02T00:00:00Z".into(),
            text: text.into(),
            frames: Some(FrameSpan::frame(3)),
            status: NoteStatus::Open,
            drawing: None,
            client_id: client.map(str::to_string),
        };
    let batch = vec![VersionNotes {
        version: rid("a1-v2"),
        notes: vec![
            remote("r-ours", "ours", Some(&ours.note.id.0), None),
            remote("r-1", "theirs", None, None),
            remote("r-2", "answer", None, Some("r-1")),
        ],
        free_drawings: Some(vec![framenote_cache::FrameDrawingRecord {
            frames: FrameSpan::frame(7),
            drawing: arrow(),
        }]),
    }];
    c.apply_remote_notes(a, &batch, &[rid("a1")])
        .await
        .expect("apply");
    let notes = c.notes_for_version(a, &rid("a1-v2")).await.expect("notes");
    assert_eq!(notes.len(), 3, "our note is linked, not duplicated");
    let linked = c.note(&ours.note.id).await.expect("ours");
    assert_eq!(linked.note.remote_id, Some(rid("r-ours")));
    assert_eq!(linked.sync_state, NoteSyncState::Sent);
    assert_eq!(
        linked.outbox_state, None,
        "recognising the post closes its operation"
    );
    let parent = notes
        .iter()
        .find(|n| n.note.remote_id == Some(rid("r-1")))
        .expect("r-1");
    let answer = notes
        .iter()
        .find(|n| n.note.remote_id == Some(rid("r-2")))
        .expect("r-2");
    assert_eq!(
        answer.note.parent.as_ref(),
        Some(&parent.note.id),
        "replies are threaded"
    );
    let free = c.free_drawings(a, &rid("a1-v2")).await.expect("drawings");
    assert_eq!(
        free.len(),
        1,
        "a drawing made outside any note is kept by frame"
    );
    assert_eq!(free[0].frames, FrameSpan::frame(7));

    // A local status change is pending: the platform's older view does not overwrite it.
    c.set_local_note_status(&parent.note.id, NoteStatus::Resolved)
        .await
        .expect("resolve");
    c.apply_remote_notes(a, &batch, &[])
        .await
        .expect("re-apply");
    assert_eq!(
        c.note(&parent.note.id).await.expect("n").note.status,
        NoteStatus::Resolved
    );

    // A posted note the platform no longer lists was deleted there; open work is never dropped.
    let shrunk = vec![VersionNotes {
        version: rid("a1-v2"),
        notes: vec![remote("r-1", "theirs", None, None)],
        free_drawings: None,
    }];
    c.apply_remote_notes(a, &shrunk, &[]).await.expect("shrink");
    let left: Vec<_> = c
        .notes_for_version(a, &rid("a1-v2"))
        .await
        .expect("notes")
        .into_iter()
        .map(|n| n.note.remote_id)
        .collect();
    assert_eq!(left, vec![Some(rid("r-1"))]);
}

#[tokio::test]
async fn pins_become_a_download_plan_that_respects_platform_rules() {
    let f = fixture().await;
    let (c, a) = (&f.cache, &f.account);
    let mut forbidden = asset("t1", "a2", 1);
    forbidden.offline = OfflinePolicy {
        allowed: false,
        reason: Some("Downloads are denied on this project".into()),
    };
    c.apply_asset_listing(a, &rid("t1"), &[asset("t1", "a1", 2), forbidden])
        .await
        .expect("assets");
    c.pin(a, &PinScope::Node(rid("p1")))
        .await
        .expect("pin project");
    assert!(matches!(
        c.pin(a, &PinScope::Asset(rid("nope"))).await,
        Err(CacheError::NotFound { .. })
    ));

    let plan = c.refresh_media_plan(a).await.expect("plan");
    assert_eq!(plan.to_download.len(), 1, "only the allowed asset");
    assert_eq!(
        plan.to_download[0].version.id,
        rid("a1-v2"),
        "its latest version"
    );
    assert_eq!(
        plan.to_download[0].file.pin_scope.as_deref(),
        Some("node:p1")
    );
    assert_eq!(plan.forbidden.len(), 1);
    assert_eq!(plan.forbidden[0].0, rid("a2"));

    let v = rid("a1-v2");
    c.media_download_started(a, &v, "/tmp/x.mp4", Some(1000), 0)
        .await
        .expect("start");
    c.media_progress(a, &v, 500).await.expect("progress");
    c.media_complete(a, &v, 1000, "abc")
        .await
        .expect("complete");
    assert_eq!(c.offline_bytes(Some(a)).await.expect("bytes"), 1000);
    let plan = c.refresh_media_plan(a).await.expect("plan");
    assert!(plan.to_download.is_empty());
    assert_eq!(plan.complete.len(), 1);

    assert!(c.unpin(a, &PinScope::Node(rid("p1"))).await.expect("unpin"));
    let plan = c.refresh_media_plan(a).await.expect("plan");
    assert_eq!(plan.to_evict.len(), 1, "an unpinned copy is evicted");
    assert_eq!(plan.to_evict[0].state, MediaState::Outdated);
    c.media_evicted(a, &v).await.expect("evicted");
    assert_eq!(c.offline_bytes(Some(a)).await.expect("bytes"), 0);
}
