//! Alerts to the merchant's team chat: what an alert says, and the exact
//! request each robot expects (企业微信 group robot, 飞书 custom bot with
//! signature verification, 钉钉 custom robot with 加签, and a generic
//! webhook signed like imhub's outgoing webhooks), plus how to read each
//! robot's answer. Pure: the clock is passed in, nothing is sent here.
//! The formats and their sources are in `docs/alert-robots.md`.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// `as_str` / `parse` by the snake_case names used in JSON and storage.
macro_rules! names {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// The snake_case name used in JSON and storage.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The inverse of `as_str`.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }
    };
}

/// Where alerts go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// 企业微信 group robot (`qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`).
    Wecom,
    /// 飞书 custom bot (`open.feishu.cn/open-apis/bot/v2/hook/…`).
    Feishu,
    /// 钉钉 custom robot (`oapi.dingtalk.com/robot/send?access_token=…`).
    Dingtalk,
    /// Any URL, signed with imhub's outgoing-webhook signature.
    Webhook,
}
names!(TargetKind { Wecom => "wecom", Feishu => "feishu", Dingtalk => "dingtalk", Webhook => "webhook" });

impl TargetKind {
    /// Every kind, in the order the API lists them.
    pub const ALL: [TargetKind; 4] = [
        TargetKind::Wecom,
        TargetKind::Feishu,
        TargetKind::Dingtalk,
        TargetKind::Webhook,
    ];

    /// Messages the robot takes per minute: 企业微信 and 钉钉 document 20
    /// per robot (钉钉 then blocks for 10 minutes), 飞书 100 per bot; a
    /// generic webhook is the merchant's own server.
    pub fn per_minute(self) -> i64 {
        match self {
            TargetKind::Wecom | TargetKind::Dingtalk => 20,
            TargetKind::Feishu => 100,
            TargetKind::Webhook => 600,
        }
    }
}

/// Why an alert is raised; each is enabled per target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertRule {
    /// A customer has waited past the breach threshold without a human reply.
    Breach,
    /// A new lead was captured.
    NewLead,
    /// An account needs re-authorization (sends fail until then).
    NeedsReauthorization,
    /// A reply failed for good.
    ReplyFailed,
    /// A channel has had no push for the configured hours.
    ChannelSilent,
}
names!(AlertRule {
    Breach => "breach",
    NewLead => "new_lead",
    NeedsReauthorization => "needs_reauthorization",
    ReplyFailed => "reply_failed",
    ChannelSilent => "channel_silent",
});

impl AlertRule {
    /// Every rule, in the order the API lists them.
    pub const ALL: [AlertRule; 5] = [
        AlertRule::Breach,
        AlertRule::NewLead,
        AlertRule::NeedsReauthorization,
        AlertRule::ReplyFailed,
        AlertRule::ChannelSilent,
    ];

    /// The rule's name in the message (Chinese: the robots sit in the
    /// merchant's Chinese team chats).
    pub fn label(self) -> &'static str {
        match self {
            AlertRule::Breach => "客户等待超时",
            AlertRule::NewLead => "新线索",
            AlertRule::NeedsReauthorization => "账号需要重新授权",
            AlertRule::ReplyFailed => "回复发送失败",
            AlertRule::ChannelSilent => "渠道长时间无推送",
        }
    }
}

/// One alert: the rule, when it fired, and what it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub rule: AlertRule,
    pub at: Timestamp,
    /// Who or what it is about: a contact, an account, a channel.
    pub subject: String,
    /// One line of facts (how long, which error).
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<i64>,
}

/// Text or markdown, where the robot has both (企业微信, 钉钉); 飞书
/// always gets text, a generic webhook JSON with the text inside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageFormat {
    #[default]
    Text,
    Markdown,
}
names!(MessageFormat { Text => "text", Markdown => "markdown" });

/// Alerts listed in one message at most; the rest are counted.
pub const MAX_LISTED: usize = 20;
/// 企业微信 caps `text.content` at 2048 bytes and markdown at 4096.
pub const WECOM_TEXT_BYTES: usize = 2048;
/// See [`WECOM_TEXT_BYTES`].
pub const WECOM_MARKDOWN_BYTES: usize = 4096;

