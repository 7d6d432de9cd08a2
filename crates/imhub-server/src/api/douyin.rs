//! Douyin routes under `/api/v1/douyin/...`: the QR authorization of
//! enterprise accounts, fan groups, lead cards, mini-program card templates
//! and image upload. Each route finds the caller's Douyin channel or account
//! (404 for another workspace's), builds the concrete [`DouyinChannel`] from
//! the stored configuration and the database-backed token store, makes one
//! SDK call and maps platform errors to problem codes with [`douyin_problem`].
//!
//! The plain functions and the [`DouyinApp`] / [`DouyinAccount`] handles are
//! public so `imhub douyin ...` scripts exactly what the API does.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::StatusCode,
    routing::{get, post, put},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use imhub_core::{Account, AccountId, AccountState, ChannelId, Content, Platform, Timestamp};
pub use imhub_douyin as sdk;
use imhub_douyin::{
    DouyinChannel, DouyinConfig, DouyinError, ErrorClass, Secret,
    cards::{QueryAppletTemplateRequest, SaveAppletTemplateRequest, SaveLeadCardRequest},
    groups::{AUDIT_PAGE_MAX, AuditDecision, CreateFansGroupRequest, GroupSettingType},
};
use imhub_store::{Store, StoredChannel};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{
    AppState,
    api::{ApiJson, ApiPath, ApiQuery, List, body_error},
    auth::Caller,
    channels::{douyin_tokens::StoredTokens, operator_channel},
    config::PlatformsConfig,
    error::ApiError,
};

/// Every Douyin route.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/douyin/channels/{id}/authorize-url",
            post(create_authorize_url),
        )
        .route("/douyin/oauth/callback", get(oauth_callback))
        .route("/douyin/channels/{id}/images", post(upload_image))
        .route(
            "/douyin/channels/{id}/card-templates",
            get(list_card_templates).post(create_card_template),
        )
        .route(
            "/douyin/channels/{id}/card-templates/{template_id}",
            put(update_card_template).delete(delete_card_template),
        )
        .route("/douyin/accounts/{id}/groups/quota", get(group_quota))
        .route("/douyin/accounts/{id}/media", get(message_media))
        .route(
            "/douyin/accounts/{id}/groups",
            get(list_groups).post(create_group),
        )
        .route(
            "/douyin/accounts/{id}/group-settings",
            post(set_group_setting),
        )
        .route(
            "/douyin/accounts/{id}/group-settings/disable",
            post(disable_group_setting),
        )
        .route(
            "/douyin/accounts/{id}/join-requests",
            get(list_join_requests),
        )
        .route(
            "/douyin/accounts/{id}/join-requests/{apply_id}/{decision}",
            post(decide_join_request),
        )
        .route(
            "/douyin/accounts/{id}/lead-cards",
            get(list_lead_cards).post(create_lead_card),
        )
        .route(
            "/douyin/accounts/{id}/lead-cards/{card_id}",
            put(update_lead_card).delete(delete_lead_card),
        )
}

// ---------------------------------------------------------------------------
// Finding the caller's Douyin channel or account, and error mapping.

/// A Douyin channel of a workspace with its concrete adapter, for the
/// app-level calls (client_token): image upload and card templates.
pub struct DouyinApp {
    /// The stored channel.
    pub channel: StoredChannel,
    /// The adapter, sharing its tokens with the server's through the database.
    pub adapter: DouyinChannel,
}

/// A Douyin enterprise account of a workspace with its channel's adapter,
/// for the user-level calls (fan groups, lead cards).
pub struct DouyinAccount {
    /// The stored account (`external_id` is its open_id).
    pub account: Account,
    /// Its channel's adapter.
    pub adapter: DouyinChannel,
}

/// Builds the concrete adapter of a stored Douyin channel. Tokens live in the
/// database, so this adapter and the registry's see the same ones.
pub fn adapter_of(
    store: &Arc<dyn Store>,
    channel: &StoredChannel,
) -> Result<DouyinChannel, ApiError> {
    let config: DouyinConfig = serde_json::from_value(channel.config.clone())
        .map_err(|e| ApiError::unprocessable("channel_unavailable", e.to_string()))?;
    let tokens = Arc::new(StoredTokens {
        store: Arc::clone(store),
        workspace: channel.workspace_id,
        channel: channel.id,
    });
    DouyinChannel::new(config, tokens)
        .map_err(|e| ApiError::unprocessable("channel_unavailable", e.to_string()))
}

/// The workspace's Douyin channel `id`; 404 when it is another workspace's
/// or not a Douyin channel.
pub async fn douyin_app(
    store: &Arc<dyn Store>,
    platforms: &PlatformsConfig,
    ws: imhub_core::WorkspaceId,
    id: ChannelId,
) -> Result<DouyinApp, ApiError> {
    let channel = operator_channel(platforms, store.get_channel(ws, id).await?);
    if channel.platform != Platform::Douyin {
        return Err(ApiError::not_found("douyin channel"));
    }
    let adapter = adapter_of(store, &channel)?;
    Ok(DouyinApp { channel, adapter })
}

/// The workspace's Douyin account `id`; 404 when it is another workspace's
/// or not a Douyin account; 422 `account_needs_reauthorization` when its
/// authorization is gone (nothing is sent to the platform then).
pub async fn douyin_account(
    store: &Arc<dyn Store>,
    platforms: &PlatformsConfig,
    ws: imhub_core::WorkspaceId,
    id: AccountId,
) -> Result<DouyinAccount, ApiError> {
    let account = store.get_account(ws, id).await?;
    if account.platform != Platform::Douyin {
        return Err(ApiError::not_found("douyin account"));
    }
    if account.state == AccountState::NeedsReauthorization {
        return Err(needs_reauthorization(
            &account.name,
            account.state_reason.as_deref().unwrap_or_default(),
        ));
    }
    let channel = operator_channel(platforms, store.get_channel(ws, account.channel_id).await?);
    let adapter = adapter_of(store, &channel)?;
    Ok(DouyinAccount { account, adapter })
}

