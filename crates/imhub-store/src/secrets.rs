//! Secrets at rest: the channel configurations (which hold each platform's
//! app secrets), the channel state (Douyin's OAuth tokens among it) and the
//! signing secrets of outgoing webhooks are stored encrypted, so a copy of
//! the database file or a backup does not hand out every merchant's
//! credentials. The store encrypts right before it writes and decrypts right
//! after it reads: every caller keeps working with plaintext.
//!
//! The cipher is XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`). Its
//! 192-bit nonce can be drawn at random for every value without counting
//! how many values a key has sealed (AES-GCM's 96-bit random nonces are safe
//! only up to about 2^32 values per key), and it is constant-time in
//! software on every CPU, with or without AES instructions.
//!
//! A stored value reads `enc:v1:<kid>:<base64(nonce ‖ ciphertext)>`. The key
//! id lets a database hold values under an old and a new key while they are
//! rotated; the associated data names the table, column and row (and the
//! key id and version), so a value copied into another row or field does not
//! decrypt.

use std::{
    fmt,
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{
    StoreError,
    db::{Db, Dialect},
};

/// What every encrypted value starts with; anything else is a value written
/// before encryption existed (and is encrypted at the next start).
pub const PREFIX: &str = "enc:v1:";
const NONCE_LEN: usize = 24;

/// One 32-byte key and its id (derived from the key, so nothing else needs
/// configuring). Its `Debug` shows only the id.
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    key: [u8; 32],
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey").field("id", &self.id).finish()
    }
}

/// Why a key could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "a secret key must be 32 bytes written as base64 (44 characters) or hex (64 characters)"
    )]
    Malformed,
    #[error("cannot read the secret key file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("cannot create the secret key file {path}: {reason}")]
    Create { path: PathBuf, reason: String },
}

impl SecretKey {
    /// Reads a key written as base64 (standard or URL-safe, padded or not)
    /// or as hex; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex_decode(text)
        } else {
            use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        let key: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::Malformed)?;
        Ok(Self::from_bytes(key))
    }

    /// Reads a key from a file (as [`SecretKey::parse`]).
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text)
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        Self::from_bytes(key)
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"imhub secret key id\0")
            .chain_update(key)
            .finalize();
        let id = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        SecretKey { id, key }
    }

    /// The key's id, as it appears in stored values (safe to show).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key as base64, for writing a key file.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// Reads the key file at `path`, or creates one with a new key (mode
    /// 0600) when there is none; says which in the returned flag.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), KeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Ok((Self::parse(&text)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(KeyError::Read {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                });
            }
        }
        let key = Self::generate();
        let create = |e: std::io::Error| KeyError::Create {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        use std::io::Write;
        match options.open(path) {
            Ok(mut file) => {
                file.write_all(format!("{}\n", key.to_base64()).as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(create)?;
                Ok((key, true))
            }
            // Another process made it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((Self::from_file(path)?, false))
            }
            Err(e) => Err(create(e)),
        }
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The key file imhub makes beside a SQLite database when no key is
/// configured: `imhub.db` → `imhub.db.key`.
pub fn default_key_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_os_string();
    name.push(".key");
    PathBuf::from(name)
}

/// Where a stored value lives: table, column and row. It is the associated
/// data of the value's encryption, so a value moved elsewhere fails to open.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot<'a> {
    ChannelConfig {
        channel: i64,
    },
    ChannelState {
        channel: i64,
        key: &'a str,
    },
    WebhookSecret {
        subscription: i64,
    },
    /// An alert target's signing secret (alerts.rs).
    AlertTargetSecret {
        target: i64,
    },
}

impl Slot<'_> {
    fn associated_data(&self, kid: &str) -> Vec<u8> {
        let place = match self {
            Slot::ChannelConfig { channel } => format!("channels.config\0{channel}"),
            Slot::ChannelState { channel, key } => {
                format!("channel_state.value\0{channel}\0{key}")
            }
            Slot::WebhookSecret { subscription } => {
                format!("webhook_subscriptions.secret\0{subscription}")
            }
            Slot::AlertTargetSecret { target } => format!("alert_targets.secret\0{target}"),
        };
        format!("imhub\0v1\0{kid}\0{place}").into_bytes()
    }
}

/// The keys a store works with: the current one (every write) and older
/// ones that are only read, while a rotation moves values off them.
#[derive(Clone, Debug)]
pub struct KeyRing {
    current: SecretKey,
    old: Vec<SecretKey>,
}

impl KeyRing {
    /// A ring that writes with `current` and also reads values under `old`.
    pub fn new(current: SecretKey, old: Vec<SecretKey>) -> Self {
        KeyRing { current, old }
    }

    /// The id of the key every value is written with.
    pub fn current_id(&self) -> &str {
        self.current.id()
    }

    fn find(&self, kid: &str) -> Option<&SecretKey> {
        std::iter::once(&self.current)
            .chain(&self.old)
            .find(|k| k.id == kid)
    }

