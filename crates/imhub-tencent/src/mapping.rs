//! imhub's unified [`Content`] to Tencent's message elements and back.
//!
//! Cards (mini-program, goods, order) have no Tencent element of their own;
//! the reference (§4.4) says apps carry them in `TIMCustomElem`, so we put the
//! unified JSON in `Data` and a readable `Desc` (also the push text), and read
//! the same convention back. Lead cards are a Douyin feature and are refused.

use imhub_core::{Content, Platform, Refusal};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::elements::{
    CustomElem, FaceElem, FileElem, ImageElem, ImageInfo, LocationElem, MsgElement, SoundElem,
    TextElem, VideoFileElem,
};

/// `Download_Flag` value REST senders must use (download via `Url`).
pub const DOWNLOAD_FLAG_URL: u32 = 2;

/// A stable `UUID` for a media URL (Tencent wants one; commonly an MD5).
fn uuid_for(url: &str) -> String {
    hex::encode(&Sha256::digest(url.as_bytes())[..16])
}

/// `ImageFormat` from a URL's extension: JPG=1, GIF=2, PNG=3, BMP=4, other=255.
fn image_format(url: &str) -> u32 {
    let path = url.split(['?', '#']).next().unwrap_or("");
    let ext = path.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    match ext.as_str() {
        "jpg" | "jpeg" => 1,
        "gif" => 2,
        "png" => 3,
        "bmp" => 4,
        _ => 255,
    }
}

fn needs<'a>(what: &str, v: &'a Option<String>) -> Result<&'a str, Refusal> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Refusal::new(
            "content_not_supported",
            format!("tencent needs a URL for {what} (it has no media ids)"),
        )),
    }
}

