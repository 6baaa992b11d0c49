//! Sessions: refresh, logout, logout-all and password change (SPEC §2, §5).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::accounts::{password_error, sign_user_tokens};
use super::json::JsonObject;
use crate::auth::CurrentUser;
use crate::auth::sessions::{self, Refresh};
use crate::auth::throttle;
use crate::db;
use crate::domain::Password;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// Rotates a refresh token; shared by `/v1/token/refresh` and the OAuth token endpoint.
pub async fn rotate_refresh_token(state: &AppState, presented: String) -> Result<HttpResponse, ApiError> {
    // Anything that is not one of our tokens (an access token, say) is simply unknown.
    if presented.is_empty() || presented.len() > 128 {
        return Err(ApiError::oauth("invalid_grant", "the refresh token is invalid, expired or revoked"));
    }
    let grace = state.sessions.refresh_grace_secs;
    let key = state.master.refresh_successor_key().clone();
    let issuer = state.tokens.clone();
    let outcome = db::run(&state.pool, move |c| {
        sessions::refresh(c, &presented, &key, grace, |u| issuer.user_claims(&u.id, &u.email, &u.role))
    })
    .await?;
    match outcome {
        Refresh::Rotated { token, claims } => {
            let body = sign_user_tokens(state, &claims, token)?;
            Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(body))
        }
        Refresh::Invalid | Refresh::Reused => {
            Err(ApiError::oauth("invalid_grant", "the refresh token is invalid, expired or revoked"))
        }
    }
}

/// `POST /v1/token/refresh` `{refresh_token}`.
pub async fn refresh(state: web::Data<AppState>, body: JsonObject<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner().0;
    rotate_refresh_token(&state, req.refresh_token).await
}

/// `POST /v1/logout` `{refresh_token}`: ends that session. 204 also for an
/// unknown token, which tells a caller nothing about other people's tokens.
pub async fn logout(state: web::Data<AppState>, body: JsonObject<RefreshRequest>) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner().0;
    db::run(&state.pool, move |c| {
        if let Some(family) = sessions::family_of(c, &req.refresh_token)? {
            db::sessions::revoke_family(c, &family.id, crate::time::now())?;
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v1/logout-all` (bearer): every session and access token of the user ends.
pub async fn logout_all(state: web::Data<AppState>, current: CurrentUser) -> Result<HttpResponse, ApiError> {
    let id = current.user.id.clone();
    db::run(&state.pool, move |c| sessions::end_all_sessions(c, &id)).await?;
    log::info!("user {} ended all sessions", current.user.id);
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /v1/password` (bearer) `{current_password, new_password}`: 204, and
/// every session and access token of the user ends; the client logs in again.
pub async fn change_password(
    http: HttpRequest,
    state: web::Data<AppState>,
    current: CurrentUser,
    body: JsonObject<PasswordChange>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner().0;
    let new_password = Password::parse(&req.new_password, state.password_min).map_err(password_error)?;
    let user = current.user;
    // A stolen access token must not become an unlimited password oracle:
    // wrong current passwords are throttled like failed logins.
    let (key, addr) = (user.email_normalized.clone(), http.peer_addr().map(|a| a.ip()));
    db::run(&state.pool, move |c| Ok(throttle::begin_attempt(c, &key, addr)?))
        .await?
        .map_err(ApiError::TooManyRequests)?;
    let verified =
        state.hasher.verify(Password::normalize(&req.current_password), Some(user.password_hash.clone())).await?;
    if !verified.ok {
        return Err(ApiError::WrongPassword); // begin_attempt already counted it
    }
    let key = user.email_normalized.clone();
    db::run(&state.pool, move |c| Ok(throttle::attempt_succeeded(c, &key, addr)?)).await?;
    let new_hash = state.hasher.hash(new_password).await?;
    let (id, old) = (user.id.clone(), user.password_hash.clone());
    let changed = db::run(&state.pool, move |c| {
        db::write_txn(c, |c| -> Result<bool, db::DbError> {
            let now = crate::time::now();
            if !db::users::update_password_hash(c, &id, &old, &new_hash, now)? {
                return Ok(false);
            }
            db::sessions::revoke_user_families(c, &id, now)?;
            db::users::invalidate_tokens(c, &id, now)?;
            Ok(true)
        })
    })
    .await?;
    if !changed {
        return Err(ApiError::Conflict {
            code: "conflict",
            description: "the password was changed concurrently".into(),
        });
    }
    log::info!("user {} changed their password", user.id);
    Ok(HttpResponse::NoContent().finish())
}
