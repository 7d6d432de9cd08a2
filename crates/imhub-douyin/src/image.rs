//! The image upload tool (`tool.image.upload`, client_token, reference §6.3).
//! The returned `image_id` is reused as `media_id` in image messages, lead
//! cards and guide-card templates, and as a fan group's `avatar_uri`.

use rand::Rng;
use serde::Deserialize;

use crate::{
    client::{Auth, Body, DouyinClient, Secret},
    envelope::de_opt_i64,
    errors::DouyinError,
};

/// `POST /tool/imagex/client_upload/`, multipart, one part named `image`.
pub const IMAGE_UPLOAD_PATH: &str = "/tool/imagex/client_upload/";
/// Largest accepted image: 10 MB.
pub const IMAGE_MAX_BYTES: usize = 10 * 1024 * 1024;

/// Image formats the tool accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Bmp,
    Webp,
}

impl ImageFormat {
    /// Recognizes the format from the file's first bytes.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(b"BM") {
            Some(ImageFormat::Bmp)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else {
            None
        }
    }

    /// The MIME type sent in the part header.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Bmp => "image/bmp",
            ImageFormat::Webp => "image/webp",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Bmp => "bmp",
            ImageFormat::Webp => "webp",
        }
    }
}

/// What the upload returned. The dop page lists width/height under `data`
/// and image_id/md5 under `extra`; samples put all four at the top: we read
/// every place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadedImage {
    pub image_id: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub md5: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Fields {
    #[serde(default)]
    image_id: Option<String>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    width: Option<i64>,
    #[serde(default, deserialize_with = "de_opt_i64")]
    height: Option<i64>,
    #[serde(default)]
    md5: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UploadResponse {
    #[serde(flatten)]
    top: Fields,
    #[serde(default)]
    data: Option<Fields>,
    #[serde(default)]
    extra: Option<serde_json::Value>,
}

/// Builds a multipart/form-data body with one file part named `image`.
pub(crate) fn multipart_image(bytes: &[u8], format: ImageFormat) -> (String, Vec<u8>) {
    let boundary = format!("----imhub{:016x}", rand::rng().random::<u64>());
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(
        format!(
            "Content-Disposition: form-data; name=\"image\"; filename=\"image.{}\"\r\n",
            format.extension()
        )
        .as_bytes(),
    );
    body.extend_from_slice(format!("Content-Type: {}\r\n\r\n", format.mime()).as_bytes());
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}

impl DouyinClient {
    /// Uploads an image (≤10 MB, jpeg/png/bmp/webp) with the app's client_token.
    pub async fn upload_image(
        &self,
        client_token: &Secret,
        bytes: &[u8],
    ) -> Result<UploadedImage, DouyinError> {
        if bytes.len() > IMAGE_MAX_BYTES {
            return Err(DouyinError::InvalidRequest("image exceeds 10 MB".into()));
        }
        let format = ImageFormat::sniff(bytes).ok_or_else(|| {
            DouyinError::InvalidRequest("only jpeg, png, bmp and webp images".into())
        })?;
        let (boundary, body) = multipart_image(bytes, format);
        let r: UploadResponse = self
            .call(
                reqwest::Method::POST,
                IMAGE_UPLOAD_PATH,
                Auth::App(client_token),
                &[],
                Body::Multipart {
                    boundary,
                    bytes: body,
                },
            )
            .await?;
        let data = r.data.unwrap_or_default();
        let extra: Fields = r
            .extra
            .and_then(|e| serde_json::from_value(e).ok())
            .unwrap_or_default();
        let image_id = r
            .top
            .image_id
            .or(data.image_id)
            .or(extra.image_id)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| DouyinError::Decode {
                status: 200,
                message: "upload answer without image_id".into(),
            })?;
        Ok(UploadedImage {
            image_id,
            width: r.top.width.or(data.width),
            height: r.top.height.or(data.height),
            md5: r.top.md5.or(data.md5).or(extra.md5),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_sniffed_from_magic_bytes() {
        assert_eq!(
            ImageFormat::sniff(b"\x89PNG\r\n\x1a\nrest"),
            Some(ImageFormat::Png)
        );
        assert_eq!(
            ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::sniff(b"GIF89a"), None);
    }

    #[test]
    fn multipart_body_names_the_part_image() {
        let (b, body) = multipart_image(b"\x89PNG\r\n\x1a\n", ImageFormat::Png);
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{b}\r\n")));
        assert!(text.contains("name=\"image\""));
        assert!(text.ends_with(&format!("--{b}--\r\n")));
    }
}
