//! `GET /openapi.json`: an OpenAPI 3.1 description of the whole API, generated from the
//! resource descriptions ([`ResourceDef`]) of the registry, so that a new resource type,
//! attribute or relationship appears without editing this module.
//!
//! What the descriptions do not hold is written here as small tables: which types accept
//! POST, PATCH or DELETE and with which attributes ([`WRITES`], mirroring the match arms of
//! `crate::writes` and the `Attrs::only` lists of the handlers), and the fixed routes.
//!
//! Polymorphic to-one relationships ([`RelDef::is_poly`]) get their own schemas, named
//! `<type>_<relationship>_*`: linkage whose `type` is one of the allowed types, and a
//! related document that is `oneOf` the allowed types' documents or `data: null`.

use std::collections::BTreeSet;

use actix_web::{web, HttpResponse};
use serde_json::json;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
    ParameterStyle, PathItem, PathItemBuilder,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder,
    Ref, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder,
    PathsBuilder, RefOr, Required, ResponseBuilder,
};

use crate::jsonapi::resource::{AttrKind, RelDef, ResourceDef, ID};
use crate::jsonapi::MEDIA_TYPE;
use crate::resources::{self, lookup};
use crate::AppState;

/// A write a resource type accepts: the attributes of its body (the handler's
/// `Attrs::only` list), the required ones, and the to-one relationships it takes.
struct Write {
    attributes: &'static [&'static str],
    required: &'static [&'static str],
    relationships: &'static [&'static str],
    /// Whether exactly one of `relationships` must be given (a refund's target; the one
    /// required relationship of an authorization, a capture or an attachment).
    one_of_relationships: bool,
}

/// The writes of one resource type (`None`: that method answers 405).
struct Writes {
    type_name: &'static str,
    create: Option<Write>,
    update: Option<Write>,
    delete: bool,
}

/// Attributes in write bodies that resources do not render (triggers), with their kind.
const TRIGGERS: &[(&str, AttrKind, &str)] = &[
    (
        "_refund",
        AttrKind::Bool,
        "Creates a refund through the same code path as POST /api/refunds",
    ),
    (
        "_refund_amount_cents",
        AttrKind::Int,
        "The amount of the `_refund` (default: the whole balance)",
    ),
    (
        "_forward",
        AttrKind::Bool,
        "Marks a failed or pending refund as succeeded",
    ),
];

const GATEWAY: [&str; 6] = [
    "payment_method_type",
    "message",
    "error_code",
    "error_detail",
    "token",
    "gateway_transaction_id",
];

const COMMON: [&str; 3] = ["reference", "reference_origin", "metadata"];

/// The create attributes of authorizations and captures (`COMMON` and `GATEWAY` among them).
const PAYMENT_CREATE: [&str; 12] = [
    "amount_cents",
    "currency_code",
    "succeeded",
    COMMON[0],
    COMMON[1],
    COMMON[2],
    GATEWAY[0],
    GATEWAY[1],
    GATEWAY[2],
    GATEWAY[3],
    GATEWAY[4],
    GATEWAY[5],
];

const ORDER_ATTRS: [&str; 10] = [
    "number",
    "currency_code",
    "customer_email",
    "customer_id",
    "market_id",
    "total_amount_cents",
    "shipping_amount_cents",
    COMMON[0],
    COMMON[1],
    COMMON[2],
];

/// The attributes of attachment writes (`name` is required on create, never null).
const ATTACHMENT_ATTRS: [&str; 6] = [
    "name",
    "description",
    "url",
    COMMON[0],
    COMMON[1],
    COMMON[2],
];

/// Write attributes that must be non-empty strings when given (`Attrs::required_text`
/// without a null meaning "clear"), by type.
const NON_EMPTY: &[(&str, &str)] = &[("attachments", "name")];

const ORDER_UPDATE: [&str; 11] = [
    ORDER_ATTRS[0],
    ORDER_ATTRS[1],
    ORDER_ATTRS[2],
    ORDER_ATTRS[3],
    ORDER_ATTRS[4],
    ORDER_ATTRS[5],
    ORDER_ATTRS[6],
    ORDER_ATTRS[7],
    ORDER_ATTRS[8],
    ORDER_ATTRS[9],
    "_refund",
];

const fn update(attributes: &'static [&'static str]) -> Option<Write> {
    Some(Write {
        attributes,
        required: &[],
        relationships: &[],
        one_of_relationships: false,
    })
}

