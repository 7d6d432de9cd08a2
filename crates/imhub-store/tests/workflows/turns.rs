//! Reply-time KPIs in the store, identically on SQLite and PostgreSQL: a
//! turn at a pinned clock waits exactly its counted time (off-window time
//! excluded), automatic replies do not end it, agents' replies close it for
//! their agent, the waiting queue orders by wait, replays count nothing
//! twice, settings are checked, and every daily figure matches a
//! brute-force recount of the stored messages with `turns::step`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use imhub_core::{
    AccountId, AccountRef, ChannelId, ContactInfo, Content, ConversationId, ConversationStatus,
    Direction, InboundEvent, InboundMessage, Message, Peer, Platform, Role, SenderKind, Timestamp,
    UserId, WorkspaceId,
    automation::{Action, KeywordMatch, Scope, Trigger},
    hours::WorkingHours,
    turns::{self, BUCKETS, TurnState, Writer},
};
use imhub_store::{
    MessageCursor, NewOutbound, PushRecord, SqlStore, Store, StoreError, StoreOptions,
    automation::RuleBody,
    testing,
    turns::{KpiCounts, KpiSettings, ReportRange},
};
use rand::{Rng, SeedableRng, rngs::StdRng};
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
    a_turn_at_a_pinned_clock_waits_its_counted_time_only,
    automatic_replies_do_not_end_a_turn,
    an_agents_reply_closes_the_turn_for_that_agent,
    the_waiting_queue_orders_by_wait,
    replays_count_nothing_twice,
    kpi_settings_are_checked_and_kept,
    reports_match_a_brute_force_recount,
    the_benchmarks_bulk_rows_match_a_recount_too,
);

/// 2026-12-01T00:00:00+08:00, a Tuesday.
const TUE: i64 = 1_796_054_400_000;
/// Its report day (days since 1970-01-01).
const TUE_DAY: i64 = 20_788;
const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

fn tue(h: i64, m: i64, s: i64) -> Timestamp {
    Timestamp(TUE + h * HOUR + m * MIN + s * 1000)
}

#[derive(Clone, Copy)]
struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
    accounts: [AccountId; 2],
}

async fn fixture(store: &SqlStore) -> Fixture {
    let ws = store.create_workspace("shop").await.unwrap();
    let channel = store
        .create_channel(ws.id, Platform::Custom, "site", &json!({"secret": "s"}))
        .await
        .unwrap();
    let a = store
        .create_account(ws.id, channel.id, "acc-1", "旗舰店")
        .await
        .unwrap();
    let b = store
        .create_account(ws.id, channel.id, "acc-2", "二店")
        .await
        .unwrap();
    Fixture {
        ws: ws.id,
        channel: channel.id,
        accounts: [a.id, b.id],
    }
}

fn message(
    account: &str,
    who: &str,
    id: &str,
    direction: Direction,
    text: &str,
    at: Timestamp,
) -> InboundEvent {
    InboundEvent::Message(InboundMessage {
        account: AccountRef {
            external_id: account.into(),
            name: None,
        },
        peer: Peer::Direct(ContactInfo {
            external_id: who.into(),
            nickname: Some(format!("客户{who}")),
            avatar: None,
        }),
        direction,
        platform_message_id: id.into(),
        content: Content::Text { text: text.into() },
        sent_at: at,
        reply_context: None,
    })
}

/// Records one push received at `at`; returns its conversation.
async fn push(
    store: &SqlStore,
    f: &Fixture,
    key: &str,
    event: InboundEvent,
    at: Timestamp,
) -> Option<ConversationId> {
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
    recorded.changes.iter().find_map(|c| c.conversation_id())
}

/// The customer `who` of account acc-1 writes at `at`.
async fn customer(
    store: &SqlStore,
    f: &Fixture,
    who: &str,
    id: &str,
    at: Timestamp,
) -> ConversationId {
    push(
        store,
        f,
        &format!("e-{id}"),
        message("acc-1", who, id, Direction::In, "在吗", at),
        at,
    )
    .await
    .expect("a conversation")
}

/// The merchant answers `who` from the platform's own app at `at`.
async fn merchant_app(store: &SqlStore, f: &Fixture, who: &str, id: &str, at: Timestamp) {
    push(
        store,
        f,
        &format!("e-{id}"),
        message("acc-1", who, id, Direction::Out, "您好", at),
        at,
    )
    .await;
}

