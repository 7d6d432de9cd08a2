//! The team inbox in the store, identically on SQLite and PostgreSQL:
//! assignment by hand and automatic (round-robin, capacity, availability,
//! sticky), the queue, availability and presence, status with snooze and
//! its durable timer, the chat-list views and counts; and, on PostgreSQL,
//! two nodes pushing at once never assign one conversation twice or push
//! an agent over capacity.

use std::{collections::HashMap, sync::Arc};

use imhub_core::{
    AccountId, AccountRef, Availability, ChannelId, ContactInfo, Content, ConversationId,
    ConversationStatus, Direction, InboundEvent, InboundMessage, Peer, Platform, Role, Timestamp,
    UserId, WorkspaceId,
};
use imhub_store::{
    AccountAssignment, Actor, Change, ConversationFilter, ListView, NewNote, NewTimer, PushRecord,
    SqlStore, StatusChange, Store, StoreError, StoreOptions, TeamSettings, testing,
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
    assigning_by_hand_writes_an_activity_line_and_the_change,
    assignee_must_be_an_enabled_agent_of_the_workspace,
    agents_take_free_or_own_conversations_and_give_up_only_their_own,
    auto_assignment_goes_round_robin_within_capacity_and_availability,
    a_resolved_chat_frees_room_for_the_longest_waiting_one,
    an_agent_coming_online_takes_the_queue,
    a_returning_customer_goes_back_to_their_last_agent,
    an_accounts_agent_list_limits_who_gets_its_conversations,
    going_away_requeues_waiting_conversations_when_the_workspace_says_so,
    presence_sweep_sets_unseen_agents_offline,
    snooze_needs_a_future_time_and_ends_through_its_timer,
    a_customer_message_reopens_resolved_and_snoozed_conversations,
    timers_are_leased_once_taken_over_after_expiry_and_postponed,
    chat_list_views_filter_by_assignee_label_mention_and_hide_closed,
    counts_follow_assignment_status_and_mentions,
    without_auto_assignment_a_push_assigns_nothing_and_queues_nothing,
    a_disabled_or_deleted_agents_chats_go_to_the_agents_left,
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
        .create_account(ws.id, channel.id, "acc-1", "Main")
        .await
        .unwrap();
    Fixture {
        ws: ws.id,
        channel: channel.id,
        account: account.id,
    }
}

async fn agent(store: &SqlStore, f: &Fixture, name: &str) -> UserId {
    store
        .create_user(f.ws, &format!("{name}@shop.cn"), name, Role::Agent, "x")
        .await
        .unwrap()
        .id
}

/// An agent who is online with this capacity.
async fn online(store: &SqlStore, f: &Fixture, name: &str, capacity: u32) -> UserId {
    let id = agent(store, f, name).await;
    let now = Timestamp::now();
    store.set_capacity(f.ws, id, capacity, now).await.unwrap();
    store
        .set_availability(f.ws, id, Availability::Online, now)
        .await
        .unwrap();
    id
}

fn message(contact: &str, id: &str, text: &str, direction: Direction) -> InboundEvent {
    InboundEvent::Message(InboundMessage {
        account: AccountRef {
            external_id: "acc-1".into(),
            name: None,
        },
        peer: Peer::Direct(ContactInfo {
            external_id: contact.into(),
            nickname: Some(format!("客户{contact}")),
            avatar: None,
        }),
        direction,
        platform_message_id: id.into(),
        content: Content::Text { text: text.into() },
        sent_at: Timestamp::now(),
        reply_context: None,
    })
}

/// A customer's message; returns the conversation and the push's changes.
async fn customer_writes(
    store: &SqlStore,
    f: &Fixture,
    contact: &str,
    id: &str,
) -> (ConversationId, Vec<Change>) {
    let recorded = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(format!("e-{id}")),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![message(contact, id, "在吗", Direction::In)],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    assert!(recorded.unprocessable.is_empty(), "{recorded:?}");
    let conversation = recorded
        .changes
        .iter()
        .find_map(|c| match c {
            Change::MessageCreated {
                conversation_id, ..
            } => Some(*conversation_id),
            _ => None,
        })
        .expect("a message was created");
    (conversation, recorded.changes)
}

async fn auto_assign(store: &SqlStore, f: &Fixture, agent_ids: Vec<UserId>) {
    store
        .set_account_assignment(
            f.ws,
            f.account,
            AccountAssignment {
                auto_assign: true,
                agent_ids,
            },
            Timestamp::now(),
        )
        .await
        .unwrap();
}

async fn assignee(store: &SqlStore, f: &Fixture, c: ConversationId) -> Option<UserId> {
    store.get_conversation(f.ws, c).await.unwrap().assignee_id
}

/// The `data` of the conversation's activity lines, oldest first.
async fn activity(store: &SqlStore, f: &Fixture, c: ConversationId) -> Vec<serde_json::Value> {
    let mut lines: Vec<serde_json::Value> = store
        .list_timeline(f.ws, c, None, 200, true)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == Direction::Activity)
        .map(|m| match m.content {
            Content::Custom { data, .. } => data,
            other => panic!("an activity line holds custom content, not {other:?}"),
        })
        .collect();
    lines.reverse();
    lines
}

