//! Full-text search, checked identically on SQLite (FTS5 trigram) and
//! PostgreSQL (pg_trgm): substring semantics for Chinese and English, the
//! workspace scope, filters, pages, notes and activity lines, and the two
//! paths (the scan of the newest messages and the trigram index).

use std::sync::Arc;

use imhub_core::{
    AccountRef, ChannelId, ContactInfo, Content, ConversationId, Direction, InboundEvent,
    InboundMessage, MessageId, Peer, Platform, Timestamp, WorkspaceId,
};
use imhub_store::{
    MessageCursor, PushRecord, SqlStore, Store, StoreError, StoreOptions,
    db::{Db, Dialect},
    search::{FIRST_WINDOW, SCAN_WINDOW, SearchPage, SearchQuery},
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
    chinese_substrings_of_two_three_and_four_characters_are_found,
    english_is_found_whatever_the_case,
    another_workspace_never_appears,
    filters_by_account_platform_conversation_and_dates,
    pages_are_newest_first_by_creation_time,
    notes_only_with_internal_and_activity_lines_never,
    like_metacharacters_in_queries_are_literal,
    html_in_messages_is_escaped_in_snippets,
    empty_and_overlong_queries_are_refused,
    files_and_cards_are_found_by_name_and_title,
    older_matches_come_from_the_index_beyond_the_scan_window,
    older_matches_are_found_hour_range_by_hour_range,
    rows_written_without_their_search_text_are_found_and_follow_content_changes,
    messages_the_index_has_not_taken_yet_are_found,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migration_indexes_messages_written_before_it() {
    migration_indexes_messages_written_before_it(testing::sqlite_database()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migration_indexes_messages_written_before_it() {
    let Some(url) = testing::postgres_database() else {
        return;
    };
    migration_indexes_messages_written_before_it(url).await
}

/// Test times start here (pushes dated before 2000 are clamped).
const T0: i64 = 1_700_000_000_000;

struct Fixture {
    ws: WorkspaceId,
    channel: ChannelId,
}

async fn fixture(store: &SqlStore, name: &str) -> Fixture {
    let ws = store.create_workspace(name).await.unwrap();
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
        .create_account(ws.id, channel.id, "acc-1", "Main")
        .await
        .unwrap();
    Fixture {
        ws: ws.id,
        channel: channel.id,
    }
}

fn message(contact: &str, id: &str, content: Content, at: i64) -> InboundEvent {
    InboundEvent::Message(InboundMessage {
        account: AccountRef {
            external_id: "acc-1".into(),
            name: None,
        },
        peer: Peer::Direct(ContactInfo {
            external_id: contact.into(),
            nickname: Some(format!("客户 {contact}")),
            avatar: None,
        }),
        direction: Direction::In,
        platform_message_id: id.into(),
        content,
        sent_at: Timestamp(T0 + at),
        reply_context: None,
    })
}

fn text(t: &str) -> Content {
    Content::Text { text: t.into() }
}

/// Records one text message from `contact` at `T0 + at`; returns its id
/// and conversation.
async fn say(
    store: &SqlStore,
    f: &Fixture,
    contact: &str,
    body: &str,
    at: i64,
) -> (MessageId, ConversationId) {
    send(store, f, contact, text(body), at).await
}

async fn send(
    store: &SqlStore,
    f: &Fixture,
    contact: &str,
    content: Content,
    at: i64,
) -> (MessageId, ConversationId) {
    let id = format!("m-{contact}-{at}-{}", rand_suffix());
    let recorded = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(id.clone()),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![message(contact, &id, content, at)],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    assert!(recorded.unprocessable.is_empty(), "{recorded:?}");
    match recorded.changes.first() {
        Some(imhub_store::Change::MessageCreated {
            message_id,
            conversation_id,
            ..
        }) => (*message_id, *conversation_id),
        other => panic!("no message created: {other:?}"),
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn query(t: &str) -> SearchQuery {
    SearchQuery {
        text: t.into(),
        limit: 50,
        ..SearchQuery::default()
    }
}

async fn find(store: &SqlStore, ws: WorkspaceId, q: SearchQuery) -> SearchPage {
    store.search_messages(ws, q).await.unwrap()
}

fn ids(page: &SearchPage) -> Vec<MessageId> {
    page.hits.iter().map(|h| h.message_id).collect()
}

/// Writes an entry the way the notes and activity code does: a row of
/// `messages` with an internal direction.
async fn internal_entry(
    store: &SqlStore,
    f: &Fixture,
    conversation: ConversationId,
    direction: &str,
    content: Content,
    at: i64,
) -> MessageId {
    let (ws, ch, content) = (
        f.ws.0,
        f.channel.0,
        serde_json::to_string(&content).unwrap(),
    );
    let direction = direction.to_string();
    let id = store
        .write_raw(move |db: &mut dyn Db| {
            db.query_one(
                "INSERT INTO messages (workspace_id, conversation_id, channel_id, direction, \
                   content, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'sent', $6, $6) RETURNING id",
                &[
                    ws.into(),
                    conversation.0.into(),
                    ch.into(),
                    direction.into(),
                    content.into(),
                    (T0 + at).into(),
                ],
            )?
            .int(0)
        })
        .await
        .unwrap();
    MessageId(id)
}

/// Ingest writes the search text with the row; every other writer (a
/// reply, a note, a script) leaves it out and the database's own rule
/// fills it, then fills it again when the content changes.
async fn rows_written_without_their_search_text_are_found_and_follow_content_changes(
    store: Arc<SqlStore>,
) {
    let f = fixture(&store, "shop").await;
    let (_, conversation) = say(&store, &f, "a", "你好", 1_000).await;
    let reply = internal_entry(
        &store,
        &f,
        conversation,
        "out",
        text("您的退款已经办好"),
        2_000,
    )
    .await;
    assert_eq!(
        ids(&find(&store, f.ws, query("退款已经")).await),
        vec![reply]
    );
    let changed = serde_json::to_string(&text("换货单号已发出")).unwrap();
    store
        .write_raw(move |db: &mut dyn Db| {
            db.execute(
                "UPDATE messages SET content = $1 WHERE id = $2",
                &[changed.into(), reply.0.into()],
            )
            .map(|_| ())
        })
        .await
        .unwrap();
    assert!(ids(&find(&store, f.ws, query("退款已经")).await).is_empty());
    assert_eq!(
        ids(&find(&store, f.ws, query("换货单号")).await),
        vec![reply]
    );
}

async fn chinese_substrings_of_two_three_and_four_characters_are_found(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let (refund, c1) = say(&store, &f, "a", "我想申请退款，订单还没发货", 1_000).await;
    let (returns, _) = say(&store, &f, "b", "退货地址在哪里？", 2_000).await;
    say(&store, &f, "c", "hello there", 3_000).await;

    for q in ["退款", "申请退", "申请退款", "订单还没发货", "款，订"] {
        let page = find(&store, f.ws, query(q)).await;
        assert_eq!(ids(&page), vec![refund], "{q}");
        assert!(!page.partial, "{q}: the whole workspace was scanned");
    }
    let hit = &find(&store, f.ws, query("退款")).await.hits[0];
    assert_eq!(hit.conversation_id, c1);
    assert_eq!(hit.conversation_title, "客户 a");
    assert_eq!(hit.platform, Platform::Custom);
    assert_eq!(hit.direction, Direction::In);
    assert_eq!(hit.created_at, Timestamp(T0 + 1_000));
    assert_eq!(hit.snippet, "我想申请<mark>退款</mark>，订单还没发货");
    // One character: both messages with 退, newest first.
    assert_eq!(
        ids(&find(&store, f.ws, query("退")).await),
        vec![returns, refund]
    );
    // Not a substring (the characters are there, apart): nothing.
    assert!(find(&store, f.ws, query("款订")).await.hits.is_empty());
    assert!(find(&store, f.ws, query("申请退货")).await.hits.is_empty());
}

async fn english_is_found_whatever_the_case(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let (m, _) = say(&store, &f, "a", "Where is my ORDER? 快递 SF1234", 1_000).await;
    for q in ["order", "Order", "ORDER?", "my", "MY ord", "sf1234", "Sf12"] {
        assert_eq!(ids(&find(&store, f.ws, query(q)).await), vec![m], "{q}");
    }
    let page = find(&store, f.ws, query("oRdEr")).await;
    assert_eq!(
        page.hits[0].snippet,
        "Where is my <mark>ORDER</mark>? 快递 SF1234"
    );
    assert!(find(&store, f.ws, query("orders")).await.hits.is_empty());
}

async fn another_workspace_never_appears(store: Arc<SqlStore>) {
    let a = fixture(&store, "a").await;
    let b = fixture(&store, "b").await;
    let (in_a, conv_a) = say(&store, &a, "x", "同一句话：退款进度", 1_000).await;
    let (in_b, _) = say(&store, &b, "x", "同一句话：退款进度", 2_000).await;
    for q in ["退款", "退款进度", "同一句话：退款进度", "话"] {
        assert_eq!(ids(&find(&store, a.ws, query(q)).await), vec![in_a], "{q}");
        assert_eq!(ids(&find(&store, b.ws, query(q)).await), vec![in_b], "{q}");
    }
    // Another workspace's conversation is not found, not an empty page.
    let err = store
        .search_messages(
            b.ws,
            SearchQuery {
                conversation_id: Some(conv_a),
                ..query("退款")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err, StoreError::NotFound);
    // A workspace with no messages finds nothing.
    let empty = fixture(&store, "empty").await;
    assert!(
        find(&store, empty.ws, query("退款进度"))
            .await
            .hits
            .is_empty()
    );
}

async fn filters_by_account_platform_conversation_and_dates(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let main = store.list_accounts(f.ws).await.unwrap()[0].id;
    let other = store
        .create_account(f.ws, f.channel, "acc-2", "Second")
        .await
        .unwrap();
    let (early, conv) = say(&store, &f, "a", "发票什么时候开", 1_000).await;
    let (late, _) = say(&store, &f, "a", "发票开好了吗", 5_000).await;
    let (b, conv_b) = say(&store, &f, "b", "要发票", 3_000).await;
    // A message to the second account.
    let id = "acc2-msg".to_string();
    let mut event = message("c", &id, text("开发票"), 4_000);
    if let InboundEvent::Message(m) = &mut event {
        m.account.external_id = "acc-2".into();
    }
    let recorded = store
        .record_push(
            f.ws,
            PushRecord {
                channel_id: f.channel,
                event_key: Some(id),
                body: b"{}".to_vec(),
                received_at: Timestamp::now(),
                events: vec![event],
                request: None,
                create_unknown_accounts: false,
            },
        )
        .await
        .unwrap();
    let Some(imhub_store::Change::MessageCreated { message_id: c, .. }) =
        recorded.changes.first().cloned()
    else {
        panic!("{recorded:?}")
    };

    assert_eq!(
        ids(&find(&store, f.ws, query("发票")).await),
        vec![late, c, b, early]
    );
    let with = |q: SearchQuery| {
        let store = Arc::clone(&store);
        async move { ids(&find(&store, f.ws, q).await) }
    };
    assert_eq!(
        with(SearchQuery {
            account_id: Some(main),
            ..query("发票")
        })
        .await,
        vec![late, b, early]
    );
    assert_eq!(
        with(SearchQuery {
            account_id: Some(other.id),
            ..query("发票")
        })
        .await,
        vec![c]
    );
    assert_eq!(
        with(SearchQuery {
            platform: Some(Platform::Custom),
            ..query("发票")
        })
        .await,
        vec![late, c, b, early]
    );
    assert!(
        with(SearchQuery {
            platform: Some(Platform::Douyin),
            ..query("发票")
        })
        .await
        .is_empty()
    );
    assert_eq!(
        with(SearchQuery {
            conversation_id: Some(conv),
            ..query("发票")
        })
        .await,
        vec![late, early]
    );
    assert_eq!(
        with(SearchQuery {
            conversation_id: Some(conv_b),
            ..query("发票")
        })
        .await,
        vec![b]
    );
    // From is inclusive, to exclusive.
    assert_eq!(
        with(SearchQuery {
            from: Some(Timestamp(T0 + 3_000)),
            to: Some(Timestamp(T0 + 5_000)),
            ..query("发票")
        })
        .await,
        vec![c, b]
    );
    assert_eq!(
        with(SearchQuery {
            from: Some(Timestamp(T0 + 5_001)),
            ..query("发票")
        })
        .await,
        Vec::<MessageId>::new()
    );
}

async fn pages_are_newest_first_by_creation_time(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let (id, _) = say(
            &store,
            &f,
            "a",
            &format!("物流查询 第{i}次"),
            10_000 + i * 1_000,
        )
        .await;
        expected.push(id);
    }
    // Written last but dated first: it comes last, not first.
    let (old, _) = say(&store, &f, "b", "很早以前的物流查询", 1_000).await;
    expected.reverse();
    expected.push(old);

    for q in ["物流", "物流查询"] {
        let mut seen = Vec::new();
        let mut before: Option<MessageCursor> = None;
        let mut pages = 0;
        loop {
            let page = find(
                &store,
                f.ws,
                SearchQuery {
                    limit: 3,
                    before,
                    ..query(q)
                },
            )
            .await;
            pages += 1;
            assert!(page.hits.len() <= 3);
            seen.extend(ids(&page));
            match page.next {
                Some(next) => before = Some(next),
                None => break,
            }
            assert!(pages < 10, "pagination does not end");
        }
        assert_eq!(seen, expected, "{q}");
        assert_eq!(pages, 3, "{q}: 3 + 3 + 2");
    }
}

async fn notes_only_with_internal_and_activity_lines_never(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let (customer, conv) = say(&store, &f, "a", "能便宜点吗", 1_000).await;
    let note = internal_entry(&store, &f, conv, "note", text("老客户，可以便宜点"), 2_000).await;
    let activity = Content::Custom {
        data: serde_json::json!({"activity": "assigned", "to": {"id": 1, "name": "便宜点"}}),
        description: Some("便宜点 分配给 小王".into()),
    };
    internal_entry(&store, &f, conv, "activity", activity, 3_000).await;

    for q in ["便宜点", "便宜"] {
        assert_eq!(
            ids(&find(&store, f.ws, query(q)).await),
            vec![customer],
            "{q}: no note without internal"
        );
        assert_eq!(
            ids(&find(
                &store,
                f.ws,
                SearchQuery {
                    internal: true,
                    ..query(q)
                }
            )
            .await),
            vec![note, customer],
            "{q}: the note with internal, never the activity line"
        );
    }
    let hit = find(
        &store,
        f.ws,
        SearchQuery {
            internal: true,
            ..query("老客户")
        },
    )
    .await;
    assert_eq!(hit.hits[0].direction, Direction::Note);
    assert!(
        find(
            &store,
            f.ws,
            SearchQuery {
                internal: true,
                ..query("分配给")
            }
        )
        .await
        .hits
        .is_empty()
    );
}

async fn like_metacharacters_in_queries_are_literal(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let (percent, _) = say(&store, &f, "a", "100% 正品保证", 1_000).await;
    say(&store, &f, "a", "1000 正品保证", 2_000).await;
    let (underscore, _) = say(&store, &f, "a", "code a_b ok", 3_000).await;
    say(&store, &f, "a", "code axb ok", 4_000).await;
    let (backslash, _) = say(&store, &f, "a", "path c:\\tmp", 5_000).await;
    say(&store, &f, "a", "path c:tmp", 6_000).await;
    let (quote, _) = say(&store, &f, "a", "he said \"hi\" 你好", 7_000).await;
    for (q, want) in [
        ("0%", percent),
        ("100%", percent),
        ("%", percent),
        ("_", underscore),
        ("a_b", underscore),
        ("\\", backslash),
        ("c:\\t", backslash),
        ("\"hi\"", quote),
    ] {
        assert_eq!(ids(&find(&store, f.ws, query(q)).await), vec![want], "{q}");
    }
    assert!(find(&store, f.ws, query("%%")).await.hits.is_empty());
}

async fn html_in_messages_is_escaped_in_snippets(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    say(
        &store,
        &f,
        "a",
        "<script>alert('退款')</script> & \"more\"",
        1_000,
    )
    .await;
    for q in ["退款", "script", "<script>"] {
        let page = find(&store, f.ws, query(q)).await;
        assert_eq!(page.hits.len(), 1, "{q}");
        let s = &page.hits[0].snippet;
        assert!(!s.contains("<script"), "{q}: {s}");
        assert!(s.contains("&lt;"), "{q}: {s}");
        let unmarked = s.replace("<mark>", "").replace("</mark>", "");
        assert!(!unmarked.contains('<') && !unmarked.contains('>'), "{s}");
    }
    assert_eq!(
        find(&store, f.ws, query("退款")).await.hits[0].snippet,
        "&lt;script&gt;alert(&#39;<mark>退款</mark>&#39;)&lt;/script&gt; &amp; &quot;more&quot;"
    );
}

async fn empty_and_overlong_queries_are_refused(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let code = |r: Result<SearchPage, StoreError>| match r {
        Err(StoreError::Refused { code, .. }) => code,
        other => panic!("{other:?}"),
    };
    for empty in ["", "   ", "\u{3000}\t"] {
        assert_eq!(
            code(store.search_messages(f.ws, query(empty)).await),
            "query_too_short"
        );
    }
    assert_eq!(
        code(store.search_messages(f.ws, query(&"退".repeat(101))).await),
        "query_too_long"
    );
    let page = store
        .search_messages(f.ws, query(&"退".repeat(100)))
        .await
        .unwrap();
    assert!(page.hits.is_empty());
}

async fn files_and_cards_are_found_by_name_and_title(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let (file, _) = send(
        &store,
        &f,
        "a",
        Content::File {
            url: "https://example.com/x.pdf".into(),
            name: Some("发票-2024.pdf".into()),
            size: Some(10),
        },
        1_000,
    )
    .await;
    let (order, _) = send(
        &store,
        &f,
        "a",
        Content::OrderCard {
            order_id: "MT88990011".into(),
            title: Some("黄焖鸡米饭".into()),
        },
        2_000,
    )
    .await;
    let (card, _) = send(
        &store,
        &f,
        "a",
        Content::MiniProgramCard {
            card_id: "c1".into(),
            title: Some("会员中心".into()),
            app_id: None,
            path: None,
            cover_url: None,
        },
        3_000,
    )
    .await;
    send(
        &store,
        &f,
        "a",
        Content::Image {
            url: Some("https://example.com/发票.png".into()),
            media_id: None,
            width: None,
            height: None,
        },
        4_000,
    )
    .await;
    assert_eq!(ids(&find(&store, f.ws, query("发票")).await), vec![file]);
    assert_eq!(
        ids(&find(&store, f.ws, query("2024.pdf")).await),
        vec![file]
    );
    assert_eq!(ids(&find(&store, f.ws, query("焖鸡")).await), vec![order]);
    assert_eq!(ids(&find(&store, f.ws, query("88990")).await), vec![order]);
    assert_eq!(
        ids(&find(&store, f.ws, query("会员中心")).await),
        vec![card]
    );
    // A URL is not text: the picture is not found by it.
    assert!(find(&store, f.ws, query("example")).await.hits.is_empty());
}

/// `count` filler messages in `conversation`, dated after everything the
/// test wrote, set-wise so the scan window is full of them.
async fn fill(store: &SqlStore, f: &Fixture, conversation: ConversationId, count: i64) {
    let (ws, ch, conv) = (f.ws.0, f.channel.0, conversation.0);
    store
        .write_raw(move |db: &mut dyn Db| {
            let series = match db.dialect() {
                Dialect::Sqlite => format!(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) "
                ),
                Dialect::Postgres => {
                    format!("WITH n(i) AS (SELECT generate_series(1, {count})::BIGINT) ")
                }
            };
            db.execute(
                &format!(
                    "{series}INSERT INTO messages (workspace_id, conversation_id, channel_id, \
                       direction, content, status, created_at, updated_at) \
                     SELECT {ws}, {conv}, {ch}, 'in', \
                       '{{\"type\":\"text\",\"text\":\"filler number ' || i || ' 普通消息\"}}', \
                       'delivered', {T0} + 1000000 + i, {T0} FROM n"
                ),
                &[],
            )?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn older_matches_come_from_the_index_beyond_the_scan_window(store: Arc<SqlStore>) {
    let f = fixture(&store, "shop").await;
    let other = fixture(&store, "other").await;
    let (old, conv) = say(&store, &f, "a", "很久以前：退款到账了吗 100%", 1_000).await;
    let (older, _) = say(&store, &f, "b", "退款到账了", 500).await;
    let (gone, _) = say(&store, &f, "c", "退款到账 删除的", 800).await;
    let note = internal_entry(&store, &f, conv, "note", text("备注：退款到账已核实"), 900).await;
    say(&store, &other, "a", "退款到账了吗", 1_000).await;
    say(&store, &f, "d", "普通消息 newest", 2_000_000_000).await;
    fill(&store, &f, conv, SCAN_WINDOW + 10).await;
    let ws = f.ws.0;
    store
        .write_raw(move |db: &mut dyn Db| {
            db.execute(
                "DELETE FROM messages WHERE id = $1 AND workspace_id = $2",
                &[gone.0.into(), ws.into()],
            )
        })
        .await
        .unwrap();

    // Three or more characters: the index finds what the window missed,
    // in time order, and never another workspace's or a deleted message.
    let page = find(&store, f.ws, query("退款到账")).await;
    assert_eq!(ids(&page), vec![old, older]);
    assert!(!page.partial);
    assert_eq!(page.next, None);
    assert_eq!(
        ids(&find(
            &store,
            f.ws,
            SearchQuery {
                internal: true,
                ..query("退款到账")
            }
        )
        .await),
        vec![old, note, older]
    );
    // Pages that straddle the window and the index.
    let first = find(
        &store,
        f.ws,
        SearchQuery {
            limit: 1,
            ..query("退款到")
        },
    )
    .await;
    assert_eq!(ids(&first), vec![old]);
    let second = find(
        &store,
        f.ws,
        SearchQuery {
            limit: 1,
            before: first.next,
            ..query("退款到")
        },
    )
    .await;
    assert_eq!(ids(&second), vec![older]);
    // Frequent terms fill the page from the window, newest first.
    let frequent = find(
        &store,
        f.ws,
        SearchQuery {
            limit: 5,
            ..query("普通消息")
        },
    )
    .await;
    assert_eq!(frequent.hits.len(), 5);
    assert!(frequent.next.is_some());
    let times: Vec<i64> = frequent.hits.iter().map(|h| h.created_at.0).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    assert_eq!(times[0], T0 + 2_000_000_000);
    // Metacharacters stay literal on the index path too.
    assert_eq!(ids(&find(&store, f.ws, query("吗 100%")).await), vec![old]);
    assert!(find(&store, f.ws, query("吗 1_0%")).await.hits.is_empty());
    assert!(find(&store, f.ws, query("%到账")).await.hits.is_empty());

    // Two characters: the scan stops at its bound and says so; its cursor
    // goes on with the older messages, where it finds the rest.
    let short = find(&store, f.ws, query("到账")).await;
    assert!(short.hits.is_empty());
    assert!(short.partial);
    let mut before = short.next;
    let mut rest = Vec::new();
    for _ in 0..5 {
        let page = find(
            &store,
            f.ws,
            SearchQuery {
                before,
                ..query("到账")
            },
        )
        .await;
        rest.extend(ids(&page));
        before = page.next;
        if before.is_none() {
            assert!(!page.partial);
            break;
        }
    }
    assert_eq!(rest, vec![old, older]);
}

/// A busy SQLite writer indexes its queue only every few hundred
/// milliseconds (engine/batch.rs): until then, search finds the queued
/// messages itself, on every path that asks the index, with the same
/// filters. (PostgreSQL indexes each row in its own INSERT: nothing to
/// do there.)
async fn messages_the_index_has_not_taken_yet_are_found(store: Arc<SqlStore>) {
    if store.dialect() != Dialect::Sqlite {
        return;
    }
    let f = fixture(&store, "shop").await;
    let (old, conv) = say(&store, &f, "a", "很久以前：退款到账了吗", 1_000).await;
    let (indexed, _) = say(&store, &f, "b", "退款到账了", 500).await;
    let note = internal_entry(&store, &f, conv, "note", text("备注：退款到账已核实"), 900).await;
    fill(&store, &f, conv, SCAN_WINDOW + 10).await;
    // Take two of them out of the index and back into its queue, as if
    // the writer had not indexed them yet. The write that does it may
    // itself be the one that indexes the queue (it is due every few
    // hundred milliseconds); then the next one, moments later, is not.
    let mut queued = false;
    for _ in 0..5 {
        store
            .write_raw(move |db: &mut dyn Db| {
                for id in [old.0, note.0] {
                    db.execute("DELETE FROM messages_fts WHERE rowid = $1", &[id.into()])?;
                    db.execute(
                        "INSERT OR IGNORE INTO messages_fts_queue (id) VALUES ($1)",
                        &[id.into()],
                    )?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let waiting = store
            .read_raw(move |db: &mut dyn Db| {
                db.query_one(
                    "SELECT COUNT(*) FROM messages_fts_queue WHERE id IN ($1, $2)",
                    &[old.0.into(), note.0.into()],
                )?
                .int(0)
            })
            .await
            .unwrap();
        if waiting == 2 {
            queued = true;
            break;
        }
    }
    assert!(queued, "the queue was indexed by every write");

    // Beyond the scan window, through the index's paths: the queued
    // message beside the indexed one, newest first; the queued note only
    // for internal searches; another conversation's filter keeps it out.
    assert_eq!(
        ids(&find(&store, f.ws, query("退款到账")).await),
        vec![old, indexed]
    );
    assert_eq!(
        ids(&find(
            &store,
            f.ws,
            SearchQuery {
                internal: true,
                ..query("退款到账")
            }
        )
        .await),
        vec![old, note, indexed]
    );
    let first = find(
        &store,
        f.ws,
        SearchQuery {
            limit: 1,
            ..query("退款到账")
        },
    )
    .await;
    assert_eq!(ids(&first), vec![old]);
    let second = find(
        &store,
        f.ws,
        SearchQuery {
            limit: 1,
            before: first.next,
            ..query("退款到账")
        },
    )
    .await;
    assert_eq!(ids(&second), vec![indexed]);
    // Inside the conversation, past its scan window, the index is asked too.
    let inside = find(
        &store,
        f.ws,
        SearchQuery {
            conversation_id: Some(conv),
            ..query("很久以前")
        },
    )
    .await;
    assert_eq!(ids(&inside), vec![old]);
    // The next write that is due indexes them, and they are found the same.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    say(&store, &f, "c", "新消息", 3_000).await;
    let waiting = store
        .read_raw(|db: &mut dyn Db| {
            db.query_one("SELECT COUNT(*) FROM messages_fts_queue", &[])?
                .int(0)
        })
        .await
        .unwrap();
    assert_eq!(waiting, 0);
    assert_eq!(
        ids(&find(&store, f.ws, query("退款到账")).await),
        vec![old, indexed]
    );
}

async fn older_matches_are_found_hour_range_by_hour_range(store: Arc<SqlStore>) {
    const SECOND: i64 = 1_000;
    const HOUR: i64 = 3_600_000;
    let f = fixture(&store, "shop").await;
    let other = fixture(&store, "other").await;
    // `fill` dates its messages from T0 + 1,000,000 ms, a millisecond
    // apart, so the first window holds none of the term: on PostgreSQL the
    // hours are asked after it, one, then four, sixteen… at a time, in
    // blocks of 1, 16, 256 and 4,096 hours.
    let base = 1_000_000;
    let (recent, conv) = say(
        &store,
        &f,
        "a",
        "发票抬头 in the first range",
        base - 10 * SECOND,
    )
    .await;
    let (later, _) = say(
        &store,
        &f,
        "b",
        "发票抬头 in a later range",
        base - 300 * SECOND,
    )
    .await;
    // Either side of an hour's first millisecond.
    let hour_start = (T0 + base - 1_000 * SECOND).div_euclid(HOUR) * HOUR - T0;
    let (on_hour, _) = say(&store, &f, "c", "发票抬头 on the hour", hour_start).await;
    let (before_hour, _) = say(&store, &f, "c", "发票抬头 before it", hour_start - 1).await;
    let (rare, _) = say(&store, &f, "d", "发票抬头 past the ranges", base - 2 * HOUR).await;
    let (days_ago, _) = say(&store, &f, "e", "发票抬头 days ago", base - 72 * HOUR).await;
    let (oldest, _) = say(
        &store,
        &f,
        "f",
        "发票抬头 more than a year ago",
        base - 400 * 24 * HOUR,
    )
    .await;
    say(
        &store,
        &other,
        "a",
        "发票抬头 of another shop",
        base - 300 * SECOND,
    )
    .await;
    say(
        &store,
        &other,
        "b",
        "发票抬头 of another shop",
        base - 2 * HOUR,
    )
    .await;
    fill(&store, &f, conv, FIRST_WINDOW + 10).await;
    let all = vec![recent, later, on_hour, before_hour, rare, days_ago, oldest];

    assert_eq!(ids(&find(&store, f.ws, query("发票抬头")).await), all);
    // One at a time, every page's cursor going on in the next range.
    let mut before = None;
    let mut paged = Vec::new();
    loop {
        let page = find(
            &store,
            f.ws,
            SearchQuery {
                limit: 1,
                before,
                ..query("票抬头")
            },
        )
        .await;
        assert!(!page.partial);
        paged.extend(ids(&page));
        before = page.next;
        if before.is_none() || paged.len() > all.len() {
            break;
        }
    }
    assert_eq!(paged, all);
    // A date range ends the walk at its start, inclusive.
    let since = find(
        &store,
        f.ws,
        SearchQuery {
            from: Some(Timestamp(T0 + hour_start)),
            ..query("发票抬")
        },
    )
    .await;
    assert_eq!(ids(&since), vec![recent, later, on_hour]);
    let until = find(
        &store,
        f.ws,
        SearchQuery {
            to: Some(Timestamp(T0 + hour_start)),
            ..query("发票抬")
        },
    )
    .await;
    assert_eq!(ids(&until), vec![before_hour, rare, days_ago, oldest]);
    // A term found nowhere walks every range and ends empty.
    let none = find(&store, f.ws, query("抬头没有")).await;
    assert!(none.hits.is_empty() && none.next.is_none() && !none.partial);
}

async fn migration_indexes_messages_written_before_it(url: String) {
    let store = Arc::new(SqlStore::open(StoreOptions::new(url)).await.unwrap());
    let f = fixture(&store, "shop").await;
    let (before, _) = say(&store, &f, "a", "迁移之前写的退款消息", 1_000).await;
    let dialect = store.dialect();
    // Back to the schema before search, with the message still there.
    store
        .write_raw(move |db: &mut dyn Db| {
            match db.dialect() {
                Dialect::Sqlite => db.batch(
                    "DROP TRIGGER messages_search_insert; DROP TRIGGER messages_search_update; \
                     DROP TRIGGER messages_search_fill; DROP TABLE messages_fts_queue; \
                     DROP TRIGGER messages_search_delete; DROP TABLE messages_fts; \
                     DROP TABLE IF EXISTS messages_fts_content; \
                     DROP INDEX messages_by_workspace_time; \
                     ALTER TABLE messages DROP COLUMN search_text",
                )?,
                Dialect::Postgres => db.batch(
                    "DROP TRIGGER messages_search_fill ON messages; \
                     DROP TRIGGER messages_search_refill ON messages; \
                     DROP FUNCTION imhub_messages_search_fill(); \
                     DROP INDEX messages_by_workspace_time; \
                     ALTER TABLE messages DROP COLUMN search_text; \
                     DROP FUNCTION imhub_search_text(TEXT, TEXT)",
                )?,
            }
            Ok(())
        })
        .await
        .unwrap();
    // The migration's own statements, as `imhub migrate` runs them.
    store
        .write_raw(move |db: &mut dyn Db| {
            db.batch(match db.dialect() {
                Dialect::Sqlite => include_str!("../../migrations/sqlite/0010_search.sql"),
                Dialect::Postgres => include_str!("../../migrations/postgres/0010_search.sql"),
            })?;
            // And the later steps that changed the SQLite triggers (0019),
            // the PostgreSQL index (0020) and how PostgreSQL fills the
            // column (0021).
            match db.dialect() {
                Dialect::Sqlite => {
                    db.batch(include_str!("../../migrations/sqlite/0019_ingest.sql"))
                }
                Dialect::Postgres => {
                    db.batch(include_str!(
                        "../../migrations/postgres/0020_search_hours.sql"
                    ))?;
                    db.batch(include_str!(
                        "../../migrations/postgres/0021_search_text.sql"
                    ))
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&find(&store, f.ws, query("退款消息")).await),
        vec![before]
    );
    // The index itself holds the old message, not only the column.
    let indexed = store
        .read_raw(move |db: &mut dyn Db| {
            let sql = match dialect {
                Dialect::Sqlite => {
                    "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH '\"退款消息\"'"
                }
                Dialect::Postgres => {
                    "SELECT COUNT(*) FROM messages WHERE search_text ILIKE '%退款消息%'"
                }
            };
            db.query_one(sql, &[])?.int(0)
        })
        .await
        .unwrap();
    assert_eq!(indexed, 1);
    // New messages are indexed by the triggers the migration made again.
    let (after, _) = say(&store, &f, "a", "迁移之后的退款消息", 2_000).await;
    assert_eq!(
        ids(&find(&store, f.ws, query("退款消息")).await),
        vec![after, before]
    );
}
