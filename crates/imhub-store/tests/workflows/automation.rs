//! Automation in the store, identically on SQLite and PostgreSQL: rules
//! refused at save with their reason, automatic replies queued in the
//! push's own transaction (once, whatever is replayed), off hours at a
//! pinned clock, cooldown and the daily cap, human takeover, escalation
//! timers, the enter-chat welcome quoting its event, counters kept on
//! write, the dry run; and two PostgreSQL nodes receiving the same push.

use std::sync::Arc;

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, ConversationId, Direction, InboundEvent,
    InboundMessage, LabelId, Message, Peer, Platform, Role, SenderKind, Timestamp, WorkspaceId,
    automation::{Action, AssignTo, AutomationSettings, KeywordMatch, Scope, Trigger},
};
use imhub_store::{
    NewOutbound, OutboxResult, PushRecord, SqlStore, Store, StoreError, StoreOptions,
    automation::{RuleBody, RuleTest},
    testing,
};
use serde_json::json;

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
    rules_are_refused_at_save_with_their_reason,
    rules_are_ordered_and_scoped_to_their_workspace,
    a_chinese_keyword_rule_replies_once_in_the_push_transaction,
    a_replayed_or_repeated_push_gets_one_reply,
    off_hours_replies_at_a_pinned_clock,
    cooldown_and_daily_cap_hold_replies_back,
    a_human_reply_pauses_automatic_replies_but_not_other_actions,
    escalation_fires_once_after_its_minutes_and_not_after_an_agent_answered,
    the_enter_chat_welcome_quotes_its_event,
    delivery_outcomes_count_for_the_rule_with_the_platforms_code,
    the_dry_run_says_what_would_fire_and_sends_nothing,
    our_own_sends_and_the_merchants_app_trigger_nothing,
    an_escalation_whose_rule_was_disabled_fires_nothing,
);

/// 2026-12-01T10:00:00+08:00, a Tuesday.
const TUE_10: Timestamp = Timestamp(1_796_090_400_000);
const MIN: i64 = 60_000;

#[derive(Clone, Copy)]
struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
}

async fn fixture(store: &SqlStore, platform: Platform) -> Fixture {
    let ws = store.create_workspace("shop").await.unwrap();
    let channel = store
        .create_channel(ws.id, platform, "site", &json!({"secret": "s"}))
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

fn account() -> AccountRef {
    AccountRef {
        external_id: "acc-1".into(),
        name: None,
    }
}

fn contact(id: &str) -> ContactInfo {
    ContactInfo {
        external_id: id.into(),
        nickname: Some("小王".into()),
        avatar: None,
    }
}

fn says(contact_id: &str, id: &str, text: &str, at: Timestamp) -> InboundEvent {
    InboundEvent::Message(InboundMessage {
        account: account(),
        peer: Peer::Direct(contact(contact_id)),
        direction: Direction::In,
        platform_message_id: id.into(),
        content: Content::Text { text: text.into() },
        sent_at: at,
        reply_context: Some(json!({"msg_id": id, "conversation_id": "@c"})),
    })
}

async fn push(
    store: &SqlStore,
    f: &Fixture,
    key: &str,
    event: InboundEvent,
    at: Timestamp,
) -> imhub_store::PushRecorded {
    let recorded = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(key.into()),
                body: b"{}".to_vec(),
                received_at: at,
                events: vec![event],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    assert!(recorded.unprocessable.is_empty(), "{recorded:?}");
    recorded
}

/// The customer writes `text` at `at` (its own event key and message id).
async fn customer(
    store: &SqlStore,
    f: &Fixture,
    who: &str,
    id: &str,
    text: &str,
    at: Timestamp,
) -> ConversationId {
    let recorded = push(store, f, &format!("e-{id}"), says(who, id, text, at), at).await;
    conversation_of(&recorded)
}

fn conversation_of(recorded: &imhub_store::PushRecorded) -> ConversationId {
    recorded
        .changes
        .iter()
        .find_map(|c| c.conversation_id())
        .expect("the push touched a conversation")
}

fn reply(text: &str) -> Action {
    Action::Reply {
        text: Some(text.into()),
        content: None,
        quick_reply_id: None,
    }
}

fn keywords(words: &[&str]) -> Trigger {
    Trigger::Keywords {
        mode: KeywordMatch::ContainsAny,
        keywords: words.iter().map(|w| w.to_string()).collect(),
        case_insensitive: true,
    }
}

fn body(name: &str, trigger: Trigger, actions: Vec<Action>) -> RuleBody {
    RuleBody {
        name: name.into(),
        enabled: true,
        scope: Scope::default(),
        trigger,
        conditions: Vec::new(),
        actions,
        cooldown_secs: None,
    }
}

async fn rule(store: &SqlStore, f: &Fixture, b: RuleBody) -> imhub_core::automation::RuleId {
    store
        .create_rule(f.ws, b, Timestamp::now())
        .await
        .unwrap()
        .rule
        .id
}

/// The automatic replies of a conversation, oldest first.
async fn automatic(store: &SqlStore, f: &Fixture, c: ConversationId) -> Vec<Message> {
    let mut out: Vec<Message> = store
        .list_messages(f.ws, c, None, 200)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.sender_kind == Some(SenderKind::Automation))
        .collect();
    out.reverse();
    out
}

