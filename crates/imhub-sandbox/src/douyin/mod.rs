//! The Douyin Open Platform emulator: OAuth (authorize page, client_token,
//! access/refresh/renew), private and group messages, recall, fan groups,
//! lead cards, guide-card templates, image upload and message resources, with
//! the reference's paths, envelopes, field names, token lifetimes and error
//! codes — plus simulated customers who push signed webhooks.
//!
//! Everything is in memory behind one mutex; [`DouyinSandbox`] is cheap to
//! clone and lets tests inspect what the platform received.

mod api;
mod customer;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use base64::Engine;
use rand::Rng;
use serde_json::Value;

pub use api::{UNVERIFIED_REPLY_WINDOW_CODE, router};
pub use customer::{CustomerMessage, Delivery, PushFailure, SimulatedCustomer};

/// access_token lifetime: 15 days.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 15 * 24 * 3600;
/// refresh_token lifetime: 30 days.
pub const REFRESH_TOKEN_TTL_SECS: i64 = 30 * 24 * 3600;
/// client_token lifetime: 2 hours.
pub const CLIENT_TOKEN_TTL_SECS: i64 = 7200;
/// A replaced client_token stays valid this long.
pub const CLIENT_TOKEN_GRACE_SECS: i64 = 300;
/// An authorization code lives 10 minutes and is single use.
pub const CODE_TTL_SECS: i64 = 600;
/// A reply's msg_id is valid 24 hours.
pub const REPLY_WINDOW_SECS: i64 = 24 * 3600;
/// refresh_token renewals allowed.
pub const MAX_RENEWALS: u32 = 5;
/// Fan-group creation quota of a new account.
pub const DEFAULT_FANS_QUOTA: i64 = 3;

/// How a customer message was produced (decides what a reply may quote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerMessageKind {
    /// `im_receive_msg`
    Direct,
    /// `im_enter_direct_msg`
    EnterChat,
    /// `im_group_receive_msg`
    Group,
}

/// A message a simulated customer pushed, as the platform remembers it.
#[derive(Debug, Clone)]
pub struct CustomerMessageRecord {
    pub server_message_id: String,
    pub conversation_id: String,
    pub account_open_id: String,
    pub customer_open_id: String,
    pub kind: CustomerMessageKind,
    pub message_type: String,
    pub created_at_ms: i64,
}

/// A message the platform accepted from the API, in arrival order.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The id send returned.
    pub msg_id: String,
    /// The sending enterprise account.
    pub account_open_id: String,
    /// The customer (private messages).
    pub to_user_id: Option<String>,
    /// The group (group messages).
    pub group_id: Option<String>,
    /// The conversation (`conversation_id`, or the group id).
    pub conversation_id: String,
    /// The `msg_id` the reply quoted.
    pub reply_to: Option<String>,
    pub scene: Option<String>,
    /// The `content` object as received (or each of `content_list`).
    pub contents: Vec<Value>,
    pub at_ms: i64,
    pub recalled: bool,
}

/// A recall the platform accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallRecord {
    pub account_open_id: String,
    pub msg_id: String,
    pub conversation_id: String,
    pub conversation_type: i64,
}

/// A fan group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRecord {
    pub group_id: String,
    pub group_token: String,
    pub owner_open_id: String,
    pub group_name: String,
    pub description: String,
    pub avatar_uri: String,
    pub group_type: i64,
    pub open_audit_switch: i64,
    /// `group_setting_type` (1 welcome, 2 notice) → `msg_list`.
    pub settings: BTreeMap<i64, Vec<Value>>,
    pub members: Vec<String>,
}

/// A join request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyRecord {
    pub apply_id: String,
    pub group_id: String,
    pub user_id: String,
    /// 1 pending, 2 approved, 3 rejected.
    pub apply_status: i64,
    pub create_time_ms: i64,
}

/// An uploaded image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    pub image_id: String,
    pub client_key: String,
    pub bytes: usize,
    pub md5: String,
}

/// A lead card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadCardRecord {
    pub card_id: String,
    pub account_open_id: String,
    pub title: String,
    pub media_id: String,
    pub components: Vec<i64>,
}

