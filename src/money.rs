//! Money presentation: integer minor units rendered through ISO 4217 data.

use std::sync::OnceLock;

use rusty_money::{iso, LocalFormat, Locale, Money};
use serde_json::{json, Value};

use crate::error::ApiResult;
use crate::jsonapi::document::Attributes;

/// The ISO 4217 currency for a code, if it is one.
pub fn currency(code: &str) -> Option<&'static iso::Currency> {
    // rusty-money's `find` is a `match` over some 180 strings, compared one by one, and
    // every amount of a page asks it: codes of three capital letters are looked up in a
    // table filled from `find` itself, once.
    static TABLE: OnceLock<Vec<Option<&'static iso::Currency>>> = OnceLock::new();
    let index = match code.as_bytes() {
        bytes @ [_, _, _] => bytes.iter().try_fold(0usize, |n, &b| {
            b.is_ascii_uppercase()
                .then(|| n * 26 + usize::from(b - b'A'))
        }),
        _ => None,
    };
    match index {
        Some(i) => TABLE.get_or_init(|| three_letter_codes().map(|c| iso::find(&c)).collect())[i],
        None => iso::find(code),
    }
}

/// `AAA` to `ZZZ`, in the order of [`currency`]'s table.
fn three_letter_codes() -> impl Iterator<Item = String> {
    let letters = || (b'A'..=b'Z').map(char::from);
    letters().flat_map(move |a| {
        letters().flat_map(move |b| letters().map(move |c| format!("{a}{b}{c}")))
    })
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
    let mut digits = String::with_capacity(40);
    digits.push_str(itoa::Buffer::new().format(abs / scale));
    // rusty-money's grouping: one separator per pattern entry, counted from the right.
    let mut position = 0;
    for &group in separator_pattern(c.locale) {
        position += group;
        if digits.len() > position {
            digits.insert(digits.len() - position, local.digit_separator);
            position += 1;
        }
    }
    let mut out = String::with_capacity(digits.len() + c.symbol.len() + 8);
    if cents < 0 {
        out.push('-');
    }
    if c.symbol_first {
        out.push_str(c.symbol);
    }
    out.push_str(&digits);
    if c.exponent > 0 {
        out.push(local.exponent_separator);
        let mut buf = itoa::Buffer::new();
        let minor = buf.format(abs % scale);
        for _ in minor.len()..c.exponent as usize {
            out.push('0');
        }
        out.push_str(minor);
    }
    if !c.symbol_first {
        out.push_str(c.symbol);
    }
    out
}

/// The locale's digit grouping (`LocalFormat::digit_separator_pattern`), parsed once.
fn separator_pattern(locale: Locale) -> &'static [usize] {
    const ALL: [Locale; 4] = [Locale::EnUs, Locale::EnIn, Locale::EnEu, Locale::EnBy];
    static PATTERNS: OnceLock<Vec<Vec<usize>>> = OnceLock::new();
    let patterns = PATTERNS.get_or_init(|| {
        ALL.iter()
            .map(|&l| LocalFormat::from_locale(l).digit_separator_pattern())
            .collect()
    });
    // Exhaustive: a locale added to rusty-money fails the build here, not the output.
    let i = match locale {
        Locale::EnUs => 0,
        Locale::EnIn => 1,
        Locale::EnEu => 2,
        Locale::EnBy => 3,
    };
    &patterns[i]
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

/// The attribute `name` of a request: an ISO 4217 currency code, if given.
pub fn currency_code(a: &crate::jsonapi::request::Attrs, name: &str) -> ApiResult<Option<String>> {
    a.checked_text(name, "an ISO 4217 currency code", |c| currency(c).is_some())
}

/// Inserts an amount under its three attribute names (see [`names!`]).
pub fn insert(attrs: &mut Attributes, names: [&'static str; 3], cents: i64, code: &str) {
    let [in_cents, as_float, formatted] = names;
    attrs.push(in_cents, json!(cents));
    attrs.push(as_float, to_float(cents, code));
    attrs.push(formatted, Value::String(format(cents, code)));
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
        let mut seen = 0;
        for code in three_letter_codes() {
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
    fn the_code_table_agrees_with_rusty_money() {
        for code in three_letter_codes() {
            assert_eq!(
                currency(&code).map(|c| c.iso_alpha_code),
                iso::find(&code).map(|c| c.iso_alpha_code),
                "{code}"
            );
        }
        let long = "E".repeat(40);
        for odd in [
            "", "eur", "EURO", "EU", "E\u{e9}R", "€", "EUR\0", "1EU", &long,
        ] {
            assert_eq!(
                currency(odd).map(|c| c.iso_alpha_code),
                iso::find(odd).map(|c| c.iso_alpha_code),
                "{odd:?}"
            );
        }
        assert_eq!(currency("JPY").map(|c| c.exponent), Some(0));
    }

    #[test]
    fn floats_follow_the_exponent() {
        assert_eq!(to_float(1500, "EUR"), json!(15.0));
        assert_eq!(to_float(1500, "JPY"), json!(1500.0));
        assert_eq!(to_float(5, "KWD"), json!(0.005));
    }
}
