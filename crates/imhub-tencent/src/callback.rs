//! Third-party callbacks (第三方回调): the query Tencent appends to our URL,
//! the `Sign` check (SHA-256 of Token ‖ RequestTime, reference §6.2), the
//! bodies of the message callbacks, and the reply Tencent expects.

use imhub_core::{
    AccountRef, ContactInfo, Direction, InboundEvent, InboundMessage, Peer, PushError, PushReply,
    Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{c2c::c2c_message_id, elements::parse_msg_body, mapping::elements_to_content};

/// `C2C.CallbackBeforeSendMsg`.
pub const C2C_BEFORE_SEND: &str = "C2C.CallbackBeforeSendMsg";
/// `C2C.CallbackAfterSendMsg`.
pub const C2C_AFTER_SEND: &str = "C2C.CallbackAfterSendMsg";
/// `C2C.CallbackAfterMsgWithDraw` (recall).
pub const C2C_AFTER_WITHDRAW: &str = "C2C.CallbackAfterMsgWithDraw";
/// `C2C.CallbackAfterMsgReport` (read report).
pub const C2C_AFTER_REPORT: &str = "C2C.CallbackAfterMsgReport";
/// `Group.CallbackBeforeSendMsg`.
pub const GROUP_BEFORE_SEND: &str = "Group.CallbackBeforeSendMsg";
/// `Group.CallbackAfterSendMsg`.
pub const GROUP_AFTER_SEND: &str = "Group.CallbackAfterSendMsg";

/// `Group.CallbackAfterRecallMsg` (group recall).
pub const GROUP_AFTER_RECALL: &str = "Group.CallbackAfterRecallMsg";

/// Default anti-replay window for `RequestTime` (documented only for the
/// Live variant of the same mechanism: 1 minute).
pub const DEFAULT_CALLBACK_WINDOW_SECS: u64 = 60;
/// The operator's default cap on a channel's window (issue 10 §5).
pub const DEFAULT_MAX_CALLBACK_WINDOW_SECS: u64 = 60;
/// The cap can be raised this far and no further: a longer window lets a
/// captured callback be replayed for longer.
pub const MAX_CALLBACK_WINDOW_SECS: u64 = 300;

/// `Sign = lowercase hex(SHA-256(token ‖ RequestTime))`, no separator.
pub fn callback_sign(token: &str, request_time: &str) -> String {
    let mut h = Sha256::new();
    h.update(token.as_bytes());
    h.update(request_time.as_bytes());
    hex::encode(h.finalize())
}

/// The query parameters Tencent appends to the callback URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackQuery {
    /// `SdkAppid` (capital S, lower-case `id`).
    pub sdk_appid: Option<String>,
    pub callback_command: Option<String>,
    /// `json` (docs also write `JSON`).
    pub contenttype: Option<String>,
    pub client_ip: Option<String>,
    /// An open string: `RESTAPI`, `Web`, `iOS`/`IOS`, `Android`, ...
    pub opt_platform: Option<String>,
    pub sign: Option<String>,
    pub request_time: Option<String>,
}

impl CallbackQuery {
    /// Parses a raw query string (without `?`).
    pub fn parse(query: &str) -> Self {
        let mut q = CallbackQuery::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            let v = Some(v.into_owned());
            match k.as_ref() {
                "SdkAppid" => q.sdk_appid = v,
                "CallbackCommand" => q.callback_command = v,
                "contenttype" => q.contenttype = v,
                "ClientIP" => q.client_ip = v,
                "OptPlatform" => q.opt_platform = v,
                "Sign" => q.sign = v,
                "RequestTime" => q.request_time = v,
                _ => {}
            }
        }
        q
    }

    /// Renders the query as Tencent sends it (for the sandbox's customers).
    pub fn to_query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        let pairs = [
            ("SdkAppid", &self.sdk_appid),
            ("CallbackCommand", &self.callback_command),
            ("contenttype", &self.contenttype),
            ("ClientIP", &self.client_ip),
            ("OptPlatform", &self.opt_platform),
            ("Sign", &self.sign),
            ("RequestTime", &self.request_time),
        ];
        for (k, v) in pairs {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        s.finish()
    }
}

