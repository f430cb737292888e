//! Property tests of the pure core: any body is prepared or dead-lettered without a panic, ids
//! depend on content only (not key order, whitespace or escapes) and on every digit of it, and
//! every subject is valid NATS tokens within the documented bound.

use proptest::prelude::*;

use super::tests::{build_event, ctx};
use super::*;
use crate::subjects::MAX_NAME_TOKEN_BYTES;
use crate::token::MAX_SEGMENT_BYTES;

/// A JSON document as a tree, so that it can be written in different but equivalent ways.
#[derive(Debug, Clone)]
enum Json {
    Null,
    Bool(bool),
    /// A number's text, exactly as it will be written.
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Members with distinct keys.
    Object(Vec<(String, Json)>),
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,40})",
        "-?(0|[1-9][0-9]{0,5})\\.[0-9]{1,40}",
        "-?[1-9](\\.[0-9]{1,20})?[eE][+-]?[0-9]",
    ]
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Number),
        any::<String>().prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            prop::collection::btree_map(any::<String>(), inner, 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
        ]
    })
}

/// How to write a [`Json`]: whitespace between tokens, member order, string escapes.
#[derive(Debug, Clone, Copy)]
struct Style {
    spaced: bool,
    reversed: bool,
    escape_all: bool,
}

fn write_str(out: &mut String, s: &str, style: Style) {
    if !style.escape_all {
        out.push_str(&serde_json::to_string(s).unwrap());
        return;
    }
    out.push('"');
    for unit in s.encode_utf16() {
        out.push_str(&format!("\\u{unit:04X}"));
    }
    out.push('"');
}

fn write(out: &mut String, value: &Json, style: Style) {
    let gap = if style.spaced { " \n\t " } else { "" };
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n),
        Json::String(s) => write_str(out, s, style),
        Json::Array(items) => write_seq(out, ('[', ']'), gap, items.iter(), |out, item| {
            write(out, item, style);
        }),
        Json::Object(members) => {
            let mut members: Vec<&(String, Json)> = members.iter().collect();
            if style.reversed {
                members.reverse();
            }
            write_seq(
                out,
                ('{', '}'),
                gap,
                members.into_iter(),
                |out, (key, value)| {
                    write_str(out, key, style);
                    out.push_str(gap);
                    out.push(':');
                    out.push_str(gap);
                    write(out, value, style);
                },
            );
        }
    }
}

/// `open`, the items separated by commas (each after `gap`), `gap`, `close`.
fn write_seq<T>(
    out: &mut String,
    (open, close): (char, char),
    gap: &str,
    items: impl Iterator<Item = T>,
    mut each: impl FnMut(&mut String, T),
) {
    out.push(open);
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(gap);
        each(out, item);
    }
    out.push_str(gap);
    out.push(close);
}

/// A case body named `name` whose spec holds `value`, written in `style`.
fn case_body(name: &Json, value: &Json, style: Style) -> String {
    let spec = Json::Object(vec![("v".into(), value.clone())]);
    let resource = Json::Object(vec![
        ("kind".into(), Json::String("case".into())),
        ("name".into(), name.clone()),
        ("spec".into(), spec),
    ]);
    let mut out = String::new();
    write(&mut out, &resource, style);
    out
}

/// `value` with its `index`-th leaf (counted depth first, modulo their number) changed.
fn changed(value: &Json, index: usize) -> Json {
    fn leaves(value: &Json) -> usize {
        match value {
            Json::Array(items) if !items.is_empty() => items.iter().map(leaves).sum(),
            Json::Object(members) if !members.is_empty() => {
                members.iter().map(|(_, v)| leaves(v)).sum()
            }
            _ => 1,
        }
    }
    fn change(value: &Json, index: &mut usize) -> Json {
        match value {
            Json::Array(items) if !items.is_empty() => {
                Json::Array(items.iter().map(|v| change(v, index)).collect())
            }
            Json::Object(members) if !members.is_empty() => Json::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), change(v, index)))
                    .collect(),
            ),
            leaf => {
                let hit = *index == 0;
                *index = index.wrapping_sub(1);
                if !hit {
                    return leaf.clone();
                }
                match leaf {
                    Json::Null => Json::Bool(false),
                    Json::Bool(b) => Json::Bool(!b),
                    Json::Number(n) => Json::String(n.clone()),
                    Json::String(s) => Json::String(format!("{s}x")),
                    Json::Array(_) => Json::Array(vec![Json::Null]),
                    Json::Object(_) => Json::Object(vec![(String::new(), Json::Null)]),
                }
            }
        }
    }
    let mut index = index % leaves(value);
    change(value, &mut index)
}

