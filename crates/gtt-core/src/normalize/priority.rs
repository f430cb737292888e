//! A priority value (`"1 - Critical"`, `"P2"`, `3`, `"High"`, ...) to its level on the
//! ServiceNow scale and its label, with an operator [`Mapping`] over the built-in reading.

use serde::Serialize;
use serde_json::Value;

use super::labels::canonical;
use super::mapping::Mapping;
use crate::text::scalar_text;

/// A case priority on the ServiceNow scale (1 Critical … 5 Planning).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Priority {
    /// Numeric level: 1..=5 on the ServiceNow scale; 6..=9 kept if sent explicitly; else `None`.
    pub level: Option<u8>,
    /// The label text as sent (trimmed), else the canonical label of `level`, else `None`.
    pub label: Option<String>,
    /// The original value as text, exactly.
    pub raw: Option<String>,
}

/// Canonical ServiceNow label of a priority level.
fn canonical_priority_label(level: u8) -> Option<&'static str> {
    match level {
        1 => Some("Critical"),
        2 => Some("High"),
        3 => Some("Moderate"),
        4 => Some("Low"),
        5 => Some("Planning"),
        _ => None,
    }
}

/// Level of a bare priority label on the ServiceNow scale.
fn priority_level_of_label(label: &str) -> Option<u8> {
    match canonical(label).as_str() {
        "critical" => Some(1),
        "high" => Some(2),
        "moderate" | "medium" => Some(3),
        "low" => Some(4),
        "planning" => Some(5),
        _ => None,
    }
}

/// Explicit numbers become a level only within 1..=9.
fn level_from_number(n: u64) -> Option<u8> {
    u8::try_from(n).ok().filter(|l| (1..=9).contains(l))
}

fn is_priority_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '–' | '—' | ':' | '.' | ',' | '/' | '|' | '=')
}

/// Strips a case-insensitive `priority` / `prio` / `p` prefix (plus any spaces, `:`,
/// `#`, `-`) when a digit follows it.
fn strip_priority_prefix(s: &str) -> &str {
    for prefix in ["priority", "prio", "p"] {
        if let Some(head) = s.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            let rest = s[prefix.len()..]
                .trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '#' | '-'));
            if rest.starts_with(|c: char| c.is_ascii_digit()) {
                return rest;
            }
        }
    }
    s
}

/// Splits leading ASCII digits off `s`: `(number, rest)`. Huge numbers saturate.
fn split_leading_digits(s: &str) -> Option<(u64, &str)> {
    let end = s
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit())
        .map_or(s.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let number = s[..end].parse::<u64>().unwrap_or(u64::MAX);
    Some((number, &s[end..]))
}

/// `"1 - Critical"`, `"P1"`, `"Priority 1"`, `"1"`: number first, optional label after.
fn parse_leading_priority(text: &str) -> Option<(u64, Option<&str>)> {
    let (number, rest) = split_leading_digits(strip_priority_prefix(text))?;
    let label = rest
        .trim_start_matches(|c: char| is_priority_separator(c) || matches!(c, '(' | '['))
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ')' | ']'));
    if label.is_empty() {
        Some((number, None))
    } else if label.chars().any(char::is_alphabetic) {
        Some((number, Some(label)))
    } else {
        None
    }
}

/// A whole token that is a level: `"1"`, `"P1"`, `"Priority 1"`.
fn parse_level_token(token: &str) -> Option<u64> {
    match split_leading_digits(strip_priority_prefix(token.trim())) {
        Some((number, "")) => Some(number),
        _ => None,
    }
}

/// `"Critical (1)"`, `"High [P2]"`, `"Critical - 1"`: label first, number last.
fn parse_trailing_priority(text: &str) -> Option<(u64, &str)> {
    let (token, before) = if let Some(inner) = text.strip_suffix(')') {
        let open = inner.rfind('(')?;
        (&inner[open + 1..], &inner[..open])
    } else if let Some(inner) = text.strip_suffix(']') {
        let open = inner.rfind('[')?;
        (&inner[open + 1..], &inner[..open])
    } else {
        let split = text.rfind(is_priority_separator)?;
        let sep_len = text[split..].chars().next().map_or(1, char::len_utf8);
        (&text[split + sep_len..], &text[..split])
    };
    let number = parse_level_token(token)?;
    let label = before.trim_end_matches(is_priority_separator).trim_start();
    label
        .chars()
        .any(char::is_alphabetic)
        .then_some((number, label))
}

/// Normalizes a priority value.
///
/// `raw` is the value's textual form. Accepted shapes (case-insensitive):
/// `"1 - Critical"`, `"1-Critical"`, `"1 – Critical"`, `"P1"`, `"p2 - High"`, `"1"`,
/// JSON `1`, `"Critical (1)"`, `"Priority 1"`, and bare labels on the ServiceNow
/// scale (critical 1, high 2, moderate/medium 3, low 4, planning 5).
///
/// `label` is the text part when present (trimmed, as sent), else the canonical
/// label of the level (1 Critical, 2 High, 3 Moderate, 4 Low, 5 Planning). An
/// explicit number is kept as the level if it is within 1..=9, else the level is
/// `None`. Unparsable text gives level `None` and the trimmed text as label.
///
/// `mapping` then has its say: an entry matching the whole value sets the level, whatever the
/// built-in reading found; one matching only the label part (`"Emergency"` for
/// `"0 - Emergency"`) sets it when the built-in reading found no level. A value that still has
/// no level is unmapped.
pub fn normalize_priority(raw: &Value, mapping: &Mapping) -> Priority {
    let mut priority = read_priority(raw);
    let Some(text) = priority.raw.as_deref() else {
        return priority;
    };
    let mapped = mapping.priority(text).or_else(|| {
        priority
            .level
            .is_none()
            .then(|| priority.label.as_deref().and_then(|l| mapping.priority(l)))
            .flatten()
    });
    if let Some(level) = mapped {
        priority.level = Some(level);
        priority.label = priority
            .label
            .or_else(|| canonical_priority_label(level).map(str::to_owned));
    }
    priority
}

/// The built-in reading of a priority value (see [`normalize_priority`]).
fn read_priority(raw: &Value) -> Priority {
    let Some(raw_text) = scalar_text(raw) else {
        return Priority {
            level: None,
            label: None,
            raw: None,
        };
    };
    let explicit = |number: u64, label: Option<&str>| {
        let level = level_from_number(number);
        Priority {
            level,
            label: label
                .map(str::to_owned)
                .or_else(|| level.and_then(canonical_priority_label).map(str::to_owned)),
            raw: Some(raw_text.clone()),
        }
    };

    // JSON numbers: integers, or floats with no fractional part (1.0).
    if let Value::Number(n) = raw {
        let whole = n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=1e6).contains(f))
                .map(|f| f as u64)
        });
        if let Some(number) = whole {
            return explicit(number, None);
        }
    }

    let text = raw_text.trim();
    if let Some((number, label)) = parse_leading_priority(text) {
        return explicit(number, label);
    }
    if let Some((number, label)) = parse_trailing_priority(text) {
        return explicit(number, Some(label));
    }
    Priority {
        level: priority_level_of_label(text),
        label: Some(text.to_owned()),
        raw: Some(raw_text),
    }
}
