//! Automation rules as data and the one pure function that decides what
//! they do: (rules, the event, the conversation's automation state, the
//! working hours, the time) → the actions to apply, the timers to set and
//! the new state. The store applies the decision in the transaction that
//! records the event, so a replayed push or a second node decides nothing
//! twice (STYLE.md 12; ruma's push rules work the same way).
//!
//! What keeps automation safe, by construction:
//! - only a customer's message, their entering the chat, or a timer set by
//!   one can trigger a rule; our own sends, their echoes and the actions of
//!   rules are not events here, so rules cannot trigger each other;
//! - a cooldown per rule and conversation, and a daily cap on automatic
//!   replies per conversation (counted in the workspace's local day);
//! - human takeover: while an agent replied in the last minutes, replies
//!   pause (the rule's other actions still run);
//! - at most one automatic reply per event: the first firing rule in order
//!   with a reply answers, later ones run only their other actions.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{
    AccountId, Content, ConversationStatus, LabelId, Platform, QuickReplyId, Timestamp, UserId,
    hours::WorkingHours,
};

/// An automation rule's id.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = i64)]
pub struct RuleId(pub i64);

/// Longest regular expression a rule may hold, in characters.
pub const MAX_PATTERN_CHARS: usize = 500;
/// Most keywords one rule may list, and the longest keyword.
pub const MAX_KEYWORDS: usize = 100;
pub const MAX_KEYWORD_CHARS: usize = 50;
/// Douyin's limit on an automatic reply's text (企业号 keyword replies).
pub const DOUYIN_AUTO_REPLY_CHARS: usize = 300;
/// Compiled-size limit of a rule's regular expression (bytes).
const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// Where a rule applies: empty lists mean "all".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Scope {
    #[serde(default)]
    pub platforms: Vec<Platform>,
    #[serde(default)]
    pub account_ids: Vec<AccountId>,
    /// The conversation or its contact carries one of these labels.
    #[serde(default)]
    pub label_ids: Vec<LabelId>,
}

/// How a keyword trigger compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeywordMatch {
    /// The whole message (trimmed) equals a keyword.
    Exact,
    /// The message contains any of the keywords.
    ContainsAny,
}

/// What starts a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// The customer opened the chat (Douyin `im_enter_direct_msg`; on
    /// platforms without that event, the first customer message of a new
    /// conversation).
    EnteredChat,
    /// A customer message matches keywords.
    Keywords {
        #[serde(rename = "match")]
        mode: KeywordMatch,
        keywords: Vec<String>,
        #[serde(default)]
        case_insensitive: bool,
    },
    /// A customer message matches a regular expression (Unicode).
    Regex {
        pattern: String,
        #[serde(default)]
        case_insensitive: bool,
    },
    /// A customer message outside business hours.
    OffHours,
    /// No human reply within `minutes` of a customer message (escalation).
    NoHumanReply { minutes: u32 },
}

impl Trigger {
    /// The cooldown a rule of this trigger gets unless it sets its own:
    /// a welcome once a day, a keyword answer once a minute.
    pub fn default_cooldown_secs(&self) -> u32 {
        match self {
            Trigger::EnteredChat => 24 * 3600,
            Trigger::OffHours => 3600,
            Trigger::Keywords { .. } | Trigger::Regex { .. } => 60,
            Trigger::NoHumanReply { .. } => 0,
        }
    }
}

/// What must also hold for a rule to fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    WithinBusinessHours,
    OutsideBusinessHours,
    Unassigned,
    ContactHasLabel {
        label_id: LabelId,
    },
    ContactLacksLabel {
        label_id: LabelId,
    },
    /// The contact never wrote to the workspace before this conversation.
    FirstContactEver,
}

/// Who an assign action gives the conversation to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum AssignTo {
    Agent {
        agent_id: UserId,
    },
    /// Round-robin among available agents, as auto-assignment does.
    Auto,
}

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// An automatic reply: text with quick-reply variables, a content
    /// (image, card), or a quick reply by reference.
    Reply {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        text: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        quick_reply_id: Option<QuickReplyId>,
    },
    Assign(AssignTo),
    AddLabel {
        label_id: LabelId,
    },
    SetStatus {
        status: ConversationStatus,
    },
    /// An outgoing webhook event `automation.fired`.
    EmitWebhook,
}

impl Action {
    fn is_reply(&self) -> bool {
        matches!(self, Action::Reply { .. })
    }
}

/// One rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: RuleId,
    pub name: String,
    pub enabled: bool,
    #[serde(default)]
    pub scope: Scope,
    pub trigger: Trigger,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<Action>,
    /// Seconds before the rule fires again in the same conversation; the
    /// trigger's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_secs: Option<u32>,
}

