//! [`DouyinChannel`]: imhub's `Channel` for one Douyin app. It maps content
//! both ways, enforces the 24-hour reply window, refreshes tokens through the
//! [`TokenStore`] (and retries once when the platform calls a token expired),
//! classifies platform errors for the delivery engine, and turns verified
//! webhooks into inbound events.

use std::{future::Future, sync::Arc, time::Duration};

use imhub_core::{
    AccountRef, Channel, ContactInfo, Content, ConversationKind, DeliveryError, Direction,
    InboundEvent, InboundMessage, Outbound, OutboundTarget, Peer, Platform, Push, PushError,
    PushOutcome, PushReply, Refusal, SendReceipt, Timestamp, channel::JoinRequestStatus,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{
    auth::{AuthorizeUrlBuilder, IM_SCOPES, RefreshPolicy, TokenManager, TokenStore, UserTokens},
    client::{DouyinClient, UserAuth},
    config::{DouyinConfig, REPLY_WINDOW},
    content,
    errors::{ConfigError, DouyinError, ErrorClass},
    groups::GroupSendRequest,
    messages::{
        MessageContent, RecallMessageRequest, Scene, SendMessageRequest, conversation_type,
    },
    webhook::{self, ImContent, MAX_PUSH_BYTES, MSG_ID_HEADER, SIGNATURE_HEADER, event},
};

/// What a reply must quote, kept on the conversation as `reply_context`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyContext {
    /// `server_message_id` of the customer's latest message (valid 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
    /// `conversation_short_id` (long-lived; the group id for groups).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// When that message was written, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<i64>,
    /// `im_enter_direct_msg` when the latest event was the customer opening the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
}

impl ReplyContext {
    /// Reads it back from `OutboundTarget.reply_context`.
    pub fn from_target(target: &OutboundTarget) -> Option<Self> {
        target
            .reply_context
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// One connected Douyin app as an imhub channel.
pub struct DouyinChannel {
    config: DouyinConfig,
    client: DouyinClient,
    tokens: TokenManager,
}

impl std::fmt::Debug for DouyinChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DouyinChannel")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Delay suggested for "too frequent" answers.
const THROTTLE_DELAY: Duration = Duration::from_secs(5);
/// Delay suggested when a quota or the frequency-control count is used up.
const QUOTA_DELAY: Duration = Duration::from_secs(600);
/// Delay suggested for the risk control 28001052 ("请稍后再试"): the page
/// names no delay, so a minute, between "too frequent" and "quota used up".
const RISK_CONTROL_DELAY: Duration = Duration::from_secs(60);

/// Limits the operator sets for every Douyin channel; a channel's own
/// settings cannot exceed them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLimits {
    /// Upper bound of `request_timeout_secs` (default 30 s); a larger
    /// channel setting is lowered to it.
    pub max_request_timeout: Duration,
    /// Most bytes read from one platform answer (default 64 KiB).
    pub max_response_bytes: usize,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        ChannelLimits {
            max_request_timeout: Duration::from_secs(30),
            max_response_bytes: crate::client::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// A channel's request timeout when it sets none.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl ChannelLimits {
    /// The timeout a channel gets: its own setting (or 10 s), never more
    /// than the operator's cap.
    pub fn request_timeout(&self, config: &DouyinConfig) -> Duration {
        config
            .request_timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT)
            .min(self.max_request_timeout)
    }
}

impl DouyinChannel {
    /// Builds the channel without any I/O; tokens are read from `token_store`.
    /// Uses the default [`ChannelLimits`].
    pub fn new(
        config: DouyinConfig,
        token_store: Arc<dyn TokenStore>,
    ) -> Result<Self, ConfigError> {
        Self::with_limits(config, token_store, ChannelLimits::default())
    }

    /// [`DouyinChannel::new`] under the operator's limits.
    pub fn with_limits(
        config: DouyinConfig,
        token_store: Arc<dyn TokenStore>,
        limits: ChannelLimits,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = reqwest::Client::builder()
            .timeout(limits.request_timeout(&config))
            // Platform answers never redirect; a 3xx is a failed call.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Invalid(format!("http client: {e}")))?;
        let client = DouyinClient::new(config.client_key.clone(), config.client_secret.clone())
            .with_base_url(config.base_url())
            .with_http_client(http)
            .with_max_response_bytes(limits.max_response_bytes);
        let policy = RefreshPolicy {
            renew_refresh_token: config.renew_refresh_token,
            ..RefreshPolicy::default()
        };
        let tokens = TokenManager::new(client.clone(), token_store, policy);
        Ok(DouyinChannel {
            config,
            client,
            tokens,
        })
    }

    /// The typed client, for calls the `Channel` trait does not cover.
    pub fn client(&self) -> &DouyinClient {
        &self.client
    }

    /// The token manager (client_token, user tokens, refresh).
    pub fn tokens(&self) -> &TokenManager {
        &self.tokens
    }

    /// The configuration this channel was built from.
    pub fn config(&self) -> &DouyinConfig {
        &self.config
    }

    /// Maps unified content to a send `content` object with this channel's
    /// defaults (the mini-program appid of guide cards).
    pub fn to_douyin(&self, content: &Content, group: bool) -> Result<MessageContent, Refusal> {
        content::to_douyin_with(content, group, self.config.applet_app_id.as_deref())
    }

    /// The QR authorization page for the IM scopes, redirecting to `redirect_uri`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> Result<String, DouyinError> {
        AuthorizeUrlBuilder::new(redirect_uri)
            .scopes(IM_SCOPES.iter().copied())
            .state(state)
            .build(&self.client)
    }

    /// Finishes the QR flow: exchanges the code and stores the account's tokens.
    pub async fn complete_authorization(&self, code: &str) -> Result<UserTokens, DouyinError> {
        self.tokens.authorize(code).await
    }

