//! Sign-language video consultations over WebRTC.
//!
//! A citizen opens `/sign` (no account), presses start and is queued on the
//! floor as a `video` interaction requiring the `sign_language` skill; a
//! qualified agent is offered it on the desktop like any other contact and,
//! on accepting, joins the session. Media flows browser to browser: Dasan
//! only relays the signalling between the two parties of one session —
//! SDP offer and answer, ICE candidates — plus a text chat, and keeps what
//! reports need ([`dasan_store::video::VideoSessionRecord`]).
//!
//! Each party holds an unguessable token (32 random bytes; only its SHA-256
//! is kept) and talks to Dasan by `POST .../messages` and one Server-Sent
//! Events stream (`GET .../events?token=`). A message from one party is
//! queued for the other (bounded) and leaves on its stream; a second stream
//! with the same token, a foreign or stale token, or a malformed message is
//! refused without touching the call.
//!
//! Sessions live in memory like calls do; the record is written once the
//! session has ended (a little later, so the last quality figures of both
//! browsers are in), retried until the store takes it.

pub mod page;

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use dasan_core::{Channel, PhoneNumber, Role, Skill, Timestamp};
use dasan_store::{
    Store,
    video::{VideoQuality, VideoRelay, VideoSessionRecord},
};
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Digest;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiJson, ApiQuery},
    floor::{InteractionState, NewInteraction},
};

/// A STUN or TURN server handed to both browsers (RTCIceServer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The video edge's settings (`[video]` in `dasan.toml`).
#[derive(Debug, Clone)]
pub struct VideoConfig {
    /// Empty by default: peers on one network need none; real networks
    /// configure STUN and TURN.
    pub ice_servers: Vec<IceServer>,
    /// After this long without a signing agent, the waiting citizen is
    /// offered a callback (video or SMS) instead.
    pub callback_after: Duration,
    /// Sessions open at once (waiting or in a call); more are refused.
    pub max_sessions: usize,
    /// How long a citizen's page may be gone (closed, lost its network)
    /// before the session ends.
    pub citizen_grace: Duration,
    /// How long an ended session's last quality figures are awaited before
    /// its record is written.
    pub record_after: Duration,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            ice_servers: Vec::new(),
            callback_after: Duration::from_secs(120),
            max_sessions: 10_000,
            citizen_grace: Duration::from_secs(30),
            record_after: Duration::from_secs(2),
        }
    }
}

impl VideoConfig {
    /// Reads the ICE server list from JSON (`[{"urls": ["stun:..."]}]`).
    pub fn parse_ice_servers(text: &str) -> Result<Vec<IceServer>, String> {
        let servers: Vec<IceServer> =
            serde_json::from_str(text).map_err(|e| format!("ICE servers: {e}"))?;
        for server in &servers {
            if server.urls.is_empty()
                || server.urls.iter().any(|u| {
                    !(u.starts_with("stun:") || u.starts_with("turn:") || u.starts_with("turns:"))
                })
            {
                return Err("ICE servers: every url starts with stun:, turn: or turns:".into());
            }
        }
        Ok(servers)
    }
}

/// Largest SDP accepted (a browser's offer with audio, video and data is
/// a few kilobytes).
const MAX_SDP: usize = 32 * 1024;
/// Longest chat message, in characters.
const MAX_CHAT: usize = 1000;
/// Messages waiting for a party's stream; a peer flooding past this is
/// refused (429) and the call goes on.
const MAX_INBOX: usize = 512;
/// The same bound in bytes (SDP is the largest message).
const MAX_INBOX_BYTES: usize = 256 * 1024;
/// Ended sessions are kept this long to answer stale tokens plainly.
const KEEP_ENDED: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Citizen,
    Agent,
}

impl Side {
    fn as_str(self) -> &'static str {
        match self {
            Side::Citizen => "citizen",
            Side::Agent => "agent",
        }
    }
}

struct Party {
    token_hash: [u8; 32],
    inbox: VecDeque<Bytes>,
    /// A stream is open for this party (only one at a time).
    streaming: bool,
    /// When its last stream ended (a page gone).
    left_at: Option<Timestamp>,
    quality: Option<VideoQuality>,
    chats: u32,
}

impl Party {
    fn new(token_hash: [u8; 32]) -> Party {
        Party {
            token_hash,
            inbox: VecDeque::new(),
            streaming: false,
            left_at: None,
            quality: None,
            chats: 0,
        }
    }
}

