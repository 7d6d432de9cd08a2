//! Property tests of the custom channel's push parser, through its public
//! `sign`/`verify` and `parse_push`: random and mutated bodies and headers
//! never panic and yield nothing unless the signature is valid. Bounded
//! (256 cases each) so they run in the normal `cargo test`.

use imhub_core::{Channel, Push, PushError, Timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::custom::{CustomChannel, SIGNATURE_HEADER, sign, verify};
use crate::outbound_http::GuardedClient;

const SECRET: &str = "s3cret-for-props";

fn channel() -> CustomChannel {
    CustomChannel::new(
        &json!({"secret": SECRET}),
        GuardedClient::allowing(&[]).unwrap(),
    )
    .unwrap()
}

fn push(headers: Vec<(String, String)>, body: Vec<u8>) -> Push {
    Push {
        method: "POST".into(),
        path: "/webhooks/custom/1".into(),
        query: None,
        headers,
        body,
        received_at: Timestamp(1_700_000_000_000),
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["message", "recall", "text", "image", "in", "out"])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "event_id",
                        "kind",
                        "account",
                        "contact",
                        "group",
                        "message",
                        "id",
                        "name",
                        "nickname",
                        "content",
                        "type",
                        "text",
                        "direction",
                        "sent_at",
                        "url",
                        "data",
                    ])
                    .prop_map(str::to_string),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..7,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A well-formed push, so signed cases reach the deeper parser.
fn valid_push() -> Value {
    json!({"event_id": "e1", "type": "message", "account": {"id": "a"},
           "contact": {"id": "c"}, "message": {"id": "m", "content": {"type": "text", "text": "hi"}}})
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn unsigned_or_badly_signed_pushes_are_refused(
        body in prop::collection::vec(any::<u8>(), 0..512),
        header in prop::option::of(prop_oneof![".{0,80}", "sha256=[0-9a-f]{64}", "sha256=[0-9a-f]{0,70}"]),
        extra in prop::collection::vec(("[a-z-]{1,20}", ".{0,20}"), 0..4),
    ) {
        let mut headers: Vec<(String, String)> = extra;
        if let Some(h) = &header {
            headers.push((SIGNATURE_HEADER.into(), h.clone()));
        }
        prop_assume!(header.as_deref() != Some(sign(SECRET, &body).as_str()));
        prop_assert_eq!(channel().parse_push(&push(headers, body)).unwrap_err(), PushError::BadSignature);
    }

    #[test]
    fn a_body_changed_after_signing_is_refused(at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let body = valid_push().to_string().into_bytes();
        let signature = sign(SECRET, &body);
        let mut changed = body.clone();
        let i = at.index(changed.len());
        prop_assume!(changed[i] != byte);
        changed[i] = byte;
        prop_assert!(!verify(SECRET, &changed, &signature));
        let out = channel().parse_push(&push(vec![(SIGNATURE_HEADER.into(), signature)], changed));
        prop_assert_eq!(out.unwrap_err(), PushError::BadSignature);
    }

    #[test]
    fn signed_random_bodies_never_panic(body in json_value(), merge in any::<bool>()) {
        let body = match (merge, body) {
            (true, Value::Object(extra)) => {
                let mut v = valid_push();
                if let Value::Object(m) = &mut v {
                    m.extend(extra);
                }
                v
            }
            (_, b) => b,
        };
        let bytes = body.to_string().into_bytes();
        let signature = sign(SECRET, &bytes);
        prop_assert!(verify(SECRET, &bytes, &signature));
        let _ = channel().parse_push(&push(vec![(SIGNATURE_HEADER.into(), signature)], bytes));
    }
}

#[test]
fn a_signed_well_formed_push_is_accepted() {
    let bytes = valid_push().to_string().into_bytes();
    let signature = sign(SECRET, &bytes);
    let out = channel()
        .parse_push(&push(vec![(SIGNATURE_HEADER.into(), signature)], bytes))
        .unwrap();
    assert_eq!(out.events.len(), 1);
}

// ---------- content mapping, both directions ----------

