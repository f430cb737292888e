//! Why NATS refuses the connection, said with the settings to fix. Before each connection
//! attempt the client hands over every server's last error; a refusal (credentials, TLS)
//! becomes one error line, at most every [`PERIOD`], naming the key(s), and is kept for the
//! operator commands' messages. The server's or TLS library's text is never logged as it is.

use std::sync::Mutex;
use std::time::Duration;

use crate::config::{NatsAuth, NatsTls};
use crate::throttle::Throttle;

/// At most one refusal line per period (the client retries every 2 s at most).
const PERIOD: Duration = Duration::from_secs(10);

/// The last refusal seen, until the next successful connect.
pub(crate) struct Refusal {
    throttle: Throttle,
    last: Mutex<Option<String>>,
}

impl Default for Refusal {
    fn default() -> Self {
        Self {
            throttle: Throttle::new(PERIOD),
            last: Mutex::new(None),
        }
    }
}

impl Refusal {
    /// A failed attempt's `error`, made with `auth` and `tls`.
    pub(super) fn observe(&self, error: &str, auth: &NatsAuth, tls: &NatsTls) {
        let Some(problem) = explain(error, auth, tls) else {
            return;
        };
        if let Some(attempts) = self.throttle.due() {
            tracing::error!(
                %problem,
                attempts,
                "NATS refuses the connection; retrying (not ready until it connects)"
            );
        }
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(problem);
    }

    /// Connected: no refusal any more.
    pub(super) fn clear(&self) {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// The refusal since the last successful connect, if any.
    pub(crate) fn last(&self) -> Option<String> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What to fix, when `error` (a failed connection attempt made with `auth` and `tls`) is a
/// refusal of the credentials or of TLS; `None` for other failures (a server down, a timeout).
pub(super) fn explain(error: &str, auth: &NatsAuth, tls: &NatsTls) -> Option<String> {
    let error = error.to_ascii_lowercase();
    let problem = if error.contains("authorization violation") || error.contains("signing nonce") {
        match auth {
            NatsAuth::None => "the server requires credentials: set nats.user and nats.password, \
                               nats.token, nats.nkey_seed_file or nats.credentials_file"
                .to_string(),
            auth => format!("the server refuses the credentials of {}", auth.key()),
        }
    } else if error.contains("notvalidforname") {
        "the server's certificate does not name the host of nats.url".into()
    } else if error.contains("invalid peer certificate") {
        match tls.ca_file {
            Some(_) => "the server's certificate is not signed by the CA of nats.tls.ca_file",
            None => "the server's certificate is not trusted: set nats.tls.ca_file to its CA",
        }
        .into()
    } else if error.contains("fatal alert") {
        match tls.cert_file {
            Some(_) => "the server refuses the client certificate of nats.tls.cert_file",
            None => {
                "the server requires a client certificate: set nats.tls.cert_file and \
                 nats.tls.key_file"
            }
        }
        .into()
    } else if error.contains("could not load") || error.contains("certificate or key") {
        "the TLS files cannot be loaded (nats.tls.ca_file, nats.tls.cert_file, nats.tls.key_file)"
            .into()
    } else if tls.required && (error.contains("corrupt message") || error.contains("tls")) {
        "nats.tls.required is set, but the server does not offer TLS".into()
    } else {
        return None;
    };
    Some(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_setting_to_fix_and_other_failures_nothing() {
        let token = NatsAuth::Token(secrecy::SecretString::from("t".to_owned()));
        let tls = NatsTls::default();
        let refused = "authorization violation: nats: authorization violation";
        assert!(
            explain(refused, &token, &tls)
                .unwrap()
                .contains("nats.token")
        );
        assert!(
            explain(refused, &NatsAuth::None, &tls)
                .unwrap()
                .contains("nats.user and nats.password")
        );
        let untrusted = "IO error: invalid peer certificate: UnknownIssuer";
        assert!(
            explain(untrusted, &token, &tls)
                .unwrap()
                .contains("nats.tls.ca_file")
        );
        let down = "IO error: Connection refused (os error 111)";
        assert_eq!(explain(down, &token, &tls), None);
    }
}
