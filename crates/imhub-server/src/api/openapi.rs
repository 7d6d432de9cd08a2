//! The OpenAPI document at `/api/v1/openapi.json`, generated from the
//! handlers' annotations so it cannot drift from the code.

use axum::{Json, Router, routing::get};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use crate::AppState;

/// The `openapi` routes, nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// imhub's HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(title = "imhub", description = "One inbox for Douyin, Tencent IM and Meituan customer messages."),
    security(("bearer" = [])),
    modifiers(&BearerAuth),
    paths(
        super::session::login, super::session::current, super::session::logout,
        super::tokens::create_token, super::tokens::create_user,
        super::session::logout_everywhere, super::session::change_password,
        super::tokens::list_tokens, super::tokens::revoke_token,
        super::users::list, super::users::update, super::users::remove, super::users::reset_password,
        super::channels::create, super::channels::list, super::channels::fetch,
        super::accounts::create, super::accounts::list, super::accounts::fetch,
        super::conversations::list, super::conversations::fetch,
        super::conversations::update, super::conversations::read,
        super::messages::list, super::messages::send, super::messages::fetch,
        super::messages::recall, super::messages::retry,
        super::events::stream, super::media::upload,
        super::webhooks::create, super::webhooks::list, super::webhooks::remove,
        super::webhooks::deliveries,
        super::tencent::import, super::tencent::broadcast, super::tencent::import_account, super::tencent::create_group, super::tencent::group_history,
        super::douyin::create_authorize_url, super::douyin::oauth_callback, super::douyin::upload_image, super::douyin::create_card_template, super::douyin::update_card_template, super::douyin::list_card_templates, super::douyin::delete_card_template, super::douyin::group_quota, super::douyin::message_media, super::douyin::create_group, super::douyin::list_groups, super::douyin::set_group_setting, super::douyin::disable_group_setting, super::douyin::list_join_requests, super::douyin::decide_join_request, super::douyin::create_lead_card, super::douyin::update_lead_card, super::douyin::list_lead_cards, super::douyin::delete_lead_card,
        super::meituan::channel_status, super::meituan::conversation_order, super::meituan::metrics,
    ),
    components(schemas(
        crate::error::Problem, imhub_core::Content, imhub_core::Message,
        imhub_core::Conversation, imhub_core::Account, imhub_core::ChannelInfo,
        crate::channels::custom::CustomPush, crate::channels::custom::CustomDelivery,
    ))
)]
pub struct ApiDoc;