    /// Runs a user-level call as `open_id`, refreshing the token first when it
    /// is close to expiry and once more if the platform calls it expired.
    pub async fn call_as<T, F, Fut>(&self, open_id: &str, call: F) -> Result<T, DouyinError>
    where
        F: Fn(UserAuth) -> Fut,
        Fut: Future<Output = Result<T, DouyinError>>,
    {
        let auth = self.tokens.user_auth(open_id).await?;
        let stale = auth.access_token.clone();
        match call(auth).await {
            Err(e) if e.class() == ErrorClass::TokenExpired => {
                tracing::info!(open_id, error = %e, "douyin token rejected, refreshing once");
                let fresh = self.tokens.refresh_after_rejection(open_id, &stale).await?;
                call(fresh).await
            }
            other => other,
        }
    }

    /// Whether a `im_send_msg`/`im_group_send_msg` push is the echo of a
    /// message this app sent through the API (`content.source` = client_key).
    fn is_own_echo(&self, env: &webhook::WebhookEnvelope) -> bool {
        ImContent::from_value(&env.content)
            .ok()
            .and_then(|c| c.source)
            .is_some_and(|s| s == self.config.client_key)
    }

    fn reply_window_open(
        target: &OutboundTarget,
        ctx: Option<&ReplyContext>,
    ) -> Result<(), Refusal> {
        let Some(ctx) = ctx.filter(|c| {
            c.msg_id.as_deref().is_some_and(|m| !m.is_empty())
                && c.conversation_id.as_deref().is_some_and(|m| !m.is_empty())
        }) else {
            return Err(Refusal::new(
                "reply_window_closed",
                "douyin only allows replies to a customer message: this conversation has no message to answer",
            ));
        };
        let start = target
            .last_inbound_at
            .map(Timestamp::millis)
            .or(ctx.create_time);
        let window_ms = REPLY_WINDOW.as_millis() as i64;
        match start {
            Some(t) if Timestamp::now().millis() - t < window_ms => Ok(()),
            _ => Err(Refusal::new(
                "reply_window_closed",
                "douyin replies must be sent within 24 hours of the customer's latest message",
            )),
        }
    }
}

/// Classifies a client error for the delivery engine.
pub fn delivery_error(e: DouyinError) -> DeliveryError {
    match &e {
        DouyinError::Api(api) => match api.class() {
            ErrorClass::TokenExpired | ErrorClass::ReauthorizationRequired => {
                DeliveryError::AuthExpired {
                    reason: api.to_string(),
                }
            }
            ErrorClass::RateLimited => DeliveryError::RateLimited {
                retry_after: match api.code {
                    28_003_018 => THROTTLE_DELAY,
                    crate::errors::RISK_CONTROL_CODE => RISK_CONTROL_DELAY,
                    _ => QUOTA_DELAY,
                },
                reason: api.to_string(),
            },
            ErrorClass::Retryable => DeliveryError::Retryable {
                reason: api.to_string(),
            },
            ErrorClass::Permission | ErrorClass::Permanent => DeliveryError::Permanent {
                code: api.code.to_string(),
                text: match &api.logid {
                    Some(l) => format!("{} (logid {l})", api.description),
                    None => api.description.clone(),
                },
            },
        },
        DouyinError::ReauthorizationRequired { .. } | DouyinError::NotAuthorized { .. } => {
            DeliveryError::AuthExpired {
                reason: e.to_string(),
            }
        }
        DouyinError::InvalidRequest(text) => DeliveryError::Permanent {
            code: "invalid_request".into(),
            text: text.clone(),
        },
        _ if e.class() == ErrorClass::Retryable => DeliveryError::Retryable {
            reason: e.to_string(),
        },
        _ => DeliveryError::Permanent {
            code: "unexpected_answer".into(),
            text: e.to_string(),
        },
    }
}

/// Webhook times are 13-digit ms; a 10-digit value is read as seconds.
fn push_time(t: i64, fallback: Timestamp) -> Timestamp {
    if t <= 0 {
        fallback
    } else if t < 10_000_000_000 {
        Timestamp(t * 1000)
    } else {
        Timestamp(t)
    }
}

/// A fan-group event's time, kept within sense: dated before 2000 or more
/// than five minutes after it arrived, it is taken as sent on arrival, so
/// a bad clock cannot pin a request's order or block later membership.
fn group_event_time(t: i64, received: Timestamp) -> Timestamp {
    push_time(t, received).clamp_pushed(received)
}

fn contact(c: &ImContent, open_id: &str) -> ContactInfo {
    let info = c.user(open_id);
    ContactInfo {
        external_id: open_id.to_string(),
        nickname: info
            .and_then(|u| u.nick_name.clone())
            .filter(|n| !n.is_empty()),
        avatar: info
            .and_then(|u| u.avatar.clone())
            .filter(|a| !a.is_empty()),
    }
}

fn account(c: &ImContent, open_id: &str) -> AccountRef {
    AccountRef {
        external_id: open_id.to_string(),
        name: c
            .user(open_id)
            .and_then(|u| u.nick_name.clone())
            .filter(|n| !n.is_empty()),
    }
}

fn unprocessable(reason: impl Into<String>) -> InboundEvent {
    InboundEvent::Unprocessable {
        reason: reason.into(),
    }
}

