//! Alerts in the store, identically on SQLite and PostgreSQL: targets with
//! a sealed secret and a redacted URL, settings, a breach timer set when a
//! customer waits and cancelled by a human reply, one breach alert per
//! conversation and throttle window, digests, robots' per-minute limits,
//! retries and giving up, and the other causes (re-authorization, a reply
//! failed for good, a silent channel, a new lead) raised in their own
//! transactions.

use std::sync::Arc;

use imhub_core::{
    AccountId, AccountRef, AccountState, ChannelId, ContactInfo, Content, ConversationId,
    Direction, InboundEvent, InboundMessage, Peer, Platform, Timestamp, WorkspaceId,
    alerts::{Alert, AlertRule, MessageFormat, TargetKind},
};
use imhub_store::{
    Change, NewOutbound, OutboxResult, PushRecord, SqlStore, Store, StoreError, StoreOptions,
    alerts::{AlertNext, AlertResult, AlertSettings, AlertTargetPatch, BREACH, NewAlertTarget},
    testing,
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
    targets_keep_their_secret_sealed_and_show_the_url_redacted,
    settings_are_checked_and_default_until_set,
    a_waiting_customer_sets_a_breach_timer_that_a_human_reply_cancels,
    a_breach_alert_fires_once_per_conversation_and_throttle_window,
    alerts_close_together_go_out_as_one_digest,
    a_robot_gets_no_more_than_its_platforms_messages_per_minute,
    attempts_are_retried_then_given_up_and_shown_on_the_target,
    an_account_losing_its_authorization_alerts_once,
    a_reply_that_failed_for_good_alerts,
    a_silent_channel_alerts_from_the_periodic_check,
    a_new_lead_alerts_with_its_number_masked,
    disabled_targets_and_rules_not_enabled_get_nothing,
    a_customer_message_from_history_sets_no_breach_timer,
);

#[derive(Clone, Copy)]
struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
    account: AccountId,
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
    let account = store
        .create_account(ws.id, channel.id, "acc-1", "旗舰店")
        .await
        .unwrap();
    Fixture {
        ws: ws.id,
        channel: channel.id,
        account: account.id,
    }
}

fn target(kind: TargetKind, rules: &[AlertRule]) -> NewAlertTarget {
    NewAlertTarget {
        kind,
        name: "值班群".into(),
        url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET-KEY".into(),
        secret: None,
        format: MessageFormat::Text,
        rules: rules.to_vec(),
        enabled: true,
    }
}

/// Settings without throttle and digest unless a test wants them.
async fn plain_settings(store: &SqlStore, f: &Fixture) {
    store
        .set_alert_settings(
            f.ws,
            AlertSettings {
                throttle_minutes: 0,
                digest_seconds: 0,
                ..AlertSettings::default()
            },
        )
        .await
        .unwrap();
}

async fn customer_writes(store: &SqlStore, f: &Fixture, id: &str, text: &str) -> ConversationId {
    customer_wrote_at(store, f, id, text, Timestamp::now()).await
}

async fn customer_wrote_at(
    store: &SqlStore,
    f: &Fixture,
    id: &str,
    text: &str,
    sent_at: Timestamp,
) -> ConversationId {
    let recorded = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(format!("e-{id}")),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![InboundEvent::Message(InboundMessage {
                    account: AccountRef {
                        external_id: "acc-1".into(),
                        name: None,
                    },
                    peer: Peer::Direct(ContactInfo {
                        external_id: "c-1".into(),
                        nickname: Some("张三".into()),
                        avatar: None,
                    }),
                    direction: Direction::In,
                    platform_message_id: id.into(),
                    content: Content::Text { text: text.into() },
                    sent_at,
                    reply_context: None,
                })],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    assert!(recorded.unprocessable.is_empty(), "{recorded:?}");
    recorded
        .changes
        .iter()
        .find_map(|c| match c {
            Change::MessageCreated {
                conversation_id, ..
            } => Some(*conversation_id),
            _ => None,
        })
        .expect("a message was created")
}

async fn human_replies(store: &SqlStore, f: &Fixture, conversation: ConversationId) {
    store
        .enqueue_message(
            f.ws,
            NewOutbound {
                conversation_id: conversation,
                content: Content::Text {
                    text: "您好".into(),
                },
                idempotency_key: None,
                request_hash: String::new(),
                author_id: None,
            },
        )
        .await
        .unwrap();
}

