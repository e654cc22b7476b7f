//! The demo center: a seeded, synthetic consultation history drawn from the
//! model center's published figures (Seoul's 120 center, BRIEF.md), and the
//! agent floor that history refers to.
//!
//! Pure: no IO, no clock, no OS randomness. [`DemoGenerator`] yields
//! [`NewConsultation`]s in time order, batch by batch, and the same
//! [`DemoConfig`] always yields the same records.
//!
//! How the figures are met:
//!
//! - [`plan`] fixes every count before the first record: the per-day volume
//!   curve (solved so that the October 2009 average is 33,000 a day and the
//!   10,000,000th consultation falls on 2009-11-10), the night slot per
//!   month, the SMS/MMS/video/care-call counts per day, each category's
//!   quota and each heavy user's number of consultations.
//! - The generator then only decides *which* record gets what, by selection
//!   sampling (draw without replacement from exact quotas), so the totals are
//!   exact and the order looks random.
//!
//! With [`DemoConfig::consultations`] set, the whole history is scaled to
//! that many records (same dates; days, night slot, channels and heavy
//! users' counts scaled in proportion). The heavy-user tiers of BRIEF.md are
//! exact for the full history only; scaled runs show them in proportion.

mod agents;
mod catalog;
pub mod plan;
pub mod survey;

use dasan_core::{
    AgentId, Channel, ConsultationId, NewConsultation, Outcome, PhoneNumber, Skill, Timestamp,
    rng::Rng,
};

pub use agents::{AGENT_COUNT, demo_agents};
use catalog::{CARE_NO_ANSWER, Catalog, DROPPED_SUMMARY, HEAVY_INDEX_BASE, landline, mobile};
use plan::{CLASS_CARE, CLASS_DAY, CLASS_NIGHT, OTHER, Plan, TOP_COUNT};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoConfig {
    /// The same seed gives the same agents and the same history.
    pub seed: u64,
    /// `None`: the full history, 2007-01-01 through 2009-11-10 (Asia/Seoul),
    /// a little over ten million consultations. `Some(n)`: exactly `n`
    /// consultations over the same dates.
    pub consultations: Option<u64>,
}

/// Draws categories without replacement from exact quotas.
#[derive(Debug, Clone)]
struct QuotaSampler {
    remaining: [u64; TOP_COUNT],
    total: u64,
}

impl QuotaSampler {
    fn new(quotas: [u64; TOP_COUNT]) -> Self {
        QuotaSampler {
            remaining: quotas,
            total: quotas.iter().sum(),
        }
    }

    fn draw(&mut self, rng: &mut Rng) -> usize {
        if self.total == 0 {
            return OTHER;
        }
        let mut r = rng.below(self.total);
        for (index, remaining) in self.remaining.iter_mut().enumerate() {
            if r < *remaining {
                *remaining -= 1;
                self.total -= 1;
                return index;
            }
            r -= *remaining;
        }
        OTHER
    }
}

/// Agent ids by the work they can take.
#[derive(Debug, Clone, Default)]
struct Pools {
    voice: Vec<AgentId>,
    text: Vec<AgentId>,
    video: Vec<AgentId>,
    care: Vec<AgentId>,
    medical: Vec<AgentId>,
    foreign: Vec<(AgentId, String)>,
}

impl Pools {
    fn new(seed: u64) -> Self {
        let mut pools = Pools::default();
        for (id, agent) in demo_agents(seed) {
            let has = |c: Channel| agent.channels.contains(&c);
            if has(Channel::Voice) {
                pools.voice.push(id);
            }
            if has(Channel::Sms) {
                pools.text.push(id);
            }
            if has(Channel::Video) && agent.skills.contains(&Skill::SignLanguage) {
                pools.video.push(id);
            }
            if has(Channel::CareCall) && agent.skills.contains(&Skill::Care) {
                pools.care.push(id);
            }
            if has(Channel::Voice) && agent.skills.contains(&Skill::Medical) {
                pools.medical.push(id);
            }
            for skill in &agent.skills {
                if let Skill::Language(code) = skill
                    && has(Channel::Voice)
                {
                    pools.foreign.push((id, code.clone()));
                }
            }
        }
        pools
    }
}

