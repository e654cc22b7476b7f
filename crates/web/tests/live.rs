//! The live floor over HTTP (through `oneshot`, on a real SQLite store):
//! queueing interactions, offers, accept/decline, the consultation form,
//! wrap-up, abandon, the desktop and wallboard documents and their event
//! streams, the pages, and every refusal (other agent's contact, wrong role,
//! missing CSRF token, forged session, bad bodies).

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, SessionRecord, Store};
use dasan_web::{AppState, app, auth, floor::FloorConfig, session::create_user};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Who sends a request: a bearer token, or a browser session (cookie plus,
/// for writes, its CSRF token).
#[derive(Clone, Copy)]
enum As<'a> {
    Nobody,
    Token(&'a str),
    Session(&'a Browser),
    SessionWithoutCsrf(&'a Browser),
}

struct Browser {
    cookie: String,
    csrf: String,
    user_id: uuid::Uuid,
}

async fn send(app: &Router, who: As<'_>, method: &str, uri: &str, body: Option<Value>) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    match who {
        As::Nobody => {}
        As::Token(token) => {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"))
        }
        As::Session(browser) => {
            request = request
                .header(header::COOKIE, format!("dasan_session={}", browser.cookie))
                .header("x-csrf-token", &browser.csrf);
        }
        As::SessionWithoutCsrf(browser) => {
            request = request.header(header::COOKIE, format!("dasan_session={}", browser.cookie));
        }
    }
    let body = match body {
        Some(value) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(value.to_string())
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Reply {
        status,
        location,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

struct Center {
    app: Router,
    store: AnyStore,
    token: String,
    department_token: String,
    agent: Browser,
    other_agent: Browser,
    supervisor: Browser,
    _dir: tempfile::TempDir,
}

async fn browser(store: &AnyStore, username: &str, name: &str, role: Role) -> Browser {
    let user = create_user(store, username, name, role, "a long password")
        .await
        .expect("user");
    let cookie = format!("secret-of-{username}");
    let csrf = format!("csrf-of-{username}");
    store
        .create_session(&SessionRecord {
            id_hash: auth::hash_secret(&cookie),
            user_id: user.id,
            csrf_token: csrf.clone(),
            expires_at: dasan_core::Timestamp::parse_rfc3339("2099-01-01T00:00:00Z")
                .expect("far future"),
        })
        .await
        .expect("session");
    Browser {
        cookie,
        csrf,
        user_id: user.id,
    }
}

async fn token(store: &AnyStore, role: Role) -> String {
    let issued = auth::issue_token(role, "test").expect("token");
    store
        .create_token(&issued.record, &issued.secret_hash)
        .await
        .expect("stored");
    issued.secret
}

async fn center() -> Center {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    let agent = browser(&store, "lee", "이상담", Role::Agent).await;
    let other_agent = browser(&store, "park", "박상담", Role::Agent).await;
    let supervisor = browser(&store, "kim", "김감독", Role::Supervisor).await;
    let token = token(&store, Role::Admin).await;
    let department_token = token_for_department(&store).await;
    // Offers wait long enough that no test races the time-out.
    let config = FloorConfig {
        offer_timeout_millis: 600_000,
        ..FloorConfig::default()
    };
    let state = AppState::load_with(store.clone(), SEOUL, config)
        .await
        .expect("state");
    Center {
        app: app(state),
        store,
        token,
        department_token,
        agent,
        other_agent,
        supervisor,
        _dir: dir,
    }
}

async fn token_for_department(store: &AnyStore) -> String {
    token(store, Role::Department).await
}

fn water_call() -> Value {
    json!({"channel":"voice","citizen_phone":"010-2222-1200","category":"water","priority":0})
}

async fn presence(center: &Center, browser: &Browser, wanted: &str) -> Value {
    let reply = send(
        &center.app,
        As::Session(browser),
        "POST",
        "/api/v1/desktop/presence",
        Some(json!({ "presence": wanted })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

async fn desktop(center: &Center, browser: &Browser) -> Value {
    let reply = send(
        &center.app,
        As::Session(browser),
        "GET",
        "/api/v1/desktop/state",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

async fn wallboard(center: &Center) -> Value {
    let reply = send(
        &center.app,
        As::Session(&center.supervisor),
        "GET",
        "/api/v1/wallboard",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.json()
}

async fn audited(store: &AnyStore, action: &str) -> usize {
    store
        .audit_entries(500)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.action == action)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_is_queued_offered_accepted_recorded_and_wrapped_up() {
    let center = center().await;
    // Queued with nobody on the floor.
    let reply = send(
        &center.app,
        As::Token(&center.token),
        "POST",
        "/api/v1/interactions",
        Some(water_call()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let queued = reply.json();
    assert_eq!(queued["state"], "queued");
    assert_eq!(queued["channel"], "voice");
    assert_eq!(queued["category"], "water");
    assert_eq!(queued["citizen_phone"], "+821022221200");
    assert_eq!(queued["queue"], "voice/water");
    let id = queued["id"].as_str().expect("id").to_owned();
    let board = wallboard(&center).await;
    assert_eq!(board["queues"][0]["waiting"], 1);
    assert_eq!(board["queues"][0]["offered"], 1);
    assert!(
        !board.to_string().contains("2222"),
        "no citizen data on the wallboard"
    );

    // The agent joins (offline), goes available and is offered the contact.
    assert_eq!(desktop(&center, &center.agent).await["presence"], "offline");
    let screen = presence(&center, &center.agent, "available").await;
    assert_eq!(screen["presence"], "reserved", "{screen}");
    assert_eq!(screen["offer"]["id"], id.as_str());
    assert!(screen["offer"]["remaining_ms"].as_i64().expect("countdown") > 0);
    assert_eq!(screen["offer"]["citizen_phone_display"], "010-2222-1200");

    // Another agent cannot take it, read it or finish it.
    desktop(&center, &center.other_agent).await;
    for action in ["accept", "decline"] {
        let reply = send(
            &center.app,
            As::Session(&center.other_agent),
            "POST",
            &format!("/api/v1/interactions/{id}/{action}"),
            None,
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{action}: {}",
            reply.body
        );
        assert_eq!(reply.json()["error"]["code"], "not_your_interaction");
    }
    let reply = send(
        &center.app,
        As::Session(&center.other_agent),
        "GET",
        &format!("/api/v1/interactions/{id}"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        audited(&center.store, "interaction.refused").await,
        3,
        "refusals are logged"
    );

    // Accept: connected, with what the form needs.
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["state"], "connected");
    let screen = desktop(&center, &center.agent).await;
    assert_eq!(screen["presence"], "busy");
    assert!(screen["offer"].is_null());
    assert_eq!(screen["contacts"][0]["id"], id.as_str());
    let board = wallboard(&center).await;
    assert_eq!(board["queues"][0]["waiting"], 0);
    assert_eq!(board["queues"][0]["answered"], 1);
    assert_eq!(board["agents_by_state"]["busy"], 1);

    // The other agent cannot write its consultation.
    let form = json!({"category":"water.bill","summary":"요금 문의 안내","outcome":"transferred","department":"waterworks"});
    let reply = send(
        &center.app,
        As::Session(&center.other_agent),
        "POST",
        &format!("/api/v1/interactions/{id}/complete"),
        Some(form.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // A bad form changes nothing.
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{id}/complete"),
        Some(json!({"category":"water.bill","summary":"x","outcome":"transferred"})),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert_eq!(center.store.count_consultations().await.expect("count"), 0);

    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{id}/complete"),
        Some(form.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let consultation = reply.json();
    assert_eq!(
        consultation["id"],
        id.as_str(),
        "the consultation keeps the interaction's id"
    );
    assert_eq!(consultation["agent_id"], center.agent.user_id.to_string());
    assert_eq!(consultation["department"], "waterworks");
    let stored = center
        .store
        .get_consultation(dasan_core::ConsultationId(
            uuid::Uuid::parse_str(&id).expect("uuid"),
        ))
        .await
        .expect("read")
        .expect("durable before the answer");
    assert_eq!(stored.record.citizen_phone.e164(), "+821022221200");
    // Submitting again records nothing more.
    let again = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{id}/complete"),
        Some(form),
    )
    .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(
        again.json()["summary"],
        consultation["summary"],
        "the stored record"
    );
    assert_eq!(center.store.count_consultations().await.expect("count"), 1);

    // Wrap-up, then ready again.
    let screen = desktop(&center, &center.agent).await;
    assert_eq!(screen["presence"], "wrap_up");
    assert!(screen["contacts"].as_array().expect("list").is_empty());
    assert_eq!(
        presence(&center, &center.agent, "available").await["presence"],
        "available"
    );
    let reply = send(
        &center.app,
        As::Token(&center.token),
        "GET",
        &format!("/api/v1/interactions/{id}"),
        None,
    )
    .await;
    assert_eq!(reply.json()["state"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_offer_goes_to_the_next_agent_and_an_abandon_counts() {
    let center = center().await;
    presence(&center, &center.agent, "available").await;
    let first = send(
        &center.app,
        As::Token(&center.token),
        "POST",
        "/api/v1/interactions",
        Some(water_call()),
    )
    .await
    .json();
    assert_eq!(
        first["state"], "offered",
        "an available agent is offered at once"
    );
    assert_eq!(first["agent_id"], center.agent.user_id.to_string());
    let id = first["id"].as_str().expect("id");

    presence(&center, &center.other_agent, "available").await;
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{id}/decline"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.json()["agent_id"],
        center.other_agent.user_id.to_string(),
        "re-offered"
    );
    assert_eq!(
        desktop(&center, &center.agent).await["presence"],
        "break",
        "a decline puts the agent on break"
    );
    assert_eq!(
        desktop(&center, &center.other_agent).await["offer"]["id"],
        id
    );

    // The citizen hangs up while it rings: abandoned, the offer is withdrawn.
    let reply = send(
        &center.app,
        As::Token(&center.token),
        "POST",
        &format!("/api/v1/interactions/{id}/abandon"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.json()["state"], "abandoned");
    let screen = desktop(&center, &center.other_agent).await;
    assert!(screen["offer"].is_null());
    assert_eq!(screen["presence"], "available");
    let board = wallboard(&center).await;
    assert_eq!(board["total"]["abandoned"], 1);
    assert_eq!(board["total"]["short_abandoned"], 1, "it rang under 5 s");
    // Too late to accept or abandon again.
    let reply = send(
        &center.app,
        As::Session(&center.other_agent),
        "POST",
        &format!("/api/v1/interactions/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    let reply = send(
        &center.app,
        As::Token(&center.token),
        "POST",
        &format!("/api/v1/interactions/{id}/abandon"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);

    // Required skills: nobody here speaks English, so it waits.
    let english = json!({"channel":"voice","citizen_phone":"010-3333-1200","required_skills":["lang:en"],"priority":3});
    let reply = send(
        &center.app,
        As::Token(&center.token),
        "POST",
        "/api/v1/interactions",
        Some(english),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.json()["state"], "queued");
    assert_eq!(reply.json()["queue"], "voice/general+lang:en");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_agent_declining_leaves_the_contact_queued_and_sign_out_can_be_taken_back() {
    let center = center().await;
    presence(&center, &center.agent, "available").await;
    let call = send(
        &center.app,
        As::Token(&center.token),
        "POST",
        "/api/v1/interactions",
        Some(water_call()),
    )
    .await
    .json();
    let id = call["id"].as_str().expect("id").to_owned();
    assert_eq!(call["state"], "offered");
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{id}/decline"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let declined = reply.json();
    assert_eq!(declined["state"], "queued", "back in the queue: {declined}");
    assert!(declined["agent_id"].is_null());
    let screen = desktop(&center, &center.agent).await;
    assert!(screen["offer"].is_null(), "no stale offer on the desktop");
    assert_eq!(screen["presence"], "break");
    assert_eq!(wallboard(&center).await["queues"][0]["waiting"], 1);
    // Ready again: offered again.
    let screen = presence(&center, &center.agent, "available").await;
    assert_eq!(screen["offer"]["id"], id.as_str());
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{id}/accept"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Signing off while busy waits for the contact; "available" takes it back.
    assert_eq!(
        presence(&center, &center.agent, "offline").await["presence"],
        "busy"
    );
    assert_eq!(
        presence(&center, &center.agent, "available").await["presence"],
        "busy"
    );
    let form = json!({"category":"water","summary":"안내","outcome":"answered"});
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{id}/complete"),
        Some(form),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(
        desktop(&center, &center.agent).await["presence"],
        "wrap_up",
        "still on the floor"
    );
    assert_eq!(
        presence(&center, &center.agent, "available").await["presence"],
        "available"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_wrong_callers_are_refused_with_the_error_shape() {
    let center = center().await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({"channel":"pigeon","citizen_phone":"010-2222-1200"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown channel",
        ),
        (
            json!({"channel":"voice","citizen_phone":"12"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad phone",
        ),
        (
            json!({"channel":"voice","citizen_phone":"010-2222-1200","category":"no.such"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown category",
        ),
        (
            json!({"channel":"voice","citizen_phone":"010-2222-1200","priority":10}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "priority",
        ),
        (
            json!({"channel":"voice","citizen_phone":"010-2222-1200","priority":-1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "negative priority",
        ),
        (
            json!({"channel":"voice","citizen_phone":"010-2222-1200","required_skills":["juggling"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown skill",
        ),
        (
            json!({"channel":"voice","citizen_phone":"010-2222-1200","colour":"red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field",
        ),
        (
            json!({"citizen_phone":"010-2222-1200"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing channel",
        ),
    ];
    for (body, status, why) in cases {
        let reply = send(
            &center.app,
            As::Token(&center.token),
            "POST",
            "/api/v1/interactions",
            Some(body),
        )
        .await;
        assert_eq!(reply.status, status, "{why}: {}", reply.body);
        assert!(reply.json()["error"]["code"].is_string(), "{why}");
    }
    let board = wallboard(&center).await;
    assert!(
        board["queues"].as_array().expect("queues").is_empty(),
        "nothing was queued"
    );

    // No credentials, a forged session, a role that may not.
    let reply = send(
        &center.app,
        As::Nobody,
        "POST",
        "/api/v1/interactions",
        Some(water_call()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let forged = Browser {
        cookie: "forged".into(),
        csrf: "x".into(),
        user_id: uuid::Uuid::nil(),
    };
    let reply = send(
        &center.app,
        As::Session(&forged),
        "GET",
        "/api/v1/desktop/state",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = send(
        &center.app,
        As::Token(&center.department_token),
        "POST",
        "/api/v1/interactions",
        Some(water_call()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // An agent's own browser session does not create contacts.
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        "/api/v1/interactions",
        Some(water_call()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // A cookie write without its CSRF token is refused and logged.
    let reply = send(
        &center.app,
        As::SessionWithoutCsrf(&center.agent),
        "POST",
        "/api/v1/desktop/presence",
        Some(json!({"presence":"available"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["error"]["code"], "csrf");
    assert_eq!(audited(&center.store, "csrf.refused").await, 1);
    assert_eq!(
        desktop(&center, &center.agent).await["presence"],
        "offline",
        "nothing changed"
    );

    // The desktop is for people, the wallboard for supervisors.
    let reply = send(
        &center.app,
        As::Token(&center.token),
        "GET",
        "/api/v1/desktop/state",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "GET",
        "/api/v1/wallboard",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "GET",
        "/api/v1/wallboard/events",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(audited(&center.store, "wallboard.refused").await >= 2);

    // Presence words and ids are checked.
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        "/api/v1/desktop/presence",
        Some(json!({"presence":"asleep"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        "/api/v1/interactions/not-a-uuid/accept",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        &format!("/api/v1/interactions/{}/accept", uuid::Uuid::now_v7()),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "POST",
        "/api/v1/desktop/presence",
        None,
    )
    .await;
    assert!(reply.status.is_client_error());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screens_follow_the_floor_as_server_sent_events() {
    let center = center().await;
    let request = |uri: &str, browser: &Browser| {
        Request::builder()
            .uri(uri)
            .header(header::COOKIE, format!("dasan_session={}", browser.cookie))
            .body(Body::empty())
            .expect("request")
    };
    let response = center
        .app
        .clone()
        .oneshot(request("/api/v1/desktop/events", &center.agent))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    let mut desktop_events = response.into_body();
    let response = center
        .app
        .clone()
        .oneshot(request(
            "/api/v1/wallboard/events?lang=en",
            &center.supervisor,
        ))
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let mut wallboard_events = response.into_body();

    async fn next_event(body: &mut Body, name: &str) -> Value {
        loop {
            let frame = body
                .frame()
                .await
                .expect("the stream stays open")
                .expect("frame");
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let text = String::from_utf8_lossy(&data).into_owned();
            if let Some(rest) = text.strip_prefix(&format!("event: {name}\ndata: ")) {
                return serde_json::from_str(rest.trim_end())
                    .unwrap_or(Value::String(rest.to_owned()));
            }
        }
    }
    // Each stream starts with the whole current document.
    assert_eq!(
        next_event(&mut desktop_events, "desktop").await["presence"],
        "offline"
    );
    let first = next_event(&mut wallboard_events, "wallboard").await;
    let chart = loop {
        let frame = wallboard_events
            .frame()
            .await
            .expect("open")
            .expect("frame");
        let text = String::from_utf8_lossy(&frame.into_data().expect("data")).into_owned();
        if text.starts_with("event: chart") {
            break text;
        }
    };
    assert!(
        chart.contains("<svg") && chart.contains("consultations per half hour"),
        "the chart in the language asked for: {chart}"
    );

    // A change is pushed to both.
    presence(&center, &center.agent, "available").await;
    assert_eq!(
        next_event(&mut desktop_events, "desktop").await["presence"],
        "available"
    );
    let later = loop {
        let board = next_event(&mut wallboard_events, "wallboard").await;
        if board["agents_by_state"]["available"] == 1 {
            break board;
        }
    };
    assert!(later["version"].as_u64() > first["version"].as_u64());
    let offered = send(
        &center.app,
        As::Token(&center.token),
        "POST",
        "/api/v1/interactions",
        Some(water_call()),
    )
    .await
    .json();
    let screen = next_event(&mut desktop_events, "desktop").await;
    assert_eq!(screen["offer"]["id"], offered["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_need_a_session_and_the_right_role() {
    let center = center().await;
    for page in ["/desktop", "/wallboard"] {
        let reply = send(&center.app, As::Nobody, "GET", page, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{page}");
        assert!(
            reply.body.contains("id=\"password\""),
            "{page} shows the sign-in form"
        );
        assert!(
            reply
                .body
                .contains(&format!("name=\"next\" value=\"{page}\""))
        );
    }
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "GET",
        "/desktop",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("<html lang=\"ko\">") && reply.body.contains("상담원 화면"));
    assert!(reply.body.contains("id=\"kb\""), "the knowledge-base slot");
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "GET",
        "/desktop?lang=en",
        None,
    )
    .await;
    assert!(reply.body.contains("<html lang=\"en\">") && reply.body.contains("Agent desktop"));
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "GET",
        "/wallboard",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(audited(&center.store, "page.refused").await >= 1);
    let reply = send(
        &center.app,
        As::Session(&center.supervisor),
        "GET",
        "/wallboard",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.contains("실시간 현황판"));
    let reply = send(&center.app, As::Nobody, "GET", "/assets/desktop.js", None).await;
    assert_eq!(reply.status, StatusCode::OK);

    // The language switch remembers the choice and only goes back home.
    let reply = send(
        &center.app,
        As::Nobody,
        "GET",
        "/language?lang=en&next=/desktop",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.location.as_deref(), Some("/desktop"));
    let reply = send(
        &center.app,
        As::Nobody,
        "GET",
        "/language?lang=en&next=https://evil.example/",
        None,
    )
    .await;
    assert_eq!(reply.location.as_deref(), Some("/"));
    let reply = send(&center.app, As::Nobody, "GET", "/language?lang=fr", None).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // Signed in, the choice is the user's: it follows them to other browsers.
    let reply = send(
        &center.app,
        As::Session(&center.agent),
        "GET",
        "/language?lang=en&next=/desktop",
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let user = center
        .store
        .find_user("lee")
        .await
        .expect("read")
        .expect("user");
    assert_eq!(user.language.as_deref(), Some("en"));
}

/// On a floor of more agents than are rendered inside each event, the
/// desktops task still brings every screen its change: the one available
/// agent of 150 sees its offer, and an API answer is current at once.
#[tokio::test]
async fn a_large_floor_still_shows_each_agent_its_offer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    let state = AppState::load(store, SEOUL).await.expect("state");
    let floor = &state.floor;
    let agents: Vec<uuid::Uuid> = (0..150).map(|_| uuid::Uuid::now_v7()).collect();
    assert!(agents.len() > dasan_web::floor::SYNC_DESKTOPS_UP_TO);
    for (n, id) in agents.iter().enumerate() {
        floor
            .join(*id, &format!("agent {n}"), &dasan_core::Channel::ALL, &[])
            .expect("joined");
    }
    let chosen = agents[77];
    let mut screen = floor.screen(chosen).expect("a screen");
    floor.set_presence(chosen, "available").expect("available");
    floor.refresh_screen(chosen);
    assert!(
        screen.borrow().json.contains("\"available\""),
        "current at once: {}",
        screen.borrow().json
    );
    let view = floor
        .add_interaction(dasan_web::floor::NewInteraction {
            id: None,
            channel: dasan_core::Channel::Voice,
            citizen_phone: dasan_core::PhoneNumber::parse("010-2222-1200").expect("phone"),
            category: None,
            required_skills: Vec::new(),
            priority: 0,
        })
        .expect("queued");
    let id = view.id.to_string();
    let shown = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if screen.borrow_and_update().json.contains(&id) {
                return;
            }
            screen.changed().await.expect("the floor is running");
        }
    })
    .await;
    assert!(shown.is_ok(), "the offer reached the agent's screen");
}
