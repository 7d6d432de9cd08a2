//! The admin console's store functions (issue 15): channel changes and
//! disconnection, channel health, accounts, agents' roles and the last
//! admin, profiles, webhook retry-now and kept pushes, identically on
//! SQLite and PostgreSQL.

use std::sync::Arc;

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, ConversationId, Direction, InboundEvent,
    InboundMessage, Peer, Platform, Role, Timestamp, UserId, WorkspaceId,
};
use imhub_store::{
    Change, NewOutbound, ProfileUpdate, PushRecord, SqlStore, Store, StoreError, StoreOptions,
    UserUpdate, WebhookOutcome, testing,
};

async fn sqlite_store() -> Arc<SqlStore> {
    Arc::new(
        SqlStore::open(StoreOptions::new(testing::sqlite_database()))
            .await
            .unwrap(),
    )
}

async fn postgres_store() -> Option<Arc<SqlStore>> {
    let url = testing::postgres_database()?;
    Some(Arc::new(
        SqlStore::open(StoreOptions::new(url)).await.unwrap(),
    ))
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::sqlite_store().await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(store) = super::postgres_store().await else { return };
                super::$name(store).await
            })*
        }
    };
}

conformance!(
    a_channel_change_is_stored_sealed_and_moves_updated_at,
    disconnecting_fails_queued_sends_and_hides_the_channel,
    channel_health_counts_todays_pushes_and_the_last_failure,
    a_disabled_account_is_kept_and_listed_as_disabled,
    the_last_enabled_admin_is_kept,
    an_avatar_is_an_image_of_the_workspace,
    a_webhook_delivery_is_due_now_unless_delivered,
    kept_pushes_are_listed_per_channel_in_pages,
);

const DAY: i64 = 86_400_000;

struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
}

async fn fixture(store: &SqlStore) -> Fixture {
    let ws = store.create_workspace("shop").await.unwrap();
    let channel = store
        .create_channel(
            ws.id,
            Platform::Custom,
            "site",
            &serde_json::json!({"secret": "s"}),
        )
        .await
        .unwrap();
    store
        .create_account(ws.id, channel.id, "acc-1", "旗舰店")
        .await
        .unwrap();
    Fixture {
        ws: ws.id,
        channel: channel.id,
    }
}

/// A customer message on `account` received at `at`; its conversation
/// (`None` when the push was kept as unprocessable).
async fn inbound(
    store: &SqlStore,
    f: &Fixture,
    account: &str,
    id: &str,
    at: Timestamp,
) -> Option<ConversationId> {
    let event = InboundEvent::Message(InboundMessage {
        account: AccountRef {
            external_id: account.into(),
            name: None,
        },
        peer: Peer::Direct(ContactInfo {
            external_id: "c1".into(),
            nickname: Some("客户".into()),
            avatar: None,
        }),
        direction: Direction::In,
        platform_message_id: id.into(),
        content: Content::Text {
            text: "在吗".into(),
        },
        sent_at: at,
        reply_context: None,
    });
    let recorded = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(format!("e-{id}")),
                body: br#"{"kind":"message"}"#.to_vec(),
                received_at: at,
                events: vec![event],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    recorded.changes.iter().find_map(Change::conversation_id)
}

async fn reply(store: &SqlStore, ws: WorkspaceId, conversation: ConversationId) -> i64 {
    store
        .enqueue_message(
            ws,
            NewOutbound {
                conversation_id: conversation,
                content: Content::Text {
                    text: "您好".into(),
                },
                idempotency_key: None,
                request_hash: "h".into(),
                author_id: None,
            },
        )
        .await
        .unwrap()
        .message
        .id
        .0
}

