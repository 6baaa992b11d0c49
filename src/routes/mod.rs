//! The route table: every path tessera serves is registered here, and every
//! error the framework itself produces (bad JSON, wrong content type,
//! oversized body, unknown path, wrong method) gets the JSON error shape.

mod accounts;
pub mod admin;
mod body;
mod health;
mod json;
mod oauth;
mod sessions;
mod wellknown;

pub use wellknown::render_metadata;

use actix_web::error::{InternalError, JsonPayloadError, QueryPayloadError};
use actix_web::http::header;
use actix_web::{Resource, ResponseError, web};

use crate::error::ApiError;

/// Bodies on the auth routes are at most 16 KiB.
pub const AUTH_BODY_LIMIT: usize = 16 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .service(resource("/v1/signup", "POST").route(web::post().to(accounts::signup)))
        .service(resource("/v1/login", "POST").route(web::post().to(accounts::login)))
        .service(resource("/v1/me", "GET, HEAD").route(web::get().to(accounts::me)).route(web::head().to(accounts::me)))
        .service(resource("/v1/token/refresh", "POST").route(web::post().to(sessions::refresh)))
        .service(resource("/v1/logout", "POST").route(web::post().to(sessions::logout)))
        .service(resource("/v1/logout-all", "POST").route(web::post().to(sessions::logout_all)))
        .service(resource("/v1/password", "POST").route(web::post().to(sessions::change_password)))
        .service(
            web::scope("/oauth2")
                .service(resource("/token", "POST").route(web::post().to(oauth::token)))
                .service(resource("/revoke", "POST").route(web::post().to(oauth::revoke)))
                .service(resource("/introspect", "POST").route(web::post().to(oauth::introspect))),
        )
        .service(
            resource("/.well-known/jwks.json", "GET, HEAD, OPTIONS")
                .route(web::get().to(wellknown::jwks))
                .route(web::head().to(wellknown::jwks))
                .route(web::route().method(actix_web::http::Method::OPTIONS).to(wellknown::preflight)),
        )
        .service(
            resource("/.well-known/openid-configuration", "GET, HEAD")
                .route(web::get().to(wellknown::metadata))
                .route(web::head().to(wellknown::metadata)),
        )
        .service(
            resource("/.well-known/oauth-authorization-server", "GET, HEAD")
                .route(web::get().to(wellknown::metadata))
                .route(web::head().to(wellknown::metadata)),
        )
        .service(resource("/admin/keys", "GET").route(web::get().to(admin::list_keys)))
        .service(resource("/admin/keys/rotate", "POST").route(web::post().to(admin::rotate_keys)))
        .service(resource("/admin/keys/{kid}/revoke", "POST").route(web::post().to(admin::revoke_key)))
        .service(resource("/admin/users", "GET").route(web::get().to(admin::list_users)))
        .service(resource("/admin/users/{id}", "PATCH").route(web::patch().to(admin::update_user)))
        .service(resource("/admin/audit", "GET").route(web::get().to(admin::list_audit)))
        .service(
            resource("/healthz", "GET, HEAD")
                .route(web::get().to(health::healthz))
                .route(web::head().to(health::healthz)),
        )
        .service(resource("/metrics", "GET").route(web::get().to(health::metrics)))
        .service(
            resource("/readyz", "GET, HEAD").route(web::get().to(health::readyz)).route(web::head().to(health::readyz)),
        )
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::NotFound("no such endpoint"))
        }));
}

/// A resource that answers a method it does not serve with a JSON 405 and
/// the `Allow` header RFC 9110 asks for.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        let mut res = ApiError::MethodNotAllowed.error_response();
        res.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static(allow));
        res
    }))
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(AUTH_BODY_LIMIT).error_handler(|err, _req| {
        let api = match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::PayloadTooLarge(AUTH_BODY_LIMIT)
            }
            JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
            JsonPayloadError::Payload(e) if body::is_timeout(e) => ApiError::RequestTimeout,
            JsonPayloadError::Deserialize(e) => {
                ApiError::bad_request("invalid_request", format!("invalid JSON body: {}", clip(&e.to_string())))
            }
            other => ApiError::bad_request(
                "invalid_request",
                format!("could not read the body: {}", clip(&other.to_string())),
            ),
        };
        InternalError::from_response(err, api.error_response()).into()
    })
}

fn query_error(err: QueryPayloadError, _req: &actix_web::HttpRequest) -> actix_web::Error {
    let api = ApiError::bad_request("invalid_request", format!("invalid query string: {}", clip(&err.to_string())));
    InternalError::from_response(err, api.error_response()).into()
}

/// Middleware: counts every request by method, route pattern and status, and its latency.
pub async fn track_request(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let start = std::time::Instant::now();
    let method = req.method().to_string();
    let state = req.app_data::<web::Data<crate::state::AppState>>().cloned();
    let res = next.call(req).await?;
    if let Some(metrics) = state.as_ref().and_then(|s| s.tokens.metrics.as_ref()) {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".into());
        metrics.record_request(&method, &route, res.status().as_u16(), start.elapsed());
    }
    Ok(res)
}

/// How long a request body may take to arrive: a client that sends its
/// headers and then trickles (or withholds) the body would otherwise hold a
/// connection forever. actix-web itself limits only the time to the headers.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Middleware: gives every request body a deadline (see `body::Deadline`).
pub async fn limit_body_time(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let (http_req, payload) = req.into_parts();
    let payload = body::Deadline::new(payload, BODY_TIMEOUT);
    let stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = _>>> = Box::pin(payload);
    next.call(actix_web::dev::ServiceRequest::from_parts(http_req, stream.into())).await
}

/// Error texts from parsers may quote the input; keep them short.
fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}
