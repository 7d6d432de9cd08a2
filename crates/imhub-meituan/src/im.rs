//! The IM wire types of the `waimaiopen` gateway, one for each type of the
//! Go client `mtwmapi/im.go` (reference S1, seed 003): message sources and
//! types, the `push_content` object in both directions, the connection token
//! and the msgSend answer.

use serde::{Deserialize, Serialize};

use crate::{errors::ErrorItem, lenient, sign::Params};

/// `msg_source` 1 (商家): the store wrote (Go `MsgSourceStore`).
pub const MSG_SOURCE_STORE: i64 = 1;
/// `msg_source` 2 (用户): the customer wrote (Go `MsgSourceUser`).
pub const MSG_SOURCE_USER: i64 = 2;

/// `biz_type` 1 (单聊) of a push: a single chat.
pub const BIZ_TYPE_SINGLE: i64 = 1;
/// `biz_type` 2 (群聊) of a push: a group chat.
pub const BIZ_TYPE_GROUP: i64 = 2;

/// At most this many goods in one goods card (商品卡片单次最多传7个商品).
pub const MAX_GOODS_PER_CARD: usize = 7;

/// The separator we put between `app_spu_codes`. The sources do not document
/// it (reference §6, [L]); comma is the usual Meituan convention. On input we
/// also split on `;` and the full-width comma.
pub const SPU_CODE_SEPARATOR: char = ',';

/// `msg_type` of a `push_content` (Go `MsgType*` plus the group types 11–14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgType {
    /// 1 文字.
    Text,
    /// 2 图片; the content is the picture's URL.
    Pic,
    /// 3 语音; not supported for b2c stores.
    Voice,
    /// 4 商品卡片; `msg_content` is ignored, the goods are `app_spu_codes`.
    GoodsCard,
    /// 5 订单卡片; the store can only receive it, single chat only.
    OrderCard,
    /// 11 群文字.
    GroupText,
    /// 12 群图片.
    GroupPic,
    /// 13 群语音; not supported for b2c stores.
    GroupVoice,
    /// 14 群商品卡片 (≤ 7 goods).
    GroupGoodsCard,
}

impl MsgType {
    /// The numeric `msg_type`.
    pub fn code(self) -> i64 {
        match self {
            MsgType::Text => 1,
            MsgType::Pic => 2,
            MsgType::Voice => 3,
            MsgType::GoodsCard => 4,
            MsgType::OrderCard => 5,
            MsgType::GroupText => 11,
            MsgType::GroupPic => 12,
            MsgType::GroupVoice => 13,
            MsgType::GroupGoodsCard => 14,
        }
    }

    /// The inverse of [`MsgType::code`].
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            1 => MsgType::Text,
            2 => MsgType::Pic,
            3 => MsgType::Voice,
            4 => MsgType::GoodsCard,
            5 => MsgType::OrderCard,
            11 => MsgType::GroupText,
            12 => MsgType::GroupPic,
            13 => MsgType::GroupVoice,
            14 => MsgType::GroupGoodsCard,
            _ => return None,
        })
    }

    /// Whether this is one of the group types 11–14.
    pub fn is_group(self) -> bool {
        matches!(
            self,
            MsgType::GroupText | MsgType::GroupPic | MsgType::GroupVoice | MsgType::GroupGoodsCard
        )
    }

    /// The single-chat type with the same content (11 → 1, …).
    pub fn single(self) -> Self {
        match self {
            MsgType::GroupText => MsgType::Text,
            MsgType::GroupPic => MsgType::Pic,
            MsgType::GroupVoice => MsgType::Voice,
            MsgType::GroupGoodsCard => MsgType::GoodsCard,
            other => other,
        }
    }

    /// The group type with the same content (1 → 11, …); order cards have none.
    pub fn group(self) -> Option<Self> {
        Some(match self.single() {
            MsgType::Text => MsgType::GroupText,
            MsgType::Pic => MsgType::GroupPic,
            MsgType::Voice => MsgType::GroupVoice,
            MsgType::GoodsCard => MsgType::GroupGoodsCard,
            _ => return None,
        })
    }

    /// Whether `msg_content` is carried (and encrypted); goods cards carry
    /// their goods in `app_spu_codes` instead.
    pub fn has_content(self) -> bool {
        !matches!(self.single(), MsgType::GoodsCard)
    }

    /// Why a store may not send this type, if it may not: order cards are
    /// receive-only, and b2c stores cannot send voice.
    pub fn send_refusal(self, b2c: bool) -> Option<&'static str> {
        match self.single() {
            MsgType::OrderCard => Some("order cards are receive-only for the store"),
            MsgType::Voice if b2c => Some("b2c stores cannot send voice messages"),
            _ => None,
        }
    }
}

/// The `push_content` of msgSend (Go `PushContentReq`): integers as JSON
/// numbers (reference §14.3: S1 types `msg_id` as int, so we send a number),
/// optional fields left out rather than sent as 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushContentReq {
    /// The app id, same value as the system `app_id`.
    pub app_id: i64,
    /// The store (APP方门店id, ≤ 128 characters).
    pub app_poi_code: String,
    /// Our message id; unique, so a resend is recognisable.
    pub msg_id: i64,
    /// AES-encrypted content; left out for goods cards.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub msg_content: String,
    /// Always [`MSG_SOURCE_STORE`] when sending.
    pub msg_source: i64,
    /// See [`MsgType`].
    pub msg_type: i64,
    /// Send time, Unix seconds.
    pub cts: i64,
    /// The customer; required for single chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_user_id: Option<i64>,
    /// The order the conversation is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<i64>,
    /// The group; required for group messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<i64>,
    /// Goods of a goods card, not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_spu_codes: Option<String>,
}

