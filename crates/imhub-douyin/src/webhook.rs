//! Webhooks (reference §7–8): the `X-Douyin-Signature` check (SHA-1 of
//! client_secret followed by the raw body, compared in constant time), the
//! push envelope with its string-or-object `content`, and the typed content
//! of the IM events.

use serde::Deserialize;
use serde_json::Value;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::envelope::{de_i64, de_opt_i64, de_string};

/// Header carrying the signature (lower case, as imhub's `Push` stores names).
pub const SIGNATURE_HEADER: &str = "x-douyin-signature";
/// Header carrying the push id used for de-duplication.
pub const MSG_ID_HEADER: &str = "msg-id";
/// Largest push body we accept; the platform sends small JSON documents.
pub const MAX_PUSH_BYTES: usize = 1024 * 1024;

/// Event names (§8.1).
pub mod event {
    pub const VERIFY_WEBHOOK: &str = "verify_webhook";
    pub const IM_RECEIVE_MSG: &str = "im_receive_msg";
    pub const IM_SEND_MSG: &str = "im_send_msg";
    pub const IM_ENTER_DIRECT_MSG: &str = "im_enter_direct_msg";
    pub const IM_GROUP_RECEIVE_MSG: &str = "im_group_receive_msg";
    pub const IM_GROUP_SEND_MSG: &str = "im_group_send_msg";
    pub const IM_RECALL_MSG: &str = "im_recall_msg";
    pub const AUTHORIZE: &str = "authorize";
    pub const UNAUTHORIZE: &str = "unauthorize";
    pub const CONTRACT_AUTHORIZE: &str = "contract_authorize";
    pub const CONTRACT_UNAUTHORIZE: &str = "contract_unauthorize";
    pub const ENTER_GROUP_AUDIT_CHANGE: &str = "enter_group_audit_change";
    pub const GROUP_FANS_EVENT: &str = "group_fans_event";
}

/// The lowercase hex SHA-1 of `secret ‖ body` (not an HMAC).
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(secret.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// Whether `header` is the signature of `body`; case-insensitive, constant time.
pub fn verify_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let expected = signature(secret, body);
    let given = header.trim().to_ascii_lowercase();
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Why a webhook body is not a push we can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("body is not a JSON push envelope: {0}")]
    Envelope(String),
    #[error("content is neither an object nor a JSON string: {0}")]
    Content(String),
}

/// Every push's envelope (§7.4) with `content` already decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEnvelope {
    pub event: String,
    pub client_key: String,
    pub from_user_id: String,
    pub to_user_id: String,
    /// Decoded: a JSON-string `content` is parsed; an object is kept.
    pub content: Value,
    /// Whether `content` arrived as a JSON string.
    pub content_was_string: bool,
    /// `log_id`, or `logid` as one SDK reads it.
    pub log_id: Option<String>,
}

#[derive(Deserialize)]
struct RawEnvelope {
    #[serde(default)]
    event: String,
    #[serde(default)]
    client_key: String,
    #[serde(default, deserialize_with = "de_string")]
    from_user_id: String,
    #[serde(default, deserialize_with = "de_string")]
    to_user_id: String,
    #[serde(default)]
    content: Value,
    #[serde(default, alias = "logid")]
    log_id: Option<String>,
}

/// Parses a verified body into its envelope, decoding string content.
pub fn parse_envelope(body: &[u8]) -> Result<WebhookEnvelope, WebhookError> {
    let raw: RawEnvelope =
        serde_json::from_slice(body).map_err(|e| WebhookError::Envelope(e.to_string()))?;
    if raw.event.is_empty() {
        return Err(WebhookError::Envelope("missing event".into()));
    }
    let (content, content_was_string) = match raw.content {
        Value::String(s) if s.trim().is_empty() => (Value::Null, true),
        Value::String(s) => (
            serde_json::from_str(&s).map_err(|e| WebhookError::Content(e.to_string()))?,
            true,
        ),
        other => (other, false),
    };
    Ok(WebhookEnvelope {
        event: raw.event,
        client_key: raw.client_key,
        from_user_id: raw.from_user_id,
        to_user_id: raw.to_user_id,
        content,
        content_was_string,
        log_id: raw.log_id,
    })
}

/// The answer to `verify_webhook`: `{"challenge": <same value, same type>}`.
pub fn challenge_reply(content: &Value) -> Option<Value> {
    let challenge = content.get("challenge")?;
    Some(serde_json::json!({ "challenge": challenge }))
}

/// A participant as `user_infos[]` describes it — the only nickname/avatar source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    #[serde(default, deserialize_with = "de_string")]
    pub open_id: String,
    #[serde(default)]
    pub nick_name: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
}

/// One label/value pair of a submitted lead card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct CardField {
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub value: String,
}

