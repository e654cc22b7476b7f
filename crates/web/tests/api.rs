//! The HTTP API through `oneshot`, on a real SQLite store in a temp folder.
//! (The same API against PostgreSQL is exercised end to end by the CLI tests.)

use axum::{
    Router,
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, app, auth::issue_token};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Harness {
    app: Router,
    store: AnyStore,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        let state = AppState::load(store.clone(), SEOUL).await.expect("state");
        Harness {
            app: app(state),
            store,
            _dir: dir,
        }
    }

    async fn token(&self, role: Role) -> String {
        let issued = issue_token(role, "test").expect("randomness");
        self.store
            .create_token(&issued.record, &issued.secret_hash)
            .await
            .expect("store token");
        issued.secret
    }

    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Body>,
        content_type: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = self
            .app
            .clone()
            .oneshot(
                request
                    .body(body.unwrap_or_else(Body::empty))
                    .expect("request"),
            )
            .await
            .expect("infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, value)
    }

    /// A GET whose body is not JSON: status, content type, raw bytes.
    async fn get_bytes(&self, uri: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
        let request = Request::builder()
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request");
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, content_type, bytes.to_vec())
    }

    async fn get(&self, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, uri, token, None, None).await
    }

    async fn post_json(&self, uri: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            uri,
            token,
            Some(Body::from(body.to_string())),
            Some("application/json"),
        )
        .await
    }

    async fn post_raw(&self, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            uri,
            token,
            Some(Body::from(body.to_owned())),
            Some("application/json"),
        )
        .await
    }
}

