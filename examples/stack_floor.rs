//! The stack's floor, for `scripts/bench-read.sh` with `BENCH_FLOOR=1`: what a request
//! costs on the fixed crates alone (actix-web, `web::block`, r2d2, diesel's `PgConnection`)
//! when the handler loads the same rows as the service and then answers with a document
//! rendered beforehand. No query parsing, no auth, no JSON:API engine, no rendering:
//! the service's own cost is the difference.
//!
//! Settings: the service's own (`DATABASE_URL`, a postgres:// one; `REFUNDS_BIND`,
//! `REFUNDS_WORKERS`, `REFUNDS_POOL_SIZE`), and `FLOOR_ORGANIZATION_ID` and `FLOOR_MODE`
//! (test): the tenant read; `FLOOR_FIRST_BODY`, `FLOOR_RETRIEVE_BODY`: files with the
//! bodies to answer.
//!
//! `GET /first`: the first page (25 rows, `-created_at`, with the maintained count), the
//! statement the service sends.
//! `GET /retrieve/{id}`: one refund by id, as the service selects it.

use ::refunds::db::counts::total;
use ::refunds::db::schema::refunds;
use ::refunds::engine::sql::limited;
use ::refunds::resources::refunds::ShownRow;
use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool};

// The service's allocator, so that the difference is the service's own work.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

struct Floor {
    pool: Pool<ConnectionManager<PgConnection>>,
    organization_id: String,
    mode: String,
    first: web::Bytes,
    retrieve: web::Bytes,
}

fn env(name: &str, default: Option<&str>) -> String {
    std::env::var(name)
        .ok()
        .or(default.map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} is not set"))
}

fn body(name: &str) -> web::Bytes {
    let path = env(name, None);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{name} {path}: {e}"))
        .into()
}

/// Loads the rows on the blocking pool, as the service does; `id`: a retrieve.
async fn rows(floor: web::Data<Floor>, id: Option<String>) -> actix_web::Result<usize> {
    let n = web::block(
        move || -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
            let mut conn = floor.pool.get()?;
            let scoped = refunds::table
                .filter(refunds::organization_id.eq(&floor.organization_id))
                .filter(refunds::mode.eq(&floor.mode))
                .select(ShownRow::as_select());
            Ok(match id {
                Some(id) => scoped
                    .filter(refunds::id.eq(id))
                    .order(refunds::id.asc())
                    .load::<ShownRow>(&mut conn)?
                    .len(),
                None => {
                    // With the maintained count beside the rows, as the service selects them.
                    let total = total(&floor.organization_id, &floor.mode, "refunds");
                    let page = scoped
                        .select((ShownRow::as_select(), total))
                        .order((refunds::created_at.desc(), refunds::id.asc()));
                    limited(page, Some(25))
                        .load::<(ShownRow, Option<i64>)>(&mut conn)?
                        .len()
                }
            })
        },
    )
    .await?
    .map_err(actix_web::error::ErrorInternalServerError)?;
    Ok(n)
}

async fn first(floor: web::Data<Floor>) -> actix_web::Result<HttpResponse> {
    let body = floor.first.clone();
    rows(floor, None).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.api+json")
        .body(body))
}

async fn retrieve(
    floor: web::Data<Floor>,
    id: web::Path<String>,
) -> actix_web::Result<HttpResponse> {
    let body = floor.retrieve.clone();
    if rows(floor, Some(id.into_inner())).await? == 0 {
        return Ok(HttpResponse::NotFound().finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.api+json")
        .body(body))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let settings = ::refunds::config::Settings::load().expect("settings");
    let pool = Pool::builder()
        .max_size(settings.pool_size)
        .test_on_check_out(false)
        .build(ConnectionManager::new(&settings.database_url))
        .expect("database pool");
    let floor = web::Data::new(Floor {
        pool,
        organization_id: env("FLOOR_ORGANIZATION_ID", None),
        mode: env("FLOOR_MODE", Some("test")),
        first: body("FLOOR_FIRST_BODY"),
        retrieve: body("FLOOR_RETRIEVE_BODY"),
    });
    HttpServer::new(move || {
        App::new()
            .app_data(floor.clone())
            .route("/first", web::get().to(first))
            .route("/retrieve/{id}", web::get().to(retrieve))
            .route("/health", web::get().to(HttpResponse::Ok))
    })
    .workers(settings.workers)
    .bind(&settings.bind)?
    .run()
    .await
}
