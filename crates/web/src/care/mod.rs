//! The care-call programme: welfare calls to enrolled seniors living alone.
//!
//! Coordinators keep the roster (seniors with their hours, contacts and
//! responsible departments) and post notices; Dasan keeps a plan of the
//! coming 14 days (`plan_senior`: the week's days from
//! [`dasan_core::care::plan_week`], one call record per slot, its id made
//! from the senior, the week and the slot, so a plan re-made never adds a
//! call twice), releases each call to the routing floor as a `care_call`
//! interaction on its day within the senior's hours while no inbound
//! contact waits (`release_due`), and records each try's outcome
//! (`record_outcome`): an unanswered try is followed by a retry per the
//! [`RetryPolicy`], a run of failures or a worrying check opens an
//! escalation to the senior's district office or health center, which is
//! delivered to the department's webhook through a durable, signed,
//! retried outbox (`webhook.rs`) and re-sent while unacknowledged, and the
//! emergency contacts are texted. Everything runs on the [`Clock`] in
//! [`CareConfig`], so tests drive whole weeks with an injected clock.

pub mod api;
mod csv;
pub mod webhook;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
};

use chrono::{Duration, NaiveDate, Timelike};
use dasan_core::{
    PhoneNumber, Timestamp,
    care::{CareCheck, CareOutcome, Hours, PlanInput, RetryPolicy, plan_week, week_start},
};
use dasan_store::{
    Store,
    care::{CareCommit, CareKind, CareQuery, CareRecord, CareWrite},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{AppState, error::ApiError};

/// Where the care programme's time comes from: the system clock, or a
/// manual one that tests move.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    pub fn system() -> Clock {
        Clock(None)
    }

    pub fn manual(start: Timestamp) -> Clock {
        Clock(Some(Arc::new(AtomicI64::new(start.millis()))))
    }

    pub fn now(&self) -> Timestamp {
        match &self.0 {
            None => crate::now(),
            Some(millis) => Timestamp::from_millis(millis.load(Ordering::SeqCst))
                .unwrap_or_else(|_| crate::now()),
        }
    }

    /// Moves a manual clock (a system clock ignores it).
    pub fn set(&self, at: Timestamp) {
        if let Some(millis) = &self.0 {
            millis.store(at.millis(), Ordering::SeqCst);
        }
    }
}

/// The programme's settings.
#[derive(Clone)]
pub struct CareConfig {
    pub policy: RetryPolicy,
    /// Public holidays (local dates): a call planned on one moves.
    pub holidays: BTreeSet<NaiveDate>,
    /// How far ahead calls are planned.
    pub horizon_days: i64,
    /// An escalation not acknowledged this long after it was sent is sent again.
    pub resend_after_minutes: i64,
    /// Due calls go to the routing floor (off: agents work from the list).
    pub release_to_floor: bool,
    pub clock: Clock,
}

impl Default for CareConfig {
    fn default() -> Self {
        CareConfig {
            policy: RetryPolicy::default(),
            holidays: BTreeSet::new(),
            horizon_days: 14,
            resend_after_minutes: 240,
            release_to_floor: true,
            clock: Clock::system(),
        }
    }
}

