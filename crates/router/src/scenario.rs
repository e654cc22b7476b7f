//! What the simulator runs: the scenario as written in a file (any serde
//! format; the `dasan` binary reads TOML or JSON), its defaults (the model
//! center's day), and [`Scenario::resolve`], which checks everything and
//! turns it into a [`SimulationPlan`] with arrivals and head counts per
//! interval. A plan that resolves cannot make the simulator fail.

use dasan_core::Channel;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{
    engine::{AfterMissedOffer, EngineConfig, MAX_SKILL_LEVEL},
    erlang::{self, ServiceTarget},
};

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ScenarioError(pub String);

fn error<T>(message: impl Into<String>) -> Result<T, ScenarioError> {
    Err(ScenarioError(message.into()))
}

/// The model center's day (Seoul 120, October 2009): the share of a day's
/// contacts arriving in each half hour from 00:00. Two daytime peaks around
/// 10:30 and 14:30, a lunch dip, and a night slot (00:00-06:00) carrying
/// about 5% of the day (51,769 a month against ~33,000 a day).
pub const MODEL_DAY_PROFILE: [f64; 48] = [
    1.5, 1.25, 1.0, 0.9, 0.75, 0.65, 0.55, 0.55, 0.6, 0.75, 1.0, 1.4, // 00:00-05:30
    1.6, 2.2, 3.0, 4.0, 5.2, 6.4, 7.6, 8.4, 8.8, 9.0, 8.8, 8.2, // 06:00-11:30
    6.8, 6.6, 7.6, 8.2, 8.4, 8.4, 8.2, 8.0, 7.6, 7.0, 6.2, 5.4, // 12:00-17:30
    4.6, 4.0, 3.6, 3.2, 3.0, 2.8, 2.6, 2.4, 2.2, 2.0, 1.7, 1.4, // 18:00-23:30
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillLevel {
    pub skill: String,
    #[serde(default = "one")]
    pub level: u8,
}

fn one() -> u8 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverflowSpec {
    pub after_seconds: f64,
    /// Relax every required skill to this level...
    #[serde(default)]
    pub relax_to_level: Option<u8>,
    /// ...or move to this queue (exactly one of the two).
    #[serde(default)]
    pub to_queue: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSpec {
    pub name: String,
    pub channel: Channel,
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
    /// 0-9; higher is served sooner (see the engine's aging rule).
    #[serde(default)]
    pub priority: u8,
    /// Contacts a day, spread by `profile` (or the scenario's profile)...
    #[serde(default)]
    pub daily_contacts: Option<f64>,
    #[serde(default)]
    pub profile: Option<Vec<f64>>,
    /// ...or the expected contacts in each interval, explicitly.
    #[serde(default)]
    pub arrivals: Option<Vec<f64>>,
    /// Mean talk time (or text-thread lifetime) in seconds.
    pub handle_seconds: f64,
    /// Coefficient of variation of handle times: absent for exponential,
    /// else log-normal with this spread.
    #[serde(default)]
    pub handle_cv: Option<f64>,
    /// Mean of the exponential patience; absent: contacts never abandon.
    #[serde(default)]
    pub patience_seconds: Option<f64>,
    #[serde(default)]
    pub wrap_up_seconds: f64,
    #[serde(default)]
    pub overflow: Option<OverflowSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentGroupSpec {
    pub name: String,
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
    #[serde(default)]
    pub max_text_threads: Option<u8>,
    /// Exactly one of: a head count for every interval...
    #[serde(default)]
    pub agents: Option<u32>,
    /// ...a roster (heads per interval)...
    #[serde(default)]
    pub roster: Option<Vec<u32>>,
    /// ...or the queues whose forecast Erlang C (Erlang A when they have a
    /// patience) staffs this group for, per interval.
    #[serde(default)]
    pub plan_for: Option<Vec<String>>,
    /// Floor for planned head counts (a 24-hour center never drops to 0).
    #[serde(default)]
    pub minimum_agents: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSettings {
    #[serde(default = "default_offer_timeout")]
    pub offer_timeout_seconds: Option<f64>,
    #[serde(default = "default_text_threads")]
    pub max_text_threads: u8,
    #[serde(default = "default_priority_step")]
    pub priority_step_seconds: f64,
}

fn default_offer_timeout() -> Option<f64> {
    Some(15.0)
}
fn default_text_threads() -> u8 {
    3
}
fn default_priority_step() -> f64 {
    60.0
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            offer_timeout_seconds: default_offer_timeout(),
            max_text_threads: default_text_threads(),
            priority_step_seconds: default_priority_step(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default = "default_name")]
    pub name: String,
    /// The command line's `--seed` wins over this.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Repeats the day this many times (a year is 365).
    #[serde(default = "default_days")]
    pub days: u32,
    #[serde(default = "default_interval_minutes")]
    pub interval_minutes: u32,
    /// Default arrival shape, one weight per interval (normalised).
    #[serde(default = "default_profile")]
    pub profile: Vec<f64>,
    #[serde(default = "default_target_level")]
    pub target_service_level: f64,
    #[serde(default = "default_target_seconds")]
    pub answer_target_seconds: f64,
    #[serde(default = "default_short_abandon")]
    pub short_abandon_seconds: f64,
    /// For the rostered heads reported next to planned agents.
    #[serde(default = "default_shrinkage")]
    pub shrinkage: f64,
    /// Seconds between an offer and the agent accepting it (ring time).
    #[serde(default)]
    pub answer_delay_seconds: f64,
    #[serde(default)]
    pub engine: EngineSettings,
    pub queues: Vec<QueueSpec>,
    pub groups: Vec<AgentGroupSpec>,
}

fn default_name() -> String {
    "scenario".into()
}
fn default_days() -> u32 {
    1
}
fn default_interval_minutes() -> u32 {
    30
}
fn default_profile() -> Vec<f64> {
    MODEL_DAY_PROFILE.to_vec()
}
fn default_target_level() -> f64 {
    0.8
}
fn default_target_seconds() -> f64 {
    20.0
}
fn default_short_abandon() -> f64 {
    5.0
}
fn default_shrinkage() -> f64 {
    0.3
}

fn skills(list: &[(&str, u8)]) -> Vec<SkillLevel> {
    list.iter()
        .map(|(skill, level)| SkillLevel {
            skill: (*skill).to_owned(),
            level: *level,
        })
        .collect()
}

/// Half hours from `from` (inclusive) to `to` (exclusive) get `inside`, the rest `outside`.
fn hours(from: f64, to: f64, inside: u32, outside: u32) -> Vec<u32> {
    (0..48)
        .map(|slot| {
            let hour = f64::from(slot) / 2.0;
            if hour >= from && hour < to {
                inside
            } else {
                outside
            }
        })
        .collect()
}

impl Scenario {
    /// The model center's day: about 33,000 contacts. Voice per category
    /// (transport 45.7%, water 8.4%, the rest general), 1,688 SMS threads,
    /// ~30 sign-language video calls, ~70 care calls to seniors (200+
    /// enrolled, 2-3 calls a week, 10:00-17:00), 24 hours.
    pub fn model_center() -> Scenario {
        let voice = 33_000.0 - 1_688.0 - 30.0 - 70.0;
        let queue =
            |name: &str, channel, skill_list: &[(&str, u8)], daily: f64, handle: f64| QueueSpec {
                name: name.into(),
                channel,
                skills: skills(skill_list),
                priority: 0,
                daily_contacts: Some(daily),
                profile: None,
                arrivals: None,
                handle_seconds: handle,
                handle_cv: Some(0.8),
                patience_seconds: None,
                wrap_up_seconds: 0.0,
                overflow: None,
            };
        let queues = vec![
            QueueSpec {
                patience_seconds: Some(120.0),
                wrap_up_seconds: 20.0,
                // After a minute, agents with basic transport knowledge help.
                overflow: Some(OverflowSpec {
                    after_seconds: 60.0,
                    relax_to_level: Some(1),
                    to_queue: None,
                }),
                ..queue(
                    "voice.transport",
                    Channel::Voice,
                    &[("transport", 2)],
                    voice * 0.457,
                    170.0,
                )
            },
            QueueSpec {
                patience_seconds: Some(120.0),
                wrap_up_seconds: 30.0,
                overflow: Some(OverflowSpec {
                    after_seconds: 60.0,
                    relax_to_level: None,
                    to_queue: Some("voice.general".into()),
                }),
                ..queue(
                    "voice.water",
                    Channel::Voice,
                    &[("water", 2)],
                    voice * 0.084,
                    220.0,
                )
            },
            QueueSpec {
                patience_seconds: Some(120.0),
                wrap_up_seconds: 20.0,
                ..queue(
                    "voice.general",
                    Channel::Voice,
                    &[("general", 1)],
                    voice * (1.0 - 0.457 - 0.084),
                    190.0,
                )
            },
            QueueSpec {
                // A thread stays open while the citizen types.
                ..queue("sms", Channel::Sms, &[("text", 1)], 1_688.0, 420.0)
            },
            QueueSpec {
                priority: 2,
                patience_seconds: Some(300.0),
                wrap_up_seconds: 60.0,
                ..queue(
                    "video.sign_language",
                    Channel::Video,
                    &[("sign_language", 1)],
                    30.0,
                    600.0,
                )
            },
            QueueSpec {
                // Scheduled outbound calls between 10:00 and 17:00.
                profile: Some(hours(10.0, 17.0, 1, 0).into_iter().map(f64::from).collect()),
                wrap_up_seconds: 60.0,
                ..queue("care_call", Channel::CareCall, &[("care", 1)], 70.0, 300.0)
            },
        ];
        let group =
            |name: &str, channels: Vec<Channel>, skill_list: &[(&str, u8)]| AgentGroupSpec {
                name: name.into(),
                channels,
                skills: skills(skill_list),
                max_text_threads: None,
                agents: None,
                roster: None,
                plan_for: None,
                minimum_agents: 0,
            };
        let groups = vec![
            AgentGroupSpec {
                plan_for: Some(vec!["voice.transport".into()]),
                minimum_agents: 2,
                // Specialists stay on their queue; generalists help them out.
                ..group("transport", vec![Channel::Voice], &[("transport", 3)])
            },
            AgentGroupSpec {
                plan_for: Some(vec!["voice.water".into()]),
                minimum_agents: 1,
                ..group("water", vec![Channel::Voice], &[("water", 3)])
            },
            AgentGroupSpec {
                plan_for: Some(vec!["voice.general".into()]),
                minimum_agents: 2,
                ..group(
                    "general",
                    vec![Channel::Voice],
                    &[("general", 2), ("transport", 1), ("water", 1)],
                )
            },
            AgentGroupSpec {
                plan_for: Some(vec!["sms".into()]),
                minimum_agents: 1,
                max_text_threads: Some(3),
                ..group("text", vec![Channel::Sms, Channel::Mms], &[("text", 1)])
            },
            AgentGroupSpec {
                // Few qualified interpreters: two by day, one at night.
                roster: Some(hours(8.0, 20.0, 2, 1)),
                ..group(
                    "sign_language",
                    vec![Channel::Video],
                    &[("sign_language", 2)],
                )
            },
            AgentGroupSpec {
                // Until 18:00 so that the last scheduled calls are made.
                roster: Some(hours(10.0, 18.0, 3, 0)),
                ..group("care", vec![Channel::CareCall], &[("care", 1)])
            },
        ];
        Scenario {
            name: "model center (Seoul 120, ~33,000 contacts a day)".into(),
            seed: None,
            days: 1,
            interval_minutes: 30,
            profile: default_profile(),
            target_service_level: 0.8,
            answer_target_seconds: 20.0,
            short_abandon_seconds: 5.0,
            shrinkage: 0.3,
            answer_delay_seconds: 0.0,
            engine: EngineSettings::default(),
            queues,
            groups,
        }
    }
}

/// A checked queue, with its arrivals for every interval of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedQueue {
    pub name: String,
    pub channel: Channel,
    pub skills: Vec<(String, u8)>,
    pub priority: u8,
    pub expected_arrivals: Vec<f64>,
    pub handle_millis_mean: f64,
    pub handle_cv: Option<f64>,
    pub patience_millis_mean: Option<f64>,
    pub wrap_up_millis: u64,
    pub overflow_after_millis: Option<u64>,
    pub overflow_relax_to: Option<u8>,
    /// Index into the plan's queues.
    pub overflow_to: Option<usize>,
}

/// How a group's head counts were decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffingSource {
    Fixed,
    Roster,
    ErlangC,
    ErlangA,
}

impl StaffingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            StaffingSource::Fixed => "fixed",
            StaffingSource::Roster => "roster",
            StaffingSource::ErlangC => "erlang_c",
            StaffingSource::ErlangA => "erlang_a",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedGroup {
    pub name: String,
    #[serde(skip)]
    pub channels: Vec<Channel>,
    #[serde(skip)]
    pub skills: Vec<(String, u8)>,
    #[serde(skip)]
    pub max_text_threads: Option<u8>,
    pub source: StaffingSource,
    /// Agents on duty per interval of one day.
    pub agents: Vec<u32>,
    /// Heads to roster for those agents after shrinkage.
    pub rostered_heads: Vec<u32>,
}

/// A checked scenario, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulationPlan {
    pub name: String,
    pub seed: Option<u64>,
    pub days: u32,
    pub intervals_per_day: usize,
    pub interval_millis: u64,
    pub answer_target_millis: u64,
    pub short_abandon_millis: u64,
    pub answer_delay_millis: u64,
    pub engine: EngineConfig,
    pub queues: Vec<PlannedQueue>,
    pub groups: Vec<PlannedGroup>,
}