async fn agent(store: &SqlStore, f: &Fixture, name: &str) -> UserId {
    store
        .create_user(f.ws, &format!("{name}@shop.test"), name, Role::Agent, "x")
        .await
        .unwrap()
        .id
}

async fn send(
    store: &SqlStore,
    f: &Fixture,
    c: ConversationId,
    by: Option<UserId>,
    key: Option<&str>,
) {
    store
        .enqueue_message(
            f.ws,
            NewOutbound {
                conversation_id: c,
                content: Content::Text {
                    text: "马上为您处理".into(),
                },
                idempotency_key: key.map(str::to_string),
                request_hash: "h".into(),
                author_id: by,
            },
        )
        .await
        .unwrap();
}

fn day_range(from: i64, to: i64) -> ReportRange {
    ReportRange {
        from_day: from,
        to_day: to,
        account_id: None,
    }
}

fn refusal(e: StoreError) -> &'static str {
    match e {
        StoreError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

async fn a_turn_at_a_pinned_clock_waits_its_counted_time_only(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    // 23:30 Tuesday, again at 23:40; answered Wednesday 08:02:30 from the
    // merchant's app: only 2.5 minutes fall inside 08:00–23:00.
    let c = customer(&store, &f, "u1", "m1", tue(23, 30, 0)).await;
    customer(&store, &f, "u1", "m2", tue(23, 40, 0)).await;
    let conv = store.get_conversation(f.ws, c).await.unwrap();
    assert_eq!(conv.turn_open_since, Some(tue(23, 30, 0)));
    merchant_app(&store, &f, "u1", "m3", tue(32, 2, 30)).await;
    let conv = store.get_conversation(f.ws, c).await.unwrap();
    assert_eq!(conv.turn_open_since, None);

    let turns = store
        .list_turns(f.ws, day_range(TUE_DAY, TUE_DAY + 1), tue(40, 0, 0))
        .await
        .unwrap();
    assert_eq!(turns.len(), 1);
    let t = &turns[0];
    assert_eq!(t.wait_ms, 2 * MIN + 30_000);
    assert_eq!(t.within_target, Some(true));
    assert_eq!(t.day, TUE_DAY);
    assert_eq!(t.started_at, tue(23, 30, 0));
    assert_eq!(t.answered_at, Some(tue(32, 2, 30)));
    assert_eq!(t.agent_id, None);

    let days = store
        .kpi_days(f.ws, day_range(TUE_DAY, TUE_DAY + 1))
        .await
        .unwrap();
    assert_eq!(days.len(), 1);
    let d = &days[0].counts;
    assert_eq!((d.turns, d.answered, d.within_target), (1, 1, 1));
    // Not answered by the end of Tuesday.
    assert_eq!(d.unanswered, 1);
    assert_eq!(d.histogram[turns::bucket_of(150_000)], 1);
    // The merchant's app has no agent: no agent line.
    assert!(
        store
            .kpi_groups(f.ws, day_range(TUE_DAY, TUE_DAY), true)
            .await
            .unwrap()
            .is_empty()
    );
}

fn keyword_rule() -> RuleBody {
    RuleBody {
        name: "退款".into(),
        enabled: true,
        scope: Scope::default(),
        trigger: Trigger::Keywords {
            mode: KeywordMatch::ContainsAny,
            keywords: vec!["退款".into()],
            case_insensitive: true,
        },
        conditions: Vec::new(),
        actions: vec![Action::Reply {
            text: Some("退款请点订单页".into()),
            content: None,
            quick_reply_id: None,
        }],
        cooldown_secs: None,
    }
}

async fn automatic_replies_do_not_end_a_turn(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    store
        .create_rule(f.ws, keyword_rule(), Timestamp::now())
        .await
        .unwrap();
    let at = tue(10, 0, 0);
    let c = push(
        &store,
        &f,
        "e1",
        message("acc-1", "u1", "m1", Direction::In, "我要退款", at),
        at,
    )
    .await
    .unwrap();
    let timeline = store.list_messages(f.ws, c, None, 10).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|m| m.sender_kind == Some(SenderKind::Automation)),
        "the rule answered"
    );
    // The customer still waits for a human.
    let conv = store.get_conversation(f.ws, c).await.unwrap();
    assert_eq!(conv.turn_open_since, Some(at));
    let queue = store
        .waiting_conversations(f.ws, None, 50, tue(10, 4, 0))
        .await
        .unwrap();
    assert_eq!(queue.items.len(), 1);
    assert_eq!(queue.items[0].waited_ms, 4 * MIN);
    let d = &store
        .kpi_days(f.ws, day_range(TUE_DAY, TUE_DAY))
        .await
        .unwrap()[0]
        .counts;
    assert_eq!(
        (d.turns, d.answered, d.auto_only, d.unanswered),
        (1, 0, 1, 1)
    );

    merchant_app(&store, &f, "u1", "m2", tue(10, 5, 0)).await;
    let turns = store
        .list_turns(f.ws, day_range(TUE_DAY, TUE_DAY), tue(11, 0, 0))
        .await
        .unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].wait_ms, 5 * MIN);
    assert_eq!(turns[0].within_target, Some(false));
    assert_eq!(turns[0].auto_wait_ms, Some(0));
    let d = &store
        .kpi_days(f.ws, day_range(TUE_DAY, TUE_DAY))
        .await
        .unwrap()[0]
        .counts;
    assert_eq!(
        (
            d.turns,
            d.answered,
            d.within_target,
            d.auto_only,
            d.unanswered
        ),
        (1, 1, 0, 0, 0)
    );
    assert!(
        store
            .waiting_conversations(f.ws, None, 50, tue(11, 0, 0))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn an_agents_reply_closes_the_turn_for_that_agent(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let wang = agent(&store, &f, "小王").await;
    // An agent's send is dated now: the customer wrote 20 seconds before.
    let now = Timestamp::now();
    let c = customer(&store, &f, "u1", "m1", now.plus_millis(-20_000)).await;
    send(&store, &f, c, Some(wang), None).await;
    let window = store
        .get_kpi_settings(f.ws)
        .await
        .unwrap()
        .window()
        .unwrap();
    let day = window.local_day(now.plus_millis(-20_000));
    let turns = store
        .list_turns(f.ws, day_range(day, day), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].agent_id, Some(wang));
    assert_eq!(turns[0].agent_name.as_deref(), Some("小王"));
    let agents = store
        .kpi_groups(f.ws, day_range(day, day), true)
        .await
        .unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(
        (agents[0].id, agents[0].name.as_deref()),
        (wang.0, Some("小王"))
    );
    assert_eq!(agents[0].counts.turns, 1);
    // A second reply ends nothing more; an API token's reply with nobody
    // waiting changes nothing.
    send(&store, &f, c, Some(wang), None).await;
    send(&store, &f, c, None, None).await;
    assert_eq!(
        store
            .list_turns(f.ws, day_range(day, day), Timestamp::now())
            .await
            .unwrap()
            .len(),
        1
    );
    let accounts = store
        .kpi_groups(f.ws, day_range(day, day), false)
        .await
        .unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].name.as_deref(), Some("旗舰店"));
    assert_eq!(
        (accounts[0].counts.turns, accounts[0].counts.answered),
        (1, 1)
    );
}