fn needs_reauthorization(account: &str, reason: &str) -> ApiError {
    ApiError::unprocessable(
        "account_needs_reauthorization",
        format!("the account {account} must scan the authorization QR code again: {reason}"),
    )
}

/// Maps an SDK error to a problem: `douyin_error` (422, the platform's
/// `err_no`/`error_code`, description and logid in `detail`),
/// `douyin_rate_limited` (429), `douyin_unavailable` (502, the platform is
/// busy or unreachable), `account_needs_reauthorization` (422),
/// `account_not_authorized` (422, no tokens were ever stored) and
/// `invalid_request` (422, refused before sending).
pub fn douyin_problem(e: DouyinError) -> ApiError {
    match &e {
        DouyinError::ReauthorizationRequired { open_id, reason } => {
            needs_reauthorization(open_id, reason)
        }
        DouyinError::NotAuthorized { open_id } => ApiError::unprocessable(
            "account_not_authorized",
            format!("the account {open_id} has not authorized this app: scan the QR code first"),
        ),
        DouyinError::InvalidRequest(text) => ApiError::unprocessable("invalid_request", text),
        DouyinError::TokenStore(_) => ApiError::internal(e),
        DouyinError::Api(api) => match api.class() {
            ErrorClass::TokenExpired | ErrorClass::ReauthorizationRequired => {
                ApiError::unprocessable("account_needs_reauthorization", api.to_string())
            }
            ErrorClass::RateLimited => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "douyin_rate_limited",
                api.to_string(),
            ),
            ErrorClass::Retryable => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "douyin_unavailable",
                api.to_string(),
            ),
            ErrorClass::Permission | ErrorClass::Permanent => {
                ApiError::unprocessable("douyin_error", api.to_string())
            }
        },
        DouyinError::Transport { .. } | DouyinError::Decode { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "douyin_unavailable", e.to_string())
        }
    }
}

impl DouyinApp {
    /// Runs an app-level call with the client_token; when the platform calls
    /// the token expired, fetches a fresh one and tries once more.
    async fn with_client_token<T, F, Fut>(&self, call: F) -> Result<T, ApiError>
    where
        F: Fn(Secret) -> Fut,
        Fut: std::future::Future<Output = Result<T, DouyinError>>,
    {
        let tokens = self.adapter.tokens();
        let token = tokens.client_token().await.map_err(douyin_problem)?;
        match call(token).await {
            Err(e) if e.class() == ErrorClass::TokenExpired => {
                tokens.drop_client_token().await;
                let token = tokens.client_token().await.map_err(douyin_problem)?;
                call(token).await.map_err(douyin_problem)
            }
            other => other.map_err(douyin_problem),
        }
    }

    /// Uploads an image; its id is reused in `{type:image, media_id}` messages,
    /// lead cards, card templates and group avatars.
    pub async fn upload_image(&self, bytes: &[u8]) -> Result<UploadedImage, ApiError> {
        let client = self.adapter.client();
        let up = self
            .with_client_token(|t| async move { client.upload_image(&t, bytes).await })
            .await?;
        Ok(UploadedImage {
            image_id: up.image_id,
            width: up.width,
            height: up.height,
            md5: up.md5,
        })
    }

    /// Creates (`id` None) or updates a mini-program guide-card template.
    pub async fn save_card_template(
        &self,
        id: Option<String>,
        t: CardTemplateInput,
    ) -> Result<String, ApiError> {
        let req = SaveAppletTemplateRequest {
            card_template_id: id,
            card_type: t.card_type.unwrap_or(1),
            title: t.title,
            content: t.content,
            media_id: t.media_id,
            app_id: t.app_id,
        };
        let client = self.adapter.client();
        self.with_client_token(|tok| {
            let req = &req;
            async move { client.save_applet_template(&tok, req).await }
        })
        .await
    }

    /// A page of templates, or the one named by `card_template_id`.
    pub async fn card_templates(&self, q: TemplateQuery) -> Result<TemplatePage, ApiError> {
        let req = QueryAppletTemplateRequest {
            count: q
                .card_template_id
                .is_none()
                .then_some(q.count.unwrap_or(20)),
            card_template_id: q.card_template_id,
            cursor: q.cursor,
            status: q.status,
        };
        let client = self.adapter.client();
        let page = self
            .with_client_token(|tok| {
                let req = &req;
                async move { client.query_applet_templates(&tok, req).await }
            })
            .await?;
        Ok(TemplatePage {
            items: page.list.into_iter().map(CardTemplate::from).collect(),
            cursor: page.cursor,
            has_more: page.has_more,
        })
    }

    /// Deletes a template.
    pub async fn delete_card_template(&self, id: &str) -> Result<(), ApiError> {
        let client = self.adapter.client();
        self.with_client_token(|tok| async move { client.delete_applet_template(&tok, id).await })
            .await
            .map(|_| ())
    }
}

impl DouyinAccount {
    /// Runs a user-level call as this account (refreshing its token first
    /// when due, and once more when the platform calls it expired).
    async fn call<T, F, Fut>(&self, call: F) -> Result<T, ApiError>
    where
        F: Fn(imhub_douyin::UserAuth) -> Fut,
        Fut: std::future::Future<Output = Result<T, DouyinError>>,
    {
        self.adapter
            .call_as(&self.account.external_id, call)
            .await
            .map_err(douyin_problem)
    }

