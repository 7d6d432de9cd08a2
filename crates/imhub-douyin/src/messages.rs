//! Private messages (私信, reference §4): the `content` object shared with
//! group sends, `/im/send/msg/` with its scenes and `content_list`,
//! `/im/recall/msg/`, and fetching the media of user-local images/videos.

use serde::{Deserialize, Serialize};

use crate::{
    client::{DouyinClient, UserAuth},
    envelope::{ErrNoResponse, Extra},
    errors::DouyinError,
};

/// `POST /im/send/msg/?open_id=` — send a private message.
pub const SEND_MSG_PATH: &str = "/im/send/msg/";
/// `POST /im/recall/msg/?open_id=` — recall a private (type 1) or group (type 2) message.
pub const RECALL_MSG_PATH: &str = "/im/recall/msg/";
/// `GET /api/im/message/resources/` — temporary URL of a user-local image/video.
pub const MESSAGE_RESOURCES_PATH: &str = "/api/im/message/resources/";

/// `content_list` carries at most this many messages (scenes 3 and 4).
pub const CONTENT_LIST_MAX: usize = 3;

/// `msg_type` values of the send `content` object (§4.1).
pub mod msg_type {
    pub const TEXT: i64 = 1;
    pub const IMAGE: i64 = 2;
    pub const VIDEO: i64 = 3;
    pub const RETAIN_CONSULT_CARD: i64 = 8;
    pub const GROUP_INVITATION: i64 = 9;
    pub const APPLET_CARD: i64 = 10;
    pub const APPLET_COUPON: i64 = 11;
    pub const AUTH_PRIVATE_MESSAGE_CARD: i64 = 12;
    pub const QUESTION_GUIDE_MSG_CARD: i64 = 204;
    pub const QUESTION_GUIDE_JUMP_CARD: i64 = 205;
}

/// `text` sub-object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextBody {
    pub text: String,
}

/// `image` sub-object: the `image_id` from the upload tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBody {
    pub media_id: String,
}

/// `video` sub-object: a published Douyin video id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoBody {
    pub item_id: String,
}

/// `retain_consult_card` sub-object: a lead card id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRef {
    pub card_id: String,
}

/// `group_invitation` sub-object: `group_id` or `group_token` (either one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupInvitation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_token: Option<String>,
}

/// `applet_card` sub-object: a guide-card template, opened at `path`
/// (+ `query`, a JSON string) or at a `schema` link instead.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppletCard {
    pub card_template_id: String,
    /// The mini-program's appid; always sent, the platform's schema requires it.
    #[serde(default)]
    pub app_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

/// `applet_coupon` sub-object: a mini-program coupon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppletCoupon {
    pub activity_id: i64,
    pub coupon_meta_id: i64,
}

/// `app_info` of the authorization card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    pub app_id: String,
}

/// `to_user_info` of the authorization card: the B side's open_id and client_key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToUserInfo {
    pub open_id: String,
    pub app_id: String,
}

/// `auth_private_message_card` sub-object (主动私信授权卡片).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthPrivateMessageCard {
    pub app_info: AppInfo,
    pub to_user_info: ToUserInfo,
}

/// `schema_data` of a question-guide entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SchemaData {
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub query: String,
}

/// One question of a question-guide card.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GuideQuestion {
    pub text: String,
    #[serde(default)]
    pub jump_type: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_data: Option<SchemaData>,
}

/// `question_guide_msg_card` / `question_guide_jump_card` sub-object (R-MediaX only).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuestionGuideCard {
    pub title: String,
    pub question_list: Vec<GuideQuestion>,
}

/// The send `content` object: an integer `msg_type` plus one sub-object
/// named after the type. Build it with the constructors.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MessageContent {
    pub msg_type: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<VideoBody>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_consult_card: Option<CardRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_invitation: Option<GroupInvitation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applet_card: Option<AppletCard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applet_coupon: Option<AppletCoupon>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_private_message_card: Option<AuthPrivateMessageCard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_guide_msg_card: Option<QuestionGuideCard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_guide_jump_card: Option<QuestionGuideCard>,
}

