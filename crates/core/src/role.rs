use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::DomainError;

/// What a signed-in person or an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Supervisor,
    Agent,
    /// Runs the care-call programme for seniors living alone.
    Coordinator,
    /// A city department (district office, health center, water works...).
    Department,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Supervisor,
        Role::Agent,
        Role::Coordinator,
        Role::Department,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::Coordinator => "coordinator",
            Role::Department => "department",
        }
    }

    /// Who may record consultations: the people who talk to citizens.
    pub fn may_record_consultations(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Supervisor | Role::Agent | Role::Coordinator
        )
    }

    /// Who may read consultation records (citizens' personal data).
    pub fn may_read_consultations(self) -> bool {
        matches!(
            self,
            Role::Admin | Role::Supervisor | Role::Agent | Role::Coordinator
        )
    }

    /// Who may manage agents and reference data.
    pub fn may_administer(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }

    /// Who may write, publish and delete knowledge-base articles and edit the
    /// search's synonym list. Everyone signed in may read published articles.
    pub fn may_edit_knowledge_base(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }

    /// Who may run re-use survey campaigns (sample citizens and text them).
    pub fn may_run_reuse_surveys(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor | Role::Coordinator)
    }

    /// Who may keep the care programme's roster, departments and notices.
    pub fn may_manage_care(self) -> bool {
        matches!(self, Role::Admin | Role::Coordinator)
    }

    /// Who may make care calls: read a senior's script and record outcomes.
    pub fn may_make_care_calls(self) -> bool {
        matches!(self, Role::Admin | Role::Coordinator | Role::Agent)
    }

    /// Who may read the care programme's figures (no personal data).
    pub fn may_read_care_reports(self) -> bool {
        matches!(self, Role::Admin | Role::Coordinator | Role::Supervisor)
    }

    /// Who may read the center's statistics.
    pub fn may_read_statistics(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }

    /// Who may export consultation lists in bulk (many citizens' records
    /// at once): supervisors and administrators, not the agents who read
    /// one citizen's history at a time.
    pub fn may_export_consultations(self) -> bool {
        matches!(self, Role::Admin | Role::Supervisor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| DomainError::UnknownRole(s.chars().take(40).collect()))
    }
}
