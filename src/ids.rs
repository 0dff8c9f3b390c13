//! Identifiers: random public ids and the stable organization id of a slug.

use rand::distr::{Alphanumeric, SampleString};

/// Length of every public resource id.
pub const ID_LEN: usize = 10;

/// A new random base62 id, e.g. `xYZkjABcde`.
pub fn new_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), ID_LEN)
}

/// Whether `s` has the shape of an id this service generates.
pub fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The organization id that belongs to a slug. Derived, so that `seed` and
/// `token` agree without a shared table (FNV-1a, rendered in base62).
pub fn organization_id(slug: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in slug.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (0..ID_LEN)
        .map(|_| {
            let c = ALPHABET[(hash % 62) as usize] as char;
            hash = (hash / 62) ^ hash.rotate_left(17);
            c
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_ids_are_base62_and_distinct() {
        let a = new_id();
        assert!(is_id(&a), "{a}");
        assert_ne!(a, new_id());
    }

    #[test]
    fn organization_ids_are_stable_and_distinct() {
        assert_eq!(organization_id("acme"), organization_id("acme"));
        assert_ne!(organization_id("acme"), organization_id("acme2"));
        assert!(is_id(&organization_id("acme")));
    }
}