/// A guide-card template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    pub card_template_id: String,
    pub client_key: String,
    pub card_type: i64,
    pub title: String,
    pub content: String,
    pub media_id: String,
    pub app_id: String,
    pub status: i64,
    pub create_time: i64,
    pub update_time: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    pub client_secret: String,
    pub webhook_url: Option<String>,
    pub renew_permission: bool,
    pub client_token_calls: Vec<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct AccountRec {
    pub nickname: String,
    pub avatar: Option<String>,
    pub fans_quota: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct CustomerRec {
    pub nickname: Option<String>,
    pub avatar: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_key: String,
    pub open_id: String,
    pub scopes: Vec<String>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeRec {
    pub client_key: String,
    pub open_id: String,
    pub scopes: Vec<String>,
    pub expires_ms: i64,
    pub used: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct TokenRec {
    /// Index into `grants`.
    pub grant: usize,
    pub expires_ms: i64,
    pub valid: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefreshRec {
    pub grant: usize,
    pub expires_ms: i64,
    pub valid: bool,
    pub renewals: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct ClientTokenRec {
    pub client_key: String,
    pub expires_ms: i64,
    /// Set when a newer token replaced it: valid 5 more minutes.
    pub replaced_at_ms: Option<i64>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub apps: HashMap<String, App>,
    pub accounts: HashMap<String, AccountRec>,
    pub customers: HashMap<String, CustomerRec>,
    pub grants: Vec<Grant>,
    pub codes: HashMap<String, CodeRec>,
    pub access_tokens: HashMap<String, TokenRec>,
    pub refresh_tokens: HashMap<String, RefreshRec>,
    pub client_tokens: HashMap<String, ClientTokenRec>,
    pub conversations: HashMap<(String, String), String>,
    pub customer_messages: HashMap<String, CustomerMessageRecord>,
    pub sent: Vec<SentMessage>,
    pub recalls: Vec<RecallRecord>,
    pub groups: BTreeMap<String, GroupRecord>,
    pub applies: Vec<ApplyRecord>,
    pub images: HashMap<String, ImageRecord>,
    pub lead_cards: BTreeMap<String, LeadCardRecord>,
    pub templates: BTreeMap<String, TemplateRecord>,
    /// (account, customer, day) → active-DM sends that day.
    pub active_dm: HashMap<(String, String, i64), u32>,
    pub scanning_account: Option<String>,
    pub clock_offset_ms: i64,
    pub echo_sends: bool,
    pub seq: u64,
}

impl State {
    pub(crate) fn now_ms(&self) -> i64 {
        imhub_core::Timestamp::now().millis() + self.clock_offset_ms
    }

    /// An opaque `@…==` id like the platform's message, conversation, group
    /// and apply ids (`@9VwNxuKK…Z/j660…+9AMw==` in the official samples):
    /// standard base64 that always holds a `/`, a `+` and the `==` padding,
    /// so an id put into a URL without encoding breaks visibly.
    pub(crate) fn opaque_id(&mut self) -> String {
        self.seq += 1;
        // 16 bytes encode to 22 characters plus `==`.
        let mut bytes = [0u8; 16];
        rand::rng().fill(&mut bytes[..]);
        bytes[..8].copy_from_slice(&self.seq.to_be_bytes());
        let mut id: Vec<u8> = base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into_bytes();
        // Characters 12 and 18 carry only random bits (the sequence number
        // sits in the first 11), so setting them keeps ids unique.
        id[12] = b'+';
        id[18] = b'/';
        format!("@{}", String::from_utf8_lossy(&id))
    }

    /// A token with the documented prefix.
    pub(crate) fn token(&mut self, prefix: &str) -> String {
        self.seq += 1;
        let mut bytes = [0u8; 16];
        rand::rng().fill(&mut bytes[..]);
        format!("{prefix}{}{}", self.seq, hex::encode(bytes))
    }

    pub(crate) fn conversation(&mut self, account: &str, customer: &str) -> String {
        let key = (account.to_string(), customer.to_string());
        if let Some(c) = self.conversations.get(&key) {
            return c.clone();
        }
        let id = self.opaque_id();
        self.conversations.insert(key, id.clone());
        id
    }

    /// Issues fresh access and refresh tokens for a grant.
    pub(crate) fn issue(&mut self, grant: usize) -> (String, String) {
        let now = self.now_ms();
        let access = self.token("act.");
        let refresh = self.token("rft.");
        self.access_tokens.insert(
            access.clone(),
            TokenRec {
                grant,
                expires_ms: now + ACCESS_TOKEN_TTL_SECS * 1000,
                valid: true,
            },
        );
        self.refresh_tokens.insert(
            refresh.clone(),
            RefreshRec {
                grant,
                expires_ms: now + REFRESH_TOKEN_TTL_SECS * 1000,
                valid: true,
                renewals: 0,
            },
        );
        (access, refresh)
    }
}

/// Tokens the sandbox issued directly (skipping the QR page).
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub open_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub refresh_expires_in: i64,
}

/// The emulated platform; clone it freely, all clones share one state.
#[derive(Clone)]
pub struct DouyinSandbox {
    pub(crate) inner: Arc<Mutex<State>>,
    pub(crate) http: reqwest::Client,
}

impl Default for DouyinSandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for DouyinSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DouyinSandbox").finish_non_exhaustive()
    }
}

impl DouyinSandbox {
    /// An empty platform: no apps, accounts or customers yet.
    pub fn new() -> Self {
        let state = State {
            echo_sends: true,
            ..State::default()
        };
        DouyinSandbox {
            inner: Arc::new(Mutex::new(state)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // Handlers never panic while holding the lock in a way that leaves
        // state half-written, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a 网站应用 (client_key + client_secret), with the
    /// `renew_refresh_token` permission.
    pub fn add_app(&self, client_key: &str, client_secret: &str) {
        self.lock().apps.insert(
            client_key.to_string(),
            App {
                client_secret: client_secret.to_string(),
                webhook_url: None,
                renew_permission: true,
                client_token_calls: Vec::new(),
            },
        );
    }

    /// Grants or withdraws the app's `renew_refresh_token` permission.
    pub fn set_renew_permission(&self, client_key: &str, allowed: bool) {
        if let Some(a) = self.lock().apps.get_mut(client_key) {
            a.renew_permission = allowed;
        }
    }

    /// Sets the app's webhook URL (where customers and API echoes push).
    pub fn set_webhook_url(&self, client_key: &str, url: &str) {
        if let Some(a) = self.lock().apps.get_mut(client_key) {
            a.webhook_url = Some(url.to_string());
        }
    }

    /// Whether API sends are echoed as `im_send_msg` pushes (default on).
    pub fn set_echo_sends(&self, on: bool) {
        self.lock().echo_sends = on;
    }

    /// Registers an enterprise account (企业号) that can scan the QR code.
    pub fn add_account(&self, open_id: &str, nickname: &str) {
        let mut s = self.lock();
        s.accounts.insert(
            open_id.to_string(),
            AccountRec {
                nickname: nickname.to_string(),
                avatar: Some(format!("https://p3.douyinpic.example/{open_id}.jpeg")),
                fans_quota: DEFAULT_FANS_QUOTA,
            },
        );
        if s.scanning_account.is_none() {
            s.scanning_account = Some(open_id.to_string());
        }
    }

    /// Registers a customer; `None` nickname/avatar are left out of pushes.
    pub fn add_customer(&self, open_id: &str, nickname: Option<&str>, avatar: Option<&str>) {
        self.lock().customers.insert(
            open_id.to_string(),
            CustomerRec {
                nickname: nickname.map(str::to_string),
                avatar: avatar.map(str::to_string),
            },
        );
    }

    /// Chooses which account "scans" the QR code on the authorize page.
    pub fn set_scanning_account(&self, open_id: &str) {
        self.lock().scanning_account = Some(open_id.to_string());
    }

    /// Issues tokens for an account as if it had scanned the QR code.
    pub fn authorize_directly(
        &self,
        client_key: &str,
        open_id: &str,
        scopes: &[&str],
    ) -> IssuedTokens {
        let mut s = self.lock();
        s.grants.push(Grant {
            client_key: client_key.to_string(),
            open_id: open_id.to_string(),
            scopes: scopes.iter().map(|x| x.to_string()).collect(),
            revoked: false,
        });
        let g = s.grants.len() - 1;
        let (access_token, refresh_token) = s.issue(g);
        IssuedTokens {
            open_id: open_id.to_string(),
            access_token,
            refresh_token,
            expires_in: ACCESS_TOKEN_TTL_SECS,
            refresh_expires_in: REFRESH_TOKEN_TTL_SECS,
        }
    }

    /// Moves the platform's clock forward (token and reply-window expiry).
    pub fn advance_clock(&self, by: Duration) {
        self.lock().clock_offset_ms += by.as_millis() as i64;
    }

    /// Expires every access_token of an account now (refresh still works).
    pub fn expire_access_tokens(&self, open_id: &str) {
        let mut s = self.lock();
        let now = s.now_ms();
        let grants: Vec<usize> = grants_of(&s, open_id);
        for t in s.access_tokens.values_mut() {
            if grants.contains(&t.grant) {
                t.expires_ms = t.expires_ms.min(now - 1);
            }
        }
    }

    /// Expires every refresh_token of an account now (10010 from then on).
    pub fn expire_refresh_tokens(&self, open_id: &str) {
        let mut s = self.lock();
        let now = s.now_ms();
        let grants: Vec<usize> = grants_of(&s, open_id);
        for t in s.refresh_tokens.values_mut() {
            if grants.contains(&t.grant) {
                t.expires_ms = t.expires_ms.min(now - 1);
            }
        }
    }

    /// The user revokes the app in 授权管理: every token dies at once.
    pub fn revoke(&self, open_id: &str) {
        let mut s = self.lock();
        for g in s.grants.iter_mut().filter(|g| g.open_id == open_id) {
            g.revoked = true;
        }
    }

    /// Sets an account's remaining fan-group creation quota.
    pub fn set_fans_quota(&self, open_id: &str, left: i64) {
        if let Some(a) = self.lock().accounts.get_mut(open_id) {
            a.fans_quota = left;
        }
    }

    /// Creates a fan group directly (as if made in the app).
    pub fn add_group(&self, owner_open_id: &str, group_name: &str) -> String {
        let mut s = self.lock();
        let group_id = s.opaque_id();
        let group_token = s.token("CgYIASAH");
        s.groups.insert(
            group_id.clone(),
            GroupRecord {
                group_id: group_id.clone(),
                group_token,
                owner_open_id: owner_open_id.to_string(),
                group_name: group_name.to_string(),
                description: String::new(),
                avatar_uri: String::new(),
                group_type: 2,
                open_audit_switch: 1,
                settings: BTreeMap::new(),
                members: Vec::new(),
            },
        );
        group_id
    }

    /// A user asks to join a group; returns the `apply_id` (opaque, in the
    /// `@…==` shape of the official sample).
    pub fn add_join_request(&self, group_id: &str, user_open_id: &str) -> String {
        let mut s = self.lock();
        let apply_id = s.opaque_id();
        let now = s.now_ms();
        s.applies.push(ApplyRecord {
            apply_id: apply_id.clone(),
            group_id: group_id.to_string(),
            user_id: user_open_id.to_string(),
            apply_status: 1,
            create_time_ms: now,
        });
        apply_id
    }

    /// Messages the platform accepted from an account, in order.
    pub fn sent_messages(&self, account_open_id: &str) -> Vec<SentMessage> {
        self.lock()
            .sent
            .iter()
            .filter(|m| m.account_open_id == account_open_id)
            .cloned()
            .collect()
    }

    /// Every accepted recall, in order.
    pub fn recalls(&self) -> Vec<RecallRecord> {
        self.lock().recalls.clone()
    }

    /// The fan groups an account owns.
    pub fn groups(&self, owner_open_id: &str) -> Vec<GroupRecord> {
        self.lock()
            .groups
            .values()
            .filter(|g| g.owner_open_id == owner_open_id)
            .cloned()
            .collect()
    }

    /// Join requests of a group.
    pub fn join_requests(&self, group_id: &str) -> Vec<ApplyRecord> {
        self.lock()
            .applies
            .iter()
            .filter(|a| a.group_id == group_id)
            .cloned()
            .collect()
    }

    /// Uploaded images.
    pub fn images(&self) -> Vec<ImageRecord> {
        self.lock().images.values().cloned().collect()
    }

    /// An account's lead cards.
    pub fn lead_cards(&self, account_open_id: &str) -> Vec<LeadCardRecord> {
        self.lock()
            .lead_cards
            .values()
            .filter(|c| c.account_open_id == account_open_id)
            .cloned()
            .collect()
    }

    /// Guide-card templates.
    pub fn templates(&self) -> Vec<TemplateRecord> {
        self.lock().templates.values().cloned().collect()
    }

    /// Messages customers pushed, by `server_message_id`.
    pub fn customer_message(&self, server_message_id: &str) -> Option<CustomerMessageRecord> {
        self.lock()
            .customer_messages
            .get(server_message_id)
            .cloned()
    }

    /// How many client_token calls an app made (to check caching).
    pub fn client_token_calls(&self, client_key: &str) -> usize {
        self.lock()
            .apps
            .get(client_key)
            .map(|a| a.client_token_calls.len())
            .unwrap_or(0)
    }
}

fn grants_of(s: &State, open_id: &str) -> Vec<usize> {
    s.grants
        .iter()
        .enumerate()
        .filter(|(_, g)| g.open_id == open_id)
        .map(|(i, _)| i)
        .collect()
}
