//! OAuth 2.0 endpoints: token (RFC 6749: `refresh_token` and
//! `client_credentials`; the password grant is deliberately absent, RFC 9700
//! §2.4), revocation (RFC 7009) and introspection (RFC 7662).
//!
//! Bodies are `application/x-www-form-urlencoded`; a repeated parameter is
//! `invalid_request`. Clients authenticate with `client_secret_basic` or
//! `client_secret_post`, never both at once.

use std::collections::HashMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde_json::{Value, json};

use super::accounts::TokenResponse;
use super::body::{LimitedBody, has_content_type};
use super::sessions::rotate_refresh_token;
use crate::auth::access::{Subject, check_access};
use crate::auth::clients::{authenticate, parse_scopes};
use crate::auth::{TokenIssuer, sessions};
use crate::db::{self, clients::ClientRow};
use crate::error::ApiError;
use crate::keys::Alg;
use crate::state::AppState;

/// The parameters of a form body, each at most once.
struct Form(HashMap<String, String>);

impl Form {
    fn parse(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        if !has_content_type(req, "application/x-www-form-urlencoded") {
            return Err(ApiError::oauth("invalid_request", "the body must be application/x-www-form-urlencoded"));
        }
        if std::str::from_utf8(body).is_err() {
            return Err(ApiError::oauth("invalid_request", "the body is not UTF-8"));
        }
        let mut params = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if params.insert(k.to_string(), v.to_string()).is_some() {
                return Err(ApiError::oauth("invalid_request", format!("parameter {k:?} appears more than once")));
            }
        }
        Ok(Self(params))
    }

    /// A parameter; an empty value counts as absent (RFC 6749 §3.1).
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::oauth("invalid_request", format!("missing parameter {name}")))
    }
}

fn invalid_client(basic: bool) -> ApiError {
    ApiError::OAuth { code: "invalid_client", description: "client authentication failed".into(), basic }
}

/// The client's credentials, if the request carries any: (id, secret, by basic).
fn client_credentials(req: &HttpRequest, form: &Form) -> Result<Option<(String, String, bool)>, ApiError> {
    let mut auth = req.headers().get_all(header::AUTHORIZATION);
    let basic = match (auth.next(), auth.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => return Err(ApiError::oauth("invalid_request", "more than one Authorization header")),
        (Some(value), None) => {
            let value = value.to_str().map_err(|_| invalid_client(true))?;
            let (scheme, encoded) = value.split_once(' ').ok_or_else(|| invalid_client(true))?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(invalid_client(true));
            }
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| invalid_client(true))?;
            let decoded = String::from_utf8(decoded).map_err(|_| invalid_client(true))?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| invalid_client(true))?;
            // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            let unescape = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8().map(|c| c.into_owned())
            };
            Some((unescape(id).map_err(|_| invalid_client(true))?, unescape(secret).map_err(|_| invalid_client(true))?))
        }
    };
    let post = form
        .get("client_secret")
        .map(|secret| (form.get("client_id").unwrap_or_default().to_owned(), secret.to_owned()));
    match (basic, post) {
        (Some(_), Some(_)) => Err(ApiError::oauth("invalid_request", "use one client authentication method, not two")),
        (Some((id, secret)), None) => Ok(Some((id, secret, true))),
        (None, Some((id, secret))) => Ok(Some((id, secret, false))),
        (None, None) => Ok(None),
    }
}

/// Authenticates the client if the request tries to; a failed attempt is `invalid_client`.
async fn client(state: &AppState, req: &HttpRequest, form: &Form) -> Result<Option<(ClientRow, bool)>, ApiError> {
    let Some((id, secret, basic)) = client_credentials(req, form)? else { return Ok(None) };
    let found = db::run(&state.pool, move |c| Ok(authenticate(c, &id, &secret)?)).await?;
    found.map(|c| Some((c, basic))).ok_or_else(|| invalid_client(basic))
}

fn no_store(mut res: actix_web::HttpResponseBuilder) -> actix_web::HttpResponseBuilder {
    res.insert_header((header::CACHE_CONTROL, "no-store")).insert_header((header::PRAGMA, "no-cache"));
    res
}

/// `POST /oauth2/token`.
pub async fn token(state: web::Data<AppState>, req: HttpRequest, body: LimitedBody) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &body.0)?;
    let client = client(&state, &req, &form).await?;
    match form.require("grant_type")? {
        "refresh_token" => {
            if client.is_some() {
                return Err(ApiError::oauth(
                    "unauthorized_client",
                    "service clients use client_credentials; refresh tokens belong to user sessions",
                ));
            }
            if form.get("scope").is_some() {
                return Err(ApiError::oauth("invalid_scope", "user sessions carry no scopes"));
            }
            // A registered (confidential) client must authenticate, not just name itself.
            if let Some(id) = form.get("client_id").map(str::to_owned)
                && db::run(&state.pool, move |c| Ok(db::clients::find_client(c, &id)?)).await?.is_some()
            {
                return Err(invalid_client(false));
            }
            rotate_refresh_token(&state, form.require("refresh_token")?.to_owned()).await
        }
        "client_credentials" => {
            let Some((client, _)) = client else {
                return Err(invalid_client(true));
            };
            client_credentials_grant(&state, &client, form.get("scope"))
        }
        "password" => {
            Err(ApiError::oauth("unsupported_grant_type", "the password grant is not offered (RFC 9700 §2.4)"))
        }
        other => Err(ApiError::oauth("unsupported_grant_type", format!("grant_type {other:?} is not supported"))),
    }
}

