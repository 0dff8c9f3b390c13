//! `GET /openapi.json`: a valid OpenAPI 3.1 document that describes every registered
//! resource type and every route, and whose response schemas the real responses match.

use actix_web::http::StatusCode;
use actix_web::test as atest;
use insta::assert_json_snapshot;
use refunds::http::openapi::{document, resource_types, Limits};
use refunds::resources::lookup;
use serde_json::{json, Value};

use crate::common::{token, Backend, TestApp};

/// Every type the contract names; those registered must all be described.
const CONTRACT_TYPES: &[&str] = &[
    "refunds",
    "orders",
    "authorizations",
    "captures",
    "refund_captures",
    "versions",
    "events",
    "attachments",
    "refund_summaries",
];

const LIMITS: Limits = Limits {
    page_size_default: 10,
    page_size_max: 25,
};

pub(crate) fn doc() -> Value {
    serde_json::to_value(document(LIMITS)).expect("serializable")
}

/// The OpenAPI 3.1 schema (2022-10-07) published by the OpenAPI Initiative.
fn oas_validator() -> jsonschema::Validator {
    let text = include_str!("../fixtures/openapi-3.1-schema-2022-10-07.json");
    let schema: Value = serde_json::from_str(text).expect("schema JSON");
    jsonschema::draft202012::new(&schema).expect("OAS schema compiles")
}

/// A validator of the document's component schema `name` (with `$ref`s into the document).
pub(crate) fn component_validator(doc: &Value, name: &str) -> jsonschema::Validator {
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{name}"),
    });
    root["components"] = doc["components"].clone();
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn document_is_valid_openapi_3_1() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    let errors: Vec<String> = oas_validator()
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "invalid OpenAPI 3.1: {errors:#?}");
    // Every component is a JSON Schema 2020-12 that compiles with its references.
    for name in doc["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
    {
        component_validator(&doc, name);
    }
    // Every `$ref` points at something.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"#/").skip(1) {
        let pointer = format!("/{}", &part[..part.find('"').expect("closing quote")]);
        assert!(doc.pointer(&pointer).is_some(), "dangling $ref {pointer}");
    }
}

#[test]
fn document_snapshot() {
    assert_json_snapshot!("document", doc());
}

#[test]
fn every_registered_type_and_route_is_described() {
    let doc = doc();
    let paths = doc["paths"].as_object().expect("paths");
    let described: Vec<&str> = resource_types().iter().map(|d| d.type_name).collect();
    for t in CONTRACT_TYPES.iter().filter(|t| lookup(t).is_some()) {
        assert!(described.contains(t), "{t} is registered but not described");
    }
    for name in [
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/api/refunds/by_key/{key}",
    ] {
        assert!(paths.contains_key(name), "{name}");
    }
    for def in resource_types() {
        let t = def.type_name;
        assert!(paths[&format!("/api/{t}")]["get"].is_object(), "{t} list");
        assert!(
            paths[&format!("/api/{t}/{{id}}")]["get"].is_object(),
            "{t} show"
        );
        for schema in ["resource", "document", "collection"] {
            assert!(doc["components"]["schemas"][format!("{t}_{schema}")].is_object());
        }
        for rel in def
            .relationships
            .iter()
            .filter(|r| lookup(r.target).is_some() || r.is_poly())
        {
            let n = rel.name;
            assert!(
                paths.contains_key(&format!("/api/{t}/{{id}}/{n}")),
                "{t}.{n}"
            );
            assert!(
                paths.contains_key(&format!("/api/{t}/{{id}}/relationships/{n}")),
                "{t}.{n} linkage"
            );
        }
        // Every rendered attribute is in the resource schema; filterable ones are filters.
        let schema = &doc["components"]["schemas"][format!("{t}_resource")];
        let list = &paths[&format!("/api/{t}")]["get"]["parameters"];
        let filter = list
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == "filter[q]")
            .expect("filter[q]");
        assert_eq!(filter["style"], "deepObject");
        let filter = &doc["components"]["schemas"][format!("{t}_filter")];
        for attr in def.attributes {
            if attr.rendered {
                assert!(
                    schema["properties"]["attributes"]["properties"][attr.name].is_object(),
                    "{t}.{}",
                    attr.name
                );
            }
            if attr.filterable {
                let props = filter["properties"].as_object().expect("props");
                assert!(
                    props
                        .keys()
                        .any(|k| k.starts_with(&format!("{}_", attr.name))),
                    "filter on {t}.{}",
                    attr.name
                );
            }
        }
    }
    // Writes: POST on refunds, no DELETE of a refund (405).
    assert!(paths["/api/refunds"]["post"].is_object());
    assert!(paths["/api/refunds/{id}"]["patch"].is_object());
    assert!(paths["/api/refunds/{id}"]["delete"]["responses"]["405"].is_object());
    // Attachments: POST (201), PATCH (200), DELETE (204).
    assert!(paths["/api/attachments"]["post"]["responses"]["201"].is_object());
    assert!(paths["/api/attachments/{id}"]["patch"]["responses"]["200"].is_object());
    assert!(paths["/api/attachments/{id}"]["delete"]["responses"]["204"].is_object());
    let attachable = &doc["components"]["schemas"]["attachments_create_request"]["properties"]
        ["data"]["properties"]["relationships"]["properties"]["attachable"];
    assert_eq!(
        attachable["properties"]["data"]["properties"]["type"]["enum"],
        json!(["refunds", "captures", "orders"])
    );
    // Polymorphic to-one relationships: `oneOf` the allowed types' documents or `data: null`.
    let related = &doc["components"]["schemas"]["events_resource_related_document"]["oneOf"];
    assert_eq!(related.as_array().map(Vec::len), Some(7), "{related}");
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");
}

