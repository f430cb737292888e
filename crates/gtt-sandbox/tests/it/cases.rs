//! Cases over HTTP: create/get/update, list paging and filters, and the error answers.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, NaiveDateTime};
use gtt_sandbox::SandboxConfig;
use serde_json::{Value, json};

fn is_servicenow_time(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok())
}

#[tokio::test]
async fn create_get_update_case() {
    let sandbox = start(SandboxConfig::default()).await;
    let api = Api::new(&sandbox).await;
    let path = cases_path(NS);

    let (status, case) = api
        .call(
            "POST",
            &path,
            Some(case_body(NS, "MPLS circuit down at Frankfurt POP")),
        )
        .await;
    assert_eq!(status, 201, "{case}");
    let name = case["name"].as_str().expect("name").to_owned();
    assert!(name.starts_with("CS") && name.len() == 9, "{name}");
    assert!(name[2..].bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(case["kind"], "case");
    assert_eq!(case["version"], "v1alpha");
    assert_eq!(case["namespace"], NS);
    let spec = &case["spec"];
    assert_eq!(spec["number"], name.as_str());
    let case_id = spec["case_id"].as_str().expect("case_id");
    assert!(
        case_id.len() == 32
            && case_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(spec["state"], "Open");
    assert_eq!(
        spec["short_description"],
        "MPLS circuit down at Frankfurt POP"
    );
    assert_eq!(spec["priority"], "1 - Critical");
    assert_eq!(spec["case_type"], "Incident");
    assert_eq!(spec["category"], "Secure Network");
    assert_eq!(
        spec["description"],
        "Customer reports total loss of service."
    );
    assert_eq!(spec["subcategory"], "Service Down");
    assert!(is_servicenow_time(&spec["opened_at"]), "{spec}");
    assert_eq!(spec["opened_at"], spec["updated_at"]);
    assert_eq!(spec["comments"], json!([]));
    assert_eq!(case["metadata"]["resource_version"], "1");
    assert!(
        case["metadata"]["created_at"]
            .as_str()
            .is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok())
    );

    // GET returns the same resource; numbers increase.
    assert_eq!(
        api.get(&format!("{path}/{name}")).await,
        (200, case.clone())
    );
    let (_, second) = api.call("POST", &path, Some(case_body(NS, "second"))).await;
    assert!(second["name"].as_str() > Some(name.as_str()));
    assert_ne!(second["spec"]["case_id"], case["spec"]["case_id"]);

    // PATCH: state + comment.
    let (status, updated) = api
        .call(
            "PATCH",
            &format!("{path}/{name}"),
            Some(json!({"spec": {"state": "In Progress", "comment": "Engineer dispatched", "priority": "2 - High"}})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["spec"]["state"], "In Progress");
    assert_eq!(updated["spec"]["priority"], "2 - High");
    assert_eq!(updated["metadata"]["resource_version"], "2");
    let comments = updated["spec"]["comments"].as_array().expect("comments");
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["author"], CLIENT_ID);
    assert_eq!(comments[0]["text"], "Engineer dispatched");
    assert!(is_servicenow_time(&comments[0]["at"]));
    assert!(updated["spec"]["updated_at"].as_str() >= case["spec"]["updated_at"].as_str());
    assert!(updated["spec"].get("resolved_at").is_none());

    // PUT merges too, with a matching resource_version; Resolved and Closed stamp their times.
    let (status, resolved) = api
        .call(
            "PUT",
            &format!("{path}/{name}"),
            Some(json!({"metadata": {"resource_version": "2"}, "spec": {"state": "Resolved"}})),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert!(is_servicenow_time(&resolved["spec"]["resolved_at"]));
    assert_eq!(resolved["spec"]["priority"], "2 - High");
    assert_eq!(
        resolved["spec"]["comments"].as_array().map(Vec::len),
        Some(1)
    );
    let (_, closed) = api
        .call(
            "PATCH",
            &format!("{path}/{name}"),
            Some(json!({"spec": {"state": "Closed"}})),
        )
        .await;
    assert!(is_servicenow_time(&closed["spec"]["closed_at"]));
    assert_eq!(closed["metadata"]["resource_version"], "4");

    // A patch that changes nothing keeps the version.
    let (_, same) = api
        .call(
            "PATCH",
            &format!("{path}/{name}"),
            Some(json!({"spec": {"state": "Closed"}})),
        )
        .await;
    assert_eq!(same, closed);
    // The direct view agrees with HTTP.
    assert_eq!(sandbox.case(NS, &name), Some(closed));

    let stats = sandbox.stats();
    assert_eq!(stats.api_requests.get("create_case"), Some(&2));
    assert_eq!(stats.api_requests.get("get_case"), Some(&1));
    assert_eq!(stats.api_requests.get("update_case"), Some(&4));
    sandbox.shutdown().await;
}

async fn list_all(api: &Api, query: &str) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{}?{query}", cases_path(NS));
        if let Some(c) = &cursor {
            path.push_str(&format!("&continue={c}"));
        }
        let (status, page) = api.get(&path).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["kind"], "caseList");
        pages += 1;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["metadata"]["continue"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return (items, pages),
        }
        assert!(pages < 100, "paging does not end");
    }
}

