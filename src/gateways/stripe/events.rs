//! The events Stripe sends: the `Stripe-Signature` check and what a refund event says.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::refund_outcome;
use crate::gateways::Outcome;

/// The event types whose `data.object` is a refund.
const REFUND_EVENTS: [&str; 4] = [
    "refund.created",
    "refund.updated",
    "refund.failed",
    "charge.refund.updated",
];

/// Checks a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=<hex>][,v0=…]`): some `v1`
/// must be the HMAC-SHA256 of `"<t>.<body>"` under `secret`, and `t` at most
/// `tolerance_seconds` away from `now_unix`. Other schemes are ignored.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &str,
    now_unix: i64,
    tolerance_seconds: u64,
) -> Result<(), String> {
    // An empty secret would let anyone sign.
    if secret.is_empty() {
        return Err("no webhook secret is configured".into());
    }
    let header = header
        .filter(|h| !h.trim().is_empty())
        .ok_or("the Stripe-Signature header is missing")?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) if timestamp.is_none() => timestamp = Some(t),
            Some(("v1", sig)) => signatures.push(sig),
            _ => {}
        }
    }
    let t = timestamp.ok_or("the Stripe-Signature header has no timestamp (t=)")?;
    let t_unix: i64 = t
        .parse()
        .map_err(|_| format!("the Stripe-Signature timestamp `{t}` is not a number"))?;
    if signatures.is_empty() {
        return Err("the Stripe-Signature header has no v1 signature".into());
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|e| format!("the webhook secret cannot key an HMAC: {e}"))?;
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let mut bad_hex = false;
    let mut matched = false;
    for sig in signatures {
        match hex::decode(sig) {
            // verify_slice compares in constant time.
            Ok(bytes) => matched |= mac.clone().verify_slice(&bytes).is_ok(),
            Err(_) => bad_hex = true,
        }
    }
    if !matched {
        return Err(if bad_hex {
            "a v1 signature is not hexadecimal and none matches".into()
        } else {
            "no v1 signature matches the body".into()
        });
    }
    let age = now_unix.abs_diff(t_unix);
    if age > tolerance_seconds {
        return Err(format!(
            "the signature's timestamp is {age} s away from now (at most {tolerance_seconds} s)"
        ));
    }
    Ok(())
}

/// What a refund event tells about a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    /// The refund's `metadata[refund_capture_id]`, when it was made by this service.
    pub refund_capture_id: Option<String>,
    pub psp_refund_id: String,
    pub outcome: Outcome,
}