/// A received `push_content` (Go `SingleChat`, plus `group_id`). Every field
/// is optional and ids are read leniently (number or text), because a push we
/// cannot fully read must still be kept rather than lost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushContent {
    /// The app id (number or text on the wire).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub app_id: Option<String>,
    /// The store the message belongs to.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub app_poi_code: Option<String>,
    /// Meituan's message id.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub msg_id: Option<i64>,
    /// Encrypted content (Base64).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub msg_content: Option<String>,
    /// 1 the store wrote, 2 the customer wrote.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub msg_source: Option<i64>,
    /// See [`MsgType`].
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub msg_type: Option<i64>,
    /// Send time, Unix seconds.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub cts: Option<i64>,
    /// The customer; -1 when Meituan does not name one.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub open_user_id: Option<i64>,
    /// The order the conversation is about, when Meituan names one.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub order_id: Option<i64>,
    /// The group of a group message.
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub group_id: Option<i64>,
    /// Goods of a goods card, not encrypted.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub app_spu_codes: Option<String>,
}

/// The Go client's name for a received single-chat body.
pub type SingleChat = PushContent;

/// Splits `app_spu_codes` into product codes (see [`SPU_CODE_SEPARATOR`]).
pub fn split_spu_codes(codes: &str) -> Vec<String> {
    codes
        .split([',', ';', '，'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `data` of getConnectionToken (Go `GetConnTokenResp`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionToken {
    /// Token to establish the long connection.
    #[serde(rename = "connectionToken")]
    pub connection_token: String,
    /// Users whose messages failed to reach us in the last 30 minutes
    /// (30分钟内，消息发送失败的用户数).
    #[serde(
        rename = "userCount",
        default,
        deserialize_with = "lenient::i64_or_zero"
    )]
    pub user_count: i64,
    /// The appkey for establishing the long connection.
    #[serde(rename = "appKey", default)]
    pub app_key: String,
}

/// The Go client's name for [`ConnectionToken`].
pub type GetConnTokenResp = ConnectionToken;

/// The answer to msgSend (Go `PushContentResp`), after success: `result_code`
/// 1, or 2 with what failed in `error_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushContentResp {
    /// 1 all succeeded, 2 partly.
    pub result_code: i64,
    /// Why parts failed; decide from these whether to resend (S1).
    pub error_list: Vec<ErrorItem>,
}

/// A verified IM push (Go `ImCallbackMsg`): the system fields, every decoded
/// form field, and the still-serialised `push_content`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImCallbackMsg {
    /// Unix seconds, within ±10 minutes of now.
    pub timestamp: i64,
    /// The app the push is for (checked against ours).
    pub app_id: String,
    /// The signature as received.
    pub sig: String,
    /// All fields after decoding (Go `FormData`).
    pub form_data: Params,
    /// 1 single chat, 2 group chat; absent on reachability probes.
    pub biz_type: Option<i64>,
    /// The JSON text of `push_content`, if present.
    pub push_content: Option<String>,
}

impl ImCallbackMsg {
    /// Parses `push_content` leniently.
    pub fn parse_push_content(&self) -> Result<PushContent, String> {
        let text = self
            .push_content
            .as_deref()
            .ok_or_else(|| "push without push_content".to_string())?;
        serde_json::from_str(text)
            .map_err(|e| format!("push_content is not the expected JSON: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_types_round_trip_and_group_maps_to_single() {
        for code in [1, 2, 3, 4, 5, 11, 12, 13, 14] {
            assert_eq!(MsgType::from_code(code).unwrap().code(), code);
        }
        assert_eq!(MsgType::from_code(6), None);
        assert_eq!(MsgType::GroupVoice.single(), MsgType::Voice);
        assert_eq!(MsgType::Pic.group(), Some(MsgType::GroupPic));
        assert_eq!(MsgType::OrderCard.group(), None);
    }

    #[test]
    fn order_cards_and_b2c_voice_cannot_be_sent() {
        assert!(MsgType::OrderCard.send_refusal(false).is_some());
        assert!(MsgType::Voice.send_refusal(true).is_some());
        assert!(MsgType::GroupVoice.send_refusal(true).is_some());
        assert!(MsgType::Voice.send_refusal(false).is_none());
    }

    #[test]
    fn push_content_req_leaves_out_absent_fields() {
        let req = PushContentReq {
            app_id: 1,
            app_poi_code: "s".into(),
            msg_id: 9,
            msg_content: String::new(),
            msg_source: 1,
            msg_type: 4,
            cts: 2,
            open_user_id: Some(3),
            order_id: None,
            group_id: None,
            app_spu_codes: Some("a,b".into()),
        };
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"app_id":1,"app_poi_code":"s","msg_id":9,"msg_source":1,"msg_type":4,"cts":2,"open_user_id":3,"app_spu_codes":"a,b"}"#
        );
    }

    #[test]
    fn push_content_reads_ids_as_numbers_or_text() {
        let p: PushContent = serde_json::from_str(
            r#"{"app_id":123,"app_poi_code":"s1","msg_id":"27012345678901234","open_user_id":-1,"order_id":"","msg_type":1,"msg_source":"2"}"#,
        )
        .unwrap();
        assert_eq!(p.app_id.as_deref(), Some("123"));
        assert_eq!(p.msg_id, Some(27012345678901234));
        assert_eq!(p.open_user_id, Some(-1));
        assert_eq!(p.order_id, None);
        assert_eq!(p.msg_source, Some(2));
    }

    #[test]
    fn spu_codes_split_on_commas() {
        assert_eq!(split_spu_codes("a, b,,c"), vec!["a", "b", "c"]);
        assert_eq!(split_spu_codes("a;b，c"), vec!["a", "b", "c"]);
    }
}
