//! Leads in the store, identically on SQLite and PostgreSQL: captured in
//! the push's transaction from a submitted Douyin lead card (with the
//! enter-chat context as its source) and from phones and WeChat ids in
//! customer text, never from our own messages or the merchant's numbers;
//! a replayed push changes nothing; the Meituan order is recorded; the
//! same phone on another contact proposes a merge an agent accepts (both
//! contacts kept) or rejects; edits, bulk changes and their refusals;
//! filters, search and pages; the lead webhook carries the lead.

use std::sync::Arc;

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, Direction, InboundEvent, InboundMessage, Peer,
    Platform, Role, Timestamp, UserId, WorkspaceId,
    content::LeadCardField,
    leads::{LeadId, LeadStage},
};
use imhub_store::{
    Change, PushRecord, PushRecorded, SqlStore, Store, StoreError, StoreOptions,
    leads::{LeadActor, LeadFilter, LeadPatch},
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
    a_douyin_lead_card_submission_creates_a_lead_with_its_fields_and_source,
    a_replayed_push_changes_nothing,
    a_lead_card_in_a_group_makes_its_sender_a_lead,
    customer_text_creates_and_fills_the_lead_but_ours_and_own_numbers_do_not,
    the_meituan_order_is_recorded_on_the_lead,
    the_same_phone_on_another_platform_proposes_a_merge_that_keeps_both_contacts,
    a_rejected_proposal_keeps_the_leads_apart,
    edits_and_bulk_changes_are_in_the_history_and_foreign_ids_refused,
    the_list_filters_searches_and_pages,
    the_lead_webhook_carries_the_lead,
);

const AGENT: LeadActor = LeadActor {
    user_id: None,
    role: Role::Admin,
};

struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
}

async fn fixture(store: &SqlStore, platform: Platform) -> Fixture {
    let ws = store.create_workspace("shop").await.unwrap().id;
    channel(store, ws, platform).await
}

async fn channel(store: &SqlStore, ws: WorkspaceId, platform: Platform) -> Fixture {
    let channel = store
        .create_channel(ws, platform, "site", &json!({"secret": "s"}))
        .await
        .unwrap();
    store
        .create_account(ws, channel.id, "acc-1", "旗舰店")
        .await
        .unwrap();
    Fixture {
        ws,
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
        nickname: Some(format!("客户{id}")),
        avatar: None,
    }
}

fn message(
    who: &str,
    id: &str,
    direction: Direction,
    content: Content,
    context: Option<serde_json::Value>,
) -> InboundEvent {
    InboundEvent::Message(InboundMessage {
        account: account(),
        peer: Peer::Direct(contact(who)),
        direction,
        platform_message_id: id.into(),
        content,
        sent_at: Timestamp::now(),
        reply_context: context,
    })
}

fn text(who: &str, id: &str, text: &str) -> InboundEvent {
    message(
        who,
        id,
        Direction::In,
        Content::Text { text: text.into() },
        None,
    )
}

fn card(status: i64, pairs: &[(&str, &str)]) -> Content {
    Content::LeadCard {
        card_id: "@card".into(),
        title: None,
        status: Some(status),
        fields: pairs
            .iter()
            .map(|(l, v)| LeadCardField {
                label: l.to_string(),
                value: v.to_string(),
            })
            .collect(),
    }
}

async fn push(store: &SqlStore, f: &Fixture, key: &str, event: InboundEvent) -> PushRecorded {
    store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(key.into()),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![event],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap()
}

fn lead_changes(r: &PushRecorded) -> Vec<&Change> {
    r.changes
        .iter()
        .filter(|c| matches!(c, Change::LeadCreated { .. } | Change::LeadUpdated { .. }))
        .collect()
}

async fn all_leads(store: &SqlStore, ws: WorkspaceId) -> Vec<imhub_store::leads::Lead> {
    store
        .list_leads(
            ws,
            LeadFilter {
                limit: 200,
                ..LeadFilter::default()
            },
        )
        .await
        .unwrap()
}

