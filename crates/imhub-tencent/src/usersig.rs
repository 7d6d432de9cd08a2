//! UserSig v2 (HMAC-SHA256): the credential every REST call carries for the
//! admin identifier. Generation, verification (for the sandbox and for
//! self-checks) and a cache that renews the admin's sig before it expires.
//!
//! Layout (reference §2.2): HMAC-SHA256 with the key string's bytes over
//! `TLS.identifier:{id}\nTLS.sdkappid:{app}\nTLS.time:{t}\nTLS.expire:{e}\n`,
//! standard Base64 of the MAC in a small JSON document, zlib-compressed, then
//! Base64 with `+`→`*`, `/`→`-`, `=`→`_`.

use std::{
    io::{Read, Write},
    sync::Mutex,
};

use base64::{Engine, engine::general_purpose::STANDARD};
use flate2::{Compression, read::ZlibDecoder, write::ZlibEncoder};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The libraries' default validity: 180 days.
pub const DEFAULT_EXPIRE_SECS: u64 = 180 * 86_400;

/// The longest validity Tencent's FAQ allows: 50 years.
pub const MAX_EXPIRE_SECS: u64 = 50 * 365 * 86_400;

/// Longest identifier (UserID) Tencent accepts, in bytes.
pub const MAX_IDENTIFIER_BYTES: usize = 32;

/// The exact bytes HMAC-SHA256 signs (four LF-terminated lines, fixed order).
pub fn content_to_sign(identifier: &str, sdkappid: u64, time: u64, expire: u64) -> String {
    format!(
        "TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n"
    )
}

/// `TLS.sig`: standard, padded Base64 of HMAC-SHA256(key string bytes, content).
pub fn hmac_sig(key: &str, identifier: &str, sdkappid: u64, time: u64, expire: u64) -> String {
    STANDARD.encode(hmac_raw(key, identifier, sdkappid, time, expire))
}

fn hmac_raw(key: &str, identifier: &str, sdkappid: u64, time: u64, expire: u64) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here;
    // the fallback keeps the function total without a panic path.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return Vec::new();
    };
    mac.update(content_to_sign(identifier, sdkappid, time, expire).as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The JSON document inside a UserSig. We write members in LIB-node's order,
/// compact; the server parses JSON, so order and spacing do not matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserSigDoc {
    #[serde(rename = "TLS.ver")]
    pub ver: String,
    #[serde(rename = "TLS.identifier")]
    pub identifier: String,
    #[serde(rename = "TLS.sdkappid")]
    pub sdkappid: u64,
    #[serde(rename = "TLS.time")]
    pub time: u64,
    #[serde(rename = "TLS.expire")]
    pub expire: u64,
    #[serde(
        rename = "TLS.userbuf",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub userbuf: Option<String>,
    #[serde(rename = "TLS.sig")]
    pub sig: String,
}

/// Generates the UserSig for `identifier`, valid `expire_secs` from `now_secs`.
/// This is the plain function the command line (`imhub token`) calls.
pub fn gen_usersig(
    sdkappid: u64,
    key: &str,
    identifier: &str,
    expire_secs: u64,
    now_secs: u64,
) -> String {
    let doc = UserSigDoc {
        ver: "2.0".into(),
        identifier: identifier.into(),
        sdkappid,
        time: now_secs,
        expire: expire_secs,
        userbuf: None,
        sig: hmac_sig(key, identifier, sdkappid, now_secs, expire_secs),
    };
    // Serialising a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(&doc).unwrap_or_default();
    base64url_encode(&zlib(&json))
}

/// zlib (RFC 1950) with stored blocks, as LIB-go does since 2024-11: the output
/// is then identical across zlib implementations, so a UserSig is byte-for-byte
/// reproducible (it starts with `eAE`).
fn zlib(data: &[u8]) -> Vec<u8> {
    let mut enc = ZlibEncoder::new(Vec::new(), Compression::none());
    // Writing into a Vec cannot fail.
    if enc.write_all(data).is_err() {
        return Vec::new();
    }
    enc.finish().unwrap_or_default()
}