/// Fires every due alert timer as the timer engine would, at `at`.
async fn fire_alert_timers(store: &SqlStore, at: Timestamp) -> usize {
    let timers = store.lease_timers("test", at, 60_000, 100).await.unwrap();
    let mut fired = 0;
    for timer in &timers {
        if timer.kind.starts_with("alert_") {
            store.fire_timer(timer, at).await.unwrap();
            fired += 1;
        } else {
            store
                .postpone_timer(timer, at.plus_millis(86_400_000))
                .await
                .unwrap();
        }
    }
    fired
}

async fn breach_timers(store: &SqlStore, at: Timestamp) -> Vec<imhub_store::Timer> {
    let timers = store.lease_timers("peek", at, 1, 100).await.unwrap();
    timers.into_iter().filter(|t| t.kind == BREACH).collect()
}

/// Every delivery due by `at`, leased (and so taken).
async fn lease(store: &SqlStore, at: Timestamp) -> Vec<imhub_store::alerts::AlertJob> {
    store.lease_alert_deliveries(at, 60_000, 500).await.unwrap()
}

/// Every delivery due by `at`, sent: leased and recorded as delivered.
async fn take(store: &SqlStore, at: Timestamp) -> Vec<imhub_store::alerts::AlertJob> {
    let jobs = lease(store, at).await;
    for job in &jobs {
        store
            .complete_alert_delivery(job, delivered(at), AlertNext::Delivered)
            .await
            .unwrap();
    }
    jobs
}

fn delivered(at: Timestamp) -> AlertResult {
    AlertResult {
        at,
        ok: true,
        http_status: Some(200),
        code: Some(0),
        message: Some("ok".into()),
        error: None,
    }
}

fn day_later() -> Timestamp {
    // Past any counting window's night and any breach threshold.
    Timestamp::now().plus_millis(26 * 3_600_000)
}

