//! `ApiError`: the one JSON error shape of the HTTP API,
//! `{"error": CODE, "error_description": TEXT}` (SPEC §4).
//!
//! Handlers return `Result<_, ApiError>`. 5xx causes are logged in full here
//! and answered with a generic text; nothing from the database reaches a client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or breaks a rule; `code` names which.
    #[error("{description}")]
    BadRequest { code: &'static str, description: String },
    /// 401 `invalid_credentials`: wrong password and unknown email alike.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 401 `invalid_token` with `WWW-Authenticate`; `missing` when no token came at all.
    #[error("the access token is missing, invalid or expired")]
    InvalidToken { missing: bool },
    /// 403 `invalid_credentials`: the current password given to change it is wrong
    /// (not 401: the bearer token was fine).
    #[error("the current password is wrong")]
    WrongPassword,
    /// 403: authenticated, not allowed.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404.
    #[error("{0}")]
    NotFound(&'static str),
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: a conflict with existing state; `code` names it.
    #[error("{description}")]
    Conflict { code: &'static str, description: String },
    /// 409 `next_key_too_young`, with `ready_at`: a rotation without `force` came too early.
    #[error("{description}")]
    NextKeyTooYoung { description: String, ready_at: String },
    /// An OAuth 2.0 error (RFC 6749 §5.2): 401 for `invalid_client` (with a
    /// `WWW-Authenticate: Basic` challenge when `basic`), 400 otherwise.
    #[error("{description}")]
    OAuth { code: &'static str, description: String, basic: bool },
    /// 408: the request body took too long to arrive.
    #[error("the request took too long")]
    RequestTimeout,
    /// 413: the body exceeds the route's limit.
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415: not `application/json`.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// 429 with `Retry-After` (seconds): too many failed logins.
    #[error("too many failed attempts; retry in {0} seconds")]
    TooManyRequests(i64),
    /// 503 with `Retry-After`: the database is busy or down. The cause is logged.
    #[error("the service is temporarily unavailable, retry shortly")]
    Unavailable(String),
    /// 500. The cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, description: impl Into<String>) -> Self {
        Self::BadRequest { code, description: description.into() }
    }

    pub fn oauth(code: &'static str, description: impl Into<String>) -> Self {
        Self::OAuth { code, description: description.into(), basic: false }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => code,
            Self::NextKeyTooYoung { .. } => "next_key_too_young",
            Self::OAuth { code, .. } => code,
            Self::InvalidCredentials | Self::WrongPassword => "invalid_credentials",
            Self::InvalidToken { .. } => "invalid_token",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::RequestTimeout => "request_timeout",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::TooManyRequests(_) => "too_many_requests",
            Self::Unavailable(_) => "temporarily_unavailable",
            Self::Internal(_) => "server_error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::OAuth { code: "invalid_client", .. } => StatusCode::UNAUTHORIZED,
            Self::OAuth { .. } => StatusCode::BAD_REQUEST,
            Self::InvalidCredentials | Self::InvalidToken { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::WrongPassword => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } | Self::NextKeyTooYoung { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unavailable(cause) => log::warn!("answering 503: {cause}"),
            Self::Internal(cause) => log::error!("answering 500: {cause}"),
            _ => {}
        }
        let mut res = HttpResponse::build(self.status_code());
        res.insert_header((header::CACHE_CONTROL, "no-store"));
        match self {
            // RFC 6750 §3: no error code when the request carried no token at all.
            Self::InvalidToken { missing: true } => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Self::Forbidden(_) => {
                let challenge = "Bearer error=\"insufficient_scope\"";
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge)));
            }
            Self::InvalidToken { missing: false } => {
                res.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                ));
            }
            Self::Unavailable(_) => {
                res.insert_header((header::RETRY_AFTER, "2"));
            }
            Self::TooManyRequests(secs) => {
                res.insert_header((header::RETRY_AFTER, secs.max(&1).to_string()));
            }
            Self::OAuth { code: "invalid_client", basic: true, .. } => {
                res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"tessera\"")));
            }
            _ => {}
        }
        let mut body = json!({"error": self.code(), "error_description": self.to_string()});
        if let Self::NextKeyTooYoung { ready_at, .. } = self {
            body["ready_at"] = ready_at.clone().into();
        }
        res.json(body)
    }
}

impl From<DbError> for ApiError {
    /// Every database failure that a call site did not handle is "busy or
    /// down" to the client: never "invalid credentials", never "email taken".
    fn from(e: DbError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<crate::keys::material::KeyError> for ApiError {
    fn from(e: crate::keys::material::KeyError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::keys::rotation::LifecycleError> for ApiError {
    fn from(e: crate::keys::rotation::LifecycleError) -> Self {
        use crate::keys::rotation::LifecycleError as L;
        use crate::keys::store::StoreError;
        match e {
            L::NextKeyTooYoung { ready_at, .. } => {
                Self::NextKeyTooYoung { description: e.to_string(), ready_at: crate::time::rfc3339(ready_at) }
            }
            L::NotConfigured(_) => Self::bad_request("invalid_request", e.to_string()),
            L::NotFound(_) => Self::NotFound("no key has this kid"),
            L::NotRevocable { .. } => Self::Conflict { code: "key_not_revocable", description: e.to_string() },
            L::Conflict(_) => Self::Conflict { code: "conflict", description: e.to_string() },
            L::Store(StoreError::Db(db)) => db.into(),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        DbError::from(e).into()
    }
}
