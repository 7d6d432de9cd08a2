//! The Douyin adapter against the sandbox over real HTTP on 127.0.0.1: the QR
//! authorization, sends of every common kind, recall, groups, fan groups,
//! cards, image upload, token refresh, revocation and signed webhooks.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router, body::Bytes, extract::State, http::HeaderMap, response::IntoResponse, routing::post,
};
use imhub_core::{
    Channel, Content, ConversationKind, DeliveryError, InboundEvent, MessageId, Outbound,
    OutboundTarget, Peer, Push, PushError, PushOutcome, Timestamp,
};
use imhub_douyin::{
    DouyinChannel, DouyinConfig, DouyinError, ErrorClass, MemoryTokenStore, Secret, TokenStore,
    UserTokens,
    cards::{
        QueryAppletTemplateRequest, SaveAppletTemplateRequest, SaveLeadCardRequest, component,
    },
    groups::{AuditDecision, CreateFansGroupRequest, GroupSettingType},
    messages::MessageContent,
};
use imhub_sandbox::douyin::{CustomerMessage, DouyinSandbox};

const KEY: &str = "awx_sandbox_key";
const SECRET: &str = "sandbox_client_secret";
const SHOP: &str = "b_open_shop";
const CUSTOMER: &str = "c_open_wang";
const ALL_SCOPES: &[&str] = &[
    "im.direct_message",
    "im.group_message",
    "im.recall_message",
    "im.message_card",
];

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    format!("http://{addr}")
}

type Outcomes = Arc<Mutex<Vec<Result<PushOutcome, PushError>>>>;

/// A stand-in for imhub's webhook endpoint: verify + parse through the
/// channel, answer with the channel's reply (401 on a bad signature).
async fn webhook(
    State((channel, outcomes)): State<(Arc<DouyinChannel>, Outcomes)>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let push = Push {
        method: "POST".into(),
        path: "/webhooks/douyin/1".into(),
        query: None,
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_ascii_lowercase(),
                    v.to_str().unwrap_or("").to_string(),
                )
            })
            .collect(),
        body: body.to_vec(),
        received_at: Timestamp::now(),
    };
    let out = channel.parse_push(&push);
    let resp = match &out {
        Ok(o) => (
            axum::http::StatusCode::from_u16(o.reply.status).unwrap(),
            o.reply.body.clone(),
        )
            .into_response(),
        Err(PushError::BadSignature) => {
            (axum::http::StatusCode::UNAUTHORIZED, "bad signature").into_response()
        }
        Err(e) => (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    outcomes.lock().unwrap().push(out);
    resp
}

struct Env {
    sandbox: DouyinSandbox,
    channel: Arc<DouyinChannel>,
    store: MemoryTokenStore,
    outcomes: Outcomes,
}

impl Env {
    async fn new(scopes: &[&str]) -> Env {
        let sandbox = DouyinSandbox::new();
        sandbox.add_app(KEY, SECRET);
        sandbox.add_account(SHOP, "小店旗舰店");
        sandbox.add_customer(CUSTOMER, Some("小王"), Some("https://p3.example/wang.jpeg"));
        sandbox.set_echo_sends(false);
        let base = serve(imhub_sandbox::douyin::router(sandbox.clone())).await;
        let mut config = DouyinConfig::new(KEY, SECRET);
        config.base_url = Some(base);
        let store = MemoryTokenStore::new();
        let channel = Arc::new(DouyinChannel::new(config, Arc::new(store.clone())).unwrap());
        let outcomes: Outcomes = Arc::default();
        let hook = Router::new()
            .route("/webhooks/douyin/1", post(webhook))
            .with_state((channel.clone(), outcomes.clone()));
        let hook_base = serve(hook).await;
        sandbox.set_webhook_url(KEY, &format!("{hook_base}/webhooks/douyin/1"));
        if !scopes.is_empty() {
            let t = sandbox.authorize_directly(KEY, SHOP, scopes);
            let now = Timestamp::now().millis();
            store.put(UserTokens {
                open_id: t.open_id,
                access_token: Secret::new(t.access_token),
                access_expires_at: now + t.expires_in * 1000,
                refresh_token: Secret::new(t.refresh_token),
                refresh_expires_at: now + t.refresh_expires_in * 1000,
                scope: String::new(),
                renewals: 0,
            });
        }
        Env {
            sandbox,
            channel,
            store,
            outcomes,
        }
    }

    fn last_outcome(&self) -> Result<PushOutcome, PushError> {
        self.outcomes.lock().unwrap().last().cloned().unwrap()
    }

    /// The customer writes; returns the target imhub would build for a reply.
    async fn customer_writes(&self, text: &str) -> OutboundTarget {
        let d = self
            .sandbox
            .customer(KEY, SHOP, CUSTOMER)
            .send(CustomerMessage::Text(text.into()))
            .await
            .unwrap();
        assert_eq!(d.status, 200);
        let out = self.last_outcome().unwrap();
        let InboundEvent::Message(m) = &out.events[0] else {
            panic!("{:?}", out.events)
        };
        OutboundTarget {
            kind: ConversationKind::Direct,
            account_external_id: m.account.external_id.clone(),
            peer_external_id: m.peer.external_id().to_string(),
            reply_context: m.reply_context.clone(),
            last_inbound_at: Some(m.sent_at),
        }
    }

    async fn send(
        &self,
        target: &OutboundTarget,
        content: Content,
    ) -> Result<String, DeliveryError> {
        self.channel.check_outbound(target, &content).unwrap();
        let r = self
            .channel
            .send(&Outbound {
                message_id: MessageId(1),
                target: target.clone(),
                content,
            })
            .await?;
        Ok(r.platform_message_id.unwrap())
    }

    async fn client_token(&self) -> Secret {
        self.channel.tokens().client_token().await.unwrap()
    }

    async fn upload_png(&self) -> String {
        let clt = self.client_token().await;
        self.channel
            .client()
            .upload_image(&clt, PNG)
            .await
            .unwrap()
            .image_id
    }
}

fn text(t: &str) -> Content {
    Content::Text { text: t.into() }
}

#[tokio::test]
async fn qr_authorization_grants_code_and_stores_tokens() {
    let env = Env::new(&[]).await;
    let url = env
        .channel
        .authorize_url("https://imhub.example/douyin/callback", "state-7")
        .unwrap();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "state-7");
    let tokens = env
        .channel
        .complete_authorization(&q["code"])
        .await
        .unwrap();
    assert_eq!(tokens.open_id, SHOP);
    assert!(tokens.access_token.expose().starts_with("act."));
    assert!(!tokens.scope.contains("im."), "IM scopes are not echoed");
    assert_eq!(env.store.load(SHOP).await.unwrap().unwrap(), tokens);
    // A code is single use.
    let again = env
        .channel
        .complete_authorization(&q["code"])
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some(10007));
    // The token works for the IM API although the scope was not echoed.
    let target = env.customer_writes("你好").await;
    env.send(&target, text("您好，请问有什么可以帮您？"))
        .await
        .unwrap();
}