#[actix_web::test]
async fn served_with_the_settings_page_limits() {
    let app = TestApp::with(Backend::Sqlite, |s| s.page_size_max = 7).await;
    let service = atest::init_service(refunds::app(app.state.clone())).await;
    let resp = atest::call_service(
        &service,
        atest::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let served: Value = atest::read_body_json(resp).await;
    let size = served["paths"]["/api/refunds"]["get"]["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .find(|p| p["name"] == "page[size]")
        .expect("page[size]")
        .clone();
    assert_eq!(size["schema"]["maximum"], 7);
}

/// Every documented GET route answers 200 on seeded data with a body its schema accepts.
#[actix_web::test]
async fn real_responses_match_the_documented_schemas() {
    let app = TestApp::new(Backend::Sqlite).await;
    app.seed("acme", 4, 3);
    let tok = token("acme");
    let doc = doc();
    // An attachment, and the events of its writes, so that the polymorphic relationships
    // are walked too; the bodies match the request and response schemas.
    let (_, refunds) = app.get("/api/refunds?page[size]=1", &tok).await;
    let refund = refunds["data"][0]["id"].as_str().expect("a seeded refund");
    let create = json!({"data": {
        "type": "attachments",
        "attributes": {"name": "Label", "metadata": {"a": 1}},
        "relationships": {"attachable": {"data": {"type": "refunds", "id": refund}}},
    }});
    assert!(component_validator(&doc, "attachments_create_request").is_valid(&create));
    let (status, created) = app.post("/api/attachments", &tok, &create).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(component_validator(&doc, "attachments_document").is_valid(&created));
    let id = created["data"]["id"].as_str().expect("id");
    let update = json!({"data": {"type": "attachments", "id": id, "attributes": {"url": null}}});
    assert!(component_validator(&doc, "attachments_update_request").is_valid(&update));
    let (status, updated) = app
        .patch(&format!("/api/attachments/{id}"), &tok, &update)
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(component_validator(&doc, "attachments_document").is_valid(&updated));
    let mut checked = 0;
    for def in resource_types() {
        let t = def.type_name;
        let (status, list) = app.get(&format!("/api/{t}?page[size]=1"), &tok).await;
        assert_eq!(status, StatusCode::OK, "{t}: {list}");
        let Some(id) = list["data"][0]["id"].as_str().map(str::to_owned) else {
            continue; // nothing seeded of this type
        };
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let Some(rest) = path.strip_prefix(&format!("/api/{t}/{{id}}")) else {
                continue;
            };
            let Some(get) = item.get("get") else { continue };
            let uri = format!("/api/{t}/{id}{rest}");
            let (status, body) = app.get(&uri, &tok).await;
            assert_eq!(status, StatusCode::OK, "{uri}: {body}");
            let schema = get["responses"]["200"]["content"]["application/vnd.api+json"]["schema"]
                ["$ref"]
                .as_str()
                .expect("200 schema")
                .trim_start_matches("#/components/schemas/");
            let errors: Vec<String> = component_validator(&doc, schema)
                .iter_errors(&body)
                .map(|e| format!("{e} at {}", e.instance_path))
                .collect();
            assert!(errors.is_empty(), "{uri} against {schema}: {errors:#?}");
            checked += 1;
        }
        let collection = format!("{t}_collection");
        let errors: Vec<String> = component_validator(&doc, &collection)
            .iter_errors(&list)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{t} list: {errors:#?}");
    }
    assert!(checked > 10, "only {checked} routes checked");
    // An error document matches the error schema.
    let (status, body) = app.get("/api/refunds?page[size]=0", &tok).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(component_validator(&doc, "error_document").is_valid(&body));
}
