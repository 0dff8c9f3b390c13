//! The component schemas of one resource type: its resource object, documents, collection
//! and filters (from its [`ResourceDef`]), and its request bodies (from its write forms).

use serde_json::{json, Map, Value};

use super::{members, rel_targets, schema_ref, template};
use crate::forms::{Field, Form, Kind};
use crate::jsonapi::resource::{AttrKind, RelDef, ResourceDef, ID};

/// The schemas of `def`, keyed by component name.
pub(super) fn of_type(def: &'static ResourceDef) -> Map<String, Value> {
    let t = def.type_name;
    let mut schemas = members(template("/schemas", &[("t", t)]));
    let attributes: Map<String, Value> = (def.attributes.iter())
        .filter(|a| a.rendered)
        .map(|a| (a.name.to_owned(), attribute_schema(a.kind)))
        .collect();
    let mut relationships = Map::new();
    for rel in def.relationships {
        let name = if rel.is_poly() {
            schemas.extend(poly_schemas(def, rel));
            format!("{t}_{}_relationship", rel.name)
        } else if rel.to_many {
            "to_many_relationship".to_owned()
        } else {
            "to_one_relationship".to_owned()
        };
        relationships.insert(rel.name.to_owned(), schema_ref(&name));
    }
    let resource = &mut schemas[&format!("{t}_resource")]["properties"];
    for (member, properties) in [("attributes", attributes), ("relationships", relationships)] {
        if !properties.is_empty() {
            resource[member]["properties"] = properties.into();
        }
    }
    schemas.insert(format!("{t}_filter"), filter_schema(def));
    if let Some(writes) = crate::http::writes::writes_of(t) {
        if let Some(op) = &writes.create {
            schemas.insert(format!("{t}_create_request"), request(def, op.form, false));
        }
        if let Some(op) = &writes.update {
            schemas.insert(format!("{t}_update_request"), request(def, op.form, true));
        }
    }
    schemas
}

/// An object of `properties` and no others (`properties` left out when there are none).
fn closed(properties: Map<String, Value>) -> Value {
    let mut schema = json!({ "type": "object", "additionalProperties": false });
    if !properties.is_empty() {
        schema["properties"] = properties.into();
    }
    schema
}

/// The JSON type of an attribute of `kind` in a resource object.
fn attribute_schema(kind: AttrKind) -> Value {
    match kind {
        AttrKind::Text => json!({ "type": ["string", "null"] }),
        AttrKind::Int => json!({ "type": ["integer", "null"] }),
        AttrKind::Bool => json!({ "type": ["boolean", "null"] }),
        AttrKind::Time => json!({ "type": ["string", "null"], "format": "date-time" }),
        AttrKind::Json => json!({ "description": "A JSON value" }),
        AttrKind::Derived => json!({ "description": "Derived, read-only", "readOnly": true }),
    }
}

/// The schema of an attribute in a write body.
fn field_schema(field: &Field) -> Value {
    let mut schema = match field.kind {
        Kind::Text => json!({ "type": ["string", "null"], "maxLength": 255 }),
        Kind::NonEmptyText => json!({
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": "\\S",
            "description": "A non-empty string",
        }),
        Kind::Currency => {
            json!({ "type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217" })
        }
        Kind::Int => json!({ "type": "integer" }),
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::Object => json!({ "type": "object" }),
        Kind::Topic => json!({
            "type": "string",
            "enum": crate::resources::webhooks::TOPICS,
            "description": "The event name that triggers the webhook",
        }),
        Kind::Url => json!({
            "type": "string",
            "format": "uri",
            "maxLength": 2048,
            "description": "An absolute http or https URL",
        }),
        Kind::TextList => json!({ "type": "array", "items": { "type": "string" } }),
    };
    if let Some(description) = field.description {
        schema["description"] = description.into();
    }
    schema
}

/// `{type, id}` with `type` one of `types`.
fn identifier_schema(types: &[&str]) -> Value {
    json!({
        "type": "object",
        "properties": {
            "type": { "type": "string", "enum": types },
            "id": { "type": "string", "minLength": 1 },
        },
        "required": ["type", "id"],
    })
}