#[tokio::test]
async fn authorize_page_refuses_plain_http_redirect() {
    let env = Env::new(&[]).await;
    let base = env.channel.config().base_url().to_string();
    let resp = reqwest::get(format!(
        "{base}/platform/oauth/connect/?client_key={KEY}&response_type=code&scope=im.direct_message&redirect_uri=http://a.example/cb"
    ))
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["data"]["error_code"], 10006);
}

#[tokio::test]
async fn replies_carry_text_uploaded_image_and_lead_card_in_order() {
    let env = Env::new(ALL_SCOPES).await;
    let target = env.customer_writes("在吗").await;
    let image_id = env.upload_png().await;
    let auth = env.channel.tokens().user_auth(SHOP).await.unwrap();
    let card = env
        .channel
        .client()
        .save_lead_card(
            &auth,
            &SaveLeadCardRequest {
                card_id: None,
                title: "留下联系方式".into(),
                media_id: image_id.clone(),
                components: vec![component::NAME, component::PHONE, component::CITY],
            },
        )
        .await
        .unwrap()
        .card_id;

    let m1 = env.send(&target, text("在的")).await.unwrap();
    let m2 = env
        .send(
            &target,
            Content::Image {
                url: None,
                media_id: Some(image_id.clone()),
                width: None,
                height: None,
            },
        )
        .await
        .unwrap();
    let m3 = env
        .send(
            &target,
            Content::LeadCard {
                card_id: card.clone(),
                title: None,
                status: None,
                fields: Vec::new(),
            },
        )
        .await
        .unwrap();

    let sent = env.sandbox.sent_messages(SHOP);
    assert_eq!(
        sent.iter().map(|m| m.msg_id.clone()).collect::<Vec<_>>(),
        vec![m1, m2, m3]
    );
    let ctx = target.reply_context.as_ref().unwrap();
    for m in &sent {
        assert_eq!(m.reply_to.as_deref(), ctx["msg_id"].as_str());
        assert_eq!(m.conversation_id, ctx["conversation_id"].as_str().unwrap());
        assert_eq!(m.to_user_id.as_deref(), Some(CUSTOMER));
    }
    assert_eq!(sent[1].contents[0]["image"]["media_id"], image_id.as_str());
    assert_eq!(
        sent[2].contents[0]["retain_consult_card"]["card_id"],
        card.as_str()
    );
    // The lead card can be listed and deleted again.
    let cards = env
        .channel
        .client()
        .list_lead_cards(&auth)
        .await
        .unwrap()
        .cards;
    assert_eq!(cards[0].components, vec![1, 2, 3]);
    env.channel
        .client()
        .delete_lead_card(&auth, &card)
        .await
        .unwrap();
    assert!(env.sandbox.lead_cards(SHOP).is_empty());
}

#[tokio::test]
async fn image_that_was_never_uploaded_is_refused_by_the_platform() {
    let env = Env::new(ALL_SCOPES).await;
    let target = env.customer_writes("图呢").await;
    let err = env
        .send(
            &target,
            Content::Image {
                url: None,
                media_id: Some("@never".into()),
                width: None,
                height: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DeliveryError::Permanent { ref code, .. } if code == "28001007"),
        "{err:?}"
    );
}

#[tokio::test]
async fn sent_message_can_be_recalled_once() {
    let env = Env::new(ALL_SCOPES).await;
    let target = env.customer_writes("hi").await;
    let msg_id = env.send(&target, text("发错了")).await.unwrap();
    env.channel.recall(&target, &msg_id).await.unwrap();
    let recalls = env.sandbox.recalls();
    assert_eq!(recalls.len(), 1);
    assert_eq!(recalls[0].msg_id, msg_id);
    assert_eq!(recalls[0].conversation_type, 1);
    let again = env.channel.recall(&target, &msg_id).await.unwrap_err();
    assert!(matches!(again, DeliveryError::Permanent { .. }));
}

