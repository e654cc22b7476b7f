//! `GET /api/v1/stats`: the model center's statistics from stored records.

use axum::{Json, Router, extract::State, routing::get};
use dasan_core::Role;
use dasan_store::{Statistics, Store, compute_statistics};
use serde::Deserialize;

use crate::{
    AppState,
    auth::Caller,
    consultations::parse_filter,
    error::{ApiError, ApiQuery},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/stats", get(stats))
        .route("/stats/messages", get(message_stats))
        .route("/stats/satisfaction/agents", get(satisfaction_by_agent))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    from: Option<String>,
    to: Option<String>,
    category: Option<String>,
    channel: Option<String>,
}

async fn stats(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> Result<Json<Statistics>, ApiError> {
    caller.require(Role::may_read_statistics)?;
    Ok(Json(
        statistics_for(
            &state,
            query.from.as_deref(),
            query.to.as_deref(),
            query.category.as_deref(),
            query.channel.as_deref(),
        )
        .await?,
    ))
}

/// The statistics for the filters every statistics page and export takes
/// (from the rollups when they can answer).
pub(crate) async fn statistics_for(
    state: &AppState,
    from: Option<&str>,
    to: Option<&str>,
    category: Option<&str>,
    channel: Option<&str>,
) -> Result<Statistics, ApiError> {
    let filter = parse_filter(state, from, to, category, channel, None)?;
    let (aggregates, _) = state.store.statistics(&filter, state.zone).await?;
    Ok(compute_statistics(&aggregates, &state.taxonomy, state.zone))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
}

/// `GET /api/v1/stats/messages`: texts in a period by direction and kind,
/// with what the outbound ones cost (for the city's SMS budget).
async fn message_stats(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PeriodQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::may_read_statistics)?;
    let bound = |text: &Option<String>| {
        text.as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| dasan_core::Timestamp::parse_bound(t, state.zone))
            .transpose()
    };
    let (from, to) = (bound(&query.from)?, bound(&query.to)?);
    let totals = state.store.message_totals(from, to).await?;
    let cost: i64 = totals
        .iter()
        .filter(|t| t.direction == "outbound")
        .map(|t| t.cost_won)
        .sum();
    Ok(Json(serde_json::json!({
        "from": from.map(dasan_core::Timestamp::to_rfc3339),
        "to": to.map(dasan_core::Timestamp::to_rfc3339),
        "totals": totals,
        "outbound_cost_won": cost,
    })))
}

/// One agent's survey figures.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct AgentSatisfaction {
    pub agent_id: Option<String>,
    pub agent_name: Option<String>,
    pub sent: u64,
    pub responses: u64,
    pub response_rate: Option<f64>,
    pub satisfied_share: Option<f64>,
    pub mean: Option<f64>,
}

/// Satisfaction per agent for a filter, most responses first.
pub(crate) async fn agent_satisfaction(
    state: &AppState,
    filter: &dasan_store::ConsultationFilter,
) -> Result<Vec<AgentSatisfaction>, ApiError> {
    let names: std::collections::HashMap<uuid::Uuid, String> = state
        .store
        .list_agents()
        .await?
        .into_iter()
        .map(|a| (a.id.0, a.name))
        .collect();
    let mut rows = state.store.survey_agents(filter).await?;
    rows.sort_by(|a, b| {
        b.responses
            .cmp(&a.responses)
            .then(a.agent_id.cmp(&b.agent_id))
    });
    let share = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    Ok(rows
        .iter()
        .map(|r| AgentSatisfaction {
            agent_id: r.agent_id.map(|id| id.to_string()),
            agent_name: r.agent_id.and_then(|id| names.get(&id).cloned()),
            sent: r.sent,
            responses: r.responses,
            response_rate: share(r.responses, r.sent),
            satisfied_share: share(r.satisfied, r.responses),
            mean: share(r.score_sum, r.responses),
        })
        .collect())
}

/// Satisfaction per agent, for the same filters as the statistics: surveys
/// sent, responses, response rate, satisfied share (4–5 of 5) and mean score;
/// most responses first.
async fn satisfaction_by_agent(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Role::may_read_statistics)?;
    let filter = parse_filter(
        &state,
        query.from.as_deref(),
        query.to.as_deref(),
        query.category.as_deref(),
        query.channel.as_deref(),
        None,
    )?;
    let agents = agent_satisfaction(&state, &filter).await?;
    Ok(Json(serde_json::json!({ "agents": agents })))
}
