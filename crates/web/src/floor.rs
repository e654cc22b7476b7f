//! The live floor: the routing engine of `dasan-router` driven by the
//! server's clock, with the interactions it routes and the agents who take
//! them. Channel edges (the HTTP API today; SIP, SMS and video later) add
//! interactions here; the agent desktop and the supervisor wallboard read
//! their screens from here.
//!
//! The engine is a pure state machine; this module gives it a clock (a timer
//! task that sends `Tick` at the engine's next deadline) and turns its state
//! into *snapshots*: one JSON document per agent (what its desktop shows) and
//! one for the wallboard. Snapshots are published through [`Feed`]s (watch
//! channels whose changes ring a bell for the live streams), so a screen that connects, reconnects or falls behind always
//! gets the latest whole state (a page reload loses nothing) and a burst of
//! events costs a slow screen one update, not a backlog.
//!
//! Interactions live in memory: a contact waiting in a queue ends with the
//! process like a phone call does. The consultation an agent completes for it
//! is written to the store before the engine hears of the completion.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, Weak},
    time::Duration,
};

use chrono::NaiveDate;
use chrono_tz::Tz;
use dasan_core::{CategoryCode, Channel, PhoneNumber, Skill, Taxonomy, Timestamp};
use dasan_router::{
    AgentKey, AgentProfile, ContactId, Decision, Engine, EngineConfig, Event, Presence,
    QueueConfig, QueueKey, RouterError, Time,
    engine::{AfterMissedOffer, SkillRequirement},
};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{Notify, watch};

use crate::feed::{Feed, Listener};
use uuid::Uuid;

/// A published screen document: the JSON, and the same as one ready-made
/// Server-Sent Events frame. The frame is built once per change and shared
/// by every stream (a reference-counted buffer), so fanning a change out to
/// thousands of screens copies no document.
#[derive(Debug, Clone)]
pub struct Document {
    pub json: Arc<str>,
    pub frame: axum::body::Bytes,
}

impl Document {
    /// `data` must be one line (compact JSON, or SVG without newlines).
    pub fn new(event: &str, data: &str) -> Document {
        debug_assert!(!data.contains('\n'));
        let mut frame = String::with_capacity(data.len() + event.len() + 16);
        frame.push_str("event: ");
        frame.push_str(event);
        frame.push_str("\ndata: ");
        frame.push_str(data);
        frame.push_str("\n\n");
        Document {
            json: Arc::from(data),
            frame: axum::body::Bytes::from(frame),
        }
    }
}

/// The floor's policy knobs.
#[derive(Debug, Clone, Copy)]
pub struct FloorConfig {
    /// How long an offer rings before it goes to the next agent.
    pub offer_timeout_millis: u64,
    /// After-contact work before the agent is offered the next contact
    /// (ended early when the agent says it is ready).
    pub wrap_up_millis: u64,
    /// The service-level answer target (20 s in "80/20").
    pub answer_target_millis: u64,
    /// Abandons quicker than this are not counted against the service level.
    pub short_abandon_millis: u64,
    /// Interactions waiting or being handled at once; more are refused.
    pub max_open_interactions: usize,
    /// Distinct queues (channel × category group × required skills).
    pub max_queues: usize,
}

impl Default for FloorConfig {
    fn default() -> Self {
        FloorConfig {
            offer_timeout_millis: 20_000,
            wrap_up_millis: 60_000,
            answer_target_millis: 20_000,
            short_abandon_millis: 5_000,
            max_open_interactions: 100_000,
            max_queues: 500,
        }
    }
}

/// Why the floor refused something. The HTTP layer maps each to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FloorError {
    #[error("no such interaction")]
    UnknownInteraction,
    #[error("this interaction is not offered to or handled by you")]
    NotYours,
    #[error("the interaction is {0}")]
    WrongState(&'static str),
    #[error("you are {0}")]
    WrongPresence(&'static str),
    #[error("the floor is full: {0}")]
    Full(&'static str),
    #[error("sign in to the floor first")]
    NotOnFloor,
    #[error("routing failed: {0}")]
    Router(String),
}

impl From<RouterError> for FloorError {
    fn from(value: RouterError) -> Self {
        FloorError::Router(value.to_string())
    }
}

/// What a channel edge hands in to queue a contact.
#[derive(Debug, Clone)]
pub struct NewInteraction {
    /// The id to use (a text thread's id is chosen when its first message
    /// is stored); a new one when `None`.
    pub id: Option<Uuid>,
    pub channel: Channel,
    pub citizen_phone: PhoneNumber,
    /// The category the citizen chose (IVR menu, web form) or a guess.
    pub category: Option<CategoryCode>,
    pub required_skills: Vec<Skill>,
    /// 0 (normal) to 9 (most urgent).
    pub priority: u8,
}

/// Where an interaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionState {
    Queued,
    Offered,
    Connected,
    Completed,
    Abandoned,
}

impl InteractionState {
    fn as_str(self) -> &'static str {
        match self {
            InteractionState::Queued => "queued",
            InteractionState::Offered => "offered",
            InteractionState::Connected => "connected",
            InteractionState::Completed => "completed",
            InteractionState::Abandoned => "abandoned",
        }
    }
}

#[derive(Debug, Clone)]
struct Interaction {
    id: Uuid,
    contact: ContactId,
    channel: Channel,
    citizen_phone: PhoneNumber,
    /// The number as people read it: formatting it takes libphonenumber's
    /// patterns, so it is done once, when first shown (or before the floor
    /// is locked, by `add_interaction`).
    citizen_phone_display: std::sync::OnceLock<String>,
    category: Option<CategoryCode>,
    required_skills: Vec<Skill>,
    priority: u8,
    queue: QueueKey,
    arrived_at: Timestamp,
    state: InteractionState,
    /// The agent offered or handling it.
    agent: Option<AgentKey>,
    offer_deadline: Option<Timestamp>,
    answered_at: Option<Timestamp>,
    ended_at: Option<Timestamp>,
    /// Text threads: messages either way so far, and when the last came.
    messages: u32,
    last_message_at: Option<Timestamp>,
    /// Changes whenever the thread does (a message, a delivery report).
    thread_version: u32,
}

/// An interaction as the API and the desktop show it.
#[derive(Debug, Clone, Serialize)]
pub struct InteractionView {
    pub id: Uuid,
    pub channel: Channel,
    pub citizen_phone: String,
    pub citizen_phone_display: String,
    pub category: Option<String>,
    pub required_skills: Vec<String>,
    pub priority: u8,
    pub queue: String,
    pub state: InteractionState,
    /// The user id of the agent it is offered to or handled by.
    pub agent_id: Option<Uuid>,
    pub arrived_at: String,
    pub offer_deadline: Option<String>,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    /// Text threads: how many messages so far.
    pub messages: u32,
    /// Text threads: changes with every message or delivery report (the
    /// desktop reloads the thread when it does).
    pub thread_version: u32,
}