fn message_event(
    env: &webhook::WebhookEnvelope,
    direction: Direction,
    kind: ConversationKind,
    received_at: Timestamp,
) -> InboundEvent {
    let c = match ImContent::from_value(&env.content) {
        Ok(c) => c,
        Err(e) => return unprocessable(format!("{}: {e}", env.event)),
    };
    if c.server_message_id.is_empty() || c.conversation_short_id.is_empty() {
        return unprocessable(format!(
            "{} without server_message_id or conversation_short_id",
            env.event
        ));
    }
    // The account is the receiver of an inbound message and the sender of an
    // outbound one (sent from the phone app, or our own API send echoed with
    // `source` = our client_key; imhub matches that echo by its message id).
    let (account_id, other_id) = match direction {
        Direction::In => (env.to_user_id.as_str(), env.from_user_id.as_str()),
        // Pushes are never notes; a note could only be ours.
        Direction::Out | Direction::Note | Direction::Activity => {
            (env.from_user_id.as_str(), env.to_user_id.as_str())
        }
    };
    let account_id = if account_id.is_empty() {
        c.owner_id.as_deref().unwrap_or_default()
    } else {
        account_id
    };
    let sent_at = push_time(c.create_time, received_at);
    let peer = match kind {
        ConversationKind::Direct => Peer::Direct(contact(&c, other_id)),
        ConversationKind::Group => Peer::Group {
            group_id: c.conversation_short_id.clone(),
            name: None,
            sender: (direction == Direction::In && !other_id.is_empty())
                .then(|| contact(&c, other_id)),
        },
    };
    let reply_context = (direction == Direction::In).then(|| {
        ReplyContext {
            msg_id: Some(c.server_message_id.clone()),
            conversation_id: Some(c.conversation_short_id.clone()),
            create_time: Some(sent_at.millis()),
            scene: None,
        }
        .to_value()
    });
    InboundEvent::Message(InboundMessage {
        account: account(&c, account_id),
        peer,
        direction,
        platform_message_id: c.server_message_id.clone(),
        content: content::from_douyin(&c),
        sent_at,
        reply_context,
    })
}

fn enter_event(env: &webhook::WebhookEnvelope, received_at: Timestamp) -> InboundEvent {
    let c = match ImContent::from_value(&env.content) {
        Ok(c) => c,
        Err(e) => return unprocessable(format!("{}: {e}", env.event)),
    };
    if c.server_message_id.is_empty() || c.conversation_short_id.is_empty() {
        return unprocessable("im_enter_direct_msg without server_message_id");
    }
    let at = push_time(c.create_time, received_at);
    InboundEvent::ChatOpened {
        account: account(&c, &env.to_user_id),
        contact: contact(&c, &env.from_user_id),
        at,
        entry: entry_context(&c),
        reply_context: Some(
            ReplyContext {
                msg_id: Some(c.server_message_id.clone()),
                conversation_id: Some(c.conversation_short_id.clone()),
                create_time: Some(at.millis()),
                scene: Some(Scene::EnterDirectMsg.as_str().to_string()),
            }
            .to_value(),
        ),
    }
}

/// Where an enter-chat event says the customer came from (reference §8.4):
/// `scene_type`, the video `objectId` (as `object_id`) and the ad's
/// `ad_info` (a JSON string on the wire, decoded; kept as text when it is
/// not JSON). `None` when the event names none of them.
fn entry_context(c: &ImContent) -> Option<serde_json::Value> {
    let mut entry = serde_json::Map::new();
    if let Some(scene) = c.scene_type {
        entry.insert("scene_type".into(), scene.into());
    }
    if let Some(object) = c.object_id.as_deref().filter(|o| !o.is_empty()) {
        entry.insert("object_id".into(), object.into());
    }
    let ad = match &c.ad_info {
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
        Some(serde_json::Value::String(s)) => Some(
            serde_json::from_str::<serde_json::Value>(s)
                .unwrap_or_else(|_| serde_json::Value::String(s.clone())),
        ),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.clone()),
    };
    if let Some(ad) = ad {
        entry.insert("ad_info".into(), ad);
    }
    (!entry.is_empty()).then_some(serde_json::Value::Object(entry))
}