/// Why a rule cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("the regular expression does not compile: {0}")]
    BadPattern(String),
    #[error("the regular expression is longer than {MAX_PATTERN_CHARS} characters")]
    PatternTooLong,
    #[error(
        "a keyword rule needs 1 to {MAX_KEYWORDS} non-empty keywords of at most {MAX_KEYWORD_CHARS} characters"
    )]
    BadKeywords,
    #[error("a rule needs at least one action")]
    NoActions,
    #[error("a reply needs exactly one of text, content or quick_reply_id")]
    BadReply,
    #[error(
        "a Douyin automatic reply may have at most {DOUYIN_AUTO_REPLY_CHARS} characters; this one has {0}"
    )]
    DouyinReplyTooLong(usize),
    #[error("an escalation needs 1 to 10080 minutes")]
    BadMinutes,
    #[error("a rule may reply at most once")]
    SeveralReplies,
}

impl RuleError {
    /// The stable API code of the refusal (422).
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::BadPattern(_) => "invalid_pattern",
            RuleError::PatternTooLong => "pattern_too_long",
            RuleError::BadKeywords => "invalid_keywords",
            RuleError::NoActions => "no_actions",
            RuleError::BadReply => "invalid_reply",
            RuleError::DouyinReplyTooLong(_) => "reply_too_long_for_douyin",
            RuleError::BadMinutes => "invalid_minutes",
            RuleError::SeveralReplies => "several_replies",
        }
    }
}

/// A rule checked and ready to evaluate (its expression compiled).
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: Rule,
    matcher: Option<regex::Regex>,
}

impl CompiledRule {
    /// Checks `rule` and compiles its expression: every refusal names its reason.
    pub fn new(rule: Rule) -> Result<Self, RuleError> {
        let matcher = match &rule.trigger {
            Trigger::Regex {
                pattern,
                case_insensitive,
            } => {
                if pattern.chars().count() > MAX_PATTERN_CHARS {
                    return Err(RuleError::PatternTooLong);
                }
                let re = regex::RegexBuilder::new(pattern)
                    .case_insensitive(*case_insensitive)
                    .unicode(true)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .dfa_size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| RuleError::BadPattern(e.to_string()))?;
                Some(re)
            }
            Trigger::Keywords { keywords, .. } => {
                if keywords.is_empty()
                    || keywords.len() > MAX_KEYWORDS
                    || keywords
                        .iter()
                        .any(|k| k.trim().is_empty() || k.chars().count() > MAX_KEYWORD_CHARS)
                {
                    return Err(RuleError::BadKeywords);
                }
                None
            }
            Trigger::NoHumanReply { minutes } => {
                if !(1..=10_080).contains(minutes) {
                    return Err(RuleError::BadMinutes);
                }
                None
            }
            Trigger::EnteredChat | Trigger::OffHours => None,
        };
        if rule.actions.is_empty() {
            return Err(RuleError::NoActions);
        }
        let replies: Vec<&Action> = rule.actions.iter().filter(|a| a.is_reply()).collect();
        if replies.len() > 1 {
            return Err(RuleError::SeveralReplies);
        }
        if let Some(Action::Reply {
            text,
            content,
            quick_reply_id,
        }) = replies.first()
        {
            let given = usize::from(text.is_some())
                + usize::from(content.is_some())
                + usize::from(quick_reply_id.is_some());
            if given != 1 {
                return Err(RuleError::BadReply);
            }
            let may_reach_douyin =
                rule.scope.platforms.is_empty() || rule.scope.platforms.contains(&Platform::Douyin);
            if may_reach_douyin && let Some(text) = text {
                let chars = text.chars().count();
                if chars > DOUYIN_AUTO_REPLY_CHARS {
                    return Err(RuleError::DouyinReplyTooLong(chars));
                }
            }
        }
        Ok(CompiledRule { rule, matcher })
    }

    fn cooldown_ms(&self) -> i64 {
        i64::from(
            self.rule
                .cooldown_secs
                .unwrap_or_else(|| self.rule.trigger.default_cooldown_secs()),
        ) * 1000
    }
}

/// What happened, as automation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutomationEvent<'a> {
    /// The customer opened the chat page.
    EnteredChat,
    /// The customer wrote; `text` is absent for non-text content.
    CustomerMessage {
        text: Option<&'a str>,
        /// The message started the conversation.
        new_conversation: bool,
    },
    /// An escalation timer of `rule` came due.
    Timer { rule: RuleId },
}

/// The conversation and contact facts rules look at.
#[derive(Debug, Clone)]
pub struct AutomationContext<'a> {
    pub platform: Platform,
    pub account_id: AccountId,
    /// Whether the platform pushes an "entered the chat" event (Douyin);
    /// without one, a new conversation's first message counts as entering.
    pub platform_has_enter_event: bool,
    /// Labels on the conversation and on its contact.
    pub labels: &'a [LabelId],
    pub assigned: bool,
    pub first_contact_ever: bool,
}

/// What automation remembers per conversation, kept on the conversation
/// and updated in the same transaction as the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutomationState {
    /// When each rule last fired here.
    #[serde(default)]
    pub last_fired: BTreeMap<RuleId, Timestamp>,
    /// The local day (days since 1970-01-01 in the workspace zone) that
    /// `replies_today` counts.
    #[serde(default)]
    pub reply_day: i64,
    #[serde(default)]
    pub replies_today: u32,
    /// The last reply by a human agent.
    #[serde(default)]
    pub last_human_reply_at: Option<Timestamp>,
    /// Escalation rules with a timer set and not yet fired or cancelled.
    #[serde(default)]
    pub pending_timers: BTreeSet<RuleId>,
}

