//! `CurrentUser`: the one place where a request becomes a user.
//!
//! Every way a bearer token can be wrong ends in the same 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`; the reason goes to the
//! debug log only, so a client cannot probe which check failed. The token is
//! taken from exactly one `Authorization` header, never from the query string,
//! and its signature is checked before the database is touched.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::AccessClaims;
use super::access::{Subject, check_access};
use super::verify::{MAX_TOKEN_BYTES, Rejection};
use crate::db::{self, users::UserRow};
use crate::error::ApiError;
use crate::state::AppState;

/// An authenticated, enabled user and the claims of the token they sent.
#[derive(Debug)]
pub struct CurrentUser {
    pub user: UserRow,
    pub claims: AccessClaims,
}

const INVALID: ApiError = ApiError::InvalidToken { missing: false };

/// The bearer token of a request: one header, scheme `Bearer`, at most 8 KiB.
pub fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let mut values = req.headers().get_all(AUTHORIZATION);
    let Some(value) = values.next() else { return Err(ApiError::InvalidToken { missing: true }) };
    if values.next().is_some() {
        log::debug!("rejected token: more than one Authorization header");
        return Err(INVALID);
    }
    if value.len() > MAX_TOKEN_BYTES + "Bearer ".len() {
        log::debug!("rejected token: Authorization header longer than 8 KiB");
        return Err(INVALID);
    }
    let value = value.to_str().map_err(|_| INVALID)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(token.trim().to_owned())
        }
        _ => {
            log::debug!("rejected token: Authorization is not a Bearer credential");
            Err(INVALID)
        }
    }
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer_token(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::Internal("AppState is not registered".into()))?;
            let token = token?;
            let mut verified = state.verifier.verify(&state.keys.current(), &token);
            // A kid we do not know may have been created on another instance a
            // moment ago: reload (rate-limited) and try once more.
            if matches!(verified, Err(Rejection::UnknownKid(_))) && state.reload_for_unknown_kid().await {
                verified = state.verifier.verify(&state.keys.current(), &token);
            }
            let claims = verified.map_err(|reason| {
                log::debug!("rejected token: {reason}");
                INVALID
            })?;
            let checked = claims.clone();
            let subject = db::run(&state.pool, move |c| Ok(check_access(c, &checked)?)).await?;
            // A disabled user's tokens, tokens from before a password change or
            // logout-all, revoked tokens and service-client tokens stop here.
            let Some(Subject::User(user)) = subject else {
                log::debug!("rejected token: subject {} is unknown, disabled, logged out or not a user", claims.sub);
                return Err(INVALID);
            };
            let user = *user;
            Ok(CurrentUser { user, claims })
        })
    }
}

/// A `CurrentUser` whose role is `admin`; anyone else gets 403, no token 401.
#[derive(Debug)]
pub struct AdminUser(pub CurrentUser);

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let current = CurrentUser::from_request(req, payload);
        Box::pin(async move {
            let current = current.await?;
            if current.user.role != "admin" {
                return Err(ApiError::Forbidden("this needs the admin role"));
            }
            Ok(AdminUser(current))
        })
    }
}
