//! Owns verification of callback body signatures (Standard Webhooks and generic HMAC) over the raw body bytes, compared in constant time.
//!
//! Key material lives only in zeroize-on-drop [`SecretSlice`]s; no error or
//! `Debug` output ever contains a secret, a header value, a signature or the body.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// Length in bytes of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;
/// Longest base64 text (padded) that can decode to [`TAG_LEN`] bytes.
const TAG_B64_MAX_LEN: usize = 44;
/// Optional prefix of a Standard Webhooks secret.
const WHSEC_PREFIX: &str = "whsec_";

const HEADER_ID: &str = "webhook-id";
const HEADER_TIMESTAMP: &str = "webhook-timestamp";
const HEADER_SIGNATURE: &str = "webhook-signature";
/// Label reported when the configured generic HMAC header is missing.
const HEADER_GENERIC: &str = "configured signature header";

/// Standard base64 alphabet, accepting input with or without `=` padding.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Text encoding of a generic HMAC signature (config: `hex` or `base64`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Hexadecimal, case-insensitive.
    #[default]
    Hex,
    /// Standard base64 alphabet, with or without padding.
    Base64,
}

/// Errors in the verifier configuration. Never carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum VerifierConfigError {
    /// No secret was configured.
    #[error("no signing secret configured")]
    NoSecrets,
    /// The secret at this position (0-based) is empty or not valid for the scheme.
    #[error("signing secret #{index} is invalid")]
    InvalidSecret { index: usize },
    /// A prefix was configured but is the empty string.
    #[error("signature prefix must not be empty")]
    EmptyPrefix,
    /// The configured header name is not a valid HTTP header name.
    #[error("signature header is not a valid header name")]
    InvalidHeader,
}

/// Why a request failed verification. Never carries request data.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum VerifyError {
    #[error("missing header: {0}")]
    MissingHeader(&'static str),
    #[error("malformed timestamp")]
    MalformedTimestamp,
    #[error("timestamp too old")]
    TimestampTooOld,
    #[error("timestamp in the future")]
    TimestampInFuture,
    #[error("malformed signature")]
    MalformedSignature,
    #[error("no matching signature")]
    NoMatchingSignature,
}

impl VerifyError {
    /// Short snake_case reason for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing_header",
            Self::MalformedTimestamp => "malformed_timestamp",
            Self::TimestampTooOld => "timestamp_too_old",
            Self::TimestampInFuture => "timestamp_in_future",
            Self::MalformedSignature => "malformed_signature",
            Self::NoMatchingSignature => "no_matching_signature",
        }
    }
}

#[derive(Clone)]
enum Scheme {
    StandardWebhooks {
        tolerance_secs: u64,
    },
    Hmac {
        header: HeaderName,
        encoding: Encoding,
        prefix: Option<String>,
    },
}

/// Verifies callback signatures under one configured scheme and key set.
#[derive(Clone)]
pub struct SignatureVerifier {
    scheme: Scheme,
    keys: Arc<[SecretSlice<u8>]>,
}