/// `PROPTEST_CASES=N` runs more; 64 cases by default (each outbound case
/// is a real HTTP request).
fn mapping_config() -> ProptestConfig {
    let defaults = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            defaults.cases
        } else {
            64
        },
        failure_persistence: None,
        ..defaults
    }
}

/// Text of any characters, line breaks and emoji included.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![".{0,40}", "[a-z你好😀\n\t \"\\\\]{0,20}"]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(any_text())
}

/// Coordinates that JSON carries exactly (multiples of 1/1024).
fn coordinate(limit: i32) -> impl Strategy<Value = f64> {
    (-limit * 1024..=limit * 1024).prop_map(|n| f64::from(n) / 1024.0)
}

/// Every kind of [`Content`], with any optional field set or not.
fn any_content() -> impl Strategy<Value = imhub_core::Content> {
    use imhub_core::{Content, content::LeadCardField};
    prop_oneof![
        any_text().prop_map(|text| Content::Text { text }),
        (
            opt_text(),
            opt_text(),
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>())
        )
            .prop_map(|(url, media_id, width, height)| Content::Image {
                url,
                media_id,
                width,
                height
            }),
        (
            opt_text(),
            opt_text(),
            opt_text(),
            prop::option::of(any::<u32>())
        )
            .prop_map(|(url, media_id, cover_url, duration_secs)| Content::Video {
                url,
                media_id,
                cover_url,
                duration_secs
            }),
        (opt_text(), opt_text(), prop::option::of(any::<u32>())).prop_map(
            |(url, media_id, duration_secs)| Content::Voice {
                url,
                media_id,
                duration_secs
            }
        ),
        (any_text(), opt_text()).prop_map(|(code, url)| Content::Emoji { code, url }),
        (coordinate(90), coordinate(180), opt_text()).prop_map(|(latitude, longitude, title)| {
            Content::Location {
                latitude,
                longitude,
                title,
            }
        }),
        (any_text(), opt_text(), prop::option::of(any::<u64>()))
            .prop_map(|(url, name, size)| Content::File { url, name, size }),
        (
            any_text(),
            opt_text(),
            prop::option::of(any::<i64>()),
            prop::collection::vec((any_text(), any_text()), 0..4)
        )
            .prop_map(|(card_id, title, status, fields)| Content::LeadCard {
                card_id,
                title,
                status,
                fields: fields
                    .into_iter()
                    .map(|(label, value)| LeadCardField { label, value })
                    .collect(),
            }),
        (any_text(), opt_text(), opt_text(), opt_text(), opt_text()).prop_map(
            |(card_id, title, app_id, path, cover_url)| Content::MiniProgramCard {
                card_id,
                title,
                app_id,
                path,
                cover_url
            }
        ),
        prop::collection::vec(any_text(), 0..8)
            .prop_map(|product_codes| Content::GoodsCard { product_codes }),
        (any_text(), opt_text())
            .prop_map(|(order_id, title)| Content::OrderCard { order_id, title }),
        (json_value(), opt_text())
            .prop_map(|(data, description)| Content::Custom { data, description }),
    ]
}

/// A signed push carrying `content` as its message's content.
fn push_with_content(content: &Value) -> Push {
    let mut body = valid_push();
    body["message"]["content"] = content.clone();
    let bytes = body.to_string().into_bytes();
    let signature = sign(SECRET, &bytes);
    push(vec![(SIGNATURE_HEADER.into(), signature)], bytes)
}

/// The content of the one message a push yields.
fn pushed_content(out: &imhub_core::PushOutcome) -> Option<imhub_core::Content> {
    match out.events.as_slice() {
        [imhub_core::InboundEvent::Message(m)] => Some(m.content.clone()),
        _ => None,
    }
}

/// What the merchant's receiver got, for the outbound direction.
#[derive(Clone, Default)]
struct Got(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

/// One runtime and one receiver for every outbound case.
fn outbound_rig() -> &'static (tokio::runtime::Runtime, String, Got) {
    static RIG: std::sync::OnceLock<(tokio::runtime::Runtime, String, Got)> =
        std::sync::OnceLock::new();
    RIG.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let got = Got::default();
        let kept = got.clone();
        let url = runtime.block_on(async move {
            let app = axum::Router::new().route(
                "/inbox",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let kept = kept.clone();
                    async move {
                        kept.0.lock().unwrap().push(body.to_vec());
                        axum::Json(json!({"id": "merchant-id"}))
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            format!("http://{addr}/inbox")
        });
        (runtime, url, got)
    })
}