impl CareConfig {
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Runs the programme's timers until the floor closes: plans, releases due
/// calls, re-sends unacknowledged escalations and delivers webhooks.
pub(crate) async fn run(state: AppState) {
    let closed = state.floor.closed();
    tokio::pin!(closed);
    let client = webhook::WebhookClient::new();
    loop {
        if let Err(error) = tick(&state).await {
            tracing::error!(error = %error.message, "care: a tick failed");
        }
        if let Err(error) = webhook::deliver_due(&state, &client).await {
            tracing::error!(error = %error.message, "care: webhook deliveries failed");
        }
        tokio::select! {
            _ = &mut closed => return,
            _ = state.care_signal.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
        }
    }
}

/// One pass of the programme's timers at the clock's now.
pub async fn tick(state: &AppState) -> Result<(), ApiError> {
    let now = state.care.now();
    plan_all(state, now).await?;
    release_due(state, now).await?;
    resend_unacknowledged(state, now).await?;
    Ok(())
}

// --- Records ---

/// A department: a district office, a public health center or another agency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Department {
    pub id: String,
    pub name: String,
    /// `district_office`, `health_center` or `other`.
    pub kind: String,
    /// The district it serves (for district offices and health centers).
    pub district: Option<String>,
    /// Where escalations are POSTed (http://); none: its users read them here.
    pub webhook_url: Option<String>,
    /// Signs each delivery (HMAC-SHA256); never shown.
    pub webhook_secret: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyContact {
    pub name: String,
    /// E.164.
    pub phone: String,
    pub relation: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub date: NaiveDate,
    /// Who recorded it (the staff member's name).
    pub recorded_by: String,
}

/// An enrolled senior.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Senior {
    pub id: String,
    pub name: String,
    /// E.164.
    pub phone: String,
    pub district: String,
    pub birth_year: Option<u16>,
    pub living_situation: String,
    pub emergency_contacts: Vec<EmergencyContact>,
    pub district_office: Option<String>,
    pub health_center: Option<String>,
    /// Preferred weekdays, 0 = Monday; empty for any.
    pub days: BTreeSet<u8>,
    pub hours: Hours,
    pub calls_per_week: u8,
    pub health_notes: String,
    pub consent: Option<Consent>,
    pub enrolled_on: NaiveDate,
    pub exited_on: Option<NaiveDate>,
    pub exit_reason: Option<String>,
    /// The senior's place in the week (see `PlanInput::phase`).
    pub phase: u8,
    /// Calls are planned from this day (enrolment, or the Monday after a
    /// change of schedule) ...
    pub plan_from: NaiveDate,
    /// ... under this revision of the schedule (part of each call's id).
    pub plan_rev: u32,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Call {
    /// A call not yet made (the caller sets who, when and which try).
    fn open() -> Call {
        Call {
            id: String::new(),
            senior_id: String::new(),
            due_at: 0,
            day: NaiveDate::default(),
            attempt: 1,
            retry_of: None,
            kind: "planned".into(),
            status: "open".into(),
            outcome: None,
            check: None,
            note: String::new(),
            agent: None,
            done_at: None,
            interaction_id: None,
            notices: Vec::new(),
            escalated: false,
            done_order: 0,
        }
    }
}

impl Senior {
    fn active_on(&self, day: NaiveDate) -> bool {
        day >= self.enrolled_on && self.exited_on.is_none_or(|exit| day < exit)
    }

    fn phone(&self) -> Option<PhoneNumber> {
        PhoneNumber::parse(&self.phone).ok()
    }
}

/// One try at calling a senior.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    pub id: String,
    pub senior_id: String,
    /// When it may be made (local: the senior's hours on its day).
    pub due_at: i64,
    pub day: NaiveDate,
    /// 1 for a planned call; each retry one more.
    pub attempt: u32,
    pub retry_of: Option<String>,
    /// `planned`, `retry` or `medical` (a counselling call by a medically
    /// skilled agent).
    pub kind: String,
    /// `open`, `queued` (on the floor), `done`, `cancelled`.
    pub status: String,
    pub outcome: Option<CareOutcome>,
    pub check: Option<CareCheck>,
    pub note: String,
    /// Who recorded the outcome.
    pub agent: Option<String>,
    pub done_at: Option<i64>,
    pub interaction_id: Option<Uuid>,
    /// The notices relayed on this call.
    pub notices: Vec<String>,
    /// This try opened an escalation (a run of failures counts from here).
    #[serde(default)]
    pub escalated: bool,
    /// The senior's tries in the order they were recorded (two recorded in
    /// the same millisecond keep their order).
    #[serde(default)]
    pub done_order: u32,
}

/// An escalation to a department.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Escalation {
    pub id: String,
    pub senior_id: String,
    pub department_id: Option<String>,
    /// `unanswered`, `wrong_number`, `deceased`, or the check's concerns.
    pub reasons: Vec<String>,
    pub call_id: String,
    /// `open` → `sent` → `acknowledged` → `visited` → `resolved`.
    pub status: String,
    pub opened_at: i64,
    pub sent_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub visited_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// Deliveries queued so far (the first and the re-sends).
    pub sends: u32,
    pub next_send_at: Option<i64>,
    pub history: Vec<Step>,
    /// Emergency contacts texted.
    pub contacts_notified: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    pub status: String,
    pub at: i64,
    pub by: String,
    pub note: String,
}

pub const ESCALATION_STATUSES: [&str; 5] = ["open", "sent", "acknowledged", "visited", "resolved"];

fn status_rank(status: &str) -> usize {
    ESCALATION_STATUSES
        .iter()
        .position(|s| *s == status)
        .unwrap_or(0)
}

/// A notice for agents to relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    pub title: String,
    pub body: String,
    /// Seniors of these districts; with `departments` empty too, everyone.
    pub districts: Vec<String>,
    /// Seniors these departments are responsible for.
    pub departments: Vec<String>,
    pub valid_from: NaiveDate,
    pub valid_to: NaiveDate,
    pub created_by: String,
    pub created_at: i64,
}

