//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::db;
use crate::state::AppState;

/// `GET /healthz`: the process serves HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database answers and every configured algorithm has an
/// active key, so the JWKS cannot lack one. Reports the key-set version so an
/// operator can see that all instances converged.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    // Reading the key table (not just `SELECT 1`) proves the schema is there too.
    let database = db::run(&state.pool, |c| Ok(db::keys::list_key_states(c)?)).await;
    let set = state.keys.current();
    let missing: Vec<&str> =
        state.key_settings.algs.iter().filter(|a| set.signer(**a).is_none()).map(|a| a.as_str()).collect();
    let active: serde_json::Map<String, serde_json::Value> = state
        .key_settings
        .algs
        .iter()
        .filter_map(|a| set.signer(*a).map(|k| (a.as_str().to_owned(), k.kid.clone().into())))
        .collect();
    match (database, missing.is_empty()) {
        (Ok(_), true) => HttpResponse::Ok().json(json!({
            "status": "ready",
            "database": "ok",
            "key_set_version": set.version(),
            "active_keys": active,
        })),
        (database, _) => {
            let mut problems = Vec::new();
            if let Err(e) = database {
                log::warn!("not ready: {e}");
                problems.push("the database does not answer".to_owned());
            }
            if !missing.is_empty() {
                problems.push(format!("no active key for {}", missing.join(", ")));
            }
            HttpResponse::ServiceUnavailable()
                .insert_header((actix_web::http::header::RETRY_AFTER, "2"))
                .json(json!({"error": "not_ready", "error_description": problems.join("; ")}))
        }
    }
}

/// `GET /metrics`: Prometheus / OpenMetrics text.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let Some(metrics) = &state.tokens.metrics else { return HttpResponse::NotFound().finish() };
    let interval = state.key_settings.rotation_interval.map(|d| d.as_secs() as i64);
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(metrics.render(&state.keys.current(), interval))
}
