//! [`TencentChannel`]: imhub's `Channel` for one Tencent IM app. Sends as the
//! conversation's account (`From_Account`), syncs to the merchant's other
//! devices (`SyncOtherMachine` = 1), and derives `MsgRandom`/`MsgSeq` from our
//! message id so a retried send is the same message to Tencent's dedup.

use imhub_core::{
    Channel, Content, ConversationKind, DeliveryError, MessageId, Outbound, OutboundTarget,
    Platform, Push, PushError, PushOutcome, Refusal, SendReceipt,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    c2c::{MsgWithdrawRequest, SYNC_TO_SENDER, SendMsgRequest, SetMsgReadRequest},
    callback::{
        CallbackQuery, DEFAULT_MAX_CALLBACK_WINDOW_SECS, MAX_CALLBACK_WINDOW_SECS, MerchantSide,
        callback_events, ok_reply, verify_callback,
    },
    client::TencentClient,
    config::TencentConfig,
    elements::MsgElement,
    errors::{ConfigError, TencentError},
    group::{GroupMsgRecallRequest, MsgSeqItem, SendGroupMsgRequest},
    mapping::{content_to_elements, msg_body_bytes},
};

/// `MsgRandom` (C2C) / `Random` (group) for one of our messages: the first four
/// bytes of SHA-256(`imhub-{id}`), so every attempt of a send carries the same value.
pub fn msg_random_for(id: MessageId) -> u32 {
    let d = Sha256::digest(format!("imhub-{}", id.0).as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// A group message's id in imhub: `{GroupId}:{MsgSeq}`. MsgSeq counts from 1
/// in every group, so on its own it would make messages of different groups
/// look like duplicates of each other.
pub fn group_message_id(group_id: &str, msg_seq: u64) -> String {
    format!("{group_id}:{msg_seq}")
}

/// `MsgSeq` for one of our C2C messages: the low 32 bits of our id.
pub fn msg_seq_for(id: MessageId) -> u32 {
    (id.0 as u64 & 0xffff_ffff) as u32
}

/// The Tencent IM adapter for one connected app.
#[derive(Debug, Clone)]
pub struct TencentChannel {
    config: TencentConfig,
    client: TencentClient,
    side: MerchantSide,
    /// The replay window actually applied: the channel's own, capped by the operator.
    callback_window_secs: u64,
}

impl TencentChannel {
    /// Builds the adapter from a merchant's config; no I/O.
    pub fn new(config: TencentConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let client = TencentClient::new(
            &config.effective_base_url(),
            config.sdkappid,
            &config.key,
            &config.identifier,
        )?;
        let side = MerchantSide {
            admin: config.identifier.clone(),
            accounts: config.merchant_accounts.clone(),
            default_account: config.default_account.clone(),
        };
        let callback_window_secs = config
            .callback_window_secs
            .min(DEFAULT_MAX_CALLBACK_WINDOW_SECS);
        Ok(TencentChannel {
            config,
            client,
            side,
            callback_window_secs,
        })
    }

    /// Applies the operator's cap on the callback replay window
    /// (`platforms.tencent.max_callback_window_secs`, default 60): the
    /// channel's `callback_window_secs` is used up to the cap, and the cap
    /// itself never exceeds [`MAX_CALLBACK_WINDOW_SECS`].
    pub fn with_max_callback_window(mut self, max_secs: u64) -> Self {
        let cap = max_secs.min(MAX_CALLBACK_WINDOW_SECS);
        self.callback_window_secs = self.config.callback_window_secs.min(cap);
        self
    }

    /// Reads at most `bytes` of any Tencent answer (default 64 KiB).
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.client = self.client.with_max_response_bytes(bytes);
        self
    }

    /// The replay window callbacks are checked with, in seconds.
    pub fn callback_window_secs(&self) -> u64 {
        self.callback_window_secs
    }

    /// The REST client, for calls the `Channel` trait does not cover.
    pub fn client(&self) -> &TencentClient {
        &self.client
    }

    /// The configuration this channel was built from.
    pub fn config(&self) -> &TencentConfig {
        &self.config
    }

    /// Maps and size-checks a content: the body we would send.
    pub fn body_for(&self, content: &Content) -> Result<Vec<MsgElement>, Refusal> {
        let body = content_to_elements(content)?;
        let bytes = msg_body_bytes(&body);
        if bytes > self.config.max_message_bytes {
            return Err(Refusal::new(
                "message_too_large",
                format!(
                    "tencent messages are limited to {} bytes; this one is {bytes}",
                    self.config.max_message_bytes
                ),
            ));
        }
        Ok(body)
    }
}

impl TencentChannel {
    /// `ForbidCallbackControl` for our own sends: the after-send callback is
    /// suppressed unless the merchant asked for echoes (`echo_own_sends`).
    fn own_send_callbacks(&self) -> Vec<String> {
        if self.config.echo_own_sends {
            Vec::new()
        } else {
            vec![FORBID_AFTER_SEND_CALLBACK.to_string()]
        }
    }
}

/// The `ForbidCallbackControl` flag that suppresses the after-send callback.
pub const FORBID_AFTER_SEND_CALLBACK: &str = "ForbidAfterSendMsgCallback";

#[async_trait::async_trait]
impl Channel for TencentChannel {
    fn platform(&self) -> Platform {
        Platform::Tencent
    }

    /// `admin_set_msg_read` tells Tencent the merchant's account read a
    /// one-to-one conversation, so reading in imhub clears the customer's
    /// "unread" mark in their app.
    fn supports_read_receipts(&self) -> bool {
        true
    }

    fn check_outbound(&self, target: &OutboundTarget, content: &Content) -> Result<(), Refusal> {
        if target.peer_external_id.is_empty() {
            return Err(Refusal::new(
                "invalid_target",
                "the peer UserID or GroupId is empty",
            ));
        }
        self.body_for(content).map(drop)
    }

    async fn send(&self, outbound: &Outbound) -> Result<SendReceipt, DeliveryError> {
        let body = self
            .body_for(&outbound.content)
            .map_err(DeliveryError::from)?;
        let t = &outbound.target;
        let from = (!t.account_external_id.is_empty()).then(|| t.account_external_id.clone());
        let random = msg_random_for(outbound.message_id);
        match t.kind {
            ConversationKind::Direct => {
                let req = SendMsgRequest {
                    sync_other_machine: Some(SYNC_TO_SENDER),
                    from_account: from,
                    to_account: t.peer_external_id.clone(),
                    msg_life_time: crate::client::clamp_life_time(self.config.msg_life_time),
                    msg_seq: Some(msg_seq_for(outbound.message_id)),
                    msg_random: random,
                    msg_body: body,
                    forbid_callback_control: self.own_send_callbacks(),
                    ..Default::default()
                };
                let resp = self.client.send_msg(&req).await?;
                Ok(SendReceipt {
                    platform_message_id: Some(resp.msg_key).filter(|k| !k.is_empty()),
                })
            }
            ConversationKind::Group => {
                let req = SendGroupMsgRequest {
                    group_id: t.peer_external_id.clone(),
                    random,
                    msg_body: body,
                    from_account: from,
                    forbid_callback_control: self.own_send_callbacks(),
                    ..Default::default()
                };
                let resp = self.client.send_group_msg(&req).await?;
                if !resp.msg_drop_reason.is_empty() {
                    return Err(DeliveryError::Permanent {
                        code: "MsgDropReason".into(),
                        text: resp.msg_drop_reason,
                    });
                }
                Ok(SendReceipt {
                    platform_message_id: Some(group_message_id(
                        &outbound.target.peer_external_id,
                        resp.msg_seq,
                    )),
                })
            }
        }
    }

    async fn recall(
        &self,
        target: &OutboundTarget,
        platform_message_id: &str,
    ) -> Result<(), DeliveryError> {
        match target.kind {
            ConversationKind::Direct => {
                let req = MsgWithdrawRequest {
                    from_account: target.account_external_id.clone(),
                    to_account: target.peer_external_id.clone(),
                    msg_key: platform_message_id.to_string(),
                };
                Ok(self.client.msg_withdraw(&req).await?)
            }
            ConversationKind::Group => {
                let seq = platform_message_id
                    .rsplit_once(':')
                    .and_then(|(_, seq)| seq.parse::<u64>().ok())
                    .ok_or_else(|| DeliveryError::Permanent {
                        code: "invalid_msg_seq".into(),
                        text: format!("{platform_message_id} is not a group message id"),
                    })?;
                let req = GroupMsgRecallRequest {
                    group_id: target.peer_external_id.clone(),
                    msg_seq_list: vec![MsgSeqItem { msg_seq: seq }],
                    topic_id: None,
                };
                let resp = self.client.group_msg_recall(&req).await?;
                match resp.recall_ret_list.iter().find(|r| r.msg_seq == seq) {
                    Some(r) if r.ret_code != 0 => Err(TencentError::Api {
                        code: r.ret_code,
                        info: format!("group recall of MsgSeq {seq} refused"),
                    }
                    .into()),
                    _ => Ok(()),
                }
            }
        }
    }

    async fn mark_read(
        &self,
        target: &OutboundTarget,
        platform_message_id: &str,
    ) -> Result<(), DeliveryError> {
        let _ = platform_message_id;
        match target.kind {
            // `MsgKey` is opaque (its `seq_random_time` shape is inferred),
            // so we omit `MsgReadTime` and Tencent marks everything up to now.
            ConversationKind::Direct => {
                let req = SetMsgReadRequest {
                    report_account: target.account_external_id.clone(),
                    peer_account: target.peer_external_id.clone(),
                    msg_read_time: None,
                };
                Ok(self.client.set_msg_read(&req).await?)
            }
            // Group read state has no REST call in scope; accept and do nothing.
            ConversationKind::Group => Ok(()),
        }
    }

    fn parse_push(&self, push: &Push) -> Result<PushOutcome, PushError> {
        let query = CallbackQuery::parse(push.query.as_deref().unwrap_or(""));
        let now = u64::try_from(push.received_at.millis() / 1000).unwrap_or(0);
        verify_callback(
            &query,
            self.config.sdkappid,
            self.config.callback_token.as_deref(),
            now,
            self.callback_window_secs,
        )?;
        let body: Value = serde_json::from_slice(&push.body)
            .map_err(|e| PushError::Malformed(format!("body is not JSON: {e}")))?;
        let command = query
            .callback_command
            .clone()
            .or_else(|| {
                body.get("CallbackCommand")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| PushError::Malformed("CallbackCommand missing".into()))?;
        let (event_key, events) = callback_events(&command, &body, &self.side, push.received_at)?;
        Ok(PushOutcome {
            event_key,
            events,
            reply: ok_reply(),
        })
    }
}

#[cfg(test)]
mod tests {
    use imhub_core::Timestamp;

    use super::*;

    fn channel(max: usize) -> TencentChannel {
        let mut c = TencentConfig::new(1_400_000_000, "key", "admin");
        c.max_message_bytes = max;
        c.callback_token = Some("tok".into());
        c.merchant_accounts = vec!["shop".into()];
        TencentChannel::new(c).unwrap()
    }

    fn target() -> OutboundTarget {
        OutboundTarget {
            kind: ConversationKind::Direct,
            account_external_id: "shop".into(),
            peer_external_id: "alice".into(),
            reply_context: None,
            last_inbound_at: None,
        }
    }

    #[test]
    fn msg_random_is_deterministic_per_message_id() {
        assert_eq!(msg_random_for(MessageId(42)), msg_random_for(MessageId(42)));
        assert_ne!(msg_random_for(MessageId(42)), msg_random_for(MessageId(43)));
        assert_eq!(msg_seq_for(MessageId(42)), 42);
    }

    #[test]
    fn oversize_text_is_refused_as_message_too_large() {
        let ch = channel(8192);
        let big = Content::Text {
            text: "字".repeat(3000),
        };
        assert_eq!(
            ch.check_outbound(&target(), &big).unwrap_err().code,
            "message_too_large"
        );
        let small = Content::Text { text: "hi".into() };
        assert!(ch.check_outbound(&target(), &small).is_ok());
        let lead = Content::LeadCard {
            card_id: "c".into(),
            title: None,
            status: None,
            fields: Vec::new(),
        };
        assert_eq!(
            ch.check_outbound(&target(), &lead).unwrap_err().code,
            "content_not_supported"
        );
    }

    #[test]
    fn push_with_a_bad_sign_is_refused_before_parsing() {
        let ch = channel(8192);
        let now = 1_700_000_000i64;
        let push = |sign: &str| {
            Push {
            method: "POST".into(),
            path: "/webhooks/tencent/1".into(),
            query: Some(format!(
                "SdkAppid=1400000000&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json&ClientIP=1.1.1.1&OptPlatform=iOS&Sign={sign}&RequestTime={now}"
            )),
            headers: vec![],
            body: br#"{"CallbackCommand":"C2C.CallbackAfterSendMsg","From_Account":"alice","To_Account":"shop","MsgKey":"1_2_3","MsgTime":3,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}"#.to_vec(),
            received_at: Timestamp(now * 1000),
        }
        };
        let bad = push(&"0".repeat(64));
        assert!(matches!(ch.parse_push(&bad), Err(PushError::BadSignature)));
        let good = push(&crate::callback::callback_sign("tok", &now.to_string()));
        let out = ch.parse_push(&good).unwrap();
        assert_eq!(out.reply.status, 200);
        assert_eq!(
            String::from_utf8(out.reply.body).unwrap(),
            r#"{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}"#
        );
        assert_eq!(out.events.len(), 1);
    }

    fn signed_push(now: i64, request_time: i64) -> Push {
        let sign = crate::callback::callback_sign("tok", &request_time.to_string());
        Push {
            method: "POST".into(),
            path: "/webhooks/tencent/1".into(),
            query: Some(format!(
                "SdkAppid=1400000000&CallbackCommand=C2C.CallbackAfterSendMsg&Sign={sign}&RequestTime={request_time}"
            )),
            headers: vec![],
            body: br#"{"From_Account":"alice","To_Account":"shop","MsgKey":"1_2_3","MsgTime":3,"MsgBody":[]}"#.to_vec(),
            received_at: Timestamp(now * 1000),
        }
    }

    #[test]
    fn callback_window_is_capped_by_the_operator() {
        let now = 1_700_000_000i64;
        let mut c = TencentConfig::new(1_400_000_000, "key", "admin");
        c.callback_token = Some("tok".into());
        c.callback_window_secs = 3600;
        // Without an operator setting the cap is the default 60 s.
        let ch = TencentChannel::new(c.clone()).unwrap();
        assert_eq!(ch.callback_window_secs(), 60);
        assert!(ch.parse_push(&signed_push(now, now - 60)).is_ok());
        assert_eq!(
            ch.parse_push(&signed_push(now, now - 61)).unwrap_err(),
            PushError::Stale
        );
        // An operator may allow up to 300 s, never more.
        let ch = TencentChannel::new(c.clone())
            .unwrap()
            .with_max_callback_window(120);
        assert_eq!(ch.callback_window_secs(), 120);
        assert!(ch.parse_push(&signed_push(now, now - 120)).is_ok());
        assert_eq!(
            ch.parse_push(&signed_push(now, now - 121)).unwrap_err(),
            PushError::Stale
        );
        let ch = TencentChannel::new(c.clone())
            .unwrap()
            .with_max_callback_window(u64::MAX);
        assert_eq!(ch.callback_window_secs(), 300);
        assert_eq!(
            ch.parse_push(&signed_push(now, now - 301)).unwrap_err(),
            PushError::Stale
        );
        // A channel asking for less than the cap keeps its own window.
        c.callback_window_secs = 5;
        let ch = TencentChannel::new(c)
            .unwrap()
            .with_max_callback_window(300);
        assert_eq!(ch.callback_window_secs(), 5);
        assert_eq!(
            ch.parse_push(&signed_push(now, now + 6)).unwrap_err(),
            PushError::Stale
        );
    }
}
