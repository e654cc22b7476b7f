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
use futures_util::{Stream, StreamExt, stream};
use serde::Deserialize;
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    AppState,
    auth::Caller,
    consultations::ConsultationView,
    error::{ApiError, ApiJson, ApiQuery},
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

/// A stream of whole documents from a watch channel: the current one at
/// once, then each change (a slow reader skips to the latest). `pick`
/// chooses the frame from the channel's value.
fn frames<T: Clone + Send + Sync + 'static>(
    receiver: watch::Receiver<T>,
    pick: impl Fn(&T) -> Bytes + Send + Sync + 'static,
) -> impl Stream<Item = Bytes> + Send {
    let pick = Arc::new(pick);
    stream::unfold((receiver, true), move |(mut receiver, first)| {
        let pick = pick.clone();
        async move {
            if !first {
                receiver.changed().await.ok()?;
            }
            let frame = pick(&receiver.borrow_and_update());
            Some((frame, (receiver, false)))
        }
    })
}

/// A comment line every 15 s keeps proxies from closing an idle stream.
fn keep_alive() -> impl Stream<Item = Bytes> + Send {
    stream::unfold((), |()| async {
        tokio::time::sleep(std::time::Duration::from_secs(15)).await;
        Some((Bytes::from_static(b":\n\n"), ()))
    })
}

/// Resolves when the browser session behind a stream has ended (signed
/// out, expired), checked every 30 s; never for an API token.
fn session_ended(
    state: &AppState,
    caller: &Caller,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let store = state.store.clone();
    let session = caller.session.clone();
    async move {
        let Some(hash) = session else {
            return std::future::pending().await;
        };
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            match store.find_session(&hash, crate::now()).await {
                Ok(Some(_)) => {}
                Ok(None) => return,
                // A database hiccup does not end a screen.
                Err(error) => tracing::warn!(%error, "live stream: session check failed"),
            }
        }
    }
}

/// A Server-Sent Events response from ready-made frames; it ends when the
/// server shuts down or the caller's session ends.
fn sse(
    state: &AppState,
    caller: &Caller,
    frames: impl Stream<Item = Bytes> + Send + 'static,
) -> Response {
    let frames = stream::select(frames, keep_alive())
        .take_until(state.floor.closed())
        .take_until(session_ended(state, caller))
        .map(Ok::<_, Infallible>);
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(frames),
    )
        .into_response()
}

async fn desktop_events(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let screen = join_floor(&state, &caller).await?;
    Ok(sse(
        &state,
        &caller,
        frames(screen, |d: &Document| d.frame.clone()),
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
    let chart = frames(
        state.floor.chart(),
        move |(ko, en): &(Document, Document)| match lang {
            Lang::Ko => ko.frame.clone(),
            Lang::En => en.frame.clone(),
        },
    );
    let floor = frames(state.floor.wallboard(), |d: &Document| d.frame.clone());
    Ok(sse(&state, &caller, stream::select(floor, chart)))
}
