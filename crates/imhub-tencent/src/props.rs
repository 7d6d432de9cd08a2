//! Property tests: random and mutated callbacks never panic and yield
//! nothing unless signed, and content maps both ways without panicking.
//! Bounded (256 cases each) so they run in the normal `cargo test`.

use imhub_core::{Channel, Content, Push, PushError, Timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::{
    callback::{
        C2C_AFTER_REPORT, C2C_AFTER_SEND, C2C_AFTER_WITHDRAW, GROUP_AFTER_RECALL, GROUP_AFTER_SEND,
        MerchantSide, callback_events, callback_sign,
    },
    elements::parse_msg_body,
    mapping::{content_to_elements, elements_to_content},
    {TencentChannel, TencentConfig},
};

const APP: u64 = 1_400_000_000;
const NOW: i64 = 1_700_000_000;

/// Field names the parsers look at, so random objects often hit them.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "CallbackCommand",
            "From_Account",
            "To_Account",
            "MsgSeq",
            "MsgRandom",
            "MsgTime",
            "MsgKey",
            "MsgBody",
            "MsgType",
            "MsgContent",
            "Text",
            "GroupId",
            "MsgSeqList",
            "Operator_Account",
            "EventTime",
            "Report_Account",
            "Peer_Account",
            "LastReadTime",
            "SendMsgResult",
            "Data",
            "Desc",
            "Ext",
            "UUID",
            "ImageInfoArray",
            "URL",
            "Url",
            "Latitude",
            "Longitude",
            "Index",
            "Second",
            "Size",
            "VideoUrl",
            "FileName",
        ])
        .prop_map(str::to_string),
        "[A-Za-z_]{1,10}",
    ]
}

/// Any JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "TIMTextElem",
            "TIMImageElem",
            "TIMCustomElem",
            "TIMFaceElem"
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            C2C_AFTER_SEND,
            C2C_AFTER_WITHDRAW,
            C2C_AFTER_REPORT,
            GROUP_AFTER_SEND,
            GROUP_AFTER_RECALL,
            "C2C.CallbackBeforeSendMsg",
            "Group.CallbackBeforeSendMsg",
        ])
        .prop_map(str::to_string),
        ".{0,30}",
    ]
}

fn channel() -> TencentChannel {
    let mut c = TencentConfig::new(APP, "key", "admin");
    c.callback_token = Some("tok".into());
    c.merchant_accounts = vec!["shop".into()];
    TencentChannel::new(c).unwrap()
}

fn push(query: String, body: Vec<u8>) -> Push {
    Push {
        method: "POST".into(),
        path: "/webhooks/tencent/1".into(),
        query: Some(query),
        headers: vec![],
        body,
        received_at: Timestamp(NOW * 1000),
    }
}

fn signed_query(command: &str, time: i64) -> String {
    format!(
        "SdkAppid={APP}&CallbackCommand={command}&contenttype=json&Sign={}&RequestTime={time}",
        callback_sign("tok", &time.to_string())
    )
}

/// A query string changed in one of the ways an attacker or a broken proxy
/// would: a field dropped, replaced, duplicated or cut short.
fn mutated_query() -> impl Strategy<Value = String> {
    let base = signed_query(C2C_AFTER_SEND, NOW);
    (0usize..6, ".{0,70}", any::<prop::sample::Index>()).prop_map(move |(how, junk, at)| {
        let parts: Vec<&str> = base.split('&').collect();
        let i = at.index(parts.len());
        match how {
            0 => parts
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, p)| *p)
                .collect::<Vec<_>>()
                .join("&"),
            1 => {
                let mut p: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
                let name = p[i].split('=').next().unwrap_or("").to_string();
                p[i] = format!("{name}={junk}");
                p.join("&")
            }
            2 => format!("{base}&{junk}"),
            3 => base[..at.index(base.len() + 1).min(base.len())].to_string(),
            4 => junk,
            _ => format!("Sign={junk}&{base}"),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bodies_of_any_command_never_panic(cmd in command(), body in json_value()) {
        let side = MerchantSide { admin: "admin".into(), accounts: vec!["shop".into()], default_account: None };
        let _ = callback_events(&cmd, &body, &side, Timestamp(NOW * 1000));
    }

    #[test]
    fn unsigned_or_mutated_callbacks_yield_nothing(query in mutated_query(), body in json_value()) {
        let ch = channel();
        let out = ch.parse_push(&push(query.clone(), body.to_string().into_bytes()));
        if out.is_ok() {
            // Only a query that still carries a valid Sign for a fresh time may pass.
            let q = crate::callback::CallbackQuery::parse(&query);
            let time = q.request_time.clone().unwrap_or_default();
            prop_assert_eq!(q.sign.map(|s| s.to_ascii_lowercase()), Some(callback_sign("tok", &time)));
            prop_assert_eq!(q.sdk_appid.map(|s| s.trim().to_string()), Some(APP.to_string()));
            let t: i64 = time.parse().unwrap();
            prop_assert!((NOW - t).abs() <= 60);
        }
    }

    #[test]
    fn random_bytes_with_a_wrong_sign_are_refused(
        body in prop::collection::vec(any::<u8>(), 0..512),
        sign in "[0-9a-f]{64}",
        time in any::<i64>(),
    ) {
        let ch = channel();
        let query = format!("SdkAppid={APP}&CallbackCommand={C2C_AFTER_SEND}&Sign={sign}&RequestTime={time}");
        prop_assume!(sign != callback_sign("tok", &time.to_string()));
        prop_assert_eq!(ch.parse_push(&push(query, body)).unwrap_err(), PushError::BadSignature);
    }

    #[test]
    fn signed_random_bodies_never_panic(cmd in command(), body in json_value(), raw in prop::collection::vec(any::<u8>(), 0..64)) {
        let ch = channel();
        let q = signed_query(&cmd.replace('&', ""), NOW);
        let _ = ch.parse_push(&push(q.clone(), body.to_string().into_bytes()));
        let _ = ch.parse_push(&push(q, raw));
    }

    #[test]
    fn any_inbound_msg_body_maps_to_content(body in json_value()) {
        let content = elements_to_content(&parse_msg_body(&body));
        prop_assert!(serde_json::to_string(&content).is_ok());
    }

    #[test]
    fn any_content_maps_to_elements_or_is_refused(content in content()) {
        if let Ok(elems) = content_to_elements(&content) {
            let back = elements_to_content(&elems);
            if let Content::Text { text } = &content {
                prop_assert_eq!(back, Content::Text { text: text.clone() });
            }
        }
        let _ = channel().check_outbound(
            &imhub_core::OutboundTarget {
                kind: imhub_core::ConversationKind::Direct,
                account_external_id: "shop".into(),
                peer_external_id: "alice".into(),
                reply_context: None,
                last_inbound_at: None,
            },
            &content,
        );
    }
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".{0,20}")
}

/// Any unified content, including odd numbers and empty texts.
pub(crate) fn content() -> impl Strategy<Value = Content> {
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
        (".{0,10}", opt_text(), opt_text(), opt_text(), opt_text()).prop_map(
            |(card_id, title, app_id, path, cover_url)| Content::MiniProgramCard {
                card_id,
                title,
                app_id,
                path,
                cover_url
            }
        ),
        prop::collection::vec(".{0,10}", 0..4)
            .prop_map(|product_codes| Content::GoodsCard { product_codes }),
        (".{0,10}", opt_text())
            .prop_map(|(order_id, title)| Content::OrderCard { order_id, title }),
        (json_value(), opt_text())
            .prop_map(|(data, description)| Content::Custom { data, description }),
    ]
}
