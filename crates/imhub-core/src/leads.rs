//! What a customer told us about themselves, found in what they wrote:
//! mainland mobile numbers, WeChat ids, and the fields of a Douyin lead
//! card. Pure functions, applied by the store in the transaction that
//! records the message (issue 14 builds leads on them).
//!
//! A mobile number is 11 digits starting with 1 and 3–9, written with
//! spaces or dashes between groups, in ASCII or full-width digits, with an
//! optional +86 / 86 in front. What looks like one but is not:
//! - a longer run of digits (order numbers, tracking numbers, timestamps),
//!   or digits glued to letters (`SF1380013800`, `JD…`);
//! - digits right after words that name an order, a parcel or money
//!   (订单号, 单号, 运单, 快递, 物流, 金额, ¥…);
//! - the merchant's own numbers, passed in.

use serde::{Deserialize, Serialize};

/// Words that, just before a number, say it is not the customer's phone.
const NOT_A_PHONE_BEFORE: &[&str] = &[
    "订单号",
    "订单编号",
    "订单",
    "单号",
    "运单",
    "快递",
    "物流",
    "编号",
    "取件码",
    "验证码",
    "工号",
    "金额",
    "价格",
    "¥",
    "￥",
    "$",
    "元",
    "券码",
    "流水号",
    "交易号",
    "order",
    "no.",
    "#",
];

/// Words that introduce a WeChat id.
const WECHAT_MARKERS: &[&str] = &[
    "微信号",
    "微信",
    "威信",
    "薇信",
    "加v",
    "加V",
    "+v",
    "+V",
    "vx",
    "VX",
    "Vx",
    "vX",
    "wx",
    "WX",
    "Wx",
    "wechat",
    "WeChat",
    "Wechat",
];

/// What a customer's text revealed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    /// Mobile numbers, 11 ASCII digits each, in order, without repeats.
    pub phones: Vec<String>,
    /// WeChat ids, in order, without repeats.
    pub wechat_ids: Vec<String>,
}

/// Folds full-width digits, letters and common punctuation to ASCII, so
/// `１３８` reads as `138` and `：` as `:`.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        '—' | '–' | '‐' => '-',
        _ => c,
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '\u{00A0}')
}