/// One line per alert: `{label}：{subject}（{detail}）`.
fn line(alert: &Alert) -> String {
    if alert.detail.is_empty() {
        format!("{}：{}", alert.rule.label(), alert.subject)
    } else {
        format!(
            "{}：{}（{}）",
            alert.rule.label(),
            alert.subject,
            alert.detail
        )
    }
}

/// The title of a message holding `n` alerts.
pub fn title(n: usize) -> String {
    if n > 1 {
        format!("imhub 提醒（{n} 条）")
    } else {
        "imhub 提醒".to_string()
    }
}

/// The plain-text message: a title, then one line per alert (numbered in
/// a digest), at most [`MAX_LISTED`] and the count of the rest.
pub fn text(alerts: &[Alert]) -> String {
    let mut out = title(alerts.len());
    for (i, alert) in alerts.iter().take(MAX_LISTED).enumerate() {
        out.push('\n');
        if alerts.len() > 1 {
            out.push_str(&format!("{}. ", i + 1));
        }
        out.push_str(&line(alert));
    }
    if alerts.len() > MAX_LISTED {
        out.push_str(&format!("\n……另有 {} 条", alerts.len() - MAX_LISTED));
    }
    out
}

/// The markdown message (the subset 企业微信 and 钉钉 both render: a
/// heading, bold, list lines).
pub fn markdown(alerts: &[Alert]) -> String {
    let mut out = format!("### {}", title(alerts.len()));
    for alert in alerts.iter().take(MAX_LISTED) {
        out.push_str(&format!(
            "\n- **{}**：{}{}",
            alert.rule.label(),
            escape_markdown(&alert.subject),
            if alert.detail.is_empty() {
                String::new()
            } else {
                format!("（{}）", escape_markdown(&alert.detail))
            }
        ));
    }
    if alerts.len() > MAX_LISTED {
        out.push_str(&format!("\n- ……另有 {} 条", alerts.len() - MAX_LISTED));
    }
    out
}

/// A customer's nickname must not turn into markdown links or headings.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '#' | '<' | '>'
        ) {
            out.push('\\');
        }
        if c != '\n' && c != '\r' {
            out.push(c);
        } else {
            out.push(' ');
        }
    }
    out
}

/// Cuts `text` to at most `max` bytes on a character boundary, ending in
/// `…` when cut.
pub fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let room = max.saturating_sub('…'.len_utf8());
    let mut end = room.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// 飞书's signature: Base64 of HMAC-SHA256 whose KEY is `"{timestamp}\n{secret}"`
/// over an EMPTY message (`timestamp` in seconds).
pub fn feishu_sign(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    let mac = HmacSha256::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    STANDARD.encode(mac.finalize().into_bytes())
}

