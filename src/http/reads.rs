//! The read handlers of every resource type: collection, resource, related, relationship
//! linkage, a refund by key; and what writes share with them (a connection, the answer).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::db::DbConnection;
use crate::engine::includes::{self, default_sort};
use crate::engine::{field_in, ListQuery, Resource};
use crate::error::{ApiError, ApiResult, Code};
use crate::http::AppState;
use crate::jsonapi::document::{Linked, Pagination, Record, Renderer};
use crate::jsonapi::query::{self, Limits, Params, Shape};
use crate::jsonapi::resource::{RelDef, ResourceDef};
use crate::jsonapi::MEDIA_TYPE;
use crate::resources::{lookup, resource};

/// `405` with an error document.
pub async fn method_not_allowed(req: HttpRequest) -> ApiResult<HttpResponse> {
    Err(ApiError::new(
        Code::MethodNotAllowed,
        format!("{} is not allowed on {}", req.method(), req.path()),
    ))
}

/// A `200` JSON:API document, already serialized.
pub fn document(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok().content_type(MEDIA_TYPE).body(body)
}

/// Absolute URLs of this request: `{base}/api` and the request's own path.
pub struct Urls {
    pub api: String,
    pub current: String,
}

impl Urls {
    pub fn of(req: &HttpRequest, state: &AppState) -> Self {
        let settings = &state.settings;
        let base = if settings.public_url.is_empty() {
            let (scheme, host) = origin(req, settings.trust_forwarded_headers);
            format!("{scheme}://{}", host.as_deref().unwrap_or(&settings.bind))
        } else {
            settings.public_url.trim_end_matches('/').to_owned()
        };
        Self {
            api: format!("{base}/api"),
            current: format!("{base}{}", req.path()),
        }
    }
}

/// The scheme and host this request was addressed to. `Forwarded` and `X-Forwarded-*`
/// count only behind a proxy that sets them (`trust_forwarded_headers`): from anyone else
/// they would let a client write the links of the documents it is served. Whatever the
/// source, only `http`/`https` and a plain `host[:port]` are used.
fn origin(req: &HttpRequest, trust_forwarded: bool) -> (&'static str, Option<String>) {
    let direct = || {
        req.headers()
            .get(actix_web::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .filter(|h| is_host(h))
            .map(str::to_owned)
    };
    if !trust_forwarded {
        return ("http", direct());
    }
    let info = req.connection_info();
    let scheme = if info.scheme().eq_ignore_ascii_case("https") {
        "https"
    } else {
        "http"
    };
    let host = Some(info.host())
        .filter(|h| is_host(h))
        .map(str::to_owned)
        .or_else(direct);
    (scheme, host)
}

/// A hostname, IPv4 or bracketed IPv6 address, with an optional port: nothing that could
/// end the authority of a URL early or start a path, query or user name.
fn is_host(s: &str) -> bool {
    // A colon inside brackets belongs to an IPv6 address, not a port.
    let (host, port) = match s.rsplit_once(':') {
        Some((h, _)) if h.contains(':') && !h.ends_with(']') => (s, None),
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    };
    port_ok && host_ok
}

/// Runs a unit of database work on a pooled connection off the async executor.
///
/// The answer always waits for the work: a write that has not finished could still commit,
/// so answering early would be a lie. Time is bounded where the work happens instead: the
/// wait for a thread and a connection (`pool_timeout_ms`, both together), each statement
/// (`request_timeout_ms`, PostgreSQL's `statement_timeout`) and lock waits (SQLite's busy
/// timeout); each answers 503.
pub async fn with_conn<T: Send + 'static>(
    state: &web::Data<AppState>,
    work: impl FnOnce(&mut DbConnection) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let pool = state.pool.clone();
    let (queued, wait) = (
        std::time::Instant::now(),
        std::time::Duration::from_millis(state.settings.pool_timeout_ms),
    );
    web::block(move || {
        // The server keeps one blocking thread per pooled connection, so time spent
        // queued for a thread is time spent waiting for a connection: the same bound applies.
        let left = wait
            .checked_sub(queued.elapsed())
            .ok_or_else(|| ApiError::unavailable("no database connection became free in time"))?;
        let mut conn = pool.get_timeout(left)?;
        let result = work(&mut conn);
        // A server-side failure may have left the connection unusable (a lost server):
        // the pool drops it and checks the others before their next use.
        if result.as_ref().is_err_and(|e| e.status().is_server_error()) {
            conn.suspect = true;
        }
        result
    })
    .await?
}

