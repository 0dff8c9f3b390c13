//! The `stripe` gateway: Stripe's REST refunds API (form-encoded, `Idempotency-Key`), and
//! the verification of the events Stripe sends (`events`).
//!
//! A refund that may have happened at Stripe is never reported as failed: only a 4xx
//! (Stripe refused it, so nothing moved) or a refund object that says so fails a part.
//! Everything the client cannot be sure of (5xx, time-outs, refused connections, bodies it
//! cannot read) leaves the part pending for the reconciler, which looks the refund up by
//! its metadata before calling again.

mod events;

pub use events::{parse_event, verify_signature, Notified};

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Gateway, Outcome, Part};

/// The largest answer read: a page of 100 refunds is some 60 KiB.
const BODY_LIMIT: u64 = 4 * 1024 * 1024;

/// Pages of refunds read before a lookup gives up (10 000 refunds of one payment).
const MAX_PAGES: usize = 100;

/// A Stripe account, reached at `base` (without `/v1`) with a secret key.
pub struct Stripe {
    base: String,
    /// `Bearer <secret key>`, ready for the `Authorization` header.
    authorization: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Stripe {
    // The secret key is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe").field("base", &self.base).finish()
    }
}

impl Stripe {
    pub fn new(base: &str, key: &str) -> Result<Self, String> {
        let base = base.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(format!(
                "the Stripe API base `{base}` is not an http(s) URL"
            ));
        }
        // A key with a line break or other control character would break the header;
        // the message does not repeat it.
        if key.is_empty() || key.chars().any(|c| c.is_control() || c == ' ') {
            return Err("the Stripe secret key is empty or malformed".into());
        }
        // No redirects (a refund must not be replayed elsewhere) and any status is an
        // answer; the time-out is set per request.
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent("refunds-stripe")
            .build()
            .into();
        Ok(Self {
            base: base.to_owned(),
            authorization: format!("Bearer {key}"),
            agent,
        })
    }

    /// One `GET` with what is left of `deadline`: the status and the body, or why there
    /// was no answer.
    fn get(&self, url: &str, deadline: Instant) -> Result<(u16, String), String> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("the Stripe lookup ran out of time".into());
        }
        let sent = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(left))
            .build()
            .header("Authorization", &self.authorization)
            .call();
        read(sent)
    }

    /// Looks a refund up by its id; `Ok(None)` when Stripe has no such refund.
    fn retrieve(&self, id: &str, deadline: Instant) -> Result<Option<Outcome>, String> {
        let url = format!("{}/v1/refunds/{}", self.base, path_segment(id));
        let (status, body) = self.get(&url, deadline)?;
        match status {
            200..=299 => refund_outcome(&json(&body)?).map(Some),
            404 => Ok(None),
            _ => Err(unexpected(status, &body)),
        }
    }

    /// Lists the refunds of the payment page by page and picks the one made for
    /// `part.refund_capture_id`. One that did not fail is preferred: a PSP ignoring
    /// idempotency keys may hold a failed attempt beside the one that went through.
    fn search(&self, part: &Part, deadline: Instant) -> Result<Option<Outcome>, String> {
        // No valid payment id: no refund was ever asked for.
        let Ok((field, payment)) = target(part.payment_id) else {
            return Ok(None);
        };
        let mut failed = None;
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query
                .append_pair(field, payment)
                .append_pair("limit", "100");
            if let Some(last) = &after {
                query.append_pair("starting_after", last);
            }
            let url = format!("{}/v1/refunds?{}", self.base, query.finish());
            let (status, body) = self.get(&url, deadline)?;
            if !(200..300).contains(&status) {
                return Err(unexpected(status, &body));
            }
            let page = json(&body)?;
            let data = page["data"]
                .as_array()
                .ok_or("Stripe's list of refunds has no `data`")?;
            for refund in data {
                if refund["metadata"]["refund_capture_id"].as_str() != Some(part.refund_capture_id)
                {
                    continue;
                }
                match refund_outcome(refund)? {
                    found @ Outcome::Failed { .. } => failed = failed.or(Some(found)),
                    found => return Ok(Some(found)),
                }
            }
            let last = data.last().and_then(|r| r["id"].as_str());
            match last {
                // A page that does not move on would loop for ever.
                Some(last) if page["has_more"] == true && after.as_deref() != Some(last) => {
                    after = Some(last.to_owned());
                }
                _ => return Ok(failed),
            }
        }
        Err(format!(
            "more than {MAX_PAGES} pages of refunds for {payment}"
        ))
    }
}

