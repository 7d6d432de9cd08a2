//! Reply-time KPIs through imhub's API, on SQLite and on PostgreSQL: the
//! KPI settings (admin only, invalid windows refused), the 等待回复 queue
//! ordered by wait with warning and breach flags, every report figure
//! (summary per day, distribution, agents, accounts) equal to a
//! brute-force recount of the stored messages with `turns::step`, the CSV
//! exports (BOM, formula-safe cells, admins only) and bad ranges refused.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, ConversationId, Direction, InboundEvent,
    InboundMessage, Message, Peer, Platform, Role, SenderKind, Timestamp, UserId, WorkspaceId,
    hours::WorkingHours,
    turns::{self, BUCKETS, TurnState, Writer},
};
use imhub_server::Config;
use imhub_store::{MessageCursor, NewOutbound, PushRecord, SqlStore, Store, StoreOptions};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Harness::start(imhub_store::testing::sqlite_database()).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let Some(url) = imhub_store::testing::postgres_database() else { return };
                super::$name(super::Harness::start(url).await).await
            })*
        }
    };
}

both!(
    kpi_settings_are_admin_only_and_checked,
    the_waiting_queue_orders_by_wait_with_flags,
    reports_match_a_brute_force_recount,
    exports_are_for_admins_with_a_bom_and_safe_cells,
    bad_ranges_and_foreign_accounts_are_refused,
);

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;

struct Harness {
    base: String,
    http: reqwest::Client,
    store: Arc<SqlStore>,
    ws: WorkspaceId,
    channel: ChannelId,
    accounts: [i64; 2],
    token: String,
    agent_token: String,
}