/// Which types accept which writes (see `crate::writes`). Types that are not registered
/// are skipped, so entries may precede their resource.
const WRITES: &[Writes] = &[
    Writes {
        type_name: "refunds",
        create: Some(Write {
            attributes: &[
                "amount_cents",
                "currency_code",
                "key",
                "reference",
                "reference_origin",
                "metadata",
            ],
            required: &[],
            relationships: &["reference_capture", "authorization", "order"],
            one_of_relationships: true,
        }),
        update: update(&[
            "reference",
            "reference_origin",
            "metadata",
            "succeeded",
            "_forward",
        ]),
        delete: false,
    },
    Writes {
        type_name: "orders",
        create: Some(Write {
            attributes: &ORDER_ATTRS,
            required: &["number", "currency_code", "total_amount_cents"],
            relationships: &[],
            one_of_relationships: false,
        }),
        update: update(&ORDER_UPDATE),
        delete: false,
    },
    Writes {
        type_name: "authorizations",
        create: Some(Write {
            attributes: &PAYMENT_CREATE,
            required: &["amount_cents", "currency_code"],
            relationships: &["order"],
            one_of_relationships: true,
        }),
        update: update(&COMMON),
        delete: false,
    },
    Writes {
        type_name: "captures",
        create: Some(Write {
            attributes: &PAYMENT_CREATE,
            required: &["amount_cents", "currency_code"],
            relationships: &["authorization"],
            one_of_relationships: true,
        }),
        update: update(&[
            "reference",
            "reference_origin",
            "metadata",
            "_refund",
            "_refund_amount_cents",
        ]),
        delete: false,
    },
    Writes {
        type_name: "attachments",
        create: Some(Write {
            attributes: &ATTACHMENT_ATTRS,
            required: &["name"],
            relationships: &["attachable"],
            one_of_relationships: true,
        }),
        update: update(&ATTACHMENT_ATTRS),
        delete: true,
    },
];

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

/// Maximum depth of `include` paths listed in the enum (the server allows 3).
const INCLUDE_DEPTH: usize = 2;

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

/// The registered types a relationship may point to (one, unless it is polymorphic).
fn rel_targets(rel: &RelDef) -> Vec<&'static ResourceDef> {
    if rel.is_poly() {
        rel.targets.iter().filter_map(|t| lookup(t)).collect()
    } else {
        lookup(rel.target).into_iter().collect()
    }
}

