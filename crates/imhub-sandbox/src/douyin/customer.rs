//! Simulated Douyin customers: they write to an enterprise account (direct
//! and in groups, every webhook `message_type`), open the chat page, and the
//! platform pushes each event to the app's webhook URL signed with
//! `X-Douyin-Signature` = SHA-1(client_secret ‖ body) and a `Msg-Id` header.
//! Also the echo of API sends (`im_send_msg` with `source` = client_key),
//! duplicate deliveries and a wrong-signature variant for tests.

use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::{CustomerMessageKind, CustomerMessageRecord, DouyinSandbox, State};

/// What a customer sends.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerMessage {
    Text(String),
    /// A picture from the app (no URL is delivered).
    Image,
    /// A picture from the phone's album (fetchable via message resources).
    UserLocalImage,
    /// An animated sticker.
    Emoji {
        url: String,
    },
    /// A shared Douyin video.
    Video {
        item_id: String,
    },
    /// A video from the phone (fetchable via message resources).
    UserLocalVideo,
    /// A filled-in lead card: label/value pairs such as 姓名/手机号.
    LeadCardSubmission {
        card_id: String,
        fields: Vec<(String, String)>,
    },
    /// An unsupported type, with the platform's placeholder text.
    Other,
}

impl CustomerMessage {
    fn message_type(&self) -> &'static str {
        match self {
            CustomerMessage::Text(_) => "text",
            CustomerMessage::Image => "image",
            CustomerMessage::UserLocalImage => "user_local_image",
            CustomerMessage::Emoji { .. } => "emoji",
            CustomerMessage::Video { .. } => "video",
            CustomerMessage::UserLocalVideo => "user_local_video",
            CustomerMessage::LeadCardSubmission { .. } => "retain_consult_card",
            CustomerMessage::Other => "other",
        }
    }

    fn fill(&self, c: &mut Value) {
        match self {
            CustomerMessage::Text(t) => c["text"] = json!(t),
            CustomerMessage::Emoji { url } => {
                c["resource_type"] = json!("gif");
                c["resource_url"] = json!(url);
                c["resource_width"] = json!(240);
                c["resource_height"] = json!(240);
            }
            CustomerMessage::Video { item_id } => c["item_id"] = json!(item_id),
            CustomerMessage::LeadCardSubmission { card_id, fields } => {
                c["card_id"] = json!(card_id);
                c["card_status"] = json!(2);
                c["card_data"] = Value::Array(
                    fields
                        .iter()
                        .map(|(l, v)| json!({"label": l, "value": v}))
                        .collect(),
                );
            }
            CustomerMessage::Other => c["text"] = json!("你收到一条新消息，请打开抖音app查看"),
            CustomerMessage::Image
            | CustomerMessage::UserLocalImage
            | CustomerMessage::UserLocalVideo => {}
        }
    }
}

/// One push as delivered, with imhub's answer.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The `Msg-Id` header.
    pub msg_id: String,
    /// `content.server_message_id`, for message and enter events.
    pub server_message_id: Option<String>,
    /// `content.conversation_short_id`, for message and enter events.
    pub conversation_id: Option<String>,
    /// The exact body that was signed and sent.
    pub body: Vec<u8>,
    /// The `X-Douyin-Signature` header sent.
    pub signature: String,
    /// imhub's HTTP status.
    pub status: u16,
    /// imhub's answer body.
    pub response: Vec<u8>,
}

/// Why a push could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum PushFailure {
    #[error("app {0} is unknown to the sandbox")]
    UnknownApp(String),
    #[error("app {0} has no webhook URL")]
    NoWebhook(String),
    #[error("webhook request failed: {0}")]
    Http(String),
}