/// Workspace-wide safety settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Automatic replies per conversation per local day.
    pub daily_replies: u32,
    /// Minutes after a human reply during which automatic replies pause.
    pub takeover_minutes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            daily_replies: 5,
            takeover_minutes: 30,
        }
    }
}

/// Why a firing rule's reply was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyHeld {
    /// An agent replied within the takeover minutes.
    HumanTakeover,
    /// The conversation had its automatic replies for the day.
    DailyCap,
    /// An earlier rule already answered this event.
    AlreadyAnswered,
}

/// One rule that fired, with the actions to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Fired {
    pub rule: RuleId,
    pub actions: Vec<Action>,
    /// Set when the rule's reply was held back (its other actions remain).
    pub reply_held: Option<ReplyHeld>,
}

/// An escalation timer to write in the same transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerRequest {
    pub rule: RuleId,
    pub due_at: Timestamp,
}

/// The decision for one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub fired: Vec<Fired>,
    pub timers: Vec<TimerRequest>,
    /// The state to store.
    pub state: AutomationState,
}

/// The local day number of `at` in the hours' zone (for the daily cap).
fn local_day(hours: &WorkingHours, at: Timestamp) -> i64 {
    hours.local_day(at)
}

fn in_scope(rule: &Rule, ctx: &AutomationContext<'_>) -> bool {
    let s = &rule.scope;
    (s.platforms.is_empty() || s.platforms.contains(&ctx.platform))
        && (s.account_ids.is_empty() || s.account_ids.contains(&ctx.account_id))
        && (s.label_ids.is_empty() || s.label_ids.iter().any(|l| ctx.labels.contains(l)))
}

fn conditions_hold(
    rule: &Rule,
    ctx: &AutomationContext<'_>,
    hours: &WorkingHours,
    now: Timestamp,
) -> bool {
    rule.conditions.iter().all(|c| match c {
        Condition::WithinBusinessHours => hours.is_open(now),
        Condition::OutsideBusinessHours => !hours.is_open(now),
        Condition::Unassigned => !ctx.assigned,
        Condition::ContactHasLabel { label_id } => ctx.labels.contains(label_id),
        Condition::ContactLacksLabel { label_id } => !ctx.labels.contains(label_id),
        Condition::FirstContactEver => ctx.first_contact_ever,
    })
}

/// Whether the text matches a keyword or expression trigger.
fn text_matches(compiled: &CompiledRule, text: &str) -> bool {
    match &compiled.rule.trigger {
        Trigger::Keywords {
            mode,
            keywords,
            case_insensitive,
        } => {
            let fold = |s: &str| {
                if *case_insensitive {
                    s.to_lowercase()
                } else {
                    s.to_string()
                }
            };
            let text = fold(text.trim());
            match mode {
                KeywordMatch::Exact => keywords.iter().any(|k| fold(k.trim()) == text),
                KeywordMatch::ContainsAny => keywords.iter().any(|k| text.contains(&fold(k))),
            }
        }
        Trigger::Regex { .. } => compiled
            .matcher
            .as_ref()
            .is_some_and(|re| re.is_match(text)),
        _ => false,
    }
}

/// Whether `event` could make any rule fire or set a timer, judged before
/// the conversation's facts are read: never `false` where [`decide`] would
/// do something, so the store can skip a push no rule can answer at the
/// cost of matching its text once. Labels, conditions, cooldowns and caps
/// are left to [`decide`].
pub fn may_trigger(
    rules: &[CompiledRule],
    event: &AutomationEvent<'_>,
    platform: Platform,
    account_id: AccountId,
    hours: &WorkingHours,
    now: Timestamp,
) -> bool {
    let has_enter_event = platform == Platform::Douyin;
    rules.iter().filter(|r| r.rule.enabled).any(|compiled| {
        let scope = &compiled.rule.scope;
        if (!scope.platforms.is_empty() && !scope.platforms.contains(&platform))
            || (!scope.account_ids.is_empty() && !scope.account_ids.contains(&account_id))
        {
            return false;
        }
        match (&compiled.rule.trigger, event) {
            (_, AutomationEvent::Timer { .. }) => true,
            (Trigger::EnteredChat, AutomationEvent::EnteredChat) => true,
            (Trigger::EnteredChat, AutomationEvent::CustomerMessage { .. }) => !has_enter_event,
            (
                Trigger::Keywords { .. } | Trigger::Regex { .. },
                AutomationEvent::CustomerMessage {
                    text: Some(text), ..
                },
            ) => text_matches(compiled, text),
            (Trigger::OffHours, AutomationEvent::CustomerMessage { .. }) => !hours.is_open(now),
            (Trigger::NoHumanReply { .. }, AutomationEvent::CustomerMessage { .. }) => true,
            _ => false,
        }
    })
}