    /// The temporary URL of the image or video a customer sent from the
    /// phone (`user_local_image` / `user_local_video`), by the webhook's
    /// `conversation_short_id` and `server_message_id`.
    pub async fn message_media(&self, query: &MediaQuery) -> Result<MessageMedia, ApiError> {
        let conversation_id = query.conversation_id.trim();
        let message_id = query.message_id.trim();
        if conversation_id.is_empty() || message_id.is_empty() {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "conversation_id and message_id must not be empty",
            ));
        }
        let client = self.adapter.client();
        let r = self
            .call(|auth| async move {
                client
                    .message_resource(&auth, conversation_id, message_id)
                    .await
            })
            .await?;
        if r.url.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "douyin_unavailable",
                "douyin answered without a resource url",
            ));
        }
        Ok(MessageMedia {
            media_type: r.media_type,
            url: r.url,
        })
    }

    /// Fan groups the account may still create.
    pub async fn group_quota(&self) -> Result<GroupQuota, ApiError> {
        let client = self.adapter.client();
        let r = self
            .call(|auth| async move { client.fans_group_count(&auth).await })
            .await?;
        Ok(GroupQuota {
            left_count: r.left_count,
        })
    }

    /// Creates a fan group; returns its `group_id`.
    pub async fn create_group(&self, g: NewFansGroup) -> Result<String, ApiError> {
        if g.group_name.trim().is_empty() {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "group_name must not be empty",
            ));
        }
        // Only what the caller set is sent (the platform's minimal body has
        // no group_type); a group_type other than 2 or 5 is refused here.
        let non_empty = |s: Option<String>| s.filter(|v| !v.trim().is_empty());
        let req = CreateFansGroupRequest {
            avatar_uri: non_empty(g.avatar_uri),
            description: non_empty(g.description),
            group_name: g.group_name,
            active_fans: g.active_fans,
            allow_invite: g.allow_invite,
            fans_limit: g.fans_limit,
            group_type: g.group_type,
            item_auto_sync: g.item_auto_sync,
            live_auto_sync: g.live_auto_sync,
            open_audit_switch: g.open_audit_switch,
            relation_type: g.relation_type,
            show_at_profile: g.show_at_profile,
        };
        req.validate()
            .map_err(|e| ApiError::unprocessable("invalid_request", e.to_string()))?;
        let client = self.adapter.client();
        let r = self
            .call(|auth| {
                let req = &req;
                async move { client.create_fans_group(&auth, req).await }
            })
            .await?;
        Ok(r.group_id)
    }

    /// The account's fan groups.
    pub async fn groups(&self) -> Result<Vec<FansGroup>, ApiError> {
        let client = self.adapter.client();
        let r = self
            .call(|auth| async move { client.list_fans_groups(&auth).await })
            .await?;
        Ok(r.group_list.into_iter().map(FansGroup::from).collect())
    }

    /// Sets a group's greeting or announcement (text, mini-program card,
    /// or a coupon as `custom` Douyin content).
    pub async fn set_group_setting(&self, s: GroupSettingInput) -> Result<(), ApiError> {
        if s.messages.is_empty() {
            return Err(ApiError::unprocessable(
                "invalid_request",
                "messages must not be empty",
            ));
        }
        let msg_list = s
            .messages
            .iter()
            .map(|c| self.adapter.to_douyin(c, false))
            .collect::<Result<Vec<_>, _>>()?;
        let client = self.adapter.client();
        let (group_id, kind) = (s.group_id.as_str(), s.setting.kind());
        self.call(|auth| {
            let msg_list = msg_list.clone();
            async move {
                client
                    .set_group_setting(&auth, group_id, kind, msg_list)
                    .await
            }
        })
        .await
        .map(|_| ())
    }

    /// Turns a group's greeting or announcement off.
    pub async fn disable_group_setting(&self, s: GroupSettingRef) -> Result<(), ApiError> {
        let client = self.adapter.client();
        let (group_id, kind) = (s.group_id.as_str(), s.setting.kind());
        self.call(|auth| async move { client.disable_group_setting(&auth, group_id, kind).await })
            .await
            .map(|_| ())
    }

    /// A page of join requests (`cursor` 0 first, `count` 1–50).
    pub async fn join_requests(
        &self,
        cursor: i64,
        count: u32,
    ) -> Result<JoinRequestPage, ApiError> {
        if !(1..=AUDIT_PAGE_MAX).contains(&count) {
            return Err(ApiError::bad_request(
                "invalid_query",
                format!("count must be between 1 and {AUDIT_PAGE_MAX}"),
            ));
        }
        let client = self.adapter.client();
        let r = self
            .call(|auth| async move { client.list_enter_audits(&auth, cursor, count).await })
            .await?;
        let list = r.apply_list;
        Ok(JoinRequestPage {
            items: list.list.into_iter().map(JoinRequest::from).collect(),
            next_cursor: list.has_more.then_some(list.cursor),
        })
    }

    /// Approves or rejects a join request.
    pub async fn decide_join_request(
        &self,
        apply_id: &str,
        decision: JoinDecision,
    ) -> Result<(), ApiError> {
        let decision = match decision {
            JoinDecision::Approve => AuditDecision::Approve,
            JoinDecision::Reject => AuditDecision::Reject,
        };
        let client = self.adapter.client();
        self.call(|auth| async move { client.set_enter_audit(&auth, apply_id, decision).await })
            .await
            .map(|_| ())
    }

    /// Creates (`card_id` None) or updates a lead card; returns its id.
    pub async fn save_lead_card(
        &self,
        card_id: Option<String>,
        c: LeadCardInput,
    ) -> Result<String, ApiError> {
        let req = SaveLeadCardRequest {
            card_id,
            title: c.title,
            media_id: c.media_id,
            components: c.components,
        };
        let client = self.adapter.client();
        self.call(|auth| {
            let req = &req;
            async move { client.save_lead_card(&auth, req).await }
        })
        .await
        .map(|r| r.card_id)
    }

    /// The account's lead cards.
    pub async fn lead_cards(&self) -> Result<Vec<LeadCard>, ApiError> {
        let client = self.adapter.client();
        let r = self
            .call(|auth| async move { client.list_lead_cards(&auth).await })
            .await?;
        Ok(r.cards.into_iter().map(LeadCard::from).collect())
    }

    /// Deletes a lead card.
    pub async fn delete_lead_card(&self, card_id: &str) -> Result<(), ApiError> {
        let client = self.adapter.client();
        self.call(|auth| async move { client.delete_lead_card(&auth, card_id).await })
            .await
            .map(|_| ())
    }
}

