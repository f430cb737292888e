//! Reading scalar values as text, one set of rules for the whole core: a string as sent (unless
//! blank), a number's text, a bool's text; `null`, arrays and objects are absent. Callers trim
//! where a field is an identifier.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Textual form of a scalar: strings as-is (unless blank), numbers and bools as text;
/// `null`, arrays and objects give `None`.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// As [`scalar_text`] from the raw JSON text, with a number's text exactly as received (its
/// digits are never rounded through a float).
pub(crate) fn raw_scalar_text(raw: &RawValue) -> Option<String> {
    let text = raw.get();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).ok()?;
        (!s.trim().is_empty()).then_some(s)
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit())
        || text == "true"
        || text == "false"
    {
        Some(text.to_string())
    } else {
        None
    }
}

/// The first of `keys` in `obj` whose value has a non-blank scalar text.
pub(crate) fn first_text(obj: &Map<String, Value>, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|key| obj.get(*key).and_then(scalar_text))
}

/// `s` without leading and trailing whitespace (no copy when there is none).
pub(crate) fn trim_owned(s: String) -> String {
    let trimmed = s.trim();
    if trimmed.len() == s.len() {
        s
    } else {
        trimmed.to_owned()
    }
}