impl SimulationPlan {
    pub fn total_intervals(&self) -> usize {
        self.intervals_per_day * self.days as usize
    }
}

fn positive(what: &str, value: f64) -> Result<f64, ScenarioError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        error(format!("{what} must be a positive number, not {value}"))
    }
}

fn non_negative(what: &str, value: f64) -> Result<f64, ScenarioError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        error(format!("{what} must be zero or positive, not {value}"))
    }
}

fn check_skills(owner: &str, list: &[SkillLevel]) -> Result<Vec<(String, u8)>, ScenarioError> {
    list.iter()
        .map(|entry| {
            if entry.skill.trim().is_empty() {
                return error(format!("{owner}: a skill name is empty"));
            }
            if !(1..=MAX_SKILL_LEVEL).contains(&entry.level) {
                return error(format!(
                    "{owner}: skill {} has level {}; levels run from 1 to {MAX_SKILL_LEVEL}",
                    entry.skill, entry.level
                ));
            }
            Ok((entry.skill.clone(), entry.level))
        })
        .collect()
}

/// Normalised weights; errors if negative or all zero.
fn shape(owner: &str, weights: &[f64], intervals: usize) -> Result<Vec<f64>, ScenarioError> {
    if weights.len() != intervals {
        return error(format!(
            "{owner}: the profile has {} entries, the day has {intervals} intervals",
            weights.len()
        ));
    }
    let mut total = 0.0;
    for weight in weights {
        total += non_negative(&format!("{owner}: a profile weight"), *weight)?;
    }
    if total <= 0.0 {
        return error(format!("{owner}: the profile is all zeros"));
    }
    Ok(weights.iter().map(|weight| weight / total).collect())
}

