//! [`MeituanChannel`]: the [`Channel`] implementation. Accounts are stores
//! (`app_poi_code`), contacts are customers (`open_user_id`), group
//! conversations are keyed by `group_id`.

use std::sync::Arc;

use imhub_core::{
    AccountRef, Channel, ContactInfo, ConversationKind, DeliveryError, Direction, InboundEvent,
    InboundMessage, MessageId, Outbound, OutboundTarget, Peer, Platform, Push, PushError,
    PushOutcome, Refusal, SendReceipt, Timestamp,
};
use serde_json::{Value, json};

use crate::{
    client::{MeituanClient, unix_now},
    config::{ConfigError, MeituanConfig},
    content::{self, OutboundBody},
    im::{
        BIZ_TYPE_GROUP, BIZ_TYPE_SINGLE, ConnectionToken, ImCallbackMsg, MSG_SOURCE_STORE,
        MSG_SOURCE_USER, MsgType, PushContent, PushContentReq,
    },
    lenient,
    longconn::{LongConnection, UndocumentedLongConnection},
    push::{self, PushVerifier},
};

/// Sends per second per app the delivery engine should stay under. Meituan
/// documents no IM limit, only the 711 flow-control code (reference §4,
/// §14.8); this conservative number is imhub's own, and a 711 still backs
/// off through [`DeliveryError::RateLimited`].
pub const SEND_PER_SECOND: u32 = 10;

/// Longest `app_poi_code` Meituan accepts.
pub const MAX_APP_POI_CODE_CHARS: usize = 128;

/// Prefix of the peer id given to a customer Meituan does not name.
pub const ANONYMOUS_PEER_PREFIX: &str = "anonymous-";

/// One connected Meituan app.
pub struct MeituanChannel {
    config: MeituanConfig,
    app_id: i64,
    client: MeituanClient,
    verifier: PushVerifier,
    long_connection: Arc<dyn LongConnection>,
}

impl std::fmt::Debug for MeituanChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeituanChannel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl MeituanChannel {
    /// Builds the channel from its configuration; validates, no I/O.
    pub fn new(config: MeituanConfig) -> Result<Self, ConfigError> {
        let app_id = config.validate()?;
        let client = MeituanClient::new(
            config.app_id.trim(),
            config.app_secret.clone(),
            config.base_url.as_deref(),
            config.aes_mode,
        )
        .map_err(|e| match e {
            crate::MeituanError::Crypto(_) => ConfigError::AppSecret,
            other => ConfigError::HttpClient(other.to_string()),
        })?
        .with_access_token(config.access_token.clone());
        let verifier = match &config.push_url {
            Some(url) => PushVerifier::new(
                config.app_id.trim(),
                config.app_secret.clone(),
                url,
                config.push_decode,
            ),
            None => PushVerifier::at_request_url(
                config.app_id.trim(),
                config.app_secret.clone(),
                config.push_decode,
            ),
        };
        Ok(MeituanChannel {
            config,
            app_id,
            client,
            verifier,
            long_connection: Arc::new(UndocumentedLongConnection),
        })
    }

