use std::{collections::BTreeSet, fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Channel, DomainError};

/// An agent's stable identifier (UUIDv7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub Uuid);

impl AgentId {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(input)
            .map(AgentId)
            .map_err(|_| DomainError::InvalidId(input.chars().take(40).collect()))
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an agent is qualified for beyond general consultation.
///
/// Skills are written as `sign_language`, `medical`, `care` or `lang:XX` for a
/// spoken language by its ISO 639-1 code (`lang:en`, `lang:zh`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Skill {
    SignLanguage,
    Medical,
    /// Trained for care calls to seniors living alone.
    Care,
    Language(String),
}

impl Skill {
    pub fn as_string(&self) -> String {
        match self {
            Skill::SignLanguage => "sign_language".into(),
            Skill::Medical => "medical".into(),
            Skill::Care => "care".into(),
            Skill::Language(code) => format!("lang:{code}"),
        }
    }
}

impl FromStr for Skill {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sign_language" => Ok(Skill::SignLanguage),
            "medical" => Ok(Skill::Medical),
            "care" => Ok(Skill::Care),
            _ => match s.strip_prefix("lang:") {
                Some(code) if code.len() == 2 && code.chars().all(|c| c.is_ascii_lowercase()) => {
                    Ok(Skill::Language(code.to_owned()))
                }
                _ => Err(DomainError::UnknownSkill(s.chars().take(40).collect())),
            },
        }
    }
}

impl TryFrom<String> for Skill {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Skill> for String {
    fn from(value: Skill) -> Self {
        value.as_string()
    }
}

/// An agent to be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgent {
    pub name: String,
    pub skills: BTreeSet<Skill>,
    pub channels: BTreeSet<Channel>,
}

impl NewAgent {
    pub const MAX_NAME_LEN: usize = 100;

    pub fn new(
        name: &str,
        skills: impl IntoIterator<Item = Skill>,
        channels: impl IntoIterator<Item = Channel>,
    ) -> Result<Self, DomainError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(DomainError::Empty("name"));
        }
        if name.chars().count() > Self::MAX_NAME_LEN {
            return Err(DomainError::TooLong {
                field: "name",
                max: Self::MAX_NAME_LEN,
            });
        }
        let channels: BTreeSet<Channel> = channels.into_iter().collect();
        if channels.is_empty() {
            return Err(DomainError::Empty("channels"));
        }
        Ok(NewAgent {
            name: name.to_owned(),
            skills: skills.into_iter().collect(),
            channels,
        })
    }
}

/// A stored agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub skills: BTreeSet<Skill>,
    pub channels: BTreeSet<Channel>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skills_parse_and_print() {
        for text in ["sign_language", "medical", "care", "lang:en"] {
            assert_eq!(text.parse::<Skill>().expect(text).as_string(), text);
        }
        for bad in ["", "lang:", "lang:english", "juggling"] {
            assert!(bad.parse::<Skill>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_agent_needs_a_name_and_a_channel() {
        assert!(NewAgent::new("  ", [], [Channel::Voice]).is_err());
        assert!(NewAgent::new("김상담", [], []).is_err());
        let agent = NewAgent::new(" 김상담 ", [Skill::SignLanguage], [Channel::Video]).expect("ok");
        assert_eq!(agent.name, "김상담");
    }
}