/// Decides what `rules` (in their order) do about `event`.
pub fn decide(
    rules: &[CompiledRule],
    event: &AutomationEvent<'_>,
    ctx: &AutomationContext<'_>,
    state: &AutomationState,
    hours: &WorkingHours,
    limits: Limits,
    now: Timestamp,
) -> Decision {
    let mut next = state.clone();
    let today = local_day(hours, now);
    if next.reply_day != today {
        next.reply_day = today;
        next.replies_today = 0;
    }
    let taken_over = state
        .last_human_reply_at
        .is_some_and(|at| now.millis() - at.millis() < i64::from(limits.takeover_minutes) * 60_000);
    let mut fired = Vec::new();
    let mut timers = Vec::new();
    let mut answered = false;
    for compiled in rules.iter().filter(|r| r.rule.enabled) {
        let rule = &compiled.rule;
        if !in_scope(rule, ctx) {
            continue;
        }
        let triggered = match (&rule.trigger, event) {
            (Trigger::EnteredChat, AutomationEvent::EnteredChat) => true,
            (
                Trigger::EnteredChat,
                AutomationEvent::CustomerMessage {
                    new_conversation, ..
                },
            ) => *new_conversation && !ctx.platform_has_enter_event,
            (
                Trigger::Keywords { .. } | Trigger::Regex { .. },
                AutomationEvent::CustomerMessage {
                    text: Some(text), ..
                },
            ) => text_matches(compiled, text),
            (Trigger::OffHours, AutomationEvent::CustomerMessage { .. }) => !hours.is_open(now),
            (Trigger::NoHumanReply { minutes }, AutomationEvent::CustomerMessage { .. }) => {
                // Sets the timer once per turn; firing happens when it is due.
                if !next.pending_timers.contains(&rule.id) && conditions_hold(rule, ctx, hours, now)
                {
                    next.pending_timers.insert(rule.id);
                    timers.push(TimerRequest {
                        rule: rule.id,
                        due_at: now.plus_millis(i64::from(*minutes) * 60_000),
                    });
                }
                false
            }
            (Trigger::NoHumanReply { .. }, AutomationEvent::Timer { rule: due }) => {
                *due == rule.id && next.pending_timers.remove(&rule.id)
            }
            _ => false,
        };
        if !triggered || !conditions_hold(rule, ctx, hours, now) {
            continue;
        }
        let cooled = state
            .last_fired
            .get(&rule.id)
            .is_none_or(|at| now.millis() - at.millis() >= compiled.cooldown_ms());
        if !cooled {
            continue;
        }
        next.last_fired.insert(rule.id, now);
        let mut actions = rule.actions.clone();
        let mut reply_held = None;
        if actions.iter().any(Action::is_reply) {
            let held = if answered {
                Some(ReplyHeld::AlreadyAnswered)
            } else if taken_over {
                Some(ReplyHeld::HumanTakeover)
            } else if next.replies_today >= limits.daily_replies {
                Some(ReplyHeld::DailyCap)
            } else {
                None
            };
            match held {
                Some(h) => {
                    actions.retain(|a| !a.is_reply());
                    reply_held = Some(h);
                }
                None => {
                    answered = true;
                    next.replies_today += 1;
                }
            }
        }
        fired.push(Fired {
            rule: rule.id,
            actions,
            reply_held,
        });
    }
    Decision {
        fired,
        timers,
        state: next,
    }
}

/// A span of working time as the API writes it: `{"start": "09:00",
/// "end": "18:00"}` (local wall clock; `24:00` may end a span).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpanText {
    pub start: String,
    pub end: String,
}

/// A workspace's automation settings, as stored and as the API shows
/// them: business hours (zone, spans per weekday Monday first, dated
/// exceptions that replace a day's spans, empty = closed all day), the
/// daily cap on automatic replies per conversation and the human-takeover
/// pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutomationSettings {
    /// IANA zone; `Asia/Shanghai` by default.
    #[serde(default = "default_zone")]
    pub time_zone: String,
    /// Seven lists of spans, Monday first; 09:00–18:00 every day by default.
    #[serde(default = "default_weekly")]
    #[schema(min_items = 7, max_items = 7)]
    pub weekly: Vec<Vec<SpanText>>,
    /// `YYYY-MM-DD` → that day's spans instead of its weekday's (春节: `[]`).
    #[serde(default)]
    pub exceptions: BTreeMap<String, Vec<SpanText>>,
    /// Automatic replies per conversation per local day (0 to 100; 5 by default).
    #[serde(default = "default_daily_replies")]
    #[schema(minimum = 0, maximum = 100)]
    pub daily_reply_cap: u32,
    /// Minutes automatic replies pause after a human reply (0 to 1440; 30 by default).
    #[serde(default = "default_takeover")]
    #[schema(minimum = 0, maximum = 1440)]
    pub takeover_minutes: u32,
}

fn default_zone() -> String {
    crate::hours::DEFAULT_TIME_ZONE.to_string()
}

fn default_weekly() -> Vec<Vec<SpanText>> {
    (0..7)
        .map(|_| {
            vec![SpanText {
                start: "09:00".into(),
                end: "18:00".into(),
            }]
        })
        .collect()
}

fn default_daily_replies() -> u32 {
    Limits::default().daily_replies
}

fn default_takeover() -> u32 {
    Limits::default().takeover_minutes
}