fn refusal(e: StoreError) -> &'static str {
    match e {
        StoreError::Refused { code, .. } => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const ADMIN: Actor = Actor {
    user_id: None,
    role: Role::Admin,
};

fn as_agent(id: UserId) -> Actor {
    Actor {
        user_id: Some(id),
        role: Role::Agent,
    }
}

async fn assigning_by_hand_writes_an_activity_line_and_the_change(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let lead = store
        .create_user(f.ws, "lead@shop.cn", "小李", Role::Admin, "x")
        .await
        .unwrap()
        .id;
    let wang = agent(&store, &f, "小王").await;
    let (c, _) = customer_writes(&store, &f, "u1", "m1").await;
    let before = store.get_conversation(f.ws, c).await.unwrap();
    let by_lead = Actor {
        user_id: Some(lead),
        role: Role::Admin,
    };
    let (conv, changes) = store
        .assign_conversation(f.ws, c, Some(wang), by_lead, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(conv.assignee_id, Some(wang));
    assert_eq!(
        changes,
        vec![Change::ConversationAssigned {
            workspace_id: f.ws,
            conversation_id: c,
            assignee_id: Some(wang),
            by: Some(lead),
        }]
    );
    // The activity line is internal: the preview, unread count and the
    // integrations' message list are untouched.
    assert_eq!(conv.unread_count, before.unread_count);
    assert_eq!(conv.last_message_preview, before.last_message_preview);
    assert_eq!(conv.last_message_id, before.last_message_id);
    let public = store.list_messages(f.ws, c, None, 50).await.unwrap();
    assert!(public.iter().all(|m| m.direction != Direction::Activity));
    let lines = activity(&store, &f, c).await;
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["activity"], "assigned");
    assert_eq!(
        lines[0]["by"],
        serde_json::json!({"id": lead, "name": "小李"})
    );
    assert_eq!(
        lines[0]["to"],
        serde_json::json!({"id": wang, "name": "小王"})
    );
    // The same assignment again changes nothing and writes nothing.
    let (_, again) = store
        .assign_conversation(f.ws, c, Some(wang), by_lead, Timestamp::now())
        .await
        .unwrap();
    assert!(again.is_empty());
    // Unassigned: back to nobody, by the lead.
    let (conv, changes) = store
        .assign_conversation(f.ws, c, None, by_lead, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(conv.assignee_id, None);
    assert!(matches!(
        changes[..],
        [Change::ConversationAssigned {
            assignee_id: None,
            ..
        }]
    ));
    let lines = activity(&store, &f, c).await;
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["to"], serde_json::Value::Null);
    assert_eq!(lines[1]["from"]["name"], "小王");
}

async fn assignee_must_be_an_enabled_agent_of_the_workspace(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let other = fixture(&store).await;
    let stranger = agent(&store, &other, "外人").await;
    let off = agent(&store, &f, "停用").await;
    store.set_user_disabled(f.ws, off, true).await.unwrap();
    let (c, _) = customer_writes(&store, &f, "u1", "m1").await;
    let now = Timestamp::now();
    let e = store
        .assign_conversation(f.ws, c, Some(stranger), ADMIN, now)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "unknown_agent");
    let e = store
        .assign_conversation(f.ws, c, Some(UserId(999_999)), ADMIN, now)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "unknown_agent");
    let e = store
        .assign_conversation(f.ws, c, Some(off), ADMIN, now)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "agent_disabled");
    // Another workspace's conversation does not exist for this one.
    let e = store
        .assign_conversation(other.ws, c, Some(stranger), ADMIN, now)
        .await
        .unwrap_err();
    assert_eq!(e, StoreError::NotFound);
    let e = store
        .set_account_assignment(
            f.ws,
            f.account,
            AccountAssignment {
                auto_assign: true,
                agent_ids: vec![stranger],
            },
            now,
        )
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "unknown_agent");
    assert!(activity(&store, &f, c).await.is_empty());
    assert_eq!(assignee(&store, &f, c).await, None);
}

async fn agents_take_free_or_own_conversations_and_give_up_only_their_own(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let (wang, li) = (
        agent(&store, &f, "小王").await,
        agent(&store, &f, "小李").await,
    );
    let (c, _) = customer_writes(&store, &f, "u1", "m1").await;
    let now = Timestamp::now();
    // An agent cannot give a free conversation to someone else.
    let e = store
        .assign_conversation(f.ws, c, Some(li), as_agent(wang), now)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "forbidden");
    store
        .assign_conversation(f.ws, c, Some(wang), as_agent(wang), now)
        .await
        .unwrap();
    // Another agent can neither take it nor unassign it.
    for to in [Some(li), None] {
        let e = store
            .assign_conversation(f.ws, c, to, as_agent(li), now)
            .await
            .unwrap_err();
        assert_eq!(refusal(e), "forbidden", "{to:?}");
    }
    // An agent's API token has no user.
    let token = Actor {
        user_id: None,
        role: Role::Agent,
    };
    let e = store
        .assign_conversation(f.ws, c, None, token, now)
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "needs_user");
    assert_eq!(assignee(&store, &f, c).await, Some(wang));
    // The assignee gives it up; an admin may then give it to anyone.
    store
        .assign_conversation(f.ws, c, None, as_agent(wang), now)
        .await
        .unwrap();
    store
        .assign_conversation(f.ws, c, Some(li), ADMIN, now)
        .await
        .unwrap();
    assert_eq!(assignee(&store, &f, c).await, Some(li));
}

