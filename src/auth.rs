//! Bearer tokens: verification, the claims they carry, and the tenant scope they yield.

use std::collections::HashMap;
use std::future::{ready, Ready};
use std::sync::Mutex;

use actix_web::{web, FromRequest, HttpRequest};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult, Code};

/// `organization` claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub slug: String,
}

/// `application` claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Application {
    pub id: String,
    pub kind: String,
}

/// `owner` claim: the customer or user a token acts for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Owner {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// The claims of a token, shaped like Commerce Layer's.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub organization: Organization,
    pub application: Application,
    #[serde(default)]
    pub scope: String,
    pub test: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

/// Which rows a request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub organization_id: String,
    /// `test` or `live`.
    pub mode: &'static str,
    /// Sales channels see only the orders of this customer.
    pub customer_id: Option<String>,
    /// Market-scoped tokens see only orders of these markets.
    pub market_ids: Option<Vec<String>>,
    /// An admin integration token: it alone sees the admin-only types (webhooks, whose
    /// secret they hold) and their versions and events.
    pub admin: bool,
}

impl Scope {
    /// The whole tenant of a row, as the service itself acts on it (the reconciler, the
    /// webhook dispatcher, a PSP's notification).
    pub fn system(organization_id: &str, mode: &str) -> Self {
        Scope {
            organization_id: organization_id.to_owned(),
            mode: if mode == "live" { "live" } else { "test" },
            customer_id: None,
            market_ids: None,
            admin: true,
        }
    }

    /// Whether the token sees only some of its tenant's orders (a customer, markets).
    pub fn is_restricted(&self) -> bool {
        self.customer_id.is_some() || self.market_ids.is_some()
    }
}

/// An authenticated request.
#[derive(Debug, Clone)]
pub struct Auth {
    pub claims: Claims,
    pub scope: Scope,
}

impl Auth {
    /// Whether the token may change data.
    pub fn can_write(&self) -> bool {
        self.claims.application.kind != "sales_channel"
            && self.claims.role.as_deref().unwrap_or("admin") == "admin"
    }
}

/// The keys tokens are checked against.
pub struct Keys {
    hs256: Option<DecodingKey>,
    rsa: Option<DecodingKey>,
    leeway: u64,
    verified: Verified,
}

/// Tokens that passed verification, with what they grant. A client sends the same token
/// with every request; its signature and claims need checking once, its expiry at every
/// use (`nbf` once passed stays passed). Bounded: when full, it starts over.
struct Verified {
    capacity: usize,
    tokens: Mutex<HashMap<Box<str>, Auth>>,
}

impl Verified {
    fn get(&self, token: &str, leeway: u64) -> Option<Auth> {
        self.with(token, leeway, Auth::clone)
    }

    /// `f` of what a remembered token grants, while the token has not expired.
    fn with<T>(&self, token: &str, leeway: u64, f: impl FnOnce(&Auth) -> T) -> Option<T> {
        if self.capacity == 0 {
            return None;
        }
        let tokens = self.tokens.lock().ok()?;
        let auth = tokens.get(token)?;
        let now = jsonwebtoken::get_current_timestamp();
        // jsonwebtoken's own rule: expired once `exp < now - leeway`.
        let exp = u64::try_from(auth.claims.exp).unwrap_or(0);
        (exp >= now.saturating_sub(leeway)).then(|| f(auth))
    }

    fn put(&self, token: &str, auth: &Auth) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut tokens) = self.tokens.lock() {
            if tokens.len() >= self.capacity {
                tokens.clear();
            }
            tokens.insert(token.into(), auth.clone());
        }
    }
}

impl Keys {
    /// HS256 with `secret` (when not empty) and RS256/RS512 with a PEM public key;
    /// up to `cache_size` verified tokens are remembered (0: every request verifies).
    pub fn new(
        secret: &str,
        rsa_pem: Option<&[u8]>,
        leeway: u64,
        cache_size: usize,
    ) -> Result<Self, String> {
        let rsa = rsa_pem
            .map(|pem| {
                DecodingKey::from_rsa_pem(pem).map_err(|e| format!("bad RSA public key: {e}"))
            })
            .transpose()?;
        Ok(Self {
            hs256: (!secret.is_empty()).then(|| DecodingKey::from_secret(secret.as_bytes())),
            rsa,
            leeway,
            verified: Verified {
                capacity: cache_size,
                tokens: Mutex::new(HashMap::new()),
            },
        })
    }