/// Answers a write with the resource's document (`201` adds `Location`).
pub async fn respond_with(
    req: &HttpRequest,
    state: &web::Data<AppState>,
    auth: Auth,
    type_name: &str,
    id: String,
    status: actix_web::http::StatusCode,
) -> ApiResult<HttpResponse> {
    let kind = readable_kind(type_name, &auth)?;
    let params = params(req, state, kind.def(), Shape::Single)?;
    let urls = Urls::of(req, state);
    let location = format!("{}/{}/{}", urls.api, kind.def().type_name, id);
    let self_link = location.clone();
    let doc = with_conn(state, move |conn| {
        let record = find_one(conn, kind, &auth, &id)?;
        let (primary, included) =
            includes::load(conn, &auth.scope, vec![record], &params.include, resource)?;
        let renderer = Renderer {
            api_base: &urls.api,
            fields: &params.fields,
        };
        Ok(renderer.single(primary.first(), &included, &self_link))
    })
    .await?;
    let mut resp = HttpResponse::build(status);
    if status == actix_web::http::StatusCode::CREATED {
        resp.insert_header((actix_web::http::header::LOCATION, location));
    }
    Ok(resp.content_type(MEDIA_TYPE).body(doc))
}

fn kind(type_name: &str) -> ApiResult<&'static dyn Resource> {
    resource(type_name).ok_or_else(|| ApiError::not_found(type_name))
}

/// `kind`, when the token may read it: webhooks and their callbacks (which hold and show
/// the shared secret) only to admin integration tokens, `401` to any other. Only those
/// two types link to each other, so checking the requested type covers relationships
/// and includes too.
fn readable_kind(type_name: &str, auth: &Auth) -> ApiResult<&'static dyn Resource> {
    let c = &auth.claims;
    if !crate::resources::webhooks::readable_by(type_name, &c.application.kind, c.role.as_deref()) {
        return Err(ApiError::new(
            Code::Unauthorized,
            format!("Only admin integration tokens may access {type_name}"),
        ));
    }
    kind(type_name)
}

fn relationship(def: &'static ResourceDef, rel: &str) -> ApiResult<&'static RelDef> {
    def.rel(rel).ok_or_else(|| {
        ApiError::new(
            Code::RecordNotFound,
            format!("{} has no relationship `{rel}`", def.type_name),
        )
    })
}

fn params(
    req: &HttpRequest,
    state: &AppState,
    def: &'static ResourceDef,
    shape: Shape,
) -> ApiResult<Params> {
    query::parse(
        req.query_string(),
        def,
        lookup,
        shape,
        Limits {
            default_size: state.settings.page_size_default,
            max_size: state.settings.page_size_max,
            filter_values_max: state.settings.filter_values_max,
            filter_value_max_bytes: state.settings.filter_value_max_bytes,
        },
    )
}

/// The resource type a relationship of record `id` points to: its fixed target, or for a
/// polymorphic one the type the row names (the first allowed type when it is empty).
/// `404` when the record is not visible.
async fn target_of(
    state: &web::Data<AppState>,
    auth: &Auth,
    kind: &'static dyn Resource,
    id: &str,
    rel: &'static RelDef,
) -> ApiResult<&'static dyn Resource> {
    if !rel.is_poly() {
        return self::kind(rel.target);
    }
    let (auth, id) = (auth.clone(), id.to_owned());
    let type_name = with_conn(state, move |conn| {
        let parent = find_one(conn, kind, &auth, &id)?;
        Ok(parent.target(rel).map(|(t, _)| t))
    })
    .await?;
    self::kind(type_name.unwrap_or(rel.targets[0]))
}

