//! Bad input never hurts: random bodies and random field values sent to the
//! create endpoint always get a 201 or a 4xx with the JSON error shape —
//! never a 5xx, a panic or a hang — and only 201s leave a record behind.

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, Store};
use dasan_web::{AppState, app, auth::issue_token};
use http_body_util::BodyExt;
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("010-1234-5678"),
            Just("+82 10 1234 5678"),
            Just("02-120-0000"),
            Just("transport.taxi"),
            Just("2026-11-28T10:00:00+09:00"),
            Just("1969-12-31T23:59:59Z"),
            Just("9999-12-31T23:59:59Z"),
            Just("transferred"),
            Just("voice"),
            Just("sms"),
            Just(""),
            Just("0190f5a0-1234-7000-8000-000000000001"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn valid_body() -> Value {
    json!({
        "channel": "voice", "category": "transport", "citizen_phone": "010-1234-5678",
        "summary": "안내", "started_at": "2026-11-28T10:00:00+09:00",
        "ended_at": "2026-11-28T10:03:10+09:00", "outcome": "answered"
    })
}

const FIELDS: [&str; 10] = [
    "id",
    "channel",
    "category",
    "citizen_phone",
    "agent_id",
    "started_at",
    "ended_at",
    "summary",
    "outcome",
    "department",
];

fn request_body() -> impl Strategy<Value = String> {
    prop_oneof![
        // Arbitrary text, including broken JSON.
        "\\PC{0,200}",
        // The valid body with some fields replaced, removed or added.
        prop::collection::vec((0..FIELDS.len(), prop::option::of(json_value())), 1..4).prop_map(
            |edits| {
                let mut body = valid_body();
                for (field, value) in edits {
                    let object = body.as_object_mut().expect("object");
                    match value {
                        Some(value) => {
                            object.insert(FIELDS[field].to_owned(), value);
                        }
                        None => {
                            object.remove(FIELDS[field]);
                        }
                    }
                }
                body.to_string()
            }
        ),
        json_value().prop_map(|v| v.to_string()),
    ]
}

#[test]
fn random_create_requests_get_201_or_a_json_4xx() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let (router, store, token) = runtime.block_on(async {
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("fuzz.db")))
            .await
            .expect("store");
        let issued = issue_token(Role::Agent, "fuzz").expect("randomness");
        store
            .create_token(&issued.record, &issued.secret_hash)
            .await
            .expect("token");
        let state = AppState::load(store.clone(), SEOUL).await.expect("state");
        (app(state), store, issued.secret)
    });
    let created = std::cell::Cell::new(0u64);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    runner
        .run(&request_body(), |body| {
            let (status, answer) = runtime.block_on(async {
                let request = Request::post("/api/v1/consultations")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.clone()))
                    .expect("request");
                let response = router.clone().oneshot(request).await.expect("infallible");
                let status = response.status();
                let bytes = response
                    .into_body()
                    .collect()
                    .await
                    .expect("body")
                    .to_bytes();
                (status, serde_json::from_slice::<Value>(&bytes).ok())
            });
            prop_assert!(
                status == StatusCode::CREATED
                    || status == StatusCode::OK
                    || status.is_client_error(),
                "{status} for {body}"
            );
            let answer = answer.expect("every answer is JSON");
            if status.is_client_error() {
                prop_assert!(answer["error"]["code"].is_string(), "{answer}");
            } else if status == StatusCode::CREATED {
                created.set(created.get() + 1);
            }
            Ok(())
        })
        .expect("no input hurts");
    let stored = runtime
        .block_on(store.count_consultations())
        .expect("count");
    assert_eq!(
        stored,
        created.get(),
        "only acknowledged requests leave records"
    );
}