async fn a_channel_change_is_stored_sealed_and_moves_updated_at(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let before = store.get_channel(f.ws, f.channel).await.unwrap();
    assert_eq!(before.updated_at, before.created_at);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let config = serde_json::json!({"secret": "s2", "outbound_url": "https://b.example/in"});
    let after = store
        .update_channel(f.ws, f.channel, Some("官网"), Some(&config))
        .await
        .unwrap();
    assert_eq!(after.name, "官网");
    assert_eq!(after.config, config);
    assert!(after.updated_at > before.updated_at);
    // Every reader sees it; the name alone leaves the configuration.
    let renamed = store
        .update_channel(f.ws, f.channel, Some("Web"), None)
        .await
        .unwrap();
    assert_eq!(renamed.config, config);
    assert_eq!(
        store.find_channel(f.channel).await.unwrap().unwrap().name,
        "Web"
    );
    let other = store.create_workspace("other").await.unwrap().id;
    assert_eq!(
        store
            .update_channel(other, f.channel, Some("x"), None)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn disconnecting_fails_queued_sends_and_hides_the_channel(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let conversation = inbound(&store, &f, "acc-1", "m1", Timestamp::now())
        .await
        .unwrap();
    let queued = reply(&store, f.ws, conversation).await;
    let other = store.create_workspace("other").await.unwrap().id;
    assert_eq!(
        store
            .disconnect_channel(other, f.channel, Timestamp::now())
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    let changes = store
        .disconnect_channel(f.ws, f.channel, Timestamp::now())
        .await
        .unwrap();
    assert!(
        changes.iter().any(
            |c| matches!(c, Change::MessageUpdated { message_id, .. } if message_id.0 == queued)
        )
    );
    let message = store
        .get_message(f.ws, imhub_core::MessageId(queued))
        .await
        .unwrap();
    assert_eq!(message.status, imhub_core::MessageStatus::Failed);
    assert_eq!(message.error_code.as_deref(), Some("channel_disconnected"));
    assert!(
        store
            .lease_outbox("n", Timestamp::now(), 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing left to send"
    );
    assert!(store.list_channels(f.ws).await.unwrap().is_empty());
    assert!(store.list_accounts(f.ws).await.unwrap().is_empty());
    assert_eq!(
        store.get_channel(f.ws, f.channel).await.unwrap_err(),
        StoreError::NotFound
    );
    let kept = store.find_channel(f.channel).await.unwrap().unwrap();
    assert!(kept.disconnected_at.is_some());
    // The history stays readable.
    store.get_conversation(f.ws, conversation).await.unwrap();
    assert_eq!(
        store
            .disconnect_channel(f.ws, f.channel, Timestamp::now())
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn channel_health_counts_todays_pushes_and_the_last_failure(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let now = Timestamp::now();
    let today = Timestamp(now.millis() - now.millis().rem_euclid(DAY));
    let yesterday = Timestamp(today.millis() - 1_000);
    inbound(&store, &f, "acc-1", "old", yesterday).await;
    let conversation = inbound(&store, &f, "acc-1", "m1", now).await.unwrap();
    inbound(&store, &f, "acc-1", "m2", now).await;
    let health = store.channel_health(f.ws, today).await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].pushes_since, 2);
    assert_eq!(health[0].last_push_at, Some(now));
    assert!(health[0].last_send_error.is_none());
    assert_eq!(health[0].accounts.len(), 1);
    // A reply that failed for good shows with its code and text.
    reply(&store, f.ws, conversation).await;
    let job = store
        .lease_outbox("n", Timestamp::now(), 60_000, 1)
        .await
        .unwrap()
        .remove(0);
    store
        .complete_outbox(
            &job,
            imhub_store::OutboxResult::Failed {
                code: "40001".into(),
                text: "invalid credential".into(),
            },
        )
        .await
        .unwrap();
    let health = store.channel_health(f.ws, today).await.unwrap();
    let failure = health[0].last_send_error.clone().unwrap();
    assert_eq!(
        (failure.code.as_str(), failure.text.as_str()),
        ("40001", "invalid credential")
    );
    let other = store.create_workspace("other").await.unwrap().id;
    assert!(store.channel_health(other, today).await.unwrap().is_empty());
}

async fn a_disabled_account_is_kept_and_listed_as_disabled(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let account = store.list_accounts(f.ws).await.unwrap().remove(0);
    assert!(!account.disabled);
    let changed = store
        .update_account(f.ws, account.id, Some("二店"), Some(true))
        .await
        .unwrap();
    assert!(changed.disabled);
    assert_eq!(changed.name, "二店");
    // Pushes on it are still recorded.
    assert!(
        inbound(&store, &f, "acc-1", "m1", Timestamp::now())
            .await
            .is_some()
    );
    let enabled = store
        .update_account(f.ws, account.id, None, Some(false))
        .await
        .unwrap();
    assert!(!enabled.disabled);
    assert_eq!(enabled.name, "二店");
    let other = store.create_workspace("other").await.unwrap().id;
    assert_eq!(
        store
            .update_account(other, account.id, None, Some(true))
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn user(store: &SqlStore, ws: WorkspaceId, email: &str, role: Role) -> UserId {
    store
        .create_user(ws, email, "小王", role, "hash")
        .await
        .unwrap()
        .id
}

fn refusal(e: StoreError) -> &'static str {
    match e {
        StoreError::Refused { code, .. } => code,
        other => panic!("not a refusal: {other:?}"),
    }
}

async fn the_last_enabled_admin_is_kept(store: Arc<SqlStore>) {
    let ws = store.create_workspace("shop").await.unwrap().id;
    let boss = user(&store, ws, "boss@a.cn", Role::Admin).await;
    let agent = user(&store, ws, "agent@a.cn", Role::Agent).await;
    let demote = UserUpdate {
        role: Some(Role::Agent),
        ..Default::default()
    };
    let disable = UserUpdate {
        disabled: Some(true),
        ..Default::default()
    };
    for change in [&demote, &disable] {
        let e = store
            .update_user(ws, boss, change.clone())
            .await
            .unwrap_err();
        assert_eq!(refusal(e), "last_admin");
    }
    assert_eq!(
        refusal(store.delete_user(ws, boss).await.unwrap_err()),
        "last_admin"
    );
    // An agent is no admin to keep; a disabled admin does not count.
    store.update_user(ws, agent, disable.clone()).await.unwrap();
    let second = user(&store, ws, "second@a.cn", Role::Admin).await;
    store
        .update_user(ws, second, disable.clone())
        .await
        .unwrap();
    let e = store
        .update_user(ws, boss, demote.clone())
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "last_admin");
    let (enabled, _) = store
        .update_user(
            ws,
            second,
            UserUpdate {
                disabled: Some(false),
                name: Some("二号".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(enabled.name, "二号");
    let (demoted, _) = store.update_user(ws, boss, demote).await.unwrap();
    assert_eq!(demoted.role, Role::Agent);
    // Another workspace's admins do not count either.
    let other = store.create_workspace("other").await.unwrap().id;
    user(&store, other, "o@a.cn", Role::Admin).await;
    let e = store.update_user(ws, second, disable).await.unwrap_err();
    assert_eq!(refusal(e), "last_admin");
}

async fn an_avatar_is_an_image_of_the_workspace(store: Arc<SqlStore>) {
    let ws = store.create_workspace("shop").await.unwrap().id;
    let other = store.create_workspace("other").await.unwrap().id;
    let me = user(&store, ws, "me@a.cn", Role::Agent).await;
    for (owner, key, kind) in [
        (ws, "png-1", "image/png"),
        (ws, "pdf-1", "application/pdf"),
        (other, "png-2", "image/png"),
    ] {
        store
            .put_media(owner, key, kind, b"x".to_vec(), None)
            .await
            .unwrap();
    }
    let profile = |key: &str| ProfileUpdate {
        avatar_key: Some(Some(key.to_string())),
        ..Default::default()
    };
    for key in ["pdf-1", "png-2", "missing"] {
        let e = store
            .update_profile(ws, me, profile(key))
            .await
            .unwrap_err();
        assert_eq!(refusal(e), "invalid_avatar", "{key}");
    }
    let set = store
        .update_profile(
            ws,
            me,
            ProfileUpdate {
                name: Some("王小明".into()),
                avatar_key: Some(Some("png-1".into())),
                language: Some(Some("en".into())),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            set.name.as_str(),
            set.avatar_key.as_deref(),
            set.language.as_deref()
        ),
        ("王小明", Some("png-1"), Some("en"))
    );
    let cleared = store
        .update_profile(
            ws,
            me,
            ProfileUpdate {
                avatar_key: Some(None),
                language: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(cleared.name, "王小明");
    assert_eq!((cleared.avatar_key, cleared.language), (None, None));
}

async fn a_webhook_delivery_is_due_now_unless_delivered(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let sub = store
        .create_webhook(
            f.ws,
            "https://hook.example/in",
            "secret-0123456789",
            &["message.created".to_string()],
        )
        .await
        .unwrap();
    inbound(&store, &f, "acc-1", "m1", Timestamp::now()).await;
    let delivery = store
        .list_webhook_deliveries(f.ws, sub.id, 10)
        .await
        .unwrap()
        .remove(0);
    // Failed for good (given up): pending again, due now, attempts kept.
    let job = store
        .lease_webhook_deliveries(Timestamp::now(), 60_000, 10)
        .await
        .unwrap()
        .remove(0);
    store
        .complete_webhook_delivery(
            job.id,
            WebhookOutcome::GaveUp {
                status: Some(500),
                error: "HTTP 500".into(),
            },
        )
        .await
        .unwrap();
    let now = Timestamp::now();
    let due = store
        .retry_webhook_delivery(f.ws, sub.id, delivery.id, now)
        .await
        .unwrap();
    assert_eq!(due.status, "pending");
    assert_eq!(due.attempts, 1);
    assert_eq!(due.next_attempt_at, Some(now));
    let job = store
        .lease_webhook_deliveries(Timestamp::now(), 60_000, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.id, delivery.id);
    store
        .complete_webhook_delivery(job.id, WebhookOutcome::Delivered { status: 200 })
        .await
        .unwrap();
    let e = store
        .retry_webhook_delivery(f.ws, sub.id, delivery.id, now)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "already_delivered");
    let other = store.create_workspace("other").await.unwrap().id;
    assert_eq!(
        store
            .retry_webhook_delivery(other, sub.id, delivery.id, now)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    store.delete_webhook(f.ws, sub.id).await.unwrap();
    assert_eq!(
        store
            .retry_webhook_delivery(f.ws, sub.id, delivery.id, now)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn kept_pushes_are_listed_per_channel_in_pages(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let second = store
        .create_channel(
            f.ws,
            Platform::Custom,
            "app",
            &serde_json::json!({"secret": "s"}),
        )
        .await
        .unwrap()
        .id;
    for id in ["k1", "k2", "k3"] {
        assert!(
            inbound(&store, &f, "no-such", id, Timestamp::now())
                .await
                .is_none()
        );
    }
    inbound(&store, &f, "acc-1", "ok", Timestamp::now()).await;
    let on_second = Fixture {
        ws: f.ws,
        channel: second,
    };
    inbound(&store, &on_second, "no-such", "k4", Timestamp::now()).await;
    let all = store.list_kept_pushes(f.ws, None, None, 50).await.unwrap();
    assert_eq!(all.len(), 4, "the processed push is not kept");
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert!(all.iter().all(|r| r.status == "unprocessable"));
    let first = store
        .list_kept_pushes(f.ws, Some(f.channel), None, 2)
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    let rest = store
        .list_kept_pushes(f.ws, Some(f.channel), Some(first[1].id), 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert!(rest.iter().all(|r| r.channel_id == f.channel));
    assert_eq!(
        store.get_kept_push(f.ws, all[0].id).await.unwrap().id,
        all[0].id
    );
    let other = store.create_workspace("other").await.unwrap().id;
    assert!(
        store
            .list_kept_pushes(other, None, None, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.get_kept_push(other, all[0].id).await.unwrap_err(),
        StoreError::NotFound
    );
    // A disconnected channel's kept pushes are not listed.
    store
        .disconnect_channel(f.ws, second, Timestamp::now())
        .await
        .unwrap();
    let left = store.list_kept_pushes(f.ws, None, None, 50).await.unwrap();
    assert_eq!(left.len(), 3);
    assert_eq!(
        store.get_kept_push(f.ws, all[3].id).await.unwrap_err(),
        StoreError::NotFound
    );
}
