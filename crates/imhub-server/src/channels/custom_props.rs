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