fn id(body: &str) -> String {
    build_event(&ctx(), body.as_bytes())
        .unwrap_or_else(|e| panic!("{e}: {body}"))
        .id
}

const PLAIN: Style = Style {
    spaced: false,
    reversed: false,
    escape_all: false,
};

proptest! {
    #[test]
    fn any_bytes_are_prepared_or_dead_lettered(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = prepare(&ctx(), &body);
    }

    #[test]
    fn any_json_is_prepared_or_dead_lettered(value in json(), wrapped in any::<bool>()) {
        let mut body = String::new();
        write(&mut body, &value, PLAIN);
        let body = if wrapped { format!(r#"{{"data":{body},"action":"update"}}"#) } else { body };
        let _ = prepare(&ctx(), body.as_bytes());
        let _ = dead_letter(&ctx(), body.as_bytes(), DeadLetterReason::NotJson);
    }

    #[test]
    fn ids_ignore_key_order_whitespace_and_escapes(
        value in json(),
        name in "[A-Za-z0-9.é][A-Za-z0-9 .é]{0,19}",
        spaced in any::<bool>(),
        escape_all in any::<bool>(),
    ) {
        let name = Json::String(name);
        let style = Style { spaced, reversed: true, escape_all };
        prop_assert_eq!(id(&case_body(&name, &value, PLAIN)), id(&case_body(&name, &value, style)));
    }

    #[test]
    fn ids_differ_when_any_value_differs(value in json(), index in any::<usize>()) {
        let name = Json::String("CS1".into());
        let other = changed(&value, index);
        prop_assert_ne!(id(&case_body(&name, &value, PLAIN)), id(&case_body(&name, &other, PLAIN)));
    }

    #[test]
    fn ids_keep_every_digit(
        a in "-?[1-9][0-9]{16,40}(\\.[0-9]{1,30})?",
        bump in 1u8..10,
        as_name in any::<bool>(),
    ) {
        // `b` differs from `a` in its last digit only, beyond what a 64-bit float holds.
        let last = a.as_bytes()[a.len() - 1] - b'0';
        let b = format!("{}{}", &a[..a.len() - 1], (last + bump) % 10);
        let (x, y) = (Json::Number(a), Json::Number(b));
        let (one, two) = if as_name {
            (case_body(&x, &Json::Null, PLAIN), case_body(&y, &Json::Null, PLAIN))
        } else {
            let name = Json::String("CS1".into());
            (case_body(&name, &x, PLAIN), case_body(&name, &y, PLAIN))
        };
        prop_assert_ne!(id(&one), id(&two));
    }

    #[test]
    fn subjects_are_valid_tokens_within_the_bound(
        name in any::<String>(),
        long in any::<bool>(),
        prefix in "[!-~&&[^.*>]]{1,64}",
        namespace in "[A-Za-z0-9_-]{1,64}",
        kind in "[A-Za-z0-9_-]{1,64}",
        action in "[A-Za-z0-9_-]{1,64}",
    ) {
        let name = if long { name.repeat(40) } else { name };
        let ctx = EventContext {
            namespace: &namespace,
            kind: &kind,
            action: &action,
            subject_prefix: &prefix,
            ..ctx()
        };
        let body = serde_json::json!({"name": name, "spec": {}}).to_string();
        match prepare(&ctx, body.as_bytes()) {
            Ok(prepared) => {
                let subject = &prepared.subject;
                prop_assert!(subject.len() <= 4 * MAX_SEGMENT_BYTES + MAX_NAME_TOKEN_BYTES + 4);
                let tokens: Vec<&str> = subject.split('.').collect();
                prop_assert_eq!(tokens.len(), 5, "{}", subject);
                for token in tokens {
                    prop_assert!(!token.is_empty());
                    prop_assert!(token.bytes().all(|b| b.is_ascii_graphic() && !b"*>".contains(&b)));
                }
            }
            Err(DeadLetterReason::MissingName) => prop_assert!(name.trim().is_empty()),
            Err(reason) => {
                prop_assert_eq!(reason, DeadLetterReason::NameTooLong, "{}", name);
                prop_assert!(escape_token(name.trim()).len() > MAX_NAME_TOKEN_BYTES);
            }
        }
    }
}
