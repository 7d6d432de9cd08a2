//! The Meituan adapter against the sandbox, over real HTTP on 127.0.0.1:
//! sends, refusals, signature and rate-limit errors, msgRead, connection
//! tokens, userReadTime, and pushes from simulated customers to a webhook
//! that hands them to `MeituanChannel::parse_push`.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::any,
};
use imhub_core::{
    Channel, Content, ConversationKind, DeliveryError, Direction, InboundEvent, MessageId,
    Outbound, OutboundTarget, Peer, Push, PushError, PushOutcome, Timestamp,
};
use imhub_meituan::{
    MeituanChannel, MeituanConfig, MeituanError, PushContentReq,
    client::{PATH_GET_CONNECTION_TOKEN, unix_now},
    sign::Params,
};
use imhub_sandbox::meituan::{CustomerMessage, MeituanSandbox, PushOptions, SandboxApp, router};
use serde_json::json;

const APP_ID: &str = "6543";
const SECRET: &str = "5f3c9a1b2d4e6f70a1b2c3d4e5f60718";
const STORE: &str = "store-1";
const USER: i64 = 880_001;

type Outcomes = Arc<Mutex<Vec<Result<PushOutcome, PushError>>>>;

struct Harness {
    sandbox: MeituanSandbox,
    base_url: String,
    webhook_url: String,
    channel: Arc<MeituanChannel>,
    outcomes: Outcomes,
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn config(base_url: &str, push_url: &str) -> MeituanConfig {
    serde_json::from_value(json!({
        "app_id": APP_ID,
        "app_secret": SECRET,
        "push_url": push_url,
        "base_url": base_url,
    }))
    .unwrap()
}

#[derive(Clone)]
struct Hook {
    channel: Arc<MeituanChannel>,
    outcomes: Outcomes,
}

/// imhub's webhook, reduced to what matters here: parse, keep, answer.
async fn webhook(
    State(hook): State<Hook>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let push = Push {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: body.to_vec(),
        received_at: Timestamp::now(),
    };
    let result = hook.channel.parse_push(&push);
    hook.outcomes.lock().unwrap().push(result.clone());
    match result {
        Ok(outcome) => (
            StatusCode::from_u16(outcome.reply.status).unwrap(),
            [(header::CONTENT_TYPE, outcome.reply.content_type)],
            outcome.reply.body,
        )
            .into_response(),
        Err(e) => (StatusCode::UNAUTHORIZED, e.code()).into_response(),
    }
}

async fn harness_with(app: SandboxApp, registered_push_url: Option<&str>) -> Harness {
    let sandbox = MeituanSandbox::new();
    sandbox.add_app(app).unwrap();
    let base_url = format!("{}/api/v1/", serve(router(sandbox.clone())).await);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook_url = format!(
        "http://{}/webhooks/meituan/1",
        listener.local_addr().unwrap()
    );
    let push_url = registered_push_url.unwrap_or(&webhook_url).to_string();
    let channel = Arc::new(MeituanChannel::new(config(&base_url, &push_url)).unwrap());
    let outcomes: Outcomes = Arc::default();
    let hook = Hook {
        channel: channel.clone(),
        outcomes: outcomes.clone(),
    };
    let app = Router::new()
        .route("/webhooks/meituan/1", any(webhook))
        .with_state(hook);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness {
        sandbox,
        base_url,
        webhook_url,
        channel,
        outcomes,
    }
}

async fn harness() -> Harness {
    harness_with(SandboxApp::new(APP_ID, SECRET, &[STORE]), None).await
}

fn direct(user: i64) -> OutboundTarget {
    OutboundTarget {
        kind: ConversationKind::Direct,
        account_external_id: STORE.into(),
        peer_external_id: user.to_string(),
        reply_context: None,
        last_inbound_at: None,
    }
}

fn outbound(id: i64, target: OutboundTarget, content: Content) -> Outbound {
    Outbound {
        message_id: MessageId(id),
        target,
        content,
    }
}

fn text(t: &str) -> Content {
    Content::Text { text: t.into() }
}

impl Harness {
    fn last_outcome(&self) -> Result<PushOutcome, PushError> {
        self.outcomes.lock().unwrap().last().cloned().unwrap()
    }