    /// Encrypts `plain` for `slot` under the current key.
    pub(crate) fn seal(&self, slot: Slot<'_>, plain: &str) -> Result<String, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let cipher = XChaCha20Poly1305::new((&self.current.key).into());
        let aad = slot.associated_data(&self.current.id);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| StoreError::Secrets("encryption failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}:{}",
            self.current.id,
            STANDARD.encode(bytes)
        ))
    }

    /// Decrypts a stored value of `slot`. A value without the prefix is
    /// plaintext from before encryption and is returned as it is, so a
    /// store keeps working between an upgrade and its first start's
    /// encryption pass (which runs before anything else reads).
    pub(crate) fn open(&self, slot: Slot<'_>, stored: &str) -> Result<String, StoreError> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let (kid, body) = rest
            .split_once(':')
            .ok_or_else(|| StoreError::Secrets("a stored secret is malformed".into()))?;
        let key = self.find(kid).ok_or_else(|| unknown_key(kid))?;
        let bytes = STANDARD
            .decode(body)
            .ok()
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or_else(|| StoreError::Secrets("a stored secret is malformed".into()))?;
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new((&key.key).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &slot.associated_data(kid),
                },
            )
            .map_err(|_| {
                StoreError::Secrets(format!(
                    "a stored secret does not decrypt with key {kid}: it was altered or \
                     belongs to another row"
                ))
            })?;
        String::from_utf8(plain)
            .map_err(|_| StoreError::Secrets("a stored secret is not UTF-8".into()))
    }

    /// Whether `stored` is already sealed under the current key.
    fn is_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(kid, _)| kid == self.current.id)
    }
}

fn unknown_key(kid: &str) -> StoreError {
    StoreError::Secrets(format!(
        "stored secrets are encrypted with key {kid}, which is not configured: configure that \
         key (secret_key / IMHUB_SECRET_KEY / IMHUB_SECRET_KEY_FILE), or give it as the old key \
         of `imhub secrets rotate`"
    ))
}

/// How many values [`seal_all`] wrote anew, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Plaintext values from before encryption, now encrypted.
    pub encrypted: u64,
    /// Values under an old key, now under the current one.
    pub rotated: u64,
}

