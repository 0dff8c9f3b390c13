//! The paths of one resource type: its collection, one resource, its relationships (related
//! resources and linkage), and the writes its forms accept; with their query parameters.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::{content, rel_targets, Limits};
use crate::forms;
use crate::jsonapi::query::sortable_fields;
use crate::jsonapi::resource::ResourceDef;
use crate::resources::lookup;

const READ_ERRORS: &[u16] = &[400, 401, 404, 406, 429, 500, 503];
const WRITE_ERRORS: &[u16] = &[400, 401, 404, 406, 409, 413, 415, 422, 429, 500, 503];

/// Maximum depth of `include` paths listed in the enum (the server allows 3).
const INCLUDE_DEPTH: usize = 2;

/// The paths of `def`, keyed by route.
pub(super) fn of_type(def: &'static ResourceDef, limits: Limits) -> Map<String, Value> {
    let t = def.type_name;
    let writes = forms::writes(t);
    let mut paths = Map::new();

    let mut collection = json!({ "get": read_op(
        t,
        format!("list_{t}"),
        format!("List {t}"),
        collection_params(def, limits),
        "A page of the collection",
        &format!("{t}_collection"),
    ) });
    if writes.is_some_and(|w| w.create.is_some()) {
        collection["post"] = create_op(t);
    }
    paths.insert(format!("/api/{t}"), collection);

    let mut one = json!({ "get": read_op(
        t,
        format!("show_{t}"),
        format!("Retrieve one of {t}"),
        with_id(id_param(), shape_params(def)),
        "The resource",
        &format!("{t}_document"),
    ) });
    if writes.is_some_and(|w| w.update.is_some()) {
        let ok = json!({ "200": {
            "description": "The updated resource",
            "content": content(&format!("{t}_document")),
        } });
        let mut update = op(
            t,
            format!("update_{t}"),
            format!("Update one of {t}"),
            vec![id_param()],
            responses(ok, WRITE_ERRORS),
        );
        update["requestBody"] = request_body(&format!("{t}_update_request"));
        one["patch"] = update;
    }
    if writes.is_some_and(|w| w.delete) {
        let ok = json!({ "204": { "description": "Deleted" } });
        let summary = format!("Delete one of {t}");
        let responses = responses(ok, READ_ERRORS);
        one["delete"] = op(
            t,
            format!("delete_{t}"),
            summary,
            vec![id_param()],
            responses,
        );
    } else if t == "refunds" {
        // The contract: money that moved stays on record.
        let summary = format!("Not supported: {t} stay on record");
        let responses = responses(json!({}), &[401, 405, 429]);
        one["delete"] = op(
            t,
            format!("delete_{t}"),
            summary,
            vec![id_param()],
            responses,
        );
    }
    paths.insert(format!("/api/{t}/{{id}}"), one);

    // Relationships whose target is served.
    for rel in def.relationships {
        let targets = rel_targets(rel);
        let Some(&target) = targets.first() else {
            continue;
        };
        let n = rel.name;
        let (related_params, related, linkage_params, linkage) = if rel.is_poly() {
            // The target's type, and so its includes, depend on the row: only the
            // sparse fieldsets of the allowed types are described.
            (
                targets.iter().map(|d| fields_param(d)).collect(),
                format!("{t}_{n}_related_document"),
                Vec::new(),
                format!("{t}_{n}_linkage_document"),
            )
        } else if rel.to_many {
            (
                collection_params(target, limits),
                format!("{}_collection", target.type_name),
                page_filter_sort(target, limits),
                "to_many_linkage_document".to_owned(),
            )
        } else {
            (
                shape_params(target),
                format!("{}_optional_document", target.type_name),
                Vec::new(),
                "to_one_linkage_document".to_owned(),
            )
        };
        let description = if rel.to_many {
            "A page of the related collection"
        } else {
            "The related resource, or `data: null`"
        };
        let get = read_op(
            t,
            format!("{t}_{n}"),
            format!("The {n} of one of {t}"),
            with_id(id_param(), related_params),
            description,
            &related,
        );
        paths.insert(format!("/api/{t}/{{id}}/{n}"), json!({ "get": get }));
        let get = read_op(
            t,
            format!("{t}_relationships_{n}"),
            format!("The linkage of {n} of one of {t}"),
            with_id(id_param(), linkage_params),
            "Resource linkage only",
            &linkage,
        );
        let route = format!("/api/{t}/{{id}}/relationships/{n}");
        paths.insert(route, json!({ "get": get }));
    }

    // Flow's look-up by the client's key.
    if t == "refunds" {
        let key = json!({
            "name": "key",
            "in": "path",
            "required": true,
            "description": "The client's idempotency key",
            "schema": { "type": "string", "minLength": 1 },
        });
        let get = read_op(
            t,
            "refund_by_key".to_owned(),
            "Retrieve a refund by its key".to_owned(),
            with_id(key, shape_params(def)),
            "The refund (404 when the key is unknown)",
            "refunds_document",
        );
        paths.insert(
            "/api/refunds/by_key/{key}".to_owned(),
            json!({ "get": get }),
        );
    }
    paths
}

