//! Payment gateways: where a refund's parts are executed. Each part (one refund_capture)
//! is refunded by the gateway of the capture it draws on, idempotently by its id.
//!
//! Nothing here touches the database: the ledger reserves before and settles after, so no
//! transaction or lock is ever held while a payment service provider is called.

pub mod built_in;
pub mod stripe;

use std::time::Duration;

use crate::config::Settings;

/// The names a capture's `gateway` may take.
pub const NAMES: [&str; 2] = ["test", "stripe"];

/// One refund part, as a gateway is asked to execute or look it up.
#[derive(Debug, Clone)]
pub struct Part<'a> {
    pub refund_id: &'a str,
    /// The refund_capture's id: the idempotency key at the PSP and its metadata.
    pub refund_capture_id: &'a str,
    pub amount_cents: i64,
    pub currency_code: &'a str,
    /// The PSP's id of the captured payment (Stripe: `ch_…` or `pi_…`).
    pub payment_id: Option<&'a str>,
    /// The PSP's id of this part's refund, once one is known (a pending one).
    pub psp_refund_id: Option<&'a str>,
}

/// Where a part stands at its gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The money went back; `psp_refund_id` is the PSP's refund.
    Succeeded { psp_refund_id: String },
    /// The PSP refused the refund: nothing moved.
    Failed {
        psp_refund_id: Option<String>,
        code: String,
        message: String,
    },
    /// Not known yet: the PSP said so, or could not be reached, timed out or failed.
    Pending {
        psp_refund_id: Option<String>,
        reason: String,
    },
}

/// A payment gateway.
pub trait Gateway: Send + Sync {
    /// Asks the PSP to refund `part`, answering within `timeout`. A PSP that cannot be
    /// reached in time, or fails on its side, leaves the part `Pending`.
    fn refund(&self, part: &Part, timeout: Duration) -> Outcome;

    /// The PSP's refund of `part`, looked up before the reconciler calls again: `Ok(None)`
    /// when the PSP made none, `Err` when it cannot tell now.
    fn find(&self, part: &Part, timeout: Duration) -> Result<Option<Outcome>, String>;
}

/// The gateways this process can use.
pub struct Gateways {
    test: built_in::TestGateway,
    stripe: Option<stripe::Stripe>,
}

impl Gateways {
    /// `stripe` is available only with a secret key.
    pub fn from_settings(settings: &Settings) -> Result<Self, String> {
        let stripe = (!settings.stripe_secret_key.is_empty())
            .then(|| stripe::Stripe::new(&settings.stripe_api_base, &settings.stripe_secret_key))
            .transpose()?;
        Ok(Self {
            test: built_in::TestGateway,
            stripe,
        })
    }

    /// Only the built-in `test` gateway.
    pub fn test_only() -> Self {
        Self {
            test: built_in::TestGateway,
            stripe: None,
        }
    }

    /// The gateway called `name`, if this process has it.
    pub fn get(&self, name: &str) -> Option<&dyn Gateway> {
        match name {
            "test" => Some(&self.test),
            "stripe" => self.stripe.as_ref().map(|s| s as &dyn Gateway),
            _ => None,
        }
    }
}
