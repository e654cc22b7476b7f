//! Reference data: the category taxonomy and the agents.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::get,
};
use dasan_core::{Agent, AgentId, Channel, NewAgent, Role, Skill};
use dasan_store::Store;
use serde::{Deserialize, Serialize};

use crate::{
    AppState,
    auth::Caller,
    error::{ApiError, ApiJson},
};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/categories", get(categories))
        .route("/agents", get(list_agents).post(create_agent))
        .route("/agents/{id}", get(read_agent))
}

#[derive(Debug, Serialize)]
struct CategoryView {
    code: String,
    parent: Option<String>,
    name_ko: String,
    name_en: String,
}

#[derive(Debug, Serialize)]
struct CategoriesResponse {
    categories: Vec<CategoryView>,
}

async fn categories(State(state): State<AppState>, _caller: Caller) -> Json<CategoriesResponse> {
    Json(CategoriesResponse {
        categories: state
            .taxonomy
            .iter()
            .map(|c| CategoryView {
                code: c.code.to_string(),
                parent: c.parent.as_ref().map(|p| p.to_string()),
                name_ko: c.name_ko.clone(),
                name_en: c.name_en.clone(),
            })
            .collect(),
    })
}

#[derive(Debug, Serialize)]
struct AgentView {
    id: String,
    name: String,
    skills: Vec<String>,
    channels: Vec<&'static str>,
}

impl From<&Agent> for AgentView {
    fn from(agent: &Agent) -> Self {
        AgentView {
            id: agent.id.to_string(),
            name: agent.name.clone(),
            skills: agent.skills.iter().map(Skill::as_string).collect(),
            channels: agent.channels.iter().map(|c| c.as_str()).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct AgentsResponse {
    agents: Vec<AgentView>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAgent {
    name: String,
    #[serde(default)]
    skills: Vec<String>,
    channels: Vec<String>,
}

async fn list_agents(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AgentsResponse>, ApiError> {
    caller.require(|role| role != Role::Department)?;
    let agents = state.store.list_agents().await?;
    Ok(Json(AgentsResponse {
        agents: agents.iter().map(AgentView::from).collect(),
    }))
}

async fn read_agent(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AgentView>, ApiError> {
    caller.require(|role| role != Role::Department)?;
    let id = AgentId::parse(&id).map_err(|_| ApiError::not_found("agent"))?;
    let agent = state
        .store
        .get_agent(id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    Ok(Json(AgentView::from(&agent)))
}

async fn create_agent(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateAgent>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    caller.require(Role::may_administer)?;
    let skills = body
        .skills
        .iter()
        .map(|s| s.parse::<Skill>())
        .collect::<Result<Vec<_>, _>>()?;
    let channels = body
        .channels
        .iter()
        .map(|c| c.parse::<Channel>())
        .collect::<Result<Vec<_>, _>>()?;
    let agent = NewAgent::new(&body.name, skills, channels)?;
    let stored = state
        .store
        .create_agent(&agent, AgentId(uuid::Uuid::now_v7()))
        .await?;
    Ok((StatusCode::CREATED, Json(AgentView::from(&stored))))
}