/// Content of `im_receive_msg`, `im_send_msg`, `im_enter_direct_msg` and the
/// group events (§8.3–8.5); every field optional because each event carries
/// a different subset.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ImContent {
    #[serde(default)]
    pub conversation_short_id: String,
    #[serde(default)]
    pub server_message_id: String,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub conversation_type: Option<i64>,
    #[serde(default)]
    pub message_type: Option<String>,
    /// Our client_key when the message was sent through the API.
    #[serde(default)]
    pub source: Option<String>,
    /// 13-digit milliseconds.
    #[serde(default, deserialize_with = "de_i64")]
    pub create_time: i64,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub scene_type: Option<i64>,
    #[serde(default, deserialize_with = "de_string")]
    pub index: String,
    #[serde(default)]
    pub user_infos: Vec<UserInfo>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub resource_type: Option<String>,
    #[serde(default)]
    pub resource_url: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub resource_width: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub resource_height: Option<i64>,
    #[serde(default)]
    pub item_id: Option<String>,
    #[serde(default, deserialize_with = "de_string")]
    pub card_id: String,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub card_status: Option<i64>,
    #[serde(default)]
    pub card_data: Vec<CardField>,
    /// Group owner's open_id (group events).
    #[serde(default)]
    pub owner_id: Option<String>,
    /// Video id when the user came from a video page (enter event; camelCase on the wire).
    #[serde(default, rename = "objectId")]
    pub object_id: Option<String>,
    /// Mini-app pass-through (enter event; hyphenated key on the wire).
    #[serde(default, rename = "data-im-extra")]
    pub data_im_extra: Option<Value>,
    /// Itself a JSON string for ad traffic.
    #[serde(default)]
    pub ad_info: Option<Value>,
    #[serde(default)]
    pub query: Option<Value>,
    #[serde(default)]
    pub path: Option<String>,
}

impl ImContent {
    /// Reads the typed content from a decoded `content` value.
    pub fn from_value(v: &Value) -> Result<Self, WebhookError> {
        ImContent::deserialize(v).map_err(|e| WebhookError::Content(e.to_string()))
    }

    /// The participant with this open_id, from `user_infos`.
    pub fn user(&self, open_id: &str) -> Option<&UserInfo> {
        self.user_infos.iter().find(|u| u.open_id == open_id)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Known answer computed independently with `sha1sum` over the secret
    /// followed by the official verify body shape.
    #[test]
    fn signature_is_sha1_of_secret_then_body() {
        let body =
            br#"{"event":"verify_webhook","client_key":"awx","content":{"challenge":12345}}"#;
        assert_eq!(
            signature("s3cr3t", body),
            "10a18a246bb7543d4657d18b2a483dcbc391d5ad"
        );
    }

    #[test]
    fn signature_compare_is_case_insensitive_and_rejects_changes() {
        let body = b"{\"event\":\"im_receive_msg\"}";
        let sig = signature("k", body);
        assert!(verify_signature("k", body, &sig.to_uppercase()));
        assert!(!verify_signature(
            "k",
            b"{\"event\":\"im_receive_msg\" }",
            &sig
        ));
        assert!(!verify_signature("other", body, &sig));
        assert!(!verify_signature("k", body, ""));
    }

    #[test]
    fn content_is_accepted_as_object_or_json_string() {
        let obj = br#"{"event":"im_receive_msg","from_user_id":"c","to_user_id":"b","content":{"text":"hi"}}"#;
        let s = br#"{"event":"im_receive_msg","from_user_id":"c","to_user_id":"b","content":"{\"text\":\"hi\"}","logid":"L"}"#;
        let a = parse_envelope(obj).unwrap();
        let b = parse_envelope(s).unwrap();
        assert_eq!(a.content, b.content);
        assert!(!a.content_was_string && b.content_was_string);
        assert_eq!(b.log_id.as_deref(), Some("L"));
    }

    #[test]
    fn challenge_is_echoed_with_its_numeric_type() {
        let reply = challenge_reply(&json!({"challenge": 12345})).unwrap();
        assert_eq!(reply.to_string(), r#"{"challenge":12345}"#);
    }

    #[test]
    fn enter_event_keys_with_odd_spelling_are_read() {
        let c = ImContent::from_value(&json!({
            "conversation_short_id": "@c", "server_message_id": "@m", "conversation_type": 1,
            "objectId": "v1", "scene_type": "4", "create_time": 1672502407220i64,
            "data-im-extra": "x", "ad_info": "{\"adv_id\":1}",
            "user_infos": [{"open_id": "u", "nick_name": "小王", "avatar": "https://a"}]
        }))
        .unwrap();
        assert_eq!(c.object_id.as_deref(), Some("v1"));
        assert_eq!(c.scene_type, Some(4));
        assert_eq!(
            c.user("u").and_then(|u| u.nick_name.as_deref()),
            Some("小王")
        );
    }
}