/// What the desktop needs to write the consultation of a connected contact.
#[derive(Debug, Clone)]
pub struct Handled {
    pub id: Uuid,
    pub channel: Channel,
    pub citizen_phone: PhoneNumber,
    pub answered_at: Timestamp,
}

/// An offer made to an agent or taken back from one (time-out, decline,
/// abandon, sign-out): the voice front door rings the agent's phone on the
/// first and stops ringing on the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferNotice {
    Offered {
        interaction: Uuid,
        channel: Channel,
        agent: Uuid,
    },
    Withdrawn {
        interaction: Uuid,
        agent: Uuid,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct QueueKind {
    channel: Channel,
    /// A top-level category code, or `general`.
    group: String,
    skills: Vec<String>,
}

/// Today's counts for one queue (see `dasan_router::metrics` for the
/// definitions; the live service level counts contacts whose outcome is
/// known: answered within target ÷ (answered + abandoned − short abandons)).
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    offered: u64,
    answered: u64,
    answered_within_target: u64,
    abandoned: u64,
    short_abandoned: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.offered += other.offered;
        self.answered += other.answered;
        self.answered_within_target += other.answered_within_target;
        self.abandoned += other.abandoned;
        self.short_abandoned += other.short_abandoned;
    }

    fn figures(&self) -> serde_json::Value {
        let decided = (self.answered + self.abandoned).saturating_sub(self.short_abandoned);
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        json!({
            "offered": self.offered,
            "answered": self.answered,
            "answered_within_target": self.answered_within_target,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "service_level": ratio(self.answered_within_target, decided),
            "abandon_rate": ratio(self.abandoned, self.answered + self.abandoned),
        })
    }
}

struct QueueInfo {
    kind: QueueKind,
    name: String,
    tally: Tally,
    /// Its citizens still waiting (queued or ringing), oldest first: the
    /// wallboard reads counts and longest waits here instead of scanning
    /// every open interaction on every change.
    waiting: std::collections::BTreeSet<(Timestamp, Uuid)>,
    /// When this queue last had a contact answered, and the smoothed time
    /// between answers (its service rate), for a waiting citizen's
    /// expected wait.
    last_answer_at: Option<Timestamp>,
    answer_interval_millis: Option<f64>,
}

struct AgentInfo {
    user_id: Uuid,
    name: String,
    presence: Presence,
    since: Timestamp,
    screen: Feed<Document>,
    /// The interactions offered to or handled by this agent.
    holding: std::collections::BTreeSet<Uuid>,
    /// What its screen's document was last made from
    /// ([`FloorState::agent_fingerprint`]): an unchanged agent's document is
    /// not made again, so an event costs the agents it touches, not all.
    fingerprint: u64,
}

struct FloorState {
    config: FloorConfig,
    engine: Engine,
    taxonomy: Arc<Taxonomy>,
    zone: Tz,
    queues: Vec<QueueInfo>,
    queue_of: HashMap<QueueKind, QueueKey>,
    agents: Vec<AgentInfo>,
    agent_of: HashMap<Uuid, AgentKey>,
    interactions: HashMap<Uuid, Interaction>,
    by_contact: HashMap<ContactId, Uuid>,
    /// The open text thread of each citizen (E.164).
    text_thread_of: HashMap<String, Uuid>,
    /// Finished interactions, oldest first, kept an hour for lookups.
    finished: VecDeque<(Timestamp, Uuid)>,
    open: usize,
    next_contact: u64,
    day: NaiveDate,
    version: u64,
    decisions: Vec<Decision>,
    /// Offers made and taken back since the last publish, for the channel
    /// edges that ring a device ([`Floor::offer_notices`]).
    notices: Vec<OfferNotice>,
    /// Every waiting citizen's place in its queue, made at most every
    /// [`PLACES_EVERY_MILLIS`]: waiting screens each ask every second, and
    /// counting each one's place afresh would cost the square of the queue.
    places: Option<(i64, HashMap<Uuid, usize>)>,
}

/// How stale a waiting citizen's shown place may be.
const PLACES_EVERY_MILLIS: i64 = 500;

struct Inner {
    state: Mutex<FloorState>,
    /// Wakes the timer task when the engine's next deadline may have moved.
    timer: Notify,
    wallboard: Feed<Document>,
    /// One more than the floor version of the published wallboard (0: none
    /// yet); changed only inside the wallboard feed's lock.
    wallboard_version: std::sync::atomic::AtomicU64,
    /// Set on every change; the wallboard task renders at most every
    /// [`WALLBOARD_EVERY`] (it lists every agent: rendering it on each of a
    /// busy floor's events would cost more than the events themselves).
    wallboard_dirty: Arc<Notify>,
    /// On a floor of more than [`SYNC_DESKTOPS_UP_TO`] agents, set on every
    /// change: the desktops task brings the agents' screens up to date at
    /// most every [`DESKTOPS_EVERY`] instead of inside each event.
    desktops_dirty: Arc<Notify>,
    /// The half-hour chart, `(Korean, English)` SVG, as `chart` events.
    chart: Feed<(Document, Document)>,
    chart_dirty: Arc<Notify>,
    /// Set when the server shuts down: live streams end so that graceful
    /// shutdown does not wait for browsers to disconnect.
    closed: watch::Sender<bool>,
    /// The same, for streams that look at it on each wake-up.
    is_closed: std::sync::atomic::AtomicBool,
    /// Who hears of offers ([`Floor::offer_notices`]).
    offer_watchers: Mutex<Vec<tokio::sync::mpsc::UnboundedSender<OfferNotice>>>,
}

/// The live floor. Cheap to clone; all clones share one engine.
#[derive(Clone)]
pub struct Floor {
    inner: Arc<Inner>,
}

/// How long a finished interaction can still be looked up.
const KEEP_FINISHED_MILLIS: i64 = 60 * 60 * 1000;

fn engine_time(at: Timestamp) -> Time {
    Time(u64::try_from(at.millis()).unwrap_or(0))
}

fn timestamp(time: Time) -> Timestamp {
    Timestamp::from_millis(i64::try_from(time.0).unwrap_or(i64::MAX))
        .unwrap_or_else(|_| crate::now())
}

/// A number as people read it; none for a citizen who gave none (an
/// anonymous video caller).
fn phone_display(phone: &PhoneNumber) -> String {
    if phone.is_unknown() {
        String::new()
    } else {
        phone.display()
    }
}

fn presence_name(presence: Presence) -> &'static str {
    match presence {
        Presence::Offline => "offline",
        Presence::Available => "available",
        Presence::Reserved => "reserved",
        Presence::Busy => "busy",
        Presence::WrapUp => "wrap_up",
        Presence::Break => "break",
    }
}

