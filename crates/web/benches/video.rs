//! How many sign-language signalling sessions one node holds, and what a
//! relayed message costs while it holds them.
//!
//! N citizens start sessions and keep their event streams open, waiting
//! (nobody answers them); the memory and the idle CPU they cost are read
//! from `/proc/self`. Then M signing agents go available, accept and join
//! the oldest M, and chat messages are relayed citizen → agent one at a
//! time; the time from the POST to the agent's stream yielding the message
//! is reported as p50/p99. In-process (`oneshot`): the HTTP framing is
//! counted, sockets are not.
//!
//! `DASAN_BENCH_SESSIONS` (default 10,000), `DASAN_BENCH_PAIRS` (100).
//! The click-to-connected time in real browsers is `benches/video_call.rs`.

use std::time::{Duration, Instant};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use dasan_core::{AgentId, Channel, NewAgent, Role, Skill, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, SessionRecord, Store};
use dasan_web::{
    AppState, app, auth,
    floor::{FloorConfig, OfferNotice},
    session::create_user,
    video::{Sessions, VideoConfig},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory and CPU seconds of this process.
fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post(uri: &str, cookie: Option<(&str, &str)>, body: Value) -> Request<Body> {
    let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some((cookie, csrf)) = cookie {
        request = request
            .header(header::COOKIE, format!("dasan_session={cookie}"))
            .header("x-csrf-token", csrf);
    }
    request.body(Body::from(body.to_string())).expect("request")
}

async fn open_stream(app: &Router, session: &str, token: &str) -> Body {
    let response = app
        .clone()
        .oneshot(
            Request::get(format!(
                "/api/v1/sign/sessions/{session}/events?token={token}"
            ))
            .body(Body::empty())
            .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body()
}

/// Reads frames until one contains `needle`.
async fn read_until(body: &mut Body, needle: &str) {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), body.frame())
            .await
            .expect("a frame within 30 s")
            .expect("stream open")
            .expect("frame");
        if let Ok(data) = frame.into_data()
            && String::from_utf8_lossy(&data).contains(needle)
        {
            return;
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn main() {
    let sessions = env("DASAN_BENCH_SESSIONS", 10_000);
    let pairs = env("DASAN_BENCH_PAIRS", 100).min(sessions);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
            .await
            .expect("store");
        let floor = FloorConfig {
            offer_timeout_millis: 600_000,
            max_open_interactions: sessions + 10,
            ..FloorConfig::default()
        };
        let mut state = AppState::load_with(store.clone(), SEOUL, floor)
            .await
            .expect("state");
        state.video = std::sync::Arc::new(Sessions::new(VideoConfig {
            max_sessions: sessions + 10,
            ..VideoConfig::default()
        }));
        let app = app(state.clone());

        let rss_before = rss_kib();
        let started = Instant::now();
        let mut citizens = Vec::with_capacity(sessions);
        let frames = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        for _ in 0..sessions {
            let (status, created) = call(&app, post("/api/v1/sign/sessions", None, json!({}))).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
            let id = created["session"].as_str().expect("id").to_owned();
            let token = created["token"].as_str().expect("token").to_owned();
            let mut body = open_stream(&app, &id, &token).await;
            read_until(&mut body, "\"waiting\"").await;
            // Each stream is read by its own task, as a connection would.
            let frames = frames.clone();
            tokio::spawn(async move {
                while let Some(Ok(_)) = body.frame().await {
                    frames.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            });
            citizens.push((id, token));
        }
        let created = started.elapsed();
        let rss_after = rss_kib();
        println!(
            "video: {sessions} sessions started and their streams open in {:.2} s ({:.0}/s); {} KiB resident for them ({:.2} KiB each)",
            created.as_secs_f64(),
            sessions as f64 / created.as_secs_f64(),
            rss_after.saturating_sub(rss_before),
            rss_after.saturating_sub(rss_before) as f64 / sessions as f64,
        );
        // Idle: each waiting citizen's stream looks at its place once a
        // second.
        let cpu_before = cpu_seconds();
        let frames_before = frames.load(std::sync::atomic::Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(5)).await;
        let cpu = cpu_seconds() - cpu_before;
        println!(
            "video: {sessions} waiting streams over 5 s: {} status updates sent, {:.2} CPU seconds ({:.0}% of one core)",
            frames.load(std::sync::atomic::Ordering::Relaxed) - frames_before,
            cpu,
            cpu / 5.0 * 100.0
        );

        // M signing agents take the oldest M.
        let mut notices = state.floor.offer_notices();
        let mut agents = Vec::new();
        for n in 0..pairs {
            let name = format!("signer{n}");
            let user = create_user(&store, &name, &name, Role::Agent, "a long password")
                .await
                .expect("user");
            let agent = NewAgent::new(&name, [Skill::SignLanguage], Channel::ALL).expect("agent");
            store
                .create_agent(&agent, AgentId(user.id))
                .await
                .expect("agent");
            let cookie = format!("cookie-{name}");
            let csrf = format!("csrf-{name}");
            store
                .create_session(&SessionRecord {
                    id_hash: auth::hash_secret(&cookie),
                    user_id: user.id,
                    csrf_token: csrf.clone(),
                    expires_at: dasan_core::Timestamp::parse_rfc3339("2099-01-01T00:00:00Z")
                        .expect("time"),
                })
                .await
                .expect("session");
            let (status, body) = call(
                &app,
                post(
                    "/api/v1/desktop/presence",
                    Some((&cookie, &csrf)),
                    json!({"presence": "available"}),
                ),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            agents.push((user.id, cookie, csrf));
        }
        let mut pairs_open = Vec::new();
        while pairs_open.len() < pairs {
            let notice = tokio::time::timeout(Duration::from_secs(30), notices.recv())
                .await
                .expect("an offer")
                .expect("notice");
            let OfferNotice::Offered { interaction, agent, .. } = notice else {
                continue;
            };
            let (_, cookie, csrf) = agents
                .iter()
                .find(|(id, _, _)| *id == agent)
                .expect("one of ours");
            let id = interaction.to_string();
            let (status, body) = call(
                &app,
                post(
                    &format!("/api/v1/interactions/{id}/accept"),
                    Some((cookie, csrf)),
                    json!({}),
                ),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let (status, joined) = call(
                &app,
                post(
                    &format!("/api/v1/sign/sessions/{id}/join"),
                    Some((cookie, csrf)),
                    json!({}),
                ),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{joined}");
            let agent_token = joined["token"].as_str().expect("token").to_owned();
            let agent_stream = open_stream(&app, &id, &agent_token).await;
            let token = citizens
                .iter()
                .find(|(s, _)| *s == id)
                .map(|(_, t)| t.clone())
                .expect("a waiting citizen");
            pairs_open.push((id, token, agent_stream));
        }

        let mut latencies = Vec::new();
        for round in 0..10 {
            for (id, token, agent_stream) in pairs_open.iter_mut() {
                let text = format!("round {round} 안녕하세요");
                let sent = Instant::now();
                let (status, body) = call(
                    &app,
                    post(
                        &format!("/api/v1/sign/sessions/{id}/messages"),
                        None,
                        json!({"token": token, "type": "chat", "text": text}),
                    ),
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED, "{body}");
                read_until(agent_stream, &text).await;
                latencies.push(sent.elapsed().as_secs_f64() * 1e6);
            }
        }
        latencies.sort_by(f64::total_cmp);
        println!(
            "video: {} chat messages relayed citizen -> agent with {} sessions open: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            latencies.len(),
            sessions,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or(0.0),
        );
        drop(citizens);
        drop(pairs_open);
    });
}
