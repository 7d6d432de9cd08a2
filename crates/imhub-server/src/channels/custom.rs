//! The custom channel: how a merchant's own system (a website chat, a CRM)
//! plugs into imhub, and how the whole path is tested without a platform.
//!
//! Inbound: `POST /webhooks/custom/{channel_id}` with
//! `X-Imhub-Signature: sha256=<hex HMAC-SHA256 of the raw body>` keyed with
//! the channel secret, and a JSON [`CustomPush`]. Outbound: imhub POSTs a
//! [`CustomDelivery`], signed the same way, to the channel's `outbound_url`;
//! any 2xx means sent.

use std::time::Duration;

use hmac::{Hmac, Mac};
use imhub_core::{
    AccountRef, Channel, ContactInfo, Content, ConversationKind, DeliveryError, Direction,
    InboundEvent, InboundMessage, Outbound, OutboundTarget, Peer, Platform, Push, PushError,
    PushOutcome, PushReply, Refusal, SendReceipt, Timestamp,
};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::ConfigError;
use crate::outbound_http::{GuardError, GuardedClient, GuardedResponse, check_syntax};

/// The header carrying the signature, both ways.
pub const SIGNATURE_HEADER: &str = "x-imhub-signature";

/// Configuration keys that are secrets.
pub const SECRET_FIELDS: &[&str] = &["secret"];

/// Longest text the custom channel accepts by default, in characters.
pub const DEFAULT_MAX_TEXT_CHARS: usize = 4000;

/// What a merchant configures for a custom channel.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CustomConfig {
    /// Shared secret for the HMAC signatures, both ways.
    pub secret: String,
    /// Where replies are POSTed. Without it the channel only receives.
    #[serde(default)]
    pub outbound_url: Option<String>,
    #[serde(default = "default_max_text")]
    pub max_text_chars: usize,
}

impl std::fmt::Debug for CustomConfig {
    /// Never shows the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomConfig")
            .field("secret", &"***")
            .field("outbound_url", &self.outbound_url)
            .field("max_text_chars", &self.max_text_chars)
            .finish()
    }
}

fn default_max_text() -> usize {
    DEFAULT_MAX_TEXT_CHARS
}

/// `sha256=<hex>` of the body, as the signature header carries it.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a signature header in constant time.
pub fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// An inbound push from the merchant's system.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomPush {
    /// The push's own id; a second push with the same id is a replay.
    pub event_id: String,
    /// `message` (default) or `recall`.
    #[serde(default = "default_type", rename = "type")]
    pub kind: String,
    pub account: CustomAccount,
    /// The customer (for a group: the member who wrote).
    pub contact: CustomContact,
    /// Set for a group conversation.
    #[serde(default)]
    pub group: Option<CustomGroup>,
    pub message: CustomMessage,
}

