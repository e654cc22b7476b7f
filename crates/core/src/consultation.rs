//! The consultation (상담) record: what an agent completes for one interaction.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{AgentId, CategoryCode, Channel, DomainError, PhoneNumber, Taxonomy, Timestamp};

/// A consultation's stable identifier: a UUIDv7, so ids sort by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConsultationId(pub Uuid);

impl ConsultationId {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        Uuid::parse_str(input)
            .map(ConsultationId)
            .map_err(|_| DomainError::InvalidId(input.chars().take(40).collect()))
    }

    /// A UUIDv7 for `at`, with the caller's random bits (seeded generators
    /// give reproducible ids; live code passes OS randomness).
    pub fn v7(at: Timestamp, random: [u8; 10]) -> Self {
        let millis = u64::try_from(at.millis()).unwrap_or(0);
        ConsultationId(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
    }
}

impl fmt::Display for ConsultationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How the consultation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Answered,
    /// Passed to the responsible department.
    Transferred,
    /// The center promised to call back.
    Callback,
    /// The contact ended before it was served (hang-up, lost line).
    Dropped,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Outcome::Answered,
        Outcome::Transferred,
        Outcome::Callback,
        Outcome::Dropped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::Transferred => "transferred",
            Outcome::Callback => "callback",
            Outcome::Dropped => "dropped",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| DomainError::UnknownOutcome(s.chars().take(40).collect()))
    }
}

/// The department a consultation was transferred to, by code
/// (`gangnam_gu.office`, `waterworks`): lowercase letters, digits, `_`, `-`
/// and `.`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DepartmentCode(String);

