use thiserror::Error;

/// A rule of the domain that an input broke. Each variant has a stable
/// snake_case code (see [`DomainError::code`]) that the API passes on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    #[error("invalid phone number")]
    InvalidPhone,
    #[error("unknown channel `{0}`")]
    UnknownChannel(String),
    #[error("unknown category `{0}`")]
    UnknownCategory(String),
    #[error("invalid category code `{0}`")]
    InvalidCategoryCode(String),
    #[error("unknown outcome `{0}`")]
    UnknownOutcome(String),
    #[error("unknown role `{0}`")]
    UnknownRole(String),
    #[error("unknown skill `{0}`")]
    UnknownSkill(String),
    #[error("ended_at is before started_at")]
    ReversedTimes,
    #[error("time is out of the supported range")]
    TimeOutOfRange,
    #[error("invalid timestamp `{0}`: expected RFC 3339, e.g. 2026-11-28T10:00:00+09:00")]
    InvalidTimestamp(String),
    #[error("a transferred consultation needs a department")]
    MissingDepartment,
    #[error("only a transferred consultation names a department")]
    UnexpectedDepartment,
    #[error("invalid department code `{0}`")]
    InvalidDepartment(String),
    #[error("{field} is too long (at most {max} characters)")]
    TooLong { field: &'static str, max: usize },
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("invalid id `{0}`")]
    InvalidId(String),
    #[error("invalid {field}: expected {expected}")]
    Invalid {
        field: &'static str,
        expected: &'static str,
    },
}

impl DomainError {
    /// A value that does not have the expected form.
    pub fn invalid(field: &'static str, expected: &'static str) -> DomainError {
        DomainError::Invalid { field, expected }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::InvalidPhone => "invalid_phone",
            DomainError::UnknownChannel(_) => "unknown_channel",
            DomainError::UnknownCategory(_) => "unknown_category",
            DomainError::InvalidCategoryCode(_) => "invalid_category_code",
            DomainError::UnknownOutcome(_) => "unknown_outcome",
            DomainError::UnknownRole(_) => "unknown_role",
            DomainError::UnknownSkill(_) => "unknown_skill",
            DomainError::ReversedTimes => "reversed_times",
            DomainError::TimeOutOfRange => "time_out_of_range",
            DomainError::InvalidTimestamp(_) => "invalid_timestamp",
            DomainError::MissingDepartment => "missing_department",
            DomainError::UnexpectedDepartment => "unexpected_department",
            DomainError::InvalidDepartment(_) => "invalid_department",
            DomainError::TooLong { .. } => "too_long",
            DomainError::Empty(_) => "empty",
            DomainError::InvalidId(_) => "invalid_id",
            DomainError::Invalid { .. } => "invalid_value",
        }
    }
}