struct Ended {
    at: Timestamp,
    by: &'static str,
    outcome: &'static str,
}

struct Inner {
    citizen: Party,
    agent: Option<(Uuid, Party)>,
    accepted_at: Option<Timestamp>,
    connected_at: Option<Timestamp>,
    ended: Option<Ended>,
    recorded: bool,
    relays: Vec<VideoRelay>,
}

struct Session {
    id: Uuid,
    created_at: Timestamp,
    inner: Mutex<Inner>,
    citizen_wake: Notify,
    agent_wake: Notify,
}

impl Session {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wake(&self, side: Side) {
        match side {
            Side::Citizen => self.citizen_wake.notify_one(),
            Side::Agent => self.agent_wake.notify_one(),
        }
    }
}

impl Inner {
    fn party(&mut self, side: Side) -> Option<&mut Party> {
        match side {
            Side::Citizen => Some(&mut self.citizen),
            Side::Agent => self.agent.as_mut().map(|(_, p)| p),
        }
    }

    /// Which party holds this token.
    fn side_of(&self, token: &str) -> Option<Side> {
        let hash = token_hash(token);
        if self.citizen.token_hash == hash {
            Some(Side::Citizen)
        } else if self
            .agent
            .as_ref()
            .is_some_and(|(_, p)| p.token_hash == hash)
        {
            Some(Side::Agent)
        } else {
            None
        }
    }
}

