//! The payment gateway a refund is executed through, and the built-in `test` gateway.

use crate::ids::new_id;

/// What the gateway is asked to refund.
pub struct GatewayRefund<'a> {
    pub amount_cents: i64,
    pub currency_code: &'a str,
}

/// What the gateway answered.
#[derive(Debug, Clone)]
pub struct GatewayAnswer {
    pub succeeded: bool,
    pub message: String,
    pub error_code: Option<String>,
    pub error_detail: Option<String>,
    pub token: Option<String>,
    pub gateway_transaction_id: Option<String>,
}

/// A payment gateway. Calls happen inside the refund's transaction, so an implementation
/// must answer promptly (the lock on the order is held meanwhile).
pub trait Gateway: Send + Sync {
    fn refund(&self, refund: &GatewayRefund) -> GatewayAnswer;
}

/// Accepts every refund except amounts whose last two digits are `13`.
pub struct TestGateway;

impl Gateway for TestGateway {
    fn refund(&self, refund: &GatewayRefund) -> GatewayAnswer {
        if refund.amount_cents % 100 == 13 {
            GatewayAnswer {
                succeeded: false,
                message: "Declined".into(),
                error_code: Some("card_declined".into()),
                error_detail: Some(format!(
                    "The test gateway declines amounts ending in 13 ({} {})",
                    refund.amount_cents, refund.currency_code
                )),
                token: None,
                gateway_transaction_id: None,
            }
        } else {
            GatewayAnswer {
                succeeded: true,
                message: "Refunded".into(),
                error_code: None,
                error_detail: None,
                token: Some(format!("tok_{}", new_id())),
                gateway_transaction_id: Some(format!("gw_{}", new_id())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declines_amounts_ending_in_13() {
        let ask = |amount_cents| {
            TestGateway.refund(&GatewayRefund {
                amount_cents,
                currency_code: "EUR",
            })
        };
        assert!(!ask(1013).succeeded);
        assert_eq!(ask(13).error_code.as_deref(), Some("card_declined"));
        assert!(ask(1014).succeeded);
        assert!(ask(1300).succeeded);
    }
}