impl Notice {
    fn applies_to(&self, senior: &Senior, day: NaiveDate) -> bool {
        if day < self.valid_from || day > self.valid_to {
            return false;
        }
        if self.districts.is_empty() && self.departments.is_empty() {
            return true;
        }
        self.districts.contains(&senior.district)
            || [&senior.district_office, &senior.health_center]
                .into_iter()
                .flatten()
                .any(|d| self.departments.contains(d))
    }
}

pub(crate) fn record<T: Serialize>(
    kind: CareKind,
    id: &str,
    owner: &str,
    status: &str,
    at: i64,
    value: &T,
) -> Result<CareRecord, ApiError> {
    Ok(CareRecord {
        kind,
        id: id.to_owned(),
        owner: owner.to_owned(),
        status: status.to_owned(),
        at,
        version: 1,
        body: serde_json::to_string(value).map_err(|e| ApiError::internal(&e))?,
    })
}

pub(crate) fn parse<T: DeserializeOwned>(record: &CareRecord) -> Result<T, ApiError> {
    serde_json::from_str(&record.body).map_err(|e| {
        ApiError::internal(&format!(
            "care record {} {}: {e}",
            record.kind.as_str(),
            record.id
        ))
    })
}

pub(crate) fn senior_record(senior: &Senior) -> Result<CareRecord, ApiError> {
    let status = if senior.exited_on.is_some() {
        "exited"
    } else {
        "active"
    };
    record(
        CareKind::Senior,
        &senior.id,
        &senior.district,
        status,
        senior.created_at,
        senior,
    )
}

pub(crate) fn call_record(call: &Call) -> Result<CareRecord, ApiError> {
    record(
        CareKind::Call,
        &call.id,
        &call.senior_id,
        &call.status,
        call.due_at,
        call,
    )
}

pub(crate) fn escalation_record(escalation: &Escalation) -> Result<CareRecord, ApiError> {
    record(
        CareKind::Escalation,
        &escalation.id,
        &escalation.senior_id,
        &escalation.status,
        escalation.opened_at,
        escalation,
    )
}

pub(crate) async fn load<T: DeserializeOwned>(
    state: &AppState,
    kind: CareKind,
    id: &str,
) -> Result<Option<(T, i64)>, ApiError> {
    match state.store.care_get(kind, id).await? {
        Some(record) => Ok(Some((parse(&record)?, record.version))),
        None => Ok(None),
    }
}

pub(crate) async fn list<T: DeserializeOwned>(
    state: &AppState,
    query: &CareQuery,
) -> Result<Vec<(T, i64)>, ApiError> {
    state
        .store
        .care_list(query)
        .await?
        .iter()
        .map(|r| Ok((parse(r)?, r.version)))
        .collect()
}

pub(crate) async fn commit(state: &AppState, write: &CareWrite) -> Result<u64, ApiError> {
    match state.store.care_commit(write).await? {
        CareCommit::Done { inserted } => Ok(inserted),
        CareCommit::Stale => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "conflict",
            "the record changed meanwhile; read it again",
        )),
    }
}

pub(crate) async fn departments(state: &AppState) -> Result<Vec<Department>, ApiError> {
    Ok(
        list::<Department>(state, &CareQuery::all(CareKind::Department))
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .collect(),
    )
}

// --- Time ---

fn local_minute(at: Timestamp, zone: chrono_tz::Tz) -> u16 {
    let local = at.as_datetime().with_timezone(&zone);
    (local.hour() * 60 + local.minute()) as u16
}

fn local_millis(zone: chrono_tz::Tz, day: NaiveDate, minute: u16) -> i64 {
    Timestamp::from_local(zone, day, u32::from(minute) * 60)
        .map(|t| t.millis())
        .unwrap_or(0)
}

// --- Planning ---

/// The calls of the coming `horizon_days` for one senior, as records.
pub(crate) fn planned_calls(
    config: &CareConfig,
    zone: chrono_tz::Tz,
    senior: &Senior,
    now: Timestamp,
) -> Vec<Call> {
    let today = now.local_date(zone);
    // Today only while at least an hour of the senior's hours is left.
    let first = if local_minute(now, zone) + 60 <= senior.hours.end {
        today
    } else {
        today + Duration::days(1)
    };
    let first = first.max(senior.enrolled_on).max(senior.plan_from);
    let last = today + Duration::days(config.horizon_days);
    let mut calls = Vec::new();
    let mut monday = week_start(first);
    while monday < last {
        let input = PlanInput {
            calls_per_week: senior.calls_per_week,
            days: &senior.days,
            week_start: monday,
            first_day: first,
            end_day: senior.exited_on,
            holidays: &config.holidays,
            phase: senior.phase,
        };
        for (slot, day) in plan_week(&input) {
            if day >= last {
                continue;
            }
            let id = format!(
                "{}.{}.{}.{slot}",
                senior.id,
                senior.plan_rev,
                monday.format("%Y%m%d")
            );
            calls.push(Call {
                due_at: local_millis(zone, day, slot_minute(senior, slot)),
                id,
                senior_id: senior.id.clone(),
                day,
                attempt: 1,
                retry_of: None,
                kind: "planned".into(),
                ..Call::open()
            });
        }
        monday += Duration::days(7);
    }
    calls
}