fn valid_body() -> Value {
    json!({
        "channel": "voice",
        "category": "transport",
        "citizen_phone": "010-1234-5678",
        "summary": "N26 심야버스 노선 안내",
        "started_at": "2026-11-28T10:00:00+09:00",
        "ended_at": "2026-11-28T10:03:10+09:00",
        "outcome": "answered"
    })
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

#[tokio::test]
async fn health_answers_without_a_token() {
    let h = Harness::new().await;
    let (status, body) = h.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn a_consultation_is_created_and_read_back() {
    let h = Harness::new().await;
    let token = h.token(Role::Agent).await;
    let (status, created) = h
        .post_json("/api/v1/consultations", Some(&token), &valid_body())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().expect("id");
    assert_eq!(created["citizen_phone"], "+821012345678");
    assert_eq!(created["citizen_phone_display"], "010-1234-5678");
    assert_eq!(created["duration_seconds"], 190);
    assert_eq!(created["started_at"], "2026-11-28T01:00:00.000Z");

    let (status, read) = h
        .get(&format!("/api/v1/consultations/{id}"), Some(&token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);

    let audit = h.store.audit_entries(10).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "consultation.read" && e.subject == id),
        "{audit:?}"
    );
    assert!(!audit.iter().any(|e| e.action == "consultation.create"));
}

#[tokio::test]
async fn tokens_are_required_and_roles_enforced() {
    let h = Harness::new().await;
    let (status, body) = h
        .post_json("/api/v1/consultations", None, &valid_body())
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    let (status, body) = h
        .post_json(
            "/api/v1/consultations",
            Some("dsn_not-a-real-token"),
            &valid_body(),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let (status, body) = h
        .post_json("/api/v1/consultations", Some("garbage"), &valid_body())
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let agent_token = h.token(Role::Agent).await;
    let lowercase = Request::builder()
        .uri("/api/v1/categories")
        .header(header::AUTHORIZATION, format!("bearer {agent_token}"))
        .body(Body::empty())
        .expect("request");
    let response = h.app.clone().oneshot(lowercase).await.expect("infallible");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the scheme is case-insensitive"
    );
    let department = h.token(Role::Department).await;
    let (status, body) = h
        .post_json("/api/v1/consultations", Some(&department), &valid_body())
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, _) = h.get("/api/v1/consultations", Some(&department)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let agent = h.token(Role::Agent).await;
    let (status, body) = h.get("/api/v1/stats", Some(&agent)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let (status, body) = h
        .post_json(
            "/api/v1/agents",
            Some(&agent),
            &json!({"name": "x", "channels": ["voice"]}),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(h.store.count_consultations().await.expect("count"), 0);
}

#[tokio::test]
async fn bad_input_gets_a_json_4xx_and_writes_nothing() {
    let h = Harness::new().await;
    let token = h.token(Role::Agent).await;
    let with = |key: &str, value: Value| {
        let mut body = valid_body();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = valid_body();
        body.as_object_mut().expect("object").remove(key);
        body
    };
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            with("category", json!("transport.bus")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_category",
        ),
        (
            with("category", json!("DROP TABLE")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_category",
        ),
        (
            with("channel", json!("fax")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_channel",
        ),
        (
            with("citizen_phone", json!("010-12")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        ),
        (
            with("citizen_phone", json!(1012345678)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            with("ended_at", json!("2026-11-28T09:00:00+09:00")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reversed_times",
        ),
        (
            with("started_at", json!("2026-11-28 10:00")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_timestamp",
        ),
        (
            with("outcome", json!("transferred")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_department",
        ),
        (
            with("agent_id", json!("0190f5a0-0000-7000-8000-000000000000")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_agent",
        ),
        (
            with("id", json!("not-a-uuid")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_id",
        ),
        (
            with("colour", json!("blue")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            with("summary", json!("가".repeat(4001))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_long",
        ),
        (
            without("citizen_phone"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!([1, 2, 3]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ];
    for (body, status, code) in cases {
        let (got, answer) = h
            .post_json("/api/v1/consultations", Some(&token), &body)
            .await;
        assert_eq!((got, error_code(&answer)), (status, code), "{body}");
        assert!(answer["error"]["message"].is_string());
    }
    let (status, body) = h
        .post_raw("/api/v1/consultations", Some(&token), "{\"channel\": ")
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    let huge = format!("{{\"summary\": \"{}\"}}", "x".repeat(200_000));
    let (status, body) = h
        .post_raw("/api/v1/consultations", Some(&token), &huge)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let (status, body) = h
        .call(
            Method::POST,
            "/api/v1/consultations",
            Some(&token),
            Some(Body::from(valid_body().to_string())),
            Some("text/plain"),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    assert_eq!(h.store.count_consultations().await.expect("count"), 0);
}

#[tokio::test]
async fn a_retry_with_the_same_id_is_idempotent_and_a_different_one_conflicts() {
    let h = Harness::new().await;
    let token = h.token(Role::Agent).await;
    let mut body = valid_body();
    body["id"] = json!("0190f5a0-1234-7000-8000-000000000001");
    let (first, created) = h
        .post_json("/api/v1/consultations", Some(&token), &body)
        .await;
    assert_eq!(first, StatusCode::CREATED);
    let (again, replayed) = h
        .post_json("/api/v1/consultations", Some(&token), &body)
        .await;
    assert_eq!(again, StatusCode::OK);
    assert_eq!(replayed["id"], created["id"]);
    body["summary"] = json!("다른 내용");
    let (status, answer) = h
        .post_json("/api/v1/consultations", Some(&token), &body)
        .await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::CONFLICT, "conflict")
    );
    assert_eq!(h.store.count_consultations().await.expect("count"), 1);
}

#[tokio::test]
async fn listing_filters_pages_and_refuses_bad_queries() {
    let h = Harness::new().await;
    let token = h.token(Role::Supervisor).await;
    for (n, (category, phone)) in [
        ("transport.taxi", "010-1111-2222"),
        ("water.bill", "010-1111-2222"),
        ("transport", "02-120-0000"),
        ("welfare", "010-3333-4444"),
        ("transport.transit", "010-3333-4444"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = valid_body();
        body["category"] = json!(category);
        body["citizen_phone"] = json!(phone);
        body["started_at"] = json!(format!("2026-11-2{n}T10:00:00+09:00"));
        body["ended_at"] = json!(format!("2026-11-2{n}T10:05:00+09:00"));
        let (status, answer) = h
            .post_json("/api/v1/consultations", Some(&token), &body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let (status, page) = h
        .get(
            "/api/v1/consultations?category=transport&limit=2",
            Some(&token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["category"], "transport.transit");
    let cursor = page["next_cursor"].as_str().expect("more pages");
    let (_, next) = h
        .get(
            &format!("/api/v1/consultations?category=transport&limit=2&cursor={cursor}"),
            Some(&token),
        )
        .await;
    assert_eq!(next["items"].as_array().expect("items").len(), 1);
    assert!(next["next_cursor"].is_null());

    let (_, by_phone) = h
        .get(
            "/api/v1/consultations?citizen_phone=01011112222",
            Some(&token),
        )
        .await;
    assert_eq!(by_phone["items"].as_array().expect("items").len(), 2);
    let (_, by_time) = h
        .get(
            "/api/v1/consultations?from=2026-11-21&to=2026-11-23T00:00:00%2B09:00",
            Some(&token),
        )
        .await;
    assert_eq!(by_time["items"].as_array().expect("items").len(), 2);
    let (_, by_channel) = h
        .get("/api/v1/consultations?channel=sms", Some(&token))
        .await;
    assert_eq!(by_channel["items"].as_array().expect("items").len(), 0);

    for (query, status, code) in [
        ("cursor=garbage", StatusCode::BAD_REQUEST, "invalid_cursor"),
        ("limit=0", StatusCode::BAD_REQUEST, "invalid_limit"),
        ("limit=100000", StatusCode::BAD_REQUEST, "invalid_limit"),
        ("limit=abc", StatusCode::BAD_REQUEST, "invalid_query"),
        ("sort=name", StatusCode::BAD_REQUEST, "invalid_query"),
        (
            "category=nope",
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_category",
        ),
        (
            "citizen_phone=12",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
        ),
        (
            "from=2026-11-25&to=2026-11-20",
            StatusCode::UNPROCESSABLE_ENTITY,
            "reversed_times",
        ),
    ] {
        let (got, body) = h
            .get(&format!("/api/v1/consultations?{query}"), Some(&token))
            .await;
        assert_eq!((got, error_code(&body)), (status, code), "{query}");
    }
    let (status, body) = h
        .get("/api/v1/consultations/not-a-uuid", Some(&token))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = h
        .get(
            "/api/v1/consultations/0190f5a0-1234-7000-8000-00000000ffff",
            Some(&token),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = h.get("/api/v1/nothing-here", Some(&token)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = h
        .call(
            Method::DELETE,
            "/api/v1/consultations",
            Some(&token),
            None,
            None,
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn categories_agents_and_stats() {
    let h = Harness::new().await;
    let admin = h.token(Role::Admin).await;
    let (status, body) = h.get("/api/v1/categories", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    let codes: Vec<&str> = body["categories"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert!(
        codes.contains(&"transport.taxi")
            && codes.contains(&"water.moving")
            && codes.contains(&"documents")
    );

    let (status, agent) = h
        .post_json(
            "/api/v1/agents",
            Some(&admin),
            &json!({"name": "박수어", "skills": ["sign_language"], "channels": ["video", "voice"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{agent}");
    let id = agent["id"].as_str().expect("id");
    let (status, read) = h.get(&format!("/api/v1/agents/{id}"), Some(&admin)).await;
    assert_eq!((status, &read), (StatusCode::OK, &agent));
    let (status, body) = h
        .post_json(
            "/api/v1/agents",
            Some(&admin),
            &json!({"name": "x", "skills": ["juggling"], "channels": ["voice"]}),
        )
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_skill")
    );

    let mut body = valid_body();
    body["agent_id"] = json!(id);
    let (status, _) = h
        .post_json("/api/v1/consultations", Some(&admin), &body)
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, stats) = h.get("/api/v1/stats", Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stats["total"], 1);
    for key in [
        "milestones",
        "daily_average_by_month",
        "category_share",
        "channel_share",
        "night_by_month",
        "heavy_users",
    ] {
        assert!(!stats[key].is_null(), "{key} missing");
    }
    assert_eq!(stats["category_share"][0]["code"], "transport");
    assert_eq!(stats["category_share"][0]["share"], 1.0);
    let (status, filtered) = h.get("/api/v1/stats?channel=sms", Some(&admin)).await;
    assert_eq!((status, &filtered["total"]), (StatusCode::OK, &json!(0)));
    let (status, body) = h.get("/api/v1/stats?channel=pigeon", Some(&admin)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_channel")
    );
}

#[tokio::test]
async fn every_documented_path_is_served_and_metrics_count_requests() {
    let h = Harness::new().await;
    let admin = h.token(Role::Admin).await;
    let spec = dasan_web::openapi::spec();
    let paths = spec["paths"].as_object().expect("paths");
    let served = [
        "/healthz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/v1/consultations",
        "/api/v1/consultations/{id}",
        "/api/v1/categories",
        "/api/v1/agents",
        "/api/v1/agents/{id}",
        "/api/v1/stats",
        "/api/v1/consultations/export",
        "/api/v1/stats/export",
        "/api/v1/interactions",
        "/api/v1/interactions/{id}",
        "/api/v1/interactions/{id}/accept",
        "/api/v1/interactions/{id}/decline",
        "/api/v1/interactions/{id}/abandon",
        "/api/v1/interactions/{id}/complete",
        "/api/v1/desktop/state",
        "/api/v1/desktop/events",
        "/api/v1/desktop/presence",
        "/api/v1/wallboard",
        "/api/v1/wallboard/events",
        "/api/v1/interactions/{id}/messages",
        "/api/v1/messages",
        "/api/v1/stats/messages",
        "/api/v1/kb/search",
        "/api/v1/kb/articles",
        "/api/v1/kb/articles/{id}",
        "/api/v1/kb/articles/{id}/versions",
        "/api/v1/kb/synonyms",
        "/api/v1/kb/rebuild",
        "/api/v1/consultations/{id}/survey-link",
        "/api/v1/stats/satisfaction/agents",
        "/api/v1/surveys/reuse",
        "/api/v1/surveys/reuse/{id}",
        "/api/v1/care/departments",
        "/api/v1/care/departments/{id}",
        "/api/v1/care/departments/{id}/members",
        "/api/v1/care/seniors",
        "/api/v1/care/seniors/import",
        "/api/v1/care/seniors/{id}",
        "/api/v1/care/seniors/{id}/exit",
        "/api/v1/care/due",
        "/api/v1/care/calls/{id}",
        "/api/v1/care/calls/{id}/outcome",
        "/api/v1/care/interactions/{id}",
        "/api/v1/care/escalations",
        "/api/v1/care/escalations/{id}/status",
        "/api/v1/calls",
        "/api/v1/care/notices",
        "/api/v1/care/report",
    ];
    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    documented.sort();
    let mut expected = served.to_vec();
    expected.sort();
    assert_eq!(documented, expected, "the document and the router disagree");
    for path in served {
        for method in paths[path].as_object().expect("methods").keys() {
            // Event streams never end; tests/live.rs reads them.
            if method != "get" || path.ends_with("/events") {
                continue;
            }
            let uri = path.replace("{id}", "0190f5a0-1234-7000-8000-000000000009");
            let (status, body) = h.get(&uri, Some(&admin)).await;
            let route_missing =
                status == StatusCode::NOT_FOUND && body["error"]["message"] == "route not found";
            assert!(!route_missing, "{path} is documented but not served");
        }
    }
    let (status, metrics) = h.get("/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().expect("text");
    assert!(text.contains("dasan_http_requests_total"), "{text}");
    assert!(
        text.contains("route=\"/api/v1/consultations/{id}\""),
        "{text}"
    );
    assert!(
        !text.contains("0190f5a0-1234"),
        "raw URIs must not reach metrics"
    );
}

/// Consultations for the export tests: more than one page of the stream
/// (2,000), a third of them by SMS, and summaries that CSV must quote or
/// defuse.
async fn seed_for_export(store: &AnyStore) -> Vec<dasan_core::NewConsultation> {
    use dasan_core::{Channel, ConsultationId, NewConsultation, Outcome, PhoneNumber, Timestamp};
    let taxonomy = dasan_core::Taxonomy::seed();
    let base = Timestamp::parse_rfc3339("2026-11-01T09:00:00+09:00")
        .expect("time")
        .millis();
    let records: Vec<_> = (0..2_345u64)
        .map(|n| {
            let start = Timestamp::from_millis(base + n as i64 * 61_000).expect("time");
            let mut random = [0u8; 10];
            random[2..].copy_from_slice(&n.to_be_bytes());
            let summary = match n % 4 {
                0 => "=HYPERLINK(\"http://x\")".to_owned(),
                1 => "수도요금, \"이사\" 정산\n두 줄".to_owned(),
                _ => format!("상담 {n}"),
            };
            NewConsultation::from_parts(
                ConsultationId::v7(start, random),
                if n % 3 == 0 {
                    Channel::Sms
                } else {
                    Channel::Voice
                },
                taxonomy.resolve("water.moving").expect("code"),
                PhoneNumber::parse(&format!("010-3{:03}-{:04}", n % 1000, n)).expect("phone"),
                None,
                start,
                Timestamp::from_millis(start.millis() + 60_000).expect("time"),
                summary,
                Outcome::Answered,
                None,
            )
            .expect("valid")
        })
        .collect();
    store
        .record_consultations_bulk(records.clone())
        .await
        .expect("bulk");
    records
}

#[tokio::test]
async fn consultation_exports_stream_csv_and_xlsx_to_supervisors_only() {
    let h = Harness::new().await;
    let records = seed_for_export(&h.store).await;
    let supervisor = h.token(Role::Supervisor).await;
    let agent = h.token(Role::Agent).await;
    let (status, body) = h
        .get("/api/v1/consultations/export?format=csv", Some(&agent))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::FORBIDDEN, "forbidden")
    );

    let (status, content_type, bytes) = h
        .get_bytes(
            "/api/v1/consultations/export?format=csv&channel=sms",
            &supervisor,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let text = String::from_utf8(bytes).expect("utf-8");
    let text = text.strip_prefix('\u{feff}').expect("byte-order mark");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[0], "id");
    let summary_col = header.iter().position(|h| h == "summary").expect("summary");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    let sms: Vec<_> = records
        .iter()
        .filter(|r| r.channel == dasan_core::Channel::Sms)
        .collect();
    assert_eq!(rows.len(), sms.len(), "every SMS record once, across pages");
    let mut ids: Vec<String> = rows.iter().map(|r| r[0].to_owned()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), sms.len());
    // Quoting round-trips; a formula comes back defused.
    assert!(
        rows.iter()
            .any(|r| &r[summary_col] == "수도요금, \"이사\" 정산\n두 줄")
    );
    assert!(
        rows.iter()
            .any(|r| &r[summary_col] == "'=HYPERLINK(\"http://x\")")
    );
    assert!(rows.iter().all(|r| !r[summary_col].starts_with('=')));
    let audit = h.store.audit_entries(10).await.expect("audit");
    assert!(audit.iter().any(|e| e.action == "consultation.export"));

    let (status, content_type, bytes) = h
        .get_bytes("/api/v1/consultations/export?format=xlsx", &supervisor)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.contains("spreadsheetml"), "{content_type}");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("xlsx is a zip");
    let mut sheet = String::new();
    std::io::Read::read_to_string(
        &mut archive
            .by_name("xl/worksheets/sheet1.xml")
            .expect("first sheet"),
        &mut sheet,
    )
    .expect("sheet xml");
    assert_eq!(sheet.matches("<row ").count(), records.len() + 1);
    assert!(sheet.contains(&records[7].id.to_string()));

    for (query, code) in [
        ("format=pdf", "invalid_format"),
        ("format=csv&nonsense=1", "invalid_query"),
        ("channel=pigeon", "unknown_channel"),
    ] {
        let (status, body) = h
            .get(
                &format!("/api/v1/consultations/export?{query}"),
                Some(&supervisor),
            )
            .await;
        assert!(status.is_client_error(), "{query}: {status}");
        assert_eq!(error_code(&body), code, "{query}");
    }
}

#[tokio::test]
async fn every_report_exports_as_csv_and_xlsx() {
    let h = Harness::new().await;
    let records = seed_for_export(&h.store).await;
    let admin = h.token(Role::Admin).await;
    for report in dasan_web::REPORTS {
        let (status, _, bytes) = h
            .get_bytes(
                &format!("/api/v1/stats/export?report={report}&format=csv"),
                &admin,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(text.starts_with('\u{feff}'), "{report}");
        // (No million is reached here: the milestones report is a header.)
        let least = if *report == "milestones" { 1 } else { 2 };
        assert!(text.lines().count() >= least, "{report}: header and rows");
        let (status, _, bytes) = h
            .get_bytes(
                &format!("/api/v1/stats/export?report={report}&format=xlsx"),
                &admin,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert!(bytes.starts_with(b"PK"), "{report}: a zip");
    }
    let (_, _, bytes) = h
        .get_bytes("/api/v1/stats/export?report=categories&format=csv", &admin)
        .await;
    let text = String::from_utf8(bytes).expect("utf-8");
    assert!(
        text.contains(&format!("water,상수도,{},1", records.len())),
        "{text}"
    );
    let (status, body) = h
        .get("/api/v1/stats/export?report=gossip", Some(&admin))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "invalid_report")
    );
    let agent = h.token(Role::Agent).await;
    let (status, _) = h
        .get("/api/v1/stats/export?report=categories", Some(&agent))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_reports_page_draws_each_report_with_its_numbers_in_both_languages() {
    let h = Harness::new().await;
    let records = seed_for_export(&h.store).await;
    let supervisor = h.token(Role::Supervisor).await;
    let (status, content_type, bytes) = h.get_bytes("/reports", &supervisor).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = String::from_utf8(bytes).expect("utf-8");
    assert!(page.starts_with("<!doctype html><html lang=\"ko\">"));
    assert!(page.contains("상담 통계 보고서"));
    assert!(page.contains(&format!(
        "<span id=\"total\">{}</span>",
        dasan_web::charts::number(records.len() as f64)
    )));
    // Seven reports, each a chart beside a table, with downloads.
    assert_eq!(
        page.matches("<svg ").count(),
        dasan_web::REPORTS.len(),
        "{page}"
    );
    // ... and the satisfaction per agent, a table of its own.
    assert_eq!(
        page.matches("<table>").count(),
        dasan_web::REPORTS.len() + 1
    );
    assert!(page.contains("상담사별 만족도"));
    for report in dasan_web::REPORTS {
        assert!(
            page.contains(&format!(
                "/api/v1/stats/export?report={report}&amp;format=csv"
            )),
            "{report}"
        );
    }
    // Every record is water.moving: its top-level category has all of them.
    assert!(page.contains("상수도"));
    assert!(page.contains("100.0% (2,345)"), "{page}");

    let (status, _, bytes) = h
        .get_bytes(
            "/reports?lang=en&from=2026-11-02&to=&category=&channel=sms",
            &supervisor,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let page = String::from_utf8(bytes).expect("utf-8");
    assert!(page.contains("<html lang=\"en\">") && page.contains("Consultation reports"));
    assert!(page.contains("<option value=\"sms\" selected>"));
    assert!(page.contains("report=categories&amp;format=csv&amp;from=2026-11-02&amp;channel=sms"));

    let agent = h.token(Role::Agent).await;
    let (status, _) = h.get("/reports", Some(&agent)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h.get("/reports", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = h.get("/reports?channel=pigeon", Some(&supervisor)).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "unknown_channel")
    );
}