    fn last_event(&self) -> InboundEvent {
        let outcome = self.last_outcome().unwrap();
        assert_eq!(outcome.events.len(), 1);
        outcome.events[0].clone()
    }

    fn last_message(&self) -> imhub_core::InboundMessage {
        match self.last_event() {
            InboundEvent::Message(m) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- sending

#[tokio::test]
async fn text_picture_and_goods_reach_the_sandbox_decrypted() {
    let h = harness().await;
    let mut target = direct(USER);
    target.reply_context = Some(json!({"order_id": 27001234567890123_i64}));
    let receipt = h
        .channel
        .send(&outbound(101, target.clone(), text("您好，马上为您处理 ✓")))
        .await
        .unwrap();
    assert_eq!(receipt.platform_message_id.as_deref(), Some("101"));
    let picture = Content::Image {
        url: Some("https://p0.meituan.net/a+b.jpg".into()),
        media_id: None,
        width: None,
        height: None,
    };
    h.channel
        .send(&outbound(102, target.clone(), picture))
        .await
        .unwrap();
    let goods = Content::GoodsCard {
        product_codes: vec!["spu-1".into(), "spu-2".into(), "spu-3".into()],
    };
    h.channel.send(&outbound(103, target, goods)).await.unwrap();

    let got = h.sandbox.messages_for(STORE);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].msg_id, 101);
    assert_eq!(got[0].msg_type, 1);
    assert_eq!(got[0].content.as_deref(), Some("您好，马上为您处理 ✓"));
    assert_eq!(got[0].open_user_id, Some(USER));
    assert_eq!(got[0].order_id, Some(27001234567890123));
    assert_eq!(got[1].msg_type, 2);
    assert_eq!(
        got[1].content.as_deref(),
        Some("https://p0.meituan.net/a+b.jpg")
    );
    assert_eq!(got[2].msg_type, 4);
    assert_eq!(got[2].content, None);
    assert_eq!(got[2].app_spu_codes, vec!["spu-1", "spu-2", "spu-3"]);
}

#[tokio::test]
async fn group_text_is_sent_as_type_11_with_group_id() {
    let h = harness().await;
    let target = OutboundTarget {
        kind: ConversationKind::Group,
        peer_external_id: "5550001".into(),
        ..direct(USER)
    };
    h.channel
        .send(&outbound(201, target, text("群公告")))
        .await
        .unwrap();
    let got = h.sandbox.messages();
    assert_eq!(got[0].msg_type, 11);
    assert_eq!(got[0].group_id, Some(5_550_001));
    assert_eq!(got[0].open_user_id, None);
}

#[tokio::test]
async fn retried_message_keeps_its_msg_id() {
    let h = harness().await;
    let msg = outbound(301, direct(USER), text("once"));
    h.channel.send(&msg).await.unwrap();
    h.channel.send(&msg).await.unwrap();
    assert_eq!(h.sandbox.messages().len(), 1);
    assert_eq!(h.sandbox.duplicate_sends(), 1);
}

#[tokio::test]
async fn order_card_is_refused_before_sending() {
    let h = harness().await;
    let card = Content::OrderCard {
        order_id: "27001234567890123".into(),
        title: None,
    };
    let refusal = h.channel.check_outbound(&direct(USER), &card).unwrap_err();
    assert_eq!(refusal.code, "content_not_supported");
    let err = h
        .channel
        .send(&outbound(401, direct(USER), card))
        .await
        .unwrap_err();
    assert!(matches!(err, DeliveryError::Unsupported { .. }));
    assert!(h.sandbox.messages().is_empty());
    assert!(
        h.sandbox.rejections().is_empty(),
        "nothing reached the sandbox"
    );
}

#[tokio::test]
async fn sandbox_refuses_order_cards_b2c_voice_and_eight_goods_sent_raw() {
    let mut app = SandboxApp::new(APP_ID, SECRET, &[STORE]);
    app.b2c = true;
    let h = harness_with(app, None).await;
    let client = h.channel.client();
    let base = PushContentReq {
        app_id: APP_ID.parse().unwrap(),
        app_poi_code: STORE.into(),
        msg_id: 1,
        msg_content: client.cipher().encrypt("x"),
        msg_source: 1,
        msg_type: 5,
        cts: unix_now(),
        open_user_id: Some(USER),
        order_id: None,
        group_id: None,
        app_spu_codes: None,
    };
    let order = client.send_push_content(&base).await.unwrap_err();
    assert!(matches!(order, MeituanError::AllFailed { .. }), "{order:?}");
    let voice = PushContentReq {
        msg_type: 3,
        ..base.clone()
    };
    assert!(client.send_push_content(&voice).await.is_err());
    let goods = PushContentReq {
        msg_type: 4,
        msg_content: String::new(),
        app_spu_codes: Some("1,2,3,4,5,6,7,8".into()),
        ..base.clone()
    };
    assert!(client.send_push_content(&goods).await.is_err());
    let unencrypted = PushContentReq {
        msg_type: 1,
        msg_content: "plain text".into(),
        ..base.clone()
    };
    assert!(client.send_push_content(&unencrypted).await.is_err());
    let unknown_store = PushContentReq {
        msg_type: 1,
        app_poi_code: "store-9".into(),
        ..base
    };
    assert_eq!(
        client
            .send_push_content(&unknown_store)
            .await
            .unwrap_err()
            .code(),
        Some(803)
    );
    // Integer fields sent as strings are refused, as the reference types them.
    let mut stringly = serde_json::json!({
        "app_id": APP_ID.parse::<i64>().unwrap(), "app_poi_code": STORE, "msg_id": "2",
        "msg_content": client.cipher().encrypt("x"), "msg_source": 1, "msg_type": 1,
        "cts": unix_now(), "open_user_id": USER,
    });
    assert!(client.msg_send(&stringly.to_string()).await.is_err());
    stringly["msg_id"] = serde_json::json!(2.0);
    assert!(client.msg_send(&stringly.to_string()).await.is_err());
    assert!(h.sandbox.messages().is_empty());
    assert_eq!(
        h.sandbox.rejections().len(),
        7,
        "five content refusals and two integer-type refusals"
    );

    // And the channel refuses voice for this b2c app itself.
    let mut cfg = h.channel.config().clone();
    cfg.b2c = true;
    let b2c = MeituanChannel::new(cfg).unwrap();
    let voice = Content::Voice {
        url: Some("https://x/v.amr".into()),
        media_id: None,
        duration_secs: None,
    };
    assert!(b2c.check_outbound(&direct(USER), &voice).is_err());
    let eight = Content::GoodsCard {
        product_codes: (1..=8).map(|i| i.to_string()).collect(),
    };
    assert_eq!(
        b2c.check_outbound(&direct(USER), &eight).unwrap_err().code,
        "too_many_goods"
    );
}

#[tokio::test]
async fn wrong_secret_is_refused_with_703() {
    let h = harness().await;
    let mut cfg = h.channel.config().clone();
    cfg.app_secret = "ffffffffffffffffffffffffffffffff".into();
    let wrong = MeituanChannel::new(cfg).unwrap();
    let err = wrong
        .send(&outbound(501, direct(USER), text("hi")))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Permanent {
            code: "703".into(),
            text: "签名验证错误".into()
        }
    );
    let token_err = wrong.connection_token().await.unwrap_err();
    assert!(matches!(token_err, DeliveryError::Permanent { ref code, .. } if code == "703"));
    assert!(h.sandbox.messages().is_empty());
}

#[tokio::test]
async fn stale_request_timestamp_is_refused() {
    let h = harness().await;
    let err = h
        .channel
        .client()
        .access_api_at(PATH_GET_CONNECTION_TOKEN, Params::new(), unix_now() - 700)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(703));
}