fn text_of(m: &Message) -> &str {
    match &m.content {
        Content::Text { text } => text,
        other => panic!("not text: {other:?}"),
    }
}

fn refusal(e: StoreError) -> &'static str {
    match e {
        StoreError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn rules_are_refused_at_save_with_their_reason(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let now = Timestamp::now();
    let refused = |b: RuleBody| {
        let store = store.clone();
        async move { refusal(store.create_rule(f.ws, b, now).await.unwrap_err()) }
    };
    let regex = |p: &str| Trigger::Regex {
        pattern: p.into(),
        case_insensitive: false,
    };
    assert_eq!(
        refused(body("r", regex("(退款"), vec![reply("x")])).await,
        "invalid_pattern"
    );
    assert_eq!(
        refused(body("r", regex(&"a".repeat(501)), vec![reply("x")])).await,
        "pattern_too_long"
    );
    assert_eq!(
        refused(body(
            "r",
            regex(r"\w{1000}\w{1000}\w{1000}"),
            vec![reply("x")]
        ))
        .await,
        "invalid_pattern"
    );
    assert_eq!(
        refused(body("r", keywords(&[" "]), vec![reply("x")])).await,
        "invalid_keywords"
    );
    assert_eq!(
        refused(body("r", keywords(&["a"]), vec![])).await,
        "no_actions"
    );
    assert_eq!(
        refused(body("r", keywords(&["a"]), vec![reply(&"好".repeat(301))])).await,
        "reply_too_long_for_douyin"
    );
    assert_eq!(
        refused(body("r", keywords(&["a"]), vec![reply("a"), reply("b")])).await,
        "several_replies"
    );
    assert_eq!(
        refused(body(
            "r",
            keywords(&["a"]),
            vec![Action::Reply {
                text: None,
                content: None,
                quick_reply_id: None
            }]
        ))
        .await,
        "invalid_reply"
    );
    assert_eq!(
        refused(body(
            "r",
            Trigger::NoHumanReply { minutes: 0 },
            vec![Action::EmitWebhook]
        ))
        .await,
        "invalid_minutes"
    );
    assert_eq!(
        refused(body(
            "r",
            keywords(&["a"]),
            vec![reply("您好 {{contact.phone}}")]
        ))
        .await,
        "unknown_variable"
    );
    assert_eq!(
        refused(body(
            "r",
            keywords(&["a"]),
            vec![Action::Reply {
                text: None,
                content: None,
                quick_reply_id: Some(imhub_core::QuickReplyId(999))
            }]
        ))
        .await,
        "unknown_quick_reply"
    );
    assert_eq!(
        refused(body(
            "r",
            keywords(&["a"]),
            vec![Action::AddLabel {
                label_id: LabelId(999)
            }]
        ))
        .await,
        "unknown_label"
    );
    assert_eq!(
        refused(body(
            "r",
            keywords(&["a"]),
            vec![Action::Assign(AssignTo::Agent {
                agent_id: imhub_core::UserId(999)
            })]
        ))
        .await,
        "unknown_agent"
    );
    assert_eq!(
        refused(body(" ", keywords(&["a"]), vec![reply("x")])).await,
        "invalid_request"
    );
    // A label and an agent of another workspace are unknown here too.
    let other = fixture(&store, Platform::Custom).await;
    let foreign = store
        .create_label(other.ws, "VIP", "#ff0000")
        .await
        .unwrap();
    assert_eq!(
        refused(body(
            "r",
            keywords(&["a"]),
            vec![Action::AddLabel {
                label_id: foreign.id
            }]
        ))
        .await,
        "unknown_label"
    );
    // Hours: a bad zone or clock is refused with the reason.
    let mut s = AutomationSettings {
        time_zone: "Mars/Olympus".into(),
        ..AutomationSettings::default()
    };
    match store.set_automation_settings(f.ws, s.clone()).await {
        Err(StoreError::Refused { code, detail }) => {
            assert_eq!(code, "invalid_hours");
            assert!(detail.contains("Mars/Olympus"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    s.time_zone = "Asia/Shanghai".into();
    s.weekly[0][0].end = "25:00".into();
    assert_eq!(
        refusal(store.set_automation_settings(f.ws, s).await.unwrap_err()),
        "invalid_hours"
    );
    assert_eq!(
        store.get_automation_settings(f.ws).await.unwrap(),
        AutomationSettings::default()
    );
}

async fn rules_are_ordered_and_scoped_to_their_workspace(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let a = rule(&store, &f, body("A", keywords(&["a"]), vec![reply("A")])).await;
    let b = rule(&store, &f, body("B", keywords(&["a"]), vec![reply("B")])).await;
    let names = |rules: Vec<imhub_store::automation::StoredRule>| {
        rules.into_iter().map(|r| r.rule.name).collect::<Vec<_>>()
    };
    assert_eq!(names(store.list_rules(f.ws).await.unwrap()), ["A", "B"]);
    assert_eq!(
        names(store.reorder_rules(f.ws, vec![b, a]).await.unwrap()),
        ["B", "A"]
    );
    assert_eq!(
        refusal(store.reorder_rules(f.ws, vec![b]).await.unwrap_err()),
        "invalid_request"
    );
    // The first firing rule in order answers.
    let c = customer(&store, &f, "u1", "m1", "a", TUE_10).await;
    assert_eq!(text_of(&automatic(&store, &f, c).await[0]), "B");
    // Another workspace sees none of it.
    let other = fixture(&store, Platform::Custom).await;
    assert_eq!(
        store.get_rule(other.ws, a).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store
            .update_rule(
                other.ws,
                a,
                body("x", keywords(&["a"]), vec![reply("x")]),
                TUE_10
            )
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store.delete_rule(other.ws, a).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store.rule_stats(other.ws, a, TUE_10).await.unwrap_err(),
        StoreError::NotFound
    );
    assert!(store.list_rules(other.ws).await.unwrap().is_empty());
    // Disabled rules do nothing; deleting takes them away.
    let mut off = body("B", keywords(&["a"]), vec![reply("B")]);
    off.enabled = false;
    store.update_rule(f.ws, b, off, TUE_10).await.unwrap();
    let c2 = customer(&store, &f, "u2", "m2", "a", TUE_10).await;
    assert_eq!(text_of(&automatic(&store, &f, c2).await[0]), "A");
    store.delete_rule(f.ws, a).await.unwrap();
    let c3 = customer(&store, &f, "u3", "m3", "a", TUE_10).await;
    assert!(automatic(&store, &f, c3).await.is_empty());
}

async fn a_chinese_keyword_rule_replies_once_in_the_push_transaction(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let id = rule(
        &store,
        &f,
        body(
            "退款",
            keywords(&["退款", "refund"]),
            vec![reply(
                "{{contact.nickname}}您好，退款请点订单页（{{account.name}}）",
            )],
        ),
    )
    .await;
    let recorded = push(
        &store,
        &f,
        "e-1",
        says("u1", "m1", "我想申请退款怎么弄", TUE_10),
        TUE_10,
    )
    .await;
    assert!(recorded.outbox_queued);
    let c = conversation_of(&recorded);
    let replies = automatic(&store, &f, c).await;
    assert_eq!(replies.len(), 1);
    assert_eq!(text_of(&replies[0]), "小王您好，退款请点订单页（旗舰店）");
    assert_eq!(replies[0].rule_id, Some(id));
    assert_eq!(replies[0].direction, Direction::Out);
    assert_eq!(replies[0].author_id, None);
    // It is in the outbox, committed with the push.
    let jobs = store
        .lease_outbox("node", Timestamp::now(), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].message.id, replies[0].id);
    // Words that match nothing get nothing.
    let c2 = customer(&store, &f, "u2", "m2", "发货了吗", TUE_10).await;
    assert!(automatic(&store, &f, c2).await.is_empty());
    let stats = store.rule_stats(f.ws, id, TUE_10).await.unwrap();
    assert_eq!((stats.fired, stats.sent, stats.failed), (1, 0, 0));
}

async fn a_replayed_or_repeated_push_gets_one_reply(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let mut b = body("价格", keywords(&["价格"]), vec![reply("见详情页")]);
    b.cooldown_secs = Some(0);
    rule(&store, &f, b).await;
    let event = says("u1", "m1", "价格多少", TUE_10);
    let first = push(&store, &f, "e-1", event.clone(), TUE_10).await;
    let c = conversation_of(&first);
    // The same push again, and the platform's retry under a new key.
    let again = push(&store, &f, "e-1", event.clone(), TUE_10).await;
    assert!(again.duplicate && !again.outbox_queued);
    let retry = push(&store, &f, "e-2", event, TUE_10).await;
    assert!(!retry.outbox_queued);
    assert_eq!(automatic(&store, &f, c).await.len(), 1);
}

async fn off_hours_replies_at_a_pinned_clock(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let mut settings = AutomationSettings::default();
    // 春节: closed all day on 2026-12-03.
    settings.exceptions.insert("2026-12-03".into(), Vec::new());
    store.set_automation_settings(f.ws, settings).await.unwrap();
    rule(
        &store,
        &f,
        body(
            "下班",
            Trigger::OffHours,
            vec![reply("客服 9:00–18:00 在线")],
        ),
    )
    .await;
    let day = customer(&store, &f, "u1", "m1", "hi", TUE_10).await;
    assert!(automatic(&store, &f, day).await.is_empty());
    let night = TUE_10.plus_millis(10 * 60 * MIN); // 20:00
    let c = customer(&store, &f, "u2", "m2", "hi", night).await;
    assert_eq!(
        text_of(&automatic(&store, &f, c).await[0]),
        "客服 9:00–18:00 在线"
    );
    let holiday = TUE_10.plus_millis(2 * 24 * 60 * MIN); // Thursday 10:00, closed
    let c = customer(&store, &f, "u3", "m3", "hi", holiday).await;
    assert_eq!(automatic(&store, &f, c).await.len(), 1);
    let test = store
        .test_rules(
            f.ws,
            RuleTest {
                text: Some("hi".into()),
                platform: Platform::Custom,
                account_id: None,
                at: Some(night),
                entered_chat: false,
                new_conversation: false,
                nickname: None,
            },
        )
        .await
        .unwrap();
    assert!(!test.within_business_hours);
    assert_eq!(test.fired.len(), 1);
}

async fn cooldown_and_daily_cap_hold_replies_back(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    store
        .set_automation_settings(
            f.ws,
            AutomationSettings {
                daily_reply_cap: 2,
                ..AutomationSettings::default()
            },
        )
        .await
        .unwrap();
    let label = store.create_label(f.ws, "问价", "#00ff00").await.unwrap();
    let id = rule(
        &store,
        &f,
        body(
            "价格",
            keywords(&["价格"]),
            vec![reply("见详情页"), Action::AddLabel { label_id: label.id }],
        ),
    )
    .await;
    let at = |min: i64| TUE_10.plus_millis(min * MIN);
    let c = customer(&store, &f, "u1", "m1", "价格", at(0)).await;
    // 30 s later: within the 60 s cooldown.
    customer(&store, &f, "u1", "m2", "价格", TUE_10.plus_millis(30_000)).await;
    assert_eq!(automatic(&store, &f, c).await.len(), 1);
    customer(&store, &f, "u1", "m3", "价格", at(2)).await;
    assert_eq!(automatic(&store, &f, c).await.len(), 2);
    // The cap (2 a day) holds the third reply; the label still goes on.
    store
        .set_conversation_labels(f.ws, c, Vec::new())
        .await
        .unwrap();
    customer(&store, &f, "u1", "m4", "价格", at(4)).await;
    assert_eq!(automatic(&store, &f, c).await.len(), 2);
    assert_eq!(
        store.conversation_labels(f.ws, c).await.unwrap(),
        vec![label.id]
    );
    // The next local day it answers again.
    customer(&store, &f, "u1", "m5", "价格", at(24 * 60)).await;
    assert_eq!(automatic(&store, &f, c).await.len(), 3);
    let stats = store.rule_stats(f.ws, id, at(24 * 60)).await.unwrap();
    assert_eq!(stats.fired, 4, "{stats:?}");
}

async fn a_human_reply_pauses_automatic_replies_but_not_other_actions(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let label = store.create_label(f.ws, "在吗", "#0000ff").await.unwrap();
    let mut b = body(
        "在吗",
        keywords(&["在吗"]),
        vec![reply("在的"), Action::AddLabel { label_id: label.id }],
    );
    b.cooldown_secs = Some(0);
    rule(&store, &f, b).await;
    let now = Timestamp::now();
    let c = customer(&store, &f, "u1", "m1", "hi", now).await;
    let agent = store
        .create_user(f.ws, "a@shop.cn", "小李", Role::Agent, "x")
        .await
        .unwrap();
    store
        .enqueue_message(
            f.ws,
            NewOutbound {
                conversation_id: c,
                content: Content::Text {
                    text: "您好".into(),
                },
                idempotency_key: None,
                request_hash: "h".into(),
                author_id: Some(agent.id),
            },
        )
        .await
        .unwrap();
    let mine = store.list_messages(f.ws, c, None, 10).await.unwrap();
    assert_eq!(mine[0].sender_kind, Some(SenderKind::Agent));
    customer(&store, &f, "u1", "m2", "在吗", now.plus_millis(10 * MIN)).await;
    assert!(automatic(&store, &f, c).await.is_empty());
    assert_eq!(
        store.conversation_labels(f.ws, c).await.unwrap(),
        vec![label.id]
    );
    // After the takeover minutes (30) automatic replies resume.
    customer(&store, &f, "u1", "m3", "在吗", now.plus_millis(31 * MIN)).await;
    assert_eq!(automatic(&store, &f, c).await.len(), 1);
}

async fn escalation_fires_once_after_its_minutes_and_not_after_an_agent_answered(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store, Platform::Custom).await;
    let id = rule(
        &store,
        &f,
        body(
            "催回复",
            Trigger::NoHumanReply { minutes: 5 },
            vec![reply("稍等，客服马上到"), Action::EmitWebhook],
        ),
    )
    .await;
    let start = Timestamp::now().plus_millis(-20 * MIN);
    let c = customer(&store, &f, "u1", "m1", "有人吗", start).await;
    // A second message in the same turn sets no second timer.
    customer(&store, &f, "u1", "m2", "？", start.plus_millis(MIN)).await;
    // Not due before its minutes.
    assert!(
        store
            .lease_timers("n", start.plus_millis(4 * MIN), 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = start.plus_millis(5 * MIN);
    let timers = store.lease_timers("n", due, 60_000, 10).await.unwrap();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, "automation_escalation");
    assert_eq!(timers[0].payload, Some(json!({"rule_id": id})));
    let changes = store.fire_timer(&timers[0], due).await.unwrap();
    assert!(changes.iter().any(|c| matches!(
        c,
        imhub_store::Change::AutomationFired { rule_id, .. } if *rule_id == id
    )));
    assert_eq!(automatic(&store, &f, c).await.len(), 1);
    // Firing the same timer again does nothing; no timer is left.
    assert!(store.fire_timer(&timers[0], due).await.unwrap().is_empty());
    assert!(
        store
            .lease_timers("n", due.plus_millis(60 * MIN), 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(automatic(&store, &f, c).await.len(), 1);

    // Another customer, answered by an agent first: the timer goes.
    let c2 = customer(&store, &f, "u2", "m3", "有人吗", start).await;
    store
        .enqueue_message(
            f.ws,
            NewOutbound {
                conversation_id: c2,
                content: Content::Text { text: "在".into() },
                idempotency_key: None,
                request_hash: "h2".into(),
                author_id: None,
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .lease_timers("n", due.plus_millis(60 * MIN), 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(automatic(&store, &f, c2).await.is_empty());
}

async fn the_enter_chat_welcome_quotes_its_event(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Douyin).await;
    rule(
        &store,
        &f,
        body(
            "欢迎",
            Trigger::EnteredChat,
            vec![reply("欢迎光临{{account.name}}")],
        ),
    )
    .await;
    let now = Timestamp::now();
    let enter = json!({"msg_id": "@enter", "conversation_id": "@c", "create_time": now.millis(),
        "scene": "im_enter_direct_msg"});
    let opened = InboundEvent::ChatOpened {
        account: account(),
        contact: contact("u1"),
        at: now,
        reply_context: Some(enter.clone()),
        entry: None,
    };
    let recorded = push(&store, &f, "enter-1", opened.clone(), now).await;
    assert!(recorded.outbox_queued);
    let c = conversation_of(&recorded);
    // The customer writes before the welcome goes out: it still answers
    // the enter event, with its scene.
    customer(&store, &f, "u1", "m1", "你好", now.plus_millis(1000)).await;
    let jobs = store
        .lease_outbox("node", Timestamp::now().plus_millis(2000), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].target.reply_context, Some(enter));
    assert_eq!(jobs[0].target.last_inbound_at, Some(now));
    assert_eq!(text_of(&jobs[0].message), "欢迎光临旗舰店");
    // Entering again within 24 h welcomes nobody twice; on Douyin the
    // first message is not "entering".
    push(&store, &f, "enter-2", opened, now.plus_millis(60 * MIN)).await;
    assert_eq!(automatic(&store, &f, c).await.len(), 1);
}

async fn delivery_outcomes_count_for_the_rule_with_the_platforms_code(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let mut b = body("价格", keywords(&["价格"]), vec![reply("见详情页")]);
    b.cooldown_secs = Some(0);
    let id = rule(&store, &f, b).await;
    let now = Timestamp::now();
    customer(&store, &f, "u1", "m1", "价格", now).await;
    customer(&store, &f, "u2", "m2", "价格", now).await;
    let jobs = store
        .lease_outbox("node", Timestamp::now(), 60_000, 10)
        .await
        .unwrap();
    assert_eq!(jobs.len(), 2);
    store
        .complete_outbox(
            &jobs[0],
            OutboxResult::Done {
                platform_message_id: Some("p1".into()),
            },
        )
        .await
        .unwrap();
    store
        .complete_outbox(
            &jobs[1],
            OutboxResult::Failed {
                code: "28003070".into(),
                text: "超出频控限制次数".into(),
            },
        )
        .await
        .unwrap();
    let stats = store.rule_stats(f.ws, id, Timestamp::now()).await.unwrap();
    assert_eq!(
        (stats.fired, stats.sent, stats.failed),
        (2, 1, 1),
        "{stats:?}"
    );
    assert_eq!(stats.recent_failures.len(), 1);
    assert_eq!(stats.recent_failures[0].code, "28003070");
    assert_eq!(
        stats.recent_failures[0].message_id,
        Some(jobs[1].message.id)
    );
    assert_eq!(stats.days.len(), 1);
}

async fn the_dry_run_says_what_would_fire_and_sends_nothing(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Douyin).await;
    let accounts = store.list_accounts(f.ws).await.unwrap();
    let id = rule(
        &store,
        &f,
        body(
            "退款",
            keywords(&["退款"]),
            vec![reply("{{contact.nickname}}，退款见订单页")],
        ),
    )
    .await;
    rule(
        &store,
        &f,
        body("欢迎", Trigger::EnteredChat, vec![reply("欢迎")]),
    )
    .await;
    let sample = |text: &str| RuleTest {
        text: Some(text.into()),
        platform: Platform::Douyin,
        account_id: Some(accounts[0].id),
        at: Some(TUE_10),
        entered_chat: false,
        new_conversation: true,
        nickname: Some("小美".into()),
    };
    let out = store.test_rules(f.ws, sample("我要退款")).await.unwrap();
    assert!(out.within_business_hours);
    assert_eq!(out.fired.len(), 1, "{out:?}");
    assert_eq!(out.fired[0].rule_id, id);
    assert_eq!(
        out.fired[0].reply,
        Some(Content::Text {
            text: "小美，退款见订单页".into()
        })
    );
    let mut enter = sample("");
    enter.entered_chat = true;
    assert_eq!(store.test_rules(f.ws, enter).await.unwrap().fired.len(), 1);
    assert!(
        store
            .lease_outbox("node", Timestamp::now(), 60_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let other = fixture(&store, Platform::Custom).await;
    assert_eq!(
        store
            .test_rules(other.ws, sample("退款"))
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn our_own_sends_and_the_merchants_app_trigger_nothing(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let mut b = body("退款", keywords(&["退款"]), vec![reply("退款见订单页")]);
    b.cooldown_secs = Some(0);
    rule(&store, &f, b).await;
    let now = Timestamp::now();
    let c = customer(&store, &f, "u1", "m1", "hi", now).await;
    // The merchant writes "退款" from the platform's app: not a trigger, and
    // a human answer (takeover).
    let mut from_app = says("u1", "m2", "退款已处理", now);
    if let InboundEvent::Message(m) = &mut from_app {
        m.direction = Direction::Out;
    }
    push(&store, &f, "e-m2", from_app, now).await;
    assert!(automatic(&store, &f, c).await.is_empty());
    customer(&store, &f, "u1", "m3", "退款", now.plus_millis(MIN)).await;
    assert!(automatic(&store, &f, c).await.is_empty(), "taken over");
}

async fn an_escalation_whose_rule_was_disabled_fires_nothing(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Custom).await;
    let escalate = || {
        body(
            "催回复",
            Trigger::NoHumanReply { minutes: 5 },
            vec![reply("稍等")],
        )
    };
    let id = rule(&store, &f, escalate()).await;
    let start = Timestamp::now().plus_millis(-20 * MIN);
    let c = customer(&store, &f, "u1", "m1", "有人吗", start).await;
    let mut off = escalate();
    off.enabled = false;
    store.update_rule(f.ws, id, off, start).await.unwrap();
    let due = start.plus_millis(5 * MIN);
    let timers = store.lease_timers("n", due, 60_000, 10).await.unwrap();
    assert_eq!(timers.len(), 1);
    store.fire_timer(&timers[0], due).await.unwrap();
    assert!(automatic(&store, &f, c).await.is_empty());
    // Enabled again, the next customer message sets a new timer.
    store
        .update_rule(f.ws, id, escalate(), start)
        .await
        .unwrap();
    customer(&store, &f, "u1", "m2", "？", start.plus_millis(6 * MIN)).await;
    let later = start.plus_millis(11 * MIN);
    let timers = store.lease_timers("n", later, 60_000, 10).await.unwrap();
    assert_eq!(timers.len(), 1);
    store.fire_timer(&timers[0], later).await.unwrap();
    assert_eq!(automatic(&store, &f, c).await.len(), 1);
}

/// Two nodes on one PostgreSQL database receive the same push at once
/// (the platform delivered it twice): one reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_postgres_receiving_the_same_push_reply_once() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    let one = Arc::new(
        SqlStore::open(StoreOptions::new(url.clone()))
            .await
            .unwrap(),
    );
    let two = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
    let f = fixture(&one, Platform::Custom).await;
    let mut b = body("退款", keywords(&["退款"]), vec![reply("退款见订单页")]);
    b.cooldown_secs = Some(0);
    rule(&one, &f, b).await;
    let now = Timestamp::now();
    for round in 0..10 {
        let mut tasks = Vec::new();
        for (i, store) in [one.clone(), two.clone(), one.clone(), two.clone()]
            .into_iter()
            .enumerate()
        {
            // Half under the push's own key, half as the platform's retry.
            let key = format!("e-{round}-{}", i % 2);
            let event = says(&format!("u{round}"), &format!("m{round}"), "退款", now);
            tasks.push(tokio::spawn(async move {
                store
                    .record_push(
                        f.ws,
                        PushRecord {
                            channel_id: f.channel,
                            event_key: Some(key),
                            body: b"{}".to_vec(),
                            received_at: now,
                            events: vec![event],
                            request: None,
                            create_unknown_accounts: false,
                        },
                    )
                    .await
                    .unwrap()
            }));
        }
        let mut conversation = None;
        for t in tasks {
            let r = t.await.unwrap();
            if let Some(c) = r.changes.iter().find_map(|c| c.conversation_id()) {
                conversation = Some(c);
            }
        }
        let c = conversation.expect("one push was recorded");
        assert_eq!(automatic(&one, &f, c).await.len(), 1, "round {round}");
    }
}