// ---------------------------------------------------------------------------
// QR authorization.

/// How long an authorize URL's `state` is accepted (the platform's code
/// itself lives 10 minutes).
pub const AUTHORIZE_STATE_TTL_MS: i64 = 15 * 60 * 1000;

/// Where the platform sends the merchant's browser back, under `public_url`.
pub const CALLBACK_PATH: &str = "/api/v1/douyin/oauth/callback";

/// What is kept per issued `state`, in the channel's state store under the
/// hash of its secret part.
#[derive(Debug, Serialize, Deserialize)]
struct PendingAuthorization {
    workspace_id: i64,
    expires_at: i64,
    used: bool,
}

fn state_key(secret: &str) -> String {
    format!(
        "douyin.oauth_state.{}",
        hex::encode(Sha256::digest(secret.as_bytes()))
    )
}

/// An authorize URL to open (or show as a QR code) for one channel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizeUrl {
    /// The platform's authorization page.
    pub url: String,
    /// Where the platform redirects after the scan.
    pub redirect_uri: String,
    /// The `state` in the URL, accepted once until `expires_at`.
    pub state: String,
    pub expires_at: Timestamp,
}

/// Issues an authorize URL whose `state` (`{channel}.{random}`) binds the
/// return to this workspace and channel; only its hash is stored.
pub async fn start_authorization(
    store: &Arc<dyn Store>,
    platforms: &PlatformsConfig,
    ws: imhub_core::WorkspaceId,
    channel: ChannelId,
    public_url: &str,
) -> Result<AuthorizeUrl, ApiError> {
    let app = douyin_app(store, platforms, ws, channel).await?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let state = format!("{}.{secret}", app.channel.id);
    let redirect_uri = format!("{}{CALLBACK_PATH}", public_url.trim_end_matches('/'));
    let url = app
        .adapter
        .authorize_url(&redirect_uri, &state)
        .map_err(|e| match e {
            DouyinError::InvalidRequest(text) => ApiError::unprocessable(
                "redirect_uri_refused",
                format!(
                    "{text}; douyin redirects only to https: set public_url to imhub's https address"
                ),
            ),
            other => douyin_problem(other),
        })?;
    let expires_at = Timestamp::now().plus_millis(AUTHORIZE_STATE_TTL_MS);
    let pending = PendingAuthorization {
        workspace_id: ws.0,
        expires_at: expires_at.millis(),
        used: false,
    };
    let text = serde_json::to_string(&pending).map_err(ApiError::internal)?;
    store
        .put_channel_state(app.channel.id, &state_key(&secret), &text)
        .await?;
    Ok(AuthorizeUrl {
        url,
        redirect_uri,
        state,
        expires_at,
    })
}

/// Finishes the QR flow: checks `state` (issued by this server, for this
/// channel, unexpired, unused), exchanges `code`, stores the tokens and
/// creates or re-activates the account whose external id is the open_id.
pub async fn finish_authorization(
    store: &Arc<dyn Store>,
    platforms: &PlatformsConfig,
    code: &str,
    state: &str,
) -> Result<Account, ApiError> {
    let refused = || {
        ApiError::bad_request(
            "authorization_state_invalid",
            "this authorization link is unknown, expired or already used: start again",
        )
    };
    let (channel_id, secret) = state.split_once('.').ok_or_else(refused)?;
    let channel_id: ChannelId = channel_id.parse().map_err(|_| refused())?;
    let channel = store
        .find_channel(channel_id)
        .await?
        .filter(|c| c.platform == Platform::Douyin)
        .ok_or_else(refused)?;
    let channel = operator_channel(platforms, channel);
    let key = state_key(secret);
    let mut pending: PendingAuthorization = match store.get_channel_state(channel.id, &key).await? {
        Some(text) => serde_json::from_str(&text).map_err(|_| refused())?,
        None => return Err(refused()),
    };
    if pending.used
        || pending.workspace_id != channel.workspace_id.0
        || pending.expires_at < Timestamp::now().millis()
    {
        return Err(refused());
    }
    pending.used = true;
    let text = serde_json::to_string(&pending).map_err(ApiError::internal)?;
    store.put_channel_state(channel.id, &key, &text).await?;
    let ws = channel.workspace_id;
    let adapter = adapter_of(store, &channel)?;
    let tokens = adapter
        .complete_authorization(code)
        .await
        .map_err(douyin_problem)?;
    // Saving the tokens re-activated a known account; a new one is created.
    let account = match store.find_account(ws, channel.id, &tokens.open_id).await? {
        Some(account) => store.get_account(ws, account.id).await?,
        None => {
            store
                .create_account(ws, channel.id, &tokens.open_id, &tokens.open_id)
                .await?
        }
    };
    tracing::info!(channel = %channel.id, account = %account.id, "douyin account authorized");
    Ok(account)
}

