//! Column values to domain types, shared by both engines. Values read back
//! were validated on the way in; a value that fails to parse now means the
//! database was changed behind Dasan's back, reported as `Corrupt`.

use dasan_core::{
    Agent, AgentId, Category, CategoryCode, Channel, Consultation, ConsultationId, DepartmentCode,
    NewAgent, NewConsultation, Outcome, PhoneNumber, Skill, Taxonomy, Timestamp,
};

use crate::{Result, StoreError};

#[allow(clippy::too_many_arguments)]
pub(crate) fn consultation_from_columns(
    id: uuid::Uuid,
    channel: &str,
    category: &str,
    citizen_phone: String,
    agent_id: Option<uuid::Uuid>,
    started_at: i64,
    ended_at: i64,
    summary: String,
    outcome: &str,
    department: Option<&str>,
    recorded_at: i64,
) -> Result<Consultation> {
    let record = NewConsultation::from_parts(
        ConsultationId(id),
        channel.parse::<Channel>()?,
        CategoryCode::parse(category)?,
        PhoneNumber::from_trusted_e164(citizen_phone),
        agent_id.map(AgentId),
        Timestamp::from_millis(started_at)?,
        Timestamp::from_millis(ended_at)?,
        summary,
        outcome.parse::<Outcome>()?,
        department.map(DepartmentCode::parse).transpose()?,
    )?;
    Ok(Consultation {
        record,
        recorded_at: Timestamp::from_millis(recorded_at)?,
    })
}

pub(crate) fn taxonomy_from_rows(
    rows: Vec<(String, Option<String>, String, String)>,
) -> Result<Taxonomy> {
    let categories = rows
        .into_iter()
        .map(|(code, parent, name_ko, name_en)| {
            Ok(Category {
                code: CategoryCode::parse(&code)?,
                parent: parent.as_deref().map(CategoryCode::parse).transpose()?,
                name_ko,
                name_en,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Taxonomy::from_categories(categories)?)
}

/// Skills and channels are stored as JSON arrays of their names.
pub(crate) fn agent_lists_json(agent: &NewAgent) -> (String, String) {
    let skills: Vec<String> = agent.skills.iter().map(Skill::as_string).collect();
    let channels: Vec<&str> = agent.channels.iter().map(|c| c.as_str()).collect();
    (
        serde_json::to_string(&skills).unwrap_or_else(|_| "[]".into()),
        serde_json::to_string(&channels).unwrap_or_else(|_| "[]".into()),
    )
}

pub(crate) fn agent_from_columns(
    id: uuid::Uuid,
    name: String,
    skills: &str,
    channels: &str,
) -> Result<Agent> {
    let skills: Vec<String> =
        serde_json::from_str(skills).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let channels: Vec<String> =
        serde_json::from_str(channels).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Agent {
        id: AgentId(id),
        name,
        skills: skills
            .iter()
            .map(|s| s.parse::<Skill>())
            .collect::<Result<_, _>>()?,
        channels: channels
            .iter()
            .map(|c| c.parse::<Channel>())
            .collect::<Result<_, _>>()?,
    })
}
