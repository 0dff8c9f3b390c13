//! The `stripe` gateway against a real emulator (localstripe), and against broken PSPs: one
//! answering 500, one that never answers and a port with nothing listening.

use std::time::Duration;

use refunds::gateways::stripe::Stripe;
use refunds::gateways::{Gateway, Outcome, Part};

use crate::broken_psp::{closed_port, failing_psp, silent_psp};
use crate::localstripe::LocalStripe;

const TIMEOUT: Duration = Duration::from_secs(10);

fn part<'a>(refund_capture_id: &'a str, payment_id: &'a str, amount_cents: i64) -> Part<'a> {
    Part {
        refund_id: "refund_1",
        refund_capture_id,
        amount_cents,
        currency_code: "EUR",
        payment_id: Some(payment_id),
        psp_refund_id: None,
    }
}

fn gateway(ls: &LocalStripe) -> Stripe {
    Stripe::new(&ls.url(), &ls.secret_key()).expect("stripe")
}

fn succeeded(outcome: Outcome) -> String {
    match outcome {
        Outcome::Succeeded { psp_refund_id } => psp_refund_id,
        other => panic!("not succeeded: {other:?}"),
    }
}

#[test]
fn stripe_refunds_a_charge_with_its_metadata() {
    let ls = LocalStripe::start();
    let g = gateway(&ls);
    let charge = ls.charge(2500, "eur");
    let id = succeeded(g.refund(&part("rc_a", &charge, 2500), TIMEOUT));
    assert!(id.starts_with("re_"), "{id}");
    assert_eq!(ls.amount_refunded(&charge), 2500);
    let refunds = ls.refunds_of_charge(&charge);
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0]["id"], id.as_str());
    assert_eq!(refunds[0]["amount"], 2500);
    assert_eq!(refunds[0]["metadata"]["refund_capture_id"], "rc_a");
    assert_eq!(refunds[0]["metadata"]["refund_id"], "refund_1");
}

#[test]
fn stripe_refunds_a_payment_intent_in_parts() {
    let ls = LocalStripe::start();
    let g = gateway(&ls);
    let intent = ls.payment_intent(4000, "eur");
    succeeded(g.refund(&part("rc_1", &intent, 1500), TIMEOUT));
    succeeded(g.refund(&part("rc_2", &intent, 1000), TIMEOUT));
    let charge = ls.charge_of(&intent);
    assert_eq!(ls.amount_refunded(&charge), 2500);
    let refunds = ls.refunds_of_charge(&charge);
    assert_eq!(refunds.len(), 2);
    assert!(refunds
        .iter()
        .all(|r| r["payment_intent"] == intent.as_str()));
}

#[test]
fn stripe_finds_a_refund_by_its_metadata_and_by_its_id() {
    let ls = LocalStripe::start();
    let g = gateway(&ls);
    let charge = ls.charge(1000, "eur");
    let intent = ls.payment_intent(1000, "eur");
    assert_eq!(g.find(&part("rc_1", &charge, 300), TIMEOUT), Ok(None));
    assert_eq!(g.find(&part("rc_1", &intent, 300), TIMEOUT), Ok(None));

    let id = succeeded(g.refund(&part("rc_1", &charge, 300), TIMEOUT));
    succeeded(g.refund(&part("rc_2", &charge, 200), TIMEOUT));
    let by_pi = succeeded(g.refund(&part("rc_1", &intent, 400), TIMEOUT));
    let found = Some(Outcome::Succeeded {
        psp_refund_id: id.clone(),
    });
    assert_eq!(
        g.find(&part("rc_1", &charge, 300), TIMEOUT),
        Ok(found.clone())
    );
    assert_eq!(g.find(&part("rc_3", &charge, 300), TIMEOUT), Ok(None));
    assert_eq!(
        g.find(&part("rc_1", &intent, 400), TIMEOUT),
        Ok(Some(Outcome::Succeeded {
            psp_refund_id: by_pi
        }))
    );

    // By id, whatever the metadata.
    let known = Part {
        psp_refund_id: Some(&id),
        ..part("other", &charge, 300)
    };
    assert_eq!(g.find(&known, TIMEOUT), Ok(found));
    let unknown = Part {
        psp_refund_id: Some("re_unknown"),
        ..part("rc_1", &charge, 300)
    };
    assert_eq!(g.find(&unknown, TIMEOUT), Ok(None));
}

#[test]
fn stripe_finds_a_refund_past_the_first_page() {
    let ls = LocalStripe::start();
    let g = gateway(&ls);
    let charge = ls.charge(100_000, "eur");
    for i in 0..105 {
        let rc = format!("rc_{i}");
        ls.post(
            "/v1/refunds",
            &[
                ("charge", &charge),
                ("amount", "1"),
                ("metadata[refund_capture_id]", &rc),
            ],
        );
    }
    let refunds = ls.refunds_of_charge(&charge);
    assert_eq!(refunds.len(), 105);
    // The last one listed is on the second page of 100.
    let last = &refunds[104];
    let rc = last["metadata"]["refund_capture_id"].as_str().expect("rc");
    assert_eq!(
        g.find(&part(rc, &charge, 1), TIMEOUT),
        Ok(Some(Outcome::Succeeded {
            psp_refund_id: last["id"].as_str().expect("id").to_owned()
        }))
    );
    assert_eq!(g.find(&part("rc_none", &charge, 1), TIMEOUT), Ok(None));
}

#[test]
fn stripe_fails_a_refund_it_refuses() {
    let ls = LocalStripe::start();
    let g = gateway(&ls);
    // localstripe answers 404 with an error of type invalid_request_error.
    match g.refund(&part("rc_1", "ch_unknown", 100), TIMEOUT) {
        Outcome::Failed {
            psp_refund_id: None,
            code,
            message,
        } => {
            assert_eq!(code, "invalid_request_error");
            assert!(!message.is_empty());
        }
        other => panic!("not failed: {other:?}"),
    }
    // Not a Stripe payment: no call at all.
    assert!(matches!(
        g.refund(&part("rc_1", "py_1", 100), TIMEOUT),
        Outcome::Failed { code, .. } if code == "invalid_payment_id"
    ));
}

#[test]
fn stripe_leaves_a_part_pending_when_the_psp_fails() {
    const KEY: &str = "sk_test_never_shown";
    let short = Duration::from_millis(500);
    for base in [failing_psp(), silent_psp(), closed_port()] {
        let g = Stripe::new(&base, KEY).expect("stripe");
        match g.refund(&part("rc_1", "ch_1", 100), short) {
            Outcome::Pending {
                psp_refund_id: None,
                reason,
            } => assert!(!reason.contains(KEY), "{reason}"),
            other => panic!("{base}: not pending: {other:?}"),
        }
        let found = g.find(&part("rc_1", "ch_1", 100), short);
        assert!(
            matches!(&found, Err(reason) if !reason.contains(KEY)),
            "{base}: {found:?}"
        );
        let by_id = Part {
            psp_refund_id: Some("re_1"),
            ..part("rc_1", "pi_1", 100)
        };
        assert!(g.find(&by_id, short).is_err(), "{base}");
    }
}