    /// Reads at most `bytes` of any Meituan answer (default 64 KiB).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.client = self.client.with_max_response_bytes(bytes);
        self
    }

    /// Plugs in an implementation of the long connection (see [`crate::longconn`]).
    pub fn with_long_connection(mut self, lc: Arc<dyn LongConnection>) -> Self {
        self.long_connection = lc;
        self
    }

    /// The long-connection extension point currently installed.
    pub fn long_connection(&self) -> &Arc<dyn LongConnection> {
        &self.long_connection
    }

    /// The typed client, for calls the [`Channel`] trait does not cover.
    pub fn client(&self) -> &MeituanClient {
        &self.client
    }

    /// The configuration this channel was built from.
    pub fn config(&self) -> &MeituanConfig {
        &self.config
    }

    /// Meituan's `msg_id` for one of our messages: our message id itself,
    /// so every retry of a message carries the same `msg_id` and Meituan (and
    /// anyone reading its logs) can recognise it as the same message.
    pub fn msg_id_for(message_id: MessageId) -> i64 {
        message_id.0
    }

    /// Fetches a long-connection token; a non-zero `userCount` (users whose
    /// messages failed to reach us in the last 30 minutes) is logged as a warning.
    pub async fn connection_token(&self) -> Result<ConnectionToken, DeliveryError> {
        self.client
            .get_connection_token()
            .await
            .map_err(|e| e.classify())
    }

    /// The customer's last read time in a direct conversation, where Meituan
    /// provides it (`wm/IM/userReadTime`, parameters unverified).
    pub async fn user_read_time(
        &self,
        target: &OutboundTarget,
    ) -> Result<Option<Timestamp>, DeliveryError> {
        let Some(open_user_id) = direct_user(target) else {
            return Ok(None);
        };
        self.client
            .user_read_time(&target.account_external_id, open_user_id)
            .await
            .map(|t| t.map(Timestamp))
            .map_err(|e| e.classify())
    }

    /// Builds the `push_content` of a send (content not yet encrypted is
    /// encrypted here), refusing what Meituan cannot carry.
    pub fn build_push_content(
        &self,
        outbound: &Outbound,
        cts: i64,
    ) -> Result<PushContentReq, Refusal> {
        let (body, peer_id) = self.checked(&outbound.target, &outbound.content)?;
        let group = outbound.target.kind == ConversationKind::Group;
        let msg_id = Self::msg_id_for(outbound.message_id);
        if msg_id <= 0 {
            return Err(Refusal::new(
                "invalid_message",
                "message id must be positive",
            ));
        }
        let msg_content = if body.msg_type.has_content() {
            self.client.cipher().encrypt(&body.plain_content)
        } else {
            String::new()
        };
        Ok(PushContentReq {
            app_id: self.app_id,
            app_poi_code: outbound.target.account_external_id.clone(),
            msg_id,
            msg_content,
            msg_source: MSG_SOURCE_STORE,
            msg_type: body.msg_type.code(),
            cts,
            open_user_id: (!group).then_some(peer_id),
            order_id: if group {
                None
            } else {
                reply_order_id(outbound.target.reply_context.as_ref())
            },
            group_id: group.then_some(peer_id),
            app_spu_codes: body.app_spu_codes,
        })
    }

    /// The checks of [`Channel::check_outbound`], returning the mapped body
    /// and the numeric peer (open_user_id or group_id).
    fn checked(
        &self,
        target: &OutboundTarget,
        content: &imhub_core::Content,
    ) -> Result<(OutboundBody, i64), Refusal> {
        let store = target.account_external_id.trim();
        if store.is_empty() || store.chars().count() > MAX_APP_POI_CODE_CHARS {
            return Err(Refusal::new(
                "invalid_target",
                "app_poi_code must be 1 to 128 characters",
            ));
        }
        let group = target.kind == ConversationKind::Group;
        let peer = target
            .peer_external_id
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0);
        let peer = match (peer, group) {
            (Some(id), _) => id,
            (None, false) => {
                return Err(Refusal::new(
                    "recipient_unknown",
                    "meituan did not name this customer (open_user_id -1); they cannot be answered",
                ));
            }
            (None, true) => {
                return Err(Refusal::new(
                    "invalid_target",
                    "group_id must be a positive integer",
                ));
            }
        };
        let body = content::to_outbound(content, group, self.config.b2c)?;
        Ok((body, peer))
    }

    fn map_push(&self, msg: &ImCallbackMsg, pc: PushContent) -> InboundEvent {
        match self.map_message(msg, pc) {
            Ok(m) => InboundEvent::Message(m),
            Err(reason) => InboundEvent::Unprocessable { reason },
        }
    }

    fn map_message(&self, msg: &ImCallbackMsg, pc: PushContent) -> Result<InboundMessage, String> {
        let store = pc
            .app_poi_code
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or("push_content without app_poi_code")?;
        let msg_id = pc.msg_id.ok_or("push_content without msg_id")?;
        let msg_type = pc.msg_type.ok_or("push_content without msg_type")?;
        let direction = match pc.msg_source {
            Some(MSG_SOURCE_USER) => Direction::In,
            // The store replied from Meituan's own merchant app: our side.
            Some(MSG_SOURCE_STORE) => Direction::Out,
            other => return Err(format!("unknown msg_source {other:?}")),
        };
        let known = MsgType::from_code(msg_type);
        let plain = if known.is_some_and(|t| !t.has_content()) {
            None
        } else {
            let cipher_text = pc
                .msg_content
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .ok_or("push_content without msg_content")?;
            Some(
                self.client
                    .cipher()
                    .decrypt(cipher_text)
                    .map_err(|e| format!("msg_content does not decrypt: {e}"))?,
            )
        };
        let content = content::from_inbound(msg_type, plain.as_deref(), &pc);
        let user = pc.open_user_id.filter(|id| *id > 0);
        let group = match msg.biz_type {
            Some(BIZ_TYPE_GROUP) => true,
            Some(BIZ_TYPE_SINGLE) => false,
            _ => known.is_some_and(MsgType::is_group) || pc.group_id.is_some_and(|g| g > 0),
        };
        let peer = if group {
            let group_id = pc
                .group_id
                .filter(|g| *g > 0)
                .ok_or("group push without group_id")?;
            Peer::Group {
                group_id: group_id.to_string(),
                name: None,
                sender: user.map(contact),
            }
        } else {
            match user {
                Some(id) => Peer::Direct(contact(id)),
                // open_user_id -1 (or absent) means Meituan did not tell us
                // who wrote. Merging every such push into one "-1"
                // conversation would mix unrelated customers (and their
                // orders) in one thread and let an agent's answer go to the
                // wrong person, so each such message gets its own peer,
                // named after Meituan's msg_id, which is unique per message
                // of an app. Such a peer is never a valid recipient.
                None => Peer::Direct(ContactInfo {
                    external_id: format!("{ANONYMOUS_PEER_PREFIX}{msg_id}"),
                    nickname: None,
                    avatar: None,
                }),
            }
        };
        let sent_at = pc.cts.filter(|c| *c > 0).unwrap_or(msg.timestamp);
        let order_id = pc.order_id.filter(|o| *o > 0);
        let reply_context = if group {
            // msgRead names the customer who wrote (`open_user_id`), which a
            // group conversation's peer (the group) does not tell: the
            // sender of the newest inbound message travels in the reply
            // context, which the store keeps from exactly that message. It
            // is always set, null for an unnamed sender, so a newer message
            // never leaves an older sender in place.
            Some(json!({ "order_id": order_id, GROUP_SENDER_KEY: user }))
        } else {
            order_id.map(|o| json!({ "order_id": o }))
        };
        Ok(InboundMessage {
            account: AccountRef {
                external_id: store,
                name: None,
            },
            peer,
            direction,
            platform_message_id: msg_id.to_string(),
            content,
            sent_at: Timestamp(sent_at.saturating_mul(1000)),
            reply_context,
        })
    }
}

