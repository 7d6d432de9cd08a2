//! One-to-one (单聊) REST bodies: `openim/sendmsg`, `batchsendmsg`,
//! `admin_getroammsg`, `admin_msgwithdraw`, `admin_set_msg_read` (reference §3).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::elements::{MsgElement, OfflinePushInfo, parse_msg_body};

/// Longest offline retention `MsgLifeTime` allows: 7 days.
pub const MAX_MSG_LIFE_TIME: u32 = 604_800;
/// Most recipients one `batchsendmsg` call takes (more → 90011).
pub const BATCHSENDMSG_MAX_RECEIVERS: usize = 500;
/// `SyncOtherMachine`: sync to the sender's online devices and roaming.
pub const SYNC_TO_SENDER: u8 = 1;
/// `SyncOtherMachine`: do not sync to the sender.
pub const NO_SYNC_TO_SENDER: u8 = 2;
/// `MsgFlagBits` of a recalled message in roaming history.
pub const MSG_FLAG_RECALLED: i64 = 8;

/// `v4/openim/sendmsg` request, every documented field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SendMsgRequest {
    #[serde(
        rename = "SyncOtherMachine",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub sync_other_machine: Option<u8>,
    #[serde(
        rename = "From_Account",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub from_account: Option<String>,
    #[serde(rename = "To_Account")]
    pub to_account: String,
    /// Offline retention, 0..=604800 s; 0 = online only.
    #[serde(
        rename = "MsgLifeTime",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub msg_life_time: Option<u32>,
    #[serde(rename = "MsgSeq", skip_serializing_if = "Option::is_none", default)]
    pub msg_seq: Option<u32>,
    #[serde(rename = "MsgRandom")]
    pub msg_random: u32,
    #[serde(rename = "MsgBody")]
    pub msg_body: Vec<MsgElement>,
    #[serde(
        rename = "CloudCustomData",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub cloud_custom_data: Option<String>,
    #[serde(
        rename = "SupportMessageExtension",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub support_message_extension: Option<u8>,
    /// `NoUnread`, `NoLastMsg`, `WithMuteNotifications`.
    #[serde(
        rename = "SendMsgControl",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub send_msg_control: Vec<String>,
    /// `ForbidBeforeSendMsgCallback`, `ForbidAfterSendMsgCallback`.
    #[serde(
        rename = "ForbidCallbackControl",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub forbid_callback_control: Vec<String>,
    #[serde(
        rename = "OfflinePushInfo",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub offline_push_info: Option<OfflinePushInfo>,
    #[serde(
        rename = "IsNeedReadReceipt",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub is_need_read_receipt: Option<u8>,
}

/// `sendmsg` answer: server time and the `MsgKey` recall needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendMsgResponse {
    #[serde(rename = "MsgTime", default)]
    pub msg_time: i64,
    #[serde(rename = "MsgKey", default)]
    pub msg_key: String,
}

/// `v4/openim/batchsendmsg` request (no callbacks fire for it).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BatchSendMsgRequest {
    #[serde(
        rename = "SyncOtherMachine",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub sync_other_machine: Option<u8>,
    #[serde(
        rename = "From_Account",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub from_account: Option<String>,
    #[serde(rename = "To_Account")]
    pub to_account: Vec<String>,
    #[serde(
        rename = "MsgLifeTime",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub msg_life_time: Option<u32>,
    #[serde(rename = "MsgSeq", skip_serializing_if = "Option::is_none", default)]
    pub msg_seq: Option<u32>,
    #[serde(rename = "MsgRandom")]
    pub msg_random: u32,
    #[serde(rename = "MsgBody")]
    pub msg_body: Vec<MsgElement>,
    #[serde(
        rename = "CloudCustomData",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub cloud_custom_data: Option<String>,
    #[serde(
        rename = "SendMsgControl",
        skip_serializing_if = "Vec::is_empty",
        default
    )]
    pub send_msg_control: Vec<String>,
    #[serde(
        rename = "OfflinePushInfo",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub offline_push_info: Option<OfflinePushInfo>,
    #[serde(
        rename = "IsNeedReadReceipt",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub is_need_read_receipt: Option<u8>,
}

/// One recipient a batch could not reach (70107: account does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchError {
    #[serde(rename = "To_Account")]
    pub to_account: String,
    #[serde(rename = "ErrorCode")]
    pub error_code: i64,
}