async fn the_waiting_queue_orders_by_wait(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let late = customer(&store, &f, "late", "m1", tue(10, 5, 0)).await;
    let early = customer(&store, &f, "early", "m2", tue(10, 1, 0)).await;
    let middle = customer(&store, &f, "middle", "m3", tue(10, 3, 0)).await;
    let answered = customer(&store, &f, "answered", "m4", tue(9, 0, 0)).await;
    merchant_app(&store, &f, "answered", "m5", tue(9, 1, 0)).await;
    // A resolved chat leaves the queue (still unanswered for the KPIs).
    let resolved = customer(&store, &f, "resolved", "m6", tue(8, 0, 0)).await;
    store
        .set_conversation_status(f.ws, resolved, ConversationStatus::Resolved)
        .await
        .unwrap();
    // Another account's chat, filtered out by account.
    let other = push(
        &store,
        &f,
        "e-o",
        message("acc-2", "o", "m7", Direction::In, "hi", tue(7, 0, 0)),
        tue(7, 0, 0),
    )
    .await
    .unwrap();
    let queue = store
        .waiting_conversations(f.ws, Some(f.accounts[0]), 50, tue(10, 6, 0))
        .await
        .unwrap();
    let order: Vec<_> = queue.items.iter().map(|w| w.conversation.id).collect();
    assert_eq!(order, vec![early, middle, late]);
    let waits: Vec<_> = queue.items.iter().map(|w| w.waited_ms).collect();
    assert_eq!(waits, vec![5 * MIN, 3 * MIN, MIN]);
    assert_eq!(queue.items[0].waiting_since, tue(10, 1, 0));
    assert!(queue.counting_now);
    assert!(!order.contains(&answered));
    let all = store
        .waiting_conversations(f.ws, None, 50, tue(10, 6, 0))
        .await
        .unwrap();
    assert_eq!(all.items[0].conversation.id, other);
    assert_eq!(all.items.len(), 4);
    // Off hours the wait stands still.
    let night = store
        .waiting_conversations(f.ws, None, 1, tue(23, 30, 0))
        .await
        .unwrap();
    assert!(!night.counting_now);
    assert_eq!(night.items.len(), 1);
    // 07:00 counts from 08:00 to 23:00.
    assert_eq!(night.items[0].waited_ms, 15 * HOUR);
}