impl Floor {
    /// A floor with no agents and no queues; starts its timer task on the
    /// current tokio runtime. `store` feeds the wallboard's chart.
    pub fn start(
        config: FloorConfig,
        taxonomy: Arc<Taxonomy>,
        zone: Tz,
        store: dasan_store::AnyStore,
    ) -> Result<Floor, FloorError> {
        let engine = Engine::new(EngineConfig {
            offer_timeout_millis: Some(config.offer_timeout_millis),
            after_missed_offer: AfterMissedOffer::Break,
            ..EngineConfig::default()
        })?;
        let now = crate::now();
        let state = FloorState {
            config,
            engine,
            taxonomy,
            zone,
            queues: Vec::new(),
            queue_of: HashMap::new(),
            agents: Vec::new(),
            agent_of: HashMap::new(),
            interactions: HashMap::new(),
            by_contact: HashMap::new(),
            text_thread_of: HashMap::new(),
            finished: VecDeque::new(),
            open: 0,
            next_contact: 1,
            day: now.local_date(zone),
            version: 0,
            decisions: Vec::new(),
            notices: Vec::new(),
            places: None,
        };
        let wallboard = Feed::new(Document::new("wallboard", "{}"));
        let chart = Feed::new((Document::new("chart", ""), Document::new("chart", "")));
        let chart_dirty = Arc::new(Notify::new());
        let wallboard_dirty = Arc::new(Notify::new());
        let desktops_dirty = Arc::new(Notify::new());
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            timer: Notify::new(),
            wallboard,
            wallboard_version: std::sync::atomic::AtomicU64::new(0),
            wallboard_dirty: wallboard_dirty.clone(),
            desktops_dirty: desktops_dirty.clone(),
            chart,
            chart_dirty: chart_dirty.clone(),
            closed: watch::channel(false).0,
            is_closed: std::sync::atomic::AtomicBool::new(false),
            offer_watchers: Mutex::new(Vec::new()),
        });
        let floor = Floor { inner };
        floor.publish(&mut floor.lock());
        floor.render_wallboard();
        tokio::spawn(wallboard_task(
            Arc::downgrade(&floor.inner),
            wallboard_dirty,
        ));
        tokio::spawn(desktops_task(Arc::downgrade(&floor.inner), desktops_dirty));
        tokio::spawn(timer_task(Arc::downgrade(&floor.inner)));
        tokio::spawn(chart_task(Arc::downgrade(&floor.inner), chart_dirty, store));
        Ok(floor)
    }

    fn lock(&self) -> MutexGuard<'_, FloorState> {
        // A panic while holding the lock would be a bug; the state is still
        // consistent between events, so keep serving rather than poisoning
        // every later request.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies `event` at the current time, then republishes every screen.
    fn apply(&self, state: &mut FloorState, event: Event) -> Result<(), FloorError> {
        let result = self.apply_quiet(state, event);
        self.publish(state);
        result
    }

    /// Applies `event` without republishing: for an action that changes
    /// more of the floor's own state afterwards and publishes once, so no
    /// screen sees a half-done change.
    fn apply_quiet(&self, state: &mut FloorState, event: Event) -> Result<(), FloorError> {
        let now = engine_time(crate::now()).max(state.engine.now());
        let mut decisions = std::mem::take(&mut state.decisions);
        decisions.clear();
        let result = state.engine.handle(now, event, &mut decisions);
        // Timers may have fired even when the event itself was refused.
        for decision in &decisions {
            state.take_decision(decision);
        }
        state.decisions = decisions;
        self.inner.timer.notify_one();
        result.map_err(FloorError::from)
    }

    /// Queues a contact. Answers its view (`queued`, or already `offered`
    /// if an agent was free).
    pub fn add_interaction(&self, new: NewInteraction) -> Result<InteractionView, FloorError> {
        let display = std::sync::OnceLock::new();
        let _ = display.set(phone_display(&new.citizen_phone));
        let mut guard = self.lock();
        let id = self.add_locked(&mut guard, new, display)?;
        Ok(guard.view(&guard.interactions[&id]))
    }

    /// Queues a contact, like [`Floor::add_interaction`], for a caller that
    /// needs only its id (no view is made).
    pub fn queue_interaction(&self, new: NewInteraction) -> Result<Uuid, FloorError> {
        let mut guard = self.lock();
        self.add_locked(&mut guard, new, std::sync::OnceLock::new())
    }

    fn add_locked(
        &self,
        guard: &mut MutexGuard<'_, FloorState>,
        new: NewInteraction,
        citizen_phone_display: std::sync::OnceLock<String>,
    ) -> Result<Uuid, FloorError> {
        let state = &mut **guard;
        if state.open >= state.config.max_open_interactions {
            return Err(FloorError::Full("too many open interactions"));
        }
        let queue = self.queue_for(state, &new)?;
        let id = new.id.unwrap_or_else(Uuid::now_v7);
        if state.interactions.contains_key(&id) {
            return Err(FloorError::WrongState("already on the floor"));
        }
        let contact = ContactId(state.next_contact);
        state.next_contact += 1;
        let now = crate::now();
        let text = new.channel.is_text();
        if text {
            state
                .text_thread_of
                .insert(new.citizen_phone.e164().to_owned(), id);
        }
        state.interactions.insert(
            id,
            Interaction {
                id,
                contact,
                channel: new.channel,
                citizen_phone: new.citizen_phone,
                citizen_phone_display,
                category: new.category,
                required_skills: new.required_skills,
                priority: new.priority,
                queue,
                arrived_at: now,
                state: InteractionState::Queued,
                agent: None,
                offer_deadline: None,
                answered_at: None,
                ended_at: None,
                messages: u32::from(text),
                last_message_at: text.then_some(now),
                thread_version: 0,
            },
        );
        state.by_contact.insert(contact, id);
        state.open += 1;
        state.roll_day(now);
        state.queues[queue.index()].tally.offered += 1;
        state.queues[queue.index()].waiting.insert((now, id));
        let event = Event::ContactArrived {
            contact,
            queue,
            priority: new.priority,
        };
        if let Err(error) = self.apply(state, event) {
            if let Some(removed) = state.interactions.remove(&id)
                && state.text_thread_of.get(removed.citizen_phone.e164()) == Some(&id)
            {
                state.text_thread_of.remove(removed.citizen_phone.e164());
            }
            state.by_contact.remove(&contact);
            state.open -= 1;
            state.queues[queue.index()].tally.offered -= 1;
            for queue in &mut state.queues {
                queue.waiting.remove(&(now, id));
            }
            return Err(error);
        }
        Ok(id)
    }

    fn queue_for(
        &self,
        state: &mut FloorState,
        new: &NewInteraction,
    ) -> Result<QueueKey, FloorError> {
        let mut skills: Vec<String> = new.required_skills.iter().map(Skill::as_string).collect();
        skills.sort();
        skills.dedup();
        let kind = QueueKind {
            channel: new.channel,
            group: new
                .category
                .as_ref()
                .map_or_else(|| "general".to_owned(), |c| c.top_level().to_owned()),
            skills,
        };
        if let Some(&key) = state.queue_of.get(&kind) {
            return Ok(key);
        }
        if state.queues.len() >= state.config.max_queues {
            return Err(FloorError::Full("too many distinct queues"));
        }
        let mut required_skills = Vec::new();
        for skill in &kind.skills {
            required_skills.push(SkillRequirement {
                skill: state.engine.skill(skill)?,
                min_level: 1,
            });
        }
        let mut name = format!("{}/{}", kind.channel.as_str(), kind.group);
        for skill in &kind.skills {
            name.push('+');
            name.push_str(skill);
        }
        let key = state.engine.add_queue(QueueConfig {
            name: name.clone(),
            channel: kind.channel,
            required_skills,
            overflow: None,
            // After-work blocks new contacts after a call; a text agent
            // writes the record before closing the thread and keeps the
            // others going, so text queues have none.
            wrap_up_millis: if kind.channel.is_text() {
                0
            } else {
                state.config.wrap_up_millis
            },
        })?;
        state.queues.push(QueueInfo {
            kind: kind.clone(),
            name,
            tally: Tally::default(),
            waiting: std::collections::BTreeSet::new(),
            last_answer_at: None,
            answer_interval_millis: None,
        });
        state.queue_of.insert(kind, key);
        Ok(key)
    }

    /// Puts a user on the floor as an agent (idempotent) and answers its
    /// screen channel. The profile is fixed at the first join.
    pub fn join(
        &self,
        user_id: Uuid,
        name: &str,
        channels: &[Channel],
        skills: &[Skill],
    ) -> Result<watch::Receiver<Document>, FloorError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(&agent) = state.agent_of.get(&user_id) {
            let receiver = state.agents[agent.index()].screen.subscribe();
            state.render_desktop(agent, crate::now());
            return Ok(receiver);
        }
        let mut held = Vec::new();
        for skill in skills {
            held.push((state.engine.core_skill(skill)?, 5));
        }
        let agent = state.engine.add_agent(AgentProfile {
            name: name.to_owned(),
            channels: channels.to_vec(),
            skills: held,
            max_text_threads: None,
        })?;
        let screen = Feed::new(Document::new("desktop", "{}"));
        let receiver = screen.subscribe();
        state.agents.push(AgentInfo {
            user_id,
            name: name.to_owned(),
            presence: Presence::Offline,
            since: crate::now(),
            screen,
            holding: std::collections::BTreeSet::new(),
            fingerprint: 0,
        });
        state.agent_of.insert(user_id, agent);
        self.publish(state);
        Ok(receiver)
    }

    /// Brings one agent's screen up to date now (an API answer carrying the
    /// document must not wait for the desktops task of a large floor).
    pub fn refresh_screen(&self, user_id: Uuid) {
        let mut state = self.lock();
        if let Some(agent) = state.agent_of.get(&user_id).copied() {
            state.render_desktop(agent, crate::now());
        }
    }

    /// The user's screen channel, if it has joined.
    pub fn screen(&self, user_id: Uuid) -> Option<watch::Receiver<Document>> {
        let mut state = self.lock();
        let agent = *state.agent_of.get(&user_id)?;
        let receiver = state.agents[agent.index()].screen.subscribe();
        state.render_desktop(agent, crate::now());
        Some(receiver)
    }

    /// The user's screen for a live stream woken through `listener` (the
    /// current document is its first event), if it has joined.
    pub fn follow_screen(
        &self,
        user_id: Uuid,
        listener: &Arc<Listener>,
    ) -> Option<watch::Receiver<Document>> {
        let mut state = self.lock();
        let agent = *state.agent_of.get(&user_id)?;
        let receiver = state.agents[agent.index()].screen.follow(listener);
        state.render_desktop(agent, crate::now());
        Some(receiver)
    }

    /// `available`, `break` or `offline`. Going available signs in, ends
    /// wrap-up early and makes the agent ready.
    pub fn set_presence(&self, user_id: Uuid, wanted: &str) -> Result<(), FloorError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let agent = *state.agent_of.get(&user_id).ok_or(FloorError::NotOnFloor)?;
        let presence = state.engine.presence(agent);
        match wanted {
            "available" => {
                if presence == Presence::Offline {
                    self.apply(state, Event::AgentSignedIn { agent })?;
                }
                if state
                    .engine
                    .agent_view(agent)
                    .is_some_and(|view| view.signing_out)
                {
                    self.apply(state, Event::AgentReady { agent })?;
                }
                if state.engine.presence(agent) == Presence::WrapUp {
                    self.apply(state, Event::WrapUpFinished { agent })?;
                }
                let signing_out = state
                    .engine
                    .agent_view(agent)
                    .is_some_and(|view| view.signing_out);
                // Ready also cancels a sign-out asked for while busy.
                if signing_out
                    || matches!(
                        state.engine.presence(agent),
                        Presence::Break | Presence::WrapUp
                    )
                {
                    self.apply(state, Event::AgentReady { agent })?;
                }
                Ok(())
            }
            "break" => match presence {
                Presence::Offline => Err(FloorError::WrongPresence("signed out")),
                _ => self.apply(state, Event::AgentOnBreak { agent }),
            },
            "offline" => match presence {
                Presence::Offline => Ok(()),
                _ => self.apply(state, Event::AgentSignedOut { agent }),
            },
            _ => Err(FloorError::WrongPresence("asking for an unknown presence")),
        }
    }

    /// The agent (`user_id`) accepts or declines the offer of `id`.
    pub fn answer_offer(&self, user_id: Uuid, id: Uuid, accept: bool) -> Result<(), FloorError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let interaction = state
            .interactions
            .get(&id)
            .ok_or(FloorError::UnknownInteraction)?;
        let agent = state.agent_of.get(&user_id).copied();
        if agent.is_none() || interaction.agent != agent {
            return Err(FloorError::NotYours);
        }
        if interaction.state != InteractionState::Offered {
            return Err(FloorError::WrongState(interaction.state.as_str()));
        }
        let (contact, agent) = (interaction.contact, agent.ok_or(FloorError::NotYours)?);
        if accept {
            self.apply_quiet(state, Event::OfferAccepted { contact, agent })?;
            let now = crate::now();
            state.roll_day(now);
            if let Some(interaction) = state.interactions.get_mut(&id) {
                interaction.state = InteractionState::Connected;
                interaction.offer_deadline = None;
                interaction.answered_at = Some(now);
                let key = (interaction.arrived_at, id);
                let queue = &mut state.queues[interaction.queue.index()];
                queue.waiting.remove(&key);
                if let Some(last) = queue.last_answer_at {
                    let interval = (now.millis() - last.millis()).clamp(0, 3_600_000) as f64;
                    queue.answer_interval_millis = Some(match queue.answer_interval_millis {
                        Some(mean) => 0.7 * mean + 0.3 * interval,
                        None => interval,
                    });
                }
                queue.last_answer_at = Some(now);
                let waited = now.millis() - interaction.arrived_at.millis();
                let tally = &mut state.queues[interaction.queue.index()].tally;
                tally.answered += 1;
                if waited <= state.config.answer_target_millis as i64 {
                    tally.answered_within_target += 1;
                }
            }
            self.publish(state);
            Ok(())
        } else {
            let result = self.apply_quiet(state, Event::OfferDeclined { contact, agent });
            // The engine puts the contact back in its place without a
            // withdrawal decision; unless someone else was offered it at
            // once, it is queued again, and it is no longer this agent's.
            state.agents[agent.index()].holding.remove(&id);
            state.notices.push(OfferNotice::Withdrawn {
                interaction: id,
                agent: user_id,
            });
            if let Some(interaction) = state.interactions.get_mut(&id)
                && interaction.agent == Some(agent)
                && interaction.state == InteractionState::Offered
            {
                interaction.state = InteractionState::Queued;
                interaction.agent = None;
                interaction.offer_deadline = None;
            }
            self.publish(state);
            result
        }
    }

    /// The citizen left before being connected (hung up while queued or
    /// ringing).
    pub fn abandon(&self, id: Uuid) -> Result<(), FloorError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let interaction = state
            .interactions
            .get(&id)
            .ok_or(FloorError::UnknownInteraction)?;
        if !matches!(
            interaction.state,
            InteractionState::Queued | InteractionState::Offered
        ) {
            return Err(FloorError::WrongState(interaction.state.as_str()));
        }
        let contact = interaction.contact;
        self.apply_quiet(state, Event::ContactAbandoned { contact })?;
        let now = crate::now();
        state.roll_day(now);
        if let Some(interaction) = state.interactions.get_mut(&id) {
            let waited = now.millis() - interaction.arrived_at.millis();
            let tally = &mut state.queues[interaction.queue.index()].tally;
            tally.abandoned += 1;
            if waited < state.config.short_abandon_millis as i64 {
                tally.short_abandoned += 1;
            }
        }
        state.finish(id, InteractionState::Abandoned, now);
        self.publish(state);
        Ok(())
    }

    /// Checks that `user_id` handles `id` (connected) and answers what the
    /// consultation needs. The caller stores the consultation, then calls
    /// [`Floor::complete`].
    pub fn handled_by(&self, user_id: Uuid, id: Uuid) -> Result<Handled, FloorError> {
        let state = self.lock();
        let interaction = state
            .interactions
            .get(&id)
            .ok_or(FloorError::UnknownInteraction)?;
        let agent = state.agent_of.get(&user_id).copied();
        if agent.is_none() || interaction.agent != agent {
            return Err(FloorError::NotYours);
        }
        match (interaction.state, interaction.answered_at) {
            (InteractionState::Connected, Some(answered_at)) => Ok(Handled {
                id,
                channel: interaction.channel,
                citizen_phone: interaction.citizen_phone.clone(),
                answered_at,
            }),
            (other, _) => Err(FloorError::WrongState(other.as_str())),
        }
    }

    /// The consultation of `id` is stored: the contact ends and the agent
    /// goes to wrap-up. Completing twice is harmless.
    pub fn complete(&self, user_id: Uuid, id: Uuid) -> Result<(), FloorError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let interaction = state
            .interactions
            .get(&id)
            .ok_or(FloorError::UnknownInteraction)?;
        if state.agent_of.get(&user_id).copied() != interaction.agent {
            return Err(FloorError::NotYours);
        }
        match interaction.state {
            InteractionState::Completed => Ok(()),
            InteractionState::Connected => {
                let contact = interaction.contact;
                self.apply_quiet(state, Event::ContactCompleted { contact })?;
                state.finish(id, InteractionState::Completed, crate::now());
                self.publish(state);
                Ok(())
            }
            other => Err(FloorError::WrongState(other.as_str())),
        }
    }

    /// The citizen's open text thread, if its last message is recent
    /// enough to continue it.
    pub fn open_text_thread(
        &self,
        phone: &PhoneNumber,
        now: Timestamp,
        window_millis: i64,
    ) -> Option<Uuid> {
        let state = self.lock();
        let id = *state.text_thread_of.get(phone.e164())?;
        let interaction = state.interactions.get(&id)?;
        let open = !matches!(
            interaction.state,
            InteractionState::Completed | InteractionState::Abandoned
        );
        let last = interaction
            .last_message_at
            .unwrap_or(interaction.arrived_at);
        (open && now.millis() - last.millis() <= window_millis).then_some(id)
    }

    /// A message joined a text thread (`new_message`), or one of its
    /// messages changed (a delivery report): its screens update.
    pub fn thread_changed(&self, id: Uuid, at: Timestamp, new_message: bool) {
        let mut guard = self.lock();
        let state = &mut *guard;
        if let Some(interaction) = state.interactions.get_mut(&id) {
            if new_message {
                interaction.messages = interaction.messages.saturating_add(1);
                interaction.last_message_at = Some(at);
            }
            interaction.thread_version = interaction.thread_version.wrapping_add(1);
            self.publish(state);
        }
    }

    /// Interactions queued, offered or connected now.
    /// Inbound contacts waiting for an agent (queued or ringing): while any
    /// wait, outbound care calls are held back.
    pub fn waiting_inbound(&self) -> usize {
        self.lock()
            .interactions
            .values()
            .filter(|i| {
                i.channel != Channel::CareCall
                    && matches!(
                        i.state,
                        InteractionState::Queued | InteractionState::Offered
                    )
            })
            .count()
    }

    pub fn open_interactions(&self) -> usize {
        self.lock().open
    }

    pub fn interaction(&self, id: Uuid) -> Option<InteractionView> {
        let state = self.lock();
        state.interactions.get(&id).map(|i| state.view(i))
    }

    /// Where a waiting citizen stands: 1 for the next to be offered, among
    /// those of its queue still waiting (queued or ringing), and the
    /// expected wait — its place times the queue's smoothed time between
    /// answers (`None` until the queue has answered twice). `None` when the
    /// interaction is not waiting.
    pub fn queue_place(&self, id: Uuid) -> Option<(usize, Option<u64>)> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let interaction = state.interactions.get(&id)?;
        if !matches!(
            interaction.state,
            InteractionState::Queued | InteractionState::Offered
        ) {
            return None;
        }
        let now = crate::now().millis();
        if state
            .places
            .as_ref()
            .is_none_or(|(at, _)| now - at >= PLACES_EVERY_MILLIS)
        {
            let mut places = HashMap::with_capacity(state.open);
            for queue in &state.queues {
                for (index, (_, waiting)) in queue.waiting.iter().enumerate() {
                    places.insert(*waiting, index + 1);
                }
            }
            state.places = Some((now, places));
        }
        let queue = &state.queues[interaction.queue.index()];
        let place = match state.places.as_ref().and_then(|(_, p)| p.get(&id)) {
            Some(place) => *place,
            // Arrived since the places were made.
            None => queue.waiting.range(..(interaction.arrived_at, id)).count() + 1,
        };
        let expected = queue
            .answer_interval_millis
            .map(|mean| (mean * place as f64) as u64);
        Some((place, expected))
    }

    /// The wallboard's channel (JSON snapshots, at most one per
    /// [`WALLBOARD_EVERY`]).
    pub fn wallboard(&self) -> watch::Receiver<Document> {
        let receiver = self.inner.wallboard.subscribe();
        self.catch_up_wallboard();
        receiver
    }

    /// The wallboard for a live stream woken through `listener` (the
    /// current document is its first event).
    pub fn follow_wallboard(&self, listener: &Arc<Listener>) -> watch::Receiver<Document> {
        let receiver = self.inner.wallboard.follow(listener);
        self.catch_up_wallboard();
        receiver
    }

    /// Renders the wallboard if the published one shows an older floor:
    /// with nobody following, the wallboard task leaves it behind.
    fn catch_up_wallboard(&self) {
        let version = self.lock().version;
        let published = self
            .inner
            .wallboard_version
            .load(std::sync::atomic::Ordering::SeqCst);
        if version + 1 > published {
            self.render_wallboard();
        }
    }

    /// The chart for a live stream woken through `listener`.
    pub fn follow_chart(&self, listener: &Arc<Listener>) -> watch::Receiver<(Document, Document)> {
        self.inner.chart.follow(listener)
    }

    /// The wallboard as of now (rendered afresh; published if the floor
    /// changed since the last one).
    pub fn wallboard_now(&self) -> Document {
        self.render_wallboard()
    }

    /// Renders the wallboard and publishes it when it shows a newer floor
    /// than the published one. Only the floor's events change what it
    /// shows: waits grow on the screens themselves (from `server_time`),
    /// so a render without news (a `GET`, the task racing it) reaches no
    /// stream.
    fn render_wallboard(&self) -> Document {
        let (version, document) = {
            let state = self.lock();
            (
                state.version,
                Document::new("wallboard", &state.wallboard_document(crate::now())),
            )
        };
        self.inner.wallboard.send_if_modified(|current| {
            let newer = self
                .inner
                .wallboard_version
                .fetch_max(version + 1, std::sync::atomic::Ordering::SeqCst)
                < version + 1;
            if newer {
                *current = document.clone();
            }
            newer
        });
        document
    }

    /// The half-hour chart's channel (`(Korean, English)` SVG).
    pub fn chart(&self) -> watch::Receiver<(Document, Document)> {
        self.inner.chart.subscribe()
    }

    /// Ends every live stream (server shutdown).
    pub fn close(&self) {
        self.inner
            .is_closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.closed.send_replace(true);
        self.inner.wallboard.ring();
        self.inner.chart.ring();
        for agent in &self.lock().agents {
            agent.screen.ring();
        }
    }

    /// Whether [`Floor::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner
            .is_closed
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Resolves once [`Floor::close`] was called.
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.inner.closed.subscribe();
        async move {
            let _ = receiver.wait_for(|closed| *closed).await;
        }
    }

    /// A consultation was stored: the chart will be redrawn shortly.
    pub fn consultation_recorded(&self) {
        self.inner.chart_dirty.notify_one();
    }

    /// Sends `Tick` now (fires due time-outs). The timer task does this on
    /// its own; tests call it after waiting.
    pub fn tick(&self) {
        let mut guard = self.lock();
        let _ = self.apply(&mut guard, Event::Tick);
    }

    /// Rebuilds every agent's screen and the wallboard; each watch channel
    /// notifies only if its document changed.
    fn publish(&self, state: &mut FloorState) {
        let now = crate::now();
        state.roll_day(now);
        state.prune_finished(now);
        state.version += 1;
        // Every agent is looked at (an event may touch any of them): on a
        // large floor that scan is coalesced rather than made per event.
        if state.agents.len() <= SYNC_DESKTOPS_UP_TO {
            state.render_desktops(now);
        } else {
            self.inner.desktops_dirty.notify_one();
        }
        self.inner.wallboard_dirty.notify_one();
        if !state.notices.is_empty() {
            let notices = std::mem::take(&mut state.notices);
            let mut watchers = self
                .inner
                .offer_watchers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            watchers.retain(|watcher| notices.iter().all(|n| watcher.send(*n).is_ok()));
        }
    }

    /// Every later offer and its end, in order, for a channel edge that
    /// rings the agent's device itself.
    pub fn offer_notices(&self) -> tokio::sync::mpsc::UnboundedReceiver<OfferNotice> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        self.inner
            .offer_watchers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(sender);
        receiver
    }
}