fn token_hash(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

fn new_token() -> Result<String, ApiError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&e))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn frame(event: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// The open sessions of this node.
pub struct Sessions {
    config: VideoConfig,
    map: Mutex<HashMap<Uuid, Arc<Session>>>,
    /// Sessions not yet ended (counted, not scanned: every start reads it).
    open: std::sync::atomic::AtomicUsize,
}

impl Sessions {
    pub fn new(config: VideoConfig) -> Sessions {
        Sessions {
            config,
            map: Mutex::new(HashMap::new()),
            open: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub fn config(&self) -> &VideoConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Arc<Session>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, id: Uuid) -> Option<Arc<Session>> {
        self.lock().get(&id).cloned()
    }

    /// Sessions not yet ended.
    pub fn open(&self) -> usize {
        self.open.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Ends a session (idempotent): a citizen still waiting leaves the queue;
/// both parties hear `end` on their streams.
fn end(state: &AppState, session: &Session, by: &'static str) {
    end_as(state, session, by, None);
}

fn end_as(state: &AppState, session: &Session, by: &'static str, outcome: Option<&'static str>) {
    let view = state.floor.interaction(session.id);
    let mut inner = session.lock();
    if inner.ended.is_some() {
        return;
    }
    let waiting = view.as_ref().is_some_and(|v| {
        matches!(
            v.state,
            InteractionState::Queued | InteractionState::Offered
        )
    });
    if waiting && let Err(error) = state.floor.abandon(session.id) {
        tracing::debug!(%error, "a video session's interaction was not abandoned");
    }
    let outcome = if let Some(outcome) = outcome {
        outcome
    } else if inner.agent.is_none() {
        "abandoned"
    } else if inner.connected_at.is_some() {
        "completed"
    } else {
        "failed"
    };
    state
        .video
        .open
        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    inner.ended = Some(Ended {
        at: crate::now(),
        by,
        outcome,
    });
    let message = frame("end", &json!({"by": by}));
    inner.citizen.inbox.push_back(message.clone());
    if let Some((_, agent)) = inner.agent.as_mut() {
        agent.inbox.push_back(message);
    }
    let relayed = !inner.relays.is_empty();
    drop(inner);
    session.wake(Side::Citizen);
    session.wake(Side::Agent);
    if relayed && let Some(voice) = state.voice.get() {
        let (voice, id) = (voice.clone(), session.id);
        tokio::spawn(async move { voice.end_relays_of(id).await });
    }
    metrics::counter!("dasan_video_sessions_ended_total", "outcome" => outcome).increment(1);
}

fn record_of(session: &Session, inner: &Inner) -> Option<VideoSessionRecord> {
    let ended = inner.ended.as_ref()?;
    Some(VideoSessionRecord {
        id: session.id,
        started_at: session.created_at.millis(),
        accepted_at: inner.accepted_at.map(Timestamp::millis),
        connected_at: inner.connected_at.map(Timestamp::millis),
        ended_at: ended.at.millis(),
        outcome: ended.outcome.to_owned(),
        ended_by: ended.by.to_owned(),
        agent_id: inner.agent.as_ref().map(|(id, _)| *id),
        chat_from_citizen: inner.citizen.chats,
        chat_from_agent: inner.agent.as_ref().map_or(0, |(_, p)| p.chats),
        citizen_quality: inner.citizen.quality.clone(),
        agent_quality: inner.agent.as_ref().and_then(|(_, p)| p.quality.clone()),
        relays: inner.relays.clone(),
    })
}

/// Once: ends sessions whose citizen is gone or whose contact the floor
/// ended (the agent completed it), writes the records of ended sessions,
/// and forgets old ones.
pub async fn sweep(state: &AppState) {
    let sessions = &state.video;
    let now = crate::now();
    let all: Vec<Arc<Session>> = sessions.lock().values().cloned().collect();
    let grace = sessions.config.citizen_grace.as_millis() as i64;
    let record_after = sessions.config.record_after.as_millis() as i64;
    for session in all {
        let (ended, left_at, streaming) = {
            let inner = session.lock();
            (
                inner.ended.as_ref().map(|e| e.at),
                inner.citizen.left_at,
                inner.citizen.streaming,
            )
        };
        if ended.is_none() {
            let floor_state = state.floor.interaction(session.id).map(|v| v.state);
            match floor_state {
                None | Some(InteractionState::Abandoned) => end(state, &session, "server"),
                Some(InteractionState::Completed) => end(state, &session, "agent"),
                _ => {
                    // A page that never opened its stream counts from
                    // the session's start.
                    let gone_since = left_at.or((!streaming).then_some(session.created_at));
                    if !streaming
                        && gone_since.is_some_and(|at| now.millis() - at.millis() >= grace)
                    {
                        end(state, &session, "timeout");
                    }
                }
            }
        }
        // Ended now or before: written once the last figures had time to
        // come in.
        let ended = session.lock().ended.as_ref().map(|e| e.at);
        let Some(ended_at) = ended else { continue };
        let record = {
            let inner = session.lock();
            if inner.recorded || now.millis() - ended_at.millis() < record_after {
                None
            } else {
                record_of(&session, &inner)
            }
        };
        if let Some(record) = record {
            match state.store.record_video_session(&record).await {
                Ok(()) => session.lock().recorded = true,
                Err(error) => {
                    tracing::error!(%error, "a video session's record was not stored; retrying")
                }
            }
        }
        let recorded = session.lock().recorded;
        if recorded && now.millis() - ended_at.millis() > KEEP_ENDED.as_millis() as i64 {
            sessions.lock().remove(&session.id);
        }
    }
}

/// Sweeps every 250 ms until the server shuts down; then ends the sessions
/// still open and stores every record not yet stored (best effort: the
/// process is going away).
pub(crate) async fn run(state: AppState) {
    let closed = state.floor.closed();
    tokio::pin!(closed);
    loop {
        tokio::select! {
            () = &mut closed => break,
            () = tokio::time::sleep(Duration::from_millis(250)) => sweep(&state).await,
        }
    }
    let all: Vec<Arc<Session>> = state.video.lock().values().cloned().collect();
    for session in &all {
        end(&state, session, "server");
        let record = {
            let inner = session.lock();
            (!inner.recorded)
                .then(|| record_of(session, &inner))
                .flatten()
        };
        if let Some(record) = record
            && let Err(error) = state.store.record_video_session(&record).await
        {
            tracing::error!(%error, "a video session's record was not stored at shutdown");
        }
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/sign/sessions", post(create))
        .route("/sign/sessions/{id}/events", get(events))
        .route("/sign/sessions/{id}/messages", post(message))
        .route("/sign/sessions/{id}/join", post(join))
        .route("/sign/sessions/{id}/relay", post(relay))
        .route("/sign/sessions/{id}/relay/end", post(relay_end))
        .route("/video-sessions", get(list))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {}

/// `POST /api/v1/sign/sessions`: a citizen asks for a signing agent.
async fn create(
    State(state): State<AppState>,
    ApiJson(_body): ApiJson<CreateBody>,
) -> Result<Response, ApiError> {
    if state.video.open() >= state.video.config.max_sessions {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "too many video sessions at once; try again shortly",
        ));
    }
    let token = new_token()?;
    let view = state.floor.add_interaction(NewInteraction {
        id: None,
        channel: Channel::Video,
        citizen_phone: PhoneNumber::unknown(),
        category: None,
        required_skills: vec![Skill::SignLanguage],
        priority: 0,
    })?;
    let session = Arc::new(Session {
        id: view.id,
        created_at: crate::now(),
        inner: Mutex::new(Inner {
            citizen: Party::new(token_hash(&token)),
            agent: None,
            accepted_at: None,
            connected_at: None,
            ended: None,
            recorded: false,
            relays: Vec::new(),
        }),
        citizen_wake: Notify::new(),
        agent_wake: Notify::new(),
    });
    // Counted before it can be ended (and uncounted).
    state
        .video
        .open
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    state.video.lock().insert(view.id, session);
    metrics::counter!("dasan_video_sessions_total").increment(1);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "session": view.id,
            "token": token,
            "ice_servers": state.video.config.ice_servers,
            "callback_after_seconds": state.video.config.callback_after.as_secs(),
        })),
    )
        .into_response())
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found("session"))
}

