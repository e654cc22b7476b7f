//! Sign-language video sessions: routing to signing agents only, the
//! signalling relay between the two holders of one session, refusals that
//! leave the call unharmed, the callback offer, the record. In-process
//! (`oneshot`, streams read frame by frame); the browsers' side is
//! `video_browser.rs`.

use std::time::Duration;

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

struct Browser {
    cookie: String,
    csrf: String,
    user_id: uuid::Uuid,
}

async fn browser(store: &AnyStore, username: &str, skills: &[Skill]) -> Browser {
    let user = create_user(store, username, username, Role::Agent, "a long password")
        .await
        .expect("user");
    let agent = NewAgent::new(username, skills.iter().cloned(), Channel::ALL).expect("agent");
    store
        .create_agent(&agent, AgentId(user.id))
        .await
        .expect("agent record");
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

async fn send(
    app: &Router,
    who: Option<&Browser>,
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(browser) = who {
        request = request
            .header(header::COOKIE, format!("dasan_session={}", browser.cookie))
            .header("x-csrf-token", &browser.csrf);
    }
    let body = match body {
        Some(text) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(text)
        }
        None => Body::empty(),
    };
    let response = app
        .clone()
        .oneshot(request.body(body).expect("request"))
        .await
        .expect("infallible");
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

async fn post(app: &Router, who: Option<&Browser>, uri: &str, body: Value) -> (StatusCode, Value) {
    send(app, who, "POST", uri, Some(body.to_string())).await
}

/// An open event stream: events are read one by one, `(event, data)`.
struct Events {
    body: Body,
    buffer: String,
}

impl Events {
    async fn open(app: &Router, uri: &str) -> Result<Events, (StatusCode, Value)> {
        let response = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("infallible");
        if response.status() != StatusCode::OK {
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            return Err((
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            ));
        }
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        Ok(Events {
            body: response.into_body(),
            buffer: String::new(),
        })
    }

    /// The next event, or `None` when the stream ended. Bounded: a missing
    /// event fails the test after 10 s instead of hanging it.
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = v.to_owned();
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((event, serde_json::from_str(&data).expect("JSON data")));
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event within 10 s")?
                .expect("frame");
            if let Ok(data) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
    }

    /// The next event that is not `status`.
    async fn next_message(&mut self) -> (String, Value) {
        loop {
            let (event, data) = self.next().await.expect("an event");
            if event != "status" {
                return (event, data);
            }
        }
    }
}

struct Center {
    app: Router,
    state: AppState,
    store: AnyStore,
    signer: Browser,
    plain: Browser,
    _dir: tempfile::TempDir,
}

async fn center(video: VideoConfig) -> Center {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    let signer = browser(&store, "signer", &[Skill::SignLanguage]).await;
    let plain = browser(&store, "plain", &[]).await;
    let config = FloorConfig {
        offer_timeout_millis: 600_000,
        ..FloorConfig::default()
    };
    let mut state = AppState::load_with(store.clone(), SEOUL, config)
        .await
        .expect("state");
    // No timer task: the test sweeps when it wants to.
    state.video = std::sync::Arc::new(Sessions::new(video));
    Center {
        app: app(state.clone()),
        state,
        store,
        signer,
        plain,
        _dir: dir,
    }
}

