//! Capability tokens: the last path segment of every callback URL,
//! `hex(HMAC-SHA256(callbacks.secret, "{namespace}:{kind}:{action}"))`, and the URLs built from them.
//!
//! Stateless and identical on every replica; checked in constant time against the current secret
//! and every `callbacks.previous_secrets` entry (rotation without downtime).
//!
//! Namespace, kind and action are route segments: 1 to [`MAX_SEGMENT_BYTES`] ASCII letters,
//! digits, `-` or `_` ([`is_route_segment`]). Without `:` in them, the HMAC input names exactly
//! one route; they are subject tokens as they are, and short enough for any subject.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use url::Url;

/// The one spelling of the callback path's prefix (for the constants below).
macro_rules! callback_path {
    () => {
        "/v1/hooks/gtt"
    };
}

/// Path under which GTT calls us: `{CALLBACK_PATH}/{namespace}/{kind}/{action}/{token}`.
pub const CALLBACK_PATH: &str = callback_path!();
/// The callback route as the HTTP router spells it.
pub const CALLBACK_ROUTE: &str = concat!(callback_path!(), "/{namespace}/{kind}/{action}/{token}");

/// Longest route segment (namespace, kind or action), in bytes.
pub const MAX_SEGMENT_BYTES: usize = 64;

/// Whether `s` may be a namespace, kind or action: `[A-Za-z0-9_-]{1,64}`.
pub fn is_route_segment(s: &str) -> bool {
    (1..=MAX_SEGMENT_BYTES).contains(&s.len()) && s.bytes().all(is_route_byte)
}

/// A byte of a route segment: ASCII letter, digit, `-` or `_`.
pub fn is_route_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Derives and checks capability tokens.
#[derive(Clone)]
pub struct TokenKeys {
    /// Current secret first, then the previous ones.
    secrets: Vec<SecretString>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenKeys({} secrets, redacted)", self.secrets.len())
    }
}

impl TokenKeys {
    /// `secrets[0]` signs new URLs; all of them are accepted.
    pub fn new(secrets: Vec<SecretString>) -> Self {
        assert!(!secrets.is_empty(), "at least one callback secret");
        Self { secrets }
    }

    fn mac(secret: &SecretString, namespace: &str, kind: &str, action: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(namespace.as_bytes());
        mac.update(b":");
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(action.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The token for new callback URLs (current secret).
    pub fn token(&self, namespace: &str, kind: &str, action: &str) -> String {
        hex::encode(Self::mac(&self.secrets[0], namespace, kind, action))
    }

    /// Whether `token` is valid for this route under any accepted secret. Constant time in the
    /// token's content; a token that is not 64 hex characters is rejected before any comparison.
    pub fn verify(&self, namespace: &str, kind: &str, action: &str, token: &str) -> bool {
        let mut given = [0u8; 32];
        if token.len() != 64 || hex::decode_to_slice(token, &mut given).is_err() {
            return false;
        }
        // Check every secret (no early exit) so timing does not reveal which one matched.
        self.secrets.iter().fold(false, |ok, secret| {
            let expected = Self::mac(secret, namespace, kind, action);
            ok | bool::from(expected.ct_eq(&given))
        })
    }

    /// The full callback URL GTT must call for this route.
    pub fn callback_url(&self, public_url: &Url, namespace: &str, kind: &str, action: &str) -> Url {
        let mut url = public_url.clone();
        let token = self.token(namespace, kind, action);
        {
            let mut segments = url
                .path_segments_mut()
                .expect("public_url is an http(s) URL, which has a path");
            segments.pop_if_empty();
            segments.extend(CALLBACK_PATH.trim_start_matches('/').split('/'));
            segments.extend([namespace, kind, action, token.as_str()]);
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(secrets: &[&str]) -> TokenKeys {
        TokenKeys::new(
            secrets
                .iter()
                .map(|s| SecretString::from(s.to_string()))
                .collect(),
        )
    }

    #[test]
    fn token_is_hmac_of_route() {
        // Independent computation of the documented formula.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret-0123456789").unwrap();
        mac.update(b"142033:case:create");
        let expected = hex::encode(mac.finalize().into_bytes());
        let k = keys(&["secret-0123456789"]);
        assert_eq!(k.token("142033", "case", "create"), expected);
        assert_eq!(expected.len(), 64);
        assert!(k.verify("142033", "case", "create", &expected));
        assert!(k.verify("142033", "case", "create", &expected.to_uppercase()));
    }

    #[test]
    fn token_is_bound_to_namespace_kind_and_action() {
        let k = keys(&["secret-0123456789"]);
        let t = k.token("142033", "case", "create");
        assert!(!k.verify("142034", "case", "create", &t));
        assert!(!k.verify("142033", "site", "create", &t));
        assert!(!k.verify("142033", "case", "update", &t));
        assert!(!k.verify("142033", "case", "create", &t[..63]));
        assert!(!k.verify("142033", "case", "create", ""));
        assert!(!k.verify("142033", "case", "create", &format!("{}zz", &t[..62])));
    }

    #[test]
    fn rotation_accepts_previous_secret_and_signs_with_current() {
        let old = keys(&["old-secret-0123456789"]);
        let rotated = keys(&["new-secret-0123456789", "old-secret-0123456789"]);
        let new_only = keys(&["new-secret-0123456789"]);
        let old_token = old.token("7", "case", "update");
        assert!(rotated.verify("7", "case", "update", &old_token));
        assert!(!new_only.verify("7", "case", "update", &old_token));
        assert_eq!(
            rotated.token("7", "case", "update"),
            new_only.token("7", "case", "update")
        );
    }

    #[test]
    fn callback_url_appends_route_and_token() {
        let k = keys(&["secret-0123456789"]);
        for base in [
            "https://hooks.example.com",
            "https://hooks.example.com/",
            "https://x.example/gw/",
        ] {
            let url = k.callback_url(&Url::parse(base).unwrap(), "142033", "case", "create");
            let s = url.as_str();
            assert!(s.contains("/v1/hooks/gtt/142033/case/create/"), "{s}");
            assert!(s.ends_with(&k.token("142033", "case", "create")), "{s}");
            assert!(!s.contains("//v1"), "{s}");
        }
        let url = k.callback_url(
            &Url::parse("https://x.example/gw/").unwrap(),
            "a b",
            "case",
            "create",
        );
        assert!(
            url.as_str()
                .starts_with("https://x.example/gw/v1/hooks/gtt/a%20b/"),
            "{url}"
        );
    }

    #[test]
    fn route_segments() {
        for ok in ["142033", "case", "update", "a-b_C9", &"x".repeat(64)] {
            assert!(is_route_segment(ok), "{ok}");
        }
        for bad in ["", "a b", "a:b", "a.b", "a/b", "é", "a%20", &"x".repeat(65)] {
            assert!(!is_route_segment(bad), "{bad}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let k = keys(&["secret-0123456789"]);
        assert!(!format!("{k:?}").contains("secret-0123"));
    }
}