impl FloorState {
    /// Brings every agent's presence and screen up to date.
    fn render_desktops(&mut self, now: Timestamp) {
        for index in 0..self.agents.len() {
            self.render_desktop(AgentKey(index as u32), now);
        }
    }

    /// Brings one agent's presence and screen up to date (its document is
    /// made again only when what it shows changed).
    fn render_desktop(&mut self, agent: AgentKey, now: Timestamp) {
        let index = agent.index();
        let presence = self.engine.presence(agent);
        let info = &mut self.agents[index];
        if info.presence != presence {
            info.presence = presence;
            info.since = now;
        }
        // A screen nobody follows (no desktop open) is not made: it is
        // made when one subscribes. `fingerprint` always describes the
        // published document.
        if !self.agents[index].screen.is_followed() {
            return;
        }
        let fingerprint = self.agent_fingerprint(agent);
        if self.agents[index].fingerprint == fingerprint {
            return;
        }
        self.agents[index].fingerprint = fingerprint;
        let document = self.agent_document(agent, now);
        self.agents[index].screen.send_if_modified(|current| {
            if *current.json == *document {
                false
            } else {
                *current = Document::new("desktop", &document);
                true
            }
        });
    }

    fn roll_day(&mut self, now: Timestamp) {
        let today = now.local_date(self.zone);
        if today != self.day {
            self.day = today;
            for queue in &mut self.queues {
                queue.tally = Tally::default();
            }
        }
    }