/// `batchsendmsg` answer; `action_status` is `OK`, `SomeError` or `FAIL`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BatchSendMsgResponse {
    #[serde(rename = "ActionStatus", default)]
    pub action_status: String,
    #[serde(rename = "MsgKey", default)]
    pub msg_key: String,
    #[serde(rename = "ErrorList", default, skip_serializing_if = "Vec::is_empty")]
    pub error_list: Vec<BatchError>,
}

/// `v4/openim/admin_getroammsg` request; pages go from newest to oldest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GetRoamMsgRequest {
    #[serde(rename = "Operator_Account")]
    pub operator_account: String,
    #[serde(rename = "Peer_Account")]
    pub peer_account: String,
    #[serde(rename = "MaxCnt")]
    pub max_cnt: u32,
    #[serde(rename = "MinTime")]
    pub min_time: i64,
    #[serde(rename = "MaxTime")]
    pub max_time: i64,
    #[serde(
        rename = "LastMsgKey",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub last_msg_key: Option<String>,
}

/// One message of roaming history.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RoamMsg {
    #[serde(rename = "From_Account", default)]
    pub from_account: String,
    #[serde(rename = "To_Account", default)]
    pub to_account: String,
    #[serde(rename = "MsgSeq", default)]
    pub msg_seq: i64,
    #[serde(rename = "MsgRandom", default)]
    pub msg_random: i64,
    #[serde(rename = "MsgTimeStamp", default)]
    pub msg_time_stamp: i64,
    /// 0 normal, 8 recalled.
    #[serde(rename = "MsgFlagBits", default)]
    pub msg_flag_bits: i64,
    #[serde(rename = "IsPeerRead", default)]
    pub is_peer_read: i64,
    #[serde(rename = "MsgKey", default)]
    pub msg_key: String,
    /// Kept raw so one odd element cannot fail a page; see [`RoamMsg::elements`].
    #[serde(rename = "MsgBody", default)]
    pub msg_body: Value,
    #[serde(rename = "CloudCustomData", default)]
    pub cloud_custom_data: String,
}

/// The platform message id imhub stores for a C2C message: its `MsgKey`,
/// or, when a body carries none, the `{MsgSeq}_{MsgRandom}_{MsgTime}` shape
/// every documented `MsgKey` has. Callbacks, `sendmsg` answers and roaming
/// history all name a message this way, so the same message gets the same id
/// whichever path delivered it first, and the store's unique index drops the
/// second copy.
pub fn c2c_message_id(msg_key: &str, msg_seq: u64, msg_random: u64, msg_time: i64) -> String {
    if msg_key.is_empty() {
        format!("{msg_seq}_{msg_random}_{msg_time}")
    } else {
        msg_key.to_string()
    }
}

impl RoamMsg {
    /// The id imhub stores for this message; see [`c2c_message_id`].
    pub fn message_id(&self) -> String {
        c2c_message_id(
            &self.msg_key,
            u64::try_from(self.msg_seq).unwrap_or(0),
            u64::try_from(self.msg_random).unwrap_or(0),
            self.msg_time_stamp,
        )
    }

    /// The typed elements of the body.
    pub fn elements(&self) -> Vec<MsgElement> {
        parse_msg_body(&self.msg_body)
    }
}

/// One page of `admin_getroammsg`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GetRoamMsgResponse {
    /// 1 = everything in range returned; 0 = continue.
    #[serde(rename = "Complete", default)]
    pub complete: i64,
    #[serde(rename = "MsgCnt", default)]
    pub msg_cnt: i64,
    #[serde(rename = "LastMsgTime", default)]
    pub last_msg_time: i64,
    #[serde(rename = "LastMsgKey", default)]
    pub last_msg_key: String,
    #[serde(rename = "MsgList", default)]
    pub msg_list: Vec<RoamMsg>,
}

/// `v4/openim/admin_msgwithdraw` request (no time limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgWithdrawRequest {
    #[serde(rename = "From_Account")]
    pub from_account: String,
    #[serde(rename = "To_Account")]
    pub to_account: String,
    #[serde(rename = "MsgKey")]
    pub msg_key: String,
}

/// `v4/openim/admin_set_msg_read` request. `MsgReadTime` is documented as a
/// String of Unix seconds; we send the documented decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMsgReadRequest {
    #[serde(rename = "Report_Account")]
    pub report_account: String,
    #[serde(rename = "Peer_Account")]
    pub peer_account: String,
    #[serde(
        rename = "MsgReadTime",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub msg_read_time: Option<String>,
}
