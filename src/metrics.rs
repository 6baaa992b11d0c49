//! Prometheus metrics (`GET /metrics`, OpenMetrics text): requests by route
//! and status, latency histograms, tokens signed per `alg` and `kid`, login
//! failures, key ages and seconds until the next rotation.
//!
//! Routes are labelled by their pattern (`/admin/users/{id}`), never by the
//! raw path, so label cardinality stays bounded whatever clients send.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::keys::KeySet;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    alg: String,
    kid: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyStateLabels {
    alg: String,
    kid: String,
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlgLabels {
    alg: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 8 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 14))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    tokens_signed: Family<KeyLabels, Counter>,
    login_failures: Family<ReasonLabels, Counter>,
    key_age: Family<KeyStateLabels, Gauge>,
    next_rotation: Family<AlgLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("tessera");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram as _);
        let tokens_signed = Family::<KeyLabels, Counter>::default();
        let login_failures = Family::<ReasonLabels, Counter>::default();
        let key_age = Family::<KeyStateLabels, Gauge>::default();
        let next_rotation = Family::<AlgLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests by method, route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("tokens_signed", "Access tokens signed, by alg and kid", tokens_signed.clone());
        registry.register("login_failures", "Failed logins: invalid_credentials or throttled", login_failures.clone());
        registry.register("key_age_seconds", "Age of each published key", key_age.clone());
        registry.register("seconds_until_rotation", "Seconds until the next scheduled rotation", next_rotation.clone());
        Self { registry, requests, latency, tokens_signed, login_failures, key_age, next_rotation }
    }
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "OTHER",
        };
        self.requests.get_or_create(&RequestLabels { method: method.into(), route: route.into(), status }).inc();
        self.latency.get_or_create(&RouteLabels { route: route.into() }).observe(elapsed.as_secs_f64());
    }

    pub fn record_token(&self, alg: &str, kid: &str) {
        self.tokens_signed.get_or_create(&KeyLabels { alg: alg.into(), kid: kid.into() }).inc();
    }

    pub fn record_login_failure(&self, reason: &str) {
        self.login_failures.get_or_create(&ReasonLabels { reason: reason.into() }).inc();
    }

    /// The text exposition, with the key gauges taken from `keys` now.
    pub fn render(&self, keys: &KeySet, rotation_interval_secs: Option<i64>) -> String {
        let now = crate::time::now();
        self.key_age.clear();
        for key in keys.published() {
            let labels = KeyStateLabels {
                alg: key.alg().as_str().into(),
                kid: key.kid.clone(),
                state: key.state.as_str().into(),
            };
            self.key_age.get_or_create(&labels).set(now - key.created_at);
        }
        self.next_rotation.clear();
        if let Some(interval) = rotation_interval_secs {
            for (alg, activated_at) in keys.activations() {
                let labels = AlgLabels { alg: alg.as_str().into() };
                self.next_rotation.get_or_create(&labels).set(activated_at + interval - now);
            }
        }
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            log::error!("encoding metrics failed: {e}");
        }
        out
    }
}