/// The session and the side a token speaks for; a wrong token is logged.
async fn authorize(
    state: &AppState,
    id: &str,
    token: &str,
) -> Result<(Arc<Session>, Side), ApiError> {
    let id = parse_id(id)?;
    let session = state
        .video
        .get(id)
        .ok_or_else(|| ApiError::not_found("session"))?;
    let side = session.lock().side_of(token);
    match side {
        Some(side) => Ok((session, side)),
        None => {
            crate::live::log_refusal(
                state,
                "anonymous".into(),
                "video.token_refused",
                id.to_string(),
            )
            .await;
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid_token",
                "this token does not belong to this session",
            ))
        }
    }
}

fn session_ended() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "session_ended",
        "this video session has ended",
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    token: String,
}

/// Marks a party's stream closed when the response body is dropped.
struct StreamGuard {
    session: Arc<Session>,
    side: Side,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut inner = self.session.lock();
        if let Some(party) = inner.party(self.side) {
            party.streaming = false;
            party.left_at = Some(crate::now());
        }
    }
}

/// What the citizen's waiting screen shows.
fn citizen_status(state: &AppState, session: &Session) -> serde_json::Value {
    let waited = (crate::now().millis() - session.created_at.millis()).max(0) as u64;
    let inner = session.lock();
    if inner.ended.is_some() {
        return json!({"state": "ended"});
    }
    if inner.agent.is_some() {
        return json!({"state": "joined"});
    }
    drop(inner);
    let place = state.floor.queue_place(session.id);
    json!({
        "state": "waiting",
        "position": place.map(|(p, _)| p),
        "expected_wait_seconds": place.and_then(|(_, e)| e).map(|ms| ms.div_ceil(1000)),
        "waited_seconds": waited / 1000,
        "callback_offered": waited >= state.video.config.callback_after.as_millis() as u64,
    })
}