/// 钉钉's 加签 before URL encoding: Base64 of HMAC-SHA256 keyed with the
/// secret over `"{timestamp}\n{secret}"` (`timestamp` in milliseconds).
pub fn dingtalk_sign(secret: &str, timestamp_ms: i64) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(format!("{timestamp_ms}\n{secret}").as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// imhub's outgoing-webhook signature (`X-Imhub-Signature`): `sha256=` and
/// the hex HMAC-SHA256 of `"{timestamp}.{body}"` keyed with the secret.
pub fn webhook_signature(secret: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(7 + 64);
    hex.push_str("sha256=");
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// Percent-encodes everything but the unreserved characters, as Java's
/// `URLEncoder` and Python's `quote_plus` do for a Base64 string (`+`,
/// `/` and `=` become `%2B`, `%2F`, `%3D`).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What to send: POST `body` (JSON) to `url` with `headers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A target's sending settings.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub kind: TargetKind,
    pub url: &'a str,
    /// 飞书 / 钉钉 signing secret (optional there), the webhook's secret.
    pub secret: Option<&'a str>,
    pub format: MessageFormat,
}

/// The request that delivers `alerts` (one message; several make a
/// digest) to `target` at `now`.
pub fn render(target: Target<'_>, alerts: &[Alert], now: Timestamp) -> AlertRequest {
    let json = vec![("content-type".to_string(), "application/json".to_string())];
    let secret = target.secret.filter(|s| !s.is_empty());
    match target.kind {
        TargetKind::Wecom => {
            let body = match target.format {
                MessageFormat::Text => serde_json::json!({
                    "msgtype": "text",
                    "text": {"content": truncate_bytes(&text(alerts), WECOM_TEXT_BYTES)},
                }),
                MessageFormat::Markdown => serde_json::json!({
                    "msgtype": "markdown",
                    "markdown": {"content": truncate_bytes(&markdown(alerts), WECOM_MARKDOWN_BYTES)},
                }),
            };
            AlertRequest {
                url: target.url.to_string(),
                headers: json,
                body: body.to_string().into_bytes(),
            }
        }
        TargetKind::Feishu => {
            let mut body = serde_json::json!({
                "msg_type": "text",
                "content": {"text": text(alerts)},
            });
            if let Some(secret) = secret {
                let ts = now.millis().div_euclid(1000);
                // 飞书 documents `timestamp` as a string of seconds.
                body["timestamp"] = serde_json::json!(ts.to_string());
                body["sign"] = serde_json::json!(feishu_sign(secret, ts));
            }
            AlertRequest {
                url: target.url.to_string(),
                headers: json,
                body: body.to_string().into_bytes(),
            }
        }
        TargetKind::Dingtalk => {
            let body = match target.format {
                MessageFormat::Text => serde_json::json!({
                    "msgtype": "text",
                    "text": {"content": text(alerts)},
                }),
                MessageFormat::Markdown => serde_json::json!({
                    "msgtype": "markdown",
                    "markdown": {"title": title(alerts.len()), "text": markdown(alerts)},
                }),
            };
            let url = match secret {
                Some(secret) => {
                    let ts = now.millis();
                    let sep = if target.url.contains('?') { '&' } else { '?' };
                    format!(
                        "{}{sep}timestamp={ts}&sign={}",
                        target.url,
                        url_encode(&dingtalk_sign(secret, ts))
                    )
                }
                None => target.url.to_string(),
            };
            AlertRequest {
                url,
                headers: json,
                body: body.to_string().into_bytes(),
            }
        }
        TargetKind::Webhook => {
            let body = serde_json::json!({
                "type": "alert",
                "occurred_at": now,
                "text": text(alerts),
                "alerts": alerts,
            })
            .to_string()
            .into_bytes();
            let ts = now.millis().div_euclid(1000);
            let mut headers = json;
            headers.push(("x-imhub-event".into(), "alert".into()));
            headers.push(("x-imhub-timestamp".into(), ts.to_string()));
            if let Some(secret) = secret {
                headers.push((
                    "x-imhub-signature".into(),
                    webhook_signature(secret, ts, &body),
                ));
            }
            AlertRequest {
                url: target.url.to_string(),
                headers,
                body,
            }
        }
    }
}

/// How a robot's answer is to be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted.
    Delivered,
    /// Try again, no sooner than after this many milliseconds (0: the
    /// usual backoff).
    Retry { after_ms: i64 },
    /// Refused for a reason that trying again will not fix (a wrong key,
    /// a bad signature, a keyword or IP rule of the robot).
    Refused,
}

/// A robot's answer: the verdict and the robot's own code and message
/// (`errcode`/`errmsg` of 企业微信 and 钉钉, `code`/`msg` of 飞书).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub verdict: Verdict,
    pub code: Option<i64>,
    pub message: Option<String>,
}

