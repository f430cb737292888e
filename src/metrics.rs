//! Prometheus metrics: one owned [`Registry`] with every `gtt_gateway_*` metric, and its text
//! rendering for `/metrics`. Labels are kept to low-cardinality, authenticated values.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Label value used where the real one is attacker-controlled (unauthenticated requests).
pub const UNKNOWN: &str = "unknown";

/// How a callback ended (label `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
    DeadLettered,
    Unauthorized,
    Rejected,
    Overloaded,
    Unavailable,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Duplicate => "duplicate",
            Outcome::DeadLettered => "dead_lettered",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Rejected => "rejected",
            Outcome::Overloaded => "overloaded",
            Outcome::Unavailable => "unavailable",
        }
    }
}

/// Every metric the gateway exports.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `gtt_gateway_callbacks_total{namespace,kind,action,outcome}`.
    pub callbacks: IntCounterVec,
    /// `gtt_gateway_callback_duration_seconds{outcome}`: request in to response out.
    pub callback_duration: HistogramVec,
    /// `gtt_gateway_publish_duration_seconds`: JetStream publish until PubAck.
    pub publish_duration: Histogram,
    /// `gtt_gateway_publish_failures_total{reason}`: publishes that got no PubAck, by reason.
    pub publish_failures: IntCounterVec,
    /// `gtt_gateway_storage_bytes{store}`: bytes held by the event stream (`events`), the
    /// ticket-state bucket (`state`) and the dead-letter stream (`deadletters`).
    pub storage_bytes: IntGaugeVec,
    /// `gtt_gateway_storage_limit_bytes{store}`: their size limits (0 = none of their own).
    pub storage_limit_bytes: IntGaugeVec,
    /// `gtt_gateway_callbacks_in_flight`.
    pub in_flight: IntGauge,
    /// `gtt_gateway_nats_connected` (1 connected, 0 not).
    pub nats_connected: IntGauge,
    /// `gtt_gateway_stream_ready` (1 when the stream is known to exist with our settings).
    pub stream_ready: IntGauge,
    /// `gtt_gateway_subscriptions{namespace,kind,action}` (1 = in place at GTT).
    pub subscriptions: IntGaugeVec,
    /// `gtt_gateway_gtt_requests_total{operation,status}`.
    pub gtt_requests: IntCounterVec,
    /// `gtt_gateway_token_refreshes_total{outcome}`.
    pub token_refreshes: IntCounterVec,
    /// `gtt_gateway_build_info{version}` (always 1).
    pub build_info: IntGaugeVec,
    /// `gtt_gateway_reconcile_runs_total{namespace,outcome}` (`ok`, `error`, `standby`).
    pub reconcile_runs: IntCounterVec,
    /// `gtt_gateway_reconcile_recovered_total{namespace}`: events only polling found.
    pub reconcile_recovered: IntCounterVec,
    /// `gtt_gateway_reconcile_lag_seconds{namespace}`: age of the last successful poll's start.
    pub reconcile_lag: prometheus::GaugeVec,
    /// `gtt_gateway_rejection_records_total{outcome}`: records of refused callbacks
    /// (`recorded`, `dropped` over the rate limit, `failed` to store).
    pub rejection_records: IntCounterVec,
    /// `gtt_gateway_connections_open`: HTTP connections open now.
    pub connections_open: IntGauge,
    /// `gtt_gateway_connections_closed_total{reason}`: connections the gateway closed on its own
    /// (`header_timeout`, `idle_timeout`, `evicted`, `refused`).
    pub connections_closed: IntCounterVec,
    /// `gtt_gateway_unmapped_values_total{field}`: GTT labels no mapping covers, by field
    /// (`state`, `case_type`, `priority`).
    pub unmapped_values: IntCounterVec,
}