/// `GET .../events?token=`: the party's stream. The citizen's also carries
/// `status` (place in the queue, expected wait) when it changes.
async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, ApiError> {
    let (session, side) = authorize(&state, &id, &query.token).await?;
    {
        let mut inner = session.lock();
        let ended = inner.ended.is_some();
        let party = inner.party(side).ok_or_else(ApiError::forbidden)?;
        if party.streaming {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_connected",
                "this session is already open in another window",
            ));
        }
        if ended && party.inbox.is_empty() {
            return Err(session_ended());
        }
        party.streaming = true;
        party.left_at = None;
    }
    let guard = StreamGuard {
        session: session.clone(),
        side,
    };
    let frames = stream::unfold(
        (guard, state.clone(), None::<String>, false),
        |(guard, state, last_status, done)| async move {
            let mut idle = 0u32;
            if done {
                return None;
            }
            let session = guard.session.clone();
            let side = guard.side;
            loop {
                let wake = match side {
                    Side::Citizen => session.citizen_wake.notified(),
                    Side::Agent => session.agent_wake.notified(),
                };
                let mut out = Vec::new();
                let mut status = last_status.clone();
                if side == Side::Citizen {
                    let now = citizen_status(&state, &session).to_string();
                    if status.as_deref() != Some(now.as_str()) {
                        out.extend_from_slice(format!("event: status\ndata: {now}\n\n").as_bytes());
                        status = Some(now);
                    }
                }
                let ended = {
                    let mut inner = session.lock();
                    let ended = inner.ended.is_some();
                    if let Some(party) = inner.party(side) {
                        for message in party.inbox.drain(..) {
                            out.extend_from_slice(&message);
                        }
                    }
                    ended
                };
                if !out.is_empty() {
                    return Some((Bytes::from(out), (guard, state, status, ended)));
                }
                if ended {
                    return None;
                }
                // The citizen's place in the queue moves without a
                // message: look again every second. A comment every 15 s
                // keeps proxies from closing a quiet stream.
                if tokio::time::timeout(Duration::from_secs(1), wake)
                    .await
                    .is_err()
                {
                    idle += 1;
                    if idle >= 15 {
                        return Some((Bytes::from_static(b":\n\n"), (guard, state, status, false)));
                    }
                }
            }
        },
    );
    let closed = state.floor.closed();
    let body = frames.take_until(closed).map(Ok::<_, Infallible>);
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// An ICE candidate as `RTCIceCandidate.toJSON()` gives it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Candidate {
    candidate: String,
    #[serde(rename = "sdpMid", default)]
    sdp_mid: Option<String>,
    #[serde(rename = "sdpMLineIndex", default)]
    sdp_m_line_index: Option<u16>,
    #[serde(rename = "usernameFragment", default)]
    username_fragment: Option<String>,
}

/// A browser's `getStats` summary.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stats {
    rtt_ms: Option<f64>,
    frames_decoded: u64,
    packets_lost: u64,
    packets_received: u64,
}

/// The body of `POST .../messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    token: String,
    #[serde(rename = "type")]
    kind: String,
    sdp: Option<String>,
    /// `null` ends the candidates.
    #[serde(default)]
    candidate: Option<serde_json::Value>,
    text: Option<String>,
    stats: Option<Stats>,
    /// `connected`: milliseconds from this side's start to connected media.
    connect_ms: Option<u64>,
    /// `callback`: the citizen's mobile number, and `video` or `sms`.
    phone: Option<String>,
    via: Option<String>,
}

