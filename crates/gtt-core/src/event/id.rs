//! Event and dead-letter ids: SHA-256 over an unambiguous encoding of what identifies a change,
//! with the resource's JSON canonicalized from its raw text (numbers kept exactly as received).
//!
//! - Event: `hex(SHA-256(C))`, `C` the canonical JSON of the array
//!   `[namespace, kind, name, spec]` (`spec` the resource itself when it has no `spec` key).
//! - Event re-normalized from a stored one (a replay after a mapping change):
//!   `hex(SHA-256(C'))`, `C'` the canonical JSON of `[namespace, kind, name, spec, labels]`,
//!   `labels` the [`Labels`] of the new normalization (`{"case_type","priority","state"}`). It
//!   is never the stored event's id (that array has four elements), the same for every replay
//!   that normalizes alike, and a new one whenever a mapping changes the outcome.
//! - Dead letter: `hex(SHA-256(J ++ body))`, `J` the JSON array `[namespace, kind, action]`
//!   (the path's kind and action) and `body` the raw bytes as received. `J` ends at its one
//!   unescaped `]`, so the concatenation is unambiguous.
//!
//! Canonical JSON: no whitespace outside strings; object members sorted by the UTF-8 bytes of
//! their unescaped keys (a repeated key: the last one counts, as when parsing); strings written
//! as UTF-8 with only `"`, `\` and control characters escaped (`\b \f \n \r \t`, the others as
//! `\u00XX` in lower-case hex); numbers, `true`, `false` and `null` byte for byte as received,
//! so `1`, `1.0` and `1e0` differ, and so do integers beyond 64 bits and floats beyond f64.

use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::normalize::Labels;

/// A JSON text that cannot be canonicalized (invalid, e.g. a lone UTF-16 surrogate escape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotCanonical;

/// The id of an event: `hex(SHA-256(canonical JSON of [namespace, kind, name, spec]))`.
pub fn event_id(
    namespace: &str,
    kind: &str,
    name: &str,
    spec: &RawValue,
) -> Result<String, NotCanonical> {
    hash_event(namespace, kind, name, spec, None)
}

/// The id of an event re-normalized from a stored one:
/// `hex(SHA-256(canonical JSON of [namespace, kind, name, spec, labels]))`.
pub fn renormalized_event_id(
    namespace: &str,
    kind: &str,
    name: &str,
    spec: &RawValue,
    labels: &Labels,
) -> Result<String, NotCanonical> {
    hash_event(namespace, kind, name, spec, Some(labels))
}

fn hash_event(
    namespace: &str,
    kind: &str,
    name: &str,
    spec: &RawValue,
    labels: Option<&Labels>,
) -> Result<String, NotCanonical> {
    let mut text = Vec::with_capacity(spec.get().len() + 128);
    text.push(b'[');
    for part in [namespace, kind, name] {
        write_string(&mut text, part);
        text.push(b',');
    }
    write_canonical(&mut text, spec)?;
    if let Some(labels) = labels {
        text.push(b',');
        // Members in key order, strings escaped as canonical strings are: canonical as written.
        serde_json::to_writer(&mut text, labels).map_err(|_| NotCanonical)?;
    }
    text.push(b']');
    Ok(hex::encode(Sha256::digest(&text)))
}

/// The id of a dead letter: `hex(SHA-256(JSON [namespace, kind, action] ++ raw body))`.
pub fn dead_letter_id(namespace: &str, kind: &str, action: &str, body: &[u8]) -> String {
    let mut head = Vec::with_capacity(64);
    head.push(b'[');
    for (i, part) in [namespace, kind, action].into_iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        write_string(&mut head, part);
    }
    head.push(b']');
    let mut hash = Sha256::new();
    hash.update(&head);
    hash.update(body);
    hex::encode(hash.finalize())
}

/// Append the canonical form of `value` (see the module docs) to `out`.
pub fn write_canonical(out: &mut Vec<u8>, value: &RawValue) -> Result<(), NotCanonical> {
    let mut scanner = Scanner {
        text: value.get().as_bytes(),
        pos: 0,
    };
    scanner.value(out)?;
    scanner.skip_whitespace();
    match scanner.peek() {
        None => Ok(()),
        Some(_) => Err(NotCanonical),
    }
}

