//! The live API over the [`Floor`](crate::floor::Floor): queueing
//! interactions (`/api/v1/interactions`), the agent's own actions and screen
//! (`/api/v1/desktop/...`) and the supervisors' wallboard
//! (`/api/v1/wallboard...`). Screens follow changes as Server-Sent Events;
//! each event carries the whole current document, so a reconnecting screen
//! is whole again at its first event.

use std::{convert::Infallible, sync::Arc};

use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use dasan_core::{
    AgentId, Channel, ConsultationId, NewAgent, NewConsultation, Outcome, PhoneNumber, Role, Skill,
};
use dasan_store::{Store, StoreError};
use serde::Deserialize;
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    AppState,
    auth::Caller,
    consultations::ConsultationView,
    error::{ApiError, ApiJson, ApiQuery},
    feed::Listener,
    floor::{Document, FloorError, NewInteraction},
    i18n::Lang,
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/interactions", post(create_interaction))
        .route("/interactions/{id}", get(read_interaction))
        .route("/interactions/{id}/accept", post(accept))
        .route("/interactions/{id}/decline", post(decline))
        .route("/interactions/{id}/abandon", post(abandon))
        .route("/interactions/{id}/complete", post(complete))
        .route("/desktop/state", get(desktop_state))
        .route("/desktop/events", get(desktop_events))
        .route("/desktop/presence", post(set_presence))
        .route("/wallboard", get(wallboard_state))
        .route("/wallboard/events", get(wallboard_events))
}

impl From<FloorError> for ApiError {
    fn from(value: FloorError) -> Self {
        let message = value.to_string();
        match value {
            FloorError::UnknownInteraction => ApiError::not_found("interaction"),
            FloorError::NotYours => {
                ApiError::new(StatusCode::FORBIDDEN, "not_your_interaction", message)
            }
            FloorError::WrongState(_) | FloorError::Router(_) => {
                ApiError::new(StatusCode::CONFLICT, "wrong_state", message)
            }
            FloorError::WrongPresence(_) => {
                ApiError::new(StatusCode::CONFLICT, "wrong_presence", message)
            }
            FloorError::NotOnFloor => ApiError::new(StatusCode::CONFLICT, "not_on_floor", message),
            FloorError::Full(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "floor_full", message)
            }
        }
    }
}

/// Writes a refused attempt to the audit log (and the log): who tried what,
/// never a citizen's data. Best effort: the refusal stands either way.
pub(crate) async fn log_refusal(state: &AppState, actor: String, action: &str, subject: String) {
    tracing::warn!(%actor, action, %subject, "refused");
    let entry = dasan_store::AuditEntry {
        at: crate::now(),
        actor,
        action: action.to_owned(),
        subject,
    };
    if let Err(error) = state.store.append_audit(&entry).await {
        tracing::error!(%error, "could not write a refusal to the audit log");
    }
}

/// Refusals of another agent's contact are logged so that a supervisor can
/// follow them up.
async fn refused(
    state: &AppState,
    caller: &Caller,
    action: &str,
    id: Uuid,
    error: FloorError,
) -> ApiError {
    if error == FloorError::NotYours {
        log_refusal(
            state,
            caller.actor(),
            "interaction.refused",
            format!("{action} {id}"),
        )
        .await;
    }
    ApiError::from(error)
}

/// The body of `POST /api/v1/interactions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateInteraction {
    channel: String,
    citizen_phone: String,
    /// A category code or a hint resolved like a consultation's category.
    category: Option<String>,
    #[serde(default)]
    required_skills: Vec<String>,
    #[serde(default)]
    priority: u8,
}

pub const MAX_PRIORITY: u8 = 9;

async fn create_interaction(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateInteraction>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_record_consultations)?;
    // Contacts come from channel edges (API tokens) or supervisors; an
    // agent's browser session cannot fill the floor or its queues.
    if caller.kind == "user" && !caller.role.may_administer() {
        log_refusal(
            &state,
            caller.actor(),
            "interaction.create_refused",
            String::new(),
        )
        .await;
        return Err(ApiError::forbidden());
    }
    let channel: Channel = body.channel.parse()?;
    let citizen_phone = PhoneNumber::parse(&body.citizen_phone)?;
    let category = body
        .category
        .as_deref()
        .filter(|c| !c.trim().is_empty())
        .map(|c| state.taxonomy.resolve(c))
        .transpose()?;
    if body.required_skills.len() > 8 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_skills",
            "at most 8 required skills",
        ));
    }
    let required_skills = body
        .required_skills
        .iter()
        .map(|s| s.parse::<Skill>())
        .collect::<Result<Vec<_>, _>>()?;
    if body.priority > MAX_PRIORITY {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_priority",
            format!("priority runs from 0 to {MAX_PRIORITY}"),
        ));
    }
    let view = state.floor.add_interaction(NewInteraction {
        id: None,
        channel,
        citizen_phone,
        category,
        required_skills,
        priority: body.priority,
    })?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::not_found("interaction"))
}