fn invalid(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// `POST .../messages`: signalling, chat, quality figures, the end.
async fn message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MessageBody>,
) -> Result<Response, ApiError> {
    let (session, side) = authorize(&state, &id, &body.token).await?;
    let peer = match side {
        Side::Citizen => Side::Agent,
        Side::Agent => Side::Citizen,
    };
    // What goes to the peer, validated before the session is touched.
    let outgoing = match body.kind.as_str() {
        "offer" | "answer" => {
            let sdp = body
                .sdp
                .as_deref()
                .ok_or_else(|| invalid("invalid_sdp", "an offer or answer carries sdp"))?;
            if sdp.len() > MAX_SDP || !sdp.starts_with("v=0") {
                return Err(invalid(
                    "invalid_sdp",
                    "sdp is a session description (v=0 ...) of at most 32 KiB",
                ));
            }
            Some(frame("signal", &json!({"type": body.kind, "sdp": sdp})))
        }
        "candidate" => {
            let candidate = match body.candidate {
                None | Some(serde_json::Value::Null) => None,
                Some(value) => {
                    let candidate: Candidate = serde_json::from_value(value).map_err(|_| {
                        invalid(
                            "invalid_candidate",
                            "candidate is an RTCIceCandidate's JSON",
                        )
                    })?;
                    if candidate.candidate.len() > 1024
                        || candidate.sdp_mid.as_ref().is_some_and(|m| m.len() > 64)
                        || candidate
                            .username_fragment
                            .as_ref()
                            .is_some_and(|u| u.len() > 256)
                    {
                        return Err(invalid("invalid_candidate", "candidate too long"));
                    }
                    Some(candidate)
                }
            };
            Some(frame(
                "signal",
                &json!({"type": "candidate", "candidate": candidate}),
            ))
        }
        "chat" => {
            let text = body.text.as_deref().unwrap_or_default().trim();
            if text.is_empty() || text.chars().count() > MAX_CHAT {
                return Err(invalid(
                    "invalid_text",
                    "a chat message has 1 to 1000 characters",
                ));
            }
            Some(frame(
                "chat",
                &json!({"from": side.as_str(), "text": text, "at": crate::now().to_rfc3339()}),
            ))
        }
        "stats" | "connected" | "end" => None,
        "callback" => {
            if side != Side::Citizen {
                return Err(ApiError::forbidden());
            }
            return callback(&state, &session, body.phone.as_deref(), body.via.as_deref()).await;
        }
        _ => {
            return Err(invalid(
                "invalid_type",
                "type is offer, answer, candidate, chat, stats, connected, end or callback",
            ));
        }
    };
    let mut inner = session.lock();
    if inner.ended.is_some() {
        // Final figures sent as the call ends are still welcome.
        if body.kind == "stats"
            && let (Some(stats), Some(party)) = (body.stats, inner.party(side))
        {
            keep_stats(party, stats)?;
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        if body.kind == "end" {
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        return Err(session_ended());
    }
    match body.kind.as_str() {
        "stats" => {
            let stats = body
                .stats
                .ok_or_else(|| invalid("invalid_stats", "stats carries the figures"))?;
            let party = inner.party(side).ok_or_else(ApiError::forbidden)?;
            keep_stats(party, stats)?;
        }
        "connected" => {
            if inner.agent.is_none() {
                return Err(no_peer());
            }
            let now = crate::now();
            inner.connected_at.get_or_insert(now);
            let party = inner.party(side).ok_or_else(ApiError::forbidden)?;
            party
                .quality
                .get_or_insert_with(VideoQuality::default)
                .connect_ms = body.connect_ms;
        }
        "end" => {
            drop(inner);
            end(&state, &session, side.as_str());
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        _ => {
            let Some(outgoing) = outgoing else {
                return Err(invalid("invalid_type", "unknown type"));
            };
            if body.kind == "chat"
                && let Some(party) = inner.party(side)
            {
                party.chats += 1;
            }
            let Some(target) = inner.party(peer) else {
                if body.kind == "chat"
                    && let Some(party) = inner.party(side)
                {
                    party.chats -= 1;
                }
                return Err(no_peer());
            };
            let queued: usize = target.inbox.iter().map(Bytes::len).sum();
            if target.inbox.len() >= MAX_INBOX || queued + outgoing.len() > MAX_INBOX_BYTES {
                return Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "peer_behind",
                    "the other side has not read the earlier messages yet",
                ));
            }
            target.inbox.push_back(outgoing);
            drop(inner);
            session.wake(peer);
        }
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// A waiting citizen leaves a mobile number instead of waiting on: the
/// request is stored as an inbound text message (durable, in the citizen's
/// history, put back on the floor by a restart like any open text thread)
/// and queued as a text thread — for a `video` callback one requiring the
/// sign-language skill, whose agent texts the citizen when to open the call
/// again; for `sms` any agent answers by text. The session ends.
async fn callback(
    state: &AppState,
    session: &Session,
    phone: Option<&str>,
    via: Option<&str>,
) -> Result<Response, ApiError> {
    let phone = PhoneNumber::parse(phone.unwrap_or_default())
        .map_err(|_| invalid("invalid_phone", "a mobile number such as 010-1234-5678"))?;
    let (skills, body) = match via {
        Some("video") => (
            vec![Skill::SignLanguage],
            "[수어 영상 상담] 영상 통화로 다시 연락해 주세요. / Sign-language video: please call me back on video.",
        ),
        Some("sms") => (
            Vec::new(),
            "[수어 영상 상담] 문자로 답변해 주세요. / Sign-language video: please answer by text message.",
        ),
        _ => return Err(invalid("invalid_via", "via is video or sms")),
    };
    {
        let inner = session.lock();
        if inner.ended.is_some() {
            return Err(session_ended());
        }
        if inner.agent.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "wrong_state",
                "an agent has joined this session",
            ));
        }
    }
    let waited = (crate::now().millis() - session.created_at.millis()).max(0) as u64;
    if waited < state.video.config.callback_after.as_millis() as u64 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_early",
            "a callback is offered after a wait",
        ));
    }
    let now = crate::now();
    let thread = Uuid::now_v7();
    let record = dasan_store::MessageRecord {
        id: Uuid::now_v7(),
        gateway: "video".into(),
        // One request per session, however often it is sent.
        gateway_message_id: Some(format!("{}:callback", session.id)),
        direction: dasan_store::Direction::Inbound,
        citizen_phone: phone.clone(),
        center_number: "120".into(),
        body: body.into(),
        media_json: "[]".into(),
        interaction_id: Some(thread),
        status: "received".into(),
        kind: "sms".into(),
        cost_won: 0,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        created_at: now,
        updated_at: now,
    };
    let thread = if state.store.insert_message(&record).await? {
        thread
    } else {
        // A retry: the request was stored; its thread must be queued.
        let stored = state
            .store
            .find_message_by_gateway_id("video", &format!("{}:callback", session.id))
            .await?
            .and_then(|m| m.interaction_id)
            .ok_or_else(|| ApiError::internal(&"a stored callback request vanished"))?;
        if state.floor.interaction(stored).is_some() {
            end_as(state, session, "citizen", Some("callback"));
            return Ok(StatusCode::ACCEPTED.into_response());
        }
        stored
    };
    state.floor.add_interaction(NewInteraction {
        id: Some(thread),
        channel: Channel::Sms,
        citizen_phone: phone,
        category: None,
        required_skills: skills,
        priority: 0,
    })?;
    state.floor.thread_changed(thread, now, true);
    end_as(state, session, "citizen", Some("callback"));
    Ok(StatusCode::ACCEPTED.into_response())
}

