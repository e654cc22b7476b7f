//! Dasan's routing engine (ACD), its metrics, Erlang C / Erlang A workforce
//! maths and a discrete-event day simulator that drives the same engine.
//!
//! Pure: no IO, no threads, no clock. Time comes in as [`engine::Time`]
//! values and randomness from the seeded [`dasan_core::rng::Rng`], so the same
//! inputs and seed always give the same decisions and figures.

pub mod engine;
pub mod erlang;
pub mod metrics;
pub mod scenario;
pub mod simulate;

pub use engine::{
    AgentKey, AgentProfile, ContactId, Decision, Engine, EngineConfig, Event, Presence,
    QueueConfig, QueueKey, RouterError, SkillKey, Time,
};
