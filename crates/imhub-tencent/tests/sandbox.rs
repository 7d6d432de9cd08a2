//! The Tencent client and channel against the sandbox over real HTTP.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{RawQuery, State},
    http::StatusCode,
    response::IntoResponse,
    routing::post,
};
use imhub_core::{
    Channel, Content, ConversationKind, DeliveryError, Direction, InboundEvent, MessageId,
    Outbound, OutboundTarget, Push, Timestamp,
};
use imhub_sandbox::tencent::{TencentSandbox, TencentSandboxConfig, router};
use imhub_tencent::{
    TencentChannel, TencentClient, TencentConfig,
    account::AccountImportRequest,
    c2c::{BatchSendMsgRequest, GetRoamMsgRequest, SendMsgRequest},
    elements::{ApnsInfo, FaceElem, MsgElement, OfflinePushInfo, TextElem},
    group::{CreateGroupRequest, GroupMember, GroupMsgGetSimpleRequest},
    msg_random_for,
    usersig::now_secs,
};
use serde_json::json;

const APP: u64 = 1_400_000_001;
const KEY: &str = "0f3c9a8e5b7d41a2c6e8f0b1d3a5c7e9f1b3d5a7c9e1f3b5d7a9c1e3f5b7d9a1";
const ADMIN: &str = "administrator";

