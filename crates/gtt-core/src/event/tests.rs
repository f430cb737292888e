//! Unit tests of event preparation: the CloudEvent, routes, ids, times, `source`, dead letters.

use super::*;
use sha2::{Digest, Sha256};

/// A prepared event serialized without `changes`: what the tests look at.
#[derive(Debug)]
pub(super) struct Event {
    pub id: String,
    pub subject: String,
    pub payload: Vec<u8>,
}

impl From<Prepared<'_>> for Event {
    fn from(p: Prepared<'_>) -> Self {
        let payload = p.payload(None, RawCopy::Included);
        Self {
            id: p.id,
            subject: p.subject,
            payload,
        }
    }
}

/// Prepare `body` and serialize it without `changes`.
pub(super) fn build_event(ctx: &EventContext<'_>, body: &[u8]) -> Result<Event, DeadLetterReason> {
    prepare(ctx, body).map(Event::from)
}

static NO_MAPPING: Mapping = Mapping::new();

pub(super) fn ctx() -> EventContext<'static> {
    EventContext {
        namespace: "142033",
        kind: "case",
        action: "update",
        origin: Origin::Webhook,
        api_url: "https://test.api.gtt.services/",
        subject_prefix: "gtt",
        zone: chrono_tz::UTC,
        mapping: &NO_MAPPING,
        renormalized: false,
        received_at: DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc),
    }
}

fn route(kind: &'static str, action: &'static str) -> EventContext<'static> {
    EventContext {
        kind,
        action,
        ..ctx()
    }
}

const CASE: &str = r#"{"kind":"case","version":"v1alpha","namespace":"142033","name":"CS0074187",
        "spec":{"case_id":"0123456789abcdef0123456789abcdef","state":"Open","priority":"1 - Critical",
        "case_type":"Incident","category":"Secure Network","short_description":"Link down",
        "opened_at":"2025-03-04 10:20:30"}}"#;

fn parse(e: &Event) -> Value {
    serde_json::from_slice(&e.payload).unwrap()
}

fn id_of(ctx: &EventContext<'_>, body: &str) -> String {
    build_event(ctx, body.as_bytes()).unwrap().id
}

#[test]
fn bare_case_becomes_cloudevent() {
    let e = build_event(&ctx(), CASE.as_bytes()).unwrap();
    assert_eq!(e.subject, "gtt.142033.case.updated.CS0074187");
    let v = parse(&e);
    assert_eq!(v["specversion"], "1.0");
    assert_eq!(v["id"], e.id);
    assert_eq!(v["type"], "net.gtt.case.updated");
    assert_eq!(
        v["source"],
        "https://test.api.gtt.services/apis/v1alpha/namespaces/142033/case"
    );
    assert_eq!(v["subject"], "CS0074187");
    assert_eq!(v["time"], "2025-03-04T10:20:30Z");
    assert_eq!(v["gttnamespace"], "142033");
    assert_eq!(v["gttorigin"], "webhook");
    assert_eq!(v["data"]["state"], "open");
    assert_eq!(v["data"]["priority"]["level"], 1);
    assert_eq!(v["data"]["case_type"], "incident");
    assert_eq!(v["data"]["changes"], Value::Null);
    assert_eq!(v["data"]["raw"]["spec"]["priority"], "1 - Critical");
}

#[test]
fn raw_is_byte_faithful() {
    let body =
        br#"{ "kind" : "case", "name":"CS1", "spec": {"z":1.50, "a":"\u00e9", "state":"Open"} }"#;
    let e = build_event(&ctx(), body).unwrap();
    let text = String::from_utf8(e.payload).unwrap();
    assert!(
        text.contains(
            r#""raw":{ "kind" : "case", "name":"CS1", "spec": {"z":1.50, "a":"\u00e9", "state":"Open"} }"#
        ),
        "{text}"
    );
}