/// The one visible record `id` of `kind`, or `404`.
fn find_one(
    conn: &mut DbConnection,
    kind: &dyn Resource,
    auth: &Auth,
    id: &str,
) -> ApiResult<Record> {
    kind.find(conn, &auth.scope, vec![id.to_owned()])?
        .pop()
        .ok_or_else(|| ApiError::not_found(kind.def().type_name))
}

/// A page of `kind` matching the request, with `extra` conditions (a parent), rendered.
fn collection(
    conn: &mut DbConnection,
    kind: &dyn Resource,
    auth: &Auth,
    params: &Params,
    extra: Option<crate::jsonapi::filter::Condition>,
) -> ApiResult<(Vec<Linked>, Vec<Linked>, i64)> {
    let mut filters = params.filters.clone();
    filters.extend(extra);
    let sort = if params.sort.is_empty() {
        default_sort(kind.def())
    } else {
        params.sort.clone()
    };
    let (records, count) = kind.list(
        conn,
        &ListQuery {
            scope: &auth.scope,
            filters: &filters,
            sort: &sort,
            page: Some(params.page),
            count: true,
        },
    )?;
    let (primary, included) =
        includes::load(conn, &auth.scope, records, &params.include, resource)?;
    Ok((primary, included, count.unwrap_or(0)))
}

pub async fn list(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let kind = readable_kind(&path, &auth)?;
    let params = params(&req, &state, kind.def(), Shape::Collection)?;
    let urls = Urls::of(&req, &state);
    let doc = with_conn(&state, move |conn| {
        let (primary, included, count) = collection(conn, kind, &auth, &params, None)?;
        let renderer = Renderer {
            api_base: &urls.api,
            fields: &params.fields,
        };
        Ok(renderer.collection(
            &primary,
            &included,
            &Pagination {
                url: &urls.current,
                pairs: &params.pairs,
                page: params.page,
                record_count: count,
            },
        ))
    })
    .await?;
    Ok(document(doc))
}

pub async fn show(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (type_name, id) = path.into_inner();
    let kind = readable_kind(&type_name, &auth)?;
    let params = params(&req, &state, kind.def(), Shape::Single)?;
    let urls = Urls::of(&req, &state);
    let doc = with_conn(&state, move |conn| {
        let record = find_one(conn, kind, &auth, &id)?;
        let (primary, included) =
            includes::load(conn, &auth.scope, vec![record], &params.include, resource)?;
        let renderer = Renderer {
            api_base: &urls.api,
            fields: &params.fields,
        };
        Ok(renderer.single(primary.first(), &included, &urls.current))
    })
    .await?;
    Ok(document(doc))
}

/// Flow's look-up of a refund by the client's idempotency key.
pub async fn refund_by_key(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let key = path.into_inner();
    let kind = self::kind("refunds")?;
    let params = params(&req, &state, kind.def(), Shape::Single)?;
    let urls = Urls::of(&req, &state);
    let doc = with_conn(&state, move |conn| {
        let records = kind.find_by(conn, &auth.scope, "key", vec![key])?;
        if records.is_empty() {
            return Err(ApiError::not_found("refunds"));
        }
        let (primary, included) =
            includes::load(conn, &auth.scope, records, &params.include, resource)?;
        let renderer = Renderer {
            api_base: &urls.api,
            fields: &params.fields,
        };
        Ok(renderer.single(primary.first(), &included, &urls.current))
    })
    .await?;
    Ok(document(doc))
}

/// What the two relationship routes share: the parent's type, the relationship, the type it
/// points to, and the query parameters read for that type.
struct RelationshipRequest {
    kind: &'static dyn Resource,
    id: String,
    rel: &'static RelDef,
    target: &'static dyn Resource,
    params: Params,
    urls: Urls,
}

impl RelationshipRequest {
    async fn of(
        req: &HttpRequest,
        state: &web::Data<AppState>,
        auth: &Auth,
        path: web::Path<(String, String, String)>,
    ) -> ApiResult<Self> {
        let (type_name, id, rel_name) = path.into_inner();
        let kind = readable_kind(&type_name, auth)?;
        let rel = relationship(kind.def(), &rel_name)?;
        let target = target_of(state, auth, kind, &id, rel).await?;
        let shape = if rel.to_many {
            Shape::Collection
        } else {
            Shape::Single
        };
        let params = params(req, state, target.def(), shape)?;
        let urls = Urls::of(req, state);
        Ok(Self {
            kind,
            id,
            rel,
            target,
            params,
            urls,
        })
    }