/// A JSON string, escaped canonically.
fn write_string(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly `"`, `\` and control characters; writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// One pass over a JSON text (already validated by serde_json when it became a `RawValue`;
/// anything unexpected is still an error, never a panic).
struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
}

/// A string of the text: as written (no escape in it), or unescaped.
enum Str<'a> {
    Plain(&'a str),
    Unescaped(String),
}

impl Str<'_> {
    fn as_str(&self) -> &str {
        match self {
            Str::Plain(s) => s,
            Str::Unescaped(s) => s,
        }
    }
}

/// Whether a string token (quotes included) is written canonically already: every escape in it
/// one that canonical JSON uses (`\"`, `\\`, `\b`, `\f`, `\n`, `\r`, `\t`, or `\u00xx` for
/// another control character, lower-case hex). Most escaped strings are, and are then copied as
/// they are instead of being unescaped and escaped again.
fn escapes_are_canonical(token: &[u8]) -> bool {
    let mut i = 1;
    while i + 1 < token.len() {
        if token[i] != b'\\' {
            i += 1;
            continue;
        }
        match token[i + 1] {
            b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
            b'u' => {
                let Some(hex) = token.get(i + 2..i + 6) else {
                    return false;
                };
                let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
                let control = hex[0] == b'0'
                    && hex[1] == b'0'
                    && matches!(hex[2], b'0' | b'1')
                    && hex.iter().all(lower_hex);
                // The five with a short form must use it.
                let short = matches!(&hex[2..], b"08" | b"0c" | b"0a" | b"0d" | b"09");
                if !control || short {
                    return false;
                }
                i += 6;
            }
            _ => return false,
        }
    }
    true
}

/// A string of the text, written canonically: one without escapes as it is.
fn write_key(out: &mut Vec<u8>, s: &Str<'_>) {
    match s {
        Str::Plain(s) => {
            out.push(b'"');
            out.extend_from_slice(s.as_bytes());
            out.push(b'"');
        }
        Str::Unescaped(s) => write_string(out, s),
    }
}

/// A string token's text: borrowed as it is when it has no escape (it is then already
/// canonical: valid JSON holds no unescaped control character), else unescaped.
fn unescape(token: &[u8], escaped: bool) -> Result<Str<'_>, NotCanonical> {
    if escaped {
        return serde_json::from_slice(token)
            .map(Str::Unescaped)
            .map_err(|_| NotCanonical);
    }
    let inner = token.get(1..token.len() - 1).ok_or(NotCanonical)?;
    std::str::from_utf8(inner)
        .map(Str::Plain)
        .map_err(|_| NotCanonical)
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// Skip whitespace, then consume `byte` or fail.
    fn expect(&mut self, byte: u8) -> Result<(), NotCanonical> {
        self.skip_whitespace();
        if self.peek() != Some(byte) {
            return Err(NotCanonical);
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&mut self, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
        self.skip_whitespace();
        match self.peek().ok_or(NotCanonical)? {
            b'{' => self.object(out),
            b'[' => self.array(out),
            b'"' => {
                // Most strings are canonical as written: copied as they are, never unescaped.
                let (token, escaped) = self.token()?;
                if !escaped || escapes_are_canonical(token) {
                    out.extend_from_slice(token);
                } else {
                    write_key(out, &unescape(token, escaped)?);
                }
                Ok(())
            }
            // A number or a literal: its text up to the next delimiter, verbatim.
            _ => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.pos += 1;
                }
                out.extend_from_slice(&self.text[start..self.pos]);
                Ok(())
            }
        }
    }

    /// A string token, quotes included, and whether it holds an escape.
    fn token(&mut self) -> Result<(&'a [u8], bool), NotCanonical> {
        let start = self.pos;
        self.pos += 1;
        let mut escaped = false;
        loop {
            match self.peek().ok_or(NotCanonical)? {
                b'\\' => {
                    escaped = true;
                    self.pos += 2;
                }
                b'"' => break,
                _ => self.pos += 1,
            }
        }
        self.pos += 1;
        let token = self.text.get(start..self.pos).ok_or(NotCanonical)?;
        Ok((token, escaped))
    }

    /// A string token's text (an object key, which sorts by it).
    fn string(&mut self) -> Result<Str<'a>, NotCanonical> {
        let (token, escaped) = self.token()?;
        unescape(token, escaped)
    }

    fn array(&mut self, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
        self.pos += 1;
        out.push(b'[');
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                self.value(out)?;
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => out.push(b','),
                    Some(b']') => break,
                    _ => return Err(NotCanonical),
                }
                self.pos += 1;
            }
            self.pos += 1;
        }
        out.push(b']');
        Ok(())
    }

    /// An object: its members written to `out` as they come (each value canonical), then put
    /// in key order when they are not already, keeping the last of repeated keys.
    fn object(&mut self, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
        self.pos += 1;
        out.push(b'{');
        let start = out.len();
        // Each member's key and the range of its value in `out`.
        let mut members: Vec<(Str<'a>, std::ops::Range<usize>)> = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
        } else {
            loop {
                self.skip_whitespace();
                if self.peek() != Some(b'"') {
                    return Err(NotCanonical);
                }
                let key = self.string()?;
                self.expect(b':')?;
                if !members.is_empty() {
                    out.push(b',');
                }
                write_key(out, &key);
                out.push(b':');
                let from = out.len();
                self.value(out)?;
                members.push((key, from..out.len()));
                self.skip_whitespace();
                match self.peek() {
                    Some(b',') => self.pos += 1,
                    Some(b'}') => break,
                    _ => return Err(NotCanonical),
                }
            }
            self.pos += 1;
        }
        let in_order = members
            .windows(2)
            .all(|w| w[0].0.as_str().as_bytes() < w[1].0.as_str().as_bytes());
        if !in_order {
            // Stable sort: of repeated keys, the last one sorts last and is the one kept.
            members.sort_by(|a, b| a.0.as_str().as_bytes().cmp(b.0.as_str().as_bytes()));
            let written = out.split_off(start);
            let mut first = true;
            for (i, (key, value)) in members.iter().enumerate() {
                if members
                    .get(i + 1)
                    .is_some_and(|next| next.0.as_str() == key.as_str())
                {
                    continue;
                }
                if !first {
                    out.push(b',');
                }
                first = false;
                write_key(out, key);
                out.push(b':');
                let (from, to) = (value.start - start, value.end - start);
                out.extend_from_slice(&written[from..to]);
            }
        }
        out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_strings_copied_only_when_canonical_as_written() {
        for (token, as_written) in [
            (r#""a\nb\"c\\d\te""#, true),
            (r#""\u001f\u0000""#, true),
            (r#""\u001F""#, false),
            (r#""\u000a""#, false),
            (r#""\/""#, false),
            (r#""\u00e9""#, false),
            (r#""\u0041""#, false),
            (r#""\ud83d\ude00""#, false),
        ] {
            assert_eq!(
                escapes_are_canonical(token.as_bytes()),
                as_written,
                "{token}"
            );
            // Copied or rewritten, the result is the canonical string.
            let value: String = serde_json::from_str(token).unwrap();
            assert_eq!(
                canonical(&format!("[{token}]")),
                serde_json::to_string(&[value]).unwrap()
            );
        }
    }

    fn raw(text: &str) -> &RawValue {
        serde_json::from_str(text).unwrap()
    }

    fn canonical(text: &str) -> String {
        let mut out = Vec::new();
        write_canonical(&mut out, raw(text)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_form_table() {
        let cases = [
            (r#" { "b" : 1 , "a" : [ 1 , 2 ] } "#, r#"{"a":[1,2],"b":1}"#),
            (r#"{"x":"\u00e9\/\t"}"#, r#"{"x":"é/\t"}"#),
            (r#"{"é":1,"z":2,"a":3}"#, r#"{"a":3,"z":2,"é":1}"#),
            (
                "123456789012345678901234567890",
                "123456789012345678901234567890",
            ),
            ("1.50", "1.50"),
            ("1E+2", "1E+2"),
            ("-0", "-0"),
            (r#"[true,false,null,{}, []]"#, "[true,false,null,{},[]]"),
            (r#"{"a":1,"a":2}"#, r#"{"a":2}"#),
            (r#"{"a":1,"b":0,"a":3,"a":2}"#, r#"{"a":2,"b":0}"#),
            ("\"\\u001f\\u007f\"", "\"\\u001f\u{7f}\""),
            (r#"{"\u0061":1}"#, r#"{"a":1}"#),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical(input), expected, "{input}");
        }
    }

    #[test]
    fn lone_surrogates_are_not_canonical() {
        let mut out = Vec::new();
        assert_eq!(
            write_canonical(&mut out, raw(r#"{"a":"\ud800"}"#)),
            Err(NotCanonical)
        );
    }

    #[test]
    fn event_id_hashes_the_canonical_array() {
        let spec = raw(r#"{ "state": "Open", "n": 1.0 }"#);
        let id = event_id("142033", "case", "CS1", spec).unwrap();
        let expected = Sha256::digest(br#"["142033","case","CS1",{"n":1.0,"state":"Open"}]"#);
        assert_eq!(id, hex::encode(expected));
    }

    #[test]
    fn renormalized_id_adds_the_labels_to_the_array() {
        use crate::normalize::{CaseState, CaseType};
        let spec = raw(r#"{"state":"Escalated"}"#);
        let labels = Labels {
            case_type: CaseType::ServiceRequest,
            priority: None,
            state: CaseState::InProgress,
        };
        let id = renormalized_event_id("142033", "case", "CS1", spec, &labels).unwrap();
        let expected = Sha256::digest(
            br#"["142033","case","CS1",{"state":"Escalated"},{"case_type":"service_request","priority":null,"state":"in_progress"}]"#,
        );
        assert_eq!(id, hex::encode(expected));
        assert_ne!(Ok(id), event_id("142033", "case", "CS1", spec));
    }

    #[test]
    fn framing_cannot_shift() {
        let spec = raw("{}");
        assert_ne!(
            event_id("142033", "case", "a|b", spec),
            event_id("142033", "case|a", "b", spec)
        );
        assert_ne!(
            event_id("1", "case", "a\",\"b", spec),
            event_id("1", "case\",\"a", "b", spec)
        );
        assert_ne!(
            dead_letter_id("1", "case", "update", b"x"),
            dead_letter_id("1", "case", "updat", b"ex")
        );
    }
}
