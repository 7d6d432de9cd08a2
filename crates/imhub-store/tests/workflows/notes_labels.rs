//! Notes and mentions, labels, quick replies and the contact panel (issue
//! 12), checked identically on SQLite and PostgreSQL.

use std::sync::Arc;

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, ConversationId, Direction, InboundEvent,
    InboundMessage, Peer, Platform, Role, Timestamp, UserId, WorkspaceId,
};
use imhub_store::{
    Change, NewNote, NewOutbound, NewQuickReply, PushRecord, QuickReplyFilter, QuickReplyPatch,
    QuickReplyScope, SqlStore, Store, StoreError, StoreOptions, testing,
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
    a_note_stays_internal_never_queued_and_leaves_the_chat_list_alone,
    a_note_mentions_enabled_agents_by_the_longest_name_but_not_its_author,
    blank_oversize_and_foreign_notes_are_refused,
    mentions_are_listed_newest_first_and_marked_read,
    labels_have_unique_names_within_their_workspace,
    conversation_labels_are_replaced_applied_in_bulk_and_deleted_everywhere,
    labels_and_conversations_of_another_workspace_are_not_found,
    the_contact_panel_has_labels_notes_and_every_conversation,
    quick_replies_are_shared_or_personal_with_shortcuts_unique_per_library,
    quick_replies_are_searched_by_title_shortcut_and_text,
    agent_replies_record_their_author,
);

const T0: i64 = 1_700_000_000_000;

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
    for (id, name) in [("acc-1", "旗舰店"), ("acc-2", "二店")] {
        store
            .create_account(ws.id, channel.id, id, name)
            .await
            .unwrap();
    }
    Fixture {
        ws: ws.id,
        channel: channel.id,
    }
}

/// A customer message on `account`; returns its conversation.
async fn inbound(
    store: &SqlStore,
    f: &Fixture,
    account: &str,
    contact: &str,
    id: &str,
    text: &str,
) -> ConversationId {
    let event = InboundEvent::Message(InboundMessage {
        account: AccountRef {
            external_id: account.into(),
            name: None,
        },
        peer: Peer::Direct(ContactInfo {
            external_id: contact.into(),
            nickname: Some(format!("客户{contact}")),
            avatar: Some("https://img.example/a.png".into()),
        }),
        direction: Direction::In,
        platform_message_id: id.into(),
        content: Content::Text { text: text.into() },
        sent_at: Timestamp(T0 + 1_000),
        reply_context: None,
    });
    let recorded = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(format!("e-{id}")),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![event],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    recorded
        .changes
        .iter()
        .find_map(Change::conversation_id)
        .unwrap()
}

async fn agent(store: &SqlStore, ws: WorkspaceId, email: &str, name: &str) -> UserId {
    store
        .create_user(ws, email, name, Role::Agent, "not-a-real-hash")
        .await
        .unwrap()
        .id
}

fn note(conversation: ConversationId, author: Option<UserId>, text: &str) -> NewNote {
    NewNote {
        conversation_id: conversation,
        author_id: author,
        text: text.into(),
    }
}