/// The body of a POST (`with_id: false`) or PATCH of `def` that `form` accepts.
fn request(def: &ResourceDef, form: &Form, with_id: bool) -> Value {
    let mut properties = json!({ "type": { "type": "string", "enum": [def.type_name] } });
    let mut required = vec!["type"];
    if with_id {
        properties["id"] = json!({ "type": "string", "minLength": 1 });
        required.push("id");
    }
    let fields = form
        .fields
        .iter()
        .map(|f| (f.name.to_owned(), field_schema(f)));
    let mut attributes = closed(fields.collect());
    let required_attributes: Vec<&str> = form.required().collect();
    if !required_attributes.is_empty() {
        attributes["required"] = json!(required_attributes);
        required.push("attributes");
    }
    properties["attributes"] = attributes;
    if !form.exactly_one_of.is_empty() {
        let relationship = |name: &str| {
            let rel = def.relationships.iter().find(|r| r.name == name);
            let types: Vec<&str> = rel
                .map(|r| rel_targets(r).iter().map(|d| d.type_name).collect())
                .unwrap_or_default();
            json!({
                "type": "object",
                "properties": { "data": identifier_schema(&types) },
                "required": ["data"],
            })
        };
        let rels = form.exactly_one_of.iter();
        let mut relationships = closed(rels.map(|n| (n.to_string(), relationship(n))).collect());
        relationships["description"] = "Exactly one of these relationships".into();
        relationships["minProperties"] = 1.into();
        relationships["maxProperties"] = 1.into();
        properties["relationships"] = relationships;
        required.push("relationships");
    }
    json!({
        "type": "object",
        "properties": {
            "data": { "type": "object", "properties": properties, "required": required },
        },
        "required": ["data"],
    })
}

/// The schemas of a polymorphic to-one relationship `rel` of `def`: its identifier (a type
/// among the allowed ones), its member in the resource object, its linkage document and
/// its related document (`oneOf` the allowed types' documents, or `data: null`).
fn poly_schemas(def: &ResourceDef, rel: &RelDef) -> Map<String, Value> {
    let prefix = format!("{}_{}", def.type_name, rel.name);
    let types: Vec<&str> = rel_targets(rel).iter().map(|d| d.type_name).collect();
    let vars = [
        ("t", def.type_name),
        ("n", rel.name),
        ("types", &types.join(", ")),
    ];
    let mut schemas = members(template("/polymorphic", &vars));
    schemas[&format!("{prefix}_identifier")]["properties"]["type"]["enum"] = json!(types);
    let documents = types.iter().map(|t| schema_ref(&format!("{t}_document")));
    schemas[&format!("{prefix}_related_document")]["oneOf"] =
        documents.chain([schema_ref("null_document")]).collect();
    schemas
}

/// Filter predicates described per attribute kind (the grammar has more: see the
/// parameter's description).
fn predicates(kind: AttrKind) -> &'static [&'static str] {
    match kind {
        AttrKind::Text => &[
            "eq", "not_eq", "in", "cont", "start", "end", "null", "present",
        ],
        AttrKind::Int => &["eq", "not_eq", "lt", "lteq", "gt", "gteq", "in", "null"],
        AttrKind::Time => &["eq", "lt", "lteq", "gt", "gteq", "null"],
        AttrKind::Bool => &["eq", "true", "false", "null"],
        AttrKind::Json => &["jcont"],
        AttrKind::Derived => &[],
    }
}

/// The properties of `filter[q]` on `def`: its filterable fields with the predicates of
/// their kind.
fn filter_schema(def: &'static ResourceDef) -> Value {
    let fields = std::iter::once(&ID).chain(def.attributes.iter().filter(|a| a.filterable));
    let properties = fields.flat_map(|attr| {
        predicates(attr.kind).iter().map(move |pred| {
            let name = format!("{}_{pred}", attr.name);
            (name, filter_value(attr.kind, pred))
        })
    });
    closed(properties.collect())
}

fn filter_value(kind: AttrKind, pred: &str) -> Value {
    match (kind, pred) {
        (_, "null" | "present" | "true" | "false") | (AttrKind::Bool, _) => {
            json!({ "type": "boolean" })
        }
        (AttrKind::Int, "in") => json!({ "type": "string", "pattern": "^-?[0-9]+(,-?[0-9]+)*$" }),
        (AttrKind::Int, _) => json!({ "type": "integer", "format": "int64" }),
        (AttrKind::Time, _) => json!({ "type": "string", "format": "date-time" }),
        (AttrKind::Json, _) => json!({
            "type": "string",
            "contentMediaType": "application/json",
            "description": "A JSON value the field must contain",
        }),
        (_, "in") => json!({
            "type": "string",
            "minLength": 1,
            "description": "Comma-separated values",
        }),
        _ => json!({ "type": "string", "minLength": 1 }),
    }
}
