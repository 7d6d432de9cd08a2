//! Rules for the texts requests carry (names, emails, passwords, cursors),
//! each defined once: the handlers check a text with these functions and
//! the OpenAPI schemas (`#[schema(schema_with = ...)]`) declare the same
//! rule, so a client or a fuzzer reading the spec knows exactly what is
//! refused.
//!
//! Patterns are written with literal characters rather than `\s` or `\u`
//! escapes: `\s` means different sets in ECMAScript, Python and Rust
//! regular expressions, and what imhub trims is Rust's
//! [`char::is_whitespace`] (Unicode `White_Space`).

use utoipa::openapi::{
    Object, ObjectBuilder,
    schema::{ArrayBuilder, Type},
};

use crate::auth::MIN_PASSWORD_CHARS;

/// Unicode `White_Space` (what [`str::trim`] removes), as inclusive ranges.
pub const WHITE_SPACE: &[(char, char)] = &[
    ('\u{9}', '\u{d}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// Longest email address accepted, in characters (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Longest API token name, in characters.
pub const MAX_TOKEN_NAME_CHARS: usize = 200;

/// The body of a regex character class matching [`WHITE_SPACE`].
fn white_space_class() -> String {
    let mut out = String::new();
    for &(from, to) in WHITE_SPACE {
        out.push(from);
        if to != from {
            out.push('-');
            out.push(to);
        }
    }
    out
}

/// Pattern of a text that is not blank: it has a character that is not
/// white space (searched anywhere, as JSON Schema patterns are).
pub fn not_blank_pattern() -> String {
    format!("[^{}]", white_space_class())
}

/// Pattern of an email address as imhub takes it: one `@` with text
/// around it that holds neither white space nor another `@`.
pub fn email_pattern() -> String {
    let ws = white_space_class();
    format!("^[^@{ws}]+@[^@{ws}]+$")
}

/// Whether a text is empty or only white space.
pub fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Whether a text is an email address by [`email_pattern`] and not longer
/// than [`MAX_EMAIL_CHARS`].
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let part = |p: &str| !p.is_empty() && !p.contains('@') && !p.chars().any(char::is_whitespace);
    part(local) && part(domain) && text.chars().count() <= MAX_EMAIL_CHARS
}

fn text() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

/// Schema of a name that must not be blank.
pub fn name_schema() -> Object {
    text()
        .pattern(Some(not_blank_pattern()))
        .description(Some("Not blank (white space alone is refused)."))
        .build()
}

/// Schema of an API token's name.
pub fn token_name_schema() -> Object {
    text()
        .pattern(Some(not_blank_pattern()))
        .max_length(Some(MAX_TOKEN_NAME_CHARS))
        .description(Some("Not blank, at most 200 characters."))
        .build()
}

/// Schema of an email address.
pub fn email_schema() -> Object {
    text()
        .pattern(Some(email_pattern()))
        .max_length(Some(MAX_EMAIL_CHARS))
        .description(Some(
            "An email address: one `@`, no white space, at most 254 characters.",
        ))
        .build()
}

/// Schema of a new password.
pub fn password_schema() -> Object {
    text()
        .min_length(Some(MIN_PASSWORD_CHARS))
        .description(Some("At least 8 characters."))
        .build()
}

/// Schema of an opaque page cursor: URL-safe base64 as this API issues it.
pub fn cursor_schema() -> Object {
    text()
        .pattern(Some("^[A-Za-z0-9_-]+$"))
        .description(Some(
            "The `next_cursor` of the previous page, as issued; any other value is a 400 \
             `invalid_cursor`.",
        ))
        .build()
}

/// Schema of a webhook's signing secret: absent or null for a generated one.
pub fn webhook_secret_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .min_length(Some(16))
        .description(Some(
            "At least 16 characters; generated when absent or null, and returned once.",
        ))
        .build()
}

/// Schema of a webhook's event types.
pub fn event_types_schema() -> utoipa::openapi::Array {
    ArrayBuilder::new()
        .items(text().enum_values(Some(
            super::webhooks::EVENT_TYPES.iter().map(|t| t.to_string()),
        )))
        .description(Some("Empty or absent for every type."))
        .build()
}

/// Pattern of a time a query takes: Unix milliseconds, or RFC 3339 with
/// a `T`, seconds and a `Z` or `±HH:MM` offset. The shape only: a day
/// that does not exist (`2026-02-30`) matches and is still a 400.
pub const TIME_PATTERN: &str = "^(-?[0-9]{1,15}|[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]([.][0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9]))$";