impl MessageContent {
    /// Plain text (msg_type 1).
    pub fn text(text: impl Into<String>) -> Self {
        MessageContent {
            msg_type: msg_type::TEXT,
            text: Some(TextBody { text: text.into() }),
            ..Default::default()
        }
    }

    /// An uploaded image by its `image_id` (msg_type 2).
    pub fn image(media_id: impl Into<String>) -> Self {
        MessageContent {
            msg_type: msg_type::IMAGE,
            image: Some(ImageBody {
                media_id: media_id.into(),
            }),
            ..Default::default()
        }
    }

    /// A published Douyin video (msg_type 3).
    pub fn video(item_id: impl Into<String>) -> Self {
        MessageContent {
            msg_type: msg_type::VIDEO,
            video: Some(VideoBody {
                item_id: item_id.into(),
            }),
            ..Default::default()
        }
    }

    /// A lead card (msg_type 8).
    pub fn lead_card(card_id: impl Into<String>) -> Self {
        MessageContent {
            msg_type: msg_type::RETAIN_CONSULT_CARD,
            retain_consult_card: Some(CardRef {
                card_id: card_id.into(),
            }),
            ..Default::default()
        }
    }

    /// A fan-group invitation (msg_type 9).
    pub fn group_invitation(invitation: GroupInvitation) -> Self {
        MessageContent {
            msg_type: msg_type::GROUP_INVITATION,
            group_invitation: Some(invitation),
            ..Default::default()
        }
    }

    /// A mini-program guide card (msg_type 10).
    pub fn applet_card(card: AppletCard) -> Self {
        MessageContent {
            msg_type: msg_type::APPLET_CARD,
            applet_card: Some(card),
            ..Default::default()
        }
    }

    /// A mini-program coupon (msg_type 11).
    pub fn applet_coupon(activity_id: i64, coupon_meta_id: i64) -> Self {
        MessageContent {
            msg_type: msg_type::APPLET_COUPON,
            applet_coupon: Some(AppletCoupon {
                activity_id,
                coupon_meta_id,
            }),
            ..Default::default()
        }
    }

    /// An active-DM authorization card (msg_type 12).
    pub fn auth_private_message_card(card: AuthPrivateMessageCard) -> Self {
        MessageContent {
            msg_type: msg_type::AUTH_PRIVATE_MESSAGE_CARD,
            auth_private_message_card: Some(card),
            ..Default::default()
        }
    }

    /// A question-guide message card (msg_type 204).
    pub fn question_guide_msg_card(card: QuestionGuideCard) -> Self {
        MessageContent {
            msg_type: msg_type::QUESTION_GUIDE_MSG_CARD,
            question_guide_msg_card: Some(card),
            ..Default::default()
        }
    }

    /// A question-guide jump card (msg_type 205).
    pub fn question_guide_jump_card(card: QuestionGuideCard) -> Self {
        MessageContent {
            msg_type: msg_type::QUESTION_GUIDE_JUMP_CARD,
            question_guide_jump_card: Some(card),
            ..Default::default()
        }
    }

    /// Whether the sub-object `msg_type` names is present.
    pub fn is_well_formed(&self) -> bool {
        match self.msg_type {
            msg_type::TEXT => self.text.as_ref().is_some_and(|t| !t.text.is_empty()),
            msg_type::IMAGE => self.image.is_some(),
            msg_type::VIDEO => self.video.is_some(),
            msg_type::RETAIN_CONSULT_CARD => self.retain_consult_card.is_some(),
            msg_type::GROUP_INVITATION => self
                .group_invitation
                .as_ref()
                .is_some_and(|g| g.group_id.is_some() || g.group_token.is_some()),
            msg_type::APPLET_CARD => self.applet_card.as_ref().is_some_and(|a| {
                !a.card_template_id.is_empty()
                    && !a.app_id.trim().is_empty()
                    && (a.path.is_some() || a.schema.is_some())
            }),
            msg_type::APPLET_COUPON => self.applet_coupon.is_some(),
            msg_type::AUTH_PRIVATE_MESSAGE_CARD => self.auth_private_message_card.is_some(),
            msg_type::QUESTION_GUIDE_MSG_CARD => self.question_guide_msg_card.is_some(),
            msg_type::QUESTION_GUIDE_JUMP_CARD => self.question_guide_jump_card.is_some(),
            _ => false,
        }
    }
}