/// Issues the QR authorization URL of a channel. Admin only. The URL
/// redirects to `{public_url}/api/v1/douyin/oauth/callback` with a `state`
/// bound to this workspace and channel, accepted once within 15 minutes.
/// Each call issues a new state (not idempotent, harmless to repeat).
/// 404 for another workspace's or a non-Douyin channel; 422
/// `redirect_uri_refused` when `public_url` is not https.
#[utoipa::path(post, path = "/api/v1/douyin/channels/{id}/authorize-url", tag = "douyin",
    params(("id" = i64, Path)),
    responses((status = 201, body = AuthorizeUrl), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn create_authorize_url(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
) -> Result<(StatusCode, Json<AuthorizeUrl>), ApiError> {
    caller.require_admin()?;
    let url = start_authorization(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
        &state.config.public_url(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(url)))
}

/// The platform's redirect after the QR scan.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code; Douyin leaves it out when the scan is
    /// cancelled or refused (400 `authorization_denied`).
    #[param(required = true, min_length = 1)]
    pub code: Option<String>,
    /// The `state` of the authorize URL: issued by this server, used once.
    #[param(required = true, min_length = 1)]
    pub state: Option<String>,
}

/// Where Douyin sends the merchant's browser back (no bearer token: the
/// `state` is the credential). Exchanges the code, stores the tokens and
/// answers with the authorized account (created, or re-activated when it
/// needed re-authorization). 400 `authorization_state_invalid` for an
/// unknown, expired or reused state; 400 `authorization_denied` without a
/// code; `douyin_error` (422) when the platform refuses the code. A state
/// works once, so a reload is refused rather than exchanging twice.
#[utoipa::path(get, path = "/api/v1/douyin/oauth/callback", tag = "douyin",
    params(CallbackQuery), security(()),
    responses((status = 200, body = Account),
        (status = 400, description = "`authorization_state_invalid`: the state is missing, unknown, \
            expired or used; `authorization_denied`: no code", body = crate::error::Problem),
        (status = 422, description = "`douyin_error`, `account_needs_reauthorization`, \
            `channel_unavailable`, `invalid_request`", body = crate::error::Problem)))]
pub async fn oauth_callback(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<CallbackQuery>,
) -> Result<Json<Account>, ApiError> {
    let Some(oauth_state) = q.state.filter(|s| !s.is_empty()) else {
        return Err(ApiError::bad_request(
            "authorization_state_invalid",
            "the redirect carries no state",
        ));
    };
    let Some(code) = q.code.filter(|c| !c.is_empty()) else {
        return Err(ApiError::bad_request(
            "authorization_denied",
            "the platform returned no authorization code (the scan was cancelled or refused)",
        ));
    };
    Ok(Json(
        finish_authorization(&state.store, &state.config.platforms, &code, &oauth_state).await?,
    ))
}

// ---------------------------------------------------------------------------
// Image upload.

/// An image the platform stored.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadedImage {
    /// Use as `media_id` of an image message, lead card or card template.
    pub image_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

/// Uploads the request body (a jpeg, png, bmp or webp image of at most
/// 10 MB, recognized by its bytes) to Douyin with the app's client_token and
/// answers 201 with the `image_id` to send as `{type:image, media_id}`.
/// Agents may upload. 404 for another workspace's channel; 422
/// `invalid_request` for another format; 413 over the server's body limit;
/// `douyin_error` when the platform refuses. Every call uploads again.
#[utoipa::path(post, path = "/api/v1/douyin/channels/{id}/images", tag = "douyin",
    params(("id" = i64, Path)),
    request_body(description = "The image itself (recognized by its bytes), not empty",
        content(
            (crate::api::openapi::Upload = "image/jpeg"), (crate::api::openapi::Upload = "image/png"),
            (crate::api::openapi::Upload = "image/bmp"), (crate::api::openapi::Upload = "image/webp"),
            (crate::api::openapi::Upload = "application/octet-stream"))),
    responses((status = 201, body = UploadedImage),
        (status = 400, description = "`empty_upload`"), (status = 404), (status = 413),
        (status = 422, description = "`invalid_request` (not a jpeg, png, bmp or webp image), \
            `douyin_error`, `account_needs_reauthorization`, `channel_unavailable`",
            body = crate::error::Problem)))]
pub async fn upload_image(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<UploadedImage>), ApiError> {
    let body = body.map_err(body_error)?;
    if body.is_empty() {
        return Err(ApiError::bad_request("empty_upload", "the upload is empty"));
    }
    let app = douyin_app(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(app.upload_image(&body).await?)))
}

// ---------------------------------------------------------------------------
// Mini-program guide-card templates.

/// A template to create or update.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardTemplateInput {
    /// At most 30 characters.
    pub title: String,
    /// At most 30 characters.
    pub content: String,
    /// An uploaded image id (16:9).
    pub media_id: String,
    /// The mini-program's appid.
    pub app_id: String,
    /// 1 (mini-program card, the default); cannot change after creation.
    #[serde(default)]
    pub card_type: Option<i64>,
}

/// Which templates to list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TemplateQuery {
    /// One template by id (then no paging).
    pub card_template_id: Option<String>,
    /// The `cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1 to 50; 20 by default.
    pub count: Option<i64>,
    /// 0 pending review, 1 approved, 2 rejected.
    pub status: Option<i64>,
}