#[test]
fn wrapped_resource_and_wrapper_action() {
    for key in ENVELOPE_KEYS {
        let body = format!(r#"{{"action":"case.created","{key}":{CASE}}}"#);
        let e = build_event(&route("case", "create"), body.as_bytes()).unwrap();
        assert_eq!(e.subject, "gtt.142033.case.created.CS0074187", "{key}");
        let v = parse(&e);
        assert_eq!(v["type"], "net.gtt.case.created");
        assert_eq!(v["data"]["raw"]["name"], "CS0074187");
        // Same change, same id, whether wrapped or bare, created or updated.
        assert_eq!(e.id, id_of(&ctx(), CASE));
    }
}

#[test]
fn the_route_names_kind_and_action() {
    let body = r#"{"name":"CS9","spec":{"state":"Resolved"}}"#;
    let e = build_event(&ctx(), body.as_bytes()).unwrap();
    assert_eq!(e.subject, "gtt.142033.case.updated.CS9");
    assert_eq!(parse(&e)["data"]["state"], "resolved");
    // Path segments are compared and published in lower case.
    let e = build_event(&route("CASE", "Update"), body.as_bytes()).unwrap();
    assert_eq!(e.subject, "gtt.142033.case.updated.CS9");
    assert_eq!(parse(&e)["type"], "net.gtt.case.updated");
}

#[test]
fn a_body_naming_another_route_is_a_route_mismatch() {
    let wrapped = |label: &str| format!(r#"{{"event":"{label}","data":{CASE}}}"#);
    for label in [
        "update",
        "updated",
        "UPDATED",
        "case.updated",
        "Case.Update",
        "net.gtt.case.updated",
        "case:update",
        "",
    ] {
        let e = build_event(&ctx(), wrapped(label).as_bytes());
        assert_eq!(
            e.unwrap().subject,
            "gtt.142033.case.updated.CS0074187",
            "{label}"
        );
    }
    for label in [
        "create",
        "case.deleted",
        "site.updated",
        "net.gtt.site.updated",
        "updatedd",
        "case",
    ] {
        assert_eq!(
            build_event(&ctx(), wrapped(label).as_bytes()).unwrap_err(),
            DeadLetterReason::RouteMismatch,
            "{label}"
        );
    }
    for body in [
        r#"{"kind":"site","name":"HQ-1","spec":{}}"#,
        r#"{"kind":"case ","name":"HQ-1","spec":{}}"#,
    ] {
        let result = build_event(&ctx(), body.as_bytes());
        if body.contains("site") {
            assert_eq!(result.unwrap_err(), DeadLetterReason::RouteMismatch);
        } else {
            assert!(result.is_ok(), "{body}");
        }
    }
    let site = r#"{"kind":"Case","name":"HQ-1","spec":{}}"#;
    assert_eq!(
        build_event(&route("site", "delete"), site.as_bytes()).unwrap_err(),
        DeadLetterReason::RouteMismatch
    );
}

#[test]
fn receive_time_when_no_upstream_time() {
    let body = r#"{"name":"CS9","spec":{"state":"Resolved"}}"#;
    let v = parse(&build_event(&ctx(), body.as_bytes()).unwrap());
    assert_eq!(v["time"], "2026-01-02T03:04:05Z");
}

#[test]
fn change_times_far_ahead_of_the_clock_are_not_believed() {
    let at = |updated_at: &str| {
        let body =
            format!(r#"{{"name":"CS9","spec":{{"state":"Open","updated_at":"{updated_at}"}}}}"#);
        let p = prepare(&ctx(), body.as_bytes()).unwrap();
        let time = p.change_time.map(|t| t.to_rfc3339());
        (time, parse(&Event::from(p))["time"].clone())
    };
    // Within the skew: believed.
    assert_eq!(
        at("2026-01-02 03:09:05"),
        (
            Some("2026-01-02T03:09:05+00:00".into()),
            "2026-01-02T03:09:05Z".into()
        )
    );
    // Beyond it: the receive time stands in, for ordering and as `time`.
    for future in ["2026-01-02 03:09:06", "9999-12-31 23:59:59"] {
        assert_eq!(
            at(future),
            (
                Some("2026-01-02T03:04:05+00:00".into()),
                "2026-01-02T03:04:05Z".into()
            ),
            "{future}"
        );
    }
    let now = ctx().received_at;
    assert_eq!(believable(now, now), Some(now));
    assert_eq!(believable(DateTime::<Utc>::MAX_UTC, now), None);
    assert_eq!(
        believable(now, DateTime::<Utc>::MAX_UTC),
        Some(now),
        "no overflow"
    );
}

#[test]
fn source_is_a_valid_uri_whatever_the_version() {
    let source = |version: &str| {
        let body = serde_json::json!({"version": version, "name": "CS1", "spec": {}}).to_string();
        parse(&build_event(&ctx(), body.as_bytes()).unwrap())["source"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let base = "https://test.api.gtt.services/apis";
    assert_eq!(
        source("v1alpha"),
        format!("{base}/v1alpha/namespaces/142033/case")
    );
    assert_eq!(source(""), format!("{base}/v1alpha/namespaces/142033/case"));
    assert_eq!(
        source("v1 alpha/../x?#"),
        format!("{base}/v1%20alpha%2F%2E%2E%2Fx%3F%23/namespaces/142033/case")
    );
    assert_eq!(source("é"), format!("{base}/%C3%A9/namespaces/142033/case"));
}

#[test]
fn other_kinds_are_published_generically() {
    let body = r#"{"kind":"site","version":"v1alpha","name":"hq-1","spec":{"friendly":"HQ"}}"#;
    let e = build_event(&route("site", "update"), body.as_bytes()).unwrap();
    assert_eq!(e.subject, "gtt.142033.site.updated.hq-1");
    let v = parse(&e);
    assert_eq!(v["type"], "net.gtt.site.updated");
    assert_eq!(v["data"]["name"], "hq-1");
    assert_eq!(v["data"]["namespace"], "142033");
    assert_eq!(v["data"]["raw"]["spec"]["friendly"], "HQ");
    assert!(v["data"].get("state").is_none());
}

#[test]
fn id_ignores_key_order_and_whitespace_but_not_content() {
    let a = r#"{"name":"CS1","spec":{"b": 1, "a": {"y": [1, 2], "x": "é"}}}"#;
    let b = r#"{ "spec" : { "a" : { "x" : "\u00e9", "y" : [1,2] }, "b" : 1 }, "name" : "CS1" }"#;
    assert_eq!(id_of(&ctx(), a), id_of(&ctx(), b));
    let differing = [
        r#"{"name":"CS1","spec":{"b": 2, "a": {"y": [1, 2], "x": "é"}}}"#,
        r#"{"name":"CS2","spec":{"b": 1, "a": {"y": [1, 2], "x": "é"}}}"#,
        r#"{"name":"CS1","spec":{"b": 1.0, "a": {"y": [1, 2], "x": "é"}}}"#,
    ];
    for other in differing {
        assert_ne!(id_of(&ctx(), a), id_of(&ctx(), other), "{other}");
    }
    let mut other_ns = ctx();
    other_ns.namespace = "7";
    assert_ne!(id_of(&ctx(), a), id_of(&other_ns, a));
}

#[test]
fn ids_keep_every_digit() {
    let pairs = [
        (
            "123456789012345678901234567890",
            "123456789012345678901234567891",
        ),
        ("18446744073709551616", "18446744073709551617"),
        ("0.1000000000000000055511151231257827", "0.1"),
        ("1.0", "1"),
    ];
    for (x, y) in pairs {
        let body = |n: &str| format!(r#"{{"name":"CS1","spec":{{"n":{n}}}}}"#);
        assert_ne!(id_of(&ctx(), &body(x)), id_of(&ctx(), &body(y)), "{x} {y}");
    }
    // Numeric names too.
    let body = |n: &str| format!(r#"{{"name":{n},"spec":{{}}}}"#);
    let (x, y) = (
        "123456789012345678901234567890",
        "123456789012345678901234567891",
    );
    let (ex, ey) = (
        build_event(&ctx(), body(x).as_bytes()).unwrap(),
        build_event(&ctx(), body(y).as_bytes()).unwrap(),
    );
    assert_ne!(ex.id, ey.id);
    assert_eq!(ex.subject, format!("gtt.142033.case.updated.{x}"));
}

#[test]
fn id_matches_the_published_test_vector() {
    // The vector in the README: hex(SHA-256(canonical JSON of [namespace, kind, name, spec])).
    let body = r#"{"kind":"case","name":"CS0074187",
        "spec":{"state":"Open","priority":1.50,"big":123456789012345678901234567890,"note":"é \"x\""}}"#;
    assert_eq!(
        id_of(&ctx(), body),
        "749dad1810dd0ebe1eda6c3ec9bc885c91381df154a093b07dc3d8b8d54db6e5"
    );
    let canonical = r#"["142033","case","CS0074187",{"big":123456789012345678901234567890,"note":"é \"x\"","priority":1.50,"state":"Open"}]"#;
    assert_eq!(
        id_of(&ctx(), body),
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    // Without `spec`, the resource itself is hashed.
    let bare = r#"{"kind":"site","name":"hq"}"#;
    assert_eq!(
        id_of(&route("site", "update"), bare),
        hex::encode(Sha256::digest(
            br#"["142033","site","hq",{"kind":"site","name":"hq"}]"#
        ))
    );
}

#[test]
fn renormalized_id_matches_the_published_test_vector() {
    // The README's vector: the same body, stored before and normalized again by a replay.
    let body = r#"{"kind":"case","name":"CS0074187",
        "spec":{"state":"Open","priority":1.50,"big":123456789012345678901234567890,"note":"é \"x\""}}"#;
    let replay = EventContext {
        origin: Origin::Replay,
        renormalized: true,
        ..ctx()
    };
    let hashed = r#"["142033","case","CS0074187",{"big":123456789012345678901234567890,"note":"é \"x\"","priority":1.50,"state":"Open"},{"case_type":"other","priority":null,"state":"open"}]"#;
    assert_eq!(
        id_of(&replay, body),
        hex::encode(Sha256::digest(hashed.as_bytes()))
    );
    assert_eq!(
        id_of(&replay, body),
        "5078a7bc1ee8c5f55198fdfcfb453c264ed0537d73237040693c417db9a445a4"
    );
}

#[test]
fn same_change_by_poll_has_same_id() {
    let mut poll = ctx();
    poll.origin = Origin::Poll;
    poll.action = "create";
    let a = build_event(&ctx(), CASE.as_bytes()).unwrap();
    let b = build_event(&poll, CASE.as_bytes()).unwrap();
    assert_eq!(a.id, b.id);
    assert_eq!(parse(&b)["gttorigin"], "poll");
}

#[test]
fn replays_keep_the_id_of_content_and_renormalized_events_get_their_own() {
    let mut replay = ctx();
    replay.origin = Origin::Replay;
    let original = build_event(&ctx(), CASE.as_bytes()).unwrap();
    // A dead letter replayed: the same id as the change arriving now would get.
    let letter = build_event(&replay, CASE.as_bytes()).unwrap();
    assert_eq!(letter.id, original.id);
    assert_eq!(parse(&letter)["gttorigin"], "replay");
    // A stored event normalized again: never the stored id, always the same for one outcome,
    // another one when a mapping changes the outcome.
    replay.renormalized = true;
    let again = build_event(&replay, CASE.as_bytes()).unwrap();
    assert_ne!(again.id, original.id);
    assert_eq!(build_event(&replay, CASE.as_bytes()).unwrap().id, again.id);
    let mut mapping = Mapping::new();
    mapping.add_state("Open", "in_progress").unwrap();
    let remapped = EventContext {
        mapping: &mapping,
        ..replay
    };
    let changed = build_event(&remapped, CASE.as_bytes()).unwrap();
    assert_eq!(parse(&changed)["data"]["state"], "in_progress");
    assert_ne!(changed.id, again.id);
    assert_ne!(changed.id, original.id);
}

#[test]
fn dead_letter_reasons() {
    let long_name = format!(r#"{{"name":"{}","spec":{{}}}}"#, "x".repeat(257));
    let cases: [(&[u8], DeadLetterReason); 9] = [
        (b"not json", DeadLetterReason::NotJson),
        (b"", DeadLetterReason::NotJson),
        (
            br#"{"name":"CS1","spec":{"a":"\ud800"}}"#,
            DeadLetterReason::NotJson,
        ),
        (b"[1,2]", DeadLetterReason::NotAnObject),
        (
            br#"{"kind":"case","name":"CS1"}"#,
            DeadLetterReason::MissingSpec,
        ),
        (
            br#"{"kind":"case","spec":{"state":"Open"}}"#,
            DeadLetterReason::MissingName,
        ),
        (
            br#"{"kind":"case","namespace":"999","name":"CS1","spec":{}}"#,
            DeadLetterReason::NamespaceMismatch,
        ),
        (
            br#"{"kind":"site","name":"CS1","spec":{}}"#,
            DeadLetterReason::RouteMismatch,
        ),
        (long_name.as_bytes(), DeadLetterReason::NameTooLong),
    ];
    for (body, reason) in cases {
        assert_eq!(
            build_event(&ctx(), body).unwrap_err(),
            reason,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn dead_letter_id_matches_the_published_test_vector() {
    let d = dead_letter(&ctx(), b"not json", DeadLetterReason::NotJson);
    assert_eq!(d.subject, "gtt.deadletter.142033");
    assert_eq!(
        d.id,
        "7c4cf59ba30ce6fe196c0b46bd103a76bee3f816c7d7d90fdb9a9a8a44219dfe"
    );
    assert_eq!(
        d.id,
        hex::encode(Sha256::digest(br#"["142033","case","update"]not json"#))
    );
    assert_ne!(
        d.id,
        dead_letter(
            &route("case", "create"),
            b"not json",
            DeadLetterReason::NotJson
        )
        .id
    );
}
