//! The unified message body. Every adapter maps its platform's message types to
//! and from [`Content`], and refuses what its platform cannot carry.

use serde::{Deserialize, Serialize};

/// One message body, tagged by `type` in JSON (`{"type":"text","text":"hi"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    /// Plain text; line breaks and emoji are kept as they are.
    Text { text: String },
    /// A picture, by URL or by a platform's media id (Douyin image id).
    Image {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
    },
    /// A video clip.
    Video {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cover_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_secs: Option<u32>,
    },
    /// A voice note.
    Voice {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_secs: Option<u32>,
    },
    /// A platform sticker or face; `code` is the platform's own identifier.
    Emoji {
        code: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// A place on the map.
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// A file attachment.
    File {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u64>,
    },
    /// A Douyin lead card (留资卡片), by its card id. Sent, it is the blank
    /// card; received, it carries what the customer filled in.
    LeadCard {
        card_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        /// Douyin's `card_status` of a received card: 1 blank, 2 completed
        /// (submitted). Absent on cards we send.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<i64>,
        /// The submitted answers (`card_data[]`), in the card's order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        fields: Vec<LeadCardField>,
    },
    /// A mini-program card (Douyin guide card template or similar).
    MiniProgramCard {
        card_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cover_url: Option<String>,
    },
    /// Product cards, by the store's product codes (Meituan: at most 7).
    GoodsCard { product_codes: Vec<String> },
    /// An order the customer is asking about.
    OrderCard {
        order_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
    /// Anything platform-specific that has no unified form; `data` is kept as is.
    Custom {
        data: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

/// One label/value answer of a submitted lead card (姓名: 王女士).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeadCardField {
    pub label: String,
    pub value: String,
}

/// The kind of a [`Content`], for capability checks and filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    Text,
    Image,
    Video,
    Voice,
    Emoji,
    Location,
    File,
    LeadCard,
    MiniProgramCard,
    GoodsCard,
    OrderCard,
    Custom,
}

impl ContentKind {
    /// The snake_case name used in JSON and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Text => "text",
            ContentKind::Image => "image",
            ContentKind::Video => "video",
            ContentKind::Voice => "voice",
            ContentKind::Emoji => "emoji",
            ContentKind::Location => "location",
            ContentKind::File => "file",
            ContentKind::LeadCard => "lead_card",
            ContentKind::MiniProgramCard => "mini_program_card",
            ContentKind::GoodsCard => "goods_card",
            ContentKind::OrderCard => "order_card",
            ContentKind::Custom => "custom",
        }
    }
}

/// Longest preview kept on a conversation, in characters.
pub const PREVIEW_CHARS: usize = 80;

impl Content {
    /// What kind of content this is.
    pub fn kind(&self) -> ContentKind {
        match self {
            Content::Text { .. } => ContentKind::Text,
            Content::Image { .. } => ContentKind::Image,
            Content::Video { .. } => ContentKind::Video,
            Content::Voice { .. } => ContentKind::Voice,
            Content::Emoji { .. } => ContentKind::Emoji,
            Content::Location { .. } => ContentKind::Location,
            Content::File { .. } => ContentKind::File,
            Content::LeadCard { .. } => ContentKind::LeadCard,
            Content::MiniProgramCard { .. } => ContentKind::MiniProgramCard,
            Content::GoodsCard { .. } => ContentKind::GoodsCard,
            Content::OrderCard { .. } => ContentKind::OrderCard,
            Content::Custom { .. } => ContentKind::Custom,
        }
    }

    /// A one-line preview for the chat list, as chat apps show it
    /// (the text itself, or a bracketed label such as `[图片]`).
    pub fn preview(&self) -> String {
        let label = match self {
            Content::Text { text } => {
                let line: String = text
                    .chars()
                    .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                    .take(PREVIEW_CHARS)
                    .collect();
                return line;
            }
            Content::Image { .. } => "[图片]",
            Content::Video { .. } => "[视频]",
            Content::Voice { .. } => "[语音]",
            Content::Emoji { .. } => "[表情]",
            Content::Location { .. } => "[位置]",
            Content::File { .. } => "[文件]",
            Content::LeadCard { .. } => "[留资卡片]",
            Content::MiniProgramCard { .. } => "[小程序]",
            Content::GoodsCard { .. } => "[商品]",
            Content::OrderCard { .. } => "[订单]",
            Content::Custom { .. } => "[自定义消息]",
        };
        label.to_string()
    }