/// The minute of day a slot's call is due: staggered over the senior's
/// hours in half hours, leaving at least half an hour before they end.
fn slot_minute(senior: &Senior, slot: u8) -> u16 {
    let hours = senior.hours;
    let steps = (u32::from(hours.end - hours.start) - 30) / 30;
    let seed = senior.id.bytes().fold(u32::from(senior.phase), |h, b| {
        h.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    let step = (seed.wrapping_add(u32::from(slot) * 7)) % steps.max(1);
    hours.start + (step * 30) as u16
}

/// Plans one senior's coming days; answers how many calls were new.
pub(crate) async fn plan_senior(
    state: &AppState,
    senior: &Senior,
    now: Timestamp,
) -> Result<u64, ApiError> {
    if senior
        .exited_on
        .is_some_and(|exit| exit <= now.local_date(state.zone))
    {
        return Ok(0);
    }
    let inserts = planned_calls(&state.care, state.zone, senior, now)
        .iter()
        .map(call_record)
        .collect::<Result<Vec<_>, _>>()?;
    commit(
        state,
        &CareWrite {
            updates: Vec::new(),
            inserts,
        },
    )
    .await
}

const PLANNED_ON: &str = "planned_on";

/// Plans every active senior once a day (new and edited seniors are planned
/// when saved).
async fn plan_all(state: &AppState, now: Timestamp) -> Result<(), ApiError> {
    let today = now.local_date(state.zone).to_string();
    let marker = state.store.care_get(CareKind::Setting, PLANNED_ON).await?;
    if marker
        .as_ref()
        .is_some_and(|m| m.body == format!("\"{today}\""))
    {
        return Ok(());
    }
    let mut query = CareQuery::all(CareKind::Senior);
    query.statuses = vec!["active".into()];
    for (senior, _) in list::<Senior>(state, &query).await? {
        plan_senior(state, &senior, now).await?;
    }
    let mut setting = record(
        CareKind::Setting,
        PLANNED_ON,
        "",
        "set",
        now.millis(),
        &today,
    )?;
    let write = match marker {
        Some(old) => {
            setting.version = old.version;
            CareWrite {
                updates: vec![(setting, old.version)],
                inserts: Vec::new(),
            }
        }
        None => CareWrite {
            updates: Vec::new(),
            inserts: vec![setting],
        },
    };
    // Another node planning at the same moment is no harm: plans insert once.
    let _ = state.store.care_commit(&write).await?;
    Ok(())
}

/// The phase that levels the floor's weekly load best for a new senior:
/// the one whose days are least used by the seniors already enrolled.
pub(crate) fn choose_phase(load: &[u32; 7], senior: &Senior) -> u8 {
    let none = BTreeSet::new();
    let monday = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    (0..7u8)
        .min_by_key(|&phase| {
            let days = plan_week(&PlanInput {
                calls_per_week: senior.calls_per_week,
                days: &senior.days,
                week_start: monday,
                first_day: monday,
                end_day: None,
                holidays: &none,
                phase,
            });
            let mut after = *load;
            for (_, day) in days {
                after[(day - monday).num_days() as usize] += 1;
            }
            let peak = after.iter().copied().max().unwrap_or(0);
            let squares: u64 = after.iter().map(|&v| u64::from(v) * u64::from(v)).sum();
            (peak, squares, phase)
        })
        .unwrap_or(0)
}

/// Calls per weekday in a plain week, over the given seniors.
pub(crate) fn weekly_load<'a>(seniors: impl Iterator<Item = &'a Senior>) -> [u32; 7] {
    let none = BTreeSet::new();
    let monday = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default();
    let mut load = [0u32; 7];
    for senior in seniors {
        for (_, day) in plan_week(&PlanInput {
            calls_per_week: senior.calls_per_week,
            days: &senior.days,
            week_start: monday,
            first_day: monday,
            end_day: None,
            holidays: &none,
            phase: senior.phase,
        }) {
            load[(day - monday).num_days() as usize] += 1;
        }
    }
    load
}

// --- Release to the floor ---

/// Puts due open calls on the routing floor, within each senior's hours,
/// while no inbound contact waits (care calls give way in peaks).
async fn release_due(state: &AppState, now: Timestamp) -> Result<(), ApiError> {
    if !state.care.release_to_floor {
        return Ok(());
    }
    let mut query = CareQuery::all(CareKind::Call);
    query.statuses = vec!["open".into()];
    query.to = Some(now.millis() + 1);
    query.limit = 500;
    let today = now.local_date(state.zone);
    let minute = local_minute(now, state.zone);
    for (mut call, version) in list::<Call>(state, &query).await? {
        if state.floor.waiting_inbound() > 0 {
            break;
        }
        let Some((senior, _)) = load::<Senior>(state, CareKind::Senior, &call.senior_id).await?
        else {
            continue;
        };
        if !senior.active_on(today) {
            call.status = "cancelled".into();
            call.note = "exited".into();
            let _ = state
                .store
                .care_commit(&CareWrite {
                    updates: vec![(call_record(&call)?, version)],
                    inserts: Vec::new(),
                })
                .await?;
            continue;
        }
        if !senior.hours.contains(minute) {
            continue;
        }
        let Some(phone) = senior.phone() else {
            continue;
        };
        let id = Uuid::now_v7();
        call.status = "queued".into();
        call.interaction_id = Some(id);
        // Stored first: a call on the floor is always findable from its
        // interaction; if the floor refuses, the call goes back to open.
        if state
            .store
            .care_commit(&CareWrite {
                updates: vec![(call_record(&call)?, version)],
                inserts: Vec::new(),
            })
            .await?
            == CareCommit::Stale
        {
            continue;
        }
        let required_skills = if call.kind == "medical" {
            vec![dasan_core::Skill::Medical]
        } else {
            Vec::new()
        };
        let added = state.floor.add_interaction(crate::floor::NewInteraction {
            id: Some(id),
            channel: dasan_core::Channel::CareCall,
            citizen_phone: phone,
            category: dasan_core::CategoryCode::parse("welfare").ok(),
            required_skills,
            priority: 0,
        });
        if let Err(error) = added {
            tracing::warn!(%error, "care: a due call could not be queued");
            call.status = "open".into();
            call.interaction_id = None;
            let _ = state
                .store
                .care_commit(&CareWrite {
                    updates: vec![(call_record(&call)?, version + 1)],
                    inserts: Vec::new(),
                })
                .await?;
            break;
        }
    }
    Ok(())
}

// --- Outcomes ---

/// What an agent records for one try.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeInput {
    pub outcome: String,
    #[serde(default)]
    pub check: Option<CareCheck>,
    #[serde(default)]
    pub note: Option<String>,
    /// The notices relayed; all due ones when omitted on a reached call.
    #[serde(default)]
    pub notices: Option<Vec<String>>,
}

