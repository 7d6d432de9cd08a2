//! `@name` mentions in agents' private notes: which agents of the
//! workspace a note names. Pure: the text and the agents' names in, the
//! mentioned ids out, so the store applies it inside the transaction that
//! writes the note and the rule is tested without a database.
//!
//! The rule:
//! - an `@` starts a mention at the start of the text or after any
//!   character that is not an ASCII letter or digit (`ann@shop.cn` is an
//!   email, `请@小王看看` is a mention: Chinese has no spaces);
//! - the longest agent name the text after the `@` starts with wins
//!   (`@小王八` mentions 小王八 when both 小王 and 小王八 are agents),
//!   compared case-insensitively;
//! - a name ending in an ASCII letter or digit must not run on into
//!   another one (`@Annie` does not mention Ann); other names need no
//!   boundary (`@小王看看` mentions 小王);
//! - an `@` followed by no agent's name stays text; each agent is
//!   mentioned once, in the order of first mention.

use crate::UserId;

/// Longest note accepted, in characters (Unicode scalar values).
pub const MAX_NOTE_CHARS: usize = 10_000;

/// The agents a note mentions, by the rule of this module. `agents` are
/// the workspace's mentionable agents (id, name); blank names never match.
pub fn mentioned(text: &str, agents: &[(UserId, &str)]) -> Vec<UserId> {
    // Names as lowercase characters, longest first, so the first that
    // matches is the longest.
    let mut names: Vec<(UserId, Vec<char>)> = agents
        .iter()
        .map(|(id, name)| (*id, name.trim().chars().map(lower).collect()))
        .filter(|(_, name): &(UserId, Vec<char>)| !name.is_empty())
        .collect();
    names.sort_by_key(|(_, name)| std::cmp::Reverse(name.len()));
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<UserId> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i] == '@' && (i == 0 || !chars[i - 1].is_ascii_alphanumeric());
        if !starts {
            i += 1;
            continue;
        }
        let rest = &chars[i + 1..];
        let found = names.iter().find(|(_, name)| matches_at(rest, name));
        match found {
            Some((id, name)) => {
                if !out.contains(id) {
                    out.push(*id);
                }
                i += 1 + name.len();
            }
            None => i += 1,
        }
    }
    out
}

/// A character's lowercase form when that is one character (the few that
/// lowercase to several stay as they are, on both sides of a comparison).
fn lower(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(one), None) => one,
        _ => c,
    }
}

/// Whether `rest` starts with `name` (lowercase) case-insensitively and the
/// name does not run on into a following ASCII word character.
fn matches_at(rest: &[char], name: &[char]) -> bool {
    if rest.len() < name.len() {
        return false;
    }
    let same = rest.iter().zip(name).all(|(c, n)| lower(*c) == *n);
    if !same {
        return false;
    }
    let last = name[name.len() - 1];
    match rest.get(name.len()) {
        Some(next) => !(last.is_ascii_alphanumeric() && next.is_ascii_alphanumeric()),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WANG: UserId = UserId(1);
    const WANG_BA: UserId = UserId(2);
    const ANN: UserId = UserId(3);
    const ANN_LEE: UserId = UserId(4);

    fn team() -> Vec<(UserId, &'static str)> {
        vec![
            (WANG, "小王"),
            (WANG_BA, "小王八"),
            (ANN, "Ann"),
            (ANN_LEE, "Ann Lee"),
            (UserId(9), "  "),
        ]
    }

    #[test]
    fn chinese_names_need_no_space_around_them() {
        assert_eq!(mentioned("请@小王看看这个退款", &team()), vec![WANG]);
        assert_eq!(mentioned("@小王", &team()), vec![WANG]);
    }

    #[test]
    fn the_longest_name_wins() {
        assert_eq!(mentioned("@小王八 你来", &team()), vec![WANG_BA]);
        assert_eq!(mentioned("@Ann Lee please", &team()), vec![ANN_LEE]);
        assert_eq!(mentioned("@Ann, please", &team()), vec![ANN]);
    }

    #[test]
    fn ascii_names_need_a_boundary_and_emails_are_not_mentions() {
        assert!(mentioned("@Annie", &team()).is_empty());
        assert!(mentioned("write to ann@Ann.cn", &team()).is_empty());
        assert_eq!(mentioned("(@ann)", &team()), vec![ANN], "case-insensitive");
    }

    #[test]
    fn unknown_names_stay_text_and_each_agent_counts_once() {
        assert!(mentioned("@老李 在吗", &team()).is_empty());
        assert!(mentioned("@", &team()).is_empty());
        assert!(mentioned("@@", &team()).is_empty());
        assert_eq!(
            mentioned("@Ann @小王 @ann again @小王", &team()),
            vec![ANN, WANG]
        );
        assert!(
            mentioned("@  x", &team()).is_empty(),
            "blank names never match"
        );
    }

    #[test]
    fn no_agents_no_mentions() {
        assert!(mentioned("@小王", &[]).is_empty());
    }
}