    /// The text a message is found by in full-text search: a text's text,
    /// a file's name, the title of a location, lead card or mini-program
    /// card, an order card's title and order id, a custom message's
    /// description; `None` for pictures, videos, voice, stickers and goods
    /// cards, and for an empty text. The same rule as the SQL function of
    /// the search migrations (`imhub_search_text`), which fills the rows
    /// a writer leaves without it.
    pub fn search_text(&self) -> Option<String> {
        let text = match self {
            Content::Text { text } => text.clone(),
            Content::File { name, .. } => name.clone()?,
            Content::Location { title, .. }
            | Content::LeadCard { title, .. }
            | Content::MiniProgramCard { title, .. } => title.clone()?,
            Content::OrderCard { order_id, title } => {
                format!("{} {}", title.as_deref().unwrap_or(""), order_id)
                    .trim_matches(' ')
                    .to_string()
            }
            Content::Custom { description, .. } => description.clone()?,
            Content::Image { .. }
            | Content::Video { .. }
            | Content::Voice { .. }
            | Content::Emoji { .. }
            | Content::GoodsCard { .. } => return None,
        };
        (!text.is_empty()).then_some(text)
    }

    /// Checks the shape every platform needs: text not empty, media with a
    /// source, ids present. Platform limits are the adapter's business.
    pub fn validate(&self) -> Result<(), crate::Refusal> {
        let empty = |what: &str| {
            Err(crate::Refusal::new(
                "invalid_content",
                format!("{} must not be empty", what),
            ))
        };
        match self {
            Content::Text { text } if text.trim().is_empty() => empty("text"),
            Content::Image { url, media_id, .. }
            | Content::Video { url, media_id, .. }
            | Content::Voice { url, media_id, .. }
                if url.as_deref().unwrap_or("").is_empty()
                    && media_id.as_deref().unwrap_or("").is_empty() =>
            {
                empty("url or media_id")
            }
            Content::File { url, .. } if url.is_empty() => empty("url"),
            Content::Emoji { code, .. } if code.is_empty() => empty("code"),
            Content::LeadCard { card_id, .. } | Content::MiniProgramCard { card_id, .. }
                if card_id.is_empty() =>
            {
                empty("card_id")
            }
            Content::GoodsCard { product_codes } if product_codes.is_empty() => {
                empty("product_codes")
            }
            Content::OrderCard { order_id, .. } if order_id.is_empty() => empty("order_id"),
            Content::Location {
                latitude,
                longitude,
                ..
            } if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) => {
                Err(crate::Refusal::new(
                    "invalid_content",
                    "latitude or longitude out of range",
                ))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_tagged_by_type_in_json() {
        let c: Content = serde_json::from_str(r#"{"type":"text","text":"你好"}"#).unwrap();
        assert_eq!(
            c,
            Content::Text {
                text: "你好".into()
            }
        );
        let goods = Content::GoodsCard {
            product_codes: vec!["a".into()],
        };
        assert_eq!(
            serde_json::to_value(&goods).unwrap(),
            serde_json::json!({"type":"goods_card","product_codes":["a"]})
        );
    }

    #[test]
    fn preview_flattens_lines_and_labels_media() {
        let t = Content::Text {
            text: "a\nb".into(),
        };
        assert_eq!(t.preview(), "a b");
        let img = Content::Image {
            url: Some("u".into()),
            media_id: None,
            width: None,
            height: None,
        };
        assert_eq!(img.preview(), "[图片]");
    }

    #[test]
    fn empty_text_and_sourceless_media_are_refused() {
        assert!(Content::Text { text: " ".into() }.validate().is_err());
        let img = Content::Image {
            url: None,
            media_id: None,
            width: None,
            height: None,
        };
        assert_eq!(img.validate().unwrap_err().code, "invalid_content");
    }
}