/// `im_recall_msg`'s payload is not documented (reference §8.1); we read the
/// message-event field names and fall back to `msg_id`.
fn recall_event(env: &webhook::WebhookEnvelope) -> InboundEvent {
    let c = ImContent::from_value(&env.content).unwrap_or_default();
    let msg_id = if c.server_message_id.is_empty() {
        env.content
            .get("msg_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    } else {
        c.server_message_id.clone()
    };
    if msg_id.is_empty() {
        return unprocessable("im_recall_msg without a message id");
    }
    let peer = if c.conversation_type == Some(2) {
        Peer::Group {
            group_id: c.conversation_short_id.clone(),
            name: None,
            sender: None,
        }
    } else {
        Peer::Direct(contact(&c, &env.from_user_id))
    };
    InboundEvent::Recalled {
        account: account(&c, &env.to_user_id),
        peer,
        platform_message_id: msg_id,
    }
}

fn authorization_event(env: &webhook::WebhookEnvelope, authorized: bool) -> InboundEvent {
    let scopes: Vec<String> = match env
        .content
        .get("scopes")
        .or_else(|| env.content.get("scope"))
    {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let reason = if scopes.is_empty() {
        env.event.clone()
    } else {
        format!("{}: {}", env.event, scopes.join(","))
    };
    InboundEvent::AccountAuthorization {
        account: AccountRef {
            external_id: env.from_user_id.clone(),
            name: None,
        },
        authorized,
        reason: Some(reason),
    }
}

/// `enter_group_audit_change` (reference §8.8): a join request was made
/// (`apply_status` 1) or decided (2 approved, 3 rejected). The applicant is
/// the envelope's `from_user_id`, the group owner its `to_user_id`.
fn join_request_event(env: &webhook::WebhookEnvelope, received_at: Timestamp) -> InboundEvent {
    let c = match GroupAuditContent::deserialize(&env.content) {
        Ok(c) => c,
        Err(e) => return unprocessable(format!("{}: {e}", env.event)),
    };
    if c.group_id.is_empty() || c.apply_id.is_empty() || env.to_user_id.is_empty() {
        return unprocessable("enter_group_audit_change without group_id, apply_id or owner");
    }
    let status = match c.apply_status {
        Some(1) => JoinRequestStatus::Pending,
        Some(2) => JoinRequestStatus::Approved,
        Some(3) => JoinRequestStatus::Rejected,
        other => {
            return unprocessable(format!(
                "enter_group_audit_change with undocumented apply_status {other:?}"
            ));
        }
    };
    let nickname = c.user_nicker.filter(|n| !n.is_empty());
    let avatar = c.user_avatar.filter(|a| !a.is_empty());
    let applicant = (!env.from_user_id.is_empty() || nickname.is_some()).then(|| ContactInfo {
        external_id: env.from_user_id.clone(),
        nickname,
        avatar,
    });
    InboundEvent::GroupJoinRequest {
        account: AccountRef {
            external_id: env.to_user_id.clone(),
            name: None,
        },
        group_id: c.group_id,
        request_id: c.apply_id,
        applicant,
        status,
        at: group_event_time(c.create_time, received_at),
    }
}

/// `group_fans_event` (reference §8.8): a fan joined a group (`group_type`
/// 1 = 加群, the only documented operation). The fan is the envelope's
/// `from_user_id`; the owner is `to_user_id` (also `content.open_id`).
fn membership_event(env: &webhook::WebhookEnvelope, received_at: Timestamp) -> InboundEvent {
    let c = match GroupFansContent::deserialize(&env.content) {
        Ok(c) => c,
        Err(e) => return unprocessable(format!("{}: {e}", env.event)),
    };
    let owner = if env.to_user_id.is_empty() {
        c.open_id.clone()
    } else {
        env.to_user_id.clone()
    };
    if c.im_group_id.is_empty() || owner.is_empty() || env.from_user_id.is_empty() {
        return unprocessable("group_fans_event without im_group_id, owner or member");
    }
    if c.group_type != Some(GROUP_FANS_JOIN) {
        return unprocessable(format!(
            "group_fans_event with undocumented operation group_type {:?}",
            c.group_type
        ));
    }
    InboundEvent::GroupMembership {
        account: AccountRef {
            external_id: owner,
            name: None,
        },
        group_id: c.im_group_id,
        member: ContactInfo {
            external_id: env.from_user_id.clone(),
            nickname: None,
            avatar: None,
        },
        joined: true,
        at: group_event_time(c.create_time, received_at),
    }
}

/// `group_fans_event.group_type` for "joined" (群操作类型 1-加群).
const GROUP_FANS_JOIN: i64 = 1;

/// serde helper: an id, a string or (leniently) a number; anything else
/// (an object, an array) is not an id and fails the event.
fn de_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected an id, got {other}"
        ))),
    }
}

/// Content of `enter_group_audit_change` (a JSON string on the wire).
#[derive(Debug, Default, Deserialize)]
struct GroupAuditContent {
    #[serde(default, deserialize_with = "de_id")]
    group_id: String,
    #[serde(default, deserialize_with = "de_id")]
    apply_id: String,
    #[serde(default, deserialize_with = "crate::envelope::de_opt_i64")]
    apply_status: Option<i64>,
    /// The applicant's nickname (sic, as the platform spells it).
    #[serde(default)]
    user_nicker: Option<String>,
    #[serde(default)]
    user_avatar: Option<String>,
    #[serde(default, deserialize_with = "crate::envelope::de_i64")]
    create_time: i64,
}

/// Content of `group_fans_event` (a JSON string on the wire).
#[derive(Debug, Default, Deserialize)]
struct GroupFansContent {
    /// The group owner.
    #[serde(default, deserialize_with = "de_id")]
    open_id: String,
    #[serde(default, deserialize_with = "de_id")]
    im_group_id: String,
    /// The operation: 1 加群.
    #[serde(default, deserialize_with = "crate::envelope::de_opt_i64")]
    group_type: Option<i64>,
    #[serde(default, deserialize_with = "crate::envelope::de_i64")]
    create_time: i64,
}

/// Whether an event is a message whose own platform id deduplicates it.
/// Everything else (authorization, enter-chat, fan-group events) is keyed
/// by a digest of the signed body instead of the unsigned `Msg-Id`, so a
/// captured push re-sent under a new `Msg-Id` is still a duplicate.
fn keyed_by_message_id(event: &str) -> bool {
    matches!(
        event,
        event::IM_RECEIVE_MSG
            | event::IM_SEND_MSG
            | event::IM_GROUP_RECEIVE_MSG
            | event::IM_GROUP_SEND_MSG
    )
}

/// The event key of a push that is not a message: `body-sha256:` and the
/// hex SHA-256 of the exact signed bytes.
pub fn body_digest_key(body: &[u8]) -> String {
    format!("body-sha256:{}", hex::encode(Sha256::digest(body)))
}

#[async_trait::async_trait]
impl Channel for DouyinChannel {
    fn platform(&self) -> Platform {
        Platform::Douyin
    }

    /// 24 hours for direct conversations; group sends have no documented window.
    fn reply_window(&self) -> Option<Duration> {
        Some(REPLY_WINDOW)
    }

    fn check_outbound(&self, target: &OutboundTarget, content: &Content) -> Result<(), Refusal> {
        content.validate()?;
        let group = target.kind == ConversationKind::Group;
        self.to_douyin(content, group)?;
        if !group {
            Self::reply_window_open(target, ReplyContext::from_target(target).as_ref())?;
        }
        Ok(())
    }