const MAX_DAILY_CONTACTS: f64 = 50_000_000.0;

impl Scenario {
    /// Checks the scenario and computes arrivals and head counts.
    pub fn resolve(&self) -> Result<SimulationPlan, ScenarioError> {
        if self.interval_minutes == 0 || 1440 % self.interval_minutes != 0 {
            return error(format!(
                "interval_minutes must divide a day (e.g. 15, 30, 60), not {}",
                self.interval_minutes
            ));
        }
        if self.days == 0 || self.days > 3_660 {
            return error(format!(
                "days must be between 1 and 3660, not {}",
                self.days
            ));
        }
        let intervals = (1440 / self.interval_minutes) as usize;
        let interval_seconds = f64::from(self.interval_minutes) * 60.0;
        let profile = shape("profile", &self.profile, intervals)?;
        let target = ServiceTarget::new(self.target_service_level, self.answer_target_seconds)
            .map_err(|e| ScenarioError(format!("target: {e}")))?;
        non_negative("short_abandon_seconds", self.short_abandon_seconds)?;
        non_negative("answer_delay_seconds", self.answer_delay_seconds)?;
        if !(0.0..1.0).contains(&self.shrinkage) {
            return error(format!(
                "shrinkage must be at least 0 and below 1, not {}",
                self.shrinkage
            ));
        }
        let engine = EngineConfig {
            offer_timeout_millis: match self.engine.offer_timeout_seconds {
                Some(seconds) => Some(
                    (positive("engine.offer_timeout_seconds", seconds)? * 1000.0).ceil() as u64,
                ),
                None => None,
            },
            after_missed_offer: AfterMissedOffer::Break,
            max_text_threads: match self.engine.max_text_threads {
                0 => return error("engine.max_text_threads must be at least 1"),
                threads => threads,
            },
            priority_step_millis: (non_negative(
                "engine.priority_step_seconds",
                self.engine.priority_step_seconds,
            )? * 1000.0) as u64,
        };
        if self.queues.is_empty() {
            return error("the scenario has no queues");
        }
        if self.groups.is_empty() {
            return error("the scenario has no agent groups");
        }
        let queue_index = |name: &str| self.queues.iter().position(|queue| queue.name == name);
        let mut queues = Vec::with_capacity(self.queues.len());
        for (index, spec) in self.queues.iter().enumerate() {
            let owner = format!("queue {:?}", spec.name);
            if spec.name.trim().is_empty() {
                return error("a queue has an empty name");
            }
            if queue_index(&spec.name) != Some(index) {
                return error(format!("{owner} is defined twice"));
            }
            if spec.priority > 9 {
                return error(format!(
                    "{owner}: priority runs from 0 to 9, not {}",
                    spec.priority
                ));
            }
            let per_day = match (&spec.arrivals, spec.daily_contacts) {
                (Some(arrivals), None) => {
                    if spec.profile.is_some() {
                        return error(format!("{owner}: give arrivals or a profile, not both"));
                    }
                    if arrivals.len() != intervals {
                        return error(format!(
                            "{owner}: arrivals has {} entries, the day has {intervals} intervals",
                            arrivals.len()
                        ));
                    }
                    for value in arrivals {
                        non_negative(&format!("{owner}: arrivals"), *value)?;
                    }
                    arrivals.clone()
                }
                (None, Some(daily)) => {
                    let daily = non_negative(&format!("{owner}: daily_contacts"), daily)?;
                    if daily > MAX_DAILY_CONTACTS {
                        return error(format!(
                            "{owner}: daily_contacts above {MAX_DAILY_CONTACTS}"
                        ));
                    }
                    let weights = match &spec.profile {
                        Some(own) => shape(&owner, own, intervals)?,
                        None => profile.clone(),
                    };
                    weights.iter().map(|weight| weight * daily).collect()
                }
                _ => {
                    return error(format!(
                        "{owner}: give exactly one of daily_contacts and arrivals"
                    ));
                }
            };
            let handle = positive(&format!("{owner}: handle_seconds"), spec.handle_seconds)?;
            if let Some(cv) = spec.handle_cv {
                positive(&format!("{owner}: handle_cv"), cv)?;
            }
            let patience = spec
                .patience_seconds
                .map(|p| positive(&format!("{owner}: patience_seconds"), p))
                .transpose()?;
            let wrap_up = non_negative(&format!("{owner}: wrap_up_seconds"), spec.wrap_up_seconds)?;
            let skills = check_skills(&owner, &spec.skills)?;
            let (overflow_after_millis, overflow_relax_to, overflow_to) = match &spec.overflow {
                None => (None, None, None),
                Some(overflow) => {
                    let after = non_negative(
                        &format!("{owner}: overflow.after_seconds"),
                        overflow.after_seconds,
                    )?;
                    match (overflow.relax_to_level, &overflow.to_queue) {
                        (Some(level), None) => {
                            if !(1..=MAX_SKILL_LEVEL).contains(&level) {
                                return error(format!(
                                    "{owner}: overflow.relax_to_level out of 1..={MAX_SKILL_LEVEL}"
                                ));
                            }
                            (Some((after * 1000.0) as u64), Some(level), None)
                        }
                        (None, Some(target)) => {
                            let Some(target_index) = queue_index(target) else {
                                return error(format!(
                                    "{owner}: overflow.to_queue names an unknown queue {target:?}"
                                ));
                            };
                            if target_index == index {
                                return error(format!(
                                    "{owner}: a queue cannot overflow into itself"
                                ));
                            }
                            (Some((after * 1000.0) as u64), None, Some(target_index))
                        }
                        _ => {
                            return error(format!(
                                "{owner}: overflow needs exactly one of relax_to_level and to_queue"
                            ));
                        }
                    }
                }
            };
            queues.push(PlannedQueue {
                name: spec.name.clone(),
                channel: spec.channel,
                skills,
                priority: spec.priority,
                expected_arrivals: per_day,
                handle_millis_mean: handle * 1000.0,
                handle_cv: spec.handle_cv,
                patience_millis_mean: patience.map(|p| p * 1000.0),
                wrap_up_millis: (wrap_up * 1000.0).round() as u64,
                overflow_after_millis,
                overflow_relax_to,
                overflow_to,
            });
        }
        // Overflow chains must not loop: the engine registers targets first.
        for start in 0..queues.len() {
            let mut current = start;
            for _ in 0..=queues.len() {
                match queues[current].overflow_to {
                    Some(next) => current = next,
                    None => break,
                }
                if current == start {
                    return error(format!(
                        "queue {:?}: overflow queues form a cycle",
                        queues[start].name
                    ));
                }
            }
        }
        let mut groups = Vec::with_capacity(self.groups.len());
        for (index, spec) in self.groups.iter().enumerate() {
            let owner = format!("group {:?}", spec.name);
            if spec.name.trim().is_empty() {
                return error("a group has an empty name");
            }
            if self.groups.iter().position(|g| g.name == spec.name) != Some(index) {
                return error(format!("{owner} is defined twice"));
            }
            if spec.channels.is_empty() {
                return error(format!("{owner}: give at least one channel"));
            }
            if spec.max_text_threads == Some(0) {
                return error(format!("{owner}: max_text_threads must be at least 1"));
            }
            let skills = check_skills(&owner, &spec.skills)?;
            let (source, agents) = match (spec.agents, &spec.roster, &spec.plan_for) {
                (Some(count), None, None) => (StaffingSource::Fixed, vec![count; intervals]),
                (None, Some(roster), None) => {
                    if roster.len() != intervals {
                        return error(format!(
                            "{owner}: the roster has {} entries, the day has {intervals} intervals",
                            roster.len()
                        ));
                    }
                    (StaffingSource::Roster, roster.clone())
                }
                (None, None, Some(planned)) => self.erlang_staffing(
                    &owner,
                    spec,
                    planned,
                    &queues,
                    interval_seconds,
                    &target,
                    engine.max_text_threads,
                )?,
                _ => {
                    return error(format!(
                        "{owner}: give exactly one of agents, roster and plan_for"
                    ));
                }
            };
            if let Some(most) = agents.iter().max()
                && *most > 20_000
            {
                return error(format!(
                    "{owner}: {most} agents in one group is more than the simulator takes"
                ));
            }
            let rostered_heads = agents
                .iter()
                .map(|count| erlang::rostered_heads(*count, self.shrinkage))
                .collect::<Result<_, _>>()
                .map_err(|e| ScenarioError(e.to_string()))?;
            groups.push(PlannedGroup {
                name: spec.name.clone(),
                channels: spec.channels.clone(),
                skills,
                max_text_threads: spec.max_text_threads,
                source,
                agents,
                rostered_heads,
            });
        }
        Ok(SimulationPlan {
            name: self.name.clone(),
            seed: self.seed,
            days: self.days,
            intervals_per_day: intervals,
            interval_millis: u64::from(self.interval_minutes) * 60_000,
            answer_target_millis: (self.answer_target_seconds * 1000.0).round() as u64,
            short_abandon_millis: (self.short_abandon_seconds * 1000.0).round() as u64,
            answer_delay_millis: (self.answer_delay_seconds * 1000.0).round() as u64,
            engine,
            queues,
            groups,
        })
    }