/// Schema of a time in a query: RFC 3339 or Unix milliseconds.
pub fn time_param_schema() -> Object {
    text()
        .pattern(Some(TIME_PATTERN))
        .description(Some(
            "RFC 3339 (`2026-12-01T08:00:00Z`, `2026-12-01T16:00:00+08:00`) or Unix \
             milliseconds; another value, or a day that does not exist, is a 400 `invalid_query`.",
        ))
        .build()
}

/// Schema of a calendar day, `YYYY-MM-DD` (the shape; a day that does not
/// exist is refused by the route).
pub fn date_schema() -> Object {
    text()
        .pattern(Some("^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"))
        .description(Some("A day, `YYYY-MM-DD`."))
        .build()
}

/// Schema of a lead stage: the API names and the Chinese ones.
pub fn lead_stage_schema() -> Object {
    text()
        .enum_values(Some(
            imhub_core::leads::LeadStage::ALL
                .iter()
                .flat_map(|s| [s.as_str(), s.label()]),
        ))
        .description(Some(
            "`new` (新线索), `following` (跟进中), `converted` (已转化) or `invalid` (无效).",
        ))
        .build()
}

/// Schema of a lead stage in a body, where `null` (like absence) keeps it.
pub fn lead_stage_or_null_schema() -> Object {
    let mut names: Vec<serde_json::Value> = imhub_core::leads::LeadStage::ALL
        .iter()
        .flat_map(|s| [s.as_str().into(), s.label().into()])
        .collect();
    names.push(serde_json::Value::Null);
    ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::String,
            Type::Null,
        ]))
        .enum_values(Some(names))
        .description(Some(
            "`new` (新线索), `following` (跟进中), `converted` (已转化) or `invalid` (无效); \
             absent or `null` keeps it.",
        ))
        .build()
}

/// The schema `of` that also takes `null` (an optional field where `null`
/// means the same as absence).
pub fn or_null(mut of: Object) -> Object {
    of.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]);
    of
}

/// Pattern of a mainland mobile number as imhub reads one: any separators
/// around 11 digits `1[3-9]…` (full-width digits too), or 13 with `86` first.
pub const MOBILE_PATTERN: &str = "^[^0-9０-９]*([8８][^0-9０-９]*[6６][^0-9０-９]*)?[1１][^0-9０-９]*[3-9３-９][^0-9０-９]*([0-9０-９][^0-9０-９]*){9}$";

/// Schema of a list of mainland mobile numbers, at most `max`.
fn mobiles(max: usize) -> utoipa::openapi::Array {
    ArrayBuilder::new()
        .items(text().pattern(Some(MOBILE_PATTERN)).description(Some(
            "A mainland mobile number in any common writing (`138 0013 8000`, `+86-138…`).",
        )))
        .max_items(Some(max))
        .build()
}

/// Schema of a lead's phones: at most 5; absent or `null` keeps them.
pub fn lead_phones_schema() -> utoipa::openapi::Array {
    let mut list = mobiles(imhub_core::leads::MAX_LEAD_PHONES);
    list.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Array, Type::Null]);
    list
}

/// Schema of the merchant's own numbers: at most 50.
pub fn own_numbers_schema() -> utoipa::openapi::Array {
    mobiles(imhub_store::leads::MAX_OWN_NUMBERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_what_trim_removes() {
        let listed = |c: char| WHITE_SPACE.iter().any(|&(a, b)| (a..=b).contains(&c));
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(listed(c), c.is_whitespace(), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn blank_names_are_white_space_alone() {
        assert!(is_blank(""));
        assert!(is_blank(" \t\u{3000}\u{85}"));
        assert!(!is_blank(" a "));
        assert!(!is_blank("\u{feff}"), "U+FEFF is not white space");
    }

    #[test]
    fn emails_have_one_at_and_no_white_space() {
        assert!(is_email("ann@shop.cn"));
        assert!(is_email("a@b"));
        for bad in [
            "",
            "ann",
            "@shop.cn",
            "ann@",
            "a@b@c",
            " ann@shop.cn",
            "a n@b",
            "a@b\u{a0}",
        ] {
            assert!(!is_email(bad), "{bad:?}");
        }
        let long = format!("{}@b", "a".repeat(MAX_EMAIL_CHARS - 2));
        assert!(is_email(&long));
        assert!(!is_email(&format!("a{long}")));
        assert!(
            is_email(&format!("{}@b", "é".repeat(MAX_EMAIL_CHARS - 2))),
            "characters, not bytes"
        );
    }
}