/// Checks a callback before its body is read: `SdkAppid` must be ours; with a
/// token configured, `Sign` must match (constant time) and `RequestTime` must
/// be within `window_secs` of `now_secs`.
pub fn verify_callback(
    q: &CallbackQuery,
    sdkappid: u64,
    token: Option<&str>,
    now_secs: u64,
    window_secs: u64,
) -> Result<(), PushError> {
    let app = q
        .sdk_appid
        .as_deref()
        .ok_or_else(|| PushError::Malformed("SdkAppid missing from the query".into()))?;
    if app.trim().parse::<u64>().ok() != Some(sdkappid) {
        return Err(PushError::BadSignature);
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        // Callback authentication is off in the console: nothing to check.
        return Ok(());
    };
    let (Some(sign), Some(time)) = (q.sign.as_deref(), q.request_time.as_deref()) else {
        return Err(PushError::BadSignature);
    };
    let expected = callback_sign(token, time);
    let given = sign.to_ascii_lowercase();
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return Err(PushError::BadSignature);
    }
    let t: u64 = time.parse().map_err(|_| PushError::BadSignature)?;
    if now_secs.abs_diff(t) > window_secs {
        return Err(PushError::Stale);
    }
    Ok(())
}

/// The answer every callback gets: HTTP 200, `ErrorCode` 0 (for before-send
/// callbacks: allow the message unchanged).
pub fn ok_reply() -> PushReply {
    PushReply::json(&json!({"ActionStatus": "OK", "ErrorInfo": "", "ErrorCode": 0}))
}

/// Body of `C2C.CallbackBeforeSendMsg` / `C2C.CallbackAfterSendMsg`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct C2CMsgCallback {
    #[serde(rename = "CallbackCommand", default)]
    pub callback_command: String,
    #[serde(rename = "From_Account")]
    pub from_account: String,
    #[serde(rename = "To_Account")]
    pub to_account: String,
    #[serde(rename = "MsgSeq", default)]
    pub msg_seq: u64,
    #[serde(rename = "MsgRandom", default)]
    pub msg_random: u64,
    /// Unix seconds.
    #[serde(rename = "MsgTime", default)]
    pub msg_time: i64,
    #[serde(rename = "MsgKey", default)]
    pub msg_key: String,
    #[serde(rename = "OnlineOnlyFlag", default)]
    pub online_only_flag: i64,
    #[serde(rename = "MsgBody", default)]
    pub msg_body: Value,
    #[serde(rename = "CloudCustomData", default)]
    pub cloud_custom_data: String,
    /// After-send only: 0 delivered, else an error code.
    #[serde(
        rename = "SendMsgResult",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub send_msg_result: Option<i64>,
    #[serde(rename = "ErrorInfo", default, skip_serializing_if = "Option::is_none")]
    pub error_info: Option<String>,
    #[serde(
        rename = "UnreadMsgNum",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub unread_msg_num: Option<i64>,
}

/// Body of `Group.CallbackBeforeSendMsg` / `Group.CallbackAfterSendMsg`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupMsgCallback {
    #[serde(rename = "CallbackCommand", default)]
    pub callback_command: String,
    #[serde(rename = "GroupId")]
    pub group_id: String,
    #[serde(rename = "Type", default)]
    pub group_type: String,
    #[serde(rename = "From_Account")]
    pub from_account: String,
    #[serde(rename = "Operator_Account", default)]
    pub operator_account: String,
    #[serde(rename = "Random", default)]
    pub random: u64,
    #[serde(rename = "OnlineOnlyFlag", default)]
    pub online_only_flag: i64,
    #[serde(rename = "MsgBody", default)]
    pub msg_body: Value,
    #[serde(rename = "CloudCustomData", default)]
    pub cloud_custom_data: String,
    #[serde(rename = "TopicId", default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Milliseconds; the table says Integer, an example shows a string: both accepted.
    #[serde(rename = "EventTime", default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<Value>,
    /// After-send only.
    #[serde(rename = "MsgSeq", default, skip_serializing_if = "Option::is_none")]
    pub msg_seq: Option<u64>,
    /// After-send only, server seconds.
    #[serde(rename = "MsgTime", default, skip_serializing_if = "Option::is_none")]
    pub msg_time: Option<i64>,
}

