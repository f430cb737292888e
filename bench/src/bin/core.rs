//! The pure core's CPU cost per callback, without HTTP or NATS: every body of a bench data set
//! (`bench/gen_bodies.py`) prepared as the gateway prepares a case callback (locate, normalize,
//! id, subject), compared with the ticket's previous state (`changes`), and serialized as the
//! published CloudEvent, on one thread. Steadier than the load rows (no scheduling, no other
//! processes), so it tells whether a change to the core helps.
//!
//! ```sh
//! cargo run --release -p gtt-bench --bin core -- bench/work/<run>/data/bodies.ndjson
//! ```

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context as _;
use chrono::Utc;
use gtt_core::changes::{CaseRecord, Comparison, compare};
use gtt_core::event::{EventContext, Origin, RawCopy, prepare};
use gtt_core::normalize::Mapping;

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: core <bodies.ndjson> [passes]")?;
    let passes: usize = std::env::args()
        .nth(2)
        .map_or(Ok(20), |p| p.parse())
        .context("passes must be a whole number")?;
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let bodies: Vec<Vec<u8>> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.as_bytes().to_vec())
        .collect();
    anyhow::ensure!(!bodies.is_empty(), "{path} holds no bodies");
    let mapping = Mapping::default();
    let ctx = EventContext {
        namespace: "142033",
        kind: "case",
        action: "update",
        origin: Origin::Webhook,
        api_url: "https://api.gtt.example",
        subject_prefix: "gtt",
        zone: chrono_tz::UTC,
        mapping: &mapping,
        renormalized: false,
        received_at: Utc::now(),
    };
    let mut known: HashMap<String, CaseRecord> = HashMap::new();
    let (mut events, mut bytes_out) = (0usize, 0usize);
    let started = Instant::now();
    for _ in 0..passes {
        for body in &bodies {
            let prepared =
                prepare(&ctx, body).map_err(|r| anyhow::anyhow!("dead letter: {r:?}"))?;
            let case = prepared.case.as_ref().context("not a case")?;
            let record = CaseRecord::new(prepared.id.clone(), case, prepared.change_time);
            let changes = match compare(known.get(&prepared.name), &record, ctx.received_at) {
                Comparison::Changed(changes) => Some(changes),
                Comparison::First | Comparison::Stale => None,
            };
            let payload = prepared.payload(changes.as_deref(), RawCopy::Included);
            bytes_out += payload.len();
            known.insert(prepared.name.clone(), record);
            events += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{events} events ({} bodies x {passes}): {:.1} us of CPU per event, {:.0} B per event out",
        bodies.len(),
        elapsed.as_secs_f64() * 1e6 / events as f64,
        bytes_out as f64 / events as f64
    );
    Ok(())
}
