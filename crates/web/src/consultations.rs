//! `/api/v1/consultations`: the one HTTP write path for consultation records,
//! and the audited reads.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use dasan_core::{
    Consultation, ConsultationDraft, ConsultationId, NewConsultation, PhoneNumber, Role, Timestamp,
};
use dasan_store::{AuditEntry, ConsultationFilter, Cursor, Store};
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiJson, ApiQuery},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/consultations", get(list).post(create))
        .route("/consultations/{id}", get(read))
}

/// The body of `POST /api/v1/consultations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConsultation {
    /// Optional client-chosen UUID: a retried request with the same id and
    /// the same content answers the stored record instead of a duplicate.
    pub id: Option<String>,
    pub channel: String,
    pub category: String,
    pub citizen_phone: String,
    pub agent_id: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    #[serde(default)]
    pub summary: String,
    pub outcome: String,
    pub department: Option<String>,
}

/// A consultation as the API shows it.
#[derive(Debug, Serialize)]
pub struct ConsultationView {
    pub id: String,
    pub channel: &'static str,
    pub category: String,
    pub citizen_phone: String,
    pub citizen_phone_display: String,
    pub agent_id: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    pub duration_seconds: i64,
    pub summary: String,
    pub outcome: &'static str,
    pub department: Option<String>,
    pub recorded_at: String,
}

impl From<&Consultation> for ConsultationView {
    fn from(value: &Consultation) -> Self {
        let r = &value.record;
        ConsultationView {
            id: r.id.to_string(),
            channel: r.channel.as_str(),
            category: r.category.to_string(),
            // A citizen who gave no number (an anonymous video call)
            // shows none.
            citizen_phone: if r.citizen_phone.is_unknown() {
                String::new()
            } else {
                r.citizen_phone.e164().to_owned()
            },
            citizen_phone_display: if r.citizen_phone.is_unknown() {
                String::new()
            } else {
                r.citizen_phone.display()
            },
            agent_id: r.agent_id.map(|a| a.to_string()),
            started_at: r.started_at.to_rfc3339(),
            ended_at: r.ended_at.to_rfc3339(),
            duration_seconds: r.handle_seconds(),
            summary: r.summary.clone(),
            outcome: r.outcome.as_str(),
            department: r.department.as_ref().map(|d| d.as_str().to_owned()),
            recorded_at: value.recorded_at.to_rfc3339(),
        }
    }
}

use crate::now;

fn new_id() -> Result<ConsultationId, ApiError> {
    let mut random = [0u8; 10];
    getrandom::fill(&mut random).map_err(|e| ApiError::internal(&e))?;
    Ok(ConsultationId::v7(now(), random))
}

pub(crate) async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    subject: String,
) -> Result<(), ApiError> {
    // Reads of citizens' records fail closed: no audit line, no data.
    state
        .store
        .append_audit(&AuditEntry {
            at: now(),
            actor: caller.actor(),
            action: action.to_owned(),
            subject,
        })
        .await
        .map_err(ApiError::from)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateConsultation>,
) -> Result<Response, ApiError> {
    caller.require(Role::may_record_consultations)?;
    let id = match body.id.as_deref() {
        Some(text) => ConsultationId::parse(text)?,
        None => new_id()?,
    };
    let draft = ConsultationDraft {
        channel: body.channel,
        category: body.category,
        citizen_phone: body.citizen_phone,
        agent_id: body.agent_id,
        started_at: body.started_at,
        ended_at: body.ended_at,
        summary: body.summary,
        outcome: body.outcome,
        department: body.department,
    };
    let record = NewConsultation::validate(&draft, &state.taxonomy, id)?;
    if let Some(agent) = record.agent_id
        && state.store.get_agent(agent).await?.is_none()
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_agent",
            "agent_id names no agent",
        ));
    }
    let stored = match state.store.record_consultation(&record).await {
        Ok(stored) => stored,
        Err(dasan_store::StoreError::Conflict(_)) => {
            // An idempotent retry: the same id with the same content.
            match state.store.get_consultation(record.id).await? {
                Some(existing) if existing.record == record => {
                    return Ok(
                        (StatusCode::OK, Json(ConsultationView::from(&existing))).into_response()
                    );
                }
                _ => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "conflict",
                        "a different consultation with this id exists",
                    ));
                }
            }
        }
        Err(other) => return Err(other.into()),
    };
    metrics::counter!("dasan_consultations_recorded_total", "channel" => stored.record.channel.as_str()).increment(1);
    crate::consultation_stored(&state, &stored).await;
    // Creation is not audited separately: the record is the evidence, and a
    // second write after the commit could fail and make a stored record look
    // refused (inviting a duplicate on retry).
    Ok((StatusCode::CREATED, Json(ConsultationView::from(&stored))).into_response())
}