impl Gateway for Stripe {
    fn refund(&self, part: &Part, timeout: Duration) -> Outcome {
        let (field, payment) = match target(part.payment_id) {
            Ok(t) => t,
            Err(failed) => return failed,
        };
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair(field, payment)
            .append_pair("amount", &part.amount_cents.to_string())
            .append_pair("metadata[refund_id]", part.refund_id)
            .append_pair("metadata[refund_capture_id]", part.refund_capture_id)
            .finish();
        let sent = self
            .agent
            .post(format!("{}/v1/refunds", self.base))
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Authorization", &self.authorization)
            .header("Idempotency-Key", part.refund_capture_id)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(body);
        match read(sent) {
            Ok((status, body)) => answer(status, &body),
            Err(reason) => pending(reason),
        }
    }

    fn find(&self, part: &Part, timeout: Duration) -> Result<Option<Outcome>, String> {
        let deadline = Instant::now() + timeout;
        match part.psp_refund_id {
            Some(id) => self.retrieve(id, deadline),
            None => self.search(part, deadline),
        }
    }
}

/// The form field and id naming the payment to refund, or the part's failure.
fn target(payment_id: Option<&str>) -> Result<(&'static str, &str), Outcome> {
    match payment_id {
        Some(id) if id.starts_with("ch_") => Ok(("charge", id)),
        Some(id) if id.starts_with("pi_") => Ok(("payment_intent", id)),
        other => Err(Outcome::Failed {
            psp_refund_id: None,
            code: "invalid_payment_id".into(),
            message: format!(
                "a Stripe refund needs a charge (ch_…) or PaymentIntent (pi_…) id, not {}",
                other.map_or_else(|| "none".to_owned(), |id| format!("`{id}`"))
            ),
        }),
    }
}

/// The status and body of an answer, or why there was none (network, time-out).
fn read(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, String), String> {
    let mut resp = sent.map_err(|e| match e {
        ureq::Error::Timeout(_) => "Stripe did not answer within the time-out".to_owned(),
        e => format!("Stripe could not be reached: {e}"),
    })?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(BODY_LIMIT)
        .lossy_utf8(true)
        .read_to_string()
        .map_err(|e| format!("Stripe's answer ({status}) could not be read: {e}"))?;
    Ok((status, body))
}

/// What a refund request's answer means for the part.
fn answer(status: u16, body: &str) -> Outcome {
    match status {
        200..=299 => match json(body).and_then(|v| refund_outcome(&v)) {
            Ok(outcome) => outcome,
            // The refund may have been made: the reconciler finds out.
            Err(reason) => pending(reason),
        },
        // A request timed out, one with the same key still running, or a rate limit:
        // nothing refused, try again later.
        408 | 409 | 429 => pending(unexpected(status, body)),
        400..=499 => {
            let error = serde_json::from_str::<Value>(body).unwrap_or_default();
            let error = &error["error"];
            let code = error["code"]
                .as_str()
                .or_else(|| error["type"].as_str())
                .map_or_else(|| format!("http_{status}"), str::to_owned);
            let message = error["message"]
                .as_str()
                .map_or_else(|| format!("Stripe answered {status}"), str::to_owned);
            Outcome::Failed {
                psp_refund_id: None,
                code,
                message,
            }
        }
        _ => pending(unexpected(status, body)),
    }
}

/// Where a Stripe refund object says the refund stands.
pub(crate) fn refund_outcome(refund: &Value) -> Result<Outcome, String> {
    let id = refund["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or("the Stripe refund has no id")?
        .to_owned();
    let status = refund["status"]
        .as_str()
        .ok_or_else(|| format!("the Stripe refund {id} has no status"))?;
    Ok(match status {
        "succeeded" => Outcome::Succeeded { psp_refund_id: id },
        "failed" | "canceled" => {
            let reason = refund["failure_reason"].as_str();
            Outcome::Failed {
                message: format!(
                    "the Stripe refund {id} is {status}{}",
                    reason.map_or_else(String::new, |r| format!(": {r}"))
                ),
                code: reason.unwrap_or("refund_failed").to_owned(),
                psp_refund_id: Some(id),
            }
        }
        other => Outcome::Pending {
            reason: format!("the Stripe refund {id} is {other}"),
            psp_refund_id: Some(id),
        },
    })
}

fn pending(reason: String) -> Outcome {
    Outcome::Pending {
        psp_refund_id: None,
        reason,
    }
}

fn json(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|e| format!("Stripe's answer is not JSON: {e}"))
}