/// Latency buckets (seconds), from sub-millisecond to the request timeout.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("gtt_gateway".into()), None)
            .expect("static registry prefix is valid");
        let r = Register(&registry);
        let metrics = Self {
            callbacks: r.counters(
                "callbacks_total",
                "Callbacks received, by outcome.",
                &["namespace", "kind", "action", "outcome"],
            ),
            callback_duration: r.histograms(
                "callback_duration_seconds",
                "Time from request received to response sent, by outcome.",
                &["outcome"],
            ),
            publish_duration: r.add(
                Histogram::with_opts(
                    HistogramOpts::new(
                        "publish_duration_seconds",
                        "Time from JetStream publish to PubAck (successful publishes).",
                    )
                    .buckets(LATENCY_BUCKETS.to_vec()),
                )
                .expect("valid metric"),
            ),
            publish_failures: r.counters(
                "publish_failures_total",
                "JetStream publishes that got no PubAck, by reason.",
                &["reason"],
            ),
            storage_bytes: r.gauges(
                "storage_bytes",
                "Bytes held by the event stream (store=events), the state bucket (store=state) and the dead-letter stream (store=deadletters).",
                &["store"],
            ),
            storage_limit_bytes: r.gauges(
                "storage_limit_bytes",
                "Size limit of the event stream, the state bucket and the dead-letter stream (0 = none of their own).",
                &["store"],
            ),
            in_flight: r.gauge("callbacks_in_flight", "Callbacks being processed now."),
            nats_connected: r.gauge(
                "nats_connected",
                "1 while the NATS connection is up, else 0.",
            ),
            stream_ready: r.gauge(
                "stream_ready",
                "1 once the JetStream stream is verified or created, else 0.",
            ),
            subscriptions: r.gauges(
                "subscriptions",
                "Webhook subscriptions at GTT: 1 in place, 0 missing.",
                &["namespace", "kind", "action"],
            ),
            gtt_requests: r.counters(
                "gtt_requests_total",
                "Requests to the GTT API, by operation and status.",
                &["operation", "status"],
            ),
            token_refreshes: r.counters(
                "token_refreshes_total",
                "OAuth2 token fetches, by outcome.",
                &["outcome"],
            ),
            build_info: r.gauges("build_info", "Build information; always 1.", &["version"]),
            reconcile_runs: r.counters(
                "reconcile_runs_total",
                "Polls of GTT by the reconcile loop, by outcome.",
                &["namespace", "outcome"],
            ),
            reconcile_recovered: r.counters(
                "reconcile_recovered_total",
                "Events stored by polling that no webhook had delivered.",
                &["namespace"],
            ),
            reconcile_lag: r.add(
                prometheus::GaugeVec::new(
                    Opts::new(
                        "reconcile_lag_seconds",
                        "Seconds since the start of the last successful poll of the namespace.",
                    ),
                    &["namespace"],
                )
                .expect("valid metric"),
            ),
            rejection_records: r.counters(
                "rejection_records_total",
                "Records of refused callbacks: recorded, dropped (over the rate limit), failed.",
                &["outcome"],
            ),
            connections_open: r.gauge("connections_open", "HTTP connections open now."),
            connections_closed: r.counters(
                "connections_closed_total",
                "HTTP connections the gateway closed on its own, by reason.",
                &["reason"],
            ),
            unmapped_values: r.counters(
                "unmapped_values_total",
                "GTT labels that no mapping covers (stored as unknown, other or no level), by field.",
                &["field"],
            ),
            registry,
        };
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        // Every reason from the start, so alerts see a zero before the first failure.
        for reason in crate::nats::PublishError::REASONS {
            metrics.publish_failures.with_label_values(&[reason]);
        }
        for field in gtt_core::normalize::LabelField::ALL {
            metrics.unmapped_values.with_label_values(&[field.as_str()]);
        }
        for outcome in crate::http::rejections::OUTCOMES {
            metrics.rejection_records.with_label_values(&[outcome]);
        }
        metrics
    }

    /// Count one finished callback.
    pub fn record_callback(
        &self,
        labels: [&str; 3],
        outcome: Outcome,
        elapsed: std::time::Duration,
    ) {
        let [namespace, kind, action] = labels;
        self.callbacks
            .with_label_values(&[namespace, kind, action, outcome.as_str()])
            .inc();
        self.callback_duration
            .with_label_values(&[outcome.as_str()])
            .observe(elapsed.as_secs_f64());
    }

    /// Callbacks counted with `outcome`, over every other label.
    pub fn callbacks_with_outcome(&self, outcome: Outcome) -> u64 {
        sum(&self.callbacks, |m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "outcome" && l.value() == outcome.as_str())
        }) as u64
    }

    /// Webhook subscriptions currently in place at GTT.
    pub fn subscriptions_in_place(&self) -> i64 {
        sum(&self.subscriptions, |_| true) as i64
    }

    /// Events stored by polling that no webhook had delivered, over every namespace.
    pub fn recovered_by_polling(&self) -> u64 {
        sum(&self.reconcile_recovered, |_| true) as u64
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// The sum of the values (counter or gauge) of `collector`'s series that `keep` keeps.
fn sum(
    collector: &impl prometheus::core::Collector,
    keep: impl Fn(&prometheus::proto::Metric) -> bool,
) -> f64 {
    collector
        .collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .filter(|m| keep(m))
        .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
        .sum()
}

/// Creates metrics and registers them in one step.
struct Register<'a>(&'a Registry);

impl Register<'_> {
    fn add<C: prometheus::core::Collector + Clone + 'static>(&self, collector: C) -> C {
        self.0
            .register(Box::new(collector.clone()))
            .expect("metric names are unique");
        collector
    }

    fn counters(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        self.add(IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauges(&self, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
        self.add(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"))
    }

    fn gauge(&self, name: &str, help: &str) -> IntGauge {
        self.add(IntGauge::new(name, help).expect("valid metric"))
    }

    fn histograms(&self, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
        self.add(HistogramVec::new(opts, labels).expect("valid metric"))
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_documented_metric() {
        let m = Metrics::new();
        m.record_callback(
            ["142033", "case", "create"],
            Outcome::Accepted,
            std::time::Duration::from_millis(3),
        );
        m.subscriptions
            .with_label_values(&["142033", "case", "create"])
            .set(1);
        m.gtt_requests
            .with_label_values(&["list_webhooks", "200"])
            .inc();
        m.token_refreshes.with_label_values(&["ok"]).inc();
        m.publish_duration.observe(0.001);
        let text = m.render();
        for name in [
            "gtt_gateway_callbacks_total{action=\"create\",kind=\"case\",namespace=\"142033\",outcome=\"accepted\"} 1",
            "gtt_gateway_callback_duration_seconds_bucket",
            "gtt_gateway_publish_duration_seconds_bucket",
            "gtt_gateway_publish_failures_total{reason=\"storage_full\"} 0",
            "gtt_gateway_callbacks_in_flight 0",
            "gtt_gateway_nats_connected 0",
            "gtt_gateway_stream_ready 0",
            "gtt_gateway_subscriptions{",
            "gtt_gateway_gtt_requests_total{",
            "gtt_gateway_token_refreshes_total{outcome=\"ok\"} 1",
            "gtt_gateway_build_info{version=",
            "gtt_gateway_unmapped_values_total{field=\"case_type\"} 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}