    /// What a bearer token grants: its claims and scope, verified (or remembered as verified).
    pub fn authenticate(&self, token: &str) -> ApiResult<Auth> {
        if let Some(auth) = self.verified.get(token, self.leeway) {
            return Ok(auth);
        }
        let claims = self.verify(token)?;
        let scope = scope_of(&claims)?;
        let auth = Auth { claims, scope };
        self.verified.put(token, &auth);
        Ok(auth)
    }

    /// Whether a token that passed verification, remembered and unexpired, is a test one:
    /// the rate limiter's question, answered without decoding the token again.
    pub fn remembered_test_mode(&self, token: &str) -> Option<bool> {
        self.verified
            .with(token, self.leeway, |auth| auth.claims.test)
    }

    /// Verifies a token: `UNAUTHORIZED` when it is not a JWT at all, `INVALID_TOKEN`
    /// when it is one that fails (signature, algorithm, time, claims).
    pub fn verify(&self, token: &str) -> ApiResult<Claims> {
        let invalid =
            |why: &str| ApiError::new(Code::InvalidToken, format!("Invalid token: {why}"));
        if token.split('.').count() != 3 || token.split('.').any(str::is_empty) {
            return Err(ApiError::new(
                Code::Unauthorized,
                "The bearer token is malformed",
            ));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| invalid("unsupported header or algorithm"))?;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref(),
            Algorithm::RS256 | Algorithm::RS512 => self.rsa.as_ref(),
            _ => None,
        }
        .ok_or_else(|| invalid("algorithm not accepted"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => invalid("expired"),
                ErrorKind::ImmatureSignature => invalid("not yet valid"),
                ErrorKind::InvalidSignature => invalid("bad signature"),
                _ => invalid("rejected"),
            }
        })?;
        Ok(data.claims)
    }
}

/// Signs claims with the HS256 secret (the `token` command and tests).
pub fn sign(claims: &Claims, secret: &str) -> Result<String, String> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| e.to_string())
}

/// The scope a set of verified claims grants.
pub fn scope_of(claims: &Claims) -> ApiResult<Scope> {
    let customer_id = match claims.application.kind.as_str() {
        "integration" | "webapp" => None,
        "sales_channel" => match &claims.owner {
            Some(owner) if owner.kind == "Customer" => Some(owner.id.clone()),
            _ => {
                return Err(ApiError::new(
                    Code::Unauthorized,
                    "A sales channel token needs a customer owner",
                ))
            }
        },
        _ => {
            return Err(ApiError::new(
                Code::InvalidToken,
                "Invalid token: unknown application kind",
            ))
        }
    };
    if !matches!(claims.role.as_deref(), None | Some("admin" | "read_only")) {
        return Err(ApiError::new(
            Code::InvalidToken,
            "Invalid token: unknown role",
        ));
    }
    let markets: Vec<String> = claims
        .scope
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("market:id:"))
        .map(str::to_owned)
        .collect();
    let all_markets =
        markets.is_empty() || claims.scope.split_whitespace().any(|s| s == "market:all");
    Ok(Scope {
        organization_id: claims.organization.id.clone(),
        mode: if claims.test { "test" } else { "live" },
        customer_id,
        market_ids: (!all_markets).then_some(markets),
        admin: claims.application.kind == "integration"
            && claims.role.as_deref().unwrap_or("admin") == "admin",
    })
}