/// Brings every stored secret under the ring's current key, in one
/// transaction: plaintext is encrypted, values under an old key are
/// re-encrypted, values under the current key are left alone (so a second
/// run changes nothing). Each update compares the old value, so nodes that
/// start together do not overwrite each other. A value under a key the ring
/// does not hold stops the start.
pub(crate) fn seal_all(db: &mut dyn Db, keys: &KeyRing) -> Result<Resealed, StoreError> {
    db.batch(match db.dialect() {
        Dialect::Sqlite => "BEGIN IMMEDIATE",
        Dialect::Postgres => "BEGIN",
    })?;
    match seal_all_in_transaction(db, keys) {
        Ok(done) => {
            db.batch("COMMIT")?;
            Ok(done)
        }
        Err(e) => {
            let _ = db.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn seal_all_in_transaction(db: &mut dyn Db, keys: &KeyRing) -> Result<Resealed, StoreError> {
    let mut done = Resealed::default();
    let mut reseal = |db: &mut dyn Db,
                      slot: Slot<'_>,
                      stored: &str,
                      update: &str,
                      row: Vec<crate::db::Value>|
     -> Result<(), StoreError> {
        if keys.is_current(stored) {
            return Ok(());
        }
        let plain = keys.open(slot, stored)?;
        let sealed = keys.seal(slot, &plain)?;
        let mut params = vec![sealed.into(), stored.into()];
        params.extend(row);
        if db.execute(update, &params)? > 0 {
            if stored.starts_with(PREFIX) {
                done.rotated += 1;
            } else {
                done.encrypted += 1;
            }
        }
        Ok(())
    };
    for row in db.query("SELECT id, config FROM channels ORDER BY id", &[])? {
        let (id, stored) = (row.int(0)?, row.text(1)?);
        reseal(
            db,
            Slot::ChannelConfig { channel: id },
            &stored,
            "UPDATE channels SET config = $1 WHERE config = $2 AND id = $3",
            vec![id.into()],
        )?;
    }
    for row in db.query(
        "SELECT channel_id, key, value FROM channel_state ORDER BY channel_id, key",
        &[],
    )? {
        let (channel, key, stored) = (row.int(0)?, row.text(1)?, row.text(2)?);
        reseal(
            db,
            Slot::ChannelState { channel, key: &key },
            &stored,
            "UPDATE channel_state SET value = $1 WHERE value = $2 AND channel_id = $3 AND key = $4",
            vec![channel.into(), key.as_str().into()],
        )?;
    }
    for row in db.query(
        "SELECT id, secret FROM webhook_subscriptions ORDER BY id",
        &[],
    )? {
        let (id, stored) = (row.int(0)?, row.text(1)?);
        reseal(
            db,
            Slot::WebhookSecret { subscription: id },
            &stored,
            "UPDATE webhook_subscriptions SET secret = $1 WHERE secret = $2 AND id = $3",
            vec![id.into()],
        )?;
    }
    // Alert targets (K3); '' is "no secret", nothing to seal.
    for row in db.query(
        "SELECT id, secret FROM alert_targets WHERE secret <> '' ORDER BY id",
        &[],
    )? {
        let (id, stored) = (row.int(0)?, row.text(1)?);
        reseal(
            db,
            Slot::AlertTargetSecret { target: id },
            &stored,
            "UPDATE alert_targets SET secret = $1 WHERE secret = $2 AND id = $3",
            vec![id.into()],
        )?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(SecretKey::generate(), Vec::new())
    }

    #[test]
    fn sealed_value_opens_in_its_slot_and_hides_the_plaintext() {
        let keys = ring();
        let slot = Slot::WebhookSecret { subscription: 7 };
        let sealed = keys.seal(slot, "whsec-plain").unwrap();
        assert!(sealed.starts_with(&format!("{PREFIX}{}:", keys.current_id())));
        assert!(!sealed.contains("whsec-plain"));
        assert_eq!(keys.open(slot, &sealed).unwrap(), "whsec-plain");
    }

    #[test]
    fn same_value_seals_differently_each_time() {
        let keys = ring();
        let slot = Slot::ChannelConfig { channel: 1 };
        assert_ne!(keys.seal(slot, "x").unwrap(), keys.seal(slot, "x").unwrap());
    }

    #[test]
    fn value_moved_to_another_row_or_field_does_not_open() {
        let keys = ring();
        let sealed = keys
            .seal(
                Slot::ChannelState {
                    channel: 1,
                    key: "douyin.client_token",
                },
                "t",
            )
            .unwrap();
        for other in [
            Slot::ChannelState {
                channel: 2,
                key: "douyin.client_token",
            },
            Slot::ChannelState {
                channel: 1,
                key: "other",
            },
            Slot::ChannelConfig { channel: 1 },
            Slot::WebhookSecret { subscription: 1 },
        ] {
            let err = keys.open(other, &sealed).unwrap_err();
            assert!(matches!(err, StoreError::Secrets(_)), "{err}");
        }
    }

    #[test]
    fn altered_or_malformed_values_are_refused() {
        let keys = ring();
        let slot = Slot::ChannelConfig { channel: 3 };
        let sealed = keys.seal(slot, "{\"secret\":\"s\"}").unwrap();
        let mut altered = sealed.clone().into_bytes();
        let last = altered.len() - 3;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        for bad in [
            altered.as_str(),
            "enc:v1:",
            "enc:v1:nokid",
            &format!("enc:v1:{}:!!!", keys.current_id()),
            &format!("enc:v1:{}:AAAA", keys.current_id()),
        ] {
            assert!(keys.open(slot, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_unknown_key_is_named_and_an_old_key_still_opens() {
        let old = ring();
        let slot = Slot::WebhookSecret { subscription: 1 };
        let sealed = old.seal(slot, "s").unwrap();
        let err = ring().open(slot, &sealed).unwrap_err().to_string();
        assert!(err.contains(old.current_id()), "{err}");
        let rotated = KeyRing::new(SecretKey::generate(), vec![old.current.clone()]);
        assert_eq!(rotated.open(slot, &sealed).unwrap(), "s");
    }

    #[test]
    fn plaintext_from_before_encryption_reads_as_it_is() {
        assert_eq!(
            ring()
                .open(Slot::ChannelConfig { channel: 1 }, "{\"a\":1}")
                .unwrap(),
            "{\"a\":1}"
        );
    }

    #[test]
    fn keys_parse_from_base64_and_hex_and_refuse_anything_else() {
        let key = SecretKey::generate();
        let hex: String = key.key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(SecretKey::parse(&key.to_base64()).unwrap().id(), key.id());
        assert_eq!(
            SecretKey::parse(&format!("  {hex}\n")).unwrap().id(),
            key.id()
        );
        for bad in ["", "short", &hex[..62], &STANDARD.encode([0u8; 31]), "zz"] {
            assert!(SecretKey::parse(bad).is_err(), "{bad}");
        }
        assert!(!format!("{key:?}").contains(&key.to_base64()));
    }

    #[test]
    fn key_file_is_created_once_with_owner_only_access() {
        let dir = std::env::temp_dir().join(format!("imhub-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = default_key_path(&dir.join("imhub.db"));
        assert!(path.ends_with("imhub.db.key"));
        let (first, created) = SecretKey::load_or_create(&path).unwrap();
        assert!(created);
        let (again, created) = SecretKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(first.id(), again.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            SecretKey::load_or_create(&path),
            Err(KeyError::Malformed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