async fn a_douyin_lead_card_submission_creates_a_lead_with_its_fields_and_source(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store, Platform::Douyin).await;
    let opened = InboundEvent::ChatOpened {
        account: account(),
        contact: contact("u1"),
        at: Timestamp::now(),
        reply_context: None,
        entry: Some(json!({"scene_type": 3, "object_id": "v77", "ad_info": {"ad_id": 12}})),
    };
    push(&store, &f, "enter", opened).await;
    // A blank card (shown, not filled in) makes no lead.
    let blank = push(
        &store,
        &f,
        "blank",
        message("u1", "m0", Direction::In, card(1, &[]), None),
    )
    .await;
    assert!(lead_changes(&blank).is_empty());
    assert!(all_leads(&store, f.ws).await.is_empty());
    let submitted = push(
        &store,
        &f,
        "card",
        message(
            "u1",
            "m1",
            Direction::In,
            card(
                2,
                &[
                    ("姓名", "王女士"),
                    ("手机号", "138 0013 8000"),
                    ("城市", "杭州"),
                    ("预算", "5万以内"),
                ],
            ),
            None,
        ),
    )
    .await;
    let created = lead_changes(&submitted);
    let [Change::LeadCreated { lead_id, .. }] = created.as_slice() else {
        panic!("{created:?}")
    };
    let lead = store.get_lead(f.ws, *lead_id).await.unwrap();
    assert_eq!(lead.name.as_deref(), Some("王女士"));
    assert_eq!(lead.phones, vec!["13800138000"]);
    assert_eq!(lead.city.as_deref(), Some("杭州"));
    assert_eq!(lead.fields.len(), 1);
    assert_eq!(
        (lead.fields[0].label.as_str(), lead.fields[0].value.as_str()),
        ("预算", "5万以内")
    );
    assert_eq!(lead.stage, LeadStage::New);
    assert_eq!(lead.source.platform, Platform::Douyin);
    assert!(lead.source.account_id.is_some() && lead.source.conversation_id.is_some());
    assert_eq!(
        lead.source.context,
        Some(json!({"scene_type": 3, "object_id": "v77", "ad_info": {"ad_id": 12}}))
    );
    assert_eq!(lead.contacts.len(), 1);
    assert_eq!(lead.contacts[0].nickname, "客户u1");
    let history = store.lead_history(f.ws, lead.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].actor, "capture");
    assert!(history[0].message_id.is_some());
    // The panel finds it by the contact.
    let by_contact = store
        .contact_lead(f.ws, lead.contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_contact.id, lead.id);
}

async fn a_replayed_push_changes_nothing(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Douyin).await;
    let event = text("u1", "m1", "我电话13800138000");
    let first = push(&store, &f, "k1", event.clone()).await;
    assert_eq!(lead_changes(&first).len(), 1);
    let lead = all_leads(&store, f.ws).await.remove(0);
    // The same push key, and the same message under another key (a
    // platform retry), and a replay of the kept raw event.
    let again = push(&store, &f, "k1", event.clone()).await;
    assert!(again.duplicate);
    let other_key = push(&store, &f, "k2", event.clone()).await;
    assert!(lead_changes(&other_key).is_empty());
    let raw = store.list_raw_events(f.ws, "processed", 10).await.unwrap();
    let replayed = store
        .replay_raw_event(f.ws, raw[0].id, vec![event], false)
        .await
        .unwrap();
    assert!(lead_changes(&replayed).is_empty());
    let after = all_leads(&store, f.ws).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0], lead);
    assert_eq!(store.lead_history(f.ws, lead.id).await.unwrap().len(), 1);
}