/// Finds the mainland mobile numbers in `text`, leaving out `own` (the
/// merchant's numbers, any format).
pub fn phones(text: &str, own: &[&str]) -> Vec<String> {
    let chars: Vec<char> = text.chars().map(fold_width).collect();
    let own: Vec<String> = own.iter().map(|o| digits_of(o)).collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run of digits with single separators between groups.
        let start = i;
        let mut digits = String::new();
        let mut end = i;
        let mut j = i;
        while j < chars.len() {
            let c = chars[j];
            if c.is_ascii_digit() {
                digits.push(c);
                end = j + 1;
                j += 1;
            } else if is_separator(c) && j + 1 < chars.len() && chars[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        i = end.max(start + 1);
        // Digits glued to letters or `_` are part of an id, a code or a
        // tracking number.
        let part_of_word = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
        let glued_before = start > 0 && part_of_word(&chars[start - 1]);
        let glued_after = chars.get(end).is_some_and(part_of_word);
        if glued_before || glued_after {
            continue;
        }
        let number = match digits.len() {
            11 => digits,
            13 if digits.starts_with("86") => digits[2..].to_string(),
            _ => continue,
        };
        if !is_mobile(&number) || own.contains(&number) {
            continue;
        }
        let prefix: String = chars[..start].iter().collect::<String>().to_lowercase();
        let prefix =
            prefix.trim_end_matches(|c: char| is_separator(c) || matches!(c, ':' | '是' | '为'));
        if NOT_A_PHONE_BEFORE
            .iter()
            .any(|w| prefix.ends_with(&w.to_lowercase()))
        {
            continue;
        }
        if !found.contains(&number) {
            found.push(number);
        }
    }
    found
}

fn digits_of(s: &str) -> String {
    let d: String = s
        .chars()
        .map(fold_width)
        .filter(char::is_ascii_digit)
        .collect();
    if d.len() == 13 && d.starts_with("86") {
        d[2..].to_string()
    } else {
        d
    }
}

/// 11 digits, `1` then `3`–`9`.
fn is_mobile(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 11
        && b[0] == b'1'
        && (b'3'..=b'9').contains(&b[1])
        && b.iter().all(u8::is_ascii_digit)
}

/// Finds WeChat ids introduced by 微信 / VX / wx / 加V…: 6–20 characters,
/// a letter first, then letters, digits, `_` or `-`; or a mobile number
/// (in any writing). "微信同号" means the phone found elsewhere and is not
/// an id; the merchant's `own` numbers are never one.
pub fn wechat_ids(text: &str, own: &[&str]) -> Vec<String> {
    let folded: String = text.chars().map(fold_width).collect();
    let own: Vec<String> = own.iter().map(|o| digits_of(o)).collect();
    let mut found = Vec::new();
    let mut from = 0;
    while from < folded.len() {
        let Some((at, marker)) = WECHAT_MARKERS
            .iter()
            .filter_map(|m| folded[from..].find(m).map(|p| (from + p, *m)))
            .min_by_key(|(p, m)| (*p, usize::MAX - m.len()))
        else {
            break;
        };
        from = at + marker.len();
        // "wx" inside a word (e.g. an id "abcwx123") is not a marker.
        if marker.is_ascii()
            && folded[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric())
        {
            continue;
        }
        let (rest, explicit) = after_connectors(&folded[from..]);
        let (id, used) = match leading_mobile(rest) {
            Some((number, used)) => (number, used),
            None => {
                let id: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                let id = id.trim_end_matches('-').to_string();
                let used = id.len();
                (id, used)
            }
        };
        let shaped = (6..=20).contains(&id.len())
            && (id.starts_with(|c: char| c.is_ascii_alphabetic()) || is_mobile(&id));
        // After an English marker with only a space, a plain word is prose
        // ("pay with WeChat instead"), not an id.
        let prose = marker.is_ascii() && !explicit && id.chars().all(|c| c.is_ascii_alphabetic());
        if shaped && !prose && !own.contains(&id) {
            // Go on after the id, so a marker inside it ("wxid_…") is not read again.
            from = folded.len() - rest.len() + used;
            if !found.contains(&id) {
                found.push(id);
            }
        }
    }
    found
}

/// Skips what stands between a WeChat marker and the id ("号是：",
/// "就是", "搜", "is", "me at"); tells whether an explicit one (a colon,
/// 是, is…) was among them.
fn after_connectors(mut rest: &str) -> (&str, bool) {
    const WORDS: &[(&str, bool)] = &[
        ("就是", true),
        ("号码", true),
        ("码", true),
        ("是", true),
        ("为", true),
        ("号", true),
        ("搜", true),
        (":", true),
        ("is ", true),
        ("id:", true),
        ("ID:", true),
        ("id ", true),
        ("ID ", true),
        ("me at ", true),
        ("me on ", true),
        ("at ", true),
        (" ", false),
        ("-", false),
        ("~", false),
    ];
    let mut explicit = false;
    'outer: loop {
        for (word, counts) in WORDS {
            if let Some(next) = rest.strip_prefix(word) {
                rest = next;
                explicit |= counts;
                continue 'outer;
            }
        }
        return (rest, explicit);
    }
}

/// A mobile number at the very start of `text` (single spaces or dashes
/// between groups), as 11 digits, with how many bytes it used.
fn leading_mobile(text: &str) -> Option<(String, usize)> {
    let mut digits = String::new();
    let mut used = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() {
            digits.push(char::from(b));
            used = i + 1;
        } else if !(matches!(b, b' ' | b'-') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            break;
        }
        i += 1;
    }
    let glued = text[used..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    (is_mobile(&digits) && !glued).then_some((digits, used))
}

/// Everything a customer's message text reveals.
pub fn extract(text: &str, own_numbers: &[&str]) -> Extracted {
    let wechat_ids = wechat_ids(text, own_numbers);
    let phones = phones(text, own_numbers);
    Extracted { phones, wechat_ids }
}

/// The fields of a submitted Douyin lead card (`card_data[]` {label,
/// value}), by what their label asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFields {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub wechat_id: Option<String>,
    pub city: Option<String>,
    /// Every other label the card asked, with its answer, in order.
    pub other: Vec<(String, String)>,
}