    async fn send(&self, outbound: &Outbound) -> Result<SendReceipt, DeliveryError> {
        let target = &outbound.target;
        let open_id = target.account_external_id.as_str();
        let group = target.kind == ConversationKind::Group;
        let mc = self
            .to_douyin(&outbound.content, group)
            .map_err(DeliveryError::from)?;
        let resp = if group {
            let req = GroupSendRequest::to_group(target.peer_external_id.clone(), mc);
            self.call_as(open_id, |auth| {
                let req = &req;
                async move { self.client.send_group_message(&auth, req).await }
            })
            .await
        } else {
            // Checked again here: the window may have closed while queued.
            let ctx = ReplyContext::from_target(target);
            Self::reply_window_open(target, ctx.as_ref()).map_err(DeliveryError::from)?;
            let ctx = ctx.unwrap_or_default();
            let mut req = SendMessageRequest::reply(
                target.peer_external_id.clone(),
                ctx.msg_id.unwrap_or_default(),
                ctx.conversation_id.unwrap_or_default(),
                mc,
            );
            req.scene = ctx.scene.as_deref().and_then(Scene::parse);
            self.call_as(open_id, |auth| {
                let req = &req;
                async move { self.client.send_message(&auth, req).await }
            })
            .await
        }
        .map_err(delivery_error)?;
        Ok(SendReceipt {
            platform_message_id: Some(resp.msg_id).filter(|m| !m.is_empty()),
        })
    }

    async fn recall(
        &self,
        target: &OutboundTarget,
        platform_message_id: &str,
    ) -> Result<(), DeliveryError> {
        let req = match target.kind {
            ConversationKind::Group => RecallMessageRequest {
                conversation_id: target.peer_external_id.clone(),
                conversation_type: conversation_type::GROUP,
                msg_id: platform_message_id.to_string(),
            },
            ConversationKind::Direct => {
                let conversation_id = ReplyContext::from_target(target)
                    .and_then(|c| c.conversation_id)
                    .ok_or_else(|| DeliveryError::Permanent {
                        code: "conversation_id_unknown".into(),
                        text: "recall needs the conversation_id of a customer message".into(),
                    })?;
                RecallMessageRequest {
                    conversation_id,
                    conversation_type: conversation_type::DIRECT,
                    msg_id: platform_message_id.to_string(),
                }
            }
        };
        self.call_as(&target.account_external_id, |auth| {
            let req = &req;
            async move { self.client.recall_message(&auth, req).await }
        })
        .await
        .map(|_| ())
        .map_err(delivery_error)
    }