/// Reads a Stripe event: `Some` for a refund event, `None` for the other types.
pub fn parse_event(body: &[u8]) -> Result<Option<Notified>, String> {
    let event: Value =
        serde_json::from_slice(body).map_err(|e| format!("the event is not JSON: {e}"))?;
    let kind = event["type"].as_str().ok_or("the event has no type")?;
    if !REFUND_EVENTS.contains(&kind) {
        return Ok(None);
    }
    let refund = &event["data"]["object"];
    if !refund.is_object() {
        return Err(format!("the {kind} event has no data.object"));
    }
    if let Some(object) = refund["object"].as_str().filter(|o| *o != "refund") {
        return Err(format!("the {kind} event carries a {object}, not a refund"));
    }
    let outcome = refund_outcome(refund)?;
    let psp_refund_id = refund["id"].as_str().unwrap_or_default().to_owned();
    Ok(Some(Notified {
        refund_capture_id: refund["metadata"]["refund_capture_id"]
            .as_str()
            .map(str::to_owned),
        psp_refund_id,
        outcome,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"refund.updated"}"#;
    const NOW: i64 = 1_700_000_000;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn check(header: &str) -> Result<(), String> {
        verify_signature(Some(header), BODY, SECRET, NOW, 300)
    }

    #[test]
    fn a_valid_signature_passes() {
        assert_eq!(
            check(&format!("t={NOW},v1={}", sign(SECRET, NOW, BODY))),
            Ok(())
        );
        // Within the tolerance either way.
        let t = NOW - 300;
        assert_eq!(
            check(&format!("t={t},v1={}", sign(SECRET, t, BODY))),
            Ok(())
        );
        let t = NOW + 200;
        assert_eq!(
            check(&format!("t={t},v1={}", sign(SECRET, t, BODY))),
            Ok(())
        );
    }

    #[test]
    fn a_wrong_secret_or_body_fails() {
        let e = check(&format!("t={NOW},v1={}", sign("whsec_other", NOW, BODY)));
        assert!(e.expect_err("wrong secret").contains("matches"));
        let sig = sign(SECRET, NOW, BODY);
        let other = verify_signature(Some(&format!("t={NOW},v1={sig}")), b"{}", SECRET, NOW, 300);
        assert!(other.is_err());
        // The timestamp is signed too.
        assert!(check(&format!("t={},v1={sig}", NOW + 1)).is_err());
        assert!(verify_signature(Some(&format!("t={NOW},v1={sig}")), BODY, "", NOW, 300).is_err());
    }

    #[test]
    fn a_stale_signature_fails() {
        let t = NOW - 301;
        let e = check(&format!("t={t},v1={}", sign(SECRET, t, BODY)));
        assert!(e.expect_err("stale").contains("301 s"));
    }

    #[test]
    fn a_missing_or_incomplete_header_fails() {
        let sig = sign(SECRET, NOW, BODY);
        assert!(verify_signature(None, BODY, SECRET, NOW, 300)
            .expect_err("missing")
            .contains("missing"));
        assert!(check("").is_err());
        assert!(check(&format!("v1={sig}"))
            .expect_err("no t")
            .contains("timestamp"));
        assert!(check(&format!("t={NOW}"))
            .expect_err("no v1")
            .contains("v1"));
        assert!(check(&format!("t=soon,v1={sig}")).is_err());
        assert!(check(&format!("t={NOW},v1=zz{}", &sig[2..]))
            .expect_err("bad hex")
            .contains("hexadecimal"));
    }

    #[test]
    fn other_schemes_are_ignored_and_any_v1_may_match() {
        let sig = sign(SECRET, NOW, BODY);
        let wrong = sign("whsec_old", NOW, BODY);
        assert_eq!(check(&format!("t={NOW},v1={sig},v0={wrong}")), Ok(()));
        assert_eq!(
            check(&format!("t={NOW}, v0=abc, v1={wrong}, v1={sig}")),
            Ok(())
        );
        // A v0 alone is no signature.
        assert!(check(&format!("t={NOW},v0={sig}")).is_err());
    }

    #[test]
    fn refund_events_are_read() {
        let body = br#"{"id":"evt_1","type":"charge.refund.updated","data":{"object":
            {"id":"re_1","object":"refund","status":"succeeded",
             "metadata":{"refund_capture_id":"rc_1","refund_id":"r_1"}}}}"#;
        assert_eq!(
            parse_event(body),
            Ok(Some(Notified {
                refund_capture_id: Some("rc_1".into()),
                psp_refund_id: "re_1".into(),
                outcome: Outcome::Succeeded {
                    psp_refund_id: "re_1".into()
                },
            }))
        );
        let failed = br#"{"type":"refund.failed","data":{"object":
            {"id":"re_2","object":"refund","status":"failed","failure_reason":"expired_or_canceled_card","metadata":{}}}}"#;
        let n = parse_event(failed).expect("parsed").expect("a refund");
        assert_eq!(n.refund_capture_id, None);
        assert!(
            matches!(n.outcome, Outcome::Failed { code, .. } if code == "expired_or_canceled_card")
        );
        let pending =
            br#"{"type":"refund.updated","data":{"object":{"id":"re_3","status":"pending"}}}"#;
        assert!(matches!(
            parse_event(pending),
            Ok(Some(Notified {
                outcome: Outcome::Pending { .. },
                ..
            }))
        ));
    }

    #[test]
    fn other_events_are_skipped_and_broken_ones_refused() {
        let charge =
            br#"{"type":"charge.succeeded","data":{"object":{"id":"ch_1","object":"charge"}}}"#;
        assert_eq!(parse_event(charge), Ok(None));
        assert!(parse_event(b"not json").is_err());
        assert!(parse_event(br#"{"data":{}}"#).is_err());
        assert!(parse_event(br#"{"type":"refund.updated"}"#).is_err());
        assert!(parse_event(
            br#"{"type":"refund.updated","data":{"object":{"status":"succeeded"}}}"#
        )
        .is_err());
        assert!(parse_event(
            br#"{"type":"refund.updated","data":{"object":{"id":"ch_1","object":"charge","status":"succeeded"}}}"#
        )
        .is_err());
    }
}