async fn read_interaction(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_read_consultations)?;
    let id = parse_id(&id)?;
    let view = state
        .floor
        .interaction(id)
        .ok_or_else(|| ApiError::not_found("interaction"))?;
    // Agents see their own contacts only; the citizen's number is personal
    // data.
    if caller.role == Role::Agent && view.agent_id != Some(caller.id) {
        return Err(refused(&state, &caller, "read", id, FloorError::NotYours).await);
    }
    Ok(Json(view).into_response())
}

/// The desktop's actions need a signed-in person, not an API token.
fn desktop_user(caller: &Caller) -> Result<Uuid, ApiError> {
    caller.require(Role::may_record_consultations)?;
    if caller.kind != "user" {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "user_required",
            "the desktop is for signed-in users, not API tokens",
        ));
    }
    Ok(caller.id)
}

async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = desktop_user(&caller)?;
    let id = parse_id(&id)?;
    if let Err(e) = state.floor.answer_offer(user, id, true) {
        return Err(refused(&state, &caller, "accept", id, e).await);
    }
    interaction_response(&state, id)
}

async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user = desktop_user(&caller)?;
    let id = parse_id(&id)?;
    if let Err(e) = state.floor.answer_offer(user, id, false) {
        return Err(refused(&state, &caller, "decline", id, e).await);
    }
    interaction_response(&state, id)
}

/// A channel edge reports that the citizen left before being connected.
async fn abandon(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_administer)?;
    let id = parse_id(&id)?;
    state.floor.abandon(id)?;
    interaction_response(&state, id)
}

fn interaction_response(state: &AppState, id: Uuid) -> Result<Response, ApiError> {
    let view = state
        .floor
        .interaction(id)
        .ok_or_else(|| ApiError::not_found("interaction"))?;
    Ok(Json(view).into_response())
}

/// The consultation form of the desktop.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteInteraction {
    category: String,
    #[serde(default)]
    summary: String,
    outcome: String,
    department: Option<String>,
}

/// Stores the consultation of a connected interaction (its id is the
/// interaction's id, so a retried submit cannot record it twice), then ends
/// the contact: the agent goes to wrap-up.
async fn complete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CompleteInteraction>,
) -> Result<Response, ApiError> {
    let user = desktop_user(&caller)?;
    let id = parse_id(&id)?;
    let handled = match state.floor.handled_by(user, id) {
        Ok(handled) => handled,
        Err(FloorError::WrongState("completed")) => {
            // A retry after the first submit went through: its record.
            if let Some(stored) = state.store.get_consultation(ConsultationId(id)).await?
                && stored.record.agent_id == Some(AgentId(user))
            {
                return Ok(
                    (StatusCode::CREATED, Json(ConsultationView::from(&stored))).into_response()
                );
            }
            return Err(FloorError::WrongState("completed").into());
        }
        Err(e) => return Err(refused(&state, &caller, "complete", id, e).await),
    };
    let category = state.taxonomy.resolve(&body.category)?;
    let outcome: Outcome = body.outcome.parse()?;
    let department = body
        .department
        .as_deref()
        .filter(|d| !d.trim().is_empty())
        .map(|d| dasan_core::DepartmentCode::parse(d.trim()))
        .transpose()?;
    let record = NewConsultation::from_parts(
        ConsultationId(handled.id),
        handled.channel,
        category,
        handled.citizen_phone,
        Some(AgentId(user)),
        handled.answered_at,
        crate::now().max(handled.answered_at),
        body.summary.trim().to_owned(),
        outcome,
        department,
    )?;
    let stored = match state.store.record_consultation(&record).await {
        Ok(stored) => stored,
        // A retried submit: the first one was stored.
        Err(StoreError::Conflict(_)) => state
            .store
            .get_consultation(record.id)
            .await?
            .ok_or_else(|| ApiError::from(StoreError::NotFound))?,
        Err(error) => return Err(error.into()),
    };
    crate::consultation_stored(&state, &stored).await;
    if let Err(e) = state.floor.complete(user, id) {
        return Err(refused(&state, &caller, "complete", id, e).await);
    }
    Ok((StatusCode::CREATED, Json(ConsultationView::from(&stored))).into_response())
}