fn contact(open_user_id: i64) -> ContactInfo {
    ContactInfo {
        external_id: open_user_id.to_string(),
        nickname: None,
        avatar: None,
    }
}

/// The reply-context key naming the sender of a group conversation's newest
/// inbound message, the `open_user_id` its msgRead needs.
pub const GROUP_SENDER_KEY: &str = "open_user_id";

/// The order a conversation is about, from the reply context set on inbound
/// messages (`{"order_id": …}`, number or text): Meituan names it on the
/// customer's messages, and imhub names it again on each reply.
pub fn reply_order_id(ctx: Option<&Value>) -> Option<i64> {
    let v = ctx?.get("order_id")?;
    lenient::value_to_i64(v).ok().flatten().filter(|o| *o > 0)
}

fn direct_user(target: &OutboundTarget) -> Option<i64> {
    if target.kind != ConversationKind::Direct {
        return None;
    }
    target
        .peer_external_id
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
}

/// The customer msgRead names: the peer of a direct conversation, or the
/// sender of a group conversation's newest inbound message.
fn read_receipt_user(target: &OutboundTarget) -> Option<i64> {
    match target.kind {
        ConversationKind::Direct => direct_user(target),
        ConversationKind::Group => {
            let v = target.reply_context.as_ref()?.get(GROUP_SENDER_KEY)?;
            lenient::value_to_i64(v).ok().flatten().filter(|u| *u > 0)
        }
    }
}

#[async_trait::async_trait]
impl Channel for MeituanChannel {
    fn platform(&self) -> Platform {
        Platform::Meituan
    }

    /// `wm/IM/msgRead` shows the customer their message was read. No reply
    /// window is documented for Meituan IM, so `reply_window` stays `None`.
    fn supports_read_receipts(&self) -> bool {
        true
    }