fn no_peer() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "no_peer",
        "no agent has joined this session yet",
    )
}

fn keep_stats(party: &mut Party, stats: Stats) -> Result<(), ApiError> {
    if stats
        .rtt_ms
        .is_some_and(|r| !(0.0..=600_000.0).contains(&r))
    {
        return Err(invalid("invalid_stats", "rtt_ms is 0 to 600000"));
    }
    let quality = party.quality.get_or_insert_with(VideoQuality::default);
    quality.rtt_ms = stats.rtt_ms.or(quality.rtt_ms);
    quality.frames_decoded = stats.frames_decoded;
    quality.packets_lost = stats.packets_lost;
    quality.packets_received = stats.packets_received;
    Ok(())
}

/// `POST .../join`: the agent who accepted the contact takes the session's
/// other side. Only once: a second browser gets 409.
async fn join(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_record_consultations)?;
    if caller.kind != "user" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "user_required",
            "a signed-in agent joins a video session",
        ));
    }
    let id = parse_id(&id)?;
    let session = state
        .video
        .get(id)
        .ok_or_else(|| ApiError::not_found("session"))?;
    let handled = match state.floor.handled_by(caller.id, id) {
        Ok(handled) => handled,
        Err(error) => {
            if error == crate::floor::FloorError::NotYours {
                crate::live::log_refusal(
                    &state,
                    caller.actor(),
                    "video.join_refused",
                    id.to_string(),
                )
                .await;
            }
            return Err(error.into());
        }
    };
    let token = new_token()?;
    {
        let mut inner = session.lock();
        if inner.ended.is_some() {
            return Err(session_ended());
        }
        if inner.agent.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_joined",
                "an agent has already joined this session",
            ));
        }
        inner.agent = Some((caller.id, Party::new(token_hash(&token))));
        inner.accepted_at = Some(handled.answered_at);
        inner
            .citizen
            .inbox
            .push_back(frame("peer", &json!({"joined": true})));
    }
    session.wake(Side::Citizen);
    Ok(Json(json!({
        "session": id,
        "token": token,
        "ice_servers": state.video.config.ice_servers,
    }))
    .into_response())
}