/// The OpenAPI document of the service.
pub fn document(limits: Limits) -> OpenApi {
    let types = resource_types();
    let mut paths = PathsBuilder::new();
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT with Commerce Layer style claims (HS256, RS256 or RS512)",
                    ))
                    .build(),
            ),
        )
        .schemas_from_iter(shared_schemas());
    for (status, description) in ERRORS {
        components = components.response(
            status.to_string(),
            ResponseBuilder::new()
                .description(*description)
                .content(MEDIA_TYPE, content(schema_ref("error_document"))),
        );
    }

    paths = paths
        .path(
            "/health",
            PathItem::new(
                HttpMethod::Get,
                OperationBuilder::new()
                    .tag("service")
                    .operation_id(Some("health"))
                    .summary(Some("Liveness"))
                    .securities(Some(Vec::<SecurityRequirement>::new()))
                    .response(
                        "200",
                        ResponseBuilder::new()
                            .description("The process is up")
                            .content(MEDIA_TYPE, content(schema_ref("health_document"))),
                    ),
            ),
        )
        .path(
            "/ready",
            PathItem::new(
                HttpMethod::Get,
                with_errors(
                    OperationBuilder::new()
                        .tag("service")
                        .operation_id(Some("ready"))
                        .summary(Some("Readiness: the database is reachable and migrated"))
                        .securities(Some(Vec::<SecurityRequirement>::new()))
                        .response(
                            "200",
                            ResponseBuilder::new()
                                .description("Ready")
                                .content(MEDIA_TYPE, content(schema_ref("health_document"))),
                        ),
                    &[503],
                ),
            ),
        )
        .path(
            "/metrics",
            PathItem::new(
                HttpMethod::Get,
                OperationBuilder::new()
                    .tag("service")
                    .operation_id(Some("metrics"))
                    .summary(Some("Prometheus metrics"))
                    .securities(Some(Vec::<SecurityRequirement>::new()))
                    .response(
                        "200",
                        ResponseBuilder::new()
                            .description("The Prometheus text exposition format")
                            .content("text/plain", content(string())),
                    ),
            ),
        )
        .path(
            "/openapi.json",
            PathItem::new(
                HttpMethod::Get,
                OperationBuilder::new()
                    .tag("service")
                    .operation_id(Some("openapi"))
                    .summary(Some("This document"))
                    .securities(Some(Vec::<SecurityRequirement>::new()))
                    .response(
                        "200",
                        ResponseBuilder::new()
                            .description("The OpenAPI 3.1 description of the API")
                            .content(
                                "application/json",
                                content(ObjectBuilder::new().schema_type(Type::Object)),
                            ),
                    ),
            ),
        );

    for def in &types {
        let t = def.type_name;
        components = components.schemas_from_iter(type_schemas(def));
        let writes = WRITES.iter().find(|w| w.type_name == t);

        // The collection.
        let mut item = PathItemBuilder::new().operation(
            HttpMethod::Get,
            read_op(
                t,
                format!("list_{t}"),
                format!("List {t}"),
                collection_params(def, limits),
                "A page of the collection",
                schema_ref(&format!("{t}_collection")),
            ),
        );
        if let Some(create) = writes.and_then(|w| w.create.as_ref()) {
            components = components.schema(
                format!("{t}_create_request"),
                request_schema(def, create, false),
            );
            item = item.operation(HttpMethod::Post, create_op(t));
        }
        paths = paths.path(format!("/api/{t}"), item.build());

        // One resource.
        let mut item = PathItemBuilder::new().operation(
            HttpMethod::Get,
            read_op(
                t,
                format!("show_{t}"),
                format!("Retrieve one of {t}"),
                [id_param()].into_iter().chain(single_params(def)).collect(),
                "The resource",
                schema_ref(&format!("{t}_document")),
            ),
        );
        if let Some(upd) = writes.and_then(|w| w.update.as_ref()) {
            components = components.schema(
                format!("{t}_update_request"),
                request_schema(def, upd, true),
            );
            item = item.operation(HttpMethod::Patch, update_op(t));
        }
        match writes {
            Some(w) if w.delete => item = item.operation(HttpMethod::Delete, delete_op(t)),
            // The contract: money that moved stays on record.
            Some(w) if w.type_name == "refunds" => {
                item = item.operation(HttpMethod::Delete, no_delete_op(t))
            }
            _ => {}
        }
        paths = paths.path(format!("/api/{t}/{{id}}"), item.build());

        // Relationships whose target is served.
        for rel in def.relationships {
            let targets = rel_targets(rel);
            let Some(&target) = targets.first() else {
                continue;
            };
            let n = rel.name;
            let (related_params, related_schema, linkage_params, linkage_schema) = if rel.is_poly()
            {
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
                    linkage_params(target, limits),
                    "to_many_linkage_document".to_owned(),
                )
            } else {
                (
                    single_params(target),
                    format!("{}_optional_document", target.type_name),
                    Vec::new(),
                    "to_one_linkage_document".to_owned(),
                )
            };
            paths = paths
                .path(
                    format!("/api/{t}/{{id}}/{n}"),
                    PathItem::new(
                        HttpMethod::Get,
                        read_op(
                            t,
                            format!("{t}_{n}"),
                            format!("The {n} of one of {t}"),
                            [id_param()].into_iter().chain(related_params).collect(),
                            related_description(rel),
                            schema_ref(&related_schema),
                        ),
                    ),
                )
                .path(
                    format!("/api/{t}/{{id}}/relationships/{n}"),
                    PathItem::new(
                        HttpMethod::Get,
                        read_op(
                            t,
                            format!("{t}_relationships_{n}"),
                            format!("The linkage of {n} of one of {t}"),
                            [id_param()].into_iter().chain(linkage_params).collect(),
                            "Resource linkage only",
                            schema_ref(&linkage_schema),
                        ),
                    ),
                );
        }

        // Flow's look-up by the client's key.
        if t == "refunds" {
            let key = ParameterBuilder::new()
                .name("key")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The client's idempotency key"))
                .schema(Some(string().min_length(Some(1))))
                .build();
            paths = paths.path(
                "/api/refunds/by_key/{key}",
                PathItem::new(
                    HttpMethod::Get,
                    read_op(
                        t,
                        "refund_by_key".to_owned(),
                        "Retrieve a refund by its key".to_owned(),
                        [key].into_iter().chain(single_params(def)).collect(),
                        "The refund (404 when the key is unknown)",
                        schema_ref("refunds_document"),
                    ),
                ),
            );
        }
    }

    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Refunds API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A JSON:API refunds service (Commerce Layer's `refunds` resource with Flow's \
                     refund operations). Generated from the service's resource descriptions.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .security(Some([SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]))
        .tags(Some(
            std::iter::once(TagBuilder::new().name("service").build()).chain(
                types
                    .iter()
                    .map(|d| TagBuilder::new().name(d.type_name).build()),
            ),
        ))
        .build()
}