/// Sorts a lead card's label/value pairs into fields (姓名, 手机号, 微信,
/// 城市…); empty answers are skipped.
pub fn card_fields(pairs: &[(String, String)]) -> CardFields {
    let mut out = CardFields::default();
    for (label, value) in pairs {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let l = label.trim();
        let asks = |words: &[&str], english: &str| {
            words.iter().any(|w| l.contains(w)) || l.eq_ignore_ascii_case(english)
        };
        let (slot, value) = if asks(&["姓名", "称呼", "名字"], "name") {
            (&mut out.name, value.to_string())
        } else if asks(&["手机", "电话", "联系方式"], "phone") {
            (&mut out.phone, digits_of(value))
        } else if asks(&["微信"], "wechat") {
            (&mut out.wechat_id, value.to_string())
        } else if asks(&["城市", "地区", "所在地"], "city") {
            (&mut out.city, value.to_string())
        } else {
            out.other.push((l.to_string(), value.to_string()));
            continue;
        };
        if slot.is_none() {
            *slot = Some(value);
        } else {
            out.other.push((l.to_string(), value));
        }
    }
    out
}

// ---------------------------------------------------------------------
// Leads (issue 14): the lead's stages, what one customer message adds to
// a lead, and the pure helpers the API needs (masking, CSV cells).
// ---------------------------------------------------------------------

/// A lead (意向用户): a contact the team follows up. Assigned by the store.
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
pub struct LeadId(pub i64);

impl std::fmt::Display for LeadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for LeadId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(LeadId)
    }
}

/// Where a lead stands: 新线索 → 跟进中 → 已转化 / 无效. Any stage may be
/// set from any other (an agent corrects a mistake); the order is the
/// funnel's, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeadStage {
    /// 新线索: captured, nobody followed up yet.
    New,
    /// 跟进中: an agent is on it.
    Following,
    /// 已转化: became a customer.
    Converted,
    /// 无效: not a real lead (spam, wrong number).
    Invalid,
}

impl LeadStage {
    /// Every stage, in funnel order.
    pub const ALL: [LeadStage; 4] = [
        LeadStage::New,
        LeadStage::Following,
        LeadStage::Converted,
        LeadStage::Invalid,
    ];

    /// The stored and API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LeadStage::New => "new",
            LeadStage::Following => "following",
            LeadStage::Converted => "converted",
            LeadStage::Invalid => "invalid",
        }
    }

    /// Reads the stored or API spelling back (the Chinese names too).
    pub fn parse(s: &str) -> Option<Self> {
        LeadStage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s || stage.label() == s)
    }

    /// The name merchants read (exports, activity).
    pub fn label(self) -> &'static str {
        match self {
            LeadStage::New => "新线索",
            LeadStage::Following => "跟进中",
            LeadStage::Converted => "已转化",
            LeadStage::Invalid => "无效",
        }
    }
}

/// Most phone numbers a lead keeps.
pub const MAX_LEAD_PHONES: usize = 5;
/// Most Meituan orders a lead remembers (newest kept).
pub const MAX_LEAD_ORDERS: usize = 20;
/// Most extra card answers a lead keeps.
pub const MAX_LEAD_FIELDS: usize = 30;

/// What one customer message says about its sender as a lead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub name: Option<String>,
    /// 11-digit mobile numbers.
    pub phones: Vec<String>,
    pub wechat_ids: Vec<String>,
    pub city: Option<String>,
    /// Other answers of a lead card, by label.
    pub fields: Vec<(String, String)>,
    /// The Meituan order the conversation is about.
    pub order_id: Option<String>,
}

impl Facts {
    /// Whether the message names the customer in a way worth a lead: a
    /// phone, a WeChat id or a submitted card (an order alone is not).
    pub fn makes_a_lead(&self) -> bool {
        !self.phones.is_empty()
            || !self.wechat_ids.is_empty()
            || self.name.is_some()
            || self.city.is_some()
            || !self.fields.is_empty()
    }
}

