//! `msg_content` encryption (reference §7): AES-128 keyed with the first 16
//! characters of the app secret, PKCS#7 padding, standard Base64 with `=`.
//!
//! The mode is where sources differ: S2 (an ISV's production code) uses CBC
//! with the key as IV, while S1 only says "AES" and points to a generic
//! online tool. We therefore make the mode configurable ([`AesMode`]), send
//! with the configured one (CBC by default, the only mode seen in
//! production code), and on input try the configured mode first and then the
//! other, so a merchant whose app turns out to use ECB still reads messages.

use aes::{
    Aes128,
    cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit, block_padding::Pkcs7},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::{Deserialize, Serialize};

/// Length of the AES-128 key taken from the front of the app secret.
pub const KEY_LEN: usize = 16;

/// The AES block mode for `msg_content`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AesMode {
    /// CBC with IV = key (S2, production code; reference [M]). The default.
    #[default]
    Cbc,
    /// ECB, no IV: what a generic "AES" tool gives when no IV is set.
    Ecb,
}

impl AesMode {
    fn other(self) -> Self {
        match self {
            AesMode::Cbc => AesMode::Ecb,
            AesMode::Ecb => AesMode::Cbc,
        }
    }
}

/// Why `msg_content` could not be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The secret's first 16 characters are missing or not ASCII.
    #[error("the app secret must start with 16 ASCII characters to key AES-128")]
    BadSecret,
    /// The content is not standard Base64.
    #[error("msg_content is not Base64: {0}")]
    NotBase64(String),
    /// Neither mode yields valid padding: another key, or not encrypted.
    #[error("msg_content does not decrypt with the app secret's key")]
    WrongKeyOrMode,
    /// Decrypted, but not UTF-8 text.
    #[error("msg_content decrypted to bytes that are not UTF-8")]
    NotUtf8,
}

/// Encrypts and decrypts `msg_content` with one app's key.
#[derive(Clone)]
pub struct ContentCipher {
    key: [u8; KEY_LEN],
    mode: AesMode,
}

impl std::fmt::Debug for ContentCipher {
    // The key is a prefix of the app secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentCipher")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ContentCipher {
    /// Keys the cipher with the first 16 characters of `secret`. Secrets are
    /// hex-looking ASCII; a secret whose first 16 characters are not 16 bytes
    /// cannot be what Meituan issued, so it is refused.
    pub fn from_secret(secret: &str, mode: AesMode) -> Result<Self, CryptoError> {
        let prefix = secret.get(..KEY_LEN).ok_or(CryptoError::BadSecret)?;
        if !prefix.is_ascii() {
            return Err(CryptoError::BadSecret);
        }
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(prefix.as_bytes());
        Ok(ContentCipher { key, mode })
    }

    /// The mode used for sending.
    pub fn mode(&self) -> AesMode {
        self.mode
    }

    /// Encrypts UTF-8 text to Base64 with the configured mode.
    pub fn encrypt(&self, plaintext: &str) -> String {
        STANDARD.encode(self.encrypt_with(self.mode, plaintext.as_bytes()))
    }

    /// Decrypts Base64 `msg_content` to text: the configured mode first, then
    /// the other (see the module comment).
    pub fn decrypt(&self, b64: &str) -> Result<String, CryptoError> {
        // A space can never be part of Base64; it is a `+` that one URL
        // decoding too many turned into a space (reference §8), so put it back.
        let cleaned: String = b64
            .trim()
            .chars()
            .map(|c| if c == ' ' { '+' } else { c })
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = STANDARD
            .decode(cleaned.as_bytes())
            .map_err(|e| CryptoError::NotBase64(e.to_string()))?;
        let mut last = CryptoError::WrongKeyOrMode;
        for mode in [self.mode, self.mode.other()] {
            match self.decrypt_with(mode, &bytes) {
                Some(plain) => match String::from_utf8(plain) {
                    Ok(text) => return Ok(text),
                    Err(_) => last = CryptoError::NotUtf8,
                },
                None => continue,
            }
        }
        Err(last)
    }

