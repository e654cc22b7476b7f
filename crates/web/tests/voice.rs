//! The voice front door bridging callers to agents' phones, against SIPp on
//! loopback: a caller (SIPp, choosing a queue by RFC 4733 DTMF from a pcap
//! the test writes) reaches an agent whose phone (SIPp, registered with
//! digest first, from the same port) rings and answers; RTP is relayed both
//! ways (the phone echoes it); either side's BYE ends both legs; the call
//! record is stored and names the consultation the agent completes. Also:
//! a busy phone (486) puts the call back at the head of its queue for the
//! next agent; a phone nobody answers is cancelled when the offer times out;
//! a caller hanging up while the phone rings cancels it; with the phone
//! survey on, an agent's hang-up asks the caller for a score.

#[path = "support/sipp.rs"]
mod sipp_support;

use std::{net::SocketAddr, path::Path, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use dasan_core::{Role, time::SEOUL};
use dasan_store::{AnyStore, DatabaseUrl, SessionRecord, Store, sip::CallRecord};
use dasan_web::{
    AppState, app, auth,
    floor::FloorConfig,
    session::create_user,
    voice::{self, SipServer, VoiceOptions},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sipp_support::{audio_then_digit, free_port, rtp, scenario, sipp_present, spawn, write_pcap};
use tower::ServiceExt;

struct Center {
    app: Router,
    state: AppState,
    store: AnyStore,
    sip: SocketAddr,
    server: SipServer,
    supervisor_token: String,
    dir: tempfile::TempDir,
}

async fn center(offer_timeout_millis: u64, phone_survey: bool) -> Center {
    center_with(
        offer_timeout_millis,
        VoiceOptions {
            phone_survey,
            ..VoiceOptions::default()
        },
    )
    .await
}

async fn center_with(offer_timeout_millis: u64, options: VoiceOptions) -> Center {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = AnyStore::open(&DatabaseUrl::Sqlite(dir.path().join("dasan.db")))
        .await
        .expect("store");
    let config = FloorConfig {
        offer_timeout_millis,
        ..FloorConfig::default()
    };
    let state = AppState::load_with(store.clone(), SEOUL, config)
        .await
        .expect("state");
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sip = socket.local_addr().expect("address");
    let server = voice::start(socket, state.clone(), options, std::future::pending());
    let issued = auth::issue_token(Role::Supervisor, "test").expect("token");
    store
        .create_token(&issued.record, &issued.secret_hash)
        .await
        .expect("stored");
    Center {
        app: app(state.clone()),
        state: state.clone(),
        store,
        sip,
        server,
        supervisor_token: issued.secret,
        dir,
    }
}

struct Agent {
    user_id: uuid::Uuid,
    username: String,
    cookie: String,
    csrf: String,
    /// The port its phone registers from and answers on.
    port: u16,
}

async fn send(
    app: &Router,
    agent: Option<&Agent>,
    token: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(agent) = agent {
        request = request
            .header(header::COOKIE, format!("dasan_session={}", agent.cookie))
            .header("x-csrf-token", &agent.csrf);
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
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
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, value)
}

/// An agent with a signed-in browser and a phone registered (by SIPp, with
/// digest authentication) from a port of its own.
async fn agent(center: &Center, username: &str) -> Agent {
    let user = create_user(
        &center.store,
        username,
        username,
        Role::Agent,
        "a long password",
    )
    .await
    .expect("user");
    let password = format!("phone-of-{username}");
    center
        .store
        .set_sip_account(&dasan_store::sip::SipAccount {
            username: username.to_owned(),
            user_id: user.id,
            realm: voice::REALM.to_owned(),
            ha1: voice::ha1(username, &password),
        })
        .await
        .expect("sip account");
    let cookie = format!("secret-of-{username}");
    let csrf = format!("csrf-of-{username}");
    center
        .store
        .create_session(&SessionRecord {
            id_hash: auth::hash_secret(&cookie),
            user_id: user.id,
            csrf_token: csrf.clone(),
            expires_at: dasan_core::Timestamp::parse_rfc3339("2099-01-01T00:00:00Z")
                .expect("far future"),
        })
        .await
        .expect("session");
    let port = free_port();
    let sip = center.sip;
    let (name, secret) = (username.to_owned(), password.clone());
    let registered = tokio::task::spawn_blocking(move || {
        let port = port.to_string();
        sipp_support::sipp(
            sip,
            &[
                "-sf",
                &scenario("register.xml"),
                "-m",
                "1",
                "-p",
                &port,
                "-s",
                &name,
                "-au",
                &name,
                "-ap",
                &secret,
            ],
        )
    })
    .await
    .expect("sipp");
    assert_eq!(registered, (true, 1, 0), "{username}'s phone registers");
    assert!(center.server.binding_of(user.id).is_some());
    Agent {
        user_id: user.id,
        username: username.to_owned(),
        cookie,
        csrf,
        port,
    }
}

async fn presence(center: &Center, agent: &Agent, wanted: &str) {
    let (status, body) = send(
        &center.app,
        Some(agent),
        None,
        "POST",
        "/api/v1/desktop/presence",
        Some(json!({ "presence": wanted })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The agent writes the consultation of `interaction`.
async fn complete(center: &Center, agent: &Agent, interaction: uuid::Uuid, category: &str) {
    let (status, body) = send(
        &center.app,
        Some(agent),
        None,
        "POST",
        &format!("/api/v1/interactions/{interaction}/complete"),
        Some(json!({"category": category, "summary": "상담 내용", "outcome": "answered"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// The agent's phone: SIPp running `file` on the port it registered from,
/// echoing the RTP it receives.
fn phone(center: &Center, agent: &Agent, file: &str) -> sipp_support::Run {
    let (port, media) = (agent.port.to_string(), free_port().to_string());
    spawn(
        center.sip,
        &[
            "-sf",
            &scenario(file),
            "-m",
            "1",
            "-p",
            &port,
            "-s",
            &agent.username,
            "-mp",
            &media,
            "-rtp_echo",
        ],
    )
}

/// A caller scenario with its pcaps and wait filled in: a second of audio
/// then `digit`; while talking, two seconds of audio.
fn caller_scenario(dir: &Path, file: &str, digit: u8, wait_ms: u32, from: &str) -> String {
    let choice = dir.join(format!("choice-{digit}.pcap"));
    write_pcap(&choice, &audio_then_digit(50, digit));
    let talk = dir.join("talk.pcap");
    let audio: Vec<Vec<u8>> = (0..100u16)
        .map(|i| rtp(0, 55 + i, 8_000 + u32::from(i) * 160, &[0x7F; 160]))
        .collect();
    write_pcap(&talk, &audio);
    let text = std::fs::read_to_string(scenario(file))
        .expect("scenario")
        .replace("@CHOICE@", &choice.to_string_lossy())
        .replace("@TALK@", &talk.to_string_lossy())
        .replace("@WAIT@", &wait_ms.to_string())
        .replace("@AFTER@", "3000")
        .replace("01022221200", from);
    let path = dir.join(format!("{from}-{file}"));
    std::fs::write(&path, text).expect("written");
    path.to_string_lossy().into_owned()
}

fn caller(center: &Center, file: &str, digit: u8, wait_ms: u32, from: &str) -> sipp_support::Run {
    let path = caller_scenario(center.dir.path(), file, digit, wait_ms, from);
    let media = free_port().to_string();
    spawn(center.sip, &["-sf", &path, "-m", "1", "-mp", &media])
}

async fn finished(run: sipp_support::Run) -> (bool, u64, u64) {
    tokio::task::spawn_blocking(move || run.wait())
        .await
        .expect("sipp")
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The stored call records, oldest first (they are written as the
/// callers' legs end, which may lag SIPp's exit a little).
async fn calls(center: &Center, expected: usize) -> Vec<CallRecord> {
    for _ in 0..200 {
        let mut calls = center.store.calls(None, 100).await.expect("calls");
        if calls.len() >= expected {
            calls.reverse();
            return calls;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{expected} call records were not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_reaches_an_agents_phone_talks_and_the_call_is_recorded() {
    if !sipp_present() {
        return;
    }
    let center = center(20_000, false).await;
    let lee = agent(&center, "lee").await;
    presence(&center, &lee, "available").await;
    let phone = phone(&center, &lee, "agent_answers.xml");
    let citizen = caller(&center, "caller_talks.xml", 2, 1_500, "01022221200");
    let (citizen, phone) = (finished(citizen).await, finished(phone).await);
    assert_eq!(citizen, (true, 1, 0), "the caller's call completes");
    assert_eq!(
        phone,
        (true, 1, 0),
        "the phone rang, answered and was hung up on"
    );

    let calls = calls(&center, 1).await;
    let call = &calls[0];
    assert_eq!(
        (call.outcome.as_str(), call.ended_by.as_str()),
        ("answered", "caller")
    );
    assert_eq!(call.caller.as_deref(), Some("+821022221200"));
    assert_eq!(call.dialled, "120");
    assert_eq!(call.queue.as_deref(), Some("water"), "2 is water");
    assert_eq!((call.agent_id, call.agents_rung), (Some(lee.user_id), 1));
    // RTP both ways through Dasan: the caller's two seconds reached the
    // phone, and its echo came back.
    assert!(call.packets_from_caller >= 50, "{call:?}");
    assert!(call.packets_from_agent >= 50, "{call:?}");
    assert_eq!(
        (call.lost_from_caller, call.lost_from_agent),
        (0, 0),
        "{call:?}"
    );
    assert!(call.wait_seconds().is_some() && call.talk_seconds().is_some_and(|t| t > 0.0));
    let counts = center.server.counts();
    assert_eq!(
        (counts.agent_rings, counts.agent_answers, counts.bridged),
        (1, 1, 1)
    );

    // The agent completes the consultation: the call record names it.
    let interaction = call.interaction_id.expect("queued");
    complete(&center, &lee, interaction, "water").await;
    let (status, body) = send(
        &center.app,
        None,
        Some(&center.supervisor_token),
        "GET",
        "/api/v1/calls",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = &body["calls"][0];
    assert_eq!(listed["consultation_id"], json!(interaction));
    assert_eq!(listed["outcome"], "answered");
    assert_eq!(listed["caller_display"], "010-2222-1200");
    assert!(
        listed["talk_seconds"].as_f64().is_some_and(|t| t > 0.0),
        "{listed}"
    );
    // Agents do not list calls; a bad filter is refused.
    let (status, _) = send(&center.app, Some(&lee), None, "GET", "/api/v1/calls", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = send(
        &center.app,
        None,
        Some(&center.supervisor_token),
        "GET",
        "/api/v1/calls?interaction=nope",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_interaction"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_phone_sends_the_call_back_to_the_head_of_its_queue() {
    if !sipp_present() {
        return;
    }
    let center = center(20_000, false).await;
    let park = agent(&center, "park").await;
    let lee = agent(&center, "lee").await;
    presence(&center, &park, "available").await;
    let busy = phone(&center, &park, "agent_busy.xml");
    let answers = phone(&center, &lee, "agent_answers.xml");
    let first = caller(&center, "caller_talks.xml", 2, 6_000, "01022221200");
    wait_for("park's busy phone", || {
        center.server.counts().agent_misses == 1
    })
    .await;
    // A second caller queues behind the first, who went back to the head.
    let second = caller(&center, "caller_hangs_up.xml", 2, 4_000, "01033331300");
    wait_for("the second call queued", || {
        center.server.counts().queued == 2
    })
    .await;
    presence(&center, &lee, "available").await;
    let results = (
        finished(first).await,
        finished(second).await,
        finished(busy).await,
        finished(answers).await,
    );
    assert_eq!(results.0, (true, 1, 0), "the first caller talked to lee");
    assert_eq!(results.1, (true, 1, 0), "the second caller gave up");
    assert_eq!(results.2, (true, 1, 0), "park's phone said busy");
    assert_eq!(results.3, (true, 1, 0), "lee's phone answered");
    let calls = calls(&center, 2).await;
    let first = calls
        .iter()
        .find(|c| c.caller.as_deref() == Some("+821022221200"))
        .expect("the first call");
    let second = calls
        .iter()
        .find(|c| c.caller.as_deref() == Some("+821033331300"))
        .expect("the second call");
    assert_eq!(first.outcome, "answered");
    assert_eq!((first.agent_id, first.agents_rung), (Some(lee.user_id), 2));
    assert!(first.packets_from_agent > 0 && first.packets_from_caller > 0);
    assert_eq!(
        (second.outcome.as_str(), second.agents_rung),
        ("abandoned", 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ringing_phone_is_cancelled_when_nobody_answers_or_the_caller_hangs_up() {
    if !sipp_present() {
        return;
    }
    // Offers ring for 1.5 s.
    let center = center(1_500, false).await;
    let park = agent(&center, "park").await;
    let lee = agent(&center, "lee").await;
    presence(&center, &park, "available").await;
    // Park's phone rings unanswered: cancelled at the offer's time-out,
    // and the call goes to lee.
    let unanswered = phone(&center, &park, "agent_rings.xml");
    let answers = phone(&center, &lee, "agent_answers.xml");
    let first = caller(&center, "caller_talks.xml", 1, 5_000, "01022221200");
    assert_eq!(
        finished(unanswered).await,
        (true, 1, 0),
        "cancelled with 487"
    );
    presence(&center, &lee, "available").await;
    assert_eq!(finished(first).await, (true, 1, 0));
    assert_eq!(finished(answers).await, (true, 1, 0));
    let calls_so_far = calls(&center, 1).await;
    assert_eq!(calls_so_far[0].outcome, "answered");
    assert_eq!(calls_so_far[0].agents_rung, 2);
    assert_eq!(calls_so_far[0].queue.as_deref(), Some("transport"));

    // A caller hangs up while lee's phone rings: it is cancelled too.
    let interaction = calls_so_far[0].interaction_id.expect("queued");
    complete(&center, &lee, interaction, "transport").await;
    presence(&center, &lee, "available").await;
    let rings = phone(&center, &lee, "agent_rings.xml");
    let gone = caller(&center, "caller_hangs_up.xml", 0, 2_500, "01044441400");
    assert_eq!(finished(gone).await, (true, 1, 0));
    assert_eq!(finished(rings).await, (true, 1, 0), "cancelled with 487");
    let calls = calls(&center, 2).await;
    assert_eq!(calls[1].outcome, "abandoned");
    assert_eq!((calls[1].queue.as_deref(), calls[1].agents_rung), (None, 1));
    assert_eq!(center.server.counts().abandoned, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_agent_hangs_up_the_caller_rates_the_call_by_keypad() {
    if !sipp_present() {
        return;
    }
    let center = center(20_000, true).await;
    let lee = agent(&center, "lee").await;
    presence(&center, &lee, "available").await;
    let phone = phone(&center, &lee, "agent_hangs_up.xml");
    let citizen = caller(&center, "caller_rates.xml", 3, 5_000, "01022221200");
    assert_eq!(finished(phone).await, (true, 1, 0), "the agent hung up");
    assert_eq!(
        finished(citizen).await,
        (true, 1, 0),
        "rated, then hung up on"
    );
    let calls = calls(&center, 1).await;
    let call = &calls[0];
    assert_eq!(
        (
            call.outcome.as_str(),
            call.ended_by.as_str(),
            call.survey_score
        ),
        ("answered", "agent", Some(4))
    );
    let interaction = call.interaction_id.expect("queued");
    let survey = center
        .store
        .survey_for_consultation(interaction)
        .await
        .expect("read")
        .expect("the survey answer is kept");
    assert_eq!(
        (survey.status.as_str(), survey.score),
        ("answered", Some(4))
    );
    // The consultation completed afterwards keeps that answer.
    complete(&center, &lee, interaction, "other").await;
    let survey = center
        .store
        .survey_for_consultation(interaction)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(survey.score, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signing_agent_relays_a_voice_call_to_a_public_office() {
    if !sipp_present() {
        return;
    }
    // The "public office": SIPp's built-in answering scenario behind the
    // outbound trunk, echoing the audio it gets.
    let office_port = free_port();
    let office: SocketAddr = ([127, 0, 0, 1], office_port).into();
    let center = center_with(
        20_000,
        VoiceOptions {
            outbound: Some(office),
            ..VoiceOptions::default()
        },
    )
    .await;
    let lee = agent(&center, "lee").await;
    let park = agent(&center, "park").await;
    for who in [&lee, &park] {
        let record = dasan_core::NewAgent::new(
            "수어",
            [dasan_core::Skill::SignLanguage],
            dasan_core::Channel::ALL,
        )
        .expect("agent");
        center
            .store
            .create_agent(&record, dasan_core::AgentId(who.user_id))
            .await
            .expect("agent record");
    }
    presence(&center, &lee, "available").await;

    // A citizen's video session, taken and joined by lee.
    let (status, created) = send(
        &center.app,
        None,
        None,
        "POST",
        "/api/v1/sign/sessions",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let session = created["session"].as_str().expect("session").to_owned();
    let (status, body) = send(
        &center.app,
        Some(&lee),
        None,
        "POST",
        &format!("/api/v1/interactions/{session}/accept"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(
        &center.app,
        Some(&lee),
        None,
        "POST",
        &format!("/api/v1/sign/sessions/{session}/join"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let relay = format!("/api/v1/sign/sessions/{session}/relay");
    for (who, callee, status, code) in [
        (
            &lee,
            "not a number",
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_callee",
        ),
        (&park, "02-2133-0000", StatusCode::FORBIDDEN, "forbidden"),
    ] {
        let (got, body) = send(
            &center.app,
            Some(who),
            None,
            "POST",
            &relay,
            Some(json!({ "callee": callee })),
        )
        .await;
        assert_eq!(got, status, "{body}");
        assert_eq!(body["error"]["code"], code);
    }

    // Lee's phone answers, talks two seconds and hangs up; the office
    // answers after it and echoes the audio back.
    let office_media = free_port().to_string();
    let office_run = spawn(
        center.sip,
        &[
            "-sn",
            "uas",
            "-p",
            &office_port.to_string(),
            "-m",
            "1",
            "-mp",
            &office_media,
            "-rtp_echo",
        ],
    );
    let talks = caller_scenario(center.dir.path(), "agent_talks.xml", 1, 0, "relay");
    let phone_media = free_port().to_string();
    let phone_run = spawn(
        center.sip,
        &[
            "-sf",
            &talks,
            "-m",
            "1",
            "-p",
            &lee.port.to_string(),
            "-s",
            &lee.username,
            "-mp",
            &phone_media,
        ],
    );
    let (status, body) = send(
        &center.app,
        Some(&lee),
        None,
        "POST",
        &relay,
        Some(json!({"callee": "02-2133-0000"})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["callee"], "+82221330000");
    let (phone, office) = (finished(phone_run).await, finished(office_run).await);
    assert_eq!(
        phone,
        (true, 1, 0),
        "the agent's phone answered and hung up"
    );
    assert_eq!(
        office,
        (true, 1, 0),
        "the office answered and was hung up on"
    );

    // A second relay: the agent hangs up from the desktop while the phone
    // still rings; it is cancelled (SIPp checks CANCEL, 487 and the ACK).
    let rings_before = center.server.counts().relay_rings;
    let ringing = spawn(
        center.sip,
        &[
            "-sf",
            &scenario("agent_rings.xml"),
            "-m",
            "1",
            "-p",
            &lee.port.to_string(),
            "-s",
            &lee.username,
        ],
    );
    let mut placed = false;
    for _ in 0..100 {
        // The first relay's end reaches the session a moment after SIPp.
        let (status, body) = send(
            &center.app,
            Some(&lee),
            None,
            "POST",
            &relay,
            Some(json!({"callee": "120"})),
        )
        .await;
        if status == StatusCode::ACCEPTED {
            placed = true;
            break;
        }
        assert_eq!(body["error"]["code"], "relay_in_progress", "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(placed, "the second relay is placed");
    // Hang up once the phone rings (its SIPp may still be starting when
    // the INVITE first goes out; Dasan retransmits it until then).
    let mut rang = false;
    for _ in 0..200 {
        if center.server.counts().relay_rings > rings_before {
            rang = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rang, "the agent's phone rings");
    let (status, body) = send(
        &center.app,
        Some(&lee),
        None,
        "POST",
        &format!("{relay}/end"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        finished(ringing).await,
        (true, 1, 0),
        "the ringing phone is cancelled"
    );

    // The session ends; its record keeps the relays.
    let (status, body) = send(
        &center.app,
        Some(&lee),
        None,
        "POST",
        &format!("/api/v1/interactions/{session}/complete"),
        Some(json!({"category": "welfare", "summary": "구청 복지과 통역 연결", "outcome": "answered"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = uuid::Uuid::parse_str(&session).expect("uuid");
    let mut record = None;
    for _ in 0..100 {
        dasan_web::video::sweep(&center.state).await;
        record = center
            .store
            .video_sessions(Some(id), 1)
            .await
            .expect("read")
            .pop();
        if record.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let record = record.expect("the session's record");
    assert_eq!(record.relays.len(), 2, "{record:?}");
    assert_eq!(record.relays[1].callee, "120");
    assert_eq!(record.relays[1].outcome, "cancelled");
    assert!(record.relays[1].answered_at.is_none());
    let relayed = &record.relays[0];
    assert_eq!(relayed.callee, "+82221330000");
    assert_eq!(relayed.outcome, "answered");
    assert!(relayed.answered_at.is_some() && relayed.ended_at.is_some());
    assert!(
        relayed.packets_to_callee >= 50 && relayed.packets_to_agent >= 50,
        "audio relayed both ways: {relayed:?}"
    );
}
