//! Quick-reply (话术) texts with variables: `您好 {{contact.nickname}}，我是
//! {{agent.name}}`. Parsed and checked when a reply is saved (an unknown
//! variable is refused with its name), filled when an agent inserts it.
//! Pure: the values are passed in.
//!
//! Syntax: `{{ name }}` (spaces inside the braces are allowed). A single
//! `{` or `}` and a `}}` without an opening `{{` are plain text; a `{{`
//! without its `}}` is an error, so a typo never reaches a customer as
//! half a variable.

use std::fmt;

/// A variable a quick reply may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variable {
    /// The customer's nickname (匿名 when unknown).
    ContactNickname,
    /// The customer's id on the platform.
    ContactPlatformId,
    /// The name of the agent inserting the reply.
    AgentName,
    /// The merchant account's name (the Douyin account, the Meituan store).
    AccountName,
    /// The conversation's platform: `douyin`, `tencent`, `meituan`, `custom`.
    ConversationPlatform,
}

impl Variable {
    /// Every variable, in the order the documentation lists them.
    pub const ALL: [Variable; 5] = [
        Variable::ContactNickname,
        Variable::ContactPlatformId,
        Variable::AgentName,
        Variable::AccountName,
        Variable::ConversationPlatform,
    ];

    /// The name written between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Variable::ContactNickname => "contact.nickname",
            Variable::ContactPlatformId => "contact.platform_id",
            Variable::AgentName => "agent.name",
            Variable::AccountName => "account.name",
            Variable::ConversationPlatform => "conversation.platform",
        }
    }

    /// The variable of a name, if there is one.
    pub fn parse(name: &str) -> Option<Variable> {
        Variable::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Var(Variable),
}

/// Why a template is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `{{name}}` names no known variable (the name as written, trimmed).
    UnknownVariable(String),
    /// A `{{` at this character offset has no `}}`.
    Unclosed { at: usize },
}

impl TemplateError {
    /// The stable API code of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            TemplateError::UnknownVariable(_) => "unknown_variable",
            TemplateError::Unclosed { .. } => "invalid_template",
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::UnknownVariable(name) => {
                let shown: String = name.chars().take(64).collect();
                write!(
                    f,
                    "unknown variable {{{{{shown}}}}}; known: {}",
                    Variable::ALL
                        .map(|v| format!("{{{{{}}}}}", v.name()))
                        .join(", ")
                )
            }
            TemplateError::Unclosed { at } => {
                write!(f, "the {{{{ at character {at} is not closed with }}}}")
            }
        }
    }
}

impl std::error::Error for TemplateError {}

/// Splits a template into text and variables, refusing unknown variables
/// and unclosed braces.
pub fn parse(template: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = template;
    let mut offset = 0; // characters consumed so far
    while let Some(open) = rest.find("{{") {
        text.push_str(&rest[..open]);
        offset += rest[..open].chars().count();
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            return Err(TemplateError::Unclosed { at: offset });
        };
        let name = after[..close].trim();
        let var = Variable::parse(name)
            .ok_or_else(|| TemplateError::UnknownVariable(name.to_string()))?;
        if !text.is_empty() {
            out.push(Segment::Text(std::mem::take(&mut text)));
        }
        out.push(Segment::Var(var));
        offset += 2 + after[..close].chars().count() + 2;
        rest = &after[close + 2..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Segment::Text(text));
    }
    Ok(out)
}

/// Checks a template as [`parse`] does.
pub fn validate(template: &str) -> Result<(), TemplateError> {
    parse(template).map(|_| ())
}

/// Fills a template's variables with `value` of each.
pub fn render(template: &str, value: impl Fn(Variable) -> String) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    for segment in parse(template)? {
        match segment {
            Segment::Text(t) => out.push_str(&t),
            Segment::Var(v) => out.push_str(&value(v)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: Variable) -> String {
        match v {
            Variable::ContactNickname => "小美".into(),
            Variable::ContactPlatformId => "u-42".into(),
            Variable::AgentName => "小王".into(),
            Variable::AccountName => "旗舰店".into(),
            Variable::ConversationPlatform => "douyin".into(),
        }
    }

    #[test]
    fn chinese_text_with_variables_renders() {
        let t = "您好{{contact.nickname}}，我是{{ agent.name }}，欢迎光临{{account.name}}！";
        assert_eq!(
            render(t, values).unwrap(),
            "您好小美，我是小王，欢迎光临旗舰店！"
        );
        assert_eq!(
            render("{{conversation.platform}}:{{contact.platform_id}}", values).unwrap(),
            "douyin:u-42"
        );
    }

    #[test]
    fn text_without_variables_is_itself() {
        assert_eq!(render("亲，在的～", values).unwrap(), "亲，在的～");
        assert_eq!(render("", values).unwrap(), "");
        assert_eq!(
            render("a { b } c }} d {x}", values).unwrap(),
            "a { b } c }} d {x}",
            "single braces and a lone }} are text"
        );
    }

    #[test]
    fn unknown_variables_are_refused_with_their_name() {
        let e = validate("您好 {{contact.phone}}").unwrap_err();
        assert_eq!(e, TemplateError::UnknownVariable("contact.phone".into()));
        assert_eq!(e.code(), "unknown_variable");
        assert!(e.to_string().contains("{{contact.phone}}"), "{e}");
        assert!(
            e.to_string().contains("{{agent.name}}"),
            "lists the known ones"
        );
        assert_eq!(
            validate("{{}}").unwrap_err(),
            TemplateError::UnknownVariable(String::new())
        );
        assert_eq!(
            validate("{{ 客户昵称 }}").unwrap_err(),
            TemplateError::UnknownVariable("客户昵称".into())
        );
    }

    #[test]
    fn unclosed_braces_are_refused_with_their_place() {
        let e = validate("您好{{contact.nickname").unwrap_err();
        assert_eq!(e, TemplateError::Unclosed { at: 2 });
        assert_eq!(e.code(), "invalid_template");
        assert_eq!(
            validate("{{agent.name}} 好 {{").unwrap_err(),
            TemplateError::Unclosed { at: 17 }
        );
        assert!(validate("{{agent.name}").is_err());
    }

    #[test]
    fn segments_split_text_and_variables() {
        assert_eq!(
            parse("hi {{agent.name}}!").unwrap(),
            vec![
                Segment::Text("hi ".into()),
                Segment::Var(Variable::AgentName),
                Segment::Text("!".into()),
            ]
        );
    }
}
