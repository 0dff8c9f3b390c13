//! How calls are signed, as Commerce Layer signs them: `X-CommerceLayer-Signature` is the
//! base64 of HMAC-SHA256 over the exact body bytes, keyed with the shared secret's text
//! (its UTF-8 bytes, not hex-decoded).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header's value for `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is `body`'s under `secret` (compared in constant time).
pub fn verify(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature) else {
        return false;
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 ("Jefe"), base64 of its hex digest.
    #[test]
    fn matches_a_known_hmac() {
        let sig = sign("Jefe", b"what do ya want for nothing?");
        assert_eq!(sig, "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
        assert!(verify("Jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify("Jefe", b"what do ya want for nothing!", &sig));
        assert!(!verify("jefe", b"what do ya want for nothing?", &sig));
        assert!(!verify("Jefe", b"", "not base64"));
    }
}