    fn finish(&mut self, id: Uuid, to: InteractionState, now: Timestamp) {
        if let Some(interaction) = self.interactions.get_mut(&id)
            && !matches!(
                interaction.state,
                InteractionState::Completed | InteractionState::Abandoned
            )
        {
            self.queues[interaction.queue.index()]
                .waiting
                .remove(&(interaction.arrived_at, id));
            if let Some(agent) = interaction.agent {
                self.agents[agent.index()].holding.remove(&id);
            }
            interaction.state = to;
            interaction.ended_at = Some(now);
            interaction.offer_deadline = None;
            self.by_contact.remove(&interaction.contact);
            if self.text_thread_of.get(interaction.citizen_phone.e164()) == Some(&id) {
                self.text_thread_of.remove(interaction.citizen_phone.e164());
            }
            self.open -= 1;
            self.finished.push_back((now, id));
        }
    }

    fn prune_finished(&mut self, now: Timestamp) {
        while let Some(&(at, id)) = self.finished.front() {
            if now.millis() - at.millis() < KEEP_FINISHED_MILLIS {
                break;
            }
            self.finished.pop_front();
            self.interactions.remove(&id);
        }
    }

    fn take_decision(&mut self, decision: &Decision) {
        match *decision {
            Decision::Offer {
                contact,
                agent,
                queue,
                deadline,
            } => {
                if let Some(interaction) = self.interaction_mut(contact) {
                    interaction.state = InteractionState::Offered;
                    interaction.agent = Some(agent);
                    let (from, key) = (interaction.queue, (interaction.arrived_at, interaction.id));
                    let channel = interaction.channel;
                    interaction.queue = queue;
                    interaction.offer_deadline = deadline.map(timestamp);
                    self.move_waiting(from, queue, key);
                    self.agents[agent.index()].holding.insert(key.1);
                    self.notices.push(OfferNotice::Offered {
                        interaction: key.1,
                        channel,
                        agent: self.agents[agent.index()].user_id,
                    });
                }
            }
            Decision::OfferWithdrawn { contact, agent, .. } => {
                if let Some(interaction) = self.interaction_mut(contact) {
                    let id = interaction.id;
                    if interaction.state == InteractionState::Offered {
                        interaction.state = InteractionState::Queued;
                        interaction.agent = None;
                        interaction.offer_deadline = None;
                    }
                    self.agents[agent.index()].holding.remove(&id);
                    self.notices.push(OfferNotice::Withdrawn {
                        interaction: id,
                        agent: self.agents[agent.index()].user_id,
                    });
                }
            }
            Decision::Overflowed {
                contact, to_queue, ..
            } => {
                if let Some(interaction) = self.interaction_mut(contact) {
                    let (from, key) = (interaction.queue, (interaction.arrived_at, interaction.id));
                    interaction.queue = to_queue;
                    self.move_waiting(from, to_queue, key);
                }
            }
            Decision::AgentMadeNotReady { agent } => {
                // Never logs who the citizen was; the agent's id is staff data.
                if let Some(info) = self.agents.get(agent.index()) {
                    tracing::info!(agent = %info.user_id, "missed an offer; put on break");
                }
            }
            Decision::AgentSignedOut { .. } | Decision::WrapUpEnded { .. } => {}
        }
    }