/// Longest robot message kept, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// Reads a robot's answer to a request: the HTTP status and the body.
pub fn read_answer(kind: TargetKind, status: u16, body: &[u8]) -> Answer {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |names: &[&str]| -> Option<&serde_json::Value> {
        let v = parsed.as_ref()?;
        names.iter().find_map(|n| v.get(*n))
    };
    let (code, message) = match kind {
        TargetKind::Wecom | TargetKind::Dingtalk => (
            field(&["errcode"]).and_then(serde_json::Value::as_i64),
            field(&["errmsg"]),
        ),
        // Older 飞书 answers say `StatusCode`/`StatusMessage`.
        TargetKind::Feishu => (
            field(&["code", "StatusCode"]).and_then(serde_json::Value::as_i64),
            field(&["msg", "StatusMessage"]),
        ),
        TargetKind::Webhook => (None, None),
    };
    let message = message
        .and_then(serde_json::Value::as_str)
        .map(|m| m.chars().take(MAX_MESSAGE_CHARS).collect::<String>());
    let http_retry = status == 429 || status >= 500 || status == 408;
    let verdict = match kind {
        TargetKind::Webhook => {
            if (200..300).contains(&status) {
                Verdict::Delivered
            } else {
                // Like imhub's outgoing webhooks: any refusal is retried
                // until the delivery is given up.
                Verdict::Retry { after_ms: 0 }
            }
        }
        _ if http_retry => Verdict::Retry { after_ms: 0 },
        TargetKind::Wecom => match code {
            Some(0) if (200..300).contains(&status) => Verdict::Delivered,
            // 45009: api freq out of limit; -1: system busy.
            Some(45009) => Verdict::Retry { after_ms: 60_000 },
            Some(-1) => Verdict::Retry { after_ms: 0 },
            Some(_) => Verdict::Refused,
            None => unreadable(status),
        },
        TargetKind::Feishu => match code {
            Some(0) if (200..300).contains(&status) => Verdict::Delivered,
            // 11232: frequency limited.
            Some(11232) => Verdict::Retry { after_ms: 60_000 },
            Some(_) => Verdict::Refused,
            None => unreadable(status),
        },
        TargetKind::Dingtalk => match code {
            Some(0) if (200..300).contains(&status) => Verdict::Delivered,
            // 130101: send too fast, 90030: webhook over limit; 钉钉 then
            // blocks the robot for 10 minutes.
            Some(130101 | 90030) => Verdict::Retry { after_ms: 600_000 },
            Some(-1) => Verdict::Retry { after_ms: 0 },
            Some(_) => Verdict::Refused,
            None => unreadable(status),
        },
    };
    Answer {
        verdict,
        code,
        message,
    }
}

/// A robot whose answer is not its JSON: a 2xx without a code is taken as
/// accepted, anything else is retried (a proxy or an outage in between).
fn unreadable(status: u16) -> Verdict {
    if (200..300).contains(&status) {
        Verdict::Delivered
    } else {
        Verdict::Retry { after_ms: 0 }
    }
}

/// When a wait that began at `start` reaches `wait_ms` of counted time:
/// all time without a counting `window`, else only the window's open
/// time (a turn that starts at 23:30 with an 08:00–23:00 window starts
/// counting at 08:00). `None` when the window never opens.
pub fn wait_reached_at(
    start: Timestamp,
    wait_ms: i64,
    window: Option<&crate::hours::WorkingHours>,
) -> Option<Timestamp> {
    let Some(window) = window else {
        return Some(start.plus_millis(wait_ms));
    };
    let mut at = start;
    let mut left = wait_ms.max(0);
    // Each round ends at a closing time or at the answer: a few rounds per
    // day of waiting; bounded so a strange window cannot loop.
    for _ in 0..64 {
        if !window.is_open(at) {
            at = window.next_open(at, 8)?;
        }
        let end = at.plus_millis(left);
        let counted = window.open_millis_between(at, end);
        if counted >= left {
            return Some(end);
        }
        left -= counted;
        at = end;
    }
    None
}

