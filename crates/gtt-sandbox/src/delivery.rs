//! Webhook callback delivery: matching, fault switches (drop/duplicate/reorder/delay), retries, signing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use sha2::Sha256;

use super::config::{DeliveryConfig, clamp_rate};
use super::store::{SharedRef, bump, lock};

/// Deliveries pending at most (each is a task); more are shed and counted in `deliveries_shed`.
pub(crate) const MAX_PENDING_DELIVERIES: usize = 10_000;
/// Longest a reordered delivery waits for a later one before it goes anyway (plus `max_delay`).
const MAX_HOLD: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
pub(crate) const USER_AGENT: &str = "gtt-sandbox";

/// The current delivery settings and the random source for the switches.
pub(crate) struct DeliveryRuntime {
    config: DeliveryConfig,
    key: Option<Arc<[u8]>>,
    rng: StdRng,
    next_seq: u64,
}

/// The HMAC key of a Standard Webhooks secret: base64 of the part after `whsec_`.
pub(crate) fn signing_key(secret: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(secret.strip_prefix("whsec_").unwrap_or(secret))
}

impl DeliveryRuntime {
    /// Fails if the signing secret is not `whsec_` + base64.
    pub(crate) fn new(config: DeliveryConfig) -> anyhow::Result<Self> {
        if let Some(secret) = &config.signing_secret {
            signing_key(secret).map_err(|err| {
                anyhow::anyhow!("delivery.signing_secret must be whsec_ + base64: {err}")
            })?;
        }
        let mut runtime = Self {
            config: DeliveryConfig::default(),
            key: None,
            rng: StdRng::from_os_rng(),
            next_seq: 1,
        };
        runtime.replace(config);
        Ok(runtime)
    }

    /// New settings for deliveries that start from now on. A secret that is not base64 after
    /// `whsec_` is used as raw bytes (and logged).
    pub(crate) fn replace(&mut self, mut config: DeliveryConfig) {
        self.key = config.signing_secret.as_deref().map(|secret| {
            let key = signing_key(secret).unwrap_or_else(|err| {
                tracing::warn!(%err, "sandbox signing secret is not whsec_+base64; using its raw bytes");
                secret.as_bytes().to_vec()
            });
            Arc::from(key)
        });
        if let Some(seed) = config.seed {
            self.rng = StdRng::seed_from_u64(seed);
        }
        config.drop_rate = clamp_rate(config.drop_rate);
        config.drop_first_attempt_rate = clamp_rate(config.drop_first_attempt_rate);
        config.duplicate_rate = clamp_rate(config.duplicate_rate);
        config.reorder_rate = clamp_rate(config.reorder_rate);
        config.max_attempts = config.max_attempts.max(1);
        self.config = config;
    }

    fn roll(&mut self, rate: f64) -> bool {
        rate > 0.0 && self.rng.random::<f64>() < rate
    }

    fn up_to(&mut self, max: Duration) -> Duration {
        let share: f64 = self.rng.random();
        Duration::try_from_secs_f64(max.as_secs_f64() * share)
            .unwrap_or(max)
            .min(max)
    }
}

/// Where one change goes: a webhook's URL.
pub(crate) struct Target {
    pub webhook: String,
    pub url: String,
}