/// What a customer's message reveals: the numbers and ids in its text, or
/// the answers of a submitted Douyin lead card (`card_status` 2; a blank
/// card says nothing), and the order of its conversation's context.
/// `own` are the merchant's numbers, never the customer's.
pub fn facts_of(
    content: &crate::Content,
    context: Option<&serde_json::Value>,
    own: &[&str],
) -> Facts {
    let mut facts = Facts {
        order_id: order_in_context(context),
        ..Facts::default()
    };
    match content {
        crate::Content::Text { text } => {
            let found = extract(text, own);
            facts.phones = found.phones;
            facts.wechat_ids = found.wechat_ids;
        }
        crate::Content::LeadCard {
            status: Some(2),
            fields,
            ..
        } => {
            let pairs: Vec<(String, String)> = fields
                .iter()
                .map(|f| (f.label.clone(), f.value.clone()))
                .collect();
            let card = card_fields(&pairs);
            facts.name = card.name;
            // A masked or malformed number (138****0000) is kept as an
            // answer, not as a phone.
            match card.phone {
                Some(p) if is_mobile(&p) => facts.phones.push(p),
                Some(p) if !p.is_empty() => {
                    let raw = pairs
                        .iter()
                        .map(|(_, v)| v.trim())
                        .find(|v| digits_of(v) == p)
                        .unwrap_or(&p);
                    facts.fields.push(("手机号".to_string(), raw.to_string()));
                }
                _ => {}
            }
            if let Some(w) = card.wechat_id {
                facts.wechat_ids.push(w);
            }
            facts.city = card.city;
            facts.fields.extend(card.other);
        }
        _ => {}
    }
    facts
}

/// The order a conversation's platform context names (Meituan:
/// `{"order_id": 123}` as a number or text), as text.
pub fn order_in_context(context: Option<&serde_json::Value>) -> Option<String> {
    match context?.get("order_id")? {
        serde_json::Value::Number(n) => n.as_i64().filter(|o| *o > 0).map(|o| o.to_string()),
        serde_json::Value::String(s) => {
            let s = s.trim();
            (!s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.to_string())
        }
        _ => None,
    }
}

/// The parts of a lead that capture and agents fill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadData {
    pub name: Option<String>,
    pub phones: Vec<String>,
    pub wechat_id: Option<String>,
    pub city: Option<String>,
    pub notes: Option<String>,
    /// Other answers of lead cards, by label, in the order first seen.
    pub fields: Vec<(String, String)>,
    /// Meituan orders, oldest first.
    pub orders: Vec<String>,
}

/// A lead after what a message revealed, or `None` when it adds nothing.
/// Capture only fills: a name, WeChat id or city already there (perhaps
/// typed by an agent) is never replaced; new phones, answers and orders
/// are added after the known ones, within their limits.
pub fn absorb(current: &LeadData, facts: &Facts) -> Option<LeadData> {
    let mut next = current.clone();
    let fill = |slot: &mut Option<String>, value: Option<&String>| {
        if slot.as_deref().is_none_or(|s| s.trim().is_empty())
            && let Some(v) = value.filter(|v| !v.trim().is_empty())
        {
            *slot = Some(v.trim().to_string());
        }
    };
    fill(&mut next.name, facts.name.as_ref());
    fill(&mut next.wechat_id, facts.wechat_ids.first());
    fill(&mut next.city, facts.city.as_ref());
    for phone in &facts.phones {
        if !next.phones.contains(phone) && next.phones.len() < MAX_LEAD_PHONES {
            next.phones.push(phone.clone());
        }
    }
    for (label, value) in &facts.fields {
        if !next.fields.iter().any(|(l, _)| l == label) && next.fields.len() < MAX_LEAD_FIELDS {
            next.fields.push((label.clone(), value.clone()));
        }
    }
    if let Some(order) = &facts.order_id
        && !next.orders.contains(order)
    {
        next.orders.push(order.clone());
        if next.orders.len() > MAX_LEAD_ORDERS {
            next.orders.remove(0);
        }
    }
    (next != *current).then_some(next)
}

/// One field's change, as the lead's history shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// `name`, `phones`, `wechat_id`, `city`, `notes`, `fields`, `orders`,
    /// `stage`, `owner_id`, `contacts`.
    pub field: String,
    #[schema(value_type = Object)]
    pub from: serde_json::Value,
    #[schema(value_type = Object)]
    pub to: serde_json::Value,
}

/// The fields that differ between two versions of a lead's data.
pub fn diff(old: &LeadData, new: &LeadData) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            out.push(FieldChange {
                field: field.to_string(),
                from,
                to,
            });
        }
    };
    use serde_json::json;
    push("name", json!(old.name), json!(new.name));
    push("phones", json!(old.phones), json!(new.phones));
    push("wechat_id", json!(old.wechat_id), json!(new.wechat_id));
    push("city", json!(old.city), json!(new.city));
    push("notes", json!(old.notes), json!(new.notes));
    push("fields", json!(old.fields), json!(new.fields));
    push("orders", json!(old.orders), json!(new.orders));
    out
}