/// The voice front door tells a relay's progress: the session's record is
/// updated and both parties hear it (`relay` events).
pub fn relay_changed(
    state: &AppState,
    session: Uuid,
    index: usize,
    change: impl FnOnce(&mut VideoRelay),
) {
    let Some(found) = state.video.get(session) else {
        return;
    };
    let mut inner = found.lock();
    let Some(relay) = inner.relays.get_mut(index) else {
        return;
    };
    change(relay);
    let event = frame(
        "relay",
        &json!({
            "index": index,
            "callee": relay.callee,
            "outcome": relay.outcome,
            "answered": relay.answered_at.is_some(),
            "ended": relay.ended_at.is_some(),
        }),
    );
    inner.citizen.inbox.push_back(event.clone());
    if let Some((_, agent)) = inner.agent.as_mut() {
        agent.inbox.push_back(event);
    }
    drop(inner);
    found.wake(Side::Citizen);
    found.wake(Side::Agent);
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RelayBody {
    /// The number to call: a phone number or a 3–15 digit service number.
    callee: String,
}

/// The session's agent (signed in, joined) or a refusal.
async fn session_agent(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Arc<Session>, ApiError> {
    caller.require(Role::may_record_consultations)?;
    let id = parse_id(id)?;
    let session = state
        .video
        .get(id)
        .ok_or_else(|| ApiError::not_found("session"))?;
    let agent = session.lock().agent.as_ref().map(|(agent, _)| *agent);
    if caller.kind != "user" || agent != Some(caller.id) {
        crate::live::log_refusal(state, caller.actor(), "video.relay_refused", id.to_string())
            .await;
        return Err(ApiError::forbidden());
    }
    Ok(session)
}

/// `POST .../relay`: the session's agent calls a third party through the
/// voice front door (the agent's phone first, then the callee) to
/// interpret between them and the citizen. 202; progress comes as `relay`
/// events and stays in the session's record.
async fn relay(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RelayBody>,
) -> Result<Response, ApiError> {
    let session = session_agent(&state, &caller, &id).await?;
    let callee = crate::voice::relay::callee_number(&body.callee).map_err(|_| {
        invalid(
            "invalid_callee",
            "callee is a phone number or a service number of 3 to 15 digits",
        )
    })?;
    let voice = state.voice.get().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "voice_unavailable",
            "the voice front door is not running",
        )
    })?;
    let index = {
        let mut inner = session.lock();
        if inner.ended.is_some() {
            return Err(session_ended());
        }
        if inner.relays.iter().any(|r| r.ended_at.is_none()) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "relay_in_progress",
                "end the current relay call first",
            ));
        }
        if inner.relays.len() >= 20 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "too_many_relays",
                "at most 20 relay calls in one session",
            ));
        }
        inner.relays.push(VideoRelay {
            callee: callee.clone(),
            placed_at: crate::now().millis(),
            answered_at: None,
            ended_at: None,
            outcome: "ringing".into(),
            packets_to_callee: 0,
            packets_to_agent: 0,
        });
        inner.relays.len() - 1
    };
    if let Err(error) = voice
        .place_relay(session.id, index, caller.id, &callee)
        .await
    {
        let code = match error {
            crate::voice::relay::RelayError::NoTrunk => "no_outbound_trunk",
            crate::voice::relay::RelayError::NoPhone => "no_registered_phone",
            crate::voice::relay::RelayError::InvalidCallee => "invalid_callee",
            crate::voice::relay::RelayError::Io(_) => "voice_unavailable",
        };
        relay_changed(&state, session.id, index, |r| {
            r.ended_at = Some(crate::now().millis());
            r.outcome = "failed".into();
        });
        return Err(ApiError::new(StatusCode::CONFLICT, code, error.to_string()));
    }
    // The session may have ended while the phone started ringing.
    if session.lock().ended.is_some() {
        voice.end_relays_of(session.id).await;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"index": index, "callee": callee, "outcome": "ringing"})),
    )
        .into_response())
}

/// `POST .../relay/end`: the agent hangs up the relay call.
async fn relay_end(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = session_agent(&state, &caller, &id).await?;
    if let Some(voice) = state.voice.get() {
        voice.end_relays_of(session.id).await;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    id: Option<String>,
    limit: Option<u32>,
}

/// `GET /api/v1/video-sessions`: the records for reports (supervisors and
/// administrators; audited).
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    if let Err(error) = caller.require(Role::may_read_statistics) {
        crate::live::log_refusal(
            &state,
            caller.actor(),
            "video_sessions.refused",
            String::new(),
        )
        .await;
        return Err(error);
    }
    let id = query
        .id
        .as_deref()
        .map(|i| {
            Uuid::parse_str(i).map_err(|_| ApiError::bad_request("invalid_id", "id is a UUID"))
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit runs from 1 to 1000",
        ));
    }
    let records = state.store.video_sessions(id, limit).await?;
    let entry = dasan_store::AuditEntry {
        at: crate::now(),
        actor: caller.actor(),
        action: "video_sessions.read".into(),
        subject: id.map(|i| i.to_string()).unwrap_or_default(),
    };
    state.store.append_audit(&entry).await?;
    let items: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let mut value = serde_json::to_value(r).unwrap_or_default();
            value["setup_ms"] = json!(r.setup_ms());
            value
        })
        .collect();
    Ok(Json(json!({"items": items})).into_response())
}