async fn a_note_stays_internal_never_queued_and_leaves_the_chat_list_alone(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let c = inbound(&store, &f, "acc-1", "u1", "m1", "我要退款").await;
    let wang = agent(&store, f.ws, "w@shop.cn", "小王").await;
    store
        .create_webhook(f.ws, "https://example.com/hook", "secret-secret-1234", &[])
        .await
        .unwrap();
    let before = store.get_conversation(f.ws, c).await.unwrap();
    let written = store
        .create_note(f.ws, note(c, Some(wang), "客户很着急，优先处理"))
        .await
        .unwrap();
    let m = &written.message;
    assert_eq!(m.direction, Direction::Note);
    assert_eq!(m.author_id, Some(wang));
    assert_eq!(m.author_name.as_deref(), Some("小王"));
    assert_eq!(
        written.changes,
        vec![Change::NoteCreated {
            workspace_id: f.ws,
            conversation_id: c,
            message_id: m.id,
        }],
        "a note is never a message.created"
    );
    assert_eq!(
        store.next_outbox_due().await.unwrap(),
        None,
        "nothing is queued for the platform"
    );
    let after = store.get_conversation(f.ws, c).await.unwrap();
    assert_eq!(after.unread_count, before.unread_count);
    assert_eq!(after.last_message_preview, before.last_message_preview);
    assert_eq!(after.last_message_id, before.last_message_id);
    assert_eq!(after.last_activity_at, before.last_activity_at);
    assert_eq!(after.last_inbound_at, before.last_inbound_at);
    let public = store.list_messages(f.ws, c, None, 50).await.unwrap();
    assert_eq!(public.len(), 1, "integrations never see a note");
    assert_eq!(public[0].direction, Direction::In);
    let hidden = store.list_timeline(f.ws, c, None, 50, false).await.unwrap();
    assert_eq!(hidden.len(), 1);
    let timeline = store.list_timeline(f.ws, c, None, 50, true).await.unwrap();
    assert_eq!(timeline.len(), 2);
    assert_eq!(timeline[0].id, m.id, "newest first");
    let deliveries = store
        .list_webhook_deliveries(f.ws, store.list_webhooks(f.ws).await.unwrap()[0].id, 50)
        .await
        .unwrap();
    let types: Vec<&str> = deliveries.iter().map(|d| d.event_type.as_str()).collect();
    assert!(types.contains(&"note.created"), "{types:?}");
    let note_delivery = deliveries
        .iter()
        .find(|d| d.event_type == "note.created")
        .unwrap();
    assert!(
        !note_delivery.payload.to_string().contains("优先处理"),
        "webhooks carry ids, never a note's text: {}",
        note_delivery.payload
    );
    assert_eq!(
        deliveries
            .iter()
            .filter(|d| d.event_type == "message.created")
            .count(),
        0,
        "the customer message came before the subscription; the note made none"
    );
}

async fn a_note_mentions_enabled_agents_by_the_longest_name_but_not_its_author(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store).await;
    let c = inbound(&store, &f, "acc-1", "u1", "m1", "在吗").await;
    let wang = agent(&store, f.ws, "w@shop.cn", "小王").await;
    let wang_ba = agent(&store, f.ws, "w8@shop.cn", "小王八").await;
    let li = agent(&store, f.ws, "li@shop.cn", "老李").await;
    let ann = agent(&store, f.ws, "ann@shop.cn", "Ann").await;
    store.set_user_disabled(f.ws, ann, true).await.unwrap();
    // An agent of another workspace with the same name is nobody here.
    let other = store.create_workspace("other").await.unwrap().id;
    agent(&store, other, "x@other.cn", "小张").await;
    let written = store
        .create_note(
            f.ws,
            note(
                c,
                Some(wang),
                "@小王八 看下这单，@老李 也看看；@小王 是我自己，@Ann 已停用，@小张 不在这里",
            ),
        )
        .await
        .unwrap();
    assert_eq!(written.mentioned, vec![wang_ba, li]);
    let mentioned: Vec<UserId> = written
        .changes
        .iter()
        .filter_map(|ch| match ch {
            Change::Mentioned { user_id, .. } => Some(*user_id),
            _ => None,
        })
        .collect();
    assert_eq!(mentioned, vec![wang_ba, li], "one live event per agent");
    assert_eq!(
        store
            .list_mentions(f.ws, wang, false, None, 50)
            .await
            .unwrap(),
        vec![]
    );
    let mine = store
        .list_mentions(f.ws, wang_ba, true, None, 50)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].message_id, written.message.id);
    assert_eq!(mine[0].conversation_id, c);
    assert_eq!(mine[0].conversation_title, "客户u1");
    assert_eq!(mine[0].author_id, Some(wang));
    assert_eq!(mine[0].author_name.as_deref(), Some("小王"));
    assert!(mine[0].snippet.starts_with("@小王八 看下这单"));
    assert_eq!(mine[0].read_at, None);
}