/// What recording an outcome did.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    pub call: Call,
    pub retry: Option<Call>,
    pub escalation: Option<Escalation>,
    pub follow_up: Option<Call>,
}

pub(crate) async fn notices_for(
    state: &AppState,
    senior: &Senior,
    day: NaiveDate,
) -> Result<Vec<Notice>, ApiError> {
    Ok(list::<Notice>(state, &CareQuery::all(CareKind::Notice))
        .await?
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.applies_to(senior, day))
        .collect())
}

/// Records the outcome of an open call, with what follows from it, in one
/// transaction.
pub(crate) async fn record_outcome(
    state: &AppState,
    actor: &str,
    call_id: &str,
    input: OutcomeInput,
) -> Result<Recorded, ApiError> {
    let outcome = CareOutcome::parse(input.outcome.trim())?;
    if let Some(check) = &input.check {
        check.validate()?;
        if outcome != CareOutcome::Reached {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                "a check goes only with the outcome reached",
            ));
        }
    }
    let note = input.note.unwrap_or_default().trim().to_owned();
    if note.chars().count() > dasan_core::care::MAX_NOTE_CHARS {
        return Err(ApiError::bad_request(
            "too_long",
            "note: at most 2,000 characters",
        ));
    }
    let Some((mut call, version)) = load::<Call>(state, CareKind::Call, call_id).await? else {
        return Err(ApiError::not_found("call"));
    };
    if !matches!(call.status.as_str(), "open" | "queued") {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "call_closed",
            format!("the call is {}", call.status),
        ));
    }
    let Some((mut senior, senior_version)) =
        load::<Senior>(state, CareKind::Senior, &call.senior_id).await?
    else {
        return Err(ApiError::not_found("senior"));
    };
    let now = state.care.now();
    let zone = state.zone;
    let today = now.local_date(zone);
    let policy = state.care.policy;

    // The recent tries are enough for a run of failures and today's count.
    let earlier = {
        let mut query = CareQuery::all(CareKind::Call);
        query.owner = Some(senior.id.clone());
        query.statuses = vec!["done".into()];
        query.descending = true;
        query.limit = 50;
        list::<Call>(state, &query).await?
    };
    let mut done: Vec<&Call> = earlier.iter().map(|(c, _)| c).collect();
    done.sort_by_key(|c| (c.done_at.unwrap_or(0), c.done_order));
    let failures = 1 + done
        .iter()
        .rev()
        .take_while(|c| c.outcome.is_some_and(CareOutcome::is_failure) && !c.escalated)
        .count() as u32;
    let tries_today = 1 + done
        .iter()
        .filter(|c| {
            c.done_at
                .and_then(|d| Timestamp::from_millis(d).ok())
                .is_some_and(|d| d.local_date(zone) == today)
        })
        .count() as u32;

    call.status = "done".into();
    call.outcome = Some(outcome);
    call.check = input.check.clone();
    call.note = note;
    call.agent = Some(actor.to_owned());
    call.done_at = Some(now.millis());
    call.done_order = done.iter().map(|c| c.done_order).max().unwrap_or(0) + 1;
    if outcome == CareOutcome::Reached {
        let due: Vec<String> = notices_for(state, &senior, today)
            .await?
            .into_iter()
            .map(|n| n.id)
            .collect();
        call.notices = match input.notices {
            Some(named) => named.into_iter().filter(|n| due.contains(n)).collect(),
            None => due,
        };
    }

    let mut write = CareWrite::default();
    let mut retry = None;
    let mut follow_up = None;
    let mut reasons: Vec<String> = Vec::new();
    if outcome.is_unanswered() {
        if failures >= policy.escalate_after_failures {
            reasons.push("unanswered".into());
        } else {
            let (day, minute) =
                policy.next_try(today, local_minute(now, zone), tries_today, senior.hours);
            let next = Call {
                id: format!(
                    "{}.r{}",
                    call.id.split(".r").next().unwrap_or(&call.id),
                    call.attempt + 1
                ),
                senior_id: senior.id.clone(),
                due_at: local_millis(zone, day, minute),
                day,
                attempt: call.attempt + 1,
                retry_of: Some(call.id.clone()),
                kind: "retry".into(),
                ..Call::open()
            };
            write.inserts.push(call_record(&next)?);
            retry = Some(next);
        }
    }
    match outcome {
        CareOutcome::WrongNumber => reasons.push("wrong_number".into()),
        CareOutcome::Deceased => reasons.push("deceased".into()),
        CareOutcome::Reached => {
            if let Some(check) = &call.check {
                reasons.extend(check.concerns().into_iter().map(String::from));
                if check.wants_medical_counselling() {
                    let next = Call {
                        id: format!("{}.m", call.id),
                        senior_id: senior.id.clone(),
                        due_at: now.millis(),
                        day: today,
                        attempt: 1,
                        retry_of: None,
                        kind: "medical".into(),
                        ..Call::open()
                    };
                    write.inserts.push(call_record(&next)?);
                    follow_up = Some(next);
                }
            }
        }
        _ => {}
    }
    call.escalated = !reasons.is_empty();
    write.updates.push((call_record(&call)?, version));

    if outcome.ends_programme() {
        senior.exited_on = Some(today);
        senior.exit_reason = Some(outcome.as_str().to_owned());
        senior.updated_at = now.millis();
        write
            .updates
            .push((senior_record(&senior)?, senior_version));
        for (mut later, later_version) in earlier_open(state, &senior.id).await? {
            if later.id != call.id {
                later.status = "cancelled".into();
                later.note = outcome.as_str().to_owned();
                write.updates.push((call_record(&later)?, later_version));
            }
        }
    }

    let escalation = if reasons.is_empty() {
        None
    } else {
        let health = reasons
            .iter()
            .any(|r| matches!(r.as_str(), "fell" | "unwell"));
        let department_id = if health {
            senior
                .health_center
                .clone()
                .or(senior.district_office.clone())
        } else {
            senior
                .district_office
                .clone()
                .or(senior.health_center.clone())
        };
        let escalation = Escalation {
            id: format!("e.{}", call.id),
            senior_id: senior.id.clone(),
            department_id,
            reasons,
            call_id: call.id.clone(),
            status: "open".into(),
            opened_at: now.millis(),
            sent_at: None,
            acknowledged_at: None,
            visited_at: None,
            resolved_at: None,
            sends: 0,
            next_send_at: None,
            history: vec![Step {
                status: "open".into(),
                at: now.millis(),
                by: actor.to_owned(),
                note: String::new(),
            }],
            // Texted after the commit (see `notify_contacts`).
            contacts_notified: if outcome == CareOutcome::Deceased {
                0
            } else {
                senior
                    .emergency_contacts
                    .iter()
                    .filter(|c| PhoneNumber::parse(&c.phone).is_ok())
                    .count() as u32
            },
        };
        let (escalation, mut extra) = webhook::dispatch(state, escalation, &senior, now).await?;
        write.inserts.push(escalation_record(&escalation)?);
        write.inserts.append(&mut extra);
        Some(escalation)
    };

    commit(state, &write).await?;
    withdraw_from_floor(state, &write.updates);
    if let Some(escalation) = &escalation {
        notify_contacts(state, escalation, &senior).await;
    }
    state.care_signal.notify_one();
    Ok(Recorded {
        call,
        retry,
        escalation,
        follow_up,
    })
}