/// Puts a signed-in user on the floor (creating its agent record the first
/// time: the agent id is the user id) and answers its screen channel.
pub(crate) async fn join_floor(
    state: &AppState,
    caller: &Caller,
) -> Result<watch::Receiver<Document>, ApiError> {
    let user = desktop_user(caller)?;
    if let Some(screen) = state.floor.screen(user) {
        return Ok(screen);
    }
    let agent = match state.store.get_agent(AgentId(user)).await? {
        Some(agent) => agent,
        None => {
            let new = NewAgent::new(&caller.name, [], Channel::ALL)?;
            match state.store.create_agent(&new, AgentId(user)).await {
                Ok(agent) => agent,
                Err(StoreError::Conflict(_)) => state
                    .store
                    .get_agent(AgentId(user))
                    .await?
                    .ok_or_else(|| ApiError::from(StoreError::NotFound))?,
                Err(error) => return Err(error.into()),
            }
        }
    };
    let channels: Vec<Channel> = agent.channels.iter().copied().collect();
    let skills: Vec<Skill> = agent.skills.iter().cloned().collect();
    Ok(state.floor.join(user, &agent.name, &channels, &skills)?)
}

async fn desktop_state(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let screen = join_floor(&state, &caller).await?;
    state.floor.refresh_screen(caller.id);
    let document = screen.borrow().json.clone();
    Ok(json_text(&document))
}

fn json_text(document: &str) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        document.to_owned(),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PresenceBody {
    presence: String,
}

async fn set_presence(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PresenceBody>,
) -> Result<Response, ApiError> {
    let screen = join_floor(&state, &caller).await?;
    if !matches!(body.presence.as_str(), "available" | "break" | "offline") {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_presence",
            "presence is available, break or offline",
        ));
    }
    state.floor.set_presence(caller.id, &body.presence)?;
    state.floor.refresh_screen(caller.id);
    let document = screen.borrow().json.clone();
    Ok(json_text(&document))
}

/// One feed a live stream follows: the next event, if its value changed
/// since the last one (an atomic look; nothing is locked when it did not).
trait Followed: Send {
    fn next(&mut self) -> Option<Bytes>;
}

/// A feed's receiver and how its value becomes an event.
struct Following<T, F> {
    receiver: watch::Receiver<T>,
    pick: F,
}

impl<T, F> Followed for Following<T, F>
where
    T: Send + Sync,
    F: Fn(&T) -> Bytes + Send,
{
    fn next(&mut self) -> Option<Bytes> {
        if !self.receiver.has_changed().unwrap_or(false) {
            return None;
        }
        Some((self.pick)(&self.receiver.borrow_and_update()))
    }
}

fn following<T, F>(receiver: watch::Receiver<T>, pick: F) -> Box<dyn Followed>
where
    T: Send + Sync + 'static,
    F: Fn(&T) -> Bytes + Send + 'static,
{
    Box::new(Following { receiver, pick })
}

/// A comment line every 15 s keeps proxies from closing an idle stream;
/// every other one, the browser session behind the stream is checked.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// The body of a Server-Sent Events response: the current document of each
/// followed feed at once, then each change (a slow reader skips to the
/// latest). It ends when the server shuts down or the caller's browser
/// session ends (signed out, expired; an API token's stream does not).
///
/// One body is polled by its connection for every change of a feed it
/// follows; it is written as one plain state machine, woken through one
/// [`Listener`], because with thousands of screens each wake-up's cost is
/// paid thousands of times per change.
struct LiveStream {
    listener: Arc<Listener>,
    feeds: Vec<Box<dyn Followed>>,
    floor: crate::floor::Floor,
    tick: std::pin::Pin<Box<tokio::time::Sleep>>,
    ticks: u64,
    /// The store and the session's hash, for browser sessions.
    session: Option<(dasan_store::AnyStore, Vec<u8>)>,
    /// A session check under way: resolves to whether the stream ends.
    checking: Option<futures_util::future::BoxFuture<'static, bool>>,
    ended: bool,
}