/// A guide-card template.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardTemplate {
    pub card_template_id: String,
    pub card_type: i64,
    pub title: String,
    pub content: String,
    pub media_id: String,
    pub app_id: String,
    /// 0 pending review, 1 approved, 2 rejected.
    pub status: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_reasons: Option<serde_json::Value>,
}

impl From<imhub_douyin::cards::AppletTemplate> for CardTemplate {
    fn from(t: imhub_douyin::cards::AppletTemplate) -> Self {
        CardTemplate {
            card_template_id: t.card_template_id,
            card_type: t.card_type,
            title: t.title,
            content: t.content,
            media_id: t.media_id,
            app_id: t.app_id,
            status: t.status,
            reject_reasons: t.reject_reasons.filter(|r| !r.is_null()),
        }
    }
}

/// A page of templates.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplatePage {
    pub items: Vec<CardTemplate>,
    /// Pass back as `cursor` for the next page when `has_more`.
    pub cursor: i64,
    pub has_more: bool,
}

/// The id of a created or updated lead card.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CardId {
    pub card_id: String,
}

/// The id of a created or updated card template.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TemplateId {
    pub card_template_id: String,
}

/// Creates a guide-card template (client_token, scope `im.microapp_card`);
/// 201 with its id. Admin only. 404 for another workspace's channel; 422
/// `invalid_request` (title/content over 30 characters) or `douyin_error`.
/// Not idempotent: each call creates a template.
#[utoipa::path(post, path = "/api/v1/douyin/channels/{id}/card-templates", tag = "douyin",
    params(("id" = i64, Path)), request_body = CardTemplateInput,
    responses((status = 201, body = TemplateId), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn create_card_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiJson(req): ApiJson<CardTemplateInput>,
) -> Result<(StatusCode, Json<TemplateId>), ApiError> {
    caller.require_admin()?;
    let app = douyin_app(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    let card_template_id = app.save_card_template(None, req).await?;
    Ok((StatusCode::CREATED, Json(TemplateId { card_template_id })))
}

/// Updates a template (it goes back to review). Admin only; idempotent.
/// 404 for another workspace's channel; `douyin_error` for an unknown id.
#[utoipa::path(put, path = "/api/v1/douyin/channels/{id}/card-templates/{template_id}",
    tag = "douyin", params(("id" = i64, Path), ("template_id" = String, Path)),
    request_body = CardTemplateInput,
    responses((status = 200, body = TemplateId), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn update_card_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, template_id)): ApiPath<(ChannelId, String)>,
    ApiJson(req): ApiJson<CardTemplateInput>,
) -> Result<Json<TemplateId>, ApiError> {
    caller.require_admin()?;
    let app = douyin_app(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    let card_template_id = app.save_card_template(Some(template_id), req).await?;
    Ok(Json(TemplateId { card_template_id }))
}

/// The channel's templates, a page at a time or one by id. 404 for another
/// workspace's channel; 422 `invalid_request` for a count outside 1–50.
#[utoipa::path(get, path = "/api/v1/douyin/channels/{id}/card-templates", tag = "douyin",
    params(("id" = i64, Path), TemplateQuery),
    responses((status = 200, body = TemplatePage), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn list_card_templates(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ChannelId>,
    ApiQuery(q): ApiQuery<TemplateQuery>,
) -> Result<Json<TemplatePage>, ApiError> {
    let app = douyin_app(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    Ok(Json(app.card_templates(q).await?))
}

/// Deletes a template (204). Admin only. 404 for another workspace's
/// channel; `douyin_error` when the platform does not know the id, so a
/// repeated delete reports that.
#[utoipa::path(delete, path = "/api/v1/douyin/channels/{id}/card-templates/{template_id}",
    tag = "douyin", params(("id" = i64, Path), ("template_id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn delete_card_template(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, template_id)): ApiPath<(ChannelId, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let app = douyin_app(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    app.delete_card_template(&template_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------
// Fan groups.

/// Which customer message's media to fetch: the ids of its webhook.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MediaQuery {
    /// The push's `conversation_short_id`.
    pub conversation_id: String,
    /// The push's `server_message_id` (the message's platform id in imhub).
    pub message_id: String,
}

/// Where the media of a customer's message can be downloaded for a while.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageMedia {
    /// `image` or `video`.
    pub media_type: String,
    /// A temporary URL on Douyin's CDN.
    pub url: String,
}

/// Remaining fan-group creation quota.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupQuota {
    pub left_count: i64,
}

/// A fan group to create. Flags are 0/1 as on the platform; fields left
/// out are not sent, so the platform applies its own defaults.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewFansGroup {
    pub group_name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// An https URL or an uploaded image id.
    #[serde(default)]
    pub avatar_uri: Option<String>,
    /// 2 主播粉丝群 or 5 万粉群; anything else is refused (422).
    #[serde(default)]
    pub group_type: Option<i64>,
    #[serde(default)]
    pub active_fans: Option<i64>,
    #[serde(default)]
    pub allow_invite: Option<i64>,
    /// Fan-club level threshold: 0, 1, 3, 5, 9, 12, 15, 17, 20.
    #[serde(default)]
    pub fans_limit: Option<i64>,
    #[serde(default)]
    pub item_auto_sync: Option<i64>,
    #[serde(default)]
    pub live_auto_sync: Option<i64>,
    /// 1: joining needs approval (see join requests).
    #[serde(default)]
    pub open_audit_switch: Option<i64>,
    /// 0 none, 1 follower, 7/30/60 following for more than N days.
    #[serde(default)]
    pub relation_type: Option<i64>,
    #[serde(default)]
    pub show_at_profile: Option<i64>,
}

/// A fan group.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FansGroup {
    /// Also the `peer_external_id` of the group's conversation.
    pub group_id: String,
    pub group_name: String,
    pub description: String,
    pub avatar_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_type: Option<i64>,
    /// `Normal`, `Ban` or `Full`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_members: Option<i64>,
}

