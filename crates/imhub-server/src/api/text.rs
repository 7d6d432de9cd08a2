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