fn sandbox_config() -> TencentSandboxConfig {
    let mut sb = TencentSandbox::new(APP, KEY, ADMIN).config().clone();
    sb.callback_token = Some("cb-token".into());
    sb
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn start(config: TencentSandboxConfig) -> (TencentSandbox, String) {
    let sb = TencentSandbox::with_config(config);
    for a in ["shop", "alice", "bob", "carol"] {
        sb.import_account(a);
    }
    let url = serve(router(sb.clone())).await;
    (sb, url)
}

fn channel_config(base: &str) -> TencentConfig {
    let mut c = TencentConfig::new(APP, KEY, ADMIN);
    c.base_url = Some(base.into());
    c.callback_token = Some("cb-token".into());
    c.merchant_accounts = vec!["shop".into()];
    c
}

fn client(base: &str) -> TencentClient {
    TencentClient::new(base, APP, KEY, ADMIN).unwrap()
}

fn text(t: &str) -> Vec<MsgElement> {
    vec![MsgElement::Text(TextElem { text: t.into() })]
}

fn direct(peer: &str) -> OutboundTarget {
    OutboundTarget {
        kind: ConversationKind::Direct,
        account_external_id: "shop".into(),
        peer_external_id: peer.into(),
        reply_context: None,
        last_inbound_at: None,
    }
}

#[tokio::test]
async fn sendmsg_with_every_field_reaches_the_recipient() {
    let (sb, url) = start(sandbox_config()).await;
    let req = SendMsgRequest {
        sync_other_machine: Some(1),
        from_account: Some("shop".into()),
        to_account: "alice".into(),
        msg_life_time: Some(604_800),
        msg_seq: Some(7),
        msg_random: 1_287_657,
        msg_body: vec![
            MsgElement::Text(TextElem { text: "hi ".into() }),
            MsgElement::Face(FaceElem {
                index: 1,
                data: "[笑]".into(),
            }),
        ],
        cloud_custom_data: Some("{\"order\":1}".into()),
        support_message_extension: Some(0),
        send_msg_control: vec!["NoUnread".into()],
        forbid_callback_control: vec!["ForbidBeforeSendMsgCallback".into()],
        offline_push_info: Some(OfflinePushInfo {
            push_flag: Some(0),
            desc: Some("离线推送内容".into()),
            apns_info: Some(ApnsInfo {
                badge_mode: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }),
        is_need_read_receipt: Some(1),
    };
    let resp = client(&url).send_msg(&req).await.unwrap();
    assert!(resp.msg_key.starts_with("7_1287657_"), "{}", resp.msg_key);
    let got = sb.received_by("alice");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].from, "shop");
    assert_eq!(got[0].cloud_custom_data, "{\"order\":1}");
    assert_eq!(got[0].msg_life_time, Some(604_800));
    // A longer MsgLifeTime is accepted and sent as the 7 days Tencent keeps.
    let mut long = req.clone();
    long.msg_life_time = Some(30 * 86_400);
    long.msg_seq = Some(8);
    client(&url).send_msg(&long).await.unwrap();
    assert_eq!(sb.received_by("alice")[1].msg_life_time, Some(604_800));
    let batch = BatchSendMsgRequest {
        from_account: Some("shop".into()),
        to_account: vec!["bob".into()],
        msg_random: 9,
        msg_body: text("sale"),
        msg_life_time: Some(u32::MAX),
        ..Default::default()
    };
    client(&url).batch_send_msg(&batch).await.unwrap();
    assert_eq!(sb.received_by("bob")[0].msg_life_time, Some(604_800));
}

#[tokio::test]
async fn sendmsg_answers_only_its_own_codes_and_groups_their_parse_code() {
    let (_sb, url) = start(sandbox_config()).await;
    let c = client(&url);
    let code = |path: &'static str, body: serde_json::Value| {
        let c = c.clone();
        async move { c.call_raw(path, &body).await.unwrap_err().code() }
    };
    let body = text("hi");
    // A sender that is not a String: 20003, not batchsendmsg's 90008.
    assert_eq!(
        code(
            "openim/sendmsg",
            json!({"From_Account": 5, "To_Account": "alice", "MsgRandom": 1, "MsgBody": body})
        )
        .await,
        Some(20003)
    );
    // A MsgSeq that is no 32-bit Integer: 20001, not batchsendmsg's 90004.
    assert_eq!(
        code(
            "openim/sendmsg",
            json!({"To_Account": "alice", "MsgRandom": 1, "MsgSeq": "7", "MsgBody": body})
        )
        .await,
        Some(20001)
    );
    assert_eq!(
        code(
            "openim/batchsendmsg",
            json!({"To_Account": ["alice"], "MsgRandom": 1, "MsgSeq": -1, "MsgBody": body})
        )
        .await,
        Some(90004)
    );
    // A negative MsgLifeTime is refused; a fractional one is no Integer.
    assert_eq!(
        code(
            "openim/sendmsg",
            json!({"To_Account": "alice", "MsgRandom": 1, "MsgLifeTime": -1, "MsgBody": body})
        )
        .await,
        Some(90026)
    );
    assert_eq!(
        code(
            "openim/sendmsg",
            json!({"To_Account": "alice", "MsgRandom": 1, "MsgLifeTime": 1.5, "MsgBody": body})
        )
        .await,
        Some(90044)
    );
    // A group request that is not JSON: 10011; one that parses but is
    // invalid: 10004.
    let raw = reqwest::Client::new()
        .post(c.url_for(
            "group_open_http_svc/send_group_msg",
            &imhub_tencent::gen_usersig(APP, KEY, ADMIN, 3600, now_secs()),
            5,
        ))
        .body("{not json")
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(v["ErrorCode"], 10011);
    assert_eq!(
        code("group_open_http_svc/send_group_msg", json!([1])).await,
        Some(10011)
    );
    assert_eq!(
        code(
            "group_open_http_svc/send_group_msg",
            json!({"GroupId": 5, "Random": 1, "MsgBody": body})
        )
        .await,
        Some(10004)
    );
}

#[tokio::test]
async fn channel_send_is_deduplicated_on_retry_and_recall_works_once() {
    let (sb, url) = start(sandbox_config()).await;
    let ch = TencentChannel::new(channel_config(&url)).unwrap();
    let out = Outbound {
        message_id: MessageId(9001),
        target: direct("alice"),
        content: Content::Text {
            text: "您好，有什么可以帮您？".into(),
        },
    };
    let first = ch.send(&out).await.unwrap().platform_message_id.unwrap();
    let again = ch.send(&out).await.unwrap().platform_message_id.unwrap();
    assert_eq!(first, again, "a retried send is the same message");
    let stored = sb.received_by("alice");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].msg_random, msg_random_for(MessageId(9001)));
    assert!(stored[0].in_sender_roaming, "SyncOtherMachine = 1");

    ch.recall(&direct("alice"), &first).await.unwrap();
    assert_eq!(sb.recalled_c2c().len(), 1);
    let twice = ch.recall(&direct("alice"), &first).await.unwrap_err();
    assert_eq!(
        twice,
        DeliveryError::Permanent {
            code: "20023".into(),
            text: "the message was already recalled".into()
        }
    );

    ch.mark_read(&direct("alice"), &first).await.unwrap();
    assert_eq!(sb.reads()[0].report_account, "shop");
}

