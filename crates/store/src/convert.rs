//! Column values to domain types, shared by both engines. Values read back
//! were validated on the way in; a value that fails to parse now means the
//! database was changed behind Dasan's back, reported as `Corrupt`.

use dasan_core::{
    Agent, AgentId, Category, CategoryCode, Channel, Consultation, ConsultationId, DepartmentCode,
    NewAgent, NewConsultation, Outcome, PhoneNumber, Skill, Taxonomy, Timestamp,
};

use crate::{Result, StoreError};

/// Phone numbers are stored as the digits of their E.164 form, as one
/// integer (`+821012345678` → 821012345678): E.164 has at most 15 digits and
/// no country code starts with 0, so this is lossless, and an integer index
/// is far smaller and faster to build and sort than a text one.
pub(crate) fn phone_key(phone: &PhoneNumber) -> i64 {
    phone
        .e164()
        .bytes()
        .filter(u8::is_ascii_digit)
        .fold(0i64, |key, digit| key * 10 + i64::from(digit - b'0'))
}

pub(crate) fn phone_from_key(key: i64) -> Result<PhoneNumber> {
    if key <= 0 {
        return Err(StoreError::Corrupt(format!("phone key {key}")));
    }
    Ok(PhoneNumber::from_trusted_e164(format!("+{key}")))
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn consultation_from_columns(
    id: uuid::Uuid,
    channel: &str,
    category: &str,
    citizen_phone: i64,
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
        phone_from_key(citizen_phone)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_keys_round_trip() {
        for written in [
            "010-1234-5678",
            "02-120-0000",
            "+1 212 555 0100",
            "+44 20 7946 0958",
        ] {
            let phone = PhoneNumber::parse(written).expect(written);
            assert_eq!(
                phone_from_key(phone_key(&phone)).expect("valid"),
                phone,
                "{written}"
            );
        }
        assert!(phone_from_key(0).is_err());
    }
}