async fn replays_count_nothing_twice(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let wang = agent(&store, &f, "小王").await;
    let at = tue(10, 0, 0);
    let c = customer(&store, &f, "u1", "m1", at).await;
    // The same push again, and the same message under another event key.
    let again = message("acc-1", "u1", "m1", Direction::In, "在吗", at);
    assert_eq!(push(&store, &f, "e-m1", again, at).await, None);
    push(
        &store,
        &f,
        "e-again",
        message("acc-1", "u1", "m1", Direction::In, "在吗", at),
        at,
    )
    .await;
    merchant_app(&store, &f, "u1", "m2", tue(10, 1, 0)).await;
    merchant_app(&store, &f, "u1", "m2", tue(10, 1, 0)).await;
    let now = Timestamp::now();
    customer(&store, &f, "u1", "m3", now.plus_millis(-1000)).await;
    send(&store, &f, c, Some(wang), Some("k1")).await;
    send(&store, &f, c, Some(wang), Some("k1")).await;
    let d = &store
        .kpi_days(f.ws, day_range(TUE_DAY, TUE_DAY))
        .await
        .unwrap()[0]
        .counts;
    assert_eq!((d.turns, d.answered, d.unanswered), (1, 1, 0));
    let window = store
        .get_kpi_settings(f.ws)
        .await
        .unwrap()
        .window()
        .unwrap();
    let today = window.local_day(now);
    let all = store
        .list_turns(f.ws, day_range(TUE_DAY, today), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    let agents = store
        .kpi_groups(f.ws, day_range(TUE_DAY, today), true)
        .await
        .unwrap();
    assert_eq!(agents[0].counts.turns, 1);
}

async fn kpi_settings_are_checked_and_kept(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let defaults = store.get_kpi_settings(f.ws).await.unwrap();
    assert_eq!(defaults, KpiSettings::default());
    assert_eq!(
        (
            defaults.time_zone.as_str(),
            defaults.window_start.as_str(),
            defaults.window_end.as_str()
        ),
        ("Asia/Shanghai", "08:00", "23:00")
    );
    assert_eq!(
        (defaults.target_seconds, defaults.warning_seconds),
        (180, 120)
    );
    let with = |f: fn(&mut KpiSettings)| {
        let mut s = KpiSettings::default();
        f(&mut s);
        s
    };
    for (bad, code) in [
        (with(|s| s.window_end = "07:00".into()), "invalid_window"),
        (with(|s| s.window_end = "08:00".into()), "invalid_window"),
        (
            with(|s| s.time_zone = "Mars/Olympus".into()),
            "invalid_window",
        ),
        (with(|s| s.window_start = "8:00".into()), "invalid_window"),
        (with(|s| s.target_seconds = 0), "invalid_target"),
        (with(|s| s.warning_seconds = 200), "invalid_target"),
        (with(|s| s.warning_seconds = -1), "invalid_target"),
    ] {
        assert_eq!(
            refusal(store.set_kpi_settings(f.ws, bad).await.unwrap_err()),
            code
        );
    }
    assert_eq!(
        store.get_kpi_settings(f.ws).await.unwrap(),
        KpiSettings::default()
    );
    let custom = KpiSettings {
        time_zone: "Europe/Berlin".into(),
        window_start: "09:00".into(),
        window_end: "18:00".into(),
        target_seconds: 60,
        warning_seconds: 30,
    };
    store.set_kpi_settings(f.ws, custom.clone()).await.unwrap();
    assert_eq!(store.get_kpi_settings(f.ws).await.unwrap(), custom);
    // Another workspace keeps the defaults.
    let other = fixture(&store).await;
    assert_eq!(
        store.get_kpi_settings(other.ws).await.unwrap(),
        KpiSettings::default()
    );
    // A 1-minute target in Berlin hours: 08:59 → 09:01:30 waits 90 s, late.
    let berlin_9 = Timestamp(1_796_112_000_000); // 2026-12-01T09:00:00+01:00
    customer(&store, &f, "u1", "m1", berlin_9.plus_millis(-MIN)).await;
    merchant_app(&store, &f, "u1", "m2", berlin_9.plus_millis(90_000)).await;
    let day = custom.window().unwrap().local_day(berlin_9);
    let turns = store
        .list_turns(f.ws, day_range(day, day), berlin_9)
        .await
        .unwrap();
    assert_eq!(turns[0].wait_ms, 90_000);
    assert_eq!(turns[0].within_target, Some(false));
}

// The brute-force recount.

/// Every message of these conversations in the order they were recorded.
async fn all_messages(store: &SqlStore, ws: WorkspaceId, convs: &[ConversationId]) -> Vec<Message> {
    let mut out = Vec::new();
    for c in convs {
        let mut before = None;
        loop {
            let page = store.list_messages(ws, *c, before, 200).await.unwrap();
            let Some(last) = page.last() else { break };
            before = Some(MessageCursor {
                created_at: last.created_at.millis(),
                id: last.id.0,
            });
            let n = page.len();
            out.extend(page);
            if n < 200 {
                break;
            }
        }
    }
    out.sort_by_key(|m| m.id.0);
    out
}

/// Report figures recounted from the messages alone, by the definitions
/// in `imhub_core::turns` (not by its `daily_effect`).
#[derive(Debug, Default)]
pub struct Recount {
    /// (account, day) → counts.
    pub accounts: BTreeMap<(i64, i64), KpiCounts>,
    /// (agent, day) → counts.
    pub agents: BTreeMap<(i64, i64), KpiCounts>,
    /// (conversation, started, answered?, wait) of every turn.
    pub turns: Vec<(i64, Timestamp, Option<Timestamp>, i64)>,
}

fn blank() -> KpiCounts {
    KpiCounts {
        histogram: vec![0; BUCKETS],
        ..KpiCounts::default()
    }
}

fn recount(
    messages: &[Message],
    account_of: &HashMap<i64, i64>,
    window: &WorkingHours,
    target_ms: i64,
) -> Recount {
    let mut r = Recount::default();
    let mut states: HashMap<i64, TurnState> = HashMap::new();
    let day = |t: Timestamp| window.local_day(t);
    for m in messages {
        let writer = match (m.direction, m.sender_kind) {
            (Direction::In, _) => Writer::Customer,
            (Direction::Out, Some(SenderKind::Automation)) => Writer::Automation,
            (Direction::Out, _) => Writer::Human,
            _ => continue,
        };
        let c = m.conversation_id.0;
        let account = account_of[&c];
        let before = states.get(&c).copied().unwrap_or_default();
        let s = turns::step(before, writer, m.created_at, window, target_ms);
        if let Some(closed) = s.closed {
            let d = day(closed.started_at);
            let same_day = day(closed.answered_at) == d;
            let auto_on_day = before
                .auto_replied_at
                .is_some_and(|a| day(a.max(closed.started_at)) == d);
            let row = r.accounts.entry((account, d)).or_insert_with(blank);
            row.turns += 1;
            row.answered += 1;
            row.within_target += i64::from(closed.wait_ms <= target_ms);
            row.unanswered += i64::from(!same_day);
            row.auto_only += i64::from(auto_on_day && !same_day);
            row.histogram[turns::bucket_of(closed.wait_ms)] += 1;
            if let Some(agent) = m.author_id {
                let row = r.agents.entry((agent.0, d)).or_insert_with(blank);
                row.turns += 1;
                row.answered += 1;
                row.within_target += i64::from(closed.wait_ms <= target_ms);
                row.unanswered += i64::from(!same_day);
                row.auto_only += i64::from(closed.auto_wait_ms.is_some());
                row.histogram[turns::bucket_of(closed.wait_ms)] += 1;
            }
            r.turns.push((
                c,
                closed.started_at,
                Some(closed.answered_at),
                closed.wait_ms,
            ));
        }
        states.insert(c, s.state);
    }
    // Turns still open: started, unanswered, perhaps answered automatically.
    for (c, state) in states {
        let Some(started) = state.open_since else {
            continue;
        };
        let d = day(started);
        let row = r.accounts.entry((account_of[&c], d)).or_insert_with(blank);
        row.turns += 1;
        row.unanswered += 1;
        row.auto_only += i64::from(
            state
                .auto_replied_at
                .is_some_and(|a| day(a.max(started)) == d),
        );
        r.turns.push((c, started, None, 0));
    }
    r
}

/// Sums recounted rows over days (and a key filter) per group.
fn totals(rows: &BTreeMap<(i64, i64), KpiCounts>, from: i64, to: i64) -> BTreeMap<i64, KpiCounts> {
    let mut out: BTreeMap<i64, KpiCounts> = BTreeMap::new();
    for ((id, day), c) in rows {
        if *day < from || *day > to {
            continue;
        }
        let t = out.entry(*id).or_insert_with(blank);
        t.turns += c.turns;
        t.answered += c.answered;
        t.within_target += c.within_target;
        t.unanswered += c.unanswered;
        t.auto_only += c.auto_only;
        for (a, b) in t.histogram.iter_mut().zip(&c.histogram) {
            *a += b;
        }
    }
    out
}

async fn reports_match_a_brute_force_recount(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    store
        .create_rule(f.ws, keyword_rule(), Timestamp::now())
        .await
        .unwrap();
    let agents = [
        agent(&store, &f, "小王").await,
        agent(&store, &f, "小李").await,
    ];
    let mut rng = StdRng::seed_from_u64(14);
    let now = Timestamp::now();
    // A few days back, with gaps from seconds to most of a night.
    let mut t = Timestamp(now.millis() - 6 * 24 * HOUR);
    let mut convs: Vec<ConversationId> = Vec::new();
    let mut known: HashMap<String, ConversationId> = HashMap::new();
    for i in 0..320 {
        let gap = match rng.random_range(0..10) {
            0 => rng.random_range(2 * HOUR..10 * HOUR),
            1..=3 => rng.random_range(MIN..20 * MIN),
            _ => rng.random_range(1_000..4 * MIN),
        };
        t = t.plus_millis(gap).min(now.plus_millis(-1000));
        let account = ["acc-1", "acc-2"][rng.random_range(0..2)];
        let who = format!("{account}-c{}", rng.random_range(0..6));
        let id = format!("m{i}");
        let roll = rng.random_range(0..100);
        let conv = known.get(&who).copied();
        match (roll, conv) {
            (0..=49, _) | (_, None) => {
                let text = if rng.random_range(0..4) == 0 {
                    "退款怎么弄"
                } else {
                    "在吗"
                };
                if let Some(c) = push(
                    &store,
                    &f,
                    &id,
                    message(account, &who, &id, Direction::In, text, t),
                    t,
                )
                .await
                    && !known.contains_key(&who)
                {
                    known.insert(who.clone(), c);
                    convs.push(c);
                }
            }
            (50..=89, Some(_)) => {
                push(
                    &store,
                    &f,
                    &id,
                    message(account, &who, &id, Direction::Out, "您好", t),
                    t,
                )
                .await;
            }
            (_, Some(c)) => {
                // An agent's send is dated now (or an API token's).
                let by = [Some(agents[0]), Some(agents[1]), None][rng.random_range(0..3)];
                send(&store, &f, c, by, None).await;
            }
        }
        // Now and then a push is replayed.
        if rng.random_range(0..15) == 0 {
            push(
                &store,
                &f,
                &id,
                message(account, &who, &id, Direction::In, "重复", t),
                t,
            )
            .await;
        }
    }
    let settings = store.get_kpi_settings(f.ws).await.unwrap();
    let window = settings.window().unwrap();
    let mut account_of = HashMap::new();
    for c in &convs {
        account_of.insert(
            c.0,
            store.get_conversation(f.ws, *c).await.unwrap().account_id.0,
        );
    }
    let messages = all_messages(&store, f.ws, &convs).await;
    assert!(messages.len() >= 300, "{} messages", messages.len());
    assert!(
        messages
            .iter()
            .any(|m| m.sender_kind == Some(SenderKind::Automation))
    );
    let r = recount(&messages, &account_of, &window, settings.target_ms());
    assert!(r.turns.len() > 50, "{} turns", r.turns.len());

    let first = window.local_day(Timestamp(now.millis() - 7 * 24 * HOUR));
    let last = window.local_day(now);
    // Every day of the summary.
    let days = store.kpi_days(f.ws, day_range(first, last)).await.unwrap();
    let mut per_day: BTreeMap<i64, KpiCounts> = BTreeMap::new();
    for ((_, day), c) in &r.accounts {
        let t = per_day.entry(*day).or_insert_with(blank);
        t.turns += c.turns;
        t.answered += c.answered;
        t.within_target += c.within_target;
        t.unanswered += c.unanswered;
        t.auto_only += c.auto_only;
        for (a, b) in t.histogram.iter_mut().zip(&c.histogram) {
            *a += b;
        }
    }
    let stored: BTreeMap<i64, KpiCounts> = days.into_iter().map(|d| (d.day, d.counts)).collect();
    assert_eq!(stored, per_day);
    // Accounts and agents over sub-ranges, and one account's days.
    for (from, to) in [(first, last), (first + 2, first + 4), (last, last)] {
        let accounts = store
            .kpi_groups(f.ws, day_range(from, to), false)
            .await
            .unwrap();
        let got: BTreeMap<i64, KpiCounts> =
            accounts.iter().map(|g| (g.id, g.counts.clone())).collect();
        let want: BTreeMap<i64, KpiCounts> = totals(&r.accounts, from, to)
            .into_iter()
            .filter(|(_, c)| c.turns > 0 || c.answered > 0 || c.auto_only != 0)
            .collect();
        assert_eq!(got, want, "accounts {from}..{to}");
        let agents_got = store
            .kpi_groups(f.ws, day_range(from, to), true)
            .await
            .unwrap();
        let got: BTreeMap<i64, KpiCounts> = agents_got
            .iter()
            .map(|g| (g.id, g.counts.clone()))
            .collect();
        assert_eq!(got, totals(&r.agents, from, to), "agents {from}..{to}");
        // Medians and p90s: the bucket of the exact nearest-rank value.
        for g in &agents_got {
            for q in [0.5, 0.9] {
                let exact = exact_quantile(
                    &messages,
                    &window,
                    settings.target_ms(),
                    from,
                    to,
                    Some(g.id),
                    q,
                );
                assert_eq!(
                    turns::histogram_quantile(&g.counts.histogram, q),
                    exact.map(|w| turns::bucket_value(turns::bucket_of(w))),
                    "agent {} q{q}",
                    g.id
                );
            }
        }
    }
    let one = ReportRange {
        from_day: first,
        to_day: last,
        account_id: Some(f.accounts[1]),
    };
    let got: BTreeMap<i64, KpiCounts> = store
        .kpi_days(f.ws, one)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.day, d.counts))
        .collect();
    let want: BTreeMap<i64, KpiCounts> = r
        .accounts
        .iter()
        .filter(|((a, _), _)| *a == f.accounts[1].0)
        .map(|((_, d), c)| (*d, c.clone()))
        .collect();
    assert_eq!(got, want);
    // The turns export lists every turn with its wait.
    let mut exported: Vec<_> = store
        .list_turns(f.ws, day_range(first, last), now)
        .await
        .unwrap()
        .into_iter()
        .map(|t| {
            (
                t.conversation_id.0,
                t.started_at,
                t.answered_at,
                if t.answered_at.is_some() {
                    t.wait_ms
                } else {
                    0
                },
            )
        })
        .collect();
    let mut want = r.turns.clone();
    exported.sort();
    want.sort();
    assert_eq!(exported, want);
    // Per conversation.
    let per_conv = store
        .conversation_turns(f.ws, day_range(first, last), now)
        .await
        .unwrap();
    for c in per_conv {
        let mine: Vec<_> = r
            .turns
            .iter()
            .filter(|t| t.0 == c.conversation_id.0)
            .collect();
        assert_eq!(c.turns as usize, mine.len());
        let mut waits: Vec<i64> = mine.iter().filter(|t| t.2.is_some()).map(|t| t.3).collect();
        assert_eq!(c.answered as usize, waits.len());
        assert_eq!(c.median_ms, turns::quantile(&mut waits, 0.5));
        assert_eq!(c.waiting, mine.iter().any(|t| t.2.is_none()));
    }
}