async fn customer_text_creates_and_fills_the_lead_but_ours_and_own_numbers_do_not(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store, Platform::Douyin).await;
    store
        .set_lead_settings(f.ws, vec!["139-0000-1111".into()])
        .await
        .unwrap();
    assert_eq!(
        store.get_lead_settings(f.ws).await.unwrap().own_numbers,
        vec!["13900001111"]
    );
    assert!(matches!(
        store
            .set_lead_settings(f.ws, vec!["4008123123".into()])
            .await,
        Err(StoreError::Refused {
            code: "invalid_phone",
            ..
        })
    ));
    // Our own message with a phone, and the customer quoting our number:
    // no lead.
    let ours = message(
        "u1",
        "o1",
        Direction::Out,
        Content::Text {
            text: "请拨打 13812345678".into(),
        },
        None,
    );
    push(&store, &f, "o1", ours).await;
    push(
        &store,
        &f,
        "m1",
        text("u1", "m1", "是打 13900001111 吗？订单号 13512345678"),
    )
    .await;
    push(&store, &f, "m2", text("u1", "m2", "在吗，想问下价格")).await;
    assert!(all_leads(&store, f.ws).await.is_empty());
    // The customer's own phone makes the lead; a WeChat id later fills it.
    let r = push(
        &store,
        &f,
        "m3",
        text("u1", "m3", "我的电话是 186-1234-5678"),
    )
    .await;
    assert!(matches!(lead_changes(&r)[..], [Change::LeadCreated { .. }]));
    let r = push(
        &store,
        &f,
        "m4",
        text("u1", "m4", "加我微信 wang_88888 详聊"),
    )
    .await;
    assert!(matches!(lead_changes(&r)[..], [Change::LeadUpdated { .. }]));
    let leads = all_leads(&store, f.ws).await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].phones, vec!["18612345678"]);
    assert_eq!(leads[0].wechat_id.as_deref(), Some("wang_88888"));
    // An agent's edit is never overwritten by capture.
    store
        .update_lead(
            f.ws,
            leads[0].id,
            LeadPatch {
                wechat_id: Some(Some("typed_by_agent".into())),
                ..LeadPatch::default()
            },
            AGENT,
            Timestamp::now(),
        )
        .await
        .unwrap();
    push(&store, &f, "m5", text("u1", "m5", "vx: another_id9")).await;
    let lead = store.get_lead(f.ws, leads[0].id).await.unwrap();
    assert_eq!(lead.wechat_id.as_deref(), Some("typed_by_agent"));
    let history = store.lead_history(f.ws, lead.id).await.unwrap();
    let actors: Vec<&str> = history.iter().map(|h| h.actor.as_str()).collect();
    assert_eq!(actors, vec!["capture", "capture", "api"]);
}

async fn the_meituan_order_is_recorded_on_the_lead(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Meituan).await;
    let order = |id: &str, text: &str, order: i64| {
        message(
            "9001",
            id,
            Direction::In,
            Content::Text { text: text.into() },
            Some(json!({"order_id": order})),
        )
    };
    // An order alone makes no lead.
    push(&store, &f, "m1", order("m1", "我的外卖到哪了", 5_001)).await;
    assert!(all_leads(&store, f.ws).await.is_empty());
    push(
        &store,
        &f,
        "m2",
        order("m2", "电话 13700001234 联系我", 5_002),
    )
    .await;
    push(&store, &f, "m3", order("m3", "还有这单", 5_003)).await;
    let leads = all_leads(&store, f.ws).await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].orders, vec!["5002", "5003"]);
    assert_eq!(leads[0].source.platform, Platform::Meituan);
}

