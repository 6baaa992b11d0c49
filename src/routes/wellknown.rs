//! The JWKS and the discovery documents: public, cacheable, CORS-open.
//! Both are rendered once per change; a request only picks and sends bytes.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::error::ApiError;
use crate::keys::Alg;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct JwksQuery {
    alg: Option<String>,
}

/// Whether `If-None-Match` lists `etag` (weak comparison, RFC 9110 §13.1.2).
fn matches_etag(req: &HttpRequest, etag: &str) -> bool {
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag
    })
}

/// `GET /.well-known/jwks.json[?alg=RS256|EdDSA]`.
pub async fn jwks(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<JwksQuery>,
) -> Result<HttpResponse, ApiError> {
    let alg = match query.alg.as_deref() {
        None => None,
        Some(a) => {
            Some(Alg::parse(a).ok_or_else(|| ApiError::bad_request("invalid_request", "alg must be RS256 or EdDSA"))?)
        }
    };
    let set = state.keys.current();
    let doc = set.jwks(alg);
    let ks = &state.key_settings;
    // Never promise a cache lifetime beyond the next scheduled change of the set.
    let until_change = set
        .next_change(ks.rotation_interval.map(|d| d.as_secs() as i64))
        .map_or(u64::MAX, |at| (at - crate::time::now()).max(0) as u64);
    let max_age = ks.jwks_max_age.as_secs().min(until_change);
    // A stale copy is still safe to use while we are down for as long as a
    // next key is published before it signs.
    let cache = format!("public, max-age={max_age}, stale-if-error={}", ks.prepublish.as_secs());
    let not_modified = matches_etag(&req, &doc.etag);
    let mut res = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, doc.etag.clone()))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_EXPOSE_HEADERS, "ETag"));
    if not_modified {
        return Ok(res.finish());
    }
    Ok(res.content_type("application/json").body(doc.body.clone()))
}

/// CORS preflight for browsers that send `If-None-Match`.
pub async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, OPTIONS"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "If-None-Match"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
pub async fn metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.key_settings.jwks_max_age.as_secs()),
        ))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .content_type("application/json")
        .body(state.metadata.clone())
}

/// The discovery document (RFC 8414 / OpenID Connect Discovery): only
/// endpoints that exist are listed.
pub fn render_metadata(issuer: &str, algs: &[Alg]) -> String {
    let base = issuer.trim_end_matches('/');
    let algs: Vec<&str> = algs.iter().map(|a| a.as_str()).collect();
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "signup_endpoint": format!("{base}/v1/signup"),
        "login_endpoint": format!("{base}/v1/login"),
        "refresh_endpoint": format!("{base}/v1/token/refresh"),
        "account_endpoint": format!("{base}/v1/me"),
        "grant_types_supported": ["refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "access_token_signing_alg_values_supported": algs,
        "id_token_signing_alg_values_supported": algs,
    })
    .to_string()
}