/// An answer that says nothing certain, with Stripe's message when it has one.
fn unexpected(status: u16, body: &str) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect());
    format!("Stripe answered {status}: {message}")
}

/// `id` as one URL path segment: unreserved characters kept, the rest percent-encoded.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_payment_id_names_the_field() {
        assert_eq!(target(Some("ch_1")), Ok(("charge", "ch_1")));
        assert_eq!(target(Some("pi_1")), Ok(("payment_intent", "pi_1")));
        for bad in [None, Some("py_1"), Some("")] {
            assert!(
                matches!(target(bad), Err(Outcome::Failed { code, .. }) if code == "invalid_payment_id")
            );
        }
    }

    #[test]
    fn refund_objects_map_to_outcomes() {
        let r = |status: &str| json!({"id": "re_1", "status": status});
        assert_eq!(
            refund_outcome(&r("succeeded")),
            Ok(Outcome::Succeeded {
                psp_refund_id: "re_1".into()
            })
        );
        assert!(matches!(
            refund_outcome(&json!({"id": "re_1", "status": "failed", "failure_reason": "lost_or_stolen_card"})),
            Ok(Outcome::Failed { code, psp_refund_id: Some(_), .. }) if code == "lost_or_stolen_card"
        ));
        assert!(matches!(
            refund_outcome(&r("canceled")),
            Ok(Outcome::Failed { code, .. }) if code == "refund_failed"
        ));
        for status in ["pending", "requires_action", "something_new"] {
            assert!(matches!(
                refund_outcome(&r(status)),
                Ok(Outcome::Pending { psp_refund_id: Some(id), .. }) if id == "re_1"
            ));
        }
        assert!(refund_outcome(&json!({"status": "succeeded"})).is_err());
        assert!(refund_outcome(&json!({"id": "re_1"})).is_err());
    }

    #[test]
    fn answers_map_to_outcomes() {
        let ok = r#"{"id": "re_1", "status": "succeeded"}"#;
        assert!(matches!(answer(200, ok), Outcome::Succeeded { .. }));
        assert!(matches!(answer(200, "<html>"), Outcome::Pending { .. }));
        let refused = r#"{"error": {"type": "invalid_request_error", "code": "charge_already_refunded", "message": "Already refunded"}}"#;
        assert_eq!(
            answer(400, refused),
            Outcome::Failed {
                psp_refund_id: None,
                code: "charge_already_refunded".into(),
                message: "Already refunded".into()
            }
        );
        let typed = r#"{"error": {"type": "invalid_request_error", "message": "Not Found"}}"#;
        assert!(
            matches!(answer(404, typed), Outcome::Failed { code, .. } if code == "invalid_request_error")
        );
        assert!(matches!(answer(403, "no"), Outcome::Failed { code, .. } if code == "http_403"));
        for status in [408, 409, 429, 500, 502, 503, 302] {
            assert!(
                matches!(answer(status, refused), Outcome::Pending { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn the_key_stays_out_of_debug_and_errors() {
        let s = Stripe::new("http://127.0.0.1:1/", "sk_test_secret").expect("stripe");
        assert_eq!(format!("{s:?}"), r#"Stripe { base: "http://127.0.0.1:1" }"#);
        let e = Stripe::new("http://x", "sk_test_bad\nkey").expect_err("malformed");
        assert!(!e.contains("sk_test"), "{e}");
        assert!(Stripe::new("ftp://x", "sk_test_1").is_err());
        assert!(Stripe::new("http://x", "").is_err());
    }

    #[test]
    fn ids_are_escaped_in_paths() {
        assert_eq!(path_segment("re_1Ab-2.~"), "re_1Ab-2.~");
        assert_eq!(path_segment("re/../x?y"), "re%2F..%2Fx%3Fy");
    }
}