/// A phone number as agents see it in lists: `138****8000` (the first
/// three and last four digits of a mobile number; shorter ones hide all
/// but their last two).
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    match chars.len() {
        n if n >= 11 => format!(
            "{}****{}",
            chars[..3].iter().collect::<String>(),
            chars[n - 4..].iter().collect::<String>()
        ),
        n if n > 4 => format!("****{}", chars[n - 2..].iter().collect::<String>()),
        _ => "****".to_string(),
    }
}

/// The merchant's own numbers as 11-digit mobile numbers (any writing in);
/// anything that is not one is refused with its text.
pub fn normalize_own_number(number: &str) -> Option<String> {
    let d = digits_of(number);
    is_mobile(&d).then_some(d)
}

/// One CSV cell (RFC 4180): quoted when it holds a comma, a quote, a line
/// break or leading/trailing space, quotes doubled; a cell a spreadsheet
/// would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return) gets a leading `'` so Excel shows it as text.
pub fn csv_cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    let needs_quotes = neutral.contains([',', '"', '\n', '\r'])
        || neutral.starts_with(' ')
        || neutral.ends_with(' ');
    if needs_quotes {
        format!("\"{}\"", neutral.replace('"', "\"\""))
    } else {
        neutral
    }
}

#[cfg(test)]
mod lead_tests {
    use super::*;
    use crate::{Content, content::LeadCardField};