impl LiveStream {
    fn check_session(
        store: dasan_store::AnyStore,
        hash: Vec<u8>,
    ) -> futures_util::future::BoxFuture<'static, bool> {
        Box::pin(async move {
            match store.find_session(&hash, crate::now()).await {
                Ok(Some(_)) => false,
                Ok(None) => true,
                // A database hiccup does not end a screen.
                Err(error) => {
                    tracing::warn!(%error, "live stream: session check failed");
                    false
                }
            }
        })
    }
}

impl axum::body::HttpBody for LiveStream {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.ended || this.floor.is_closed() {
            this.ended = true;
            return Poll::Ready(None);
        }
        // Armed before the feeds are looked at: a change in between wakes
        // the connection again.
        this.listener.register(cx.waker());
        for feed in &mut this.feeds {
            if let Some(frame) = feed.next() {
                return Poll::Ready(Some(Ok(http_body::Frame::data(frame))));
            }
        }
        if let Some(check) = this.checking.as_mut()
            && let Poll::Ready(ended) = check.as_mut().poll(cx)
        {
            this.checking = None;
            if ended {
                this.ended = true;
                return Poll::Ready(None);
            }
        }
        if this.tick.as_mut().poll(cx).is_ready() {
            this.ticks += 1;
            let next = tokio::time::Instant::now() + KEEP_ALIVE;
            this.tick.as_mut().reset(next);
            // Arms the new deadline's wake-up.
            let _ = this.tick.as_mut().poll(cx);
            if this.ticks.is_multiple_of(2)
                && this.checking.is_none()
                && let Some((store, hash)) = &this.session
            {
                let mut check = Self::check_session(store.clone(), hash.clone());
                // Polled now so that it registers its own wake-up.
                match check.as_mut().poll(cx) {
                    Poll::Ready(true) => {
                        this.ended = true;
                        return Poll::Ready(None);
                    }
                    Poll::Ready(false) => {}
                    Poll::Pending => this.checking = Some(check),
                }
            }
            return Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                b":\n\n",
            )))));
        }
        Poll::Pending
    }
}

/// A Server-Sent Events response following `feeds` (each made with the
/// stream's `listener`).
fn sse(
    state: &AppState,
    caller: &Caller,
    listener: Arc<Listener>,
    feeds: Vec<Box<dyn Followed>>,
) -> Response {
    let body = LiveStream {
        listener,
        feeds,
        floor: state.floor.clone(),
        tick: Box::pin(tokio::time::sleep(KEEP_ALIVE)),
        ticks: 0,
        session: caller
            .session
            .clone()
            .map(|hash| (state.store.clone(), hash)),
        checking: None,
        ended: false,
    };
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        Body::new(body),
    )
        .into_response()
}

async fn desktop_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    join_floor(&state, &caller).await?;
    let listener = Arc::new(Listener::default());
    let screen = state
        .floor
        .follow_screen(desktop_user(&caller)?, &listener)
        .ok_or(FloorError::NotOnFloor)?;
    Ok(sse(
        &state,
        &caller,
        listener,
        vec![following(screen, |d: &Document| d.frame.clone())],
    ))
}

async fn wallboard_state(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    require_supervisor(&state, &caller).await?;
    let document = state.floor.wallboard_now().json;
    Ok(json_text(&document))
}

async fn require_supervisor(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    if let Err(error) = caller.require(Role::may_read_statistics) {
        log_refusal(
            state,
            caller.actor(),
            "wallboard.refused",
            caller.role.to_string(),
        )
        .await;
        return Err(error);
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WallboardQuery {
    lang: Option<String>,
}

async fn wallboard_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<WallboardQuery>,
) -> Result<Response, ApiError> {
    require_supervisor(&state, &caller).await?;
    let lang = Lang::choose(query.lang.as_deref(), &headers);
    let listener = Arc::new(Listener::default());
    let floor = following(state.floor.follow_wallboard(&listener), |d: &Document| {
        d.frame.clone()
    });
    let chart = following(
        state.floor.follow_chart(&listener),
        move |(ko, en): &(Document, Document)| match lang {
            Lang::Ko => ko.frame.clone(),
            Lang::En => en.frame.clone(),
        },
    );
    Ok(sse(&state, &caller, listener, vec![floor, chart]))
}