async fn the_same_phone_on_another_platform_proposes_a_merge_that_keeps_both_contacts(
    store: Arc<SqlStore>,
) {
    let douyin = fixture(&store, Platform::Douyin).await;
    let tencent = channel(&store, douyin.ws, Platform::Tencent).await;
    push(
        &store,
        &douyin,
        "d1",
        text("u1", "d1", "电话13800138000 我姓王"),
    )
    .await;
    push(
        &store,
        &tencent,
        "t1",
        text("t-user", "t1", "13800138000 微信 wx_wang_01"),
    )
    .await;
    let leads = all_leads(&store, douyin.ws).await;
    assert_eq!(leads.len(), 2);
    let proposals = store
        .list_merge_proposals(douyin.ws, Some("pending".into()), 50)
        .await
        .unwrap();
    assert_eq!(proposals.len(), 1);
    let p = &proposals[0];
    assert_eq!(p.phone, "13800138000");
    assert!(p.lead.id < p.other.id);
    assert_eq!(p.lead.source.platform, Platform::Douyin);
    let (accepted, changes) = store
        .decide_merge_proposal(douyin.ws, p.id, true, AGENT, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(accepted.status, "accepted");
    assert_eq!(changes.len(), 2);
    let kept = store.get_lead(douyin.ws, p.lead.id).await.unwrap();
    let platforms: Vec<Platform> = kept.contacts.iter().map(|c| c.platform).collect();
    assert_eq!(platforms, vec![Platform::Douyin, Platform::Tencent]);
    assert_eq!(kept.wechat_id.as_deref(), Some("wx_wang_01"));
    assert_eq!(kept.phones, vec!["13800138000"]);
    let gone = store.get_lead(douyin.ws, p.other.id).await.unwrap();
    assert_eq!(gone.merged_into, Some(kept.id));
    // The list shows one lead; either contact finds it; the Tencent
    // customer's next message fills that one lead.
    assert_eq!(all_leads(&store, douyin.ws).await.len(), 1);
    let tencent_contact = kept.contacts[1].contact_id;
    let found = store
        .contact_lead(douyin.ws, tencent_contact)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, kept.id);
    push(
        &store,
        &tencent,
        "t2",
        text("t-user", "t2", "另一个号 13911112222"),
    )
    .await;
    let kept = store.get_lead(douyin.ws, kept.id).await.unwrap();
    assert_eq!(kept.phones, vec!["13800138000", "13911112222"]);
    // Decided once only.
    assert!(matches!(
        store
            .decide_merge_proposal(douyin.ws, p.id, false, AGENT, Timestamp::now())
            .await,
        Err(StoreError::InvalidState(_))
    ));
    let history = store.lead_history(douyin.ws, kept.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|h| h.actor == "merge" && h.changes.iter().any(|c| c.field == "contacts"))
    );
    // Another workspace sees neither the proposal nor the leads.
    let other = store.create_workspace("other").await.unwrap().id;
    assert!(matches!(
        store
            .decide_merge_proposal(other, p.id, true, AGENT, Timestamp::now())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.get_lead(other, kept.id).await,
        Err(StoreError::NotFound)
    ));
}

