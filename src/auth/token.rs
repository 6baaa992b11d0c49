//! Access tokens (SPEC §2): the claims, and signing them with the active key.
//! A JWT is `b64url(header).b64url(claims).b64url(signature)`; ring signs it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::config::TokenTyp;
use crate::error::ApiError;
use crate::keys::{Alg, KeySet};

/// The claims of an access token. Every field but the user/client ones is
/// required when verifying.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Service-client tokens (client_credentials) only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl AccessClaims {
    /// When the token was issued, in milliseconds: from its UUIDv7 `jti`
    /// (tessera's own), else from `iat`.
    pub fn issued_at_ms(&self) -> i64 {
        uuid::Uuid::parse_str(&self.jti)
            .ok()
            .filter(|u| u.get_version_num() == 7)
            .and_then(|u| u.get_timestamp())
            .map(|t| {
                let (secs, nanos) = t.to_unix();
                secs as i64 * 1000 + i64::from(nanos / 1_000_000)
            })
            .unwrap_or(self.iat * 1000)
    }
}

#[derive(Serialize)]
struct Header<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

/// A signed token and what the response needs to say about it.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
    pub kid: String,
}

/// Everything needed to issue tokens but the keys, which change.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    pub issuer: String,
    pub audience: String,
    pub typ: TokenTyp,
    pub ttl_secs: i64,
    pub alg: Alg,
    /// Counts signed tokens per alg and kid; `None` outside the server.
    pub metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
}

impl TokenIssuer {
    /// Claims for a user's access token, issued now. The `jti` is a UUIDv7,
    /// so it carries the issue time in milliseconds (see `issued_at_ms`).
    pub fn user_claims(&self, user_id: &str, email: &str, role: &str) -> AccessClaims {
        let iat = crate::time::now();
        AccessClaims {
            iss: self.issuer.clone(),
            sub: user_id.to_owned(),
            aud: self.audience.clone(),
            exp: iat + self.ttl_secs,
            iat,
            nbf: iat,
            jti: uuid::Uuid::now_v7().to_string(),
            email: Some(email.to_owned()),
            role: Some(role.to_owned()),
            client_id: None,
            scope: None,
        }
    }

    /// Claims for a service client's access token: `sub` = `client_id`.
    pub fn client_claims(&self, client_id: &str, scope: &str, audience: Option<&str>) -> AccessClaims {
        let iat = crate::time::now();
        AccessClaims {
            iss: self.issuer.clone(),
            sub: client_id.to_owned(),
            aud: audience.unwrap_or(&self.audience).to_owned(),
            exp: iat + self.ttl_secs,
            iat,
            nbf: iat,
            jti: uuid::Uuid::now_v7().to_string(),
            email: None,
            role: None,
            client_id: Some(client_id.to_owned()),
            scope: Some(scope.to_owned()),
        }
    }

    /// Signs `claims` with the active key of the configured algorithm.
    pub fn sign(&self, keys: &KeySet, claims: &AccessClaims) -> Result<IssuedToken, ApiError> {
        let active = keys
            .signer(self.alg)
            .ok_or_else(|| ApiError::Unavailable(format!("no active {} key is loaded", self.alg)))?;
        let header = Header { alg: self.alg.as_str(), typ: self.typ.as_str(), kid: &active.kid };
        let header = serde_json::to_vec(&header).map_err(|e| ApiError::Internal(e.to_string()))?;
        let claims_json = serde_json::to_vec(claims).map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut token = format!("{}.{}", B64.encode(header), B64.encode(claims_json));
        let signature = active.signer.sign(token.as_bytes())?;
        token.push('.');
        token.push_str(&B64.encode(signature));
        if let Some(m) = &self.metrics {
            m.record_token(self.alg.as_str(), &active.kid);
        }
        Ok(IssuedToken { token, expires_in: claims.exp - claims.iat, kid: active.kid.clone() })
    }
}