#[tokio::test]
async fn flow_control_answers_711_and_is_rate_limited() {
    let h = harness().await;
    h.sandbox.set_rate_limit(2);
    let mut limited = 0;
    for i in 0..6 {
        match h
            .channel
            .send(&outbound(600 + i, direct(USER), text("burst")))
            .await
        {
            Ok(_) => {}
            Err(DeliveryError::RateLimited { .. }) => limited += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(limited >= 2, "limited {limited}");
    assert!(h.sandbox.rejections().iter().any(|r| r.code == 711));
}

// ------------------------------------------------------- read state, token

#[tokio::test]
async fn mark_read_calls_msg_read_for_direct_conversations() {
    let h = harness().await;
    h.channel
        .mark_read(&direct(USER), "27000000000000042")
        .await
        .unwrap();
    let reads = h.sandbox.reads();
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].msg_id, 27_000_000_000_000_042);
    assert_eq!(reads[0].open_user_id, USER);
    assert_eq!(reads[0].app_poi_code, STORE);
    // Anonymous customers and groups have no read receipt: nothing is sent.
    let anon = OutboundTarget {
        peer_external_id: "anonymous-1".into(),
        ..direct(USER)
    };
    h.channel.mark_read(&anon, "1").await.unwrap();
    assert_eq!(h.sandbox.reads().len(), 1);
}