    fn check_outbound(
        &self,
        target: &OutboundTarget,
        content: &imhub_core::Content,
    ) -> Result<(), Refusal> {
        self.checked(target, content).map(|_| ())
    }

    async fn send(&self, outbound: &Outbound) -> Result<SendReceipt, DeliveryError> {
        let req = self.build_push_content(outbound, unix_now()).map_err(|r| {
            DeliveryError::Unsupported {
                reason: r.to_string(),
            }
        })?;
        self.client
            .send_push_content(&req)
            .await
            .map_err(|e| e.classify())?;
        // Meituan returns no id of its own for a sent message (reference
        // §6): our msg_id is the platform message id.
        Ok(SendReceipt {
            platform_message_id: Some(req.msg_id.to_string()),
        })
    }

    async fn mark_read(
        &self,
        target: &OutboundTarget,
        platform_message_id: &str,
    ) -> Result<(), DeliveryError> {
        // msgRead names one customer; anonymous customers (and groups whose
        // newest message has no named sender) have no read receipt to send.
        // For groups the reference documents no msgRead of its own; the
        // documented call is made for the group message and its sender.
        let Some(open_user_id) = read_receipt_user(target) else {
            return Ok(());
        };
        let msg_id =
            platform_message_id
                .trim()
                .parse::<i64>()
                .map_err(|_| DeliveryError::Permanent {
                    code: "invalid_msg_id".into(),
                    text: format!("{platform_message_id:?} is not a meituan msg_id"),
                })?;
        self.client
            .msg_read(&target.account_external_id, msg_id, open_user_id)
            .await
            .map_err(|e| e.classify())
    }

    fn parse_push(&self, push: &Push) -> Result<PushOutcome, PushError> {
        let Some(msg) = self.verifier.verify(push)? else {
            return Ok(PushOutcome {
                event_key: None,
                events: Vec::new(),
                reply: push::ok_reply(),
            });
        };
        if msg.biz_type.is_none() && msg.push_content.is_none() {
            // A signed probe: nothing to store.
            return Ok(PushOutcome {
                event_key: None,
                events: Vec::new(),
                reply: push::ok_reply(),
            });
        }
        // Verified from here on: whatever we cannot read is kept raw and
        // answered "ok", because Meituan resending it would not make it
        // readable.
        let (event_key, event) = match msg.parse_push_content() {
            Ok(pc) => {
                let key = pc.msg_id.map(|id| format!("{}:{id}", msg.app_id));
                (key, self.map_push(&msg, pc))
            }
            Err(reason) => (None, InboundEvent::Unprocessable { reason }),
        };
        Ok(PushOutcome {
            event_key,
            events: vec![event],
            reply: push::ok_reply(),
        })
    }
}

#[cfg(test)]
mod tests {
    use imhub_core::{Content, MessageId};

    use super::*;
    use crate::{push::encode_push_body, sign};

    const SECRET: &str = "0123456789abcdef0123";
    const URL: &str = "https://hub.example.com/webhooks/meituan/7";

    fn channel() -> MeituanChannel {
        MeituanChannel::new(
            serde_json::from_value(json!({
                "app_id": "4321", "app_secret": SECRET, "push_url": URL
            }))
            .unwrap(),
        )
        .unwrap()
    }

    fn push_of(biz_type: &str, push_content: &str) -> Push {
        let ts = unix_now().to_string();
        let mut p = sign::Params::new();
        p.insert("app_id".into(), "4321".into());
        p.insert("timestamp".into(), ts.clone());
        p.insert("biz_type".into(), biz_type.into());
        p.insert("push_content".into(), push_content.into());
        let sig = sign::sign(URL, &p, SECRET);
        let body = encode_push_body(
            &[
                ("app_id", "4321"),
                ("timestamp", &ts),
                ("biz_type", biz_type),
                ("push_content", push_content),
                ("sig", &sig),
            ],
            true,
        );
        Push {
            method: "POST".into(),
            path: "/webhooks/meituan/7".into(),
            query: None,
            headers: vec![],
            body: body.into_bytes(),
            received_at: Timestamp::now(),
        }
    }