async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConsultationView>, ApiError> {
    caller.require(Role::may_read_consultations)?;
    let id = ConsultationId::parse(&id).map_err(|_| ApiError::not_found("consultation"))?;
    let found = state
        .store
        .get_consultation(id)
        .await?
        .ok_or_else(|| ApiError::not_found("consultation"))?;
    audit(&state, &caller, "consultation.read", id.to_string()).await?;
    Ok(Json(ConsultationView::from(&found)))
}

/// Query parameters of the listing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Inclusive lower bound of `started_at`, RFC 3339.
    pub from: Option<String>,
    /// Exclusive upper bound of `started_at`, RFC 3339.
    pub to: Option<String>,
    pub category: Option<String>,
    pub channel: Option<String>,
    pub citizen_phone: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;

#[derive(Debug, Serialize)]
struct ListResponse {
    items: Vec<ConsultationView>,
    next_cursor: Option<String>,
}

/// What an audit line says about a filter: the citizen searched for is the
/// point of the audit, so the number is written in full (the audit log is in
/// the access-controlled database, never in the logs).
pub(crate) fn filter_subject(filter: &ConsultationFilter) -> String {
    format!(
        "filter: from={:?} to={:?} category={:?} channel={:?} phone={}",
        filter.from.map(|t| t.to_rfc3339()),
        filter.to.map(|t| t.to_rfc3339()),
        filter.category.as_ref().map(|c| c.as_str()),
        filter.channel.map(|c| c.as_str()),
        filter
            .citizen_phone
            .as_ref()
            .map(|p| p.e164().to_owned())
            .unwrap_or_else(|| "-".into()),
    )
}

/// Parses the filters shared by listings and statistics.
pub(crate) fn parse_filter(
    state: &AppState,
    from: Option<&str>,
    to: Option<&str>,
    category: Option<&str>,
    channel: Option<&str>,
    citizen_phone: Option<&str>,
) -> Result<ConsultationFilter, ApiError> {
    let filter = ConsultationFilter {
        from: from
            .map(|t| Timestamp::parse_bound(t, state.zone))
            .transpose()?,
        to: to
            .map(|t| Timestamp::parse_bound(t, state.zone))
            .transpose()?,
        category: category.map(|c| state.taxonomy.resolve(c)).transpose()?,
        channel: channel.map(str::parse).transpose()?,
        citizen_phone: citizen_phone.map(PhoneNumber::parse).transpose()?,
    };
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to < from
    {
        return Err(dasan_core::DomainError::ReversedTimes.into());
    }
    Ok(filter)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ListResponse>, ApiError> {
    caller.require(Role::may_read_consultations)?;
    let filter = parse_filter(
        &state,
        query.from.as_deref(),
        query.to.as_deref(),
        query.category.as_deref(),
        query.channel.as_deref(),
        query.citizen_phone.as_deref(),
    )?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let page = state
        .store
        .list_consultations(&filter, after, limit)
        .await?;
    // The audit names whose records were searched: that is its purpose. It
    // lives in the access-controlled database, never in the logs.
    let subject = format!("{} results={}", filter_subject(&filter), page.items.len());
    audit(&state, &caller, "consultation.list", subject).await?;
    Ok(Json(ListResponse {
        items: page.items.iter().map(ConsultationView::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    }))
}