/// Base64 with Tencent's URL-safe substitutions: `+`→`*`, `/`→`-`, `=`→`_`.
pub fn base64url_encode(bytes: &[u8]) -> String {
    STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

/// The inverse of [`base64url_encode`].
pub fn base64url_decode(text: &str) -> Result<Vec<u8>, UserSigError> {
    let std: String = text
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect();
    STANDARD
        .decode(std.as_bytes())
        .map_err(|e| UserSigError::Malformed(format!("base64: {e}")))
}

/// Why a UserSig was refused; [`UserSigError::server_code`] is the code the
/// real REST server answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSigError {
    #[error("usersig is empty")]
    Empty,
    #[error("usersig cannot be parsed: {0}")]
    Malformed(String),
    #[error("sdkappid mismatch")]
    SdkAppIdMismatch,
    #[error("identifier mismatch")]
    IdentifierMismatch,
    #[error("usersig expired at {expired_at}")]
    Expired { expired_at: u64 },
    #[error("userbuf mismatch")]
    UserbufMismatch,
    #[error("usersig verification failed")]
    BadSignature,
}

impl UserSigError {
    /// The public REST error code the IM server returns for this failure.
    pub fn server_code(&self) -> i64 {
        match self {
            UserSigError::Empty => 70002,
            UserSigError::Malformed(_) | UserSigError::UserbufMismatch => 70003,
            UserSigError::SdkAppIdMismatch => 70014,
            UserSigError::IdentifierMismatch => 70013,
            UserSigError::Expired { .. } => 70001,
            UserSigError::BadSignature => 70009,
        }
    }
}

/// Decodes a UserSig without checking it (base64 → zlib → JSON).
pub fn decode_usersig(usersig: &str) -> Result<UserSigDoc, UserSigError> {
    if usersig.is_empty() {
        return Err(UserSigError::Empty);
    }
    let compressed = base64url_decode(usersig)?;
    let mut json = Vec::new();
    ZlibDecoder::new(compressed.as_slice())
        .take(64 * 1024)
        .read_to_end(&mut json)
        .map_err(|e| UserSigError::Malformed(format!("zlib: {e}")))?;
    serde_json::from_slice(&json).map_err(|e| UserSigError::Malformed(format!("json: {e}")))
}

/// Verifies a UserSig in the order of LIB-go's `verify`: sdkappid, identifier,
/// expiry (`now > time + expire` is expired), userbuf absence, then the HMAC
/// recomputed from the decoded fields and compared in constant time.
pub fn verify_usersig(
    usersig: &str,
    sdkappid: u64,
    key: &str,
    identifier: &str,
    now_secs: u64,
) -> Result<UserSigDoc, UserSigError> {
    let doc = decode_usersig(usersig)?;
    if doc.sdkappid != sdkappid {
        return Err(UserSigError::SdkAppIdMismatch);
    }
    if doc.identifier != identifier {
        return Err(UserSigError::IdentifierMismatch);
    }
    let expired_at = doc.time.saturating_add(doc.expire);
    if now_secs > expired_at {
        return Err(UserSigError::Expired { expired_at });
    }
    if doc.userbuf.is_some() {
        return Err(UserSigError::UserbufMismatch);
    }
    let given = STANDARD
        .decode(doc.sig.as_bytes())
        .map_err(|e| UserSigError::Malformed(format!("TLS.sig: {e}")))?;
    let expected = hmac_raw(key, &doc.identifier, doc.sdkappid, doc.time, doc.expire);
    if given.len() != expected.len() || !bool::from(given.ct_eq(&expected)) {
        return Err(UserSigError::BadSignature);
    }
    Ok(doc)
}

/// Keeps one UserSig for the admin identifier and renews it once less than a
/// quarter of its validity (at most one day) is left, so a cached sig never
/// reaches the server expired.
#[derive(Debug)]
pub struct UserSigCache {
    sdkappid: u64,
    key: String,
    identifier: String,
    expire_secs: u64,
    current: Mutex<Option<(String, u64)>>,
}

impl UserSigCache {
    /// A cache for `identifier`'s sig with the given validity.
    pub fn new(sdkappid: u64, key: &str, identifier: &str, expire_secs: u64) -> Self {
        UserSigCache {
            sdkappid,
            key: key.to_string(),
            identifier: identifier.to_string(),
            expire_secs: expire_secs.max(1),
            current: Mutex::new(None),
        }
    }

    /// How long before expiry a cached sig is replaced.
    pub fn renew_margin(&self) -> u64 {
        (self.expire_secs / 4).min(86_400)
    }