async fn blank_oversize_and_foreign_notes_are_refused(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let c = inbound(&store, &f, "acc-1", "u1", "m1", "在吗").await;
    let code = |e: StoreError| match e {
        StoreError::Refused { code, .. } => code,
        other => panic!("{other:?}"),
    };
    let blank = store.create_note(f.ws, note(c, None, " \n\u{3000}")).await;
    assert_eq!(code(blank.unwrap_err()), "invalid_request");
    let long = "备".repeat(imhub_core::mentions::MAX_NOTE_CHARS + 1);
    let long = store.create_note(f.ws, note(c, None, &long)).await;
    assert_eq!(code(long.unwrap_err()), "note_too_long");
    let exactly = "备".repeat(imhub_core::mentions::MAX_NOTE_CHARS);
    store
        .create_note(f.ws, note(c, None, &exactly))
        .await
        .unwrap();
    let other = store.create_workspace("other").await.unwrap().id;
    assert_eq!(
        store
            .create_note(other, note(c, None, "hi"))
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store
            .list_timeline(f.ws, c, None, 50, true)
            .await
            .unwrap()
            .len(),
        2,
        "the refused notes wrote nothing"
    );
}

async fn mentions_are_listed_newest_first_and_marked_read(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let c1 = inbound(&store, &f, "acc-1", "u1", "m1", "一").await;
    let c2 = inbound(&store, &f, "acc-1", "u2", "m2", "二").await;
    let wang = agent(&store, f.ws, "w@shop.cn", "小王").await;
    let li = agent(&store, f.ws, "li@shop.cn", "老李").await;
    let first = store
        .create_note(f.ws, note(c1, Some(li), "@小王 第一条"))
        .await
        .unwrap();
    let second = store
        .create_note(f.ws, note(c2, Some(li), "@小王 第二条"))
        .await
        .unwrap();
    let third = store
        .create_note(f.ws, note(c2, Some(li), "@小王 第三条"))
        .await
        .unwrap();
    let all = store
        .list_mentions(f.ws, wang, true, None, 50)
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|m| m.message_id).collect();
    assert_eq!(
        ids,
        vec![third.message.id, second.message.id, first.message.id]
    );
    let page = store
        .list_mentions(f.ws, wang, true, None, 2)
        .await
        .unwrap();
    assert_eq!(page.len(), 2);
    let cursor = imhub_store::MessageCursor {
        created_at: page[1].created_at.millis(),
        id: page[1].message_id.0,
    };
    let rest = store
        .list_mentions(f.ws, wang, true, Some(cursor), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|m| m.message_id).collect::<Vec<_>>(),
        vec![first.message.id]
    );
    // Another agent cannot mark them read for him, nor another workspace.
    assert_eq!(
        store
            .mark_mentions_read(f.ws, li, Some(vec![first.message.id]))
            .await
            .unwrap(),
        0
    );
    let other = store.create_workspace("other").await.unwrap().id;
    assert_eq!(
        store.mark_mentions_read(other, wang, None).await.unwrap(),
        0
    );
    assert_eq!(
        store
            .mark_mentions_read(f.ws, wang, Some(vec![first.message.id]))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .mark_mentions_read(f.ws, wang, Some(vec![first.message.id]))
            .await
            .unwrap(),
        0,
        "idempotent"
    );
    assert_eq!(
        store
            .list_mentions(f.ws, wang, true, None, 50)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(store.mark_mentions_read(f.ws, wang, None).await.unwrap(), 2);
    assert!(
        store
            .list_mentions(f.ws, wang, true, None, 50)
            .await
            .unwrap()
            .is_empty()
    );
    let read = store
        .list_mentions(f.ws, wang, false, None, 50)
        .await
        .unwrap();
    assert_eq!(read.len(), 3);
    assert!(read.iter().all(|m| m.read_at.is_some()));
}