/// `ok` (responses by status) followed by references to the shared error responses.
fn responses(mut ok: Value, errors: &[u16]) -> Value {
    for status in errors {
        ok[status.to_string()] = json!({ "$ref": format!("#/components/responses/{status}") });
    }
    ok
}

fn op(tag: &str, id: String, summary: String, parameters: Vec<Value>, responses: Value) -> Value {
    json!({
        "tags": [tag],
        "operationId": id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    })
}

/// A GET answering `ok` (a component schema) with `description`.
fn read_op(
    tag: &str,
    id: String,
    summary: String,
    parameters: Vec<Value>,
    description: &str,
    ok: &str,
) -> Value {
    let ok = json!({ "200": { "description": description, "content": content(ok) } });
    op(tag, id, summary, parameters, responses(ok, READ_ERRORS))
}

/// `POST /api/<t>`; a refund's may be replayed under its idempotency key.
fn create_op(t: &str) -> Value {
    let document = format!("{t}_document");
    let mut ok = json!({ "201": {
        "description": "Created",
        "headers": { "Location": {
            "description": "The URL of the new resource",
            "schema": { "type": "string", "format": "uri" },
        } },
        "content": content(&document),
    } });
    let mut op = json!({
        "tags": [t],
        "operationId": format!("create_{t}"),
        "summary": format!("Create one of {t}"),
        "requestBody": request_body(&format!("{t}_create_request")),
    });
    if t == "refunds" {
        op["parameters"] = json!([{
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Used as the key when the `key` attribute is absent",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": 255,
                "pattern": "^[\\x21-\\x7e]+$",
            },
        }]);
        ok["200"] = json!({
            "description": "An idempotent replay: the refund stored under this key",
            "content": content(&document),
        });
    }
    op["responses"] = responses(ok, WRITE_ERRORS);
    op
}

fn request_body(schema: &str) -> Value {
    json!({ "content": content(schema), "required": true })
}

fn id_param() -> Value {
    json!({
        "name": "id",
        "in": "path",
        "required": true,
        "description": "The resource's id",
        "schema": { "type": "string", "minLength": 1 },
    })
}

fn with_id(id: Value, rest: Vec<Value>) -> Vec<Value> {
    std::iter::once(id).chain(rest).collect()
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": "query",
        "required": false,
        "description": description,
        "schema": schema,
    })
}

/// A comma-separated list (`style: form`, `explode: false`) of unique values of `items`.
fn list_param(name: &str, description: &str, items: Vec<String>, max: Option<usize>) -> Value {
    let mut schema = json!({
        "type": "array",
        "items": { "type": "string", "enum": items },
        "minItems": 1,
        "uniqueItems": true,
    });
    if let Some(max) = max {
        schema["maxItems"] = max.into();
    }
    let mut param = query(name, description, schema);
    param["style"] = "form".into();
    param["explode"] = false.into();
    param
}

