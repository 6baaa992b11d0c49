//! Verification of bearer tokens by tessera itself (SPEC §4, last paragraph).
//!
//! jsonwebtoken checks the signature, `exp`, `nbf`, `iss` and `aud`; its
//! defaults check neither `nbf`, `iat`, `typ` nor `crit`, and accept a missing
//! `iss`/`aud`, so this module configures it and adds the rest. The header is
//! read here first: only `alg`, `typ` and `kid` may appear, so `jku`, `jwk`,
//! `x5u`, `x5c`, `crit` and anything else we never issue are refused.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::Validation;
use serde_json::Value;

use super::AccessClaims;
use crate::config::TokenTyp;
use crate::keys::{Alg, KeySet};

/// Longest token considered at all.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Clock skew allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: i64 = 30;

/// Why a token was refused. Goes to the debug log only; clients see one 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("token is longer than 8 KiB")]
    TooLong,
    #[error("token is not three base64url parts")]
    Malformed,
    #[error("header: {0}")]
    Header(String),
    #[error("no published key has kid {0:?}")]
    UnknownKid(String),
    #[error("header alg {header} is not the alg of key {kid}")]
    AlgMismatch { header: String, kid: String },
    #[error("{0}")]
    Claims(String),
}

pub struct Verifier {
    typ: TokenTyp,
    validations: HashMap<Alg, Validation>,
    /// The same checks but `aud`, for introspection of service-client tokens
    /// minted for their own audience (the caller checks `aud` then).
    any_audience: HashMap<Alg, Validation>,
}

impl Verifier {
    pub fn new(issuer: &str, audience: &str, typ: TokenTyp) -> Self {
        let validations = Alg::ALL
            .into_iter()
            .map(|alg| {
                let mut v = Validation::new(alg.jsonwebtoken());
                v.leeway = LEEWAY_SECS as u64;
                v.validate_exp = true;
                v.validate_nbf = true;
                v.validate_aud = true;
                v.set_issuer(&[issuer]);
                v.set_audience(&[audience]);
                v.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
                (alg, v)
            })
            .collect::<HashMap<_, _>>();
        let any_audience = validations
            .iter()
            .map(|(alg, v)| {
                let mut v = v.clone();
                v.validate_aud = false;
                v.aud = None;
                v.set_required_spec_claims(&["exp", "nbf", "sub", "iss", "aud"]);
                (*alg, v)
            })
            .collect();
        Self { typ, validations, any_audience }
    }

    /// Verifies `token` against the published keys of `keys`.
    pub fn verify(&self, keys: &KeySet, token: &str) -> Result<AccessClaims, Rejection> {
        self.verify_with(keys, token, &self.validations)
    }

    /// Like `verify`, but any `aud` passes: the caller must check it.
    pub fn verify_any_audience(&self, keys: &KeySet, token: &str) -> Result<AccessClaims, Rejection> {
        self.verify_with(keys, token, &self.any_audience)
    }

    fn verify_with(
        &self,
        keys: &KeySet,
        token: &str,
        validations: &HashMap<Alg, Validation>,
    ) -> Result<AccessClaims, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLong);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let base64url =
            |p: &&str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if parts.len() != 3 || !parts.iter().all(base64url) {
            return Err(Rejection::Malformed);
        }
        let (alg, kid) = self.check_header(parts[0])?;
        let key = keys.verifying_key(&kid).ok_or_else(|| Rejection::UnknownKid(kid.clone()))?;
        // One key, one algorithm: the header may not choose another.
        if key.alg() != alg {
            return Err(Rejection::AlgMismatch { header: alg.as_str().into(), kid });
        }
        let validation = &validations[&alg];
        let data = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, validation)
            .map_err(|e| Rejection::Claims(e.to_string()))?;
        let claims = data.claims;
        if claims.iat > crate::time::now() + LEEWAY_SECS {
            return Err(Rejection::Claims("iat is in the future".into()));
        }
        if claims.iat > claims.exp {
            return Err(Rejection::Claims("iat is after exp".into()));
        }
        if claims.sub.is_empty() || claims.jti.is_empty() {
            return Err(Rejection::Claims("sub or jti is empty".into()));
        }
        Ok(claims)
    }

    fn check_header(&self, encoded: &str) -> Result<(Alg, String), Rejection> {
        let bad = |m: &str| Rejection::Header(m.to_owned());
        let bytes = B64.decode(encoded).map_err(|_| bad("not base64url"))?;
        let Value::Object(header) = serde_json::from_slice(&bytes).map_err(|_| bad("not JSON"))? else {
            return Err(bad("not a JSON object"));
        };
        if let Some(name) = header.keys().find(|k| !matches!(k.as_str(), "alg" | "typ" | "kid")) {
            return Err(Rejection::Header(format!("parameter {name:?} is not accepted")));
        }
        let text = |name: &str| {
            header
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| Rejection::Header(format!("{name} is missing or not a string")))
        };
        let alg = text("alg")?;
        let alg = Alg::from_header(alg).ok_or_else(|| Rejection::Header(format!("alg {alg:?} is not accepted")))?;
        // Media types compare case-insensitively, and `application/` may be
        // left out (RFC 7515 §4.1.9), so `application/at+jwt` is `at+jwt`.
        let typ = text("typ")?;
        let typ = match (typ.get(..12), typ.get(12..)) {
            (Some(prefix), Some(rest)) if prefix.eq_ignore_ascii_case("application/") => rest,
            _ => typ,
        };
        if !typ.eq_ignore_ascii_case(self.typ.as_str()) {
            return Err(bad("typ is not the configured token type"));
        }
        Ok((alg, text("kid")?.to_owned()))
    }
}