    fn only_event(c: &MeituanChannel, push: &Push) -> InboundEvent {
        let outcome = c.parse_push(push).unwrap();
        assert_eq!(outcome.reply, push::ok_reply());
        assert_eq!(outcome.events.len(), 1);
        outcome.events[0].clone()
    }

    #[test]
    fn push_content_that_is_not_json_is_unprocessable() {
        let c = channel();
        assert!(matches!(
            only_event(&c, &push_of("1", "not json")),
            InboundEvent::Unprocessable { .. }
        ));
    }

    #[test]
    fn unknown_msg_source_and_group_without_group_id_are_unprocessable() {
        let c = channel();
        let content = c.client().cipher().encrypt("hi");
        let pc = json!({"app_poi_code":"s","msg_id":1,"msg_type":1,"msg_source":7,"msg_content":content,"open_user_id":5});
        match only_event(&c, &push_of("1", &pc.to_string())) {
            InboundEvent::Unprocessable { reason } => assert!(reason.contains("msg_source")),
            other => panic!("{other:?}"),
        }
        let pc = json!({"app_poi_code":"s","msg_id":1,"msg_type":11,"msg_source":2,"msg_content":content,"open_user_id":5});
        match only_event(&c, &push_of("2", &pc.to_string())) {
            InboundEvent::Unprocessable { reason } => assert!(reason.contains("group_id")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn goods_card_push_needs_no_msg_content() {
        let c = channel();
        let pc = json!({"app_poi_code":"s","msg_id":"9","msg_type":"4","msg_source":2,"open_user_id":"5","app_spu_codes":"a,b"});
        match only_event(&c, &push_of("1", &pc.to_string())) {
            InboundEvent::Message(m) => {
                assert_eq!(
                    m.content,
                    Content::GoodsCard {
                        product_codes: vec!["a".into(), "b".into()]
                    }
                );
                assert_eq!(m.peer.external_id(), "5");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn group_messages_carry_their_sender_for_msg_read() {
        let c = channel();
        let content = c.client().cipher().encrypt("hi");
        let target = |m: &InboundMessage| OutboundTarget {
            kind: ConversationKind::Group,
            account_external_id: "s".into(),
            peer_external_id: m.peer.external_id().to_string(),
            reply_context: m.reply_context.clone(),
            last_inbound_at: None,
        };
        let named = json!({"app_poi_code":"s","msg_id":1,"msg_type":11,"msg_source":2,
            "msg_content":content,"open_user_id":5,"group_id":77});
        let InboundEvent::Message(m) = only_event(&c, &push_of("2", &named.to_string())) else {
            panic!("not a message");
        };
        assert_eq!(m.peer.external_id(), "77");
        assert_eq!(read_receipt_user(&target(&m)), Some(5));
        // An unnamed sender still replaces the context, so an older
        // sender is never paired with a newer message.
        let unnamed = json!({"app_poi_code":"s","msg_id":2,"msg_type":11,"msg_source":2,
            "msg_content":content,"open_user_id":-1,"group_id":77});
        let InboundEvent::Message(m) = only_event(&c, &push_of("2", &unnamed.to_string())) else {
            panic!("not a message");
        };
        assert_eq!(
            m.reply_context,
            Some(json!({"order_id": null, "open_user_id": null}))
        );
        assert_eq!(read_receipt_user(&target(&m)), None);
    }

    #[test]
    fn push_content_carries_encrypted_text_and_our_msg_id() {
        let c = channel();
        let outbound = Outbound {
            message_id: MessageId(77),
            target: OutboundTarget {
                kind: ConversationKind::Direct,
                account_external_id: "s".into(),
                peer_external_id: "5".into(),
                reply_context: Some(json!({"order_id": "27001234567890123"})),
                last_inbound_at: None,
            },
            content: Content::Text {
                text: "好的".into(),
            },
        };
        assert!(c.supports_read_receipts());
        assert_eq!(c.reply_window(), None);
        let req = c.build_push_content(&outbound, 1_700_000_000).unwrap();
        assert_eq!(req.msg_id, 77);
        assert_eq!(req.app_id, 4321);
        assert_eq!(req.msg_source, 1);
        assert_eq!(req.order_id, Some(27001234567890123));
        assert_eq!(req.open_user_id, Some(5));
        assert_eq!(
            c.client().cipher().decrypt(&req.msg_content).unwrap(),
            "好的"
        );
    }
}