/// Webhooks subscribed to `kind`/`version`/`action` (all taken from `spec`).
pub(crate) fn targets(
    webhooks: &BTreeMap<String, Value>,
    kind: &str,
    version: &str,
    action: &str,
) -> Vec<Target> {
    let field = |w: &Value, f: &str| {
        w.get("spec")
            .and_then(|s| s.get(f))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    webhooks
        .iter()
        .filter(|(_, w)| {
            field(w, "kind").as_deref() == Some(kind)
                && field(w, "version").as_deref() == Some(version)
                && field(w, "action").as_deref() == Some(action)
        })
        .filter_map(|(name, w)| {
            Some(Target {
                webhook: name.clone(),
                url: field(w, "url")?,
            })
        })
        .collect()
}

/// One delivery (or duplicate copy) as planned when the change happened.
#[derive(Clone)]
struct Plan {
    seq: u64,
    id: String,
    webhook: String,
    url: String,
    body: Bytes,
    key: Option<Arc<[u8]>>,
    delay: Duration,
    lose_first: bool,
    hold: Option<Duration>,
    timeout: Duration,
    max_attempts: u32,
    backoff_base: Duration,
}

/// Deliver `resource` to every target, each in its own task, applying the fault switches.
pub(crate) fn dispatch(shared: &SharedRef, resource: &Value, targets: Vec<Target>) {
    if targets.is_empty() || shared.cancel.is_cancelled() {
        return;
    }
    let Ok(body) = serde_json::to_vec(resource) else {
        return;
    };
    let body = Bytes::from(body);
    let mut plans = Vec::new();
    {
        let mut rt = lock(&shared.delivery);
        if !rt.config.enabled {
            return;
        }
        for target in targets {
            let cfg = &rt.config;
            let (drop, first, dup, reorder) = (
                cfg.drop_rate,
                cfg.drop_first_attempt_rate,
                cfg.duplicate_rate,
                cfg.reorder_rate,
            );
            let (max_delay, timeout, max_attempts, backoff_base) = (
                cfg.max_delay,
                cfg.timeout,
                cfg.max_attempts,
                cfg.backoff_base,
            );
            if rt.roll(drop) {
                bump(&shared.stats.deliveries_dropped);
                tracing::debug!(webhook = %target.webhook, "sandbox delivery dropped");
                continue;
            }
            let seq = rt.next_seq;
            rt.next_seq += 1;
            let plan = Plan {
                seq,
                id: format!("msg_{}", hex::encode(rt.rng.random::<[u8; 12]>())),
                webhook: target.webhook,
                url: target.url,
                body: body.clone(),
                key: rt.key.clone(),
                delay: rt.up_to(max_delay),
                lose_first: rt.roll(first),
                hold: rt
                    .roll(reorder)
                    .then_some(MAX_HOLD.saturating_add(max_delay)),
                timeout,
                max_attempts,
                backoff_base,
            };
            if rt.roll(dup) {
                bump(&shared.stats.deliveries_duplicated);
                let extra = Duration::from_millis(rt.rng.random_range(50..250));
                plans.push(Plan {
                    delay: plan.delay.saturating_add(extra),
                    lose_first: false,
                    hold: None,
                    ..plan.clone()
                });
            }
            plans.push(plan);
        }
    }
    for plan in plans {
        spawn(shared, plan);
    }
}

struct InFlight(SharedRef);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn spawn(shared: &SharedRef, plan: Plan) {
    if shared.in_flight.fetch_add(1, Ordering::AcqRel) >= MAX_PENDING_DELIVERIES {
        shared.in_flight.fetch_sub(1, Ordering::AcqRel);
        bump(&shared.stats.deliveries_shed);
        tracing::warn!(webhook = %plan.webhook, "sandbox delivery shed: too many pending");
        return;
    }
    let guard = InFlight(Arc::clone(shared));
    shared.tracker.spawn_on(
        async move {
            run(&guard.0, plan).await;
            drop(guard);
        },
        &shared.runtime,
    );
}

async fn sleep_or_cancel(shared: &SharedRef, duration: Duration) -> bool {
    tokio::select! {
        () = shared.cancel.cancelled() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

/// Wait while the sandbox is unavailable; `false` on shutdown.
async fn wait_available(shared: &SharedRef) -> bool {
    let mut rx = shared.available.subscribe();
    tokio::select! {
        () = shared.cancel.cancelled() => false,
        up = rx.wait_for(|up| *up) => up.is_ok(),
    }
}

fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    exp.min(MAX_BACKOFF)
        .mul_f64(rand::rng().random_range(0.5..1.5))
}

async fn run(shared: &SharedRef, plan: Plan) {
    if !sleep_or_cancel(shared, plan.delay).await {
        return;
    }
    if let Some(max_hold) = plan.hold {
        bump(&shared.stats.deliveries_reordered);
        let mut rx = shared.sent_seq.subscribe();
        let later_sent = rx.wait_for(|sent| *sent > plan.seq);
        tokio::select! {
            () = shared.cancel.cancelled() => return,
            _ = tokio::time::timeout(max_hold, later_sent) => {}
        }
    }
    for attempt in 1..=plan.max_attempts {
        if !wait_available(shared).await {
            return;
        }
        bump(&shared.stats.deliveries_attempted);
        let delivered = if attempt == 1 && plan.lose_first {
            tracing::debug!(webhook = %plan.webhook, "sandbox delivery attempt lost in transit");
            false
        } else {
            let sent = tokio::select! {
                () = shared.cancel.cancelled() => return,
                ok = send(shared, &plan) => ok,
            };
            shared
                .sent_seq
                .send_modify(|seq| *seq = (*seq).max(plan.seq));
            sent
        };
        if delivered {
            bump(&shared.stats.deliveries_succeeded);
            return;
        }
        bump(&shared.stats.attempts_failed);
        if attempt < plan.max_attempts
            && !sleep_or_cancel(shared, backoff(plan.backoff_base, attempt)).await
        {
            return;
        }
    }
    bump(&shared.stats.deliveries_failed);
    tracing::debug!(webhook = %plan.webhook, url = %plan.url, "sandbox delivery given up");
}

/// One attempt; `true` on a 2xx answer.
async fn send(shared: &SharedRef, plan: &Plan) -> bool {
    let mut request = shared
        .http
        .post(&plan.url)
        .timeout(plan.timeout)
        .header(CONTENT_TYPE, "application/json")
        .body(plan.body.clone());
    if let Some(key) = &plan.key {
        let timestamp = chrono::Utc::now().timestamp();
        request = request
            .header("webhook-id", &plan.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                sign(key, &plan.id, timestamp, &plan.body),
            );
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            tracing::debug!(webhook = %plan.webhook, %status, "sandbox delivery answered");
            status.is_success()
        }
        Err(err) => {
            tracing::debug!(webhook = %plan.webhook, %err, "sandbox delivery failed");
            false
        }
    }
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
pub(crate) fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new(); // HMAC accepts keys of any length; not reached.
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vector() {
        // The example from the Standard Webhooks specification.
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_default();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_millis(100);
        assert!(backoff(base, 1) <= Duration::from_millis(150));
        assert!(backoff(base, 4) >= Duration::from_millis(400));
        assert!(backoff(base, 40) <= MAX_BACKOFF.mul_f64(1.5));
    }
}