/// The token of an `Authorization: Bearer <token>` header, if it has one. The scheme is
/// case-insensitive (RFC 7235), for the rate limiter as for authentication: a client
/// writing `bearer` must not be counted as its address instead of its token.
pub fn bearer_token(headers: &actix_web::http::header::HeaderMap) -> Option<&str> {
    let mut all = headers.get_all(actix_web::http::header::AUTHORIZATION);
    let header = all.next()?.to_str().ok()?;
    // Two credentials are ambiguous: neither is taken.
    if all.next().is_some() {
        return None;
    }
    let (scheme, token) = (header.get(..7)?, header.get(7..)?);
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer ") && !token.is_empty()).then_some(token)
}

/// The token of an `Authorization: Basic <base64>` header whose user name is the token and
/// whose password is empty, written with or without the colon (`<token>:` or `<token>`):
/// the convention of clients that send an API key as Basic credentials.
pub fn basic_token(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    use base64::Engine;
    let mut all = headers.get_all(actix_web::http::header::AUTHORIZATION);
    let header = all.next()?.to_str().ok()?;
    if all.next().is_some() {
        return None;
    }
    let (scheme, encoded) = (header.get(..6)?, header.get(6..)?);
    if !scheme.eq_ignore_ascii_case("basic ") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let user = match text.split_once(':') {
        Some((user, "")) => user,
        Some(_) => return None,
        None => text.as_str(),
    };
    let user = user.trim();
    (!user.is_empty()).then(|| user.to_owned())
}

/// The token of a bearer or a Basic (token as user name) `Authorization` header.
pub fn bearer_or_basic_token(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    bearer_token(headers)
        .map(str::to_owned)
        .or_else(|| basic_token(headers))
}

fn authenticate(req: &HttpRequest) -> ApiResult<Auth> {
    let keys = req
        .app_data::<web::Data<Keys>>()
        .ok_or_else(|| ApiError::internal("auth", "token keys missing"))?;
    let token = bearer_token(req.headers()).ok_or_else(|| {
        // Which message only matters once the request is refused.
        let detail = match req
            .headers()
            .get_all(actix_web::http::header::AUTHORIZATION)
            .count()
        {
            0 => "A bearer token is required",
            1 => "The Authorization header must be `Bearer <token>`",
            _ => "Exactly one Authorization header is allowed",
        };
        ApiError::new(Code::Unauthorized, detail)
    })?;
    keys.authenticate(token)
}

