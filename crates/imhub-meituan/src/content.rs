//! Mapping between imhub's [`Content`] and Meituan's `msg_type` +
//! `msg_content` / `app_spu_codes` (reference §6), both ways.

use imhub_core::{Content, Platform, Refusal};
use serde_json::{Value, json};

use crate::im::{MAX_GOODS_PER_CARD, MsgType, PushContent, SPU_CODE_SEPARATOR, split_spu_codes};

/// What an outbound [`Content`] becomes before encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundBody {
    /// The single- or group-chat `msg_type`.
    pub msg_type: MsgType,
    /// Plain text to encrypt into `msg_content`; empty for goods cards.
    pub plain_content: String,
    /// `app_spu_codes` for goods cards.
    pub app_spu_codes: Option<String>,
}

/// Maps content to a `msg_type` for a single (`group == false`) or group
/// chat, refusing what Meituan does not carry: order cards (receive-only),
/// voice on b2c stores, goods cards with more than 7 goods, media without a
/// URL, and every kind Meituan has no type for.
pub fn to_outbound(content: &Content, group: bool, b2c: bool) -> Result<OutboundBody, Refusal> {
    content.validate()?;
    let (single, plain, spu) = match content {
        Content::Text { text } => (MsgType::Text, text.clone(), None),
        Content::Image { url, .. } => (MsgType::Pic, media_url(url, "image")?, None),
        Content::Voice { url, .. } => (MsgType::Voice, media_url(url, "voice")?, None),
        Content::GoodsCard { product_codes } => {
            if product_codes.len() > MAX_GOODS_PER_CARD {
                return Err(Refusal::new(
                    "too_many_goods",
                    format!(
                        "a Meituan goods card carries at most {MAX_GOODS_PER_CARD} goods, not {}",
                        product_codes.len()
                    ),
                ));
            }
            if product_codes
                .iter()
                .any(|c| c.trim().is_empty() || c.contains([',', ';', '，']))
            {
                return Err(Refusal::new(
                    "invalid_content",
                    "product codes must be non-empty and contain no separators",
                ));
            }
            let joined = product_codes
                .iter()
                .map(|c| c.trim())
                .collect::<Vec<_>>()
                .join(&SPU_CODE_SEPARATOR.to_string());
            (MsgType::GoodsCard, String::new(), Some(joined))
        }
        Content::OrderCard { .. } => {
            return Err(Refusal::new(
                "content_not_supported",
                "meituan order cards are receive-only: a store cannot send them",
            ));
        }
        other => return Err(Refusal::unsupported(Platform::Meituan, other)),
    };
    if let Some(reason) = single.send_refusal(b2c) {
        return Err(Refusal::new("content_not_supported", reason));
    }
    let msg_type = if group {
        single.group().ok_or_else(|| {
            Refusal::new(
                "content_not_supported",
                "this content cannot be sent to a group",
            )
        })?
    } else {
        single
    };
    Ok(OutboundBody {
        msg_type,
        plain_content: plain,
        app_spu_codes: spu,
    })
}

fn media_url(url: &Option<String>, what: &str) -> Result<String, Refusal> {
    match url.as_deref().map(str::trim) {
        Some(u) if !u.is_empty() => Ok(u.to_string()),
        // Meituan has no media ids: the (encrypted) content is the URL.
        _ => Err(Refusal::new(
            "invalid_content",
            format!("a meituan {what} is sent by URL; media_id alone is not enough"),
        )),
    }
}

/// Maps a received message to [`Content`]. `plain` is the decrypted
/// `msg_content` (absent for goods cards). Unknown types are kept as
/// [`Content::Custom`] so nothing the customer wrote is lost.
pub fn from_inbound(msg_type: i64, plain: Option<&str>, pc: &PushContent) -> Content {
    let text = plain.unwrap_or_default().to_string();
    match MsgType::from_code(msg_type).map(MsgType::single) {
        Some(MsgType::Text) => Content::Text { text },
        Some(MsgType::Pic) => Content::Image {
            url: Some(text),
            media_id: None,
            width: None,
            height: None,
        },
        Some(MsgType::Voice) => Content::Voice {
            url: Some(text),
            media_id: None,
            duration_secs: None,
        },
        Some(MsgType::GoodsCard) => Content::GoodsCard {
            product_codes: pc
                .app_spu_codes
                .as_deref()
                .map(split_spu_codes)
                .unwrap_or_default(),
        },
        Some(MsgType::OrderCard) => order_card(&text, pc),
        _ => Content::Custom {
            data: json!({"msg_type": msg_type, "msg_content": text}),
            description: Some(format!("meituan msg_type {msg_type}")),
        },
    }
}