    fn move_waiting(&mut self, from: QueueKey, to: QueueKey, key: (Timestamp, Uuid)) {
        if from != to && self.queues[from.index()].waiting.remove(&key) {
            self.queues[to.index()].waiting.insert(key);
        }
    }

    fn interaction_mut(&mut self, contact: ContactId) -> Option<&mut Interaction> {
        let id = self.by_contact.get(&contact)?;
        self.interactions.get_mut(id)
    }

    fn view(&self, i: &Interaction) -> InteractionView {
        InteractionView {
            id: i.id,
            channel: i.channel,
            // A citizen who gave no number (an anonymous video caller)
            // shows none.
            citizen_phone: if i.citizen_phone.is_unknown() {
                String::new()
            } else {
                i.citizen_phone.e164().to_owned()
            },
            citizen_phone_display: i
                .citizen_phone_display
                .get_or_init(|| phone_display(&i.citizen_phone))
                .clone(),
            category: i.category.as_ref().map(ToString::to_string),
            required_skills: i.required_skills.iter().map(Skill::as_string).collect(),
            priority: i.priority,
            queue: self.queues[i.queue.index()].name.clone(),
            state: i.state,
            agent_id: i.agent.map(|a| self.agents[a.index()].user_id),
            arrived_at: i.arrived_at.to_rfc3339(),
            offer_deadline: i.offer_deadline.map(Timestamp::to_rfc3339),
            answered_at: i.answered_at.map(Timestamp::to_rfc3339),
            ended_at: i.ended_at.map(Timestamp::to_rfc3339),
            messages: i.messages,
            thread_version: i.thread_version,
        }
    }

