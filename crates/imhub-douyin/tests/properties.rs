//! Property tests: Douyin push parsing and content mapping never panic on
//! random or mutated input, and a push yields events only when its
//! signature is valid. Bounded (256 cases each) so they run in the normal
//! `cargo test`. A case a run finds is kept below as a named regression test.

use std::sync::Arc;

use imhub_core::{Channel, Content, ConversationKind, OutboundTarget, Push, PushError, Timestamp};
use imhub_douyin::{
    DouyinChannel, DouyinConfig, MemoryTokenStore,
    content::{from_douyin, to_douyin_with},
    webhook::{self, ImContent, MSG_ID_HEADER, SIGNATURE_HEADER},
};
use proptest::prelude::*;
use serde_json::{Value, json};

const SECRET: &str = "prop-secret";

fn channel() -> DouyinChannel {
    DouyinChannel::new(
        DouyinConfig::new("awx", SECRET),
        Arc::new(MemoryTokenStore::new()),
    )
    .unwrap()
}

fn push(body: Vec<u8>, headers: Vec<(String, String)>, query: Option<String>) -> Push {
    Push {
        method: "POST".into(),
        path: "/webhooks/douyin/1".into(),
        query,
        headers,
        body,
        received_at: Timestamp(1_700_000_000_000),
    }
}

fn signed(body: &[u8], msg_id: &str) -> Vec<(String, String)> {
    vec![
        (SIGNATURE_HEADER.into(), webhook::signature(SECRET, body)),
        (MSG_ID_HEADER.into(), msg_id.into()),
    ]
}

/// Bodies of every event the adapter reads, in both content forms.
fn seeds() -> Vec<Vec<u8>> {
    let im = json!({"conversation_short_id": "@c/+==", "server_message_id": "@m+/==",
        "conversation_type": 1, "message_type": "text", "text": "在吗", "create_time": 1_700_000_000_123i64,
        "user_infos": [{"open_id": "c", "nick_name": "小王", "avatar": "https://a"}]});
    let audit = json!({"group_id": "@g/=", "apply_id": "@a+=", "apply_status": 1,
        "user_nicker": "n", "user_avatar": "https://a", "create_time": 1});
    let fans = json!({"open_id": "b", "im_group_id": "@g/=", "group_type": 1,
        "create_time": 1, "create_group_type": "5"});
    let mut out = Vec::new();
    for (event, content) in [
        ("im_receive_msg", im.clone()),
        ("im_send_msg", im.clone()),
        ("im_group_receive_msg", im.clone()),
        ("im_group_send_msg", im.clone()),
        ("im_enter_direct_msg", im.clone()),
        ("im_recall_msg", im),
        ("enter_group_audit_change", audit),
        ("group_fans_event", fans),
        ("authorize", json!({"scopes": ["im.direct_message"]})),
        ("contract_unauthorize", json!({"scopes": "a,b"})),
        ("verify_webhook", json!({"challenge": 12345})),
    ] {
        for as_string in [false, true] {
            let content = if as_string {
                Value::String(content.to_string())
            } else {
                content.clone()
            };
            out.push(
                json!({"event": event, "client_key": "awx", "from_user_id": "c",
                       "to_user_id": "b", "content": content, "log_id": "L"})
                .to_string()
                .into_bytes(),
            );
        }
    }
    out
}

/// A byte-level mutation of a seed.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut body: Vec<u8>, m: &Mutation) -> Vec<u8> {
    let len = body.len().max(1);
    match m {
        Mutation::Flip(i, b) => {
            let i = i % len;
            if let Some(x) = body.get_mut(i) {
                *x ^= b | 1;
            }
        }
        Mutation::Insert(i, v) => {
            let i = i % (body.len() + 1);
            body.splice(i..i, v.iter().copied());
        }
        Mutation::Delete(i, n) => {
            let i = i % len;
            let end = (i + n).min(body.len());
            if i < end {
                body.drain(i..end);
            }
        }
        Mutation::Truncate(i) => body.truncate(i % len),
    }
    body
}

/// Arbitrary JSON, a few levels deep, with the odd values platforms send.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        any::<u64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("text"),
            Just("image"),
            Just("emoji"),
            Just("video"),
            Just("retain_consult_card"),
            Just("other"),
            Just("-1"),
            Just("99999999999999999999"),
            Just("{}"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(field_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Field names the adapter reads, plus noise.
fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("conversation_short_id"),
            Just("server_message_id"),
            Just("conversation_type"),
            Just("message_type"),
            Just("create_time"),
            Just("text"),
            Just("user_infos"),
            Just("card_data"),
            Just("card_id"),
            Just("msg_type"),
            Just("applet_card"),
            Just("group_id"),
            Just("apply_id"),
            Just("apply_status"),
            Just("im_group_id"),
            Just("group_type"),
            Just("open_id"),
            Just("scopes"),
            Just("challenge"),
            Just("source"),
            Just("resource_width"),
        ]
        .prop_map(str::to_string),
        "[a-z_]{1,8}",
    ]
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("im_receive_msg"),
            Just("im_send_msg"),
            Just("im_group_receive_msg"),
            Just("im_group_send_msg"),
            Just("im_enter_direct_msg"),
            Just("im_recall_msg"),
            Just("enter_group_audit_change"),
            Just("group_fans_event"),
            Just("authorize"),
            Just("unauthorize"),
            Just("verify_webhook"),
        ]
        .prop_map(str::to_string),
        ".{0,10}",
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                Just(SIGNATURE_HEADER.to_string()),
                Just(MSG_ID_HEADER.to_string()),
                "[a-z-]{1,12}",
            ],
            ".{0,48}",
        ),
        0..4,
    )
}

