//! The built-in `test` gateway: succeeds, declines parts whose amount ends in `13`, and
//! leaves those ending in `14` pending until the next reconciliation finds them succeeded.

use std::time::Duration;

use super::{Gateway, Outcome, Part};
use crate::ids::new_id;

pub struct TestGateway;

impl Gateway for TestGateway {
    fn refund(&self, part: &Part, _timeout: Duration) -> Outcome {
        match part.amount_cents % 100 {
            13 => Outcome::Failed {
                psp_refund_id: None,
                code: "card_declined".into(),
                message: format!(
                    "The test gateway declines amounts ending in 13 ({} {})",
                    part.amount_cents, part.currency_code
                ),
            },
            14 => Outcome::Pending {
                psp_refund_id: Some(psp_id(part)),
                reason: "The test gateway settles amounts ending in 14 at reconciliation".into(),
            },
            _ => Outcome::Succeeded {
                psp_refund_id: format!("gw_{}", new_id()),
            },
        }
    }

    fn find(&self, part: &Part, _timeout: Duration) -> Result<Option<Outcome>, String> {
        // Only the pending path leaves a refund behind to find; the others are made anew.
        Ok((part.amount_cents % 100 == 14).then(|| Outcome::Succeeded {
            psp_refund_id: part
                .psp_refund_id
                .map_or_else(|| psp_id(part), str::to_owned),
        }))
    }
}

fn psp_id(part: &Part) -> String {
    format!("gw_{}", part.refund_capture_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(amount_cents: i64) -> Part<'static> {
        Part {
            refund_id: "r",
            refund_capture_id: "rc",
            amount_cents,
            currency_code: "EUR",
            payment_id: None,
            psp_refund_id: None,
        }
    }

    #[test]
    fn declines_13_pends_14_and_refunds_the_rest() {
        let t = Duration::from_secs(1);
        assert!(
            matches!(TestGateway.refund(&part(1013), t), Outcome::Failed { code, .. } if code == "card_declined")
        );
        assert!(matches!(
            TestGateway.refund(&part(1014), t),
            Outcome::Pending { .. }
        ));
        assert!(matches!(
            TestGateway.refund(&part(1300), t),
            Outcome::Succeeded { .. }
        ));
        assert_eq!(
            TestGateway.find(&part(1014), t),
            Ok(Some(Outcome::Succeeded {
                psp_refund_id: "gw_rc".into()
            }))
        );
        assert_eq!(TestGateway.find(&part(1300), t), Ok(None));
    }
}