async fn auto_assignment_goes_round_robin_within_capacity_and_availability(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let a = online(&store, &f, "甲", 2).await;
    let b = online(&store, &f, "乙", 1).await;
    let away = agent(&store, &f, "丙").await;
    store
        .set_availability(f.ws, away, Availability::Away, Timestamp::now())
        .await
        .unwrap();
    auto_assign(&store, &f, Vec::new()).await;
    let mut got = Vec::new();
    for i in 0..4 {
        let (c, changes) = customer_writes(&store, &f, &format!("u{i}"), &format!("m{i}")).await;
        let who = assignee(&store, &f, c).await;
        if let Some(agent) = who {
            assert!(changes.contains(&Change::ConversationAssigned {
                workspace_id: f.ws,
                conversation_id: c,
                assignee_id: Some(agent),
                by: None,
            }));
            let lines = activity(&store, &f, c).await;
            assert_eq!(
                lines[0]["by"],
                serde_json::Value::Null,
                "the system assigned it"
            );
        }
        got.push((c, who));
    }
    // a, b, then only a has room, then nobody: the fourth waits.
    assert_eq!(
        got.iter().map(|(_, w)| *w).collect::<Vec<_>>(),
        vec![Some(a), Some(b), Some(a), None]
    );
    // The one nobody could take waits in the queue; the others do not.
    let waiting = store.get_conversation(f.ws, got[3].0).await.unwrap();
    assert!(waiting.waiting_since.is_some());
    let taken = store.get_conversation(f.ws, got[0].0).await.unwrap();
    assert_eq!(taken.waiting_since, None);
    let agents = store.list_agents(f.ws).await.unwrap();
    let load: HashMap<UserId, u32> = agents.iter().map(|x| (x.id, x.open_assigned)).collect();
    assert_eq!((load[&a], load[&b], load[&away]), (2, 1, 0));
    // A second message of the waiting customer changes nothing while all are full.
    let (c, _) = customer_writes(&store, &f, "u3", "m3b").await;
    assert_eq!(c, got[3].0);
    assert_eq!(assignee(&store, &f, c).await, None);
}