#[tokio::test]
async fn group_send_recall_and_history_paging() {
    let (sb, url) = start(sandbox_config()).await;
    let c = client(&url);
    let group = c
        .create_group(&CreateGroupRequest {
            group_type: "Public".into(),
            name: "粉丝群".into(),
            owner_account: Some("shop".into()),
            member_list: vec![GroupMember {
                member_account: "alice".into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .group_id;
    assert!(group.starts_with("@TGS#"));
    let ch = TencentChannel::new(channel_config(&url)).unwrap();
    let target = OutboundTarget {
        kind: ConversationKind::Group,
        peer_external_id: group.clone(),
        ..direct("")
    };
    let mut seqs = Vec::new();
    for i in 0..25 {
        let out = Outbound {
            message_id: MessageId(100 + i),
            target: target.clone(),
            content: Content::Text {
                text: format!("公告 {i}"),
            },
        };
        seqs.push(ch.send(&out).await.unwrap().platform_message_id.unwrap());
    }
    assert_eq!(seqs[0], format!("{group}:1"), "MsgSeq counts per group");
    ch.recall(&target, &format!("{group}:3")).await.unwrap();
    assert!(sb.group(&group).unwrap().messages[2].recalled);
    assert!(matches!(
                ch.recall(&target, &format!("{group}:999")).await,
        Err(DeliveryError::Permanent { code, .. }) if code == "10030"
    ));

    let page1 = c
        .group_msg_get_simple(&GroupMsgGetSimpleRequest {
            group_id: group.clone(),
            req_msg_number: 20,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page1.rsp_msg_list.len(), 20);
    assert_eq!(page1.is_finished, 0);
    let smallest = page1.rsp_msg_list.last().unwrap().msg_seq;
    let page2 = c
        .group_msg_get_simple(&GroupMsgGetSimpleRequest {
            group_id: group.clone(),
            req_msg_number: 20,
            req_msg_seq: Some(smallest - 1),
            ..Default::default()
        })
        .await
        .unwrap();
    // 25 sent, one recalled and left out.
    assert_eq!(page2.rsp_msg_list.len(), 4);
    assert_eq!(page2.is_finished, 1);
}

#[tokio::test]
async fn roaming_history_pages_newest_first_until_complete() {
    let (_sb, url) = start(sandbox_config()).await;
    let c = client(&url);
    for i in 0..7u32 {
        c.send_msg(&SendMsgRequest {
            from_account: Some("shop".into()),
            to_account: "bob".into(),
            msg_random: i,
            msg_body: text(&format!("m{i}")),
            sync_other_machine: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let now = now_secs() as i64;
    let mut req = GetRoamMsgRequest {
        operator_account: "shop".into(),
        peer_account: "bob".into(),
        max_cnt: 3,
        min_time: now - 3600,
        max_time: now + 5,
        last_msg_key: None,
    };
    let mut sizes = Vec::new();
    let mut keys = Vec::new();
    loop {
        let page = c.get_roam_msg(&req).await.unwrap();
        sizes.push((page.msg_list.len(), page.complete));
        keys.extend(page.msg_list.iter().map(|m| m.msg_key.clone()));
        if page.complete == 1 {
            break;
        }
        req.max_time = page.last_msg_time;
        req.last_msg_key = Some(page.last_msg_key);
    }
    assert_eq!(sizes, vec![(3, 0), (3, 0), (1, 1)]);
    let all = c
        .get_roam_msg_all("bob", "shop", now - 3600, now + 5, 2)
        .await
        .unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(all[0].elements(), text("m6"), "newest first");
    let all_keys: Vec<_> = all.iter().map(|m| m.msg_key.clone()).collect();
    assert_eq!(all_keys, keys);
}

#[tokio::test]
async fn expired_usersig_and_non_admin_identifier_are_refused() {
    let (_sb, url) = start(sandbox_config()).await;
    let past: Arc<dyn Fn() -> u64 + Send + Sync> = Arc::new(|| now_secs() - 10 * 86_400);
    let stale = client(&url).with_usersig_ttl(KEY, 86_400).with_clock(past);
    let req = AccountImportRequest {
        user_id: "dave".into(),
        ..Default::default()
    };
    let err = stale.account_import(&req).await.unwrap_err();
    assert_eq!(err.code(), Some(70001));
    assert!(matches!(
        DeliveryError::from(err),
        DeliveryError::AuthExpired { .. }
    ));
    let wrong_key = TencentClient::new(&url, APP, "not-the-key", ADMIN).unwrap();
    assert_eq!(
        wrong_key.account_import(&req).await.unwrap_err().code(),
        Some(70009)
    );
    let not_admin = TencentClient::new(&url, APP, KEY, "alice").unwrap();
    assert_eq!(
        not_admin.account_import(&req).await.unwrap_err().code(),
        Some(60010)
    );
    client(&url).account_import(&req).await.unwrap();
}

#[tokio::test]
async fn oversize_unknown_and_malformed_sends_get_tencents_codes() {
    let (_sb, url) = start(sandbox_config()).await;
    let c = client(&url);
    let send = |to: &str, body: Vec<MsgElement>| SendMsgRequest {
        from_account: Some("shop".into()),
        to_account: to.into(),
        msg_random: 1,
        msg_body: body,
        ..Default::default()
    };
    let big = text(&"x".repeat(13 * 1024));
    assert_eq!(
        c.send_msg(&send("alice", big)).await.unwrap_err().code(),
        Some(93000)
    );
    assert_eq!(
        c.send_msg(&send("nobody", text("hi")))
            .await
            .unwrap_err()
            .code(),
        Some(90012)
    );
    assert_eq!(
        c.call_raw(
            "openim/sendmsg",
            &json!({"To_Account": "alice", "MsgRandom": "x", "MsgBody": []})
        )
        .await
        .unwrap_err()
        .code(),
        Some(90005)
    );
    assert_eq!(
        c.call_raw(
            "openim/sendmsg",
            &json!({"To_Account": "alice", "MsgRandom": 1, "MsgBody": {}})
        )
        .await
        .unwrap_err()
        .code(),
        Some(90007)
    );
    let sound_without_flag =
        json!([{"MsgType":"TIMSoundElem","MsgContent":{"Url":"https://x/a.mp3","UUID":"u"}}]);
    assert_eq!(
        c.call_raw(
            "openim/sendmsg",
            &json!({"To_Account": "alice", "MsgRandom": 1, "MsgBody": sound_without_flag})
        )
        .await
        .unwrap_err()
        .code(),
        Some(90002)
    );
    // Raw malformed JSON over HTTP.
    let raw = reqwest::Client::new()
        .post(c.url_for(
            "openim/sendmsg",
            &imhub_tencent::gen_usersig(APP, KEY, ADMIN, 3600, now_secs()),
            5,
        ))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 200);
    let v: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(v["ErrorCode"], 90001);
    assert_eq!(v["ActionStatus"], "FAIL");

    // The channel refuses before queueing at its stricter 8 KB default.
    let ch = TencentChannel::new(channel_config(&url)).unwrap();
    let refusal = ch
        .check_outbound(
            &direct("alice"),
            &Content::Text {
                text: "x".repeat(9000),
            },
        )
        .unwrap_err();
    assert_eq!(refusal.code, "message_too_large");

    let batch = c
        .batch_send_msg(&BatchSendMsgRequest {
            from_account: Some("shop".into()),
            to_account: vec!["alice".into(), "ghost".into()],
            msg_random: 3,
            msg_body: text("sale"),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(batch.action_status, "SomeError");
    assert_eq!(batch.error_list[0].to_account, "ghost");
    assert_eq!(batch.error_list[0].error_code, 70107);
}

#[tokio::test]
async fn more_than_the_rate_limit_per_second_is_rate_limited() {
    let mut cfg = sandbox_config();
    cfg.rate_per_sec = 5;
    let (_sb, url) = start(cfg).await;
    let ch = TencentChannel::new(channel_config(&url)).unwrap();
    let mut limited = 0;
    for i in 0..12 {
        let out = Outbound {
            message_id: MessageId(i),
            target: direct("carol"),
            content: Content::Text { text: "hi".into() },
        };
        match ch.send(&out).await {
            Ok(_) => {}
            Err(DeliveryError::RateLimited { .. }) => limited += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(limited >= 2, "{limited} of 12 were limited");
}

/// Events a test webhook has accepted.
type Seen = Arc<Mutex<Vec<InboundEvent>>>;

/// A stand-in for imhub's webhook: runs `parse_push` and answers like the server.
async fn webhook(ch: TencentChannel) -> (String, Seen) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = (Arc::new(ch), seen.clone());
    async fn hook(
        State((ch, seen)): State<(Arc<TencentChannel>, Seen)>,
        RawQuery(query): RawQuery,
        body: Bytes,
    ) -> axum::response::Response {
        let push = Push {
            method: "POST".into(),
            path: "/webhooks/tencent/1".into(),
            query,
            headers: vec![],
            body: body.to_vec(),
            received_at: Timestamp::now(),
        };
        match ch.parse_push(&push) {
            Ok(out) => {
                seen.lock().unwrap().extend(out.events);
                (StatusCode::OK, out.reply.body).into_response()
            }
            Err(e) => (StatusCode::UNAUTHORIZED, e.code()).into_response(),
        }
    }
    let app = Router::new()
        .route("/webhooks/tencent/1", post(hook))
        .with_state(state);
    (format!("{}/webhooks/tencent/1", serve(app).await), seen)
}

#[tokio::test]
async fn customer_callbacks_are_verified_and_bad_signs_refused() {
    let (sb, url) = start(sandbox_config()).await;
    let (hook, seen) = webhook(TencentChannel::new(channel_config(&url)).unwrap()).await;
    let (msg, d) = sb
        .customer_sends_text(&hook, "alice", "shop", "在吗？")
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    let reply: serde_json::Value = serde_json::from_str(&d.body).unwrap();
    assert_eq!(
        reply,
        json!({"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0})
    );
    {
        let seen = seen.lock().unwrap();
        let InboundEvent::Message(m) = &seen[0] else {
            panic!("{seen:?}")
        };
        assert_eq!(m.direction, Direction::In);
        assert_eq!(m.account.external_id, "shop");
        assert_eq!(m.peer.external_id(), "alice");
        assert_eq!(m.platform_message_id, msg.msg_key);
        assert_eq!(
            m.content,
            Content::Text {
                text: "在吗？".into()
            }
        );
    }
    let bad = sb
        .customer_sends_with_bad_sign(&hook, "alice", "shop", "spoof")
        .await
        .unwrap();
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body, "bad_signature");
    assert_eq!(seen.lock().unwrap().len(), 1);

    // The customer's message is in the merchant's roaming history too.
    let now = now_secs() as i64;
    let hist = client(&url)
        .get_roam_msg_all("shop", "alice", now - 60, now + 5, 20)
        .await
        .unwrap();
    assert!(hist.iter().any(|m| m.msg_key == msg.msg_key));
}

#[tokio::test]
async fn rest_sends_echo_back_as_outbound_callbacks() {
    let mut cfg = sandbox_config();
    // The webhook must exist before the sandbox knows its URL.
    let placeholder = channel_config("http://127.0.0.1:9");
    let (hook, seen) = webhook(TencentChannel::new(placeholder).unwrap()).await;
    cfg.callback_url = Some(hook);
    let (_sb, url) = start(cfg).await;
    let mut config = channel_config(&url);
    config.echo_own_sends = true;
    let ch = TencentChannel::new(config).unwrap();
    let out = Outbound {
        message_id: MessageId(77),
        target: direct("alice"),
        content: Content::Text {
            text: "好的".into(),
        },
    };
    let key = ch.send(&out).await.unwrap().platform_message_id.unwrap();
    for _ in 0..50 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.lock().unwrap();
    let InboundEvent::Message(m) = &seen[0] else {
        panic!("{seen:?}")
    };
    assert_eq!(m.direction, Direction::Out);
    assert_eq!(m.platform_message_id, key);
}

#[tokio::test]
async fn imported_accounts_can_be_created_and_unknown_paths_fail() {
    let (sb, url) = start(sandbox_config()).await;
    let c = client(&url);
    c.account_import(&AccountImportRequest {
        user_id: "erin".into(),
        nick: Some("Erin".into()),
        face_url: None,
    })
    .await
    .unwrap();
    assert!(sb.has_account("erin"));
    let too_long = AccountImportRequest {
        user_id: "x".repeat(33),
        ..Default::default()
    };
    assert_eq!(
        c.account_import(&too_long).await.unwrap_err().code(),
        Some(70402)
    );
    assert_eq!(
        c.call_raw("openim/nosuch", &json!({}))
            .await
            .unwrap_err()
            .code(),
        Some(60009)
    );
}

/// Waits until the test webhook has seen `n` events.
async fn wait_for(seen: &Seen, n: usize) -> Vec<InboundEvent> {
    for _ in 0..100 {
        if seen.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn group_recalls_reach_the_webhook_as_recalled_group_messages() {
    let mut cfg = sandbox_config();
    let (hook, seen) =
        webhook(TencentChannel::new(channel_config("http://127.0.0.1:9")).unwrap()).await;
    cfg.callback_url = Some(hook.clone());
    let (sb, url) = start(cfg).await;
    let group = sb.create_group_direct("g1", &["shop", "alice"]);
    let ch = TencentChannel::new(channel_config(&url)).unwrap();
    let target = OutboundTarget {
        kind: ConversationKind::Group,
        peer_external_id: group.clone(),
        ..direct("")
    };
    let out = Outbound {
        message_id: MessageId(5),
        target: target.clone(),
        content: Content::Text {
            text: "公告".into(),
        },
    };
    let id = ch.send(&out).await.unwrap().platform_message_id.unwrap();
    // Our own REST recall is echoed as Group.CallbackAfterRecallMsg.
    ch.recall(&target, &id).await.unwrap();
    let events = wait_for(&seen, 1).await;
    assert!(
        matches!(&events[..], [InboundEvent::Recalled { platform_message_id, .. }] if *platform_message_id == id),
        "{events:?}"
    );
    let (_, cb, _) = sb
        .callbacks()
        .into_iter()
        .find(|(q, _, _)| q.contains("CallbackAfterRecallMsg"))
        .unwrap();
    assert!(
        cb["EventTime"].is_string(),
        "EventTime comes as a string, as documented"
    );
    // A member's recall from their app.
    let (m, _) = sb
        .member_sends_group_text(&hook, &group, "alice", "发错了")
        .await
        .unwrap()
        .unwrap();
    let d = sb
        .member_recalls_group_message(&hook, &group, "alice", m.msg_seq)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, 200);
    let events = wait_for(&seen, 3).await;
    assert!(
        matches!(&events[2], InboundEvent::Recalled { platform_message_id, .. } if *platform_message_id == format!("{group}:{}", m.msg_seq)),
        "{events:?}"
    );
    // Recalling it again, or a message that does not exist, sends nothing.
    assert!(
        sb.member_recalls_group_message(&hook, &group, "alice", m.msg_seq)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        sb.member_recalls_group_message(&hook, "nosuch", "alice", 1)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn customer_reads_reach_the_webhook_as_read_events() {
    let mut cfg = sandbox_config();
    let (hook, seen) =
        webhook(TencentChannel::new(channel_config("http://127.0.0.1:9")).unwrap()).await;
    cfg.callback_url = Some(hook.clone());
    let (sb, url) = start(cfg).await;
    let ch = TencentChannel::new(channel_config(&url)).unwrap();
    let out = Outbound {
        message_id: MessageId(6),
        target: direct("alice"),
        content: Content::Text {
            text: "您好".into(),
        },
    };
    ch.send(&out).await.unwrap();
    let before = now_secs();
    let d = sb.customer_reads(&hook, "alice", "shop").await.unwrap();
    assert_eq!(d.status, 200);
    assert!(sb.received_by("alice")[0].peer_read);
    let events = wait_for(&seen, 1).await;
    let InboundEvent::Read {
        account,
        peer,
        up_to,
    } = &events[0]
    else {
        panic!("{events:?}")
    };
    assert_eq!(account.external_id, "shop");
    assert_eq!(peer.external_id(), "alice");
    assert!(up_to.millis() >= i64::try_from(before).unwrap() * 1000);
    // The merchant marking the customer's messages read (our
    // admin_set_msg_read) is echoed too, and yields no read of ours.
    ch.mark_read(&direct("alice"), "x").await.unwrap();
    for _ in 0..100 {
        if sb
            .callbacks()
            .iter()
            .any(|(q, b, _)| q.contains("CallbackAfterMsgReport") && b["Report_Account"] == "shop")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        sb.callbacks()
            .iter()
            .any(|(q, b, _)| q.contains("CallbackAfterMsgReport") && b["Report_Account"] == "shop")
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn failed_calls_name_no_usersig_and_big_answers_are_refused() {
    use axum::routing::any;
    async fn big() -> String {
        format!(
            r#"{{"ActionStatus":"OK","ErrorCode":0,"Pad":"{}"}}"#,
            "x".repeat(70 * 1024)
        )
    }
    async fn broken() -> (StatusCode, &'static str) {
        (StatusCode::BAD_GATEWAY, "upstream said usersig=leaked")
    }
    async fn garbage() -> &'static str {
        "<html>usersig=leaked</html>"
    }
    async fn odd_fields() -> &'static str {
        r#"{"ActionStatus":"OK","ErrorCode":0,"MsgKey":"usersig-leaked-here","MsgTime":"soon"}"#
    }
    let app = Router::new()
        .route("/big/v4/{s}/{c}", any(big))
        .route("/broken/v4/{s}/{c}", any(broken))
        .route("/garbage/v4/{s}/{c}", any(garbage))
        .route("/odd/v4/{s}/{c}", any(odd_fields));
    let base = serve(app).await;
    let sig = |c: &TencentClient| {
        // The admin sig the client puts in every URL.
        let url = c.url_for("x", "SIG", 1);
        assert!(url.contains("usersig=SIG"));
    };
    let texts = {
        let mut texts = Vec::new();
        for (path, body) in [
            ("big", json!({})),
            ("broken", json!({})),
            ("garbage", json!({})),
        ] {
            let c = client(&format!("{base}/{path}"));
            sig(&c);
            let e = c.call_raw("openim/sendmsg", &body).await.unwrap_err();
            texts.push(e.to_string());
            texts.push(DeliveryError::from(e).to_string());
        }
        let c = client(&format!("{base}/odd"));
        let e = c
            .send_msg(&SendMsgRequest {
                to_account: "alice".into(),
                msg_body: text("hi"),
                ..Default::default()
            })
            .await
            .unwrap_err();
        texts.push(e.to_string());
        // Nobody listens on port 9.
        let e = client("http://127.0.0.1:9")
            .call_raw("openim/sendmsg", &json!({}))
            .await
            .unwrap_err();
        texts.push(e.to_string());
        texts.push(DeliveryError::from(e).to_string());
        texts
    };
    assert!(texts[0].contains("larger than 65536 bytes"), "{texts:?}");
    assert!(texts[2].contains("502"), "{texts:?}");
    for t in &texts {
        assert!(!t.contains("usersig"), "{t}");
        assert!(!t.contains("leaked"), "{t}");
        assert!(!t.contains("127.0.0.1"), "{t}");
        assert!(!t.contains("eJ"), "no UserSig (they start eJ) in {t}");
    }
    // The cap is configurable.
    let roomy = client(&format!("{base}/big")).with_max_response_bytes(128 * 1024);
    roomy.call_raw("openim/sendmsg", &json!({})).await.unwrap();
}