async fn available(center: &Center, who: &Browser) {
    let (status, body) = post(
        &center.app,
        Some(who),
        "/api/v1/desktop/presence",
        json!({"presence": "available"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn start(center: &Center) -> (String, String) {
    let (status, body) = post(&center.app, None, "/api/v1/sign/sessions", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["ice_servers"], json!([]), "no ICE servers by default");
    (
        body["session"].as_str().expect("session").to_owned(),
        body["token"].as_str().expect("token").to_owned(),
    )
}

fn messages_uri(session: &str) -> String {
    format!("/api/v1/sign/sessions/{session}/messages")
}

fn events_uri(session: &str, token: &str) -> String {
    format!("/api/v1/sign/sessions/{session}/events?token={token}")
}

const OFFER: &str =
    "v=0\r\no=- 1 2 IN IP4 10.213.0.2\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n";

#[tokio::test]
async fn a_signing_agent_takes_the_call_and_only_its_two_parties_signal() {
    let center = center(VideoConfig {
        record_after: Duration::ZERO,
        ..VideoConfig::default()
    })
    .await;
    let mut notices = center.state.floor.offer_notices();
    // The agent without the skill is free first: it must still not get it.
    available(&center, &center.plain).await;
    available(&center, &center.signer).await;

    // The page is public, Korean first.
    let (status, _) = send(&center.app, None, "GET", "/sign", None).await;
    assert_eq!(status, StatusCode::OK);

    let (session, token) = start(&center).await;
    let mut citizen = Events::open(&center.app, &events_uri(&session, &token))
        .await
        .expect("the citizen's stream");
    let (event, first) = citizen.next().await.expect("status");
    assert_eq!(event, "status");
    assert!(
        matches!(first["state"].as_str(), Some("waiting")),
        "{first}"
    );

    // Offered to the signing agent only.
    let notice = tokio::time::timeout(Duration::from_secs(5), notices.recv())
        .await
        .expect("an offer")
        .expect("notice");
    let OfferNotice::Offered {
        interaction,
        channel,
        agent,
    } = notice
    else {
        panic!("{notice:?}")
    };
    assert_eq!(interaction.to_string(), session);
    assert_eq!(channel, Channel::Video);
    assert_eq!(agent, center.signer.user_id);
    let view = center
        .state
        .floor
        .interaction(interaction)
        .expect("on the floor");
    assert_eq!(view.required_skills, vec!["sign_language".to_owned()]);
    assert_eq!(
        view.citizen_phone, "",
        "an anonymous caller shows no number"
    );

    // Before accepting, nobody can join; then only the accepting agent.
    let join = format!("/api/v1/sign/sessions/{session}/join");
    let (status, body) = post(&center.app, Some(&center.signer), &join, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "not yet accepted: {body}");
    let (status, body) = post(
        &center.app,
        Some(&center.signer),
        &format!("/api/v1/interactions/{session}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = post(&center.app, Some(&center.plain), &join, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "not_your_interaction");
    // A chat before the agent joined has nobody to go to.
    let (status, body) = post(
        &center.app,
        None,
        &messages_uri(&session),
        json!({"token": token, "type": "chat", "text": "안녕하세요"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_peer");
    let (status, joined) = post(&center.app, Some(&center.signer), &join, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let agent_token = joined["token"].as_str().expect("token").to_owned();
    assert_ne!(agent_token, token);
    let (status, body) = post(&center.app, Some(&center.signer), &join, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a second browser: {body}");
    assert_eq!(body["error"]["code"], "already_joined");

    assert_eq!(
        citizen.next_message().await,
        ("peer".to_owned(), json!({"joined": true}))
    );
    let mut agent = Events::open(&center.app, &events_uri(&session, &agent_token))
        .await
        .expect("the agent's stream");

    // The offer, the answer and candidates cross, each to the other side.
    let uri = messages_uri(&session);
    let say = |token: &str, body: Value| {
        let mut body = body;
        body["token"] = json!(token);
        post(&center.app, None, &uri, body)
    };
    let (status, body) = say(&token, json!({"type": "offer", "sdp": OFFER})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        agent.next_message().await,
        ("signal".to_owned(), json!({"type": "offer", "sdp": OFFER}))
    );
    let (status, _) = say(&agent_token, json!({"type": "answer", "sdp": OFFER})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(citizen.next_message().await.1["type"], "answer");
    let candidate = json!({"candidate": "candidate:1 1 udp 2122260223 10.213.0.2 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd"});
    let (status, _) = say(
        &agent_token,
        json!({"type": "candidate", "candidate": candidate}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        citizen.next_message().await,
        (
            "signal".to_owned(),
            json!({"type": "candidate", "candidate": candidate})
        )
    );

    // Refusals, none of which touches the call.
    let too_big_sdp = format!("v=0\r\n{}", "a=x\r\n".repeat(8_000));
    let oversized = format!(
        r#"{{"token":"{token}","type":"chat","text":"{}"}}"#,
        "가".repeat(30_000)
    );
    let other_session = start(&center).await;
    for (body, status, code) in [
        (
            "{not json".to_owned(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            json!({"token": token, "type": "offer", "sdp": OFFER, "extra": 1}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            json!({"token": token, "type": "teleport"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_type",
        ),
        (
            json!({"token": token, "type": "offer", "sdp": "hello"}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sdp",
        ),
        (
            json!({"token": token, "type": "offer", "sdp": too_big_sdp}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sdp",
        ),
        (
            json!({"token": token, "type": "candidate", "candidate": {"candidate": "x", "evil": true}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_candidate",
        ),
        (
            json!({"token": token, "type": "chat", "text": "  "}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
        ),
        (
            json!({"token": token, "type": "chat", "text": "a".repeat(1001)}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
        ),
        (
            json!({"token": token, "type": "stats", "stats": {"rtt_ms": -1.0, "frames_decoded": 0, "packets_lost": 0, "packets_received": 0}}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_stats",
        ),
        (oversized, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        (
            json!({"token": "guessed", "type": "chat", "text": "hi"}).to_string(),
            StatusCode::FORBIDDEN,
            "invalid_token",
        ),
        (
            // Another session's own token.
            json!({"token": other_session.1, "type": "chat", "text": "hi"}).to_string(),
            StatusCode::FORBIDDEN,
            "invalid_token",
        ),
        (
            // Only the citizen asks for a callback.
            json!({"token": agent_token, "type": "callback", "phone": "010-1234-5678", "via": "sms"}).to_string(),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ] {
        let (got, reply) = send(
            &center.app,
            None,
            "POST",
            &messages_uri(&session),
            Some(body.clone()),
        )
        .await;
        assert_eq!(got, status, "{}: {reply}", &body[..body.len().min(80)]);
        assert_eq!(reply["error"]["code"], code, "{reply}");
    }
    for uri in [
        "/api/v1/sign/sessions/not-a-uuid/messages".to_owned(),
        messages_uri(&uuid::Uuid::now_v7().to_string()),
    ] {
        let (status, reply) = post(
            &center.app,
            None,
            &uri,
            json!({"token": token, "type": "end"}),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    }
    // A second window with the citizen's token, a foreign token, no token.
    let (status, reply) = Events::open(&center.app, &events_uri(&session, &token))
        .await
        .err()
        .expect("refused");
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(reply["error"]["code"], "already_connected");
    let (status, _) = Events::open(&center.app, &events_uri(&session, &other_session.1))
        .await
        .err()
        .expect("refused");
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = Events::open(
        &center.app,
        &format!("/api/v1/sign/sessions/{session}/events"),
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let refusals = center
        .store
        .audit_entries(100)
        .await
        .expect("audit")
        .iter()
        .filter(|e| e.action == "video.token_refused")
        .count();
    assert!(refusals >= 3, "wrong tokens are audited ({refusals})");

    // The call is unharmed: chat crosses both ways, figures are kept.
    let (status, _) = say(
        &token,
        json!({"type": "chat", "text": "제 이름은 홍길동입니다"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (event, chat) = agent.next_message().await;
    assert_eq!(event, "chat");
    assert_eq!(chat["from"], "citizen");
    assert_eq!(chat["text"], "제 이름은 홍길동입니다");
    let (status, _) = say(
        &agent_token,
        json!({"type": "chat", "text": "네, 확인했습니다"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(citizen.next_message().await.1["from"], "agent");
    for (who, connect_ms) in [(&token, 1_800), (&agent_token, 900)] {
        let (status, reply) =
            say(who, json!({"type": "connected", "connect_ms": connect_ms})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
        let (status, reply) = say(
            who,
            json!({"type": "stats", "stats": {"rtt_ms": 0.4, "frames_decoded": 300, "packets_lost": 1, "packets_received": 900}}),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    }

    // The citizen ends it: both hear it; the session refuses more.
    let (status, _) = say(&token, json!({"type": "end"})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        agent.next_message().await,
        ("end".to_owned(), json!({"by": "citizen"}))
    );
    assert_eq!(
        citizen.next_message().await,
        ("end".to_owned(), json!({"by": "citizen"}))
    );
    assert!(citizen.next().await.is_none(), "the stream ends");
    let (status, reply) = say(&token, json!({"type": "chat", "text": "still there?"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(reply["error"]["code"], "session_ended");
    drop(citizen);
    let (status, _) = Events::open(&center.app, &events_uri(&session, &token))
        .await
        .err()
        .expect("a stale token");
    assert_eq!(status, StatusCode::CONFLICT);

    // The agent records the consultation: channel video, no number.
    let (status, stored) = post(
        &center.app,
        Some(&center.signer),
        &format!("/api/v1/interactions/{session}/complete"),
        json!({"category": "welfare", "summary": "장애인 복지 카드 재발급 안내", "outcome": "answered"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["channel"], "video");
    assert_eq!(stored["citizen_phone"], "");
    assert_eq!(stored["id"], session.as_str());

    dasan_web::video::sweep(&center.state).await;
    let id = uuid::Uuid::parse_str(&session).expect("uuid");
    let records = center
        .store
        .video_sessions(Some(id), 10)
        .await
        .expect("read");
    assert_eq!(records.len(), 1, "the session's record is stored");
    let record = &records[0];
    assert_eq!(record.outcome, "completed");
    assert_eq!(record.ended_by, "citizen");
    assert_eq!(record.agent_id, Some(center.signer.user_id));
    assert_eq!((record.chat_from_citizen, record.chat_from_agent), (1, 1));
    assert!(record.accepted_at.is_some() && record.connected_at.is_some());
    assert_eq!(record.setup_ms(), Some(1_800));
    let citizen_quality = record.citizen_quality.as_ref().expect("measured");
    assert_eq!(citizen_quality.frames_decoded, 300);
    assert_eq!(citizen_quality.rtt_ms, Some(0.4));
    assert_eq!(
        record.agent_quality.as_ref().and_then(|q| q.connect_ms),
        Some(900)
    );

    // Supervisors read the records; agents do not.
    let (status, _) = send(
        &center.app,
        Some(&center.signer),
        "GET",
        "/api/v1/video-sessions",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let supervisor_token = {
        let issued = auth::issue_token(Role::Supervisor, "test").expect("token");
        center
            .store
            .create_token(&issued.record, &issued.secret_hash)
            .await
            .expect("stored");
        issued.secret
    };
    let response = center
        .app
        .clone()
        .oneshot(
            Request::get(format!("/api/v1/video-sessions?id={session}"))
                .header(header::AUTHORIZATION, format!("Bearer {supervisor_token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let list: Value = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(list["items"][0]["setup_ms"], 1_800);
    assert_eq!(list["items"][0]["outcome"], "completed");

    // The plain agent was never offered the video call.
    while let Ok(notice) = notices.try_recv() {
        if let OfferNotice::Offered { agent, .. } = notice {
            assert_ne!(
                agent, center.plain.user_id,
                "offered to an agent without the skill"
            );
        }
    }
}

#[tokio::test]
async fn a_waiting_citizen_leaves_a_number_and_a_page_gone_ends_its_session() {
    let center = center(VideoConfig {
        callback_after: Duration::ZERO,
        citizen_grace: Duration::ZERO,
        record_after: Duration::ZERO,
        ..VideoConfig::default()
    })
    .await;
    // No signing agent is on the floor: the citizen waits, and is offered
    // a callback.
    let (session, token) = start(&center).await;
    let mut citizen = Events::open(&center.app, &events_uri(&session, &token))
        .await
        .expect("stream");
    let (_, status) = citizen.next().await.expect("status");
    assert_eq!(status["state"], "waiting");
    assert_eq!(status["position"], 1);
    assert_eq!(status["callback_offered"], true);
    let uri = messages_uri(&session);
    let say = |body: Value| {
        let mut body = body;
        body["token"] = json!(token);
        post(&center.app, None, &uri, body)
    };
    let (status, reply) = say(json!({"type": "callback", "phone": "123", "via": "video"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply["error"]["code"], "invalid_phone");
    let (status, reply) =
        say(json!({"type": "callback", "phone": "010-2345-6789", "via": "fax"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply["error"]["code"], "invalid_via");
    let (status, reply) =
        say(json!({"type": "callback", "phone": "010-2345-6789", "via": "video"})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(
        citizen.next_message().await,
        ("end".to_owned(), json!({"by": "citizen"}))
    );
    // Stored as the citizen's message and queued for a signing agent.
    let phone = dasan_core::PhoneNumber::parse("010-2345-6789").expect("phone");
    let history = center
        .store
        .messages_for_citizen(&phone, 10)
        .await
        .expect("messages");
    assert_eq!(history.len(), 1, "the request is kept");
    let thread = history[0].interaction_id.expect("threaded");
    let view = center.state.floor.interaction(thread).expect("queued");
    assert_eq!(view.channel, Channel::Sms);
    assert_eq!(view.required_skills, vec!["sign_language".to_owned()]);
    // The video interaction itself left the queue.
    let video_id = uuid::Uuid::parse_str(&session).expect("uuid");
    assert_eq!(
        center.state.floor.interaction(video_id).map(|v| v.state),
        Some(dasan_web::floor::InteractionState::Abandoned)
    );

    // A page that never opens its stream is gone: the sweep ends it.
    let (gone, _) = start(&center).await;
    dasan_web::video::sweep(&center.state).await;
    dasan_web::video::sweep(&center.state).await;
    let gone_id = uuid::Uuid::parse_str(&gone).expect("uuid");
    let records = center
        .store
        .video_sessions(None, 10)
        .await
        .expect("records");
    let of = |id: uuid::Uuid| records.iter().find(|r| r.id == id).expect("recorded");
    assert_eq!(of(video_id).outcome, "callback");
    assert_eq!(of(gone_id).outcome, "abandoned");
    assert_eq!(of(gone_id).ended_by, "timeout");
    assert_eq!(
        center.state.floor.interaction(gone_id).map(|v| v.state),
        Some(dasan_web::floor::InteractionState::Abandoned)
    );
}