impl fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::StandardWebhooks { .. } => "standard_webhooks",
            Scheme::Hmac { .. } => "hmac_sha256",
        };
        f.debug_struct("SignatureVerifier")
            .field("scheme", &scheme)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl SignatureVerifier {
    /// Standard Webhooks 1.0 (symmetric v1). Each secret is `whsec_<base64>` (the prefix is
    /// optional; the key is the base64-decoded remainder). Several secrets = rotation: any
    /// match passes.
    pub fn standard_webhooks(
        secrets: &[SecretString],
        tolerance: Duration,
    ) -> Result<Self, VerifierConfigError> {
        let keys = build_keys(secrets, |secret| {
            let encoded = secret.strip_prefix(WHSEC_PREFIX).unwrap_or(secret);
            // Decode into a buffer that is wiped on drop, even on a decode error.
            let mut buf = Zeroizing::new(Vec::with_capacity(base64::decoded_len_estimate(
                encoded.len(),
            )));
            BASE64_LENIENT.decode_vec(encoded, &mut buf).ok()?;
            Some(buf.to_vec())
        })?;
        Ok(Self {
            scheme: Scheme::StandardWebhooks {
                tolerance_secs: tolerance.as_secs(),
            },
            keys,
        })
    }

    /// Generic HMAC-SHA256 of the raw body; signature in `header`, encoded hex
    /// (case-insensitive) or base64 (standard alphabet, with or without padding), optionally
    /// preceded by `prefix` (e.g. "sha256="). The key is the secret's UTF-8 bytes as given.
    /// Several secrets = rotation.
    pub fn hmac(
        header: HeaderName,
        encoding: Encoding,
        prefix: Option<String>,
        secrets: &[SecretString],
    ) -> Result<Self, VerifierConfigError> {
        if prefix.as_deref() == Some("") {
            return Err(VerifierConfigError::EmptyPrefix);
        }
        let keys = build_keys(secrets, |secret| Some(secret.as_bytes().to_vec()))?;
        Ok(Self {
            scheme: Scheme::Hmac {
                header,
                encoding,
                prefix,
            },
            keys,
        })
    }

    /// Verify `body` (raw bytes, never re-serialized) against the request headers.
    /// `now_unix` = current Unix time in seconds (injected for tests).
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
    ) -> Result<(), VerifyError> {
        match &self.scheme {
            Scheme::StandardWebhooks { tolerance_secs } => {
                self.verify_standard(headers, body, now_unix, *tolerance_secs)
            }
            Scheme::Hmac {
                header,
                encoding,
                prefix,
            } => self.verify_hmac(headers, body, header, *encoding, prefix.as_deref()),
        }
    }

    fn verify_standard(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: i64,
        tolerance_secs: u64,
    ) -> Result<(), VerifyError> {
        let id = headers
            .get(HEADER_ID)
            .ok_or(VerifyError::MissingHeader(HEADER_ID))?
            .as_bytes();
        let ts_raw = headers
            .get(HEADER_TIMESTAMP)
            .ok_or(VerifyError::MissingHeader(HEADER_TIMESTAMP))?
            .as_bytes();
        let sig_header = headers
            .get(HEADER_SIGNATURE)
            .ok_or(VerifyError::MissingHeader(HEADER_SIGNATURE))?
            .to_str()
            .map_err(|_| VerifyError::MalformedSignature)?;

        let ts = parse_unix_seconds(ts_raw).ok_or(VerifyError::MalformedTimestamp)?;
        let age = i128::from(now_unix) - i128::from(ts);
        let tolerance = i128::from(tolerance_secs);
        if age > tolerance {
            return Err(VerifyError::TimestampTooOld);
        }
        if -age > tolerance {
            return Err(VerifyError::TimestampInFuture);
        }

        // Only `v1,<base64>` entries count; a candidate that does not decode to exactly
        // 32 bytes can never match (an empty `v1,` must not verify).
        let candidates: Vec<[u8; TAG_LEN]> = sig_header
            .split(' ')
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, sig)| decode_base64_tag(sig))
            .collect();
        if candidates.is_empty() {
            return Err(VerifyError::NoMatchingSignature);
        }
        self.match_any(&[id, b".", ts_raw, b".", body], &candidates)
    }

    fn verify_hmac(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        header: &HeaderName,
        encoding: Encoding,
        prefix: Option<&str>,
    ) -> Result<(), VerifyError> {
        let value = headers
            .get(header)
            .ok_or(VerifyError::MissingHeader(HEADER_GENERIC))?
            .to_str()
            .map_err(|_| VerifyError::MalformedSignature)?
            .trim();
        let encoded = match prefix {
            Some(p) => value
                .strip_prefix(p)
                .ok_or(VerifyError::MalformedSignature)?,
            None => value,
        };
        let tag = match encoding {
            Encoding::Hex => decode_hex_tag(encoded),
            Encoding::Base64 => decode_base64_tag(encoded),
        }
        .ok_or(VerifyError::MalformedSignature)?;
        self.match_any(&[body], &[tag])
    }

    /// Computes the HMAC of `parts` (concatenated) under every key and compares it with every
    /// candidate in constant time.
    fn match_any(&self, parts: &[&[u8]], candidates: &[[u8; TAG_LEN]]) -> Result<(), VerifyError> {
        let mut matched = Choice::from(0);
        for key in self.keys.iter() {
            // HMAC accepts keys of any length, so this cannot fail; skip defensively.
            let Ok(mut mac) = HmacSha256::new_from_slice(key.expose_secret()) else {
                continue;
            };
            for part in parts {
                mac.update(part);
            }
            let expected = Zeroizing::new(<[u8; TAG_LEN]>::from(mac.finalize().into_bytes()));
            for candidate in candidates {
                matched |= candidate.ct_eq(&*expected);
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(VerifyError::NoMatchingSignature)
        }
    }
}

/// Turns each secret into key bytes with `derive`; empty or underivable keys are rejected.
fn build_keys(
    secrets: &[SecretString],
    derive: impl Fn(&str) -> Option<Vec<u8>>,
) -> Result<Arc<[SecretSlice<u8>]>, VerifierConfigError> {
    if secrets.is_empty() {
        return Err(VerifierConfigError::NoSecrets);
    }
    secrets
        .iter()
        .enumerate()
        .map(|(index, secret)| match derive(secret.expose_secret()) {
            Some(key) if !key.is_empty() => Ok(SecretSlice::from(key)),
            _ => Err(VerifierConfigError::InvalidSecret { index }),
        })
        .collect()
}

/// Strict Unix seconds: one or more ASCII digits, fitting in `i64`.
fn parse_unix_seconds(raw: &[u8]) -> Option<i64> {
    if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Standard-alphabet base64 (padding optional) that decodes to exactly 32 bytes.
fn decode_base64_tag(text: &str) -> Option<[u8; TAG_LEN]> {
    if text.len() > TAG_B64_MAX_LEN {
        return None;
    }
    let bytes = BASE64_LENIENT.decode(text).ok()?;
    <[u8; TAG_LEN]>::try_from(bytes.as_slice()).ok()
}

/// Case-insensitive hex that decodes to exactly 32 bytes.
fn decode_hex_tag(text: &str) -> Option<[u8; TAG_LEN]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let raw = text.as_bytes();
    if raw.len() != TAG_LEN * 2 {
        return None;
    }
    let mut out = [0u8; TAG_LEN];
    for (byte, pair) in out.iter_mut().zip(raw.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
