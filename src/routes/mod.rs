//! The route table: every path tessera serves is registered here, and every
//! error the framework itself produces (bad JSON, wrong content type,
//! oversized body, unknown path, wrong method) gets the JSON error shape.

mod accounts;
pub mod admin;
mod health;
mod wellknown;

pub use wellknown::render_metadata;

use actix_web::error::{InternalError, JsonPayloadError, QueryPayloadError};
use actix_web::{Resource, ResponseError, web};

use crate::error::ApiError;

/// Bodies on the auth routes are at most 16 KiB.
pub const AUTH_BODY_LIMIT: usize = 16 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .service(resource("/v1/signup").route(web::post().to(accounts::signup)))
        .service(resource("/v1/login").route(web::post().to(accounts::login)))
        .service(resource("/v1/me").route(web::get().to(accounts::me)))
        .service(
            resource("/.well-known/jwks.json")
                .route(web::get().to(wellknown::jwks))
                .route(web::route().method(actix_web::http::Method::OPTIONS).to(wellknown::preflight)),
        )
        .service(resource("/.well-known/openid-configuration").route(web::get().to(wellknown::metadata)))
        .service(resource("/.well-known/oauth-authorization-server").route(web::get().to(wellknown::metadata)))
        .service(resource("/admin/keys").route(web::get().to(admin::list_keys)))
        .service(resource("/admin/keys/rotate").route(web::post().to(admin::rotate_keys)))
        .service(resource("/admin/keys/{kid}/revoke").route(web::post().to(admin::revoke_key)))
        .service(resource("/admin/users").route(web::get().to(admin::list_users)))
        .service(resource("/admin/users/{id}").route(web::patch().to(admin::update_user)))
        .service(resource("/admin/audit").route(web::get().to(admin::list_audit)))
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::NotFound("no such endpoint"))
        }));
}

/// A resource that answers a method it does not serve with a JSON 405.
fn resource(path: &str) -> Resource {
    web::resource(path)
        .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed) }))
}

fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(AUTH_BODY_LIMIT).error_handler(|err, _req| {
        let api = match &err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::PayloadTooLarge(AUTH_BODY_LIMIT)
            }
            JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
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

/// Error texts from parsers may quote the input; keep them short.
fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}