async fn labels_have_unique_names_within_their_workspace(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let vip = store.create_label(f.ws, "VIP", "#ff0000").await.unwrap();
    let refund = store.create_label(f.ws, "退款", "#00ff00").await.unwrap();
    assert!(matches!(
        store.create_label(f.ws, "VIP", "#000000").await,
        Err(StoreError::Conflict(_))
    ));
    let other = store.create_workspace("other").await.unwrap().id;
    store
        .create_label(other, "VIP", "#123456")
        .await
        .expect("names are unique per workspace");
    assert!(matches!(
        store
            .update_label(f.ws, refund.id, Some("VIP".into()), None)
            .await,
        Err(StoreError::Conflict(_))
    ));
    let renamed = store
        .update_label(f.ws, refund.id, Some("售后".into()), Some("#0000ff".into()))
        .await
        .unwrap();
    assert_eq!(
        (renamed.name.as_str(), renamed.color.as_str()),
        ("售后", "#0000ff")
    );
    let same = store
        .update_label(f.ws, vip.id, Some("VIP".into()), None)
        .await
        .unwrap();
    assert_eq!(
        same.color, "#ff0000",
        "renaming to its own name is no conflict"
    );
    let names: Vec<String> = store
        .list_labels(f.ws)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(
        names,
        vec!["VIP", "售后"],
        "by name, the same on both backends"
    );
    assert_eq!(
        store
            .update_label(other, vip.id, Some("x".into()), None)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store.delete_label(other, vip.id).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(store.list_labels(other).await.unwrap().len(), 1);
}

fn labels_changed(ws: WorkspaceId, c: ConversationId) -> Change {
    Change::ConversationLabelsChanged {
        workspace_id: ws,
        conversation_id: c,
    }
}

async fn conversation_labels_are_replaced_applied_in_bulk_and_deleted_everywhere(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store).await;
    let c1 = inbound(&store, &f, "acc-1", "u1", "m1", "一").await;
    let c2 = inbound(&store, &f, "acc-1", "u2", "m2", "二").await;
    let a = store.create_label(f.ws, "A", "#111111").await.unwrap().id;
    let b = store.create_label(f.ws, "B", "#222222").await.unwrap().id;
    let c = store.create_label(f.ws, "C", "#333333").await.unwrap().id;
    let (set, changes) = store
        .set_conversation_labels(f.ws, c1, vec![b, a, b])
        .await
        .unwrap();
    assert_eq!(set, vec![a, b], "deduplicated, in id order");
    assert_eq!(changes, vec![labels_changed(f.ws, c1)]);
    let (_, again) = store
        .set_conversation_labels(f.ws, c1, vec![a, b])
        .await
        .unwrap();
    assert!(again.is_empty(), "no change, no event");
    let changes = store
        .bulk_label_conversations(f.ws, vec![c1, c2], vec![c], vec![a])
        .await
        .unwrap();
    assert_eq!(
        changes,
        vec![labels_changed(f.ws, c1), labels_changed(f.ws, c2)]
    );
    assert_eq!(
        store.conversation_labels(f.ws, c1).await.unwrap(),
        vec![b, c]
    );
    assert_eq!(store.conversation_labels(f.ws, c2).await.unwrap(), vec![c]);
    let unchanged = store
        .bulk_label_conversations(f.ws, vec![c2], vec![c], vec![a])
        .await
        .unwrap();
    assert!(unchanged.is_empty());
    match store
        .bulk_label_conversations(f.ws, vec![c1], vec![a], vec![a])
        .await
    {
        Err(StoreError::Refused { code, .. }) => assert_eq!(code, "invalid_request"),
        other => panic!("{other:?}"),
    }
    // The contact of c1 carries B too; deleting B takes it off both.
    let contact = store
        .get_conversation(f.ws, c1)
        .await
        .unwrap()
        .contact_id
        .unwrap();
    store
        .set_contact_labels(f.ws, contact, vec![b])
        .await
        .unwrap();
    let changes = store.delete_label(f.ws, b).await.unwrap();
    assert_eq!(changes, vec![labels_changed(f.ws, c1)]);
    assert_eq!(store.conversation_labels(f.ws, c1).await.unwrap(), vec![c]);
    assert!(
        store
            .get_contact(f.ws, contact)
            .await
            .unwrap()
            .labels
            .is_empty()
    );
    assert_eq!(
        store
            .set_conversation_labels(f.ws, c1, vec![b])
            .await
            .unwrap_err(),
        StoreError::NotFound,
        "a deleted label is gone"
    );
}