async fn targets_keep_their_secret_sealed_and_show_the_url_redacted(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let other = fixture(&store).await;
    let mut new = target(TargetKind::Feishu, &[AlertRule::Breach, AlertRule::NewLead]);
    new.secret = Some("feishu-secret".into());
    let now = Timestamp::now();
    let created = store.create_alert_target(f.ws, new, now).await.unwrap();
    assert_eq!(created.kind, TargetKind::Feishu);
    assert!(created.secret_set);
    assert_eq!(
        created.url,
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"
    );
    assert_eq!(created.rules, vec![AlertRule::Breach, AlertRule::NewLead]);
    assert_eq!(created.last_result, None);
    let job = store.alert_target_job(f.ws, created.id).await.unwrap();
    assert_eq!(job.secret.as_deref(), Some("feishu-secret"));
    assert!(job.url.ends_with("key=SECRET-KEY"));
    // Another workspace sees nothing of it.
    assert!(matches!(
        store.get_alert_target(other.ws, created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .update_alert_target(other.ws, created.id, AlertTargetPatch::default(), now)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_alert_target(other.ws, created.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.list_alert_targets(other.ws).await.unwrap().is_empty());
    // Changes keep what they do not name; a secret can be removed.
    let changed = store
        .update_alert_target(
            f.ws,
            created.id,
            AlertTargetPatch {
                name: Some("客服主管".into()),
                secret: Some(None),
                rules: Some(vec![AlertRule::ChannelSilent]),
                enabled: Some(false),
                ..AlertTargetPatch::default()
            },
            now,
        )
        .await
        .unwrap();
    assert_eq!(changed.name, "客服主管");
    assert!(!changed.secret_set);
    assert!(!changed.enabled);
    assert_eq!(changed.rules, vec![AlertRule::ChannelSilent]);
    assert_eq!(changed.format, MessageFormat::Text);
    assert_eq!(
        store
            .alert_target_job(f.ws, created.id)
            .await
            .unwrap()
            .secret,
        None
    );
    store
        .record_alert_result(
            f.ws,
            created.id,
            AlertResult {
                at: now,
                ok: false,
                http_status: Some(200),
                code: Some(19021),
                message: Some("sign match fail".into()),
                error: None,
            },
        )
        .await
        .unwrap();
    let shown = store.get_alert_target(f.ws, created.id).await.unwrap();
    let last = shown.last_result.unwrap();
    assert_eq!((last.ok, last.code), (false, Some(19021)));
    assert_eq!(store.list_alert_targets(f.ws).await.unwrap().len(), 1);
    store.delete_alert_target(f.ws, created.id).await.unwrap();
    assert!(store.list_alert_targets(f.ws).await.unwrap().is_empty());
}

async fn settings_are_checked_and_default_until_set(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    assert_eq!(
        store.get_alert_settings(f.ws).await.unwrap(),
        AlertSettings::default()
    );
    let bad = AlertSettings {
        breach_minutes: 0,
        ..AlertSettings::default()
    };
    assert!(matches!(
        store.set_alert_settings(f.ws, bad).await,
        Err(StoreError::Refused {
            code: "invalid_request",
            ..
        })
    ));
    let good = AlertSettings {
        breach_minutes: 5,
        throttle_minutes: 30,
        digest_seconds: 120,
        silence_hours: 12,
    };
    store.set_alert_settings(f.ws, good).await.unwrap();
    assert_eq!(store.get_alert_settings(f.ws).await.unwrap(), good);
}

async fn a_waiting_customer_sets_a_breach_timer_that_a_human_reply_cancels(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    // Without a target that wants breaches, nothing is scheduled.
    let conversation = customer_writes(&store, &f, "m0", "在吗").await;
    assert!(breach_timers(&store, day_later()).await.is_empty());
    human_replies(&store, &f, conversation).await;
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Wecom, &[AlertRule::Breach]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    customer_writes(&store, &f, "m1", "在吗").await;
    // A second message in the same turn does not set a second timer.
    customer_writes(&store, &f, "m2", "有人吗").await;
    let timers = breach_timers(&store, day_later()).await;
    assert_eq!(timers.len(), 1, "{timers:?}");
    assert_eq!(timers[0].conversation_id, Some(conversation));
    // Leased for 1 ms only: free again right after.
    human_replies(&store, &f, conversation).await;
    assert!(breach_timers(&store, day_later()).await.is_empty());
}

async fn a_breach_alert_fires_once_per_conversation_and_throttle_window(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    store
        .set_alert_settings(
            f.ws,
            AlertSettings {
                throttle_minutes: 60,
                digest_seconds: 0,
                ..AlertSettings::default()
            },
        )
        .await
        .unwrap();
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Wecom, &[AlertRule::Breach]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let at = day_later();
    let conversation = customer_writes(&store, &f, "m1", "在吗").await;
    assert_eq!(fire_alert_timers(&store, at).await, 1);
    let jobs = take(&store, at).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].alerts.len(), 1);
    let alert = &jobs[0].alerts[0];
    assert_eq!(alert.rule, AlertRule::Breach);
    assert_eq!(alert.conversation_id, Some(conversation.0));
    assert!(alert.subject.contains("张三"), "{alert:?}");
    assert!(alert.subject.contains("旗舰店"), "{alert:?}");
    assert!(alert.detail.contains("分钟"), "{alert:?}");
    // A new turn breaching within the hour: throttled, nothing queued.
    human_replies(&store, &f, conversation).await;
    customer_writes(&store, &f, "m2", "还在吗").await;
    assert_eq!(
        fire_alert_timers(&store, at.plus_millis(10 * 60_000)).await,
        1
    );
    assert!(take(&store, at.plus_millis(10 * 60_000)).await.is_empty());
    // After the window, a breach alerts again.
    human_replies(&store, &f, conversation).await;
    customer_writes(&store, &f, "m3", "人呢").await;
    let later = at.plus_millis(61 * 60_000);
    assert_eq!(fire_alert_timers(&store, later).await, 1);
    assert_eq!(take(&store, later).await.len(), 1);
}

fn alert(rule: AlertRule, subject: &str, at: Timestamp) -> Alert {
    Alert {
        rule,
        at,
        subject: subject.into(),
        detail: String::new(),
        conversation_id: None,
    }
}

async fn alerts_close_together_go_out_as_one_digest(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    store
        .set_alert_settings(
            f.ws,
            AlertSettings {
                throttle_minutes: 0,
                digest_seconds: 60,
                ..AlertSettings::default()
            },
        )
        .await
        .unwrap();
    let t = store
        .create_alert_target(
            f.ws,
            target(TargetKind::Dingtalk, &[AlertRule::ReplyFailed]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let now = Timestamp::now();
    for i in 0..4 {
        let n = store
            .raise_alert(
                f.ws,
                alert(
                    AlertRule::ReplyFailed,
                    &format!("客户{i}"),
                    now.plus_millis(i),
                ),
                None,
            )
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    // The first goes out at once, alone.
    let first = take(&store, now.plus_millis(10)).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].alerts.len(), 1);
    assert_eq!(first[0].alerts[0].subject, "客户0");
    // The others wait for the window and go out as one message.
    assert!(take(&store, now.plus_millis(30_000)).await.is_empty());
    let digest = take(&store, now.plus_millis(60_000)).await;
    assert_eq!(digest.len(), 1);
    let subjects: Vec<&str> = digest[0]
        .alerts
        .iter()
        .map(|a| a.subject.as_str())
        .collect();
    assert_eq!(subjects, ["客户1", "客户2", "客户3"]);
    assert_eq!(digest[0].target_id, t.id);
    let listed = store.list_alert_deliveries(f.ws, t.id, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
}

async fn a_robot_gets_no_more_than_its_platforms_messages_per_minute(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    plain_settings(&store, &f).await;
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Wecom, &[AlertRule::ReplyFailed]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let now = Timestamp::now();
    for i in 0..25 {
        store
            .raise_alert(
                f.ws,
                alert(AlertRule::ReplyFailed, &format!("c{i}"), now),
                None,
            )
            .await
            .unwrap();
    }
    let jobs = take(&store, now).await;
    assert_eq!(jobs.len(), 20, "企业微信 takes 20 messages a minute");
    assert!(take(&store, now.plus_millis(59_000)).await.is_empty());
    assert_eq!(take(&store, now.plus_millis(61_000)).await.len(), 5);
}

async fn attempts_are_retried_then_given_up_and_shown_on_the_target(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    plain_settings(&store, &f).await;
    let t = store
        .create_alert_target(
            f.ws,
            target(TargetKind::Dingtalk, &[AlertRule::ReplyFailed]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let now = Timestamp::now();
    store
        .raise_alert(f.ws, alert(AlertRule::ReplyFailed, "c", now), None)
        .await
        .unwrap();
    let job = lease(&store, now).await.remove(0);
    // Leased: not taken twice.
    assert!(lease(&store, now.plus_millis(1)).await.is_empty());
    let busy = AlertResult {
        at: now,
        ok: false,
        http_status: Some(502),
        code: None,
        message: None,
        error: Some("HTTP 502".into()),
    };
    store
        .complete_alert_delivery(
            &job,
            busy,
            AlertNext::Retry {
                at: now.plus_millis(10_000),
            },
        )
        .await
        .unwrap();
    assert!(lease(&store, now.plus_millis(5_000)).await.is_empty());
    let again = lease(&store, now.plus_millis(10_000)).await.remove(0);
    assert_eq!(again.attempts, 1);
    let refused = AlertResult {
        at: now.plus_millis(10_000),
        ok: false,
        http_status: Some(200),
        code: Some(310000),
        message: Some("sign not match".into()),
        error: None,
    };
    store
        .complete_alert_delivery(&again, refused, AlertNext::GaveUp)
        .await
        .unwrap();
    let listed = store.list_alert_deliveries(f.ws, t.id, 10).await.unwrap();
    assert_eq!(listed[0].status, "failed");
    assert_eq!(listed[0].attempts, 2);
    assert_eq!(listed[0].last_code, Some(310000));
    assert_eq!(
        listed[0].last_error.as_deref(),
        Some("310000: sign not match")
    );
    let shown = store.get_alert_target(f.ws, t.id).await.unwrap();
    let last = shown.last_result.unwrap();
    assert_eq!(last.code, Some(310000));
    assert_eq!(last.message.as_deref(), Some("sign not match"));
    // A success shows on the target too.
    store
        .raise_alert(f.ws, alert(AlertRule::ReplyFailed, "d", now), None)
        .await
        .unwrap();
    let ok = lease(&store, now.plus_millis(20_000)).await.remove(0);
    store
        .complete_alert_delivery(
            &ok,
            delivered(now.plus_millis(20_000)),
            AlertNext::Delivered,
        )
        .await
        .unwrap();
    assert!(
        store
            .get_alert_target(f.ws, t.id)
            .await
            .unwrap()
            .last_result
            .unwrap()
            .ok
    );
    assert_eq!(
        store.list_alert_deliveries(f.ws, t.id, 10).await.unwrap()[0].status,
        "delivered"
    );
}

async fn an_account_losing_its_authorization_alerts_once(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    plain_settings(&store, &f).await;
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Wecom, &[AlertRule::NeedsReauthorization]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    store
        .set_account_state(
            f.ws,
            f.account,
            AccountState::NeedsReauthorization,
            Some("refresh token expired"),
        )
        .await
        .unwrap();
    // Set again while it still needs it: no second alert.
    store
        .set_account_state(f.ws, f.account, AccountState::NeedsReauthorization, None)
        .await
        .unwrap();
    let jobs = take(&store, Timestamp::now().plus_millis(1)).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].alerts[0].rule, AlertRule::NeedsReauthorization);
    assert!(jobs[0].alerts[0].subject.contains("旗舰店"));
    assert_eq!(jobs[0].alerts[0].detail, "refresh token expired");
}

async fn a_reply_that_failed_for_good_alerts(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    plain_settings(&store, &f).await;
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Wecom, &[AlertRule::ReplyFailed]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let conversation = customer_writes(&store, &f, "m1", "在吗").await;
    human_replies(&store, &f, conversation).await;
    let jobs = store
        .lease_outbox("node", Timestamp::now(), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    store
        .complete_outbox(
            &jobs[0],
            OutboxResult::Failed {
                code: "reply_window_closed".into(),
                text: "48 小时外不能回复".into(),
            },
        )
        .await
        .unwrap();
    let alerts = take(&store, Timestamp::now().plus_millis(1)).await;
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0].alerts[0];
    assert_eq!(a.rule, AlertRule::ReplyFailed);
    assert_eq!(a.conversation_id, Some(conversation.0));
    assert!(a.detail.starts_with("reply_window_closed"), "{a:?}");
}

async fn a_silent_channel_alerts_from_the_periodic_check(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    plain_settings(&store, &f).await;
    customer_writes(&store, &f, "m1", "在吗").await;
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Wecom, &[AlertRule::ChannelSilent]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    // Within the 6 hours nothing is silent.
    let soon = Timestamp::now().plus_millis(16 * 60_000);
    assert_eq!(fire_alert_timers(&store, soon).await, 1);
    assert!(take(&store, soon).await.is_empty());
    // 7 hours later the check (rescheduled by itself) finds the channel.
    let late = Timestamp::now().plus_millis(7 * 3_600_000);
    assert_eq!(fire_alert_timers(&store, late).await, 1);
    let jobs = take(&store, late).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].alerts[0].rule, AlertRule::ChannelSilent);
    assert!(jobs[0].alerts[0].subject.contains("site"));
    // Alerted once until a push comes again.
    let later = late.plus_millis(16 * 60_000);
    assert_eq!(fire_alert_timers(&store, later).await, 1);
    assert!(take(&store, later).await.is_empty());
}

async fn a_new_lead_alerts_with_its_number_masked(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    plain_settings(&store, &f).await;
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Wecom, &[AlertRule::NewLead]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    customer_writes(&store, &f, "m1", "我的电话 13812345678，麻烦联系我").await;
    let jobs = take(&store, Timestamp::now().plus_millis(1)).await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let a = &jobs[0].alerts[0];
    assert_eq!(a.rule, AlertRule::NewLead);
    assert!(a.detail.contains("138****5678"), "{a:?}");
    assert!(!a.detail.contains("13812345678"), "{a:?}");
}

async fn disabled_targets_and_rules_not_enabled_get_nothing(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    plain_settings(&store, &f).await;
    let mut off = target(TargetKind::Wecom, &[AlertRule::ReplyFailed]);
    off.enabled = false;
    store
        .create_alert_target(f.ws, off, Timestamp::now())
        .await
        .unwrap();
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Feishu, &[AlertRule::NewLead]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let n = store
        .raise_alert(
            f.ws,
            alert(AlertRule::ReplyFailed, "c", Timestamp::now()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert!(
        take(&store, Timestamp::now().plus_millis(1))
            .await
            .is_empty()
    );
}

async fn a_customer_message_from_history_sets_no_breach_timer(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    store
        .create_alert_target(
            f.ws,
            target(TargetKind::Wecom, &[AlertRule::Breach]),
            Timestamp::now(),
        )
        .await
        .unwrap();
    let two_hours_ago = Timestamp::now().plus_millis(-2 * 3_600_000);
    customer_wrote_at(&store, &f, "old", "昨天的消息", two_hours_ago).await;
    assert!(breach_timers(&store, day_later()).await.is_empty());
}
