//! Dasan's pure core: the domain types and rules every other crate speaks.
//!
//! This crate does no IO: no files, no network, no database, no clock. Time
//! comes in as values, randomness as a seeded generator ([`rng::Rng`]). The
//! boundary is checked in CI with `cargo tree -p dasan-core -i sqlx` (and tokio,
//! axum), which must find nothing.

pub mod agent;
pub mod care;
pub mod category;
pub mod channel;
pub mod consultation;
pub mod error;
pub mod phone;
pub mod rng;
pub mod role;
pub mod time;

pub use agent::{Agent, AgentId, NewAgent, Skill};
pub use category::{Category, CategoryCode, Taxonomy};
pub use channel::Channel;
pub use consultation::{
    Consultation, ConsultationDraft, ConsultationId, DepartmentCode, NewConsultation, Outcome,
};
pub use error::DomainError;
pub use phone::PhoneNumber;
pub use role::Role;
pub use time::Timestamp;
