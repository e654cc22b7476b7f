//! The routing engine (ACD): a deterministic state machine. Events come in
//! through [`Engine::handle`] together with the current time; decisions
//! (offers, overflows, withdrawn offers...) come out into a caller-supplied
//! vector. The engine never reads a clock, never sleeps and does no IO, so the
//! live server and the day simulator drive the very same code.
//!
//! # Policy
//!
//! * **Qualification.** A queue serves one [`Channel`] and requires a set of
//!   skills at minimum levels. An agent qualifies when it serves the channel
//!   and holds every required skill at or above the level.
//! * **Which contact.** Contacts are ranked by `arrival − priority ×
//!   priority_step`: a priority level is worth a fixed amount of waiting, so
//!   urgent contacts go first but a low-priority contact that has waited long
//!   enough still moves (aging). Equal rank falls back to arrival order, so
//!   contacts of equal priority are served first in, first out. An agent that
//!   becomes free takes the best-ranked contact across all queues it qualifies
//!   for.
//! * **Which agent.** The qualified agent carrying the least load (text
//!   threads) and, among those, idle the longest since it last finished work.
//! * **Capacity.** One real-time contact (voice, video, care call) at a time,
//!   and nothing else meanwhile; or up to `max_text_threads` text threads.
//! * **Overflow.** After a queue's configured wait, a contact either relaxes
//!   the required skill levels (agents with lower levels may take it) or moves
//!   to an overflow queue, keeping its original arrival time.
//! * **Offers.** An agent is `reserved` while an offer is pending. If the offer
//!   is not accepted within `offer_timeout`, or is declined, the contact goes
//!   back to its place in the queue (its rank comes from its arrival, so it is
//!   ahead of everything that arrived later) and the agent goes to `break`
//!   (configurable: [`AfterMissedOffer`]).
//! * **Abandon** is accepted at any moment before the contact is connected
//!   (queued or offered). **Transfers** move a contact to another queue and
//!   keep its original arrival time.
//!
//! # Why an agent cannot be stuck `reserved`
//!
//! Presence is never stored: [`Engine::presence`] derives it from the agent's
//! fields. `reserved` means "`pending_offer` is set", and every path that ends
//! an offer (accept, decline, time-out, abandon, transfer, sign-out) goes
//! through [`Engine::end_offer`], which clears the agent's and the contact's
//! side together. [`Engine::check_invariants`] cross-checks every contact and
//! agent, and the property tests call it after every event.

use std::{
    cmp::Reverse,
    collections::{BTreeSet, BinaryHeap, HashMap},
    hash::{BuildHasherDefault, Hasher},
};

