//! Lead cards (留资卡片, user token) and mini-program guide-card templates
//! (小程序引导卡片, client_token), reference §6.1–6.2.

use serde::{Deserialize, Serialize};

use crate::{
    client::{DouyinClient, Secret, UserAuth},
    envelope::{Extra, ExtraResponse, de_i64, de_opt_i64, de_string},
    errors::DouyinError,
};

/// `POST /im/save/retain_consult_card/?open_id=` — create or update.
pub const LEAD_CARD_SAVE_PATH: &str = "/im/save/retain_consult_card/";
/// `GET /im/get/retain_consult_card/?open_id=`
pub const LEAD_CARD_GET_PATH: &str = "/im/get/retain_consult_card/";
/// `POST /im/del/retain_consult_card/?open_id=&card_id=`
pub const LEAD_CARD_DEL_PATH: &str = "/im/del/retain_consult_card/";
/// `POST /api/douyin/v1/im/set_applet_template/`
pub const TEMPLATE_SET_PATH: &str = "/api/douyin/v1/im/set_applet_template/";
/// `POST /api/douyin/v1/im/get_applet_template/`
pub const TEMPLATE_GET_PATH: &str = "/api/douyin/v1/im/get_applet_template/";
/// `POST /api/douyin/v1/im/del_applet_template/?card_template_id=`
pub const TEMPLATE_DEL_PATH: &str = "/api/douyin/v1/im/del_applet_template/";

/// Template `title` and `content` limit, in characters.
pub const TEMPLATE_TEXT_MAX_CHARS: usize = 30;
/// Template query page size limit.
pub const TEMPLATE_PAGE_MAX: i64 = 50;

/// Lead-card `components` values.
pub mod component {
    /// 姓名
    pub const NAME: i64 = 1;
    /// 手机号
    pub const PHONE: i64 = 2;
    /// 城市
    pub const CITY: i64 = 3;
}

/// Body of the lead-card save call; `card_id` only when updating.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SaveLeadCardRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_id: Option<String>,
    pub title: String,
    /// An uploaded image id (263×120 suggested).
    pub media_id: String,
    /// 1 name, 2 phone, 3 city.
    pub components: Vec<i64>,
}

/// Answer of the lead-card save call.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SaveLeadCardResponse {
    #[serde(default, deserialize_with = "de_string")]
    pub card_id: String,
    #[serde(default)]
    pub extra: Extra,
}

/// One lead card.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadCard {
    #[serde(default, deserialize_with = "de_string")]
    pub card_id: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub media_id: String,
    #[serde(default)]
    pub components: Vec<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    pub status: Option<i64>,
}

/// Answer of the lead-card query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LeadCardListResponse {
    #[serde(default)]
    pub cards: Vec<LeadCard>,
    #[serde(default)]
    pub extra: Extra,
}

/// Body of the template create/update call; `card_template_id` only when updating.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SaveAppletTemplateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_template_id: Option<String>,
    /// 1 = mini-program card; cannot change after creation.
    pub card_type: i64,
    /// ≤30 characters.
    pub title: String,
    /// ≤30 characters.
    pub content: String,
    /// An uploaded image id (16:9, 240×135 suggested).
    pub media_id: String,
    /// The mini-program's appid.
    pub app_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct TemplateIdData {
    #[serde(default, deserialize_with = "de_string")]
    card_template_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct TemplateIdEnvelope {
    #[serde(default)]
    data: TemplateIdData,
}

/// Query of templates: by id, or a page (`count` ≤ 50 + `cursor`), optionally by status.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QueryAppletTemplateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_template_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<i64>,
    /// 0 pending review, 1 approved, 2 rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
}