    fn card(status: Option<i64>, pairs: &[(&str, &str)]) -> Content {
        Content::LeadCard {
            card_id: "c1".into(),
            title: None,
            status,
            fields: pairs
                .iter()
                .map(|(l, v)| LeadCardField {
                    label: l.to_string(),
                    value: v.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_submitted_card_gives_its_fields_and_a_blank_one_nothing() {
        let f = facts_of(
            &card(
                Some(2),
                &[
                    ("姓名", "王女士"),
                    ("手机号", "138 0013 8000"),
                    ("城市", "杭州"),
                    ("预算", "5万"),
                ],
            ),
            None,
            &[],
        );
        assert_eq!(f.name.as_deref(), Some("王女士"));
        assert_eq!(f.phones, vec!["13800138000"]);
        assert_eq!(f.city.as_deref(), Some("杭州"));
        assert_eq!(f.fields, vec![("预算".to_string(), "5万".to_string())]);
        assert!(f.makes_a_lead());
        let blank = facts_of(&card(Some(1), &[("姓名", "王女士")]), None, &[]);
        assert!(!blank.makes_a_lead());
        // A masked number is an answer, not a phone.
        let masked = facts_of(&card(Some(2), &[("手机号", "138****0000")]), None, &[]);
        assert!(masked.phones.is_empty());
        assert_eq!(
            masked.fields,
            vec![("手机号".to_string(), "138****0000".to_string())]
        );
    }

    #[test]
    fn text_gives_phones_and_wechat_and_the_context_its_order() {
        let f = facts_of(
            &Content::Text {
                text: "电话13800138000 微信 abc_123456".into(),
            },
            Some(&serde_json::json!({"order_id": 9_001_234})),
            &["13900001111"],
        );
        assert_eq!(f.phones, vec!["13800138000"]);
        assert_eq!(f.wechat_ids, vec!["abc_123456"]);
        assert_eq!(f.order_id.as_deref(), Some("9001234"));
        let only_order = facts_of(
            &Content::Text {
                text: "在吗".into(),
            },
            Some(&serde_json::json!({"order_id": "77"})),
            &[],
        );
        assert!(!only_order.makes_a_lead());
        assert_eq!(
            order_in_context(Some(&serde_json::json!({"order_id": 0}))),
            None
        );
        assert_eq!(
            order_in_context(Some(&serde_json::json!({"order_id": "x1"}))),
            None
        );
    }

    #[test]
    fn absorbing_fills_but_never_overwrites_and_repeats_change_nothing() {
        let current = LeadData {
            name: Some("王总".into()),
            phones: vec!["13800138000".into()],
            ..LeadData::default()
        };
        let facts = Facts {
            name: Some("王女士".into()),
            phones: vec!["13800138000".into(), "13900002222".into()],
            wechat_ids: vec!["wang_88".into()],
            city: Some("杭州".into()),
            ..Facts::default()
        };
        let next = absorb(&current, &facts).unwrap();
        assert_eq!(next.name.as_deref(), Some("王总"));
        assert_eq!(next.phones, vec!["13800138000", "13900002222"]);
        assert_eq!(next.wechat_id.as_deref(), Some("wang_88"));
        assert_eq!(absorb(&next, &facts), None);
        let changed: Vec<String> = diff(&current, &next).into_iter().map(|c| c.field).collect();
        assert_eq!(changed, vec!["phones", "wechat_id", "city"]);
    }

    #[test]
    fn stages_read_both_spellings_and_nothing_else() {
        for stage in LeadStage::ALL {
            assert_eq!(LeadStage::parse(stage.as_str()), Some(stage));
            assert_eq!(LeadStage::parse(stage.label()), Some(stage));
        }
        assert_eq!(LeadStage::parse("won"), None);
        assert_eq!(LeadStage::parse(""), None);
    }

    #[test]
    fn phones_are_masked_in_the_middle() {
        assert_eq!(mask_phone("13800138000"), "138****8000");
        assert_eq!(mask_phone("4008123"), "****23");
        assert_eq!(mask_phone("123"), "****");
        assert_eq!(
            normalize_own_number("+86 139-0000-1111").as_deref(),
            Some("13900001111")
        );
        assert_eq!(normalize_own_number("4008123123"), None);
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralized() {
        assert_eq!(csv_cell("王女士"), "王女士");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("line1\nline2"), "\"line1\nline2\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+8613800138000"), "'+8613800138000");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell(""), "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_numbers_in_every_common_writing() {
        for (text, want) in [
            ("我电话13800138000", "13800138000"),
            ("手机 138-0013-8000 谢谢", "13800138000"),
            ("138 0013 8000", "13800138000"),
            ("联系我：１３９１２３４５６７８", "13912345678"),
            ("+86 186 1234 5678", "18612345678"),
            ("86-15912345678", "15912345678"),
            ("tel:17712345678.", "17712345678"),
        ] {
            assert_eq!(phones(text, &[]), vec![want.to_string()], "{text}");
        }
    }

    #[test]
    fn numbers_that_are_not_phones_are_left_alone() {
        for text in [
            "订单号 13800138000 怎么还没发货",
            "快递单号：13512345678",
            "我的订单 202311251234567 到哪了",
            "SF1380013800012 这个快递",
            "价格13800元可以吗",
            "¥13800",
            "2023-11-25 12:30 下的单",
            "验证码 138001",
            "12345678901",
            "客服电话 4008123123",
            "138001380001 多了一位",
        ] {
            assert!(
                phones(text, &[]).is_empty(),
                "{text}: {:?}",
                phones(text, &[])
            );
        }
        assert!(phones("打 13900001111 找店长", &["139-0000-1111"]).is_empty());
    }

    #[test]
    fn wechat_ids_after_their_markers() {
        assert_eq!(wechat_ids("加我微信 abc_123456", &[]), vec!["abc_123456"]);
        assert_eq!(wechat_ids("VX：Lily-2024 谢谢", &[]), vec!["Lily-2024"]);
        assert_eq!(wechat_ids("加V zhang_san88", &[]), vec!["zhang_san88"]);
        assert_eq!(wechat_ids("wx 13800138000", &[]), vec!["13800138000"]);
        assert!(wechat_ids("微信同号", &[]).is_empty());
        assert!(wechat_ids("微信支付可以吗", &[]).is_empty());
        assert!(wechat_ids("vx ab", &[]).is_empty()); // too short
        assert!(wechat_ids("my id is abcwx12345", &[]).is_empty());
        assert_eq!(wechat_ids("vx 139 8765 4321", &[]), vec!["13987654321"]);
        assert_eq!(wechat_ids("微信号码：zhao_liu", &[]), vec!["zhao_liu"]);
        assert!(wechat_ids("Can I pay with WeChat instead?", &[]).is_empty());
        assert!(wechat_ids("加你们微信13900001111", &["139-0000-1111"]).is_empty());
    }

    #[test]
    fn a_lead_card_sorts_into_fields() {
        let pairs = [
            ("姓名", "王女士"),
            ("手机号", "138 0013 8000"),
            ("城市", "杭州"),
            ("预算", "5万以内"),
            ("备注", ""),
        ]
        .map(|(l, v)| (l.to_string(), v.to_string()));
        let f = card_fields(&pairs);
        assert_eq!(f.name.as_deref(), Some("王女士"));
        assert_eq!(f.phone.as_deref(), Some("13800138000"));
        assert_eq!(f.city.as_deref(), Some("杭州"));
        assert_eq!(f.other, vec![("预算".to_string(), "5万以内".to_string())]);
    }

    /// A corpus of customer messages with the numbers a careful reader
    /// would take as the customer's phone: (text, phones, wechat ids).
    const CORPUS: &[(&str, &[&str], &[&str])] = &[
        ("你好，在吗", &[], &[]),
        ("我想问一下这个多少钱", &[], &[]),
        ("我的电话是13812345678，麻烦回电", &["13812345678"], &[]),
        ("手机：139-1234-5678", &["13912345678"], &[]),
        ("留个电话 150 1234 5678", &["15012345678"], &[]),
        ("加我微信 wxid_abc123 详聊", &[], &["wxid_abc123"]),
        ("vx: Tony_Chen1990", &[], &["Tony_Chen1990"]),
        ("订单号 2023112512345678 什么时候发货", &[], &[]),
        ("订单号：13812345678 查一下", &[], &[]),
        ("快递单号 SF1234567890123", &[], &[]),
        ("圆通 YT7412345678901 到哪了", &[], &[]),
        ("京东单号JD0012345678901", &[], &[]),
        ("运单号13512345678", &[], &[]),
        ("价格是不是 13800 元", &[], &[]),
        ("¥15800 能便宜吗", &[], &[]),
        ("2023年11月25日下的单", &[], &[]),
        ("11月25号 13:30 送到吗", &[], &[]),
        ("预约 2024-01-15 下午", &[], &[]),
        ("我是18600001111，王先生", &["18600001111"], &[]),
        ("联系方式 177 0000 2222 微信同号", &["17700002222"], &[]),
        ("打我电话１８８１２３４５６７８", &["18812345678"], &[]),
        ("+86 13700001234", &["13700001234"], &[]),
        ("8613600001234", &["13600001234"], &[]),
        ("电话 010-12345678 座机", &[], &[]),
        ("400-800-8888 是你们客服吗", &[], &[]),
        ("验证码是 123456", &[], &[]),
        ("取件码 13579", &[], &[]),
        ("我买了3件，一共299元", &[], &[]),
        ("尺码 175/92A", &[], &[]),
        ("身份证后四位 1234", &[], &[]),
        ("我在北京朝阳，电话15911112222", &["15911112222"], &[]),
        ("麻烦发到 13911112222 这个号", &["13911112222"], &[]),
        ("wx同号 13522223333", &["13522223333"], &[]),
        ("加V：lisi-888", &[], &["lisi-888"]),
        ("微信号是 Zhang_Wei_2020", &[], &["Zhang_Wei_2020"]),
        ("微信支付可以吗", &[], &[]),
        ("能用微信付款吗", &[], &[]),
        ("你们有微信群吗", &[], &[]),
        ("13800138000", &["13800138000"], &[]),
        ("1380013800", &[], &[]),
        ("138001380000", &[], &[]),
        ("12812345678 这个号码不对", &[], &[]),
        ("我的号 14712345678", &["14712345678"], &[]),
        ("199 8888 7777 找我", &["19988887777"], &[]),
        ("座机 0571-88888888", &[], &[]),
        ("订单 1691234567890 (时间戳)", &[], &[]),
        ("订单编号：5012345678901234", &[], &[]),
        ("物流 13612345678 查不到", &[], &[]),
        ("金额 13012345678 不对吧", &[], &[]),
        ("我叫李雷，手机13366667777，在上海", &["13366667777"], &[]),
        ("老板电话多少", &[], &[]),
        ("可以开发票吗", &[], &[]),
        ("发票抬头 上海某某公司 税号 91310000123456789X", &[], &[]),
        ("请问 iPhone 15 有货吗", &[], &[]),
        ("型号 A2849 还有吗", &[], &[]),
        ("我要 2 件 XL", &[], &[]),
        (
            "电话：152-0000-3333，微信：qq_15200003333",
            &["15200003333"],
            &["qq_15200003333"],
        ),
        ("手机号码18512340000谢谢", &["18512340000"], &[]),
        ("call me at 13900002222 please", &["13900002222"], &[]),
        ("my wechat is jack_ma_01", &[], &["jack_ma_01"]),
        ("WeChat: helloWorld9", &[], &["helloWorld9"]),
        ("QQ 123456789", &[], &[]),
        ("QQ号 1381234567", &[], &[]),
        ("银行卡 6222021234567890123", &[], &[]),
        ("车牌 沪A12345", &[], &[]),
        ("邮编 200000", &[], &[]),
        ("房号 1301", &[], &[]),
        ("6月18号活动还有吗", &[], &[]),
        ("双11 的价格能保吗", &[], &[]),
        ("满300减30", &[], &[]),
        ("一共 13 件，每件 8 块", &[], &[]),
        (
            "我是老客户了，之前电话留过 13711112222",
            &["13711112222"],
            &[],
        ),
        ("麻烦加一下 VX wangwu_2023", &[], &["wangwu_2023"]),
        ("微信 w12345", &[], &["w12345"]),
        ("微信 abcdefghijklmnopqrstu", &[], &[]),
        ("手机尾号 5678 的那个", &[], &[]),
        (
            "136 1234 5678 和 137 1234 5678 都可以",
            &["13612345678", "13712345678"],
            &[],
        ),
        (
            "号码 138-1234-5678 或者 座机 021-12345678",
            &["13812345678"],
            &[],
        ),
        ("电话 15０1234５678", &["15012345678"], &[]),
        ("13812345678。", &["13812345678"], &[]),
        ("（13812345679）", &["13812345679"], &[]),
        (
            "手机:18911112222/微信:zhaoliu_88",
            &["18911112222"],
            &["zhaoliu_88"],
        ),
        ("订单号#13812340000", &[], &[]),
        ("no.13812340001", &[], &[]),
        ("编号13812340002", &[], &[]),
        ("你们店电话 13900001111 吗", &[], &[]),
        ("请联系店长 139-0000-1111", &[], &[]),
        ("好的谢谢", &[], &[]),
        ("发什么快递", &[], &[]),
        ("多久能到", &[], &[]),
        ("可以退货吗", &[], &[]),
        ("质量怎么样", &[], &[]),
        ("有优惠券吗", &[], &[]),
        ("包邮吗", &[], &[]),
        ("怎么联系你们", &[], &[]),
        ("明天下午3点前能送到吗", &[], &[]),
        ("地址：杭州市西湖区文三路 138 号", &[], &[]),
        ("电话 13800138000 地址 文三路138号", &["13800138000"], &[]),
        ("我的微信是手机号 13600002222", &["13600002222"], &[]),
        ("薇信 xiaomei_520", &[], &["xiaomei_520"]),
        ("2024.01.15 13:00:00", &[], &[]),
        ("1.5米的床有吗", &[], &[]),
        ("售价 1380 元", &[], &[]),
    ];

    /// The merchant's own numbers for the corpus.
    const OWN: &[&str] = &["13900001111"];

    #[test]
    fn the_corpus_is_read_with_high_precision_and_recall() {
        assert!(CORPUS.len() >= 100, "{} messages", CORPUS.len());
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        let mut wrong = Vec::new();
        for (text, want_phones, want_ids) in CORPUS {
            let got = extract(text, OWN);
            let pairs = [(&got.phones, *want_phones), (&got.wechat_ids, *want_ids)];
            for (got, want) in pairs {
                for g in got {
                    if want.contains(&g.as_str()) {
                        tp += 1;
                    } else {
                        fp += 1;
                        wrong.push(format!("false: {g} in {text}"));
                    }
                }
                for w in want {
                    if !got.iter().any(|g| g == w) {
                        fn_ += 1;
                        wrong.push(format!("missed: {w} in {text}"));
                    }
                }
            }
        }
        let precision = tp as f64 / (tp + fp).max(1) as f64;
        let recall = tp as f64 / (tp + fn_).max(1) as f64;
        println!(
            "lead extraction corpus: {} messages, {tp} found, {fp} false, {fn_} missed: \
             precision {:.1}%, recall {:.1}%",
            CORPUS.len(),
            precision * 100.0,
            recall * 100.0
        );
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