fn client_credentials_grant(
    state: &AppState,
    client: &ClientRow,
    scope: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let allowed: Vec<String> = client.scopes.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    let granted = match scope {
        None => allowed,
        Some(raw) => {
            let asked = parse_scopes(raw).map_err(|m| ApiError::oauth("invalid_scope", m))?;
            if asked.is_empty() {
                return Err(ApiError::oauth("invalid_scope", "scope is blank; leave it out to get every scope"));
            }
            if let Some(extra) = asked.iter().find(|s| !allowed.contains(s)) {
                return Err(ApiError::oauth("invalid_scope", format!("scope {extra:?} is not granted to this client")));
            }
            asked
        }
    };
    let alg = Alg::from_header(&client.alg).filter(|a| state.key_settings.algs.contains(a)).ok_or_else(|| {
        ApiError::Internal(format!("client {} signs with {}, which is not in TESSERA_ALGS", client.id, client.alg))
    })?;
    let issuer = TokenIssuer { alg, ..state.tokens.clone() };
    let scope = granted.join(" ");
    let claims = issuer.client_claims(&client.id, &scope, client.audience.as_deref());
    let issued = issuer.sign(&state.keys.current(), &claims)?;
    let body = TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: None,
        scope: Some(scope),
    };
    Ok(no_store(HttpResponse::Ok()).json(body))
}

/// An access token of ours that still verifies, with the audience check that
/// fits its subject: the configured audience, or a service client's own.
async fn live_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<(crate::auth::AccessClaims, Subject)>, ApiError> {
    let Ok(claims) = state.verifier.verify_any_audience(&state.keys.current(), token) else { return Ok(None) };
    let checked = claims.clone();
    let subject = db::run(&state.pool, move |c| Ok(check_access(c, &checked)?)).await?;
    let Some(subject) = subject else { return Ok(None) };
    let audience_ok = match &subject {
        Subject::User(_) => claims.aud == state.tokens.audience,
        Subject::Client(c) => claims.aud == c.audience.as_deref().unwrap_or(&state.tokens.audience),
    };
    Ok(audience_ok.then_some((claims, subject)))
}

/// `POST /oauth2/revoke` (RFC 7009): 200 whether or not the token was known.
pub async fn revoke(state: web::Data<AppState>, req: HttpRequest, body: LimitedBody) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &body.0)?;
    let client = client(&state, &req, &form).await?.map(|(c, _)| c);
    let token = form.require("token")?.to_owned();
    if token.len() <= crate::auth::verify::MAX_TOKEN_BYTES
        && let Some((claims, subject)) = live_access_token(&state, &token).await?
    {
        // A service client's token may be revoked only by that client (RFC 7009 §2.1).
        if let Subject::Client(owner) = &subject
            && client.as_ref().is_none_or(|c| c.id != owner.id)
        {
            return Err(ApiError::oauth("unauthorized_client", "this token was not issued to the requesting client"));
        }
        let (jti, exp) = (claims.jti.clone(), claims.exp);
        db::run(&state.pool, move |c| Ok(db::sessions::deny_access_token(c, &jti, exp)?)).await?;
        log::info!("access token {} of {} revoked", claims.jti, claims.sub);
    } else if token.len() <= 128 {
        db::run(&state.pool, move |c| {
            if let Some(family) = sessions::family_of(c, &token)? {
                db::sessions::revoke_family(c, &family.id, crate::time::now())?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(no_store(HttpResponse::Ok()).finish())
}

/// `POST /oauth2/introspect` (RFC 7662): client-authenticated; `{"active": false}`
/// for anything invalid, expired, revoked or unknown.
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: LimitedBody,
) -> Result<HttpResponse, ApiError> {
    let form = Form::parse(&req, &body.0)?;
    if client(&state, &req, &form).await?.is_none() {
        return Err(invalid_client(true));
    }
    let token = form.require("token")?.to_owned();
    let inactive = || Ok(no_store(HttpResponse::Ok()).json(json!({"active": false})));
    if token.len() > crate::auth::verify::MAX_TOKEN_BYTES {
        return inactive();
    }
    if let Some((claims, subject)) = live_access_token(&state, &token).await? {
        let mut out = serde_json::to_value(&claims).unwrap_or(Value::Null);
        out["active"] = true.into();
        out["token_type"] = "Bearer".into();
        if let Subject::User(user) = subject {
            out["username"] = user.email.clone().into();
        }
        return Ok(no_store(HttpResponse::Ok()).json(out));
    }
    let refresh = db::run(&state.pool, move |c| {
        let Some(row) = db::sessions::find_refresh(c, &sessions::hash_token(&token))? else { return Ok(None) };
        let Some(family) = db::sessions::find_family(c, &row.family_id)? else { return Ok(None) };
        let user = db::users::find_user(c, &family.user_id)?;
        Ok(Some((row, family, user)))
    })
    .await?;
    match refresh {
        Some((row, family, Some(user)))
            if row.used_at_ms.is_none()
                && family.revoked_at.is_none()
                && family.expires_at > crate::time::now()
                && user.disabled_at.is_none() =>
        {
            Ok(no_store(HttpResponse::Ok()).json(json!({
                "active": true, "token_type": "refresh_token", "sub": user.id, "username": user.email,
                "iss": state.tokens.issuer, "iat": row.created_at, "exp": family.expires_at,
            })))
        }
        _ => inactive(),
    }
}