/// The `scene` of a private send (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scene {
    /// 场景二: answer an `im_enter_direct_msg` event.
    #[serde(rename = "im_enter_direct_msg")]
    EnterDirectMsg,
    /// 场景三: B2B private-message reach (`content_list`).
    #[serde(rename = "im_b2b_direct_message")]
    B2bDirectMessage,
    /// 场景四: 主动私信持续触达 to a user who authorized it (`content_list`).
    #[serde(rename = "im_authorize_message")]
    AuthorizeMessage,
}

impl Scene {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            Scene::EnterDirectMsg => "im_enter_direct_msg",
            Scene::B2bDirectMessage => "im_b2b_direct_message",
            Scene::AuthorizeMessage => "im_authorize_message",
        }
    }

    /// Parses a wire value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "im_enter_direct_msg" => Some(Scene::EnterDirectMsg),
            "im_b2b_direct_message" => Some(Scene::B2bDirectMessage),
            "im_authorize_message" => Some(Scene::AuthorizeMessage),
            _ => None,
        }
    }
}

/// Body of `/im/send/msg/`. A plain reply (场景一) carries no `scene`: the
/// documented default is spelled `im_replay_msg` in one source and
/// `im_reply_msg` in others, so we omit it (reference §11).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SendMessageRequest {
    /// The customer's open_id.
    pub to_user_id: String,
    /// `server_message_id` of the message answered; valid 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
    /// `conversation_short_id` of that message; long-lived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// Scenes 3 and 4: up to three messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_list: Option<Vec<MessageContent>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<Scene>,
}

impl SendMessageRequest {
    /// A reply (场景一/二) to the customer's message `msg_id` in `conversation_id`.
    pub fn reply(
        to_user_id: impl Into<String>,
        msg_id: impl Into<String>,
        conversation_id: impl Into<String>,
        content: MessageContent,
    ) -> Self {
        SendMessageRequest {
            to_user_id: to_user_id.into(),
            msg_id: Some(msg_id.into()),
            conversation_id: Some(conversation_id.into()),
            content: Some(content),
            content_list: None,
            scene: None,
        }
    }

    /// Sets the scene.
    pub fn with_scene(mut self, scene: Scene) -> Self {
        self.scene = Some(scene);
        self
    }

    /// Refuses what the platform documents as invalid before sending.
    pub fn validate(&self) -> Result<(), DouyinError> {
        let bad = |m: &str| Err(DouyinError::InvalidRequest(m.to_string()));
        if self.to_user_id.is_empty() {
            return bad("to_user_id is required");
        }
        match self.scene {
            None | Some(Scene::EnterDirectMsg) => {
                if self.msg_id.as_deref().unwrap_or("").is_empty()
                    || self.conversation_id.as_deref().unwrap_or("").is_empty()
                {
                    return bad("a reply needs msg_id and conversation_id");
                }
                match &self.content {
                    Some(c) if c.is_well_formed() => Ok(()),
                    _ => bad("content is missing or does not match msg_type"),
                }
            }
            Some(_) => match &self.content_list {
                Some(l) if !l.is_empty() && l.len() <= CONTENT_LIST_MAX => {
                    if l.iter().all(MessageContent::is_well_formed) {
                        Ok(())
                    } else {
                        bad("content_list item does not match its msg_type")
                    }
                }
                _ => bad("content_list must hold 1 to 3 messages"),
            },
        }
    }
}

/// Answer of a send (envelope B): the sent message's `msg_id`, which recall needs.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SendMessageResponse {
    #[serde(default)]
    pub msg_id: String,
    /// `content_list` sends, per one SDK.
    #[serde(default)]
    pub msg_list: Option<Vec<String>>,
    /// `content_list` sends, per another SDK.
    #[serde(default)]
    pub all_send_success: Option<bool>,
    #[serde(default)]
    pub send_msg_status_list: Option<serde_json::Value>,
    #[serde(default)]
    pub extra: Extra,
}