/// The order card's decrypted content is JSON whose schema no source shows
/// (reference §6, §14.4): the order id comes from the push's `order_id`, or
/// else from a few likely keys of that JSON; without one the card is kept
/// whole as custom content.
fn order_card(text: &str, pc: &PushContent) -> Content {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let from_json = parsed.as_ref().and_then(|v| {
        ["order_id", "orderId", "wm_order_id_view", "order_view_id"]
            .iter()
            .find_map(|k| match v.get(*k)? {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
    });
    let order_id = pc
        .order_id
        .filter(|id| *id > 0)
        .map(|id| id.to_string())
        .or(from_json);
    let title = parsed
        .as_ref()
        .and_then(|v| v.get("title"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match order_id {
        Some(order_id) => Content::OrderCard { order_id, title },
        None => Content::Custom {
            data: json!({"msg_type": 5, "msg_content": parsed.unwrap_or(Value::String(text.to_string()))}),
            description: Some("[订单]".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Content {
        Content::Text { text: t.into() }
    }

    #[test]
    fn text_picture_and_goods_map_to_single_and_group_types() {
        assert_eq!(
            to_outbound(&text("hi"), false, false).unwrap().msg_type,
            MsgType::Text
        );
        assert_eq!(
            to_outbound(&text("hi"), true, false).unwrap().msg_type,
            MsgType::GroupText
        );
        let img = Content::Image {
            url: Some("https://p0.meituan.net/a.jpg".into()),
            media_id: None,
            width: None,
            height: None,
        };
        let body = to_outbound(&img, true, true).unwrap();
        assert_eq!(body.msg_type, MsgType::GroupPic);
        assert_eq!(body.plain_content, "https://p0.meituan.net/a.jpg");
        let goods = Content::GoodsCard {
            product_codes: vec!["a".into(), "b".into()],
        };
        let body = to_outbound(&goods, false, false).unwrap();
        assert_eq!(body.msg_type, MsgType::GoodsCard);
        assert_eq!(body.app_spu_codes.as_deref(), Some("a,b"));
        assert!(body.plain_content.is_empty());
    }

    #[test]
    fn order_card_is_refused_before_sending() {
        let card = Content::OrderCard {
            order_id: "1".into(),
            title: None,
        };
        assert_eq!(
            to_outbound(&card, false, false).unwrap_err().code,
            "content_not_supported"
        );
    }

    #[test]
    fn eight_goods_and_b2c_voice_are_refused() {
        let goods = Content::GoodsCard {
            product_codes: (0..8).map(|i| i.to_string()).collect(),
        };
        assert_eq!(
            to_outbound(&goods, false, false).unwrap_err().code,
            "too_many_goods"
        );
        let voice = Content::Voice {
            url: Some("https://x/v.amr".into()),
            media_id: None,
            duration_secs: None,
        };
        assert!(to_outbound(&voice, false, false).is_ok());
        assert!(to_outbound(&voice, false, true).is_err());
        assert!(to_outbound(&voice, true, true).is_err());
    }

    #[test]
    fn kinds_without_a_meituan_type_are_refused() {
        let file = Content::File {
            url: "https://x/f.pdf".into(),
            name: None,
            size: None,
        };
        assert_eq!(
            to_outbound(&file, false, false).unwrap_err().code,
            "content_not_supported"
        );
        let img = Content::Image {
            url: None,
            media_id: Some("m".into()),
            width: None,
            height: None,
        };
        assert_eq!(
            to_outbound(&img, false, false).unwrap_err().code,
            "invalid_content"
        );
    }

    #[test]
    fn inbound_types_map_to_content() {
        let pc = PushContent {
            app_spu_codes: Some("x,y".into()),
            order_id: Some(27012345678901234),
            ..Default::default()
        };
        assert_eq!(from_inbound(11, Some("hi"), &pc), text("hi"));
        assert_eq!(
            from_inbound(14, None, &pc),
            Content::GoodsCard {
                product_codes: vec!["x".into(), "y".into()]
            }
        );
        assert_eq!(
            from_inbound(5, Some(r#"{"title":"订单"}"#), &pc),
            Content::OrderCard {
                order_id: "27012345678901234".into(),
                title: Some("订单".into())
            }
        );
        let none = PushContent::default();
        assert!(matches!(
            from_inbound(5, Some("{}"), &none),
            Content::Custom { .. }
        ));
        assert!(matches!(
            from_inbound(99, Some("?"), &none),
            Content::Custom { .. }
        ));
    }
}
