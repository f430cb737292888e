//! OAuth2 client-credentials token endpoint (Keycloak-style) and bearer-token checks for the API.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;
use serde_json::json;

use super::http::{ApiError, json_response, parse_form};
use super::store::{SharedRef, bump, lock};

/// Live tokens kept at most; the one closest to expiry is forgotten first.
const MAX_TOKENS: usize = 10_000;
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[derive(Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, IssuedToken>,
}

struct IssuedToken {
    client: usize,
    expires: Instant,
}

impl TokenStore {
    fn issue(&mut self, client: usize, ttl: Duration) -> String {
        let now = Instant::now();
        if self.tokens.len() >= MAX_TOKENS {
            self.tokens.retain(|_, t| t.expires > now);
        }
        if self.tokens.len() >= MAX_TOKENS {
            let oldest = self
                .tokens
                .iter()
                .min_by_key(|(_, t)| t.expires)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.tokens.remove(&oldest);
            }
        }
        let token = random_token();
        // A TTL too large for the clock means "practically never" (about 100 years).
        let expires = now
            .checked_add(ttl)
            .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
            .unwrap_or(now);
        self.tokens
            .insert(token.clone(), IssuedToken { client, expires });
        token
    }

    /// The client index of a live token.
    fn check(&mut self, token: &str) -> Option<usize> {
        let issued = self.tokens.get(token)?;
        if issued.expires <= Instant::now() {
            self.tokens.remove(token);
            return None;
        }
        Some(issued.client)
    }
}

/// An opaque token that looks like the start of a JWT: `eyJ` + 40 URL-safe characters.
fn random_token() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..40)
        .map(|_| char::from(TOKEN_ALPHABET[rng.random_range(0..TOKEN_ALPHABET.len())]))
        .collect();
    format!("eyJ{tail}")
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

/// `POST /realms/dx/protocol/openid-connect/token`.
pub(crate) async fn token(
    State(shared): State<SharedRef>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.stats.api("token");
    bump(&shared.stats.token_requests);

    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form = if is_form {
        parse_form(&String::from_utf8_lossy(&body))
    } else {
        Vec::new()
    };
    let grant = form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str());
    if grant != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type",
        );
    }

    let Some(client) = basic_client(&shared, &headers) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized_client",
            "Invalid client or Invalid client credentials",
        );
    };

    let ttl = shared.config.token_ttl;
    let access_token = lock(&shared.tokens).issue(client, ttl);
    bump(&shared.stats.tokens_issued);
    json_response(
        StatusCode::OK,
        json!({
            "access_token": access_token,
            "expires_in": ttl.as_secs(),
            "refresh_expires_in": 1800,
            "token_type": "Bearer",
            "not-before-policy": 0,
            "scope": "email profile",
        }),
    )
    .into_response()
}

/// The index of the client named by a valid `Authorization: Basic` header.
fn basic_client(shared: &SharedRef, headers: &HeaderMap) -> Option<usize> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    shared
        .config
        .clients
        .iter()
        .position(|c| c.client_id == id && c.client_secret == secret)
}

/// Who is calling the API.
pub(crate) struct Caller {
    pub client_id: String,
}

/// Count an API call of `operation`, then check `Authorization: Bearer <token>` (401) and that
/// the caller may use `namespace` (403).
pub(crate) fn authorize(
    shared: &SharedRef,
    operation: &'static str,
    headers: &HeaderMap,
    namespace: &str,
) -> Result<Caller, ApiError> {
    shared.stats.api(operation);
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let client = token.and_then(|t| lock(&shared.tokens).check(t));
    let Some(client) = client.and_then(|i| shared.config.clients.get(i)) else {
        bump(&shared.stats.unauthorized);
        let message = if token.is_none() {
            "missing Bearer token"
        } else {
            "invalid or expired Bearer token"
        };
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            message,
        ));
    };
    if !shared.namespace_exists(namespace) || !client.may_use(namespace) {
        bump(&shared.stats.forbidden);
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!("the token does not grant access to namespace {namespace}"),
        ));
    }
    Ok(Caller {
        client_id: client.client_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_are_bounded() {
        let mut store = TokenStore::default();
        let live = store.issue(0, Duration::from_secs(60));
        let dead = store.issue(1, Duration::ZERO);
        assert_eq!(store.check(&live), Some(0));
        assert_eq!(store.check(&dead), None);
        assert_eq!(store.check("eyJnope"), None);
        assert!(live.starts_with("eyJ") && live.len() == 43);
        for _ in 0..MAX_TOKENS + 10 {
            store.issue(0, Duration::from_secs(60));
        }
        assert!(store.tokens.len() <= MAX_TOKENS);
    }
}