#[tokio::test]
async fn connection_token_exposes_failed_user_count() {
    let h = harness().await;
    h.sandbox.set_failed_user_count(APP_ID, 3);
    let token = h.channel.connection_token().await.unwrap();
    assert_eq!(token.user_count, 3);
    assert!(!token.connection_token.is_empty());
    assert_eq!(token.app_key, format!("sandbox-appkey-{APP_ID}"));
    assert_eq!(h.sandbox.tokens_issued(), 1);
}

#[tokio::test]
async fn user_read_time_is_read_when_meituan_has_one() {
    let h = harness().await;
    assert_eq!(h.channel.user_read_time(&direct(USER)).await.unwrap(), None);
    h.sandbox
        .set_user_read_time(APP_ID, STORE, USER, 1_763_800_000_123);
    assert_eq!(
        h.channel.user_read_time(&direct(USER)).await.unwrap(),
        Some(Timestamp(1_763_800_000_123))
    );
}

// ------------------------------------------------------------------ pushes

#[tokio::test]
async fn customer_text_push_becomes_an_inbound_message() {
    let h = harness().await;
    let msg = CustomerMessage::text(STORE, USER, "有货吗？100% 要 a+b & c")
        .about_order(27001234567890123);
    let result = h
        .sandbox
        .push_message(APP_ID, &h.webhook_url, &msg)
        .await
        .unwrap();
    assert_eq!(result.status, 200);
    assert_eq!(result.body, r#"{"data":"ok"}"#);
    let outcome = h.last_outcome().unwrap();
    assert_eq!(
        outcome.event_key,
        Some(format!("{APP_ID}:{}", result.msg_id))
    );
    let m = h.last_message();
    assert_eq!(m.direction, Direction::In);
    assert_eq!(m.account.external_id, STORE);
    assert_eq!(m.peer.kind(), ConversationKind::Direct);
    assert_eq!(m.peer.external_id(), USER.to_string());
    assert_eq!(m.platform_message_id, result.msg_id.to_string());
    assert_eq!(m.content, text("有货吗？100% 要 a+b & c"));
    assert_eq!(
        m.reply_context,
        Some(json!({"order_id": 27001234567890123_i64}))
    );

    // A reply quotes the order the conversation is about.
    let target = OutboundTarget {
        reply_context: m.reply_context.clone(),
        ..direct(USER)
    };
    h.channel
        .send(&outbound(701, target, text("已查到订单")))
        .await
        .unwrap();
    assert_eq!(h.sandbox.messages()[0].order_id, Some(27001234567890123));
}

#[tokio::test]
async fn store_reply_from_meituans_app_is_outbound() {
    let h = harness().await;
    let msg = CustomerMessage::text(STORE, USER, "商家版回复").from_store();
    h.sandbox
        .push_message(APP_ID, &h.webhook_url, &msg)
        .await
        .unwrap();
    assert_eq!(h.last_message().direction, Direction::Out);
}

#[tokio::test]
async fn group_and_order_card_pushes_map_to_group_peer_and_order_card() {
    let h = harness().await;
    let group = CustomerMessage::group_text(STORE, 5_550_001, USER, "群里问一下");
    h.sandbox
        .push_message(APP_ID, &h.webhook_url, &group)
        .await
        .unwrap();
    match h.last_message().peer {
        Peer::Group {
            group_id, sender, ..
        } => {
            assert_eq!(group_id, "5550001");
            assert_eq!(sender.unwrap().external_id, USER.to_string());
        }
        other => panic!("expected a group, got {other:?}"),
    }
    let card = CustomerMessage::order_card(STORE, USER, 27001234567890999);
    h.sandbox
        .push_message(APP_ID, &h.webhook_url, &card)
        .await
        .unwrap();
    let m = h.last_message();
    assert_eq!(
        m.content,
        Content::OrderCard {
            order_id: "27001234567890999".into(),
            title: None
        }
    );
    assert_eq!(
        m.reply_context,
        Some(json!({"order_id": 27001234567890999_i64}))
    );
}

#[tokio::test]
async fn stale_push_is_refused() {
    let h = harness().await;
    let opts = PushOptions {
        timestamp: Some(unix_now() - 11 * 60),
        ..PushOptions::default()
    };
    let result = h
        .sandbox
        .push_message_with(
            APP_ID,
            &h.webhook_url,
            &CustomerMessage::text(STORE, USER, "old"),
            &opts,
        )
        .await
        .unwrap();
    assert_ne!(result.status, 200);
    assert_eq!(h.last_outcome().unwrap_err(), PushError::Stale);
}

#[tokio::test]
async fn push_with_bad_signature_is_refused() {
    let h = harness().await;
    let result = h
        .sandbox
        .push_with_wrong_signature(
            APP_ID,
            &h.webhook_url,
            &CustomerMessage::text(STORE, USER, "x"),
        )
        .await
        .unwrap();
    assert_ne!(result.status, 200);
    assert_eq!(h.last_outcome().unwrap_err(), PushError::BadSignature);
}

#[tokio::test]
async fn undecryptable_content_is_kept_as_unprocessable_and_answered_ok() {
    let h = harness().await;
    let opts = PushOptions {
        raw_msg_content: Some("bm90IGVuY3J5cHRlZA==".into()),
        ..PushOptions::default()
    };
    let result = h
        .sandbox
        .push_message_with(
            APP_ID,
            &h.webhook_url,
            &CustomerMessage::text(STORE, USER, "x"),
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(result.status, 200);
    assert_eq!(result.body, r#"{"data":"ok"}"#);
    match h.last_event() {
        InboundEvent::Unprocessable { reason } => {
            assert!(reason.contains("msg_content does not decrypt"), "{reason}")
        }
        other => panic!("expected unprocessable, got {other:?}"),
    }
}

#[tokio::test]
async fn anonymous_customers_are_never_merged_into_one_conversation() {
    let h = harness().await;
    let msg = CustomerMessage::text(STORE, -1, "匿名用户");
    let first = h
        .sandbox
        .push_message(APP_ID, &h.webhook_url, &msg)
        .await
        .unwrap();
    let a = h.last_message();
    h.sandbox
        .push_message(APP_ID, &h.webhook_url, &msg)
        .await
        .unwrap();
    let b = h.last_message();
    assert_ne!(a.peer.external_id(), b.peer.external_id());
    assert_eq!(a.peer.external_id(), format!("anonymous-{}", first.msg_id));
    // Such a peer cannot be answered.
    let target = OutboundTarget {
        peer_external_id: a.peer.external_id().to_string(),
        ..direct(USER)
    };
    assert_eq!(
        h.channel
            .check_outbound(&target, &text("hi"))
            .unwrap_err()
            .code,
        "recipient_unknown"
    );
}

#[tokio::test]
async fn push_signed_over_the_registered_url_verifies_behind_a_proxy() {
    let registered = "https://imhub.example.com/webhooks/meituan/1";
    let h = harness_with(SandboxApp::new(APP_ID, SECRET, &[STORE]), Some(registered)).await;
    let opts = PushOptions {
        registered_url: Some(registered.into()),
        ..PushOptions::default()
    };
    let result = h
        .sandbox
        .push_message_with(
            APP_ID,
            &h.webhook_url,
            &CustomerMessage::text(STORE, USER, "via proxy"),
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(result.status, 200);
    assert_eq!(h.last_message().content, text("via proxy"));
    // Signed over the URL the server sees instead: refused.
    h.sandbox
        .push_message(
            APP_ID,
            &h.webhook_url,
            &CustomerMessage::text(STORE, USER, "x"),
        )
        .await
        .unwrap();
    assert_eq!(h.last_outcome().unwrap_err(), PushError::BadSignature);
    let _ = &h.base_url;
}

#[tokio::test]
async fn console_probe_is_answered_ok_without_events() {
    let h = harness().await;
    let response = reqwest::get(&h.webhook_url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"data":"ok"}"#);
    assert!(h.last_outcome().unwrap().events.is_empty());
}

#[tokio::test]
async fn failed_calls_never_name_the_access_token_or_the_remote_body() {
    use imhub_meituan::{client::MeituanClient, crypto::AesMode};
    async fn big() -> String {
        format!(r#"{{"data":"{}"}}"#, "x".repeat(70 * 1024))
    }
    async fn broken() -> (StatusCode, &'static str) {
        (StatusCode::BAD_GATEWAY, "proxy saw access_token=tok-LEAK")
    }
    async fn teapot() -> (StatusCode, &'static str) {
        (StatusCode::IM_A_TEAPOT, "tok-LEAK")
    }
    async fn garbage() -> &'static str {
        "<html>tok-LEAK</html>"
    }
    async fn refused() -> &'static str {
        r#"{"data":"ng","error":{"code":703,"msg":"签名验证错误"}}"#
    }
    async fn odd_token() -> &'static str {
        r#"{"data":{"connectionToken":{"x":"tok-LEAK"},"userCount":"many"}}"#
    }
    let app = Router::new()
        .route("/big/{*p}", any(big))
        .route("/broken/{*p}", any(broken))
        .route("/teapot/{*p}", any(teapot))
        .route("/garbage/{*p}", any(garbage))
        .route("/refused/{*p}", any(refused))
        .route("/odd/{*p}", any(odd_token));
    let base = serve(app).await;
    let client = |path: &str| {
        MeituanClient::new(
            APP_ID,
            SECRET,
            Some(&format!("{base}/{path}/")),
            AesMode::Cbc,
        )
        .unwrap()
        .with_access_token(Some("tok-LEAK".into()))
    };
    let mut texts = Vec::new();
    for path in ["big", "broken", "teapot", "garbage", "refused", "odd"] {
        let e = client(path).get_connection_token().await.unwrap_err();
        texts.push((path, e.to_string(), e.classify().to_string()));
    }
    // Nobody listens on port 9.
    let e = MeituanClient::new(APP_ID, SECRET, Some("http://127.0.0.1:9/"), AesMode::Cbc)
        .unwrap()
        .with_access_token(Some("tok-LEAK".into()))
        .get_connection_token()
        .await
        .unwrap_err();
    texts.push((
        "refused connection",
        e.to_string(),
        e.classify().to_string(),
    ));
    for (what, text, class) in &texts {
        for t in [text, class] {
            assert!(!t.contains("tok-LEAK"), "{what}: {t}");
            assert!(!t.contains("access_token"), "{what}: {t}");
            assert!(!t.contains("sig="), "{what}: {t}");
            assert!(!t.contains("127.0.0.1"), "{what}: {t}");
            assert!(!t.contains(SECRET), "{what}: {t}");
        }
    }
    assert!(texts[0].1.contains("larger than 65536 bytes"), "{texts:?}");
    assert_eq!(texts[1].1, "HTTP 502");
    assert_eq!(
        texts[2].2,
        "platform refused (http_418): meituan answered HTTP 418"
    );
    assert!(
        texts[4].1.contains("703"),
        "Meituan's own code and text stay: {texts:?}"
    );
    // The cap is configurable.
    let roomy = client("big").with_max_response_bytes(128 * 1024);
    assert!(!matches!(
        roomy
            .access_api(PATH_GET_CONNECTION_TOKEN, Params::new())
            .await,
        Err(MeituanError::BadResponse(_))
    ));
}