use dasan_core::Channel;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An instant on the engine's clock, in milliseconds since an origin the
/// caller chooses (the simulator uses midnight of the simulated day).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);

    pub fn from_millis(millis: u64) -> Time {
        Time(millis)
    }

    /// Rounds to the nearest millisecond; negative inputs clamp to zero.
    pub fn from_seconds(seconds: f64) -> Time {
        Time((seconds * 1000.0).round().max(0.0) as u64)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    pub fn as_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    pub fn plus_millis(self, millis: u64) -> Time {
        Time(self.0.saturating_add(millis))
    }

    pub fn millis_since(self, earlier: Time) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A contact (interaction) as the caller names it; the engine keeps no other id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContactId(pub u64);

/// An agent registered with [`Engine::add_agent`]; dense, starting at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentKey(pub u32);

impl AgentKey {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A queue registered with [`Engine::add_queue`]; dense, starting at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueKey(pub u16);

impl QueueKey {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A skill interned with [`Engine::skill`]. Skill names are free text to the
/// engine: `dasan_core::Skill` names (`sign_language`, `care`, `lang:en`) and
/// category codes (`transport`) both work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SkillKey(pub u16);

/// Skill levels run from 1 (trainee) to [`MAX_SKILL_LEVEL`] (expert).
pub const MAX_SKILL_LEVEL: u8 = 10;

/// A contact overflows at most this many times between queues, so that a
/// cycle of overflow rules cannot bounce a contact forever.
pub const MAX_OVERFLOW_HOPS: u8 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillRequirement {
    pub skill: SkillKey,
    pub min_level: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OverflowTarget {
    /// Agents holding every required skill at `min_level` or above may take it.
    RelaxSkills { min_level: u8 },
    /// The contact moves to another queue, keeping its arrival time.
    Queue(QueueKey),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowRule {
    /// Wait in this queue (since the contact entered it) before overflowing.
    pub after_millis: u64,
    pub target: OverflowTarget,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueConfig {
    pub name: String,
    pub channel: Channel,
    pub required_skills: Vec<SkillRequirement>,
    pub overflow: Option<OverflowRule>,
    /// After-contact work: the agent takes no new contact for this long after
    /// completing a contact of this queue (0: none). Ended early by
    /// [`Event::WrapUpFinished`].
    pub wrap_up_millis: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentProfile {
    pub name: String,
    pub channels: Vec<Channel>,
    /// Skills with their levels (1..=10).
    pub skills: Vec<(SkillKey, u8)>,
    /// Overrides [`EngineConfig::max_text_threads`] for this agent.
    pub max_text_threads: Option<u8>,
}

/// What happens to an agent that lets an offer time out or declines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterMissedOffer {
    /// The agent goes to `break` (not ready) until it says it is ready again:
    /// an agent who walked away does not keep receiving offers.
    Break,
    /// The agent stays available.
    Available,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// How long an offer waits for acceptance; `None` waits forever.
    pub offer_timeout_millis: Option<u64>,
    pub after_missed_offer: AfterMissedOffer,
    /// Simultaneous text threads per agent unless its profile says otherwise.
    pub max_text_threads: u8,
    /// How much waiting one priority level is worth (aging).
    pub priority_step_millis: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            offer_timeout_millis: Some(15_000),
            after_missed_offer: AfterMissedOffer::Break,
            max_text_threads: 3,
            priority_step_millis: 60_000,
        }
    }
}

/// Everything that can happen to the engine. Each event is applied at the
/// time passed to [`Engine::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A new contact enters `queue`; higher `priority` is served sooner.
    ContactArrived {
        contact: ContactId,
        queue: QueueKey,
        priority: u8,
    },
    /// The agent accepts the offer. Naming the agent matters: an acceptance
    /// racing a time-out must not accept the re-offer made to someone else.
    OfferAccepted {
        contact: ContactId,
        agent: AgentKey,
    },
    OfferDeclined {
        contact: ContactId,
        agent: AgentKey,
    },
    /// The citizen hung up or left before being connected (queued or offered).
    ContactAbandoned {
        contact: ContactId,
    },
    /// The agent finished the contact; wrap-up starts.
    ContactCompleted {
        contact: ContactId,
    },
    /// Moves a queued, offered or connected contact to another queue, keeping
    /// its original arrival time. A connected contact frees its agent.
    ContactTransferred {
        contact: ContactId,
        to_queue: QueueKey,
    },
    AgentSignedIn {
        agent: AgentKey,
    },
    AgentReady {
        agent: AgentKey,
    },
    AgentOnBreak {
        agent: AgentKey,
    },
    /// Signs the agent out now if it holds nothing, else once its contacts
    /// and wrap-up are done (it takes no new work meanwhile). A pending offer
    /// is withdrawn at once.
    AgentSignedOut {
        agent: AgentKey,
    },
    WrapUpFinished {
        agent: AgentKey,
    },
    /// Only advances the clock (fires due time-outs and overflows).
    Tick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    TimedOut,
    Abandoned,
    Transferred,
    AgentSignedOut,
}

/// What the engine asks the world to do or tells it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    /// Ring the agent (or show the thread) for this contact.
    Offer {
        contact: ContactId,
        agent: AgentKey,
        queue: QueueKey,
        deadline: Option<Time>,
    },
    /// Stop ringing: the offer is over without acceptance.
    OfferWithdrawn {
        contact: ContactId,
        agent: AgentKey,
        reason: WithdrawReason,
    },
    Overflowed {
        contact: ContactId,
        from_queue: QueueKey,
        to_queue: QueueKey,
        relaxed_skills: bool,
    },
    /// The agent missed or declined an offer and was put on break.
    AgentMadeNotReady {
        agent: AgentKey,
    },
    /// A (possibly deferred) sign-out took effect.
    AgentSignedOut {
        agent: AgentKey,
    },
    WrapUpEnded {
        agent: AgentKey,
    },
}

/// An agent's presence, derived from its state (never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Offline,
    Available,
    /// An offer is pending (shown even while other text threads are open).
    Reserved,
    Busy,
    WrapUp,
    Break,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouterError {
    #[error("time went backwards: the engine is at {now:?}, the event says {event:?}")]
    ClockWentBackwards { now: Time, event: Time },
    #[error("unknown contact {0:?}")]
    UnknownContact(ContactId),
    #[error("contact {0:?} is already in the system")]
    DuplicateContact(ContactId),
    #[error("unknown agent {0:?}")]
    UnknownAgent(AgentKey),
    #[error("unknown queue {0:?}")]
    UnknownQueue(QueueKey),
    #[error("contact {contact:?} is not {expected}")]
    WrongContactState {
        contact: ContactId,
        expected: &'static str,
    },
    #[error("agent {agent:?} is {actual:?}, expected {expected}")]
    WrongAgentState {
        agent: AgentKey,
        actual: Presence,
        expected: &'static str,
    },
    #[error("invalid configuration: {0}")]
    InvalidConfiguration(String),
    #[error("too many {0}")]
    TooMany(&'static str),
}

/// Where a contact is, as the outside sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactPhase {
    Queued,
    Offered { agent: AgentKey },
    Connected { agent: AgentKey },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactView {
    pub queue: QueueKey,
    pub priority: u8,
    pub arrived_at: Time,
    /// The contact overflowed by relaxing skill levels.
    pub relaxed: bool,
    pub phase: ContactPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentView {
    pub presence: Presence,
    pub pending_offer: Option<ContactId>,
    pub real_time_contacts: u8,
    pub text_threads: u8,
    pub max_text_threads: u8,
    pub signing_out: bool,
}

// ---------------------------------------------------------------------------
// Internal state.

/// A fast hasher for the integer contact ids (FxHash's mixing step). The std
/// SipHash would cost more than the routing decision itself.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Full: the agent meets the queue's levels (contacts: not overflowed).
/// Relaxed: only the relaxed levels (contacts: overflowed by relaxing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Tier {
    Full = 0,
    Relaxed = 1,
}

/// The order in which waiting contacts are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct WaitKey {
    rank: i64,
    sequence: u64,
    contact: ContactId,
}

/// The order in which free agents are chosen: least load, then longest idle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct AgentOrder {
    load: u8,
    idle_since: Time,
    agent: AgentKey,
}

#[derive(Debug)]
struct QueueState {
    config: QueueConfig,
    /// Waiting contacts, by tier of the contact.
    waiting: [BTreeSet<WaitKey>; 2],
    /// Agents that could take an offer from this queue right now, by the
    /// agent's tier for this queue.
    offerable_agents: [BTreeSet<AgentOrder>; 2],
}

#[derive(Debug)]
struct AgentState {
    profile: AgentProfile,
    max_text_threads: u8,
    signed_in: bool,
    ready: bool,
    signing_out: bool,
    pending_offer: Option<ContactId>,
    connected: Vec<ContactId>,
    real_time_contacts: u8,
    text_threads: u8,
    wrap_up_until: Option<Time>,
    wrap_up_serial: u32,
    idle_since: Time,
    /// The queues this agent qualifies for, with its tier there.
    eligible_queues: Vec<(QueueKey, Tier)>,
    /// The key under which it sits in `offerable_agents`, if it does.
    indexed_as: Option<AgentOrder>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Queued,
    Offered { agent: AgentKey },
    Connected { agent: AgentKey },
}

#[derive(Debug, Clone)]
struct ContactState {
    queue: QueueKey,
    tier: Tier,
    priority: u8,
    arrived_at: Time,
    entered_queue_at: Time,
    sequence: u64,
    overflow_hops: u8,
    queue_serial: u32,
    offer_serial: u32,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    OfferDeadline {
        contact: ContactId,
        offer_serial: u32,
    },
    Overflow {
        contact: ContactId,
        queue_serial: u32,
    },
    WrapUpEnd {
        agent: AgentKey,
        wrap_up_serial: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    due: Time,
    sequence: u64,
    kind: TimerKind,
}

fn is_real_time(channel: Channel) -> bool {
    !channel.is_text()
}

/// The routing engine. See the module documentation for the policy.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    now: Time,
    skill_names: Vec<String>,
    queues: Vec<QueueState>,
    agents: Vec<AgentState>,
    contacts: IdMap<ContactId, ContactState>,
    timers: BinaryHeap<Reverse<Timer>>,
    sequence: u64,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Result<Engine, RouterError> {
        if config.max_text_threads == 0 {
            return Err(RouterError::InvalidConfiguration(
                "max_text_threads must be at least 1".into(),
            ));
        }
        if config.offer_timeout_millis == Some(0) {
            return Err(RouterError::InvalidConfiguration(
                "offer_timeout must be positive".into(),
            ));
        }
        Ok(Engine {
            config,
            now: Time::ZERO,
            skill_names: Vec::new(),
            queues: Vec::new(),
            agents: Vec::new(),
            contacts: IdMap::default(),
            timers: BinaryHeap::new(),
            sequence: 0,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn now(&self) -> Time {
        self.now
    }

    /// Interns a skill name.
    pub fn skill(&mut self, name: &str) -> Result<SkillKey, RouterError> {
        if let Some(index) = self.skill_names.iter().position(|known| known == name) {
            return Ok(SkillKey(index as u16));
        }
        let key =
            u16::try_from(self.skill_names.len()).map_err(|_| RouterError::TooMany("skills"))?;
        self.skill_names.push(name.to_owned());
        Ok(SkillKey(key))
    }

    /// Interns a domain skill under its canonical name (`sign_language`,
    /// `care`, `lang:en`).
    pub fn core_skill(&mut self, skill: &dasan_core::Skill) -> Result<SkillKey, RouterError> {
        self.skill(&skill.as_string())
    }

    pub fn skill_name(&self, skill: SkillKey) -> Option<&str> {
        self.skill_names.get(skill.0 as usize).map(String::as_str)
    }

    pub fn add_queue(&mut self, config: QueueConfig) -> Result<QueueKey, RouterError> {
        let key =
            QueueKey(u16::try_from(self.queues.len()).map_err(|_| RouterError::TooMany("queues"))?);
        self.validate_queue_config(&config, key)?;
        self.queues.push(QueueState {
            config,
            waiting: [BTreeSet::new(), BTreeSet::new()],
            offerable_agents: [BTreeSet::new(), BTreeSet::new()],
        });
        for index in 0..self.agents.len() {
            let agent = AgentKey(index as u32);
            self.unindex_agent(agent);
            let eligible_queues = self.eligible_queues_of(&self.agents[index].profile);
            self.agents[index].eligible_queues = eligible_queues;
            self.index_agent(agent);
        }
        Ok(key)
    }

    fn validate_queue_config(
        &self,
        config: &QueueConfig,
        key: QueueKey,
    ) -> Result<(), RouterError> {
        let invalid = |why: String| Err(RouterError::InvalidConfiguration(why));
        for requirement in &config.required_skills {
            if requirement.skill.0 as usize >= self.skill_names.len() {
                return invalid(format!(
                    "queue {}: unknown skill {:?}",
                    config.name, requirement.skill
                ));
            }
            if !(1..=MAX_SKILL_LEVEL).contains(&requirement.min_level) {
                return invalid(format!(
                    "queue {}: skill levels run from 1 to {MAX_SKILL_LEVEL}",
                    config.name
                ));
            }
        }
        if let Some(rule) = config.overflow {
            match rule.target {
                OverflowTarget::RelaxSkills { min_level } => {
                    if !(1..=MAX_SKILL_LEVEL).contains(&min_level) {
                        return invalid(format!(
                            "queue {}: relaxed level out of 1..={MAX_SKILL_LEVEL}",
                            config.name
                        ));
                    }
                }
                OverflowTarget::Queue(target) => {
                    // Overflow targets are registered first, which also rules
                    // out a queue overflowing into itself.
                    if target.index() >= self.queues.len() || target == key {
                        return invalid(format!(
                            "queue {}: the overflow queue must be registered before it",
                            config.name
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    pub fn add_agent(&mut self, profile: AgentProfile) -> Result<AgentKey, RouterError> {
        let key =
            AgentKey(u32::try_from(self.agents.len()).map_err(|_| RouterError::TooMany("agents"))?);
        for (skill, level) in &profile.skills {
            if skill.0 as usize >= self.skill_names.len() || !(1..=MAX_SKILL_LEVEL).contains(level)
            {
                return Err(RouterError::InvalidConfiguration(format!(
                    "agent {}: unknown skill or level out of 1..={MAX_SKILL_LEVEL}",
                    profile.name
                )));
            }
        }
        let max_text_threads = profile
            .max_text_threads
            .unwrap_or(self.config.max_text_threads);
        if max_text_threads == 0 {
            return Err(RouterError::InvalidConfiguration(format!(
                "agent {}: max_text_threads must be at least 1",
                profile.name
            )));
        }
        let eligible_queues = self.eligible_queues_of(&profile);
        self.agents.push(AgentState {
            profile,
            max_text_threads,
            signed_in: false,
            ready: false,
            signing_out: false,
            pending_offer: None,
            connected: Vec::new(),
            real_time_contacts: 0,
            text_threads: 0,
            wrap_up_until: None,
            wrap_up_serial: 0,
            idle_since: self.now,
            eligible_queues,
            indexed_as: None,
        });
        Ok(key)
    }

    fn eligible_queues_of(&self, profile: &AgentProfile) -> Vec<(QueueKey, Tier)> {
        let level_of = |skill: SkillKey| {
            profile
                .skills
                .iter()
                .filter(|(held, _)| *held == skill)
                .map(|(_, level)| *level)
                .max()
                .unwrap_or(0)
        };
        let mut eligible = Vec::new();
        for (index, queue) in self.queues.iter().enumerate() {
            let config = &queue.config;
            if !profile.channels.contains(&config.channel) {
                continue;
            }
            let meets = |floor: fn(u8, u8) -> u8, relaxed: u8| {
                config.required_skills.iter().all(|requirement| {
                    level_of(requirement.skill) >= floor(requirement.min_level, relaxed)
                })
            };
            let key = QueueKey(index as u16);
            if meets(|required, _| required, 0) {
                eligible.push((key, Tier::Full));
            } else if let Some(OverflowRule {
                target: OverflowTarget::RelaxSkills { min_level },
                ..
            }) = config.overflow
                && meets(u8::min, min_level)
            {
                eligible.push((key, Tier::Relaxed));
            }
        }
        eligible
    }

    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    pub fn agent_count(&self) -> usize {
        self.agents.len()
    }

    pub fn queue_config(&self, queue: QueueKey) -> Option<&QueueConfig> {
        self.queues.get(queue.index()).map(|state| &state.config)
    }

    pub fn agent_profile(&self, agent: AgentKey) -> Option<&AgentProfile> {
        self.agents.get(agent.index()).map(|state| &state.profile)
    }

    /// The earliest pending time-out, overflow or wrap-up end, if any. A
    /// caller that wants them on time sends [`Event::Tick`] at that instant.
    /// It may name a timer that has since become moot; the tick is harmless.
    pub fn next_deadline(&self) -> Option<Time> {
        self.timers.peek().map(|Reverse(timer)| timer.due)
    }

    /// Applies one event at `now`. Time-outs, overflows and wrap-up ends due
    /// at or before `now` fire first, in time order. A refused event returns
    /// an error and changes nothing beyond those timers.
    pub fn handle(
        &mut self,
        now: Time,
        event: Event,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        if now < self.now {
            return Err(RouterError::ClockWentBackwards {
                now: self.now,
                event: now,
            });
        }
        self.fire_timers_until(now, decisions);
        self.now = now;
        match event {
            Event::Tick => Ok(()),
            Event::ContactArrived {
                contact,
                queue,
                priority,
            } => self.contact_arrived(contact, queue, priority, decisions),
            Event::OfferAccepted { contact, agent } => {
                self.offer_accepted(contact, agent, decisions)
            }
            Event::OfferDeclined { contact, agent } => {
                self.offer_declined(contact, agent, decisions)
            }
            Event::ContactAbandoned { contact } => self.contact_abandoned(contact, decisions),
            Event::ContactCompleted { contact } => self.contact_completed(contact, decisions),
            Event::ContactTransferred { contact, to_queue } => {
                self.contact_transferred(contact, to_queue, decisions)
            }
            Event::AgentSignedIn { agent } => self.agent_signed_in(agent, decisions),
            Event::AgentReady { agent } => self.agent_ready(agent, decisions),
            Event::AgentOnBreak { agent } => self.agent_on_break(agent),
            Event::AgentSignedOut { agent } => self.agent_signed_out(agent, decisions),
            Event::WrapUpFinished { agent } => {
                let state = self.agent_state(agent)?;
                if state.wrap_up_until.is_none() {
                    return Err(RouterError::WrongAgentState {
                        agent,
                        actual: self.presence(agent),
                        expected: "in wrap-up",
                    });
                }
                self.end_wrap_up(agent, decisions);
                Ok(())
            }
        }
    }

    // -- events ------------------------------------------------------------

    fn contact_arrived(
        &mut self,
        contact: ContactId,
        queue: QueueKey,
        priority: u8,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        if self.contacts.contains_key(&contact) {
            return Err(RouterError::DuplicateContact(contact));
        }
        if queue.index() >= self.queues.len() {
            return Err(RouterError::UnknownQueue(queue));
        }
        self.sequence += 1;
        self.contacts.insert(
            contact,
            ContactState {
                queue,
                tier: Tier::Full,
                priority,
                arrived_at: self.now,
                entered_queue_at: self.now,
                sequence: self.sequence,
                overflow_hops: 0,
                queue_serial: 0,
                offer_serial: 0,
                phase: Phase::Queued,
            },
        );
        self.enqueue(contact, decisions);
        Ok(())
    }

    fn check_offered_to(&self, contact: ContactId, agent: AgentKey) -> Result<(), RouterError> {
        match self.contacts.get(&contact).map(|state| state.phase) {
            None => Err(RouterError::UnknownContact(contact)),
            Some(Phase::Offered { agent: holder }) if holder == agent => Ok(()),
            Some(_) => Err(RouterError::WrongContactState {
                contact,
                expected: "offered to this agent",
            }),
        }
    }

    fn offer_accepted(
        &mut self,
        contact: ContactId,
        agent: AgentKey,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        self.check_offered_to(contact, agent)?;
        self.end_offer(contact, agent);
        let channel = self.channel_of(contact);
        if let Some(state) = self.contacts.get_mut(&contact) {
            state.phase = Phase::Connected { agent };
        }
        let state = &mut self.agents[agent.index()];
        state.connected.push(contact);
        if is_real_time(channel) {
            state.real_time_contacts += 1;
        } else {
            state.text_threads += 1;
        }
        // A text agent may still have room for another thread.
        self.agent_may_take_work(agent, decisions);
        Ok(())
    }

    fn offer_declined(
        &mut self,
        contact: ContactId,
        agent: AgentKey,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        self.check_offered_to(contact, agent)?;
        self.missed_offer(contact, agent, None, decisions);
        Ok(())
    }

    /// A declined or timed-out offer: the contact goes back to its queue and
    /// the agent is dealt with per [`AfterMissedOffer`].
    fn missed_offer(
        &mut self,
        contact: ContactId,
        agent: AgentKey,
        reason: Option<WithdrawReason>,
        decisions: &mut Vec<Decision>,
    ) {
        self.end_offer(contact, agent);
        if let Some(reason) = reason {
            decisions.push(Decision::OfferWithdrawn {
                contact,
                agent,
                reason,
            });
        }
        if self.config.after_missed_offer == AfterMissedOffer::Break {
            self.agents[agent.index()].ready = false;
            decisions.push(Decision::AgentMadeNotReady { agent });
        }
        self.requeue(contact, decisions);
        self.agent_may_take_work(agent, decisions);
    }

    fn contact_abandoned(
        &mut self,
        contact: ContactId,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        let state = self
            .contacts
            .get(&contact)
            .ok_or(RouterError::UnknownContact(contact))?;
        match state.phase {
            Phase::Queued => {
                self.remove_from_waiting(contact);
                self.contacts.remove(&contact);
            }
            Phase::Offered { agent } => {
                self.end_offer(contact, agent);
                self.contacts.remove(&contact);
                decisions.push(Decision::OfferWithdrawn {
                    contact,
                    agent,
                    reason: WithdrawReason::Abandoned,
                });
                self.agent_may_take_work(agent, decisions);
            }
            Phase::Connected { .. } => {
                return Err(RouterError::WrongContactState {
                    contact,
                    expected: "queued or offered (a connected contact completes instead)",
                });
            }
        }
        Ok(())
    }

    fn connected_to(&self, contact: ContactId) -> Result<AgentKey, RouterError> {
        match self.contacts.get(&contact).map(|state| state.phase) {
            None => Err(RouterError::UnknownContact(contact)),
            Some(Phase::Connected { agent }) => Ok(agent),
            Some(_) => Err(RouterError::WrongContactState {
                contact,
                expected: "connected",
            }),
        }
    }

    fn contact_completed(
        &mut self,
        contact: ContactId,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        let agent = self.connected_to(contact)?;
        self.disconnect(contact, agent);
        self.contacts.remove(&contact);
        self.agent_may_take_work(agent, decisions);
        Ok(())
    }

    /// Detaches a connected contact from its agent and starts wrap-up.
    fn disconnect(&mut self, contact: ContactId, agent: AgentKey) {
        let channel = self.channel_of(contact);
        let wrap_up = self.queues[self.contacts[&contact].queue.index()]
            .config
            .wrap_up_millis;
        self.unindex_agent(agent);
        let now = self.now;
        let state = &mut self.agents[agent.index()];
        state.connected.retain(|held| *held != contact);
        if is_real_time(channel) {
            state.real_time_contacts -= 1;
        } else {
            state.text_threads -= 1;
        }
        if wrap_up > 0 {
            let until = now
                .plus_millis(wrap_up)
                .max(state.wrap_up_until.unwrap_or(Time::ZERO));
            state.wrap_up_until = Some(until);
            state.wrap_up_serial = state.wrap_up_serial.wrapping_add(1);
            let wrap_up_serial = state.wrap_up_serial;
            self.push_timer(
                until,
                TimerKind::WrapUpEnd {
                    agent,
                    wrap_up_serial,
                },
            );
        } else {
            state.idle_since = now;
        }
    }

    fn contact_transferred(
        &mut self,
        contact: ContactId,
        to_queue: QueueKey,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        if to_queue.index() >= self.queues.len() {
            return Err(RouterError::UnknownQueue(to_queue));
        }
        let phase = self
            .contacts
            .get(&contact)
            .ok_or(RouterError::UnknownContact(contact))?
            .phase;
        let freed_agent = match phase {
            Phase::Queued => {
                self.remove_from_waiting(contact);
                None
            }
            Phase::Offered { agent } => {
                self.end_offer(contact, agent);
                decisions.push(Decision::OfferWithdrawn {
                    contact,
                    agent,
                    reason: WithdrawReason::Transferred,
                });
                Some(agent)
            }
            Phase::Connected { agent } => {
                self.disconnect(contact, agent);
                Some(agent)
            }
        };
        let now = self.now;
        if let Some(state) = self.contacts.get_mut(&contact) {
            state.queue = to_queue;
            state.tier = Tier::Full;
            state.entered_queue_at = now;
            state.queue_serial = state.queue_serial.wrapping_add(1);
            state.phase = Phase::Queued;
        }
        self.enqueue(contact, decisions);
        if let Some(agent) = freed_agent {
            self.agent_may_take_work(agent, decisions);
        }
        Ok(())
    }

    fn agent_state(&self, agent: AgentKey) -> Result<&AgentState, RouterError> {
        self.agents
            .get(agent.index())
            .ok_or(RouterError::UnknownAgent(agent))
    }

    fn require_signed_in(&self, agent: AgentKey) -> Result<(), RouterError> {
        if self.agent_state(agent)?.signed_in {
            Ok(())
        } else {
            Err(RouterError::WrongAgentState {
                agent,
                actual: Presence::Offline,
                expected: "signed in",
            })
        }
    }

    fn agent_signed_in(
        &mut self,
        agent: AgentKey,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        if self.agent_state(agent)?.signed_in {
            return Err(RouterError::WrongAgentState {
                agent,
                actual: self.presence(agent),
                expected: "offline",
            });
        }
        let now = self.now;
        let state = &mut self.agents[agent.index()];
        state.signed_in = true;
        state.ready = true;
        state.signing_out = false;
        state.idle_since = now;
        self.agent_may_take_work(agent, decisions);
        Ok(())
    }

    fn agent_ready(
        &mut self,
        agent: AgentKey,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        self.require_signed_in(agent)?;
        let state = &mut self.agents[agent.index()];
        if !state.ready && state.connected.is_empty() && state.wrap_up_until.is_none() {
            state.idle_since = self.now;
        }
        state.ready = true;
        state.signing_out = false;
        self.agent_may_take_work(agent, decisions);
        Ok(())
    }

    fn agent_on_break(&mut self, agent: AgentKey) -> Result<(), RouterError> {
        self.require_signed_in(agent)?;
        self.agents[agent.index()].ready = false;
        self.unindex_agent(agent);
        Ok(())
    }

    fn agent_signed_out(
        &mut self,
        agent: AgentKey,
        decisions: &mut Vec<Decision>,
    ) -> Result<(), RouterError> {
        self.require_signed_in(agent)?;
        if let Some(contact) = self.agents[agent.index()].pending_offer {
            self.end_offer(contact, agent);
            decisions.push(Decision::OfferWithdrawn {
                contact,
                agent,
                reason: WithdrawReason::AgentSignedOut,
            });
            self.requeue(contact, decisions);
        }
        let state = &mut self.agents[agent.index()];
        state.ready = false;
        state.signing_out = true;
        self.agent_may_take_work(agent, decisions);
        Ok(())
    }

    fn end_wrap_up(&mut self, agent: AgentKey, decisions: &mut Vec<Decision>) {
        let now = self.now;
        let state = &mut self.agents[agent.index()];
        state.wrap_up_until = None;
        state.wrap_up_serial = state.wrap_up_serial.wrapping_add(1);
        state.idle_since = now;
        decisions.push(Decision::WrapUpEnded { agent });
        self.agent_may_take_work(agent, decisions);
    }

    // -- timers ------------------------------------------------------------

    fn push_timer(&mut self, due: Time, kind: TimerKind) {
        self.sequence += 1;
        self.timers.push(Reverse(Timer {
            due,
            sequence: self.sequence,
            kind,
        }));
    }

    fn fire_timers_until(&mut self, until: Time, decisions: &mut Vec<Decision>) {
        while let Some(Reverse(timer)) = self.timers.peek().copied() {
            if timer.due > until {
                break;
            }
            self.timers.pop();
            self.now = self.now.max(timer.due);
            match timer.kind {
                TimerKind::OfferDeadline {
                    contact,
                    offer_serial,
                } => {
                    if let Some(state) = self.contacts.get(&contact)
                        && state.offer_serial == offer_serial
                        && let Phase::Offered { agent } = state.phase
                    {
                        self.missed_offer(
                            contact,
                            agent,
                            Some(WithdrawReason::TimedOut),
                            decisions,
                        );
                    }
                }
                TimerKind::Overflow {
                    contact,
                    queue_serial,
                } => {
                    // An offered contact is not moved; `requeue` overflows it
                    // if the offer fails after the due time.
                    if let Some(state) = self.contacts.get(&contact)
                        && state.queue_serial == queue_serial
                        && state.phase == Phase::Queued
                    {
                        self.overflow(contact, decisions);
                    }
                }
                TimerKind::WrapUpEnd {
                    agent,
                    wrap_up_serial,
                } => {
                    let state = &self.agents[agent.index()];
                    if state.wrap_up_until.is_some() && state.wrap_up_serial == wrap_up_serial {
                        self.end_wrap_up(agent, decisions);
                    }
                }
            }
        }
    }

    // -- queues and matching -----------------------------------------------

    fn channel_of(&self, contact: ContactId) -> Channel {
        self.queues[self.contacts[&contact].queue.index()]
            .config
            .channel
    }

    fn wait_key(&self, contact: ContactId) -> WaitKey {
        let state = &self.contacts[&contact];
        let boost = i64::from(state.priority) * self.config.priority_step_millis as i64;
        WaitKey {
            rank: state.arrived_at.0 as i64 - boost,
            sequence: state.sequence,
            contact,
        }
    }

    fn remove_from_waiting(&mut self, contact: ContactId) {
        let key = self.wait_key(contact);
        let state = &self.contacts[&contact];
        self.queues[state.queue.index()].waiting[state.tier as usize].remove(&key);
    }

    /// When the contact's current queue overflows it, if it still can.
    fn overflow_due(&self, contact: ContactId) -> Option<Time> {
        let state = &self.contacts[&contact];
        let rule = self.queues[state.queue.index()].config.overflow?;
        let applies = match rule.target {
            OverflowTarget::RelaxSkills { .. } => state.tier == Tier::Full,
            OverflowTarget::Queue(_) => state.overflow_hops < MAX_OVERFLOW_HOPS,
        };
        applies.then(|| state.entered_queue_at.plus_millis(rule.after_millis))
    }

    /// Puts a contact (already in `Phase::Queued` state) into its queue,
    /// arms its overflow and offers it if an agent is free.
    fn enqueue(&mut self, contact: ContactId, decisions: &mut Vec<Decision>) {
        if let Some(due) = self.overflow_due(contact) {
            if due <= self.now {
                self.insert_waiting(contact);
                self.overflow(contact, decisions);
                return;
            }
            let queue_serial = self.contacts[&contact].queue_serial;
            self.push_timer(
                due,
                TimerKind::Overflow {
                    contact,
                    queue_serial,
                },
            );
        }
        self.insert_waiting(contact);
        self.offer_to_best_agent(contact, decisions);
    }

    fn insert_waiting(&mut self, contact: ContactId) {
        let key = self.wait_key(contact);
        let state = &self.contacts[&contact];
        self.queues[state.queue.index()].waiting[state.tier as usize].insert(key);
    }

    /// Back into the queue after a failed offer, at its place by arrival.
    fn requeue(&mut self, contact: ContactId, decisions: &mut Vec<Decision>) {
        if let Some(state) = self.contacts.get_mut(&contact) {
            state.phase = Phase::Queued;
        }
        self.insert_waiting(contact);
        if self
            .overflow_due(contact)
            .is_some_and(|due| due <= self.now)
        {
            self.overflow(contact, decisions);
        } else {
            self.offer_to_best_agent(contact, decisions);
        }
    }

    /// Applies the overflow rule of a queued contact's queue.
    fn overflow(&mut self, contact: ContactId, decisions: &mut Vec<Decision>) {
        let from_queue = self.contacts[&contact].queue;
        let Some(rule) = self.queues[from_queue.index()].config.overflow else {
            return;
        };
        self.remove_from_waiting(contact);
        let now = self.now;
        let Some(state) = self.contacts.get_mut(&contact) else {
            return;
        };
        match rule.target {
            OverflowTarget::RelaxSkills { .. } => {
                state.tier = Tier::Relaxed;
                decisions.push(Decision::Overflowed {
                    contact,
                    from_queue,
                    to_queue: from_queue,
                    relaxed_skills: true,
                });
                self.insert_waiting(contact);
                self.offer_to_best_agent(contact, decisions);
            }
            OverflowTarget::Queue(to_queue) => {
                state.queue = to_queue;
                state.tier = Tier::Full;
                state.entered_queue_at = now;
                state.queue_serial = state.queue_serial.wrapping_add(1);
                state.overflow_hops += 1;
                decisions.push(Decision::Overflowed {
                    contact,
                    from_queue,
                    to_queue,
                    relaxed_skills: false,
                });
                self.enqueue(contact, decisions);
            }
        }
    }

    /// Offers a queued contact to the best offerable agent, if any.
    fn offer_to_best_agent(&mut self, contact: ContactId, decisions: &mut Vec<Decision>) {
        let state = &self.contacts[&contact];
        let queue = &self.queues[state.queue.index()];
        let full = queue.offerable_agents[Tier::Full as usize].first();
        let best = if state.tier == Tier::Relaxed {
            let relaxed = queue.offerable_agents[Tier::Relaxed as usize].first();
            match (full, relaxed) {
                (Some(a), Some(b)) => Some(*a.min(b)),
                (a, b) => a.or(b).copied(),
            }
        } else {
            full.copied()
        };
        if let Some(order) = best {
            self.make_offer(contact, order.agent, decisions);
        }
    }

    fn agent_is_offerable(state: &AgentState) -> bool {
        state.signed_in
            && state.ready
            && !state.signing_out
            && state.pending_offer.is_none()
            && state.wrap_up_until.is_none()
    }

    fn has_room_for(state: &AgentState, channel: Channel) -> bool {
        if is_real_time(channel) {
            state.real_time_contacts == 0 && state.text_threads == 0
        } else {
            state.real_time_contacts == 0 && state.text_threads < state.max_text_threads
        }
    }

    /// Called whenever an agent may have become free: completes a deferred
    /// sign-out, or offers it the best waiting contact, or files it as
    /// offerable. Every agent state change ends here or in `unindex_agent`.
    fn agent_may_take_work(&mut self, agent: AgentKey, decisions: &mut Vec<Decision>) {
        let state = &mut self.agents[agent.index()];
        if state.signing_out
            && state.connected.is_empty()
            && state.wrap_up_until.is_none()
            && state.pending_offer.is_none()
        {
            state.signed_in = false;
            state.signing_out = false;
            state.ready = false;
            self.unindex_agent(agent);
            decisions.push(Decision::AgentSignedOut { agent });
            return;
        }
        if let Some(contact) = self.best_contact_for(agent) {
            self.make_offer(contact, agent, decisions);
        } else {
            self.unindex_agent(agent);
            self.index_agent(agent);
        }
    }

    fn best_contact_for(&self, agent: AgentKey) -> Option<ContactId> {
        let state = &self.agents[agent.index()];
        if !Self::agent_is_offerable(state) {
            return None;
        }
        let mut best: Option<WaitKey> = None;
        for &(queue, tier) in &state.eligible_queues {
            let queue = &self.queues[queue.index()];
            if !Self::has_room_for(state, queue.config.channel) {
                continue;
            }
            let relaxed_head = queue.waiting[Tier::Relaxed as usize].first();
            let full_head = if tier == Tier::Full {
                queue.waiting[Tier::Full as usize].first()
            } else {
                None
            };
            for head in [full_head, relaxed_head].into_iter().flatten() {
                if best.is_none_or(|known| *head < known) {
                    best = Some(*head);
                }
            }
        }
        best.map(|key| key.contact)
    }

    fn make_offer(&mut self, contact: ContactId, agent: AgentKey, decisions: &mut Vec<Decision>) {
        self.remove_from_waiting(contact);
        let deadline = self
            .config
            .offer_timeout_millis
            .map(|timeout| self.now.plus_millis(timeout));
        let Some(state) = self.contacts.get_mut(&contact) else {
            return;
        };
        state.phase = Phase::Offered { agent };
        state.offer_serial = state.offer_serial.wrapping_add(1);
        let offer_serial = state.offer_serial;
        let queue = state.queue;
        self.agents[agent.index()].pending_offer = Some(contact);
        self.unindex_agent(agent);
        if let Some(deadline) = deadline {
            self.push_timer(
                deadline,
                TimerKind::OfferDeadline {
                    contact,
                    offer_serial,
                },
            );
        }
        decisions.push(Decision::Offer {
            contact,
            agent,
            queue,
            deadline,
        });
    }

    /// The one place an offer ends: both sides are cleared together, so an
    /// agent cannot stay `reserved` for an offer that no longer exists.
    fn end_offer(&mut self, contact: ContactId, agent: AgentKey) {
        let state = &mut self.agents[agent.index()];
        debug_assert_eq!(state.pending_offer, Some(contact));
        state.pending_offer = None;
        if let Some(contact_state) = self.contacts.get_mut(&contact) {
            contact_state.phase = Phase::Queued;
            // Invalidates the pending deadline timer.
            contact_state.offer_serial = contact_state.offer_serial.wrapping_add(1);
        }
    }

    fn unindex_agent(&mut self, agent: AgentKey) {
        let state = &mut self.agents[agent.index()];
        if let Some(order) = state.indexed_as.take() {
            for &(queue, tier) in &state.eligible_queues {
                self.queues[queue.index()].offerable_agents[tier as usize].remove(&order);
            }
        }
    }

    /// Files an (unindexed) agent under every queue it could take an offer
    /// from right now.
    fn index_agent(&mut self, agent: AgentKey) {
        let state = &mut self.agents[agent.index()];
        debug_assert!(state.indexed_as.is_none());
        if !Self::agent_is_offerable(state) {
            return;
        }
        let order = AgentOrder {
            load: state.text_threads,
            idle_since: state.idle_since,
            agent,
        };
        for &(queue, tier) in &state.eligible_queues {
            let queue = &mut self.queues[queue.index()];
            if Self::has_room_for(state, queue.config.channel) {
                queue.offerable_agents[tier as usize].insert(order);
            }
        }
        state.indexed_as = Some(order);
    }

    // -- views ---------------------------------------------------------------

    /// Derived from the agent's state; see the module documentation.
    pub fn presence(&self, agent: AgentKey) -> Presence {
        let Some(state) = self.agents.get(agent.index()) else {
            return Presence::Offline;
        };
        if !state.signed_in {
            Presence::Offline
        } else if state.pending_offer.is_some() {
            Presence::Reserved
        } else if !state.connected.is_empty() {
            Presence::Busy
        } else if state.wrap_up_until.is_some() {
            Presence::WrapUp
        } else if !state.ready {
            Presence::Break
        } else {
            Presence::Available
        }
    }

    pub fn agent_view(&self, agent: AgentKey) -> Option<AgentView> {
        let state = self.agents.get(agent.index())?;
        Some(AgentView {
            presence: self.presence(agent),
            pending_offer: state.pending_offer,
            real_time_contacts: state.real_time_contacts,
            text_threads: state.text_threads,
            max_text_threads: state.max_text_threads,
            signing_out: state.signing_out,
        })
    }

    pub fn contact_view(&self, contact: ContactId) -> Option<ContactView> {
        let state = self.contacts.get(&contact)?;
        Some(ContactView {
            queue: state.queue,
            priority: state.priority,
            arrived_at: state.arrived_at,
            relaxed: state.tier == Tier::Relaxed,
            phase: match state.phase {
                Phase::Queued => ContactPhase::Queued,
                Phase::Offered { agent } => ContactPhase::Offered { agent },
                Phase::Connected { agent } => ContactPhase::Connected { agent },
            },
        })
    }

    /// Whether the agent's skills and channels qualify it for contacts of
    /// `queue` (overflowed by relaxing skills if `relaxed`).
    pub fn agent_qualifies(&self, agent: AgentKey, queue: QueueKey, relaxed: bool) -> bool {
        self.agents.get(agent.index()).is_some_and(|state| {
            state
                .eligible_queues
                .iter()
                .any(|&(eligible, tier)| eligible == queue && (tier == Tier::Full || relaxed))
        })
    }

    /// Waiting contacts of a queue in the order they would be served
    /// (not-overflowed before relaxed; each part by rank).
    pub fn waiting_contacts(&self, queue: QueueKey) -> impl Iterator<Item = ContactId> + '_ {
        self.queues
            .get(queue.index())
            .into_iter()
            .flat_map(|state| {
                state
                    .waiting
                    .iter()
                    .flat_map(|set| set.iter().map(|key| key.contact))
            })
    }

    pub fn queue_length(&self, queue: QueueKey) -> usize {
        self.queues
            .get(queue.index())
            .map_or(0, |state| state.waiting.iter().map(BTreeSet::len).sum())
    }

    /// Contacts the engine holds (queued, offered or connected).
    pub fn contacts_in_system(&self) -> usize {
        self.contacts.len()
    }

    /// Cross-checks every structure against the others, by brute force.
    /// Cheap enough for tests after every event; not for production loops.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut queued = 0usize;
        for (&contact, state) in &self.contacts {
            match state.phase {
                Phase::Queued => {
                    queued += 1;
                    let key = self.wait_key(contact);
                    if !self.queues[state.queue.index()].waiting[state.tier as usize].contains(&key)
                    {
                        return Err(format!("{contact:?} is queued but not in its queue"));
                    }
                }
                Phase::Offered { agent } => {
                    if self.agents[agent.index()].pending_offer != Some(contact) {
                        return Err(format!(
                            "{contact:?} is offered to {agent:?}, which does not hold the offer"
                        ));
                    }
                }
                Phase::Connected { agent } => {
                    let held = self.agents[agent.index()]
                        .connected
                        .iter()
                        .filter(|held| **held == contact)
                        .count();
                    if held != 1 {
                        return Err(format!(
                            "{contact:?} is connected to {agent:?}, which holds it {held} times"
                        ));
                    }
                }
            }
        }
        let waiting: usize = self
            .queues
            .iter()
            .map(|queue| queue.waiting.iter().map(BTreeSet::len).sum::<usize>())
            .sum();
        if waiting != queued {
            return Err(format!(
                "{waiting} entries in queues for {queued} queued contacts"
            ));
        }
        let mut connected_total = 0usize;
        for (index, state) in self.agents.iter().enumerate() {
            let agent = AgentKey(index as u32);
            if let Some(contact) = state.pending_offer {
                match self.contacts.get(&contact).map(|c| c.phase) {
                    Some(Phase::Offered { agent: holder }) if holder == agent => {}
                    other => {
                        return Err(format!(
                            "{agent:?} is reserved for {contact:?}, which is {other:?}"
                        ));
                    }
                }
            }
            let mut real_time = 0u8;
            let mut text = 0u8;
            for contact in &state.connected {
                match self.contacts.get(contact) {
                    Some(c) if c.phase == (Phase::Connected { agent }) => {
                        if is_real_time(self.queues[c.queue.index()].config.channel) {
                            real_time += 1;
                        } else {
                            text += 1;
                        }
                    }
                    other => {
                        return Err(format!("{agent:?} holds {contact:?}, which is {other:?}"));
                    }
                }
            }
            connected_total += state.connected.len();
            if real_time != state.real_time_contacts || text != state.text_threads {
                return Err(format!("{agent:?} counters disagree with its contacts"));
            }
            if real_time > 1 || text > state.max_text_threads || (real_time > 0 && text > 0) {
                return Err(format!(
                    "{agent:?} is above capacity: {real_time} real-time, {text} text"
                ));
            }
            if !state.signed_in
                && (state.pending_offer.is_some()
                    || !state.connected.is_empty()
                    || state.wrap_up_until.is_some())
            {
                return Err(format!("{agent:?} is offline but holds work"));
            }
            // The index must be exactly what the state says.
            let expected_order = Self::agent_is_offerable(state).then_some(AgentOrder {
                load: state.text_threads,
                idle_since: state.idle_since,
                agent,
            });
            if state.indexed_as != expected_order {
                return Err(format!(
                    "{agent:?} indexed as {:?}, expected {expected_order:?}",
                    state.indexed_as
                ));
            }
            for (queue_index, queue) in self.queues.iter().enumerate() {
                let tier = state
                    .eligible_queues
                    .iter()
                    .find(|(q, _)| q.index() == queue_index)
                    .map(|(_, tier)| *tier);
                for candidate_tier in [Tier::Full, Tier::Relaxed] {
                    let should = expected_order.is_some()
                        && tier == Some(candidate_tier)
                        && Self::has_room_for(state, queue.config.channel);
                    let is = queue.offerable_agents[candidate_tier as usize]
                        .iter()
                        .any(|order| order.agent == agent);
                    if should != is {
                        return Err(format!(
                            "{agent:?} offerable index wrong for queue {queue_index}"
                        ));
                    }
                }
            }
        }
        let connected_contacts = self
            .contacts
            .values()
            .filter(|c| matches!(c.phase, Phase::Connected { .. }))
            .count();
        if connected_total != connected_contacts {
            return Err("a contact is connected to two agents".into());
        }
        // With a qualified agent free, no contact waits.
        for (queue_index, queue) in self.queues.iter().enumerate() {
            let full_agents = !queue.offerable_agents[Tier::Full as usize].is_empty();
            let relaxed_agents = !queue.offerable_agents[Tier::Relaxed as usize].is_empty();
            if !queue.waiting[Tier::Full as usize].is_empty() && full_agents {
                return Err(format!(
                    "queue {queue_index}: a contact waits while a qualified agent is free"
                ));
            }
            if !queue.waiting[Tier::Relaxed as usize].is_empty() && (full_agents || relaxed_agents)
            {
                return Err(format!(
                    "queue {queue_index}: an overflowed contact waits while an agent is free"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture {
        engine: Engine,
        decisions: Vec<Decision>,
    }

    impl Fixture {
        fn at(&mut self, seconds: u64, event: Event) -> Vec<Decision> {
            self.decisions.clear();
            self.engine
                .handle(Time(seconds * 1000), event, &mut self.decisions)
                .expect("event accepted");
            self.engine.check_invariants().expect("invariants hold");
            self.decisions.clone()
        }
    }

    fn voice_center(agents: usize, config: EngineConfig) -> Fixture {
        let mut engine = Engine::new(config).expect("valid config");
        engine
            .add_queue(QueueConfig {
                name: "voice".into(),
                channel: Channel::Voice,
                required_skills: vec![],
                overflow: None,
                wrap_up_millis: 0,
            })
            .expect("queue");
        for index in 0..agents {
            engine
                .add_agent(AgentProfile {
                    name: format!("agent {index}"),
                    channels: vec![Channel::Voice],
                    skills: vec![],
                    max_text_threads: None,
                })
                .expect("agent");
        }
        Fixture {
            engine,
            decisions: Vec::new(),
        }
    }

    fn arrive(contact: u64) -> Event {
        Event::ContactArrived {
            contact: ContactId(contact),
            queue: QueueKey(0),
            priority: 0,
        }
    }

    #[test]
    fn longest_idle_agent_gets_the_call() {
        let mut center = voice_center(2, EngineConfig::default());
        center.at(0, Event::AgentSignedIn { agent: AgentKey(1) });
        center.at(5, Event::AgentSignedIn { agent: AgentKey(0) });
        let decisions = center.at(10, arrive(1));
        assert!(
            matches!(
                decisions[0],
                Decision::Offer {
                    agent: AgentKey(1),
                    ..
                }
            ),
            "{decisions:?}"
        );
        assert_eq!(center.engine.presence(AgentKey(1)), Presence::Reserved);
        center.at(
            11,
            Event::OfferAccepted {
                contact: ContactId(1),
                agent: AgentKey(1),
            },
        );
        assert_eq!(center.engine.presence(AgentKey(1)), Presence::Busy);
    }

    #[test]
    fn a_missed_offer_returns_the_contact_and_benches_the_agent() {
        let mut center = voice_center(2, EngineConfig::default());
        center.at(0, Event::AgentSignedIn { agent: AgentKey(0) });
        center.at(1, arrive(1));
        // The deadline is 16 s; the tick at 20 s fires it.
        let decisions = center.at(20, Event::Tick);
        assert!(decisions.contains(&Decision::OfferWithdrawn {
            contact: ContactId(1),
            agent: AgentKey(0),
            reason: WithdrawReason::TimedOut
        }));
        assert_eq!(center.engine.presence(AgentKey(0)), Presence::Break);
        assert_eq!(center.engine.queue_length(QueueKey(0)), 1);
        // A late acceptance is refused and changes nothing.
        let mut decisions = Vec::new();
        assert!(
            center
                .engine
                .handle(
                    Time(21_000),
                    Event::OfferAccepted {
                        contact: ContactId(1),
                        agent: AgentKey(0)
                    },
                    &mut decisions
                )
                .is_err()
        );
        let decisions = center.at(22, Event::AgentSignedIn { agent: AgentKey(1) });
        assert!(matches!(
            decisions[0],
            Decision::Offer {
                agent: AgentKey(1),
                ..
            }
        ));
    }

    /// Found by the property tests: an acceptance that arrives after the
    /// offer timed out (and the contact was re-offered to someone else) must
    /// not connect the contact to the second agent.
    #[test]
    fn a_late_acceptance_cannot_take_a_re_offer_made_to_another_agent() {
        let mut center = voice_center(2, EngineConfig::default());
        center.at(0, Event::AgentSignedIn { agent: AgentKey(0) });
        center.at(1, Event::AgentSignedIn { agent: AgentKey(1) });
        center.at(2, arrive(1));
        // Agent 0 was idle longest and got the offer; at 17 s it times out
        // and the contact goes to agent 1 before the late acceptance lands.
        let mut decisions = Vec::new();
        let late = center.engine.handle(
            Time(20_000),
            Event::OfferAccepted {
                contact: ContactId(1),
                agent: AgentKey(0),
            },
            &mut decisions,
        );
        assert!(late.is_err());
        assert!(decisions.contains(&Decision::Offer {
            contact: ContactId(1),
            agent: AgentKey(1),
            queue: QueueKey(0),
            deadline: Some(Time(32_000)),
        }));
        assert_eq!(center.engine.presence(AgentKey(0)), Presence::Break);
        assert_eq!(center.engine.presence(AgentKey(1)), Presence::Reserved);
        center.engine.check_invariants().expect("invariants");
    }

    #[test]
    fn priority_ages_and_equal_priority_is_fifo() {
        let mut center = voice_center(1, EngineConfig::default());
        center.at(0, arrive(1));
        center.at(10, arrive(2));
        // Priority 1 is worth 60 s of waiting: it overtakes both.
        center.at(
            20,
            Event::ContactArrived {
                contact: ContactId(3),
                queue: QueueKey(0),
                priority: 1,
            },
        );
        let order: Vec<_> = center.engine.waiting_contacts(QueueKey(0)).collect();
        assert_eq!(order, vec![ContactId(3), ContactId(1), ContactId(2)]);
        // But a contact that waited more than 60 s longer still goes first.
        center.at(
            200,
            Event::ContactArrived {
                contact: ContactId(4),
                queue: QueueKey(0),
                priority: 1,
            },
        );
        assert_eq!(
            center.engine.waiting_contacts(QueueKey(0)).last(),
            Some(ContactId(4))
        );
    }

    #[test]
    fn text_agents_hold_several_threads_but_no_call_meanwhile() {
        let mut engine = Engine::new(EngineConfig {
            offer_timeout_millis: None,
            ..EngineConfig::default()
        })
        .expect("config");
        let sms = engine
            .add_queue(QueueConfig {
                name: "sms".into(),
                channel: Channel::Sms,
                required_skills: vec![],
                overflow: None,
                wrap_up_millis: 0,
            })
            .expect("queue");
        let voice = engine
            .add_queue(QueueConfig {
                name: "voice".into(),
                channel: Channel::Voice,
                required_skills: vec![],
                overflow: None,
                wrap_up_millis: 0,
            })
            .expect("queue");
        let agent = engine
            .add_agent(AgentProfile {
                name: "a".into(),
                channels: vec![Channel::Sms, Channel::Voice],
                skills: vec![],
                max_text_threads: Some(2),
            })
            .expect("agent");
        let mut decisions = Vec::new();
        engine
            .handle(Time(0), Event::AgentSignedIn { agent }, &mut decisions)
            .expect("sign in");
        for contact in 1..=3 {
            engine
                .handle(
                    Time(contact),
                    Event::ContactArrived {
                        contact: ContactId(contact),
                        queue: sms,
                        priority: 0,
                    },
                    &mut decisions,
                )
                .expect("arrive");
            let _ = engine.handle(
                Time(contact),
                Event::OfferAccepted {
                    contact: ContactId(contact),
                    agent,
                },
                &mut decisions,
            );
        }
        engine
            .handle(
                Time(10),
                Event::ContactArrived {
                    contact: ContactId(9),
                    queue: voice,
                    priority: 0,
                },
                &mut decisions,
            )
            .expect("arrive");
        let view = engine.agent_view(agent).expect("agent");
        assert_eq!(view.text_threads, 2);
        assert_eq!(engine.queue_length(sms), 1);
        assert_eq!(engine.queue_length(voice), 1);
        engine.check_invariants().expect("invariants");
    }

    #[test]
    fn relaxed_overflow_lets_a_lower_level_agent_take_the_contact() {
        let mut engine = Engine::new(EngineConfig::default()).expect("config");
        let water = engine.skill("water").expect("skill");
        let queue = engine
            .add_queue(QueueConfig {
                name: "water".into(),
                channel: Channel::Voice,
                required_skills: vec![SkillRequirement {
                    skill: water,
                    min_level: 3,
                }],
                overflow: Some(OverflowRule {
                    after_millis: 30_000,
                    target: OverflowTarget::RelaxSkills { min_level: 1 },
                }),
                wrap_up_millis: 0,
            })
            .expect("queue");
        let junior = engine
            .add_agent(AgentProfile {
                name: "junior".into(),
                channels: vec![Channel::Voice],
                skills: vec![(water, 1)],
                max_text_threads: None,
            })
            .expect("agent");
        let mut decisions = Vec::new();
        engine
            .handle(
                Time(0),
                Event::AgentSignedIn { agent: junior },
                &mut decisions,
            )
            .expect("in");
        engine
            .handle(
                Time(0),
                Event::ContactArrived {
                    contact: ContactId(1),
                    queue,
                    priority: 0,
                },
                &mut decisions,
            )
            .expect("arrive");
        assert!(decisions.is_empty());
        engine
            .handle(Time(30_000), Event::Tick, &mut decisions)
            .expect("tick");
        assert!(matches!(
            decisions[0],
            Decision::Overflowed {
                relaxed_skills: true,
                ..
            }
        ));
        assert!(matches!(decisions[1], Decision::Offer { agent, .. } if agent == junior));
        engine.check_invariants().expect("invariants");
    }

    #[test]
    fn transfer_keeps_the_arrival_time_and_sign_out_waits_for_the_call() {
        let mut center = voice_center(1, EngineConfig::default());
        let second = center
            .engine
            .add_queue(QueueConfig {
                name: "second".into(),
                channel: Channel::Voice,
                required_skills: vec![],
                overflow: None,
                wrap_up_millis: 5_000,
            })
            .expect("queue");
        center.at(0, arrive(1));
        center.at(
            50,
            Event::ContactArrived {
                contact: ContactId(2),
                queue: second,
                priority: 0,
            },
        );
        center.at(
            60,
            Event::ContactTransferred {
                contact: ContactId(1),
                to_queue: second,
            },
        );
        let view = center.engine.contact_view(ContactId(1)).expect("contact");
        assert_eq!(view.arrived_at, Time(0));
        assert_eq!(
            center.engine.waiting_contacts(second).next(),
            Some(ContactId(1))
        );
        center.at(61, Event::AgentSignedIn { agent: AgentKey(0) });
        center.at(
            62,
            Event::OfferAccepted {
                contact: ContactId(1),
                agent: AgentKey(0),
            },
        );
        center.at(63, Event::AgentSignedOut { agent: AgentKey(0) });
        assert_eq!(center.engine.presence(AgentKey(0)), Presence::Busy);
        center.at(
            100,
            Event::ContactCompleted {
                contact: ContactId(1),
            },
        );
        assert_eq!(center.engine.presence(AgentKey(0)), Presence::WrapUp);
        let decisions = center.at(105, Event::Tick);
        assert!(decisions.contains(&Decision::AgentSignedOut { agent: AgentKey(0) }));
        assert_eq!(center.engine.presence(AgentKey(0)), Presence::Offline);
        assert_eq!(center.engine.queue_length(second), 1);
    }
}