impl From<imhub_douyin::groups::FansGroup> for FansGroup {
    fn from(g: imhub_douyin::groups::FansGroup) -> Self {
        FansGroup {
            group_id: g.group_id,
            group_name: g.group_name,
            description: g.description,
            avatar_uri: g.avatar_uri,
            group_type: g.group_type,
            status: g.status,
            members: g.exist_num,
            max_members: g.max_num,
        }
    }
}

/// The id of a created group.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedGroup {
    pub group_id: String,
}

/// Which group setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupSettingKind {
    /// 进群问候语, shown to members who join.
    Welcome,
    /// 群公告.
    Notice,
}

impl GroupSettingKind {
    fn kind(self) -> GroupSettingType {
        match self {
            GroupSettingKind::Welcome => GroupSettingType::Welcome,
            GroupSettingKind::Notice => GroupSettingType::Notice,
        }
    }
}

/// A greeting or announcement to set.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSettingInput {
    pub group_id: String,
    pub setting: GroupSettingKind,
    /// Text, mini-program card, or a coupon as `custom` Douyin content.
    pub messages: Vec<Content>,
}

/// A greeting or announcement to turn off.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSettingRef {
    pub group_id: String,
    pub setting: GroupSettingKind,
}

/// The temporary download URL of an image or video a customer sent from
/// the phone (`user_local_image` / `user_local_video`), fetched from
/// Douyin's message resources as the account. Read-only; each call asks
/// Douyin again (the URL expires).
///
/// Failures: 400 `invalid_query` without both ids; 404 for another
/// workspace's account; 422 `invalid_request` for empty ids,
/// `douyin_error` for a message that is not the account's or has no
/// resource, `account_needs_reauthorization`; 502 `douyin_unavailable`.
#[utoipa::path(get, path = "/api/v1/douyin/accounts/{id}/media", tag = "douyin",
    params(("id" = i64, Path), MediaQuery),
    responses((status = 200, body = MessageMedia), (status = 400, body = crate::error::Problem),
        (status = 404), (status = 422, body = crate::error::Problem),
        (status = 502, body = crate::error::Problem)))]
pub async fn message_media(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
    ApiQuery(query): ApiQuery<MediaQuery>,
) -> Result<Json<MessageMedia>, ApiError> {
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    Ok(Json(account.message_media(&query).await?))
}

/// The account's remaining fan-group creation quota. 404 for another
/// workspace's account; 422 `account_needs_reauthorization`.
#[utoipa::path(get, path = "/api/v1/douyin/accounts/{id}/groups/quota", tag = "douyin",
    params(("id" = i64, Path)),
    responses((status = 200, body = GroupQuota), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn group_quota(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
) -> Result<Json<GroupQuota>, ApiError> {
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    Ok(Json(account.group_quota().await?))
}

/// Creates a fan group (201 with its id). Admin only. 404 for another
/// workspace's account; 429 `douyin_rate_limited` when the quota is used
/// up; 422 `douyin_error` for fields the platform refuses. Not idempotent.
#[utoipa::path(post, path = "/api/v1/douyin/accounts/{id}/groups", tag = "douyin",
    params(("id" = i64, Path)), request_body = NewFansGroup,
    responses((status = 201, body = CreatedGroup), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem), (status = 429)))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(req): ApiJson<NewFansGroup>,
) -> Result<(StatusCode, Json<CreatedGroup>), ApiError> {
    caller.require_admin()?;
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    let group_id = account.create_group(req).await?;
    Ok((StatusCode::CREATED, Json(CreatedGroup { group_id })))
}

/// The account's fan groups. 404 for another workspace's account.
#[utoipa::path(get, path = "/api/v1/douyin/accounts/{id}/groups", tag = "douyin",
    params(("id" = i64, Path)),
    responses((status = 200, body = List<FansGroup>), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
) -> Result<Json<List<FansGroup>>, ApiError> {
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    Ok(Json(List {
        items: account.groups().await?,
    }))
}

