//! `GET /openapi.json`: an OpenAPI 3.1 description of the whole API.
//!
//! The static parts (info, security, the service routes, the error responses and the
//! schemas every type shares) are one base document, `base.json`. Into it go the parts
//! generated per resource type: from its description ([`ResourceDef`]) the paths, query
//! parameters and response schemas ([`paths`], [`schemas`]), and from the write forms
//! ([`crate::forms`], the same declarations the handlers accept) the request bodies. A new
//! resource type, attribute, relationship or write attribute so appears without editing
//! this module.
//!
//! Polymorphic to-one relationships ([`RelDef::is_poly`]) get their own schemas, named
//! `<type>_<relationship>_*`: linkage whose `type` is one of the allowed types, and a
//! related document that is `oneOf` the allowed types' documents or `data: null`.

mod paths;
mod schemas;

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use crate::jsonapi::resource::{RelDef, ResourceDef};
use crate::jsonapi::MEDIA_TYPE;
use crate::resources::{self, lookup};
use crate::AppState;

/// The parts of the document that do not depend on the resource types.
const BASE: &str = include_str!("base.json");

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

/// A JSON:API body whose schema is the component `schema`.
fn content(schema: &str) -> Value {
    json!({ MEDIA_TYPE: { "schema": schema_ref(schema) } })
}
