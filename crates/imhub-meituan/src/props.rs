//! Property tests: random and mutated pushes (form body and GET query, with
//! AES content) never panic and yield nothing unless signed, and content
//! maps both ways without panicking. Bounded (256 cases each) so they run in
//! the normal `cargo test`.

use imhub_core::{Channel, Content, Push, Timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{
    MeituanChannel,
    content::{from_inbound, to_outbound},
    im::PushContent,
    push::encode_push_body,
    sign,
};

const SECRET: &str = "0123456789abcdef0123";
const URL: &str = "https://hub.example.com/webhooks/meituan/7";
const NOW: i64 = 1_700_000_000;

fn channel() -> MeituanChannel {
    MeituanChannel::new(
        serde_json::from_value(json!({"app_id": "4321", "app_secret": SECRET, "push_url": URL}))
            .unwrap(),
    )
    .unwrap()
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "app_id",
            "timestamp",
            "sig",
            "biz_type",
            "push_content",
            "msg_id",
            "x",
        ])
        .prop_map(str::to_string),
        "[a-z_%+&=]{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    prop::sample::select(vec![
                        "app_id",
                        "app_poi_code",
                        "msg_id",
                        "msg_content",
                        "msg_source",
                        "msg_type",
                        "cts",
                        "open_user_id",
                        "order_id",
                        "group_id",
                        "text",
                    ])
                    .prop_map(str::to_string),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..8,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn push(method: &str, query: Option<String>, body: Vec<u8>) -> Push {
    Push {
        method: method.into(),
        path: "/webhooks/meituan/7".into(),
        query,
        headers: vec![("host".into(), "hub.example.com".into())],
        body,
        received_at: Timestamp(NOW * 1000),
    }
}

/// A correctly signed POST push of these fields (values URL-encoded twice,
/// as Meituan sends them).
fn signed_body(fields: &[(&str, &str)]) -> Vec<u8> {
    let params: sign::Params = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let sig = sign::sign(URL, &params, SECRET);
    let mut all = fields.to_vec();
    all.push(("sig", &sig));
    encode_push_body(&all, true).into_bytes()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_forms_and_queries_never_panic_and_store_nothing(
        fields in prop::collection::vec((field_name(), ".{0,40}"), 0..8),
        raw in prop::collection::vec(any::<u8>(), 0..256),
        get in any::<bool>(),
        use_raw in any::<bool>(),
    ) {
        let ch = channel();
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let form = encode_push_body(&pairs, false).into_bytes();
        let body = if use_raw { raw.clone() } else { form.clone() };
        let p = if get {
            push("GET", Some(String::from_utf8_lossy(&body).into_owned()), Vec::new())
        } else {
            push("POST", Some(String::from_utf8_lossy(&raw).into_owned()).filter(|_| use_raw), body)
        };
        if let Ok(outcome) = ch.parse_push(&p) {
            prop_assert!(outcome.events.is_empty(), "unsigned push yielded {:?}", outcome.events);
        }
    }

    #[test]
    fn a_field_changed_after_signing_is_refused(
        content in json_value(),
        which in 0usize..4,
        suffix in ".{1,8}",
    ) {
        let ch = channel();
        let ts = NOW.to_string();
        let pc = content.to_string();
        let fields = [("app_id", "4321"), ("timestamp", ts.as_str()), ("biz_type", "1"), ("push_content", pc.as_str())];
        let params: sign::Params = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let sig = sign::sign(URL, &params, SECRET);
        let changed = format!("{}{suffix}", fields[which].1);
        prop_assume!(changed.trim() != fields[which].1);
        let mut sent = fields.to_vec();
        sent[which].1 = &changed;
        sent.push(("sig", &sig));
        let body = encode_push_body(&sent, true).into_bytes();
        let out = ch.parse_push(&push("POST", None, body));
        prop_assert!(out.is_err(), "a changed {} was accepted", fields[which].0);
    }

    #[test]
    fn signed_pushes_with_any_content_never_panic(
        content in json_value(),
        plain in ".{0,60}",
        encrypt in any::<bool>(),
        biz in prop_oneof![Just("1".to_string()), Just("2".to_string()), ".{0,4}"],
    ) {
        let ch = channel();
        let mut pc = content;
        if let Value::Object(m) = &mut pc {
            let text = if encrypt {
                ch.client().cipher().encrypt(&json!({"text": plain}).to_string())
            } else {
                plain.clone()
            };
            m.insert("msg_content".into(), json!(text));
        }
        let ts = NOW.to_string();
        let pc = pc.to_string();
        let body = signed_body(&[("app_id", "4321"), ("timestamp", &ts), ("biz_type", &biz), ("push_content", &pc)]);
        let out = ch.parse_push(&push("POST", None, body));
        prop_assert!(out.is_ok() || !matches!(out, Err(imhub_core::PushError::BadSignature)));
    }

    #[test]
    fn any_inbound_content_maps(msg_type in any::<i64>(), plain in prop::option::of(".{0,80}"), pc in json_value()) {
        let pc: PushContent = serde_json::from_value(pc).unwrap_or_default();
        let c = from_inbound(msg_type, plain.as_deref(), &pc);
        prop_assert!(serde_json::to_string(&c).is_ok());
    }

    #[test]
    fn any_content_maps_to_a_body_or_is_refused(content in content(), group in any::<bool>(), b2c in any::<bool>()) {
        let _ = to_outbound(&content, group, b2c);
    }
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".{0,20}")
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        ".{0,200}".prop_map(|text| Content::Text { text }),
        (
            opt_text(),
            opt_text(),
            any::<Option<u32>>(),
            any::<Option<u32>>()
        )
            .prop_map(|(url, media_id, width, height)| Content::Image {
                url,
                media_id,
                width,
                height
            }),
        (opt_text(), opt_text(), opt_text(), any::<Option<u32>>()).prop_map(
            |(url, media_id, cover_url, duration_secs)| Content::Video {
                url,
                media_id,
                cover_url,
                duration_secs
            }
        ),
        (opt_text(), opt_text(), any::<Option<u32>>()).prop_map(
            |(url, media_id, duration_secs)| Content::Voice {
                url,
                media_id,
                duration_secs
            }
        ),
        (".{0,10}", opt_text()).prop_map(|(code, url)| Content::Emoji { code, url }),
        (any::<f64>(), any::<f64>(), opt_text()).prop_map(|(latitude, longitude, title)| {
            Content::Location {
                latitude,
                longitude,
                title,
            }
        }),
        (".{0,20}", opt_text(), any::<Option<u64>>()).prop_map(|(url, name, size)| Content::File {
            url,
            name,
            size
        }),
        (".{0,10}", opt_text()).prop_map(|(card_id, title)| Content::LeadCard {
            card_id,
            title,
            status: None,
            fields: Vec::new()
        }),
        prop::collection::vec(".{0,10}", 0..4)
            .prop_map(|product_codes| Content::GoodsCard { product_codes }),
        (".{0,10}", opt_text())
            .prop_map(|(order_id, title)| Content::OrderCard { order_id, title }),
        (json_value(), opt_text())
            .prop_map(|(data, description)| Content::Custom { data, description }),
    ]
}