    /// The sig to use now: the cached one unless it is within the renewal margin.
    pub fn get(&self, now_secs: u64) -> String {
        let mut slot = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((sig, expires_at)) = slot.as_ref()
            && now_secs.saturating_add(self.renew_margin()) < *expires_at
        {
            return sig.clone();
        }
        let sig = gen_usersig(
            self.sdkappid,
            &self.key,
            &self.identifier,
            self.expire_secs,
            now_secs,
        );
        *slot = Some((sig.clone(), now_secs.saturating_add(self.expire_secs)));
        sig
    }

    /// Drops the cached sig (after the server answered 70001).
    pub fn invalidate(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Known answers computed independently with Python's standard library
    // (hmac, hashlib, zlib, base64), following reference §2.2 step by step.
    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
    const APP: u64 = 1_400_000_000;
    const TIME: u64 = 1_700_000_000;

    #[test]
    fn content_to_sign_has_four_lf_terminated_lines_in_fixed_order() {
        assert_eq!(
            content_to_sign("admin", APP, TIME, 86_400),
            "TLS.identifier:admin\nTLS.sdkappid:1400000000\nTLS.time:1700000000\nTLS.expire:86400\n"
        );
    }

    #[test]
    fn hmac_uses_the_key_string_bytes_not_hex_decoded() {
        assert_eq!(
            hmac_sig(KEY, "admin", APP, TIME, 86_400),
            KAT_SIG_ADMIN_86400
        );
    }

    #[test]
    fn usersig_matches_the_python_stored_block_known_answer_byte_for_byte() {
        let sig = gen_usersig(APP, KEY, "admin", 86_400, TIME);
        assert_eq!(sig, KAT_USERSIG_ADMIN_86400);
        assert!(sig.starts_with("eAE"));
        assert!(!sig.contains(['+', '/', '=']));
    }

    #[test]
    fn every_official_library_layout_verifies() {
        for (name, sig) in KAT_LIBRARY_LAYOUTS {
            let doc = verify_usersig(sig, APP, KEY, "admin", TIME + 10)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(doc.sig, KAT_SIG_ADMIN_86400, "{name}");
        }
    }

    #[test]
    fn expiry_is_strictly_after_time_plus_expire() {
        let sig = gen_usersig(APP, KEY, "admin", 100, TIME);
        assert!(verify_usersig(&sig, APP, KEY, "admin", TIME + 100).is_ok());
        let err = verify_usersig(&sig, APP, KEY, "admin", TIME + 101).unwrap_err();
        assert_eq!(err.server_code(), 70001);
    }

    #[test]
    fn wrong_app_identifier_key_and_garbage_get_the_servers_codes() {
        let sig = gen_usersig(APP, KEY, "admin", 100, TIME);
        let code = |r: Result<UserSigDoc, UserSigError>| r.unwrap_err().server_code();
        assert_eq!(
            code(verify_usersig(&sig, APP + 1, KEY, "admin", TIME)),
            70014
        );
        assert_eq!(code(verify_usersig(&sig, APP, KEY, "bob", TIME)), 70013);
        assert_eq!(
            code(verify_usersig(&sig, APP, "other", "admin", TIME)),
            70009
        );
        assert_eq!(code(verify_usersig("", APP, KEY, "admin", TIME)), 70002);
        assert_eq!(
            code(verify_usersig(&sig[..20], APP, KEY, "admin", TIME)),
            70003
        );
        assert_eq!(code(verify_usersig("eJ!!", APP, KEY, "admin", TIME)), 70003);
    }

    #[test]
    fn cache_reuses_then_renews_before_expiry() {
        let cache = UserSigCache::new(APP, KEY, "admin", 8 * 86_400);
        let first = cache.get(TIME);
        assert_eq!(cache.get(TIME + 86_400), first);
        // One day before expiry the sig is replaced.
        let renewed = cache.get(TIME + 7 * 86_400);
        assert_ne!(renewed, first);
        assert!(verify_usersig(&renewed, APP, KEY, "admin", TIME + 8 * 86_400 + 10).is_ok());
        cache.invalidate();
        assert_ne!(cache.get(TIME + 7 * 86_400 + 1), renewed);
    }

    include!("usersig_kat.rs");
}
