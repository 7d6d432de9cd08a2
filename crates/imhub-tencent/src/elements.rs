//! The message elements (`TIMMsgElement`) a `MsgBody` array is made of, and
//! the offline-push settings that may travel with a message (reference §4).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `TIMTextElem`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TextElem {
    #[serde(default)]
    pub text: String,
}

/// `TIMLocationElem`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LocationElem {
    #[serde(default)]
    pub desc: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// `TIMFaceElem`: an app-defined face by index, with extra data.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FaceElem {
    #[serde(default)]
    pub index: i64,
    #[serde(default)]
    pub data: String,
}

/// `TIMCustomElem`: app conventions (cards, orders) ride in `Data`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomElem {
    #[serde(default)]
    pub data: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub desc: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ext: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sound: String,
}

/// `TIMSoundElem`; REST senders must fill `Url`, `UUID` and `Download_Flag` = 2.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SoundElem {
    #[serde(rename = "Url", default)]
    pub url: String,
    #[serde(rename = "UUID", default)]
    pub uuid: String,
    #[serde(rename = "Size", default)]
    pub size: u64,
    #[serde(rename = "Second", default)]
    pub second: u32,
    #[serde(rename = "Download_Flag", default)]
    pub download_flag: u32,
}

/// One size of an image (`Type` 1 original, 2 large, 3 thumbnail).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInfo {
    #[serde(rename = "Type")]
    pub kind: u32,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub width: u32,
    #[serde(default)]
    pub height: u32,
    #[serde(rename = "URL", default)]
    pub url: String,
}

/// `TIMImageElem`; REST senders must fill the image `URL`, `UUID`, `Width`, `Height`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageElem {
    #[serde(rename = "UUID", default)]
    pub uuid: String,
    #[serde(rename = "ImageFormat", default)]
    pub image_format: u32,
    #[serde(rename = "ImageInfoArray", default)]
    pub image_info_array: Vec<ImageInfo>,
}

/// `TIMFileElem`; REST senders must fill `Url`, `UUID`, `Download_Flag` = 2.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FileElem {
    #[serde(rename = "Url", default)]
    pub url: String,
    #[serde(rename = "UUID", default)]
    pub uuid: String,
    #[serde(rename = "FileSize", default)]
    pub file_size: u64,
    #[serde(rename = "FileName", default)]
    pub file_name: String,
    #[serde(rename = "Download_Flag", default)]
    pub download_flag: u32,
}

/// `TIMVideoFileElem`; REST senders must fill the video and thumbnail URLs,
/// UUIDs, thumbnail size and both download flags (= 2).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VideoFileElem {
    #[serde(default)]
    pub video_url: String,
    #[serde(rename = "VideoUUID", default)]
    pub video_uuid: String,
    #[serde(default)]
    pub video_size: u64,
    #[serde(default)]
    pub video_second: u32,
    #[serde(default)]
    pub video_format: String,
    #[serde(default)]
    pub video_download_flag: u32,
    #[serde(default)]
    pub thumb_url: String,
    #[serde(rename = "ThumbUUID", default)]
    pub thumb_uuid: String,
    #[serde(default)]
    pub thumb_size: u64,
    #[serde(default)]
    pub thumb_width: u32,
    #[serde(default)]
    pub thumb_height: u32,
    #[serde(default)]
    pub thumb_format: String,
    #[serde(default)]
    pub thumb_download_flag: u32,
}

/// One `{ "MsgType": ..., "MsgContent": {...} }` element. Unknown types (for
/// example `TIMRelayElem`) are kept raw so one element never fails a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawElem", into = "RawElem")]
pub enum MsgElement {
    Text(TextElem),
    Location(LocationElem),
    Face(FaceElem),
    Custom(CustomElem),
    Sound(SoundElem),
    Image(ImageElem),
    File(FileElem),
    Video(VideoFileElem),
    Other { msg_type: String, content: Value },
}

impl MsgElement {
    /// The `MsgType` string.
    pub fn msg_type(&self) -> &str {
        match self {
            MsgElement::Text(_) => "TIMTextElem",
            MsgElement::Location(_) => "TIMLocationElem",
            MsgElement::Face(_) => "TIMFaceElem",
            MsgElement::Custom(_) => "TIMCustomElem",
            MsgElement::Sound(_) => "TIMSoundElem",
            MsgElement::Image(_) => "TIMImageElem",
            MsgElement::File(_) => "TIMFileElem",
            MsgElement::Video(_) => "TIMVideoFileElem",
            MsgElement::Other { msg_type, .. } => msg_type,
        }
    }
}

/// The wire shape of an element, before its content is typed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RawElem {
    #[serde(rename = "MsgType")]
    pub msg_type: String,
    #[serde(rename = "MsgContent", default)]
    pub msg_content: Value,
}

impl TryFrom<RawElem> for MsgElement {
    type Error = serde_json::Error;