async fn decode(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

impl Harness {
    async fn start(url: String) -> Harness {
        let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        let running = imhub_server::start(config, store.clone(), std::future::pending())
            .await
            .unwrap();
        let ws = store.create_workspace("shop").await.unwrap().id;
        let token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "t", Role::Admin)
            .await
            .unwrap();
        let agent_token = imhub_server::auth::issue_api_token(store.as_ref(), ws, "a", Role::Agent)
            .await
            .unwrap();
        let channel = store
            .create_channel(ws, Platform::Custom, "site", &json!({"secret": "s"}))
            .await
            .unwrap()
            .id;
        let a = store
            .create_account(ws, channel, "acc-1", "旗舰店")
            .await
            .unwrap();
        let b = store
            .create_account(ws, channel, "acc-2", "二店")
            .await
            .unwrap();
        Harness {
            base: format!("http://{}", running.addr),
            http: reqwest::Client::new(),
            store,
            ws,
            channel,
            accounts: [a.id.0, b.id.0],
            token,
            agent_token,
        }
    }

    async fn get_as(&self, token: &str, path: &str) -> (u16, Value) {
        decode(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(&self.token, path).await
    }

    async fn put_as(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        decode(
            self.http
                .put(format!("{}{path}", self.base))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    async fn text(&self, token: &str, path: &str) -> (u16, String, String) {
        let res = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let kind = res
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, kind, res.text().await.unwrap())
    }

    /// A message pushed for `who` of `account` at `at` (received then).
    async fn push(
        &self,
        account: &str,
        who: &str,
        nickname: &str,
        id: &str,
        direction: Direction,
        at: Timestamp,
    ) -> Option<ConversationId> {
        let event = InboundEvent::Message(InboundMessage {
            account: AccountRef {
                external_id: account.into(),
                name: None,
            },
            peer: Peer::Direct(ContactInfo {
                external_id: who.into(),
                nickname: Some(nickname.into()),
                avatar: None,
            }),
            direction,
            platform_message_id: id.into(),
            content: Content::Text {
                text: "在吗".into(),
            },
            sent_at: at,
            reply_context: None,
        });
        let recorded = self
            .store
            .record_push(
                self.ws,
                PushRecord {
                    channel_id: self.channel,
                    event_key: Some(format!("e-{id}")),
                    body: b"{}".to_vec(),
                    received_at: at,
                    events: vec![event],
                    request: None,
                    create_unknown_accounts: false,
                },
            )
            .await
            .unwrap();
        recorded.changes.iter().find_map(|c| c.conversation_id())
    }

    async fn send(&self, c: ConversationId, by: Option<UserId>) {
        self.store
            .enqueue_message(
                self.ws,
                NewOutbound {
                    conversation_id: c,
                    content: Content::Text {
                        text: "您好".into(),
                    },
                    idempotency_key: None,
                    request_hash: "h".into(),
                    author_id: by,
                },
            )
            .await
            .unwrap();
    }

    /// Counts every moment (so tests do not depend on the hour they run).
    async fn count_all_day(&self) {
        let (status, body) = self
            .put_as(
                &self.token,
                "/api/v1/reports/settings",
                json!({"time_zone": "Asia/Shanghai", "window_start": "00:00",
                       "window_end": "24:00", "target_seconds": 180, "warning_seconds": 120}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn kpi_settings_are_admin_only_and_checked(h: Harness) {
    let (status, body) = h.get_as(&h.agent_token, "/api/v1/reports/settings").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"time_zone": "Asia/Shanghai", "window_start": "08:00", "window_end": "23:00",
               "target_seconds": 180, "warning_seconds": 120})
    );
    let good = json!({"time_zone": "Asia/Shanghai", "window_start": "09:00",
                      "window_end": "21:00", "target_seconds": 60, "warning_seconds": 45});
    let (status, body) = h
        .put_as(&h.agent_token, "/api/v1/reports/settings", good.clone())
        .await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")));
    for (bad, code) in [
        (
            json!({"time_zone": "Asia/Shanghai", "window_start": "21:00", "window_end": "09:00",
                "target_seconds": 60, "warning_seconds": 45}),
            "invalid_window",
        ),
        (
            json!({"time_zone": "Asia/Atlantis", "window_start": "09:00", "window_end": "21:00",
                "target_seconds": 60, "warning_seconds": 45}),
            "invalid_window",
        ),
        (
            json!({"time_zone": "Asia/Shanghai", "window_start": "09:00", "window_end": "25:00",
                "target_seconds": 60, "warning_seconds": 45}),
            "invalid_window",
        ),
        (
            json!({"time_zone": "Asia/Shanghai", "window_start": "09:00", "window_end": "21:00",
                "target_seconds": 60, "warning_seconds": 61}),
            "invalid_target",
        ),
    ] {
        let (status, body) = h.put_as(&h.token, "/api/v1/reports/settings", bad).await;
        assert_eq!((status, body["code"].as_str()), (422, Some(code)), "{body}");
    }
    let (status, body) = h
        .put_as(
            &h.token,
            "/api/v1/reports/settings",
            json!({"time_zone": "Asia/Shanghai"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = h
        .put_as(&h.token, "/api/v1/reports/settings", good.clone())
        .await;
    assert_eq!((status, &body), (200, &good));
    assert_eq!(h.get("/api/v1/reports/settings").await.1, good);
}

async fn the_waiting_queue_orders_by_wait_with_flags(h: Harness) {
    h.count_all_day().await;
    let now = Timestamp::now();
    let calm = h
        .push(
            "acc-1",
            "calm",
            "小张",
            "m1",
            Direction::In,
            now.plus_millis(-10_000),
        )
        .await
        .unwrap();
    let late = h
        .push(
            "acc-1",
            "late",
            "小王",
            "m2",
            Direction::In,
            now.plus_millis(-5 * MIN),
        )
        .await
        .unwrap();
    let warn = h
        .push(
            "acc-2",
            "warn",
            "小李",
            "m3",
            Direction::In,
            now.plus_millis(-150_000),
        )
        .await
        .unwrap();
    let done = h
        .push(
            "acc-1",
            "done",
            "小赵",
            "m4",
            Direction::In,
            now.plus_millis(-20 * MIN),
        )
        .await
        .unwrap();
    h.push(
        "acc-1",
        "done",
        "小赵",
        "m5",
        Direction::Out,
        now.plus_millis(-19 * MIN),
    )
    .await;

    let (status, body) = h.get_as(&h.agent_token, "/api/v1/waiting").await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![late.0, warn.0, calm.0]);
    assert!(!ids.contains(&done.0));
    let flags: Vec<(bool, bool)> = items
        .iter()
        .map(|i| {
            (
                i["warning"].as_bool().unwrap(),
                i["breach"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags, vec![(true, true), (true, false), (false, false)]);
    let waited = items[0]["waited_ms"].as_i64().unwrap();
    assert!((5 * MIN..5 * MIN + 30_000).contains(&waited), "{waited}");
    assert_eq!(
        items[0]["waiting_since"].as_str(),
        Some(now.plus_millis(-5 * MIN).to_rfc3339().as_str())
    );
    assert_eq!(items[0]["turn_open_since"], items[0]["waiting_since"]);
    assert_eq!(items[0]["title"], "小王");
    assert_eq!(body["counting_now"], true);
    assert_eq!(
        (
            body["warning_seconds"].as_i64(),
            body["target_seconds"].as_i64()
        ),
        (Some(120), Some(180))
    );
    // The chat list shows the open turn too; an answered one has none.
    let (_, conv) = h.get(&format!("/api/v1/conversations/{}", late.0)).await;
    assert_eq!(
        conv["turn_open_since"].as_str(),
        Some(now.plus_millis(-5 * MIN).to_rfc3339().as_str())
    );
    let (_, conv) = h.get(&format!("/api/v1/conversations/{}", done.0)).await;
    assert!(conv.get("turn_open_since").is_none(), "{conv}");
    // One account, a limit, bad input.
    let (_, one) = h
        .get(&format!("/api/v1/waiting?account_id={}", h.accounts[1]))
        .await;
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    let (_, first) = h.get("/api/v1/waiting?limit=1").await;
    assert_eq!(first["items"][0]["id"].as_i64(), Some(late.0));
    let (status, body) = h.get("/api/v1/waiting?limit=0").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_query"))
    );
    // An agent's answer takes the chat out of the queue.
    h.send(late, None).await;
    let (_, body) = h.get("/api/v1/waiting").await;
    assert_eq!(body["items"][0]["id"].as_i64(), Some(warn.0));
}

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

/// One group's recounted figures and its exact waits.
#[derive(Debug, Default, Clone)]
struct Tally {
    turns: i64,
    answered: i64,
    within: i64,
    unanswered: i64,
    auto_only: i64,
    waits: Vec<i64>,
}

/// Accounts' and agents' tallies by (id, day), and how many turns.
type Recounted = (
    BTreeMap<(i64, i64), Tally>,
    BTreeMap<(i64, i64), Tally>,
    usize,
);

/// (group id, day) → tally, for accounts and agents; recounted from the
/// messages by the definitions (turn day = local day of its start).
fn recount(
    messages: &[Message],
    account_of: &HashMap<i64, i64>,
    window: &WorkingHours,
    target_ms: i64,
) -> Recounted {
    let mut accounts: BTreeMap<(i64, i64), Tally> = BTreeMap::new();
    let mut agents: BTreeMap<(i64, i64), Tally> = BTreeMap::new();
    let mut states: HashMap<i64, TurnState> = HashMap::new();
    let mut all = 0;
    let day = |t: Timestamp| window.local_day(t);
    for m in messages {
        let writer = match (m.direction, m.sender_kind) {
            (Direction::In, _) => Writer::Customer,
            (Direction::Out, Some(SenderKind::Automation)) => Writer::Automation,
            (Direction::Out, _) => Writer::Human,
            _ => continue,
        };
        let c = m.conversation_id.0;
        let before = states.get(&c).copied().unwrap_or_default();
        let s = turns::step(before, writer, m.created_at, window, target_ms);
        if let Some(closed) = s.closed {
            all += 1;
            let d = day(closed.started_at);
            let same_day = day(closed.answered_at) == d;
            let auto = before
                .auto_replied_at
                .is_some_and(|a| day(a.max(closed.started_at)) == d);
            let t = accounts.entry((account_of[&c], d)).or_default();
            t.turns += 1;
            t.answered += 1;
            t.within += i64::from(closed.wait_ms <= target_ms);
            t.unanswered += i64::from(!same_day);
            t.auto_only += i64::from(auto && !same_day);
            t.waits.push(closed.wait_ms);
            if let Some(agent) = m.author_id {
                let t = agents.entry((agent.0, d)).or_default();
                t.turns += 1;
                t.answered += 1;
                t.within += i64::from(closed.wait_ms <= target_ms);
                t.unanswered += i64::from(!same_day);
                t.auto_only += i64::from(closed.auto_wait_ms.is_some());
                t.waits.push(closed.wait_ms);
            }
        }
        states.insert(c, s.state);
    }
    for (c, state) in states {
        let Some(started) = state.open_since else {
            continue;
        };
        all += 1;
        let d = day(started);
        let t = accounts.entry((account_of[&c], d)).or_default();
        t.turns += 1;
        t.unanswered += 1;
        t.auto_only += i64::from(
            state
                .auto_replied_at
                .is_some_and(|a| day(a.max(started)) == d),
        );
    }
    (accounts, agents, all)
}

fn sum<'a>(tallies: impl Iterator<Item = &'a Tally>) -> Tally {
    let mut t = Tally::default();
    for x in tallies {
        t.turns += x.turns;
        t.answered += x.answered;
        t.within += x.within;
        t.unanswered += x.unanswered;
        t.auto_only += x.auto_only;
        t.waits.extend(&x.waits);
    }
    t
}

/// The bucket-precision quantile the reports promise for these waits.
fn bucketed(waits: &[i64], q: f64) -> Value {
    match turns::quantile(&mut waits.to_vec(), q) {
        Some(w) => json!(turns::bucket_value(turns::bucket_of(w))),
        None => Value::Null,
    }
}

fn rate(within: i64, turns: i64) -> Value {
    if turns == 0 {
        Value::Null
    } else {
        json!(within as f64 / turns as f64)
    }
}

/// Random customers, the merchant's app, agents and an automatic rule over
/// a few days; returns the conversations.
async fn generate(h: &Harness, agents: &[UserId]) -> Vec<ConversationId> {
    let (status, body) = decode(
        h.http
            .post(format!("{}/api/v1/automation/rules", h.base))
            .bearer_auth(&h.token)
            .json(
                &json!({"name": "问候", "trigger": {"type": "keywords", "match": "contains_any",
                          "keywords": ["在吗"]},
                          "actions": [{"type": "reply", "text": "您好，请稍等"}]}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let mut rng = StdRng::seed_from_u64(2026);
    let now = Timestamp::now();
    let mut t = Timestamp(now.millis() - 5 * 24 * HOUR);
    let mut known: HashMap<String, ConversationId> = HashMap::new();
    let mut convs = Vec::new();
    for i in 0..300 {
        let gap = match rng.random_range(0..10) {
            0 => rng.random_range(2 * HOUR..9 * HOUR),
            1..=3 => rng.random_range(MIN..15 * MIN),
            _ => rng.random_range(1_000..4 * MIN),
        };
        t = t.plus_millis(gap).min(now.plus_millis(-1000));
        let account = ["acc-1", "acc-2"][rng.random_range(0..2)];
        let who = format!("{account}-{}", rng.random_range(0..5));
        let id = format!("m{i}");
        match (rng.random_range(0..100), known.get(&who).copied()) {
            (0..=49, _) | (_, None) => {
                if let Some(c) = h.push(account, &who, &who, &id, Direction::In, t).await
                    && !known.contains_key(&who)
                {
                    known.insert(who.clone(), c);
                    convs.push(c);
                }
            }
            (50..=89, Some(_)) => {
                h.push(account, &who, &who, &id, Direction::Out, t).await;
            }
            (_, Some(c)) => {
                let by = [Some(agents[0]), Some(agents[1]), None][rng.random_range(0..3)];
                h.send(c, by).await;
            }
        }
    }
    convs
}

async fn reports_match_a_brute_force_recount(h: Harness) {
    let agents = [
        h.store
            .create_user(h.ws, "wang@shop.test", "小王", Role::Agent, "x")
            .await
            .unwrap()
            .id,
        h.store
            .create_user(h.ws, "li@shop.test", "小李", Role::Agent, "x")
            .await
            .unwrap()
            .id,
    ];
    let convs = generate(&h, &agents).await;
    let settings = h.store.get_kpi_settings(h.ws).await.unwrap();
    let window = settings.window().unwrap();
    let mut account_of = HashMap::new();
    for c in &convs {
        account_of.insert(
            c.0,
            h.store
                .get_conversation(h.ws, *c)
                .await
                .unwrap()
                .account_id
                .0,
        );
    }
    let messages = all_messages(&h.store, h.ws, &convs).await;
    assert!(
        messages
            .iter()
            .any(|m| m.sender_kind == Some(SenderKind::Automation))
    );
    let (accounts, agent_rows, all_turns) =
        recount(&messages, &account_of, &window, settings.target_ms());
    let today = window.local_day(Timestamp::now());
    let from = today - 6;
    let q = format!(
        "from={}&to={}",
        turns::day_text(from),
        turns::day_text(today)
    );

    // Summary: every day, and the total.
    let (status, summary) = h
        .get_as(&h.agent_token, &format!("/api/v1/reports/summary?{q}"))
        .await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["days"].as_array().unwrap().len(), 7);
    let line = |t: &Tally, date: Option<String>| {
        let mut v = json!({"turns": t.turns, "answered": t.answered, "within_target": t.within,
               "rate": rate(t.within, t.turns), "unanswered": t.unanswered,
               "auto_only": t.auto_only});
        if let Some(d) = date {
            v["date"] = json!(d);
        }
        v
    };
    for (i, day) in (from..=today).enumerate() {
        let t = sum(accounts
            .iter()
            .filter(|((_, d), _)| *d == day)
            .map(|(_, t)| t));
        assert_eq!(
            summary["days"][i],
            line(&t, Some(turns::day_text(day))),
            "day {day}"
        );
    }
    let total = sum(accounts.values());
    assert_eq!(summary["total"], line(&total, None));
    assert_eq!(total.turns as usize, all_turns);
    // One account's summary.
    let (_, one) = h
        .get(&format!(
            "/api/v1/reports/summary?{q}&account_id={}",
            h.accounts[1]
        ))
        .await;
    let t = sum(accounts
        .iter()
        .filter(|((a, _), _)| *a == h.accounts[1])
        .map(|(_, t)| t));
    assert_eq!(one["total"], line(&t, None));
    assert_eq!(one["account_id"].as_i64(), Some(h.accounts[1]));

    // Distribution.
    let (_, dist) = h.get(&format!("/api/v1/reports/distribution?{q}")).await;
    let buckets = dist["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), BUCKETS);
    let mut counts = vec![0i64; BUCKETS];
    for w in &total.waits {
        counts[turns::bucket_of(*w)] += 1;
    }
    let got: Vec<i64> = buckets
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .collect();
    assert_eq!(got, counts);
    assert_eq!(buckets[8]["up_to_ms"].as_i64(), Some(180_000));
    assert!(buckets[BUCKETS - 1].get("up_to_ms").is_none());
    assert_eq!(dist["answered"].as_i64(), Some(total.answered));
    assert_eq!(dist["median_ms"], bucketed(&total.waits, 0.5));
    assert_eq!(dist["p90_ms"], bucketed(&total.waits, 0.9));

    // Accounts.
    let (_, table) = h.get(&format!("/api/v1/reports/accounts?{q}")).await;
    let items = table["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        let id = item["account_id"].as_i64().unwrap();
        let t = sum(accounts
            .iter()
            .filter(|((a, _), _)| *a == id)
            .map(|(_, t)| t));
        let mut want = line(&t, None);
        want["account_id"] = json!(id);
        want["name"] = json!(if id == h.accounts[0] {
            "旗舰店"
        } else {
            "二店"
        });
        want["median_ms"] = bucketed(&t.waits, 0.5);
        want["p90_ms"] = bucketed(&t.waits, 0.9);
        assert_eq!(item, &want);
    }
    // Agents.
    let (_, table) = h.get(&format!("/api/v1/reports/agents?{q}")).await;
    let items = table["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{table}");
    for item in items {
        let id = item["agent_id"].as_i64().unwrap();
        let t = sum(agent_rows
            .iter()
            .filter(|((a, _), _)| *a == id)
            .map(|(_, t)| t));
        let want = json!({"agent_id": id, "name": if id == agents[0].0 { "小王" } else { "小李" },
            "turns": t.turns, "within_target": t.within, "rate": rate(t.within, t.turns),
            "median_ms": bucketed(&t.waits, 0.5), "p90_ms": bucketed(&t.waits, 0.9),
            "carried_over": t.unanswered, "auto_first": t.auto_only});
        assert_eq!(item, &want);
    }
    // The turns export has one row per turn (plus the header).
    let (status, _, csv) = h
        .text(&h.token, &format!("/api/v1/reports/turns.csv?{q}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(csv.trim_end().split("\r\n").count(), all_turns + 1);
}

async fn exports_are_for_admins_with_a_bom_and_safe_cells(h: Harness) {
    h.count_all_day().await;
    let now = Timestamp::now();
    let c = h
        .push(
            "acc-1",
            "evil",
            "=HYPERLINK(\"http://x\",\"点我\")",
            "m1",
            Direction::In,
            now.plus_millis(-90_000),
        )
        .await
        .unwrap();
    h.push(
        "acc-1",
        "evil",
        "=HYPERLINK(\"http://x\",\"点我\")",
        "m2",
        Direction::Out,
        now.plus_millis(-30_000),
    )
    .await;
    h.push(
        "acc-1",
        "evil",
        "=HYPERLINK(\"http://x\",\"点我\")",
        "m3",
        Direction::In,
        now.plus_millis(-10_000),
    )
    .await;
    for path in [
        "/api/v1/reports/turns.csv",
        "/api/v1/reports/conversations.csv",
    ] {
        let (status, _, body) = h.text(&h.agent_token, path).await;
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("forbidden"));
    }
    let (status, kind, csv) = h.text(&h.token, "/api/v1/reports/turns.csv").await;
    assert_eq!(status, 200);
    assert_eq!(kind, "text/csv; charset=utf-8");
    assert!(csv.starts_with('\u{feff}'), "a BOM first");
    let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].contains("wait_seconds"));
    // The closed turn: 60 s, within the target; the name is text, not a formula.
    assert!(lines[1].contains(&format!(",{},", c.0)));
    assert!(
        lines[1].contains("\"'=HYPERLINK(\"\"http://x\"\",\"\"点我\"\")\""),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains(",60.0,yes,"), "{}", lines[1]);
    assert!(lines[1].contains("\"旗舰店\""));
    // The open turn has no answer yet.
    assert!(lines[2].contains(",,"), "{}", lines[2]);
    let (status, _, csv) = h.text(&h.token, "/api/v1/reports/conversations.csv").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv
        .trim_start_matches('\u{feff}')
        .trim_end()
        .split("\r\n")
        .collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("conversation_id,conversation,"));
    assert!(
        lines[1].starts_with(&format!("{},\"'=HYPERLINK", c.0)),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(",2,1,1,0.5000,60.0,60.0,60.0,yes"),
        "{}",
        lines[1]
    );
}

async fn bad_ranges_and_foreign_accounts_are_refused(h: Harness) {
    for q in [
        "from=2026-12-05&to=2026-12-01",
        "from=2026-13-01",
        "to=yesterday",
        "from=2024-01-01&to=2026-01-01",
    ] {
        for route in ["summary", "distribution", "agents", "accounts", "turns.csv"] {
            let (status, body) = h.get(&format!("/api/v1/reports/{route}?{q}")).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (422, Some("invalid_range")),
                "{route}?{q}: {body}"
            );
        }
    }
    let other = h.store.create_workspace("other").await.unwrap().id;
    let ch = h
        .store
        .create_channel(other, Platform::Custom, "x", &json!({"secret": "s"}))
        .await
        .unwrap()
        .id;
    let foreign = h
        .store
        .create_account(other, ch, "acc-x", "别家")
        .await
        .unwrap()
        .id
        .0;
    for path in [
        format!("/api/v1/reports/summary?account_id={foreign}"),
        format!("/api/v1/reports/agents?account_id={foreign}"),
        format!("/api/v1/waiting?account_id={foreign}"),
    ] {
        let (status, body) = h.get(&path).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let (status, body) = h.get("/api/v1/reports/summary?color=red").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_query")),
        "{body}"
    );
    // A default range: the last 7 days, empty.
    let (status, body) = h.get("/api/v1/reports/summary").await;
    assert_eq!(status, 200);
    assert_eq!(body["days"].as_array().unwrap().len(), 7);
    assert_eq!(body["total"]["rate"], Value::Null);
}
