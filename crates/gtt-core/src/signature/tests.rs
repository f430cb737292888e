//! Tests of signature verification: the Standard Webhooks spec vector, tampering, tolerance,
//! rotation, generic HMAC encodings, redaction.

use super::*;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use http::HeaderValue;

const SPEC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const SPEC_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const SPEC_TS: i64 = 1_649_367_553;
const SPEC_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
const SPEC_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
const TOLERANCE: Duration = Duration::from_secs(300);

const KEY_NEW: &[u8] = b"new-key-0123456789abcdef-0123456";
const KEY_OLD: &[u8] = b"old-key-fedcba9876543210-6543210";

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

fn whsec(key: &[u8]) -> SecretString {
    secret(&format!("whsec_{}", STANDARD.encode(key)))
}

/// Reference HMAC-SHA256, computed with the hmac crate directly.
fn reference_mac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn sw_sig(key: &[u8], id: &str, ts: i64, body: &[u8]) -> String {
    let mut msg = format!("{id}.{ts}.").into_bytes();
    msg.extend_from_slice(body);
    STANDARD.encode(reference_mac(key, &msg))
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sw_headers(id: &str, ts: &str, sig: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(HEADER_ID, HeaderValue::from_str(id).unwrap());
    h.insert(HEADER_TIMESTAMP, HeaderValue::from_str(ts).unwrap());
    h.insert(HEADER_SIGNATURE, HeaderValue::from_str(sig).unwrap());
    h
}

fn spec_verifier() -> SignatureVerifier {
    SignatureVerifier::standard_webhooks(&[secret(SPEC_SECRET)], TOLERANCE).unwrap()
}

fn spec_headers() -> HeaderMap {
    sw_headers(SPEC_ID, &SPEC_TS.to_string(), SPEC_SIG)
}

#[test]
fn spec_test_vector_verifies() {
    assert_eq!(
        spec_verifier().verify(&spec_headers(), SPEC_BODY, SPEC_TS),
        Ok(())
    );
    // The `whsec_` prefix is optional.
    let bare = SignatureVerifier::standard_webhooks(
        &[secret(SPEC_SECRET.trim_start_matches("whsec_"))],
        TOLERANCE,
    )
    .unwrap();
    assert_eq!(bare.verify(&spec_headers(), SPEC_BODY, SPEC_TS), Ok(()));
}

#[test]
fn spec_vector_tampering_fails() {
    let v = spec_verifier();
    let ts = SPEC_TS.to_string();
    let tampered_id = sw_headers("msg_27UH4WbU6Z5A5EzD8u03UvzRbpK", &ts, SPEC_SIG);
    assert_eq!(
        v.verify(&tampered_id, SPEC_BODY, SPEC_TS),
        Err(VerifyError::NoMatchingSignature)
    );
    let tampered_ts = sw_headers(SPEC_ID, &(SPEC_TS + 1).to_string(), SPEC_SIG);
    assert_eq!(
        v.verify(&tampered_ts, SPEC_BODY, SPEC_TS),
        Err(VerifyError::NoMatchingSignature)
    );
    let mut body = SPEC_BODY.to_vec();
    body[10] ^= 0x01;
    assert_eq!(
        v.verify(&spec_headers(), &body, SPEC_TS),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn empty_truncated_or_foreign_version_signatures_fail() {
    let v = spec_verifier();
    let ts = SPEC_TS.to_string();
    let b64 = SPEC_SIG.trim_start_matches("v1,");
    for sig in [
        "v1,".to_owned(),
        "v1, v1,".to_owned(),
        format!("v1,{}", &b64[..b64.len() - 4]),
        format!("v1,{}", &b64[..b64.len() - 2]),
        format!("v1,{b64}AAAA"),
        format!("v2,{b64}"),
        format!("v1a,{b64}"),
        b64.to_owned(),
        format!("v1 {b64}"),
    ] {
        assert_eq!(
            v.verify(&sw_headers(SPEC_ID, &ts, &sig), SPEC_BODY, SPEC_TS),
            Err(VerifyError::NoMatchingSignature),
            "signature header {sig:?} must not verify"
        );
    }
}

#[test]
fn missing_standard_headers_are_reported() {
    let v = spec_verifier();
    for name in [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE] {
        let mut h = spec_headers();
        h.remove(name);
        assert_eq!(
            v.verify(&h, SPEC_BODY, SPEC_TS),
            Err(VerifyError::MissingHeader(name))
        );
    }
}

#[test]
fn malformed_timestamp_and_signature_header() {
    let v = spec_verifier();
    for ts in [
        "",
        "abc",
        "+1649367553",
        "-1649367553",
        "1649367553.0",
        " 1",
        "99999999999999999999",
    ] {
        let h = sw_headers(SPEC_ID, ts, SPEC_SIG);
        assert_eq!(
            v.verify(&h, SPEC_BODY, SPEC_TS),
            Err(VerifyError::MalformedTimestamp),
            "timestamp {ts:?}"
        );
    }
    let mut h = spec_headers();
    h.insert(
        HEADER_SIGNATURE,
        HeaderValue::from_bytes(b"v1,\xff").unwrap(),
    );
    assert_eq!(
        v.verify(&h, SPEC_BODY, SPEC_TS),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn timestamp_tolerance_boundaries() {
    let v = spec_verifier();
    let h = spec_headers();
    let tol = TOLERANCE.as_secs() as i64;
    assert_eq!(v.verify(&h, SPEC_BODY, SPEC_TS + tol), Ok(()));
    assert_eq!(v.verify(&h, SPEC_BODY, SPEC_TS - tol), Ok(()));
    assert_eq!(
        v.verify(&h, SPEC_BODY, SPEC_TS + tol + 1),
        Err(VerifyError::TimestampTooOld)
    );
    assert_eq!(
        v.verify(&h, SPEC_BODY, SPEC_TS - tol - 1),
        Err(VerifyError::TimestampInFuture)
    );
    // Extreme clock values must not overflow.
    assert_eq!(
        v.verify(&h, SPEC_BODY, i64::MAX),
        Err(VerifyError::TimestampTooOld)
    );
    assert_eq!(
        v.verify(&h, SPEC_BODY, i64::MIN),
        Err(VerifyError::TimestampInFuture)
    );
}

#[test]
fn tampered_timestamp_within_tolerance_fails() {
    let v = SignatureVerifier::standard_webhooks(&[whsec(KEY_NEW)], TOLERANCE).unwrap();
    let sig = format!("v1,{}", sw_sig(KEY_NEW, "msg_1", 1000, b"{}"));
    assert_eq!(
        v.verify(&sw_headers("msg_1", "1000", &sig), b"{}", 1000),
        Ok(())
    );
    assert_eq!(
        v.verify(&sw_headers("msg_1", "1100", &sig), b"{}", 1000),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn second_of_several_signatures_matches() {
    let v = SignatureVerifier::standard_webhooks(&[whsec(KEY_NEW)], TOLERANCE).unwrap();
    let good = sw_sig(KEY_NEW, "msg_2", 5000, b"payload");
    let bad = sw_sig(KEY_OLD, "msg_2", 5000, b"payload");
    let header = format!("v2,{good} v1,{bad}  v1,{good}");
    let h = sw_headers("msg_2", "5000", &header);
    assert_eq!(v.verify(&h, b"payload", 5000), Ok(()));
    // Ids containing '.' are just signed content.
    let dotted = format!("v1,{}", sw_sig(KEY_NEW, "a.b", 5000, b"x"));
    assert_eq!(
        v.verify(&sw_headers("a.b", "5000", &dotted), b"x", 5000),
        Ok(())
    );
}

#[test]
fn standard_rotation_accepts_old_secret() {
    let v =
        SignatureVerifier::standard_webhooks(&[whsec(KEY_NEW), whsec(KEY_OLD)], TOLERANCE).unwrap();
    let sig = format!("v1,{}", sw_sig(KEY_OLD, "msg_3", 7000, b"body"));
    assert_eq!(
        v.verify(&sw_headers("msg_3", "7000", &sig), b"body", 7000),
        Ok(())
    );
    let only_new = SignatureVerifier::standard_webhooks(&[whsec(KEY_NEW)], TOLERANCE).unwrap();
    assert_eq!(
        only_new.verify(&sw_headers("msg_3", "7000", &sig), b"body", 7000),
        Err(VerifyError::NoMatchingSignature)
    );
}

const GH_HEADER: &str = "x-hub-signature-256";
const GH_SECRET: &str = "It's a Secret to Everybody";
const GH_BODY: &[u8] = b"Hello, World!";

fn generic(encoding: Encoding, prefix: Option<&str>, secrets: &[&str]) -> SignatureVerifier {
    let secrets: Vec<_> = secrets.iter().map(|s| secret(s)).collect();
    SignatureVerifier::hmac(
        HeaderName::from_static(GH_HEADER),
        encoding,
        prefix.map(str::to_owned),
        &secrets,
    )
    .unwrap()
}

fn one_header(value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(GH_HEADER, HeaderValue::from_str(value).unwrap());
    h
}

#[test]
fn generic_hex_lower_and_upper_case() {
    let v = generic(Encoding::Hex, None, &[GH_SECRET]);
    let hex = to_hex(&reference_mac(GH_SECRET.as_bytes(), GH_BODY));
    assert_eq!(v.verify(&one_header(&hex), GH_BODY, 0), Ok(()));
    assert_eq!(
        v.verify(&one_header(&hex.to_uppercase()), GH_BODY, 0),
        Ok(())
    );
    assert_eq!(
        v.verify(&one_header(&hex), b"Hello, World?", 0),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn generic_github_style_prefix() {
    let v = generic(Encoding::Hex, Some("sha256="), &[GH_SECRET]);
    let hex = to_hex(&reference_mac(GH_SECRET.as_bytes(), GH_BODY));
    // GitHub's documented example value for this secret and payload.
    assert_eq!(
        hex,
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    );
    assert_eq!(
        v.verify(&one_header(&format!("sha256={hex}")), GH_BODY, 0),
        Ok(())
    );
    assert_eq!(
        v.verify(&one_header(&hex), GH_BODY, 0),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        v.verify(&one_header(&format!("sha1={hex}")), GH_BODY, 0),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn generic_base64_with_and_without_padding() {
    let v = generic(Encoding::Base64, None, &[GH_SECRET]);
    let mac = reference_mac(GH_SECRET.as_bytes(), GH_BODY);
    assert_eq!(
        v.verify(&one_header(&STANDARD.encode(&mac)), GH_BODY, 0),
        Ok(())
    );
    assert_eq!(
        v.verify(&one_header(&STANDARD_NO_PAD.encode(&mac)), GH_BODY, 0),
        Ok(())
    );
    // Hex text is not accepted by a base64 verifier.
    assert_eq!(
        v.verify(&one_header(&to_hex(&mac)), GH_BODY, 0),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn generic_wrong_secret_length_and_missing_header() {
    let v = generic(Encoding::Hex, None, &[GH_SECRET]);
    let wrong = to_hex(&reference_mac(b"another secret", GH_BODY));
    assert_eq!(
        v.verify(&one_header(&wrong), GH_BODY, 0),
        Err(VerifyError::NoMatchingSignature)
    );
    let mac = reference_mac(GH_SECRET.as_bytes(), GH_BODY);
    let short = to_hex(&mac[..31]);
    let long = format!("{}00", to_hex(&mac));
    let bad_char = format!("{}zz", &to_hex(&mac)[..62]);
    for value in [short.as_str(), long.as_str(), bad_char.as_str(), ""] {
        assert_eq!(
            v.verify(&one_header(value), GH_BODY, 0),
            Err(VerifyError::MalformedSignature),
            "value {value:?}"
        );
    }
    let b64 = generic(Encoding::Base64, None, &[GH_SECRET]);
    assert_eq!(
        b64.verify(&one_header(&STANDARD.encode(&mac[..31])), GH_BODY, 0),
        Err(VerifyError::MalformedSignature)
    );
    assert_eq!(
        v.verify(&HeaderMap::new(), GH_BODY, 0),
        Err(VerifyError::MissingHeader(HEADER_GENERIC))
    );
}

#[test]
fn generic_rotation_accepts_old_secret() {
    let v = generic(
        Encoding::Hex,
        Some("sha256="),
        &["new secret", "old secret"],
    );
    let old = to_hex(&reference_mac(b"old secret", GH_BODY));
    assert_eq!(
        v.verify(&one_header(&format!("sha256={old}")), GH_BODY, 0),
        Ok(())
    );
}

#[test]
fn debug_redacts_key_material() {
    let sw =
        SignatureVerifier::standard_webhooks(&[secret(SPEC_SECRET), whsec(KEY_OLD)], TOLERANCE)
            .unwrap();
    let text = format!("{sw:?} {sw:#?}");
    assert!(!text.contains("C2FVsBQIhrscChlQIMV+b5sSYspob7oD"), "{text}");
    assert!(!text.contains(&STANDARD.encode(KEY_OLD)), "{text}");
    assert!(!text.contains("old-key"), "{text}");
    assert_eq!(
        format!("{sw:?}"),
        r#"SignatureVerifier { scheme: "standard_webhooks", keys: 2 }"#
    );
    let g = generic(Encoding::Hex, None, &[GH_SECRET]);
    let text = format!("{g:?}");
    assert!(!text.contains(GH_SECRET), "{text}");
    assert_eq!(
        text,
        r#"SignatureVerifier { scheme: "hmac_sha256", keys: 1 }"#
    );
}

#[test]
fn config_errors() {
    assert!(matches!(
        SignatureVerifier::standard_webhooks(&[], TOLERANCE),
        Err(VerifierConfigError::NoSecrets)
    ));
    assert!(matches!(
        SignatureVerifier::hmac(HeaderName::from_static(GH_HEADER), Encoding::Hex, None, &[]),
        Err(VerifierConfigError::NoSecrets)
    ));
    let bad = "whsec_not*base64!";
    let err = SignatureVerifier::standard_webhooks(&[whsec(KEY_NEW), secret(bad)], TOLERANCE)
        .unwrap_err();
    assert!(matches!(
        err,
        VerifierConfigError::InvalidSecret { index: 1 }
    ));
    assert!(!err.to_string().contains("not*base64"), "{err}");
    for empty in ["whsec_", ""] {
        assert!(matches!(
            SignatureVerifier::standard_webhooks(&[secret(empty)], TOLERANCE),
            Err(VerifierConfigError::InvalidSecret { index: 0 })
        ));
    }
    assert!(matches!(
        SignatureVerifier::hmac(
            HeaderName::from_static(GH_HEADER),
            Encoding::Hex,
            None,
            &[secret(GH_SECRET), secret("")]
        ),
        Err(VerifierConfigError::InvalidSecret { index: 1 })
    ));
    assert!(matches!(
        SignatureVerifier::hmac(
            HeaderName::from_static(GH_HEADER),
            Encoding::Hex,
            Some(String::new()),
            &[secret(GH_SECRET)]
        ),
        Err(VerifierConfigError::EmptyPrefix)
    ));
}

#[test]
fn reasons_are_distinct_snake_case() {
    let all = [
        VerifyError::MissingHeader(HEADER_ID),
        VerifyError::MalformedTimestamp,
        VerifyError::TimestampTooOld,
        VerifyError::TimestampInFuture,
        VerifyError::MalformedSignature,
        VerifyError::NoMatchingSignature,
    ];
    let reasons: std::collections::HashSet<_> = all.iter().map(VerifyError::reason).collect();
    assert_eq!(reasons.len(), all.len());
    assert!(
        reasons
            .iter()
            .all(|r| r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    );
    assert_eq!(VerifyError::TimestampTooOld.reason(), "timestamp_too_old");
}

mod properties {
    //! Whatever the headers hold, verification answers (almost always with an error) and never
    //! panics.

    use proptest::prelude::*;

    use super::*;

    fn header_value() -> impl Strategy<Value = HeaderValue> {
        let text = prop_oneof![
            prop::collection::vec(any::<u8>(), 0..120),
            "(v1,[A-Za-z0-9+/=]{0,50} ?){0,3}".prop_map(String::into_bytes),
            "(sha256=)?[0-9a-fA-F]{0,70}".prop_map(String::into_bytes),
            "-?[0-9]{0,25}".prop_map(String::into_bytes),
        ];
        text.prop_filter_map("not a header value", |b| HeaderValue::from_bytes(&b).ok())
    }

    fn verifiers() -> Vec<SignatureVerifier> {
        let header = || HeaderName::from_static(GH_HEADER);
        let keys = [secret("k-0123456789abcdef")];
        vec![
            SignatureVerifier::standard_webhooks(&[whsec(KEY_NEW), whsec(KEY_OLD)], TOLERANCE)
                .unwrap(),
            SignatureVerifier::hmac(header(), Encoding::Hex, Some("sha256=".into()), &keys)
                .unwrap(),
            SignatureVerifier::hmac(header(), Encoding::Base64, None, &keys).unwrap(),
        ]
    }

    proptest! {
        #[test]
        fn verification_never_panics_on_any_header_value(
            values in prop::collection::vec(header_value(), 4),
            present in prop::collection::vec(any::<bool>(), 4),
            now in any::<i64>(),
            body in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut headers = HeaderMap::new();
            let names = ["webhook-id", "webhook-timestamp", "webhook-signature", GH_HEADER];
            for ((name, value), present) in names.into_iter().zip(values).zip(present) {
                if present {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
            for verifier in verifiers() {
                let _ = verifier.verify(&headers, &body, now);
            }
        }
    }
}
