//! Traffic generator: realistic tickets created and walked through their life cycle.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::Sandbox;

/// What `spawn_traffic` does.
#[derive(Clone, Debug)]
pub struct TrafficConfig {
    /// Namespaces to create tickets in (empty = every namespace the sandbox has).
    pub namespaces: Vec<String>,
    /// A new ticket this often (while fewer than `max_open` are unfinished).
    pub new_ticket_every: Duration,
    /// One random open ticket advances this often.
    pub step_every: Duration,
    /// Unfinished tickets kept at most.
    pub max_open: usize,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            namespaces: Vec::new(),
            new_ticket_every: Duration::from_secs(2),
            step_every: Duration::from_millis(500),
            max_open: 20,
        }
    }
}

const PRIORITIES: &[&str] = &["1 - Critical", "2 - High", "3 - Moderate", "4 - Low"];

/// (case_type, category, subcategory, short description template; `{site}` is replaced).
const TICKETS: &[(&str, &str, &str, &str)] = &[
    (
        "Incident",
        "Secure Network",
        "Service Down",
        "MPLS circuit down at {site} POP",
    ),
    (
        "Incident",
        "Secure Network",
        "Packet Loss",
        "Intermittent packet loss on SD-WAN tunnel to {site}",
    ),
    (
        "Incident",
        "Internet",
        "Service Down",
        "DIA link down at {site} office",
    ),
    (
        "Incident",
        "Internet",
        "Degraded Performance",
        "High latency on internet access in {site}",
    ),
    (
        "Incident",
        "Ethernet",
        "Flapping",
        "Ethernet circuit flapping between {site} and London",
    ),
    (
        "Incident",
        "Voice",
        "Call Quality",
        "One-way audio on SIP trunk in {site}",
    ),
    (
        "Service Request",
        "Secure Network",
        "Configuration Change",
        "Add static route on CPE at {site}",
    ),
    (
        "Service Request",
        "Internet",
        "Bandwidth Upgrade",
        "Upgrade {site} DIA from 200 Mbps to 500 Mbps",
    ),
    (
        "Service Request",
        "Managed Security",
        "Firewall Rule",
        "Open TCP 443 for new web server in {site}",
    ),
    (
        "Service Request",
        "General",
        "Information Request",
        "Request RFO for last week's outage at {site}",
    ),
];
const SITES: &[&str] = &[
    "Frankfurt",
    "London",
    "Amsterdam",
    "Paris",
    "New York",
    "Chicago",
    "Madrid",
    "Milan",
    "Warsaw",
    "Dublin",
];
const COMMENTS: &[&str] = &[
    "Field engineer dispatched to site.",
    "Carrier confirmed fibre cut; splicing crew en route.",
    "Please confirm site access hours for the engineer.",
    "Remote diagnostics show the interface is up again.",
    "Monitoring the circuit for 24 hours before resolving.",
    "Configuration change applied in the maintenance window.",
];

/// One ticket the generator created and still advances.
struct Tracked {
    namespace: String,
    name: String,
    waited_for_customer: bool,
}

/// Create tickets every `new_ticket_every` and advance one every `step_every`, through the
/// direct API (same effects as HTTP, webhooks included), until `cancel` fires.
pub fn spawn_traffic(
    sandbox: Sandbox,
    config: TrafficConfig,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let runtime = sandbox.shared.runtime.clone();
    runtime.spawn(async move {
        let namespaces = if config.namespaces.is_empty() {
            sandbox.namespaces()
        } else {
            config.namespaces.clone()
        };
        if namespaces.is_empty() {
            return;
        }
        let mut rng = StdRng::from_os_rng();
        let mut open: Vec<Tracked> = Vec::new();
        let mut new_ticket = tokio::time::interval(config.new_ticket_every.max(Duration::from_millis(1)));
        let mut step = tokio::time::interval(config.step_every.max(Duration::from_millis(1)));
        new_ticket.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        step.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = new_ticket.tick() => {
                    if open.len() < config.max_open {
                        let namespace = &namespaces[rng.random_range(0..namespaces.len())];
                        match sandbox.create_case(namespace, random_ticket(&mut rng)) {
                            Ok(case) => open.push(Tracked {
                                namespace: namespace.clone(),
                                name: case["name"].as_str().unwrap_or_default().to_owned(),
                                waited_for_customer: false,
                            }),
                            Err(err) => tracing::warn!(%err, "sandbox traffic could not create a case"),
                        }
                    }
                }
                _ = step.tick() => {
                    if !open.is_empty() {
                        let index = rng.random_range(0..open.len());
                        if !advance(&sandbox, &mut open[index], &mut rng) {
                            open.swap_remove(index);
                        }
                    }
                }
            }
        }
    })
}

fn random_ticket(rng: &mut StdRng) -> Value {
    let (case_type, category, subcategory, template) = TICKETS[rng.random_range(0..TICKETS.len())];
    let site = SITES[rng.random_range(0..SITES.len())];
    let short = template.replace("{site}", site);
    let priority = if case_type == "Incident" {
        PRIORITIES[rng.random_range(0..PRIORITIES.len())]
    } else {
        PRIORITIES[rng.random_range(2..PRIORITIES.len())]
    };
    json!({
        "short_description": short,
        "description": format!("{short}. Reported by the customer NOC; see monitoring alerts for details."),
        "case_type": case_type,
        "priority": priority,
        "category": category,
        "subcategory": subcategory,
    })
}

/// Advance one ticket; `false` once it is finished (or gone) and should no longer be tracked.
fn advance(sandbox: &Sandbox, ticket: &mut Tracked, rng: &mut StdRng) -> bool {
    let Some(case) = sandbox.case(&ticket.namespace, &ticket.name) else {
        return false;
    };
    let state = case["spec"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let roll: f64 = rng.random();
    let patch = match state.as_str() {
        "Closed" | "Cancelled" => return false,
        _ if roll < 0.15 => json!({"comment": COMMENTS[rng.random_range(0..COMMENTS.len())]}),
        "Open" | "In Progress" if roll < 0.25 => {
            json!({"priority": PRIORITIES[rng.random_range(0..PRIORITIES.len())]})
        }
        "Open" if roll < 0.28 => {
            json!({"state": "Cancelled", "comment": "Raised in error; cancelled by customer."})
        }
        "Open" | "Pending Customer" => json!({"state": "In Progress"}),
        "In Progress" if !ticket.waited_for_customer && roll < 0.6 => {
            ticket.waited_for_customer = true;
            json!({"state": "Pending Customer", "comment": "Awaiting customer confirmation."})
        }
        "In Progress" => {
            json!({"state": "Resolved", "comment": "Service restored; root cause identified."})
        }
        "Resolved" => json!({"state": "Closed"}),
        _ => return false,
    };
    match sandbox.update_case(&ticket.namespace, &ticket.name, patch) {
        Ok(updated) => !matches!(
            updated["spec"]["state"].as_str(),
            Some("Closed" | "Cancelled")
        ),
        Err(err) => {
            tracing::warn!(%err, case = %ticket.name, "sandbox traffic could not update a case");
            false
        }
    }
}