    /// Head counts for the combined load of `planned` queues: Erlang A when
    /// every one has a patience (mean patience weighted by arrivals), else
    /// Erlang C. Text threads count as servers, `max_text_threads` per agent.
    #[allow(clippy::too_many_arguments)]
    fn erlang_staffing(
        &self,
        owner: &str,
        spec: &AgentGroupSpec,
        planned: &[String],
        queues: &[PlannedQueue],
        interval_seconds: f64,
        target: &ServiceTarget,
        default_threads: u8,
    ) -> Result<(StaffingSource, Vec<u32>), ScenarioError> {
        if planned.is_empty() {
            return error(format!("{owner}: plan_for is empty"));
        }
        let mut members = Vec::new();
        for name in planned {
            match queues.iter().find(|queue| &queue.name == name) {
                Some(queue) => members.push(queue),
                None => return error(format!("{owner}: plan_for names an unknown queue {name:?}")),
            }
        }
        let with_patience = members
            .iter()
            .all(|queue| queue.patience_millis_mean.is_some());
        let threads = if members.iter().all(|queue| queue.channel.is_text()) {
            u32::from(spec.max_text_threads.unwrap_or(default_threads))
        } else {
            1
        };
        let intervals = members[0].expected_arrivals.len();
        let mut agents = Vec::with_capacity(intervals);
        for interval in 0..intervals {
            let mut arrivals = 0.0;
            let mut handle_weighted = 0.0;
            let mut patience_weighted = 0.0;
            for queue in &members {
                let count = queue.expected_arrivals[interval];
                arrivals += count;
                handle_weighted +=
                    count * (queue.handle_millis_mean + queue.wrap_up_millis as f64) / 1000.0;
                patience_weighted += count * queue.patience_millis_mean.unwrap_or(0.0) / 1000.0;
            }
            if arrivals <= 0.0 {
                agents.push(spec.minimum_agents);
                continue;
            }
            let patience = with_patience.then(|| patience_weighted / arrivals);
            let workload = erlang::Workload::new(
                arrivals / interval_seconds,
                handle_weighted / arrivals,
                patience,
            )
            .map_err(|e| ScenarioError(format!("{owner}: {e}")))?;
            let servers = erlang::agents_needed(&workload, target, 0)
                .map_err(|e| ScenarioError(format!("{owner}: {e}")))?
                .agents;
            agents.push(servers.div_ceil(threads).max(spec.minimum_agents));
        }
        let source = if with_patience {
            StaffingSource::ErlangA
        } else {
            StaffingSource::ErlangC
        };
        Ok((source, agents))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_center_resolves_to_about_33000_contacts() {
        let plan = Scenario::model_center().resolve().expect("valid");
        let total: f64 = plan
            .queues
            .iter()
            .flat_map(|q| q.expected_arrivals.iter())
            .sum();
        assert!((total - 33_000.0).abs() < 1.0, "{total}");
        let night: f64 = plan
            .queues
            .iter()
            .flat_map(|q| q.expected_arrivals[..12].iter())
            .sum();
        assert!((0.04..0.07).contains(&(night / total)), "{night}");
        let transport = &plan.groups[0];
        assert_eq!(transport.source, StaffingSource::ErlangA);
        assert!(transport.agents.iter().max() > transport.agents.iter().min());
    }

    #[test]
    fn mistakes_are_explained() {
        let mut bad = Scenario::model_center();
        bad.queues[0].handle_seconds = 0.0;
        assert!(
            bad.resolve()
                .expect_err("refused")
                .0
                .contains("handle_seconds")
        );
        let mut bad = Scenario::model_center();
        bad.groups[0].plan_for = Some(vec!["nowhere".into()]);
        assert!(bad.resolve().expect_err("refused").0.contains("nowhere"));
        let mut bad = Scenario::model_center();
        bad.profile.pop();
        assert!(bad.resolve().expect_err("refused").0.contains("profile"));
        let mut bad = Scenario::model_center();
        bad.target_service_level = 1.5;
        assert!(bad.resolve().is_err());
    }
}