    /// What one agent's desktop shows.
    /// A hash of everything an agent's document shows that can change: its
    /// presence and since when, and of each interaction it holds the state,
    /// queue, offer deadline, answer time and thread counters (the other
    /// fields of an interaction never change).
    fn agent_fingerprint(&self, agent: AgentKey) -> u64 {
        use std::hash::{Hash, Hasher};
        let info = &self.agents[agent.index()];
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (presence_name(info.presence), info.since.millis()).hash(&mut hasher);
        for id in &info.holding {
            if let Some(i) = self.interactions.get(id) {
                (
                    id,
                    i.state.as_str(),
                    i.agent == Some(agent),
                    i.queue.index(),
                    i.offer_deadline.map(Timestamp::millis),
                    i.answered_at.map(Timestamp::millis),
                    i.messages,
                    i.thread_version,
                )
                    .hash(&mut hasher);
            }
        }
        hasher.finish() | 1
    }

    fn agent_document(&self, agent: AgentKey, now: Timestamp) -> String {
        let info = &self.agents[agent.index()];
        let mut offer = None;
        let mut contacts = Vec::new();
        // Open interactions of this agent (a handful at most).
        for id in &info.holding {
            let Some(interaction) = self.interactions.get(id) else {
                continue;
            };
            if interaction.agent != Some(agent) {
                continue;
            }
            match interaction.state {
                InteractionState::Offered => {
                    let mut view = serde_json::to_value(self.view(interaction))
                        .unwrap_or(serde_json::Value::Null);
                    if let (Some(deadline), Some(object)) =
                        (interaction.offer_deadline, view.as_object_mut())
                    {
                        object.insert(
                            "remaining_ms".into(),
                            json!((deadline.millis() - now.millis()).max(0)),
                        );
                    }
                    offer = Some(view);
                }
                InteractionState::Connected => contacts.push(self.view(interaction)),
                _ => {}
            }
        }
        contacts.sort_by(|a, b| a.answered_at.cmp(&b.answered_at));
        json!({
            "agent": { "id": info.user_id, "name": info.name },
            "presence": presence_name(info.presence),
            "presence_since": info.since.to_rfc3339(),
            "offer": offer,
            "contacts": contacts,
            "wrap_up_seconds": self.config.wrap_up_millis / 1000,
        })
        .to_string()
    }