    /// A page of the parent's children (to-many), rendered with `params`.
    fn children(
        &self,
        conn: &mut DbConnection,
        auth: &Auth,
        parent: &Record,
        params: &Params,
    ) -> ApiResult<(Vec<Linked>, Vec<Linked>, i64)> {
        let extra = field_in(self.target.def(), self.rel.inverse, vec![parent.id.clone()]);
        collection(conn, self.target, auth, params, Some(extra))
    }

    /// The visible record a to-one relationship points to, if any.
    fn to_one(
        &self,
        conn: &mut DbConnection,
        auth: &Auth,
        parent: &Record,
    ) -> ApiResult<Vec<Record>> {
        match parent.target(self.rel) {
            Some((_, tid)) => self.target.find(conn, &auth.scope, vec![tid.to_owned()]),
            None => Ok(vec![]),
        }
    }

    fn pagination<'a>(&'a self, record_count: i64) -> Pagination<'a> {
        Pagination {
            url: &self.urls.current,
            pairs: &self.params.pairs,
            page: self.params.page,
            record_count,
        }
    }
}

/// Runs `render` with a relationship request's visible parent record and a renderer.
async fn with_parent(
    state: &web::Data<AppState>,
    auth: Auth,
    r: RelationshipRequest,
    render: impl FnOnce(
            &mut DbConnection,
            &Auth,
            &RelationshipRequest,
            Record,
            Renderer,
        ) -> ApiResult<Vec<u8>>
        + Send
        + 'static,
) -> ApiResult<Vec<u8>> {
    with_conn(state, move |conn| {
        let parent = find_one(conn, r.kind, &auth, &r.id)?;
        let renderer = Renderer {
            api_base: &r.urls.api,
            fields: &r.params.fields,
        };
        render(conn, &auth, &r, parent, renderer)
    })
    .await
}

pub async fn related(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let r = RelationshipRequest::of(&req, &state, &auth, path).await?;
    let doc = with_parent(&state, auth, r, |conn, auth, r, parent, renderer| {
        if r.rel.to_many {
            let (primary, included, count) = r.children(conn, auth, &parent, &r.params)?;
            return Ok(renderer.collection(&primary, &included, &r.pagination(count)));
        }
        let records = r.to_one(conn, auth, &parent)?;
        let (primary, included) =
            includes::load(conn, &auth.scope, records, &r.params.include, resource)?;
        Ok(renderer.single(primary.first(), &included, &r.urls.current))
    })
    .await?;
    Ok(document(doc))
}

pub async fn linkage(
    req: HttpRequest,
    auth: Auth,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let r = RelationshipRequest::of(&req, &state, &auth, path).await?;
    let doc = with_parent(&state, auth, r, |conn, auth, r, parent, renderer| {
        let links = renderer.relationship_links(r.kind.def().type_name, &parent.id, r.rel.name);
        if r.rel.to_many {
            // Linkage only: nothing is included.
            let no_includes = Params {
                include: Default::default(),
                ..r.params.clone()
            };
            let (primary, _, count) = r.children(conn, auth, &parent, &no_includes)?;
            let pagination = r.pagination(count);
            let mut all_links = pagination.links();
            all_links["self"] = links["self"].clone();
            all_links["related"] = links["related"].clone();
            return Ok(json!({
                "data": primary.iter().map(|l| l.record.identifier()).collect::<Vec<_>>(),
                "meta": pagination.meta(),
                "links": all_links,
            })
            .to_string()
            .into_bytes());
        }
        let data = r
            .to_one(conn, auth, &parent)?
            .first()
            .map_or(Value::Null, Record::identifier);
        Ok(json!({ "data": data, "links": links })
            .to_string()
            .into_bytes())
    })
    .await?;
    Ok(document(doc))
}