#[tokio::test]
async fn group_message_is_sent_and_recalled() {
    let env = Env::new(ALL_SCOPES).await;
    let group_id = env.sandbox.add_group(SHOP, "粉丝福利群");
    // A member writes in the group: parsed as a group message with its sender.
    env.sandbox
        .customer(KEY, SHOP, CUSTOMER)
        .send_in_group(&group_id, CustomerMessage::Text("群里有人吗".into()))
        .await
        .unwrap();
    let out = env.last_outcome().unwrap();
    let InboundEvent::Message(m) = &out.events[0] else {
        panic!()
    };
    assert!(
        matches!(&m.peer, Peer::Group { group_id: g, sender: Some(s), .. } if *g == group_id && s.nickname.as_deref() == Some("小王"))
    );

    let target = OutboundTarget {
        kind: ConversationKind::Group,
        account_external_id: SHOP.into(),
        peer_external_id: group_id.clone(),
        reply_context: m.reply_context.clone(),
        last_inbound_at: None,
    };
    let msg_id = env.send(&target, text("欢迎大家")).await.unwrap();
    let sent = env.sandbox.sent_messages(SHOP);
    assert_eq!(sent[0].group_id.as_deref(), Some(group_id.as_str()));
    env.channel.recall(&target, &msg_id).await.unwrap();
    assert_eq!(env.sandbox.recalls()[0].conversation_type, 2);
    // Groups cannot carry a coupon.
    let coupon = Content::Custom {
        data: serde_json::json!({"msg_type": 11, "applet_coupon": {"activity_id": 1, "coupon_meta_id": 2}}),
        description: None,
    };
    assert_eq!(
        env.channel
            .check_outbound(&target, &coupon)
            .unwrap_err()
            .code,
        "content_not_supported"
    );
}

