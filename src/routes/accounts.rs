//! Signup, login and the current user (SPEC §4, §5).

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::auth::CurrentUser;
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

/// A JSON body that must be an object: serde's derive would also read a
/// struct from an array in field order (`["a@b", "pw"]`), which is not our API.
pub type JsonObject = web::Json<serde_json::Map<String, serde_json::Value>>;

pub fn from_object<T: serde::de::DeserializeOwned>(body: JsonObject) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::Object(body.into_inner()))
        .map_err(|e| ApiError::bad_request("invalid_request", format!("invalid JSON body: {e}")))
}

#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
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

fn password_error(e: PasswordError) -> ApiError {
    match e {
        PasswordError::Common => ApiError::bad_request("weak_password", e.to_string()),
        _ => ApiError::bad_request("invalid_password", e.to_string()),
    }
}

fn token_for(state: &AppState, user: &UserRow) -> Result<TokenResponse, ApiError> {
    let claims = state.tokens.user_claims(&user.id, &user.email, &user.role);
    let issued = state.tokens.sign(&state.keys.current(), &claims)?;
    Ok(TokenResponse { access_token: issued.token, token_type: "Bearer", expires_in: issued.expires_in })
}

/// `POST /v1/signup`: 201 with a token response and the new user.
pub async fn signup(state: web::Data<AppState>, body: JsonObject) -> Result<HttpResponse, ApiError> {
    let Credentials { email, password } = from_object(body)?;
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
    let token = token_for(&state, &user)?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(SignupResponse { token, user: UserView::from(&user) }))
}

/// `POST /v1/login`: 200 with a token response. Unknown email, wrong password
/// and a disabled account are one answer, after the same amount of hashing.
pub async fn login(state: web::Data<AppState>, body: JsonObject) -> Result<HttpResponse, ApiError> {
    let Credentials { email, password } = from_object(body)?;
    let normalized = normalize_email(&email);
    let user = db::run(&state.pool, move |c| Ok(db::users::find_user_by_email(c, &normalized)?)).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.hasher.verify(Password::normalize(&password), stored).await?;
    let Some(user) = user.filter(|u| verified.ok && u.disabled_at.is_none()) else {
        return Err(ApiError::InvalidCredentials);
    };
    if verified.needs_rehash {
        rehash(&state, &user, Password::normalize(&password)).await;
    }
    let token = token_for(&state, &user)?;
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