/// Sets a group's greeting (`welcome`) or announcement (`notice`); 204.
/// Admin only; idempotent (the setting is replaced). 404 for another
/// workspace's account; 422 `content_not_supported` / `invalid_request` for
/// messages a setting cannot carry, `douyin_error` for a group the account
/// does not own.
#[utoipa::path(post, path = "/api/v1/douyin/accounts/{id}/group-settings", tag = "douyin",
    params(("id" = i64, Path)), request_body = GroupSettingInput,
    responses((status = 204), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn set_group_setting(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(req): ApiJson<GroupSettingInput>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    account.set_group_setting(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Turns a group's greeting or announcement off; 204. Admin only;
/// idempotent. 404 for another workspace's account; `douyin_error` for a
/// group the account does not own.
#[utoipa::path(post, path = "/api/v1/douyin/accounts/{id}/group-settings/disable",
    tag = "douyin", params(("id" = i64, Path)), request_body = GroupSettingRef,
    responses((status = 204), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn disable_group_setting(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(req): ApiJson<GroupSettingRef>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    account.disable_group_setting(req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Join requests' paging.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JoinRequestQuery {
    /// 0 (default) for the first page, then the previous `next_cursor`.
    pub cursor: Option<i64>,
    /// 1 to 50; 20 by default.
    pub count: Option<u32>,
}

/// A request to join a fan group.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JoinRequest {
    pub apply_id: String,
    pub group_id: String,
    /// The applicant's open_id.
    pub user_id: String,
    /// `pending`, `approved` or `rejected`.
    pub status: &'static str,
    pub created_at: Timestamp,
}

impl From<imhub_douyin::groups::EnterApply> for JoinRequest {
    fn from(a: imhub_douyin::groups::EnterApply) -> Self {
        JoinRequest {
            apply_id: a.apply_id,
            group_id: a.group_id,
            user_id: a.user_id,
            status: match a.apply_status {
                2 => "approved",
                3 => "rejected",
                _ => "pending",
            },
            created_at: Timestamp(a.create_time),
        }
    }
}

/// A page of join requests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct JoinRequestPage {
    pub items: Vec<JoinRequest>,
    /// Absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<i64>,
}

/// What to do with a join request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JoinDecision {
    Approve,
    Reject,
}

/// Join requests to the account's fan groups. 400 `invalid_query` for a
/// count outside 1–50; 404 for another workspace's account.
#[utoipa::path(get, path = "/api/v1/douyin/accounts/{id}/join-requests", tag = "douyin",
    params(("id" = i64, Path), JoinRequestQuery),
    responses((status = 200, body = JoinRequestPage), (status = 400), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn list_join_requests(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
    ApiQuery(q): ApiQuery<JoinRequestQuery>,
) -> Result<Json<JoinRequestPage>, ApiError> {
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    Ok(Json(
        account
            .join_requests(q.cursor.unwrap_or(0), q.count.unwrap_or(20))
            .await?,
    ))
}

/// Approves (`.../approve`) or rejects (`.../reject`) a join request; 204.
/// Admin only. 404 for another workspace's account or another decision
/// word; `douyin_error` for an unknown or already decided request.
#[utoipa::path(post, path = "/api/v1/douyin/accounts/{id}/join-requests/{apply_id}/{decision}",
    tag = "douyin",
    params(("id" = i64, Path), ("apply_id" = String, Path),
        ("decision" = inline(JoinDecision), Path)),
    responses((status = 204), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn decide_join_request(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, apply_id, decision)): ApiPath<(AccountId, String, JoinDecision)>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    account.decide_join_request(&apply_id, decision).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------
// Lead cards.

/// A lead card to create or update.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeadCardInput {
    pub title: String,
    /// An uploaded image id (263×120 suggested).
    pub media_id: String,
    /// Fields the customer fills: 1 name, 2 phone, 3 city.
    pub components: Vec<i64>,
}

/// A lead card; send it as `{type:lead_card, card_id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LeadCard {
    pub card_id: String,
    pub title: String,
    pub media_id: String,
    pub components: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
}

impl From<imhub_douyin::cards::LeadCard> for LeadCard {
    fn from(c: imhub_douyin::cards::LeadCard) -> Self {
        LeadCard {
            card_id: c.card_id,
            title: c.title,
            media_id: c.media_id,
            components: c.components,
            status: c.status,
        }
    }
}

/// Creates a lead card (201 with its id). Admin only. 404 for another
/// workspace's account; 422 `invalid_request` for components other than
/// 1–3, `douyin_error` for an unknown `media_id`. Not idempotent.
#[utoipa::path(post, path = "/api/v1/douyin/accounts/{id}/lead-cards", tag = "douyin",
    params(("id" = i64, Path)), request_body = LeadCardInput,
    responses((status = 201, body = CardId), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn create_lead_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
    ApiJson(req): ApiJson<LeadCardInput>,
) -> Result<(StatusCode, Json<CardId>), ApiError> {
    caller.require_admin()?;
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    let card_id = account.save_lead_card(None, req).await?;
    Ok((StatusCode::CREATED, Json(CardId { card_id })))
}

/// Updates a lead card. Admin only; idempotent. 404 for another
/// workspace's account; `douyin_error` for an unknown card.
#[utoipa::path(put, path = "/api/v1/douyin/accounts/{id}/lead-cards/{card_id}", tag = "douyin",
    params(("id" = i64, Path), ("card_id" = String, Path)), request_body = LeadCardInput,
    responses((status = 200, body = CardId), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn update_lead_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, card_id)): ApiPath<(AccountId, String)>,
    ApiJson(req): ApiJson<LeadCardInput>,
) -> Result<Json<CardId>, ApiError> {
    caller.require_admin()?;
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    let card_id = account.save_lead_card(Some(card_id), req).await?;
    Ok(Json(CardId { card_id }))
}

/// The account's lead cards. 404 for another workspace's account.
#[utoipa::path(get, path = "/api/v1/douyin/accounts/{id}/lead-cards", tag = "douyin",
    params(("id" = i64, Path)),
    responses((status = 200, body = List<LeadCard>), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn list_lead_cards(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<AccountId>,
) -> Result<Json<List<LeadCard>>, ApiError> {
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    Ok(Json(List {
        items: account.lead_cards().await?,
    }))
}

/// Deletes a lead card (204). Admin only. 404 for another workspace's
/// account; `douyin_error` when the platform does not know the card, so a
/// repeated delete reports that.
#[utoipa::path(delete, path = "/api/v1/douyin/accounts/{id}/lead-cards/{card_id}", tag = "douyin",
    params(("id" = i64, Path), ("card_id" = String, Path)),
    responses((status = 204), (status = 403), (status = 404),
        (status = 422, body = crate::error::Problem)))]
pub async fn delete_lead_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, card_id)): ApiPath<(AccountId, String)>,
) -> Result<StatusCode, ApiError> {
    caller.require_admin()?;
    let account = douyin_account(
        &state.store,
        &state.config.platforms,
        caller.0.workspace_id,
        id,
    )
    .await?;
    account.delete_lead_card(&card_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