/// `conversation_type` of a recall.
pub mod conversation_type {
    /// 单聊
    pub const DIRECT: i32 = 1;
    /// 群聊
    pub const GROUP: i32 = 2;
}

/// Body of `/im/recall/msg/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecallMessageRequest {
    /// The webhook's `conversation_short_id` (the group id for groups).
    pub conversation_id: String,
    /// 1 private, 2 group.
    pub conversation_type: i32,
    /// The id send returned, or a webhook's `server_message_id`.
    pub msg_id: String,
}

/// A user-local image or video's temporary URL.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageResource {
    /// `image` or `video`.
    #[serde(default)]
    pub media_type: String,
    #[serde(default)]
    pub url: String,
}

#[derive(Deserialize)]
struct ResourceEnvelope {
    #[serde(default)]
    data: MessageResource,
}

impl DouyinClient {
    /// Sends a private message (scope `im.direct_message`).
    pub async fn send_message(
        &self,
        auth: &UserAuth,
        req: &SendMessageRequest,
    ) -> Result<SendMessageResponse, DouyinError> {
        req.validate()?;
        self.post_user(SEND_MSG_PATH, auth, &[], req).await
    }

    /// Recalls a private or group message (scope `im.recall_message`).
    pub async fn recall_message(
        &self,
        auth: &UserAuth,
        req: &RecallMessageRequest,
    ) -> Result<ErrNoResponse, DouyinError> {
        self.post_user(RECALL_MSG_PATH, auth, &[], req).await
    }

    /// The temporary URL of a `user_local_image` / `user_local_video` message.
    pub async fn message_resource(
        &self,
        auth: &UserAuth,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<MessageResource, DouyinError> {
        let r: ResourceEnvelope = self
            .get_user(
                MESSAGE_RESOURCES_PATH,
                auth,
                &[
                    ("conversation_id", conversation_id),
                    ("message_id", message_id),
                ],
            )
            .await?;
        Ok(r.data)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reply_body_has_the_documented_field_names() {
        let req =
            SendMessageRequest::reply("c_open", "@msg", "@conv", MessageContent::text("你好"));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"to_user_id": "c_open", "msg_id": "@msg", "conversation_id": "@conv",
                   "content": {"msg_type": 1, "text": {"text": "你好"}}})
        );
        let enter = req.with_scene(Scene::EnterDirectMsg);
        assert_eq!(
            serde_json::to_value(&enter).unwrap()["scene"],
            "im_enter_direct_msg"
        );
    }

    #[test]
    fn content_objects_match_the_reference_shapes() {
        let img = serde_json::to_value(MessageContent::image("@img")).unwrap();
        assert_eq!(img, json!({"msg_type": 2, "image": {"media_id": "@img"}}));
        let card = serde_json::to_value(MessageContent::lead_card("c1")).unwrap();
        assert_eq!(
            card,
            json!({"msg_type": 8, "retain_consult_card": {"card_id": "c1"}})
        );
        let applet = MessageContent::applet_card(AppletCard {
            card_template_id: "t".into(),
            app_id: "tt1".into(),
            path: Some("pages/index".into()),
            query: Some("{\"a\":1}".into()),
            schema: None,
        });
        assert_eq!(
            serde_json::to_value(applet).unwrap(),
            json!({"msg_type": 10, "applet_card": {"card_template_id": "t", "app_id": "tt1",
                   "path": "pages/index", "query": "{\"a\":1}"}})
        );
    }

    #[test]
    fn content_list_over_three_is_refused_before_sending() {
        let req = SendMessageRequest {
            to_user_id: "u".into(),
            content_list: Some(vec![MessageContent::text("a"); 4]),
            scene: Some(Scene::AuthorizeMessage),
            ..Default::default()
        };
        assert!(req.validate().is_err());
    }
}