/// The senior's calls not yet made.
async fn earlier_open(state: &AppState, senior_id: &str) -> Result<Vec<(Call, i64)>, ApiError> {
    let mut query = CareQuery::all(CareKind::Call);
    query.owner = Some(senior_id.to_owned());
    query.statuses = vec!["open".into(), "queued".into()];
    list::<Call>(state, &query).await
}

/// Cancels a senior's calls from `from` on (an exit), answering the updates.
pub(crate) async fn cancel_from(
    state: &AppState,
    senior_id: &str,
    from: NaiveDate,
    why: &str,
) -> Result<Vec<(CareRecord, i64)>, ApiError> {
    let mut updates = Vec::new();
    for (mut call, version) in earlier_open(state, senior_id).await? {
        if call.day >= from {
            call.status = "cancelled".into();
            call.note = why.to_owned();
            updates.push((call_record(&call)?, version));
        }
    }
    Ok(updates)
}

/// Takes cancelled calls' interactions off the floor (after the commit).
pub(crate) fn withdraw_from_floor(state: &AppState, records: &[(CareRecord, i64)]) {
    for (record, _) in records {
        if record.kind != CareKind::Call || record.status != "cancelled" {
            continue;
        }
        if let Ok(call) = parse::<Call>(record)
            && let Some(interaction) = call.interaction_id
            && state.floor.interaction(interaction).is_some()
        {
            let _ = state.floor.abandon(interaction);
        }
    }
}