/// `include` paths up to [`INCLUDE_DEPTH`] and the types they reach. A polymorphic
/// relationship ends a path (what lies past it depends on the row) and reaches every
/// allowed type.
fn include_paths(def: &'static ResourceDef) -> (Vec<String>, BTreeSet<&'static str>) {
    let mut paths = Vec::new();
    let mut reached = BTreeSet::new();
    let mut frontier = vec![(String::new(), def)];
    for _ in 0..INCLUDE_DEPTH {
        let mut next = Vec::new();
        for (prefix, d) in frontier {
            for rel in d.relationships {
                let targets = rel_targets(rel);
                if targets.is_empty() {
                    continue;
                }
                let path = if prefix.is_empty() {
                    rel.name.to_owned()
                } else {
                    format!("{prefix}.{}", rel.name)
                };
                reached.extend(targets.iter().map(|t| t.type_name));
                paths.push(path.clone());
                if !rel.is_poly() {
                    next.push((path, targets[0]));
                }
            }
        }
        frontier = next;
    }
    (paths, reached)
}

/// `include` and `fields[<type>]` for `def` and the types its includes reach.
fn shape_params(def: &'static ResourceDef) -> Vec<Value> {
    let (paths, reached) = include_paths(def);
    let mut out = Vec::new();
    if !paths.is_empty() {
        out.push(list_param(
            "include",
            "Related resources to include (dotted paths allowed, at most 3 deep)",
            paths,
            None,
        ));
    }
    let others = reached.into_iter().filter(|t| *t != def.type_name);
    let types = std::iter::once(def.type_name).chain(others);
    out.extend(types.filter_map(lookup).map(fields_param));
    out
}

/// `fields[<type>]` of `def`: its rendered attributes and its relationships.
fn fields_param(def: &ResourceDef) -> Value {
    let t = def.type_name;
    let fields = def.attributes.iter().filter(|a| a.rendered).map(|a| a.name);
    let fields = fields.chain(def.relationships.iter().map(|r| r.name));
    let description = format!("Sparse fieldset of {t}");
    list_param(
        &format!("fields[{t}]"),
        &description,
        fields.map(str::to_owned).collect(),
        None,
    )
}

/// Paging, sorting and filtering of a collection of `def`.
fn page_filter_sort(def: &'static ResourceDef, limits: Limits) -> Vec<Value> {
    let page = |default: u32, max: u32| json!({ "type": "integer", "minimum": 1, "maximum": max, "default": default });
    let sortable: Vec<String> = sortable_fields(def)
        .flat_map(|a| [a.name.to_owned(), format!("-{}", a.name)])
        .collect();
    let default = if def.default_sort.is_empty() {
        String::new()
    } else {
        format!("default `{}`; ", def.default_sort)
    };
    let sort = format!(
        "Sort fields, `-` for descending, each field at most once ({default}`id` breaks ties)"
    );
    let mut filter = query(
        "filter[q]",
        "Ransack-style filters `filter[q][<field>_<predicate>]=<value>`, ANDed. The grammar \
         also has `_or_` between fields, relationship paths (`order_number_eq`), the `_any`/`_all` \
         list forms and `not_*`, `*_or_null`, `matches`, `blank` predicates; list values are \
         comma-separated.",
        super::schema_ref(&format!("{}_filter", def.type_name)),
    );
    filter["style"] = "deepObject".into();
    filter["explode"] = true.into();
    vec![
        query("page[number]", "Page number (default 1)", page(1, u32::MAX)),
        query(
            "page[size]",
            "Page size",
            page(limits.page_size_default, limits.page_size_max),
        ),
        list_param("sort", &sort, sortable, Some(sortable_fields(def).count())),
        filter,
    ]
}

fn collection_params(def: &'static ResourceDef, limits: Limits) -> Vec<Value> {
    let mut out = page_filter_sort(def, limits);
    out.extend(shape_params(def));
    out
}
