//! A small JSON writer for response documents: the same bytes serde_json writes, without
//! its per-value dispatch. Most of a document is link text that needs no escaping, so
//! strings are scanned once and copied whole when they are clean.

use serde_json::Value;

/// Bytes that a JSON string must escape: control characters, `"` and `\`.
const fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// How many leading bytes of `bytes` need no escaping. Eight at a time: a word has such a
/// byte when one of its bytes is below 0x20, or equals `"` or `\\` (the classic
/// "has a zero byte" tests, which never miss one).
fn clean_prefix(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        if below_space
            | has_zero(w ^ (ONES * u64::from(b'"')))
            | has_zero(w ^ (ONES * u64::from(b'\\')))
            != 0
        {
            break;
        }
        i += 8;
    }
    while i < bytes.len() && !needs_escape(bytes[i]) {
        i += 1;
    }
    i
}

/// Appends the escaped contents of `s` (no quotes), exactly as serde_json escapes them.
pub fn escaped(out: &mut Vec<u8>, s: &str) {
    let mut rest = s.as_bytes();
    loop {
        let clean = clean_prefix(rest);
        out.extend_from_slice(&rest[..clean]);
        let Some((&b, tail)) = rest[clean..].split_first() else {
            return;
        };
        rest = tail;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
}

/// Whether `s` can be written between quotes as it is: the engine's own names (types,
/// attributes, relationships) are, which a test checks, so they skip the scan.
pub fn is_plain(s: &str) -> bool {
    clean_prefix(s.as_bytes()) == s.len()
}

/// Appends `s` as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escaped(out, s);
    out.push(b'"');
}

/// Appends `"key":`.
fn key(out: &mut Vec<u8>, k: &str) {
    string(out, k);
    out.push(b':');
}

/// Appends `"name":` for one of the engine's own names, which need no escaping
/// ([`is_plain`]).
pub fn name_key(out: &mut Vec<u8>, name: &'static str) {
    debug_assert!(is_plain(name), "{name}");
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

/// Appends a JSON value. Object members come in the map's own order, as serde_json's.
pub fn value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::String(s) => string(out, s),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            } else {
                // Floats (and u64 beyond i64) exactly as serde_json formats them.
                let _ = serde_json::to_writer(&mut *out, n);
            }
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            for (i, (k, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                key(out, k);
                value(out, item);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    fn written(v: &serde_json::Value) -> String {
        let mut out = Vec::new();
        super::value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let mut awkward = String::new();
        for c in (0u8..0x80).map(char::from) {
            awkward.push(c);
        }
        awkward.push_str("é€😀 \u{2028}\u{7f}");
        let long_clean = "x".repeat(100);
        let long_dirty = format!(
            "{}\"{}\\{}\n",
            "a".repeat(15),
            "b".repeat(16),
            "c".repeat(17)
        );
        let cases = [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-9_223_372_036_854_775_808i64),
            json!(18_446_744_073_709_551_615u64),
            json!(15.0),
            json!(0.005),
            json!(1e300),
            json!(-2.5e-8),
            json!(""),
            json!(awkward),
            json!(long_clean),
            json!(long_dirty),
            json!([]),
            json!({}),
            json!({"b": [1, 2.5, "x", null, {"z": {}, "a": []}], "a": "\"quoted\"", "\n": true}),
        ];
        for case in cases {
            assert_eq!(
                written(&case),
                serde_json::to_string(&case).unwrap(),
                "{case}"
            );
        }
    }

    #[test]
    fn escapes_at_every_position_of_a_word() {
        // Each byte that needs escaping, and its neighbours that do not, at every offset.
        for special in [
            0u8, 0x08, 0x1f, b'"', b'\\', b'\n', b'!', b'#', b'[', b']', 0x7f, 0x20,
        ] {
            for at in 0..20 {
                let mut bytes = vec![b'y'; 20];
                bytes[at] = special;
                let s = String::from_utf8(bytes).unwrap();
                let v = json!(s);
                assert_eq!(written(&v), serde_json::to_string(&v).unwrap(), "{s:?}");
                let plain = !matches!(special, 0..=0x1f | b'"' | b'\\');
                assert_eq!(super::is_plain(&s), plain, "{s:?}");
            }
        }
    }

    #[test]
    fn multibyte_text_is_copied_as_it_is() {
        // UTF-8 continuation bytes have the high bit set: never mistaken for a special byte.
        let s = "ÿ€😀ü\u{80}\u{10ffff}".repeat(5);
        assert!(super::is_plain(&s));
        let v = json!(s);
        assert_eq!(written(&v), serde_json::to_string(&v).unwrap());
    }
}