    /// What the supervisors' wallboard shows. No citizen data.
    fn wallboard_document(&self, now: Timestamp) -> String {
        let mut total = Tally::default();
        let mut queues = Vec::new();
        for queue in &self.queues {
            total.add(&queue.tally);
            let (count, oldest) = (
                queue.waiting.len(),
                queue.waiting.first().map(|(arrived, _)| *arrived),
            );
            let category = (queue.kind.group != "general")
                .then(|| CategoryCode::parse(&queue.kind.group).ok())
                .flatten()
                .and_then(|code| self.taxonomy.get(&code));
            let mut figures = queue.tally.figures();
            if let Some(object) = figures.as_object_mut() {
                object.insert("name".into(), json!(queue.name));
                object.insert("channel".into(), json!(queue.kind.channel));
                object.insert("category".into(), json!(queue.kind.group));
                object.insert(
                    "category_name".into(),
                    json!({
                        "ko": category.map_or("일반", |c| c.name_ko.as_str()),
                        "en": category.map_or("General", |c| c.name_en.as_str()),
                    }),
                );
                object.insert("skills".into(), json!(queue.kind.skills));
                object.insert("waiting".into(), json!(count));
                object.insert(
                    "oldest_arrived_at".into(),
                    json!(oldest.map(Timestamp::to_rfc3339)),
                );
                object.insert(
                    "longest_wait_seconds".into(),
                    json!(oldest.map_or(0, |t| (now.millis() - t.millis()).max(0) / 1000)),
                );
            }
            queues.push(figures);
        }
        let mut by_state: BTreeMap<&str, usize> = [
            "available",
            "reserved",
            "busy",
            "wrap_up",
            "break",
            "offline",
        ]
        .into_iter()
        .map(|s| (s, 0))
        .collect();
        // Written straight from typed rows, not through a `Value` tree: it
        // lists every agent, and a floor of thousands renders it ten times
        // a second. Fields in the order `json!` gave them (sorted).
        #[derive(serde::Serialize)]
        struct AgentRow<'a> {
            name: &'a str,
            presence: &'static str,
            since: String,
        }
        #[derive(serde::Serialize)]
        struct Wallboard<'a> {
            agents: Vec<AgentRow<'a>>,
            agents_by_state: BTreeMap<&'static str, usize>,
            day: String,
            queues: Vec<serde_json::Value>,
            server_time: String,
            total: serde_json::Value,
            version: u64,
        }
        let mut agents = Vec::with_capacity(self.agents.len());
        for info in &self.agents {
            *by_state.entry(presence_name(info.presence)).or_default() += 1;
            agents.push(AgentRow {
                name: &info.name,
                presence: presence_name(info.presence),
                since: info.since.to_rfc3339(),
            });
        }
        serde_json::to_string(&Wallboard {
            agents,
            agents_by_state: by_state,
            day: self.day.to_string(),
            queues,
            server_time: now.to_rfc3339(),
            total: total.figures(),
            version: self.version,
        })
        .unwrap_or_else(|_| "{}".to_owned())
    }
}

/// Sends `Tick` at the engine's next deadline (offer time-outs, wrap-up
/// ends). Ends when the floor is dropped.
async fn timer_task(floor: Weak<Inner>) {
    loop {
        let Some(inner) = floor.upgrade() else {
            return;
        };
        let deadline = {
            let state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            state.engine.next_deadline()
        };
        let wait = deadline
            .map(|due| Duration::from_millis(due.0.saturating_sub(engine_time(crate::now()).0)));
        let woken = async {
            match wait {
                Some(wait) => {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => true,
                        _ = inner.timer.notified() => false,
                    }
                }
                // Nothing pending: wait for news, but wake now and then so a
                // dropped floor ends this task.
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(30)) => false,
                        _ = inner.timer.notified() => false,
                    }
                }
            }
        };
        let due = woken.await;
        // After midnight the wallboard's "today" starts again even if the
        // floor is quiet.
        let new_day = {
            let state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            crate::now().local_date(state.zone) != state.day
        };
        if due || new_day {
            let floor = Floor {
                inner: inner.clone(),
            };
            floor.tick();
        }
    }
}

/// The longest a wallboard change waits to be shown (changes within it are
/// shown together).
pub const WALLBOARD_EVERY: Duration = Duration::from_millis(100);

/// Up to this many agents, every event brings the desktops up to date at
/// once; above, the desktops task does, at most every [`DESKTOPS_EVERY`].
pub const SYNC_DESKTOPS_UP_TO: usize = 100;
pub const DESKTOPS_EVERY: Duration = Duration::from_millis(20);

/// Brings the desktops of a large floor up to date after changes, at most
/// every [`DESKTOPS_EVERY`]: one scan of all agents covers every event in
/// between.
async fn desktops_task(floor: Weak<Inner>, dirty: Arc<Notify>) {
    loop {
        dirty.notified().await;
        let Some(inner) = floor.upgrade() else {
            return;
        };
        {
            let mut state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            state.render_desktops(crate::now());
        }
        drop(inner);
        tokio::time::sleep(DESKTOPS_EVERY).await;
    }
}

/// Renders the wallboard after changes, at most every [`WALLBOARD_EVERY`].
async fn wallboard_task(floor: Weak<Inner>, dirty: Arc<Notify>) {
    loop {
        dirty.notified().await;
        let Some(inner) = floor.upgrade() else {
            return;
        };
        // A wallboard nobody follows is not made (it lists every agent); the
        // first to follow renders it.
        if inner.wallboard.is_followed() {
            Floor { inner }.render_wallboard();
        }
        tokio::time::sleep(WALLBOARD_EVERY).await;
    }
}

/// Redraws the wallboard's half-hour chart when consultations were stored
/// (at most every 200 ms) and at least once a minute (the day rolls over).
async fn chart_task(floor: Weak<Inner>, dirty: Arc<Notify>, store: dasan_store::AnyStore) {
    use dasan_store::Store;
    loop {
        let Some((zone, today)) = floor.upgrade().map(|inner| {
            let state = inner.state.lock().unwrap_or_else(|p| p.into_inner());
            (state.zone, crate::now().local_date(state.zone))
        }) else {
            return;
        };
        let start = Timestamp::from_local(zone, today, 0);
        let end = today
            .succ_opt()
            .and_then(|next| Timestamp::from_local(zone, next, 0).ok());
        let counts = match (start, end) {
            (Ok(start), Some(end)) => store
                .consultation_counts(start, end, 30 * 60 * 1000)
                .await
                .map_err(|error| tracing::warn!(%error, "wallboard chart: counts failed"))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let Some(inner) = floor.upgrade() else {
            return;
        };
        inner.chart.send_replace((
            Document::new("chart", &half_hour_chart(&counts, crate::i18n::Lang::Ko)),
            Document::new("chart", &half_hour_chart(&counts, crate::i18n::Lang::En)),
        ));
        drop(inner);
        tokio::select! {
            _ = dirty.notified() => {}
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        // Coalesce a burst of consultations into one redraw.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Today's consultations per half hour, as an SVG column chart.
pub fn half_hour_chart(counts: &[u64], lang: crate::i18n::Lang) -> String {
    let series: Vec<(String, f64)> = (0..48)
        .map(|slot| {
            (
                format!("{:02}:{:02}", slot / 2, (slot % 2) * 30),
                counts.get(slot).copied().unwrap_or(0) as f64,
            )
        })
        .collect();
    crate::charts::columns(crate::i18n::t(lang, "wallboard.chart"), &series).replace('\n', " ")
}