/// SHA-1 of secret followed by the body, lowercase hex (implemented here
/// independently of the adapter so a shared bug cannot hide).
fn sign(secret: &str, body: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(secret.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

pub(crate) struct Prepared {
    url: String,
    body: Vec<u8>,
    signature: String,
    msg_id: String,
    server_message_id: Option<String>,
    conversation_id: Option<String>,
}

fn target(s: &State, client_key: &str) -> Result<(String, String), PushFailure> {
    let app = s
        .apps
        .get(client_key)
        .ok_or_else(|| PushFailure::UnknownApp(client_key.to_string()))?;
    let url = app
        .webhook_url
        .clone()
        .ok_or_else(|| PushFailure::NoWebhook(client_key.to_string()))?;
    Ok((url, app.client_secret.clone()))
}

fn user_infos(s: &State, ids: &[&str]) -> Value {
    Value::Array(
        ids.iter()
            .filter(|id| !id.is_empty())
            .map(|id| {
                let mut u = json!({ "open_id": id });
                if let Some(a) = s.accounts.get(*id) {
                    u["nick_name"] = json!(a.nickname);
                    if let Some(av) = &a.avatar {
                        u["avatar"] = json!(av);
                    }
                } else if let Some(c) = s.customers.get(*id) {
                    if let Some(n) = &c.nickname {
                        u["nick_name"] = json!(n);
                    }
                    if let Some(av) = &c.avatar {
                        u["avatar"] = json!(av);
                    }
                }
                u
            })
            .collect(),
    )
}

/// Builds the envelope; `content` goes out as a JSON string or an object.
fn envelope(
    event: &str,
    client_key: &str,
    from: &str,
    to: &str,
    content: Value,
    as_string: bool,
    log_id: &str,
) -> Vec<u8> {
    let content = if as_string {
        Value::String(content.to_string())
    } else {
        content
    };
    json!({"event": event, "client_key": client_key, "from_user_id": from,
           "to_user_id": to, "content": content, "log_id": log_id})
    .to_string()
    .into_bytes()
}

async fn post(sb: &DouyinSandbox, p: Prepared) -> Result<Delivery, PushFailure> {
    let resp = sb
        .http
        .post(&p.url)
        .header("content-type", "application/json")
        .header("X-Douyin-Signature", &p.signature)
        .header("Msg-Id", &p.msg_id)
        .body(p.body.clone())
        .send()
        .await
        .map_err(|e| PushFailure::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    let response = resp
        .bytes()
        .await
        .map_err(|e| PushFailure::Http(e.to_string()))?
        .to_vec();
    Ok(Delivery {
        msg_id: p.msg_id,
        server_message_id: p.server_message_id,
        conversation_id: p.conversation_id,
        body: p.body,
        signature: p.signature,
        status,
        response,
    })
}

/// A customer of one enterprise account on one app.
#[derive(Debug, Clone)]
pub struct SimulatedCustomer {
    sandbox: DouyinSandbox,
    client_key: String,
    account: String,
    open_id: String,
    content_as_string: bool,
}

impl DouyinSandbox {
    /// A customer writing to `account_open_id` through app `client_key`
    /// (registered as a nameless customer if unknown).
    pub fn customer(
        &self,
        client_key: &str,
        account_open_id: &str,
        customer_open_id: &str,
    ) -> SimulatedCustomer {
        {
            let mut s = self.lock();
            s.customers
                .entry(customer_open_id.to_string())
                .or_insert(super::CustomerRec {
                    nickname: None,
                    avatar: None,
                });
        }
        SimulatedCustomer {
            sandbox: self.clone(),
            client_key: client_key.to_string(),
            account: account_open_id.to_string(),
            open_id: customer_open_id.to_string(),
            // The im_receive_msg / im_send_msg doc pages and R-SKIT's group
            // sample carry `content` as an object ("content struct"); a JSON
            // string is the other documented form (with_string_content).
            content_as_string: false,
        }
    }

    /// Delivers a push again, byte for byte with the same `Msg-Id` (the
    /// platform's retry, which imhub must store once).
    pub async fn redeliver(&self, d: &Delivery, client_key: &str) -> Result<Delivery, PushFailure> {
        let url = target(&self.lock(), client_key)?.0;
        post(
            self,
            Prepared {
                url,
                body: d.body.clone(),
                signature: d.signature.clone(),
                msg_id: d.msg_id.clone(),
                server_message_id: d.server_message_id.clone(),
                conversation_id: d.conversation_id.clone(),
            },
        )
        .await
    }

    /// Re-sends a captured push byte for byte (same body, same signature)
    /// under another `Msg-Id`: the header is not signed, so anyone who saw
    /// a push can do this, and imhub must still treat it as a duplicate.
    pub async fn resend_with_new_msg_id(
        &self,
        d: &Delivery,
        client_key: &str,
    ) -> Result<Delivery, PushFailure> {
        let (url, msg_id) = {
            let mut s = self.lock();
            (target(&s, client_key)?.0, s.token(""))
        };
        post(
            self,
            Prepared {
                url,
                body: d.body.clone(),
                signature: d.signature.clone(),
                msg_id,
                server_message_id: d.server_message_id.clone(),
                conversation_id: d.conversation_id.clone(),
            },
        )
        .await
    }

    /// The URL-verification handshake push.
    pub async fn push_verify_webhook(
        &self,
        client_key: &str,
        challenge: i64,
    ) -> Result<Delivery, PushFailure> {
        let p = {
            let mut s = self.lock();
            let (url, secret) = target(&s, client_key)?;
            let body = json!({"event": "verify_webhook", "client_key": client_key,
                              "content": {"challenge": challenge}})
            .to_string()
            .into_bytes();
            let msg_id = s.token("");
            Prepared {
                url,
                signature: sign(&secret, &body),
                body,
                msg_id,
                server_message_id: None,
                conversation_id: None,
            }
        };
        post(self, p).await
    }

    /// An `authorize`/`unauthorize`/`contract_*` push for an account; an
    /// unauthorize also revokes the account's tokens, as the platform does.
    pub async fn push_authorization(
        &self,
        client_key: &str,
        open_id: &str,
        event: &str,
        scopes: &[&str],
    ) -> Result<Delivery, PushFailure> {
        if event.ends_with("unauthorize") {
            self.revoke(open_id);
        }
        let p = {
            let mut s = self.lock();
            let (url, secret) = target(&s, client_key)?;
            let log_id = s.token("");
            let body = envelope(
                event,
                client_key,
                open_id,
                "",
                json!({"scopes": scopes}),
                false,
                &log_id,
            );
            let msg_id = s.token("");
            Prepared {
                url,
                signature: sign(&secret, &body),
                body,
                msg_id,
                server_message_id: None,
                conversation_id: None,
            }
        };
        post(self, p).await
    }
}

/// The `im_send_msg` / `im_group_send_msg` echo of an API send.
#[derive(Debug, Clone)]
pub(crate) struct Echo {
    pub client_key: String,
    pub account: String,
    pub peer: String,
    pub group: bool,
    pub server_message_id: String,
    pub conversation_id: String,
    pub content: Value,
    pub message_type: &'static str,
    pub at_ms: i64,
}

/// Pushes the echo in the background when the app has a webhook URL.
pub(crate) fn spawn_echo(sb: &DouyinSandbox, e: Echo) {
    let p = {
        let mut s = sb.lock();
        let Ok((url, secret)) = target(&s, &e.client_key) else {
            return;
        };
        let mut c = json!({
            "conversation_short_id": e.conversation_id, "server_message_id": e.server_message_id,
            "conversation_type": if e.group { 2 } else { 1 }, "message_type": e.message_type,
            "source": e.client_key, "create_time": e.at_ms,
            "user_infos": user_infos(&s, &[&e.account, &e.peer]),
        });
        if let Some(t) = e.content.pointer("/text/text") {
            c["text"] = t.clone();
        }
        if e.group {
            c["owner_id"] = json!(e.account);
        }
        let event = if e.group {
            "im_group_send_msg"
        } else {
            "im_send_msg"
        };
        let log_id = s.token("");
        // Echoes carry `content` as an object, as the im_send_msg page shows.
        let body = envelope(event, &e.client_key, &e.account, &e.peer, c, false, &log_id);
        let msg_id = s.token("");
        Prepared {
            url,
            signature: sign(&secret, &body),
            body,
            msg_id,
            server_message_id: Some(e.server_message_id),
            conversation_id: Some(e.conversation_id),
        }
    };
    let sb = sb.clone();
    tokio::spawn(async move {
        if let Err(err) = post(&sb, p).await {
            tracing::debug!(error = %err, "douyin sandbox echo push failed");
        }
    });
}

impl SimulatedCustomer {
    /// Sends `content` as an object (the default for message events).
    pub fn with_object_content(mut self) -> Self {
        self.content_as_string = false;
        self
    }

    /// Sends message `content` as a JSON string instead (both occur; the
    /// enter-chat event always carries a string).
    pub fn with_string_content(mut self) -> Self {
        self.content_as_string = true;
        self
    }

    /// The customer's open_id.
    pub fn open_id(&self) -> &str {
        &self.open_id
    }

    fn prepare(
        &self,
        kind: CustomerMessageKind,
        msg: Option<&CustomerMessage>,
        group_id: Option<&str>,
        wrong_secret: bool,
    ) -> Result<Prepared, PushFailure> {
        let mut s = self.sandbox.lock();
        let (url, secret) = target(&s, &self.client_key)?;
        let now = s.now_ms();
        let server_message_id = s.opaque_id();
        let conversation_id = match group_id {
            Some(g) => g.to_string(),
            None => s.conversation(&self.account, &self.open_id),
        };
        let message_type = msg.map(CustomerMessage::message_type).unwrap_or("");
        let mut c = json!({
            "conversation_short_id": conversation_id, "server_message_id": server_message_id,
            "conversation_type": if group_id.is_some() { 2 } else { 1 },
            "create_time": now, "source": "",
            "index": format!("{}0000", now),
            "user_infos": user_infos(&s, &[&self.open_id, &self.account]),
        });
        let event = match kind {
            CustomerMessageKind::Direct => "im_receive_msg",
            CustomerMessageKind::Group => "im_group_receive_msg",
            CustomerMessageKind::EnterChat => "im_enter_direct_msg",
        };
        match (kind, msg) {
            (CustomerMessageKind::EnterChat, _) => {
                c["scene_type"] = json!(4);
                c["objectId"] = json!("");
                c["data-im-extra"] = json!("");
            }
            (_, Some(m)) => {
                c["message_type"] = json!(message_type);
                c["scene_type"] = json!(100);
                m.fill(&mut c);
                if kind == CustomerMessageKind::Group {
                    let owner = s
                        .groups
                        .get(&conversation_id)
                        .map(|g| g.owner_open_id.clone());
                    c["owner_id"] = json!(owner.unwrap_or_else(|| self.account.clone()));
                }
            }
            (_, None) => {}
        }
        s.customer_messages.insert(
            server_message_id.clone(),
            CustomerMessageRecord {
                server_message_id: server_message_id.clone(),
                conversation_id: conversation_id.clone(),
                account_open_id: self.account.clone(),
                customer_open_id: self.open_id.clone(),
                kind,
                message_type: message_type.to_string(),
                created_at_ms: now,
            },
        );
        let log_id = s.token("");
        let as_string = self.content_as_string || kind == CustomerMessageKind::EnterChat;
        let body = envelope(
            event,
            &self.client_key,
            &self.open_id,
            &self.account,
            c,
            as_string,
            &log_id,
        );
        let secret = if wrong_secret {
            format!("{secret}-wrong")
        } else {
            secret
        };
        let msg_id = s.token("");
        Ok(Prepared {
            url,
            signature: sign(&secret, &body),
            body,
            msg_id,
            server_message_id: Some(server_message_id),
            conversation_id: Some(conversation_id),
        })
    }

    /// A private message (`im_receive_msg`).
    pub async fn send(&self, msg: CustomerMessage) -> Result<Delivery, PushFailure> {
        let p = self.prepare(CustomerMessageKind::Direct, Some(&msg), None, false)?;
        post(&self.sandbox, p).await
    }

    /// Opens the chat page (`im_enter_direct_msg`, content always a JSON string).
    pub async fn enter_chat(&self) -> Result<Delivery, PushFailure> {
        let p = self.prepare(CustomerMessageKind::EnterChat, None, None, false)?;
        post(&self.sandbox, p).await
    }

    /// A message in a fan group (`im_group_receive_msg`).
    pub async fn send_in_group(
        &self,
        group_id: &str,
        msg: CustomerMessage,
    ) -> Result<Delivery, PushFailure> {
        let p = self.prepare(
            CustomerMessageKind::Group,
            Some(&msg),
            Some(group_id),
            false,
        )?;
        post(&self.sandbox, p).await
    }

    /// A private message signed with the wrong secret (must be refused).
    pub async fn send_with_wrong_signature(
        &self,
        msg: CustomerMessage,
    ) -> Result<Delivery, PushFailure> {
        let p = self.prepare(CustomerMessageKind::Direct, Some(&msg), None, true)?;
        post(&self.sandbox, p).await
    }
}

/// A signed push of any event, ready to post.
fn prepare_event(
    s: &mut State,
    client_key: &str,
    event: &str,
    from: &str,
    to: &str,
    content: Value,
) -> Result<Prepared, PushFailure> {
    let (url, secret) = target(s, client_key)?;
    let log_id = s.token("");
    // Fan-group event content is documented as a JSON string (§7.4).
    let body = envelope(event, client_key, from, to, content, true, &log_id);
    let msg_id = s.token("");
    Ok(Prepared {
        url,
        signature: sign(&secret, &body),
        body,
        msg_id,
        server_message_id: None,
        conversation_id: None,
    })
}

/// `enter_group_audit_change` for one join request as it stands now
/// (reference §8.8): from the applicant to the group owner.
pub(crate) fn join_request_push(
    s: &mut State,
    client_key: &str,
    apply_id: &str,
) -> Result<Prepared, PushFailure> {
    let a = s
        .applies
        .iter()
        .find(|a| a.apply_id == apply_id)
        .cloned()
        .ok_or_else(|| PushFailure::Http(format!("no join request {apply_id}")))?;
    let owner = s
        .groups
        .get(&a.group_id)
        .map(|g| g.owner_open_id.clone())
        .unwrap_or_default();
    let applicant = s.customers.get(&a.user_id).cloned();
    let content = json!({
        "create_time": a.create_time_ms,
        "user_avatar": applicant.as_ref().and_then(|c| c.avatar.clone()).unwrap_or_default(),
        "user_nicker": applicant.and_then(|c| c.nickname).unwrap_or_default(),
        "apply_status": a.apply_status,
        "apply_id": a.apply_id,
        "group_id": a.group_id,
    });
    prepare_event(
        s,
        client_key,
        "enter_group_audit_change",
        &a.user_id,
        &owner,
        content,
    )
}

/// `group_fans_event` for a fan who joined (reference §8.8): from the fan
/// to the owner, `group_type` 1 (加群), `create_group_type` a string.
pub(crate) fn fan_joined_push(
    s: &mut State,
    client_key: &str,
    group_id: &str,
    fan: &str,
) -> Result<Prepared, PushFailure> {
    let (owner, kind) = s
        .groups
        .get(group_id)
        .map(|g| (g.owner_open_id.clone(), g.group_type))
        .ok_or_else(|| PushFailure::Http(format!("no group {group_id}")))?;
    let now = s.now_ms();
    let content = json!({
        "open_id": owner, "im_group_id": group_id, "group_type": 1,
        "create_time": now, "create_group_type": kind.to_string(),
    });
    prepare_event(s, client_key, "group_fans_event", fan, &owner, content)
}

/// Posts pushes one after the other in the background (decisions made
/// through the API, whose answer must not wait for imhub's webhook).
pub(crate) fn spawn_pushes(sb: &DouyinSandbox, pushes: Vec<Prepared>) {
    if pushes.is_empty() {
        return;
    }
    let sb = sb.clone();
    tokio::spawn(async move {
        for p in pushes {
            if let Err(err) = post(&sb, p).await {
                tracing::debug!(error = %err, "douyin sandbox fan-group push failed");
            }
        }
    });
}

impl DouyinSandbox {
    /// A customer asks to join a fan group: the request is listed and
    /// `enter_group_audit_change` (apply_status 1) is pushed. Returns the
    /// `apply_id` and the delivery.
    pub async fn request_to_join(
        &self,
        client_key: &str,
        group_id: &str,
        user_open_id: &str,
    ) -> Result<(String, Delivery), PushFailure> {
        let apply_id = self.add_join_request(group_id, user_open_id);
        let p = join_request_push(&mut self.lock(), client_key, &apply_id)?;
        Ok((apply_id, post(self, p).await?))
    }

    /// A fan joins a group without approval (the group has no audit
    /// switch): the member is added and `group_fans_event` is pushed.
    pub async fn join_group(
        &self,
        client_key: &str,
        group_id: &str,
        fan_open_id: &str,
    ) -> Result<Delivery, PushFailure> {
        let p = {
            let mut s = self.lock();
            if let Some(g) = s.groups.get_mut(group_id)
                && !g.members.iter().any(|m| m == fan_open_id)
            {
                g.members.push(fan_open_id.to_string());
            }
            fan_joined_push(&mut s, client_key, group_id, fan_open_id)?
        };
        post(self, p).await
    }

    /// A fan leaves a group. The platform documents no push for leaving
    /// (`group_fans_event` knows only operation 1, 加群), so none is sent:
    /// the sandbox does not invent one.
    pub fn leave_group(&self, group_id: &str, fan_open_id: &str) {
        if let Some(g) = self.lock().groups.get_mut(group_id) {
            g.members.retain(|m| m != fan_open_id);
        }
    }
}