fn names(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn list_pages_without_gaps_or_duplicates() {
    let sandbox = start(SandboxConfig::default()).await;
    let api = Api::new(&sandbox).await;
    let mut created = BTreeSet::new();
    for i in 0..7 {
        let (status, case) = api
            .call(
                "POST",
                &cases_path(NS),
                Some(case_body(NS, &format!("case {i}"))),
            )
            .await;
        assert_eq!(status, 201);
        created.insert(case["name"].as_str().expect("name").to_owned());
    }
    let (items, pages) = list_all(&api, "limit=3").await;
    assert_eq!(pages, 3);
    let listed = names(&items);
    assert_eq!(listed.len(), 7, "{listed:?}");
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), created);
    // Default limit returns everything on one page with no cursor.
    let (status, page) = api.get(&cases_path(NS)).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(7));
    assert_eq!(page["metadata"]["continue"], Value::Null);

    // Paging while cases change: nothing is missed (a changed case may show up again).
    let (_, first) = api.get(&format!("{}?limit=3", cases_path(NS))).await;
    let mut seen: Vec<String> = names(first["items"].as_array().expect("items"));
    let cursor = first["metadata"]["continue"]
        .as_str()
        .expect("cursor")
        .to_owned();
    for name in [&seen[0], listed.last().expect("last")] {
        let (status, _) = api
            .call(
                "PATCH",
                &format!("{}/{name}", cases_path(NS)),
                Some(json!({"spec": {"comment": "bump"}})),
            )
            .await;
        assert_eq!(status, 200);
    }
    let mut next = Some(cursor);
    while let Some(c) = next {
        let (_, page) = api
            .get(&format!("{}?limit=3&continue={c}", cases_path(NS)))
            .await;
        seen.extend(names(page["items"].as_array().expect("items")));
        next = page["metadata"]["continue"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), created);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn updated_since_filters_inclusively() {
    let sandbox = start(SandboxConfig::default()).await;
    let api = Api::new(&sandbox).await;
    let (_, old) = api
        .call("POST", &cases_path(NS), Some(case_body(NS, "old")))
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (_, new) = api
        .call("POST", &cases_path(NS), Some(case_body(NS, "new")))
        .await;
    let since = new["spec"]["updated_at"]
        .as_str()
        .expect("updated_at")
        .to_owned();
    let rfc3339 = since.replace(' ', "T") + "Z";
    for value in [since.replace(' ', "%20"), rfc3339.replace(':', "%3A")] {
        let (status, page) = api
            .get(&format!("{}?updated_since={value}", cases_path(NS)))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(
            names(page["items"].as_array().expect("items")),
            names(std::slice::from_ref(&new))
        );
    }
    // Updating the old case brings it into the window.
    let old_name = old["name"].as_str().expect("name");
    api.call(
        "PATCH",
        &format!("{}/{old_name}", cases_path(NS)),
        Some(json!({"spec": {"state": "In Progress"}})),
    )
    .await;
    let (_, page) = api
        .get(&format!(
            "{}?updated_since={}",
            cases_path(NS),
            since.replace(' ', "%20")
        ))
        .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    let (_, page) = api
        .get(&format!(
            "{}?updated_since=2999-01-01%2000:00:00",
            cases_path(NS)
        ))
        .await;
    assert_eq!(page["items"], json!([]));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn case_errors() {
    let sandbox = start(SandboxConfig::default()).await;
    let api = Api::new(&sandbox).await;
    let path = cases_path(NS);
    let (_, case) = api.call("POST", &path, Some(case_body(NS, "x"))).await;
    let name = case["name"].as_str().expect("name").to_owned();

    // 401 without a token or with a made-up one.
    let response = http()
        .get(format!("{}{path}", api.base))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        (body["code"].clone(), body["reason"].clone()),
        (json!(401), json!("Unauthorized"))
    );
    let forged = Api {
        token: "eyJforged".into(),
        base: api.base.clone(),
        client: http(),
    };
    assert_eq!(forged.get(&path).await.0, 401);

    // 403 for a namespace that does not exist.
    let (status, body) = api
        .call("POST", &cases_path("999"), Some(case_body("999", "x")))
        .await;
    assert_eq!((status, body["reason"].clone()), (403, json!("Forbidden")));

    // 404.
    let (status, body) = api.get(&format!("{path}/CS9999999")).await;
    assert_eq!((status, body["code"].clone()), (404, json!(404)));
    let (status, _) = api
        .call(
            "PATCH",
            &format!("{path}/CS9999999"),
            Some(json!({"spec": {"state": "Open"}})),
        )
        .await;
    assert_eq!(status, 404);

    // 409 on a stale resource_version.
    let (status, body) = api
        .call(
            "PATCH",
            &format!("{path}/{name}"),
            Some(json!({"metadata": {"resource_version": "7"}, "spec": {"state": "Resolved"}})),
        )
        .await;
    assert_eq!((status, body["reason"].clone()), (409, json!("Conflict")));
    assert_eq!(
        sandbox.case(NS, &name).map(|c| c["spec"]["state"].clone()),
        Some(json!("Open"))
    );

    // 422s, each with a message.
    let mut missing = case_body(NS, "x");
    missing["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("short_description");
    let mut wrong_ns = case_body(NS, "x");
    wrong_ns["namespace"] = json!("7");
    let mut wrong_kind = case_body(NS, "x");
    wrong_kind["kind"] = json!("site");
    let mut no_spec = case_body(NS, "x");
    no_spec.as_object_mut().expect("body").remove("spec");
    for body in [missing, wrong_ns, wrong_kind, no_spec, json!([1, 2])] {
        let (status, answer) = api.call("POST", &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer["code"], 422);
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    for patch in [
        json!({"spec": {"state": "Done"}}),
        json!({"spec": {"priority": 3}}),
        json!({"spec": {"case_id": "0123"}}),
        json!({"spec": {"short_description": ""}}),
        json!({"name": "CS0000001", "spec": {"state": "Open"}}),
    ] {
        let (status, _) = api
            .call("PATCH", &format!("{path}/{name}"), Some(patch.clone()))
            .await;
        assert_eq!(status, 422, "{patch}");
    }
    for query in [
        "limit=0",
        "limit=abc",
        "continue=garbage",
        "updated_since=yesterday",
    ] {
        let (status, _) = api.get(&format!("{path}?{query}")).await;
        assert_eq!(status, 422, "{query}");
    }

    // 400 for broken JSON, 415 for a non-JSON content type.
    let raw = |ct: &'static str, body: &'static str| {
        api.client
            .post(format!("{}{path}", api.base))
            .bearer_auth(&api.token)
            .header("content-type", ct)
            .body(body)
    };
    assert_eq!(
        raw("application/json", "{not json")
            .send()
            .await
            .expect("send")
            .status()
            .as_u16(),
        400
    );
    assert_eq!(
        raw("text/plain", "{}")
            .send()
            .await
            .expect("send")
            .status()
            .as_u16(),
        415
    );
    // Unknown endpoints and methods answer JSON errors too.
    assert_eq!(
        api.get("/apis/v1alpha/namespaces/142033/nothing").await.0,
        404
    );
    assert_eq!(
        api.call("DELETE", &format!("{path}/{name}"), None).await.0,
        405
    );
    assert_eq!(sandbox.cases(NS).len(), 1);
    sandbox.shutdown().await;
}

#[tokio::test]
async fn direct_api_errors() {
    use gtt_sandbox::SandboxError;
    let sandbox = start(SandboxConfig::default()).await;
    assert!(matches!(
        sandbox.create_case("nope", case_spec("x")),
        Err(SandboxError::NamespaceNotFound(_))
    ));
    assert!(matches!(
        sandbox.create_case(NS, json!({"short_description": "only this"})),
        Err(SandboxError::Invalid(_))
    ));
    assert!(matches!(
        sandbox.create_case(NS, json!("text")),
        Err(SandboxError::Invalid(_))
    ));
    assert!(matches!(
        sandbox.update_case(NS, "CS0000001", json!({"state": "Closed"})),
        Err(SandboxError::NotFound(_))
    ));
    let case = sandbox.create_case(NS, case_spec("ok")).expect("create");
    let name = case["name"].as_str().expect("name");
    assert!(matches!(
        sandbox.update_case(NS, name, json!({"state": "Nowhere"})),
        Err(SandboxError::Invalid(_))
    ));
    let updated = sandbox
        .update_case(NS, name, json!({"comment": "from GTT"}))
        .expect("update");
    assert_eq!(updated["spec"]["comments"][0]["author"], "GTT Service Desk");
    assert_eq!(sandbox.case(NS, "CS0000001"), None);
    assert_eq!(sandbox.cases("nope"), Vec::<Value>::new());
    sandbox.shutdown().await;
}