/// Maps one unified content to the `MsgBody` elements that carry it, or
/// refuses what Tencent cannot carry.
pub fn content_to_elements(content: &Content) -> Result<Vec<MsgElement>, Refusal> {
    content.validate()?;
    let elem = match content {
        Content::Text { text } => MsgElement::Text(TextElem { text: text.clone() }),
        Content::Image {
            url, width, height, ..
        } => {
            let url = needs("images", url)?;
            let (w, h) = (width.unwrap_or(0), height.unwrap_or(0));
            // One entry per size; we have one picture, so all three point at it.
            let info = |kind| ImageInfo {
                kind,
                size: 0,
                width: w,
                height: h,
                url: url.to_string(),
            };
            MsgElement::Image(ImageElem {
                uuid: uuid_for(url),
                image_format: image_format(url),
                image_info_array: vec![info(1), info(2), info(3)],
            })
        }
        Content::Video {
            url,
            cover_url,
            duration_secs,
            ..
        } => {
            let url = needs("videos", url)?;
            let thumb = needs("video covers (ThumbUrl is required)", cover_url)?;
            MsgElement::Video(VideoFileElem {
                video_url: url.to_string(),
                video_uuid: uuid_for(url),
                video_second: duration_secs.unwrap_or(0),
                video_format: url
                    .rsplit('.')
                    .next()
                    .filter(|e| e.len() <= 5 && !e.contains('/'))
                    .unwrap_or("mp4")
                    .to_string(),
                video_download_flag: DOWNLOAD_FLAG_URL,
                thumb_url: thumb.to_string(),
                thumb_uuid: uuid_for(thumb),
                thumb_format: "JPG".into(),
                thumb_download_flag: DOWNLOAD_FLAG_URL,
                ..Default::default()
            })
        }
        Content::Voice {
            url, duration_secs, ..
        } => {
            let url = needs("voice notes", url)?;
            MsgElement::Sound(SoundElem {
                url: url.to_string(),
                uuid: uuid_for(url),
                size: 0,
                second: duration_secs.unwrap_or(0),
                download_flag: DOWNLOAD_FLAG_URL,
            })
        }
        Content::Emoji { code, .. } => MsgElement::Face(FaceElem {
            index: code.parse().unwrap_or(0),
            data: code.clone(),
        }),
        Content::Location {
            latitude,
            longitude,
            title,
        } => MsgElement::Location(LocationElem {
            desc: title.clone().unwrap_or_default(),
            latitude: *latitude,
            longitude: *longitude,
        }),
        Content::File { url, name, size } => MsgElement::File(FileElem {
            url: url.clone(),
            uuid: uuid_for(url),
            file_size: size.unwrap_or(0),
            file_name: name.clone().unwrap_or_default(),
            download_flag: DOWNLOAD_FLAG_URL,
        }),
        Content::LeadCard { .. } => return Err(Refusal::unsupported(Platform::Tencent, content)),
        Content::MiniProgramCard { .. } | Content::GoodsCard { .. } | Content::OrderCard { .. } => {
            MsgElement::Custom(CustomElem {
                data: serde_json::to_string(content).unwrap_or_default(),
                desc: content.preview(),
                ..Default::default()
            })
        }
        Content::Custom { data, description } => MsgElement::Custom(CustomElem {
            data: match data {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            desc: description.clone().unwrap_or_default(),
            ..Default::default()
        }),
    };
    Ok(vec![elem])
}

/// Bytes of the `MsgBody` as sent (compact JSON), for the size limit.
pub fn msg_body_bytes(elems: &[MsgElement]) -> usize {
    serde_json::to_vec(elems)
        .map(|v| v.len())
        .unwrap_or(usize::MAX)
}

/// Maps a received `MsgBody` to one unified content. Text and faces are
/// joined into text; any other mix, and unknown element types, are kept as
/// `Custom` with the raw body so nothing is lost.
pub fn elements_to_content(elems: &[MsgElement]) -> Content {
    match elems {
        [] => Content::Custom {
            data: json!([]),
            description: Some("empty message".into()),
        },
        [one] => element_to_content(one),
        many if many
            .iter()
            .all(|e| matches!(e, MsgElement::Text(_) | MsgElement::Face(_))) =>
        {
            let text = many
                .iter()
                .map(|e| match e {
                    MsgElement::Text(t) => t.text.clone(),
                    MsgElement::Face(f) if !f.data.is_empty() => f.data.clone(),
                    _ => "[表情]".to_string(),
                })
                .collect();
            Content::Text { text }
        }
        many => Content::Custom {
            data: serde_json::to_value(many).unwrap_or(Value::Null),
            description: Some(
                many.iter()
                    .map(|e| element_to_content(e).preview())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        },
    }
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn element_to_content(e: &MsgElement) -> Content {
    match e {
        MsgElement::Text(t) => Content::Text {
            text: t.text.clone(),
        },
        MsgElement::Location(l) => Content::Location {
            latitude: l.latitude,
            longitude: l.longitude,
            title: non_empty(&l.desc),
        },
        MsgElement::Face(f) => Content::Emoji {
            code: non_empty(&f.data).unwrap_or_else(|| f.index.to_string()),
            url: None,
        },
        MsgElement::Custom(c) => {
            if let Ok(
                card @ (Content::MiniProgramCard { .. }
                | Content::GoodsCard { .. }
                | Content::OrderCard { .. }),
            ) = serde_json::from_str::<Content>(&c.data)
            {
                return card;
            }
            Content::Custom {
                data: serde_json::from_str(&c.data)
                    .unwrap_or_else(|_| Value::String(c.data.clone())),
                description: non_empty(&c.desc),
            }
        }
        MsgElement::Sound(s) => Content::Voice {
            url: non_empty(&s.url),
            media_id: non_empty(&s.uuid),
            duration_secs: Some(s.second),
        },
        MsgElement::Image(i) => {
            let original = i
                .image_info_array
                .iter()
                .find(|x| x.kind == 1)
                .or_else(|| i.image_info_array.first());
            Content::Image {
                url: original.and_then(|x| non_empty(&x.url)),
                media_id: non_empty(&i.uuid),
                width: original.map(|x| x.width).filter(|w| *w > 0),
                height: original.map(|x| x.height).filter(|h| *h > 0),
            }
        }
        MsgElement::File(f) => Content::File {
            url: f.url.clone(),
            name: non_empty(&f.file_name),
            size: (f.file_size > 0).then_some(f.file_size),
        },
        MsgElement::Video(v) => Content::Video {
            url: non_empty(&v.video_url),
            media_id: non_empty(&v.video_uuid),
            cover_url: non_empty(&v.thumb_url),
            duration_secs: (v.video_second > 0).then_some(v.video_second),
        },
        MsgElement::Other { msg_type, content } => Content::Custom {
            data: json!({"MsgType": msg_type, "MsgContent": content}),
            description: Some(format!("unsupported Tencent element {msg_type}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(c: Content) -> Content {
        elements_to_content(&content_to_elements(&c).unwrap())
    }

    #[test]
    fn text_location_file_and_cards_survive_a_round_trip() {
        for c in [
            Content::Text {
                text: "你好\n世界".into(),
            },
            Content::Location {
                latitude: 39.9,
                longitude: 116.4,
                title: Some("天安门".into()),
            },
            Content::File {
                url: "https://x/a.pdf".into(),
                name: Some("a.pdf".into()),
                size: Some(12),
            },
            Content::GoodsCard {
                product_codes: vec!["sku1".into()],
            },
            Content::OrderCard {
                order_id: "o1".into(),
                title: None,
            },
            Content::Emoji {
                code: "[微笑]".into(),
                url: None,
            },
        ] {
            assert_eq!(round_trip(c.clone()), c);
        }
    }

    #[test]
    fn media_keeps_urls_and_gets_the_required_rest_fields() {
        let img = Content::Image {
            url: Some("https://x/p.png".into()),
            media_id: None,
            width: Some(10),
            height: Some(20),
        };
        let elems = content_to_elements(&img).unwrap();
        let [MsgElement::Image(e)] = elems.as_slice() else {
            panic!("not an image");
        };
        assert_eq!(e.image_format, 3);
        assert_eq!(e.uuid.len(), 32);
        assert_eq!(e.image_info_array[0].url, "https://x/p.png");
        let voice = Content::Voice {
            url: Some("https://x/v.mp3".into()),
            media_id: None,
            duration_secs: Some(4),
        };
        let elems = content_to_elements(&voice).unwrap();
        let [MsgElement::Sound(s)] = elems.as_slice() else {
            panic!("not a sound");
        };
        assert_eq!(s.download_flag, 2);
    }

    #[test]
    fn lead_cards_media_ids_and_coverless_videos_are_refused() {
        let lead = Content::LeadCard {
            card_id: "c".into(),
            title: None,
            status: None,
            fields: Vec::new(),
        };
        assert_eq!(
            content_to_elements(&lead).unwrap_err().code,
            "content_not_supported"
        );
        let by_id = Content::Image {
            url: None,
            media_id: Some("douyin-id".into()),
            width: None,
            height: None,
        };
        assert!(content_to_elements(&by_id).is_err());
        let video = Content::Video {
            url: Some("https://x/v.mp4".into()),
            media_id: None,
            cover_url: None,
            duration_secs: None,
        };
        assert!(content_to_elements(&video).is_err());
    }

    #[test]
    fn text_and_faces_join_and_unknown_elements_become_custom() {
        let body = serde_json::json!([
            {"MsgType":"TIMTextElem","MsgContent":{"Text":"hi "}},
            {"MsgType":"TIMFaceElem","MsgContent":{"Index":1,"Data":"[笑]"}},
        ]);
        assert_eq!(
            elements_to_content(&crate::elements::parse_msg_body(&body)),
            Content::Text {
                text: "hi [笑]".into()
            }
        );
        let relay = serde_json::json!([{"MsgType":"TIMRelayElem","MsgContent":{"Title":"t"}}]);
        let c = elements_to_content(&crate::elements::parse_msg_body(&relay));
        assert!(matches!(c, Content::Custom { .. }));
    }
}