proptest! {
    #![proptest_config(mapping_config())]

    /// Inbound: any content, pushed as JSON, is the same content stored.
    #[test]
    fn pushed_content_is_read_as_it_was_written(content in any_content()) {
        let json = serde_json::to_value(&content).unwrap();
        let out = channel().parse_push(&push_with_content(&json));
        if content.validate().is_ok() {
            prop_assert!(out.is_ok(), "a valid content is accepted: {out:?}");
        }
        match out {
            Ok(out) => prop_assert_eq!(pushed_content(&out), Some(content)),
            // Refused only for a reason of its own, never by a panic.
            Err(e) => prop_assert!(matches!(e, PushError::Malformed(_)), "{e:?}"),
        }
    }

    /// Inbound: any JSON as content either is read as a content that
    /// writes back to a JSON the parser reads the same way, or is refused.
    #[test]
    fn random_content_json_is_read_or_refused(json in json_value(), tag in prop::sample::select(vec![
        "text", "image", "video", "voice", "emoji", "location", "file", "lead_card",
        "mini_program_card", "goods_card", "order_card", "custom", "sticker",
    ])) {
        let json = match json {
            Value::Object(mut m) => { m.insert("type".into(), json!(tag)); Value::Object(m) }
            other => other,
        };
        match channel().parse_push(&push_with_content(&json)) {
            Ok(out) => {
                let content = pushed_content(&out).unwrap();
                let again = serde_json::to_value(&content).unwrap();
                let reread = channel().parse_push(&push_with_content(&again)).unwrap();
                prop_assert_eq!(pushed_content(&reread), Some(content));
            }
            Err(e) => prop_assert!(matches!(e, PushError::Malformed(_)), "{e:?}"),
        }
    }

    /// Outbound: any content the channel accepts reaches the merchant's
    /// receiver as the same content, addressed as targeted.
    #[test]
    fn sent_content_reaches_the_receiver_as_it_was(content in any_content(), group in any::<bool>()) {
        let (runtime, url, got) = outbound_rig();
        let channel = CustomChannel::new(
            &json!({"secret": SECRET, "outbound_url": url}),
            GuardedClient::allowing(&["127.0.0.0/8"]).unwrap(),
        )
        .unwrap();
        let target = imhub_core::OutboundTarget {
            kind: if group { imhub_core::ConversationKind::Group } else { imhub_core::ConversationKind::Direct },
            account_external_id: "shop-1".into(),
            peer_external_id: "u-1".into(),
            reply_context: None,
            last_inbound_at: None,
        };
        if channel.check_outbound(&target, &content).is_err() {
            // Refused before sending (empty fields, text too long): nothing goes.
            return Ok(());
        }
        let outbound = imhub_core::Outbound {
            message_id: imhub_core::MessageId(7),
            target,
            content: content.clone(),
        };
        got.0.lock().unwrap().clear();
        let receipt = runtime.block_on(channel.send(&outbound)).unwrap();
        prop_assert_eq!(receipt.platform_message_id.as_deref(), Some("merchant-id"));
        let bodies = got.0.lock().unwrap().clone();
        prop_assert_eq!(bodies.len(), 1);
        let body: Value = serde_json::from_slice(&bodies[0]).unwrap();
        prop_assert_eq!(&body["type"], "message");
        prop_assert_eq!(&body["message_id"], 7);
        prop_assert_eq!(&body["account_id"], "shop-1");
        prop_assert_eq!(&body["peer_id"], "u-1");
        prop_assert_eq!(&body["peer_kind"], if group { "group" } else { "direct" });
        let sent: imhub_core::Content = serde_json::from_value(body["content"].clone()).unwrap();
        prop_assert_eq!(sent, content);
    }
}
