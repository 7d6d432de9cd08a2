//! History import of one-to-one conversations: `admin_getroammsg` pages,
//! newest to oldest, turned into inbound events, with a cursor the caller
//! stores after each recorded page so an interrupted import resumes where it
//! stopped (reference §3.3).

use imhub_core::{
    AccountRef, ContactInfo, Direction, InboundEvent, InboundMessage, Peer, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::{
    TencentChannel,
    c2c::{GetRoamMsgRequest, GetRoamMsgResponse, MSG_FLAG_RECALLED, RoamMsg},
    errors::TencentError,
    mapping::elements_to_content,
};

/// `MaxCnt` of one history request; Tencent also cuts pages at about 13 KB.
pub const HISTORY_PAGE_SIZE: u32 = 100;

/// Where the import of one conversation stands. Serialised as JSON into the
/// channel's state between pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryCursor {
    /// The merchant's account (`Operator_Account`): history from its side.
    pub account: String,
    /// The customer (`Peer_Account`).
    pub peer: String,
    /// Oldest message time wanted, Unix seconds, inclusive.
    pub since: i64,
    /// Newest message time wanted, Unix seconds, inclusive.
    pub until: i64,
    /// `LastMsgTime` of the last page taken; `None` before the first page.
    #[serde(default)]
    pub last_msg_time: Option<i64>,
    /// `LastMsgKey` of the last page taken.
    #[serde(default)]
    pub last_msg_key: Option<String>,
    /// Messages fetched so far.
    #[serde(default)]
    pub fetched: u64,
    /// Messages the caller newly stored so far (the rest were already there).
    #[serde(default)]
    pub stored: u64,
    /// Whether the conversation had nothing unread when the import started,
    /// so imported history may be marked read at the end.
    #[serde(default)]
    pub clear_unread: bool,
    /// Every page of the range was taken.
    #[serde(default)]
    pub complete: bool,
}

impl HistoryCursor {
    /// A fresh import of `account` ↔ `peer` over `[since, until]`.
    pub fn new(account: &str, peer: &str, since: i64, until: i64) -> Self {
        HistoryCursor {
            account: account.to_string(),
            peer: peer.to_string(),
            since,
            until,
            last_msg_time: None,
            last_msg_key: None,
            fetched: 0,
            stored: 0,
            clear_unread: false,
            complete: false,
        }
    }

    /// The channel-state key the cursor of this conversation is kept under.
    pub fn state_key(account: &str, peer: &str) -> String {
        format!("tencent.history:{account}:{peer}")
    }

    /// Seconds of the range already covered (pages go newest to oldest), for
    /// a progress bar of length `until - since`.
    pub fn covered_secs(&self) -> u64 {
        if self.complete {
            return self.range_secs();
        }
        let reached = self.last_msg_time.unwrap_or(self.until);
        u64::try_from(self.until.saturating_sub(reached).max(0)).unwrap_or(0)
    }

    /// Length of the range in seconds.
    pub fn range_secs(&self) -> u64 {
        u64::try_from(self.until.saturating_sub(self.since).max(0)).unwrap_or(0)
    }

    /// The next page's request.
    pub fn request(&self) -> GetRoamMsgRequest {
        GetRoamMsgRequest {
            operator_account: self.account.clone(),
            peer_account: self.peer.clone(),
            max_cnt: HISTORY_PAGE_SIZE,
            min_time: self.since,
            max_time: self.last_msg_time.unwrap_or(self.until),
            last_msg_key: self.last_msg_key.clone(),
        }
    }

    /// The cursor after `page`: continue from its `LastMsgTime` and
    /// `LastMsgKey`, or complete. A page that does not move the key is an
    /// error rather than an endless loop.
    pub fn advance(&self, page: &GetRoamMsgResponse) -> Result<HistoryCursor, TencentError> {
        let mut next = self.clone();
        next.fetched += page.msg_list.len() as u64;
        if page.complete == 1 || page.msg_list.is_empty() {
            next.complete = true;
            return Ok(next);
        }
        if page.last_msg_key.is_empty()
            || self.last_msg_key.as_deref() == Some(page.last_msg_key.as_str())
        {
            return Err(TencentError::Decode(
                "admin_getroammsg pages do not advance".into(),
            ));
        }
        next.last_msg_time = Some(page.last_msg_time);
        next.last_msg_key = Some(page.last_msg_key.clone());
        Ok(next)
    }
}

/// One page of history, ready to record.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    /// The messages as inbound events (a recalled one is followed by its recall).
    pub events: Vec<InboundEvent>,
    /// The page's messages as Tencent sent them (JSON), kept as the raw event.
    pub raw: Vec<u8>,
    /// Where to continue once the page is recorded.
    pub next: HistoryCursor,
}