async fn a_rejected_proposal_keeps_the_leads_apart(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Douyin).await;
    push(&store, &f, "a", text("u1", "a", "13800138000")).await;
    push(&store, &f, "b", text("u2", "b", "13800138000")).await;
    let p = store
        .list_merge_proposals(f.ws, None, 50)
        .await
        .unwrap()
        .remove(0);
    let (rejected, changes) = store
        .decide_merge_proposal(f.ws, p.id, false, AGENT, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(rejected.status, "rejected");
    assert!(changes.is_empty());
    assert_eq!(all_leads(&store, f.ws).await.len(), 2);
    // The pair is not proposed again when the phone comes up again.
    push(&store, &f, "c", text("u2", "c", "再说一次 13800138000")).await;
    assert!(
        store
            .list_merge_proposals(f.ws, Some("pending".into()), 50)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn edits_and_bulk_changes_are_in_the_history_and_foreign_ids_refused(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Douyin).await;
    let agent = store
        .create_user(f.ws, "a@shop.cn", "小李", Role::Agent, "x")
        .await
        .unwrap();
    let other_ws = store.create_workspace("other").await.unwrap().id;
    let stranger = store
        .create_user(other_ws, "s@x.cn", "外人", Role::Agent, "x")
        .await
        .unwrap();
    push(&store, &f, "a", text("u1", "a", "13800138000")).await;
    push(&store, &f, "b", text("u2", "b", "13700001234")).await;
    let ids: Vec<LeadId> = all_leads(&store, f.ws).await.iter().map(|l| l.id).collect();
    let me = LeadActor {
        user_id: Some(agent.id),
        role: Role::Agent,
    };
    let (lead, changes) = store
        .update_lead(
            f.ws,
            ids[0],
            LeadPatch {
                name: Some(Some("  李先生 ".into())),
                stage: Some(LeadStage::Following),
                owner_id: Some(Some(agent.id)),
                notes: Some(Some("周末回电".into())),
                phones: Some(vec!["+86 138 0013 8000".into(), "13911112222".into()]),
                ..LeadPatch::default()
            },
            me,
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(lead.name.as_deref(), Some("李先生"));
    assert_eq!(lead.stage, LeadStage::Following);
    assert_eq!(lead.owner_id, Some(agent.id));
    assert_eq!(lead.phones, vec!["13800138000", "13911112222"]);
    let last = store
        .lead_history(f.ws, ids[0])
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(
        (last.actor.as_str(), last.user_id),
        ("agent", Some(agent.id))
    );
    let fields: Vec<&str> = last.changes.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, vec!["name", "phones", "notes", "stage", "owner_id"]);
    // The same edit again changes nothing and writes no history.
    let (_, again) = store
        .update_lead(
            f.ws,
            ids[0],
            LeadPatch {
                stage: Some(LeadStage::Following),
                ..LeadPatch::default()
            },
            me,
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert!(again.is_empty());
    let refused = |r: Result<_, StoreError>| match r {
        Err(StoreError::Refused { code, .. }) => code,
        other => panic!("{:?}", other.map(|_| ())),
    };
    let owner = |o: UserId| LeadPatch {
        owner_id: Some(Some(o)),
        ..LeadPatch::default()
    };
    assert_eq!(
        refused(
            store
                .update_lead(f.ws, ids[0], owner(stranger.id), me, Timestamp::now())
                .await
        ),
        "unknown_agent"
    );
    assert_eq!(
        refused(
            store
                .update_lead(
                    f.ws,
                    ids[0],
                    LeadPatch {
                        phones: Some(vec!["12345".into()]),
                        ..LeadPatch::default()
                    },
                    me,
                    Timestamp::now()
                )
                .await
        ),
        "invalid_phone"
    );
    assert!(matches!(
        store
            .update_lead(other_ws, ids[0], owner(stranger.id), me, Timestamp::now())
            .await,
        Err(StoreError::NotFound)
    ));
    // Bulk: all or nothing.
    push(
        &store,
        &channel(&store, other_ws, Platform::Douyin).await,
        "x",
        text("z", "x", "13600002222"),
    )
    .await;
    let foreign = all_leads(&store, other_ws).await[0].id;
    assert!(matches!(
        store
            .bulk_update_leads(
                f.ws,
                vec![ids[1], foreign],
                Some(LeadStage::Invalid),
                None,
                me,
                Timestamp::now()
            )
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.get_lead(f.ws, ids[1]).await.unwrap().stage,
        LeadStage::New
    );
    let (changed, changes) = store
        .bulk_update_leads(
            f.ws,
            ids.clone(),
            Some(LeadStage::Converted),
            Some(None),
            me,
            Timestamp::now(),
        )
        .await
        .unwrap();
    assert_eq!(changed.len(), 2);
    assert_eq!(changes.len(), 2);
    for id in &ids {
        let l = store.get_lead(f.ws, *id).await.unwrap();
        assert_eq!((l.stage, l.owner_id), (LeadStage::Converted, None));
    }
}

async fn the_list_filters_searches_and_pages(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Douyin).await;
    push(&store, &f, "a", text("u1", "a", "13800138000")).await;
    push(&store, &f, "b", text("u2", "b", "微信 zhang_san88")).await;
    push(&store, &f, "c", text("u3", "c", "13700001234")).await;
    let all = all_leads(&store, f.ws).await;
    assert_eq!(all.len(), 3);
    assert!(
        all.windows(2)
            .all(|w| (w[0].created_at, w[0].id) > (w[1].created_at, w[1].id))
    );
    let list = |filter: LeadFilter| {
        let store = store.clone();
        let ws = f.ws;
        async move {
            store
                .list_leads(
                    ws,
                    LeadFilter {
                        limit: 50,
                        ..filter
                    },
                )
                .await
                .unwrap()
                .into_iter()
                .map(|l| {
                    l.phones
                        .first()
                        .cloned()
                        .or(l.wechat_id)
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        list(LeadFilter {
            has_phone: Some(false),
            ..LeadFilter::default()
        })
        .await,
        vec!["zhang_san88"]
    );
    assert_eq!(
        list(LeadFilter {
            query: Some("138 0013".into()),
            ..LeadFilter::default()
        })
        .await,
        vec!["13800138000"]
    );
    assert_eq!(
        list(LeadFilter {
            query: Some("ZHANG_".into()),
            ..LeadFilter::default()
        })
        .await,
        vec!["zhang_san88"]
    );
    assert!(
        list(LeadFilter {
            query: Some("%".into()),
            ..LeadFilter::default()
        })
        .await
        .is_empty()
    );
    assert!(
        list(LeadFilter {
            stage: Some(LeadStage::Converted),
            ..LeadFilter::default()
        })
        .await
        .is_empty()
    );
    assert!(
        list(LeadFilter {
            platform: Some(Platform::Tencent),
            ..LeadFilter::default()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        list(LeadFilter {
            from: Some(all[2].created_at),
            ..LeadFilter::default()
        })
        .await
        .len(),
        3
    );
    assert!(
        list(LeadFilter {
            to: Some(all[2].created_at),
            ..LeadFilter::default()
        })
        .await
        .is_empty()
    );
    // Pages of two, then one.
    let first = store
        .list_leads(
            f.ws,
            LeadFilter {
                limit: 2,
                ..LeadFilter::default()
            },
        )
        .await
        .unwrap();
    let last = &first[1];
    let second = store
        .list_leads(
            f.ws,
            LeadFilter {
                limit: 2,
                after: Some((last.created_at.millis(), last.id.0)),
                ..LeadFilter::default()
            },
        )
        .await
        .unwrap();
    let ids: Vec<LeadId> = first.iter().chain(&second).map(|l| l.id).collect();
    assert_eq!(ids, all.iter().map(|l| l.id).collect::<Vec<_>>());
}

async fn the_lead_webhook_carries_the_lead(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Douyin).await;
    let hook = store
        .create_webhook(
            f.ws,
            "https://crm.example/hook",
            "a-very-secret-secret",
            &["lead.created".to_string(), "lead.updated".to_string()],
        )
        .await
        .unwrap();
    push(&store, &f, "a", text("u1", "a", "我电话13800138000")).await;
    push(&store, &f, "b", text("u1", "b", "微信 wang_88888")).await;
    let jobs = store
        .lease_webhook_deliveries(Timestamp::now().plus_millis(1000), 60_000, 10)
        .await
        .unwrap();
    let mut bodies: Vec<serde_json::Value> = jobs
        .iter()
        .map(|j| serde_json::from_str(&j.payload).unwrap())
        .collect();
    bodies.sort_by_key(|b| b["type"].as_str().map(str::to_string));
    assert_eq!(bodies.len(), 2, "{bodies:?} for {hook:?}");
    assert_eq!(bodies[0]["type"], "lead.created");
    assert_eq!(bodies[0]["lead"]["phones"], json!(["13800138000"]));
    assert_eq!(bodies[1]["type"], "lead.updated");
    assert_eq!(bodies[1]["lead"]["wechat_id"], "wang_88888");
    assert_eq!(bodies[1]["lead_id"], bodies[0]["lead_id"]);
}

async fn a_lead_card_in_a_group_makes_its_sender_a_lead(store: Arc<SqlStore>) {
    let f = fixture(&store, Platform::Douyin).await;
    let in_group = InboundEvent::Message(InboundMessage {
        account: account(),
        peer: Peer::Group {
            group_id: "@group".into(),
            name: Some("粉丝群".into()),
            sender: Some(contact("fan-1")),
        },
        direction: Direction::In,
        platform_message_id: "g1".into(),
        content: card(2, &[("称呼", "李先生"), ("电话", "13912345678")]),
        sent_at: Timestamp::now(),
        reply_context: None,
    });
    let r = push(&store, &f, "g1", in_group).await;
    assert!(matches!(lead_changes(&r)[..], [Change::LeadCreated { .. }]));
    let lead = all_leads(&store, f.ws).await.remove(0);
    assert_eq!(lead.name.as_deref(), Some("李先生"));
    assert_eq!(lead.phones, vec!["13912345678"]);
    assert_eq!(lead.contacts[0].nickname, "客户fan-1");
    let conversation = store
        .get_conversation(f.ws, lead.source.conversation_id.unwrap())
        .await
        .unwrap();
    assert_eq!(conversation.kind, imhub_core::ConversationKind::Group);
}