fn pick<T: Copy>(rng: &mut Rng, items: &[T]) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        Some(items[rng.below(items.len() as u64) as usize])
    }
}

/// Hourly weights of the day slot (06:00-24:00): a morning peak at 10-11,
/// a lunch dip and a long afternoon.
const DAY_HOURS: [u64; 24] = [
    0, 0, 0, 0, 0, 0, 8, 16, 35, 65, 80, 76, 58, 68, 76, 74, 70, 60, 45, 36, 30, 24, 16, 10,
];
/// Hourly weights of the night slot (00:00-06:00): the last buses and taxis
/// after midnight, quietest before dawn.
const NIGHT_HOURS: [u64; 6] = [30, 20, 13, 10, 11, 16];
/// Before the 24-hour service the center answered 08:00-22:00.
const LIMITED_OPEN_HOUR: usize = 8;
const LIMITED_CLOSE_HOUR: usize = 22;
const HOUR_MILLIS: u64 = 3_600_000;

/// Picks an hour from cumulative weights.
fn draw_hour(rng: &mut Rng, cumulative: &[u64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(0);
    if total == 0 {
        return 12;
    }
    let r = rng.below(total);
    cumulative.iter().position(|&c| r < c).unwrap_or(12)
}

fn cumulative(weights: &[u64]) -> Vec<u64> {
    weights
        .iter()
        .scan(0, |sum, w| {
            *sum += w;
            Some(*sum)
        })
        .collect()
}

/// A slot of the current day, packed for a cheap sort: local time of day
/// in milliseconds in the high bits, the kind in the low 20 bits.
const KIND_BITS: u32 = 20;
const KIND_MASK: u64 = (1 << KIND_BITS) - 1;
const KIND_NIGHT: u64 = 0;
const KIND_DAY: u64 = 1;
/// Care calls: `KIND_CARE + senior index`.
const KIND_CARE: u64 = 2;

/// Per-day counters for the exact channel split.
#[derive(Debug, Clone, Default)]
struct DayCounters {
    day_slots: u64,
    video: u64,
    non_video: u64,
    text: u64,
    mms: u64,
}

/// Yields the demo history in time order. See the crate documentation.
pub struct DemoGenerator {
    plan: Plan,
    catalog: Catalog,
    pools: Pools,
    rng: Rng,
    /// Cumulative hour weights: the day slot with and without the night service.
    day_hours_full: Vec<u64>,
    day_hours_limited: Vec<u64>,
    night_hours: Vec<u64>,
    next_day: usize,
    slots: Vec<u64>,
    next_slot: usize,
    midnight_millis: i64,
    counters: DayCounters,
    categories: [QuotaSampler; 3],
    /// The heavy users' consultations, one entry each, shuffled.
    heavy_slots: Vec<u32>,
    next_heavy: usize,
    /// General records not yet generated (heavy selection sampling).
    general_left: u64,
    heavy_phones: Vec<PhoneNumber>,
    senior_phones: Vec<PhoneNumber>,
    produced: u64,
    summary: String,
}

impl DemoGenerator {
    pub fn new(config: DemoConfig) -> Self {
        let plan = Plan::new(config.seed, config.consultations);
        let mut rng = Rng::seed(config.seed ^ 0x4EA7_1005_0000_0002);
        let mut heavy_slots: Vec<u32> = plan
            .heavy_counts
            .iter()
            .enumerate()
            .flat_map(|(user, &count)| std::iter::repeat_n(user as u32, count as usize))
            .collect();
        rng.shuffle(&mut heavy_slots);
        let heavy_phones = (0..plan.heavy_counts.len() as u64)
            .map(|i| mobile(HEAVY_INDEX_BASE + i))
            .collect();
        let senior_phones = (0..plan.seniors.len() as u64).map(landline).collect();
        let limited: Vec<u64> = DAY_HOURS
            .iter()
            .enumerate()
            .map(|(hour, &w)| {
                if (LIMITED_OPEN_HOUR..LIMITED_CLOSE_HOUR).contains(&hour) {
                    w
                } else {
                    0
                }
            })
            .collect();
        let categories = [
            QuotaSampler::new(plan.class_quotas[CLASS_CARE]),
            QuotaSampler::new(plan.class_quotas[CLASS_NIGHT]),
            QuotaSampler::new(plan.class_quotas[CLASS_DAY]),
        ];
        DemoGenerator {
            general_left: plan.general_total(),
            catalog: Catalog::new(),
            pools: Pools::new(config.seed),
            rng: Rng::seed(config.seed ^ 0xDE70_0000_0000_0003),
            day_hours_full: cumulative(&DAY_HOURS),
            day_hours_limited: cumulative(&limited),
            night_hours: cumulative(&NIGHT_HOURS),
            next_day: 0,
            slots: Vec::new(),
            next_slot: 0,
            midnight_millis: 0,
            counters: DayCounters::default(),
            categories,
            heavy_slots,
            next_heavy: 0,
            heavy_phones,
            senior_phones,
            produced: 0,
            summary: String::with_capacity(128),
            plan,
        }
    }

    /// How many consultations the whole run yields.
    pub fn total(&self) -> u64 {
        self.plan.total
    }

    /// How many have been yielded so far.
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// The plan behind the history (per-day counts, quotas, heavy users).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The next at most `max` consultations in time order, or `None` when
    /// the history is complete. Batch sizes do not change the records.
    pub fn next_batch(&mut self, max: usize) -> Option<Vec<NewConsultation>> {
        let left = self.plan.total - self.produced;
        if left == 0 || max == 0 {
            return None;
        }
        let size = usize::try_from(left).unwrap_or(usize::MAX).min(max);
        let mut batch = Vec::with_capacity(size);
        'fill: while batch.len() < size {
            // Days of tiny scaled runs may be empty: skip to one with slots.
            while self.next_slot == self.slots.len() {
                if !self.open_next_day() {
                    break 'fill;
                }
            }
            let slot = self.slots[self.next_slot];
            self.next_slot += 1;
            batch.push(self.record(slot));
        }
        self.produced += batch.len() as u64;
        if batch.is_empty() { None } else { Some(batch) }
    }

    /// Lays out the next day's slots (times and kinds), sorted by time.
    fn open_next_day(&mut self) -> bool {
        let Some(day) = self.plan.days.get(self.next_day) else {
            return false;
        };
        self.next_day += 1;
        let rng = &mut self.rng;
        self.slots.clear();
        self.next_slot = 0;
        self.midnight_millis = day.midnight_millis;
        let within_hour =
            |rng: &mut Rng, hour: usize| hour as u64 * HOUR_MILLIS + rng.below(HOUR_MILLIS);
        for _ in 0..day.night {
            let hour = draw_hour(rng, &self.night_hours);
            self.slots
                .push(within_hour(rng, hour) << KIND_BITS | KIND_NIGHT);
        }
        let day_hours = if day.round_the_clock {
            &self.day_hours_full
        } else {
            &self.day_hours_limited
        };
        for _ in 0..day.day {
            let hour = draw_hour(rng, day_hours);
            self.slots
                .push(within_hour(rng, hour) << KIND_BITS | KIND_DAY);
        }
        // Care calls go out between 10:00 and 17:00.
        for &senior in &day.care {
            let at = 10 * HOUR_MILLIS + rng.below(7 * HOUR_MILLIS);
            self.slots
                .push(at << KIND_BITS | (KIND_CARE + u64::from(senior)));
        }
        self.slots.sort_unstable();
        self.counters = DayCounters {
            day_slots: day.day,
            video: day.video,
            non_video: day.general() - day.video,
            text: day.sms + day.mms,
            mms: day.mms,
        };
        true
    }

    fn record(&mut self, slot: u64) -> NewConsultation {
        let kind = slot & KIND_MASK;
        let started_millis = self.midnight_millis + (slot >> KIND_BITS) as i64;
        let mut random = [0u8; 10];
        self.rng.fill_bytes(&mut random);
        let started_at = timestamp(started_millis);
        let id = ConsultationId::v7(started_at, random);
        if kind >= KIND_CARE {
            self.care_call(id, started_millis, (kind - KIND_CARE) as usize)
        } else {
            self.general(id, started_millis, kind == KIND_DAY)
        }
    }

    fn care_call(&mut self, id: ConsultationId, started: i64, senior: usize) -> NewConsultation {
        let rng = &mut self.rng;
        let top = self.categories[CLASS_CARE].draw(rng);
        let leaf = self.catalog.care_leaf(top);
        let r = rng.below(1000);
        let (outcome, department) = if r < 900 {
            (Outcome::Answered, None)
        } else if r < 970 {
            (Outcome::Callback, None)
        } else {
            let department = self.catalog.care_departments
                [rng.below(self.catalog.care_departments.len() as u64) as usize]
                .clone();
            (Outcome::Transferred, Some(department))
        };
        self.summary.clear();
        if outcome == Outcome::Callback {
            self.summary.push_str(CARE_NO_ANSWER);
        } else {
            let templates = &self.catalog.care_templates;
            templates[rng.below(templates.len() as u64) as usize]
                .render(rng.below(1 << 16) as usize, &mut self.summary);
        }
        let seconds = match outcome {
            Outcome::Callback => 30.0 + rng.exponential(15.0),
            _ => 150.0 + rng.exponential(180.0),
        };
        NewConsultation {
            id,
            channel: Channel::CareCall,
            category: leaf.code.clone(),
            citizen_phone: self.senior_phones[senior.min(self.senior_phones.len() - 1)].clone(),
            agent_id: pick(rng, &self.pools.care),
            started_at: timestamp(started),
            ended_at: timestamp(started + millis(seconds)),
            summary: self.summary.clone(),
            outcome,
            department,
        }
    }

    fn general(&mut self, id: ConsultationId, started: i64, day_slot: bool) -> NewConsultation {
        let rng = &mut self.rng;
        let counters = &mut self.counters;
        // Channel: exact per-day counts by selection sampling; video only in
        // the day slot, text anywhere.
        let mut channel = Channel::Voice;
        let mut is_video = false;
        if day_slot {
            if counters.day_slots > 0 && rng.below(counters.day_slots) < counters.video {
                counters.video -= 1;
                is_video = true;
                channel = Channel::Video;
            }
            counters.day_slots = counters.day_slots.saturating_sub(1);
        }
        if !is_video {
            if counters.non_video > 0 && rng.below(counters.non_video) < counters.text {
                channel = if rng.below(counters.text) < counters.mms {
                    counters.mms -= 1;
                    Channel::Mms
                } else {
                    Channel::Sms
                };
                counters.text -= 1;
            }
            counters.non_video = counters.non_video.saturating_sub(1);
        }

        // Citizen: heavy users by selection sampling over all general
        // records, so their exact counts are spread over the history.
        let heavy_left = (self.heavy_slots.len() - self.next_heavy) as u64;
        let phone = if self.general_left > 0 && rng.below(self.general_left) < heavy_left {
            let user = self.heavy_slots[self.next_heavy] as usize;
            self.next_heavy += 1;
            self.heavy_phones[user].clone()
        } else {
            mobile(rng.below(self.plan.pool_size))
        };
        self.general_left = self.general_left.saturating_sub(1);

        let class = if day_slot { CLASS_DAY } else { CLASS_NIGHT };
        let top = self.categories[class].draw(rng);
        let leaf = self.catalog.leaf(top, rng.below(1000));

        let r = rng.below(1000);
        let text = channel.is_text();
        let outcome = match channel {
            Channel::Voice if r < 866 => Outcome::Answered,
            Channel::Voice if r < 928 => Outcome::Transferred,
            Channel::Voice if r < 960 => Outcome::Callback,
            Channel::Voice => Outcome::Dropped,
            // Video often bridges deaf citizens to a public office.
            Channel::Video if r < 880 => Outcome::Answered,
            Channel::Video if r < 980 => Outcome::Transferred,
            _ if r < 900 => Outcome::Answered,
            _ if r < 960 => Outcome::Transferred,
            _ => Outcome::Callback,
        };
        let department = (outcome == Outcome::Transferred)
            .then(|| leaf.departments[rng.below(leaf.departments.len() as u64) as usize].clone());

        // Agent: one who serves the channel; a few voice callers need a
        // foreign language, some health questions go to medical staff.
        self.summary.clear();
        let agent_id = match channel {
            _ if outcome == Outcome::Dropped => None,
            Channel::Video => pick(rng, &self.pools.video),
            _ if text => pick(rng, &self.pools.text),
            _ if rng.below(1000) < 5 && !self.pools.foreign.is_empty() => {
                let (agent, language) =
                    &self.pools.foreign[rng.below(self.pools.foreign.len() as u64) as usize];
                self.summary.push_str(match language.as_str() {
                    "en" => "[영어] ",
                    "zh" => "[중국어] ",
                    "ja" => "[일본어] ",
                    _ => "[외국어] ",
                });
                Some(*agent)
            }
            _ if top == plan::HEALTH && rng.below(3) == 0 => pick(rng, &self.pools.medical),
            _ => pick(rng, &self.pools.voice),
        };
        if outcome == Outcome::Dropped {
            self.summary.push_str(DROPPED_SUMMARY);
        } else {
            let template = &leaf.templates[rng.below(leaf.templates.len() as u64) as usize];
            template.render(rng.below(1 << 16) as usize, &mut self.summary);
        }

        // Handle time: a few minutes on the phone, longer for sign language,
        // a text thread stays open while the citizen answers.
        let seconds = match (channel, outcome) {
            (_, Outcome::Dropped) => 2.0 + rng.exponential(18.0),
            (Channel::Video, _) => 240.0 + rng.exponential(360.0),
            _ if text => 90.0 + rng.exponential(420.0),
            (_, Outcome::Transferred) => 100.0 + rng.exponential(150.0),
            (_, Outcome::Callback) => 60.0 + rng.exponential(60.0),
            _ => 45.0 + rng.exponential(110.0) + rng.exponential(40.0),
        };
        NewConsultation {
            id,
            channel,
            category: leaf.code.clone(),
            citizen_phone: phone,
            agent_id,
            started_at: timestamp(started),
            ended_at: timestamp(started + millis(seconds)),
            summary: self.summary.clone(),
            outcome,
            department,
        }
    }
}

/// Seconds to whole milliseconds, capped at two hours.
fn millis(seconds: f64) -> i64 {
    (seconds.min(7_200.0) * 1000.0) as i64
}

fn timestamp(millis: i64) -> Timestamp {
    // Every instant of 2007-2009 is in range; the fallback is unreachable.
    Timestamp::from_millis(millis).unwrap_or_else(|_| {
        Timestamp::from_millis(0).unwrap_or_else(|_| unreachable!("the epoch is in range"))
    })
}

impl Iterator for DemoGenerator {
    type Item = Vec<NewConsultation>;

    /// Batches of 10,000.
    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch(10_000)
    }
}

#[cfg(test)]
mod tests;