/// Texts the senior's emergency contacts about an escalation (once each:
/// the message id is derived from the escalation and the contact).
async fn notify_contacts(state: &AppState, escalation: &Escalation, senior: &Senior) {
    if escalation.reasons.iter().any(|r| r == "deceased") {
        return;
    }
    for (index, contact) in senior.emergency_contacts.iter().enumerate() {
        let Ok(phone) = PhoneNumber::parse(&contact.phone) else {
            continue;
        };
        let id = derived_id(&format!("{}/{index}", escalation.id));
        let body = format!(
            "[120다산콜센터] {}님 안부 확인 중 도움이 필요해 담당 기관에 방문을 요청했습니다. 문의: 120",
            senior.name.chars().take(20).collect::<String>()
        );
        match crate::sms::enqueue_with_id(state, id, &phone, None, &body).await {
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error.message, "care: an emergency contact was not texted");
            }
        }
    }
}

/// A stable id for a record made from other records' ids.
pub(crate) fn derived_id(name: &str) -> Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Sends again the escalations their department has not acknowledged in time.
async fn resend_unacknowledged(state: &AppState, now: Timestamp) -> Result<(), ApiError> {
    let mut query = CareQuery::all(CareKind::Escalation);
    query.statuses = vec!["sent".into()];
    for (escalation, version) in list::<Escalation>(state, &query).await? {
        if escalation.next_send_at.is_none_or(|at| at > now.millis()) {
            continue;
        }
        let Some((senior, _)) =
            load::<Senior>(state, CareKind::Senior, &escalation.senior_id).await?
        else {
            continue;
        };
        let (escalation, inserts) = webhook::dispatch(state, escalation, &senior, now).await?;
        let _ = state
            .store
            .care_commit(&CareWrite {
                updates: vec![(escalation_record(&escalation)?, version)],
                inserts,
            })
            .await?;
    }
    Ok(())
}

/// Moves an escalation forward (`acknowledged`, `visited`, `resolved`).
pub(crate) async fn advance_escalation(
    state: &AppState,
    id: &str,
    to: &str,
    by: &str,
    note: &str,
    department: Option<&str>,
) -> Result<Escalation, ApiError> {
    if !matches!(to, "acknowledged" | "visited" | "resolved") {
        return Err(ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "status: acknowledged, visited or resolved",
        ));
    }
    let Some((mut escalation, version)) =
        load::<Escalation>(state, CareKind::Escalation, id).await?
    else {
        return Err(ApiError::not_found("escalation"));
    };
    if let Some(department) = department
        && escalation.department_id.as_deref() != Some(department)
    {
        return Err(ApiError::not_found("escalation"));
    }
    if status_rank(to) <= status_rank(&escalation.status) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "wrong_state",
            format!("the escalation is already {}", escalation.status),
        ));
    }
    let now = state.care.now().millis();
    match to {
        "acknowledged" => escalation.acknowledged_at = Some(now),
        "visited" => escalation.visited_at = Some(now),
        _ => escalation.resolved_at = Some(now),
    }
    escalation.acknowledged_at.get_or_insert(now);
    escalation.status = to.to_owned();
    escalation.next_send_at = None;
    escalation.history.push(Step {
        status: to.to_owned(),
        at: now,
        by: by.to_owned(),
        note: note.chars().take(2_000).collect(),
    });
    commit(
        state,
        &CareWrite {
            updates: vec![(escalation_record(&escalation)?, version)],
            inserts: Vec::new(),
        },
    )
    .await?;
    Ok(escalation)
}

