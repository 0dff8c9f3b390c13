//! The write forms: for each POST and PATCH, the attributes its body may carry (with their
//! type and whether they are required) and the to-one relationships it takes.
//!
//! Declared once, as plain data: the handlers accept exactly [`Form::names`]
//! (`input.attributes.only(FORM.names())`), and `GET /openapi.json` describes the request
//! bodies from the same forms. Which type accepts which write, and which domain function
//! runs it, is the HTTP layer's table (`http::writes::TABLE`).

/// What an attribute of a write body holds (and what the document states about it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string of at most 255 characters, or `null` to clear it.
    Text,
    /// A string of at most 255 characters with a non-space character; never `null`.
    NonEmptyText,
    /// An ISO 4217 code: three capital letters.
    Currency,
    Int,
    Bool,
    /// A JSON object.
    Object,
    /// One of the event names webhooks subscribe to (`resources::webhooks::TOPICS`).
    Topic,
    /// An absolute `http` or `https` URL.
    Url,
    /// An array of strings.
    TextList,
}

/// One attribute a write accepts.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    /// Whether a create must carry it.
    pub required: bool,
    /// Said of attributes that resources do not render (the triggers).
    pub description: Option<&'static str>,
}

impl Field {
    pub const fn new(name: &'static str, kind: Kind) -> Self {
        Self {
            name,
            kind,
            required: false,
            description: None,
        }
    }

    pub const fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    pub const fn described(self, description: &'static str) -> Self {
        Self {
            description: Some(description),
            ..self
        }
    }
}

/// The body of one write: its attributes and its relationships.
#[derive(Debug)]
pub struct Form {
    pub fields: &'static [Field],
    /// The names of `fields`, in order (see [`Form::names`]).
    names: &'static [&'static str],
    /// The relationships of which exactly one must be given (empty: none accepted).
    pub exactly_one_of: &'static [&'static str],
}

impl Form {
    /// The accepted attribute names, for `Attrs::only`.
    pub const fn names(&self) -> &'static [&'static str] {
        self.names
    }

    /// The required attributes.
    pub fn required(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().filter(|f| f.required).map(|f| f.name)
    }
}

/// `form![field, ...; one of [relationship, ...]]`: the names are taken from the fields.
macro_rules! form {
    ($($field:expr),+ $(,)? $(; one of [$($rel:literal),+])?) => {
        Form {
            fields: &[$($field),+],
            names: &[$($field.name),+],
            exactly_one_of: &[$($($rel),+)?],
        }
    };
}

const fn text(name: &'static str) -> Field {
    Field::new(name, Kind::Text)
}
const fn int(name: &'static str) -> Field {
    Field::new(name, Kind::Int)
}
const fn bool(name: &'static str) -> Field {
    Field::new(name, Kind::Bool)
}

const REFERENCE: Field = text("reference");
const REFERENCE_ORIGIN: Field = text("reference_origin");
const METADATA: Field = Field::new("metadata", Kind::Object);
const CURRENCY_CODE: Field = Field::new("currency_code", Kind::Currency);
const AMOUNT_CENTS: Field = int("amount_cents");
const REFUND: Field =
    bool("_refund").described("Creates a refund through the same code path as POST /api/refunds");

/// What a gateway answered, as the client reports it (`payments::GatewayFields`).
const PAYMENT_METHOD_TYPE: Field = text("payment_method_type");
const MESSAGE: Field = text("message");
const ERROR_CODE: Field = text("error_code");
const ERROR_DETAIL: Field = text("error_detail");
const TOKEN: Field = text("token");
const GATEWAY_TRANSACTION_ID: Field = text("gateway_transaction_id");

/// `POST /api/refunds`: exactly one target.
pub static REFUND_CREATE: Form = form![
    AMOUNT_CENTS, CURRENCY_CODE, text("key"), REFERENCE, REFERENCE_ORIGIN, METADATA;
    one of ["reference_capture", "authorization", "order"]
];

/// `PATCH /api/refunds/{id}`.
pub static REFUND_UPDATE: Form = form![
    REFERENCE,
    REFERENCE_ORIGIN,
    METADATA,
    bool("succeeded"),
    bool("_forward").described("Marks a failed or pending refund as succeeded"),
];

/// `POST /api/orders`.
pub static ORDER_CREATE: Form = form![
    text("number").required(),
    CURRENCY_CODE.required(),
    text("customer_email"),
    text("customer_id"),
    text("market_id"),
    int("total_amount_cents").required(),
    int("shipping_amount_cents"),
    REFERENCE,
    REFERENCE_ORIGIN,
    METADATA,
];

/// `PATCH /api/orders/{id}`: the create's attributes, none required, and `_refund`.
pub static ORDER_UPDATE: Form = form![
    text("number"),
    CURRENCY_CODE,
    text("customer_email"),
    text("customer_id"),
    text("market_id"),
    int("total_amount_cents"),
    int("shipping_amount_cents"),
    REFERENCE,
    REFERENCE_ORIGIN,
    METADATA,
    REFUND,
];

/// `POST /api/authorizations`: of an order.
pub static AUTHORIZATION_CREATE: Form = form![
    AMOUNT_CENTS.required(), CURRENCY_CODE.required(), bool("succeeded"),
    REFERENCE, REFERENCE_ORIGIN, METADATA,
    PAYMENT_METHOD_TYPE, MESSAGE, ERROR_CODE, ERROR_DETAIL, TOKEN, GATEWAY_TRANSACTION_ID;
    one of ["order"]
];

