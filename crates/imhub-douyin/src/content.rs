//! Mapping between imhub's unified [`Content`] and Douyin's message shapes:
//! outbound to the send `content` object (integer `msg_type`), inbound from
//! the webhook's string `message_type` (reference §4.1, §8.6).

use imhub_core::{Content, Platform, Refusal, content::LeadCardField};
use serde_json::{Value, json};

use crate::{
    groups::GROUP_MSG_TYPES,
    messages::{AppletCard, MessageContent},
    webhook::ImContent,
};

/// Webhook `message_type` values (§8.6).
pub mod message_type {
    pub const TEXT: &str = "text";
    pub const IMAGE: &str = "image";
    pub const USER_LOCAL_IMAGE: &str = "user_local_image";
    pub const EMOJI: &str = "emoji";
    pub const VIDEO: &str = "video";
    pub const USER_LOCAL_VIDEO: &str = "user_local_video";
    pub const RETAIN_CONSULT_CARD: &str = "retain_consult_card";
    pub const OTHER: &str = "other";
}

/// Turns unified content into the send `content` object, or refuses what
/// Douyin cannot carry (in groups only text, image, video, lead card and
/// guide card). `Custom` passes a ready-made Douyin content object through,
/// which is how the less common types (coupon, group invitation, authorization
/// card, question guides) are sent.
pub fn to_douyin(content: &Content, group: bool) -> Result<MessageContent, Refusal> {
    to_douyin_with(content, group, None)
}

/// [`to_douyin`] with the channel's default mini-program appid: the
/// platform's schema requires `applet_card.app_id` on every guide card
/// (reference §4.1), so a card whose content names no app takes the one
/// configured on the channel, and is refused when there is none.
pub fn to_douyin_with(
    content: &Content,
    group: bool,
    applet_app_id: Option<&str>,
) -> Result<MessageContent, Refusal> {
    let unsupported = || Refusal::unsupported(Platform::Douyin, content);
    let mc = match content {
        Content::Text { text } => MessageContent::text(text.clone()),
        Content::Image { media_id, .. } => match media_id.as_deref().filter(|m| !m.is_empty()) {
            Some(id) => MessageContent::image(id),
            None => {
                return Err(Refusal::new(
                    "media_id_required",
                    "douyin sends images by the image_id of the image upload tool; upload first",
                ));
            }
        },
        Content::Video { media_id, .. } => match media_id.as_deref().filter(|m| !m.is_empty()) {
            Some(id) => MessageContent::video(id),
            None => {
                return Err(Refusal::new(
                    "media_id_required",
                    "douyin sends videos by the item_id of a published Douyin video",
                ));
            }
        },
        Content::LeadCard { card_id, .. } => MessageContent::lead_card(card_id.clone()),
        Content::MiniProgramCard {
            card_id,
            app_id,
            path,
            ..
        } => {
            let app_id = app_id
                .as_deref()
                .filter(|a| !a.trim().is_empty())
                .or(applet_app_id.filter(|a| !a.trim().is_empty()))
                .ok_or_else(|| {
                    Refusal::new(
                        "app_id_required",
                        "a douyin mini-program card needs the mini-program's app_id: \
                         name it in the card or set applet_app_id on the channel",
                    )
                })?;
            MessageContent::applet_card(applet_card(card_id, app_id, path.as_deref()))
        }
        Content::Custom { data, .. } => {
            match serde_json::from_value::<MessageContent>(data.clone()) {
                Ok(mc) if mc.is_well_formed() => mc,
                _ => {
                    return Err(Refusal::new(
                        "invalid_content",
                        "custom douyin content must be a send content object with msg_type and its sub-object",
                    ));
                }
            }
        }
        Content::Voice { .. }
        | Content::Emoji { .. }
        | Content::Location { .. }
        | Content::File { .. }
        | Content::GoodsCard { .. }
        | Content::OrderCard { .. } => return Err(unsupported()),
    };
    // Found by the property tests: a guide card without template or path
    // (or an empty text) mapped to an object the platform refuses.
    if !mc.is_well_formed() {
        return Err(Refusal::new(
            "invalid_content",
            format!(
                "douyin cannot send this {}: a required field is empty \
                 (guide cards need card_id and a path or https link)",
                content.kind().as_str()
            ),
        ));
    }
    if group && !GROUP_MSG_TYPES.contains(&mc.msg_type) {
        return Err(Refusal::new(
            "content_not_supported",
            format!(
                "douyin groups cannot carry msg_type {} ({})",
                mc.msg_type,
                content.kind().as_str()
            ),
        ));
    }
    Ok(mc)
}

