//! Signup, login and the current user (SPEC §4, §5).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::json::JsonObject;
use crate::auth::{CurrentUser, sessions, throttle};
use crate::db::{self, users::UserRow};
use crate::domain::{Email, Password, PasswordError, Role, normalize_email};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    email: String,
    password: String,
}

/// RFC 6749 §5.1: no `refresh_token` for client_credentials, `scope` only for it.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub role: String,
    pub created_at: String,
}

impl From<&UserRow> for UserView {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
            created_at: crate::time::rfc3339(u.created_at),
        }
    }
}

#[derive(Serialize)]
struct SignupResponse {
    #[serde(flatten)]
    token: TokenResponse,
    user: UserView,
}

pub fn password_error(e: PasswordError) -> ApiError {
    match e {
        PasswordError::Common => ApiError::bad_request("weak_password", e.to_string()),
        _ => ApiError::bad_request("invalid_password", e.to_string()),
    }
}

/// An access token for `user`, and the refresh token given (a new session's, or a successor).
pub fn user_tokens(state: &AppState, user: &UserRow, refresh_token: String) -> Result<TokenResponse, ApiError> {
    sign_user_tokens(state, &state.tokens.user_claims(&user.id, &user.email, &user.role), refresh_token)
}

/// Signs `claims` and pairs the access token with `refresh_token`.
pub fn sign_user_tokens(
    state: &AppState,
    claims: &crate::auth::AccessClaims,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let issued = state.tokens.sign(&state.keys.current(), claims)?;
    Ok(TokenResponse {
        access_token: issued.token,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: Some(refresh_token),
        scope: None,
    })
}

/// Starts a session (refresh-token family) for `user` and issues both tokens.
async fn new_session(state: &AppState, user: &UserRow) -> Result<TokenResponse, ApiError> {
    let (id, ttl) = (user.id.clone(), state.sessions.refresh_ttl_secs);
    let refresh = db::run(&state.pool, move |c| sessions::start_session(c, &id, ttl)).await?;
    user_tokens(state, user, refresh)
}

/// `POST /v1/signup`: 201 with a token response and the new user.
pub async fn signup(state: web::Data<AppState>, body: JsonObject<Credentials>) -> Result<HttpResponse, ApiError> {
    let Credentials { email, password } = body.into_inner().0;
    let email = Email::parse(&email).map_err(|m| ApiError::bad_request("invalid_email", m))?;
    let password = Password::parse(&password, state.password_min).map_err(password_error)?;
    let password_hash = state.hasher.hash(password).await?;
    let user = UserRow::new(&email, password_hash, Role::User);
    let row = user.clone();
    match db::run(&state.pool, move |c| Ok(db::users::insert_user(c, &row)?)).await {
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::Conflict {
                code: "email_taken",
                description: "an account with this email already exists".into(),
            });
        }
        other => other?,
    }
    log::info!("user {} signed up", user.id);
    let token = new_session(&state, &user).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SignupResponse { token, user: UserView::from(&user) }))
}

/// `POST /v1/login`: 200 with a token response. Unknown email, wrong password
/// and a disabled account are one answer, after the same amount of hashing.
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: JsonObject<Credentials>,
) -> Result<HttpResponse, ApiError> {
    let Credentials { email, password } = body.into_inner().0;
    let normalized = normalize_email(&email);
    let addr = req.peer_addr().map(|a| a.ip());
    // Throttled before any hashing, so refused guesses cost us nothing.
    let key = normalized.clone();
    let found = db::run(&state.pool, move |c| {
        if let Err(wait) = throttle::begin_attempt(c, &key, addr)? {
            return Ok(Err(wait));
        }
        Ok(Ok(db::users::find_user_by_email(c, &key)?))
    })
    .await?;
    let metrics = state.tokens.metrics.clone();
    let user = found.map_err(|wait| {
        if let Some(m) = &metrics {
            m.record_login_failure("throttled");
        }
        ApiError::TooManyRequests(wait)
    })?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.hasher.verify(Password::normalize(&password), stored).await?;
    let Some(user) = user.filter(|u| verified.ok && u.disabled_at.is_none()) else {
        if let Some(m) = &metrics {
            m.record_login_failure("invalid_credentials");
        }
        // begin_attempt already counted this failure.
        return Err(ApiError::InvalidCredentials);
    };
    db::run(&state.pool, move |c| Ok(throttle::attempt_succeeded(c, &normalized, addr)?)).await?;
    if verified.needs_rehash {
        rehash(&state, &user, Password::normalize(&password)).await;
    }
    let token = new_session(&state, &user).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(token))
}

/// Upgrades a hash made with weaker parameters. A failure only costs the upgrade.
async fn rehash(state: &AppState, user: &UserRow, password: Password) {
    let Ok(new_hash) = state.hasher.hash(password).await else { return };
    let (id, old) = (user.id.clone(), user.password_hash.clone());
    let result = db::run(&state.pool, move |c| {
        Ok(db::users::update_password_hash(c, &id, &old, &new_hash, crate::time::now())?)
    })
    .await;
    match result {
        Ok(_) => log::info!("re-hashed the password of user {} with the current parameters", user.id),
        Err(e) => log::warn!("could not re-hash the password of user {}: {e}", user.id),
    }
}

/// `GET /v1/me`.
pub async fn me(current: CurrentUser) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(UserView::from(&current.user))
}
