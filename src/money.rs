//! Money presentation: integer minor units rendered through ISO 4217 data.

use rusty_money::{iso, Money};
use serde_json::{json, Value};

use crate::jsonapi::document::Attributes;

/// The ISO 4217 currency for a code, if it is one.
pub fn currency(code: &str) -> Option<&'static iso::Currency> {
    iso::find(code)
}

/// `amount_cents` in major units, for display only (never stored or summed).
pub fn to_float(cents: i64, code: &str) -> Value {
    match currency(code) {
        Some(c) => json!(cents as f64 / 10f64.powi(c.exponent as i32)),
        None => json!(cents as f64),
    }
}

/// `€15,00`, `$1,234.56`, `¥1,500`: symbol, separators and decimals of the currency.
pub fn format(cents: i64, code: &str) -> String {
    match currency(code) {
        Some(c) => Money::from_minor(cents, c).to_string(),
        None => format!("{cents} {code}"),
    }
}

/// `["<prefix>_cents", "<prefix>_float", "formatted_<prefix>"]`: the attribute names of
/// one amount, for [`insert`].
macro_rules! names {
    ($prefix:literal) => {
        [
            concat!($prefix, "_cents"),
            concat!($prefix, "_float"),
            concat!("formatted_", $prefix),
        ]
    };
}
pub(crate) use names;

/// Inserts an amount under its three attribute names (see [`names!`]).
pub fn insert(attrs: &mut Attributes, names: [&'static str; 3], cents: i64, code: &str) {
    let [in_cents, as_float, formatted] = names;
    attrs.insert(in_cents, json!(cents));
    attrs.insert(as_float, to_float(cents, code));
    attrs.insert(formatted, Value::String(format(cents, code)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_the_currency_conventions() {
        assert_eq!(format(1500, "EUR"), "€15,00");
        assert_eq!(format(123_456, "USD"), "$1,234.56");
        assert_eq!(format(1500, "JPY"), "¥1,500");
        assert_eq!(format(-250, "USD"), "-$2.50");
    }

    #[test]
    fn floats_follow_the_exponent() {
        assert_eq!(to_float(1500, "EUR"), json!(15.0));
        assert_eq!(to_float(1500, "JPY"), json!(1500.0));
        assert_eq!(to_float(5, "KWD"), json!(0.005));
    }
}