/// The alert a target's test button sends.
pub fn test_alert(now: Timestamp) -> Alert {
    Alert {
        rule: AlertRule::Breach,
        at: now,
        subject: "测试消息".to_string(),
        detail: "imhub 提醒已连通".to_string(),
        conversation_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(rule: AlertRule, subject: &str) -> Alert {
        Alert {
            rule,
            at: Timestamp(1_700_000_000_000),
            subject: subject.into(),
            detail: "已等待 3 分钟".into(),
            conversation_id: Some(7),
        }
    }

    /// Computed independently with Python 3:
    /// ```text
    /// import hmac, hashlib, base64
    /// base64.b64encode(hmac.new(b"1599360473\nabc123", b"", hashlib.sha256).digest())
    /// ```
    #[test]
    fn feishu_sign_matches_the_documented_algorithm() {
        assert_eq!(
            feishu_sign("abc123", 1_599_360_473),
            "HlCPO79Q9DEV0vueksRdi4YcZ8Z6keFaxRnxlpGYwWo="
        );
    }

    /// Computed independently with Python 3:
    /// ```text
    /// s = b"SECabc123"; t = b"1599360473004"
    /// urllib.parse.quote_plus(base64.b64encode(hmac.new(s, t + b"\n" + s, hashlib.sha256).digest()))
    /// ```
    #[test]
    fn dingtalk_sign_matches_the_documented_algorithm() {
        let sign = dingtalk_sign("SECabc123", 1_599_360_473_004);
        assert_eq!(sign, "gB1Yizjhcv9d76MYiG0YRjPxt/rKZcoHA+sWlS5Spr8=");
        assert_eq!(
            url_encode(&sign),
            "gB1Yizjhcv9d76MYiG0YRjPxt%2FrKZcoHA%2BsWlS5Spr8%3D"
        );
    }

    /// Computed independently with Python 3:
    /// `hmac.new(b"whsec_0123456789abcdef", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()`
    #[test]
    fn webhook_signature_is_imhubs_outgoing_webhook_signature() {
        assert_eq!(
            webhook_signature("whsec_0123456789abcdef", 1_700_000_000, br#"{"a":1}"#),
            "sha256=9f5e37cdc7ea587c7c02062d93283cad000d66a831b2a1676418696db47ed6c2"
        );
    }

    #[test]
    fn wecom_bodies_follow_msgtype_text_or_markdown() {
        let alerts = [alert(AlertRule::Breach, "张三")];
        let target = Target {
            kind: TargetKind::Wecom,
            url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
            secret: None,
            format: MessageFormat::Text,
        };
        let req = render(target, &alerts, Timestamp(0));
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["msgtype"], "text");
        assert_eq!(
            body["text"]["content"],
            "imhub 提醒\n客户等待超时：张三（已等待 3 分钟）"
        );
        assert_eq!(req.url, target.url);
        let md = render(
            Target {
                format: MessageFormat::Markdown,
                ..target
            },
            &alerts,
            Timestamp(0),
        );
        let body: serde_json::Value = serde_json::from_slice(&md.body).unwrap();
        assert_eq!(body["msgtype"], "markdown");
        assert!(
            body["markdown"]["content"]
                .as_str()
                .unwrap()
                .contains("**客户等待超时**")
        );
    }

    #[test]
    fn feishu_signs_in_the_body_with_seconds() {
        let req = render(
            Target {
                kind: TargetKind::Feishu,
                url: "https://open.feishu.cn/open-apis/bot/v2/hook/x",
                secret: Some("abc123"),
                format: MessageFormat::Markdown,
            },
            &[alert(AlertRule::NewLead, "李四")],
            Timestamp(1_599_360_473_999),
        );
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["timestamp"], "1599360473");
        assert_eq!(body["sign"], "HlCPO79Q9DEV0vueksRdi4YcZ8Z6keFaxRnxlpGYwWo=");
        assert_eq!(body["msg_type"], "text");
        assert!(
            body["content"]["text"]
                .as_str()
                .unwrap()
                .contains("新线索：李四")
        );
    }

    #[test]
    fn dingtalk_signs_in_the_query_with_milliseconds() {
        let req = render(
            Target {
                kind: TargetKind::Dingtalk,
                url: "https://oapi.dingtalk.com/robot/send?access_token=T",
                secret: Some("SECabc123"),
                format: MessageFormat::Text,
            },
            &[alert(AlertRule::ReplyFailed, "王五")],
            Timestamp(1_599_360_473_004),
        );
        assert_eq!(
            req.url,
            "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1599360473004\
             &sign=gB1Yizjhcv9d76MYiG0YRjPxt%2FrKZcoHA%2BsWlS5Spr8%3D"
        );
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(body["msgtype"], "text");
    }

    #[test]
    fn a_digest_lists_alerts_numbered_and_counts_the_rest() {
        let alerts: Vec<Alert> = (0..25)
            .map(|i| alert(AlertRule::Breach, &format!("客户{i}")))
            .collect();
        let t = text(&alerts);
        assert!(t.starts_with("imhub 提醒（25 条）\n1. 客户等待超时：客户0"));
        assert!(t.contains("\n20. "));
        assert!(!t.contains("\n21. "));
        assert!(t.ends_with("……另有 5 条"));
    }

    #[test]
    fn markdown_cannot_be_injected_through_a_nickname() {
        let md = markdown(&[alert(AlertRule::Breach, "[点我](http://x)\n# 标题")]);
        assert!(md.contains(r"\[点我\]\(http://x\) \# 标题"), "{md}");
    }

    #[test]
    fn wecom_text_is_capped_at_its_byte_limit() {
        let long = "长".repeat(1000);
        let req = render(
            Target {
                kind: TargetKind::Wecom,
                url: "u",
                secret: None,
                format: MessageFormat::Text,
            },
            &[alert(AlertRule::Breach, &long)],
            Timestamp(0),
        );
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let content = body["text"]["content"].as_str().unwrap();
        assert!(content.len() <= WECOM_TEXT_BYTES);
        assert!(content.ends_with('…'));
    }

    #[test]
    fn answers_are_read_per_robot() {
        let ok = read_answer(TargetKind::Wecom, 200, br#"{"errcode":0,"errmsg":"ok"}"#);
        assert_eq!(ok.verdict, Verdict::Delivered);
        let bad = read_answer(
            TargetKind::Wecom,
            200,
            br#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
        );
        assert_eq!(bad.verdict, Verdict::Refused);
        assert_eq!(bad.code, Some(93000));
        let limited = read_answer(
            TargetKind::Wecom,
            200,
            br#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
        );
        assert_eq!(limited.verdict, Verdict::Retry { after_ms: 60_000 });
        let sign = read_answer(
            TargetKind::Feishu,
            200,
            br#"{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}"#,
        );
        assert_eq!(sign.verdict, Verdict::Refused);
        assert_eq!(sign.code, Some(19021));
        assert!(sign.message.unwrap().starts_with("sign match fail"));
        let old = read_answer(
            TargetKind::Feishu,
            200,
            br#"{"Extra":null,"StatusCode":0,"StatusMessage":"success"}"#,
        );
        assert_eq!(old.verdict, Verdict::Delivered);
        let ding = read_answer(
            TargetKind::Dingtalk,
            200,
            br#"{"errcode":310000,"errmsg":"sign not match"}"#,
        );
        assert_eq!((ding.verdict, ding.code), (Verdict::Refused, Some(310000)));
        let fast = read_answer(
            TargetKind::Dingtalk,
            200,
            br#"{"errcode":130101,"errmsg":"send too fast"}"#,
        );
        assert_eq!(fast.verdict, Verdict::Retry { after_ms: 600_000 });
        assert_eq!(
            read_answer(TargetKind::Dingtalk, 502, b"<html>").verdict,
            Verdict::Retry { after_ms: 0 }
        );
        assert_eq!(
            read_answer(TargetKind::Webhook, 204, b"").verdict,
            Verdict::Delivered
        );
        assert_eq!(
            read_answer(TargetKind::Webhook, 400, b"").verdict,
            Verdict::Retry { after_ms: 0 }
        );
    }

    #[test]
    fn a_wait_counts_only_inside_the_window() {
        use crate::hours::{Span, WorkingHours};
        let window =
            WorkingHours::daily("Asia/Shanghai", Span::parse("08:00", "23:00").unwrap()).unwrap();
        // 2026-12-01 22:59:00 +08:00 = 14:59:00Z.
        let start = Timestamp(1_796_137_140_000);
        let due = wait_reached_at(start, 180_000, Some(&window)).unwrap();
        // One minute before 23:00, two after 08:00 the next day (00:02Z).
        assert_eq!(due, Timestamp(1_796_169_720_000));
        assert_eq!(
            wait_reached_at(start, 180_000, None),
            Some(start.plus_millis(180_000))
        );
    }

    #[test]
    fn kinds_rules_and_formats_round_trip_their_names() {
        for kind in TargetKind::ALL {
            assert_eq!(TargetKind::parse(kind.as_str()), Some(kind));
        }
        for rule in AlertRule::ALL {
            assert_eq!(AlertRule::parse(rule.as_str()), Some(rule));
        }
        assert_eq!(
            MessageFormat::parse("markdown"),
            Some(MessageFormat::Markdown)
        );
        assert_eq!(TargetKind::parse("slack"), None);
    }
}