/// Error responses (components/responses), by status.
const ERRORS: &[(u16, &str)] = &[
    (
        400,
        "Bad request: an unknown parameter or a malformed body or value",
    ),
    (
        401,
        "Missing, malformed or invalid token, or a token that may not do this",
    ),
    (404, "No such record visible to the token"),
    (405, "The method is not supported on this resource"),
    (406, "Accept allows only parameterized JSON:API media types"),
    (408, "The request body was not received in time"),
    (
        409,
        "Type mismatch or an idempotency key reused with another body",
    ),
    (413, "The request body is too large"),
    (
        415,
        "The request body is not sent as application/vnd.api+json",
    ),
    (422, "Validation error or insufficient funds"),
    (429, "Too many requests"),
    (500, "Internal server error"),
    (503, "The database is unreachable"),
];

const READ_ERRORS: &[u16] = &[400, 401, 404, 406, 429, 500, 503];
const WRITE_ERRORS: &[u16] = &[400, 401, 404, 406, 408, 409, 413, 415, 422, 429, 500, 503];

fn schema_ref(name: &str) -> Ref {
    Ref::from_schema_name(name)
}

fn content(schema: impl Into<RefOr<Schema>>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

fn with_errors(mut op: OperationBuilder, statuses: &[u16]) -> OperationBuilder {
    for status in statuses {
        op = op.response(
            status.to_string(),
            Ref::from_response_name(status.to_string()),
        );
    }
    op
}

fn read_op(
    tag: &str,
    id: String,
    summary: String,
    params: Vec<Parameter>,
    description: &str,
    ok: Ref,
) -> Operation {
    let op = OperationBuilder::new()
        .tag(tag)
        .operation_id(Some(id))
        .summary(Some(summary))
        .parameters(Some(params))
        .response(
            "200",
            ResponseBuilder::new()
                .description(description)
                .content(MEDIA_TYPE, content(ok)),
        );
    with_errors(op, READ_ERRORS).build()
}

fn request_body(name: String) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .content(MEDIA_TYPE, content(schema_ref(&name)))
        .build()
}

fn create_op(t: &str) -> Operation {
    let doc = || content(schema_ref(&format!("{t}_document")));
    let mut op = OperationBuilder::new()
        .tag(t)
        .operation_id(Some(format!("create_{t}")))
        .summary(Some(format!("Create one of {t}")))
        .request_body(Some(request_body(format!("{t}_create_request"))))
        .response(
            "201",
            ResponseBuilder::new()
                .description("Created")
                .header(
                    "Location",
                    HeaderBuilder::new()
                        .schema(string().format(Some(SchemaFormat::Custom("uri".into()))))
                        .description(Some("The URL of the new resource"))
                        .build(),
                )
                .content(MEDIA_TYPE, doc()),
        );
    if t == "refunds" {
        op = op
            .parameter(
                ParameterBuilder::new()
                    .name("Idempotency-Key")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some("Used as the key when the `key` attribute is absent"))
                    .schema(Some(
                        string()
                            .min_length(Some(1))
                            .max_length(Some(255))
                            .pattern(Some("^[\\x21-\\x7e]+$")),
                    ))
                    .build(),
            )
            .response(
                "200",
                ResponseBuilder::new()
                    .description("An idempotent replay: the refund stored under this key")
                    .content(MEDIA_TYPE, doc()),
            );
    }
    with_errors(op, WRITE_ERRORS).build()
}

fn update_op(t: &str) -> Operation {
    let op = OperationBuilder::new()
        .tag(t)
        .operation_id(Some(format!("update_{t}")))
        .summary(Some(format!("Update one of {t}")))
        .parameter(id_param())
        .request_body(Some(request_body(format!("{t}_update_request"))))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The updated resource")
                .content(MEDIA_TYPE, content(schema_ref(&format!("{t}_document")))),
        );
    with_errors(op, WRITE_ERRORS).build()
}

fn delete_op(t: &str) -> Operation {
    let op = OperationBuilder::new()
        .tag(t)
        .operation_id(Some(format!("delete_{t}")))
        .summary(Some(format!("Delete one of {t}")))
        .parameter(id_param())
        .response("204", ResponseBuilder::new().description("Deleted"));
    with_errors(op, &[400, 401, 404, 406, 429, 500, 503]).build()
}

