//! Account REST bodies: `im_open_login_svc/account_import` (reference §3.6).

use serde::{Deserialize, Serialize};

/// `account_import` request. Docs before ~2022 named the first field
/// `Identifier`; we send `UserID` (current) and accept both on input.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccountImportRequest {
    #[serde(rename = "UserID", alias = "Identifier")]
    pub user_id: String,
    #[serde(rename = "Nick", skip_serializing_if = "Option::is_none", default)]
    pub nick: Option<String>,
    #[serde(rename = "FaceUrl", skip_serializing_if = "Option::is_none", default)]
    pub face_url: Option<String>,
}