impl DepartmentCode {
    pub fn parse(input: &str) -> Result<Self, DomainError> {
        let ok = !input.is_empty()
            && input.len() <= 64
            && input.starts_with(|c: char| c.is_ascii_lowercase())
            && input.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')
            });
        if ok {
            Ok(DepartmentCode(input.to_owned()))
        } else {
            Err(DomainError::InvalidDepartment(
                input.chars().take(64).collect(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DepartmentCode {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DepartmentCode::parse(&value)
    }
}

impl From<DepartmentCode> for String {
    fn from(value: DepartmentCode) -> Self {
        value.0
    }
}

/// The unchecked fields of a consultation as any channel or import hands them
/// in. [`NewConsultation::validate`] is the only way to a storable record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsultationDraft {
    pub channel: String,
    pub category: String,
    pub citizen_phone: String,
    pub agent_id: Option<String>,
    pub started_at: String,
    pub ended_at: String,
    pub summary: String,
    pub outcome: String,
    pub department: Option<String>,
}

/// A consultation that passed every rule and may be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsultation {
    pub id: ConsultationId,
    pub channel: Channel,
    pub category: CategoryCode,
    pub citizen_phone: PhoneNumber,
    pub agent_id: Option<AgentId>,
    pub started_at: Timestamp,
    pub ended_at: Timestamp,
    pub summary: String,
    pub outcome: Outcome,
    pub department: Option<DepartmentCode>,
}

/// Longest summary an agent may write (characters).
pub const MAX_SUMMARY_CHARS: usize = 4000;

impl NewConsultation {
    /// Checks a draft against the domain's rules and the taxonomy.
    pub fn validate(
        draft: &ConsultationDraft,
        taxonomy: &Taxonomy,
        id: ConsultationId,
    ) -> Result<Self, DomainError> {
        let channel: Channel = draft.channel.parse()?;
        let category = taxonomy.resolve(&draft.category)?;
        let citizen_phone = PhoneNumber::parse(&draft.citizen_phone)?;
        let agent_id = draft.agent_id.as_deref().map(AgentId::parse).transpose()?;
        let started_at = Timestamp::parse_rfc3339(&draft.started_at)?;
        let ended_at = Timestamp::parse_rfc3339(&draft.ended_at)?;
        let outcome: Outcome = draft.outcome.parse()?;
        let department = draft
            .department
            .as_deref()
            .map(DepartmentCode::parse)
            .transpose()?;
        Self::from_parts(
            id,
            channel,
            category,
            citizen_phone,
            agent_id,
            started_at,
            ended_at,
            draft.summary.trim().to_owned(),
            outcome,
            department,
        )
    }

    /// Builds a record from typed parts, enforcing the rules that span fields.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        id: ConsultationId,
        channel: Channel,
        category: CategoryCode,
        citizen_phone: PhoneNumber,
        agent_id: Option<AgentId>,
        started_at: Timestamp,
        ended_at: Timestamp,
        summary: String,
        outcome: Outcome,
        department: Option<DepartmentCode>,
    ) -> Result<Self, DomainError> {
        if ended_at < started_at {
            return Err(DomainError::ReversedTimes);
        }
        if summary.chars().count() > MAX_SUMMARY_CHARS {
            return Err(DomainError::TooLong {
                field: "summary",
                max: MAX_SUMMARY_CHARS,
            });
        }
        match (outcome, &department) {
            (Outcome::Transferred, None) => return Err(DomainError::MissingDepartment),
            (Outcome::Transferred, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(DomainError::UnexpectedDepartment),
        }
        Ok(NewConsultation {
            id,
            channel,
            category,
            citizen_phone,
            agent_id,
            started_at,
            ended_at,
            summary,
            outcome,
            department,
        })
    }

    /// Handle time in whole seconds.
    pub fn handle_seconds(&self) -> i64 {
        (self.ended_at.millis() - self.started_at.millis()) / 1000
    }
}

/// A stored consultation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consultation {
    pub record: NewConsultation,
    /// When the center stored it.
    pub recorded_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ConsultationDraft {
        ConsultationDraft {
            channel: "voice".into(),
            category: "transport".into(),
            citizen_phone: "010-1234-5678".into(),
            agent_id: None,
            started_at: "2026-11-28T10:00:00+09:00".into(),
            ended_at: "2026-11-28T10:03:10+09:00".into(),
            summary: "  N26 버스 노선 안내  ".into(),
            outcome: "answered".into(),
            department: None,
        }
    }

    fn id() -> ConsultationId {
        ConsultationId::v7(Timestamp::from_millis(0).expect("valid"), [0; 10])
    }

    #[test]
    fn a_valid_draft_becomes_a_record() {
        let record = NewConsultation::validate(&draft(), &Taxonomy::seed(), id()).expect("valid");
        assert_eq!(record.summary, "N26 버스 노선 안내");
        assert_eq!(record.handle_seconds(), 190);
        assert_eq!(record.citizen_phone.e164(), "+821012345678");
    }

    #[test]
    fn each_broken_rule_has_its_error() {
        let taxonomy = Taxonomy::seed();
        type Mutation = Box<dyn Fn(&mut ConsultationDraft)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|d| d.channel = "fax".into()), "unknown_channel"),
            (
                Box::new(|d| d.category = "transport.bus".into()),
                "unknown_category",
            ),
            (
                Box::new(|d| d.citizen_phone = "12345".into()),
                "invalid_phone",
            ),
            (
                Box::new(|d| d.ended_at = "2026-11-28T09:00:00+09:00".into()),
                "reversed_times",
            ),
            (
                Box::new(|d| d.started_at = "soon".into()),
                "invalid_timestamp",
            ),
            (Box::new(|d| d.outcome = "solved".into()), "unknown_outcome"),
            (
                Box::new(|d| d.outcome = "transferred".into()),
                "missing_department",
            ),
            (
                Box::new(|d| d.department = Some("waterworks".into())),
                "unexpected_department",
            ),
            (
                Box::new(|d| d.agent_id = Some("not-a-uuid".into())),
                "invalid_id",
            ),
            (
                Box::new(|d| d.summary = "가".repeat(MAX_SUMMARY_CHARS + 1)),
                "too_long",
            ),
        ];
        for (mutate, code) in cases {
            let mut d = draft();
            mutate(&mut d);
            let err = NewConsultation::validate(&d, &taxonomy, id()).expect_err(code);
            assert_eq!(err.code(), code);
        }
    }

    #[test]
    fn transferred_needs_a_valid_department() {
        let mut d = draft();
        d.outcome = "transferred".into();
        d.department = Some("Water Works!".into());
        assert_eq!(
            NewConsultation::validate(&d, &Taxonomy::seed(), id()).map(|_| ()),
            Err(DomainError::InvalidDepartment("Water Works!".into()))
        );
        d.department = Some("waterworks".into());
        assert!(NewConsultation::validate(&d, &Taxonomy::seed(), id()).is_ok());
    }
}