/// 256 cases in the normal suite; `PROPTEST_CASES=N` runs more locally.
fn config() -> ProptestConfig {
    let defaults = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            defaults.cases
        } else {
            256
        },
        failure_persistence: None,
        ..defaults
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_headers_and_queries_never_panic_and_are_refused_unsigned(
        body in proptest::collection::vec(any::<u8>(), 0..512),
        headers in headers(),
        query in proptest::option::of(".{0,64}"),
    ) {
        let ch = channel();
        let signed_right = headers.iter().any(|(n, v)| {
            n == SIGNATURE_HEADER && webhook::verify_signature(SECRET, &body, v)
        });
        let out = ch.parse_push(&push(body, headers, query));
        if !signed_right {
            prop_assert_eq!(out.unwrap_err(), PushError::BadSignature);
        }
    }

    #[test]
    fn mutated_pushes_yield_events_only_when_their_signature_matches(
        seed in 0usize..22,
        mutations in proptest::collection::vec(mutation(), 1..4),
        resign in any::<bool>(),
        msg_id in ".{0,16}",
    ) {
        let ch = channel();
        let original = seeds()[seed % 22].clone();
        let mutated = mutations.iter().fold(original.clone(), apply);
        // Keep the signature of the original unless re-signed: a changed
        // body must then be refused before anything is parsed.
        let headers = signed(if resign { &mutated } else { &original }, &msg_id);
        let out = ch.parse_push(&push(mutated.clone(), headers, None));
        if !resign && mutated != original {
            prop_assert_eq!(out.unwrap_err(), PushError::BadSignature);
        } else if let Ok(o) = out {
            // Whatever a verified push yields, its key is stable.
            let again = ch.parse_push(&push(mutated.clone(), signed(&mutated, "other"), None));
            // Non-message pushes are keyed by their signed body, whatever
            // the (unsigned) Msg-Id says.
            if let (Ok(a), Some(key)) = (again, o.event_key.as_deref())
                && key.starts_with("body-sha256:")
            {
                prop_assert_eq!(Some(key), a.event_key.as_deref());
            }
        }
    }

    #[test]
    fn signed_pushes_with_arbitrary_content_never_panic(
        event in event_name(),
        content in json_value(),
        as_string in any::<bool>(),
        from in proptest::option::of(json_value()),
        to in ".{0,8}",
    ) {
        let ch = channel();
        let content = if as_string { Value::String(content.to_string()) } else { content };
        let mut env = json!({"event": event, "client_key": "awx", "to_user_id": to, "content": content});
        if let Some(f) = from {
            env["from_user_id"] = f;
        }
        let body = env.to_string().into_bytes();
        let headers = signed(&body, "m");
        // Ok or a refusal, never a panic.
        let _ = ch.parse_push(&push(body, headers, Some("a=b&c".into())));
    }

    #[test]
    fn inbound_content_mapping_never_panics(v in json_value()) {
        if let Ok(c) = ImContent::from_value(&v) {
            let _ = from_douyin(&c);
        }
    }

    #[test]
    fn outbound_content_mapping_never_panics(
        content in content(),
        group in any::<bool>(),
        default_app in proptest::option::of(".{0,6}"),
    ) {
        let mapped = to_douyin_with(&content, group, default_app.as_deref());
        if let Ok(mc) = mapped {
            // What is accepted is a well-formed send object.
            prop_assert!(mc.is_well_formed(), "{:?}", mc);
        }
        let target = OutboundTarget {
            kind: if group { ConversationKind::Group } else { ConversationKind::Direct },
            account_external_id: "b".into(),
            peer_external_id: "c".into(),
            reply_context: Some(json!({"msg_id": "@m", "conversation_id": "@c"})),
            last_inbound_at: Some(Timestamp::now()),
        };
        let _ = channel().check_outbound(&target, &content);
    }
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(".{0,12}")
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        ".{0,40}".prop_map(|text| Content::Text { text }),
        (opt_text(), opt_text()).prop_map(|(url, media_id)| Content::Image {
            url,
            media_id,
            width: None,
            height: None,
        }),
        (opt_text(), opt_text()).prop_map(|(url, media_id)| Content::Video {
            url,
            media_id,
            cover_url: None,
            duration_secs: None,
        }),
        (".{0,8}", opt_text()).prop_map(|(card_id, title)| Content::LeadCard {
            card_id,
            title,
            status: None,
            fields: Vec::new()
        }),
        (".{0,8}", opt_text(), opt_text()).prop_map(|(card_id, app_id, path)| {
            Content::MiniProgramCard {
                card_id,
                title: None,
                app_id,
                path,
                cover_url: None,
            }
        }),
        (json_value(), opt_text())
            .prop_map(|(data, description)| Content::Custom { data, description }),
        (any::<f64>(), any::<f64>()).prop_map(|(latitude, longitude)| Content::Location {
            latitude,
            longitude,
            title: None,
        }),
    ]
}

/// Regression (found by `outbound_content_mapping_never_panics`): a guide
/// card with an empty template id and no path mapped to a send object the
/// platform refuses; it is now refused before sending.
#[test]
fn regression_guide_card_without_template_or_path_is_refused() {
    let card = Content::MiniProgramCard {
        card_id: String::new(),
        title: None,
        app_id: None,
        path: None,
        cover_url: None,
    };
    assert_eq!(
        to_douyin_with(&card, false, Some("\0")).unwrap_err().code,
        "invalid_content"
    );
    let no_path = Content::MiniProgramCard {
        card_id: "t1".into(),
        title: None,
        app_id: Some("tt".into()),
        path: None,
        cover_url: None,
    };
    assert_eq!(
        to_douyin_with(&no_path, true, None).unwrap_err().code,
        "invalid_content"
    );
}
