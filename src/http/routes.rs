//! Every route of the service, reads and writes, in one table.

use actix_web::middleware::from_fn;
use actix_web::web;

use super::{edge, flow, negotiate, notifications, openapi, reads, writes};

/// Registers every route: operations at the root, the JSON:API under `/api`, the
/// Flow-compatible refunds API under `/flow`, PSP notifications under `/gateways`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(edge::health))
        .route("/ready", web::get().to(edge::ready))
        .route("/metrics", web::get().to(edge::metrics))
        .route("/openapi.json", web::get().to(openapi::serve))
        .route(
            "/gateways/stripe/events",
            web::post().to(notifications::stripe_events),
        )
        .service(
            web::scope("/api")
                .wrap(from_fn(negotiate))
                .wrap(from_fn(edge::reject_nul_in_path))
                .wrap(from_fn(edge::rate_limit))
                .configure(api),
        )
        .service(
            web::scope("/flow")
                .wrap(from_fn(edge::rate_limit))
                .configure(flow_refunds),
        );
}

/// `/api`: one set of routes for every resource type; which types take which writes is
/// `writes::TABLE`, and the rest answer 405.
fn api(cfg: &mut web::ServiceConfig) {
    // Before the generic routes, which would read `by_key` as an id.
    cfg.service(
        web::resource("/refunds/by_key/{key}")
            .route(web::get().to(reads::refund_by_key))
            .default_service(web::to(reads::method_not_allowed)),
    )
    .service(
        web::resource("/{type}")
            .route(web::get().to(reads::list))
            .route(web::post().to(writes::create))
            .default_service(web::to(reads::method_not_allowed)),
    )
    .service(
        web::resource("/{type}/{id}")
            .route(web::get().to(reads::show))
            .route(web::patch().to(writes::update))
            .route(web::delete().to(writes::destroy))
            .default_service(web::to(reads::method_not_allowed)),
    )
    .service(
        web::resource("/{type}/{id}/relationships/{rel}")
            .route(web::get().to(reads::linkage))
            .default_service(web::to(reads::method_not_allowed)),
    )
    .service(
        web::resource("/{type}/{id}/{rel}")
            .route(web::get().to(reads::related))
            .default_service(web::to(reads::method_not_allowed)),
    );
}

/// `/flow`: Flow's refund operations; the literal `summary` and `versions` win over `{key}`.
fn flow_refunds(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/{organization}/refunds")
            .route(web::get().to(flow::list))
            .route(web::post().to(flow::create))
            .default_service(web::to(flow::method_not_allowed)),
    )
    .service(
        web::resource("/{organization}/refunds/versions")
            .route(web::get().to(flow::versions))
            .default_service(web::to(flow::method_not_allowed)),
    )
    .service(
        web::resource("/{organization}/refunds/summary/{order_number}")
            .route(web::get().to(flow::summary))
            .default_service(web::to(flow::method_not_allowed)),
    )
    .service(
        web::resource("/{organization}/refunds/{key}")
            .route(web::get().to(flow::by_key))
            .default_service(web::to(flow::method_not_allowed)),
    );
}