async fn a_resolved_chat_frees_room_for_the_longest_waiting_one(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let a = online(&store, &f, "甲", 1).await;
    auto_assign(&store, &f, Vec::new()).await;
    let (first, _) = customer_writes(&store, &f, "u1", "m1").await;
    let (older, _) = customer_writes(&store, &f, "u2", "m2").await;
    let (newer, _) = customer_writes(&store, &f, "u3", "m3").await;
    assert_eq!(assignee(&store, &f, first).await, Some(a));
    assert_eq!(assignee(&store, &f, older).await, None);
    let (_, changes) = store
        .change_status(
            f.ws,
            first,
            StatusChange {
                status: ConversationStatus::Resolved,
                snoozed_until: None,
            },
            Some(a),
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(changes.contains(&Change::ConversationStatusChanged {
        workspace_id: f.ws,
        conversation_id: first,
        status: ConversationStatus::Resolved,
    }));
    assert!(changes.contains(&Change::ConversationAssigned {
        workspace_id: f.ws,
        conversation_id: older,
        assignee_id: Some(a),
        by: None,
    }));
    assert_eq!(assignee(&store, &f, older).await, Some(a));
    assert_eq!(assignee(&store, &f, newer).await, None, "still waiting");
    let older = store.get_conversation(f.ws, older).await.unwrap();
    assert_eq!(older.waiting_since, None, "out of the queue once assigned");
    let lines = activity(&store, &f, first).await;
    assert_eq!(lines.last().unwrap()["activity"], "status");
    assert_eq!(lines.last().unwrap()["status"], "resolved");
    assert_eq!(lines.last().unwrap()["by"]["id"], a.0);
}

async fn a_disabled_or_deleted_agents_chats_go_to_the_agents_left(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let a = online(&store, &f, "甲", 5).await;
    auto_assign(&store, &f, Vec::new()).await;
    let (first, _) = customer_writes(&store, &f, "u1", "m1").await;
    let (second, _) = customer_writes(&store, &f, "u2", "m2").await;
    assert_eq!(assignee(&store, &f, first).await, Some(a));
    assert_eq!(assignee(&store, &f, second).await, Some(a));
    let b = online(&store, &f, "乙", 1).await;
    let (_, changes) = store.set_user_disabled(f.ws, a, true).await.unwrap();
    // Both go back to the queue; 乙 (capacity 1) takes the longest-waiting.
    for c in [first, second] {
        assert!(changes.contains(&Change::ConversationAssigned {
            workspace_id: f.ws,
            conversation_id: c,
            assignee_id: None,
            by: None,
        }));
    }
    assert_eq!(assignee(&store, &f, first).await, Some(b));
    assert_eq!(assignee(&store, &f, second).await, None);
    let lines = activity(&store, &f, second).await;
    assert_eq!(lines.last().unwrap()["from"]["name"], "甲");
    assert_eq!(lines.last().unwrap()["to"], serde_json::Value::Null);
    // Deleting 乙 hands their chat back to the queue too, naming them.
    let changes = store.delete_user(f.ws, b).await.unwrap();
    assert!(changes.contains(&Change::ConversationAssigned {
        workspace_id: f.ws,
        conversation_id: first,
        assignee_id: None,
        by: None,
    }));
    assert_eq!(assignee(&store, &f, first).await, None);
    let lines = activity(&store, &f, first).await;
    assert_eq!(lines.last().unwrap()["from"]["name"], "乙");
}

async fn an_agent_coming_online_takes_the_queue(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let a = agent(&store, &f, "甲").await;
    store
        .set_capacity(f.ws, a, 2, Timestamp::now())
        .await
        .unwrap();
    auto_assign(&store, &f, Vec::new()).await;
    let mut waiting = Vec::new();
    for i in 0..3 {
        waiting.push(
            customer_writes(&store, &f, &format!("u{i}"), &format!("m{i}"))
                .await
                .0,
        );
    }
    for c in &waiting {
        assert_eq!(assignee(&store, &f, *c).await, None);
    }
    let (info, changes) = store
        .set_availability(f.ws, a, Availability::Online, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(info.availability, Availability::Online);
    assert!(changes.contains(&Change::AvailabilityChanged {
        workspace_id: f.ws,
        user_id: a,
        availability: Availability::Online,
    }));
    // The two longest-waiting, up to capacity.
    assert_eq!(assignee(&store, &f, waiting[0]).await, Some(a));
    assert_eq!(assignee(&store, &f, waiting[1]).await, Some(a));
    assert_eq!(assignee(&store, &f, waiting[2]).await, None);
    // A larger capacity takes the rest.
    store
        .set_capacity(f.ws, a, 3, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(assignee(&store, &f, waiting[2]).await, Some(a));
    // Setting the same availability again changes nothing.
    let (_, again) = store
        .set_availability(f.ws, a, Availability::Online, Timestamp::now())
        .await
        .unwrap();
    assert!(again.is_empty());
}

async fn a_returning_customer_goes_back_to_their_last_agent(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let a = online(&store, &f, "甲", 5).await;
    let b = online(&store, &f, "乙", 5).await;
    auto_assign(&store, &f, Vec::new()).await;
    let (c1, _) = customer_writes(&store, &f, "u1", "m1").await;
    let (c2, _) = customer_writes(&store, &f, "u2", "m2").await;
    assert_eq!(assignee(&store, &f, c1).await, Some(a));
    assert_eq!(assignee(&store, &f, c2).await, Some(b));
    // u2's chat is resolved, then handed back to the queue by an admin
    // while b is away; u2 writes again once b is back: b, not round-robin's a.
    let resolve = StatusChange {
        status: ConversationStatus::Resolved,
        snoozed_until: None,
    };
    store
        .change_status(f.ws, c2, resolve, Some(b), Timestamp::now())
        .await
        .unwrap();
    store
        .set_availability(f.ws, b, Availability::Away, Timestamp::now())
        .await
        .unwrap();
    store
        .assign_conversation(f.ws, c2, None, ADMIN, Timestamp::now())
        .await
        .unwrap();
    store
        .set_availability(f.ws, b, Availability::Online, Timestamp::now())
        .await
        .unwrap();
    let (again, changes) = customer_writes(&store, &f, "u2", "m2b").await;
    assert_eq!(again, c2);
    assert!(changes.contains(&Change::ConversationStatusChanged {
        workspace_id: f.ws,
        conversation_id: c2,
        status: ConversationStatus::Open,
    }));
    assert_eq!(assignee(&store, &f, c2).await, Some(b), "sticky");
    // With b away, a returning customer goes round-robin instead.
    store
        .assign_conversation(f.ws, c2, None, ADMIN, Timestamp::now())
        .await
        .unwrap();
    store
        .set_availability(f.ws, b, Availability::Away, Timestamp::now())
        .await
        .unwrap();
    customer_writes(&store, &f, "u2", "m2c").await;
    assert_eq!(assignee(&store, &f, c2).await, Some(a));
}

async fn an_accounts_agent_list_limits_who_gets_its_conversations(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let _a = online(&store, &f, "甲", 5).await;
    let b = online(&store, &f, "乙", 5).await;
    auto_assign(&store, &f, vec![b]).await;
    let settings = store.get_account_assignment(f.ws, f.account).await.unwrap();
    assert_eq!(
        settings,
        AccountAssignment {
            auto_assign: true,
            agent_ids: vec![b]
        }
    );
    for i in 0..3 {
        let (c, _) = customer_writes(&store, &f, &format!("u{i}"), &format!("m{i}")).await;
        assert_eq!(assignee(&store, &f, c).await, Some(b));
    }
    // Another workspace cannot read or change the account's settings.
    let other = fixture(&store).await;
    assert_eq!(
        store
            .get_account_assignment(other.ws, f.account)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn going_away_requeues_waiting_conversations_when_the_workspace_says_so(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store).await;
    let a = online(&store, &f, "甲", 5).await;
    auto_assign(&store, &f, Vec::new()).await;
    let (waiting, _) = customer_writes(&store, &f, "u1", "m1").await;
    let (answered, _) = customer_writes(&store, &f, "u2", "m2").await;
    store
        .enqueue_message(
            f.ws,
            imhub_store::NewOutbound {
                conversation_id: answered,
                content: Content::Text {
                    text: "您好".into(),
                },
                idempotency_key: None,
                request_hash: "h".into(),
                author_id: Some(a),
            },
        )
        .await
        .unwrap();
    assert_eq!(assignee(&store, &f, waiting).await, Some(a));
    // Requeue off: going away keeps everything.
    store
        .set_team_settings(
            f.ws,
            TeamSettings {
                requeue_on_away: false,
                offline_after_minutes: 5,
            },
        )
        .await
        .unwrap();
    store
        .set_availability(f.ws, a, Availability::Away, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(assignee(&store, &f, waiting).await, Some(a));
    store
        .set_availability(f.ws, a, Availability::Online, Timestamp::now())
        .await
        .unwrap();
    // Requeue on: the unanswered one returns to the queue, the answered stays.
    store
        .set_team_settings(
            f.ws,
            TeamSettings {
                requeue_on_away: true,
                offline_after_minutes: 5,
            },
        )
        .await
        .unwrap();
    let (_, changes) = store
        .set_availability(f.ws, a, Availability::Away, Timestamp::now())
        .await
        .unwrap();
    assert!(changes.contains(&Change::ConversationAssigned {
        workspace_id: f.ws,
        conversation_id: waiting,
        assignee_id: None,
        by: None,
    }));
    assert_eq!(assignee(&store, &f, waiting).await, None);
    assert_eq!(assignee(&store, &f, answered).await, Some(a));
    // Another agent coming online takes it from the queue.
    let b = online(&store, &f, "乙", 5).await;
    assert_eq!(assignee(&store, &f, waiting).await, Some(b));
    // Bad settings are refused.
    let e = store
        .set_team_settings(
            f.ws,
            TeamSettings {
                requeue_on_away: true,
                offline_after_minutes: 0,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refusal(e), "invalid_request");
}

async fn presence_sweep_sets_unseen_agents_offline(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let a = online(&store, &f, "甲", 5).await;
    let b = online(&store, &f, "乙", 5).await;
    auto_assign(&store, &f, Vec::new()).await;
    let (c, _) = customer_writes(&store, &f, "u1", "m1").await;
    assert_eq!(assignee(&store, &f, c).await, Some(a));
    let now = Timestamp::now();
    // Four minutes later, nobody is swept (the default is five).
    assert!(
        store
            .sweep_presence(now.plus_millis(4 * 60_000))
            .await
            .unwrap()
            .is_empty()
    );
    // b's inbox stays connected; a's does not.
    store
        .touch_presence(f.ws, b, now.plus_millis(4 * 60_000))
        .await
        .unwrap();
    let later = now.plus_millis(6 * 60_000);
    let changes = store.sweep_presence(later).await.unwrap();
    assert!(changes.contains(&Change::AvailabilityChanged {
        workspace_id: f.ws,
        user_id: a,
        availability: Availability::Offline,
    }));
    assert!(!changes.iter().any(|c| matches!(c,
        Change::AvailabilityChanged { user_id, .. } if *user_id == b)));
    // a's waiting conversation went back to the queue and b took it.
    assert_eq!(assignee(&store, &f, c).await, Some(b));
    let agents = store.list_agents(f.ws).await.unwrap();
    let a_now = agents.iter().find(|x| x.id == a).unwrap();
    assert_eq!(a_now.availability, Availability::Offline);
    // A second sweep (another node) finds nothing more to do.
    assert!(store.sweep_presence(later).await.unwrap().is_empty());
}

async fn snooze_needs_a_future_time_and_ends_through_its_timer(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let (c, _) = customer_writes(&store, &f, "u1", "m1").await;
    let now = Timestamp::now();
    let snooze = |until| StatusChange {
        status: ConversationStatus::Snoozed,
        snoozed_until: Some(until),
    };
    for (change, code) in [
        (snooze(now.plus_millis(-1)), "snooze_in_past"),
        (snooze(now), "snooze_in_past"),
        (
            StatusChange {
                status: ConversationStatus::Snoozed,
                snoozed_until: None,
            },
            "invalid_request",
        ),
        (
            StatusChange {
                status: ConversationStatus::Open,
                snoozed_until: Some(now.plus_millis(60_000)),
            },
            "invalid_request",
        ),
        (snooze(now.plus_millis(400 * 86_400_000)), "invalid_request"),
    ] {
        let e = store
            .change_status(f.ws, c, change, None, now)
            .await
            .unwrap_err();
        assert_eq!(refusal(e), code, "{change:?}");
    }
    let until = now.plus_millis(3_600_000);
    let (conv, changes) = store
        .change_status(f.ws, c, snooze(until), None, now)
        .await
        .unwrap();
    assert_eq!(conv.status, ConversationStatus::Snoozed);
    assert_eq!(conv.snoozed_until, Some(until));
    assert!(changes.contains(&Change::ConversationStatusChanged {
        workspace_id: f.ws,
        conversation_id: c,
        status: ConversationStatus::Snoozed,
    }));
    let lines = activity(&store, &f, c).await;
    assert_eq!(lines[0]["status"], "snoozed");
    assert!(lines[0]["until"].is_string());
    // Before its time nothing is due.
    assert!(
        store
            .lease_timers("node-a", now, 30_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_timer_due().await.unwrap(), Some(until));
    // Re-snoozing moves the one timer rather than adding another.
    let until = now.plus_millis(7_200_000);
    store
        .change_status(f.ws, c, snooze(until), None, now)
        .await
        .unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), Some(until));
    // Whenever a node looks after its time — even long after — it fires once.
    let late = until.plus_millis(86_400_000);
    let timers = store
        .lease_timers("node-a", late, 30_000, 10)
        .await
        .unwrap();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, "snooze_end");
    assert_eq!(timers[0].conversation_id, Some(c));
    let changes = store.fire_timer(&timers[0], late).await.unwrap();
    assert_eq!(
        changes,
        vec![Change::ConversationStatusChanged {
            workspace_id: f.ws,
            conversation_id: c,
            status: ConversationStatus::Open,
        }]
    );
    let conv = store.get_conversation(f.ws, c).await.unwrap();
    assert_eq!(conv.status, ConversationStatus::Open);
    assert_eq!(conv.snoozed_until, None);
    assert!(store.fire_timer(&timers[0], late).await.unwrap().is_empty());
    assert_eq!(store.next_timer_due().await.unwrap(), None);
    // Unsnoozed by hand, the timer goes with the snooze.
    store
        .change_status(f.ws, c, snooze(now.plus_millis(60_000)), None, now)
        .await
        .unwrap();
    store
        .change_status(
            f.ws,
            c,
            StatusChange {
                status: ConversationStatus::Pending,
                snoozed_until: None,
            },
            None,
            now,
        )
        .await
        .unwrap();
    assert_eq!(store.next_timer_due().await.unwrap(), None);
}

async fn a_customer_message_reopens_resolved_and_snoozed_conversations(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let (c, _) = customer_writes(&store, &f, "u1", "m1").await;
    let now = Timestamp::now();
    for (status, until) in [
        (ConversationStatus::Resolved, None),
        (
            ConversationStatus::Snoozed,
            Some(now.plus_millis(3_600_000)),
        ),
    ] {
        store
            .change_status(
                f.ws,
                c,
                StatusChange {
                    status,
                    snoozed_until: until,
                },
                None,
                now,
            )
            .await
            .unwrap();
        let (same, changes) =
            customer_writes(&store, &f, "u1", &format!("again-{}", status.as_str())).await;
        assert_eq!(same, c);
        assert!(
            changes.contains(&Change::ConversationStatusChanged {
                workspace_id: f.ws,
                conversation_id: c,
                status: ConversationStatus::Open,
            }),
            "{status:?}: {changes:?}"
        );
        let conv = store.get_conversation(f.ws, c).await.unwrap();
        assert_eq!(conv.status, ConversationStatus::Open);
        assert_eq!(conv.snoozed_until, None);
        let lines = activity(&store, &f, c).await;
        assert_eq!(lines.last().unwrap()["reason"], "customer_message");
    }
    // The snooze's timer went with it.
    assert_eq!(store.next_timer_due().await.unwrap(), None);
    // Our own message (an echo from the platform's app) reopens nothing.
    store
        .change_status(
            f.ws,
            c,
            StatusChange {
                status: ConversationStatus::Resolved,
                snoozed_until: None,
            },
            None,
            now,
        )
        .await
        .unwrap();
    store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some("echo".into()),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![message("u1", "echo-1", "好的", Direction::Out)],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.get_conversation(f.ws, c).await.unwrap().status,
        ConversationStatus::Resolved
    );
}

async fn timers_are_leased_once_taken_over_after_expiry_and_postponed(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let now = Timestamp::now();
    let id = store
        .schedule_timer(
            f.ws,
            NewTimer {
                kind: "escalate".into(),
                conversation_id: None,
                due_at: now,
                payload: Some(serde_json::json!({"rule": 7})),
            },
            now,
        )
        .await
        .unwrap();
    let first = store.lease_timers("node-a", now, 1_000, 10).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, id);
    assert_eq!(first[0].payload, Some(serde_json::json!({"rule": 7})));
    // Leased: another node does not get it...
    assert!(
        store
            .lease_timers("node-b", now.plus_millis(500), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // ... until the lease runs out; then the first holder's lease is void.
    let second = store
        .lease_timers("node-b", now.plus_millis(1_500), 1_000, 10)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].lease, first[0].lease);
    assert!(store.fire_timer(&first[0], now).await.unwrap().is_empty());
    // Postponed by its holder, it is due again later.
    store
        .postpone_timer(&second[0], now.plus_millis(10_000))
        .await
        .unwrap();
    assert!(
        store
            .lease_timers("node-b", now.plus_millis(5_000), 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let third = store
        .lease_timers("node-b", now.plus_millis(10_000), 1_000, 10)
        .await
        .unwrap();
    assert_eq!(third.len(), 1);
    // A kind the store does nothing for is simply completed.
    assert!(store.fire_timer(&third[0], now).await.unwrap().is_empty());
    assert_eq!(store.next_timer_due().await.unwrap(), None);
    // Cancelling by conversation and kind.
    let (c, _) = customer_writes(&store, &f, "u1", "m1").await;
    for kind in ["escalate", "escalate", "other"] {
        store
            .schedule_timer(
                f.ws,
                NewTimer {
                    kind: kind.into(),
                    conversation_id: Some(c),
                    due_at: now,
                    payload: None,
                },
                now,
            )
            .await
            .unwrap();
    }
    assert_eq!(store.cancel_timers(f.ws, c, "escalate").await.unwrap(), 2);
    let other = fixture(&store).await;
    assert_eq!(store.cancel_timers(other.ws, c, "other").await.unwrap(), 0);
    assert_eq!(store.cancel_timers(f.ws, c, "other").await.unwrap(), 1);
}

fn view(view: ListView) -> ConversationFilter {
    ConversationFilter {
        limit: 50,
        view,
        open_only: true,
        ..ConversationFilter::default()
    }
}

async fn ids(store: &SqlStore, f: &Fixture, filter: ConversationFilter) -> Vec<ConversationId> {
    let mut ids: Vec<ConversationId> = store
        .list_conversations(f.ws, filter)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    ids.sort();
    ids
}

async fn chat_list_views_filter_by_assignee_label_mention_and_hide_closed(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let (me, other) = (agent(&store, &f, "我").await, agent(&store, &f, "他").await);
    let mut c = Vec::new();
    for i in 0..5 {
        c.push(
            customer_writes(&store, &f, &format!("u{i}"), &format!("m{i}"))
                .await
                .0,
        );
    }
    let now = Timestamp::now();
    store
        .assign_conversation(f.ws, c[0], Some(me), ADMIN, now)
        .await
        .unwrap();
    store
        .assign_conversation(f.ws, c[1], Some(other), ADMIN, now)
        .await
        .unwrap();
    store
        .change_status(
            f.ws,
            c[3],
            StatusChange {
                status: ConversationStatus::Resolved,
                snoozed_until: None,
            },
            None,
            now,
        )
        .await
        .unwrap();
    store
        .change_status(
            f.ws,
            c[4],
            StatusChange {
                status: ConversationStatus::Snoozed,
                snoozed_until: Some(now.plus_millis(3_600_000)),
            },
            None,
            now,
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&store, &f, view(ListView::All)).await,
        vec![c[0], c[1], c[2]]
    );
    assert_eq!(ids(&store, &f, view(ListView::Mine(me))).await, vec![c[0]]);
    assert_eq!(
        ids(&store, &f, view(ListView::Unassigned)).await,
        vec![c[2]]
    );
    let by_other = ConversationFilter {
        assignee_id: Some(other),
        ..view(ListView::All)
    };
    assert_eq!(ids(&store, &f, by_other).await, vec![c[1]]);
    // Every status, or one status, when asked.
    let every = ConversationFilter {
        open_only: false,
        ..view(ListView::All)
    };
    assert_eq!(ids(&store, &f, every).await, c);
    let snoozed = ConversationFilter {
        status: Some(ConversationStatus::Snoozed),
        ..view(ListView::All)
    };
    let listed = store.list_conversations(f.ws, snoozed).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, c[4]);
    assert!(listed[0].snoozed_until.is_some());
    // Labels: filter by any of them, and each row carries its labels.
    let vip = store.create_label(f.ws, "VIP", "#ff0000").await.unwrap();
    let refund = store.create_label(f.ws, "退款", "#00ff00").await.unwrap();
    store
        .set_conversation_labels(f.ws, c[0], vec![vip.id, refund.id])
        .await
        .unwrap();
    store
        .set_conversation_labels(f.ws, c[2], vec![refund.id])
        .await
        .unwrap();
    let with = |labels| ConversationFilter {
        label_ids: labels,
        ..view(ListView::All)
    };
    assert_eq!(ids(&store, &f, with(vec![vip.id])).await, vec![c[0]]);
    assert_eq!(
        ids(&store, &f, with(vec![vip.id, refund.id])).await,
        vec![c[0], c[2]]
    );
    let listed = store
        .list_conversations(f.ws, with(vec![vip.id]))
        .await
        .unwrap();
    let mut labels = vec![vip.id, refund.id];
    labels.sort();
    assert_eq!(listed[0].labels, labels);
    assert_eq!(
        store.get_conversation(f.ws, c[2]).await.unwrap().labels,
        vec![refund.id]
    );
    // Mentions: where a note named me.
    store
        .create_note(
            f.ws,
            NewNote {
                conversation_id: c[1],
                author_id: Some(other),
                text: "@我 看一下".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&store, &f, view(ListView::Mentions(me))).await,
        vec![c[1]]
    );
    assert!(
        ids(&store, &f, view(ListView::Mentions(other)))
            .await
            .is_empty()
    );
}

async fn counts_follow_assignment_status_and_mentions(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let (me, other) = (agent(&store, &f, "我").await, agent(&store, &f, "他").await);
    let mut c = Vec::new();
    for i in 0..4 {
        c.push(
            customer_writes(&store, &f, &format!("u{i}"), &format!("m{i}"))
                .await
                .0,
        );
    }
    let now = Timestamp::now();
    store
        .assign_conversation(f.ws, c[0], Some(me), ADMIN, now)
        .await
        .unwrap();
    store
        .assign_conversation(f.ws, c[1], Some(me), ADMIN, now)
        .await
        .unwrap();
    store
        .assign_conversation(f.ws, c[2], Some(other), ADMIN, now)
        .await
        .unwrap();
    store
        .change_status(
            f.ws,
            c[1],
            StatusChange {
                status: ConversationStatus::Resolved,
                snoozed_until: None,
            },
            None,
            now,
        )
        .await
        .unwrap();
    store
        .create_note(
            f.ws,
            NewNote {
                conversation_id: c[3],
                author_id: Some(other),
                text: "@我 这个客户急".into(),
            },
        )
        .await
        .unwrap();
    let counts = store.conversation_counts(f.ws, Some(me)).await.unwrap();
    assert_eq!(
        (counts.mine, counts.unassigned, counts.all, counts.mentions),
        (1, 1, 3, 1)
    );
    store.mark_mentions_read(f.ws, me, None).await.unwrap();
    let counts = store.conversation_counts(f.ws, Some(me)).await.unwrap();
    assert_eq!(counts.mentions, 0);
    // An API token has no "mine" and no mentions.
    let counts = store.conversation_counts(f.ws, None).await.unwrap();
    assert_eq!((counts.mine, counts.mentions, counts.all), (0, 0, 3));
    // Another workspace counts nothing of this one.
    let other_ws = fixture(&store).await;
    assert_eq!(
        store
            .conversation_counts(other_ws.ws, None)
            .await
            .unwrap()
            .all,
        0
    );
}

async fn without_auto_assignment_a_push_assigns_nothing_and_queues_nothing(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let _a = online(&store, &f, "甲", 5).await;
    let (c, changes) = customer_writes(&store, &f, "u1", "m1").await;
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::ConversationAssigned { .. }))
    );
    assert_eq!(assignee(&store, &f, c).await, None);
    // Turned on later, only new customer messages join the queue.
    auto_assign(&store, &f, Vec::new()).await;
    assert_eq!(assignee(&store, &f, c).await, None);
    customer_writes(&store, &f, "u1", "m2").await;
    assert!(assignee(&store, &f, c).await.is_some());
}