fn no_delete_op(t: &str) -> Operation {
    let op = OperationBuilder::new()
        .tag(t)
        .operation_id(Some(format!("delete_{t}")))
        .summary(Some(format!("Not supported: {t} stay on record")))
        .parameter(id_param());
    with_errors(op, &[401, 405, 429]).build()
}

fn related_description(rel: &RelDef) -> &'static str {
    if rel.to_many {
        "A page of the related collection"
    } else {
        "The related resource, or `data: null`"
    }
}

/// `additionalProperties: false`.
fn closed() -> AdditionalProperties<Schema> {
    AdditionalProperties::FreeForm(false)
}

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn nullable(t: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]))
}

fn query(
    name: impl Into<String>,
    description: &str,
    schema: impl Into<RefOr<Schema>>,
) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
}

fn id_param() -> Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("The resource's id"))
        .schema(Some(string().min_length(Some(1))))
        .build()
}

/// A comma-separated list of values from `items` (`style: form`, `explode: false`).
fn list_param(name: impl Into<String>, description: &str, items: Vec<String>) -> Parameter {
    let schema = ArrayBuilder::new()
        .items(string().enum_values(Some(items)))
        .min_items(Some(1))
        .unique_items(true);
    query(name, description, schema)
        .style(Some(ParameterStyle::Form))
        .explode(Some(false))
        .build()
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
fn shape_params(def: &'static ResourceDef) -> Vec<Parameter> {
    let (paths, mut reached) = include_paths(def);
    let mut out = Vec::new();
    if !paths.is_empty() {
        out.push(list_param(
            "include",
            "Related resources to include (dotted paths allowed, at most 3 deep)",
            paths,
        ));
    }
    reached.insert(def.type_name);
    let mut types: Vec<&str> = vec![def.type_name];
    types.extend(reached.into_iter().filter(|t| *t != def.type_name));
    out.extend(types.into_iter().filter_map(lookup).map(fields_param));
    out
}

/// `fields[<type>]` of `def`: its rendered attributes and its relationships.
fn fields_param(def: &ResourceDef) -> Parameter {
    let t = def.type_name;
    let fields: Vec<String> = def
        .attributes
        .iter()
        .filter(|a| a.rendered)
        .map(|a| a.name.to_owned())
        .chain(def.relationships.iter().map(|r| r.name.to_owned()))
        .collect();
    list_param(
        format!("fields[{t}]"),
        &format!("Sparse fieldset of {t}"),
        fields,
    )
}

fn single_params(def: &'static ResourceDef) -> Vec<Parameter> {
    shape_params(def)
}

/// Paging, sorting and filtering of a collection of `def`.
fn page_filter_sort(def: &'static ResourceDef, limits: Limits) -> Vec<Parameter> {
    let mut out = vec![
        query(
            "page[number]",
            "Page number (default 1)",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(u32::MAX))
                .default(Some(json!(1))),
        )
        .build(),
        query(
            "page[size]",
            "Page size",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(limits.page_size_max))
                .default(Some(json!(limits.page_size_default))),
        )
        .build(),
    ];
    let fields = crate::jsonapi::query::sortable_fields(def).count();
    let sortable: Vec<String> = crate::jsonapi::query::sortable_fields(def)
        .flat_map(|a| [a.name.to_owned(), format!("-{}", a.name)])
        .collect();
    let default = if def.default_sort.is_empty() {
        String::new()
    } else {
        format!("default `{}`; ", def.default_sort)
    };
    let schema = ArrayBuilder::new()
        .items(string().enum_values(Some(sortable)))
        .min_items(Some(1))
        .max_items(Some(fields))
        .unique_items(true);
    out.push(
        query(
            "sort",
            &format!(
                "Sort fields, `-` for descending, each field at most once ({default}`id` breaks ties)"
            ),
            schema,
        )
        .style(Some(ParameterStyle::Form))
        .explode(Some(false))
        .build(),
    );
    out.push(filter_param(def));
    out
}

fn collection_params(def: &'static ResourceDef, limits: Limits) -> Vec<Parameter> {
    let mut out = page_filter_sort(def, limits);
    out.extend(shape_params(def));
    out
}

fn linkage_params(def: &'static ResourceDef, limits: Limits) -> Vec<Parameter> {
    page_filter_sort(def, limits)
}

