//! Request metrics in Prometheus text format, and one log line per request.
//! Logs name the matched route pattern (`/api/v1/consultations/{id}`), never
//! the raw URI: query strings can carry citizens' phone numbers.

use std::{sync::OnceLock, time::Instant};

use axum::{
    extract::{MatchedPath, Request},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the metrics recorder (once): before it, counters are lost, so
/// the app does it when built, not at the first request.
pub(crate) fn install() {
    handle();
}

fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (several apps in one
        // test process); the handle still renders this recorder's view.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

pub(crate) async fn metrics() -> Response {
    let handle = handle();
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

pub(crate) async fn track(request: Request, next: Next) -> Response {
    handle();
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    metrics::counter!("dasan_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status.clone()).increment(1);
    metrics::histogram!("dasan_http_request_duration_seconds", "route" => route.clone())
        .record(seconds);
    tracing::info!(%method, %route, %status, millis = seconds * 1000.0, "request");
    response
}