impl FromRequest for Auth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_needs_a_token() {
        use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
        let token_of = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bearer_token(&headers).map(str::to_owned)
        };
        for (value, token) in [
            ("Bearer a.b.c", Some("a.b.c")),
            ("bearer a.b.c", Some("a.b.c")),
            ("BEARER  a.b.c ", Some("a.b.c")),
            ("Bearer", None),
            ("Bearer ", None),
            ("Bearer   ", None),
            ("Bearera.b.c", None),
            ("Basic a.b.c", None),
            ("Token a.b.c", None),
            ("", None),
        ] {
            assert_eq!(token_of(value).as_deref(), token, "{value:?}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
        let mut two = HeaderMap::new();
        two.append(AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
        two.append(AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(bearer_token(&two), None);
    }

    #[test]
    fn basic_credentials_carry_the_token_as_user_name() {
        use actix_web::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
        use base64::Engine;
        let token_of = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bearer_or_basic_token(&headers)
        };
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for (value, token) in [
            (format!("Basic {}", b64("a.b.c:")), Some("a.b.c")),
            (format!("Basic {}", b64("a.b.c")), Some("a.b.c")),
            (format!("basic  {} ", b64("a.b.c")), Some("a.b.c")),
            (format!("Basic {}", b64("a.b.c:secret")), None),
            (format!("Basic {}", b64(":")), None),
            ("Basic !!!".to_owned(), None),
            ("Bearer a.b.c".to_owned(), Some("a.b.c")),
        ] {
            assert_eq!(token_of(&value).as_deref(), token, "{value:?}");
        }
    }

    const SECRET: &str = "a-test-secret";

    fn claims(org: &str, exp: i64) -> Claims {
        Claims {
            organization: Organization {
                id: org.into(),
                slug: org.into(),
            },
            application: Application {
                id: "app".into(),
                kind: "integration".into(),
            },
            scope: String::new(),
            test: true,
            owner: None,
            role: None,
            exp,
            iat: 0,
            iss: None,
        }
    }

    fn now() -> i64 {
        jsonwebtoken::get_current_timestamp() as i64
    }

    fn remembered(keys: &Keys) -> usize {
        keys.verified.tokens.lock().unwrap().len()
    }

    #[test]
    fn a_verified_token_is_remembered_with_its_scope() {
        let keys = Keys::new(SECRET, None, 30, 10).unwrap();
        let token = sign(&claims("org-a", now() + 600), SECRET).unwrap();
        let first = keys.authenticate(&token).unwrap();
        assert_eq!(remembered(&keys), 1);
        let again = keys.authenticate(&token).unwrap();
        assert_eq!(again.scope, first.scope);
        assert_eq!(again.scope.organization_id, "org-a");
        // A token signed with another key is never taken for a remembered one.
        let forged = sign(&claims("org-a", now() + 600), "another-secret").unwrap();
        assert_eq!(
            keys.authenticate(&forged).unwrap_err().code,
            Code::InvalidToken
        );
        assert_eq!(remembered(&keys), 1);
    }

    #[test]
    fn a_remembered_token_expires_all_the_same() {
        let leeway = 30;
        let keys = Keys::new(SECRET, None, leeway, 10).unwrap();
        let token = sign(&claims("org-a", now() + 600), SECRET).unwrap();
        let mut auth = keys.authenticate(&token).unwrap();
        // Still inside the leeway: served from memory.
        auth.claims.exp = now() - leeway as i64 + 5;
        keys.verified.put(&token, &auth);
        assert!(keys.verified.get(&token, leeway).is_some());
        // Past it: not served, and verification of the real token decides again.
        auth.claims.exp = now() - leeway as i64 - 5;
        keys.verified.put(&token, &auth);
        assert!(keys.verified.get(&token, leeway).is_none());
        let expired = sign(&claims("org-a", now() - 600), SECRET).unwrap();
        keys.verified.put(&expired, &auth);
        let err = keys.authenticate(&expired).unwrap_err();
        assert_eq!(err.code, Code::InvalidToken);
    }

    #[test]
    fn the_rate_limiter_learns_the_mode_of_verified_tokens_only() {
        let keys = Keys::new(SECRET, None, 30, 10).unwrap();
        let test = sign(&claims("org-a", now() + 600), SECRET).unwrap();
        let live = sign(
            &Claims {
                test: false,
                ..claims("org-a", now() + 600)
            },
            SECRET,
        )
        .unwrap();
        assert_eq!(keys.remembered_test_mode(&test), None, "not verified yet");
        keys.authenticate(&test).unwrap();
        keys.authenticate(&live).unwrap();
        assert_eq!(keys.remembered_test_mode(&test), Some(true));
        assert_eq!(keys.remembered_test_mode(&live), Some(false));
        let forged = sign(&claims("org-a", now() + 600), "another-secret").unwrap();
        keys.authenticate(&forged).unwrap_err();
        assert_eq!(keys.remembered_test_mode(&forged), None);
        let mut expired = keys.authenticate(&test).unwrap();
        expired.claims.exp = now() - 60;
        keys.verified.put(&test, &expired);
        assert_eq!(keys.remembered_test_mode(&test), None, "expired");
        let off = Keys::new(SECRET, None, 30, 0).unwrap();
        off.authenticate(&test).unwrap();
        assert_eq!(off.remembered_test_mode(&test), None, "memory off");
    }

    #[test]
    fn the_memory_is_bounded_and_can_be_off() {
        let keys = Keys::new(SECRET, None, 30, 2).unwrap();
        for org in ["a", "b", "c", "d", "e"] {
            let token = sign(&claims(org, now() + 600), SECRET).unwrap();
            assert_eq!(
                keys.authenticate(&token).unwrap().scope.organization_id,
                org
            );
            assert!(remembered(&keys) <= 2);
        }
        let off = Keys::new(SECRET, None, 30, 0).unwrap();
        let token = sign(&claims("a", now() + 600), SECRET).unwrap();
        off.authenticate(&token).unwrap();
        assert_eq!(remembered(&off), 0);
    }
}