fn default_type() -> String {
    "message".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomAccount {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomContact {
    pub id: String,
    #[serde(default)]
    pub nickname: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomGroup {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomMessage {
    pub id: String,
    /// Required for `message` pushes.
    #[serde(default)]
    pub content: Option<Content>,
    /// RFC 3339 or Unix milliseconds; the receipt time when absent.
    #[serde(default)]
    pub sent_at: Option<Timestamp>,
    /// `in` (default, the customer wrote) or `out` (the merchant wrote elsewhere).
    #[serde(default)]
    pub direction: Option<PushDirection>,
}

/// Who wrote a pushed message: a push never carries a private note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PushDirection {
    In,
    Out,
}

impl From<PushDirection> for Direction {
    fn from(d: PushDirection) -> Self {
        match d {
            PushDirection::In => Direction::In,
            PushDirection::Out => Direction::Out,
        }
    }
}

/// What imhub POSTs to the merchant's `outbound_url`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct CustomDelivery {
    /// `message` or `recall`.
    #[serde(rename = "type")]
    pub kind: String,
    /// imhub's message id.
    pub message_id: i64,
    /// Stable across retries: drop a second delivery with the same id.
    pub client_message_id: String,
    pub account_id: String,
    /// `direct` or `group`.
    pub peer_kind: String,
    pub peer_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// For `recall`: the id the merchant's system answered when it was sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_message_id: Option<String>,
}

/// The custom channel's adapter.
pub struct CustomChannel {
    config: CustomConfig,
    /// The merchant chose `outbound_url`: every request goes through the guard.
    http: GuardedClient,
    /// Timeout of one request; the guard caps it.
    timeout: Option<Duration>,
}

impl CustomChannel {
    /// Reads and checks the configuration. The form of `outbound_url` is
    /// checked here; its address when the channel is saved and at every
    /// request (by the guarded client).
    pub fn new(config: &serde_json::Value, http: GuardedClient) -> Result<Self, ConfigError> {
        let config: CustomConfig =
            serde_json::from_value(config.clone()).map_err(|e| ConfigError::Invalid {
                platform: "custom",
                reason: e.to_string(),
            })?;
        if config.secret.len() < 16 {
            return Err(ConfigError::Invalid {
                platform: "custom",
                reason: "secret must be at least 16 characters".into(),
            });
        }
        if let Some(url) = &config.outbound_url {
            check_syntax(url).map_err(|e| ConfigError::Invalid {
                platform: "custom",
                reason: format!("outbound_url: {e}"),
            })?;
        }
        Ok(CustomChannel {
            config,
            http,
            timeout: None,
        })
    }

    /// The same channel with its own request timeout (within the guard's cap).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    async fn post(&self, delivery: &CustomDelivery) -> Result<Option<String>, DeliveryError> {
        let Some(url) = &self.config.outbound_url else {
            return Err(DeliveryError::Permanent {
                code: "no_outbound_url".into(),
                text: "this custom channel has no outbound_url".into(),
            });
        };
        let body = serde_json::to_vec(delivery).map_err(|e| DeliveryError::Permanent {
            code: "encode".into(),
            text: e.to_string(),
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let signature = sign(&self.config.secret, &body);
        for (name, value) in [
            (SIGNATURE_HEADER, signature.as_str()),
            ("idempotency-key", delivery.client_message_id.as_str()),
        ] {
            let value = HeaderValue::from_str(value).map_err(|_| DeliveryError::Permanent {
                code: "encode".into(),
                text: format!("{name} is not a valid header value"),
            })?;
            headers.insert(name, value);
        }
        let response = self
            .http
            .post_within(url, headers, body, self.timeout)
            .await
            .map_err(guard_failure)?;
        answer(&response)
    }
}

/// A guard refusal or a request that got no answer, as a delivery error: a
/// refused or malformed target fails for good (nothing else is lost: the
/// conversation's later replies go on), anything else is retried.
pub fn guard_failure(e: GuardError) -> DeliveryError {
    if e.is_permanent() {
        DeliveryError::Permanent {
            code: e.code().into(),
            text: e.to_string(),
        }
    } else {
        DeliveryError::Retryable {
            reason: e.to_string(),
        }
    }
}

/// The receiver's answer as a send result. Only the status and our own
/// words reach the stored error: the receiver's body is never copied, as
/// a tenant reads it and it may hold anything.
fn answer(response: &GuardedResponse) -> Result<Option<String>, DeliveryError> {
    let status = response.status;
    if status.is_success() {
        // The receiver may answer its own id for the message; a body over
        // the cap is not read for one.
        let id = (!response.truncated)
            .then(|| serde_json::from_slice::<serde_json::Value>(&response.body).ok())
            .flatten()
            .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string));
        return Ok(id);
    }
    let code = status.as_u16();
    Err(match code {
        429 => DeliveryError::RateLimited {
            // Capped and overflow-free: a receiver cannot park the
            // conversation or crash the delivery task with a huge value.
            retry_after: response.retry_after().unwrap_or(Duration::from_secs(1)),
            reason: "HTTP 429: the receiver asked to slow down".into(),
        },
        408 | 500..=599 => DeliveryError::Retryable {
            reason: format!("HTTP {code}: the receiver failed"),
        },
        300..=399 => DeliveryError::Permanent {
            code: format!("http_{code}"),
            text: format!("HTTP {code}: the receiver redirected; redirects are not followed"),
        },
        _ => DeliveryError::Permanent {
            code: format!("http_{code}"),
            text: format!("HTTP {code}: the receiver refused the delivery"),
        },
    })
}

fn peer_kind(kind: ConversationKind) -> String {
    kind.as_str().to_string()
}

#[async_trait::async_trait]
impl Channel for CustomChannel {
    fn platform(&self) -> Platform {
        Platform::Custom
    }

    fn check_outbound(&self, _target: &OutboundTarget, content: &Content) -> Result<(), Refusal> {
        content.validate()?;
        if self.config.outbound_url.is_none() {
            return Err(Refusal::new(
                "channel_cannot_send",
                "this custom channel has no outbound_url, so it cannot send",
            ));
        }
        if let Content::Text { text } = content {
            let chars = text.chars().count();
            if chars > self.config.max_text_chars {
                return Err(Refusal::new(
                    "message_too_long",
                    format!(
                        "text has {chars} characters; this channel accepts at most {}",
                        self.config.max_text_chars
                    ),
                ));
            }
        }
        Ok(())
    }

    async fn send(&self, outbound: &Outbound) -> Result<SendReceipt, DeliveryError> {
        let client_message_id = outbound.client_message_id();
        let delivery = CustomDelivery {
            kind: "message".into(),
            message_id: outbound.message_id.0,
            client_message_id: client_message_id.clone(),
            account_id: outbound.target.account_external_id.clone(),
            peer_kind: peer_kind(outbound.target.kind),
            peer_id: outbound.target.peer_external_id.clone(),
            content: Some(outbound.content.clone()),
            platform_message_id: None,
        };
        let id = self.post(&delivery).await?;
        Ok(SendReceipt {
            platform_message_id: Some(id.unwrap_or(client_message_id)),
        })
    }

    async fn recall(
        &self,
        target: &OutboundTarget,
        platform_message_id: &str,
    ) -> Result<(), DeliveryError> {
        let delivery = CustomDelivery {
            kind: "recall".into(),
            message_id: 0,
            client_message_id: format!("recall-{platform_message_id}"),
            account_id: target.account_external_id.clone(),
            peer_kind: peer_kind(target.kind),
            peer_id: target.peer_external_id.clone(),
            content: None,
            platform_message_id: Some(platform_message_id.to_string()),
        };
        self.post(&delivery).await.map(|_| ())
    }

    fn parse_push(&self, push: &Push) -> Result<PushOutcome, PushError> {
        let signature = push
            .header(SIGNATURE_HEADER)
            .ok_or(PushError::BadSignature)?;
        if !verify(&self.config.secret, &push.body, signature) {
            return Err(PushError::BadSignature);
        }
        let parsed: CustomPush =
            serde_json::from_slice(&push.body).map_err(|e| PushError::Malformed(e.to_string()))?;
        // An empty id would make every later push a "duplicate" of this one.
        for (field, value) in [
            ("event_id", &parsed.event_id),
            ("account.id", &parsed.account.id),
            ("contact.id", &parsed.contact.id),
            ("message.id", &parsed.message.id),
        ] {
            if value.trim().is_empty() {
                return Err(PushError::Malformed(format!("{field} must not be empty")));
            }
        }
        let account = AccountRef {
            external_id: parsed.account.id,
            name: parsed.account.name,
        };
        let contact = ContactInfo {
            external_id: parsed.contact.id,
            nickname: parsed.contact.nickname,
            avatar: parsed.contact.avatar,
        };
        let peer = match parsed.group {
            Some(group) => Peer::Group {
                group_id: group.id,
                name: group.name,
                sender: Some(contact),
            },
            None => Peer::Direct(contact),
        };
        let event = match parsed.kind.as_str() {
            "message" => {
                let content = parsed.message.content.ok_or_else(|| {
                    PushError::Malformed("message.content is required for a message".into())
                })?;
                content
                    .validate()
                    .map_err(|r| PushError::Malformed(r.message))?;
                InboundEvent::Message(InboundMessage {
                    account,
                    peer,
                    direction: parsed
                        .message
                        .direction
                        .map_or(Direction::In, Direction::from),
                    platform_message_id: parsed.message.id,
                    content,
                    sent_at: parsed.message.sent_at.unwrap_or(push.received_at),
                    reply_context: None,
                })
            }
            "recall" => InboundEvent::Recalled {
                account,
                peer,
                platform_message_id: parsed.message.id,
            },
            other => InboundEvent::Unprocessable {
                reason: format!("unknown_event_type: {other:?}"),
            },
        };
        Ok(PushOutcome {
            event_key: Some(parsed.event_id),
            events: vec![event],
            reply: PushReply::json(&serde_json::json!({"ok": true})),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guarded() -> GuardedClient {
        GuardedClient::allowing(&["127.0.0.0/8"]).unwrap()
    }

    fn channel() -> CustomChannel {
        CustomChannel::new(
            &serde_json::json!({"secret": "0123456789abcdef", "outbound_url": "http://127.0.0.1:1/x"}),
            guarded(),
        )
        .unwrap()
    }

    fn push(body: &[u8], signature: Option<String>) -> Push {
        Push {
            method: "POST".into(),
            path: "/webhooks/custom/1".into(),
            query: None,
            headers: signature
                .map(|s| vec![(SIGNATURE_HEADER.to_string(), s)])
                .unwrap_or_default(),
            body: body.to_vec(),
            received_at: Timestamp(5),
        }
    }

    const BODY: &[u8] = br#"{"event_id":"e1","account":{"id":"a"},"contact":{"id":"u","nickname":"Ann"},"message":{"id":"m1","content":{"type":"text","text":"hi"}}}"#;

    #[test]
    fn signed_push_becomes_an_inbound_message() {
        let outcome = channel()
            .parse_push(&push(BODY, Some(sign("0123456789abcdef", BODY))))
            .unwrap();
        assert_eq!(outcome.event_key.as_deref(), Some("e1"));
        let InboundEvent::Message(m) = &outcome.events[0] else {
            panic!("expected a message")
        };
        assert_eq!(m.platform_message_id, "m1");
        assert_eq!(m.sent_at, Timestamp(5));
        assert_eq!(m.direction, Direction::In);
    }

    #[test]
    fn wrong_or_missing_signature_is_refused_before_parsing() {
        let c = channel();
        assert_eq!(
            c.parse_push(&push(BODY, Some(sign("another-secret-0000", BODY))))
                .unwrap_err(),
            PushError::BadSignature
        );
        assert_eq!(
            c.parse_push(&push(BODY, None)).unwrap_err(),
            PushError::BadSignature
        );
        assert_eq!(
            c.parse_push(&push(b"not json", Some("sha256=zz".into())))
                .unwrap_err(),
            PushError::BadSignature
        );
    }

    #[test]
    fn malformed_body_with_good_signature_is_malformed() {
        let body = b"{\"event_id\":1}";
        let err = channel()
            .parse_push(&push(body, Some(sign("0123456789abcdef", body))))
            .unwrap_err();
        assert!(matches!(err, PushError::Malformed(_)));
    }

    #[test]
    fn empty_ids_are_malformed_not_silently_deduplicated() {
        let body = br#"{"event_id":" ","account":{"id":"a"},"contact":{"id":"u"},"message":{"id":"m1","content":{"type":"text","text":"hi"}}}"#;
        let err = channel()
            .parse_push(&push(body, Some(sign("0123456789abcdef", body))))
            .unwrap_err();
        assert!(matches!(err, PushError::Malformed(m) if m.contains("event_id")));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let text = format!("{:?}", channel().config);
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }

    #[test]
    fn short_secret_is_refused() {
        assert!(CustomChannel::new(&serde_json::json!({"secret": "short"}), guarded()).is_err());
    }
}