/// Roaming messages of `account` ↔ `peer` as inbound events: `Out` when the
/// account sent them, `In` otherwise; ids as the callbacks name them
/// ([`crate::c2c::c2c_message_id`]), so history already delivered by a
/// callback is not stored twice.
pub fn roam_events(account: &str, peer: &str, msgs: &[RoamMsg]) -> Vec<InboundEvent> {
    let account_ref = AccountRef {
        external_id: account.to_string(),
        name: None,
    };
    let peer_ref = Peer::Direct(ContactInfo {
        external_id: peer.to_string(),
        nickname: None,
        avatar: None,
    });
    let mut events = Vec::with_capacity(msgs.len());
    for m in msgs {
        let id = m.message_id();
        events.push(InboundEvent::Message(InboundMessage {
            account: account_ref.clone(),
            peer: peer_ref.clone(),
            direction: if m.from_account == account {
                Direction::Out
            } else {
                Direction::In
            },
            platform_message_id: id.clone(),
            content: elements_to_content(&m.elements()),
            sent_at: Timestamp(m.msg_time_stamp.saturating_mul(1000)),
            reply_context: None,
        }));
        if m.msg_flag_bits & MSG_FLAG_RECALLED != 0 {
            events.push(InboundEvent::Recalled {
                account: account_ref.clone(),
                peer: peer_ref.clone(),
                platform_message_id: id,
            });
        }
    }
    events
}

impl TencentChannel {
    /// Fetches the page after `cursor` and maps it; nothing is recorded here.
    pub async fn history_page(&self, cursor: &HistoryCursor) -> Result<HistoryPage, TencentError> {
        let page = self.client().get_roam_msg(&cursor.request()).await?;
        let next = cursor.advance(&page)?;
        let raw = serde_json::to_vec(&page.msg_list).unwrap_or_default();
        Ok(HistoryPage {
            events: roam_events(&cursor.account, &cursor.peer, &page.msg_list),
            raw,
            next,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::callback::{C2C_AFTER_SEND, MerchantSide, callback_events};

    fn roam(from: &str, to: &str, key: &str, flags: i64) -> RoamMsg {
        RoamMsg {
            from_account: from.into(),
            to_account: to.into(),
            msg_seq: 48374,
            msg_random: 2837546,
            msg_time_stamp: 1557481126,
            msg_flag_bits: flags,
            msg_key: key.into(),
            msg_body: json!([{"MsgType":"TIMTextElem","MsgContent":{"Text":"在吗"}}]),
            ..Default::default()
        }
    }

    #[test]
    fn a_roaming_message_and_its_callback_get_the_same_id() {
        let side = MerchantSide {
            admin: "admin".into(),
            accounts: vec!["shop".into()],
            default_account: None,
        };
        for key in ["48374_2837546_1557481126", ""] {
            let body = json!({
                "From_Account": "alice", "To_Account": "shop", "MsgSeq": 48374,
                "MsgRandom": 2837546, "MsgTime": 1557481126, "MsgKey": key,
                "MsgBody": [{"MsgType":"TIMTextElem","MsgContent":{"Text":"在吗"}}]
            });
            let (_, from_callback) =
                callback_events(C2C_AFTER_SEND, &body, &side, Timestamp(0)).unwrap();
            let from_history = roam_events("shop", "alice", &[roam("alice", "shop", key, 0)]);
            assert_eq!(from_callback, from_history, "MsgKey {key:?}");
        }
    }

    #[test]
    fn direction_follows_the_sender_and_recalled_messages_are_recalled() {
        let ev = roam_events(
            "shop",
            "alice",
            &[
                roam("shop", "alice", "1_1_1", MSG_FLAG_RECALLED),
                roam("alice", "shop", "2_2_2", 0),
            ],
        );
        assert_eq!(ev.len(), 3);
        let InboundEvent::Message(out) = &ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(out.direction, Direction::Out);
        assert_eq!(out.peer.external_id(), "alice");
        assert!(
            matches!(&ev[1], InboundEvent::Recalled { platform_message_id, .. } if platform_message_id == "1_1_1")
        );
        let InboundEvent::Message(inb) = &ev[2] else {
            panic!("{ev:?}")
        };
        assert_eq!(inb.direction, Direction::In);
    }

    #[test]
    fn cursor_continues_from_the_last_key_and_refuses_a_page_that_does_not_move() {
        let c = HistoryCursor::new("shop", "alice", 100, 200);
        assert_eq!(c.request().max_time, 200);
        assert_eq!(c.covered_secs(), 0);
        let page = GetRoamMsgResponse {
            complete: 0,
            msg_cnt: 1,
            last_msg_time: 150,
            last_msg_key: "k1".into(),
            msg_list: vec![roam("alice", "shop", "k1", 0)],
        };
        let next = c.advance(&page).unwrap();
        assert_eq!(next.request().max_time, 150);
        assert_eq!(next.request().last_msg_key.as_deref(), Some("k1"));
        assert_eq!((next.fetched, next.covered_secs()), (1, 50));
        assert!(next.advance(&page).is_err(), "same LastMsgKey twice");
        let last = GetRoamMsgResponse {
            complete: 1,
            ..page
        };
        let done = next.advance(&last).unwrap();
        assert!(done.complete);
        assert_eq!(done.covered_secs(), 100);
        let stored: HistoryCursor =
            serde_json::from_str(&serde_json::to_string(&done).unwrap()).unwrap();
        assert_eq!(stored, done);
    }
}
