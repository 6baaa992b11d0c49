//! `GET /metrics`: Prometheus text with the series SPEC §4 lists.

use crate::both_backends;
use crate::helpers::*;

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(series)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

both_backends! {
    fn metrics_count_requests_tokens_failures_and_show_key_ages(backend) {
        let Some(app) = spawn_app(backend) else { return };
        let (email, _) = app.new_user();
        assert_eq!(app.login(&email, "not the password at all").status, 401);
        let (_, admin) = app.new_admin();
        for _ in 0..3 {
            let id = uuid::Uuid::new_v4();
            app.patch_authed(&format!("/admin/users/{id}"), &admin, &serde_json::json!({"role": "user"}));
        }
        app.get("/no/such/path/at/all");
        let res = app.get("/metrics");
        assert_eq!(res.status, 200);
        assert!(res.header("content-type").unwrap().starts_with("application/openmetrics-text"));
        let text = res.body;
        let kid = app.active_kid(tessera::keys::Alg::Rs256);
        assert_eq!(value(&text, r#"tessera_http_requests_total{method="POST",route="/v1/signup",status="201"}"#), Some(2.0));
        assert!(text.contains(r#"route="/admin/users/{id}",status="404""#), "routes are patterns, not paths");
        assert!(text.contains(r#"route="unmatched",status="404""#));
        assert!(!text.contains("no/such/path"));
        assert!(text.contains("tessera_http_request_duration_seconds_bucket{"));
        let signed = value(&text, &format!(r#"tessera_tokens_signed_total{{alg="RS256",kid="{kid}"}}"#)).unwrap();
        assert!(signed >= 3.0, "{signed}");
        assert_eq!(value(&text, r#"tessera_login_failures_total{reason="invalid_credentials"}"#), Some(1.0));
        assert!(value(&text, &format!(r#"tessera_key_age_seconds{{alg="RS256",kid="{kid}",state="active"}}"#)).is_some());
        let until = value(&text, r#"tessera_seconds_until_rotation{alg="EdDSA"}"#).unwrap();
        assert!((29.0 * 86_400.0..=30.0 * 86_400.0).contains(&until), "{until}");
    }
}
