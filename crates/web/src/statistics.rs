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
    Router::new().route("/stats", get(stats))
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
    let filter = parse_filter(
        &state,
        query.from.as_deref(),
        query.to.as_deref(),
        query.category.as_deref(),
        query.channel.as_deref(),
        None,
    )?;
    let (aggregates, _) = state.store.statistics(&filter, state.zone).await?;
    Ok(Json(compute_statistics(
        &aggregates,
        &state.taxonomy,
        state.zone,
    )))
}