    /// Decrypts with the configured mode only and without any repair: what a
    /// strict receiver (the sandbox playing Meituan) accepts.
    pub fn decrypt_exact(&self, b64: &str) -> Result<String, CryptoError> {
        let bytes = STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| CryptoError::NotBase64(e.to_string()))?;
        let plain = self
            .decrypt_with(self.mode, &bytes)
            .ok_or(CryptoError::WrongKeyOrMode)?;
        String::from_utf8(plain).map_err(|_| CryptoError::NotUtf8)
    }

    fn encrypt_with(&self, mode: AesMode, data: &[u8]) -> Vec<u8> {
        match mode {
            AesMode::Cbc => cbc::Encryptor::<Aes128>::new(&self.key.into(), &self.key.into())
                .encrypt_padded_vec_mut::<Pkcs7>(data),
            AesMode::Ecb => ecb::Encryptor::<Aes128>::new(&self.key.into())
                .encrypt_padded_vec_mut::<Pkcs7>(data),
        }
    }

    fn decrypt_with(&self, mode: AesMode, data: &[u8]) -> Option<Vec<u8>> {
        if data.is_empty() || !data.chunks_exact(16).remainder().is_empty() {
            return None;
        }
        match mode {
            AesMode::Cbc => cbc::Decryptor::<Aes128>::new(&self.key.into(), &self.key.into())
                .decrypt_padded_vec_mut::<Pkcs7>(data)
                .ok(),
            AesMode::Ecb => ecb::Decryptor::<Aes128>::new(&self.key.into())
                .decrypt_padded_vec_mut::<Pkcs7>(data)
                .ok(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a00ba58f000001aa697ab000006d52d";

    // Known answers produced independently with OpenSSL:
    // printf '%s' TEXT | openssl enc -aes-128-cbc -K <hex of a00ba58f000001aa> -iv <same> -base64 -A
    const CBC_TEXT: (&str, &str) = (
        "你好，有货吗？",
        "TMxwDkB8ZAsNaUVI6hvHkbv5i46gRN+ONYeHLnbtHqw=",
    );
    const CBC_URL: (&str, &str) = (
        "https://p0.meituan.net/a+b.jpg",
        "WPXd71ZoGWYurGGhEhijNnNIn1STDxCBnodQA0vy5nM=",
    );
    // printf hello | openssl enc -aes-128-ecb -K <hex of a00ba58f000001aa> -base64 -A
    const ECB_HELLO: (&str, &str) = ("hello", "TFoHnNppLYBZjIk9peBiXw==");

    #[test]
    fn cbc_encryption_matches_openssl() {
        let c = ContentCipher::from_secret(SECRET, AesMode::Cbc).unwrap();
        assert_eq!(c.encrypt(CBC_TEXT.0), CBC_TEXT.1);
        assert_eq!(c.encrypt(CBC_URL.0), CBC_URL.1);
        assert_eq!(c.decrypt(CBC_TEXT.1).unwrap(), CBC_TEXT.0);
    }

    #[test]
    fn ecb_encryption_matches_openssl() {
        let c = ContentCipher::from_secret(SECRET, AesMode::Ecb).unwrap();
        assert_eq!(c.encrypt(ECB_HELLO.0), ECB_HELLO.1);
        assert_eq!(c.decrypt(ECB_HELLO.1).unwrap(), ECB_HELLO.0);
    }

    #[test]
    fn decrypt_falls_back_to_the_other_mode() {
        let cbc = ContentCipher::from_secret(SECRET, AesMode::Cbc).unwrap();
        assert_eq!(cbc.decrypt(ECB_HELLO.1).unwrap(), "hello");
        let ecb = ContentCipher::from_secret(SECRET, AesMode::Ecb).unwrap();
        assert_eq!(ecb.decrypt(CBC_TEXT.1).unwrap(), CBC_TEXT.0);
        assert!(ecb.decrypt_exact(CBC_TEXT.1).is_err());
        assert_eq!(cbc.decrypt_exact(CBC_TEXT.1).unwrap(), CBC_TEXT.0);
    }

    #[test]
    fn a_plus_turned_into_a_space_is_repaired() {
        let c = ContentCipher::from_secret(SECRET, AesMode::Cbc).unwrap();
        let damaged = CBC_TEXT.1.replace('+', " ");
        assert_eq!(c.decrypt(&damaged).unwrap(), CBC_TEXT.0);
    }

    #[test]
    fn content_from_another_key_or_not_base64_is_refused() {
        let c = ContentCipher::from_secret(SECRET, AesMode::Cbc).unwrap();
        let other = ContentCipher::from_secret("ffffffffffffffffffff", AesMode::Cbc).unwrap();
        assert!(c.decrypt(&other.encrypt("secret text here")).is_err());
        assert!(matches!(c.decrypt("%%%"), Err(CryptoError::NotBase64(_))));
        assert!(c.decrypt("").is_err());
    }

    #[test]
    fn short_or_non_ascii_secrets_are_refused() {
        assert_eq!(
            ContentCipher::from_secret("short", AesMode::Cbc).unwrap_err(),
            CryptoError::BadSecret
        );
        assert!(ContentCipher::from_secret("密钥密钥密钥密钥密钥", AesMode::Cbc).is_err());
    }
}
