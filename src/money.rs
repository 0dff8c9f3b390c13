//! Money presentation: integer minor units rendered through ISO 4217 data.

use rusty_money::{iso, LocalFormat, Money};
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
        Some(c) => format_in(cents, c),
        None => format!("{cents} {code}"),
    }
}

/// What rusty-money's `Money::from_minor(cents, c).to_string()` writes, from the same
/// locale data, in integers: its formatter goes through `Decimal` and half a dozen
/// allocations, and a page of refunds formats dozens of amounts.
fn format_in(cents: i64, c: &iso::Currency) -> String {
    let Some(scale) = 10u64.checked_pow(c.exponent) else {
        return Money::from_minor(cents, c).to_string();
    };
    let local = LocalFormat::from_locale(c.locale);
    let abs = cents.unsigned_abs();
    let mut digits = itoa::Buffer::new().format(abs / scale).to_owned();
    // rusty-money's grouping: one separator per pattern entry, counted from the right.
    let mut position = 0;
    for group in local.digit_separator_pattern.split(", ") {
        position += group.parse::<usize>().unwrap_or(usize::MAX / 2);
        if digits.len() > position {
            digits.insert(digits.len() - position, local.digit_separator);
            position += 1;
        }
    }
    if c.exponent > 0 {
        digits.push(local.exponent_separator);
        let minor = itoa::Buffer::new().format(abs % scale).to_owned();
        for _ in minor.len()..c.exponent as usize {
            digits.push('0');
        }
        digits.push_str(&minor);
    }
    let sign = if cents < 0 { "-" } else { "" };
    if c.symbol_first {
        format!("{sign}{}{digits}", c.symbol)
    } else {
        format!("{sign}{digits}{}", c.symbol)
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
    fn formats_every_currency_as_rusty_money_does() {
        let amounts = [
            0,
            1,
            5,
            9,
            10,
            99,
            100,
            999,
            1_000,
            12_345,
            123_456,
            1_234_567,
            12_345_678_901,
            1_000_000_000_000_000,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ];
        let letters = || (b'A'..=b'Z').map(char::from);
        let mut seen = 0;
        for code in letters()
            .flat_map(|a| letters().flat_map(move |b| letters().map(move |c| format!("{a}{b}{c}"))))
        {
            let Some(c) = currency(&code) else { continue };
            seen += 1;
            for cents in amounts.into_iter().flat_map(|a| [a, a.saturating_neg()]) {
                assert_eq!(
                    format(cents, &code),
                    Money::from_minor(cents, c).to_string(),
                    "{cents} {code}"
                );
            }
        }
        assert!(seen > 150, "only {seen} currencies found");
    }

    #[test]
    fn floats_follow_the_exponent() {
        assert_eq!(to_float(1500, "EUR"), json!(15.0));
        assert_eq!(to_float(1500, "JPY"), json!(1500.0));
        assert_eq!(to_float(5, "KWD"), json!(0.005));
    }
}