/// `filter[q][<field>_<predicate>]`: one deepObject parameter listing the filterable
/// fields of `def` with the predicates of their kind.
fn filter_param(def: &'static ResourceDef) -> Parameter {
    query(
        "filter[q]",
        "Ransack-style filters `filter[q][<field>_<predicate>]=<value>`, ANDed. The grammar \
         also has `_or_` between fields, relationship paths (`order_number_eq`), the `_any`/`_all` \
         list forms and `not_*`, `*_or_null`, `matches`, `blank` predicates; list values are \
         comma-separated.",
        schema_ref(&format!("{}_filter", def.type_name)),
    )
    .style(Some(ParameterStyle::DeepObject))
    .explode(Some(true))
    .build()
}

/// The properties of `filter[q]` on `def`: its filterable fields with the predicates of
/// their kind.
fn filter_schema(def: &'static ResourceDef) -> ObjectBuilder {
    let mut schema = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(closed()));
    let fields = std::iter::once(&ID).chain(def.attributes.iter().filter(|a| a.filterable));
    for attr in fields {
        for pred in predicates(attr.kind) {
            schema = schema.property(
                format!("{}_{pred}", attr.name),
                filter_value(attr.kind, pred),
            );
        }
    }
    schema
}

fn filter_value(kind: AttrKind, pred: &str) -> ObjectBuilder {
    let flag = || ObjectBuilder::new().schema_type(Type::Boolean);
    match (kind, pred) {
        (_, "null" | "present" | "true" | "false") => flag(),
        (AttrKind::Int, "in") => string().pattern(Some("^-?[0-9]+(,-?[0-9]+)*$")),
        (AttrKind::Int, _) => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
        (AttrKind::Bool, _) => flag(),
        (AttrKind::Time, _) => {
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        }
        (AttrKind::Json, _) => string()
            .content_media_type("application/json")
            .description(Some("A JSON value the field must contain")),
        (_, "in") => string()
            .min_length(Some(1))
            .description(Some("Comma-separated values")),
        _ => string().min_length(Some(1)),
    }
}

/// The JSON type of an attribute of `kind` in a resource object.
fn attribute_schema(kind: AttrKind) -> ObjectBuilder {
    match kind {
        AttrKind::Text => nullable(Type::String),
        AttrKind::Int => nullable(Type::Integer),
        AttrKind::Bool => nullable(Type::Boolean),
        AttrKind::Time => {
            nullable(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        }
        AttrKind::Json => ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some("A JSON value")),
        AttrKind::Derived => ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some("Derived, read-only"))
            .read_only(Some(true)),
    }
}

/// The schema of a write attribute: the resource's own kind, or a trigger's.
fn write_attribute_schema(def: &ResourceDef, name: &str) -> ObjectBuilder {
    if let Some((_, kind, description)) = TRIGGERS.iter().find(|(n, _, _)| *n == name) {
        let schema = match kind {
            AttrKind::Int => ObjectBuilder::new().schema_type(Type::Integer),
            _ => ObjectBuilder::new().schema_type(Type::Boolean),
        };
        return schema.description(Some(*description));
    }
    if NON_EMPTY.contains(&(def.type_name, name)) {
        return string()
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some("\\S"))
            .description(Some("A non-empty string"));
    }
    let kind = def.attr(name).map_or(AttrKind::Text, |a| a.kind);
    match kind {
        AttrKind::Int => ObjectBuilder::new().schema_type(Type::Integer),
        AttrKind::Bool => ObjectBuilder::new().schema_type(Type::Boolean),
        AttrKind::Json => ObjectBuilder::new().schema_type(Type::Object),
        AttrKind::Time => string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        // Text, and attributes that are rendered derived (gateway fields on payments).
        _ if name == "currency_code" => string()
            .pattern(Some("^[A-Z]{3}$"))
            .description(Some("ISO 4217")),
        _ => nullable(Type::String).max_length(Some(255)),
    }
}

/// `{type, id}` with `type` one of `types`.
fn identifier_schema(types: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("type", string().enum_values(Some(types.to_vec())))
        .property("id", string().min_length(Some(1)))
        .required("type")
        .required("id")
}