    fn parse_push(&self, push: &Push) -> Result<PushOutcome, PushError> {
        if push.body.len() > MAX_PUSH_BYTES {
            return Err(PushError::Malformed("body too large".into()));
        }
        let signature = push
            .header(SIGNATURE_HEADER)
            .ok_or(PushError::BadSignature)?;
        if !webhook::verify_signature(self.config.webhook_secret(), &push.body, signature) {
            return Err(PushError::BadSignature);
        }
        let env =
            webhook::parse_envelope(&push.body).map_err(|e| PushError::Malformed(e.to_string()))?;
        let event_key = if keyed_by_message_id(&env.event) {
            push.header(MSG_ID_HEADER)
                .filter(|m| !m.is_empty())
                .map(str::to_string)
        } else {
            Some(body_digest_key(&push.body))
        };
        let ok = PushReply::json(&json!({}));
        let at = push.received_at;
        let (events, reply) = match env.event.as_str() {
            event::VERIFY_WEBHOOK => {
                let reply = webhook::challenge_reply(&env.content).ok_or_else(|| {
                    PushError::Malformed("verify_webhook without challenge".into())
                })?;
                (Vec::new(), PushReply::json(&reply))
            }
            event::IM_RECEIVE_MSG => (
                vec![message_event(
                    &env,
                    Direction::In,
                    ConversationKind::Direct,
                    at,
                )],
                ok,
            ),
            // Echoes of imhub's own API sends are not stored again: imhub
            // already holds the message, and the echo may arrive before the
            // send's answer, so a second copy would steal its platform id.
            event::IM_SEND_MSG | event::IM_GROUP_SEND_MSG if self.is_own_echo(&env) => {
                (Vec::new(), ok)
            }
            event::IM_SEND_MSG => (
                vec![message_event(
                    &env,
                    Direction::Out,
                    ConversationKind::Direct,
                    at,
                )],
                ok,
            ),
            event::IM_GROUP_RECEIVE_MSG => (
                vec![message_event(
                    &env,
                    Direction::In,
                    ConversationKind::Group,
                    at,
                )],
                ok,
            ),
            event::IM_GROUP_SEND_MSG => (
                vec![message_event(
                    &env,
                    Direction::Out,
                    ConversationKind::Group,
                    at,
                )],
                ok,
            ),
            event::IM_ENTER_DIRECT_MSG => (vec![enter_event(&env, at)], ok),
            event::IM_RECALL_MSG => (vec![recall_event(&env)], ok),
            event::AUTHORIZE | event::CONTRACT_AUTHORIZE => {
                (vec![authorization_event(&env, true)], ok)
            }
            event::UNAUTHORIZE | event::CONTRACT_UNAUTHORIZE => {
                (vec![authorization_event(&env, false)], ok)
            }
            event::ENTER_GROUP_AUDIT_CHANGE => (vec![join_request_event(&env, at)], ok),
            event::GROUP_FANS_EVENT => (vec![membership_event(&env, at)], ok),
            other => (
                vec![unprocessable(format!(
                    "douyin event {other} is not handled"
                ))],
                ok,
            ),
        };
        Ok(PushOutcome {
            event_key,
            events,
            reply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::MemoryTokenStore;

    fn channel() -> DouyinChannel {
        DouyinChannel::new(
            DouyinConfig::new("awx", "sec"),
            Arc::new(MemoryTokenStore::new()),
        )
        .unwrap()
    }

    fn push(body: &str, secret: &str) -> Push {
        Push {
            method: "POST".into(),
            path: "/webhooks/douyin/1".into(),
            query: None,
            headers: vec![
                (
                    SIGNATURE_HEADER.into(),
                    webhook::signature(secret, body.as_bytes()),
                ),
                (MSG_ID_HEADER.into(), "m-1".into()),
            ],
            body: body.as_bytes().to_vec(),
            received_at: Timestamp(1_700_000_000_000),
        }
    }

    fn target(ctx: Option<Value>, last: Option<Timestamp>) -> OutboundTarget {
        OutboundTarget {
            kind: ConversationKind::Direct,
            account_external_id: "b".into(),
            peer_external_id: "c".into(),
            reply_context: ctx,
            last_inbound_at: last,
        }
    }

    #[test]
    fn verify_webhook_is_answered_with_the_same_challenge() {
        let body = r#"{"event":"verify_webhook","client_key":"awx","content":{"challenge":12345}}"#;
        let out = channel().parse_push(&push(body, "sec")).unwrap();
        assert_eq!(out.reply.body, br#"{"challenge":12345}"#.to_vec());
        assert!(out.events.is_empty());
    }

    #[test]
    fn wrong_or_missing_signature_is_refused_before_parsing() {
        let ch = channel();
        assert_eq!(
            ch.parse_push(&push("not json", "other")).unwrap_err(),
            PushError::BadSignature
        );
        let mut p = push("{}", "sec");
        p.headers.retain(|(n, _)| n != SIGNATURE_HEADER);
        assert_eq!(ch.parse_push(&p).unwrap_err(), PushError::BadSignature);
        assert!(matches!(
            ch.parse_push(&push("not json", "sec")),
            Err(PushError::Malformed(_))
        ));
    }

    #[test]
    fn received_text_becomes_inbound_message_with_reply_context() {
        let content = json!({
            "conversation_short_id": "@conv", "server_message_id": "@m1", "conversation_type": 1,
            "message_type": "text", "text": "在吗", "create_time": 1_700_000_000_123i64,
            "user_infos": [{"open_id": "c", "nick_name": "小王", "avatar": "https://a/1"},
                           {"open_id": "b", "nick_name": "店铺", "avatar": ""}]
        })
        .to_string();
        let body = json!({"event": "im_receive_msg", "client_key": "awx", "from_user_id": "c",
                          "to_user_id": "b", "content": content, "log_id": "L"})
        .to_string();
        let out = channel().parse_push(&push(&body, "sec")).unwrap();
        assert_eq!(out.event_key.as_deref(), Some("m-1"));
        let InboundEvent::Message(m) = &out.events[0] else {
            panic!("{:?}", out.events)
        };
        assert_eq!(m.direction, Direction::In);
        assert_eq!(m.account.external_id, "b");
        assert_eq!(m.account.name.as_deref(), Some("店铺"));
        let Peer::Direct(c) = &m.peer else { panic!() };
        assert_eq!(c.nickname.as_deref(), Some("小王"));
        assert_eq!(m.sent_at, Timestamp(1_700_000_000_123));
        let ctx: ReplyContext = serde_json::from_value(m.reply_context.clone().unwrap()).unwrap();
        assert_eq!(ctx.msg_id.as_deref(), Some("@m1"));
        assert_eq!(ctx.conversation_id.as_deref(), Some("@conv"));
    }

    #[test]
    fn sent_message_is_outbound_and_contact_without_info_stays_anonymous() {
        let body = json!({"event": "im_send_msg", "from_user_id": "b", "to_user_id": "c",
            "content": {"conversation_short_id": "@conv", "server_message_id": "@m2",
                        "message_type": "text", "text": "好的", "source": "", "create_time": 1}})
        .to_string();
        let out = channel().parse_push(&push(&body, "sec")).unwrap();
        let InboundEvent::Message(m) = &out.events[0] else {
            panic!()
        };
        assert_eq!(m.direction, Direction::Out);
        assert!(m.reply_context.is_none());
        let Peer::Direct(c) = &m.peer else { panic!() };
        assert_eq!((c.external_id.as_str(), c.nickname.as_ref()), ("c", None));
    }

    #[test]
    fn echo_of_our_own_api_send_is_acknowledged_without_events() {
        let body = json!({"event": "im_send_msg", "from_user_id": "b", "to_user_id": "c",
            "content": {"conversation_short_id": "@conv", "server_message_id": "@m3",
                        "message_type": "text", "text": "好的", "source": "awx", "create_time": 1}})
        .to_string();
        let out = channel().parse_push(&push(&body, "sec")).unwrap();
        assert!(out.events.is_empty(), "{:?}", out.events);
        assert_eq!(out.event_key.as_deref(), Some("m-1"));
    }

    #[test]
    fn enter_chat_group_message_auth_and_unknown_events_are_mapped() {
        let ch = channel();
        let enter = json!({"event": "im_enter_direct_msg", "from_user_id": "c", "to_user_id": "b",
            "content": json!({"conversation_short_id": "@c", "server_message_id": "@e",
                              "conversation_type": 1, "scene_type": 4, "create_time": 1_700_000_000_000i64}).to_string()})
        .to_string();
        match &ch.parse_push(&push(&enter, "sec")).unwrap().events[0] {
            InboundEvent::ChatOpened {
                reply_context,
                entry,
                ..
            } => {
                assert_eq!(
                    reply_context.as_ref().unwrap()["scene"],
                    "im_enter_direct_msg"
                );
                assert_eq!(entry, &Some(json!({"scene_type": 4})));
            }
            other => panic!("{other:?}"),
        }
        // An ad's enter event: its JSON-string ad_info is decoded, the
        // video id kept under object_id.
        let from_ad = json!({"event": "im_enter_direct_msg", "from_user_id": "c", "to_user_id": "b",
            "content": json!({"conversation_short_id": "@c", "server_message_id": "@e2",
                              "conversation_type": 1, "scene_type": 3, "objectId": "v77",
                              "ad_info": json!({"ad_id": 1234, "ad_name": "双十一投放"}).to_string(),
                              "create_time": 1_700_000_000_000i64}).to_string()})
        .to_string();
        match &ch.parse_push(&push(&from_ad, "sec")).unwrap().events[0] {
            InboundEvent::ChatOpened { entry, .. } => assert_eq!(
                entry,
                &Some(json!({"scene_type": 3, "object_id": "v77",
                    "ad_info": {"ad_id": 1234, "ad_name": "双十一投放"}}))
            ),
            other => panic!("{other:?}"),
        }
        let group = json!({"event": "im_group_receive_msg", "from_user_id": "c", "to_user_id": "b",
            "content": {"conversation_short_id": "@g", "server_message_id": "@gm", "conversation_type": 2,
                        "message_type": "text", "text": "hi", "owner_id": "b", "create_time": 1}})
        .to_string();
        match &ch.parse_push(&push(&group, "sec")).unwrap().events[0] {
            InboundEvent::Message(m) => {
                assert!(
                    matches!(&m.peer, Peer::Group { group_id, sender: Some(_), .. } if group_id == "@g")
                )
            }
            other => panic!("{other:?}"),
        }
        let unauth = json!({"event": "contract_unauthorize", "from_user_id": "b", "to_user_id": "",
                            "content": {"scopes": ["im.direct_message"]}})
        .to_string();
        assert!(matches!(
            &ch.parse_push(&push(&unauth, "sec")).unwrap().events[0],
            InboundEvent::AccountAuthorization {
                authorized: false,
                ..
            }
        ));
        let other = json!({"event": "create_video", "content": {}}).to_string();
        assert!(matches!(
            &ch.parse_push(&push(&other, "sec")).unwrap().events[0],
            InboundEvent::Unprocessable { .. }
        ));
    }

    /// The official `enter_group_audit_change` sample (R-SKIT's doc copy),
    /// apply_status 2 = approved.
    const AUDIT_SAMPLE: &str = r#"{"event":"enter_group_audit_change","client_key":"awipqx94gnfz3rtg","from_user_id":"6ff2569e-1a9d-4e94-92ee-8fb495515c9y","to_user_id":"6cb06b1b-1069-465b-8fba-e1c55f30ab4n","content":"{\"create_time\":1679638889110,\"user_avatar\":\"https://p3.douyinpic.com/a.jpeg\",\"user_nicker\":\"12342429747\",\"apply_status\":2,\"apply_id\":\"@9VwNxuKKBZ03MXG7M8ooWM7912TqNP2CO5FyqAqnJlYTZ/j660zdRmYqig357zEBoRXMRQ95AMRhcSWFJ+9AMw==\",\"group_id\":\"@9VwNxuKKBZ03MXG7M8ooWM7912TqNP2CO5FyqAqnJlYTZ/j660zdRmYqig357zEBoRXMRQ95AMRhcSWFJ+9AMw==\"}"}"#;
    /// The official `group_fans_event` sample (dop "用户加群webhook" page).
    const FANS_SAMPLE: &str = r#"{"event":"group_fans_event","client_key":"gjegd89bebgd9uehd","from_user_id":"500a9e2f-ca96-4225-865d-a341914502ae","to_user_id":"a70c3dde-d0f3-45b3-828e-0f1a81cd5245","content":"{\"open_id\":\"500a9e2f-ca96-4225-865d-a341914502ae\",\"im_group_id\":\"@9VxQh6rGTNAjPS/4do48Es7912frNf2APZB0rQqgKFMUafD160zdRmYqig357zEBN69eGVtkZMdXc4EKtu****==\",\"group_type\":1,\"create_time\":1681720393151,\"create_group_type\":\"5\"}","log_id":"02168172039281400000000000000000000ffff0ac64157ea0731"}"#;

    #[test]
    fn official_fan_group_samples_become_join_request_and_membership_events() {
        let ch = channel();
        let out = ch.parse_push(&push(AUDIT_SAMPLE, "sec")).unwrap();
        match &out.events[0] {
            InboundEvent::GroupJoinRequest {
                account,
                group_id,
                request_id,
                applicant,
                status,
                at,
            } => {
                assert_eq!(account.external_id, "6cb06b1b-1069-465b-8fba-e1c55f30ab4n");
                assert!(group_id.contains('/') && request_id.ends_with("=="));
                let a = applicant.as_ref().unwrap();
                assert_eq!(a.external_id, "6ff2569e-1a9d-4e94-92ee-8fb495515c9y");
                assert_eq!(a.nickname.as_deref(), Some("12342429747"));
                assert_eq!(*status, JoinRequestStatus::Approved);
                assert_eq!(*at, Timestamp(1_679_638_889_110));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            out.event_key,
            Some(body_digest_key(AUDIT_SAMPLE.as_bytes()))
        );
        let out = ch.parse_push(&push(FANS_SAMPLE, "sec")).unwrap();
        match &out.events[0] {
            InboundEvent::GroupMembership {
                account,
                member,
                joined,
                ..
            } => {
                assert_eq!(account.external_id, "a70c3dde-d0f3-45b3-828e-0f1a81cd5245");
                assert_eq!(member.external_id, "500a9e2f-ca96-4225-865d-a341914502ae");
                assert!(*joined);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fan_group_events_with_missing_or_undocumented_fields_are_kept_raw() {
        let ch = channel();
        let bodies = [
            // apply_status outside 1–3.
            json!({"event": "enter_group_audit_change", "from_user_id": "c", "to_user_id": "b",
                   "content": json!({"group_id": "@g", "apply_id": "@a", "apply_status": 9}).to_string()}),
            // No apply_id.
            json!({"event": "enter_group_audit_change", "from_user_id": "c", "to_user_id": "b",
                   "content": json!({"group_id": "@g", "apply_status": 1}).to_string()}),
            // No owner anywhere.
            json!({"event": "enter_group_audit_change", "from_user_id": "c",
                   "content": json!({"group_id": "@g", "apply_id": "@a", "apply_status": 1}).to_string()}),
            // An operation other than 1 (加群) is not documented.
            json!({"event": "group_fans_event", "from_user_id": "c", "to_user_id": "b",
                   "content": json!({"open_id": "b", "im_group_id": "@g", "group_type": 2}).to_string()}),
            // No member.
            json!({"event": "group_fans_event", "to_user_id": "b",
                   "content": json!({"open_id": "b", "im_group_id": "@g", "group_type": 1}).to_string()}),
            // Content of the wrong shape.
            json!({"event": "group_fans_event", "from_user_id": "c", "to_user_id": "b",
                   "content": json!({"im_group_id": {"x": 1}, "group_type": 1}).to_string()}),
        ];
        for body in bodies {
            let out = ch.parse_push(&push(&body.to_string(), "sec")).unwrap();
            assert!(
                matches!(&out.events[..], [InboundEvent::Unprocessable { .. }]),
                "{body}: {:?}",
                out.events
            );
        }
    }

    #[test]
    fn fan_group_event_times_far_off_are_taken_as_the_arrival() {
        let arrived = Timestamp(1_700_000_000_000);
        assert_eq!(group_event_time(i64::MAX, arrived), arrived);
        assert_eq!(group_event_time(-5, arrived), arrived);
        assert_eq!(group_event_time(5, arrived), arrived);
        assert_eq!(
            group_event_time(1_700_000_060_000, arrived),
            Timestamp(1_700_000_060_000)
        );
        assert_eq!(
            group_event_time(1_600_000_000, arrived),
            Timestamp(1_600_000_000_000)
        );
    }

    #[test]
    fn only_message_events_are_keyed_by_msg_id() {
        let ch = channel();
        let msg = json!({"event": "im_receive_msg", "from_user_id": "c", "to_user_id": "b",
            "content": {"conversation_short_id": "@c", "server_message_id": "@m",
                        "message_type": "text", "text": "hi"}})
        .to_string();
        assert_eq!(
            ch.parse_push(&push(&msg, "sec"))
                .unwrap()
                .event_key
                .as_deref(),
            Some("m-1")
        );
        for event in [
            "authorize",
            "unauthorize",
            "contract_unauthorize",
            "im_enter_direct_msg",
        ] {
            let body = json!({"event": event, "from_user_id": "b", "content": {}}).to_string();
            let mut p = push(&body, "sec");
            let first = ch.parse_push(&p).unwrap().event_key;
            p.headers.retain(|(n, _)| n != MSG_ID_HEADER);
            p.headers
                .push((MSG_ID_HEADER.into(), "forged-new-id".into()));
            let second = ch.parse_push(&p).unwrap().event_key;
            assert_eq!(first, second, "{event}");
            assert_eq!(first, Some(body_digest_key(body.as_bytes())));
        }
    }

    #[test]
    fn request_timeout_is_capped_by_the_operator_limit() {
        let limits = ChannelLimits::default();
        let mut c = DouyinConfig::new("k", "s");
        assert_eq!(limits.request_timeout(&c), Duration::from_secs(10));
        c.request_timeout_secs = Some(20);
        assert_eq!(limits.request_timeout(&c), Duration::from_secs(20));
        c.request_timeout_secs = Some(u64::MAX);
        assert_eq!(limits.request_timeout(&c), Duration::from_secs(30));
        let tight = ChannelLimits {
            max_request_timeout: Duration::from_secs(5),
            ..limits
        };
        assert_eq!(tight.request_timeout(&c), Duration::from_secs(5));
        // A huge value still builds a channel; zero is refused.
        assert!(DouyinChannel::new(c.clone(), Arc::new(MemoryTokenStore::new())).is_ok());
        c.request_timeout_secs = Some(0);
        assert!(DouyinChannel::new(c, Arc::new(MemoryTokenStore::new())).is_err());
    }

    #[test]
    fn reply_window_closes_after_24_hours() {
        let ch = channel();
        let text = Content::Text { text: "hi".into() };
        let ctx = json!({"msg_id": "@m", "conversation_id": "@c"});
        let now = Timestamp::now();
        assert!(
            ch.check_outbound(
                &target(Some(ctx.clone()), Some(now.plus_millis(-3_600_000))),
                &text
            )
            .is_ok()
        );
        let late = now.plus_millis(-(24 * 3_600_000 + 1));
        assert_eq!(
            ch.check_outbound(&target(Some(ctx), Some(late)), &text)
                .unwrap_err()
                .code,
            "reply_window_closed"
        );
        assert_eq!(
            ch.check_outbound(&target(None, Some(now)), &text)
                .unwrap_err()
                .code,
            "reply_window_closed"
        );
    }

    #[test]
    fn platform_errors_are_classified_for_delivery() {
        let api = |code| {
            DouyinError::Api(crate::errors::ApiError {
                code,
                sub_code: None,
                description: "d".into(),
                logid: Some("l".into()),
                http_status: 200,
            })
        };
        assert!(matches!(
            delivery_error(api(28_003_018)),
            DeliveryError::RateLimited { .. }
        ));
        assert!(matches!(
            delivery_error(api(28_001_005)),
            DeliveryError::Retryable { .. }
        ));
        // Risk control (请稍后再试 … 控制访问频率) backs off instead of failing.
        assert_eq!(
            delivery_error(api(28_001_052)),
            DeliveryError::RateLimited {
                retry_after: RISK_CONTROL_DELAY,
                reason: "douyin error 28001052: d (logid l)".into()
            }
        );
        assert!(matches!(
            delivery_error(api(10010)),
            DeliveryError::AuthExpired { .. }
        ));
        assert_eq!(
            delivery_error(api(28_001_007)),
            DeliveryError::Permanent {
                code: "28001007".into(),
                text: "d (logid l)".into()
            }
        );
    }
}
