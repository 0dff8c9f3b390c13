//! `POST /gateways/stripe/events`: Stripe's notifications about refunds, authenticated by
//! their signature (no bearer token), settling the part they are about.

use actix_web::{web, HttpRequest, HttpResponse};

use super::reads::with_conn;
use super::writes::body;
use super::AppState;
use crate::error::{ApiError, ApiResult, Code};
use crate::gateways::stripe;
use crate::ledger;

pub async fn stripe_events(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let secret = state.settings.stripe_webhook_secret.to_string();
    if secret.is_empty() {
        return Err(ApiError::new(
            Code::InvalidSignature,
            "Stripe events are not accepted: REFUNDS_STRIPE_WEBHOOK_SECRET is not set",
        ));
    }
    let bytes = body(payload, &state).await?;
    let header = req
        .headers()
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok());
    stripe::verify_signature(
        header,
        &bytes,
        &secret,
        chrono::Utc::now().timestamp(),
        state.settings.stripe_webhook_tolerance_seconds,
    )
    .map_err(|reason| ApiError::new(Code::InvalidSignature, reason))?;
    let event = stripe::parse_event(&bytes).map_err(|reason| {
        ApiError::new(
            Code::InvalidDataFormat,
            format!("Not a Stripe event: {reason}"),
        )
    })?;
    // Other event types, and refunds this service did not make, are acknowledged so that
    // Stripe stops sending them.
    let known = match event {
        None => false,
        Some(n) => {
            with_conn(&state, move |conn| {
                ledger::settle::notified(
                    conn,
                    "stripe",
                    n.refund_capture_id.as_deref(),
                    &n.psp_refund_id,
                    n.outcome,
                )
            })
            .await?
        }
    };
    Ok(HttpResponse::Ok().json(serde_json::json!({ "received": true, "settled": known })))
}