/// A guide card: an `https://` path is a schema link (z.douyin.com/...), any
/// other path is a page path whose `?a=b` query becomes the JSON-string `query`.
fn applet_card(card_id: &str, app_id: &str, path: Option<&str>) -> AppletCard {
    let mut card = AppletCard {
        card_template_id: card_id.to_string(),
        app_id: app_id.to_string(),
        ..Default::default()
    };
    match path {
        Some(p) if p.starts_with("https://") || p.starts_with("http://") => {
            card.schema = Some(p.to_string());
        }
        Some(p) => {
            let (page, query) = p.split_once('?').unwrap_or((p, ""));
            card.path = Some(page.to_string());
            if !query.is_empty() {
                let map: serde_json::Map<String, Value> =
                    url::form_urlencoded::parse(query.as_bytes())
                        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                        .collect();
                card.query = Some(Value::Object(map).to_string());
            }
        }
        None => {}
    }
    card
}

/// Turns a webhook message into unified content. Kinds without a unified
/// form (`other`) become `Custom` with the raw fields kept, so nothing the
/// customer sent is lost.
pub fn from_douyin(c: &ImContent) -> Content {
    let kind = c.message_type.as_deref().unwrap_or("");
    match kind {
        message_type::TEXT => Content::Text {
            text: c.text.clone().unwrap_or_default(),
        },
        // Douyin delivers no URL for images: they are viewed in the app, and
        // user-local ones are fetched later through /api/im/message/resources/.
        message_type::IMAGE | message_type::USER_LOCAL_IMAGE => Content::Image {
            url: None,
            media_id: None,
            width: None,
            height: None,
        },
        message_type::EMOJI => Content::Emoji {
            code: c
                .resource_url
                .clone()
                .or_else(|| c.resource_type.clone())
                .unwrap_or_else(|| "emoji".into()),
            url: c.resource_url.clone(),
        },
        message_type::VIDEO => Content::Video {
            url: None,
            media_id: c.item_id.clone(),
            cover_url: None,
            duration_secs: None,
        },
        message_type::USER_LOCAL_VIDEO => Content::Video {
            url: None,
            media_id: None,
            cover_url: None,
            duration_secs: None,
        },
        // A lead card the customer was shown (status 1) or filled in and
        // submitted (status 2, with the answers): the store makes the
        // submitted answers a lead.
        message_type::RETAIN_CONSULT_CARD => Content::LeadCard {
            card_id: c.card_id.clone(),
            title: None,
            status: c.card_status,
            fields: c
                .card_data
                .iter()
                .map(|f| LeadCardField {
                    label: f.label.clone(),
                    value: f.value.clone(),
                })
                .collect(),
        },
        message_type::OTHER if c.text.as_deref().is_some_and(|t| !t.is_empty()) => Content::Text {
            text: c.text.clone().unwrap_or_default(),
        },
        _ => Content::Custom {
            data: json!({ "message_type": kind, "text": c.text }),
            description: Some("[不支持的消息类型] 请在抖音 App 内查看".to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::CardField;

    #[test]
    fn text_image_video_and_cards_map_to_send_objects() {
        let t = to_douyin(&Content::Text { text: "hi".into() }, false).unwrap();
        assert_eq!(
            serde_json::to_value(t).unwrap(),
            json!({"msg_type":1,"text":{"text":"hi"}})
        );
        let img = Content::Image {
            url: None,
            media_id: Some("@img".into()),
            width: None,
            height: None,
        };
        assert_eq!(to_douyin(&img, true).unwrap().msg_type, 2);
        let card = Content::LeadCard {
            card_id: "c1".into(),
            title: None,
            status: None,
            fields: Vec::new(),
        };
        // A card we send is the blank card: no status, no answers.
        assert_eq!(
            serde_json::to_value(to_douyin(&card, false).unwrap()).unwrap(),
            json!({"msg_type": 8, "retain_consult_card": {"card_id": "c1"}})
        );
        assert_eq!(to_douyin(&card, false).unwrap().msg_type, 8);
    }

    #[test]
    fn image_by_url_only_is_refused_with_a_clear_code() {
        let img = Content::Image {
            url: Some("https://x/a.png".into()),
            media_id: None,
            width: None,
            height: None,
        };
        assert_eq!(
            to_douyin(&img, false).unwrap_err().code,
            "media_id_required"
        );
    }

    #[test]
    fn kinds_douyin_cannot_carry_are_refused() {
        let loc = Content::Location {
            latitude: 1.0,
            longitude: 2.0,
            title: None,
        };
        assert_eq!(
            to_douyin(&loc, false).unwrap_err().code,
            "content_not_supported"
        );
        let coupon = Content::Custom {
            data: json!({"msg_type": 11, "applet_coupon": {"activity_id": 1, "coupon_meta_id": 2}}),
            description: None,
        };
        assert_eq!(to_douyin(&coupon, false).unwrap().msg_type, 11);
        assert_eq!(
            to_douyin(&coupon, true).unwrap_err().code,
            "content_not_supported"
        );
    }

    #[test]
    fn mini_program_path_query_becomes_json_string_and_https_a_schema() {
        let mp = Content::MiniProgramCard {
            card_id: "t1".into(),
            title: None,
            app_id: Some("tt1".into()),
            path: Some("pages/item?id=7".into()),
            cover_url: None,
        };
        let c = to_douyin(&mp, false).unwrap().applet_card.unwrap();
        assert_eq!(c.path.as_deref(), Some("pages/item"));
        assert_eq!(c.query.as_deref(), Some(r#"{"id":"7"}"#));
        let mp = Content::MiniProgramCard {
            card_id: "t1".into(),
            title: None,
            app_id: None,
            path: Some("https://z.douyin.com/abc".into()),
            cover_url: None,
        };
        let c = to_douyin_with(&mp, false, Some("tt_channel"))
            .unwrap()
            .applet_card
            .unwrap();
        assert_eq!(c.schema.as_deref(), Some("https://z.douyin.com/abc"));
        assert_eq!(c.app_id, "tt_channel");
    }

    #[test]
    fn mini_program_card_always_carries_an_app_id_or_is_refused() {
        let mp = |app_id: Option<&str>| Content::MiniProgramCard {
            card_id: "t1".into(),
            title: None,
            app_id: app_id.map(str::to_string),
            path: Some("pages/index".into()),
            cover_url: None,
        };
        // The card's own app wins over the channel's default.
        let own = to_douyin_with(&mp(Some("tt_own")), true, Some("tt_channel")).unwrap();
        assert_eq!(
            serde_json::to_value(own).unwrap()["applet_card"]["app_id"],
            "tt_own"
        );
        for (app, default) in [(None, None), (Some(""), None), (None, Some(" "))] {
            assert_eq!(
                to_douyin_with(&mp(app), false, default).unwrap_err().code,
                "app_id_required"
            );
        }
        // A ready-made custom guide card without app_id is not well formed.
        let custom = Content::Custom {
            data: json!({"msg_type": 10, "applet_card": {"card_template_id": "t", "path": "p"}}),
            description: None,
        };
        assert_eq!(
            to_douyin(&custom, false).unwrap_err().code,
            "invalid_content"
        );
    }

    #[test]
    fn inbound_types_map_to_unified_content() {
        let mut c = ImContent {
            message_type: Some("text".into()),
            text: Some("在吗".into()),
            ..Default::default()
        };
        assert_eq!(
            from_douyin(&c),
            Content::Text {
                text: "在吗".into()
            }
        );
        c.message_type = Some("video".into());
        c.item_id = Some("v9".into());
        assert!(
            matches!(from_douyin(&c), Content::Video { media_id: Some(ref m), .. } if m == "v9")
        );
        c.message_type = Some("emoji".into());
        c.resource_url = Some("https://e/1.gif".into());
        assert!(matches!(from_douyin(&c), Content::Emoji { .. }));
        c.message_type = Some("retain_consult_card".into());
        c.card_id = "card".into();
        c.card_status = Some(2);
        c.card_data = vec![
            CardField {
                label: "姓名".into(),
                value: "王女士".into(),
            },
            CardField {
                label: "手机号".into(),
                value: "13800138000".into(),
            },
        ];
        let card = from_douyin(&c);
        assert_eq!(
            serde_json::to_value(&card).unwrap(),
            json!({"type": "lead_card", "card_id": "card", "status": 2, "fields": [
                {"label": "姓名", "value": "王女士"}, {"label": "手机号", "value": "13800138000"}]})
        );
        assert_eq!(card.preview(), "[留资卡片]");
        // A card shown but not filled in: status 1, no answers.
        c.card_status = Some(1);
        c.card_data.clear();
        assert!(matches!(from_douyin(&c),
            Content::LeadCard { status: Some(1), ref fields, .. } if fields.is_empty()));
        c.message_type = Some("user_local_image".into());
        assert!(matches!(from_douyin(&c), Content::Image { .. }));
    }
}