async fn labels_and_conversations_of_another_workspace_are_not_found(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let c1 = inbound(&store, &f, "acc-1", "u1", "m1", "一").await;
    let mine = store.create_label(f.ws, "A", "#111111").await.unwrap().id;
    let other = store.create_workspace("other").await.unwrap().id;
    let theirs = store.create_label(other, "T", "#999999").await.unwrap().id;
    assert_eq!(
        store
            .set_conversation_labels(f.ws, c1, vec![mine, theirs])
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert!(
        store
            .conversation_labels(f.ws, c1)
            .await
            .unwrap()
            .is_empty(),
        "nothing was applied"
    );
    assert_eq!(
        store
            .set_conversation_labels(other, c1, vec![theirs])
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store
            .bulk_label_conversations(f.ws, vec![c1], vec![theirs], vec![])
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    // One foreign conversation in a bulk change changes none.
    let foreign = {
        let fo = fixture(&store).await;
        inbound(&store, &fo, "acc-1", "u9", "m9", "x").await
    };
    assert_eq!(
        store
            .bulk_label_conversations(f.ws, vec![c1, foreign], vec![mine], vec![])
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert!(
        store
            .conversation_labels(f.ws, c1)
            .await
            .unwrap()
            .is_empty()
    );
    let contact = store
        .get_conversation(f.ws, c1)
        .await
        .unwrap()
        .contact_id
        .unwrap();
    assert_eq!(
        store
            .set_contact_labels(f.ws, contact, vec![theirs])
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store
            .set_contact_labels(other, contact, vec![theirs])
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn the_contact_panel_has_labels_notes_and_every_conversation(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let c1 = inbound(&store, &f, "acc-1", "u1", "m1", "一").await;
    let c2 = inbound(&store, &f, "acc-2", "u1", "m2", "二").await;
    inbound(&store, &f, "acc-1", "u2", "m3", "别人").await;
    let contact = store
        .get_conversation(f.ws, c1)
        .await
        .unwrap()
        .contact_id
        .unwrap();
    assert_eq!(
        store.get_conversation(f.ws, c2).await.unwrap().contact_id,
        Some(contact),
        "one contact per channel"
    );
    let vip = store.create_label(f.ws, "VIP", "#ff0000").await.unwrap().id;
    store
        .set_contact_labels(f.ws, contact, vec![vip])
        .await
        .unwrap();
    let panel = store
        .set_contact_notes(f.ws, contact, Some("老客户，喜欢辣".into()))
        .await
        .unwrap();
    assert_eq!(panel.nickname, "客户u1");
    assert_eq!(panel.external_id, "u1");
    assert_eq!(panel.platform, Platform::Custom);
    assert_eq!(panel.channel_id, f.channel);
    assert_eq!(panel.avatar.as_deref(), Some("https://img.example/a.png"));
    assert_eq!(panel.labels, vec![vip]);
    assert_eq!(panel.notes.as_deref(), Some("老客户，喜欢辣"));
    let mut ids: Vec<ConversationId> = panel.conversations.iter().map(|c| c.id).collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![c1, c2],
        "the contact's conversations, not others'"
    );
    let names: Vec<&str> = panel
        .conversations
        .iter()
        .map(|c| c.account_name.as_str())
        .collect();
    assert!(
        names.contains(&"旗舰店") && names.contains(&"二店"),
        "{names:?}"
    );
    let cleared = store
        .set_contact_notes(f.ws, contact, Some("  ".into()))
        .await
        .unwrap();
    assert_eq!(cleared.notes, None, "blank notes are no notes");
    let too_long = "x".repeat(imhub_store::MAX_CONTACT_NOTES_CHARS + 1);
    assert!(matches!(
        store.set_contact_notes(f.ws, contact, Some(too_long)).await,
        Err(StoreError::Refused {
            code: "invalid_request",
            ..
        })
    ));
    let other = store.create_workspace("other").await.unwrap().id;
    assert_eq!(
        store.get_contact(other, contact).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store
            .set_contact_notes(other, contact, Some("x".into()))
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

fn reply(owner: Option<UserId>, title: &str, shortcut: Option<&str>, text: &str) -> NewQuickReply {
    NewQuickReply {
        owner,
        folder: String::new(),
        title: title.into(),
        shortcut: shortcut.map(str::to_string),
        text: text.into(),
        content: None,
    }
}

async fn quick_replies_are_shared_or_personal_with_shortcuts_unique_per_library(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store).await;
    let wang = agent(&store, f.ws, "w@shop.cn", "小王").await;
    let li = agent(&store, f.ws, "li@shop.cn", "老李").await;
    let shared = store
        .create_quick_reply(
            f.ws,
            reply(None, "欢迎语", Some("Hi"), "您好{{contact.nickname}}"),
        )
        .await
        .unwrap();
    assert_eq!(shared.scope, QuickReplyScope::Shared);
    assert_eq!(shared.shortcut.as_deref(), Some("hi"), "stored lowercase");
    assert!(matches!(
        store
            .create_quick_reply(f.ws, reply(None, "another", Some("hi"), "x"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let own = store
        .create_quick_reply(
            f.ws,
            reply(Some(wang), "我的欢迎", Some("hi"), "我是{{agent.name}}"),
        )
        .await
        .expect("a personal library has its own shortcuts");
    assert_eq!(own.scope, QuickReplyScope::Personal);
    assert_eq!(own.owner_id, Some(wang));
    let lis = store
        .create_quick_reply(f.ws, reply(Some(li), "老李的", Some("hi"), "x"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_quick_reply(f.ws, reply(Some(wang), "dup", Some("HI"), "x"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    let ws = f.ws;
    let all = |viewer| {
        let store = store.clone();
        async move {
            store
                .list_quick_replies(
                    ws,
                    viewer,
                    QuickReplyFilter {
                        limit: 50,
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    let mut seen = all(Some(wang)).await;
    seen.sort();
    assert_eq!(seen, vec![shared.id, own.id]);
    assert_eq!(
        all(None).await,
        vec![shared.id],
        "a token sees the shared ones"
    );
    assert_eq!(
        store
            .get_quick_reply(f.ws, lis.id, Some(wang))
            .await
            .unwrap_err(),
        StoreError::NotFound,
        "another agent's reply is not found"
    );
    assert_eq!(
        store.get_quick_reply(f.ws, lis.id, None).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store
            .delete_quick_reply(f.ws, lis.id, Some(wang))
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    let second = store
        .create_quick_reply(f.ws, reply(None, "催单", Some("urge"), "正在催"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .update_quick_reply(
                f.ws,
                second.id,
                None,
                QuickReplyPatch {
                    shortcut: Some(Some("Hi".into())),
                    ..Default::default()
                },
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    let changed = store
        .update_quick_reply(
            f.ws,
            second.id,
            None,
            QuickReplyPatch {
                title: Some(" 催单（新） ".into()),
                shortcut: Some(None),
                content: Some(Some(Content::Image {
                    url: Some("https://img.example/q.png".into()),
                    media_id: None,
                    width: None,
                    height: None,
                })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.title, "催单（新）");
    assert_eq!(changed.shortcut, None);
    assert_eq!(changed.text, "正在催", "untouched fields stay");
    assert!(matches!(changed.content, Some(Content::Image { .. })));
    store
        .create_quick_reply(f.ws, reply(None, "again", Some("urge"), "x"))
        .await
        .expect("a cleared shortcut is free again");
    store
        .delete_quick_reply(f.ws, second.id, None)
        .await
        .unwrap();
    assert_eq!(
        store
            .get_quick_reply(f.ws, second.id, None)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    let other = store.create_workspace("other").await.unwrap().id;
    assert_eq!(
        store
            .get_quick_reply(other, shared.id, None)
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        store
            .update_quick_reply(other, shared.id, None, QuickReplyPatch::default())
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

async fn quick_replies_are_searched_by_title_shortcut_and_text(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let wang = agent(&store, f.ws, "w@shop.cn", "小王").await;
    let mut greet = reply(None, "Welcome 欢迎", Some("hello"), "您好，欢迎光临");
    greet.folder = "开场".into();
    let greet = store.create_quick_reply(f.ws, greet).await.unwrap();
    let refund = store
        .create_quick_reply(
            f.ws,
            reply(None, "退款说明", Some("tk"), "退款将在3个工作日内原路返回"),
        )
        .await
        .unwrap();
    let hello_text = store
        .create_quick_reply(f.ws, reply(Some(wang), "Bye", None, "Say HELLO again"))
        .await
        .unwrap();
    let ws = f.ws;
    let search = |q: &str, folder: Option<&str>| {
        let (store, q, folder) = (store.clone(), q.to_string(), folder.map(str::to_string));
        async move {
            store
                .list_quick_replies(
                    ws,
                    Some(wang),
                    QuickReplyFilter {
                        query: Some(q),
                        folder,
                        limit: 50,
                    },
                )
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        search("HeLLo", None).await,
        vec![greet.id, hello_text.id],
        "the shortcut's match ranks above the text's"
    );
    assert_eq!(search("工作日", None).await, vec![refund.id]);
    assert_eq!(search("退款", None).await, vec![refund.id]);
    assert_eq!(search("welcome", None).await, vec![greet.id]);
    assert_eq!(search("tk", None).await, vec![refund.id]);
    assert!(search("没有这个", None).await.is_empty());
    assert_eq!(search("", Some("开场")).await, vec![greet.id]);
    assert!(search("退款", Some("开场")).await.is_empty());
    let page = store
        .list_quick_replies(
            f.ws,
            Some(wang),
            QuickReplyFilter {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
}

async fn agent_replies_record_their_author(store: Arc<SqlStore>) {
    let f = fixture(&store).await;
    let c = inbound(&store, &f, "acc-1", "u1", "m1", "在吗").await;
    let wang = agent(&store, f.ws, "w@shop.cn", "小王").await;
    let send = |author, text: &str| NewOutbound {
        conversation_id: c,
        content: Content::Text { text: text.into() },
        idempotency_key: None,
        request_hash: format!("h-{text}"),
        author_id: author,
    };
    let by_agent = store
        .enqueue_message(f.ws, send(Some(wang), "在的"))
        .await
        .unwrap()
        .message;
    assert_eq!(by_agent.author_id, Some(wang));
    assert_eq!(by_agent.author_name.as_deref(), Some("小王"));
    let by_token = store
        .enqueue_message(f.ws, send(None, "自动"))
        .await
        .unwrap()
        .message;
    assert_eq!((by_token.author_id, by_token.author_name), (None, None));
    let listed = store.list_messages(f.ws, c, None, 50).await.unwrap();
    assert_eq!(listed[1].author_name.as_deref(), Some("小王"));
    assert_eq!(listed[2].author_id, None, "customers have no author");
}