/// Two nodes (two stores on one PostgreSQL database, four writers each)
/// record pushes of many new customers at once, and of one customer
/// twice, while two agents with room for three each are online: exactly
/// six conversations are assigned, three each, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_postgres_never_double_assign_or_exceed_capacity() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    let one = Arc::new(
        SqlStore::open(StoreOptions::new(url.clone()))
            .await
            .unwrap(),
    );
    let two = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
    let f = fixture(&one).await;
    let a = online(&one, &f, "甲", 3).await;
    let b = online(&one, &f, "乙", 3).await;
    auto_assign(&one, &f, Vec::new()).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = if i % 2 == 0 { one.clone() } else { two.clone() };
        tasks.push(tokio::spawn(async move {
            // Customer "same" writes from both nodes at once.
            let contact = if i < 4 {
                "same".to_string()
            } else {
                format!("u{i}")
            };
            customer_writes(&store, &f, &contact, &format!("m{i}")).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = one
        .list_conversations(
            f.ws,
            ConversationFilter {
                limit: 200,
                ..ConversationFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 37);
    let mut per_agent: HashMap<UserId, u32> = HashMap::new();
    for c in &all {
        let assigned_lines = activity(&one, &f, c.id)
            .await
            .iter()
            .filter(|l| l["activity"] == "assigned")
            .count();
        match c.assignee_id {
            Some(agent) => {
                *per_agent.entry(agent).or_default() += 1;
                assert_eq!(assigned_lines, 1, "conversation {} assigned once", c.id);
            }
            None => assert_eq!(assigned_lines, 0),
        }
    }
    assert_eq!(per_agent.get(&a), Some(&3), "{per_agent:?}");
    assert_eq!(per_agent.get(&b), Some(&3), "{per_agent:?}");
    let agents = two.list_agents(f.ws).await.unwrap();
    assert!(agents.iter().all(|x| x.open_assigned <= x.capacity));
}

/// While one node records pushes of new customers, another node turns an
/// agent away and online again (each time returning their waiting
/// conversations to the queue and draining it): every call succeeds (lock
/// conflicts are retried, never surfaced), nobody ends above capacity, and
/// every conversation has at most one assignee.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_pushes_and_availability_changes_on_two_nodes_keep_capacity() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    let one = Arc::new(
        SqlStore::open(StoreOptions::new(url.clone()))
            .await
            .unwrap(),
    );
    let two = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
    let f = fixture(&one).await;
    let a = online(&one, &f, "甲", 4).await;
    let b = online(&one, &f, "乙", 4).await;
    auto_assign(&one, &f, Vec::new()).await;
    let pushes = {
        let one = one.clone();
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for i in 0..30 {
                let store = one.clone();
                tasks.push(tokio::spawn(async move {
                    customer_writes(&store, &f, &format!("u{i}"), &format!("m{i}")).await
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        })
    };
    let toggles = {
        let two = two.clone();
        tokio::spawn(async move {
            for i in 0..10 {
                let availability = if i % 2 == 0 {
                    Availability::Away
                } else {
                    Availability::Online
                };
                two.set_availability(f.ws, b, availability, Timestamp::now())
                    .await
                    .unwrap();
            }
        })
    };
    pushes.await.unwrap();
    toggles.await.unwrap();
    let agents = one.list_agents(f.ws).await.unwrap();
    for agent in agents.iter().filter(|x| x.id == a || x.id == b) {
        assert!(
            agent.open_assigned <= agent.capacity,
            "{} has {} of {}",
            agent.name,
            agent.open_assigned,
            agent.capacity
        );
    }
    let all = one
        .list_conversations(
            f.ws,
            ConversationFilter {
                limit: 200,
                ..ConversationFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(all.len(), 30);
    let assigned = all.iter().filter(|c| c.assignee_id.is_some()).count();
    assert_eq!(assigned, 8, "both agents full once b is back online");
}