/// The exact nearest-rank quantile of the waits an agent's (or, with
/// `None`, every) closed turn of the days had, recounted from messages.
fn exact_quantile(
    messages: &[Message],
    window: &WorkingHours,
    target_ms: i64,
    from: i64,
    to: i64,
    agent: Option<i64>,
    q: f64,
) -> Option<i64> {
    let mut states: HashMap<i64, TurnState> = HashMap::new();
    let mut waits = Vec::new();
    for m in messages {
        let writer = match (m.direction, m.sender_kind) {
            (Direction::In, _) => Writer::Customer,
            (Direction::Out, Some(SenderKind::Automation)) => Writer::Automation,
            (Direction::Out, _) => Writer::Human,
            _ => continue,
        };
        let c = m.conversation_id.0;
        let s = turns::step(
            states.get(&c).copied().unwrap_or_default(),
            writer,
            m.created_at,
            window,
            target_ms,
        );
        if let Some(closed) = s.closed {
            let d = window.local_day(closed.started_at);
            let by = m.author_id.map(|a| a.0);
            if d >= from && d <= to && (agent.is_none() || by == agent) {
                waits.push(closed.wait_ms);
            }
        }
        states.insert(c, s.state);
    }
    turns::quantile(&mut waits, q)
}

/// The bench's set-wise load derives its turns and daily rows from the
/// stored messages: they must be what the write path would have kept.
async fn the_benchmarks_bulk_rows_match_a_recount_too(store: Arc<SqlStore>) {
    let seeded = imhub_store::bench::seed_reports(&store, 2_000, 5, 4)
        .await
        .unwrap();
    let ws = seeded.workspace;
    let mut convs = Vec::new();
    let mut account_of = HashMap::new();
    let mut after = None;
    loop {
        let page = store
            .list_conversations(
                ws,
                imhub_store::ConversationFilter {
                    limit: 200,
                    after,
                    ..imhub_store::ConversationFilter::default()
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(imhub_store::ListCursor {
            last_activity_at: last.last_activity_at.millis(),
            id: last.id.0,
        });
        for c in &page {
            convs.push(c.id);
            account_of.insert(c.id.0, c.account_id.0);
        }
    }
    assert_eq!(convs.len() as i64, seeded.conversations);
    let settings = store.get_kpi_settings(ws).await.unwrap();
    let window = settings.window().unwrap();
    let messages = all_messages(&store, ws, &convs).await;
    assert_eq!(messages.len() as i64, seeded.messages);
    let r = recount(&messages, &account_of, &window, settings.target_ms());
    let today = window.local_day(Timestamp::now());
    let (from, to) = (today - 10, today);
    let got: BTreeMap<i64, KpiCounts> = store
        .kpi_groups(ws, day_range(from, to), false)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g.counts))
        .collect();
    assert_eq!(got, totals(&r.accounts, from, to));
    let got: BTreeMap<i64, KpiCounts> = store
        .kpi_groups(ws, day_range(from, to), true)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g.counts))
        .collect();
    assert_eq!(got, totals(&r.agents, from, to));
    let total: i64 = r.accounts.values().map(|c| c.turns).sum();
    assert_eq!(total, seeded.turns);
    let exported = store
        .list_turns(ws, day_range(from, to), Timestamp::now())
        .await
        .unwrap();
    assert_eq!(exported.len(), r.turns.len());
}
