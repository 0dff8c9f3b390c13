//! `GET /openapi.json`: an OpenAPI 3.1 description of the whole API, the Flow-compatible
//! paths under `/flow` included (`flow.json`, tag `flow`).
//!
//! The static parts (info, security, the service routes, the error responses and the
//! schemas every type shares) are one base document, `base.json`. Into it go the parts
//! generated per resource type: from its description ([`ResourceDef`]) the paths, query
//! parameters and response schemas ([`paths`], [`schemas`]), and from the write forms
//! ([`crate::forms`], the same declarations the handlers accept) the request bodies. What
//! every type's operations, parameters and schemas have in common is written once in
//! `templates.json`, with `{t}` (the type) and the like filled in. A new resource type,
//! attribute, relationship or write attribute so appears without editing this module.
//!
//! Polymorphic to-one relationships ([`RelDef::is_poly`]) get their own schemas, named
//! `<type>_<relationship>_*`: linkage whose `type` is one of the allowed types, and a
//! related document that is `oneOf` the allowed types' documents or `data: null`.

mod paths;
mod schemas;

use std::sync::LazyLock;

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::http::AppState;
use crate::jsonapi::resource::{RelDef, ResourceDef};
use crate::resources::{self, lookup};

/// The parts of the document that do not depend on the resource types.
const BASE: &str = include_str!("base.json");

/// The Flow-compatible API under `/flow` (see `crate::http::flow`): its tag, paths,
/// security scheme and schemas, merged as they are.
const FLOW: &str = include_str!("flow.json");

/// The per-type parts, with `{name}` placeholders (see [`template`]).
static TEMPLATES: LazyLock<Value> = LazyLock::new(|| {
    serde_json::from_str(include_str!("templates.json")).expect("templates.json is JSON")
});

/// Paging limits the document announces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub page_size_default: u32,
    pub page_size_max: u32,
}

/// `GET /openapi.json`.
pub async fn serve(state: web::Data<AppState>) -> HttpResponse {
    let doc = document(Limits {
        page_size_default: state.settings.page_size_default,
        page_size_max: state.settings.page_size_max,
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .json(doc)
}

/// Every registered resource type, in registration order.
pub fn resource_types() -> Vec<&'static ResourceDef> {
    resources::all().map(|r| r.def()).collect()
}

/// The OpenAPI document of the service: the base document with every type's paths,
/// schemas and tag.
pub fn document(limits: Limits) -> Value {
    let mut doc: Value = serde_json::from_str(BASE).expect("base.json is JSON");
    doc["info"]["version"] = env!("CARGO_PKG_VERSION").into();
    for def in resource_types() {
        if let Value::Array(tags) = &mut doc["tags"] {
            tags.push(json!({ "name": def.type_name }));
        }
        merge(&mut doc["paths"], paths::of_type(def, limits));
        merge(&mut doc["components"]["schemas"], schemas::of_type(def));
    }
    let flow: Value = serde_json::from_str(FLOW).expect("flow.json is JSON");
    if let Value::Array(tags) = &mut doc["tags"] {
        tags.push(flow["tag"].clone());
    }
    merge(&mut doc["paths"], members(flow["paths"].clone()));
    merge(
        &mut doc["components"]["securitySchemes"],
        members(flow["securitySchemes"].clone()),
    );
    merge(
        &mut doc["components"]["schemas"],
        members(flow["schemas"].clone()),
    );
    doc
}

fn merge(into: &mut Value, entries: Map<String, Value>) {
    if let Value::Object(map) = into {
        map.extend(entries);
    }
}

/// The registered types a relationship may point to (one, unless it is polymorphic).
fn rel_targets(rel: &RelDef) -> Vec<&'static ResourceDef> {
    if rel.is_poly() {
        rel.targets.iter().filter_map(|t| lookup(t)).collect()
    } else {
        lookup(rel.target).into_iter().collect()
    }
}

/// `{"$ref": "#/components/schemas/<name>"}`.
fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The template at `pointer` in `templates.json`, with every `{name}` in its keys and
/// strings replaced by the value of `name` in `vars`.
fn template(pointer: &str, vars: &[(&str, &str)]) -> Value {
    fn fill(template: &Value, text: &dyn Fn(&str) -> String) -> Value {
        match template {
            Value::String(s) => text(s).into(),
            Value::Array(items) => items.iter().map(|v| fill(v, text)).collect(),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (text(k), fill(v, text))).collect())
            }
            other => other.clone(),
        }
    }
    let text = |s: &str| {
        vars.iter()
            .fold(s.to_owned(), |s, (k, v)| s.replace(&format!("{{{k}}}"), v))
    };
    let found = TEMPLATES.pointer(pointer);
    fill(
        found.unwrap_or_else(|| panic!("no template {pointer}")),
        &text,
    )
}

/// The members of an object (none otherwise).
fn members(object: Value) -> Map<String, Value> {
    match object {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