/// `PATCH /api/authorizations/{id}`.
pub static AUTHORIZATION_UPDATE: Form = form![REFERENCE, REFERENCE_ORIGIN, METADATA];

/// `POST /api/captures`: of an authorization.
pub static CAPTURE_CREATE: Form = form![
    AMOUNT_CENTS.required(), CURRENCY_CODE.required(), bool("succeeded"),
    REFERENCE, REFERENCE_ORIGIN, METADATA,
    PAYMENT_METHOD_TYPE, MESSAGE, ERROR_CODE, ERROR_DETAIL, TOKEN, GATEWAY_TRANSACTION_ID,
    text("gateway");
    one of ["authorization"]
];

/// `PATCH /api/captures/{id}`.
pub static CAPTURE_UPDATE: Form = form![
    REFERENCE,
    REFERENCE_ORIGIN,
    METADATA,
    REFUND,
    int("_refund_amount_cents")
        .described("The amount of the `_refund` (default: the whole balance)"),
];

/// `POST /api/attachments`: of a refund, a capture or an order.
pub static ATTACHMENT_CREATE: Form = form![
    Field::new("name", Kind::NonEmptyText).required(),
    text("description"),
    text("url"),
    REFERENCE,
    REFERENCE_ORIGIN,
    METADATA;
    one of ["attachable"]
];

/// `PATCH /api/attachments/{id}`.
pub static ATTACHMENT_UPDATE: Form = form![
    Field::new("name", Kind::NonEmptyText),
    text("description"),
    text("url"),
    REFERENCE,
    REFERENCE_ORIGIN,
    METADATA,
];

/// `POST /api/webhooks`.
pub static WEBHOOK_CREATE: Form = form![
    text("name"),
    Field::new("topic", Kind::Topic).required(),
    Field::new("callback_url", Kind::Url).required(),
    Field::new("include_resources", Kind::TextList),
    REFERENCE,
    REFERENCE_ORIGIN,
    METADATA,
];

/// `PATCH /api/webhooks/{id}`: the create's attributes, none required, and the triggers.
pub static WEBHOOK_UPDATE: Form = form![
    text("name"),
    Field::new("topic", Kind::Topic),
    Field::new("callback_url", Kind::Url),
    Field::new("include_resources", Kind::TextList),
    REFERENCE,
    REFERENCE_ORIGIN,
    METADATA,
    bool("_reset_circuit")
        .described("Closes the circuit and sets the failure count to 0: held deliveries resume"),
    bool("_disable").described("Stops queueing the webhook's events"),
    bool("_enable").described("Queues the webhook's events again"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn sorted(names: &[&'static str]) -> Vec<&'static str> {
        let mut v = names.to_vec();
        v.sort_unstable();
        v
    }

    /// The forms accept what the handlers accept today, attribute for attribute (the
    /// handlers' `only` lists, copied; the relationships they read).
    const ALL: [&Form; 12] = [
        &REFUND_CREATE,
        &REFUND_UPDATE,
        &ORDER_CREATE,
        &ORDER_UPDATE,
        &AUTHORIZATION_CREATE,
        &AUTHORIZATION_UPDATE,
        &CAPTURE_CREATE,
        &CAPTURE_UPDATE,
        &ATTACHMENT_CREATE,
        &ATTACHMENT_UPDATE,
        &WEBHOOK_CREATE,
        &WEBHOOK_UPDATE,
    ];

    #[test]
    fn names_follow_the_fields() {
        for form in ALL {
            let names: Vec<&str> = form.fields.iter().map(|f| f.name).collect();
            assert_eq!(names, form.names(), "{form:?}");
            assert_eq!(sorted(form.names()).len(), form.names().len(), "unique");
        }
    }

    /// `Attrs::only` with a form's names accepts each of them and nothing else.
    #[test]
    fn only_accepts_exactly_the_names() {
        use crate::jsonapi::request::Attrs;
        {
            for form in ALL {
                let all = form
                    .names()
                    .iter()
                    .map(|n| (n.to_string(), serde_json::Value::Null))
                    .collect();
                assert!(Attrs(all).only(form.names()).is_ok());
                let mut extra = serde_json::Map::new();
                extra.insert("not_an_attribute".into(), serde_json::Value::Null);
                assert!(Attrs(extra).only(form.names()).is_err());
            }
        }
    }

    /// Required attributes are what the creates refuse to go without.
    #[test]
    fn required_attributes() {
        let required = |f: &Form| f.required().collect::<Vec<_>>();
        assert_eq!(
            required(&ORDER_CREATE),
            ["number", "currency_code", "total_amount_cents"]
        );
        assert_eq!(
            required(&AUTHORIZATION_CREATE),
            ["amount_cents", "currency_code"]
        );
        assert_eq!(required(&CAPTURE_CREATE), ["amount_cents", "currency_code"]);
        assert_eq!(required(&ATTACHMENT_CREATE), ["name"]);
        assert_eq!(required(&WEBHOOK_CREATE), ["topic", "callback_url"]);
        for update in [
            &REFUND_UPDATE,
            &ORDER_UPDATE,
            &AUTHORIZATION_UPDATE,
            &CAPTURE_UPDATE,
            &ATTACHMENT_UPDATE,
            &WEBHOOK_UPDATE,
        ] {
            assert!(update.required().next().is_none(), "{update:?}");
        }
    }
}