/// The body of a POST (`with_id: false`) or PATCH of `def`.
fn request_schema(def: &ResourceDef, write: &Write, with_id: bool) -> ObjectBuilder {
    let mut attributes = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(closed()));
    for name in write.attributes {
        attributes = attributes.property(*name, write_attribute_schema(def, name));
    }
    for name in write.required {
        attributes = attributes.required(*name);
    }
    let mut data = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("type", string().enum_values(Some([def.type_name])))
        .required("type");
    if with_id {
        data = data
            .property("id", string().min_length(Some(1)))
            .required("id");
    }
    data = data.property("attributes", attributes);
    if !write.required.is_empty() {
        data = data.required("attributes");
    }
    if !write.relationships.is_empty() {
        let mut rels = ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(closed()))
            .description(Some(if write.one_of_relationships {
                "Exactly one of these relationships"
            } else {
                "Relationships"
            }));
        for name in write.relationships {
            let types: Vec<&str> = def
                .rel(name)
                .map(|r| rel_targets(r).iter().map(|d| d.type_name).collect())
                .unwrap_or_default();
            rels = rels.property(
                *name,
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("data", identifier_schema(&types))
                    .required("data"),
            );
        }
        if write.one_of_relationships {
            rels = rels.min_properties(Some(1)).max_properties(Some(1));
        }
        data = data.property("relationships", rels);
        if write.one_of_relationships {
            data = data.required("relationships");
        }
    }
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("data", data)
        .required("data")
}

/// The resource object, documents and collection of one type.
fn type_schemas(def: &'static ResourceDef) -> Vec<(String, RefOr<Schema>)> {
    let t = def.type_name;
    let mut attributes = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(closed()));
    for attr in def.attributes.iter().filter(|a| a.rendered) {
        attributes = attributes.property(attr.name, attribute_schema(attr.kind));
    }
    let mut relationships = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(closed()));
    let mut poly = Vec::new();
    for rel in def.relationships {
        let name = if rel.is_poly() {
            poly.extend(poly_schemas(def, rel));
            format!("{t}_{}_relationship", rel.name)
        } else if rel.to_many {
            "to_many_relationship".to_owned()
        } else {
            "to_one_relationship".to_owned()
        };
        relationships = relationships.property(rel.name, schema_ref(&name));
    }
    let resource = ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(format!("{t} resource object")))
        .property("id", string())
        .property("type", string().enum_values(Some([t])))
        .property("links", schema_ref("self_links"))
        .property("attributes", attributes)
        .property("relationships", relationships)
        .property("meta", schema_ref("resource_meta"))
        .required("id")
        .required("type")
        .additional_properties(Some(closed()));
    let resource_ref = || schema_ref(&format!("{t}_resource"));
    let document = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("data", resource_ref())
        .property("included", schema_ref("included"))
        .property("links", schema_ref("self_links"))
        .required("data");
    let optional = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "data",
            AnyOfBuilder::new()
                .item(resource_ref())
                .item(ObjectBuilder::new().schema_type(Type::Null)),
        )
        .property("included", schema_ref("included"))
        .property("links", schema_ref("self_links"))
        .required("data");
    let collection = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("data", ArrayBuilder::new().items(resource_ref()))
        .property("included", schema_ref("included"))
        .property("meta", schema_ref("collection_meta"))
        .property("links", schema_ref("pagination_links"))
        .required("data")
        .required("meta")
        .required("links");
    let mut schemas = vec![
        (format!("{t}_resource"), resource.into()),
        (format!("{t}_document"), document.into()),
        (format!("{t}_optional_document"), optional.into()),
        (format!("{t}_collection"), collection.into()),
        (format!("{t}_filter"), filter_schema(def).into()),
    ];
    schemas.extend(poly);
    schemas
}

/// The schemas of a polymorphic to-one relationship `rel` of `def`: its identifier (a type
/// among the allowed ones), its member in the resource object, its linkage document and
/// its related document (`oneOf` the allowed types' documents, or `data: null`).
fn poly_schemas(def: &ResourceDef, rel: &RelDef) -> Vec<(String, RefOr<Schema>)> {
    let prefix = format!("{}_{}", def.type_name, rel.name);
    let targets = rel_targets(rel);
    let types: Vec<&str> = targets.iter().map(|d| d.type_name).collect();
    let nullable_identifier = || {
        AnyOfBuilder::new()
            .item(schema_ref(&format!("{prefix}_identifier")))
            .item(ObjectBuilder::new().schema_type(Type::Null))
    };
    let identifier = identifier_schema(&types).title(Some(format!("{prefix} identifier")));
    let member = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("links", schema_ref("relationship_links"))
        .property("data", nullable_identifier())
        .required("links");
    let linkage = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("data", nullable_identifier())
        .property("links", schema_ref("relationship_links"))
        .required("data");
    let mut related = OneOfBuilder::new().description(Some(format!(
        "The related resource, one of {}, or `data: null`",
        types.join(", ")
    )));
    for t in &types {
        related = related.item(schema_ref(&format!("{t}_document")));
    }
    related = related.item(schema_ref("null_document"));
    vec![
        (format!("{prefix}_identifier"), identifier.into()),
        (format!("{prefix}_relationship"), member.into()),
        (format!("{prefix}_linkage_document"), linkage.into()),
        (format!("{prefix}_related_document"), related.into()),
    ]
}