// --- Reports ---

#[derive(Debug, Clone, Serialize)]
pub struct DayFigures {
    pub date: NaiveDate,
    pub tries: u64,
    pub reached: u64,
}

/// The week's figures.
#[derive(Debug, Clone, Serialize)]
pub struct WeekReport {
    pub week_start: NaiveDate,
    /// Seniors with a planned call due so far this week.
    pub seniors_scheduled: u64,
    /// Of those, seniors reached on every planned call due so far (by the
    /// call or one of its retries).
    pub seniors_covered: u64,
    pub coverage: Option<f64>,
    pub tries: u64,
    pub reached: u64,
    pub answer_rate: Option<f64>,
    pub escalations_opened: u64,
    pub escalations_resolved: u64,
    pub mean_hours_to_resolution: Option<f64>,
    pub calls_per_day: Vec<DayFigures>,
}

pub(crate) async fn week_report(
    state: &AppState,
    any_day: NaiveDate,
) -> Result<WeekReport, ApiError> {
    let zone = state.zone;
    let monday = week_start(any_day);
    let from = local_millis(zone, monday, 0);
    let to = local_millis(zone, monday + Duration::days(7), 0);
    let now = state.care.now().millis();
    let mut query = CareQuery::all(CareKind::Call);
    query.from = Some(from);
    // Retries of the week's last calls fall in the next days.
    query.to = Some(to + 3 * 86_400_000);
    let calls: Vec<Call> = list::<Call>(state, &query)
        .await?
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let reached_chain: BTreeSet<&str> = calls
        .iter()
        .filter(|c| c.outcome == Some(CareOutcome::Reached))
        .map(|c| c.id.split(".r").next().unwrap_or(&c.id))
        .collect();
    let mut scheduled: BTreeMap<&str, bool> = BTreeMap::new();
    for call in calls.iter().filter(|c| {
        c.kind == "planned" && c.due_at < to && c.due_at <= now && c.status != "cancelled"
    }) {
        let covered = reached_chain.contains(call.id.as_str());
        let entry = scheduled.entry(call.senior_id.as_str()).or_insert(true);
        *entry &= covered;
    }
    let mut days: BTreeMap<NaiveDate, DayFigures> = (0..7)
        .map(|d| {
            let date = monday + Duration::days(d);
            (
                date,
                DayFigures {
                    date,
                    tries: 0,
                    reached: 0,
                },
            )
        })
        .collect();
    let (mut tries, mut reached) = (0, 0);
    for call in &calls {
        let (Some(done_at), Some(outcome)) = (call.done_at, call.outcome) else {
            continue;
        };
        let Ok(at) = Timestamp::from_millis(done_at) else {
            continue;
        };
        if let Some(day) = days.get_mut(&at.local_date(zone)) {
            day.tries += 1;
            tries += 1;
            if outcome == CareOutcome::Reached {
                day.reached += 1;
                reached += 1;
            }
        }
    }
    let mut query = CareQuery::all(CareKind::Escalation);
    query.from = Some(from);
    query.to = Some(to);
    let escalations: Vec<Escalation> = list::<Escalation>(state, &query)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect();
    let resolved: Vec<f64> = escalations
        .iter()
        .filter_map(|e| {
            e.resolved_at
                .map(|r| (r - e.opened_at) as f64 / 3_600_000.0)
        })
        .collect();
    let share = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
    let covered = scheduled.values().filter(|c| **c).count() as u64;
    Ok(WeekReport {
        week_start: monday,
        seniors_scheduled: scheduled.len() as u64,
        seniors_covered: covered,
        coverage: share(covered, scheduled.len() as u64),
        tries,
        reached,
        answer_rate: share(reached, tries),
        escalations_opened: escalations.len() as u64,
        escalations_resolved: resolved.len() as u64,
        mean_hours_to_resolution: (!resolved.is_empty())
            .then(|| resolved.iter().sum::<f64>() / resolved.len() as f64),
        calls_per_day: days.into_values().collect(),
    })
}