    fn try_from(raw: RawElem) -> Result<Self, Self::Error> {
        let c = raw.msg_content;
        Ok(match raw.msg_type.as_str() {
            "TIMTextElem" => MsgElement::Text(serde_json::from_value(c)?),
            "TIMLocationElem" => MsgElement::Location(serde_json::from_value(c)?),
            "TIMFaceElem" => MsgElement::Face(serde_json::from_value(c)?),
            "TIMCustomElem" => MsgElement::Custom(serde_json::from_value(c)?),
            "TIMSoundElem" => MsgElement::Sound(serde_json::from_value(c)?),
            "TIMImageElem" => MsgElement::Image(serde_json::from_value(c)?),
            "TIMFileElem" => MsgElement::File(serde_json::from_value(c)?),
            "TIMVideoFileElem" => MsgElement::Video(serde_json::from_value(c)?),
            _ => MsgElement::Other {
                msg_type: raw.msg_type,
                content: c,
            },
        })
    }
}

impl From<MsgElement> for RawElem {
    fn from(e: MsgElement) -> Self {
        let msg_type = e.msg_type().to_string();
        let msg_content = match e {
            MsgElement::Text(x) => serde_json::to_value(x),
            MsgElement::Location(x) => serde_json::to_value(x),
            MsgElement::Face(x) => serde_json::to_value(x),
            MsgElement::Custom(x) => serde_json::to_value(x),
            MsgElement::Sound(x) => serde_json::to_value(x),
            MsgElement::Image(x) => serde_json::to_value(x),
            MsgElement::File(x) => serde_json::to_value(x),
            MsgElement::Video(x) => serde_json::to_value(x),
            MsgElement::Other { content, .. } => Ok(content),
        }
        // Plain structs of strings and numbers always serialise.
        .unwrap_or(Value::Null);
        RawElem {
            msg_type,
            msg_content,
        }
    }
}

/// Parses a `MsgBody` leniently: elements that do not fit their type's shape
/// are kept as [`MsgElement::Other`] instead of failing the whole body.
pub fn parse_msg_body(body: &Value) -> Vec<MsgElement> {
    let Some(items) = body.as_array() else {
        return Vec::new();
    };
    items
        .iter()
        .map(
            |item| match serde_json::from_value::<MsgElement>(item.clone()) {
                Ok(e) => e,
                Err(_) => MsgElement::Other {
                    msg_type: item
                        .get("MsgType")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    content: item.get("MsgContent").cloned().unwrap_or(Value::Null),
                },
            },
        )
        .collect()
}

/// `OfflinePushInfo.AndroidInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AndroidInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    #[serde(
        rename = "HuaWeiChannelID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub huawei_channel_id: Option<String>,
    #[serde(
        rename = "XiaoMiChannelID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub xiaomi_channel_id: Option<String>,
    #[serde(
        rename = "OPPOChannelID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub oppo_channel_id: Option<String>,
    #[serde(
        rename = "GoogleChannelID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub google_channel_id: Option<String>,
    #[serde(
        rename = "VIVOClassification",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub vivo_classification: Option<i64>,
    #[serde(
        rename = "HuaWeiImportance",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub huawei_importance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_as_huawei_intent_param: Option<i64>,
    #[serde(
        rename = "HuaWeiCategory",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub huawei_category: Option<String>,
}

/// `OfflinePushInfo.ApnsInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApnsInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    /// 0/absent: counts towards the badge; 1: does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge_mode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mutable_content: Option<i64>,
}

/// Offline-push settings sent with a message (reference §4.10).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OfflinePushInfo {
    /// 0 push, 1 no offline push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_flag: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android_info: Option<AndroidInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apns_info: Option<ApnsInfo>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn elements_round_trip_with_tencents_field_names() {
        let e = MsgElement::Sound(SoundElem {
            url: "https://x/a.mp3".into(),
            uuid: "u".into(),
            size: 10,
            second: 3,
            download_flag: 2,
        });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            json!({"MsgType":"TIMSoundElem","MsgContent":{"Url":"https://x/a.mp3","UUID":"u","Size":10,"Second":3,"Download_Flag":2}})
        );
        assert_eq!(serde_json::from_value::<MsgElement>(v).unwrap(), e);
        let video = serde_json::to_value(MsgElement::Video(VideoFileElem::default())).unwrap();
        for key in [
            "VideoUrl",
            "VideoUUID",
            "ThumbUrl",
            "ThumbUUID",
            "ThumbWidth",
            "ThumbHeight",
            "VideoDownloadFlag",
            "ThumbDownloadFlag",
        ] {
            assert!(video["MsgContent"].get(key).is_some(), "{key}");
        }
        let image = serde_json::to_value(MsgElement::Image(ImageElem {
            image_info_array: vec![ImageInfo::default()],
            ..Default::default()
        }))
        .unwrap();
        assert!(
            image["MsgContent"]["ImageInfoArray"][0]
                .get("URL")
                .is_some()
        );
    }

    #[test]
    fn unknown_and_malformed_elements_are_kept_not_fatal() {
        let body = json!([
            {"MsgType":"TIMRelayElem","MsgContent":{"Title":"t"}},
            {"MsgType":"TIMLocationElem","MsgContent":{"Latitude":"north"}},
            {"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}
        ]);
        let elems = parse_msg_body(&body);
        assert_eq!(elems.len(), 3);
        assert_eq!(elems[0].msg_type(), "TIMRelayElem");
        assert!(matches!(elems[1], MsgElement::Other { .. }));
        assert_eq!(elems[2], MsgElement::Text(TextElem { text: "hi".into() }));
    }
}