#[tokio::test]
async fn fan_group_calls_follow_the_seed_client() {
    let env = Env::new(ALL_SCOPES).await;
    let c = env.channel.client();
    let auth = env.channel.tokens().user_auth(SHOP).await.unwrap();
    env.sandbox.set_fans_quota(SHOP, 1);
    assert_eq!(c.fans_group_count(&auth).await.unwrap().left_count, 1);
    let req = CreateFansGroupRequest {
        avatar_uri: Some("https://p3.example/g.jpeg".into()),
        description: Some("老粉福利".into()),
        group_type: Some(2),
        open_audit_switch: Some(1),
        allow_invite: Some(1),
        ..CreateFansGroupRequest::named("福利群")
    };
    let group_id = c.create_fans_group(&auth, &req).await.unwrap().group_id;
    let exhausted = c.create_fans_group(&auth, &req).await.unwrap_err();
    assert_eq!(exhausted.code(), Some(28_003_017));
    assert_eq!(exhausted.class(), ErrorClass::RateLimited);
    let list = c.list_fans_groups(&auth).await.unwrap().group_list;
    assert_eq!(
        (list[0].group_id.as_str(), list[0].status.as_str()),
        (group_id.as_str(), "Normal")
    );

    c.set_group_setting(
        &auth,
        &group_id,
        GroupSettingType::Welcome,
        vec![MessageContent::text("欢迎")],
    )
    .await
    .unwrap();
    c.set_group_setting(
        &auth,
        &group_id,
        GroupSettingType::Notice,
        vec![MessageContent::text("群规")],
    )
    .await
    .unwrap();
    c.disable_group_setting(&auth, &group_id, GroupSettingType::Welcome)
        .await
        .unwrap();
    let g = &env.sandbox.groups(SHOP)[0];
    assert_eq!(g.settings.keys().copied().collect::<Vec<_>>(), vec![2]);

    let a1 = env.sandbox.add_join_request(&group_id, "c_1");
    let a2 = env.sandbox.add_join_request(&group_id, "c_2");
    assert!(matches!(
        c.list_enter_audits(&auth, 0, 51).await,
        Err(DouyinError::InvalidRequest(_))
    ));
    let page = c.list_enter_audits(&auth, 0, 1).await.unwrap().apply_list;
    assert!(page.has_more);
    assert_eq!(page.list[0].apply_id, a1);
    let page2 = c
        .list_enter_audits(&auth, page.cursor, 50)
        .await
        .unwrap()
        .apply_list;
    assert_eq!(
        (page2.list[0].apply_id.as_str(), page2.has_more),
        (a2.as_str(), false)
    );
    assert!(
        c.set_enter_audit(&auth, &a1, AuditDecision::Approve)
            .await
            .unwrap()
            .success
    );
    assert!(
        c.set_enter_audit(&auth, &a2, AuditDecision::Reject)
            .await
            .unwrap()
            .success
    );
    let statuses: Vec<i64> = env
        .sandbox
        .join_requests(&group_id)
        .iter()
        .map(|a| a.apply_status)
        .collect();
    assert_eq!(statuses, vec![2, 3]);

    // The dissenting count path of one SDK does not exist.
    let base = env.channel.config().base_url();
    let r = reqwest::get(format!("{base}/im/group/count/?open_id={SHOP}"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn guide_card_templates_are_managed_with_the_client_token_and_sent() {
    let env = Env::new(ALL_SCOPES).await;
    let c = env.channel.client();
    let media_id = env.upload_png().await;
    let clt = env.client_token().await;
    let req = SaveAppletTemplateRequest {
        card_template_id: None,
        card_type: 1,
        title: "领取优惠".into(),
        content: "点击进入小程序".into(),
        media_id,
        app_id: "tt_mini".into(),
    };
    let id = c.save_applet_template(&clt, &req).await.unwrap();
    assert_eq!(
        c.save_applet_template(&clt, &req).await.unwrap(),
        id,
        "identical template dedupes"
    );
    let page = c
        .query_applet_templates(
            &clt,
            &QueryAppletTemplateRequest {
                count: Some(10),
                cursor: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.list[0].card_template_id, id);
    // One client_token served every call.
    assert_eq!(env.sandbox.client_token_calls(KEY), 1);

    let target = env.customer_writes("有优惠吗").await;
    env.send(
        &target,
        Content::MiniProgramCard {
            card_id: id.clone(),
            title: None,
            app_id: Some("tt_mini".into()),
            path: Some("pages/coupon?from=dm".into()),
            cover_url: None,
        },
    )
    .await
    .unwrap();
    let sent = env.sandbox.sent_messages(SHOP);
    assert_eq!(
        sent[0].contents[0]["applet_card"]["query"],
        r#"{"from":"dm"}"#
    );
    c.delete_applet_template(&clt, &id).await.unwrap();
    assert!(env.sandbox.templates().is_empty());
    // A user token is not a client token.
    let user = env.channel.tokens().user_auth(SHOP).await.unwrap();
    assert!(
        c.delete_applet_template(&user.access_token, &id)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn expired_access_token_is_refreshed_transparently() {
    let env = Env::new(ALL_SCOPES).await;
    let target = env.customer_writes("在吗").await;
    let before = env.store.get(SHOP).unwrap();
    env.sandbox.expire_access_tokens(SHOP);
    env.send(&target, text("在的")).await.unwrap();
    let after = env.store.get(SHOP).unwrap();
    assert_ne!(before.access_token, after.access_token);
    assert_eq!(before.refresh_token, after.refresh_token);
    assert_eq!(env.sandbox.sent_messages(SHOP).len(), 1);
}

#[tokio::test]
async fn token_close_to_expiry_is_refreshed_before_the_call() {
    let env = Env::new(ALL_SCOPES).await;
    let target = env.customer_writes("在吗").await;
    let mut t = env.store.get(SHOP).unwrap();
    let old = t.access_token.clone();
    t.access_expires_at = Timestamp::now().millis() + 3_600_000;
    env.store.put(t);
    env.send(&target, text("在的")).await.unwrap();
    // The platform's token had not expired: the refresh keeps it and moves
    // its expiry ("若 access_token 未过期 … 超时时间会更新").
    let after = env.store.get(SHOP).unwrap();
    assert_eq!(after.access_token, old);
    assert!(after.access_expires_at > Timestamp::now().millis() + 14 * 24 * 3_600_000);
}

#[tokio::test]
async fn refresh_token_close_to_expiry_is_renewed_and_counted() {
    let env = Env::new(ALL_SCOPES).await;
    let mut t = env.store.get(SHOP).unwrap();
    let old = t.refresh_token.clone();
    t.refresh_expires_at = Timestamp::now().millis() + 24 * 3_600_000;
    env.store.put(t);
    env.channel.tokens().user_auth(SHOP).await.unwrap();
    let t = env.store.get(SHOP).unwrap();
    assert_ne!(t.refresh_token, old);
    assert_eq!(t.renewals, 1);
    assert!(t.refresh_expires_at > Timestamp::now().millis() + 29 * 24 * 3_600_000);
}

#[tokio::test]
async fn revoked_authorization_is_a_clear_auth_error() {
    let env = Env::new(ALL_SCOPES).await;
    let target = env.customer_writes("在吗").await;
    env.sandbox
        .push_authorization(KEY, SHOP, "contract_unauthorize", &["im.direct_message"])
        .await
        .unwrap();
    assert!(matches!(
        &env.last_outcome().unwrap().events[0],
        InboundEvent::AccountAuthorization { authorized: false, account, .. } if account.external_id == SHOP
    ));
    let err = env.send(&target, text("在的")).await.unwrap_err();
    assert!(matches!(err, DeliveryError::AuthExpired { .. }), "{err:?}");
    assert!(
        env.store
            .reauthorization_reason(SHOP)
            .unwrap()
            .contains("10010")
    );
}

#[tokio::test]
async fn expired_refresh_token_requires_reauthorization() {
    let env = Env::new(ALL_SCOPES).await;
    env.sandbox.expire_access_tokens(SHOP);
    env.sandbox.expire_refresh_tokens(SHOP);
    let client = env.channel.client();
    let err = env
        .channel
        .call_as(
            SHOP,
            |auth| async move { client.fans_group_count(&auth).await },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, DouyinError::ReauthorizationRequired { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn missing_scope_and_bad_msg_id_keep_the_platform_code() {
    let env = Env::new(&["im.direct_message"]).await;
    let group = OutboundTarget {
        kind: ConversationKind::Group,
        account_external_id: SHOP.into(),
        peer_external_id: env.sandbox.add_group(SHOP, "g"),
        reply_context: None,
        last_inbound_at: None,
    };
    let err = env.send(&group, text("hi")).await.unwrap_err();
    assert!(
        matches!(err, DeliveryError::Permanent { ref code, .. } if code == "28001012"),
        "{err:?}"
    );
    let mut target = env.customer_writes("在吗").await;
    target.reply_context = Some(serde_json::json!({"msg_id": "@forged", "conversation_id": "@c"}));
    let err = env.send(&target, text("x")).await.unwrap_err();
    assert!(
        matches!(err, DeliveryError::Permanent { ref code, .. } if code == "28001007"),
        "{err:?}"
    );
}

#[tokio::test]
async fn platform_refuses_a_reply_after_24_hours() {
    let env = Env::new(ALL_SCOPES).await;
    let mut target = env.customer_writes("在吗").await;
    env.sandbox.advance_clock(Duration::from_secs(25 * 3600));
    // Our own check would refuse first; pretend the clock of imhub lagged.
    target.last_inbound_at = Some(Timestamp::now());
    let err = env
        .channel
        .send(&Outbound {
            message_id: MessageId(2),
            target,
            content: text("晚了"),
        })
        .await
        .unwrap_err();
    // The platform's code for an expired reply window has no trustworthy
    // source (reference §10): the sandbox answers a stand-in, so only the
    // classification is asserted, never a specific code.
    assert!(matches!(err, DeliveryError::Permanent { .. }), "{err:?}");
}

#[tokio::test]
async fn entering_the_chat_allows_a_reply_in_the_enter_scene() {
    let env = Env::new(ALL_SCOPES).await;
    env.sandbox
        .customer(KEY, SHOP, CUSTOMER)
        .enter_chat()
        .await
        .unwrap();
    let out = env.last_outcome().unwrap();
    let InboundEvent::ChatOpened {
        contact,
        reply_context,
        at,
        ..
    } = &out.events[0]
    else {
        panic!("{:?}", out.events)
    };
    assert_eq!(contact.nickname.as_deref(), Some("小王"));
    let target = OutboundTarget {
        kind: ConversationKind::Direct,
        account_external_id: SHOP.into(),
        peer_external_id: CUSTOMER.into(),
        reply_context: reply_context.clone(),
        last_inbound_at: Some(*at),
    };
    // Without the enter scene, Douyin refuses an answer to an enter event.
    let mut sceneless = target.clone();
    if let Some(ctx) = sceneless
        .reply_context
        .as_mut()
        .and_then(|c| c.as_object_mut())
    {
        ctx.remove("scene");
    }
    let refused = env.send(&sceneless, text("欢迎光临")).await;
    assert!(
        matches!(&refused, Err(DeliveryError::Permanent { text, .. }) if text.contains("im_enter_direct_msg")),
        "{refused:?}"
    );
    assert!(env.sandbox.sent_messages(SHOP).is_empty());
    env.send(&target, text("欢迎光临")).await.unwrap();
    assert_eq!(
        env.sandbox.sent_messages(SHOP)[0].scene.as_deref(),
        Some("im_enter_direct_msg")
    );
}

#[tokio::test]
async fn every_customer_message_type_is_parsed() {
    let env = Env::new(ALL_SCOPES).await;
    // Object content is the default; the JSON-string form must parse too.
    let who = env
        .sandbox
        .customer(KEY, SHOP, "c_anonymous")
        .with_string_content();
    let kinds = vec![
        CustomerMessage::Text("你好".into()),
        CustomerMessage::Image,
        CustomerMessage::UserLocalImage,
        CustomerMessage::Emoji {
            url: "https://e.example/1.gif".into(),
        },
        CustomerMessage::Video {
            item_id: "7000000001".into(),
        },
        CustomerMessage::UserLocalVideo,
        CustomerMessage::LeadCardSubmission {
            card_id: "card".into(),
            fields: vec![
                ("姓名".into(), "王".into()),
                ("手机号".into(), "138****0000".into()),
            ],
        },
        CustomerMessage::Other,
    ];
    let mut contents = Vec::new();
    for k in kinds {
        who.send(k).await.unwrap();
        let InboundEvent::Message(m) = env.last_outcome().unwrap().events[0].clone() else {
            panic!()
        };
        let Peer::Direct(c) = &m.peer else { panic!() };
        assert_eq!(c.nickname, None, "no user info: imhub shows 匿名");
        contents.push(m.content.kind().as_str());
    }
    assert_eq!(
        contents,
        vec![
            "text",
            "image",
            "image",
            "emoji",
            "video",
            "video",
            "lead_card",
            "text"
        ]
    );
}

#[tokio::test]
async fn user_local_image_can_be_fetched() {
    let env = Env::new(ALL_SCOPES).await;
    let d = env
        .sandbox
        .customer(KEY, SHOP, CUSTOMER)
        .send(CustomerMessage::UserLocalImage)
        .await
        .unwrap();
    let auth = env.channel.tokens().user_auth(SHOP).await.unwrap();
    let r = env
        .channel
        .client()
        .message_resource(
            &auth,
            d.conversation_id.as_deref().unwrap(),
            d.server_message_id.as_deref().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.media_type, "image");
    assert!(r.url.starts_with("https://"));
}

#[tokio::test]
async fn bad_webhook_signature_is_refused_and_duplicates_keep_their_msg_id() {
    let env = Env::new(ALL_SCOPES).await;
    let who = env.sandbox.customer(KEY, SHOP, CUSTOMER);
    let bad = who
        .send_with_wrong_signature(CustomerMessage::Text("x".into()))
        .await
        .unwrap();
    assert_eq!(bad.status, 401);
    assert_eq!(env.last_outcome().unwrap_err(), PushError::BadSignature);

    let d = who
        .send(CustomerMessage::Text("第一次".into()))
        .await
        .unwrap();
    let first = env.last_outcome().unwrap();
    let again = env.sandbox.redeliver(&d, KEY).await.unwrap();
    assert_eq!(again.status, 200);
    let second = env.last_outcome().unwrap();
    assert_eq!(first.event_key, second.event_key);
    assert_eq!(first.event_key.as_deref(), Some(d.msg_id.as_str()));
}

#[tokio::test]
async fn webhook_handshake_echoes_the_challenge() {
    let env = Env::new(&[]).await;
    let d = env.sandbox.push_verify_webhook(KEY, 12345).await.unwrap();
    assert_eq!(d.status, 200);
    assert_eq!(d.response, br#"{"challenge":12345}"#.to_vec());
}

/// The platform echoes an API send as `im_send_msg` with `source` = our
/// client_key; imhub already holds that message, so the echo is verified and
/// acknowledged but yields no second message (it may even arrive before the
/// send's answer, see `DouyinChannel::parse_push`).
#[tokio::test]
async fn api_send_echo_is_acknowledged_without_a_second_message() {
    let env = Env::new(ALL_SCOPES).await;
    env.sandbox.set_echo_sends(true);
    let target = env.customer_writes("在吗").await;
    env.send(&target, text("在的")).await.unwrap();
    for _ in 0..50 {
        if env.outcomes.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(env.outcomes.lock().unwrap().len(), 2, "the echo arrived");
    let echo = env.last_outcome().unwrap();
    assert!(echo.events.is_empty(), "{:?}", echo.events);
    assert!(echo.event_key.is_some());
}

#[tokio::test]
async fn malformed_body_and_unknown_customer_are_refused_with_the_platform_envelope() {
    let env = Env::new(ALL_SCOPES).await;
    let base = env.channel.config().base_url().to_string();
    let token = env.store.get(SHOP).unwrap().access_token;
    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .post(format!("{base}/im/send/msg/?open_id={SHOP}"))
        .header("access-token", token.expose())
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["extra"]["error_code"], 28_001_007);
    assert!(r["extra"]["logid"].is_string());
    // Another account's open_id with this token.
    let r: serde_json::Value = http
        .post(format!("{base}/im/send/msg/?open_id=someone_else"))
        .header("access-token", token.expose())
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["extra"]["error_code"], 28_001_015);
    let mut target = env.customer_writes("在吗").await;
    target.peer_external_id = "c_unknown".into();
    let err = env.send(&target, text("x")).await.unwrap_err();
    assert!(
        matches!(err, DeliveryError::Permanent { ref code, .. } if code == "28001007"),
        "{err:?}"
    );
}

impl Env {
    /// Waits until `n` pushes reached the webhook.
    async fn wait_outcomes(&self, n: usize) -> Vec<Result<PushOutcome, PushError>> {
        for _ in 0..100 {
            if self.outcomes.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all = self.outcomes.lock().unwrap().clone();
        assert!(all.len() >= n, "only {} pushes arrived", all.len());
        all
    }

    async fn raw_user_post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let base = self.channel.config().base_url().to_string();
        let token = self.store.get(SHOP).unwrap().access_token;
        reqwest::Client::new()
            .post(format!("{base}{path}?open_id={SHOP}"))
            .header("access-token", token.expose())
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn fan_group_minimal_body_is_accepted_and_a_bad_group_type_is_refused_on_both_sides() {
    let env = Env::new(ALL_SCOPES).await;
    let c = env.channel.client();
    let auth = env.channel.tokens().user_auth(SHOP).await.unwrap();
    // The client sends only the name: the documented minimal body works.
    c.create_fans_group(&auth, &CreateFansGroupRequest::named("只有名字"))
        .await
        .unwrap();
    assert_eq!(env.sandbox.groups(SHOP).len(), 1);
    // group_type 0 (the old zero default) and 3 are refused before sending.
    for bad in [0, 3] {
        let req = CreateFansGroupRequest {
            group_type: Some(bad),
            ..CreateFansGroupRequest::named("坏类型")
        };
        assert!(matches!(
            c.create_fans_group(&auth, &req).await,
            Err(DouyinError::InvalidRequest(_))
        ));
    }
    assert_eq!(
        env.sandbox.groups(SHOP).len(),
        1,
        "nothing reached the platform"
    );
    // The sandbox refuses them too, and a name-less body.
    for body in [
        serde_json::json!({"group_name": "g", "group_type": 0}),
        serde_json::json!({"group_name": "g", "group_type": "5"}),
        serde_json::json!({"description": "no name"}),
    ] {
        let r = env.raw_user_post("/im/group/fans/create/", body).await;
        assert_eq!(r["extra"]["error_code"], 28_001_007, "{r}");
    }
    let r = env
        .raw_user_post(
            "/im/group/fans/create/",
            serde_json::json!({"group_name": "万粉群", "group_type": 5}),
        )
        .await;
    assert_eq!(r["extra"]["error_code"], 0, "{r}");
}

#[tokio::test]
async fn guide_card_needs_an_app_id_and_takes_the_channel_default() {
    let env = Env::new(ALL_SCOPES).await;
    let media_id = env.upload_png().await;
    let clt = env.client_token().await;
    let id = env
        .channel
        .client()
        .save_applet_template(
            &clt,
            &SaveAppletTemplateRequest {
                card_template_id: None,
                card_type: 1,
                title: "领券".into(),
                content: "进入小程序".into(),
                media_id,
                app_id: "tt_mini".into(),
            },
        )
        .await
        .unwrap();
    let target = env.customer_writes("有券吗").await;
    // Without an app_id anywhere the channel refuses before queueing.
    let card = Content::MiniProgramCard {
        card_id: id.clone(),
        title: None,
        app_id: None,
        path: Some("pages/coupon".into()),
        cover_url: None,
    };
    assert_eq!(
        env.channel.check_outbound(&target, &card).unwrap_err().code,
        "app_id_required"
    );
    // The platform's schema requires it as well.
    let ctx: imhub_douyin::ReplyContext =
        serde_json::from_value(target.reply_context.clone().unwrap()).unwrap();
    let r = env
        .raw_user_post(
            "/im/send/msg/",
            serde_json::json!({"to_user_id": CUSTOMER, "msg_id": ctx.msg_id,
                "conversation_id": ctx.conversation_id,
                "content": {"msg_type": 10, "applet_card": {"card_template_id": id, "path": "p"}}}),
        )
        .await;
    assert_eq!(r["extra"]["error_code"], 28_001_007, "{r}");
    // A channel configured with the mini-program's appid fills it in.
    let mut config = env.channel.config().clone();
    config.applet_app_id = Some("tt_mini".into());
    let channel = DouyinChannel::new(config, Arc::new(env.store.clone())).unwrap();
    channel.check_outbound(&target, &card).unwrap();
    channel
        .send(&Outbound {
            message_id: MessageId(9),
            target,
            content: card,
        })
        .await
        .unwrap();
    assert_eq!(
        env.sandbox.sent_messages(SHOP)[0].contents[0]["applet_card"]["app_id"],
        "tt_mini"
    );
}

#[tokio::test]
async fn template_delete_must_be_json_with_an_empty_body() {
    let env = Env::new(ALL_SCOPES).await;
    let media_id = env.upload_png().await;
    let clt = env.client_token().await;
    let c = env.channel.client();
    let id = c
        .save_applet_template(
            &clt,
            &SaveAppletTemplateRequest {
                card_template_id: None,
                card_type: 1,
                title: "t".into(),
                content: "c".into(),
                media_id,
                app_id: "tt_mini".into(),
            },
        )
        .await
        .unwrap();
    let base = env.channel.config().base_url().to_string();
    let url = format!("{base}/api/douyin/v1/im/del_applet_template/?card_template_id={id}");
    let http = reqwest::Client::new();
    for (content_type, body) in [
        (None, ""),
        (Some("text/plain"), ""),
        (Some("application/json"), "{}"),
    ] {
        let mut req = http.post(&url).header("access-token", clt.expose());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r: serde_json::Value = req.body(body).send().await.unwrap().json().await.unwrap();
        assert_eq!(
            r["extra"]["error_code"], 28_001_007,
            "{content_type:?} {body:?}: {r}"
        );
    }
    assert_eq!(env.sandbox.templates().len(), 1, "nothing was deleted");
    c.delete_applet_template(&clt, &id).await.unwrap();
    assert!(env.sandbox.templates().is_empty());
}

#[tokio::test]
async fn platform_ids_are_opaque_base64_with_slash_plus_and_padding() {
    let env = Env::new(ALL_SCOPES).await;
    let d = env
        .sandbox
        .customer(KEY, SHOP, CUSTOMER)
        .send(CustomerMessage::UserLocalImage)
        .await
        .unwrap();
    for id in [d.server_message_id.as_deref(), d.conversation_id.as_deref()] {
        let id = id.unwrap();
        assert!(
            id.starts_with('@') && id.ends_with("==") && id.contains('/') && id.contains('+'),
            "{id}"
        );
    }
    // Ids with `/`, `+` and `=` travel in query strings and bodies intact.
    let auth = env.channel.tokens().user_auth(SHOP).await.unwrap();
    let r = env
        .channel
        .client()
        .message_resource(
            &auth,
            d.conversation_id.as_deref().unwrap(),
            d.server_message_id.as_deref().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.media_type, "image");
    let target = env.customer_writes("再来").await;
    let msg_id = env.send(&target, text("好")).await.unwrap();
    assert!(msg_id.contains('/') && msg_id.contains('+'), "{msg_id}");
    let recall = env.channel.recall(&target, &msg_id).await;
    assert!(recall.is_ok(), "{recall:?}");
}

#[tokio::test]
async fn message_pushes_carry_object_content_and_enter_chat_a_string() {
    let env = Env::new(ALL_SCOPES).await;
    let who = env.sandbox.customer(KEY, SHOP, CUSTOMER);
    let msg = who.send(CustomerMessage::Text("hi".into())).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&msg.body).unwrap();
    assert!(body["content"].is_object(), "{body}");
    let enter = who.enter_chat().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&enter.body).unwrap();
    assert!(body["content"].is_string(), "{body}");
    let stringly = who
        .with_string_content()
        .send(CustomerMessage::Text("hi".into()))
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&stringly.body).unwrap();
    assert!(body["content"].is_string(), "{body}");
    // Both forms parse into the same message.
    for out in env.wait_outcomes(3).await {
        assert!(out.unwrap().events.len() == 1);
    }
}

#[tokio::test]
async fn join_requests_decisions_and_joins_are_pushed_and_parsed() {
    let env = Env::new(ALL_SCOPES).await;
    env.sandbox
        .add_customer("c_fan", Some("老粉"), Some("https://p3.example/fan.jpeg"));
    let group_id = env.sandbox.add_group(SHOP, "福利群");
    let (apply_id, d) = env
        .sandbox
        .request_to_join(KEY, &group_id, "c_fan")
        .await
        .unwrap();
    assert_eq!(d.status, 200);
    let out = env.last_outcome().unwrap();
    match &out.events[0] {
        InboundEvent::GroupJoinRequest {
            account,
            group_id: g,
            request_id,
            applicant,
            status,
            ..
        } => {
            assert_eq!(
                (account.external_id.as_str(), g, request_id),
                (SHOP, &group_id, &apply_id)
            );
            let applicant = applicant.as_ref().unwrap();
            assert_eq!(applicant.external_id, "c_fan");
            assert_eq!(applicant.nickname.as_deref(), Some("老粉"));
            assert_eq!(*status, imhub_core::channel::JoinRequestStatus::Pending);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        out.event_key
            .as_deref()
            .unwrap()
            .starts_with("body-sha256:"),
        "not a message: keyed by the signed body"
    );
    let auth = env.channel.tokens().user_auth(SHOP).await.unwrap();
    env.channel
        .client()
        .set_enter_audit(&auth, &apply_id, AuditDecision::Approve)
        .await
        .unwrap();
    let all = env.wait_outcomes(3).await;
    let decided = all[1].as_ref().unwrap();
    assert!(matches!(
        &decided.events[0],
        InboundEvent::GroupJoinRequest {
            status: imhub_core::channel::JoinRequestStatus::Approved,
            ..
        }
    ));
    let joined = all[2].as_ref().unwrap();
    match &joined.events[0] {
        InboundEvent::GroupMembership {
            account,
            group_id: g,
            member,
            joined,
            ..
        } => {
            assert_eq!((account.external_id.as_str(), g), (SHOP, &group_id));
            assert_eq!(member.external_id, "c_fan");
            assert!(*joined);
        }
        other => panic!("{other:?}"),
    }
    // A group without approval: the fan joins at once.
    env.sandbox
        .join_group(KEY, &group_id, "c_other")
        .await
        .unwrap();
    assert!(matches!(
        &env.last_outcome().unwrap().events[0],
        InboundEvent::GroupMembership { joined: true, member, .. } if member.external_id == "c_other"
    ));
}

#[tokio::test]
async fn captured_non_message_push_resent_with_a_new_msg_id_keeps_its_key() {
    let env = Env::new(ALL_SCOPES).await;
    let auth = env
        .sandbox
        .push_authorization(KEY, SHOP, "contract_authorize", &["im.direct_message"])
        .await
        .unwrap();
    let enter = env
        .sandbox
        .customer(KEY, SHOP, CUSTOMER)
        .enter_chat()
        .await
        .unwrap();
    let group_id = env.sandbox.add_group(SHOP, "g");
    let (_, join) = env
        .sandbox
        .request_to_join(KEY, &group_id, CUSTOMER)
        .await
        .unwrap();
    let first: Vec<PushOutcome> = env
        .wait_outcomes(3)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (d, before) in [auth, enter, join].iter().zip(first) {
        let again = env.sandbox.resend_with_new_msg_id(d, KEY).await.unwrap();
        assert_eq!(again.status, 200);
        assert_ne!(again.msg_id, d.msg_id);
        let after = env.last_outcome().unwrap();
        assert_eq!(
            before.event_key, after.event_key,
            "same signed body, same key"
        );
        assert!(after.event_key.unwrap().starts_with("body-sha256:"));
    }
    // Messages keep their Msg-Id; their own id deduplicates them.
    let msg = env
        .sandbox
        .customer(KEY, SHOP, CUSTOMER)
        .send(CustomerMessage::Text("x".into()))
        .await
        .unwrap();
    assert_eq!(
        env.last_outcome().unwrap().event_key.as_deref(),
        Some(msg.msg_id.as_str())
    );
}

#[tokio::test]
async fn answers_larger_than_the_cap_are_refused() {
    async fn big() -> axum::response::Response {
        let list: Vec<serde_json::Value> = (0..2000)
            .map(|i| serde_json::json!({"group_id": format!("@g{i}=="), "group_name": "x".repeat(40)}))
            .collect();
        axum::Json(serde_json::json!({"extra": {"error_code": 0}, "group_list": list}))
            .into_response()
    }
    let base = serve(Router::new().route("/im/group/fans/list/", axum::routing::get(big))).await;
    let auth = imhub_douyin::UserAuth::new(SHOP, "act.x");
    let client = imhub_douyin::DouyinClient::new(KEY, SECRET).with_base_url(&base);
    let err = client.list_fans_groups(&auth).await.unwrap_err();
    assert!(
        matches!(&err, DouyinError::Decode { message, .. } if message.contains("larger than")),
        "{err:?}"
    );
    // A raised cap reads it.
    let client = client.with_max_response_bytes(1024 * 1024);
    assert_eq!(
        client
            .list_fans_groups(&auth)
            .await
            .unwrap()
            .group_list
            .len(),
        2000
    );
}