impl GroupMsgCallback {
    /// `EventTime` in milliseconds, whichever JSON type it came as.
    pub fn event_time_ms(&self) -> Option<i64> {
        match self.event_time.as_ref()? {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Body of `C2C.CallbackAfterMsgWithDraw`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct C2CWithdrawCallback {
    #[serde(rename = "From_Account")]
    pub from_account: String,
    #[serde(rename = "To_Account")]
    pub to_account: String,
    #[serde(rename = "MsgKey")]
    pub msg_key: String,
    #[serde(rename = "UnreadMsgNum", default)]
    pub unread_msg_num: i64,
}

/// Body of `Group.CallbackAfterRecallMsg` (reference §6.5; INTL
/// `撤回群消息之后回调`): who recalled which `MsgSeq`s of a group.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GroupRecallCallback {
    #[serde(rename = "CallbackCommand", default)]
    pub callback_command: String,
    /// Who recalled (a member, or the admin through REST).
    #[serde(rename = "Operator_Account", default)]
    pub operator_account: String,
    #[serde(rename = "Type", default)]
    pub group_type: String,
    #[serde(rename = "GroupId")]
    pub group_id: String,
    #[serde(rename = "MsgSeqList")]
    pub msg_seq_list: Vec<crate::group::MsgSeqItem>,
    #[serde(rename = "TopicId", default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    /// Milliseconds; the table says Integer, the example a string: both accepted.
    #[serde(rename = "EventTime", default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<Value>,
}

/// Most `MsgSeq`s one recall callback may name; a longer list is refused as
/// malformed (a REST recall takes at most 10, a client recalls one).
pub const MAX_RECALL_CALLBACK_SEQS: usize = 100;

/// Body of `C2C.CallbackAfterMsgReport` (reference §6.5; INTL
/// `单聊消息已读上报后回调`): `Report_Account` read its conversation with
/// `Peer_Account` up to `LastReadTime`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct C2CReadReportCallback {
    #[serde(rename = "CallbackCommand", default)]
    pub callback_command: String,
    /// The reader.
    #[serde(rename = "Report_Account")]
    pub report_account: String,
    /// The other side of the conversation.
    #[serde(rename = "Peer_Account")]
    pub peer_account: String,
    /// Unix seconds.
    #[serde(rename = "LastReadTime")]
    pub last_read_time: i64,
    #[serde(rename = "UnreadMsgNum", default)]
    pub unread_msg_num: i64,
}

/// Who the merchant is inside an app: its account UserIDs and the admin.
#[derive(Debug, Clone, Default)]
pub struct MerchantSide {
    /// The admin identifier (REST sends without `From_Account` come from it).
    pub admin: String,
    /// The merchant's own UserIDs; messages from them are outbound.
    pub accounts: Vec<String>,
    /// The account a group conversation belongs to when a customer writes.
    pub default_account: Option<String>,
}

impl MerchantSide {
    /// Whether a UserID is the merchant's.
    pub fn is_merchant(&self, user: &str) -> bool {
        user == self.admin || self.accounts.iter().any(|a| a == user)
    }

