//! The subject scheme, in one place: `{prefix}.{namespace}.{kind}.{action}.{name}` for events and
//! `{prefix}.deadletter.{namespace}` for dead letters, each part escaped into one NATS token.
//!
//! Escaping: ASCII letters, digits, `-` and `_` stay as they are; every other byte of the UTF-8
//! text (`.`, `*`, `>`, whitespace, `%`, non-ASCII, ...) becomes `%XX` (upper-case hex), as in
//! URL percent-encoding. An empty part becomes `%`. The mapping is injective, so distinct
//! names never share a subject, and `CS0074187` or `142033` stay readable.
//!
//! Length: NATS refuses (and closes the connection on) a control line over 4 KiB, and every
//! subject and key-value key is part of one. Namespace, kind and action are route segments of at
//! most 64 bytes that need no escaping, the prefix and bucket names at most 64 bytes (both checked
//! when the configuration loads), and the escaped name at most [`MAX_NAME_TOKEN_BYTES`]: the
//! longest subject or key stays under 600 bytes.

use std::fmt::Write;

/// Longest escaped resource name, in bytes (256 ASCII letters or digits, 85 bytes of anything
/// else); a longer name cannot be published (its body is dead-lettered as `name_too_long`).
pub const MAX_NAME_TOKEN_BYTES: usize = 256;

/// Escape `part` into a single valid NATS subject token (also a valid RFC 3986 path segment).
pub fn escape_token(part: &str) -> String {
    escape_with(part, '%')
}

/// Escape `part` into one token of a JetStream key-value key, whose alphabet has no `%`: the
/// same scheme with `=` as the escape character (`CS.1` -> `CS=2E1`, empty -> `=`).
pub fn kv_token(part: &str) -> String {
    escape_with(part, '=')
}

fn escape_with(part: &str, escape: char) -> String {
    if part.is_empty() {
        return escape.to_string();
    }
    if part.bytes().all(is_plain) {
        return part.to_string();
    }
    let mut out = String::with_capacity(part.len() * 3);
    for b in part.bytes() {
        if is_plain(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "{escape}{b:02X}");
        }
    }
    out
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// GTT's action verb in the past tense: `create` -> `created`, `update` -> `updated`,
/// `delete` -> `deleted`; past-tense and other actions pass through unchanged.
pub fn past_tense(action: &str) -> &str {
    match action {
        "create" => "created",
        "update" => "updated",
        "delete" => "deleted",
        other => other,
    }
}

/// Subject of a normalized event; `None` when the escaped name is longer than
/// [`MAX_NAME_TOKEN_BYTES`].
pub fn event_subject(
    prefix: &str,
    namespace: &str,
    kind: &str,
    action: &str,
    name: &str,
) -> Option<String> {
    let name = escape_token(name);
    (name.len() <= MAX_NAME_TOKEN_BYTES).then(|| {
        format!(
            "{prefix}.{}.{}.{}.{name}",
            escape_token(namespace),
            escape_token(kind),
            escape_token(past_tense(action)),
        )
    })
}

/// The filter of every event of one resource, whatever its action
/// (`{prefix}.{namespace}.{kind}.*.{name}`); `None` when no event of it can exist (the escaped
/// name is longer than [`MAX_NAME_TOKEN_BYTES`]).
pub fn resource_filter(prefix: &str, namespace: &str, kind: &str, name: &str) -> Option<String> {
    let name = escape_token(name);
    (name.len() <= MAX_NAME_TOKEN_BYTES).then(|| {
        format!(
            "{prefix}.{}.{}.*.{name}",
            escape_token(namespace),
            escape_token(kind)
        )
    })
}

/// Subject of a dead letter.
pub fn deadletter_subject(prefix: &str, namespace: &str) -> String {
    format!("{prefix}.deadletter.{}", escape_token(namespace))
}

/// The wildcard every dead letter's subject falls under.
pub fn deadletter_filter(prefix: &str) -> String {
    format!("{prefix}.deadletter.>")
}

/// The wildcard every subject of this gateway falls under (the stream's subject filter).
pub fn stream_filter(prefix: &str) -> String {
    format!("{prefix}.>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_filter_matches_its_events_of_every_action() {
        assert_eq!(
            resource_filter("gtt", "142033", "case", "CS.1").as_deref(),
            Some("gtt.142033.case.*.CS%2E1")
        );
        assert_eq!(resource_filter("gtt", "1", "case", &"é".repeat(200)), None);
    }

    #[test]
    fn escaping_table() {
        let cases = [
            ("CS0074187", "CS0074187"),
            ("142033", "142033"),
            ("case-v1alpha_x", "case-v1alpha_x"),
            ("a.b", "a%2Eb"),
            ("*", "%2A"),
            (">", "%3E"),
            ("a b", "a%20b"),
            ("tab\there", "tab%09here"),
            ("line\nbreak", "line%0Abreak"),
            ("100%", "100%25"),
            ("%2E", "%252E"),
            ("Störung", "St%C3%B6rung"),
            ("東京", "%E6%9D%B1%E4%BA%AC"),
            ("", "%"),
        ];
        for (input, expected) in cases {
            assert_eq!(escape_token(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn escaped_tokens_are_valid_single_tokens() {
        for input in ["a.b.c", "*>", " x ", "\u{7f}", "é.>*", ""] {
            let t = escape_token(input);
            assert!(!t.is_empty());
            assert!(!t.contains(['.', '*', '>']), "{t}");
            assert!(t.bytes().all(|b| b.is_ascii_graphic()), "{t}");
        }
    }

    #[test]
    fn escaping_is_injective_on_tricky_pairs() {
        let pairs = [("a.b", "a%2Eb"), ("", "%"), ("%", "%25"), ("a b", "a%20b")];
        for (x, y) in pairs {
            assert_ne!(escape_token(x), escape_token(y), "{x:?} vs {y:?}");
        }
    }

    #[test]
    fn kv_tokens_use_only_the_key_alphabet() {
        assert_eq!(kv_token("CS0074187"), "CS0074187");
        assert_eq!(kv_token("CS.1"), "CS=2E1");
        assert_eq!(kv_token("a=b"), "a=3Db");
        assert_eq!(kv_token(""), "=");
        for input in ["a.b", "x y", "é", "%", "=", "*>"] {
            let t = kv_token(input);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)),
                "{t}"
            );
        }
    }

    #[test]
    fn subjects_follow_the_scheme() {
        let subject = |action, name| event_subject("x", "7", "case", action, name).unwrap();
        assert_eq!(
            event_subject("gtt", "142033", "case", "create", "CS0074187").unwrap(),
            "gtt.142033.case.created.CS0074187"
        );
        assert_eq!(subject("update", "CS.1"), "x.7.case.updated.CS%2E1");
        assert_eq!(subject("delete", "n"), "x.7.case.deleted.n");
        assert_eq!(subject("resolve", "n"), "x.7.case.resolve.n");
        assert_eq!(subject("updated", "n"), "x.7.case.updated.n");
        assert_eq!(
            deadletter_subject("gtt", "142 033"),
            "gtt.deadletter.142%20033"
        );
        assert_eq!(stream_filter("gtt"), "gtt.>");
    }

    #[test]
    fn names_are_bounded_after_escaping() {
        let subject = |name: &str| event_subject("gtt", "7", "case", "update", name);
        assert!(subject(&"x".repeat(MAX_NAME_TOKEN_BYTES)).is_some());
        assert!(subject(&"x".repeat(MAX_NAME_TOKEN_BYTES + 1)).is_none());
        assert!(subject(&"é".repeat(42)).is_some());
        assert!(subject(&"é".repeat(43)).is_none());
    }
}
