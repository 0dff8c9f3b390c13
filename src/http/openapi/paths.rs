//! The paths of one resource type: its collection, one resource, its relationships (related
//! resources and linkage), and the writes its forms accept; with their query parameters.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::http::writes::writes_of;

use super::{rel_targets, template, Limits};
use crate::jsonapi::query::sortable_fields;
use crate::jsonapi::resource::ResourceDef;
use crate::resources::lookup;

const READ_ERRORS: &[u16] = &[400, 401, 404, 406, 429, 500, 503];
const WRITE_ERRORS: &[u16] = &[400, 401, 404, 406, 408, 409, 413, 415, 422, 429, 500, 503];

/// Maximum depth of `include` paths listed in the enum (the server allows 3).
const INCLUDE_DEPTH: usize = 2;

/// The paths of `def`, keyed by route.
pub(super) fn of_type(def: &'static ResourceDef, limits: Limits) -> Map<String, Value> {
    let t = def.type_name;
    let vars = [("t", t)];
    let writes = writes_of(t);
    let mut paths = Map::new();

    let list = operation("list", &vars, collection_params(def, limits));
    let mut collection = json!({ "get": list });
    if writes.is_some_and(|w| w.create.is_some()) {
        let mut create = operation("create", &vars, Vec::new());
        if t == "refunds" {
            create["parameters"] = json!([template("/parameters/idempotency_key", &[])]);
            create["responses"]["200"] = template("/operations/replay", &[]);
        }
        collection["post"] = create;
    }
    paths.insert(format!("/api/{t}"), collection);

    let id = || template("/parameters/id", &[]);
    let show = operation("show", &vars, with(id(), shape_params(def)));
    let mut one = json!({ "get": show });
    if writes.is_some_and(|w| w.update.is_some()) {
        one["patch"] = operation("update", &vars, vec![id()]);
    }
    if writes.is_some_and(|w| w.destroy.is_some()) {
        one["delete"] = operation("delete", &vars, vec![id()]);
    } else if t == "refunds" {
        // The contract: money that moved stays on record.
        one["delete"] = operation("no_delete", &vars, vec![id()]);
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
        let vars = [
            ("t", t),
            ("n", n),
            ("schema", &related),
            ("description", description),
        ];
        let get = operation("related", &vars, with(id(), related_params));
        paths.insert(format!("/api/{t}/{{id}}/{n}"), json!({ "get": get }));
        let get = operation(
            "linkage",
            &[("t", t), ("n", n), ("schema", &linkage)],
            with(id(), linkage_params),
        );
        let route = format!("/api/{t}/{{id}}/relationships/{n}");
        paths.insert(route, json!({ "get": get }));
    }

    // Flow's look-up by the client's key.
    if t == "refunds" {
        let key = template("/parameters/key", &[]);
        let get = operation("by_key", &vars, with(key, shape_params(def)));
        paths.insert(
            "/api/refunds/by_key/{key}".to_owned(),
            json!({ "get": get }),
        );
    }
    paths
}

/// The operation template `name` with its `parameters` (if any) and references to the
/// shared error responses it may answer.
fn operation(name: &str, vars: &[(&str, &str)], parameters: Vec<Value>) -> Value {
    let mut op = template(&format!("/operations/{name}"), vars);
    if !parameters.is_empty() {
        op["parameters"] = parameters.into();
    }
    let errors: &[u16] = match name {
        "create" | "update" => WRITE_ERRORS,
        "no_delete" => &[401, 405, 429],
        _ => READ_ERRORS,
    };
    for status in errors {
        op["responses"][status.to_string()] =
            json!({ "$ref": format!("#/components/responses/{status}") });
    }
    op
}

fn with(first: Value, rest: Vec<Value>) -> Vec<Value> {
    std::iter::once(first).chain(rest).collect()
}

/// The list parameter template `name`: a comma-separated list of unique values of `items`.
fn list_param(name: &str, vars: &[(&str, &str)], items: Vec<String>) -> Value {
    let mut param = template(&format!("/parameters/{name}"), vars);
    param["schema"]["items"]["enum"] = items.into();
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
        out.push(list_param("include", &[], paths));
    }
    let others = reached.into_iter().filter(|t| *t != def.type_name);
    let types = std::iter::once(def.type_name).chain(others);
    out.extend(types.filter_map(lookup).map(fields_param));
    out
}

/// `fields[<type>]` of `def`: its rendered attributes and its relationships.
fn fields_param(def: &ResourceDef) -> Value {
    let fields = def.attributes.iter().filter(|a| a.rendered).map(|a| a.name);
    let fields = fields.chain(def.relationships.iter().map(|r| r.name));
    let vars = [("t", def.type_name)];
    list_param("fields", &vars, fields.map(str::to_owned).collect())
}

/// Paging, sorting and filtering of a collection of `def`.
fn page_filter_sort(def: &'static ResourceDef, limits: Limits) -> Vec<Value> {
    let mut size = template("/parameters/page_size", &[]);
    size["schema"]["maximum"] = limits.page_size_max.into();
    size["schema"]["default"] = limits.page_size_default.into();
    let sortable: Vec<String> = sortable_fields(def)
        .flat_map(|a| [a.name.to_owned(), format!("-{}", a.name)])
        .collect();
    let default = if def.default_sort.is_empty() {
        String::new()
    } else {
        format!("default `{}`; ", def.default_sort)
    };
    let mut sort = list_param("sort", &[("default", &default)], sortable);
    sort["schema"]["maxItems"] = sortable_fields(def).count().into();
    vec![
        template("/parameters/page_number", &[]),
        size,
        sort,
        template("/parameters/filter", &[("t", def.type_name)]),
    ]
}

fn collection_params(def: &'static ResourceDef, limits: Limits) -> Vec<Value> {
    let mut out = page_filter_sort(def, limits);
    out.extend(shape_params(def));
    out
}