    fn group_account(&self) -> String {
        self.default_account
            .clone()
            .or_else(|| self.accounts.first().cloned())
            .unwrap_or_else(|| self.admin.clone())
    }
}

fn account(id: &str) -> AccountRef {
    AccountRef {
        external_id: id.to_string(),
        name: None,
    }
}

fn contact(id: &str) -> ContactInfo {
    ContactInfo {
        external_id: id.to_string(),
        nickname: None,
        avatar: None,
    }
}

fn malformed(e: serde_json::Error) -> PushError {
    PushError::Malformed(e.to_string())
}

/// Turns a verified callback body into events, plus its dedup key.
/// Direction: a message whose `From_Account` is the merchant's is `Out`
/// (written from the merchant's own app, or our own REST send echoed back).
pub fn callback_events(
    command: &str,
    body: &Value,
    side: &MerchantSide,
    received_at: Timestamp,
) -> Result<(Option<String>, Vec<InboundEvent>), PushError> {
    match command {
        C2C_BEFORE_SEND | C2C_AFTER_SEND => {
            let cb: C2CMsgCallback = serde_json::from_value(body.clone()).map_err(malformed)?;
            let key = c2c_message_id(&cb.msg_key, cb.msg_seq, cb.msg_random, cb.msg_time);
            let event_key = Some(format!("{command}:{key}"));
            if let Some(code) = cb.send_msg_result.filter(|c| *c != 0) {
                return Ok((
                    event_key,
                    vec![InboundEvent::Unprocessable {
                        reason: format!(
                            "Tencent did not deliver this message (SendMsgResult {code})"
                        ),
                    }],
                ));
            }
            let outbound = side.is_merchant(&cb.from_account);
            let (acc, peer, direction) = if outbound {
                (&cb.from_account, &cb.to_account, Direction::Out)
            } else {
                (&cb.to_account, &cb.from_account, Direction::In)
            };
            let sent_at = if cb.msg_time > 0 {
                Timestamp(cb.msg_time.saturating_mul(1000))
            } else {
                received_at
            };
            Ok((
                event_key,
                vec![InboundEvent::Message(InboundMessage {
                    account: account(acc),
                    peer: Peer::Direct(contact(peer)),
                    direction,
                    platform_message_id: key,
                    content: elements_to_content(&parse_msg_body(&cb.msg_body)),
                    sent_at,
                    reply_context: None,
                })],
            ))
        }
        GROUP_BEFORE_SEND | GROUP_AFTER_SEND => {
            let cb: GroupMsgCallback = serde_json::from_value(body.clone()).map_err(malformed)?;
            // The after-send callback carries the group's MsgSeq, which recall
            // needs; the before-send one has none, so its id is built from
            // Random and is not matched with the after-send echo.
            let id = match cb.msg_seq {
                Some(seq) => crate::channel::group_message_id(&cb.group_id, seq),
                None => format!("{}:random:{}:{}", cb.group_id, cb.random, cb.from_account),
            };
            let outbound = side.is_merchant(&cb.from_account);
            let (acc, sender, direction) = if outbound {
                (cb.from_account.clone(), None, Direction::Out)
            } else {
                (
                    side.group_account(),
                    Some(contact(&cb.from_account)),
                    Direction::In,
                )
            };
            let sent_at = cb
                .msg_time
                .filter(|t| *t > 0)
                .map(|t| Timestamp(t.saturating_mul(1000)))
                .or_else(|| cb.event_time_ms().map(Timestamp))
                .unwrap_or(received_at);
            Ok((
                Some(format!("{command}:{}:{id}", cb.group_id)),
                vec![InboundEvent::Message(InboundMessage {
                    account: account(&acc),
                    peer: Peer::Group {
                        group_id: cb.group_id.clone(),
                        name: None,
                        sender,
                    },
                    direction,
                    platform_message_id: id,
                    content: elements_to_content(&parse_msg_body(&cb.msg_body)),
                    sent_at,
                    reply_context: None,
                })],
            ))
        }
        C2C_AFTER_WITHDRAW => {
            let cb: C2CWithdrawCallback =
                serde_json::from_value(body.clone()).map_err(malformed)?;
            let (acc, peer) = if side.is_merchant(&cb.from_account) {
                (&cb.from_account, &cb.to_account)
            } else {
                (&cb.to_account, &cb.from_account)
            };
            Ok((
                Some(format!("{command}:{}", cb.msg_key)),
                vec![InboundEvent::Recalled {
                    account: account(acc),
                    peer: Peer::Direct(contact(peer)),
                    platform_message_id: cb.msg_key.clone(),
                }],
            ))
        }
        GROUP_AFTER_RECALL => {
            let cb: GroupRecallCallback =
                serde_json::from_value(body.clone()).map_err(malformed)?;
            if cb.group_id.is_empty() {
                return Err(PushError::Malformed("GroupId is empty".into()));
            }
            if cb.msg_seq_list.is_empty() || cb.msg_seq_list.len() > MAX_RECALL_CALLBACK_SEQS {
                return Err(PushError::Malformed(format!(
                    "MsgSeqList must name 1..={MAX_RECALL_CALLBACK_SEQS} messages"
                )));
            }
            let acc = if side.is_merchant(&cb.operator_account) {
                cb.operator_account.clone()
            } else {
                side.group_account()
            };
            let seqs: Vec<String> = cb
                .msg_seq_list
                .iter()
                .map(|s| s.msg_seq.to_string())
                .collect();
            let events = cb
                .msg_seq_list
                .iter()
                .map(|s| InboundEvent::Recalled {
                    account: account(&acc),
                    peer: Peer::Group {
                        group_id: cb.group_id.clone(),
                        name: None,
                        sender: None,
                    },
                    // The same id the after-send callback and our own send
                    // gave the message (topics share their group's ids).
                    platform_message_id: crate::channel::group_message_id(&cb.group_id, s.msg_seq),
                })
                .collect();
            Ok((
                Some(format!("{command}:{}:{}", cb.group_id, seqs.join(","))),
                events,
            ))
        }
        C2C_AFTER_REPORT => {
            let cb: C2CReadReportCallback =
                serde_json::from_value(body.clone()).map_err(malformed)?;
            if cb.report_account.is_empty() || cb.peer_account.is_empty() {
                return Err(PushError::Malformed(
                    "Report_Account and Peer_Account must not be empty".into(),
                ));
            }
            let key = Some(format!(
                "{command}:{}:{}:{}",
                cb.report_account, cb.peer_account, cb.last_read_time
            ));
            // The merchant's own read (its app, or our `admin_set_msg_read`)
            // says nothing about our outbound messages.
            if side.is_merchant(&cb.report_account) {
                return Ok((key, Vec::new()));
            }
            Ok((
                key,
                vec![InboundEvent::Read {
                    account: account(&cb.peer_account),
                    peer: Peer::Direct(contact(&cb.report_account)),
                    // `LastReadTime` is in seconds: the whole second is read,
                    // so our messages of that same second count as read too.
                    up_to: Timestamp(
                        cb.last_read_time
                            .max(0)
                            .saturating_mul(1000)
                            .saturating_add(999),
                    ),
                }],
            ))
        }
        other => Ok((
            None,
            vec![InboundEvent::Unprocessable {
                reason: format!("callback {other} is not handled by imhub"),
            }],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_is_sha256_hex_of_token_then_request_time() {
        // Computed independently with Python's hashlib:
        // sha256(b"xxxxyyyy1668074400").hexdigest()
        assert_eq!(
            callback_sign("xxxxyyyy", "1668074400"),
            "52eedc8dc2fe35f850f8a7b4c042e073cb9a5e696010efd708e371e6583e066e"
        );
    }

    fn q(sign: &str, time: &str) -> CallbackQuery {
        CallbackQuery::parse(&format!(
            "SdkAppid=1400000000&CallbackCommand=C2C.CallbackAfterSendMsg&contenttype=json&ClientIP=1.2.3.4&OptPlatform=iOS&Sign={sign}&RequestTime={time}"
        ))
    }

    #[test]
    fn good_sign_passes_and_bad_stale_or_foreign_callbacks_do_not() {
        let now = 1_700_000_000u64;
        let good = callback_sign("tok", &now.to_string());
        assert_eq!(
            verify_callback(
                &q(&good, &now.to_string()),
                1_400_000_000,
                Some("tok"),
                now,
                60
            ),
            Ok(())
        );
        assert_eq!(
            verify_callback(
                &q(&good, &now.to_string()),
                1_400_000_000,
                Some("other"),
                now,
                60
            ),
            Err(PushError::BadSignature)
        );
        assert_eq!(
            verify_callback(
                &q(&good, &now.to_string()),
                1_400_000_001,
                Some("tok"),
                now,
                60
            ),
            Err(PushError::BadSignature)
        );
        assert_eq!(
            verify_callback(
                &q(&good, &now.to_string()),
                1_400_000_000,
                Some("tok"),
                now + 61,
                60
            ),
            Err(PushError::Stale)
        );
        let unsigned = CallbackQuery::parse("SdkAppid=1400000000&CallbackCommand=x");
        assert_eq!(
            verify_callback(&unsigned, 1_400_000_000, Some("tok"), now, 60),
            Err(PushError::BadSignature)
        );
        assert_eq!(
            verify_callback(&unsigned, 1_400_000_000, None, now, 60),
            Ok(())
        );
    }

    #[test]
    fn customer_message_is_inbound_and_merchant_echo_is_outbound() {
        let side = MerchantSide {
            admin: "admin".into(),
            accounts: vec!["shop".into()],
            default_account: None,
        };
        let body = json!({
            "CallbackCommand": C2C_AFTER_SEND, "From_Account": "alice", "To_Account": "shop",
            "MsgSeq": 48374, "MsgRandom": 2837546, "MsgTime": 1557481126,
            "MsgKey": "48374_2837546_1557481126", "OnlineOnlyFlag": 0,
            "MsgBody": [{"MsgType":"TIMTextElem","MsgContent":{"Text":"在吗"}}],
            "CloudCustomData": "", "SendMsgResult": 0, "ErrorInfo": "send msg succeed", "UnreadMsgNum": 1
        });
        let (key, ev) = callback_events(C2C_AFTER_SEND, &body, &side, Timestamp(0)).unwrap();
        assert_eq!(
            key.as_deref(),
            Some("C2C.CallbackAfterSendMsg:48374_2837546_1557481126")
        );
        let InboundEvent::Message(m) = &ev[0] else {
            panic!()
        };
        assert_eq!(m.direction, Direction::In);
        assert_eq!(m.account.external_id, "shop");
        assert_eq!(m.peer.external_id(), "alice");
        assert_eq!(m.sent_at, Timestamp(1_557_481_126_000));
        let mut echo = body.clone();
        echo["From_Account"] = json!("shop");
        echo["To_Account"] = json!("alice");
        let (_, ev) = callback_events(C2C_AFTER_SEND, &echo, &side, Timestamp(0)).unwrap();
        let InboundEvent::Message(m) = &ev[0] else {
            panic!()
        };
        assert_eq!(m.direction, Direction::Out);
        assert_eq!(m.account.external_id, "shop");
    }

    #[test]
    fn group_message_accepts_event_time_as_string_and_keeps_the_sender() {
        let side = MerchantSide {
            admin: "admin".into(),
            accounts: vec!["shop".into()],
            default_account: None,
        };
        let body = json!({
            "CallbackCommand": GROUP_AFTER_SEND, "GroupId": "@TGS#1", "Type": "Public",
            "From_Account": "bob", "Operator_Account": "bob", "Random": 7, "OnlineOnlyFlag": 0,
            "MsgBody": [{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}],
            "EventTime": "1670574414123", "MsgSeq": 12
        });
        let (_, ev) = callback_events(GROUP_AFTER_SEND, &body, &side, Timestamp(0)).unwrap();
        let InboundEvent::Message(m) = &ev[0] else {
            panic!()
        };
        assert_eq!(
            m.platform_message_id, "@TGS#1:12",
            "MsgSeq counts per group: the id names the group"
        );
        assert_eq!(m.account.external_id, "shop");
        assert_eq!(m.sent_at, Timestamp(1_670_574_414_123));
        let Peer::Group { sender, .. } = &m.peer else {
            panic!()
        };
        assert_eq!(sender.as_ref().unwrap().external_id, "bob");
    }

    fn side() -> MerchantSide {
        MerchantSide {
            admin: "admin".into(),
            accounts: vec!["shop".into()],
            default_account: None,
        }
    }

    #[test]
    fn group_recall_names_every_recalled_message_by_group_and_seq() {
        // The documented example (INTL 撤回群消息之后回调), EventTime a string.
        let body = json!({
            "CallbackCommand": GROUP_AFTER_RECALL, "Operator_Account": "admin",
            "Type": "Community", "GroupId": "1213456",
            "MsgSeqList": [{"MsgSeq": 130}, {"MsgSeq": 131}],
            "TopicId": "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_TestTopic",
            "EventTime": "1670574414123"
        });
        let (key, ev) = callback_events(GROUP_AFTER_RECALL, &body, &side(), Timestamp(0)).unwrap();
        assert_eq!(
            key.as_deref(),
            Some("Group.CallbackAfterRecallMsg:1213456:130,131")
        );
        let ids: Vec<&str> = ev
            .iter()
            .map(|e| match e {
                InboundEvent::Recalled {
                    platform_message_id,
                    account,
                    ..
                } => {
                    assert_eq!(account.external_id, "admin");
                    platform_message_id.as_str()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, ["1213456:130", "1213456:131"]);
        // A member's recall belongs to the group's account.
        let mut member = body.clone();
        member["Operator_Account"] = json!("bob");
        member["EventTime"] = json!(1670574414123i64);
        let (_, ev) = callback_events(GROUP_AFTER_RECALL, &member, &side(), Timestamp(0)).unwrap();
        let InboundEvent::Recalled { account, .. } = &ev[0] else {
            panic!()
        };
        assert_eq!(account.external_id, "shop");
    }

    #[test]
    fn group_recall_without_group_or_seqs_is_malformed() {
        for bad in [
            json!({"CallbackCommand": GROUP_AFTER_RECALL, "MsgSeqList": [{"MsgSeq": 1}]}),
            json!({"GroupId": "", "MsgSeqList": [{"MsgSeq": 1}]}),
            json!({"GroupId": "g", "MsgSeqList": []}),
            json!({"GroupId": "g"}),
            json!({"GroupId": "g", "MsgSeqList": [{"MsgSeq": "1"}]}),
            json!({"GroupId": "g", "MsgSeqList": [{"MsgSeq": -1}]}),
            json!({"GroupId": "g", "MsgSeqList": {"MsgSeq": 1}}),
            json!({"GroupId": "g", "MsgSeqList": vec![json!({"MsgSeq": 1}); 101]}),
            json!([1, 2]),
        ] {
            assert!(
                matches!(
                    callback_events(GROUP_AFTER_RECALL, &bad, &side(), Timestamp(0)),
                    Err(PushError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn customer_read_report_marks_our_messages_read_up_to_its_time() {
        // The documented example (INTL 单聊消息已读上报后回调).
        let body = json!({
            "CallbackCommand": C2C_AFTER_REPORT, "Report_Account": "alice",
            "Peer_Account": "shop", "LastReadTime": 1614754606, "UnreadMsgNum": 7
        });
        let (key, ev) = callback_events(C2C_AFTER_REPORT, &body, &side(), Timestamp(0)).unwrap();
        assert_eq!(
            key.as_deref(),
            Some("C2C.CallbackAfterMsgReport:alice:shop:1614754606")
        );
        assert_eq!(
            ev,
            vec![InboundEvent::Read {
                account: account("shop"),
                peer: Peer::Direct(contact("alice")),
                up_to: Timestamp(1_614_754_606_999),
            }]
        );
        // The merchant reading the customer's messages changes none of ours.
        let mut own = body.clone();
        own["Report_Account"] = json!("shop");
        own["Peer_Account"] = json!("alice");
        let (key, ev) = callback_events(C2C_AFTER_REPORT, &own, &side(), Timestamp(0)).unwrap();
        assert!(key.is_some());
        assert!(ev.is_empty());
    }

    #[test]
    fn read_report_with_missing_or_mistyped_fields_is_malformed() {
        for bad in [
            json!({"Report_Account": "alice", "Peer_Account": "shop"}),
            json!({"Report_Account": "alice", "LastReadTime": 1}),
            json!({"Report_Account": "", "Peer_Account": "shop", "LastReadTime": 1}),
            json!({"Report_Account": "alice", "Peer_Account": "shop", "LastReadTime": "soon"}),
            json!({"Report_Account": "alice", "Peer_Account": "shop", "LastReadTime": 1.5}),
            json!({"Report_Account": 7, "Peer_Account": "shop", "LastReadTime": 1}),
            json!(null),
        ] {
            assert!(
                matches!(
                    callback_events(C2C_AFTER_REPORT, &bad, &side(), Timestamp(0)),
                    Err(PushError::Malformed(_))
                ),
                "{bad}"
            );
        }
        // A negative or huge time does not overflow.
        let far =
            json!({"Report_Account": "alice", "Peer_Account": "shop", "LastReadTime": i64::MAX});
        let (_, ev) = callback_events(C2C_AFTER_REPORT, &far, &side(), Timestamp(0)).unwrap();
        assert!(matches!(
            ev[0],
            InboundEvent::Read {
                up_to: Timestamp(i64::MAX),
                ..
            }
        ));
        // A negative time is the epoch; its whole second counts as read.
        let past = json!({"Report_Account": "alice", "Peer_Account": "shop", "LastReadTime": -5});
        let (_, ev) = callback_events(C2C_AFTER_REPORT, &past, &side(), Timestamp(0)).unwrap();
        assert!(matches!(
            ev[0],
            InboundEvent::Read {
                up_to: Timestamp(999),
                ..
            }
        ));
    }
}