impl Default for AutomationSettings {
    fn default() -> Self {
        AutomationSettings {
            time_zone: default_zone(),
            weekly: default_weekly(),
            exceptions: BTreeMap::new(),
            daily_reply_cap: default_daily_replies(),
            takeover_minutes: default_takeover(),
        }
    }
}

/// Largest daily reply cap and takeover pause the settings accept.
pub const MAX_DAILY_REPLY_CAP: u32 = 100;
pub const MAX_TAKEOVER_MINUTES: u32 = 1440;
/// Most dated exceptions one workspace keeps.
pub const MAX_EXCEPTIONS: usize = 400;

impl AutomationSettings {
    /// The working hours these settings describe, checked.
    pub fn working_hours(&self) -> Result<WorkingHours, crate::hours::HoursError> {
        use crate::hours::{HoursError, Span};
        let spans = |list: &[SpanText]| -> Result<Vec<Span>, HoursError> {
            list.iter().map(|s| Span::parse(&s.start, &s.end)).collect()
        };
        // Callers check that there are seven days ([`Self::check`]); a
        // missing day is closed, an eighth is ignored.
        let mut weekly: [Vec<Span>; 7] = Default::default();
        for (day, list) in self.weekly.iter().take(7).enumerate() {
            weekly[day] = spans(list)?;
        }
        let mut exceptions = BTreeMap::new();
        for (date, list) in &self.exceptions {
            exceptions.insert(date.clone(), spans(list)?);
        }
        WorkingHours::new(&self.time_zone, weekly, exceptions)
    }

    /// Checks everything a save must refuse, with the reason.
    pub fn check(&self) -> Result<WorkingHours, String> {
        if self.weekly.len() != 7 {
            return Err(format!(
                "weekly needs 7 lists of spans (Monday first), not {}",
                self.weekly.len()
            ));
        }
        if self.exceptions.len() > MAX_EXCEPTIONS {
            return Err(format!("at most {MAX_EXCEPTIONS} dated exceptions"));
        }
        if self.daily_reply_cap > MAX_DAILY_REPLY_CAP {
            return Err(format!("daily_reply_cap is 0 to {MAX_DAILY_REPLY_CAP}"));
        }
        if self.takeover_minutes > MAX_TAKEOVER_MINUTES {
            return Err(format!("takeover_minutes is 0 to {MAX_TAKEOVER_MINUTES}"));
        }
        self.working_hours().map_err(|e| e.to_string())
    }

    /// The safety limits these settings set.
    pub fn limits(&self) -> Limits {
        Limits {
            daily_replies: self.daily_reply_cap,
            takeover_minutes: self.takeover_minutes,
        }
    }
}

