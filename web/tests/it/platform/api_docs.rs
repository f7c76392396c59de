//! The OpenAPI document, the docs page, health probes and the error format.

use serde_json::json;

use crate::harness::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_and_docs_page_are_served() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    // The OpenAPI document is the contract itself, not one of its views: read as JSON.
    let spec = anon.get("/api/openapi.json").await;
    assert_eq!(spec.status, 200);
    assert_eq!(spec.body["info"]["title"], "Partnerdesk API");
    let paths = spec.body["paths"].as_object().unwrap();
    for path in [
        "/auth/login",
        "/partner-requests",
        "/partner-requests/{id}/approve",
        "/organizations/{id}/members",
        "/partner-registrations/{token}",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    // Every operation has a tag, a summary, a stable operationId, and documents
    // problem+json errors, including those the service answers before a handler runs.
    let mut operation_ids = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} has a tag"
            );
            assert!(op["summary"].is_string(), "{method} {path} has a summary");
            assert!(
                op["responses"]["500"]["content"]["application/problem+json"].is_object(),
                "{method} {path} documents its errors"
            );
            for status in ["405", "413", "415", "429", "503"] {
                assert!(op["responses"][status].is_object(), "{method} {path} declares {status}");
            }
            assert!(
                op["responses"]["405"]["headers"]
                    .as_object()
                    .is_some_and(|h| h.keys().any(|k| k.eq_ignore_ascii_case("allow"))),
                "{method} {path}: 405 declares Allow"
            );
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                id.len() > 2
                    && id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{method} {path} has a readable operationId, not {id:?}"
            );
            operation_ids.push(id.to_owned());
        }
    }
    let count = operation_ids.len();
    operation_ids.sort();
    operation_ids.dedup();
    assert_eq!(operation_ids.len(), count, "operationIds are unique");
    assert!(operation_ids.contains(&"listCustomers".to_owned()));
    // Request bodies carry examples.
    let example = &spec.body["components"]["schemas"]["PartnerRequestForm"]["example"];
    assert_eq!(example["country"], "DE");

    let docs = reqwest::get(format!("{}/api/docs", app.base)).await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"), "interactive docs");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness() {
    let app = TestApp::spawn_with(crate::harness::Options {
        seed_demo: false,
        ..Default::default()
    })
    .await;
    assert_eq!(
        reqwest::get(format!("{}/healthz", app.base)).await.unwrap().status(),
        200
    );
    let ready = reqwest::get(format!("{}/readyz", app.base)).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_problem_json_with_stable_codes() {
    let app = TestApp::spawn().await;
    let anon = app.anonymous();
    anon.get("/api/no-such-thing").await.assert_problem(404, "not_found");
    anon.post_raw("/api/auth/login", "application/json", "{\"email\": ")
        .await
        .assert_problem(400, "invalid_json");
    anon.post_raw("/api/auth/login", "text/plain", "hello")
        .await
        .assert_problem(415, "unsupported_media_type");
    // A path that exists, with a method it does not have: 405 naming the ones it has.
    let r = anon.request(reqwest::Method::PUT, "/api/customers", None).await;
    r.assert_problem(405, "method_not_allowed");
    assert_eq!(r.headers["allow"], "GET, POST");
    let r = anon
        .delete("/api/organizations/00000000-0000-0000-0000-000000000000/settings")
        .await;
    assert_eq!(r.headers["allow"], "GET, PUT");
    anon.post_raw("/api/auth/login", "application/json", "[1, 2]")
        .await
        .assert_problem(400, "invalid_body");

    // A body that misses required fields names each of them.
    let r = anon.post("/api/auth/signup", json!({ "email": "x@example.com" })).await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["first_name", "last_name", "password"]);
    assert!(r.field_errors().iter().all(|e| e.code == "required"), "{}", r.body);

    // A field of the wrong type is named too.
    let anna = app.demo("anna@northwind.example").await;
    let r = anna
        .post("/api/me/tokens", json!({ "name": 7, "expires_in_days": "soon" }))
        .await;
    r.assert_problem(422, "validation_failed");
    let mut fields = r.error_fields();
    fields.sort();
    assert_eq!(fields, ["expires_in_days", "name"]);

    // A bad path parameter.
    anna.get("/api/organizations/not-a-uuid")
        .await
        .assert_problem(400, "invalid_parameter");
}

/// The API contract is reviewed like code: any change to the document shows up here.
#[test]
fn the_openapi_document_matches_its_snapshot() {
    let config = partnerdesk_core::platform::config::Config::from_pairs([
        ("DATABASE_URL", "postgres://localhost/unused".to_owned()),
        ("PARTNERDESK_ENV", "development".to_owned()),
        ("PUBLIC_URL", "http://localhost:8080".to_owned()),
    ])
    .unwrap();
    let spec: serde_json::Value = serde_json::from_str(&partnerdesk_web::api::document(&config)).unwrap();
    insta::assert_json_snapshot!("openapi", spec);
}
