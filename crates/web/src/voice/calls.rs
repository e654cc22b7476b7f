//! `GET /api/v1/calls`: the voice front door's call records, newest first
//! (or those of one interaction), for supervisors. Each names the
//! consultation the agent completed for it, if there is one yet. Reads are
//! audited: the records carry callers' numbers.

use axum::{Json, Router, extract::State, routing::get};
use dasan_core::{ConsultationId, PhoneNumber, Role, Timestamp};
use dasan_store::{Store, sip::CallRecord};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiQuery},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/calls", get(list))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallQuery {
    interaction: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct CallView {
    id: Uuid,
    interaction_id: Option<Uuid>,
    /// The consultation the agent completed for the call (its id is the
    /// interaction's), once stored.
    consultation_id: Option<Uuid>,
    caller: Option<String>,
    caller_display: Option<String>,
    dialled: String,
    queue: Option<String>,
    started_at: String,
    queued_at: Option<String>,
    answered_at: Option<String>,
    ended_at: String,
    wait_seconds: Option<f64>,
    talk_seconds: Option<f64>,
    outcome: String,
    ended_by: String,
    agent_id: Option<Uuid>,
    agents_rung: u32,
    packets_from_caller: u64,
    packets_from_agent: u64,
    lost_from_caller: u64,
    lost_from_agent: u64,
    survey_score: Option<i64>,
}

fn at(millis: i64) -> String {
    Timestamp::from_millis(millis)
        .map(Timestamp::to_rfc3339)
        .unwrap_or_default()
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<CallQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::may_administer)?;
    let limit = query.limit.unwrap_or(50);
    if limit == 0 || limit > 500 {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    let interaction = query
        .interaction
        .as_deref()
        .map(|id| {
            Uuid::parse_str(id.trim()).map_err(|_| {
                ApiError::bad_request("invalid_interaction", "interaction must be a UUID")
            })
        })
        .transpose()?;
    let records = state.store.calls(interaction, limit).await?;
    crate::consultations::audit(
        &state,
        &caller,
        "call.list",
        format!(
            "interaction={} results={}",
            interaction.map(|i| i.to_string()).unwrap_or_default(),
            records.len()
        ),
    )
    .await?;
    let mut calls = Vec::with_capacity(records.len());
    for record in records {
        calls.push(view(&state, record).await?);
    }
    Ok(Json(serde_json::json!({ "calls": calls })))
}

async fn view(state: &AppState, record: CallRecord) -> Result<CallView, ApiError> {
    let consultation_id = match record.interaction_id {
        Some(id) => state
            .store
            .get_consultation(ConsultationId(id))
            .await?
            .map(|c| c.record.id.0),
        None => None,
    };
    Ok(CallView {
        id: record.id,
        interaction_id: record.interaction_id,
        consultation_id,
        caller_display: record
            .caller
            .as_deref()
            .and_then(|c| PhoneNumber::parse(c).ok())
            .map(|p| p.display()),
        caller: record.caller.clone(),
        dialled: record.dialled.clone(),
        queue: record.queue.clone(),
        started_at: at(record.started_at),
        queued_at: record.queued_at.map(at),
        answered_at: record.answered_at.map(at),
        ended_at: at(record.ended_at),
        wait_seconds: record.wait_seconds(),
        talk_seconds: record.talk_seconds(),
        outcome: record.outcome,
        ended_by: record.ended_by,
        agent_id: record.agent_id,
        agents_rung: record.agents_rung,
        packets_from_caller: record.packets_from_caller,
        packets_from_agent: record.packets_from_agent,
        lost_from_caller: record.lost_from_caller,
        lost_from_agent: record.lost_from_agent,
        survey_score: record.survey_score,
    })
}