/// The state after a human agent replied: replies pause for the takeover
/// minutes, and pending escalations are moot (the store cancels their
/// timers in the same transaction).
pub fn human_replied(state: &AutomationState, at: Timestamp) -> AutomationState {
    let mut next = state.clone();
    next.last_human_reply_at = Some(at);
    next.pending_timers.clear();
    next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hours::Span;

    /// 2026-12-01T10:00:00+08:00, a Tuesday.
    const TUE_10: Timestamp = Timestamp(1_796_090_400_000);
    const MIN: i64 = 60_000;

    fn hours() -> WorkingHours {
        WorkingHours::daily("Asia/Shanghai", Span::parse("09:00", "18:00").unwrap()).unwrap()
    }

    fn rule(id: i64, trigger: Trigger, actions: Vec<Action>) -> CompiledRule {
        CompiledRule::new(Rule {
            id: RuleId(id),
            name: format!("rule {id}"),
            enabled: true,
            scope: Scope::default(),
            trigger,
            conditions: vec![],
            actions,
            cooldown_secs: None,
        })
        .unwrap()
    }

    fn reply(text: &str) -> Action {
        Action::Reply {
            text: Some(text.into()),
            content: None,
            quick_reply_id: None,
        }
    }

    fn ctx(platform: Platform) -> AutomationContext<'static> {
        AutomationContext {
            platform,
            account_id: AccountId(1),
            platform_has_enter_event: platform == Platform::Douyin,
            labels: &[],
            assigned: false,
            first_contact_ever: true,
        }
    }

    fn says(text: &str) -> AutomationEvent<'_> {
        AutomationEvent::CustomerMessage {
            text: Some(text),
            new_conversation: false,
        }
    }

    fn keywords(words: &[&str]) -> Trigger {
        Trigger::Keywords {
            mode: KeywordMatch::ContainsAny,
            keywords: words.iter().map(|w| w.to_string()).collect(),
            case_insensitive: true,
        }
    }

    fn run(
        rules: &[CompiledRule],
        event: &AutomationEvent<'_>,
        state: &AutomationState,
        now: Timestamp,
    ) -> Decision {
        decide(
            rules,
            event,
            &ctx(Platform::Douyin),
            state,
            &hours(),
            Limits::default(),
            now,
        )
    }

    #[test]
    fn a_chinese_keyword_answers_once_and_then_cools_down() {
        let rules = [rule(
            1,
            keywords(&["退款", "refund"]),
            vec![reply("退款请点订单页")],
        )];
        let d = run(
            &rules,
            &says("我想申请退款怎么弄"),
            &AutomationState::default(),
            TUE_10,
        );
        assert_eq!(d.fired.len(), 1);
        assert_eq!(d.fired[0].actions, vec![reply("退款请点订单页")]);
        assert_eq!(d.state.replies_today, 1);
        // 30 s later the same words do nothing (cooldown 60 s)…
        let again = run(&rules, &says("退款"), &d.state, TUE_10.plus_millis(30_000));
        assert!(again.fired.is_empty());
        // …and after a minute they answer again.
        let later = run(
            &rules,
            &says("REFUND please"),
            &d.state,
            TUE_10.plus_millis(61_000),
        );
        assert_eq!(later.fired.len(), 1);
        assert!(
            run(
                &rules,
                &says("发货了吗"),
                &d.state,
                TUE_10.plus_millis(61_000)
            )
            .fired
            .is_empty()
        );
    }

    #[test]
    fn exact_keywords_and_expressions_match_whole_or_by_pattern() {
        let exact = rule(
            1,
            Trigger::Keywords {
                mode: KeywordMatch::Exact,
                keywords: vec!["在吗".into()],
                case_insensitive: false,
            },
            vec![reply("在的")],
        );
        assert_eq!(
            run(
                std::slice::from_ref(&exact),
                &says(" 在吗 "),
                &AutomationState::default(),
                TUE_10
            )
            .fired
            .len(),
            1
        );
        assert!(
            run(
                &[exact],
                &says("在吗？我要买"),
                &AutomationState::default(),
                TUE_10
            )
            .fired
            .is_empty()
        );
        let re = rule(
            2,
            Trigger::Regex {
                pattern: r"(发货|快递).{0,4}(时间|多久)".into(),
                case_insensitive: true,
            },
            vec![reply("48小时内发货")],
        );
        assert_eq!(
            run(
                std::slice::from_ref(&re),
                &says("请问发货要多久"),
                &AutomationState::default(),
                TUE_10
            )
            .fired
            .len(),
            1
        );
        assert!(
            run(
                &[re],
                &says("多久发货"),
                &AutomationState::default(),
                TUE_10
            )
            .fired
            .is_empty()
        );
    }

    #[test]
    fn a_welcome_answers_the_douyin_enter_event_and_elsewhere_the_first_message() {
        let rules = [rule(1, Trigger::EnteredChat, vec![reply("欢迎光临")])];
        let d = run(
            &rules,
            &AutomationEvent::EnteredChat,
            &AutomationState::default(),
            TUE_10,
        );
        assert_eq!(d.fired.len(), 1);
        // Within 24 h the same customer entering again gets no second welcome.
        let again = run(
            &rules,
            &AutomationEvent::EnteredChat,
            &d.state,
            TUE_10.plus_millis(3_600_000),
        );
        assert!(again.fired.is_empty());
        // Douyin has the event, so its first message is not "entering"…
        let first = AutomationEvent::CustomerMessage {
            text: Some("你好"),
            new_conversation: true,
        };
        assert!(
            run(&rules, &first, &AutomationState::default(), TUE_10)
                .fired
                .is_empty()
        );
        // …Meituan has none: the first message of a new conversation is.
        let d = decide(
            &rules,
            &first,
            &ctx(Platform::Meituan),
            &AutomationState::default(),
            &hours(),
            Limits::default(),
            TUE_10,
        );
        assert_eq!(d.fired.len(), 1);
    }

    #[test]
    fn off_hours_fires_only_outside_business_hours() {
        let rules = [rule(
            1,
            Trigger::OffHours,
            vec![reply("客服 9:00–18:00 在线")],
        )];
        assert!(
            run(&rules, &says("hi"), &AutomationState::default(), TUE_10)
                .fired
                .is_empty()
        );
        let night = TUE_10.plus_millis(10 * 60 * MIN); // 20:00
        assert_eq!(
            run(&rules, &says("hi"), &AutomationState::default(), night)
                .fired
                .len(),
            1
        );
    }

    #[test]
    fn the_daily_cap_holds_replies_but_not_other_actions_and_resets_next_day() {
        let rules = [rule(
            1,
            keywords(&["价格"]),
            vec![
                reply("价格见详情页"),
                Action::AddLabel {
                    label_id: LabelId(9),
                },
            ],
        )];
        let mut state = AutomationState::default();
        let mut now = TUE_10;
        for _ in 0..5 {
            let d = run(&rules, &says("价格多少"), &state, now);
            assert_eq!(d.fired[0].reply_held, None);
            state = d.state;
            now = now.plus_millis(2 * MIN);
        }
        let capped = run(&rules, &says("价格多少"), &state, now);
        assert_eq!(capped.fired[0].reply_held, Some(ReplyHeld::DailyCap));
        assert_eq!(
            capped.fired[0].actions,
            vec![Action::AddLabel {
                label_id: LabelId(9)
            }]
        );
        let tomorrow = run(
            &rules,
            &says("价格"),
            &capped.state,
            TUE_10.plus_millis(24 * 60 * MIN),
        );
        assert_eq!(tomorrow.fired[0].reply_held, None);
        assert_eq!(tomorrow.state.replies_today, 1);
    }

    #[test]
    fn a_human_reply_pauses_automatic_replies_for_the_takeover_minutes() {
        let rules = [rule(
            1,
            keywords(&["在吗"]),
            vec![reply("在的"), Action::EmitWebhook],
        )];
        let state = human_replied(&AutomationState::default(), TUE_10);
        let d = run(&rules, &says("在吗"), &state, TUE_10.plus_millis(10 * MIN));
        assert_eq!(d.fired[0].reply_held, Some(ReplyHeld::HumanTakeover));
        assert_eq!(d.fired[0].actions, vec![Action::EmitWebhook]);
        let d = run(&rules, &says("在吗"), &state, TUE_10.plus_millis(31 * MIN));
        assert_eq!(d.fired[0].reply_held, None);
    }

    #[test]
    fn one_event_gets_at_most_one_automatic_reply() {
        let rules = [
            rule(1, keywords(&["退款"]), vec![reply("A")]),
            rule(
                2,
                keywords(&["退款"]),
                vec![
                    reply("B"),
                    Action::AddLabel {
                        label_id: LabelId(3),
                    },
                ],
            ),
        ];
        let d = run(&rules, &says("退款"), &AutomationState::default(), TUE_10);
        assert_eq!(d.fired[0].actions, vec![reply("A")]);
        assert_eq!(d.fired[1].reply_held, Some(ReplyHeld::AlreadyAnswered));
        assert_eq!(d.state.replies_today, 1);
    }

    #[test]
    fn escalation_sets_one_timer_per_turn_and_fires_once_unless_an_agent_answered() {
        let rules = [rule(
            7,
            Trigger::NoHumanReply { minutes: 5 },
            vec![Action::Assign(AssignTo::Auto)],
        )];
        let d = run(&rules, &says("有人吗"), &AutomationState::default(), TUE_10);
        assert!(d.fired.is_empty());
        assert_eq!(
            d.timers,
            vec![TimerRequest {
                rule: RuleId(7),
                due_at: TUE_10.plus_millis(5 * MIN)
            }]
        );
        // A second customer message in the same turn sets no second timer.
        let d2 = run(&rules, &says("？"), &d.state, TUE_10.plus_millis(MIN));
        assert!(d2.timers.is_empty());
        let due = AutomationEvent::Timer { rule: RuleId(7) };
        let fired = run(&rules, &due, &d2.state, TUE_10.plus_millis(5 * MIN));
        assert_eq!(fired.fired.len(), 1);
        // The same timer delivered twice fires nothing the second time.
        assert!(
            run(&rules, &due, &fired.state, TUE_10.plus_millis(5 * MIN))
                .fired
                .is_empty()
        );
        // An agent answering first makes it moot.
        let answered = human_replied(&d2.state, TUE_10.plus_millis(2 * MIN));
        assert!(
            run(&rules, &due, &answered, TUE_10.plus_millis(5 * MIN))
                .fired
                .is_empty()
        );
    }

    #[test]
    fn scope_and_conditions_narrow_where_a_rule_fires() {
        let mut r = rule(1, keywords(&["hi"]), vec![reply("hello")]).rule;
        r.scope.platforms = vec![Platform::Tencent];
        r.conditions = vec![
            Condition::Unassigned,
            Condition::ContactLacksLabel {
                label_id: LabelId(2),
            },
        ];
        let rules = [CompiledRule::new(r).unwrap()];
        assert!(
            run(&rules, &says("hi"), &AutomationState::default(), TUE_10)
                .fired
                .is_empty()
        );
        let mut c = ctx(Platform::Tencent);
        let d = decide(
            &rules,
            &says("hi"),
            &c,
            &AutomationState::default(),
            &hours(),
            Limits::default(),
            TUE_10,
        );
        assert_eq!(d.fired.len(), 1);
        c.assigned = true;
        let d = decide(
            &rules,
            &says("hi"),
            &c,
            &AutomationState::default(),
            &hours(),
            Limits::default(),
            TUE_10,
        );
        assert!(d.fired.is_empty());
        c.assigned = false;
        c.labels = &[LabelId(2)];
        let d = decide(
            &rules,
            &says("hi"),
            &c,
            &AutomationState::default(),
            &hours(),
            Limits::default(),
            TUE_10,
        );
        assert!(d.fired.is_empty());
    }

    #[test]
    fn the_pre_check_never_skips_what_decide_would_do() {
        let rules = [
            rule(1, keywords(&["退款"]), vec![reply("A")]),
            rule(2, Trigger::OffHours, vec![reply("B")]),
        ];
        let check = |text: &str, at: Timestamp| {
            may_trigger(
                &rules,
                &says(text),
                Platform::Douyin,
                AccountId(1),
                &hours(),
                at,
            )
        };
        assert!(check("我要退款", TUE_10));
        assert!(!check("发货了吗", TUE_10));
        assert!(check("发货了吗", TUE_10.plus_millis(10 * 60 * MIN)));
        let welcome = [rule(3, Trigger::EnteredChat, vec![reply("C")])];
        let first = AutomationEvent::CustomerMessage {
            text: Some("hi"),
            new_conversation: true,
        };
        let h = hours();
        assert!(!may_trigger(
            &welcome,
            &first,
            Platform::Douyin,
            AccountId(1),
            &h,
            TUE_10
        ));
        assert!(may_trigger(
            &welcome,
            &first,
            Platform::Meituan,
            AccountId(1),
            &h,
            TUE_10
        ));
        for (text, at) in [
            ("我要退款", TUE_10),
            ("x", TUE_10),
            ("x", TUE_10.plus_millis(10 * 60 * MIN)),
        ] {
            let d = run(&rules, &says(text), &AutomationState::default(), at);
            if !d.fired.is_empty() || !d.timers.is_empty() {
                assert!(check(text, at));
            }
        }
    }

    #[test]
    fn rules_that_cannot_work_are_refused_when_saved() {
        let base = |trigger, actions| Rule {
            id: RuleId(1),
            name: "r".into(),
            enabled: true,
            scope: Scope::default(),
            trigger,
            conditions: vec![],
            actions,
            cooldown_secs: None,
        };
        let bad_re = Trigger::Regex {
            pattern: "(退款".into(),
            case_insensitive: false,
        };
        assert!(matches!(
            CompiledRule::new(base(bad_re, vec![reply("x")])),
            Err(RuleError::BadPattern(_))
        ));
        let huge = Trigger::Regex {
            pattern: "a".repeat(MAX_PATTERN_CHARS + 1),
            case_insensitive: false,
        };
        assert_eq!(
            CompiledRule::new(base(huge, vec![reply("x")])).unwrap_err(),
            RuleError::PatternTooLong
        );
        let blowup = Trigger::Regex {
            pattern: r"\w{1000}\w{1000}\w{1000}".into(),
            case_insensitive: false,
        };
        assert!(matches!(
            CompiledRule::new(base(blowup, vec![reply("x")])),
            Err(RuleError::BadPattern(_))
        ));
        assert_eq!(
            CompiledRule::new(base(keywords(&[" "]), vec![reply("x")])).unwrap_err(),
            RuleError::BadKeywords
        );
        assert_eq!(
            CompiledRule::new(base(keywords(&["a"]), vec![])).unwrap_err(),
            RuleError::NoActions
        );
        let long = "好".repeat(301);
        assert_eq!(
            CompiledRule::new(base(keywords(&["a"]), vec![reply(&long)])).unwrap_err(),
            RuleError::DouyinReplyTooLong(301)
        );
        let mut tencent_only = base(keywords(&["a"]), vec![reply(&long)]);
        tencent_only.scope.platforms = vec![Platform::Tencent];
        assert!(CompiledRule::new(tencent_only).is_ok());
        assert_eq!(
            CompiledRule::new(base(keywords(&["a"]), vec![reply("x"), reply("y")])).unwrap_err(),
            RuleError::SeveralReplies
        );
        let empty_reply = Action::Reply {
            text: None,
            content: None,
            quick_reply_id: None,
        };
        assert_eq!(
            CompiledRule::new(base(keywords(&["a"]), vec![empty_reply])).unwrap_err(),
            RuleError::BadReply
        );
        assert_eq!(
            CompiledRule::new(base(
                Trigger::NoHumanReply { minutes: 0 },
                vec![Action::EmitWebhook]
            ))
            .unwrap_err(),
            RuleError::BadMinutes
        );
    }

    #[test]
    fn rules_read_and_write_as_the_api_shows_them() {
        let json = serde_json::json!({
            "id": 3, "name": "退款", "enabled": true,
            "scope": {"platforms": ["douyin"]},
            "trigger": {"type": "keywords", "match": "contains_any", "keywords": ["退款"], "case_insensitive": true},
            "conditions": [{"type": "unassigned"}],
            "actions": [{"type": "reply", "text": "您好 {{contact.nickname}}"}, {"type": "assign", "to": "auto"}],
        });
        let rule: Rule = serde_json::from_value(json).unwrap();
        assert_eq!(rule.actions[1], Action::Assign(AssignTo::Auto));
        assert!(CompiledRule::new(rule).is_ok());
    }

    proptest::proptest! {
        #[test]
        fn never_more_replies_a_day_than_the_cap(texts in proptest::collection::vec("[退款价格hi ]{0,6}", 0..40), gaps in proptest::collection::vec(0i64..600_000, 40)) {
            let rules = [
                rule(1, keywords(&["退款"]), vec![reply("A")]),
                rule(2, keywords(&["价格"]), vec![reply("B")]),
                rule(3, Trigger::OffHours, vec![reply("C")]),
            ];
            let mut state = AutomationState::default();
            let mut now = TUE_10;
            let mut sent = 0u32;
            for (text, gap) in texts.iter().zip(gaps) {
                now = now.plus_millis(gap);
                let d = run(&rules, &says(text), &state, now);
                let replies = d.fired.iter().filter(|f| f.actions.iter().any(Action::is_reply)).count();
                proptest::prop_assert!(replies <= 1);
                sent += replies as u32;
                state = d.state;
            }
            // All within one local day (40 × 10 min < 8 h from 10:00).
            proptest::prop_assert!(sent <= Limits::default().daily_replies);
        }
    }
}