/// One guide-card template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppletTemplate {
    #[serde(default, deserialize_with = "de_string")]
    pub card_template_id: String,
    #[serde(default, deserialize_with = "de_i64")]
    pub card_type: i64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub media_id: String,
    #[serde(default)]
    pub app_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub app_icon_url: String,
    #[serde(default, deserialize_with = "de_i64")]
    pub create_time: i64,
    #[serde(default, deserialize_with = "de_i64")]
    pub update_time: i64,
    #[serde(default, deserialize_with = "de_i64")]
    pub status: i64,
    #[serde(default)]
    pub reject_reasons: Option<serde_json::Value>,
}

/// A page of templates (fields inside `data`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AppletTemplatePage {
    #[serde(default)]
    pub list: Vec<AppletTemplate>,
    #[serde(default, deserialize_with = "de_i64")]
    pub cursor: i64,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct TemplatePageEnvelope {
    #[serde(default)]
    data: AppletTemplatePage,
}

impl DouyinClient {
    /// Creates (no `card_id`) or updates a lead card (scope `im.message_card`).
    pub async fn save_lead_card(
        &self,
        auth: &UserAuth,
        req: &SaveLeadCardRequest,
    ) -> Result<SaveLeadCardResponse, DouyinError> {
        if req
            .components
            .iter()
            .any(|c| !(component::NAME..=component::CITY).contains(c))
        {
            return Err(DouyinError::InvalidRequest(
                "components are 1 name, 2 phone, 3 city".into(),
            ));
        }
        self.post_user(LEAD_CARD_SAVE_PATH, auth, &[], req).await
    }

    /// Lists the account's lead cards.
    pub async fn list_lead_cards(
        &self,
        auth: &UserAuth,
    ) -> Result<LeadCardListResponse, DouyinError> {
        self.get_user(LEAD_CARD_GET_PATH, auth, &[]).await
    }

    /// Deletes a lead card (POST with `card_id` in the query).
    pub async fn delete_lead_card(
        &self,
        auth: &UserAuth,
        card_id: &str,
    ) -> Result<ExtraResponse, DouyinError> {
        self.post_user(
            LEAD_CARD_DEL_PATH,
            auth,
            &[("card_id", card_id)],
            &serde_json::json!({}),
        )
        .await
    }

    /// Creates or updates a guide-card template (client_token,
    /// scope `im.microapp_card`); returns its `card_template_id`.
    pub async fn save_applet_template(
        &self,
        client_token: &Secret,
        req: &SaveAppletTemplateRequest,
    ) -> Result<String, DouyinError> {
        if req.title.chars().count() > TEMPLATE_TEXT_MAX_CHARS
            || req.content.chars().count() > TEMPLATE_TEXT_MAX_CHARS
        {
            return Err(DouyinError::InvalidRequest(
                "title and content are limited to 30 characters".into(),
            ));
        }
        let r: TemplateIdEnvelope = self
            .post_app(TEMPLATE_SET_PATH, client_token, &[], Some(req))
            .await?;
        Ok(r.data.card_template_id)
    }

    /// Queries guide-card templates (POST, as the official page says).
    pub async fn query_applet_templates(
        &self,
        client_token: &Secret,
        req: &QueryAppletTemplateRequest,
    ) -> Result<AppletTemplatePage, DouyinError> {
        if req.card_template_id.is_none()
            && !req
                .count
                .is_some_and(|c| (1..=TEMPLATE_PAGE_MAX).contains(&c))
        {
            return Err(DouyinError::InvalidRequest(
                "count (1..=50) is required without card_template_id".into(),
            ));
        }
        let r: TemplatePageEnvelope = self
            .post_app(TEMPLATE_GET_PATH, client_token, &[], Some(req))
            .await?;
        Ok(r.data)
    }

    /// Deletes a guide-card template: the id in the query, an empty body
    /// sent as `Content-Type: application/json` as the official page shows.
    pub async fn delete_applet_template(
        &self,
        client_token: &Secret,
        card_template_id: &str,
    ) -> Result<ExtraResponse, DouyinError> {
        self.post_app_empty_json(
            TEMPLATE_DEL_PATH,
            client_token,
            &[("card_template_id", card_template_id)],
        )
        .await
    }
}