/// Schemas every type shares: links, meta, linkage, errors.
fn shared_schemas() -> Vec<(String, RefOr<Schema>)> {
    let url = || string().format(Some(SchemaFormat::Custom("uri".into())));
    let identifier = || {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("type", string())
            .property("id", string())
            .required("type")
            .required("id")
    };
    let nullable_identifier = || {
        AnyOfBuilder::new()
            .item(schema_ref("resource_identifier"))
            .item(ObjectBuilder::new().schema_type(Type::Null))
    };
    let relationship_links = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("self", url())
        .property("related", url())
        .required("self")
        .required("related");
    let error = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("title", string())
        .property("detail", string())
        .property("code", string())
        .property("status", string().pattern(Some("^[1-5][0-9][0-9]$")))
        .property(
            "source",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("pointer", string())
                .property("parameter", string()),
        )
        .property("meta", ObjectBuilder::new().schema_type(Type::Object))
        .required("title")
        .required("detail")
        .required("code")
        .required("status");
    let schemas: Vec<(&str, RefOr<Schema>)> = vec![
        ("resource_identifier", identifier().into()),
        (
            "self_links",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("self", url())
                .required("self")
                .into(),
        ),
        ("relationship_links", relationship_links.into()),
        (
            "to_one_relationship",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("links", schema_ref("relationship_links"))
                .property("data", nullable_identifier())
                .required("links")
                .into(),
        ),
        (
            "to_many_relationship",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("links", schema_ref("relationship_links"))
                .property(
                    "data",
                    ArrayBuilder::new().items(schema_ref("resource_identifier")),
                )
                .required("links")
                .into(),
        ),
        (
            "resource_meta",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("mode", string().enum_values(Some(["test", "live"])))
                .property("organization_id", string())
                .into(),
        ),
        (
            "resource_object",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .title(Some("Any resource object"))
                .property("type", string())
                .property("id", string())
                .property("attributes", ObjectBuilder::new().schema_type(Type::Object))
                .property(
                    "relationships",
                    ObjectBuilder::new().schema_type(Type::Object),
                )
                .property("links", schema_ref("self_links"))
                .property("meta", schema_ref("resource_meta"))
                .required("type")
                .required("id")
                .into(),
        ),
        (
            "included",
            ArrayBuilder::new()
                .items(schema_ref("resource_object"))
                .into(),
        ),
        (
            "collection_meta",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "record_count",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .property(
                    "page_count",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(0)),
                )
                .required("record_count")
                .required("page_count")
                .into(),
        ),
        (
            "pagination_links",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("first", url())
                .property("prev", url())
                .property("next", url())
                .property("last", url())
                .required("first")
                .required("last")
                .into(),
        ),
        (
            "null_document",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .title(Some("An empty to-one relationship"))
                .property("data", ObjectBuilder::new().schema_type(Type::Null))
                .property("included", schema_ref("included"))
                .property("links", schema_ref("self_links"))
                .required("data")
                .into(),
        ),
        (
            "to_one_linkage_document",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("data", nullable_identifier())
                .property("links", schema_ref("relationship_links"))
                .required("data")
                .into(),
        ),
        (
            "to_many_linkage_document",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "data",
                    ArrayBuilder::new().items(schema_ref("resource_identifier")),
                )
                .property("meta", schema_ref("collection_meta"))
                .property(
                    "links",
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("self", url())
                        .property("related", url())
                        .property("first", url())
                        .property("prev", url())
                        .property("next", url())
                        .property("last", url()),
                )
                .required("data")
                .into(),
        ),
        (
            "error_document",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "errors",
                    ArrayBuilder::new().items(error).min_items(Some(1)),
                )
                .required("errors")
                .into(),
        ),
        (
            "health_document",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "meta",
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .property("status", string()),
                )
                .required("meta")
                .into(),
        ),
    ];
    schemas
        .into_iter()
        .map(|(n, s)| (n.to_owned(), s))
        .collect()
}
